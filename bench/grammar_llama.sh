#!/usr/bin/env bash
# grammar_llama.sh BUILD_DIR — wafer and llama.cpp side by side: each
# engine's constrained decoding against its own free decoding, on the same
# GGUF, prompt and JSON Schema (bench_grammar's), the same thread count,
# token cap and sampling (greedy, and temperature 1 without top-k/top-p/
# min-p, seeded per run). llama.cpp runs through node-llama-cpp's prebuilt
# CPU build (tests/node/grammar_bench.mjs; needs `npm ci` in tests/node):
# its free and constrained runs both go through the same JavaScript loop,
# so its ratio compares like with like, but on a tiny model that loop's
# per-token cost dominates both of its rates (its free tok/s shows it).
# Engines alternate round by round; each round is R interleaved free /
# constrained pairs; the ratio is the median over rounds of each round's
# median constrained / median free. Prints a markdown table.
#
# Environment: WAFER_BENCH_DIR (the 0.5B-shaped model from grammar.sh),
# GL_THREADS (1), GL_TOKENS (48), GL_REPS (3 pairs a round), GL_ROUNDS (3),
# GL_MODELS (embedded,big), GL_TEMPS ("0 1").
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
DIR=${WAFER_BENCH_DIR:-/tmp/wafer-bench}
TH=${GL_THREADS:-1} TOK=${GL_TOKENS:-48} REPS=${GL_REPS:-3} ROUNDS=${GL_ROUNDS:-3}
B=$BUILD/bench/bench_grammar
NODE_DIR=$SRC/tests/node
[ -x "$B" ] || cmake --build "$BUILD" --target bench_grammar -j 2 >&2
if ! command -v node >/dev/null || [ ! -d "$NODE_DIR/node_modules/node-llama-cpp" ]; then
    echo "grammar_llama.sh: node-llama-cpp is not installed (cd tests/node && npm ci)" >&2
    exit 77
fi
SCH=$(mktemp)
trap 'rm -f "$SCH"' EXIT
"$B" --print-schema >"$SCH"
PROMPT=$("$B" --print-prompt)
declare -A PATHS=([embedded]=$SRC/models/wafer-embedded.gguf [big]=$DIR/qwen2.5-coder-0.5b-q8_0-qwen3vocab.gguf)
echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; $TH thread(s), $TOK tokens at most,"
echo "$ROUNDS rounds of $REPS free/constrained pairs per engine."
echo
echo "| model | sampling | engine | free tok/s | constrained tok/s | ratio (median of rounds) | ratios per round |"
echo "|---|---|---|---|---|---|---|"
for name in ${GL_MODELS:-embedded big}; do
    m=${PATHS[$name]}
    [ -f "$m" ] || { echo "grammar_llama.sh: $m missing, skipped" >&2; continue; }
    for t in ${GL_TEMPS:-0 1}; do
        wr=() lr=() wf=() wc=() lf=() lc=()
        for ((r = 0; r < ROUNDS; r++)); do
            w=$("$B" "$m" --reps "$REPS" --tokens "$TOK" --threads "$TH" --temp "$t" | sed -n 's/^JSON //p')
            l=$(cd "$NODE_DIR" && node grammar_bench.mjs "$m" "$SCH" --prompt "$PROMPT" --free-prompt "$PROMPT" \
                --reps "$REPS" --tokens "$TOK" --threads "$TH" --temp "$t" 2>/dev/null) || l=""
            wr+=("$w") lr+=("$l")
        done
        /usr/bin/python3 - "$name" "$t" "${wr[@]}" "--" "${lr[@]}" <<'PY'
import json, statistics, sys
name, t = sys.argv[1], float(sys.argv[2])
rest = sys.argv[3:]
k = rest.index("--")
for eng, runs in (("wafer", rest[:k]), ("llama.cpp (node-llama-cpp)", rest[k + 1:])):
    js = [json.loads(x) for x in runs if x.strip()]
    js = [j for j in js if j["free_tok_s"] > 0 and j["constrained_tok_s"] > 0]
    if not js:
        print("| %s | %s | %s | - | - | - | no result |" % (name, "greedy" if t == 0 else "temperature %g" % t, eng))
        continue
    ratios = [j["constrained_tok_s"] / j["free_tok_s"] for j in js]
    print("| %s | %s | %s | %.1f | %.1f | **%.3fx** | %s |" % (
        name, "greedy" if t == 0 else "temperature %g" % t, eng, statistics.median(j["free_tok_s"] for j in js),
        statistics.median(j["constrained_tok_s"] for j in js), statistics.median(ratios),
        ", ".join("%.3f" % r for r in ratios)))
PY
    done
done
