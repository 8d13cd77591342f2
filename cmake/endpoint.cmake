# The inference endpoint (src/serve/endpoint, docs/endpoint.md): part of the library, served by ccgate-agent.
file(GLOB CCG_ENDPOINT_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/serve/endpoint/*.c)
target_sources(ccgate PRIVATE ${CCG_ENDPOINT_SOURCES})
if(CCG_TESTS)
  # A stand-in runner (libmicrohttpd on a Unix socket) for the endpoint's own tests.
  target_sources(ccgate-testutil PRIVATE ${CMAKE_SOURCE_DIR}/tests/support/fake_runner.c)
endif()
