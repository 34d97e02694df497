# Thin wrapper over CMake. `make run`: dependencies, build, quickstart.
# `make test`: dependencies, build, the whole test suite.
SHELL := /bin/bash
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build run test test-cuda-emu racecheck-cuda-emu sanitize bench fuzz clean

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
	scripts/quickstart $(BUILD)

test: build
	$(BUILD)/bin/medfm_tests --jobs $(JOBS)

# The CUDA tests on a machine without a GPU: the CUDA module's host code and
# kernels built against a CPU emulation of the CUDA runtime, cuBLAS and
# cuDNN (core/backend/cuda/emu/build.sh), then the whole suite with it
# loaded, so every test that needs a device runs (against the CPU backend)
# instead of skipping. The kernels run under AddressSanitizer and UBSan's
# alignment check, with the allocator's blocks poisoned past each request
# and once freed, so out-of-bounds and use-after-free accesses and
# misaligned vector loads are reported, and new blocks filled with NaN bytes
# (core/backend/cuda/emu/sancheck.sh memory). It checks logic, index math and memory accesses, not speed or
# device arithmetic; a GPU run (scripts/gpu-check) is still the real test.
test-cuda-emu: build
	JOBS=$(JOBS) sh core/backend/cuda/emu/sancheck.sh memory $(BUILD) '*/*'

# The CUDA kernels checked for data races on a machine without a GPU: the
# cuda_* suites with the emulated kernels under ThreadSanitizer, each
# emulated thread a fiber ordered only by what orders it on a GPU (launches,
# __syncthreads, the end of a grid; core/backend/cuda/emu/emu_race.h).
racecheck-cuda-emu: build
	JOBS=$(JOBS) sh core/backend/cuda/emu/sancheck.sh race $(BUILD)

# Same suite with ASan + UBSan + LeakSanitizer.
sanitize: deps
	cmake -S . -B build-sanitize -G Ninja -DMEDFM_SANITIZE=ON -DMEDFM_BUILD_BENCH=OFF -DMEDFM_CUDA=OFF
	cmake --build build-sanitize -j $(JOBS)
	@# Criterion records a test before LeakSanitizer reports at process exit,
	@# so a sanitizer report anywhere in the log fails the run.
	set -o pipefail; ASAN_OPTIONS=detect_leaks=1 build-sanitize/bin/medfm_tests --jobs $(JOBS) 2>&1 \
	  | tee build-sanitize/test.log
	@! grep -q "Sanitizer" build-sanitize/test.log || (echo "sanitizer reports above"; exit 1)

# CPU benchmarks against Debian's python3-torch / scipy, measured in the same
# run: ResNet-50, per-op kernels, the solvers against scipy, the LVM-Med step
# per component and whole against a PyTorch reference of it.
bench: build
	bench/cpu/run_resnet50.sh $(BUILD)
	bench/cpu/run.sh $(BUILD)
	bench/cpu/run_solvers.sh $(BUILD)
	bench/cpu/run_lvmmed_step.sh $(BUILD) tiny
	bench/cpu/run_lvmmed_compare.sh $(BUILD)

# libFuzzer targets (clang): the manifest parser and the image readers,
# instrumented and linked against the library, ~20 s each.
FUZZ_CC ?= clang
FUZZ_TIME ?= 20
# A fixed seed makes a CI run repeatable (FUZZ_SEED=0: a fresh one each run).
FUZZ_SEED ?= 1
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -DMEDFM_FUZZ -Isdk/include -I. -I/usr/include/nifti
FUZZ_LINK = -L$(BUILD)/lib -lmedfm -lcjson -lpng -ljpeg -Wl,-rpath,$(abspath $(BUILD))/lib
fuzz: build
	@command -v $(FUZZ_CC) >/dev/null || { echo "make fuzz needs clang (apt-get install clang)"; exit 1; }
	mkdir -p $(BUILD)/fuzz/manifest $(BUILD)/fuzz/image
	$(FUZZ_CC) $(FUZZ_FLAGS) tests/fuzz/fuzz_manifest.c core/data/manifest.c core/data/csv.c $(FUZZ_LINK) -o $(BUILD)/fuzz/fuzz_manifest
	$(FUZZ_CC) $(FUZZ_FLAGS) tests/fuzz/fuzz_image.c core/data/image_read.c core/data/image_png.c core/data/image_jpeg.c $(FUZZ_LINK) -o $(BUILD)/fuzz/fuzz_image
	cp tests/fuzz/corpus/manifest/* $(BUILD)/fuzz/manifest/
	cp tests/fuzz/corpus/image/* $(BUILD)/fuzz/image/
	ASAN_OPTIONS=detect_leaks=1 $(BUILD)/fuzz/fuzz_manifest -seed=$(FUZZ_SEED) -max_total_time=$(FUZZ_TIME) -max_len=4096 $(BUILD)/fuzz/manifest
	ASAN_OPTIONS=detect_leaks=1 $(BUILD)/fuzz/fuzz_image -seed=$(FUZZ_SEED) -max_total_time=$(FUZZ_TIME) -max_len=65536 $(BUILD)/fuzz/image

clean:
	rm -rf $(BUILD) build-sanitize
