# The version every program prints with --version: the project version, the git revision (regenerated at each
# build by cmake/scripts/git-revision.cmake) and the OpenSSL it runs with (src/core/version.c).
set(CCG_GENERATED_DIR ${CMAKE_BINARY_DIR}/generated)
add_custom_target(ccg-git-revision
  COMMAND ${CMAKE_COMMAND} -DSRC=${CMAKE_SOURCE_DIR} -DOUT=${CCG_GENERATED_DIR}/ccg_git_revision.h
          -P ${CMAKE_SOURCE_DIR}/cmake/scripts/git-revision.cmake
  BYPRODUCTS ${CCG_GENERATED_DIR}/ccg_git_revision.h
  COMMENT "git revision")
add_dependencies(ccgate ccg-git-revision)
target_include_directories(ccgate PRIVATE ${CCG_GENERATED_DIR})
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/core/version.c PROPERTIES
  COMPILE_DEFINITIONS "CCG_VERSION=\"${PROJECT_VERSION}\"")
