#!/usr/bin/env bash
# tests/bench/rounds.sh - edge_vs_postfix.sh several times in a row, the order of the two
# relays alternating (round 1 airlock first, round 2 Postfix first, ...), and one table of
# the rounds with the medians. On this shared 2-vCPU VM one run's ratio moves by a third
# from run to run; the rounds show the spread, the median a number to compare.
#
# Environment: BENCH_ROUNDS (3), BENCH_ROUNDS_DIR (/var/tmp/airlock-bench-rounds: each
# round's whole report as round-N.txt, and the table as rounds.txt); BENCH_SETTLE (35) is
# also the pause between two rounds. Every other BENCH_*
# variable (and AIRLOCK_BIN) goes to each run as it is, but BENCH_POSTFIX_FIRST, which this
# script sets. The testbed lock is held for all the rounds, so no test runs in between.
# Not a ctest test: it asserts nothing. See tests/bench/README.md, "Rounds".

set -uo pipefail

if [[ ${BENCH_LOCK_HELD:-0} != 1 ]]; then
	exec env BENCH_LOCK_HELD=1 flock -o -w "${BENCH_LOCK_WAIT:-900}" \
		/var/tmp/airlock-testbed.lock "${BASH_SOURCE[0]}" "$@"
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROUNDS=${BENCH_ROUNDS:-3}
OUT=${BENCH_ROUNDS_DIR:-/var/tmp/airlock-bench-rounds}

[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || {
	echo "rounds.sh: BENCH_ROUNDS must be 1..99, not '$ROUNDS'" >&2
	exit 2
}
rm -rf "$OUT"
mkdir -p "$OUT" || exit 1

# field FILE LABEL COLUMN: a row of the report's table ("messages/s" ...), column 1 airlock,
# 2 Postfix; "-" when the row is missing. Labels are the first 22 characters of a row.
field() {
	awk -v label="$2" -v col="$3" '
		substr($0, 1, 22) ~ "^" label " *$" {
			split(substr($0, 23), f, " ")
			print (f[col] == "" ? "-" : f[col]); found = 1; exit
		}
		END { if (!found) print "-" }' "$1"
}

# median FORMAT ARGS...: the median of the numbers among ARGS, printf'd with FORMAT ("-" if none).
median() {
	local fmt=$1
	shift
	printf '%s\n' "$@" | awk -v fmt="$fmt" '/^[0-9.]+%?$/ { sub(/%/, ""); v[n++] = $0 + 0 }
		END {
			if (n == 0) { print "-"; exit }
			for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
			m = (n % 2) ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
			printf fmt "\n", m
		}'
}

ratios=() shares=() cpus=() pcpus=()
rows=()
for ((i = 1; i <= ROUNDS; i++)); do
	first=0 order="airlock first"
	if ((i % 2 == 0)); then
		first=1 order="Postfix first"
	fi
	if ((i > 1)); then
		# As between the relays of one run (BENCH_SETTLE): ext4 without a journal makes
		# whoever creates files next pay for the inodes the last run deleted.
		echo "[rounds] settling ${BENCH_SETTLE:-35}s" >&2
		sleep "${BENCH_SETTLE:-35}"
	fi
	echo "[rounds] round $i of $ROUNDS, $order" >&2
	BENCH_POSTFIX_FIRST=$first "$HERE/edge_vs_postfix.sh" >"$OUT/round-$i.txt"
	echo "[rounds] round $i: exit $?" >&2
	f=$OUT/round-$i.txt
	a=$(field "$f" "messages/s" 1) p=$(field "$f" "messages/s" 2)
	ratio=$(awk -v a="$a" -v p="$p" 'BEGIN { if (a + 0 > 0 && p + 0 > 0) printf "%.2f", a / p; else print "-" }')
	share=$(field "$f" "1 MiB % of raw tunnel" 1)
	ca=$(field "$f" "CPU ms/message" 1) cp=$(field "$f" "CPU ms/message" 2)
	ratios+=("$ratio") shares+=("$share") cpus+=("$ca") pcpus+=("$cp")
	rows+=("$(printf '%-6s%-15s%-10s%-10s%-8s%-10s%-10s%-10s%-10s%s' "$i" "$order" "$a" "$p" \
		"$ratio" "$ca" "$cp" "$(field "$f" "ESP packets/message" 1)" \
		"$(field "$f" "ESP packets/message" 2)" "$share")")
done

{
	echo
	printf '%-6s%-15s%-10s%-10s%-8s%-10s%-10s%-10s%-10s%s\n' round order "airlock" "postfix" \
		ratio "cpu ms" "pf cpu" "esp/msg" "pf esp" "1 MiB share"
	printf '%s\n' "${rows[@]}"
	echo
	echo "median: airlock/postfix messages/s $(median %.2f "${ratios[@]}")x; CPU ms/message airlock $(median %.2f "${cpus[@]}"), postfix $(median %.2f "${pcpus[@]}"); 1 MiB share of the raw tunnel $(median %.0f "${shares[@]}")%"
	echo "(msg/s of the 10 KB load; cpu ms: the machine's CPU per message; esp/msg: packets through the tunnel per message; 1 MiB share: BENCH_HUB=1 only. Each round's report: $OUT/round-N.txt)"
} | tee "$OUT/rounds.txt"
