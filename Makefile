# Entry points. Each target installs missing Debian packages first (scripts/install-deps).
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps configure build test test-unit test-asan demo bench clean

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
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGANGWAY_SANITIZE=address,undefined -DGANGWAY_BENCH=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) -L unit

demo: build
	scripts/demo $(BUILD)/tools/gangway

bench: build
	bench/run-all $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
