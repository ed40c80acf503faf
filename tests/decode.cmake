# decode: fused multi-matrix matmul jobs (wf_matmul_multi) and vectorised SiLU.
if(TARGET wf_kernels)
  wf_c_test(test_matmul_multi SRCS test_matmul_multi.c MODULES compute kernels quant SANITIZE LABELS compute)
endif()
if(TARGET wf_model)
  wf_c_test(test_ops_simd SRCS test_ops_simd.c MODULES model gguf quant kernels compute tokenizer SANITIZE LABELS model)
endif()
