#!/usr/bin/env bash
# device_train.sh — runs ON a lent GPU machine (the `device` tool), from the
# repository root there: trains from a stage made by tools/device_pack.sh for
# SECONDS of wall-clock time and leaves what comes back in $OUT: the weights
# in bfloat16 cut into parts of 15 MiB (files over 16 MiB do not come back),
# their sha256, the training log and the machine's GPU and torch versions.
#
#   tools/device_train.sh STAGE SECONDS [train.py options: --batch, --chat-rows,
#                         --lr, --warmup, --steps, ...]
# e.g. (the device tool's command, with carry ["device-stage"]):
#   tools/device_train.sh device-stage 420 --bf16 --lr-by-time --batch 16 \
#       --chat-rows 48 --chat-len 1024 --lr 3e-4 --min-lr 3e-5 --warmup 50
# Environment: DEVICE [cuda] (cpu for tests/tools/test_tools_smoke.py),
# WORK [/tmp/wafer-device], PY [python3: the machine's torch].
# Back here: tools/device_unpack.sh FILES_AT WEIGHTS.
set -euo pipefail
STAGE="${1:?usage: device_train.sh STAGE SECONDS [train.py options]}"
SECS="${2:?usage: device_train.sh STAGE SECONDS [train.py options]}"
shift 2
: "${OUT:?OUT: the folder whose files come back (the device tool sets it)}"
HERE="$(cd "$(dirname "$0")" && pwd)"
DEVICE="${DEVICE:-cuda}"
WORK="${WORK:-/tmp/wafer-device}"
PY="${PY:-python3}"
(cd "$STAGE" && sha256sum --quiet -c SHA256SUMS) || { echo "device_train: the stage does not match its SHA256SUMS" >&2; exit 1; }
rm -rf "$WORK"
mkdir -p "$WORK/data"
# unpacked by Python (the machine's image may lack xz); copy rows read the
# vocabulary named in data.json: point it at the staged one
"$PY" - "$STAGE/data.tar.xz" "$WORK/data" <<'PYEOF'
import json, os, sys, tarfile
with tarfile.open(sys.argv[1], "r:xz") as t:
    for m in t.getmembers():
        if not (m.isfile() or m.isdir()) or m.name.startswith("/") or ".." in m.name.split("/"):
            sys.exit("device_train: unexpected member %r in the stage" % m.name)
    t.extractall(sys.argv[2])
p = os.path.join(sys.argv[2], "data.json")
info = json.load(open(p))
v = os.path.join(sys.argv[2], "vocab.gguf")
info["vocab"] = v if os.path.exists(v) else ""
print("device_train: %s unpacked" % ", ".join(sorted(os.listdir(sys.argv[2]))))
json.dump(info, open(p, "w"))
PYEOF
{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
    "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
} > "$OUT/env.txt" 2>&1
chat=()
[ -f "$WORK/data/chat.json" ] && chat=(--chat "$WORK/data")
set +e
"$PY" "$HERE/train.py" --device "$DEVICE" --data "$WORK/data" "${chat[@]}" --out "$WORK/run" \
    --init "$STAGE/init.pt" --max-seconds "$SECS" --weights-out "$WORK/weights.pt" "$@" 2>&1 | tee "$OUT/train.log"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 0 ] || { echo "device_train: train.py exited $rc" >&2; exit "$rc"; }
split -b 15M -d -a 1 "$WORK/weights.pt" "$OUT/weights.pt.part"
(cd "$WORK" && sha256sum weights.pt) > "$OUT/weights.sha256"
ls -la "$OUT"
