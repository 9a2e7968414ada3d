#!/bin/bash
# The tunnel-only path, edge side: Internet (al-inet) -> edge -> IPsec SA -> sink on the hub's
# inner address 192.0.2.2:2526. Mail arrives from the edge's inner address; a capture on the DMZ
# bridge shows no TCP between the edge and the hub, only UDP-encapsulated ESP (and IKE). The SA
# is torn down from the hub during a bounded load of 2,000 messages: the edge defers with "no
# SA", initiates the CHILD_SA itself, and every message arrives, none in clear on the bridge.
# The SA terminated from the edge comes back for the next message. The edge's charon stops:
# messages wait with "VICI unreachable" and go once it is back. Connections are kept for reuse
# for 300 s here, so that each loss of the path finds some open: they must be closed with it
# (charon's restart recreates the TUN device they were pinned to), not reused into the void.
source "$(dirname "$0")/lib.bash"
testbed_up

EDGE_CONF="$WORK/edge.conf"
QUEUE_EXTRA="connection_cache_time = 300;" write_edge_conf "$EDGE_CONF"
PCAP="$WORK/dmz.pcap"
ip netns exec al-dmz timeout 600 tcpdump -i br-dmz -n -U -s 128 -w "$PCAP" \
	>"$WORK/tcpdump.log" 2>&1 &
TCPDUMP_PID=$!
wait_for 10 "tcpdump listens on the DMZ bridge" grep -q "listening on br-dmz" "$WORK/tcpdump.log"
start_sink "$WORK/sink"
start_edge "$EDGE_CONF"

hub_state() { [ "$(edge_ctl status 'd["queue"]["hubs"][0]["state"]')" = "$1" ]; }
wait_for 20 "status shows hub $SINK_ADDR up" hub_state up
expect "the queue pins to the TUN device: backend libipsec detected over VICI" \
	test "$(edge_ctl status 'd["queue"]["tunnel"]["backend"]')" = libipsec
"$AIRLOCK_BIN/airlockctl" -c "$EDGE_CONF" status >"$WORK/status.txt" 2>&1 || true
expect "airlockctl status lists the hub with its state" \
	grep -q "^  hub    $SINK_ADDR priority 10 via airlock: up" "$WORK/status.txt"

# --- mail through the SA -------------------------------------------------------------------
ip netns exec al-inet python3 "$PY/smtpclient.py" send "$EDGE_MX" --count 20 --sessions 4 \
	--size 3000 --tag sa --out "$WORK/sa.jsonl" >/dev/null
wait_for 30 "20 messages delivered to the sink on 192.0.2.2" sink_has "$WORK/sink" 20
if python3 "$PY/check_sink.py" "$WORK/sink" --hostname "$EDGE_HOST" --acked "$WORK/sa.jsonl" \
	--size 3000 --expect 20 >"$WORK/check1.txt"; then
	pass "content intact ($(head -1 "$WORK/check1.txt"))"
else
	cat "$WORK/check1.txt"
	fail "content intact"
fi
clients=$(grep '^X-Client-Addr: ' "$WORK/sink/dump" | sort -u | tr '\n' ' ')
expect "every message came from the edge's inner address 192.0.2.1 ($clients)" \
	test "$clients" = "X-Client-Addr: 192.0.2.1 "

# --- the SA goes away during a bounded load ------------------------------------------------
# The hub's charon stops (its DELETE tears the SA down) after 200 messages and stays away for
# 10 s: the edge defers with "no SA", keeps asking charon to initiate, abandons the connections
# that hang on the lost SA, and once the hub is back every message arrives.
stop_sink && start_sink "$WORK/sink2"
ip netns exec al-inet timeout 300 smtp-source -s 10 -m 2000 -l 2048 -f sender@example.org \
	-t rcpt@example.com "$EDGE_MX" >"$WORK/smtp-source.log" 2>&1 &
SOURCE_PID=$!
wait_for 60 "the load is flowing (200 at the sink)" sink_has "$WORK/sink2" 200
"$TESTBED" stop-charon hub >"$WORK/stop-charon-hub.log" 2>&1 &&
	pass "hub's charon stopped (SA torn down from the hub) after $(sink_count "$WORK/sink2") messages" ||
	{ cat "$WORK/stop-charon-hub.log"; fail "stop the hub's charon"; }
t_down=$SECONDS
NO_SA="no SA to hub $SINK_ADDR ($AIRLOCK_CONN/$AIRLOCK_CHILD)"
no_sa_listed() {
	"$AIRLOCK_BIN/airlockctl" -c "$EDGE_CONF" queue --json | NO_SA="$NO_SA" python3 -c '
import json, os, sys
m = json.load(sys.stdin)["messages"]
sys.exit(0 if any(x["reason"] == os.environ["NO_SA"] for x in m) else 1)'
}
wait_for 20 "airlockctl queue shows messages deferred with \"$NO_SA\"" no_sa_listed
wait_for 20 "the edge asks charon to initiate $AIRLOCK_CONN/$AIRLOCK_CHILD" \
	grep -q "event=sa-initiate ike=$AIRLOCK_CONN child=$AIRLOCK_CHILD" "$WORK/edge.log"
wait_for 20 "connections hanging on the lost SA are abandoned" \
	grep -q "event=hub-connections-abandoned hub=$SINK_ADDR" "$WORK/edge.log"
stuck=$(sink_count "$WORK/sink2")
sleep $((t_down + 10 - SECONDS > 0 ? t_down + 10 - SECONDS : 0))
expect "nothing reached the hub while its SA was down ($stuck, now $(sink_count "$WORK/sink2"))" \
	test "$(sink_count "$WORK/sink2")" -eq "$stuck"
"$TESTBED" start-charon hub >"$WORK/start-charon-hub.log" 2>&1 || cat "$WORK/start-charon-hub.log"
wait_for 40 "the edge brings the SA up again (hub up in status)" hub_state up
wait "$SOURCE_PID" && rc=0 || rc=$?
expect "smtp-source finished without errors (exit $rc)" test "$rc" -eq 0 -a ! -s "$WORK/smtp-source.log"
wait_for 180 "all 2,000 delivered to the sink" sink_has "$WORK/sink2" 2000
if python3 "$PY/check_sink.py" "$WORK/sink2" --hostname "$EDGE_HOST" --smtp-source --expect 2000 \
	>"$WORK/check2.txt"; then
	pass "2,000 distinct messages, none lost ($(head -1 "$WORK/check2.txt"))"
else
	cat "$WORK/check2.txt"
	fail "2,000 distinct messages, none lost"
fi
wait_for 20 "the queue is empty afterwards" queue_is 0
kicked() { grep -q "event=hub-usable hub=$SINK_ADDR deferred_kicked=[1-9]" "$WORK/edge.log"; }
expect "deferred messages were kicked when the SA came up (not left to their back-off)" kicked

# --- the SA terminated from the edge: the next message brings it back ----------------------
# Connections abandoned above may have delivered a message whose 250 was lost: such
# duplicates are counted above (not lost mail); count from what is there now.
n0=$(sink_count "$WORK/sink2")
"$TESTBED" swanctl edge --terminate --ike "$AIRLOCK_CONN" --timeout 10 >"$WORK/terminate.log" 2>&1 &&
	pass "IKE_SA $AIRLOCK_CONN terminated from the edge" ||
	{ cat "$WORK/terminate.log"; fail "terminate the IKE_SA"; }
wait_for 20 "status shows hub $SINK_ADDR without SA" hub_state no-sa
ip netns exec al-inet python3 "$PY/smtpclient.py" send "$EDGE_MX" --count 10 --sessions 2 \
	--size 1000 --tag term --out "$WORK/term.jsonl" >/dev/null
wait_for 30 "the edge initiates the SA for them and the 10 arrive" sink_has "$WORK/sink2" $((n0 + 10))
n0=$(sink_count "$WORK/sink2")

# --- the edge's charon (VICI) goes away: fail closed ----------------------------------------
idle_from=$(($(wc -l <"$WORK/edge.log") + 1))
"$TESTBED" stop-charon edge >"$WORK/stop-charon.log" 2>&1 || cat "$WORK/stop-charon.log"
vici_down() { [ "$(edge_ctl status 'd["queue"]["tunnel"]["vici_connected"]')" = False ]; }
wait_for 20 "status shows the queue's VICI session down" vici_down
closed_idle=$(sed -n "$idle_from,\$p" "$WORK/edge.log" | grep -c "event=idle-connections-closed reason=\(sa-down\|vici-down\) closed=[1-9]" || true)
expect "the connections kept for reuse were closed as charon went away ($closed_idle)" \
	test "$closed_idle" -ge 1
ip netns exec al-inet python3 "$PY/smtpclient.py" send "$EDGE_MX" --count 5 --sessions 1 \
	--size 1000 --tag vici --out "$WORK/vici.jsonl" >/dev/null
expect "the edge still accepts mail (5 acknowledged)" test "$(grep -c '"code": 250' "$WORK/vici.jsonl")" -eq 5
vici_reason() {
	"$AIRLOCK_BIN/airlockctl" -c "$EDGE_CONF" queue --json | python3 -c '
import json, sys
m = json.load(sys.stdin)["messages"]
sys.exit(0 if len(m) == 5 and all(x["reason"] == "VICI unreachable" for x in m) else 1)'
}
wait_for 20 "airlockctl queue shows the 5 deferred with \"VICI unreachable\"" vici_reason
expect "none of them left the edge" test "$(sink_count "$WORK/sink2")" -eq "$n0"
"$TESTBED" start-charon edge >"$WORK/start-charon.log" 2>&1 || cat "$WORK/start-charon.log"
wait_for 60 "charon is back: the edge initiates the SA itself and the 5 arrive" \
	sink_has "$WORK/sink2" $((n0 + 5))
wait_for 20 "the queue is empty again" queue_is 0

# --- what the DMZ bridge saw ---------------------------------------------------------------
sleep 1
kill "$TCPDUMP_PID" 2>/dev/null || true
wait "$TCPDUMP_PID" 2>/dev/null || true
count() { tcpdump -r "$PCAP" -n "$1" 2>/dev/null | wc -l; }
esp=$(count "src host 203.0.113.1 and dst host 203.0.113.2 and udp port 4500")
expect "the bridge carried UDP 4500 from the edge to the hub ($esp packets)" test "$esp" -ge 2000
tcp=$(count "tcp and host 203.0.113.1 and host 203.0.113.2")
expect "no TCP at all between 203.0.113.1 and 203.0.113.2 ($tcp packets)" test "$tcp" -eq 0
inner=$(count "host 192.0.2.1 or host 192.0.2.2 or port 2526")
expect "no packet with an inner address or the sink's port on the bridge ($inner)" test "$inner" -eq 0
other=$(count "host 203.0.113.1 and host 203.0.113.2 and not arp and not icmp and not (udp port 4500 or udp port 500)")
[ "$other" -eq 0 ] || tcpdump -r "$PCAP" -n "host 203.0.113.1 and host 203.0.113.2 and not arp and not icmp and not (udp port 4500 or udp port 500)" 2>/dev/null | head -5
# ICMP: port unreachable for IKE while the hub's charon is stopped.
expect "between edge and hub only IKE and ESP-in-UDP (and ICMP) ($other other packets)" test "$other" -eq 0
