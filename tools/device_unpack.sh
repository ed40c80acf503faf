#!/usr/bin/env bash
# device_unpack.sh — join what tools/device_train.sh left in $OUT (the parts
# of the weights, checked against their sha256) into one weights file that
# train.py --init and export.py read:
#   tools/device_unpack.sh FILES_AT WEIGHTS_OUT
set -euo pipefail
IN="${1:?usage: device_unpack.sh FILES_AT WEIGHTS_OUT}"
DEST="${2:?usage: device_unpack.sh FILES_AT WEIGHTS_OUT}"
parts=("$IN"/weights.pt.part*)
[ -f "${parts[0]}" ] && [ -f "$IN/weights.sha256" ] || { echo "device_unpack: no weights.pt.part* and weights.sha256 in $IN" >&2; exit 1; }
cat "${parts[@]}" > "$DEST.tmp"
want=$(cut -d' ' -f1 "$IN/weights.sha256")
got=$(sha256sum "$DEST.tmp" | cut -d' ' -f1)
if [ "$want" != "$got" ]; then
    rm -f "$DEST.tmp"
    echo "device_unpack: sha256 mismatch (${#parts[@]} parts): $got, expected $want" >&2
    exit 1
fi
mv "$DEST.tmp" "$DEST"
echo "device_unpack: $DEST (${#parts[@]} parts, sha256 $got)"
