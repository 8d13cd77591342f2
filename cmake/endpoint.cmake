# The inference endpoint (src/serve/endpoint, docs/endpoint.md): part of the library, served by ccgate-agent.
file(GLOB CCG_ENDPOINT_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/serve/endpoint/*.c)
target_sources(ccgate PRIVATE ${CCG_ENDPOINT_SOURCES})
if(CCG_TESTS)
  # A stand-in runner (libmicrohttpd on a Unix socket) for the endpoint's own tests.
  target_sources(ccgate-testutil PRIVATE ${CMAKE_SOURCE_DIR}/tests/support/fake_runner.c)
endif()
# ccgate-endpoint: the guest's network-facing process (src/endpoint_main.c, docs/agent.md "Privilege
# separation"). ccgate-agent starts it and finds it beside itself in the build tree, and in
# libexec/ccgate/ once installed. It links libmicrohttpd (and so GnuTLS); the agent does not.
if(TARGET ccgate-agent)
  include(GNUInstallDirs)
  add_executable(ccgate-endpoint ${CMAKE_SOURCE_DIR}/src/endpoint_main.c)
  target_link_libraries(ccgate-endpoint PRIVATE ccgate)
  target_link_options(ccgate-endpoint PRIVATE -pie)
  # Built whenever the agent is: the agent is useless without its front.
  add_dependencies(ccgate-agent ccgate-endpoint)
  install(TARGETS ccgate-endpoint RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/ccgate)
  # The agent looks for it at <its own dir>/<this relative path> once installed ("../libexec/ccgate" with
  # the usual directories), so a distribution's own libexec directory is followed.
  file(RELATIVE_PATH CCG_FRONT_FROM_BIN ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_FULL_LIBEXECDIR}/ccgate)
  set_property(SOURCE ${CMAKE_SOURCE_DIR}/src/agent/front.c APPEND PROPERTY COMPILE_DEFINITIONS
    "CCG_FRONT_FROM_BIN=\"${CCG_FRONT_FROM_BIN}\"")
endif()
