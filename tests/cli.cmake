# The wafer commands end to end, against the numpy references.
wf_py_test(test_cli SCRIPT test_cli.py TIMEOUT 300)
