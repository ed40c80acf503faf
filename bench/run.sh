#!/usr/bin/env bash
# run.sh BUILD_DIR — the benchmark suite behind `make bench`.
#
# 1. Synthetic Qwen2.5-Coder-0.5B / -1.5B models (bench_mkmodel, F16, random
#    weights), quantized with `wafer quantize` to Q8_0 and Q4_K_M; cached in
#    ${WAFER_BENCH_DIR:-/tmp/wafer-bench} and reused while the sources that
#    made them are unchanged.
# 2. Memory read bandwidth (bench_membw) and int8 multiply-add peak (bench_peak).
# 3. `wafer bench --json` for each model x type: prefill 512 + decode 128 with
#    2 threads; decode with 1 thread.
# 4. BENCHMARKS.md (tables, commands, machine, tokenizer speed) from
#    bench/report.py, followed by the hand-written part of the BENCHMARKS.md
#    it replaces (from report.py's marker line on), kept as it is.
#
# Environment: WAFER_BENCH_DIR (model cache), WAFER_BENCH_REPS (default 3),
# WAFER_BENCH_MODELS (default "qwen2.5-coder-0.5b qwen2.5-coder-1.5b"),
# WAFER_BENCH_TYPES (default "q8_0 q4_K_M"), WAFER_BENCH_OUT (default
# <source>/BENCHMARKS.md), WAFER_BENCH_WAIT / WAFER_BENCH_WAIT_RUN (seconds
# to wait for idle CPUs first / before each run, default 120 / 15). The raw JSON is kept in $WAFER_BENCH_DIR/last-results.
set -euo pipefail

BUILD=${1:-build}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
DIR=${WAFER_BENCH_DIR:-/tmp/wafer-bench}
REPS=${WAFER_BENCH_REPS:-3}
MODELS=${WAFER_BENCH_MODELS:-"qwen2.5-coder-0.5b qwen2.5-coder-1.5b"}
TYPES=${WAFER_BENCH_TYPES:-"q8_0 q4_K_M"}
OUT=${WAFER_BENCH_OUT:-$SRC/BENCHMARKS.md}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

WAFER=$BUILD/wafer
MKMODEL=$BUILD/bench/bench_mkmodel
MEMBW=$BUILD/bench/bench_membw
PEAK=$BUILD/bench/bench_peak

for t in "$WAFER" "$MKMODEL" "$MEMBW" "$PEAK"; do
    if [ ! -x "$t" ]; then
        echo "run.sh: building the benchmark tools in $BUILD" >&2
        cmake --build "$BUILD" --target wafer bench_mkmodel bench_membw bench_peak -j 2
        break
    fi
done

# Refuse before measuring if $OUT has hand-written text report.py could not keep.
$PY "$SRC/bench/report.py" --check "$OUT"

mkdir -p "$DIR"
RES=$(mktemp -d "${TMPDIR:-/tmp}/wafer-bench-results.XXXXXX")
trap 'rm -rf "$RES"' EXIT
CMDS=$RES/commands.txt
: >"$CMDS"
T_START=$(date +%s)
LOAD_START=$(cut -d" " -f1-3 /proc/loadavg)

# Run a command, log it for BENCHMARKS.md, send stdout to file $1.
logrun() {
    local out=$1
    shift
    echo "$*" | sed "s|$BUILD|\$BUILD|g; s|$DIR|\$WAFER_BENCH_DIR|g" >>"$CMDS"
    echo "+ $*" >&2
    LAST_OK=1
    if ! "$@" >"$out"; then
        LAST_OK=0
        echo "run.sh: FAILED: $*" >&2
        echo "{\"error\": \"command failed: $(basename "$1") ${2:-}\"}" >"$out"
    fi
}

# ---- models ----------------------------------------------------------------
# A cached file is reused only if the sources that made it are unchanged:
# FILE.key holds a hash of bench/mkmodel.c (F16 files) or of the quantizer
# sources (quantized files, whose type mix may change).
MK_KEY=$(cat "$SRC/bench/mkmodel.c" | sha1sum | cut -c1-16)
Q_KEY=$(cat "$SRC"/src/format/quant*.c "$SRC/bench/mkmodel.c" | sha1sum | cut -c1-16)
fresh() { [ -s "$1" ] && [ "$(cat "$1.key" 2>/dev/null)" = "$2" ]; }
for m in $MODELS; do
    f16=$DIR/$m-f16.gguf
    if ! fresh "$f16" "$MK_KEY"; then
        rm -f "$f16.key"
        logrun "$RES/mk-$m.txt" "$MKMODEL" --preset "$m" "$f16"
        cat "$RES/mk-$m.txt" >&2
        if [ "$LAST_OK" = 1 ]; then echo "$MK_KEY" >"$f16.key"; fi
    fi
    for ty in $TYPES; do
        q=$DIR/$m-$ty.gguf
        if ! fresh "$q" "$Q_KEY"; then
            rm -f "$q.key" # the writer replaces $q only when the new file is complete
            logrun "$RES/q-$m-$ty.txt" "$WAFER" quantize "$f16" "$q" "$ty" -t 2
            if [ "$LAST_OK" = 1 ]; then echo "$Q_KEY" >"$q.key"; fi
        fi
    done
done

# ---- machine ceilings ------------------------------------------------------
# The cores may be shared with other work. Before the first measurement, wait
# up to WAFER_BENCH_WAIT s (default 120) until other processes leave them at
# least 90% idle over 2 s, before each later one up to WAFER_BENCH_WAIT_RUN s
# (default 15); around each `wafer bench`, record the CPU time all
# processes used (/proc/stat), so the report can show how much of the
# machine others took while wafer was measured.
stat_jiffies() { # "busy total" jiffies of all CPUs since boot
    local a
    a=($(head -1 /proc/stat))
    echo "$((a[1] + a[2] + a[3] + a[6] + a[7] + a[8])) $((a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7] + a[8]))"
}
cpu_idle_pct() { # idle % of all CPUs over 2 s
    local a b
    a=($(stat_jiffies))
    sleep 2
    b=($(stat_jiffies))
    local tot=$((b[1] - a[1]))
    echo $((100 - 100 * (b[0] - a[0]) / (tot > 0 ? tot : 1)))
}
WAIT=${WAFER_BENCH_WAIT:-120}        # before the first measurement
WAIT_RUN=${WAFER_BENCH_WAIT_RUN:-15} # before each later one
wait_quiet() { # wait_quiet MAX_SECONDS: prints the last idle %
    local t0 idle
    t0=$(date +%s)
    idle=$(cpu_idle_pct)
    while [ "$idle" -lt 90 ] && [ $(($(date +%s) - t0)) -lt "$1" ]; do
        echo "run.sh: CPUs only $idle% idle, waiting for other work to finish" >&2
        sleep 3
        idle=$(cpu_idle_pct)
    done
    echo "$idle"
}
# bench_run NAME ARGS...: `wafer bench ARGS --json` into $RES/NAME.json, with
# the idle % before it and the CPU jiffies spent during it in $RES/NAME.cpu.
bench_run() {
    local name=$1 s0 s1
    shift
    local idle
    idle=$(wait_quiet "$WAIT_RUN")
    s0=($(stat_jiffies))
    logrun "$RES/$name.json" timeout 900 "$WAFER" bench "$@" --json
    s1=($(stat_jiffies))
    echo "$idle $((s1[0] - s0[0])) $((s1[1] - s0[1])) $(getconf CLK_TCK)" >"$RES/$name.cpu"
}
IDLE=$(wait_quiet "$WAIT")
echo "$IDLE" >"$RES/idle_start.txt"
logrun "$RES/membw.json" "$MEMBW" --json --reps 7
wait_quiet "$WAIT_RUN" >/dev/null
logrun "$RES/peak.json" "$PEAK" --json --reps 5
grep -q '"results"' "$RES/membw.json" || { echo "run.sh: bench_membw failed" >&2; exit 1; }
# Ceilings are properties of the machine; contention (for the cores or for
# memory bandwidth, which CPU idle time does not show) can only lower a
# measurement. So the bounds use the best medians seen on this machine (kept
# in $DIR/ceilings.json, keyed by CPU model, memory size and CPU count),
# including this run's, where bandwidth is measured both before and after the
# wafer runs; the report shows this run's figures and the best.
update_ceilings() { # update_ceilings PEAK.json MEMBW.json... > ceilings.json
    $PY - "$DIR/ceilings.json" "$@" <<'PYEOF'
import json, os, sys
store_path, peak_path, membw_paths = sys.argv[1], sys.argv[2], sys.argv[3:]
def load(p):
    try:
        return json.load(open(p))
    except (OSError, ValueError):
        return {}
store, peak = load(store_path), load(peak_path)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "?")
key = "%s / %s kB / %d cpus" % (cpu, mem, os.cpu_count())
now = {"membw_1t": 0.0, "membw_2t": 0.0, "gmacs_1t": peak.get("gmacs_1t", 0.0)}
for p in membw_paths:
    for r in load(p).get("results", []):
        k = "membw_%dt" % r["threads"]
        now[k] = max(now.get(k, 0.0), r["gbps"])
old = store.get(key, {})
best = {k: max(v, old.get(k, 0.0)) for k, v in now.items()}
store[key] = best
with open(store_path + ".tmp", "w") as f:
    json.dump(store, f, indent=1)
os.replace(store_path + ".tmp", store_path)
json.dump({"machine": key, "this_run": now, "best": best}, sys.stdout)
PYEOF
}
update_ceilings "$RES/peak.json" "$RES/membw.json" >"$RES/ceilings.json"
BW1=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["best"]["membw_1t"])' "$RES/ceilings.json")
BW2=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["best"]["membw_2t"])' "$RES/ceilings.json")
echo "bandwidth: 1 thread $BW1 GB/s, 2 threads $BW2 GB/s" >&2

# ---- wafer bench -----------------------------------------------------------
for m in $MODELS; do
    for ty in $TYPES; do
        q=$DIR/$m-$ty.gguf
        bench_run "bench-$m-$ty-t2" -m "$q" --threads 2 --prompt 512 --gen 128 \
            --reps "$REPS" --membw "$BW2"
        bench_run "bench-$m-$ty-t1" -m "$q" --threads 1 --prompt 16 --gen 64 \
            --reps "$REPS" --membw "$BW1"
    done
done

# Kernel sets on the smallest model: what the SIMD kernels buy over the
# scalar reference (short runs: the scalar kernels are slow).
first=${MODELS%% *}
for ty in $TYPES; do
    for isa in scalar avx2 avx512; do
        bench_run "isa-$ty-$isa" -m "$DIR/$first-$ty.gguf" --threads 2 --prompt 32 \
            --gen 16 --reps 1 --isa "$isa"
    done
done

# mmap'd-file bandwidth on the largest model: the engine reads weights from
# the page cache, in 4 KiB pages (informational, not the bound).
last=""
for m in $MODELS; do for ty in $TYPES; do last=$DIR/$m-$ty.gguf; done; done
wait_quiet "$WAIT_RUN" >/dev/null
logrun "$RES/membw-file.json" "$MEMBW" --json --reps 5 --file "$last"
wait_quiet "$WAIT_RUN" >/dev/null
logrun "$RES/membw-end.json" "$MEMBW" --json --reps 7
update_ceilings "$RES/peak.json" "$RES/membw.json" "$RES/membw-end.json" >"$RES/ceilings.json"

# ---- machine description ---------------------------------------------------
{
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
    echo "cores: $(nproc) online ($(lscpu | sed -n 's/^Thread(s) per core: *//p') thread(s) per core)"
    echo "caches: L1d $(lscpu | sed -n 's/^L1d cache: *//p'), L2 $(lscpu | sed -n 's/^L2 cache: *//p'), L3 $(lscpu | sed -n 's/^L3 cache: *//p')"
    echo "memory: $(free -g | awk '/^Mem:/ {print $2}') GiB"
    echo "flags (SIMD): $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|fma|f16c|amx|sse4_2)' | sort -u | tr '\n' ' ')"
    echo "mhz (cpuinfo): $(grep -m1 'cpu MHz' /proc/cpuinfo | sed 's/.*: *//')"
    echo "hypervisor: $(lscpu | sed -n 's/^Hypervisor vendor: *//p')"
    echo "kernel: $(uname -r)"
    echo "compiler: $(cc --version | head -1)"
    echo "wafer: $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$SRC" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "CPU idle before measuring: $(cat "$RES/idle_start.txt")%, after: $(cpu_idle_pct)% (over 2 s each)"
    echo "load average at start: $LOAD_START, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
} >"$RES/machine.txt"
echo "elapsed: $(($(date +%s) - T_START)) s" >>"$RES/machine.txt"

# tokenizer speed (needs ../shared/vocab; skipped without it)
if TOKTAB=$("$SRC/bench/tokenize.sh" "$BUILD" 2>/dev/null); then
    {
        echo "## Tokenizer speed"
        echo
        echo "1 MiB of real source code (Python standard library and C headers from Debian), one thread,"
        echo "through every vocabulary in ../shared/vocab and the real Qwen3 / Llama 3 vocabularies"
        echo "(converted with \`wafer convert --vocab-only\` when tests/node has the npm packages)."
        echo "Command: \`bench/tokenize.sh BUILD\`."
        echo
        echo "$TOKTAB"
    } >"$RES/tokenize.md"
fi
$PY "$SRC/bench/report.py" "$RES" "$MODELS" "$TYPES" "$OUT" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
rm -rf "$DIR/last-results" && cp -r "$RES" "$DIR/last-results" # raw JSON, for a look later
echo "wrote $OUT ($(($(date +%s) - T_START)) s)" >&2
