# The README's two commands: `make demo` and `make test`. Each installs what it needs first.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 20
# make fuzz-long: every libFuzzer target this long, one after the other (38 targets: about 6.5 hours).
FUZZ_LONG_SECONDS ?= 600

.PHONY: all deps build build-test build-gcc test deb fuzz fuzz-long mutate demo bench docs clean

all: build

deps:
	@bash scripts/install-deps.sh

# Release build (hardened, optimised): programs, demo and benchmarks.
build: deps
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang -DCCG_TESTS=OFF >/dev/null
	cmake --build build/release -j $(JOBS)

# Test build: ASan + UBSan, with the libFuzzer targets.
build-test: deps
	cmake -S . -B build/test -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DCCG_SANITIZE=ON -DCCG_FUZZ=ON >/dev/null
	cmake --build build/test -j $(JOBS)

# The same sources with gcc (Debian 12's default compiler), optimised: its -O2 warnings (format truncation,
# unused results) differ from clang's, and -Werror makes them errors. Its programs are not run by the suite,
# but it is the tree tests/cli/test_install.sh installs and packages (hence the /usr prefix, Debian's).
build-gcc: deps
	cmake -S . -B build/gcc -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc -DCCG_TESTS=ON -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
	cmake --build build/gcc -j $(JOBS)

test: build-test build-gcc
	cd build/test && ctest --output-on-failure -j $(JOBS)
	bash scripts/run-fuzzers.sh build/test $(FUZZ_SECONDS)

# The Debian package, from the gcc build: build/deb/ccgate_VERSION-1_ARCH.deb (docs/install.md).
deb: build-gcc
	bash packaging/build-deb.sh build/gcc build/deb

fuzz: build-test
	bash scripts/run-fuzzers.sh build/test $(FUZZ_SECONDS)

# Not part of `make test`: at least FUZZ_LONG_SECONDS per target (FUZZ_ONLY=REGEX picks targets).
fuzz-long: build-test
	bash scripts/run-fuzzers.sh build/test $(FUZZ_LONG_SECONDS)

# Not part of `make test`: the one-line mutants of tests/mutants/*.txt, each undone afterwards, against a
# non-sanitised build in build/mutate (docs/testing.md; MUTATE_FULL=1, MUTATE_ONLY=REGEX).
mutate: deps
	python3 scripts/mutate.py

demo: build
	bash scripts/demo.sh build/release

bench: build
	bash scripts/bench.sh build/release
	bash scripts/bench-gpu.sh build/release
	bash scripts/bench-measure.sh build/release
	bash scripts/bench-kbs.sh build/release
	bash scripts/bench-channel.sh build/release
	bash scripts/bench-unseal.sh build/release
	bash scripts/bench-gpu-rim.sh build/release
	bash scripts/bench-tdx.sh build/release
	bash scripts/bench-runner.sh build/release
	bash scripts/bench-endpoint.sh build/release
	bash scripts/bench-startup.sh build/release

docs: build
	build/release/ccgate reasons --markdown > docs/reason-codes.md

clean:
	rm -rf build
