#!/bin/bash
# The whole path, as the demo runs it: "contrib/testbed up" (not --bare) starts airlock-edge
# (scanning), airlock-hub and Postfix as the internal MTA on al-hub's loopback. A clean
# message sent from al-inet to the MX arrives in the maildir with its header and body intact
# (only fields added), the hub's Received: naming the edge's IKE identity and the edge's
# X-Airlock-Scan stamp, which verifies with the edge's key; an EICAR message gets 550 5.7.1
# and nothing more arrives; airlockctl status works on both hosts and shows the hub's
# counters; with contrib/nftables/airlock-hub.nft loaded in al-hub mail still flows through
# the tunnel while clear text to the hub's inner address from the DMZ is dropped.
source "$(dirname "$0")/lib.bash"
for t in swaks sigtool postfix nft; do
	if ! command -v "$t" >/dev/null; then
		echo "SKIP $SCENARIO: needs $t (contrib/install-deps.sh)"
		exit 77
	fi
done
: "${AIRLOCK_TESTS:=$AIRLOCK_BIN/../tests}"
CHECK="$AIRLOCK_TESTS/attest_check"
CTL="$AIRLOCK_BIN/airlockctl"
for b in "$AIRLOCK_BIN/airlock-edge" "$AIRLOCK_BIN/airlock-hub" "$CTL" "$CHECK"; do
	[ -x "$b" ] || { log "FAIL - $b not built"; exit 1; }
done

dump_logs() {
	[ $FAILURES -gt 0 ] || return 0
	local f
	for f in "${AIRLOCK_EDGE_LOG:-}" "${AIRLOCK_HUB_LOG:-}" "${AIRLOCK_HUB_MTA_LOG:-}"; do
		[ -n "$f" ] && [ -s "$f" ] || continue
		log "last lines of $f:"
		tail -n 25 "$f"
	done
}

AIRLOCK_BIN="$AIRLOCK_BIN" "$TESTBED" up >"$WORK/testbed-up.log" 2>&1 || {
	cat "$WORK/testbed-up.log"
	log "FAIL - testbed up (full)"
	exit 1
}
eval "$("$TESTBED" env)"
expect "the testbed runs the whole path" test "$AIRLOCK_TESTBED_MODE" = full
"$TESTBED" status >"$WORK/status.txt" 2>&1 && rc=0 || rc=$?
expect "testbed status: SA, both daemons and the internal MTA run (exit $rc)" test "$rc" -eq 0

# ctl_json SOCKET PYTHON_EXPR: the control socket's status reply d, evaluated.
ctl_json() {
	python3 - "$1" "$2" <<'EOT'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b'{"cmd":"status"}\n')
d = json.loads(s.makefile().readline())
print(eval(sys.argv[2]))
EOT
}
maildir_count() { find "$AIRLOCK_MAILDIR/new" "$AIRLOCK_MAILDIR/cur" -type f 2>/dev/null | wc -l; }
maildir_has() { [ "$(maildir_count)" -ge "$1" ]; }
send() { ip netns exec al-inet python3 "$PY/scanmsg.py" send "$AIRLOCK_EDGE_MX" "$1"; }

# --- a clean message --------------------------------------------------------------------------
# CRLF lines; a leading dot (dot-stuffing both ways), trailing blanks, a long line, and a
# folded header field must all survive unchanged.
python3 - "$WORK/clean.eml" <<'EOT'
import sys
long = "0123456789abcdef" * 60
msg = ("From: Alice <sender@example.org>\r\n"
       "To: Bob <rcpt@example.com>\r\n"
       "Subject: full path test\r\n"
       "Message-ID: <full-path-1@example.org>\r\n"
       "Date: Sat, 28 Nov 2026 06:00:00 +0000\r\n"
       "X-Folded: first part\r\n\tsecond part\r\n"
       "MIME-Version: 1.0\r\n"
       "Content-Type: text/plain; charset=us-ascii\r\n"
       "\r\n"
       "Hello Bob, this crossed the airlock.\r\n"
       ".a line that starts with a dot\r\n"
       "..two dots\r\n"
       "trailing blanks   \r\n"
       "\r\n"
       + long + "\r\n"
       "Bye.\r\n")
open(sys.argv[1], "wb").write(msg.encode())
EOT
out=$(send "$WORK/clean.eml") || true
expect "the edge accepts the clean message: $out" grep -q "^250 2.0.0 Ok: queued as" <<<"$out"
wait_for 90 "it is delivered into the maildir ($AIRLOCK_MAILDIR)" maildir_has 1
got=$(find "$AIRLOCK_MAILDIR/new" "$AIRLOCK_MAILDIR/cur" -type f | head -n 1)
expect "exactly one file in the maildir" test "$(maildir_count)" -eq 1
[ -n "$got" ] && cp "$got" "$WORK/got.eml" || : >"$WORK/got.eml"

# Compares sent and delivered: body byte for byte, every sent header field still there
# in order; prints what was added.
python3 - "$WORK/clean.eml" "$WORK/got.eml" >"$WORK/compare.txt" <<'EOT' && rc=0 || rc=$?
import re, sys
sent = open(sys.argv[1], "rb").read()
got = open(sys.argv[2], "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
def split(m):
    h, sep, b = m.partition(b"\r\n\r\n")
    fields = re.split(rb"\r\n(?![ \t])", h)
    return fields, b
sf, sb = split(sent)
gf, gb = split(got)
ok = True
if sb != gb:
    print(f"body differs: sent {len(sb)} bytes, got {len(gb)}")
    ok = False
pos = 0
for f in sf:
    try:
        pos = gf.index(f, pos) + 1
    except ValueError:
        print("sent field missing or reordered:", f[:80])
        ok = False
added = [f for f in gf if f not in sf]
print("added:", " | ".join(a.split(b":")[0].decode() for a in added))
sys.exit(0 if ok else 1)
EOT
expect "body byte for byte, sent fields unchanged ($(tail -n 1 "$WORK/compare.txt"))" test "$rc" -eq 0
[ "$rc" -eq 0 ] || cat "$WORK/compare.txt"
unfolded() { python3 -c 'import re,sys; h=open(sys.argv[1],"rb").read().split(b"\n\n")[0]; print(re.sub(rb"\r?\n[ \t]+", b" ", h).decode(errors="replace"))' "$1"; }
unfolded "$WORK/got.eml" >"$WORK/got-head.txt"
expect "the hub's Received: names the edge's IKE identity ($AIRLOCK_EDGE_ID)" \
	grep -q "^Received: .*(IKE identity \"$AIRLOCK_EDGE_ID\"" "$WORK/got-head.txt"
expect "one X-Airlock-Scan stamp" test "$(grep -ci '^X-Airlock-Scan:' "$WORK/got-head.txt")" -eq 1
sed 's/$/\r/' "$WORK/got.eml" >"$WORK/got-crlf.eml"
if "$CHECK" "$AIRLOCK_EDGE_ATTEST_PUB" "$WORK/got-crlf.eml" >"$WORK/check.txt" 2>&1; then
	pass "the stamp verifies with the edge's key: $(cat "$WORK/check.txt")"
else
	fail "the stamp verifies with the edge's key: $(cat "$WORK/check.txt")"
fi
expect "the stamp names the queue id the client was given" \
	grep -q "id=${out##* } verdict=clean" "$WORK/check.txt"

# --- an infected message ----------------------------------------------------------------------
python3 - "$WORK/eicar.eml" <<'EOT'
import sys
eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR" + "-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
msg = ("From: <sender@example.org>\r\nTo: <rcpt@example.com>\r\nSubject: eicar\r\n"
       "Message-ID: <full-path-eicar@example.org>\r\n\r\n" + eicar + "\r\n")
open(sys.argv[1], "wb").write(msg.encode())
EOT
out=$(send "$WORK/eicar.eml") || true
expect "the EICAR message is refused with 550 5.7.1: $out" grep -q "^550 5.7.1" <<<"$out"
expect "the edge logs the virus" \
	grep -q "event=scanned .*verdict=infected virus=Airlock.Test.EICAR" "$AIRLOCK_EDGE_LOG"
expect "the edge's queue is empty" test "$(ctl_json "$AIRLOCK_EDGE_SOCK" 'd["queue"]["queued"]')" = 0
expect "the hub proxied exactly one message" \
	test "$(ctl_json "$AIRLOCK_HUB_SOCK" 'd["hub"]["proxy"]["delivered"]')" = 1
expect "the hub's gate accepted the edge" \
	test "$(ctl_json "$AIRLOCK_HUB_SOCK" 'd["hub"]["gate"]["accepted"]')" -ge 1
expect "still one file in the maildir" test "$(maildir_count)" -eq 1

# --- airlockctl on both hosts -----------------------------------------------------------------
"$CTL" -c "$AIRLOCK_EDGE_CONF" status >"$WORK/ctl-edge.txt" 2>&1 && rc=0 || rc=$?
expect "airlockctl status on the edge exits 0 ($rc)" test "$rc" -eq 0
expect "... and shows the edge daemon" grep -q "^edge daemon: " "$WORK/ctl-edge.txt"
"$CTL" -c "$AIRLOCK_HUB_CONF" status >"$WORK/ctl-hub.txt" 2>&1 && rc=0 || rc=$?
expect "airlockctl status on the hub exits 0 ($rc)" test "$rc" -eq 0
expect "... and shows the hub daemon listening on 192.0.2.2:25" \
	grep -q "^hub daemon: pid [0-9]*  up .*  listening 192.0.2.2:25" "$WORK/ctl-hub.txt"
expect "... with one message proxied to the internal MTA" \
	grep -q "^  proxy  internal MTA 127.0.0.1:10025: delivered 1," "$WORK/ctl-hub.txt"
"$CTL" -c "$AIRLOCK_HUB_CONF" status --json >"$WORK/ctl-hub.json" 2>&1 || true
expect "status --json carries the hub under \"hub\"" python3 -c \
	'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["hub"]["proxy"]["delivered"]==1 else 1)' \
	"$WORK/ctl-hub.json"
[ $FAILURES -eq 0 ] || cat "$WORK/ctl-hub.txt"

# --- nftables belt and braces in al-hub -------------------------------------------------------
NFT="$AIRLOCK_SRC/contrib/nftables/airlock-hub.nft"
expect "airlock-hub.nft parses" nft -c -f "$NFT"
expect "airlock-hub.nft loads in al-hub" ip netns exec al-hub nft -f "$NFT"
nft_count() { ip netns exec al-hub nft list counter inet airlock_hub "$1" | awk '/packets/ { print $2 }'; }
sed 's/full-path-1@/full-path-2@/' "$WORK/clean.eml" >"$WORK/clean2.eml"
out=$(send "$WORK/clean2.eml") || true
expect "with the ruleset, a clean message is accepted: $out" grep -q "^250 2.0.0" <<<"$out"
wait_for 90 "and delivered through the tunnel" maildir_has 2
expect "the ruleset counted it as via IPsec" test "$(nft_count via_ipsec)" -gt 0
# A host on the DMZ routes to the hub's inner address in clear text: dropped, not refused.
ip netns exec al-dmz ip route replace "$AIRLOCK_HUB_INNER/32" via "$AIRLOCK_HUB_OUTER"
ip netns exec al-dmz timeout 10 python3 - "$AIRLOCK_HUB_INNER" >"$WORK/dmz.txt" 2>&1 <<'EOT' || true
import socket, sys
s = socket.socket()
s.settimeout(3)
try:
    s.connect((sys.argv[1], 25))
    print("connected")
except socket.timeout:
    print("timeout")
except OSError as e:
    print("error", e)
EOT
expect "clear text from the DMZ to $AIRLOCK_HUB_INNER:25 is dropped ($(cat "$WORK/dmz.txt"))" \
	grep -qx timeout "$WORK/dmz.txt"
expect "the ruleset counted it as not via IPsec" test "$(nft_count not_ipsec)" -gt 0
ip netns exec al-dmz ip route del "$AIRLOCK_HUB_INNER/32" 2>/dev/null || true
ip netns exec al-hub nft delete table inet airlock_hub || true

dump_logs
