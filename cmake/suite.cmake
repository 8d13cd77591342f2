# Test-suite extras (issue 10): ccg-artifact-forge (tests/support/artifact_forge.c), a model-key holder's
# forgeries of a sealed artifact, in $CCG_ARTIFACT_FORGE for the end-to-end artifact test.
if(CCG_TESTS)
  add_executable(ccg-artifact-forge ${CMAKE_SOURCE_DIR}/tests/support/artifact_forge.c)
  target_link_libraries(ccg-artifact-forge PRIVATE ccgate)
  if(TEST cli_test_artifact_attacks)
    set_property(TEST cli_test_artifact_attacks APPEND PROPERTY ENVIRONMENT
      "CCG_ARTIFACT_FORGE=$<TARGET_FILE:ccg-artifact-forge>")
  endif()
endif()
