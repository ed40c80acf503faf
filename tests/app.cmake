# app: the web app `wafer serve` answers at / (web/, src/serve/static.c,
# docs/app.md). test_app_static checks the serving (headers, ETag, gzip,
# CSP, --no-ui, the committed bundle up to date) and the server fields the
# app uses over raw HTTP; test_app drives the app in headless Chromium
# (Debian's chromium + npm playwright-core; skipped without them).
if(TARGET wafer)
  wf_py_test(test_app_static SCRIPT app/test_app_static.py LABELS server app TIMEOUT 120)
  wf_py_test(test_app SCRIPT app/test_app.py LABELS server app browser TIMEOUT 300)
endif()
