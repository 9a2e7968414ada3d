#!/bin/bash
# Nothing acknowledged is lost when airlock-edge dies: during a load, the smtp child,
# then the whole daemon, then the queue child are killed with SIGKILL (the daemon is
# started again by hand, the children by their parent). Every message that got a 250
# must reach the next hop; duplicates are counted and reported (the goal is none).
source "$(dirname "$0")/lib.bash"
testbed_up

EDGE_CONF="$WORK/edge.conf"
write_edge_conf "$EDGE_CONF"
start_sink "$WORK/sink"
start_edge "$EDGE_CONF"

child_pid() { edge_ctl status "[p['pid'] for p in d['processes'] if p['name']=='$1'][0]"; }

ip netns exec al-inet python3 "$PY/smtpclient.py" send "$EDGE_MX" --count 1500 --sessions 10 \
	--size 2000 --tag crash --deadline 180 --out "$WORK/acked.jsonl" >"$WORK/client.txt" 2>&1 &
client=$!

sleep 1.5
pid=$(child_pid smtp)
kill -9 "$pid"
log "killed the smtp child (pid $pid) with SIGKILL"
restarted() { local now; now=$(child_pid smtp 2>/dev/null) && [ -n "$now" ] && [ "$now" != "$pid" ]; }
wait_for 10 "the parent restarted the smtp child" restarted

sleep 1.5
parent=$(pgrep -f -o "airlock-edge -c $EDGE_CONF")
kill -9 "$parent"
log "killed the whole daemon (parent pid $parent) with SIGKILL"
gone() { ! pgrep -f "airlock-edge -c $EDGE_CONF" >/dev/null; }
wait_for 10 "its children went with it" gone
start_edge "$EDGE_CONF"

sleep 1.5
pid=$(child_pid queue)
kill -9 "$pid"
log "killed the queue child (pid $pid) with SIGKILL"

wait "$client" || true
log "client: $(cat "$WORK/client.txt")"
expect "the client got 250 for most messages" \
	test "$(grep -c '"code": 250' "$WORK/acked.jsonl")" -ge 1000
drained() { [ "$(edge_ctl status 'd["queue"]["queued"]')" = 0 ] && [ -z "$(ls "$WORK/spool/queue")" ]; }
wait_for 90 "the queue drained" drained
if python3 "$PY/check_sink.py" "$WORK/sink" --hostname "$EDGE_HOST" --acked "$WORK/acked.jsonl" \
	--size 2000 >"$WORK/check.txt"; then
	pass "every acknowledged message was delivered ($(head -1 "$WORK/check.txt"))"
else
	cat "$WORK/check.txt"
	fail "every acknowledged message was delivered"
fi
log "duplicates: $(head -1 "$WORK/check.txt" | sed -n 's/.*duplicates=\([0-9]*\).*/\1/p')"
