#!/usr/bin/env bash
# pipeline.sh — the embedded model from nothing, in one command:
# corpus -> BPE vocabulary -> training data -> base training (resumable) ->
# copy curriculum (four resumable fine-tunes) -> GGUF export -> held-out
# perplexity from `wafer score`.
#
#   tools/pipeline.sh [WORKDIR]          (default: build-emb-model/)
# Environment (defaults in brackets):
#   WAFER [build/wafer]  VOCAB [8192]  TOK_BYTES [0 = all] bytes to train the vocab on
#   LAYERS [6] DIM [256] HEADS [8] KV_HEADS [4] FF [704] CTX [512] BATCH [8]
#   REPEATS [4] FIM [0.5] FIM_CHARS [1200] EDIT [1.0] EDIT_CHARS [600] (build_data.py)
#   STEPS [2100] LR [1e-3] CKPT_EVERY [250] TYPE [f16] OUT [WORKDIR/wafer-emb.gguf]
#   COPY [1]: run the copy curriculum after the base training (0: export the base model)
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
    --corpus "$W/corpus" --out "$W/data" --edit-format file-first --repeats "${REPEATS:-4}" --fim "${FIM:-0.5}" \
    --fim-chars "${FIM_CHARS:-1200}" --edit "${EDIT:-1.0}" --edit-chars "${EDIT_CHARS:-600}"
$PY "$HERE/train.py" --data "$W/data" --out "$W/model" --resume \
    --layers "${LAYERS:-6}" --dim "${DIM:-256}" --heads "${HEADS:-8}" --kv-heads "${KV_HEADS:-4}" \
    --ff "${FF:-704}" --ctx "${CTX:-512}" --batch "${BATCH:-8}" --steps "${STEPS:-2100}" \
    --lr "${LR:-1e-3}" --ckpt-every "${CKPT_EVERY:-250}" 2>&1 | tee -a "$W/train.log"
# The copy curriculum (models/README.md, "Training"): fine-tunes of the base
# model with synthetic copy rows beside the code rows. Short rows first (the
# copying circuit forms), then rows as long as the context, then rows that
# also hold copies in the edit format. Each stage resumes like the base run
# (COPY=0 skips the curriculum and exports the base model).
copy_stage() { # OUT INIT train.py-arguments...
    local out="$W/$1" init="$2"
    shift 2
    $PY "$HERE/train.py" --data "$W/data" --out "$out" --resume --init "$init" --warmup 20 "$@" 2>&1 \
        | tee -a "$W/train.log"
}
if [ "${COPY:-1}" = 1 ]; then
    copy_stage copy1 "$W/model/ckpt.pt" --batch 2 --copy-rows 64 --copy-len 64 --copy-code-max 21 \
        --steps 1000 --stop-after 500 --lr 1e-3 --min-lr 3e-4 --ckpt-every 100
    copy_stage copy2 "$W/copy1/ckpt.pt" --batch 6 --copy-rows 12 --copy-len 256 \
        --steps 450 --lr 6e-4 --min-lr 1e-4 --ckpt-every 50
    # the last two stages also switch the edit examples to the format `wafer edit`
    # now uses (instruction first); the same examples, reordered
    [ -f "$W/data-if/data.json" ] || $PY "$HERE/build_data.py" --wafer "$WAFER" --vocab "$W/vocab.gguf" \
        --corpus "$W/corpus" --out "$W/data-if" --repeats "${REPEATS:-4}" --fim "${FIM:-0.5}" \
        --fim-chars "${FIM_CHARS:-1200}" --edit "${EDIT:-1.0}" --edit-chars "${EDIT_CHARS:-600}"
    copy_stage copy3 "$W/copy2/ckpt.pt" --data "$W/data-if" --batch 6 --copy-rows 6 --copy-len 512 \
        --copy-edit 0.5 --steps 250 --stop-after 150 --lr 4e-4 --min-lr 1e-4 --ckpt-every 50
    copy_stage copy4 "$W/copy3/ckpt.pt" --data "$W/data-if" --batch 4 --copy-rows 12 --copy-len 256 \
        --copy-edit 0.5 --steps 450 --lr 5e-4 --min-lr 1e-4 --ckpt-every 50
    FINAL="$W/copy4/ckpt.pt"
else
    FINAL="$W/model/ckpt.pt"
fi
OUT="${OUT:-$W/wafer-emb.gguf}"
$PY "$HERE/export.py" --ckpt "$FINAL" --vocab "$W/vocab.gguf" --out "$OUT" --type "${TYPE:-f16}"
# held-out perplexity, as the model card reports it
for f in $(head -n 5 "$W/corpus/heldout.txt"); do
    printf '%s\t' "$f"
    "$WAFER" score -m "$OUT" -f "$f" --json | $PY -c 'import json,sys; print("ppl %.3f" % json.load(sys.stdin)["perplexity"])'
done
