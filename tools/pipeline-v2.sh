#!/usr/bin/env bash
# pipeline-v2.sh — the embedded model v2 from v1 (models/README.md, "Training"):
# v1's weights (the released GGUF, or pipeline.sh's output) with two chat
# control tokens added and YaRN RoPE scaling x32 (512 -> 16,384 tokens), one
# fine-tune on code rows, chat rows (edits in `wafer edit`'s format, "write a
# function", "explain", tool calls; rendered with tools/chat_template.jinja)
# and long code rows, then the GGUF export with the chat template and Q8_0.
#
#   tools/pipeline-v2.sh [WORKDIR]       (default: build-emb-model-v2/)
# Environment (defaults in brackets):
#   WAFER [build/wafer]  V1 [models/wafer-embedded.gguf as committed before v2: git show 186576e:models/wafer-embedded.gguf]
#   CHAT_N [30000] conversations  STEPS [600]  LR [5e-4]  OUT [WORKDIR/wafer-emb-v2-q8_0.gguf]
# Re-running continues where it stopped: finished stages are skipped and the
# fine-tune resumes from WORKDIR/v2/ckpt.pt (checkpoints every 50 steps).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SRC="$(dirname "$HERE")"
W="${1:-$SRC/build-emb-model-v2}"
WAFER="${WAFER:-$SRC/build/wafer}"
PY=/usr/bin/python3
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-4294967296}
export MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-17179869184}
export MALLOC_TOP_PAD_=${MALLOC_TOP_PAD_:-536870912}
mkdir -p "$W"
[ -x "$WAFER" ] || { echo "pipeline-v2: no wafer binary at $WAFER (build it or set WAFER)" >&2; exit 1; }
if [ -z "${V1:-}" ]; then
    V1="$W/v1.gguf"
    [ -f "$V1" ] || git -C "$SRC" show 186576e:models/wafer-embedded.gguf > "$V1"
fi

[ -f "$W/corpus/manifest.tsv" ] || $PY "$HERE/corpus.py" --out "$W/corpus"
[ -f "$W/init/ckpt.pt" ] || $PY "$HERE/grow.py" --gguf "$V1" --add '<|im_start|>,<|im_end|>' \
    --vocab-out "$W/vocab.gguf" --ckpt-out "$W/init/ckpt.pt" --ctx 512 --yarn-factor 32 --yarn-orig 512
[ -f "$W/chat.jsonl" ] || $PY "$HERE/chat_data.py" --corpus "$W/corpus" --out "$W/chat.jsonl" \
    --n "${CHAT_N:-30000}" --seed 11
[ -f "$W/data/data.json" ] || $PY "$HERE/build_data.py" --wafer "$WAFER" --vocab "$W/vocab.gguf" \
    --corpus "$W/corpus" --out "$W/data" --fast --repeats 2 --fim 0.5 --fim-chars 1200
[ -f "$W/data/chat.json" ] || $PY "$HERE/build_data.py" --wafer "$WAFER" --vocab "$W/vocab.gguf" \
    --corpus "$W/corpus" --out "$W/data" --chat "$W/chat.jsonl" --template "$HERE/chat_template.jinja" --chat-max 1024
$PY "$HERE/train.py" --data "$W/data" --chat "$W/data" --out "$W/v2" --resume --init "$W/init/ckpt.pt" \
    --batch 2 --chat-rows 6 --chat-len 1024 --long-rows 1 --long-len 4096 --long-every 4 \
    --steps "${STEPS:-600}" --lr "${LR:-5e-4}" --min-lr 5e-5 --warmup 30 --ckpt-every 50 --log-every 5 \
    2>&1 | tee -a "$W/train.log"
F16="$W/wafer-emb-v2.gguf"
$PY "$HERE/export.py" --ckpt "$W/v2/ckpt.pt" --vocab "$W/vocab.gguf" --out "$F16" --type f16 \
    --template "$HERE/chat_template.jinja"
OUT="${OUT:-$W/wafer-emb-v2-q8_0.gguf}"
"$WAFER" quantize "$F16" "$OUT" q8_0
echo "pipeline-v2: $OUT (copy it to models/wafer-embedded.gguf and run ctest -R embedded)"
