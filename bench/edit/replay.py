#!/usr/bin/python3
"""bench/edit/replay.py — what a traced sequence of verification passes is
worth at given pass costs (e.g. an idle machine's, from bench/bench_verify),
independent of the load the traced run met.

  bench/edit/replay.py COSTS TRACE...

COSTS: "n:ms,n:ms,..." the time of a pass of n tokens (the pending token plus
the draft), linear in between, proportional past the last. A TRACE holds one
line per decode step, "TRACE src=S k=K acc=A ...": a draft of K tokens of
which A were accepted (the step emits A + 1 tokens). Such lines come from a
local print in step_accept (src/gen/session.c), not in the repository:
    fprintf(stderr, "TRACE src=%d k=%d acc=%d\\n", (int)g->spec.last_src, (int)k, (int)acc);
right before its wf_spec_feedback call. Which passes a run makes depends on
the output and the prediction, not on timing, so the sequence is the same on
a loaded machine. Prints per trace the tokens, passes, drafts cut short and
the ratio (tokens x cost(1)) / sum over passes of cost(K + 1): the speedup
over plain decoding of the same tokens at those costs.
"""
import bisect
import re
import statistics
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    pts = sorted((int(a), float(b)) for a, b in (x.split(":") for x in sys.argv[1].split(",")))
    ws, cs = [p[0] for p in pts], [p[1] for p in pts]

    def cost(w):
        i = bisect.bisect_left(ws, w)
        if i < len(ws) and ws[i] == w:
            return cs[i]
        if i >= len(ws):
            return cs[-1] * w / ws[-1]
        if i == 0:
            return cs[0]
        return cs[i - 1] + (cs[i] - cs[i - 1]) * (w - ws[i - 1]) / (ws[i] - ws[i - 1])

    ratios = []
    for f in sys.argv[2:]:
        n = passes = cut = 0
        t = 0.0
        for line in open(f, encoding="utf-8", errors="replace"):
            m = re.match(r"TRACE src=(-?\d+) k=(\d+) acc=(\d+)", line)
            if not m:
                continue
            k, acc = int(m.group(2)), int(m.group(3))
            t += cost(1 + k)
            n += acc + 1
            passes += 1
            cut += acc < k
        if not passes:
            print(f"{f}: no TRACE lines")
            continue
        ratios.append(n * cost(1) / t)
        print(f"{f}: {n} tokens, {passes} passes, {cut} cut short, {ratios[-1]:.2f}x")
    if ratios:
        print(f"median {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    main()
