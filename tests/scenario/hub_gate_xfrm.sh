#!/bin/bash
# airlock-hub with tunnel.backend = "xfrm": its listener carries the per-socket IN policy
# requiring ESP before listen(). On the testbed (kernel-libipsec, no ESP in the kernel)
# nothing can satisfy it, which is what makes clear text visible: a clear-text connection
# from al-dmz or the edge to the hub's outer address times out (the SYN is dropped, not
# refused), XfrmInTmplMismatch in al-hub rises, the hub never accepts (its gate counters
# stay 0 and it logs no session), while an unpinned listener next to it accepts the same
# connection (tests/tools/xfrm_listen --plain), so the drop is the policy's doing.
source "$(dirname "$0")/lib.bash"
HUBD="$AIRLOCK_BIN/airlock-hub"
LISTEN="$AIRLOCK_BIN/xfrm_listen"
HUB_OUTER=203.0.113.2
PORT_HUB=2610
PORT_PLAIN=2611

for f in "$HUBD" "$LISTEN"; do
	[ -x "$f" ] || {
		log "FAIL - $f is missing"
		exit 1
	}
done

testbed_up
chmod 755 "$WORK"
: >"$WORK/trusted"
cat >"$WORK/hub.conf" <<EOT
hub = {
	listen = ["$HUB_OUTER:$PORT_HUB"];
	hostname = "hub.example.com";
	trusted_keys = "$WORK/trusted";
	user = "nobody";
	control_socket = "$WORK/hub.sock";
};
tunnel = {
	vici = "$AIRLOCK_HUB_VICI";
	connection = "$AIRLOCK_CONN";
	backend = "xfrm";
};
log = { level = "info"; };
EOT
ip netns exec al-hub "$HUBD" -c "$WORK/hub.conf" >"$WORK/hub.log" 2>&1 &
HUB_PID=$!
for i in $(seq 100); do
	[ -S "$WORK/hub.sock" ] && break
	sleep 0.1
done
expect "airlock-hub started with tunnel.backend = xfrm" test -S "$WORK/hub.sock"
ip netns exec al-hub "$LISTEN" --plain "$HUB_OUTER:$PORT_PLAIN" 120 >"$WORK/plain.out" 2>&1 &
for i in $(seq 50); do
	grep -q '^listening' "$WORK/plain.out" 2>/dev/null && break
	sleep 0.1
done

status() {
	python3 - "$WORK/hub.sock" "$1" <<'EOT'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b'{"cmd":"status"}\n')
h = json.loads(s.makefile().readline())["hub"]
print(eval(sys.argv[2]))
EOT
}
tmpl_mismatch() {
	ip netns exec al-hub awk '$1 == "XfrmInTmplMismatch" { print $2 }' /proc/net/xfrm_stat
}
# connect NS PORT: exit 0 connected (prints the first line), 124 timed out, other: refused.
connect() {
	ip netns exec "$1" timeout 3 python3 - "$HUB_OUTER" "$2" <<'EOT'
import socket, sys
s = socket.socket()
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
except OSError as e:
    print(e.strerror)
    sys.exit(1)
s.settimeout(2)
print(s.makefile().readline().strip())
EOT
}

expect "status names the backend xfrm" test "$(status 'h["gate"]["backend"]')" = xfrm
before=$(tmpl_mismatch)
out=$(connect al-dmz $PORT_HUB) && rc=0 || rc=$?
expect "clear text from al-dmz to the hub's XFRM-pinned listener times out (exit $rc: $out)" \
	test "$rc" -eq 124
out=$(connect al-edge $PORT_HUB) && rc=0 || rc=$?
expect "clear text from the edge's DMZ address times out too (exit $rc: $out)" test "$rc" -eq 124
after=$(tmpl_mismatch)
expect "XfrmInTmplMismatch in al-hub rose ($before -> $after)" test "$after" -gt "$before"
out=$(connect al-dmz $PORT_PLAIN) && rc=0 || rc=$?
expect "control: an unpinned listener next to it accepts al-dmz ($out)" \
	test "$rc" -eq 0 -a "$out" = "accepted 203.0.113.66"
expect "the hub accepted nothing (gate accepted + refused = 0)" \
	test "$(status 'h["gate"]["accepted"] + h["gate"]["rejected"] + h["gate"]["tempfailed"]')" = 0
expect "the hub logged no gate decision and no session" \
	test -z "$(grep -E 'event=(gate-|hub-session)' "$WORK/hub.log")"
kill "$HUB_PID"
wait "$HUB_PID" && rc=0 || rc=$?
expect "SIGTERM stops it (status $rc)" test "$rc" -eq 0
