# Shared helpers for scenario tests: sourced, not run.
# Each scenario brings the testbed up, asserts on what a user would see, and
# tears it down on exit. Without root it exits 77, which ctest reports as skipped.

set -euo pipefail

: "${AIRLOCK_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${AIRLOCK_BIN:=$AIRLOCK_SRC/build/bin}"
TESTBED="$AIRLOCK_SRC/contrib/testbed"
SCENARIO=$(basename "$0" .sh)
FAILURES=0
CHECKS=0

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP $SCENARIO: needs root (network namespaces, charon)"
	exit 77
fi

log() { printf '[%s] %s\n' "$SCENARIO" "$*"; }

pass() {
	CHECKS=$((CHECKS + 1))
	log "ok   - $*"
}

fail() {
	CHECKS=$((CHECKS + 1))
	FAILURES=$((FAILURES + 1))
	log "FAIL - $*"
}

# expect DESCRIPTION COMMAND...: passes when the command succeeds.
expect() {
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls every 0.2 s until the command succeeds.
wait_for() {
	local secs=$1 what=$2
	shift 2
	local deadline=$((SECONDS + secs))
	while [ $SECONDS -lt $deadline ]; do
		if "$@" >/dev/null 2>&1; then
			pass "$what"
			return 0
		fi
		sleep 0.2
	done
	fail "$what (not within ${secs}s)"
	return 1
}

testbed_up() {
	"$TESTBED" up >"$WORK/testbed-up.log" 2>&1 || {
		cat "$WORK/testbed-up.log"
		log "FAIL - testbed up"
		exit 1
	}
	eval "$("$TESTBED" env)"
}

finish() {
	local rc=$?
	jobs -p | xargs -r kill 2>/dev/null || true
	wait 2>/dev/null || true
	if [ "${KEEP_TESTBED:-0}" != 1 ]; then
		"$TESTBED" down >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
	if [ $rc -ne 0 ] && [ $FAILURES -eq 0 ]; then
		FAILURES=1
		log "FAIL - aborted (exit $rc)"
	fi
	log "$((CHECKS - FAILURES)) passed, $FAILURES failed"
	[ $FAILURES -eq 0 ] || exit 1
	exit 0
}

WORK=$(mktemp -d)
trap finish EXIT
