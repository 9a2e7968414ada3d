#!/bin/bash
# A next hop that answers 4xx and then recovers: the messages stay queued with the
# reason visible in airlockctl queue, and are delivered on a retry. A 5xx moves a
# message to hold instead of retrying it forever.
source "$(dirname "$0")/lib.bash"
testbed_up

EDGE_CONF="$WORK/edge.conf"
write_edge_conf "$EDGE_CONF"
start_sink "$WORK/sink" -r RCPT
start_edge "$EDGE_CONF"

ip netns exec al-inet python3 "$PY/smtpclient.py" send "$EDGE_MX" --count 5 --sessions 1 \
	--size 1000 --tag retry --out "$WORK/acked.jsonl" >/dev/null
expect "all 5 accepted by the edge" test "$(grep -c '"code": 250' "$WORK/acked.jsonl")" -eq 5
deferred() {
	"$AIRLOCK_BIN/airlockctl" -c "$EDGE_CONF" queue --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
m = d["messages"]
sys.exit(0 if len(m) == 5 and all(x["attempts"] >= 1 and " 4" in x["reason"] for x in m) else 1)'
}
wait_for 20 "airlockctl queue shows 5 deferred messages with the next hop's 4xx" deferred
"$AIRLOCK_BIN/airlockctl" -c "$EDGE_CONF" queue >"$WORK/queue.txt"
log "airlockctl queue: $(sed -n 2p "$WORK/queue.txt")"
expect "nothing reached the sink yet" test "$(sink_count "$WORK/sink")" -eq 0

stop_sink
start_sink "$WORK/sink"
wait_for 30 "delivered after the next hop recovered" sink_has "$WORK/sink" 5
if python3 "$PY/check_sink.py" "$WORK/sink" --hostname "$EDGE_HOST" --acked "$WORK/acked.jsonl" \
	--size 1000 --expect 5 >"$WORK/check.txt"; then
	pass "each message once, intact ($(head -1 "$WORK/check.txt"))"
else
	cat "$WORK/check.txt"
	fail "each message once, intact"
fi
wait_for 10 "the queue is empty" queue_is 0

# A permanent refusal goes to hold, with the reason.
stop_sink
start_sink "$WORK/sink5" -f RCPT
ip netns exec al-inet python3 "$PY/smtpclient.py" send "$EDGE_MX" --count 1 --sessions 1 \
	--size 500 --tag hold --out "$WORK/hold.jsonl" >/dev/null
held_one() { [ "$(edge_ctl status 'd["queue"]["hold_area"]')" = 1 ]; }
wait_for 20 "a 5xx from the next hop moves the message to hold" held_one
held=$(ls "$WORK/spool/hold" 2>/dev/null | head -1)
expect "the held message records the next hop's 5xx refusal" \
	grep -Eq "^hold $SINK_ADDR said: 5[0-9]{2}[ -]5\.[0-9]+\.[0-9]+" "$WORK/spool/hold/$held"
expect "a held message is not retried (queue empty)" queue_is 0
