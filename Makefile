# Thin wrapper over CMake. `make` builds, `make demo` builds and streams a
# completion from the embedded model, `make test` runs the whole suite,
# `make bench` runs the benchmarks. Each installs missing packages first.
# `make web` rebuilds the web app's committed bundle (web/dist) from web/src.
SHELL := /bin/bash
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps configure demo test bench bench-edit bench-steer fuzz soak soak-05b soak-05b-llama clean web

all: configure
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/install-deps.sh --check >/dev/null 2>&1 || scripts/install-deps.sh

configure: deps
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

# The embedded model (models/wafer-embedded.gguf, the default for -m) completes
# examples/quickstart.py; the answer streams and ends by itself (at the next
# top-level statement, or after 300 tokens); the timings line on stderr
# shows tokens/s. The prompt file ends without a newline on purpose (see
# models/README.md); the sampling settings are the model card's.
demo: all
	$(BUILD)/wafer run -f examples/quickstart.py -n 300 --temp 0.3 --repeat-penalty 1.2 --seed 1 \
	    --stop $$'\ndef ' --stop $$'\nclass ' --stop $$'\n\n\n' --stop $$'\nif __name__'
	@echo
	@echo "The app (chat, edit, complete in a browser): run $(BUILD)/wafer serve, then open http://127.0.0.1:8080/"

# The web app's bundle (web/dist/*.gz, committed; embedded by the C build):
# install the pinned npm packages (web/package-lock.json) and bundle with esbuild.
web:
	cd web && npm ci --no-audit --no-fund && node build.mjs
	@test ! -f $(BUILD)/CMakeCache.txt || cmake --build $(BUILD) -j $(JOBS)

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

bench: all
	bench/run.sh $(BUILD)

# Predicted outputs on edits: plain decoding against the self-prediction on
# the 0.5B and 1.5B shapes side by side (issue 16's 4x; bench/edit/shapes.sh).
EDIT_REPS ?= 3
bench-edit: all
	bench/edit/shapes.sh $(BUILD) $(EDIT_REPS)

# Steering a coding agent: TTFT of a steered /v1/responses request vs a cold
# one on a 10k-token Codex-shaped context, 0.5B-shaped Q8_0 model (BENCHMARKS.md).
bench-steer: all
	cmake --build $(BUILD) --target bench_mkmodel -j $(JOBS)
	/usr/bin/python3 bench/steer.py --build $(BUILD) --rounds 3 --tokens 10000

# libFuzzer campaigns: a separate clang build (build-fuzz/, instrumented
# with coverage + ASan + UBSan), each harness FUZZ_MINUTES minutes at nice 19
# (FUZZ_HARNESSES to choose; docs/reliability.md). Installs clang if missing.
FUZZ_MINUTES ?= 5
FUZZ_HARNESSES ?=
fuzz: deps
	scripts/fuzz.sh build-fuzz $(FUZZ_MINUTES) $(FUZZ_HARNESSES)

# The long load test: 64 streaming clients (a third hang up) plus steady
# non-streaming ones for SOAK_SECONDS against the test model, RSS sampled.
SOAK_SECONDS ?= 600
soak: all
	WAFER=$(BUILD)/wafer WAFER_BUILD=$(BUILD) WAFER_SRC=$(CURDIR) PYTHONPATH=$(CURDIR)/tests/ref \
	    /usr/bin/python3 tests/serve/test_server_load.py --duration $(SOAK_SECONDS) --clients 64 --hang-fraction 0.33 --batch-clients 4

# The same load against a 0.5B-shaped Q8_0 file (random weights, the Qwen3
# vocabulary; made once and cached): run it on an otherwise idle machine.
SOAK_MAX_TOKENS ?= 128
soak-05b: configure
	scripts/soak05b.sh $(BUILD) $(SOAK_SECONDS) $(SOAK_MAX_TOKENS)

# The same clients against llama.cpp's llama-server on the same file, for the
# figures side by side (LLAMA_SERVER: a binary built outside this tree,
# docs/reliability.md; skipped when it is not there).
LLAMA_SERVER ?=
soak-05b-llama: configure
	@if [ -z "$(LLAMA_SERVER)" ]; then echo "SKIP: set LLAMA_SERVER=/path/to/llama-server"; else \
	    LLAMA_SERVER=$(LLAMA_SERVER) scripts/soak05b.sh $(BUILD) $(SOAK_SECONDS) $(SOAK_MAX_TOKENS) || [ $$? -eq 77 ]; fi

clean:
	rm -rf $(BUILD)
