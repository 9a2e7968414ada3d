#!/bin/bash
# airlockctl against a real charon on the testbed:
#  - status --json agrees with swanctl --list-sas (state, SPIs, selectors, counters);
#  - check is OK, then CRITICAL within 5 s of the CHILD_SA being terminated, and a
#    running status --watch shows it at once although its own polling is 60 s (events);
#  - after charon is killed and restarted, the same --watch reconnects by itself and
#    shows the rebuilt table;
#  - a missing socket and a permission problem give clear errors.
source "$(dirname "$0")/lib.bash"
CTL="$AIRLOCK_BIN/airlockctl"

testbed_up

# A config whose periodic refresh is far away, so that only events can explain a quick update.
slow_conf="$WORK/edge-slow.conf"
sed -e '/^tunnel = {/a\	refresh_interval = 60;\n\tstale_after = 120;' "$AIRLOCK_EDGE_CONF" >"$slow_conf"

# --- status agrees with swanctl ------------------------------------------------------------
for _ in 1 2 3; do "$TESTBED" probe >/dev/null; done
"$TESTBED" swanctl edge --list-sas >"$WORK/swanctl.txt"
"$CTL" -c "$AIRLOCK_EDGE_CONF" status --json >"$WORK/status.json"
if python3 "$AIRLOCK_SRC/tests/scenario/compare_sas.py" "$WORK/swanctl.txt" "$WORK/status.json" \
	>"$WORK/compare.txt"; then
	pass "status --json agrees with swanctl --list-sas ($(grep -c '^ok' "$WORK/compare.txt") fields)"
else
	cat "$WORK/swanctl.txt" "$WORK/compare.txt"
	fail "status --json agrees with swanctl --list-sas"
fi
expect "packets were counted through the tunnel" \
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d["connections"][0]["ike_sas"][0]["child_sas"][0]; sys.exit(0 if c["packets_out"]>=3 and c["packets_in"]>=3 else 1)' "$WORK/status.json"
"$CTL" -c "$AIRLOCK_EDGE_CONF" status >"$WORK/status.txt"
expect "human status shows the CHILD_SA line" grep -q "CHILD airlock #.*INSTALLED  TUNNEL ESP/UDP" "$WORK/status.txt"
expect "human status shows the local certificate with its key" grep -q "edge.example.com.*local, key loaded" "$WORK/status.txt"
"$CTL" -c "$AIRLOCK_HUB_CONF" status --json >"$WORK/hub.json"
expect "hub status names the edge as authenticated peer" \
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["connections"][0]["ike_sas"][0]["remote_id"]=="edge.example.com" else 1)' "$WORK/hub.json"

out=$("$CTL" -c "$AIRLOCK_EDGE_CONF" check) && rc=0 || rc=$?
expect "check is OK with the SA up (exit $rc: $out)" test "$rc" -eq 0 -a "${out#TUNNEL OK: }" != "$out"

# --- events drive --watch ------------------------------------------------------------------
"$CTL" -c "$slow_conf" status --watch --json --interval 60 >"$WORK/watch.jsonl" 2>"$WORK/watch.err" &
watch_pid=$!
last_check() { # last_check STATUS: the newest document of the watch has that check status
	tail -n 1 "$WORK/watch.jsonl" | python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.stdin.read())["check"]["status"]==sys.argv[1] else 1)' "$1"
}
wait_for 10 "--watch shows the tunnel OK" last_check OK

"$TESTBED" swanctl edge --terminate --child airlock --timeout 5 >/dev/null 2>&1 || true
t0=$SECONDS
wait_for 5 "--watch shows CRITICAL within 5 s of the CHILD_SA terminate (refresh is 60 s)" last_check CRITICAL
check_critical() { "$CTL" -c "$AIRLOCK_EDGE_CONF" check >/dev/null; [ $? -eq 2 ]; }
wait_for $((5 - (SECONDS - t0) > 1 ? 5 - (SECONDS - t0) : 1)) "check turns CRITICAL (exit 2)" check_critical
out=$("$CTL" -c "$AIRLOCK_EDGE_CONF" check) || true
expect "check names what is missing ($out)" grep -q "no INSTALLED CHILD_SA airlock covers 192.0.2.1 === 192.0.2.2" <<<"$out"

"$TESTBED" swanctl edge --initiate --child airlock --timeout 20 >/dev/null
wait_for 10 "--watch shows OK again after initiate" last_check OK

# --- charon restart: the same --watch reconnects --------------------------------------------
"$TESTBED" stop-charon edge >/dev/null
unreachable() {
	tail -n 1 "$WORK/watch.jsonl" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); sys.exit(0 if not d["vici"]["reachable"] else 1)'
}
wait_for 10 "--watch reports charon unreachable" unreachable
before=$(wc -l <"$WORK/watch.jsonl")
"$TESTBED" start-charon edge >/dev/null
"$TESTBED" swanctl edge --initiate --child airlock --timeout 20 >/dev/null || true
wait_for 20 "--watch reconnected by itself and shows the rebuilt SA" last_check OK
expect "--watch is still the same process" kill -0 "$watch_pid"
expect "--watch printed new documents after the restart" test "$(wc -l <"$WORK/watch.jsonl")" -gt "$before"
kill "$watch_pid"
wait "$watch_pid" 2>/dev/null || true

# --- clear errors ----------------------------------------------------------------------------
err=$("$CTL" -s unix:///nonexistent/charon.vici status 2>&1) && rc=0 || rc=$?
expect "missing socket: exit 1 and a clear message (exit $rc: $err)" test "$rc" -eq 1 -a -n \
	"$(grep "cannot connect to unix:///nonexistent/charon.vici: No such file or directory" <<<"$err")"
out=$("$CTL" -s unix:///nonexistent/charon.vici check) && rc=0 || rc=$?
expect "missing socket: check is CRITICAL (exit $rc)" test "$rc" -eq 2
# A copy the unprivileged user can surely execute, so that only the socket can deny it.
chmod 755 "$WORK" && cp "$CTL" "$WORK/airlockctl" && chmod 755 "$WORK/airlockctl"
err=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$WORK/airlockctl" -s "$AIRLOCK_EDGE_VICI" status 2>&1) && rc=0 || rc=$?
expect "no permission: exit 1 and says so (exit $rc: $err)" test "$rc" -eq 1 -a -n \
	"$(grep "cannot connect to $AIRLOCK_EDGE_VICI: Permission denied" <<<"$err")"
printf 'tunnel = { refresh_interval = "10"; };\n' >"$WORK/bad.conf"
err=$("$CTL" -c "$WORK/bad.conf" status 2>&1) && rc=0 || rc=$?
expect "bad config: exit 3 with file:line and key ($err)" test "$rc" -eq 3 -a -n "$(grep -F "$WORK/bad.conf:1: tunnel.refresh_interval" <<<"$err")"
