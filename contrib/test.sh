#!/bin/bash
# The test command: installs what is needed, builds with clang under ASan+UBSan
# (so fuzz targets are real libFuzzer binaries), and runs every test through ctest:
# unit, fuzz (bounded time each) and scenario tests on the network-namespace testbed.
# Then, when run without arguments, the unit tests of the code that runs threads (the scan
# pool, the spool's commit thread, the engine's background reload, the control socket)
# again under ThreadSanitizer, in a second build.
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

[ $# -eq 0 ] || exit 0
threaded=(test_scan_pool test_queue_tx test_queue_spool test_scan_engine test_scan_engine_reload
	test_scan_quarantine test_control test_ipc)
tsan=${AIRLOCK_TSAN_BUILD:-$src/build-tsan}
cmake -S "$src" -B "$tsan" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DAIRLOCK_TSAN=ON -DAIRLOCK_FUZZ=OFF >/dev/null
cmake --build "$tsan" -j"$(nproc)" --target "${threaded[@]}"
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
cd "$tsan"
ctest --output-on-failure -j2 -R "^unit/($(
	IFS='|'
	echo "${threaded[*]}"
))\$"
