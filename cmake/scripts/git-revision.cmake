# Writes OUT with the source tree's git revision (-dirty when tracked files changed; "unknown" outside a git
# checkout, e.g. a release tarball), only when it changed, so an unchanged tree rebuilds nothing.
# Run as: cmake -DSRC=<source dir> -DOUT=<header> -P git-revision.cmake
execute_process(COMMAND git -C "${SRC}" rev-parse --short=12 HEAD RESULT_VARIABLE rc
                OUTPUT_VARIABLE rev OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT rc EQUAL 0 OR rev STREQUAL "")
  set(rev "unknown")
else()
  execute_process(COMMAND git -C "${SRC}" status --porcelain --untracked-files=no
                  OUTPUT_VARIABLE dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT dirty STREQUAL "")
    string(APPEND rev "-dirty")
  endif()
endif()
set(text "#define CCG_GIT_REVISION \"${rev}\"\n")
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
