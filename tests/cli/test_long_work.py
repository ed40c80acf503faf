#!/usr/bin/python3
"""test_long_work.py — long CLI work is visible and absurd settings are
caught (issue 18).

  * `wafer bench`, `wafer score` and `wafer run` with a long prompt on a terminal (a pseudo-terminal from
    util-linux's `script`) print a progress line (label, bar, percentage,
    rep/phase or token position) that moves; with --json, or when stderr is
    not a terminal, nothing of it;
  * an absurd -t is capped to 4 threads per core with a warning;
  * `wafer serve` with a context whose KV caches cannot fit in memory fails
    at start with the numbers, before listening.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import testlib as T
from testlib import check


def tty(args, timeout=120):
    """Run wafer under a pseudo-terminal; everything it printed, as text."""
    cmd = " ".join("'%s'" % a.replace("'", "'\\''") for a in [T.WAFER, *map(str, args)])
    r = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace")


def main():
    T.need_wafer()
    if not shutil.which("script"):
        T.skip("script (util-linux) not found")
    rc, out = tty(["bench", "-p", "300", "-n", "8", "--reps", "2", "-b", "64"])
    lines = [l for l in out.replace("\r", "\n").splitlines() if l.startswith("bench [")]
    check(rc == 0 and len(lines) >= 5 and any("rep 2/2 prefill" in l for l in lines) and any("decode" in l for l in lines),
          f"bench on a terminal: {len(lines)} progress updates ({lines[1:2]})")
    rc, out = tty(["bench", "-p", "300", "-n", "8", "--reps", "2", "-b", "64", "--json"])
    check(rc == 0 and "bench [" not in out and '"n_prompt": 300' in out, "bench --json: no progress line")
    rc, o, err = T.wafer("bench", "-p", "300", "-n", "8", "--reps", "1", "-b", "64")
    check(rc == 0 and "bench [" not in err, "bench with stderr not a terminal: no progress line")
    tmp = tempfile.mkdtemp(prefix="wf_long_")
    src = os.path.join(tmp, "s.py")
    with open(src, "w") as f:
        f.write("def f(x):\n    return x + 1\n" * 20)
    rc, out = tty(["score", "-f", src, "-b", "16"])
    lines = [l for l in out.replace("\r", "\n").splitlines() if l.startswith("score [")]
    check(rc == 0 and len(lines) >= 3 and "perplexity" in out, f"score on a terminal: {len(lines)} progress updates")
    rc, out = tty(["score", "-f", src, "-b", "16", "--json"])
    check(rc == 0 and "score [" not in out, "score --json: no progress line")
    with open(os.path.join(tmp, "long.py"), "w") as f:
        f.write("x = 1\n" * 700)
    rc, out = tty(["run", "-f", os.path.join(tmp, "long.py"), "-n", "4", "-c", "8192", "-b", "256", "--temp", "0"])
    lines = [l for l in out.replace("\r", "\n").splitlines() if l.startswith("prompt [")]
    check(rc == 0 and len(lines) >= 5 and "tokens" in lines[-1], f"run with a 2,800-token prompt on a terminal: {len(lines)} progress updates")
    rc, out = tty(["run", "-f", os.path.join(tmp, "long.py"), "-n", "4", "-c", "8192", "-b", "256", "--temp", "0", "-q"])
    check(rc == 0 and "prompt [" not in out, "run -q: no progress line")
    rc, o, err = T.wafer("run", "-p", "hi", "-n", "2", "-t", "1024", "-q")
    cores = os.cpu_count() or 1
    check(rc == 0 and ("warning: -t 1024" in err) == (1024 > 4 * cores), f"-t 1024 on {cores} cores: capped with a warning")
    rc, o, err = T.wafer("run", "-p", "hi", "-n", "2", "-t", "0")
    check(rc == 2 and "-t" in err, "-t 0 refused")
    rc, o, err = T.wafer("serve", "--port", "0", "-c", "16000000", "--parallel", "64", timeout=60)
    check(rc == 1 and "GiB of KV cache" in err and "lower -c or --parallel" in err and "listening" not in err,
          f"serve with a KV cache larger than memory: a clear error at start ({err.strip().splitlines()[-1:]})")
    return T.summary("test_long_work")


if __name__ == "__main__":
    sys.exit(main())
