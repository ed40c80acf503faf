# engine: step-wise generation (wf_session_begin/_step/_end), several
# sessions decoded in one forward pass (wf_sessions_step, wf_decode_multi).
foreach(m gen model gguf quant kernels compute tokenizer sampler tools)
  if(NOT TARGET wf_${m})
    message(STATUS "engine tests: module ${m} missing, not built")
    return()
  endif()
endforeach()
wf_c_test(test_step SRCS test_step.c MODULES gen model gguf quant kernels compute tokenizer sampler tools SANITIZE LABELS gen)
