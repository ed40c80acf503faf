# server: `wafer serve` (src/server*.c, src/api*.c). test_server drives it over
# raw HTTP (correctness against the numpy reference, llama.cpp endpoints,
# errors, cancel, 429, metrics, drain); test_server_openai with the official
# OpenAI JavaScript SDK (skips when node/npm or the install are unavailable);
# fuzz_api feeds the JSON -> request layer random and mutated bodies under
# ASan+UBSan (a bounded run; the same file builds as a libFuzzer target).
if(TARGET wafer)
  wf_py_test(test_server SCRIPT test_server.py LABELS server TIMEOUT 180)
  wf_py_test(test_server_openai SCRIPT test_server_openai.py LABELS server TIMEOUT 300)
  # 32 streaming clients (a quarter hanging up at random) for 8 s; a longer
  # run: tests/test_server_load.py --duration 180 (numbers in docs/server.md)
  wf_py_test(test_server_load SCRIPT test_server_load.py ARGS --duration 8 LABELS server load TIMEOUT 120)
endif()
wf_c_test(test_server_api SRCS test_server_api.c MODULES sampler SANITIZE LABELS server)
wf_c_test(fuzz_api SRCS fuzz_api.c MODULES sampler SANITIZE LABELS server fuzz ARGS 20000)
