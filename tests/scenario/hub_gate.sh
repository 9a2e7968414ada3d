#!/bin/bash
# airlock-hub on the testbed with the real charons (kernel-libipsec), smtp-sink as the
# internal MTA on 127.0.0.1:10025 in al-hub, and messages stamped with a test edge key:
#  - tunnel.backend = auto resolves to libipsec (charon's VICI stats);
#  - a stamped message from al-edge (source 192.0.2.1, through the SA) gets 250 only
#    after the sink stored it, byte for byte apart from the added headers, with the
#    edge's IKE identity in the hub's Received: header;
#  - the same stamped transaction again (the edge's retry after a lost 250) gets 250
#    "already delivered", is not delivered a second time, and is counted and logged;
#  - missing / tampered / foreign-key / unscanned stamps get 550 5.7.1 and reach nothing;
#  - the internal MTA's MAIL and RCPT replies reach the edge live (4xx sender, 5xx
#    recipient); its answers to the content: 4xx / 5xx / hanging -> 451 / 5xx / 451 after
#    hub.internal_timeout; absent -> 451 4.4.1 at MAIL;
#  - SIGHUP reloads the trusted keys;
#  - clear text to the outer address, al-dmz routing to the inner address, a
#    connection on a CHILD_SA of a connection the hub does not trust (554, no-sa),
#    al-dmz spoofing 192.0.2.1 after the SA is gone, and the hub's charon stopped
#    (421 or no connection) never reach SMTP; refusals are logged with their reason and
#    counted in the control socket's status;
#  - charon restarted (a new TUN device, under a new interface index): the hub opens its
#    listeners again on it and accepts mail through the new SA;
#  - a missing TUN device makes the hub fail to start with a clear error;
#  - SIGTERM stops it cleanly.
source "$(dirname "$0")/lib.bash"
: "${AIRLOCK_TESTS:=$AIRLOCK_BIN/../tests}"
HUBD="$AIRLOCK_BIN/airlock-hub"
STAMP="$AIRLOCK_TESTS/attest_stamp"
SEND="$PY/hubsend.py"
HUB_INNER=192.0.2.2
HUB_OUTER=203.0.113.2
EDGE_INNER=192.0.2.1
DMZ_ADDR=203.0.113.66
MTA=127.0.0.1:10025

for f in "$HUBD" "$STAMP"; do
	[ -x "$f" ] || {
		log "FAIL - $f is missing (build airlock-hub and attest_stamp)"
		exit 1
	}
done

testbed_up
chmod 755 "$WORK"

# ---- helpers --------------------------------------------------------------------------

# start_mta DIR [smtp-sink options] / stop_mta: the internal MTA in al-hub (lib.bash's
# smtp-sink helpers on the hub's loopback).
start_mta() { SINK_ADDR=$MTA start_sink "$@"; }
stop_mta() { stop_sink; }


# write_hub_conf FILE BACKEND LISTEN SOCKET [extra hub lines]
write_hub_conf() {
	local file=$1 backend=$2 listen=$3 sock=$4
	shift 4
	cat >"$file" <<EOT
hub = {
	listen = ["$listen"];
	hostname = "hub.example.com";
	trusted_keys = "$WORK/trusted";
	internal_mta = "$MTA";
	internal_timeout = 5;
	user = "nobody";
	control_socket = "$sock";
	$*
};
tunnel = {
	vici = "$AIRLOCK_HUB_VICI";
	connection = "$AIRLOCK_CONN";
	child = "$AIRLOCK_CHILD";
	backend = "$backend";
	device = "$AIRLOCK_TUN_DEVICE";
};
log = { level = "info"; };
EOT
}

# start_hub, stop_hub and hub_ctl come from lib.bash.

# make_msg FILE TAG: a plain message with CRLF lines (and a line needing dot-stuffing).
make_msg() {
	python3 - "$1" "$2" <<'EOT'
import sys
body = "".join(f"line {i} of the hub scenario message, some text to hash.\r\n" for i in range(200))
msg = (f"From: <sender@example.org>\r\nTo: <rcpt@example.com>\r\nSubject: {sys.argv[2]}\r\n"
       f"Message-Id: <{sys.argv[2]}@test>\r\n\r\n" + body + ".a line with a leading dot\r\n")
open(sys.argv[1], "wb").write(msg.encode())
EOT
}

# send NS BIND TARGET FILE: prints "STAGE CODE REPLY".
send() {
	local ns=$1 bind=$2 target=$3 file=$4
	local opt=()
	[ "$bind" != - ] && opt=(--bind "$bind")
	ip netns exec "$ns" timeout 40 python3 "$SEND" "$target" "$file" "${opt[@]}" \
		--timeout 15 || true
}

code_of() { awk '{ print $1 " " $2 }' <<<"$1"; }

# fresh_good: the good message with a stamp of a queue id not used before (the hub answers a
# second delivery of one transaction without delivering it again); prints its path.
fresh_good() {
	local id=GOOD$(date +%s%N)
	"$STAMP" "$WORK/edgekey" -i "$id" <"$WORK/plain.eml" >"$WORK/$id.eml"
	echo "$WORK/$id.eml"
}

SOCK="$WORK/hub.sock"
CONF="$WORK/hub.conf"
HLOG="$WORK/hub.log"

# Keys: the trusted test edge key, and a foreign one.
"$STAMP" "$WORK/edgekey" </dev/null >/dev/null
"$STAMP" "$WORK/otherkey" </dev/null >/dev/null
cp "$WORK/edgekey/attest.pub" "$WORK/trusted"

make_msg "$WORK/plain.eml" hub-good
"$STAMP" "$WORK/edgekey" -i GOOD1 <"$WORK/plain.eml" >"$WORK/good.eml"
sed 's/line 7 of/line 8 of/' "$WORK/good.eml" >"$WORK/tampered.eml"
"$STAMP" "$WORK/otherkey" -i OTHER1 <"$WORK/plain.eml" >"$WORK/foreign.eml"
"$STAMP" "$WORK/edgekey" -i UNSCANNED1 -u <"$WORK/plain.eml" >"$WORK/unscanned.eml"
"$STAMP" "$WORK/edgekey" -i STALE1 -t $(($(date +%s) - 2000000)) <"$WORK/plain.eml" >"$WORK/stale.eml"

# ---- the hub, libipsec through tunnel.backend = auto ----------------------------------
start_mta "$WORK/mta"
write_hub_conf "$CONF" auto "$HUB_INNER:25" "$SOCK"
start_hub "$CONF" "$SOCK" "$HLOG" || exit 1
expect "tunnel.backend = auto resolved to libipsec from charon's stats" \
	test "$(hub_ctl "$SOCK" 'h["gate"]["backend"]')" = libipsec
expect "the smtp process runs as hub.user (nobody)" \
	test -n "$(ps -o user= --ppid "$HUB_PID" | grep -x nobody)"

out=$(send al-edge "$EDGE_INNER" "$HUB_INNER:25" "$WORK/good.eml")
expect "a stamped message through the SA gets 250 ($out)" test "$(code_of "$out")" = "end 250"
expect "the internal MTA holds it" test "$(sink_count "$WORK/mta")" -eq 1
expect "its bytes are what the edge sent, below the added header fields" \
	python3 - "$WORK/mta/dump" "$WORK/good.eml" <<'EOT'
import sys
stored = open(sys.argv[1], "rb").read()
if stored.endswith(b"\n\n"):  # smtp-sink ends each dump with an empty line of its own
    stored = stored[:-1]
sent = open(sys.argv[2], "rb").read().replace(b"\r\n", b"\n")
if not stored.endswith(sent):
    tail = stored[-len(sent):]
    i = next((k for k in range(len(sent)) if tail[k] != sent[k]), -1)
    print(f"stored {len(stored)} sent {len(sent)} first difference at {i}:", file=sys.stderr)
    print(repr(tail[max(0, i - 80):i + 80]), repr(sent[max(0, i - 80):i + 80]), file=sys.stderr)
    sys.exit(1)
prefix = stored[: len(stored) - len(sent)]
for line in prefix.split(b"\n"):
    if line and not (line[:1] in (b" ", b"\t") or b":" in line.split(b" ")[0]):
        print("not a header line above the message:", repr(line), file=sys.stderr)
        sys.exit(1)
# Above it: smtp-sink's pseudo headers, its own Received: and exactly one of the hub's.
if prefix.count(b"\nReceived: ") != 2 or prefix.count(b"by hub.example.com (airlock)") != 1:
    print("unexpected header fields above the message:", prefix.decode(), file=sys.stderr)
    sys.exit(1)
EOT
expect "the hub's Received: names the edge's IKE identity edge.example.com" \
	grep -q 'IKE identity "edge.example.com"' "$WORK/mta/dump"
expect "the Received: header is the hub's (by hub.example.com, from 192.0.2.1)" \
	grep -q "by hub.example.com (airlock)" "$WORK/mta/dump"
# The edge's retry of a message delivered (it lost the 250): 250, not delivered again.
out=$(send al-edge "$EDGE_INNER" "$HUB_INNER:25" "$WORK/good.eml")
expect "the same transaction again: 250 already delivered, not again ($out)" \
	grep -q "^end 250 2.0.0 Ok: already delivered (GOOD1), not delivered again" <<<"$out"
expect "the internal MTA still holds one copy" test "$(sink_count "$WORK/mta")" -eq 1
expect "status counts the duplicate, delivered 1" \
	test "$(hub_ctl "$SOCK" '[h["proxy"]["duplicates"], h["proxy"]["delivered"]]')" = "[1, 1]"
expect "the duplicate is logged with the edge's queue id" \
	grep -q "event=hub-duplicate .*id=GOOD1" "$HLOG"
expect "the gate logged the accepted connection with its identity" \
	grep -q "event=gate-accepted peer=$EDGE_INNER .*identity=\"\?edge.example.com" "$HLOG"

for c in "plain:missing" "tampered:body-mismatch" "foreign:unknown-key" "unscanned:unscanned" \
	"stale:stale"; do
	f=${c%%:*} reason=${c#*:}
	out=$(send al-edge "$EDGE_INNER" "$HUB_INNER:25" "$WORK/$f.eml")
	expect "$f stamp: 550 5.7.1 with the reason $reason ($out)" \
		grep -q "^end 550 5.7.1 Scan attestation refused: $reason" <<<"$out"
done
expect "nothing refused reached the internal MTA" test "$(sink_count "$WORK/mta")" -eq 1
expect "status counts the refusals by result" \
	test "$(hub_ctl "$SOCK" '[h["attestation"]["by_result"][k] for k in ("missing","body-mismatch","unknown-key","unscanned","stale")] + [h["attestation"]["verified"], h["attestation"]["refused"]]')" = "[1, 1, 1, 1, 1, 2, 5]"

# SIGHUP: trust only the foreign key; the good stamp is now unknown, the foreign one good.
cp "$WORK/otherkey/attest.pub" "$WORK/trusted"
kill -HUP "$HUB_PID"
wait_for 5 "SIGHUP reloaded the trusted keys" grep -q "event=keys-reloaded" "$HLOG"
sleep 0.5
out=$(send al-edge "$EDGE_INNER" "$HUB_INNER:25" "$(fresh_good)")
expect "after the reload the old key is unknown ($out)" \
	grep -q "^end 550 5.7.1 Scan attestation refused: unknown-key" <<<"$out"
out=$(send al-edge "$EDGE_INNER" "$HUB_INNER:25" "$WORK/foreign.eml")
expect "after the reload the new key is trusted ($out)" test "$(code_of "$out")" = "end 250"
cp "$WORK/edgekey/attest.pub" "$WORK/trusted"
kill -HUP "$HUB_PID"
sleep 1

# The smtp process killed: the parent restarts it and hands it the keys again.
child=$(ps -o pid= --ppid "$HUB_PID" | tr -d ' ' | head -n1)
kill -KILL "$child"
new_child() {
	local c
	c=$(ps -o pid= --ppid "$HUB_PID" | tr -d ' ' | head -n1)
	[ -n "$c" ] && [ "$c" != "$child" ]
}
wait_for 10 "the parent restarted the killed smtp process" new_child
sleep 0.5
out=$(send al-edge "$EDGE_INNER" "$HUB_INNER:25" "$(fresh_good)")
expect "after the restart a stamped message is delivered again ($out)" \
	test "$(code_of "$out")" = "end 250"

# ---- the internal MTA's answers -----------------------------------------------------------
stop_mta
start_mta "$WORK/mta4" -r .
out=$(send al-edge "$EDGE_INNER" "$HUB_INNER:25" "$(fresh_good)")
expect "internal MTA 4xx at end of data: the edge gets 451 ($out)" \
	grep -q "^end 451 4\." <<<"$out"
stop_mta
start_mta "$WORK/mta5" -f .
out=$(send al-edge "$EDGE_INNER" "$HUB_INNER:25" "$(fresh_good)")
expect "internal MTA 5xx at end of data: the edge gets 5xx ($out)" grep -q "^end 5" <<<"$out"
stop_mta
start_mta "$WORK/mtaw" -W .:30
t0=$SECONDS
out=$(send al-edge "$EDGE_INNER" "$HUB_INNER:25" "$(fresh_good)")
dt=$((SECONDS - t0))
expect "internal MTA hanging: 451 after hub.internal_timeout (5 s; took ${dt}s: $out)" \
	test "$(code_of "$out")" = "end 451" -a "$dt" -ge 4 -a "$dt" -le 15
stop_mta
start_mta "$WORK/mtar" -f RCPT
out=$(send al-edge "$EDGE_INNER" "$HUB_INNER:25" "$(fresh_good)")
expect "internal MTA refusing the recipient: the edge's RCPT gets its 5xx live ($out)" \
	grep -Eq "^rcpt 5[0-9][0-9] " <<<"$out"
stop_mta
start_mta "$WORK/mtam" -r MAIL
out=$(send al-edge "$EDGE_INNER" "$HUB_INNER:25" "$(fresh_good)")
expect "internal MTA deferring the sender: the edge's MAIL gets its 4xx live ($out)" \
	grep -Eq "^mail 4[0-9][0-9] " <<<"$out"
expect "neither reached the internal MTA's store" \
	test "$(sink_count "$WORK/mtar")" -eq 0 -a "$(sink_count "$WORK/mtam")" -eq 0
stop_mta
out=$(send al-edge "$EDGE_INNER" "$HUB_INNER:25" "$(fresh_good)")
expect "internal MTA down: the edge's MAIL gets 451 4.4.1 ($out)" \
	grep -q "^mail 451 4.4.1 " <<<"$out"
expect "status counts the content outcomes (delivered 3, tempfailed 2, rejected 1)" \
	test "$(hub_ctl "$SOCK" '[h["proxy"][k] for k in ("delivered","tempfailed","rejected")]')" = "[3, 2, 1]"
start_mta "$WORK/mtab"

# ---- sources that must never reach SMTP -------------------------------------------------
out=$(send al-edge - "$HUB_OUTER:25" "$(fresh_good)")
expect "clear text from the edge to the outer address gets no greeting ($out)" \
	grep -Eq "^(connect|greeting) 0" <<<"$out"
ip netns exec al-dmz ip route replace "$HUB_INNER/32" via "$HUB_OUTER"
out=$(send al-dmz - "$HUB_INNER:25" "$(fresh_good)")
expect "al-dmz routing to the inner address in clear gets no greeting ($out)" \
	grep -Eq "^(connect|greeting) 0" <<<"$out"
expect "no connection from al-dmz was accepted" \
	test -z "$(grep "event=gate-accepted peer=$DMZ_ADDR" "$HLOG")"

# A CHILD_SA of a connection the hub does not trust: 554 5.7.1, reason no-sa.
stop_hub
write_hub_conf "$CONF" libipsec "$HUB_INNER:25" "$SOCK" 'connections = ["some-other-edge"];'
start_hub "$CONF" "$SOCK" "$HLOG" || exit 1
sleep 1
out=$(send al-edge "$EDGE_INNER" "$HUB_INNER:25" "$(fresh_good)")
expect "an SA of an unconfigured connection gets 554 5.7.1 at once ($out)" \
	grep -q "^greeting 554 5.7.1" <<<"$out"
expect "the refusal is logged with peer and reason" \
	grep -q "event=gate-refused peer=$EDGE_INNER port=[0-9]* verdict=reject reason=no-sa" "$HLOG"
expect "status counts it: rejected 1, by_reason no-sa 1, last_refused 192.0.2.1/no-sa" \
	test "$(hub_ctl "$SOCK" '[h["gate"]["rejected"], h["gate"]["by_reason"]["no-sa"], h["gate"]["last_refused"]["peer"], h["gate"]["last_refused"]["reason"]]')" = "[1, 1, '$EDGE_INNER', 'no-sa']"
stop_hub
write_hub_conf "$CONF" libipsec "$HUB_INNER:25" "$SOCK"
start_hub "$CONF" "$SOCK" "$HLOG" || exit 1

# The SA torn down; al-dmz spoofs the edge's inner address with a route back planted.
"$TESTBED" swanctl edge --terminate --ike "$AIRLOCK_CONN" --timeout 10 >/dev/null 2>&1 || true
sleep 1
ip netns exec al-dmz ip addr add "$EDGE_INNER/32" dev "$AIRLOCK_DMZ_BRIDGE" 2>/dev/null || true
ip netns exec al-hub ip route replace "$EDGE_INNER/32" via "$DMZ_ADDR"
out=$(send al-dmz "$EDGE_INNER" "$HUB_INNER:25" "$(fresh_good)")
expect "al-dmz spoofing 192.0.2.1 without an SA gets no greeting ($out)" \
	grep -Eq "^(connect|greeting) 0|^greeting 554" <<<"$out"
expect "nothing from the spoofed source reached the internal MTA" \
	test "$(sink_count "$WORK/mtab")" -eq 0
ip netns exec al-hub ip route del "$EDGE_INNER/32" via "$DMZ_ADDR" 2>/dev/null || true

# The hub's charon stopped: 421 or no connection at all. A session open over the SA when it
# stops is dropped by the hub at once (its TUN device is gone), not left to its timeout.
"$TESTBED" initiate >/dev/null 2>&1 || true
ip netns exec al-edge timeout 60 python3 -c '
import socket, sys, time
s = socket.create_connection((sys.argv[2], 25), timeout=10, source_address=(sys.argv[1], 0))
s.recv(512)
open(sys.argv[3], "w").write("greeted\n")
time.sleep(50)' "$EDGE_INNER" "$HUB_INNER" "$WORK/idle-session" >/dev/null 2>&1 &
IDLE_PID=$!
wait_for 10 "a session over the SA is open and idle" test -s "$WORK/idle-session"
"$TESTBED" stop-charon hub >/dev/null 2>&1 || true
wait_for 10 "the hub's status shows VICI down" \
	test "$(hub_ctl "$SOCK" 'h["gate"]["vici_connected"]')" = False
out=$(send al-edge "$EDGE_INNER" "$HUB_INNER:25" "$(fresh_good)")
expect "with the hub's charon stopped the edge gets 421 or no connection ($out)" \
	grep -Eq "^(connect|greeting) 0|^greeting 421 4.7.0" <<<"$out"
expect "still nothing at the internal MTA" test "$(sink_count "$WORK/mtab")" -eq 0

# charon back: it creates the TUN device anew, under a new interface index; the hub opens its
# listeners again on it, and mail through the new SA is accepted.
wait_for 10 "the hub noticed that the TUN device went away" \
	grep -q "event=tunnel-device-gone device=$AIRLOCK_TUN_DEVICE" "$HLOG"
wait_for 5 "the hub dropped the session that came over the deleted device" \
	grep -q "event=stale-sessions-dropped device=$AIRLOCK_TUN_DEVICE ifindex=0 dropped=1" "$HLOG"
kill "$IDLE_PID" 2>/dev/null || true
wait "$IDLE_PID" 2>/dev/null || true
"$TESTBED" start-charon hub >/dev/null 2>&1 || true
wait_for 10 "the hub opened its listeners again on the new device" \
	grep -q "event=listeners-reopened device=$AIRLOCK_TUN_DEVICE listen=$HUB_INNER:25 ifindex=[1-9]" "$HLOG"
"$TESTBED" initiate >/dev/null 2>&1 || true
wait_for 20 "the hub's status shows VICI up again" \
	test "$(hub_ctl "$SOCK" 'h["gate"]["vici_connected"]')" = True
out=$(send al-edge "$EDGE_INNER" "$HUB_INNER:25" "$(fresh_good)")
expect "after charon's restart a stamped message through the new SA gets 250 ($out)" \
	test "$(code_of "$out")" = "end 250"
expect "... and reaches the internal MTA" test "$(sink_count "$WORK/mtab")" -eq 1

# SIGTERM: a clean stop.
kill "$HUB_PID"
rc=0
wait "$HUB_PID" || rc=$?
HUB_PID=
expect "SIGTERM stops the hub with status 0 (got $rc)" test "$rc" -eq 0
expect "the control socket is gone" test ! -e "$SOCK"
expect "the stop is logged" grep -q "event=stopped" "$HLOG"

# A TUN device that does not exist: a clear error after the bounded wait.
write_hub_conf "$WORK/nodev.conf" libipsec "$HUB_INNER:2526" "$WORK/nodev.sock"
sed -i 's/device = ".*"/device = "ipsec9"/' "$WORK/nodev.conf"
rc=0
ip netns exec al-hub timeout 60 "$HUBD" -c "$WORK/nodev.conf" >"$WORK/nodev.log" 2>&1 || rc=$?
expect "a missing TUN device: exit 1 after waiting (got $rc)" test "$rc" -eq 1
expect "with a one-line error naming the device" grep -q "^airlock-hub: .*ipsec9" "$WORK/nodev.log"
expect "after a log line about the wait" grep -q "event=waiting-for-device device=ipsec9" "$WORK/nodev.log"

if [ $FAILURES -gt 0 ]; then
	log "last lines of the hub's log:"
	tail -n 30 "$HLOG"
fi
