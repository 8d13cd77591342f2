# Inference endpoint extras: the capture gateway (tests/support/capture_gateway.c), a TCP tap or a
# TLS-terminating gateway that records what it sees, with its path in $CCG_CAPTURE_GATEWAY for the tests
# named *serve*. Test support only.
if(CCG_TESTS)
  add_executable(ccg-capture-gateway ${CMAKE_SOURCE_DIR}/tests/support/capture_gateway.c)
  target_link_libraries(ccg-capture-gateway PRIVATE OpenSSL::SSL Threads::Threads)
  get_property(CCG_SERVE_ALL_TESTS DIRECTORY ${CMAKE_SOURCE_DIR} PROPERTY TESTS)
  foreach(t ${CCG_SERVE_ALL_TESTS})
    if(t MATCHES "serve")
      set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT "CCG_CAPTURE_GATEWAY=$<TARGET_FILE:ccg-capture-gateway>")
    endif()
  endforeach()
endif()
