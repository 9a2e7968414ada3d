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

# The testbed is one per machine (fixed namespace names): scenario tests, the
# benchmarks and anyone bringing it up by hand take this lock first.
TESTBED_LOCK=/var/tmp/airlock-testbed.lock
exec 9>"$TESTBED_LOCK"
if ! flock -w 1200 9; then
	echo "FAIL $SCENARIO: the testbed stayed busy (lock $TESTBED_LOCK) for 20 minutes"
	exit 1
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
	return 0
}

testbed_up() {
	"$TESTBED" up --bare "$@" >"$WORK/testbed-up.log" 2>&1 || {
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
	if [ $FAILURES -gt 0 ] && [ -s "$WORK/edge.log" ]; then
		log "last lines of the edge's log:"
		tail -n 20 "$WORK/edge.log"
	fi
	# AIRLOCK_SCENARIO_LOGS=DIR keeps the work dir's logs and captures for a look afterwards.
	if [ -n "${AIRLOCK_SCENARIO_LOGS:-}" ]; then
		mkdir -p "$AIRLOCK_SCENARIO_LOGS/$SCENARIO"
		cp "$WORK"/*.log "$WORK"/*.pcap "$AIRLOCK_SCENARIO_LOGS/$SCENARIO/" 2>/dev/null || true
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

# ---- the edge daemon and its hubs ----------------------------------------------------

EDGE_HOST=edge.example.com
EDGE_MX=198.51.100.25:25
# The sink listens on the hub's inner address: the edge reaches it only through the SA
# (its selectors cover every port between 192.0.2.1 and 192.0.2.2).
SINK_ADDR=192.0.2.2:2526
EDGE_INNER=192.0.2.1
PY="$AIRLOCK_SRC/tests/scenario"

# write_edge_conf FILE [extra libconfig lines for the edge section] : a config
# relaying example.com through the SA to the sink in al-hub, children as "nobody".
# EDGE_HUBS replaces the hub list (libconfig groups, default the sink alone).
# SCAN_SECTION replaces the scan section (default: scanning off, as most
# scenarios test the relay); SCAN_SECTION= (empty) leaves it out for a
# scenario that appends its own.
write_edge_conf() {
	local file=$1 hubs=${EDGE_HUBS:-"{ address = \"$SINK_ADDR\"; }"}
	# (Not in the here-document: there the group's "}" would end the expansion.)
	local scan=${SCAN_SECTION-"scan = { enabled = false; };"}
	shift
	chmod 755 "$WORK"
	mkdir -p "$WORK/spool"
	cat >"$file" <<EOT
edge = {
	listen = ["$EDGE_MX"];
	hostname = "$EDGE_HOST";
	relay_domains = ["example.com"];
	hubs = ($hubs);
	user = "nobody";
	control_socket = "$WORK/edge.sock";
	$*
};
queue = {
	directory = "$WORK/spool";
	retry_min = 1;
	retry_max = 2;
	scan_interval = 2;
	tls = "none";
	${QUEUE_EXTRA:-}
};
tunnel = {
	vici = "${AIRLOCK_EDGE_VICI:-unix:///var/run/charon.vici}";
	local_address = "$EDGE_INNER";
	connection = "${AIRLOCK_CONN:-airlock}";
	child = "${AIRLOCK_CHILD:-airlock}";
};
$scan
log = { level = "info"; };
EOT
}

# daemon_up PID SOCKET: true once the daemon's control socket exists (10 s at most),
# false at once if the daemon exited.
daemon_up() {
	local i
	for i in $(seq 100); do
		[ -S "$2" ] && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# start_edge CONF [shell prefix run before exec inside al-edge]: starts airlock-edge
# in al-edge, waits for its control socket. EDGE_PID is the parent's pid.
start_edge() {
	local conf=$1 prefix=${2:-true}
	rm -f "$WORK/edge.sock"
	ip netns exec al-edge sh -c "$prefix && exec '$AIRLOCK_BIN/airlock-edge' -c '$conf'" \
		>>"$WORK/edge.log" 2>&1 &
	EDGE_PID=$!
	daemon_up "$EDGE_PID" "$WORK/edge.sock" && return 0
	cat "$WORK/edge.log"
	log "FAIL - airlock-edge did not start"
	return 1
}

stop_edge() {
	[ -n "${EDGE_PID:-}" ] && kill "$EDGE_PID" 2>/dev/null && wait "$EDGE_PID" 2>/dev/null || true
	EDGE_PID=
	return 0
}

# start_sink DIR [smtp-sink options...]: smtp-sink in al-hub on $SINK_ADDR appending
# every message to DIR/dump (-D: one file; -d names files per session, and
# messages of one reused connection would overwrite each other).
start_sink() {
	local dir=$1
	shift
	mkdir -p "$dir"
	chown postfix "$dir"
	ip netns exec al-hub smtp-sink -u postfix "$@" -D "$dir/dump" "$SINK_ADDR" 256 \
		>>"$WORK/sink.log" 2>&1 &
	SINK_PID=$!
	local i
	for i in $(seq 50); do
		ip netns exec al-hub ss -ltn | grep -q "${SINK_ADDR%:*}:${SINK_ADDR#*:}" && return 0
		sleep 0.1
	done
	log "FAIL - smtp-sink did not start"
	return 1
}

stop_sink() {
	[ -n "${SINK_PID:-}" ] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null || true
	SINK_PID=
	return 0
}

sink_count() { cat "$1"/dump 2>/dev/null | grep -c '^X-Client-Addr: ' || true; }
# sink_has DIR N: true once the sink in DIR holds at least N messages (for wait_for).
sink_has() { [ "$(sink_count "$1")" -ge "$2" ]; }
# queue_is N: true once the edge's queue holds exactly N messages (for wait_for).
queue_is() { [ "$(edge_ctl status 'd["queue"]["queued"]')" = "$1" ]; }

# edge_ctl CMD PYTHON_EXPR: asks the edge's control socket, prints the expression
# evaluated on the reply d, e.g. edge_ctl status 'd["queue"]["queued"]'.
edge_ctl() {
	python3 - "$WORK/edge.sock" "$1" "$2" <<'EOT'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(json.dumps({"cmd": sys.argv[2]}).encode() + b"\n")
d = json.loads(s.makefile().readline())
print(eval(sys.argv[3]))
EOT
}

# ---- the hub daemon ---------------------------------------------------------------------

# start_hub CONF [SOCKET LOG]: airlock-hub in al-hub, waits for its control socket
# (hub.control_socket of CONF; default $WORK/hub.sock, log $WORK/hub.log). HUB_PID.
start_hub() {
	local conf=$1 sock=${2:-$WORK/hub.sock} logf=${3:-$WORK/hub.log}
	rm -f "$sock"
	ip netns exec al-hub "$AIRLOCK_BIN/airlock-hub" -c "$conf" >>"$logf" 2>&1 &
	HUB_PID=$!
	daemon_up "$HUB_PID" "$sock" && return 0
	cat "$logf"
	fail "airlock-hub started"
	return 1
}

stop_hub() {
	[ -n "${HUB_PID:-}" ] && kill "$HUB_PID" 2>/dev/null && wait "$HUB_PID" 2>/dev/null || true
	HUB_PID=
	return 0
}

# hub_ctl SOCKET PYTHON_EXPR: the expression evaluated on the status reply's "hub"
# object h, e.g. hub_ctl "$WORK/hub.sock" 'h["attestation"]["verified"]'.
hub_ctl() {
	python3 - "$1" "$2" <<'EOT'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b'{"cmd":"status"}\n')
d = json.loads(s.makefile().readline())
h = d["hub"]
print(eval(sys.argv[2]))
EOT
}
