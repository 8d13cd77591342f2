# The store's PostgreSQL backend (src/store/pg_*.c) needs libpq. It is linked into the internal `ccgate`
# static library's users, and -Wl,--as-needed (CMakeLists.txt) records it (DT_NEEDED) only in programs
# whose code reaches the store: ccgate-kbs, ccgate (the CLI's kbs/store commands), the tests and
# benchmarks. ccgate-agent and ccgate-endpoint never open a store, so libpq stays out of them
# (tests/cli/test_agent_deps.sh). libccgate (cmake/install.cmake) has no store sources and no libpq.
pkg_check_modules(PQ REQUIRED IMPORTED_TARGET libpq)
target_link_libraries(ccgate PUBLIC PkgConfig::PQ)
if(CCG_TESTS)
  # The C wrapper over tests/support/pg_scratch.sh (a scratch PostgreSQL for the store's tests).
  target_sources(ccgate-testutil PRIVATE ${CMAKE_SOURCE_DIR}/tests/support/pg_scratch.c)
endif()
