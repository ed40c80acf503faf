#!/usr/bin/python3
"""corpus.py — collect permissively licensed source code present on a Debian
machine into a training corpus: a manifest (path, bytes, licence, sha256) and a
deterministic held-out split by file.

Sources (each licence verified from the file named in SOURCES):
  python-stdlib  /usr/lib/python3.11/**/*.py   PSF-2.0 (LICENSE.txt shipped with it)
  numpy          numpy's *.py (python3-numpy)  BSD-3-Clause (/usr/share/doc/python3-numpy/copyright)

usage: corpus.py --out DIR [--sources python-stdlib,numpy] [--max-files N]
                 [--max-bytes B] [--heldout-frac 0.02] [--root DIR --licence L]
Writes DIR/manifest.tsv (split, path, bytes, licence, sha256), DIR/train.txt and
DIR/heldout.txt (lists of paths). With --root, only files under that folder are
taken, under the given licence (used by the smoke test on a tiny corpus).
"""
import argparse
import hashlib
import os
import sys

SOURCES = {
    "python-stdlib": {
        "roots": ["/usr/lib/python3.11"],
        "skip": ["/site-packages/", "/dist-packages/", "/test/", "/tests/", "/idlelib/idle_test/",
                 "/lib2to3/tests/"],
        "licence": "PSF-2.0",
        "licence_file": "/usr/lib/python3.11/LICENSE.txt",
        "licence_word": "PYTHON SOFTWARE FOUNDATION LICENSE",
    },
    "numpy": {
        "roots": ["/usr/lib/python3/dist-packages/numpy"],
        "skip": ["/tests/"],
        "licence": "BSD-3-Clause",
        "licence_file": "/usr/share/doc/python3-numpy/copyright",
        "licence_word": "Redistribution and use in source and binary forms",
    },
}

MAX_FILE_BYTES = 200_000   # very large files are mostly data tables


def licence_ok(src):
    try:
        with open(src["licence_file"], encoding="utf-8", errors="replace") as f:
            return src["licence_word"] in f.read()
    except OSError:
        return False


def walk_py(root, skip):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in sorted(filenames):
            if not fn.endswith(".py"):
                continue
            p = os.path.join(dirpath, fn)
            if any(s in p + "/" for s in skip) or os.path.islink(p):
                continue
            out.append(p)
    return out


def read_text(p):
    """The file's bytes if it is UTF-8 text of a sane size, else None."""
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None
    if not data or len(data) > MAX_FILE_BYTES or b"\0" in data:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return data


def is_heldout(sha, frac):
    # deterministic by content: the first 8 hex digits of sha256 as a fraction
    return int(sha[:8], 16) / 0xFFFFFFFF < frac


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sources", default="python-stdlib,numpy")
    ap.add_argument("--root", help="take only .py files under this folder")
    ap.add_argument("--licence", default="unknown", help="licence of --root's files")
    ap.add_argument("--max-files", type=int, default=0)
    ap.add_argument("--max-bytes", type=int, default=0, help="stop after this many bytes")
    ap.add_argument("--heldout-frac", type=float, default=0.02)
    a = ap.parse_args()

    files = []  # (path, licence)
    if a.root:
        files += [(p, a.licence) for p in walk_py(a.root, [])]
    else:
        for name in a.sources.split(","):
            src = SOURCES.get(name)
            if src is None:
                sys.exit("corpus: unknown source %r (have %s)" % (name, ", ".join(SOURCES)))
            if not licence_ok(src):
                print("corpus: %s skipped: licence not confirmed in %s" % (name, src["licence_file"]),
                      file=sys.stderr)
                continue
            for r in src["roots"]:
                files += [(p, src["licence"]) for p in walk_py(r, src["skip"])]

    os.makedirs(a.out, exist_ok=True)
    seen = set()
    rows = []
    total = 0
    for p, lic in files:
        data = read_text(p)
        if data is None:
            continue
        sha = hashlib.sha256(data).hexdigest()
        if sha in seen:          # identical copies would leak into held-out
            continue
        seen.add(sha)
        split = "heldout" if is_heldout(sha, a.heldout_frac) else "train"
        rows.append((split, p, len(data), lic, sha))
        total += len(data)
        if a.max_files and len(rows) >= a.max_files:
            break
        if a.max_bytes and total >= a.max_bytes:
            break
    if not rows:
        sys.exit("corpus: no files found")
    # a tiny corpus still needs one held-out file
    if not any(r[0] == "heldout" for r in rows) and len(rows) > 1:
        r = rows[-1]
        rows[-1] = ("heldout",) + r[1:]

    with open(os.path.join(a.out, "manifest.tsv"), "w", encoding="utf-8") as f:
        f.write("split\tpath\tbytes\tlicence\tsha256\n")
        for r in rows:
            f.write("%s\t%s\t%d\t%s\t%s\n" % r)
    for split in ("train", "heldout"):
        with open(os.path.join(a.out, split + ".txt"), "w", encoding="utf-8") as f:
            for r in rows:
                if r[0] == split:
                    f.write(r[1] + "\n")
    ntr = sum(1 for r in rows if r[0] == "train")
    print("corpus: %d files (%d train, %d held-out), %.1f MB" % (len(rows), ntr, len(rows) - ntr, total / 1e6))


if __name__ == "__main__":
    main()
