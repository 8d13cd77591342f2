# GPU evidence extras: the test-only chain and SPDM report generator (tests/support/gpu_testgen.c) for the
# GPU tests and anything else that needs signed GPU evidence.
if(CCG_TESTS)
  target_sources(ccgate-testutil PRIVATE ${CMAKE_SOURCE_DIR}/tests/support/gpu_testgen.c)
endif()
