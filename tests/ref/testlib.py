"""testlib.py — what every Python test shares, so that each test file holds
only its checks: counting and reporting checks, skipping (exit 77, ctest's
SKIP_RETURN_CODE), the closing summary and exit code, and the subprocess
runners (any program, the wafer CLI, an npm install under a lock).

    import testlib as T
    T.check(rc == 0, "wafer info exits 0")      # "FAIL: ..." when false
    T.skip("node is not installed")             # prints SKIP, exits 77
    sys.exit(T.summary("test_x"))               # "test_x: N checks, M failed"

check() may be called from several threads (the server tests do)."""
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import threading

SKIP = 77
WAFER = os.environ.get("WAFER")

print_ok = False      # a test that wants an "ok" line per check sets this
_lock = threading.Lock()
_count = {"checks": 0, "failures": 0}


def check(cond, msg):
    """Counts one check; prints "FAIL: msg" when cond is false (and
    "ok   msg" when print_ok is set). Returns cond as a bool."""
    ok = bool(cond)
    with _lock:
        _count["checks"] += 1
        _count["failures"] += 0 if ok else 1
    if not ok:
        print("FAIL: " + msg, flush=True)
    elif print_ok:
        print("ok   " + msg, flush=True)
    return ok


def fail(msg):
    """A failure found without a check() of its own (a test that only
    reports what went wrong); counted, not counted as a check."""
    with _lock:
        _count["failures"] += 1
    print("FAIL: " + msg, flush=True)
    return False


def failures():
    return _count["failures"]


def checks():
    return _count["checks"]


def skip(msg):
    """The test cannot run here (a missing tool, file or package): exit 77."""
    print("SKIP: " + msg, flush=True)
    sys.exit(SKIP)


def need_wafer():
    """Skips the test when $WAFER (the CLI, set by ctest) is not there."""
    if not WAFER or not os.path.exists(WAFER):
        skip("WAFER not set or not built")


def summary(name):
    """Prints "name: N checks, M failed" (or "name: M failed" when the test
    counted no checks); returns the exit code: 1 on any failure, else 0."""
    c, f = _count["checks"], _count["failures"]
    print("%s: %s%d failed" % (name, "%d checks, " % c if c else "", f), flush=True)
    return 1 if f else 0


def run(cmd, input=None, timeout=300, text=False, env=None, cwd=None):
    """Runs cmd (arguments converted with str), capturing both streams;
    a subprocess.CompletedProcess. text=True decodes them as UTF-8."""
    return subprocess.run([str(a) for a in cmd], input=input, capture_output=True, timeout=timeout,
                          text=text, env=env, cwd=cwd)


def wafer(*args, input=None, timeout=300, text=False, must=False, env=None):
    """Runs $WAFER with args: (exit code, stdout, stderr). stdout is bytes,
    or str with text=True; stderr is always str (UTF-8, invalid bytes
    replaced). must=True raises RuntimeError naming the command and its
    stderr when the exit code is not 0."""
    r = run([WAFER, *args], input=input, timeout=timeout, env=env)
    out = r.stdout.decode("utf-8", "replace") if text else r.stdout
    err = r.stderr.decode("utf-8", "replace")
    if must and r.returncode != 0:
        raise RuntimeError(f"wafer {' '.join(map(str, args))} failed ({r.returncode}): {err}")
    return r.returncode, out, err


def wafer_ok(*args, input=None, timeout=300, text=False, env=None):
    """wafer(..., must=True) without the exit code: (stdout, stderr)."""
    return wafer(*args, input=input, timeout=timeout, text=text, must=True, env=env)[1:]


def npm_folder(pkgdir):
    """BUILD/pkgdir holding tests/pkgdir's package.json and package-lock.json
    (the pinned versions); when either changed, its node_modules is removed
    so that the next install follows them. Returns the folder."""
    src_root = os.environ.get("WAFER_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    d = os.path.join(os.environ.get("WAFER_BUILD", tempfile.gettempdir()), pkgdir)
    os.makedirs(d, exist_ok=True)
    for f in ("package.json", "package-lock.json"):
        src, dst = os.path.join(src_root, "tests", pkgdir, f), os.path.join(d, f)
        if not os.path.exists(dst) or open(src, "rb").read() != open(dst, "rb").read():
            shutil.copyfile(src, dst)
            shutil.rmtree(os.path.join(d, "node_modules"), ignore_errors=True)
    return d


def npm_install(folder, have, cmd, what, lock_name, env=None):
    """Makes have() true by running npm with the arguments cmd in folder,
    under a lock file in the temporary directory (ctest -j runs tests that
    install into the same folder at once; whoever comes second finds the
    packages there). Skips the test (77) when npm is missing, times out or
    fails. Versions come from the folder's package.json / package-lock.json."""
    if have():
        return
    npm = shutil.which("npm")
    if not npm:
        skip("npm is not installed: cannot install %s into %s" % (what, folder))
    with open(os.path.join(tempfile.gettempdir(), lock_name), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if have():
            return
        print("installing %s: npm %s" % (what, " ".join(cmd)), flush=True)
        try:
            r = subprocess.run([npm, *cmd], cwd=folder, env=env, capture_output=True, text=True, timeout=240)
        except subprocess.TimeoutExpired:
            skip("npm %s timed out (no registry access?)" % cmd[0])
    if r.returncode != 0 or not have():
        err = [ln for ln in (r.stderr or r.stdout).splitlines() if "nodedir" not in ln]
        skip("npm %s failed (%d): %s" % (cmd[0], r.returncode, "\n".join(err[:8])))
