# Guest agent extras: a stub NVML shared library (tests/support/nvml_stub.c, states chosen by
# CCG_NVML_STUB_* variables), the same without the CC attestation calls, and a stub model server
# (tests/support/model_server_stub.c), with their paths in $CCG_NVML_STUB, $CCG_NVML_STUB_OLD and
# $CCG_MODEL_SERVER_STUB for the tests named test_agent*.
# The stub NVML is built in every configuration: `make demo` (a release build without tests) runs a
# GPU-gated release with the software GPU behind it. TEST ROOTS ONLY: NVIDIA's pinned roots never
# accept its evidence.
add_library(ccg-nvml-stub SHARED ${CMAKE_SOURCE_DIR}/tests/support/nvml_stub.c)
set_target_properties(ccg-nvml-stub PROPERTIES OUTPUT_NAME nvidia-ml-stub)
if(CCG_TESTS)
  # The same stub as a driver from before the CC attestation calls ($CCG_NVML_STUB_OLD).
  add_library(ccg-nvml-stub-old SHARED ${CMAKE_SOURCE_DIR}/tests/support/nvml_stub.c)
  set_target_properties(ccg-nvml-stub-old PROPERTIES OUTPUT_NAME nvidia-ml-old-stub)
  target_compile_definitions(ccg-nvml-stub-old PRIVATE CCG_NVML_STUB_NO_ATTESTATION)
  # The agent child-process helpers its end-to-end tests share.
  target_sources(ccgate-testutil PRIVATE ${CMAKE_SOURCE_DIR}/tests/support/agent_proc.c)
  add_executable(ccg-model-server-stub ${CMAKE_SOURCE_DIR}/tests/support/model_server_stub.c)
  target_link_libraries(ccg-model-server-stub PRIVATE OpenSSL::Crypto)
  get_property(CCG_AGENT_ALL_TESTS DIRECTORY ${CMAKE_SOURCE_DIR} PROPERTY TESTS)
  foreach(t ${CCG_AGENT_ALL_TESTS})
    if(t MATCHES "^test_agent" AND TARGET ${t})
      set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT
        "CCG_NVML_STUB=$<TARGET_FILE:ccg-nvml-stub>"
        "CCG_NVML_STUB_OLD=$<TARGET_FILE:ccg-nvml-stub-old>"
        "CCG_MODEL_SERVER_STUB=$<TARGET_FILE:ccg-model-server-stub>")
      add_dependencies(${t} ccg-nvml-stub ccg-nvml-stub-old ccg-model-server-stub)
      if(TARGET ccgate-agent)
        add_dependencies(${t} ccgate-agent ccgate-endpoint ccgate-kbs)
      endif()
    endif()
  endforeach()
endif()
