# Installation (cmake --install) and the public verifier library, libccgate (docs/install.md).
#
#   bin/                      ccgate, ccgate-kbs, ccgate-agent, ccgate-runner
#   libexec/ccgate/           helper executables (each helper's own cmake/*.cmake installs its own)
#   lib/                      libccgate.so.0 -> libccgate.so.0.1.0 (SONAME libccgate.so.0), libccgate.a
#   lib/pkgconfig/ccgate.pc
#   include/ccgate/           the public headers of the verifier API
#   share/man/man1, man8      the man pages cmake/man.cmake generates (when it has)
#   share/bash-completion/completions/
#   lib/systemd/system/       the hardened units (packaging/systemd)
#   share/doc/ccgate/         README, LICENSE, examples (configurations, examples/verify_snp.c)
include(GNUInstallDirs)

# --- libccgate: the verifiers (SNP, TDX, NVIDIA GPU) with their policies and collateral parsing. ---
# Built from the same sources as the internal `ccgate` library, which stays as it is for the programs
# and tests. The broker, store, server and guest modules stay out: no libmicrohttpd, SQLite or p11-kit.
file(GLOB_RECURSE CCG_PUBLIC_LIB_SOURCES CONFIGURE_DEPENDS
     src/core/*.c src/crypto/*.c src/evidence/*.c src/policy/*.c src/collateral/*.c src/jose/*.c)
# The command-line parser and the daemon log are for the programs.
list(FILTER CCG_PUBLIC_LIB_SOURCES EXCLUDE REGEX "src/core/(cli_args|log)\\.c$")

# The public headers: the three verifiers' APIs and every header they include (each compiles alone:
# tests/cli/test_install.sh). Their functions are the only symbols libccgate.so exports (the version
# script below; the test checks every exported symbol against the installed headers).
set(CCG_PUBLIC_HEADERS
  decision.h error.h gpu_evidence.h gpu_verify.h reason_list.h reasons.h refvalue.h result.h
  snp_policy.h snp_report.h snp_tcb_baseline.h snp_verify.h tdx_collateral.h tdx_policy.h tdx_quote.h
  tdx_verify.h util.h version.h)
list(TRANSFORM CCG_PUBLIC_HEADERS PREPEND ${CMAKE_SOURCE_DIR}/include/ccgate/)
# reason_list.h's per-group X-macro fragments (no functions: not read for the version script).
file(GLOB CCG_PUBLIC_REASON_GROUPS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/include/ccgate/reasons/*.h)

# The linker version script: every function the public headers declare (not the static inline ones),
# version node CCGATE_0; everything else is local. Regenerated when a header changes.
function(ccg_public_version_script out)
  set(names "")
  foreach(h ${CCG_PUBLIC_HEADERS})
    file(READ ${h} text)
    string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" "" text "${text}")       # comments
    string(REGEX REPLACE "#define([^\n]*\\\\\n)*[^\n]*" "" text "${text}")     # macros
    string(REGEX REPLACE "static inline[^(]*\\(" "" text "${text}")              # inline helpers
    string(REGEX MATCHALL "ccg_[A-Za-z0-9_]+[ \t\n]*\\(" calls "${text}")
    foreach(c ${calls})
      string(REGEX REPLACE "[ \t\n]*\\($" "" c "${c}")
      list(APPEND names ${c})
    endforeach()
  endforeach()
  list(REMOVE_DUPLICATES names)
  list(SORT names)
  list(JOIN names ";\n    " body)
  file(CONFIGURE OUTPUT ${out} CONTENT "CCGATE_0 {\n  global:\n    ${body};\n  local:\n    *;\n};\n")
  set_property(DIRECTORY ${CMAKE_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CCG_PUBLIC_HEADERS})
endfunction()

# Not in the sanitised build: its objects would need the sanitiser runtime, and the installation test
# uses the optimised gcc build (build/gcc, tests/cli/test_install.sh).
if(CCG_SANITIZE OR CCG_FUZZ)
  set(CCG_LIBCCGATE_DEFAULT OFF)
else()
  set(CCG_LIBCCGATE_DEFAULT ON)
endif()
option(CCG_LIBCCGATE "Build the public verifier library libccgate (shared and static)" ${CCG_LIBCCGATE_DEFAULT})
if(CCG_LIBCCGATE)
  if(NOT TARGET PkgConfig::XMLSEC) # cmake/gpu_rim.cmake finds it first
    pkg_check_modules(XMLSEC REQUIRED IMPORTED_TARGET xmlsec1-openssl)
  endif()
  ccg_public_version_script(${CMAKE_BINARY_DIR}/libccgate.map)
  set(CCG_PUBLIC_MAP ${CMAKE_BINARY_DIR}/libccgate.map)
  # One set of objects for both: position-independent already (CMAKE_POSITION_INDEPENDENT_CODE).
  add_library(ccgate-public-objs OBJECT ${CCG_PUBLIC_LIB_SOURCES})
  # cmake/version.cmake (included after this file) generates ccg_git_revision.h there.
  target_include_directories(ccgate-public-objs PRIVATE include ${CMAKE_BINARY_DIR}/generated)
  target_link_libraries(ccgate-public-objs PUBLIC OpenSSL::Crypto PkgConfig::JANSSON PkgConfig::CURL
                        PkgConfig::XMLSEC)
  add_dependencies(ccgate-public-objs ccg-git-revision)

  add_library(ccgate-shared SHARED $<TARGET_OBJECTS:ccgate-public-objs>)
  add_library(ccgate-static STATIC $<TARGET_OBJECTS:ccgate-public-objs>)
  # Their own directory: the internal static library is libccgate.a at the top of the build tree.
  set_target_properties(ccgate-shared ccgate-static PROPERTIES
    OUTPUT_NAME ccgate
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib
    ARCHIVE_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib)
  set_target_properties(ccgate-shared PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
    LINK_DEPENDS ${CCG_PUBLIC_MAP})
  target_link_libraries(ccgate-shared PRIVATE OpenSSL::Crypto PkgConfig::JANSSON PkgConfig::CURL PkgConfig::XMLSEC)
  # Every symbol resolved at link time (-z defs); only the public API exported (the version script).
  target_link_options(ccgate-shared PRIVATE -Wl,-z,defs
    -Wl,--version-script=${CCG_PUBLIC_MAP})
  if(CCG_SANITIZE)
    # Forced on in a sanitised build: the sanitiser runtime is the program's, so its symbols stay undefined.
    target_link_options(ccgate-shared PRIVATE -Wl,-z,undefs)
  endif()

  # Relocatable: the prefix is found from the .pc file's own place, so a DESTDIR or `cmake --install
  # --prefix` tree works as installed.
  file(RELATIVE_PATH CCG_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
  string(REGEX REPLACE "/$" "" CCG_PC_TO_PREFIX "${CCG_PC_TO_PREFIX}")
  configure_file(${CMAKE_SOURCE_DIR}/packaging/ccgate.pc.in ${CMAKE_BINARY_DIR}/ccgate.pc @ONLY)
  install(TARGETS ccgate-shared ccgate-static
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(FILES ${CCG_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ccgate)
  install(FILES ${CCG_PUBLIC_REASON_GROUPS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ccgate/reasons)
  install(FILES ${CMAKE_BINARY_DIR}/ccgate.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()

# --- Programs: bin/. The targets are defined by files included after this one (cmake/runner.cmake,
# and cmake/cli.cmake for `ccgate`), so the rules are added once the whole directory is read. ---
function(ccg_install_programs)
  foreach(t ccgate-cli ccgate-kbs ccgate-agent ccgate-runner)
    if(TARGET ${t})
      install(TARGETS ${t} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
    endif()
  endforeach()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL ccg_install_programs)

# --- Man pages: cmake/man.cmake generates them into ${CMAKE_BINARY_DIR}/man with help2man. Globbed at
# install time, so nothing breaks in a build that has none. ---
install(DIRECTORY ${CMAKE_BINARY_DIR}/man/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
        OPTIONAL FILES_MATCHING PATTERN "*.1")
install(DIRECTORY ${CMAKE_BINARY_DIR}/man/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man8
        OPTIONAL FILES_MATCHING PATTERN "*.8")

# --- Bash completions (packaging/completions), one file per program, as bash-completion looks them up. ---
install(FILES packaging/completions/ccgate packaging/completions/ccgate-kbs packaging/completions/ccgate-agent
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/bash-completion/completions)

# --- systemd units: lib/systemd/system under the prefix (/usr/lib/systemd/system for the package: Debian 12
# merges /lib into /usr/lib; /usr/local/lib/systemd/system is on systemd's search path too). Relative, so
# `cmake --install --prefix DIR` and DESTDIR stay inside DIR. The units name the programs by the path
# they are configured for (CMAKE_INSTALL_PREFIX at configure time). ---
set(CCG_UNIT_DIR lib/systemd/system)
# /etc/ccgate whatever the prefix: that is the unit's ConfigurationDirectory=ccgate.
set(CCG_SYSCONF_DIR /etc)
foreach(unit ccgate-kbs.service ccgate-agent.service)
  configure_file(packaging/systemd/${unit}.in ${CMAKE_BINARY_DIR}/packaging/${unit} @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/packaging/${unit} DESTINATION ${CCG_UNIT_DIR})
endforeach()

# The broker's system user, created by systemd-sysusers (the Debian package's postinst runs it).
install(FILES packaging/sysusers.d/ccgate.conf DESTINATION lib/sysusers.d)

# --- Documentation and examples: share/doc/ccgate. ---
install(FILES README.md LICENSE CHANGELOG.md SECURITY.md docs/install.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES packaging/examples/kbs.json packaging/examples/agent.json packaging/examples/README.md
              examples/verify_snp.c
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
