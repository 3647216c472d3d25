# Thin wrapper over CMake.  The two commands a fresh Debian 12 machine needs:
#   make demo    build and run the loopback demonstration
#   make test    build (plain and ASan/UBSan) and run every test
# Each installs the Debian packages it needs first (tools/deps.sh).
JOBS   ?= 2
BUILD  ?= build
CMAKE  ?= cmake

.PHONY: all deps build build-asan demo test test-asan test-plain bench stress fuzz clean

all: build

deps:
	@sh tools/deps.sh build

build: deps
	$(CMAKE) -S . -B $(BUILD)/plain -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	$(CMAKE) --build $(BUILD)/plain -j$(JOBS)

build-asan:
	@sh tools/deps.sh test
	$(CMAKE) -S . -B $(BUILD)/asan -DCMAKE_BUILD_TYPE=Debug -DBEEPGATE_SANITIZE=ON >/dev/null
	$(CMAKE) --build $(BUILD)/asan -j$(JOBS)

demo: build
	sh tools/demo.sh $(BUILD)/plain

# Every test under ASan/UBSan, then the valgrind pass (leaks and descriptors)
# on the plain build.
test: test-asan test-plain

test-asan: build-asan
	cd $(BUILD)/asan && ctest --output-on-failure -j$(JOBS) -LE valgrind

test-plain: build
	cd $(BUILD)/plain && ctest --output-on-failure -L valgrind

bench: build
	@sh tools/deps.sh bench
	sh bench/run.sh $(BUILD)/plain

stress: build
	STRESS=long sh tests/reliability/run.sh $(BUILD)/plain
	cd $(BUILD)/plain && BEEPGATE_VALGRIND=1 ctest --output-on-failure -L integration

# libFuzzer campaign: every target FUZZ_SECONDS (default 600) from its corpus
# (clang; findings land in $(BUILD)/fuzz/campaign/<target>/artifacts).
FUZZ_SECONDS ?= 600
fuzz:
	@sh tools/deps.sh test
	FUZZ_BUILD=$(BUILD)/fuzz JOBS=$(JOBS) sh tests/fuzz/campaign.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD)
