# The `ccgate` command line (docs/startup.md): a dispatcher that links only libc (src/cli/main.c, target
# ccgate-cli, output `ccgate`) and one executable per top-level command, ccgate-cmd-<command>
# (src/cli/cmd_entry.c compiled with that command's entry), in <build>/libexec/ccgate/ and, installed, in
# ${CMAKE_INSTALL_LIBEXECDIR}/ccgate/. With --as-needed each records only the libraries its own code uses:
# `ccgate measure snp` no longer loads libcurl, SQLite or libmicrohttpd.
include(GNUInstallDirs)

# The commands: the word after `ccgate`, and its function in src/cli (cli.h). The dispatcher's table in
# src/cli/main.c lists the same words (tests/cli/test_startup_libs.sh checks both ways).
set(CCG_CLI_COMMANDS
  verify:cmd_verify kds:cmd_kds emulate:cmd_emulate measure:cmd_measure refval:cmd_refval
  tcb-baseline:cmd_tcb_baseline audit:cmd_audit kbs:cmd_kbs reasons:cmd_reasons channel:cmd_channel
  client:cmd_client seal:cmd_seal unseal:cmd_unseal artifact:cmd_artifact model:cmd_model)

# The commands' code: a static library, so each executable takes only the objects its command reaches.
file(GLOB CCG_CLI_CMD_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/cli/*.c)
list(REMOVE_ITEM CCG_CLI_CMD_SOURCES ${CMAKE_SOURCE_DIR}/src/cli/main.c ${CMAKE_SOURCE_DIR}/src/cli/cmd_entry.c)
add_library(ccgate-cli-cmds STATIC ${CCG_CLI_CMD_SOURCES})
target_link_libraries(ccgate-cli-cmds PUBLIC ccgate PkgConfig::LIBPQ)

# Where the installed dispatcher finds the executables, relative to its own directory.
file(RELATIVE_PATH CCG_LIBEXEC_REL ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_FULL_LIBEXECDIR}/ccgate)
set(CCG_CLI_LIBEXEC_BUILD ${CMAKE_BINARY_DIR}/libexec/ccgate)

add_executable(ccgate-cli ${CMAKE_SOURCE_DIR}/src/cli/main.c)
set_target_properties(ccgate-cli PROPERTIES OUTPUT_NAME ccgate)
# The header only (exit statuses): the dispatcher links no ccgate code, hence no OpenSSL.
target_include_directories(ccgate-cli PRIVATE ${CMAKE_SOURCE_DIR}/include)
target_compile_definitions(ccgate-cli PRIVATE "CCG_LIBEXEC_REL=\"${CCG_LIBEXEC_REL}\"")
target_link_options(ccgate-cli PRIVATE -pie)

# ccg_cli_command(WORD FUNCTION): the executable ccgate-cmd-WORD.
function(ccg_cli_command word fn)
  set(t ccgate-cmd-${word})
  add_executable(${t} ${CMAKE_SOURCE_DIR}/src/cli/cmd_entry.c)
  target_compile_definitions(${t} PRIVATE CCG_CMD_ENTRY=${fn} "CCG_CMD_WORD=\"${word}\"")
  target_include_directories(${t} PRIVATE ${CMAKE_SOURCE_DIR}/src/cli)
  target_link_libraries(${t} PRIVATE ccgate-cli-cmds ccgate)
  target_link_options(${t} PRIVATE -pie)
  set_target_properties(${t} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CCG_CLI_LIBEXEC_BUILD})
  install(TARGETS ${t} RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/ccgate)
  add_dependencies(ccgate-cli ${t})
endfunction()

foreach(pair ${CCG_CLI_COMMANDS})
  string(REPLACE ":" ";" pair ${pair})
  list(GET pair 0 word)
  list(GET pair 1 fn)
  ccg_cli_command(${word} ${fn})
endforeach()

# `ccgate --version`: the version, the git revision and the OpenSSL that runs (libcrypto, nothing else).
add_executable(ccgate-cmd-version ${CMAKE_SOURCE_DIR}/src/cli/cmd_entry.c)
target_compile_definitions(ccgate-cmd-version PRIVATE CCG_CMD_VERSION)
target_link_libraries(ccgate-cmd-version PRIVATE ccgate)
target_link_options(ccgate-cmd-version PRIVATE -pie)
set_target_properties(ccgate-cmd-version PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CCG_CLI_LIBEXEC_BUILD})
install(TARGETS ccgate-cmd-version RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/ccgate)
add_dependencies(ccgate-cli ccgate-cmd-version)

if(CCG_BENCH)
  # The "before" of scripts/bench-startup.sh: `ccgate measure snp` linked as the single ccgate program
  # was, with every library of the ccgate library recorded (--no-as-needed after the global --as-needed).
  add_executable(ccg-startup-before ${CMAKE_SOURCE_DIR}/src/cli/cmd_entry.c)
  target_compile_definitions(ccg-startup-before PRIVATE CCG_CMD_ENTRY=cmd_measure "CCG_CMD_WORD=\"measure\"")
  target_include_directories(ccg-startup-before PRIVATE ${CMAKE_SOURCE_DIR}/src/cli)
  target_link_libraries(ccg-startup-before PRIVATE ccgate-cli-cmds ccgate)
  target_link_options(ccg-startup-before PRIVATE -pie -Wl,--no-as-needed)
  set_target_properties(ccg-startup-before PROPERTIES OUTPUT_NAME bench_startup_before)
endif()
