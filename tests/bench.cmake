# Tests of the benchmark tools (bench/): fast checks that bench_mkmodel writes
# real-shaped models and that `wafer bench` reports what the file holds.
# The benchmarks themselves run only under `make bench` (bench/run.sh).
wf_py_test(test_bench_mkmodel SCRIPT bench_mkmodel.py LABELS bench TIMEOUT 120)
wf_py_test(test_bench_cli SCRIPT bench_cli.py LABELS bench TIMEOUT 120)
