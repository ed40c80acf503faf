# Kernel tests: every SIMD entry vs the scalar reference (see test_kernels.c).
# The quant reference sources are listed directly (as tests/quant.cmake does):
# the src/quant*.c glob also holds quantize.c, which needs gguf + threadpool.
set(WF_KERNELS_TEST_SRCS test_kernels.c ../src/quant.c ../src/quant_float.c ../src/quant_legacy.c ../src/quant_k.c)
wf_c_test(test_kernels SRCS ${WF_KERNELS_TEST_SRCS} MODULES kernels SANITIZE LABELS kernels)
# wf_c_test's variant list ("" "_san") drops the empty element, so SANITIZE
# currently yields only the _san build: add the plain one if it is missing.
if(NOT TARGET test_kernels)
  wf_c_test(test_kernels SRCS ${WF_KERNELS_TEST_SRCS} MODULES kernels LABELS kernels)
endif()
