#!/bin/bash
# Quarantine and envelope rules on the edge (testbed): a transport rule quarantining the
# subject "quarantine me" gets the client a 250 and keeps the message away from the sink;
# `airlockctl quarantine list` shows it with the rule's reason, `show` its envelope and
# headers, `release` delivers it (stamped, verifiable), `delete` removes another. A bcc rule
# adds a recipient and a redirect rule replaces them (smtp-sink's X-Rcpt-Args lines); the
# scan-result header reaches the recipient once, incoming copies removed.
source "$(dirname "$0")/lib.bash"
T=/usr/share/clamav-testfiles
if ! command -v sigtool >/dev/null || [ ! -f "$T/clam.exe" ]; then
	echo "SKIP $SCENARIO: needs sigtool (clamav) and clamav-testfiles"
	exit 77
fi
: "${AIRLOCK_TESTS:=$AIRLOCK_BIN/../tests}"
CHECK="$AIRLOCK_TESTS/attest_check"
[ -x "$CHECK" ] || { log "FAIL - $CHECK not built"; exit 1; }
testbed_up

sh "$AIRLOCK_SRC/tests/scan/make-test-db.sh" "$WORK/db" >/dev/null
chmod -R a+rX "$WORK/db"
M="$PY/scanmsg.py"
CTL() { "$AIRLOCK_BIN/airlockctl" -c "$EDGE_CONF" "$@"; }

# mail FILE SUBJECT [extra header line]: a small plain message.
mail() {
	{
		printf 'From: <sender@example.org>\r\nTo: <rcpt@example.com>\r\n'
		[ -z "${3:-}" ] || printf '%s\r\n' "$3"
		printf 'Subject: %s\r\nMessage-ID: <%s@example.org>\r\n\r\n' "$2" "${2// /.}"
		printf 'This is %s.\r\n' "$2"
	} >"$1"
}
send() { ip netns exec al-inet python3 "$M" send "$EDGE_MX" "$1"; }
# dump_of SUBJECT: the sink's record (smtp-sink's X-* lines and the message) with SUBJECT.
dump_of() {
	rm -rf "$WORK/got" && python3 "$M" split "$WORK/sink/dump" "$WORK/got" >/dev/null
	grep -l "^Subject: $1"$'\r'"\$" "$WORK/got"/*.eml | head -1
}

EDGE_CONF="$WORK/edge.conf"
SCAN_SECTION= write_edge_conf "$EDGE_CONF" "state_dir = \"$WORK/state\";"
cat >>"$EDGE_CONF" <<EOT
scan = { enabled = true; database_dir = "$WORK/db"; threads = 2; timeout = 30; };
policy = { rules = (
	{ name = "hold-subject"; if = ( { subject = { contains = "quarantine me"; }; } );
	  then = ( { quarantine = "the subject asks for it"; } ); },
	{ name = "copy-audit"; if = ( { subject = { contains = "copy me"; }; } );
	  then = ( { bcc = "audit@example.com"; } ); },
	{ name = "to-desk"; if = ( { subject = { contains = "redirect me"; }; } );
	  then = ( { redirect = "desk@example.com"; } ); }
); };
EOT
start_sink "$WORK/sink"
start_edge "$EDGE_CONF"
wait_for 20 "the scan process is ready" grep -q "event=scan-ready" "$WORK/edge.log"
QDIR="$WORK/spool/quarantine"
expect "the quarantine directory was created with the spool, owned by nobody" \
	test "$(stat -c %U:%a "$QDIR")" = nobody:700

# --- quarantined: 250, not delivered ------------------------------------------------------------
mail "$WORK/q1.eml" "please quarantine me one"
mail "$WORK/q2.eml" "please quarantine me two"
mail "$WORK/plain.eml" "a plain one"
out1=$(send "$WORK/q1.eml")
expect "a quarantined message gets 250: $out1" grep -q "^250 2.0.0 Ok: queued as " <<<"$out1"
out2=$(send "$WORK/q2.eml")
expect "a second one too: $out2" grep -q "^250 2.0.0 Ok: queued as " <<<"$out2"
ID1=${out1##* }
ID2=${out2##* }
out=$(send "$WORK/plain.eml")
expect "a plain message is accepted: $out" grep -q "^250 2.0.0" <<<"$out"
wait_for 30 "the plain message reaches the sink" sink_has "$WORK/sink" 1
sleep 2
expect "only the plain message is at the sink" test "$(sink_count "$WORK/sink")" -eq 1
expect "no quarantined message is at the sink" test "$(grep -c "quarantine me" "$WORK/sink/dump")" -eq 0
expect "both are in the quarantine directory" test -f "$QDIR/$ID1" -a -f "$QDIR/$ID2"
expect "the quarantine is logged with its reason" \
	grep -q "event=quarantined id=$ID1 .*reason=\"rule hold-subject: the subject asks for it\"" \
	"$WORK/edge.log"

# --- airlockctl quarantine list / show ----------------------------------------------------------
CTL quarantine list >"$WORK/list.txt" 2>&1 || true
expect "list shows the first with its reason" \
	grep -q "^$ID1 .*sender@example.org .*rule hold-subject: the subject asks for it" "$WORK/list.txt"
expect "list shows the second" grep -q "^$ID2 " "$WORK/list.txt"
expect "list counts two" grep -q "^2 quarantined messages" "$WORK/list.txt"
CTL quarantine show "$ID1" >"$WORK/show.txt" 2>&1 || true
expect "show prints the sender" grep -q "^from:    <sender@example.org>" "$WORK/show.txt"
expect "show prints the recipient" grep -q "^to:      <rcpt@example.com>" "$WORK/show.txt"
expect "show prints the client" grep -q "^client:  198.51.100.10 (helo client.example.org" "$WORK/show.txt"
expect "show prints the reason" grep -q "^reason:  rule hold-subject: the subject asks for it" "$WORK/show.txt"
expect "show prints the headers" grep -q "^Subject: please quarantine me one$" "$WORK/show.txt"
expect "the kept copy is stamped" grep -q "^X-Airlock-Scan: v=1; id=$ID1;" "$WORK/show.txt"
expect "the kept copy has the scan-result header" \
	grep -q "^X-Virus-Status: clean (ClamAV [0-9.]*, db " "$WORK/show.txt"
CTL quarantine show 0000000000000000000Z >"$WORK/show-bad.txt" 2>&1 && rc=0 || rc=$?
expect "show of an unknown id fails: $(cat "$WORK/show-bad.txt")" \
	test "$rc" -eq 1 -a -n "$(grep "no quarantined message" "$WORK/show-bad.txt")"
CTL quarantine show ../../etc >"$WORK/show-bad.txt" 2>&1 && rc=0 || rc=$?
expect "show of a path is refused as not a queue id: $(cat "$WORK/show-bad.txt")" \
	test "$rc" -eq 1 -a -n "$(grep "not a queue id" "$WORK/show-bad.txt")"

# --- release delivers, delete removes ------------------------------------------------------------
out=$(CTL quarantine release "$ID1" 2>&1) || true
expect "release: $out" test "$out" = "$ID1 released"
wait_for 30 "the released message reaches the sink" sink_has "$WORK/sink" 2
got=$(dump_of "please quarantine me one")
expect "the sink got the released message" test -n "$got"
if [ -n "$got" ] && "$CHECK" "$WORK/state/attest.pub" "$got" >"$WORK/check.txt"; then
	pass "the released message's stamp verifies: $(cat "$WORK/check.txt")"
else
	fail "the released message's stamp verifies: $(cat "$WORK/check.txt" 2>/dev/null)"
fi
expect "it is gone from the quarantine" test ! -e "$QDIR/$ID1"
out=$(CTL quarantine delete "$ID2" 2>&1) || true
expect "delete: $out" test "$out" = "$ID2 deleted"
expect "the deleted one is gone" test ! -e "$QDIR/$ID2"
CTL quarantine list >"$WORK/list.txt" 2>&1 || true
expect "the list is empty" grep -q "^0 quarantined messages" "$WORK/list.txt"
sleep 2
expect "the deleted message never reached the sink" \
	test "$(grep -c "quarantine me two" "$WORK/sink/dump")" -eq 0

# --- bcc and redirect change the envelope --------------------------------------------------------
mail "$WORK/bcc.eml" "please copy me"
mail "$WORK/redir.eml" "please redirect me"
out=$(send "$WORK/bcc.eml")
expect "bcc message accepted: $out" grep -q "^250 2.0.0" <<<"$out"
out=$(send "$WORK/redir.eml")
expect "redirect message accepted: $out" grep -q "^250 2.0.0" <<<"$out"
wait_for 30 "both reach the sink" sink_has "$WORK/sink" 4
got=$(dump_of "please copy me")
expect "bcc: the sink saw RCPT for the original recipient" grep -q "^X-Rcpt-Args: <rcpt@example.com>" "$got"
expect "bcc: and for the added one" grep -q "^X-Rcpt-Args: <audit@example.com>" "$got"
got=$(dump_of "please redirect me")
expect "redirect: the sink saw RCPT for the new recipient" grep -q "^X-Rcpt-Args: <desk@example.com>" "$got"
expect "redirect: and for no other" test "$(grep -c "^X-Rcpt-Args:" "$got")" -eq 1

# --- the scan-result header --------------------------------------------------------------------
mail "$WORK/forged.eml" "a forged status" "X-Virus-Status: clean (forged)"
out=$(send "$WORK/forged.eml")
expect "message with a forged status accepted: $out" grep -q "^250 2.0.0" <<<"$out"
wait_for 30 "it reaches the sink" sink_has "$WORK/sink" 5
got=$(dump_of "a forged status")
expect "exactly one X-Virus-Status at the sink" test "$(grep -ci "^X-Virus-Status:" "$got")" -eq 1
expect "it is ours: clean (ClamAV ..., db ...)" \
	grep -q "^X-Virus-Status: clean (ClamAV [0-9.]*, db [a-z0-9-]*)"$'\r'"\$" "$got"
expect "its stamp still verifies" "$CHECK" "$WORK/state/attest.pub" "$got"
