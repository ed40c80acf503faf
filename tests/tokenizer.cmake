# Tokenizer tests (module tok): synthetic vocabularies and the llama.cpp
# test vectors in ../shared/vocab (skipped when absent), under ASan+UBSan and
# as a plain optimised build ("all" = synthetic + vectors).
wf_c_test(test_tokenizer SRCS test_tokenizer.c MODULES gguf gguftraits tokenizer SANITIZE)
wf_c_test(test_tokenizer_vectors SRCS test_tokenizer.c MODULES gguf gguftraits tokenizer SANITIZE ARGS vectors)
wf_c_test(test_tokenizer_plain SRCS test_tokenizer.c MODULES gguf gguftraits tokenizer ARGS all)
wf_py_test(test_tokenizer_cli SCRIPT test_tokenizer_cli.py TIMEOUT 120)
