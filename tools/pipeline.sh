#!/usr/bin/env bash
# pipeline.sh — the embedded model from nothing, in one command:
# corpus -> BPE vocabulary -> training data -> training (resumable) -> GGUF
# export -> held-out perplexity from `wafer score`.
#
#   tools/pipeline.sh [WORKDIR]          (default: build-emb-model/)
# Environment (defaults in brackets):
#   WAFER [build/wafer]  VOCAB [8192]  TOK_BYTES [0 = all] bytes to train the vocab on
#   LAYERS [6] DIM [256] HEADS [8] KV_HEADS [4] FF [704] CTX [512] BATCH [8]
#   REPEATS [4] FIM [0.5] FIM_CHARS [1200] EDIT [1.0] EDIT_CHARS [600] (build_data.py)
#   STEPS [2100] LR [1e-3] CKPT_EVERY [250] TYPE [f16] OUT [WORKDIR/wafer-emb.gguf]
# Re-running continues where it stopped: finished stages are skipped and
# training resumes from WORKDIR/model/ckpt.pt.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SRC="$(dirname "$HERE")"
W="${1:-$SRC/build-emb-model}"
WAFER="${WAFER:-$SRC/build/wafer}"
PY=/usr/bin/python3
# glibc hands torch's large per-step buffers back to the kernel and maps them
# again every step (a third of the CPU time went to the kernel); keeping them
# made training ~20% faster here (1,580 -> 1,900 tokens/s).
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-4294967296}
export MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-17179869184}
export MALLOC_TOP_PAD_=${MALLOC_TOP_PAD_:-536870912}
mkdir -p "$W"
[ -x "$WAFER" ] || { echo "pipeline: no wafer binary at $WAFER (build it or set WAFER)" >&2; exit 1; }
$PY -c "import torch" 2>/dev/null || { echo "pipeline: needs python3-torch (scripts/install-deps.sh)" >&2; exit 1; }

[ -f "$W/corpus/manifest.tsv" ] || $PY "$HERE/corpus.py" --out "$W/corpus"
[ -f "$W/vocab.gguf" ] || $PY "$HERE/train_tokenizer.py" --files "$W/corpus/train.txt" \
    --vocab-size "${VOCAB:-8192}" --max-bytes "${TOK_BYTES:-0}" --out "$W/vocab.gguf"
[ -f "$W/data/data.json" ] || $PY "$HERE/build_data.py" --wafer "$WAFER" --vocab "$W/vocab.gguf" \
    --corpus "$W/corpus" --out "$W/data" --repeats "${REPEATS:-4}" --fim "${FIM:-0.5}" \
    --fim-chars "${FIM_CHARS:-1200}" --edit "${EDIT:-1.0}" --edit-chars "${EDIT_CHARS:-600}"
$PY "$HERE/train.py" --data "$W/data" --out "$W/model" --resume \
    --layers "${LAYERS:-6}" --dim "${DIM:-256}" --heads "${HEADS:-8}" --kv-heads "${KV_HEADS:-4}" \
    --ff "${FF:-704}" --ctx "${CTX:-512}" --batch "${BATCH:-8}" --steps "${STEPS:-2100}" \
    --lr "${LR:-1e-3}" --ckpt-every "${CKPT_EVERY:-250}" 2>&1 | tee -a "$W/train.log"
OUT="${OUT:-$W/wafer-emb.gguf}"
$PY "$HERE/export.py" --ckpt "$W/model/ckpt.pt" --vocab "$W/vocab.gguf" --out "$OUT" --type "${TYPE:-f16}"
# held-out perplexity, as the model card reports it
for f in $(head -n 5 "$W/corpus/heldout.txt"); do
    printf '%s\t' "$f"
    "$WAFER" score -m "$OUT" -f "$f" --json | $PY -c 'import json,sys; print("ppl %.3f" % json.load(sys.stdin)["perplexity"])'
done
