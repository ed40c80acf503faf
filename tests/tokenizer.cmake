# Tokenizer tests (module tok):
#   test_tokenizer          synthetic vocabularies + pre-tokenizer splits
#   test_tokenizer_vectors  llama.cpp's test vectors in ../shared/vocab (77 if absent)
#   test_tokenizer_cli      the CLI against an independent Python tokenizer
wf_c_test(test_tokenizer SRCS test_tokenizer.c MODULES gguf quant tokenizer SANITIZE)
wf_c_test(test_tokenizer_vectors SRCS test_tokenizer.c MODULES gguf quant tokenizer SANITIZE ARGS vectors)
wf_py_test(test_tokenizer_cli SCRIPT test_tokenizer_cli.py TIMEOUT 120)
