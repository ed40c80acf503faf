# Thin wrapper over CMake. `make` builds, `make test` runs the whole suite,
# `make bench` runs the benchmarks. Each installs missing packages first.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps configure test bench clean

all: configure
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/install-deps.sh --check >/dev/null 2>&1 || scripts/install-deps.sh

configure: deps
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

bench: all
	bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD)
