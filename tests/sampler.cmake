# sampler: token sampling chain and stop strings (sources compiled in directly).
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_sampler.c)
  wf_c_test(test_sampler SRCS test_sampler.c ../src/sampler.c ../src/stop.c SANITIZE LABELS sampler)
endif()
