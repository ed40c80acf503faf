# Chat template tests (module chat):
#   test_template       the Jinja subset construct by construct (expected outputs
#                       from python3-jinja2: test_template_cases.py writes
#                       test_template_cases.inc), errors, limits, hostile input;
#                       also under ASan+UBSan
#   test_template_py    every real template in ../shared/templates rendered by
#                       wafer and by Debian's python3-jinja2 (as transformers
#                       runs it), byte for byte; built-in formats; -m; 900
#                       random templates (77 if ../shared is absent)
wf_c_test(test_template SRCS test_template.c MODULES chat tokenizer gguf quant SANITIZE)
wf_py_test(test_template_py SCRIPT test_template_py.py TIMEOUT 300)
