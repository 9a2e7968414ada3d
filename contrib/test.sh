#!/bin/bash
# The test command: installs what is needed, builds with clang under ASan+UBSan
# (so fuzz targets are real libFuzzer binaries), and runs every test through ctest:
# unit, fuzz (bounded time each) and scenario tests on the network-namespace testbed.
#
#   contrib/test.sh [ctest arguments...]     e.g. contrib/test.sh -L unit
#
# Scenario tests need root; without it ctest reports them as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=${AIRLOCK_TEST_BUILD:-$src/build-test}

if [ "$(id -u)" -eq 0 ]; then
	contrib/install-deps.sh
else
	echo "test: not root: skipping package installation and scenario tests" >&2
fi

cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DAIRLOCK_SANITIZE=ON >/dev/null
cmake --build "$build" -j"$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
# Unit and fuzz tests run two at a time (the fuzz targets each run for a fixed time);
# scenario tests are RUN_SERIAL: they share the one testbed and run alone.
ctest --output-on-failure -j2 "$@"
