#!/usr/bin/env bash
# tests/bench/edge_vs_postfix.sh - airlock-edge against Postfix as an inbound relay, on the
# reference testbed, with the same load, the same next hop and the same durability rule.
#
# One invocation: testbed up, smtp-sink as next hop in al-hub, then
#   1. airlock-edge in al-edge, smtp-source load from al-inet (+ a small latency probe);
#   2. airlock-edge again, 1000 idle connections, memory per connection;
#   3. a second Postfix instance in al-edge configured like the edge, the same load;
# and one table. Not a ctest test: it asserts nothing and never fails on a timing.
# See tests/bench/README.md for what each number means.
#
# Environment: BENCH_MESSAGES (5000), BENCH_SESSIONS (20), BENCH_SIZE (10240),
# BENCH_LATENCY_MESSAGES (200), BENCH_IDLE_CONNECTIONS (1000), BENCH_TIMEOUT (600, per run),
# BENCH_STALL (60), BENCH_SINK_PORT (2526), BENCH_BUSY_WAIT (300: how long to wait for a
# testbed in use), BENCH_DIR (/var/tmp/airlock-bench), BENCH_SKIP (airlock,idle,postfix: runs
# to leave out), KEEP_TESTBED=1 (leave the testbed up), AIRLOCK_BIN (build/bin),
# BENCH_SCAN=1 (airlock scans every message: scan.enabled with the test signature database of
# tests/scan/make-test-db.sh and the built-in attachment policy; Postfix still scans nothing).

set -uo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${AIRLOCK_BIN:-$SRC/build/bin}
TOOLS=$SRC/tests/bench/bench_tools.py
TESTBED=$SRC/contrib/testbed
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)

N=${BENCH_MESSAGES:-5000}
SESSIONS=${BENCH_SESSIONS:-20}
SIZE=${BENCH_SIZE:-10240}
LAT_N=${BENCH_LATENCY_MESSAGES:-200}
LAT_SESSIONS=5
IDLE_N=${BENCH_IDLE_CONNECTIONS:-1000}
TIMEOUT=${BENCH_TIMEOUT:-600}
STALL=${BENCH_STALL:-60}
WORK=${BENCH_DIR:-/var/tmp/airlock-bench}
SKIP=${BENCH_SKIP:-}
SCAN=${BENCH_SCAN:-0}

# Testbed addresses (DESIGN.md); nothing else is ever targeted.
MX_ADDR=198.51.100.25
MX_PORT=25
# The sink listens on the hub's inner address: airlock forwards only through the IPsec SA
# (edge.hubs), and Postfix's relayhost takes the same tunnel from the edge's inner address.
SINK_ADDR=192.0.2.2
EDGE_INNER=192.0.2.1
SINK_PORT=${BENCH_SINK_PORT:-2526}
MARKER=.airlock-bench

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

now() { echo "$EPOCHREALTIME"; }
# fsub A B: A - B with three decimals.
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }

# --- preconditions ----------------------------------------------------------------------

[[ $(id -u) -eq 0 ]] || die "must be run as root (network namespaces)"
for n in "$N" "$SESSIONS" "$SIZE" "$LAT_N" "$IDLE_N" "$TIMEOUT" "$STALL"; do
	[[ $n =~ ^[0-9]+$ ]] || die "BENCH_* values must be integers: '$n'"
done
((N >= 1 && N <= 1000000)) || die "BENCH_MESSAGES must be 1..1000000"
[[ $SCAN == 0 || $SCAN == 1 ]] || die "BENCH_SCAN must be 0 or 1"
((TIMEOUT >= 10 && TIMEOUT <= 3600)) || die "BENCH_TIMEOUT must be 10..3600"
[[ $WORK =~ ^/[A-Za-z0-9._/-]+$ && $WORK != *..* && ${#WORK} -le 60 ]] ||
	die "BENCH_DIR must be a short absolute path of [A-Za-z0-9._/-]"
[[ ${WORK%/} != "" && ${WORK%/} != / ]] || die "refusing BENCH_DIR=/"
for t in smtp-source smtp-sink postfix postconf ip ss timeout awk; do
	command -v "$t" >/dev/null || die "'$t' not found"
done
[[ -x $BIN/airlock-edge ]] || die "$BIN/airlock-edge not built (cmake --build build)"
[[ -x $PY ]] || die "python3 not found"

# 1000 idle connections need fds on both ends; children inherit this.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 20000 2>/dev/null || true

if [[ -e $WORK ]]; then
	[[ -e $WORK/$MARKER ]] || die "$WORK exists and was not made by this script"
	rm -rf "$WORK"
fi
mkdir -p "$WORK"
touch "$WORK/$MARKER"
chmod 755 "$WORK" # smtpd (user postfix) must traverse it to its queue directory

# BENCH_SCAN=1: the test signature database, generated here (nothing is downloaded).
if [[ $SCAN == 1 ]]; then
	sh "$SRC/tests/scan/make-test-db.sh" "$WORK/db" >"$WORK/make-test-db.log" 2>&1 ||
		die "BENCH_SCAN=1 needs the test signature database: $(cat "$WORK/make-test-db.log")"
	chmod -R a+rX "$WORK/db"
	SCAN_SIGS=$(cat "$WORK"/db/*.hdb "$WORK"/db/*.ndb | grep -c .)
fi

# --- teardown -------------------------------------------------------------------------------

BG_PIDS=()  # helpers and clients we started (kill by pid)
EDGE_PID=   # airlock-edge parent
SINK_PID=
PF_CONF=    # Postfix instance config dir while it runs
PF_MASTER=
TESTBED_MINE=0 # 1 once we know no other test is using the testbed: "down" is ours to do

stop_edge() {
	[[ -n $EDGE_PID ]] || return 0
	kill -TERM "$EDGE_PID" 2>/dev/null
	local i
	for i in $(seq 100); do
		kill -0 "$EDGE_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$EDGE_PID" 2>/dev/null; then
		log "airlock-edge $EDGE_PID did not stop in 10 s: SIGKILL"
		kill -KILL "$EDGE_PID" 2>/dev/null
	fi
	wait "$EDGE_PID" 2>/dev/null
	EDGE_PID=
}

pids_of_tree() { # pids_of_tree ROOT: ROOT and its descendants
	local root=$1 kid
	echo "$root"
	for kid in $(ps -o pid= --ppid "$root" 2>/dev/null); do
		pids_of_tree "$kid"
	done
}

stop_postfix() {
	[[ -n $PF_CONF ]] || return 0
	timeout 30 ip netns exec al-edge postfix -c "$PF_CONF" stop >/dev/null 2>&1
	local i
	for i in $(seq 100); do
		if [[ -z $PF_MASTER ]] || ! kill -0 "$PF_MASTER" 2>/dev/null; then break; fi
		sleep 0.1
	done
	if [[ -n $PF_MASTER ]] && kill -0 "$PF_MASTER" 2>/dev/null; then
		log "Postfix master $PF_MASTER did not stop: SIGKILL to its processes"
		local pids
		mapfile -t pids < <(pids_of_tree "$PF_MASTER")
		kill -KILL "${pids[@]}" 2>/dev/null
	fi
	PF_CONF=
	PF_MASTER=
}

# forget PID: drop a pid we have reaped from BG_PIDS, so that it is never signalled again.
forget() {
	local keep=() pid
	for pid in "${BG_PIDS[@]}"; do [[ $pid == "$1" ]] || keep+=("$pid"); done
	BG_PIDS=("${keep[@]}")
}

# stop_bg PID...: SIGTERM, 5 s grace, SIGKILL; only for our own background jobs.
stop_bg() {
	local pid i
	for pid in "$@"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "$@"; do
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		forget "$pid"
	done
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_edge
	stop_postfix
	((${#BG_PIDS[@]} == 0)) || stop_bg "${BG_PIDS[@]}"
	# Spools may hold undelivered copies of the test mail; logs stay for reading.
	rm -rf "$WORK/airlock/spool" "$WORK/airlock-idle/spool" "$WORK/postfix/spool"
	# BENCH_SCAN=1: the attestation keys generated for this run are of no further use.
	rm -rf "$WORK/airlock/state" "$WORK/airlock-idle/state"
	if [[ ${KEEP_TESTBED:-0} != 1 && $TESTBED_MINE == 1 ]]; then
		timeout 120 "$TESTBED" down >"$WORK/testbed-down.log" 2>&1 || log "testbed down failed (see $WORK/testbed-down.log)"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- shared pieces --------------------------------------------------------------------------

# wait_for SECONDS WHAT COMMAND...: poll every 0.1 s.
wait_for() {
	local secs=$1 what=$2
	shift 2
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			log "timed out after ${secs}s waiting for $what"
			return 1
		fi
		sleep 0.1
	done
}

listening() { # listening NS ADDR PORT
	ip netns exec "$1" ss -Hltn "src $2 and sport = :$3" | grep -q LISTEN
}

# The sink's message counter: "mesg=N" in the last update smtp-sink -c wrote.
sink_count() {
	tail -c 256 "$WORK/sink.out" 2>/dev/null | tr '\r' '\n' | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' |
		tail -n 1 | grep . || echo 0
}

# The last count sinkpoll logged (cheap enough to call ten times a second).
progress_count() { # progress_count FILE
	local c
	c=$(tail -n 1 "$1" 2>/dev/null | awk '{ print $2 }')
	echo "${c:-0}"
}

json_get() { # json_get FILE EXPR (python expression on d)
	"$PY" -c 'import json,sys
try:
    d = json.load(open(sys.argv[1]))
    v = eval(sys.argv[2])
except Exception:
    v = None
print("-" if v is None else v)' "$1" "$2"
}

vmrss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

start_sink() {
	# -c: counters on stdout (one update per ".", session end and QUIT); no -d: nothing stored.
	ip netns exec al-hub timeout $((TIMEOUT * 4 + 600)) \
		smtp-sink -c -u postfix "$SINK_ADDR:$SINK_PORT" 256 >"$WORK/sink.out" 2>"$WORK/sink.err" &
	SINK_PID=$!
	BG_PIDS+=("$SINK_PID")
	wait_for 10 "smtp-sink to listen" listening al-hub "$SINK_ADDR" "$SINK_PORT" ||
		die "smtp-sink did not start: $(cat "$WORK/sink.err")"
}

# Results, by run: R[airlock.wall] etc.
declare -A R

# run_load NAME: smtp-source (main load) + the latency probe from al-inet against the MX,
# then wait until the sink has everything that was accepted. Sets R[NAME.*].
run_load() {
	local name=$1 dir=$WORK/$1
	local base t0 t_src src_rc lat_rc lat_ok target t_end last_change last_count count
	base=$(sink_count)
	"$PY" "$TOOLS" sinkpoll "$WORK/sink.out" "$dir/sink-progress" --timeout $((TIMEOUT + STALL + 60)) &
	local poll_pid=$!
	BG_PIDS+=("$poll_pid")
	log "$name: smtp-source -s $SESSIONS -l $SIZE -m $N, latency probe $LAT_N messages in $LAT_SESSIONS sessions"
	t0=$(now)
	ip netns exec al-inet timeout "$TIMEOUT" smtp-source -s "$SESSIONS" -l "$SIZE" -m "$N" \
		-f s@example.org -t r@example.com "$MX_ADDR:$MX_PORT" \
		>"$dir/smtp-source.out" 2>"$dir/smtp-source.err" &
	local src_pid=$!
	ip netns exec al-inet timeout "$TIMEOUT" "$PY" "$TOOLS" latency "$MX_ADDR" "$MX_PORT" \
		"$dir/latency.txt" --sessions "$LAT_SESSIONS" --messages "$LAT_N" --size "$SIZE" \
		--timeout $((TIMEOUT - 5)) >"$dir/latency.json" 2>"$dir/latency.err" &
	local lat_pid=$!
	BG_PIDS+=("$src_pid" "$lat_pid")
	wait "$src_pid"
	src_rc=$?
	t_src=$(now)
	forget "$src_pid"
	wait "$lat_pid"
	lat_rc=$?
	forget "$lat_pid"
	lat_ok=$(json_get "$dir/latency.json" 'd["accepted"]')
	[[ $lat_ok =~ ^[0-9]+$ ]] || lat_ok=0
	log "$name: smtp-source exit $src_rc after $(fsub "$t_src" "$t0") s; probe exit $lat_rc, $lat_ok accepted"

	# Everything accepted must reach the sink: N from smtp-source (when it succeeded) plus
	# the probe's. Give up at the run's deadline, or when nothing moved for $STALL s.
	target=$((base + N + lat_ok))
	last_count=-1
	last_change=$SECONDS
	local elapsed=$((EPOCHSECONDS - ${t0%.*}))
	local deadline=$((SECONDS + TIMEOUT - elapsed))
	((deadline >= SECONDS + STALL)) || deadline=$((SECONDS + STALL))
	while :; do
		count=$(progress_count "$dir/sink-progress")
		((count >= target)) && break
		if ((count != last_count)); then
			last_count=$count
			last_change=$SECONDS
		fi
		if ((SECONDS - last_change >= STALL)); then
			log "$name: the sink stopped at $((count - base)) of $((target - base)) for ${STALL}s: giving up"
			break
		fi
		if ((SECONDS >= deadline)); then
			log "$name: run deadline (${TIMEOUT}s) reached at $((count - base)) of $((target - base))"
			break
		fi
		sleep 0.1
	done
	sleep 0.2 # let the poller log the last change
	stop_bg "$poll_pid"
	t_end=$("$PY" "$TOOLS" reached "$dir/sink-progress" "$target")

	R[$name.sink_got]=$((count - base))
	R[$name.sink_want]=$((target - base))
	R[$name.src_rc]=$src_rc
	R[$name.src_seconds]=$(fsub "$t_src" "$t0")
	R[$name.src_errors]=$(grep -c . "$dir/smtp-source.err")
	if [[ $t_end != none ]]; then
		R[$name.wall]=$(fsub "$t_end" "$t0")
		R[$name.rate]=$(awk -v n="$N" -v t="${R[$name.wall]}" 'BEGIN { printf "%.0f", n / t }')
	else
		R[$name.wall]="incomplete"
		R[$name.rate]="-"
	fi
	"$PY" "$TOOLS" latstats "$dir/latency.txt" "$t_src" >"$dir/latency-stats.json"
	R[$name.p50]=$(json_get "$dir/latency-stats.json" 'round(d["p50"], 1)')
	R[$name.p99]=$(json_get "$dir/latency-stats.json" 'round(d["p99"], 1)')
	R[$name.lat_samples]=$(json_get "$dir/latency-stats.json" '"%d of %d" % (d["samples"], d["all_samples"])')
	R[$name.lat_all]=$(json_get "$dir/latency-stats.json" '"p50 %.1f p99 %.1f ms over all %d" % (d["all_p50"], d["all_p99"], d["all_samples"])')
	R[$name.lat_accepted]=$lat_ok
	R[$name.lat_detail]=$(cat "$dir/latency.json" 2>/dev/null)
	log "$name: sink got ${R[$name.sink_got]} of ${R[$name.sink_want]}, wall ${R[$name.wall]} s"
}

start_rss() { # start_rss ROOTPID OUT
	"$PY" "$TOOLS" rss "$1" "$2" --interval 0.1 --timeout $((TIMEOUT + STALL + 120)) &
	RSS_PID=$!
	BG_PIDS+=("$RSS_PID")
}

stop_rss() {
	stop_bg "$RSS_PID"
}

# --- airlock ------------------------------------------------------------------------------

write_edge_conf() { # write_edge_conf DIR PER_CLIENT MAX_CONNECTIONS
	local dir=$1 state=
	# With scanning, the attestation key is generated in the work dir on first start.
	[[ $SCAN == 1 ]] && state=$'\n\t'"state_dir = \"$dir/state\";"
	cat >"$dir/airlock.conf" <<EOF
edge = {
	listen = ["$MX_ADDR:$MX_PORT"];
	hostname = "edge.example.com";
	relay_domains = ["example.com"];
	hubs = ( { address = "$SINK_ADDR:$SINK_PORT"; } );
	max_connections = $3;
	max_connections_per_client = $2;
	control_socket = "$dir/edge.sock";$state
};
queue = {
	directory = "$dir/spool";
	tls = "none";
	max_parallel = 20;
};
tunnel = {
	vici = "$EDGE_VICI";
	local_address = "$EDGE_INNER";
};
log = {
	level = "warning";
};
EOF
	# Scanning as the edge does it by default, on the test database: libclamav with
	# airlock.conf's default limits, the built-in attachment block list (reject), 4 threads.
	if [[ $SCAN == 1 ]]; then
		cat >>"$dir/airlock.conf" <<EOF
scan = {
	enabled = true;
	database_dir = "$WORK/db";
};
policy = {
	attachment_builtin_list = true;
	attachment_action = "reject";
};
EOF
	fi
}

# scan_ready DIR: the scan process answers status with its engine loaded.
scan_ready() {
	edge_status "$1" "$1/status-scan.json" &&
		[[ $(json_get "$1/status-scan.json" 'd["scan"]["signatures"]') =~ ^[1-9][0-9]*$ ]]
}

start_edge() { # start_edge DIR
	local dir=$1
	"$BIN/airlock-edge" -n -c "$dir/airlock.conf" >"$dir/edge.log" 2>&1 ||
		die "airlock-edge rejected its configuration: $(cat "$dir/edge.log")"
	ip netns exec al-edge "$BIN/airlock-edge" -c "$dir/airlock.conf" >>"$dir/edge.log" 2>&1 &
	EDGE_PID=$!
	wait_for 10 "airlock-edge's control socket" test -S "$dir/edge.sock" ||
		die "airlock-edge did not start: $(tail -5 "$dir/edge.log")"
	wait_for 10 "airlock-edge to listen" listening al-edge "$MX_ADDR" "$MX_PORT" ||
		die "airlock-edge is not listening"
	if [[ $SCAN == 1 ]]; then
		wait_for 60 "the scan process to load its database" scan_ready "$dir" ||
			die "the scan process did not come up: $(tail -5 "$dir/edge.log")"
	fi
}

edge_status() { # edge_status DIR OUT
	"$PY" "$TOOLS" status "$1/edge.sock" >"$2"
}

run_airlock() {
	local dir=$WORK/airlock
	mkdir -p "$dir"
	write_edge_conf "$dir" 100 1000
	start_edge "$dir"
	start_rss "$EDGE_PID" "$dir/rss.json"
	run_load airlock
	stop_rss
	edge_status "$dir" "$dir/status.json"
	kill -0 "$EDGE_PID" 2>/dev/null || log "airlock: the edge parent is gone"
	if [[ ${R[airlock.wall]} == incomplete ]]; then
		"$PY" "$TOOLS" status "$dir/edge.sock" queue >"$dir/queue.json"
		log "airlock: still queued: $(json_get "$dir/queue.json" '"; ".join("%s attempts=%s active=%s age=%ss reason=%s" % (m["id"], m["attempts"], m["active"], m["age_s"], m["reason"]) for m in d["messages"][:5])')"
	fi
	R[airlock.rss]=$(json_get "$dir/rss.json" 'round(d["rss_kib"] / 1024, 1)')
	R[airlock.pss]=$(json_get "$dir/rss.json" 'round(d["pss_kib"] / 1024, 1)')
	R[airlock.procs]=$(json_get "$dir/rss.json" 'd["procs"]')
	R[airlock.detail]=$(json_get "$dir/status.json" '"accepted=%s tempfailed=%s rejected=%s refused_by_cap=%s protocol_errors=%s queue_write_errors=%s commits=%s commit_batches=%s delivered=%s queued=%s deferred=%s held=%s restarts=%s" % (d["smtp"]["messages_accepted"], d["smtp"]["messages_tempfailed"], d["smtp"]["messages_rejected"], d["smtp"]["refused_by_cap"], d["smtp"]["protocol_errors"], d["smtp"]["queue_write_errors"], d["smtp"]["commits"], d["smtp"]["commit_batches"], d["queue"]["delivered"], d["queue"]["queued"], d["queue"]["deferred"], d["queue"]["held_since_start"], sum(p["restarts"] for p in d["processes"]))')
	if [[ $SCAN == 1 ]]; then
		R[airlock.scan]=$(json_get "$dir/status.json" '"scans=%s clean=%s infected=%s rejected=%s limits=%s errors=%s signatures=%s engine=%s" % (d["scan"]["scans"], d["scan"]["clean"], d["scan"]["infected"], d["scan"]["rejected"], d["scan"]["limits"], d["scan"]["errors"], d["scan"]["signatures"], d["scan"]["engine_version"])')
	fi
	R[airlock.log_lines]=$(grep -c . "$dir/edge.log")
	R[airlock.accepted]=$(json_get "$dir/status.json" 'd["smtp"]["messages_accepted"]')
	stop_edge
}

run_airlock_idle() {
	local dir=$WORK/airlock-idle smtp_pid before after stats
	mkdir -p "$dir/idle" "$dir/warm"
	write_edge_conf "$dir" $((IDLE_N + 100)) $((IDLE_N + 100))
	start_edge "$dir"
	edge_status "$dir" "$dir/status-start.json"
	smtp_pid=$(json_get "$dir/status-start.json" '[p["pid"] for p in d["processes"] if p["name"] == "smtp"][0]')
	if ! [[ $smtp_pid =~ ^[0-9]+$ ]]; then
		log "idle: cannot find the smtp process in the status reply"
		stop_edge
		return
	fi
	# Warm-up: a few sessions first, so that one-time allocations are not charged per connection.
	ip netns exec al-inet timeout 60 "$PY" "$TOOLS" idle "$MX_ADDR" "$MX_PORT" "$dir/warm" \
		--count 10 --hold 0 >"$dir/warm.json" 2>&1
	sleep 1
	before=$(vmrss_kib "$smtp_pid")
	log "idle: smtp process $smtp_pid VmRSS ${before} KiB; opening $IDLE_N connections"
	ip netns exec al-inet timeout 300 "$PY" "$TOOLS" idle "$MX_ADDR" "$MX_PORT" "$dir/idle" \
		--count "$IDLE_N" --hold 120 >"$dir/idle.json" 2>"$dir/idle.err" &
	local idle_pid=$!
	BG_PIDS+=("$idle_pid")
	if wait_for 180 "$IDLE_N connections" test -e "$dir/idle/ready"; then
		sleep 1
		after=$(vmrss_kib "$smtp_pid")
		edge_status "$dir" "$dir/status-idle.json"
		stats=$(cat "$dir/idle/ready")
		R[idle.open]=$(json_get "$dir/idle/ready" 'd["ehlo_ok"]')
		R[idle.now]=$(json_get "$dir/status-idle.json" 'd["smtp"]["connections_now"]')
		R[idle.before]=$before
		R[idle.after]=$after
		if [[ ${R[idle.open]} =~ ^[1-9][0-9]*$ ]]; then
			R[idle.kib]=$(awk -v a="$after" -v b="$before" -v n="${R[idle.open]}" \
				'BEGIN { printf "%.1f", (a - b) / n }')
		fi
		log "idle: VmRSS ${after} KiB with ${R[idle.open]} connections (${R[idle.now]} per the edge); $stats"
	fi
	touch "$dir/idle/stop"
	wait "$idle_pid"
	forget "$idle_pid"
	R[idle.detail]=$(cat "$dir/idle.json" 2>/dev/null)
	stop_edge
}

# --- Postfix ----------------------------------------------------------------------------------

run_postfix() {
	local dir=$WORK/postfix conf
	conf=$dir/conf
	mkdir -p "$conf" "$dir/spool" "$dir/data"
	chown postfix "$dir/data"
	local master_src=/etc/postfix/master.cf
	[[ -f $master_src ]] || master_src=/etc/postfix/master.cf.proto
	# chroot "n" for every service: the instance lives in a scratch queue directory.
	awk 'BEGIN { OFS = "  " } /^[a-z]/ && NF >= 8 { $5 = "n" } { print }' "$master_src" >"$conf/master.cf"
	grep -q '^postlog' "$conf/master.cf" ||
		echo 'postlog   unix-dgram n  -       n       -       1       postlogd' >>"$conf/master.cf"
	cat >"$conf/main.cf" <<EOF
# Written by tests/bench/edge_vs_postfix.sh: an inbound relay like the airlock edge.
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
mail_owner = postfix
myhostname = edge.example.com
mydomain = example.com
myorigin = \$myhostname
inet_interfaces = $MX_ADDR
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
# With one inet_interfaces address the client would use it as its source, 198.51.100.25,
# which the SA does not cover: leave from the edge's inner address like airlock does.
smtp_bind_address = $EDGE_INNER
relay_domains = example.com
relayhost = [$SINK_ADDR]:$SINK_PORT
smtpd_relay_restrictions = permit_auth_destination, reject
smtpd_recipient_restrictions = permit_auth_destination, reject
# airlock does no reverse DNS either; there is no resolver in the testbed.
smtpd_peername_lookup = no
# No local delivery.
local_transport = error:local delivery is disabled
local_recipient_maps =
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
smtpd_tls_security_level = none
smtp_tls_security_level = none
# As many processes as the load needs; 20 deliveries at once, like queue.max_parallel.
default_process_limit = 150
smtpd_client_connection_count_limit = 100
default_destination_concurrency_limit = 20
relay_destination_concurrency_limit = 20
# No syslog here: Postfix's own log file.
maillog_file = $dir/maillog
maillog_file_prefixes = $WORK
EOF
	# inet_interfaces exists only in al-edge. Errors before logging starts go to /dev/log only.
	if ! timeout 60 ip netns exec al-edge postfix -c "$conf" check >"$dir/start.log" 2>&1; then
		log "postfix check failed (no detail: Postfix reports early errors to syslog only) $(cat "$dir/start.log")"
		return 1
	fi
	PF_CONF=$conf
	if ! timeout 60 ip netns exec al-edge postfix -c "$conf" start >>"$dir/start.log" 2>&1; then
		log "postfix start failed: $(cat "$dir/start.log") $(tail -5 "$dir/maillog" 2>/dev/null)"
		return 1
	fi
	wait_for 15 "Postfix to listen" listening al-edge "$MX_ADDR" "$MX_PORT" || return 1
	PF_MASTER=$("$PY" "$TOOLS" pid "$dir/spool/pid/master.pid")
	[[ $PF_MASTER =~ ^[1-9][0-9]*$ ]] || {
		log "no Postfix master pid"
		PF_MASTER=
		return 1
	}
	start_rss "$PF_MASTER" "$dir/rss.json"
	run_load postfix
	# The queue must be empty once the sink has everything; record what it holds.
	R[postfix.queue_left]=$(find "$dir/spool/incoming" "$dir/spool/active" "$dir/spool/deferred" \
		"$dir/spool/maildrop" "$dir/spool/hold" -type f 2>/dev/null | wc -l)
	stop_rss
	R[postfix.rss]=$(json_get "$dir/rss.json" 'round(d["rss_kib"] / 1024, 1)')
	R[postfix.pss]=$(json_get "$dir/rss.json" 'round(d["pss_kib"] / 1024, 1)')
	R[postfix.procs]=$(json_get "$dir/rss.json" 'd["procs"]')
	stop_postfix
	local ml=$dir/maillog
	R[postfix.accepted]=$(grep -c 'postfix/smtpd.*: client=' "$ml")
	R[postfix.detail]="queued=$(grep -c ': client=' "$ml") sent=$(grep -c 'status=sent' "$ml") deferred=$(grep -c 'status=deferred' "$ml") bounced=$(grep -c 'status=bounced' "$ml") rejects=$(grep -c 'NOQUEUE: reject' "$ml") warnings=$(grep -c 'warning:' "$ml") queue_files_left=${R[postfix.queue_left]}"
}

# --- main ----------------------------------------------------------------------------------

T_START=$SECONDS
log "testbed up"
timeout 300 "$TESTBED" up >"$WORK/testbed-up.log" 2>&1 || die "testbed up failed: $(tail -5 "$WORK/testbed-up.log")"
EDGE_VICI=$("$TESTBED" env | sed -n 's/^AIRLOCK_EDGE_VICI=//p')
# The testbed is shared: a scenario test may be using the MX or the sink port right now, or
# be between two of its steps (and send its mail to our relay a moment later).
others_running() { pgrep -f 'tests/scenario/' >/dev/null; }
testbed_free() {
	! others_running && ! listening al-edge "$MX_ADDR" "$MX_PORT" &&
		! listening al-hub "$SINK_ADDR" "$SINK_PORT"
}
if ! testbed_free; then
	log "the testbed is in use (a scenario test runs, or $MX_ADDR:$MX_PORT or $SINK_ADDR:$SINK_PORT is taken); waiting up to ${BENCH_BUSY_WAIT:-300}s"
	busy_deadline=$((SECONDS + ${BENCH_BUSY_WAIT:-300}))
	until testbed_free; do
		((SECONDS < busy_deadline)) || break
		sleep 2
	done
	testbed_free ||
		die "the testbed stays busy: $(ip netns exec al-edge ss -Hltnp "sport = :$MX_PORT") $(ip netns exec al-hub ss -Hltnp "sport = :$SINK_PORT")"
	timeout 300 "$TESTBED" up >>"$WORK/testbed-up.log" 2>&1 || die "testbed up failed"
fi
TESTBED_MINE=1
start_sink

# A scenario test started while we measure shares the MX and the CPUs: say so in the report.
note_others() {
	if others_running; then
		R[$1.others]=yes
		log "$1: a scenario test was running on the testbed during this run: its numbers are not clean"
	fi
}
if [[ ,$SKIP, != *,airlock,* ]]; then
	run_airlock
	note_others airlock
fi
if [[ ,$SKIP, != *,idle,* ]]; then
	run_airlock_idle
	note_others idle
fi
if [[ ,$SKIP, != *,postfix,* ]]; then
	run_postfix
	note_others postfix
fi

# --- report --------------------------------------------------------------------------------

v() { echo "${R[$1]:--}"; }
row() { printf '%-22s%-14s%-14s\n' "$1" "$2" "$3"; }
airlock_version=$(sed -n 's/^project(airlock VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$(dirname "$BIN")/CMakeCache.txt" 2>/dev/null)

echo
if [[ $SCAN == 1 ]]; then
	echo "scanning: airlock scan.enabled = true (libclamav, test database of ${SCAN_SIGS:-?} signatures, attachment policy on); postfix: no scanning"
fi
row "" airlock postfix
row messages "$N" "$N"
row "wall seconds" "$(v airlock.wall)" "$(v postfix.wall)"
row "messages/s" "$(v airlock.rate)" "$(v postfix.rate)"
row "eod->250 p50 ms" "$(v airlock.p50)" "$(v postfix.p50)"
row "eod->250 p99 ms" "$(v airlock.p99)" "$(v postfix.p99)"
row "peak RSS MiB" "$(v airlock.rss)" "$(v postfix.rss)"
row "idle conn KiB/conn" "$(v idle.kib)" "-"
echo
row "peak PSS MiB" "$(v airlock.pss)" "$(v postfix.pss)"
row "processes (peak)" "$(v airlock.procs)" "$(v postfix.procs)"
row "smtp-source seconds" "$(v airlock.src_seconds)" "$(v postfix.src_seconds)"
row "smtp-source exit" "$(v airlock.src_rc)" "$(v postfix.src_rc)"
row "smtp-source errors" "$(v airlock.src_errors)" "$(v postfix.src_errors)"
row "probe under load" "$(v airlock.lat_samples)" "$(v postfix.lat_samples)"
row "relay accepted" "$(v airlock.accepted)/$(v airlock.sink_want)" "$(v postfix.accepted)/$(v postfix.sink_want)"
row "sink received" "$(v airlock.sink_got)/$(v airlock.sink_want)" "$(v postfix.sink_got)/$(v postfix.sink_want)"
echo
echo "airlock: $(v airlock.detail); log lines at level warning: $(v airlock.log_lines)"
if [[ $SCAN == 1 ]]; then echo "scan:    $(v airlock.scan)"; fi
echo "postfix: $(v postfix.detail)"
echo "probe:   airlock $(v airlock.lat_detail); $(v airlock.lat_all)"
echo "         postfix $(v postfix.lat_detail); $(v postfix.lat_all)"
echo "idle:    $(v idle.open) connections open (edge counted $(v idle.now)), smtp VmRSS $(v idle.before) -> $(v idle.after) KiB; client $(v idle.detail)"
echo
echo "versions: airlock $airlock_version (${build_type:-unknown build type}, $BIN/airlock-edge)," \
	"Postfix $(postconf -h -d mail_version 2>/dev/null) (smtp-source/smtp-sink from the same)," \
	"Linux $(uname -r), $(nproc) CPUs, python $("$PY" -c 'import platform; print(platform.python_version())')"
echo "load: smtp-source -s $SESSIONS -l $SIZE -m $N from al-inet (one connection per message)," \
	"plus $LAT_N probe messages in $LAT_SESSIONS sessions; next hop smtp-sink $SINK_ADDR:$SINK_PORT (stores nothing)"
echo "durability: both answer 250 only after the message is on disk: airlock fdatasyncs each" \
	"spool file, renames it into queue/ and fsyncs that directory (group commit) before the 250;" \
	"Postfix's cleanup fsyncs the queue file before smtpd's 250 (default). Spools on" \
	"$(df -P "$WORK" | awk 'NR == 2 { print $1 }') ($(stat -f -c %T "$WORK")), under $WORK."
for run in airlock idle postfix; do
	if [[ ${R[$run.others]:-} == yes ]]; then
		echo "WARNING: a scenario test ran on the testbed during the $run run; do not trust its numbers"
	fi
done
for run in airlock postfix; do
	if [[ -n ${R[$run.accepted]:-} && ${R[$run.accepted]} != "${R[$run.sink_want]:-}" ]]; then
		echo "WARNING: $run accepted ${R[$run.accepted]} messages but ${R[$run.sink_want]:-?} were sent: another client used the MX during the run, or the relay lost or duplicated some"
	fi
done
echo "logs: $WORK; the bench took $((SECONDS - T_START)) s"
