# NVIDIA RIMs (src/evidence/gpu/gpu_rim*.c): XML signatures are verified by libxmlsec1 with its OpenSSL
# back end, over documents parsed by libxml2 (Debian: libxmlsec1-dev libxmlsec1-openssl libxml2-dev).
pkg_check_modules(XMLSEC REQUIRED IMPORTED_TARGET xmlsec1-openssl)
target_link_libraries(ccgate PUBLIC PkgConfig::XMLSEC)
# Tests: a loopback HTTP server (libmicrohttpd) standing in for the RIM service and the OCSP responder.
if(CCG_TESTS)
  target_sources(ccgate-testutil PRIVATE ${CMAKE_SOURCE_DIR}/tests/support/loopback_http.c
                 ${CMAKE_SOURCE_DIR}/tests/support/gpu_ocsp_responder.c)
  target_link_libraries(ccgate-testutil PUBLIC PkgConfig::MHD)
endif()
