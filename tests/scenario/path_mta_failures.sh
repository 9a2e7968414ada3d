#!/bin/bash
# The whole mail path (al-inet -> airlock-edge scanning and stamping -> SA -> airlock-hub ->
# internal MTA) with the internal MTA failing. smtp-sink on 127.0.0.1:10025 in al-hub is the
# internal MTA, restarted with failure injection for each phase; each phase is bounded in time:
#  1. 4xx to end-of-data (-r .): the client got 250 from the edge; the edge keeps both messages
#     queued with the hub's 451 as the reason (airlockctl queue); the MTA was offered the
#     content and accepted none (hub proxy.tempfailed, delivered 0), nothing reached the store;
#     with the MTA normal again each arrives exactly once, content identical apart from the
#     added headers (check_sink.py --hub --ike-id --acked).
#  2. 5xx to end-of-data (-f .) and to RCPT (-f RCPT): the client got 250; the edge moves the
#     message to hold/ with the 5xx as the reason (status hold_area, the held file's "hold"
#     line), the held file is the stamped message (nothing lost); it is not retried (the
#     refusing MTA was offered it once); the hub counts proxy.rejected; nothing delivered.
#  3. hanging (-w 30: no reply to DATA for 30 s, hub.internal_timeout = 5): the hub answers
#     451 after its timeout (the deferral comes 4-25 s after the client's 250, its reason
#     says timeout), the hung MTA got no content; with the MTA normal again it is delivered,
#     and the store holds every message of phases 1 and 3 exactly once.
#  4. the hub's charon stopped for 10 s during a load of 1,000 messages (the SA torn down with
#     deliveries in flight): once charon is back the hub listens on its new TUN device, and
#     every message reaches the internal MTA exactly once (a retry of one whose 250 was lost
#     is answered "already delivered" by the hub).
#  5. the edge's charon stopped while a delivery waits on the hub (frozen with SIGSTOP): the
#     delivery was pinned to the TUN device charon deletes, and the edge abandons it at once
#     with that reason instead of waiting for its timeout; with charon back it is delivered.
source "$(dirname "$0")/lib.bash"
for t in smtp-sink sigtool; do
	if ! command -v "$t" >/dev/null; then
		echo "SKIP $SCENARIO: needs $t (contrib/install-deps.sh)"
		exit 77
	fi
done
CTL="$AIRLOCK_BIN/airlockctl"
for b in "$AIRLOCK_BIN/airlock-edge" "$AIRLOCK_BIN/airlock-hub" "$CTL"; do
	[ -x "$b" ] || {
		log "FAIL - $b not built"
		exit 1
	}
done

testbed_up
chmod 755 "$WORK"

MTA=127.0.0.1:10025
HUB_ADDR=192.0.2.2:25
HUB_HOST=hub.example.com
HUB_SOCK="$WORK/hub.sock"
EDGE_CONF="$WORK/edge.conf"
STORE="$WORK/mta" # the internal MTA's store while it works normally

# start_mta DIR [smtp-sink options]: the internal MTA (lib.bash's sink on $MTA).
start_mta() { SINK_ADDR=$MTA start_sink "$@"; }

# send TAG COUNT: COUNT messages from al-inet to the edge's MX; the results in $WORK/TAG.jsonl.
send() {
	ip netns exec al-inet timeout 60 python3 "$PY/smtpclient.py" send "$EDGE_MX" --count "$2" \
		--sessions 1 --size 1500 --tag "$1" --out "$WORK/$1.jsonl" >/dev/null 2>&1 || true
}
acked() { grep -c '"code": 250' "$WORK/$1.jsonl" 2>/dev/null || echo 0; }

# queue_all N REGEX: airlockctl queue --json lists exactly N messages, each attempted at
# least once, each with a deferral reason matching REGEX.
queue_all() {
	"$CTL" -c "$EDGE_CONF" queue --json 2>/dev/null | python3 -c '
import json, re, sys
m = json.load(sys.stdin)["messages"]
sys.exit(0 if len(m) == int(sys.argv[1]) and
         all(x["attempts"] >= 1 and re.search(sys.argv[2], x["reason"]) for x in m) else 1)' \
		"$1" "$2"
}
hub_proxy() { hub_ctl "$HUB_SOCK" "[h['proxy'][k] for k in ('delivered','tempfailed','rejected')]"; }
hold_area() { edge_ctl status 'd["queue"]["hold_area"]'; }
hold_is() { [ "$(hold_area)" = "$1" ]; }

# check_held MSGID: the edge's hold/ has the stamped message MSGID (nothing lost) with the hub's
# relay of the internal MTA's 5xx as its reason.
check_held() {
	local f line
	f=$(grep -l "^Message-Id: <$1>" "$WORK"/spool/hold/* 2>/dev/null | head -n 1 || true)
	expect "nothing lost: <$1> is in hold/ (${f##*/})" test -n "$f"
	[ -n "$f" ] || return 0
	line=$(grep -m1 '^hold ' "$f" || true)
	expect "... the hold reason is the hub's relay of the MTA's 5xx ($line)" \
		grep -Eq "^hold $HUB_ADDR said: 5[0-9]{2} 5\.[0-9]+\.[0-9]+ " <<<"$line"
	expect "... the held message carries the edge's X-Airlock-Scan stamp" \
		grep -qi '^X-Airlock-Scan: ' "$f"
}

# ---- the path: internal MTA, edge (scanning, creates its attestation key), hub ----------
sh "$AIRLOCK_SRC/tests/scan/make-test-db.sh" "$WORK/db" >/dev/null
chmod -R a+rX "$WORK/db"
start_mta "$WORK/mta4" -r . || exit 1

EDGE_HUBS="{ address = \"$HUB_ADDR\"; }" \
	SCAN_SECTION="scan = { enabled = true; database_dir = \"$WORK/db\"; threads = 2; timeout = 30; };" \
	write_edge_conf "$EDGE_CONF" "state_dir = \"$WORK/state\";"
start_edge "$EDGE_CONF" || exit 1
wait_for 30 "the edge's scan process is ready" grep -q "event=scan-ready" "$WORK/edge.log"
wait_for 10 "the edge created its attestation key" test -s "$WORK/state/attest.pub"
mkdir -p "$WORK/trusted"
cp "$WORK/state/attest.pub" "$WORK/trusted/edge.pub" || true

cat >"$WORK/hub.conf" <<EOT
hub = {
	listen = ["$HUB_ADDR"];
	hostname = "$HUB_HOST";
	trusted_keys = "$WORK/trusted";
	internal_mta = "$MTA";
	internal_timeout = 5;
	user = "nobody";
	control_socket = "$HUB_SOCK";
};
tunnel = {
	vici = "$AIRLOCK_HUB_VICI";
	connection = "$AIRLOCK_CONN";
	child = "$AIRLOCK_CHILD";
	device = "$AIRLOCK_TUN_DEVICE";
};
log = { level = "info"; };
EOT
start_hub "$WORK/hub.conf" "$HUB_SOCK" "$WORK/hub.log" || exit 1
expect "the hub trusts the edge's key" test "$(hub_ctl "$HUB_SOCK" 'h["attestation"]["trusted_keys"]')" = 1

# ---- 1. the internal MTA answers 4xx to end-of-data ----------------------------------------
log "phase 1: internal MTA answers 4xx to the content (smtp-sink -r .)"
send p1 2
expect "the client got 250 from the edge for both messages" test "$(acked p1)" -eq 2
wait_for 20 "airlockctl queue: 2 messages deferred with the hub's 451 4.3.0 (the MTA's 4xx)" \
	queue_all 2 "^$HUB_ADDR 451 4\.3\.0 Internal MTA deferred it: 4[0-9][0-9] "
"$CTL" -c "$EDGE_CONF" queue >"$WORK/queue1.txt" 2>&1 || true
log "airlockctl queue: $(sed -n 2p "$WORK/queue1.txt")"
p=$(hub_proxy)
expect "the hub counted tempfailed content, nothing delivered or rejected ($p)" python3 -c \
	'import sys; d, t, r = eval(sys.argv[1]); sys.exit(0 if d == 0 and t >= 2 and r == 0 else 1)' "$p"
# smtp-sink captures what it was sent even when it refuses it: its capture counts the offers.
expect "the 4xx MTA was offered the content ($(sink_count "$WORK/mta4") times) and accepted none" \
	test "$(sink_count "$WORK/mta4")" -ge 2 -a "$(hub_ctl "$HUB_SOCK" 'h["proxy"]["delivered"]')" = 0
expect "nothing reached the store" test ! -e "$STORE/dump"
stop_sink
start_mta "$STORE" || exit 1
wait_for 20 "with the MTA normal again both arrive" sink_has "$STORE" 2
wait_for 10 "the edge's queue is empty" queue_is 0
if python3 "$PY/check_sink.py" "$STORE" --hostname "$EDGE_HOST" --hub "$HUB_HOST" \
	--ike-id "$AIRLOCK_EDGE_ID" --acked "$WORK/p1.jsonl" --size 1500 --expect 2 \
	>"$WORK/check1.txt"; then
	pass "each exactly once, content identical below the added headers ($(head -1 "$WORK/check1.txt"))"
else
	cat "$WORK/check1.txt"
	fail "each exactly once, content identical below the added headers"
fi
expect "the hub counts 2 delivered ($(hub_proxy))" test "$(hub_ctl "$HUB_SOCK" 'h["proxy"]["delivered"]')" = 2

# ---- 2. the internal MTA answers 5xx to end-of-data ----------------------------------------
log "phase 2a: internal MTA answers 5xx to the content (smtp-sink -f .)"
stop_sink
start_mta "$WORK/mta5" -f . || exit 1
send p2 1
expect "the client got 250 from the edge" test "$(acked p2)" -eq 1
wait_for 20 "the edge moved the message to hold (status hold_area 1)" hold_is 1
check_held p2.0@test
sleep 3 # a few retry periods: a held message must not be retried
expect "a held message is not retried (queue empty, hold_area still 1)" \
	test "$(edge_ctl status '[d["queue"]["queued"], d["queue"]["hold_area"]]')" = "[0, 1]"
expect "the hub counted exactly one rejected, still 2 delivered ($(hub_proxy))" \
	test "$(hub_ctl "$HUB_SOCK" '[h["proxy"]["delivered"], h["proxy"]["rejected"]]')" = "[2, 1]"
expect "the 5xx MTA was offered it once, not again ($(sink_count "$WORK/mta5")); the store still holds 2" \
	test "$(sink_count "$WORK/mta5")" -eq 1 -a "$(sink_count "$STORE")" -eq 2

log "phase 2b: internal MTA refuses the recipient with 5xx (smtp-sink -f RCPT)"
stop_sink
start_mta "$WORK/mta5r" -f RCPT || exit 1
send p2r 1
expect "the client got 250 from the edge" test "$(acked p2r)" -eq 1
wait_for 20 "the edge moved it to hold as well (status hold_area 2)" hold_is 2
check_held p2r.0@test
expect "nothing queued, nothing delivered: the store still holds 2, the refusing MTA got no content" \
	test "$(queue_is 0 && echo q0)/$(sink_count "$STORE")/$(sink_count "$WORK/mta5r")" = q0/2/0

# ---- 3. the internal MTA hangs ------------------------------------------------------------
log "phase 3: internal MTA does not answer DATA for 30 s (smtp-sink -w 30), hub.internal_timeout 5"
stop_sink
start_mta "$WORK/mtaw" -w 30 || exit 1
temp0=$(hub_ctl "$HUB_SOCK" 'h["proxy"]["tempfailed"]')
send p3 1
t0=$SECONDS
expect "the client got 250 from the edge" test "$(acked p3)" -eq 1
wait_for 25 "the edge deferred it with the hub's 451 (airlockctl queue)" \
	queue_all 1 "^$HUB_ADDR 451 4\.[0-9]\.[0-9] .*timeout"
dt=$((SECONDS - t0))
"$CTL" -c "$EDGE_CONF" queue >"$WORK/queue3.txt" 2>&1 || true
log "airlockctl queue: $(sed -n 2p "$WORK/queue3.txt")"
expect "the 451 came after the hub's internal timeout (5 s; the deferral took ${dt}s)" \
	test "$dt" -ge 4 -a "$dt" -lt 25
expect "the hub counted the timeout as tempfailed" \
	test "$(hub_ctl "$HUB_SOCK" 'h["proxy"]["tempfailed"]')" -gt "$temp0"
expect "nothing delivered: the hung MTA got no content, the store still holds 2" \
	test "$(sink_count "$WORK/mtaw")" -eq 0 -a "$(sink_count "$STORE")" -eq 2
stop_sink
start_mta "$STORE" || exit 1
wait_for 30 "with the MTA normal again it arrives" sink_has "$STORE" 3
wait_for 10 "the edge's queue is empty" queue_is 0
cat "$WORK/p1.jsonl" "$WORK/p3.jsonl" >"$WORK/delivered.jsonl"
if python3 "$PY/check_sink.py" "$STORE" --hostname "$EDGE_HOST" --hub "$HUB_HOST" \
	--ike-id "$AIRLOCK_EDGE_ID" --acked "$WORK/delivered.jsonl" --size 1500 --expect 3 \
	>"$WORK/check3.txt"; then
	pass "the store: phases 1 and 3 each exactly once, intact ($(head -1 "$WORK/check3.txt"))"
else
	cat "$WORK/check3.txt"
	fail "the store: phases 1 and 3 each exactly once, intact"
fi
expect "nothing lost overall: 3 delivered + 2 held = 5 acknowledged; hub counts delivered 3" \
	test "$(sink_count "$STORE")/$(hold_area)/$(hub_ctl "$HUB_SOCK" 'h["proxy"]["delivered"]')" = 3/2/3

# ---- 4. the SA lost during a load: every message exactly once --------------------------------
log "phase 4: the hub's charon stops for 10 s during a load of 1,000 messages"
stop_sink
start_mta "$WORK/mtasa" || exit 1
ip netns exec al-inet timeout 300 smtp-source -s 5 -m 1000 -l 2048 -f sender@example.org \
	-t rcpt@example.com "$EDGE_MX" >"$WORK/smtp-source.log" 2>&1 &
SOURCE_PID=$!
wait_for 60 "the load is flowing (150 at the internal MTA)" sink_has "$WORK/mtasa" 150
"$TESTBED" stop-charon hub >"$WORK/stop-charon.log" 2>&1 || cat "$WORK/stop-charon.log"
log "the hub's charon stopped with $(sink_count "$WORK/mtasa") at the internal MTA"
sleep 10
"$TESTBED" start-charon hub >"$WORK/start-charon.log" 2>&1 || cat "$WORK/start-charon.log"
wait "$SOURCE_PID" && rc=0 || rc=$?
expect "smtp-source finished without errors (exit $rc)" \
	test "$rc" -eq 0 -a ! -s "$WORK/smtp-source.log"
wait_for 30 "the hub listens on charon's new TUN device" \
	grep -q "event=listeners-reopened device=$AIRLOCK_TUN_DEVICE" "$WORK/hub.log"
wait_for 180 "all 1,000 at the internal MTA" sink_has "$WORK/mtasa" 1000
wait_for 30 "the edge's queue is empty" queue_is 0
if python3 "$PY/check_sink.py" "$WORK/mtasa" --hostname "$EDGE_HOST" --hub "$HUB_HOST" \
	--ike-id "$AIRLOCK_EDGE_ID" --smtp-source --expect 1000 >"$WORK/check4.txt"; then
	pass "1,000 distinct messages, none lost ($(head -1 "$WORK/check4.txt"))"
else
	cat "$WORK/check4.txt"
	fail "1,000 distinct messages, none lost"
fi
dups=$(sed -n '1s/.*duplicates=\([0-9]*\).*/\1/p' "$WORK/check4.txt")
expect "none twice: the hub answered the edge's retries of delivered mail without delivering \
them again ($(hub_ctl "$HUB_SOCK" 'h["proxy"]["duplicates"]') such retries; duplicates=$dups)" \
	test "$dups" = 0

# ---- 5. the edge's charon stops with a delivery in flight ---------------------------------
# The hub is frozen (SIGSTOP), so the edge's delivery waits over the SA; then the edge's charon
# stops, which deletes the TUN device that delivery is pinned to. The edge abandons it within
# a second or two (not at its 300 s timeout) and retries once charon is back.
log "phase 5: the edge's charon stops while a delivery waits on a frozen hub"
delivered0=$(hub_ctl "$HUB_SOCK" 'h["proxy"]["delivered"]')
hub_procs=$(
	echo "$HUB_PID"
	pgrep -P "$HUB_PID" || true
)
kill -STOP $hub_procs
active_one() {
	"$CTL" -c "$EDGE_CONF" queue --json 2>/dev/null |
		python3 -c 'import json, sys; m = json.load(sys.stdin)["messages"]; sys.exit(0 if len(m) == 1 and m[0]["active"] else 1)'
}
send p5 1
expect "the client got 250 from the edge" test "$(acked p5)" -eq 1
wait_for 10 "the delivery is in flight towards the frozen hub" active_one
"$TESTBED" stop-charon edge >"$WORK/stop-charon-edge.log" 2>&1 || cat "$WORK/stop-charon-edge.log"
t0=$SECONDS
wait_for 10 "the edge abandoned the delivery on the deleted TUN device" \
	grep -q "event=deliveries-abandoned reason=device-gone abandoned=1" "$WORK/edge.log"
expect "... within 5 s of charon's stop ($((SECONDS - t0)) s), its reason in airlockctl queue" \
	test $((SECONDS - t0)) -le 5 -a "$(queue_all 1 "device $AIRLOCK_TUN_DEVICE gone" && echo y)" = y
kill -CONT $hub_procs
"$TESTBED" start-charon edge >"$WORK/start-charon-edge.log" 2>&1 || cat "$WORK/start-charon-edge.log"
hub_delivered() { [ "$(hub_ctl "$HUB_SOCK" 'h["proxy"]["delivered"]')" = "$1" ]; }
wait_for 60 "with charon back the edge delivers it" hub_delivered $((delivered0 + 1))
wait_for 30 "the edge's queue is empty" queue_is 0

if [ $FAILURES -gt 0 ]; then
	log "hub proxy counters [delivered, tempfailed, rejected]: $(hub_proxy 2>/dev/null || true)"
	log "last lines of the hub's log:"
	tail -n 25 "$WORK/hub.log"
fi
