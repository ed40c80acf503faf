#!/usr/bin/env bash
# device_pack.sh — stage a training run for a lent GPU machine (the `device`
# tool; models/README.md, "Training on a lent GPU"). The machine receives the
# repository's working tree plus the folders a call carries (64 MiB in all)
# and can fetch nothing, so the stage holds everything train.py reads there:
#
#   tools/device_pack.sh CKPT DATA [CHAT] [STAGE]
#     CKPT   a train.py checkpoint or --weights-out file (its weights travel in
#            bfloat16; the optimizer's state stays here)
#     DATA   a build_data.py folder (data.json, train.bin, heldout.bin)
#     CHAT   a build_data.py --chat folder (chat.json/.bin/.mask/.idx), or ""
#     STAGE  default: device-stage/ in this checkout (ignored by git; carry it)
# Writes STAGE/init.pt, STAGE/data.tar.xz (with data.json's vocabulary, for
# copy rows) and STAGE/SHA256SUMS; fails when the stage would not fit beside
# the tracked files.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SRC="$(dirname "$HERE")"
CKPT="${1:?usage: device_pack.sh CKPT DATA [CHAT] [STAGE]}"
DATA="${2:?usage: device_pack.sh CKPT DATA [CHAT] [STAGE]}"
CHAT="${3:-}"
STAGE="${4:-$SRC/device-stage}"
PY=/usr/bin/python3
for f in data.json train.bin heldout.bin; do
    [ -f "$DATA/$f" ] || { echo "device_pack: $DATA/$f missing (a build_data.py folder)" >&2; exit 1; }
done
if [ -n "$CHAT" ]; then
    for f in chat.json chat.bin chat.mask chat.idx; do
        [ -f "$CHAT/$f" ] || { echo "device_pack: $CHAT/$f missing (a build_data.py --chat folder)" >&2; exit 1; }
    done
fi
rm -rf "$STAGE"
mkdir -p "$STAGE"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# the weights alone, bfloat16
"$PY" - "$HERE" "$CKPT" "$STAGE/init.pt" <<'PYEOF'
import sys, torch
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
import train
ck = torch.load(sys.argv[2], map_location="cpu")
train.save_weights(sys.argv[3], ck["model"], ck["step"], ck["config"])
print("device_pack: weights of step %d, %.2fM parameters" % (ck["step"], sum(v.numel() for v in ck["model"].values()) / 1e6))
PYEOF

mkdir "$TMP/data"
cp "$DATA/data.json" "$DATA/train.bin" "$DATA/heldout.bin" "$TMP/data/"
vocab="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("vocab", ""))' "$DATA/data.json")"
[ -n "$vocab" ] && [ -f "$vocab" ] && cp "$vocab" "$TMP/data/vocab.gguf"
[ -n "$CHAT" ] && cp "$CHAT/chat.json" "$CHAT/chat.bin" "$CHAT/chat.mask" "$CHAT/chat.idx" "$TMP/data/"
"$PY" - "$TMP/data" "$STAGE/data.tar.xz" <<'PYEOF'
import os, sys, tarfile
with tarfile.open(sys.argv[2], "w:xz", preset=6) as t:
    for n in sorted(os.listdir(sys.argv[1])):
        t.add(os.path.join(sys.argv[1], n), arcname=n)
PYEOF
(cd "$STAGE" && sha256sum init.pt data.tar.xz > SHA256SUMS)

stage=$(du -sb "$STAGE" | cut -f1)
tracked=$(git -C "$SRC" ls-files -z | (cd "$SRC" && xargs -0 du -cb 2>/dev/null) | tail -1 | cut -f1)
echo "device_pack: $STAGE: $((stage / 1048576)) MiB (+ $((tracked / 1048576)) MiB of tracked files; the limit is 64 MiB)"
if [ $((stage + tracked)) -gt $((62 * 1048576)) ]; then
    echo "device_pack: too large to travel: fewer chat examples (build_data.py --chat on fewer conversations)" >&2
    exit 1
fi
