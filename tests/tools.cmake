# tools/ (embedded-model pipeline): a smoke run, tiny corpus to wafer log-probs.
wf_py_test(tools_smoke SCRIPT test_tools_smoke.py TIMEOUT 300)
