#!/bin/bash
# airlock-edge as a relay on the testbed: Internet (al-inet) -> edge (al-edge) -> smtp-sink
# (al-hub). Content is carried byte for byte apart from the added Received: header,
# smtp-source's 2,000 messages all arrive, STARTTLS injection is refused, the
# queue and status show up in airlockctl, and the children run unprivileged.
source "$(dirname "$0")/lib.bash"
testbed_up

# A throw-away certificate so that STARTTLS is offered.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=$EDGE_HOST" -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>/dev/null
EDGE_CONF="$WORK/edge.conf"
write_edge_conf "$EDGE_CONF" "tls_certificate = \"$WORK/tls.crt\"; tls_key = \"$WORK/tls.key\";"
start_sink "$WORK/sink"
start_edge "$EDGE_CONF"

expect "smtp and queue children run as nobody" \
	test "$(ps -o user= --ppid "$(pgrep -f -o "airlock-edge -c $EDGE_CONF")" | sort -u | tr -d ' \n')" = nobody

# --- exact content through the relay -----------------------------------------------------
ip netns exec al-inet python3 "$PY/smtpclient.py" send "$EDGE_MX" --count 20 --sessions 4 \
	--size 3000 --tag exact --out "$WORK/exact.jsonl" >/dev/null
wait_for 30 "20 messages delivered to the sink" sink_has "$WORK/sink" 20
if python3 "$PY/check_sink.py" "$WORK/sink" --hostname "$EDGE_HOST" --acked "$WORK/exact.jsonl" \
	--size 3000 --expect 20 >"$WORK/check1.txt"; then
	pass "bytes identical apart from one Received: ($(head -1 "$WORK/check1.txt"))"
else
	cat "$WORK/check1.txt"
	fail "bytes identical apart from one Received:"
fi

# --- smtp-source: 2,000 messages, 20 sessions --------------------------------------------
rm -rf "$WORK/sink" && stop_sink && start_sink "$WORK/sink"
t0=$SECONDS
ip netns exec al-inet timeout 300 smtp-source -s 20 -m 2000 -l 4096 -f sender@example.org \
	-t rcpt@example.com "$EDGE_MX" >"$WORK/smtp-source.log" 2>&1 && rc=0 || rc=$?
expect "smtp-source finished without errors (exit $rc)" test "$rc" -eq 0 -a ! -s "$WORK/smtp-source.log"
wait_for 120 "all 2,000 delivered to the sink" sink_has "$WORK/sink" 2000
log "2,000 messages relayed in $((SECONDS - t0)) s"
if python3 "$PY/check_sink.py" "$WORK/sink" --hostname "$EDGE_HOST" --smtp-source --size 4096 --expect 2000 \
	>"$WORK/check2.txt"; then
	pass "2,000 distinct messages, identical content ($(head -1 "$WORK/check2.txt"))"
else
	cat "$WORK/check2.txt"
	fail "2,000 distinct messages, identical content"
fi
wait_for 10 "the queue is empty afterwards" queue_is 0
expect "the spool's queue/ is empty" test -z "$(ls "$WORK/spool/queue")"
expect "control status counts the accepted messages" \
	test "$(edge_ctl status 'd["smtp"]["messages_accepted"]')" -ge 2020

# --- STARTTLS ----------------------------------------------------------------------------
if ip netns exec al-inet python3 "$PY/smtpclient.py" starttls-inject "$EDGE_MX" >"$WORK/inject.txt" 2>&1; then
	pass "STARTTLS\\r\\nNOOP\\r\\n in one segment: the NOOP is never answered"
else
	cat "$WORK/inject.txt"
	fail "STARTTLS injection refused"
fi
out=$(ip netns exec al-inet swaks --server "$EDGE_MX" --tls --from a@example.org --to b@example.com \
	--body "over tls" 2>&1) || true
expect "a message over STARTTLS is accepted" grep -q "<~ *250 2.0.0 Ok: queued as" <<<"$out"
tls_arrived() { grep -qx "over tls" "$WORK/sink/dump" && grep -q "(airlock) with ESMTPS" "$WORK/sink/dump"; }
wait_for 30 "it reaches the sink, stamped ESMTPS in our Received:" tls_arrived
out=$(ip netns exec al-inet swaks --server "$EDGE_MX" --from a@example.org --to b@example.net \
	--quit-after RCPT 2>&1) || true
expect "relaying for another domain is refused with 554 5.7.1" grep -q "<\*\* *554 5.7.1" <<<"$out"

# --- airlockctl ----------------------------------------------------------------------------
"$AIRLOCK_BIN/airlockctl" -c "$EDGE_CONF" status >"$WORK/status.txt" 2>&1 || true
expect "airlockctl status shows the edge daemon section" grep -q "^edge daemon: $EDGE_HOST" "$WORK/status.txt"
expect "airlockctl status shows the queue line" grep -q "^  queue  0 queued" "$WORK/status.txt"
"$AIRLOCK_BIN/airlockctl" -c "$EDGE_CONF" queue >"$WORK/queue.txt"
expect "airlockctl queue lists an empty queue" grep -q "^0 messages" "$WORK/queue.txt"
