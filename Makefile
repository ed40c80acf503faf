# Thin wrapper over CMake. `make` builds, `make demo` builds and streams a
# completion from the embedded model, `make test` runs the whole suite,
# `make bench` runs the benchmarks. Each installs missing packages first.
SHELL := /bin/bash
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps configure demo test bench clean

all: configure
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/install-deps.sh --check >/dev/null 2>&1 || scripts/install-deps.sh

configure: deps
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

# The embedded model (models/wafer-embedded.gguf, the default for -m) completes
# examples/quickstart.py; the answer streams and ends by itself (at the end of
# the function, or after 200 tokens); the timings line shows tokens/s.
demo: all
	$(BUILD)/wafer run -f examples/quickstart.py -n 200 --temp 0.3 --seed 4 \
	    --stop $$'\ndef ' --stop $$'\nclass ' --stop $$'\n\n\n' --stop $$'\nif __name__'

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

bench: all
	bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD)
