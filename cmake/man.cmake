# Man pages generated at build time from each command's --help (help2man), into ${CMAKE_BINARY_DIR}/man/:
# one page per command and subcommand, git style (`ccgate kbs key import` -> ccgate-kbs-key-import.1),
# section 1 for the ccgate tool and 8 for the daemons (ccgate-kbs, ccgate-agent, ccgate-runner and their
# subcommands). The commands and their one-line descriptions come from src/cli/commands.list, the list
# the CLI walk test (tests/cli/test_cli_walk.sh) also walks and checks the pages against. Only when
# help2man is found; the install rules (cmake/install.cmake) install that directory. docs/cli.md.
#
# This file is both included by CMakeLists.txt (it adds the target) and run with `cmake -P` by that
# target (it writes the pages).

if(CMAKE_SCRIPT_MODE_FILE)
  # Inputs: CCG_LIST, CCG_CLI (the ccgate program), CCG_BIN_DIR (the daemons), CCG_OUT, HELP2MAN.
  file(MAKE_DIRECTORY ${CCG_OUT})
  file(STRINGS ${CCG_LIST} lines)
  set(made 0)
  foreach(line IN LISTS lines)
    if(line MATCHES "^#" OR line STREQUAL "")
      continue()
    endif()
    if(NOT line MATCHES "^(\\??)([^|]*[^ |]) +\\| +([^|]*[^ |]) +\\| +(.*)$")
      message(WARNING "man: cannot read the line '${line}' of ${CCG_LIST}")
      continue()
    endif()
    set(name "${CMAKE_MATCH_2}")
    set(desc "${CMAKE_MATCH_4}")
    string(REPLACE " " ";" words "${name}")
    list(POP_FRONT words prog)
    if(prog STREQUAL "ccgate")
      set(exe ${CCG_CLI})
      set(section 1)
    else()
      set(exe ${CCG_BIN_DIR}/${prog})
      set(section 8)
    endif()
    # A command not on the convention yet (its --help lacks "Usage: NAME") gets no page rather than a
    # wrong one; the walk test reports it.
    execute_process(COMMAND ${exe} ${words} --help OUTPUT_VARIABLE help ERROR_QUIET RESULT_VARIABLE rc
                    TIMEOUT 30 INPUT_FILE /dev/null)
    string(REGEX MATCH "(^|\n)Usage: ${name}( |\n)" usage_line "${help}")
    if(NOT rc EQUAL 0 OR usage_line STREQUAL "")
      message(STATUS "man: no page for '${name}' (its --help has no 'Usage: ${name}' line)")
      continue()
    endif()
    string(REPLACE " " "-" page_name "${name}")
    set(page ${CCG_OUT}/${page_name}.${section})
    # help2man runs its argument through the shell: the words after the program are its subcommand.
    string(REPLACE ";" " " sub "${words}")
    execute_process(COMMAND ${HELP2MAN} --no-info --section=${section} "--name=${desc}" --source=ccgate
                            "--manual=ccgate Manual" --output=${page}.tmp "${exe} ${sub}"
                    RESULT_VARIABLE rc ERROR_VARIABLE err TIMEOUT 60)
    if(NOT rc EQUAL 0)
      message(WARNING "man: help2man failed for '${name}': ${err}")
      continue()
    endif()
    # help2man names the page after the program; a subcommand's page carries its own (git-style) name.
    file(READ ${page}.tmp text)
    string(TOUPPER "${page_name}" upper)
    string(REGEX REPLACE "\n\\.TH [^ ]+ " "\n.TH ${upper} " text "${text}")
    string(REGEX REPLACE "\n\\.SH NAME\n[^\n]* \\\\- " "\n.SH NAME\n${page_name} \\\\- " text "${text}")
    file(WRITE ${page} "${text}")
    file(REMOVE ${page}.tmp)
    math(EXPR made "${made} + 1")
  endforeach()
  message(STATUS "man: ${made} pages in ${CCG_OUT}")
  file(TOUCH ${CCG_OUT}/.stamp)
  return()
endif()

find_program(CCG_HELP2MAN help2man)
if(NOT CCG_HELP2MAN)
  message(STATUS "help2man not found: no man pages (apt-get install help2man)")
  return()
endif()
set(CCG_MAN_DIR ${CMAKE_BINARY_DIR}/man)

# Deferred to the end of the top-level directory: every program target exists by then (the per-command
# executables `ccgate` runs, the daemons), whichever cmake/*.cmake defines it.
function(ccg_man_setup)
  set(list_file ${CMAKE_SOURCE_DIR}/src/cli/commands.list)
  set(deps ${list_file} ${CMAKE_SOURCE_DIR}/cmake/man.cmake)
  get_property(targets DIRECTORY ${CMAKE_SOURCE_DIR} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(t IN LISTS targets)
    get_target_property(type ${t} TYPE)
    if(type STREQUAL "EXECUTABLE" AND t MATCHES "^ccgate")
      list(APPEND deps ${t})
    endif()
  endforeach()
  add_custom_command(OUTPUT ${CCG_MAN_DIR}/.stamp
    COMMAND ${CMAKE_COMMAND} -DCCG_LIST=${list_file} -DCCG_CLI=$<TARGET_FILE:ccgate-cli>
            -DCCG_BIN_DIR=$<TARGET_FILE_DIR:ccgate-kbs> -DCCG_OUT=${CCG_MAN_DIR} -DHELP2MAN=${CCG_HELP2MAN}
            -P ${CMAKE_SOURCE_DIR}/cmake/man.cmake
    DEPENDS ${deps}
    COMMENT "Man pages from --help (help2man) into ${CCG_MAN_DIR}"
    VERBATIM)
  add_custom_target(ccgate-man ALL DEPENDS ${CCG_MAN_DIR}/.stamp)
  if(TEST cli_test_cli_walk)
    set_property(TEST cli_test_cli_walk APPEND PROPERTY ENVIRONMENT "CCG_MAN_DIR=${CCG_MAN_DIR}")
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL ccg_man_setup)
