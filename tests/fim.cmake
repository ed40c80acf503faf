# Fill-in-the-middle tests (src/fim.c, module chat):
#   test_fim       prompt layouts per family on synthetic vocabularies, budget
#                  trimming, marker injection, metadata precedence, errors
#   test_complete  `wafer complete` on a synthetic model against numpy greedy
#                  decoding, and on the real vocabularies in ../shared/vocab
# fim.c is compiled into the test directly, so the test does not depend on
# the rest of the chat module (templates).
wf_c_test(test_fim SRCS test_fim.c ../src/fim.c MODULES gguf quant tokenizer SANITIZE)
wf_py_test(test_complete SCRIPT test_complete.py TIMEOUT 300)
