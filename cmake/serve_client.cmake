# Issue 13, the client side: the attestation binding, the evidence document, OHTTP/bhttp and SSE framing
# (src/serve/proto) and `ccgate client` (src/serve/client) are part of the library.
file(GLOB CCG_SERVE_CLIENT_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/serve/proto/*.c
     ${CMAKE_SOURCE_DIR}/src/serve/client/*.c)
if(CCG_SERVE_CLIENT_SOURCES)
  target_sources(ccgate PRIVATE ${CCG_SERVE_CLIENT_SOURCES})
endif()
# The test endpoint (tests/support/ep_test_server.c) that serves emulated, bound evidence.
if(CCG_TESTS AND EXISTS ${CMAKE_SOURCE_DIR}/tests/support/ep_test_server.c)
  add_executable(ccg-ep-test-server tests/support/ep_test_server.c)
  target_link_libraries(ccg-ep-test-server PRIVATE ccgate)
endif()
