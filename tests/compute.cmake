# compute: thread pool + matmul driver.
# test_threadpool compiles threadpool.c in directly: the compute module's
# objects also hold matmul.c, which would pull in the kernels and quant modules.
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_threadpool.c)
  wf_c_test(test_threadpool SRCS test_threadpool.c ../src/threadpool.c SANITIZE LABELS compute)
endif()
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_matmul.c)
  if(TARGET wf_kernels)
    # every loadable type, scalar table (exact) and best ISA (tolerance)
    wf_c_test(test_matmul SRCS test_matmul.c MODULES compute kernels quant SANITIZE LABELS compute)
  else()
    # bring-up without the kernels module: the test brings an F32-only table
    wf_c_test(test_matmul SRCS test_matmul.c MODULES compute quant SANITIZE LABELS compute)
    foreach(t test_matmul test_matmul_san)
      if(TARGET ${t})
        target_compile_definitions(${t} PRIVATE WF_TEST_OWN_KERNELS=1)
      endif()
    endforeach()
  endif()
endif()
