#!/bin/bash
# Two hubs by priority (testbed --hub2): mail goes to the preferred hub (192.0.2.2, priority 10)
# through its SA. Its sink stops: the edge marks it failing and mail flows to hub2 (192.0.2.3,
# priority 20, connection airlock-hub2). The sink is back: after the hold-down new mail returns
# to hub. hub's charon stops (its SA goes): mail flows to hub2 again; charon is back: the edge
# initiates the SA to hub itself and new mail returns to hub.
source "$(dirname "$0")/lib.bash"
testbed_up --hub2

HUB1=$SINK_ADDR
HUB2=192.0.2.3:2526
EDGE_CONF="$WORK/edge.conf"
EDGE_HUBS="{ address = \"$HUB1\"; priority = 10; },
	{ address = \"$HUB2\"; priority = 20; connection = \"$AIRLOCK_CONN_HUB2\"; child = \"$AIRLOCK_CHILD_HUB2\"; }" \
	write_edge_conf "$EDGE_CONF"

# start_sink_in NS ADDR DIR: a sink like start_sink's; prints nothing, sets LAST_SINK_PID.
start_sink_in() {
	local ns=$1 addr=$2 dir=$3 i
	mkdir -p "$dir"
	chown postfix "$dir"
	ip netns exec "$ns" smtp-sink -u postfix -D "$dir/dump" "$addr" 256 >>"$WORK/sink.log" 2>&1 &
	LAST_SINK_PID=$!
	for i in $(seq 50); do
		ip netns exec "$ns" ss -ltn | grep -q "$addr" && return 0
		sleep 0.1
	done
	log "FAIL - smtp-sink on $addr did not start"
	return 1
}
start_sink_in al-hub "$HUB1" "$WORK/hub1" && SINK1=$LAST_SINK_PID
start_sink_in al-hub2 "$HUB2" "$WORK/hub2" && SINK2=$LAST_SINK_PID
start_edge "$EDGE_CONF"

hub_state() { [ "$(edge_ctl status "d['queue']['hubs'][$1]['state']")" = "$2" ]; }
send() {
	ip netns exec al-inet python3 "$PY/smtpclient.py" send "$EDGE_MX" --count "$1" --sessions 2 \
		--size 1000 --tag "$2" --out "$WORK/$2.jsonl" >/dev/null
}
wait_for 20 "both hubs up in status" eval 'hub_state 0 up && hub_state 1 up'

send 10 first
wait_for 30 "10 messages at the preferred hub $HUB1" sink_has "$WORK/hub1" 10
expect "none at hub2" test "$(sink_count "$WORK/hub2")" -eq 0

# --- hub's sink stops: failover to hub2 ---------------------------------------------------
kill "$SINK1" && wait "$SINK1" 2>/dev/null || true
send 10 failover
wait_for 40 "the 10 next messages at hub2 $HUB2" sink_has "$WORK/hub2" 10
expect "the edge marked hub $HUB1 failing" grep -q "event=hub-failing hub=$HUB1" "$WORK/edge.log"
expect "status shows hub $HUB1 failing" hub_state 0 failing
expect "hub still has only the first 10" test "$(sink_count "$WORK/hub1")" -eq 10

# --- hub's sink is back: after the hold-down, new mail returns to hub ------------------------
start_sink_in al-hub "$HUB1" "$WORK/hub1" && SINK1=$LAST_SINK_PID
wait_for 40 "hub $HUB1 up again after the hold-down" hub_state 0 up
send 10 back
wait_for 30 "new mail returns to hub $HUB1 (20 there)" sink_has "$WORK/hub1" 20
expect "hub2 got nothing new (10)" test "$(sink_count "$WORK/hub2")" -eq 10

# --- hub's charon stops: its SA goes, mail flows to hub2 -------------------------------------
"$TESTBED" stop-charon hub >"$WORK/stop-charon.log" 2>&1 || cat "$WORK/stop-charon.log"
wait_for 30 "status shows hub $HUB1 without SA" hub_state 0 no-sa
send 10 nosa
wait_for 30 "the 10 next messages at hub2 (20 there)" sink_has "$WORK/hub2" 20
expect "nothing more reached hub (20)" test "$(sink_count "$WORK/hub1")" -eq 20

# --- charon is back: the edge initiates the SA to hub, new mail returns there ---------------
"$TESTBED" start-charon hub >"$WORK/start-charon.log" 2>&1 || cat "$WORK/start-charon.log"
returned() {
	send 1 "trickle$SECONDS" || true
	[ "$(sink_count "$WORK/hub1")" -gt 20 ]
}
wait_for 90 "with mail trickling in, the edge brings hub's SA up and mail returns to hub" returned
expect "the edge initiated $AIRLOCK_CONN/$AIRLOCK_CHILD itself" \
	grep -q "event=sa-initiated ike=$AIRLOCK_CONN child=$AIRLOCK_CHILD" "$WORK/edge.log"
expect "status shows hub $HUB1 up" hub_state 0 up
wait_for 30 "the queue is empty" queue_is 0
total=$(($(sink_count "$WORK/hub1") + $(sink_count "$WORK/hub2")))
sent=$(cat "$WORK"/*.jsonl | grep -c '"code": 250' || true)
expect "every accepted message arrived at one hub or the other ($total of $sent)" test "$total" -ge "$sent"
