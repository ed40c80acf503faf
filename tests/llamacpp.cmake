# Cross-check against an independent engine: the prebuilt llama.cpp from npm's
# node-llama-cpp (tests/node). Needs node + npm; skips (77) when they or the
# prebuilt binary are unavailable. See docs/crosscheck.md.
if(TARGET wafer)
  wf_py_test(test_llamacpp SCRIPT test_llamacpp.py LABELS crosscheck TIMEOUT 300)
endif()
