# The software GPU (src/emulator/gpu, in the ccgate library) behind the stub NVML: the stub signs
# emulated evidence over the caller's nonce, so it links the library, keeping its copy private
# (only the nvml* entry points are exported). test_gpu_nvml_stub dlopens it.
if(TARGET ccg-nvml-stub)
  foreach(stub ccg-nvml-stub ccg-nvml-stub-old)
    if(TARGET ${stub})
      target_link_libraries(${stub} PRIVATE ccgate)
      target_link_options(${stub} PRIVATE -Wl,--exclude-libs,ALL)
    endif()
  endforeach()
  if(CCG_TESTS AND TARGET test_gpu_nvml_stub)
    set_property(TEST test_gpu_nvml_stub APPEND PROPERTY ENVIRONMENT "CCG_NVML_STUB=$<TARGET_FILE:ccg-nvml-stub>")
    add_dependencies(test_gpu_nvml_stub ccg-nvml-stub ccgate-cli)
  endif()
endif()
