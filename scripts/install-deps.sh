#!/usr/bin/env bash
# Install what wafer's build and tests need, with apt, when missing.
# Idempotent; runs as root on a fresh Debian 12 machine (uses sudo otherwise).
#   scripts/install-deps.sh          install what is missing
#   scripts/install-deps.sh --check  exit 1 if something is missing
set -euo pipefail

# Why each package is here (see README, "Dependencies"):
#   build-essential cmake pkg-config  compiler and build
#   libpcre2-dev       tokenizer pre-tokenizer regexes (PCRE2 with JIT)
#   libutf8proc-dev    Unicode normalization (NFC) of tokenizer input, as Qwen's
#                      tokenizer.json asks
#   libjansson-dev     JSON (chat messages, tokenizer.json/config.json in the
#                      converter, and later the server)
#   libmicrohttpd-dev  HTTP/1.1 for `wafer serve` (GNU libmicrohttpd: keep-alive,
#                      connection limits and timeouts, chunked streaming responses)
#   libedit-dev        line editing and history for `wafer chat` (linked only to the CLI)
#   python3-numpy      independent numpy references in the tests
#   python3-jinja2     the reference renderer the chat-template tests compare with
#   python3-jsonschema the independent validator of constrained JSON answers
#                      (tests/serve/test_grammar_server.py)
#   python3-torch      offline training of the embedded model (tools/train.py); the engine never uses it
#   libopenblas0-pthread  optimized BLAS for torch (~110 -> ~2k tokens/s training on 2 cores)
#   nodejs npm         only if no node is on PATH: the llama.cpp cross-check
#                      test runs npm's node-llama-cpp (skipped without them)
#   chromium           the web app's browser test (tests/app/test_app.py drives
#                      Debian's chromium headless with npm playwright-core)
PKGS=(build-essential cmake pkg-config libpcre2-dev libutf8proc-dev libjansson-dev libmicrohttpd-dev libedit-dev python3-numpy python3-jinja2 python3-jsonschema python3-torch libopenblas0-pthread chromium)
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ "${1:-}" = "--check" ]; then
    [ ${#missing[@]} -eq 0 ] && exit 0
    echo "missing: ${missing[*]}" >&2
    exit 1
fi

[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
