#!/usr/bin/python3
"""test_app.py — the web app of `wafer serve` in a real browser: Debian's
chromium (/usr/bin/chromium, or $CHROMIUM) driven by npm playwright-core
(pinned in tests/app-node/package.json, installed with `npm ci` into the build
directory on the first run) through tests/serve/test_app.mjs.

Servers: the embedded model (chat, edit with predicted outputs, complete);
the slow synthetic model of the server tests (--parallel 1 --queue 0:
streaming, Stop, steering, 429); a copy of it that the browser test kills
mid-answer; the embedded model with --api-key. No chromium, node or npm, or
an install that fails -> exit 77 (skipped) with the reason.
Screenshots: WAFER_APP_SHOTS=DIR writes app-chat/edit/complete.png there."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import test_server_common as C  # noqa: E402
import testlib as T  # noqa: E402
from testlib import skip  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("WAFER_SRC", os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("WAFER_BUILD", tempfile.gettempdir())
EMBEDDED = os.path.join(SRC, "models", "wafer-embedded.gguf")


def ensure_tools():
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        skip("no chromium at %s (apt-get install chromium)" % chromium)
    node = shutil.which("node")
    if not node:
        skip("node is not installed (apt-get install nodejs npm)")
    d = T.npm_folder("app-node")
    shutil.copyfile(os.path.join(HERE, "test_app.mjs"), os.path.join(d, "test_app.mjs"))
    have = lambda: os.path.isfile(os.path.join(d, "node_modules", "playwright-core", "package.json"))
    T.npm_install(d, have, ["ci", "--no-audit", "--no-fund", "--ignore-scripts"], "playwright-core",
                  "wafer-tests-app-node.lock")
    return node, d, chromium


def main():
    T.need_wafer()
    if not os.path.isfile(EMBEDDED):
        skip("no embedded model at " + EMBEDDED)
    node, d, chromium = ensure_tools()
    tmp = tempfile.mkdtemp(prefix="wf_app_")
    slow = os.path.join(tmp, "slow.gguf")
    C.make_server_model(slow, big=True)
    key = "sk-wafer-app-test-0123456789"
    shots = os.environ.get("WAFER_APP_SHOTS")
    with C.Server(EMBEDDED, "--parallel", "2") as main_s, \
            C.Server(slow, "--parallel", "1", "--queue", "0") as slow_s, \
            C.Server(slow, "--parallel", "1") as doomed_s, \
            C.Server(EMBEDDED, "--api-key", key) as auth_s:
        cfg = {"main": main_s.url, "slow": slow_s.url, "auth": auth_s.url, "key": key,
               "doomed": doomed_s.url, "doomedPid": doomed_s.p.pid, "shots": os.path.abspath(shots) if shots else None}
        env = dict(os.environ, CHROMIUM=chromium)
        try:
            r = subprocess.run([node, os.path.join(d, "test_app.mjs"), json.dumps(cfg)], cwd=d, env=env, timeout=270)
        except subprocess.TimeoutExpired:
            T.fail("the browser test took over 270 s")
            return T.summary("test_app")
        for s in (main_s, slow_s, auth_s):
            if not T.check(s.p.poll() is None, "the servers live through the test (one exited:\n%s)"
                           % "\n".join(s.log[-20:])):
                return T.summary("test_app")
    shutil.rmtree(tmp, ignore_errors=True)
    T.check(not C.SANITIZER_REPORTS, "no sanitizer reports")
    T.check(r.returncode == 0, "the browser test's checks pass (test_app.mjs exited %d)" % r.returncode)
    return T.summary("test_app")


if __name__ == "__main__":
    sys.exit(main())
