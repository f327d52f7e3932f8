# Entry points. Each target installs missing Debian packages first (scripts/install-deps).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 120
FUZZ_TARGETS ?=

.PHONY: deps configure build test test-unit test-asan test-tsan check-layering fuzz demo bench clean

deps:
	@scripts/install-deps

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

configure: $(BUILD)/build.ninja

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

# All tests: unit, fuzz-corpus replays and integration tests against real agent processes.
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

# Unit tests only (fast).
test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

# Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer.
# (the "debug" preset in CMakePresets.json: Debug + ASan + UBSan, unit-labelled tests only)
test-asan: deps
	cmake --preset debug
	cmake --build --preset debug -j $(JOBS)
	ctest --preset debug -j $(JOBS)

# Unit tests under ThreadSanitizer (the "tsan" preset: RelWithDebInfo + TSan, unit-labelled tests).
test-tsan: deps
	cmake --preset tsan
	cmake --build --preset tsan -j $(JOBS)
	ctest --preset tsan -j $(JOBS)

# Every include in src/ against the module graph in src/layering.txt.
check-layering:
	@scripts/check-layering

# Real fuzzing (fuzz/README.md): a clang + libFuzzer + ASan/UBSan build in $(FUZZ_BUILD), then
# every target (or FUZZ_TARGETS) for FUZZ_SECONDS each on a scratch copy of its corpus. Findings
# stay in $(FUZZ_BUILD)/findings/<target>/; fails if any target found something.
$(FUZZ_BUILD)/build.ninja: | deps
	cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_COMPILER=clang++ -DGANGWAY_LIBFUZZER=ON -DGANGWAY_BENCH=OFF

fuzz: deps $(FUZZ_BUILD)/build.ninja
	FUZZ_JOBS=$(JOBS) fuzz/run-all $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

demo: build
	scripts/demo $(BUILD)/tools/gangway

bench: build
	bench/run-all $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-tsan $(FUZZ_BUILD)
