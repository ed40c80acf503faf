# tools/ (embedded-model pipeline): a smoke run, tiny corpus to wafer log-probs;
# and the committed embedded model itself (models/).
wf_py_test(tools_smoke SCRIPT test_tools_smoke.py TIMEOUT 300)
wf_py_test(embedded SCRIPT test_embedded.py TIMEOUT 300)
# speculation on the embedded model: greedy-exact and distribution-preserving
wf_c_test(test_emb_spec SRCS test_emb_spec.c MODULES gen model gguf quant kernels compute tokenizer sampler
          ARGS ${CMAKE_SOURCE_DIR}/models/wafer-embedded.gguf LABELS gen)
