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
# to leave out), BENCH_POSTFIX_FIRST=1 (Postfix's runs before airlock's, to see whether the
# order favours one), BENCH_SETTLE (35: seconds between one relay's run and the next's),
# KEEP_TESTBED=1 (leave the testbed up), AIRLOCK_BIN (build/bin),
# BENCH_SCAN=1 (airlock scans every message: scan.enabled with the test signature database of
# tests/scan/make-test-db.sh and the built-in attachment policy; Postfix still scans nothing).
#
# BENCH_HUB=1 (implies BENCH_SCAN=1): the tunnel-only path. airlock-hub in al-hub on
# 192.0.2.2:25 proxies to an smtp-sink on 127.0.0.1:10025 (the internal MTA), trusting the
# edge's attestation key; the edge forwards to the hub through the SA. Also measured, in the
# same run: the tunnel's raw TCP throughput al-edge 192.0.2.1 -> al-hub 192.0.2.2
# (tcp_throughput.py, BENCH_RAW_MB, 200, before the relays and again after them), and
# BENCH_BIG_MESSAGES (50) messages of 1 MiB through both relays, as MB/s against that ceiling.
# BENCH_TESTBED: the testbed script (contrib/testbed).

set -uo pipefail

# The testbed lock (tests/scenario/lib.bash) for the whole run: no scenario test
# can use the testbed meanwhile. flock -o: the daemons started below do not inherit it.
# BENCH_LOCK_HELD=1: the caller already holds it.
if [[ ${BENCH_LOCK_HELD:-0} != 1 ]]; then
	exec env BENCH_LOCK_HELD=1 flock -o -w "${BENCH_LOCK_WAIT:-900}" \
		/var/tmp/airlock-testbed.lock "${BASH_SOURCE[0]}" "$@"
fi

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${AIRLOCK_BIN:-$SRC/build/bin}
TOOLS=$SRC/tests/bench/bench_tools.py
# BENCH_TESTBED: another copy of contrib/testbed (e.g. one whose charons load other crypto
# plugins), to see what the tunnel costs; the same namespaces and addresses.
TESTBED=${BENCH_TESTBED:-$SRC/contrib/testbed}
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
HUB=${BENCH_HUB:-0}
BIG_N=${BENCH_BIG_MESSAGES:-50}
POSTFIX_FIRST=${BENCH_POSTFIX_FIRST:-0}
SETTLE=${BENCH_SETTLE:-35}
BIG_SIZE=1048576
RAW_MB=${BENCH_RAW_MB:-200}
# libclamav writes the decoded parts of every message it scans to temporary files. Empty
# BENCH_SCAN_TMPDIR (the default): airlock's default, a tmpfs private to the scan process
# (scan.temp_dir unset); "disk": scan.temp_dir = a directory of the work dir, on disk.
SCAN_TMP=
SCAN_TMP_SEEN=

# Testbed addresses (DESIGN.md); nothing else is ever targeted.
MX_ADDR=198.51.100.25
MX_PORT=25
# The sink listens on the hub's inner address: airlock forwards only through the IPsec SA
# (edge.hubs), and Postfix's relayhost takes the same tunnel from the edge's inner address.
SINK_ADDR=192.0.2.2
EDGE_INNER=192.0.2.1
SINK_PORT=${BENCH_SINK_PORT:-2526}
# BENCH_HUB=1: airlock-hub on the hub's inner address, the internal MTA behind it, and the
# raw throughput listener (all in al-hub).
HUB_ADDR=192.0.2.2
HUB_PORT=25
MTA_ADDR=127.0.0.1
MTA_PORT=10025
RAW_PORT=5201
MARKER=.airlock-bench

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

now() { echo "$EPOCHREALTIME"; }
# fsub A B: A - B with three decimals.
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
# isub A B: A - B for two counts, "-" unless both are integers.
isub() { if [[ $1 =~ ^[0-9]+$ && $2 =~ ^[0-9]+$ ]]; then echo $(($1 - $2)); else echo -; fi; }

# --- preconditions ----------------------------------------------------------------------

[[ $(id -u) -eq 0 ]] || die "must be run as root (network namespaces)"
for n in "$N" "$SESSIONS" "$SIZE" "$LAT_N" "$IDLE_N" "$TIMEOUT" "$STALL"; do
	[[ $n =~ ^[0-9]+$ ]] || die "BENCH_* values must be integers: '$n'"
done
((N >= 1 && N <= 1000000)) || die "BENCH_MESSAGES must be 1..1000000"
[[ $SCAN == 0 || $SCAN == 1 ]] || die "BENCH_SCAN must be 0 or 1"
[[ $HUB == 0 || $HUB == 1 ]] || die "BENCH_HUB must be 0 or 1"
[[ $BIG_N =~ ^[0-9]+$ ]] && ((BIG_N >= 1 && BIG_N <= 1000)) || die "BENCH_BIG_MESSAGES must be 1..1000"
[[ $SETTLE =~ ^[0-9]+$ ]] && ((SETTLE <= 600)) || die "BENCH_SETTLE must be 0..600"
[[ $POSTFIX_FIRST == 0 || $POSTFIX_FIRST == 1 ]] || die "BENCH_POSTFIX_FIRST must be 0 or 1"
[[ $RAW_MB =~ ^[0-9]+$ ]] && ((RAW_MB >= 1 && RAW_MB <= 2000)) || die "BENCH_RAW_MB must be 1..2000"
# The hub refuses mail without the edge's signed scan stamp: the hub path needs scanning.
if [[ $HUB == 1 && $SCAN != 1 ]]; then
	log "BENCH_HUB=1: scanning on (the hub accepts only attested mail)"
	SCAN=1
fi
((TIMEOUT >= 10 && TIMEOUT <= 3600)) || die "BENCH_TIMEOUT must be 10..3600"
[[ $WORK =~ ^/[A-Za-z0-9._/-]+$ && $WORK != *..* && ${#WORK} -le 60 ]] ||
	die "BENCH_DIR must be a short absolute path of [A-Za-z0-9._/-]"
[[ ${WORK%/} != "" && ${WORK%/} != / ]] || die "refusing BENCH_DIR=/"
for t in smtp-source smtp-sink postfix postconf ip ss timeout awk; do
	command -v "$t" >/dev/null || die "'$t' not found"
done
[[ -x $BIN/airlock-edge ]] || die "$BIN/airlock-edge not built (cmake --build build)"
[[ $HUB == 0 || -x $BIN/airlock-hub ]] || die "$BIN/airlock-hub not built (cmake --build build)"
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
HUB_PID=    # airlock-hub parent (BENCH_HUB=1)
SINK_PID=
PF_CONF=    # Postfix instance config dir while it runs
PF_MASTER=
TESTBED_MINE=0 # 1 once we know no other test is using the testbed: "down" is ours to do

# stop_daemon NAME PID: SIGTERM, 10 s grace, SIGKILL.
stop_daemon() {
	local name=$1 pid=$2 i
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "$name $pid did not stop in 10 s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
}

stop_edge() {
	[[ -n $EDGE_PID ]] || return 0
	stop_daemon airlock-edge "$EDGE_PID"
	EDGE_PID=
}

stop_hub() {
	[[ -n $HUB_PID ]] || return 0
	stop_daemon airlock-hub "$HUB_PID"
	HUB_PID=
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
	stop_hub
	stop_postfix
	((${#BG_PIDS[@]} == 0)) || stop_bg "${BG_PIDS[@]}"
	# Spools may hold undelivered copies of the test mail; logs stay for reading.
	rm -rf "$WORK/airlock/spool" "$WORK/airlock-idle/spool" "$WORK/postfix/spool"
	# BENCH_SCAN=1: the attestation keys generated for this run are of no further use.
	rm -rf "$WORK/airlock/state" "$WORK/airlock-idle/state"
	[[ -n $SCAN_TMP ]] && rm -rf "$SCAN_TMP"
	if [[ ${KEEP_TESTBED:-0} != 1 && $TESTBED_MINE == 1 ]]; then
		timeout 120 "$TESTBED" down >"$WORK/testbed-down.log" 2>&1 || log "testbed down failed (see $WORK/testbed-down.log)"
	fi
	exit "$rc"
}
trap cleanup EXIT
case ${BENCH_SCAN_TMPDIR:-} in
'') ;;
disk) SCAN_TMP=$WORK/scan-tmp && mkdir -p "$SCAN_TMP" && chmod 1777 "$SCAN_TMP" ;;
*) die "BENCH_SCAN_TMPDIR: \"disk\" or empty" ;;
esac
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

# The sink's message counter: "mesg=N" in the last update smtp-sink -c wrote to FILE.
sink_count() { # sink_count FILE
	tail -c 256 "$1" 2>/dev/null | tr '\r' '\n' | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' |
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

# tun_packets: packets through the edge's TUN device in both directions (each one ESP packet
# that charon encrypted or decrypted, in user space with kernel-libipsec), "-" without one.
tun_packets() {
	ip netns exec al-edge cat "/sys/class/net/$TB_TUN/statistics/rx_packets" \
		"/sys/class/net/$TB_TUN/statistics/tx_packets" 2>/dev/null |
		awk '{ n += $1 } END { if (NR == 2) print n; else print "-" }'
}

vmrss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

start_sink() { # start_sink ADDR PORT NAME: smtp-sink in al-hub, counters in WORK/NAME.out
	# -c: counters on stdout (one update per ".", session end and QUIT); no -d: nothing stored.
	ip netns exec al-hub timeout $((TIMEOUT * 8 + 900)) \
		smtp-sink -c -u postfix "$1:$2" 256 >"$WORK/$3.out" 2>"$WORK/$3.err" &
	SINK_PID=$!
	BG_PIDS+=("$SINK_PID")
	wait_for 10 "smtp-sink to listen on $1:$2" listening al-hub "$1" "$2" ||
		die "smtp-sink did not start: $(cat "$WORK/$3.err")"
}

# Results, by run: R[airlock.wall] etc.
declare -A R

# run_load NAME SINKOUT [N SIZE PROBE_N]: smtp-source (main load: N messages of SIZE octets,
# default BENCH_MESSAGES and BENCH_SIZE) + the latency probe (PROBE_N messages, default
# BENCH_LATENCY_MESSAGES; 0: none) from al-inet against the MX, then wait until the sink whose
# counters go to SINKOUT has everything that was accepted. Sets R[NAME.*].
# start_cpu OUT TIMEOUT: the CPU sampler (bench_tools.py cpu) in the background, its pid in
# CPU_PID; returns once it has taken its baseline (5 s at most), so that the load it measures
# starts after that.
start_cpu() {
	rm -f "$1.ready"
	"$PY" "$TOOLS" cpu "$1" --ready "$1.ready" --timeout "$2" &
	CPU_PID=$!
	BG_PIDS+=("$CPU_PID")
	local i
	for ((i = 0; i < 50; i++)); do
		[[ -e $1.ready ]] && return 0
		sleep 0.1
	done
	log "the CPU sampler took no baseline within 5 s: its numbers miss the start"
}

run_load() {
	local name=$1 dir=$WORK/$1 sinkout=$2 n=${3:-$N} size=${4:-$SIZE} probe_n=${5:-$LAT_N}
	local base t0 t_src src_rc lat_rc=0 lat_ok=0 target t_end last_change last_count count
	mkdir -p "$dir"
	base=$(sink_count "$sinkout")
	"$PY" "$TOOLS" sinkpoll "$sinkout" "$dir/sink-progress" --timeout $((TIMEOUT + STALL + 60)) &
	local poll_pid=$!
	BG_PIDS+=("$poll_pid")
	log "$name: smtp-source -s $SESSIONS -l $size -m $n, latency probe $probe_n messages in $LAT_SESSIONS sessions"
	# The CPU time of the whole machine and of every thread, until the sink has it all.
	start_cpu "$dir/cpu.json" $((TIMEOUT + STALL + 60))
	local pkts0
	pkts0=$(tun_packets)
	t0=$(now)
	ip netns exec al-inet timeout "$TIMEOUT" smtp-source -s "$SESSIONS" -l "$size" -m "$n" \
		-f s@example.org -t r@example.com "$MX_ADDR:$MX_PORT" \
		>"$dir/smtp-source.out" 2>"$dir/smtp-source.err" &
	local src_pid=$! lat_pid=
	BG_PIDS+=("$src_pid")
	if ((probe_n > 0)); then
		ip netns exec al-inet timeout "$TIMEOUT" "$PY" "$TOOLS" latency "$MX_ADDR" "$MX_PORT" \
			"$dir/latency.txt" --sessions "$LAT_SESSIONS" --messages "$probe_n" --size "$size" \
			--timeout $((TIMEOUT - 5)) >"$dir/latency.json" 2>"$dir/latency.err" &
		lat_pid=$!
		BG_PIDS+=("$lat_pid")
	fi
	wait "$src_pid"
	src_rc=$?
	t_src=$(now)
	forget "$src_pid"
	if [[ -n $lat_pid ]]; then
		wait "$lat_pid"
		lat_rc=$?
		forget "$lat_pid"
		lat_ok=$(json_get "$dir/latency.json" 'd["accepted"]')
		[[ $lat_ok =~ ^[0-9]+$ ]] || lat_ok=0
	fi
	log "$name: smtp-source exit $src_rc after $(fsub "$t_src" "$t0") s; probe exit $lat_rc, $lat_ok accepted"

	# Everything accepted must reach the sink: N from smtp-source (when it succeeded) plus
	# the probe's. Give up at the run's deadline, or when nothing moved for $STALL s.
	target=$((base + n + lat_ok))
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
	stop_bg "$CPU_PID"
	R[$name.tun_pkts]=$(isub "$(tun_packets)" "$pkts0")
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
		R[$name.rate]=$(awk -v n="$n" -v t="${R[$name.wall]}" 'BEGIN { printf "%.0f", n / t }')
		# Message bodies (smtp-source -l) in MB (10^6 octets) per second, end to end.
		R[$name.mbps]=$(awk -v n="$n" -v s="$size" -v t="${R[$name.wall]}" 'BEGIN { printf "%.1f", n * s / t / 1e6 }')
	else
		R[$name.wall]="incomplete"
		R[$name.rate]="-"
	fi
	R[$name.n]=$n
	R[$name.pkts_msg]=$(awk -v p="${R[$name.tun_pkts]}" -v n="${R[$name.sink_got]}" \
		'BEGIN { if (p ~ /^[0-9]+$/ && n > 0) printf "%.1f", p / n; else print "-" }')
	R[$name.cpu]=$("$PY" "$TOOLS" cpusum "$dir/cpu.json" "${R[$name.sink_got]}")
	R[$name.cpu_ms]=$(json_get "$dir/cpu.json" '"%.2f" % (d["busy_ms"] / max('"${R[$name.sink_got]}"', 1))')
	R[$name.cpu_busy]=$(json_get "$dir/cpu.json" '"%.0f%% (%.0f%%)" % (d["busy_pct"], d["steal_pct"])')
	((probe_n > 0)) || return 0
	"$PY" "$TOOLS" latstats "$dir/latency.txt" "$t_src" >"$dir/latency-stats.json"
	R[$name.p50]=$(json_get "$dir/latency-stats.json" 'round(d["p50"], 1)')
	R[$name.p99]=$(json_get "$dir/latency-stats.json" 'round(d["p99"], 1)')
	R[$name.lat_samples]=$(json_get "$dir/latency-stats.json" '"%d of %d" % (d["samples"], d["all_samples"])')
	R[$name.lat_all]=$(json_get "$dir/latency-stats.json" '"p50 %.1f p99 %.1f ms over all %d" % (d["all_p50"], d["all_p99"], d["all_samples"])')
	R[$name.lat_accepted]=$lat_ok
	R[$name.lat_detail]=$(cat "$dir/latency.json" 2>/dev/null)
	log "$name: sink got ${R[$name.sink_got]} of ${R[$name.sink_want]}, wall ${R[$name.wall]} s"
}

RSS_PIDS=()
start_rss() { # start_rss ROOTPID OUT (several samplers may run; stop_rss stops them all)
	"$PY" "$TOOLS" rss "$1" "$2" --interval 0.1 --timeout $((TIMEOUT + STALL + 120)) &
	RSS_PIDS+=($!)
	BG_PIDS+=($!)
}

stop_rss() {
	((${#RSS_PIDS[@]} == 0)) || stop_bg "${RSS_PIDS[@]}"
	RSS_PIDS=()
}

rss_of() { # rss_of NAME RSSJSON: R[NAME.rss/pss/procs]
	R[$1.rss]=$(json_get "$2" 'round(d["rss_kib"] / 1024, 1)')
	R[$1.pss]=$(json_get "$2" 'round(d["pss_kib"] / 1024, 1)')
	R[$1.procs]=$(json_get "$2" 'd["procs"]')
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
	hubs = ( { address = "$EDGE_HUB"; } );
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
	# airlock.conf's default limits, the built-in attachment block list (reject), one
	# scanning thread per CPU.
	if [[ $SCAN == 1 ]]; then
		local temp_line=
		[[ -n $SCAN_TMP ]] && temp_line=$'\n\t'"temp_dir = \"$SCAN_TMP\";"
		[[ -n ${BENCH_SCAN_THREADS:-} ]] && temp_line+=$'\n\t'"threads = $BENCH_SCAN_THREADS;"
		cat >>"$dir/airlock.conf" <<EOF
scan = {
	enabled = true;
	database_dir = "$WORK/db";$temp_line
};
policy = {
	attachment_builtin_list = true;
	attachment_action = "reject";
};
EOF
	else
		echo 'scan = { enabled = false; };' >>"$dir/airlock.conf"
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
	ip netns exec al-edge "$BIN/airlock-edge" \
		-c "$dir/airlock.conf" >>"$dir/edge.log" 2>&1 &
	EDGE_PID=$!
	wait_for 10 "airlock-edge's control socket" test -S "$dir/edge.sock" ||
		die "airlock-edge did not start: $(tail -5 "$dir/edge.log")"
	wait_for 10 "airlock-edge to listen" listening al-edge "$MX_ADDR" "$MX_PORT" ||
		die "airlock-edge is not listening"
	if [[ $SCAN == 1 ]]; then
		wait_for 60 "the scan process to load its database" scan_ready "$dir" ||
			die "the scan process did not come up: $(tail -5 "$dir/edge.log")"
		# where libclamav writes: the scan process's own tmpfs, or scan.temp_dir
		local c
		SCAN_TMP_SEEN="scan.temp_dir = $SCAN_TMP ($(stat -f -c %T "${SCAN_TMP:-/}"))"
		for c in $(ps -o pid= --ppid "$EDGE_PID"); do
			grep -q " $dir/state/scan-tmp .* - tmpfs " "/proc/$c/mountinfo" 2>/dev/null &&
				SCAN_TMP_SEEN="a tmpfs private to the scan process"
		done
	fi
}

edge_status() { # edge_status DIR OUT
	"$PY" "$TOOLS" status "$1/edge.sock" >"$2"
}

# --- airlock-hub (BENCH_HUB=1) ---------------------------------------------------------------

# start_hub DIR KEYFILE: airlock-hub in al-hub on the hub's inner address, trusting KEYFILE
# (the edge's attest.pub), proxying to the internal MTA (smtp-sink on 127.0.0.1:10025).
start_hub() {
	local dir=$1
	mkdir -p "$dir"
	install -m 644 "$2" "$dir/trusted.pub" || die "no edge attestation key at $2"
	cat >"$dir/hub.conf" <<EOF2
hub = {
	listen = ["$HUB_ADDR:$HUB_PORT"];
	hostname = "hub.example.com";
	trusted_keys = "$dir/trusted.pub";
	internal_mta = "$MTA_ADDR:$MTA_PORT";
	user = "nobody";
	control_socket = "$dir/hub.sock";
};
tunnel = {
	vici = "$HUB_VICI";
	connection = "$TB_CONN";
	child = "$TB_CHILD";
	device = "$TB_TUN";
};
log = {
	level = "warning";
};
EOF2
	"$BIN/airlock-hub" -n -c "$dir/hub.conf" >"$dir/hub.log" 2>&1 ||
		die "airlock-hub rejected its configuration: $(cat "$dir/hub.log")"
	ip netns exec al-hub "$BIN/airlock-hub" -c "$dir/hub.conf" >>"$dir/hub.log" 2>&1 &
	HUB_PID=$!
	wait_for 10 "airlock-hub's control socket" test -S "$dir/hub.sock" ||
		die "airlock-hub did not start: $(tail -5 "$dir/hub.log")"
	wait_for 10 "airlock-hub to listen" listening al-hub "$HUB_ADDR" "$HUB_PORT" ||
		die "airlock-hub is not listening"
}

hub_detail() { # hub_detail STATUSJSON: the hub's counters on one line
	json_get "$1" '"gate accepted=%s rejected=%s tempfailed=%s backend=%s; attestation verified=%s refused=%s %s; proxy delivered=%s tempfailed=%s rejected=%s" % (d["hub"]["gate"]["accepted"], d["hub"]["gate"]["rejected"], d["hub"]["gate"]["tempfailed"], d["hub"]["gate"]["backend"], d["hub"]["attestation"]["verified"], d["hub"]["attestation"]["refused"], d["hub"]["attestation"]["by_result"], d["hub"]["proxy"]["delivered"], d["hub"]["proxy"]["tempfailed"], d["hub"]["proxy"]["rejected"])'
}

# --- the tunnel's raw TCP throughput (BENCH_HUB=1) --------------------------------------------

# run_raw NAME: BENCH_RAW_MB MB over one TCP connection from al-edge (bound to the edge's
# inner address) to al-hub's inner address, i.e. through the SA; R[NAME.mbps].
run_raw() {
	local name=$1 out=$WORK/$1.json bytes=$((RAW_MB * 1000000))
	rm -f "$out"
	# kernel-libipsec's user-space ESP may be slow (a few MB/s): 300 s for the whole transfer.
	ip netns exec al-hub timeout 330 "$PY" "$RAW_TOOL" serve "$HUB_ADDR" "$RAW_PORT" "$out" \
		--timeout 300 2>"$WORK/$name-serve.err" &
	local srv=$!
	BG_PIDS+=("$srv")
	if wait_for 10 "the throughput listener" listening al-hub "$HUB_ADDR" "$RAW_PORT"; then
		log "$name: $RAW_MB MB $EDGE_INNER -> $HUB_ADDR:$RAW_PORT through the tunnel"
		start_cpu "$WORK/$name-cpu.json" 400
		ip netns exec al-edge timeout 330 "$PY" "$RAW_TOOL" send "$HUB_ADDR" "$RAW_PORT" \
			--bytes "$bytes" --source "$EDGE_INNER" --timeout 300 \
			>"$WORK/$name-send.json" 2>"$WORK/$name-send.err" ||
			log "$name: the sender failed: $(tail -2 "$WORK/$name-send.err")"
		stop_bg "$CPU_PID"
		R[$name.cpu]=$("$PY" "$TOOLS" cpusum "$WORK/$name-cpu.json" "$RAW_MB" --unit MB)
	fi
	wait "$srv"
	forget "$srv"
	R[$name.mbps]=$(json_get "$out" 'round(d["bytes"] / d["seconds"] / 1e6, 1) if d["bytes"] == '"$bytes"' else None')
	R[$name.seconds]=$(json_get "$out" 'd["seconds"]')
	log "$name: ${R[$name.mbps]} MB/s (${R[$name.seconds]} s)"
}

# --- airlock ----------------------------------------------------------------------------------

run_airlock() {
	local dir=$WORK/airlock before
	mkdir -p "$dir"
	write_edge_conf "$dir" 100 1000
	start_edge "$dir"
	local sinkout=$WORK/sink.out
	if [[ $HUB == 1 ]]; then
		# The edge has created its attestation key on start (scan.enabled).
		start_hub "$WORK/hub" "$dir/state/attest.pub"
		sinkout=$WORK/mta.out
		start_rss "$HUB_PID" "$dir/rss-hub.json"
	fi
	start_rss "$EDGE_PID" "$dir/rss.json"
	run_load airlock "$sinkout"
	stop_rss
	edge_status "$dir" "$dir/status.json"
	if [[ $HUB == 1 ]]; then
		rss_of hub "$dir/rss-hub.json"
		before=$(json_get "$dir/status.json" 'd["smtp"]["messages_accepted"]')
		# 1 MiB messages through the same edge and hub, no probe.
		mkdir -p "$WORK/airlock-1m"
		start_rss "$EDGE_PID" "$WORK/airlock-1m/rss.json"
		start_rss "$HUB_PID" "$WORK/airlock-1m/rss-hub.json"
		run_load airlock-1m "$sinkout" "$BIG_N" "$BIG_SIZE" 0
		stop_rss
		rss_of airlock-1m "$WORK/airlock-1m/rss.json"
		rss_of hub-1m "$WORK/airlock-1m/rss-hub.json"
		edge_status "$dir" "$WORK/airlock-1m/status.json"
		R[airlock-1m.accepted]=$(isub "$(json_get "$WORK/airlock-1m/status.json" 'd["smtp"]["messages_accepted"]')" "$before")
		"$PY" "$TOOLS" status "$WORK/hub/hub.sock" >"$WORK/hub/status.json"
		R[hub.detail]=$(hub_detail "$WORK/hub/status.json")
		kill -0 "$HUB_PID" 2>/dev/null || log "airlock: the hub parent is gone"
		R[hub.log_lines]=$(grep -c . "$WORK/hub/hub.log")
	fi
	kill -0 "$EDGE_PID" 2>/dev/null || log "airlock: the edge parent is gone"
	if [[ ${R[airlock.wall]} == incomplete ]]; then
		"$PY" "$TOOLS" status "$dir/edge.sock" queue >"$dir/queue.json"
		log "airlock: still queued: $(json_get "$dir/queue.json" '"; ".join("%s attempts=%s active=%s age=%ss reason=%s" % (m["id"], m["attempts"], m["active"], m["age_s"], m["reason"]) for m in d["messages"][:5])')"
	fi
	rss_of airlock "$dir/rss.json"
	R[airlock.detail]=$(json_get "$dir/status.json" '"accepted=%s tempfailed=%s rejected=%s refused_by_cap=%s protocol_errors=%s queue_write_errors=%s commits=%s commit_batches=%s delivered=%s queued=%s deferred=%s held=%s restarts=%s" % (d["smtp"]["messages_accepted"], d["smtp"]["messages_tempfailed"], d["smtp"]["messages_rejected"], d["smtp"]["refused_by_cap"], d["smtp"]["protocol_errors"], d["smtp"]["queue_write_errors"], d["smtp"]["commits"], d["smtp"]["commit_batches"], d["queue"]["delivered"], d["queue"]["queued"], d["queue"]["deferred"], d["queue"]["held_since_start"], sum(p["restarts"] for p in d["processes"]))')
	if [[ $SCAN == 1 ]]; then
		R[airlock.scan]=$(json_get "$dir/status.json" '"scans=%s clean=%s infected=%s rejected=%s limits=%s errors=%s signatures=%s engine=%s" % (d["scan"]["scans"], d["scan"]["clean"], d["scan"]["infected"], d["scan"]["rejected"], d["scan"]["limits"], d["scan"]["errors"], d["scan"]["signatures"], d["scan"]["engine_version"])')
	fi
	R[airlock.log_lines]=$(grep -c . "$dir/edge.log")
	R[airlock.accepted]=$(json_get "$dir/status.json" 'd["smtp"]["messages_accepted"]')
	if [[ $HUB == 1 ]]; then
		edge_status "$dir" "$dir/status-end.json"
		R[airlock.detail]=$(json_get "$dir/status-end.json" '"after both loads: accepted=%s delivered=%s queued=%s deferred=%s restarts=%s" % (d["smtp"]["messages_accepted"], d["queue"]["delivered"], d["queue"]["queued"], d["queue"]["deferred"], sum(p["restarts"] for p in d["processes"]))')
		R[airlock.scan]=$(json_get "$dir/status-end.json" '"after both loads: scans=%s clean=%s infected=%s rejected=%s limits=%s errors=%s signatures=%s engine=%s" % (d["scan"]["scans"], d["scan"]["clean"], d["scan"]["infected"], d["scan"]["rejected"], d["scan"]["limits"], d["scan"]["errors"], d["scan"]["signatures"], d["scan"]["engine_version"])')
	fi
	stop_edge
	stop_hub
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
	run_load postfix "$WORK/sink.out"
	if [[ $HUB == 1 ]]; then
		stop_rss
		rss_of postfix "$dir/rss.json"
		# What smtpd accepted so far (the 1 MiB run's come on top).
		sleep 1
		R[postfix.accepted]=$(grep -c 'postfix/smtpd.*: client=' "$dir/maillog")
		mkdir -p "$WORK/postfix-1m"
		start_rss "$PF_MASTER" "$WORK/postfix-1m/rss.json"
		run_load postfix-1m "$WORK/sink.out" "$BIG_N" "$BIG_SIZE" 0
		stop_rss
		rss_of postfix-1m "$WORK/postfix-1m/rss.json"
	fi
	# The queue must be empty once the sink has everything; record what it holds.
	R[postfix.queue_left]=$(find "$dir/spool/incoming" "$dir/spool/active" "$dir/spool/deferred" \
		"$dir/spool/maildrop" "$dir/spool/hold" -type f 2>/dev/null | wc -l)
	if [[ $HUB != 1 ]]; then
		stop_rss
		rss_of postfix "$dir/rss.json"
	fi
	stop_postfix
	local ml=$dir/maillog
	if [[ $HUB == 1 ]]; then
		R[postfix-1m.accepted]=$(isub "$(grep -c 'postfix/smtpd.*: client=' "$ml")" "${R[postfix.accepted]}")
	else
		R[postfix.accepted]=$(grep -c 'postfix/smtpd.*: client=' "$ml")
	fi
	R[postfix.detail]="queued=$(grep -c ': client=' "$ml") sent=$(grep -c 'status=sent' "$ml") deferred=$(grep -c 'status=deferred' "$ml") bounced=$(grep -c 'status=bounced' "$ml") rejects=$(grep -c 'NOQUEUE: reject' "$ml") warnings=$(grep -c 'warning:' "$ml") queue_files_left=${R[postfix.queue_left]}"
}

# --- main ----------------------------------------------------------------------------------

T_START=$SECONDS
log "testbed up"
timeout 300 "$TESTBED" up --bare >"$WORK/testbed-up.log" 2>&1 || die "testbed up failed: $(tail -5 "$WORK/testbed-up.log")"
TB_ENV=$("$TESTBED" env)
tb_env() { sed -n "s/^$1=//p" <<<"$TB_ENV"; }
EDGE_VICI=$(tb_env AIRLOCK_EDGE_VICI)
HUB_VICI=$(tb_env AIRLOCK_HUB_VICI)
TB_CONN=$(tb_env AIRLOCK_CONN)
TB_CHILD=$(tb_env AIRLOCK_CHILD)
TB_TUN=$(tb_env AIRLOCK_TUN_DEVICE)
RAW_TOOL=$SRC/tests/bench/tcp_throughput.py
# Where the edge forwards: the hub (BENCH_HUB=1), else the sink itself, through the SA.
if [[ $HUB == 1 ]]; then EDGE_HUB=$HUB_ADDR:$HUB_PORT; else EDGE_HUB=$SINK_ADDR:$SINK_PORT; fi
TESTBED_MINE=1 # we hold the lock: brought down on every exit, unless KEEP_TESTBED
# The testbed is shared: a scenario test may be using the MX or the sink port right now, or
# be between two of its steps (and send its mail to our relay a moment later).
# Scenario tests take the testbed lock before anything else (tests/scenario/lib.bash) and
# this script holds it: one that runs now did not take it (waiting for it is harmless).
others_running() {
	local pid
	for pid in $(pgrep -f 'tests/scenario/'); do
		# a wrapper (timeout, ctest) of a scenario script, or one waiting in flock
		pgrep -P "$pid" -f 'tests/scenario/' >/dev/null && continue
		pgrep -P "$pid" -x flock >/dev/null || return 0
	done
	return 1
}
testbed_free() {
	! others_running && ! listening al-edge "$MX_ADDR" "$MX_PORT" &&
		! listening al-hub "$SINK_ADDR" "$SINK_PORT" &&
		{ [[ $HUB == 0 ]] || { ! listening al-hub "$HUB_ADDR" "$HUB_PORT" &&
			! listening al-hub "$MTA_ADDR" "$MTA_PORT" && ! listening al-hub "$HUB_ADDR" "$RAW_PORT"; }; }
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
	timeout 300 "$TESTBED" up --bare >>"$WORK/testbed-up.log" 2>&1 || die "testbed up failed"
fi
TESTBED_MINE=1
start_sink "$SINK_ADDR" "$SINK_PORT" sink
# BENCH_HUB=1: the internal MTA behind airlock-hub, and the tunnel's ceiling first.
if [[ $HUB == 1 ]]; then
	start_sink "$MTA_ADDR" "$MTA_PORT" mta
	# Which charon plugin does the ESP cipher (aes256gcm16): the tunnel's cost depends on it.
	R[tunnel.aead]=$(timeout 20 "$TESTBED" swanctl edge --list-algs 2>/dev/null |
		sed -n 's/^ *AES_GCM_16\[\([a-z0-9-]*\)\].*/\1/p' | head -n 1)
	run_raw raw-before
fi

# A scenario test started while we measure shares the MX and the CPUs: say so in the report.
note_others() {
	if others_running; then
		R[$1.others]=yes
		log "$1: a scenario test was running on the testbed during this run: its numbers are not clean"
	fi
}
# ext4 without a journal (this VM's root file system) skips, when it allocates an inode, every
# inode deleted in the last 30-35 s: a relay that creates files right after another deleted
# thousands pays for the other's (Postfix's cleanup used up to 0.82 ms of kernel time per
# message right after airlock's run, 0.26-0.48 otherwise). So a relay's run waits
# BENCH_SETTLE seconds after the previous one.
PHASES_RUN=0
phase() { # phase NAME: run it unless BENCH_SKIP names it
	[[ ,$SKIP, != *,$1,* ]] || return 0
	if ((PHASES_RUN > 0 && SETTLE > 0)) && [[ $1 != idle ]]; then
		log "$1: waiting ${SETTLE}s for the file system to forget the previous run's deletions"
		sleep "$SETTLE"
	fi
	PHASES_RUN=$((PHASES_RUN + 1))
	case $1 in
	airlock) run_airlock ;;
	idle) run_airlock_idle ;;
	postfix) run_postfix ;;
	esac
	note_others "$1"
}
if [[ $POSTFIX_FIRST == 1 ]]; then
	phase postfix
	phase airlock
	phase idle
else
	phase airlock
	phase idle
	phase postfix
fi
if [[ $HUB == 1 ]]; then
	run_raw raw-after
	note_others raw
fi

# --- report --------------------------------------------------------------------------------
# Printed, and kept with the run's logs as WORK/report.txt.
{

v() { echo "${R[$1]:--}"; }
row() { printf '%-22s%-14s%-14s\n' "$1" "$2" "$3"; }
airlock_version=$(sed -n 's/^project(airlock VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$(dirname "$BIN")/CMakeCache.txt" 2>/dev/null)

echo
if [[ $SCAN == 1 ]]; then
	echo "scanning: airlock scan.enabled = true (libclamav, test database of ${SCAN_SIGS:-?} signatures, attachment policy on, its temporary files in ${SCAN_TMP_SEEN:-?}); postfix: no scanning"
fi
if [[ $HUB == 1 ]]; then
	echo "paths: airlock = al-inet -> airlock-edge $MX_ADDR:$MX_PORT -> SA -> airlock-hub $HUB_ADDR:$HUB_PORT -> smtp-sink $MTA_ADDR:$MTA_PORT (al-hub);"
	echo "       postfix = al-inet -> Postfix $MX_ADDR:$MX_PORT (al-edge) -> SA -> smtp-sink $SINK_ADDR:$SINK_PORT (al-hub)"
	echo "tunnel: kernel-libipsec (ESP in charon, user space), AES_GCM_16 by charon's '$(v tunnel.aead)' plugin ($TESTBED)"
fi
row "" airlock postfix
row messages "$N" "$N"
row "wall seconds" "$(v airlock.wall)" "$(v postfix.wall)"
row "messages/s" "$(v airlock.rate)" "$(v postfix.rate)"
row "eod->250 p50 ms" "$(v airlock.p50)" "$(v postfix.p50)"
row "eod->250 p99 ms" "$(v airlock.p99)" "$(v postfix.p99)"
row "peak RSS MiB" "$(v airlock.rss)" "$(v postfix.rss)"
row "idle conn KiB/conn" "$(v idle.kib)" "-"
row "CPU busy (stolen)" "$(v airlock.cpu_busy)" "$(v postfix.cpu_busy)"
row "CPU ms/message" "$(v airlock.cpu_ms)" "$(v postfix.cpu_ms)"
row "ESP packets/message" "$(v airlock.pkts_msg)" "$(v postfix.pkts_msg)"
# pct A B: A as a percentage of B ("-" if either is missing).
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.0f%%", 100 * a / b; else print "-" }'; }
if [[ $HUB == 1 ]]; then
	# The ceiling: the better of the two raw measurements (before and after the relays).
	RAW_CEIL=$(awk -v a="${R[raw-before.mbps]:-0}" -v b="${R[raw-after.mbps]:-0}" \
		'BEGIN { m = (a + 0 > b + 0) ? a : b; if (m + 0 > 0) print m; else print "-" }')
	row "hub peak RSS MiB" "$(v hub.rss)" "-"
	row "1 MiB messages" "$BIG_N" "$BIG_N"
	row "1 MiB wall seconds" "$(v airlock-1m.wall)" "$(v postfix-1m.wall)"
	row "1 MiB messages/s" "$(v airlock-1m.rate)" "$(v postfix-1m.rate)"
	row "1 MiB MB/s" "$(v airlock-1m.mbps)" "$(v postfix-1m.mbps)"
	row "1 MiB % of raw tunnel" "$(pct "${R[airlock-1m.mbps]:-}" "$RAW_CEIL")" "$(pct "${R[postfix-1m.mbps]:-}" "$RAW_CEIL")"
	row "1 MiB ESP packets/msg" "$(v airlock-1m.pkts_msg)" "$(v postfix-1m.pkts_msg)"
	row "1 MiB peak RSS MiB" "$(v airlock-1m.rss)+$(v hub-1m.rss)" "$(v postfix-1m.rss)"
	row "raw tunnel MB/s" "$RAW_CEIL" "(before $(v raw-before.mbps), after $(v raw-after.mbps))"
	echo
	RATIO=$(awk -v a="${R[airlock.rate]:-}" -v b="${R[postfix.rate]:-}" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }')
	verdict() { awk -v x="$1" -v t="$2" 'BEGIN { if (x == "-" || x == "") print "not measured"; else if (x + 0 >= t) print "met"; else print "MISSED" }'; }
	echo "target: airlock/postfix messages/s (10 KB) >= 2x: ${RATIO}x, $(verdict "$RATIO" 2)"
	# What 2x would leave per message: every CPU of the machine busy at twice Postfix's rate.
	echo "        at 2x Postfix's rate the machine's $(nproc) CPUs give $(awk -v p="${R[postfix.rate]:-0}" -v c="$(nproc)" 'BEGIN { if (p + 0 > 0) printf "%.2f", c * 1000 / (2 * p); else print "-" }') ms of CPU per message; airlock used $(v airlock.cpu_ms) (see cpu: below)"
	BIG_PCT=$(pct "${R[airlock-1m.mbps]:-}" "$RAW_CEIL")
	echo "target: airlock 1 MiB MB/s >= 50% of the raw tunnel: $BIG_PCT, $(verdict "${BIG_PCT%\%}" 50)"
fi
echo
row "peak PSS MiB" "$(v airlock.pss)" "$(v postfix.pss)"
row "processes (peak)" "$(v airlock.procs)" "$(v postfix.procs)"
row "smtp-source seconds" "$(v airlock.src_seconds)" "$(v postfix.src_seconds)"
row "smtp-source exit" "$(v airlock.src_rc)" "$(v postfix.src_rc)"
row "smtp-source errors" "$(v airlock.src_errors)" "$(v postfix.src_errors)"
row "probe under load" "$(v airlock.lat_samples)" "$(v postfix.lat_samples)"
row "relay accepted" "$(v airlock.accepted)/$(v airlock.sink_want)" "$(v postfix.accepted)/$(v postfix.sink_want)"
row "sink received" "$(v airlock.sink_got)/$(v airlock.sink_want)" "$(v postfix.sink_got)/$(v postfix.sink_want)"
if [[ $HUB == 1 ]]; then
	row "1 MiB smtp-source s" "$(v airlock-1m.src_seconds)" "$(v postfix-1m.src_seconds)"
	row "1 MiB smtp-source exit" "$(v airlock-1m.src_rc)/$(v airlock-1m.src_errors) err" "$(v postfix-1m.src_rc)/$(v postfix-1m.src_errors) err"
	row "1 MiB relay accepted" "$(v airlock-1m.accepted)/$(v airlock-1m.sink_want)" "$(v postfix-1m.accepted)/$(v postfix-1m.sink_want)"
	row "1 MiB sink received" "$(v airlock-1m.sink_got)/$(v airlock-1m.sink_want)" "$(v postfix-1m.sink_got)/$(v postfix-1m.sink_want)"
	row "hub peak PSS MiB" "$(v hub.pss)" "-"
fi
echo
echo "airlock: $(v airlock.detail); log lines at level warning: $(v airlock.log_lines)"
if [[ $HUB == 1 ]]; then echo "hub:     $(v hub.detail); log lines at level warning: $(v hub.log_lines)"; fi
if [[ $SCAN == 1 ]]; then echo "scan:    $(v airlock.scan)"; fi
echo "postfix: $(v postfix.detail)"
echo "cpu:     airlock $(v airlock.cpu)"
echo "         postfix $(v postfix.cpu)"
if [[ $HUB == 1 ]]; then
	echo "cpu 1M:  airlock $(v airlock-1m.cpu)"
	echo "         postfix $(v postfix-1m.cpu)"
	echo "cpu raw: before $(v raw-before.cpu)"
	echo "         after $(v raw-after.cpu)"
fi
echo "probe:   airlock $(v airlock.lat_detail); $(v airlock.lat_all)"
echo "         postfix $(v postfix.lat_detail); $(v postfix.lat_all)"
echo "idle:    $(v idle.open) connections open (edge counted $(v idle.now)), smtp VmRSS $(v idle.before) -> $(v idle.after) KiB; client $(v idle.detail)"
echo
echo "versions: airlock $airlock_version (${build_type:-unknown build type}, $BIN/airlock-edge)," \
	"Postfix $(postconf -h -d mail_version 2>/dev/null) (smtp-source/smtp-sink from the same)," \
	"Linux $(uname -r), $(nproc) CPUs, python $("$PY" -c 'import platform; print(platform.python_version())')"
echo "load: smtp-source -s $SESSIONS -l $SIZE -m $N from al-inet (one connection per message)," \
	"plus $LAT_N probe messages in $LAT_SESSIONS sessions; next hop smtp-sink $SINK_ADDR:$SINK_PORT (stores nothing)"
if [[ $HUB == 1 ]]; then
	echo "hub mode: airlock's next hop is airlock-hub $HUB_ADDR:$HUB_PORT, its internal MTA smtp-sink $MTA_ADDR:$MTA_PORT (stores nothing);" \
		"then smtp-source -s $SESSIONS -l $BIG_SIZE -m $BIG_N through both (no probe);" \
		"raw: tcp_throughput.py, $RAW_MB MB $EDGE_INNER -> $HUB_ADDR:$RAW_PORT in one connection, before and after the relays"
fi
echo "durability: both answer 250 only after the message is on disk: airlock fdatasyncs each" \
	"spool file, renames it into queue/ and fsyncs that directory (group commit) before the 250;" \
	"Postfix's cleanup fsyncs the queue file before smtpd's 250 (default). Spools on" \
	"$(df -P "$WORK" | awk 'NR == 2 { print $1 }') ($(stat -f -c %T "$WORK")), under $WORK."
for run in airlock postfix airlock-1m postfix-1m; do
	stolen=$(json_get "$WORK/$run/cpu.json" 'round(d["steal_pct"])')
	if [[ $stolen =~ ^[0-9]+$ ]] && ((stolen > 10)); then
		echo "WARNING: the host took $stolen% of this machine's CPU time during the $run run (steal): its rates and CPU times are not comparable with a quiet run"
	fi
done
for run in airlock idle postfix raw; do
	if [[ ${R[$run.others]:-} == yes ]]; then
		echo "WARNING: a scenario test ran on the testbed during the $run run; do not trust its numbers"
	fi
done
for run in airlock postfix airlock-1m postfix-1m; do
	if [[ -n ${R[$run.accepted]:-} && ${R[$run.accepted]} != "${R[$run.sink_want]:-}" ]]; then
		echo "WARNING: $run accepted ${R[$run.accepted]} messages but ${R[$run.sink_want]:-?} were sent: another client used the MX during the run, or the relay lost or duplicated some"
	fi
done
echo "logs: $WORK (this report: $WORK/report.txt); the bench took $((SECONDS - T_START)) s"
} | tee "$WORK/report.txt"
