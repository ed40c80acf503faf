# chat: `wafer chat` end to end on a synthetic ChatML model — pipe mode checked
# against `wafer template` + `wafer run` (turn 1, and turn 2 with the reused
# prompt + answer ids), and a pseudo-terminal for streaming, Ctrl-C, redirect,
# history and exit (tests/test_chat.py).
if(TARGET wafer)
  wf_py_test(test_chat SCRIPT test_chat.py LABELS chat TIMEOUT 120)
endif()
