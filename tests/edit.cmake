# edit: `wafer edit` (prediction on/off identity, atomic -o / --in-place,
# error cases) and `wafer complete --spec/--predict` identity, on synthetic
# make_model.py models (tests/test_edit.py).
if(TARGET wafer)
  wf_py_test(test_edit SCRIPT test_edit.py LABELS edit TIMEOUT 180)
endif()
