# gen: the generation API (sessions, prefix reuse, cancellation, speculative
# decoding) on synthetic models, and `wafer run --spec/--predict` end to end.
foreach(m gen model gguf quant kernels compute tokenizer sampler)
  if(NOT TARGET wf_${m})
    message(STATUS "gen tests: module ${m} missing, not built")
    return()
  endif()
endforeach()
wf_c_test(test_generate SRCS test_generate.c MODULES gen model gguf quant kernels compute tokenizer sampler SANITIZE LABELS gen)
wf_py_test(test_spec SCRIPT test_spec.py LABELS gen TIMEOUT 300)
wf_c_test(test_draft SRCS test_draft.c MODULES gen model gguf quant kernels compute tokenizer sampler SANITIZE LABELS gen)
wf_c_test(test_pcache SRCS test_pcache.c MODULES gen model gguf quant kernels compute tokenizer sampler SANITIZE LABELS gen)
wf_c_test(test_abort SRCS test_abort.c MODULES gen model gguf quant kernels compute tokenizer sampler SANITIZE LABELS gen)
