#!/bin/bash
# The hub's kernel gate, both mechanisms, on the testbed with its real charons:
#  - kernel XFRM: a listener on the hub's outer address with a per-socket IN policy
#    requiring ESP (tunnel_socket_xfrm_policy). A clear-text connection from al-dmz
#    times out (the SYN is dropped, not refused) and XfrmInTmplMismatch in al-hub's
#    /proc/net/xfrm_stat rises; the same connection to an unpinned listener next to
#    it succeeds, so the drop is the policy's doing.
#  - kernel-libipsec: listeners bound to ipsec0 (tunnel_socket_bind_device) accept
#    the edge through the tunnel (source 192.0.2.1) but nothing in clear text: not
#    al-dmz or the edge on the outer address, not al-dmz routing to the inner address.
# The listener is tests/tools/xfrm_listen.c, built with the tests.
source "$(dirname "$0")/lib.bash"
LISTEN="$AIRLOCK_BIN/xfrm_listen"
HUB_OUTER=203.0.113.2
HUB_INNER=192.0.2.2
PORT_XFRM=2600    # --xfrm on the outer address
PORT_PLAIN=2601   # unpinned control listener on the outer address
PORT_DEV_INNER=2602 # --device ipsec0 on the inner address
PORT_DEV_ANY=2603 # --device ipsec0 on every address

[ -x "$LISTEN" ] || {
	log "FAIL - $LISTEN is missing (build the xfrm_listen target)"
	exit 1
}

testbed_up

# tmpl_mismatch: al-hub's XfrmInTmplMismatch counter (per network namespace).
tmpl_mismatch() {
	ip netns exec al-hub awk '$1 == "XfrmInTmplMismatch" { print $2 }' /proc/net/xfrm_stat
}

# start_listener NAME MODE... : xfrm_listen in al-hub, output in $WORK/NAME.out.
start_listener() {
	local name=$1
	shift
	ip netns exec al-hub "$LISTEN" "$@" 120 >"$WORK/$name.out" 2>"$WORK/$name.err" &
	local i
	for i in $(seq 50); do
		grep -q '^listening' "$WORK/$name.out" 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$WORK/$name.err"
	fail "listener $name started"
	return 1
}

# connect NS ADDR PORT: a TCP connection with a 3 s limit; prints the line the
# listener sends. Exit status: 0 connected, 124 timed out, other: refused or unreachable.
connect() {
	ip netns exec "$1" timeout 3 python3 - "$2" "$3" <<'EOT'
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

accepted_count() { grep -c '^accepted' "$WORK/$1.out" || true; }

# --- kernel XFRM: per-socket IN policy ----------------------------------------------------
start_listener xfrm --xfrm "$HUB_OUTER:$PORT_XFRM"
start_listener plain --plain "$HUB_OUTER:$PORT_PLAIN"

before=$(tmpl_mismatch)
out=$(connect al-dmz "$HUB_OUTER" "$PORT_XFRM") && rc=0 || rc=$?
expect "clear text from al-dmz to the XFRM-pinned listener times out (exit $rc: $out)" \
	test "$rc" -eq 124
after=$(tmpl_mismatch)
expect "XfrmInTmplMismatch in al-hub rose ($before -> $after)" test "$after" -gt "$before"
expect "the XFRM-pinned listener accepted nothing" test "$(accepted_count xfrm)" -eq 0

out=$(connect al-dmz "$HUB_OUTER" "$PORT_PLAIN") && rc=0 || rc=$?
expect "control: the unpinned listener next to it accepts al-dmz ($out)" \
	test "$rc" -eq 0 -a "$out" = "accepted 203.0.113.66"
out=$(connect al-edge "$HUB_OUTER" "$PORT_XFRM") && rc=0 || rc=$?
expect "clear text from the edge's DMZ address is dropped too (exit $rc)" test "$rc" -eq 124
expect "the XFRM-pinned listener still accepted nothing" test "$(accepted_count xfrm)" -eq 0

# --- kernel-libipsec: bound to the TUN device ------------------------------------------
start_listener dev_inner --device "$AIRLOCK_TUN_DEVICE" "$HUB_INNER:$PORT_DEV_INNER"
start_listener dev_any --device "$AIRLOCK_TUN_DEVICE" "0.0.0.0:$PORT_DEV_ANY"

out=$(connect al-edge "$HUB_INNER" "$PORT_DEV_INNER") && rc=0 || rc=$?
expect "the edge through the tunnel is accepted from 192.0.2.1 ($out)" \
	test "$rc" -eq 0 -a "$out" = "accepted 192.0.2.1"
out=$(connect al-edge "$HUB_INNER" "$PORT_DEV_ANY") && rc=0 || rc=$?
expect "the device-bound wildcard listener accepts the tunnel too ($out)" \
	test "$rc" -eq 0 -a "$out" = "accepted 192.0.2.1"

out=$(connect al-dmz "$HUB_OUTER" "$PORT_DEV_ANY") && rc=0 || rc=$?
expect "clear text from al-dmz to the outer address is not accepted (exit $rc: $out)" \
	test "$rc" -ne 0
out=$(connect al-edge "$HUB_OUTER" "$PORT_DEV_ANY") && rc=0 || rc=$?
expect "clear text from the edge to the outer address is not accepted (exit $rc: $out)" \
	test "$rc" -ne 0

# al-dmz routes the hub's inner address over the DMZ, in clear text.
ip netns exec al-dmz ip route replace "$HUB_INNER/32" via "$HUB_OUTER"
out=$(connect al-dmz "$HUB_INNER" "$PORT_DEV_INNER") && rc=0 || rc=$?
expect "al-dmz routing to the inner address in clear is not accepted (exit $rc: $out)" \
	test "$rc" -ne 0
ip netns exec al-dmz ip route del "$HUB_INNER/32" via "$HUB_OUTER" 2>/dev/null || true

expect "the inner device-bound listener accepted exactly the tunnel connection" \
	test "$(accepted_count dev_inner)" -eq 1
expect "the wildcard device-bound listener accepted exactly the tunnel connection" \
	test "$(accepted_count dev_any)" -eq 1
expect "every accepted source was 192.0.2.1" \
	test -z "$(grep -h '^accepted' "$WORK"/dev_*.out | grep -v '^accepted 192\.0\.2\.1$')"
