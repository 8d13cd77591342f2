# The attested channel (issue 5): the MITM suite computes a byte-histogram entropy (libm).
if(TARGET test_channel_mitm)
  target_link_libraries(test_channel_mitm PRIVATE m)
endif()
if(TARGET bench_channel)
  target_link_libraries(bench_channel PRIVATE m Threads::Threads)
endif()
