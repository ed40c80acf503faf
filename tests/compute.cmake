# compute: thread pool + matmul driver. The sources under test are compiled
# into the tests directly, so a half-written file elsewhere in the compute
# module cannot stop them from linking.
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_threadpool.c)
  wf_c_test(test_threadpool SRCS test_threadpool.c ../src/threadpool.c SANITIZE LABELS compute)
endif()
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_matmul.c)
  if(TARGET wf_kernels)
    # full test: every loadable type, scalar table (exact) and best ISA (tolerance).
    # gguf: the quant module's glob (src/quant*.c) also takes quantize.c.
    wf_c_test(test_matmul SRCS test_matmul.c ../src/matmul.c ../src/threadpool.c
              MODULES kernels quant gguf SANITIZE LABELS compute)
  else()
    # kernels not written yet: the test brings a tiny F32-only scalar table
    wf_c_test(test_matmul SRCS test_matmul.c ../src/matmul.c ../src/threadpool.c
              MODULES quant gguf SANITIZE LABELS compute)
    foreach(t test_matmul test_matmul_san)
      if(TARGET ${t})
        target_compile_definitions(${t} PRIVATE WF_TEST_OWN_KERNELS=1)
      endif()
    endforeach()
  endif()
endif()
