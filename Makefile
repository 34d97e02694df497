# Thin wrapper over CMake. `make run`: dependencies, build, quickstart.
# `make test`: dependencies, build, the whole test suite.
SHELL := /bin/bash
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build run test sanitize bench clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

configure: $(BUILD)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/bin/medfm --version
	$(BUILD)/bin/medfm run configs/quickstart.yaml

test: build
	$(BUILD)/bin/medfm_tests --jobs $(JOBS)

# Same suite with ASan + UBSan + LeakSanitizer.
sanitize: deps
	cmake -S . -B build-sanitize -G Ninja -DMEDFM_SANITIZE=ON -DMEDFM_BUILD_BENCH=OFF -DMEDFM_CUDA=OFF
	cmake --build build-sanitize -j $(JOBS)
	@# Criterion records a test before LeakSanitizer reports at process exit,
	@# so a sanitizer report anywhere in the log fails the run.
	set -o pipefail; ASAN_OPTIONS=detect_leaks=1 build-sanitize/bin/medfm_tests --jobs $(JOBS) 2>&1 \
	  | tee build-sanitize/test.log
	@! grep -q "Sanitizer" build-sanitize/test.log || (echo "sanitizer reports above"; exit 1)

bench: build
	bench/cpu/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-sanitize
