"""test_bench_report.py — `make bench` keeps what was written by hand.

bench/report.py writes BENCHMARKS.md from a results folder (here
report-results/: the raw files of one real `make bench` run, 19 KB) and
keeps the replaced file's hand-written part, from its marker line on,
verbatim. Checks: the tables carry the run's figures (read from the JSON
here, independently of report.py); the old generated part is dropped and the
hand-written part kept byte for byte; regenerating from its own output
changes nothing; a file with text but no marker is refused (exit 2) before
and after measuring (`--check`, which run.sh calls first); a missing file
gives the generated part alone; the committed BENCHMARKS.md has the marker
exactly once (edits above it would be lost on the next `make bench`).
"""
import importlib.util
import json
import os
import shutil
import sys
import tempfile

import testlib as T
from testlib import check

SRC = os.environ.get("WAFER_SRC") or os.path.join(os.path.dirname(__file__), "..", "..")
REPORT = os.path.join(SRC, "bench", "report.py")
FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "report-results")
MODELS = "qwen2.5-coder-0.5b qwen2.5-coder-1.5b"
TYPES = "q8_0 q4_K_M"


def marker():
    # the line as report.py defines it
    spec = importlib.util.spec_from_file_location("report", REPORT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.MARKER


def report(res, current):
    r = T.run([sys.executable, REPORT, res, MODELS, TYPES, current], text=True)
    return r.returncode, r.stdout, r.stderr


def main():
    mark = marker()
    check(mark.startswith("<!-- Everything below this line is written by hand") and "\n" not in mark,
          "marker read from report.py: %r" % mark)
    with tempfile.TemporaryDirectory() as d:
        res = os.path.join(d, "res")
        shutil.copytree(FIXTURE, res)
        cur = os.path.join(d, "BENCHMARKS.md")
        hand = mark + "\n\n## Notes by hand\n\nÜnïcode, `code`, a table:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
        with open(cur, "w") as f:
            f.write("# old generated part\n\nOLD FIGURES 123.4\n\n" + hand)

        rc, out, err = report(res, cur)
        check(rc == 0, "report.py ran (%s)" % err.strip())
        check("OLD FIGURES" not in out, "the old generated part is dropped")
        check(out.endswith(hand.rstrip() + "\n"), "the hand-written part is kept verbatim at the end")
        check(out.count(mark) == 1, "one marker in the output")
        check(0 <= out.find("## Tokenizer speed") < out.find(mark), "the tokenizer table is in the generated part")
        # figures straight from the run's JSON
        with open(os.path.join(res, "bench-qwen2.5-coder-0.5b-q8_0-t2.json")) as f:
            j = json.load(f)
        row = [l for l in out.split("\n") if l.startswith("| Qwen2.5-Coder-0.5B | q8_0 |")]
        check(len(row) >= 2, "0.5B q8_0 rows present")
        if row:
            cells = [c.strip() for c in row[0].strip("|").split("|")]
            check(cells[2] == "%.1f" % j["prefill_tok_s"], "prefill %s == JSON %.1f" % (cells[2], j["prefill_tok_s"]))
            check(cells[3] == "%.2f" % j["decode_tok_s"], "decode %s == JSON %.2f" % (cells[3], j["decode_tok_s"]))

        # regenerating from its own output changes nothing
        with open(cur, "w") as f:
            f.write(out)
        rc2, out2, _ = report(res, cur)
        check(rc2 == 0 and out2 == out, "regeneration is a fixed point")

        # text without the marker: refused, nothing printed, file untouched
        with open(cur, "w") as f:
            f.write("# BENCHMARKS\n\nhand-written, no marker\n")
        rc, out, err = report(res, cur)
        check(rc == 2 and out == "" and "no line" in err, "no marker refused: rc %d, %r" % (rc, err[:120]))
        r = T.run([sys.executable, REPORT, "--check", cur], text=True)
        check(r.returncode == 2 and "no line" in r.stderr, "--check refuses it too")
        with open(cur) as f:
            check("hand-written, no marker" in f.read(), "the file is untouched")

        # no file yet (WAFER_BENCH_OUT to a new path), or an empty one: the generated part alone
        for what, path in (("missing", os.path.join(d, "new.md")), ("empty", cur)):
            if what == "empty":
                open(cur, "w").close()
            rc, out, _ = report(res, path)
            check(rc == 0 and "## Results (2 threads)" in out and mark not in out,
                  "%s file: generated part alone" % what)
            r = T.run([sys.executable, REPORT, "--check", path], text=True)
            check(r.returncode == 0, "--check accepts a %s file" % what)

    with open(os.path.join(SRC, "BENCHMARKS.md")) as f:
        committed = f.read()
    check(committed.count(mark) == 1, "BENCHMARKS.md has the marker once (found %d)" % committed.count(mark))
    return T.summary("test_bench_report")


if __name__ == "__main__":
    sys.exit(main())
