# Kernel tests: every SIMD entry vs the scalar reference (see test_kernels.c),
# plain and under ASan+UBSan. The quant reference sources are listed directly
# (as tests/quant.cmake does): the src/quant*.c glob also holds quantize.c,
# which needs gguf + threadpool.
wf_c_test(test_kernels SRCS test_kernels.c ../src/quant.c ../src/quant_float.c ../src/quant_legacy.c
          ../src/quant_k.c MODULES kernels SANITIZE LABELS kernels)
