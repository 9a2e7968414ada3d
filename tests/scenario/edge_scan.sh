#!/bin/bash
# Scanning on the edge (testbed): viruses in every wrapping get 550 5.7.1 with the signature
# name in the log and nothing queued; blocked attachments are rejected, or stripped when
# configured; a clean message arrives at the sink with an X-Airlock-Scan stamp that verifies
# (and fails for a changed body byte), incoming X-Airlock-* fields are gone; a scan process
# killed with a message in flight costs that message 451 4.7.1, later ones go through and
# nothing acknowledged is lost.
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
msg() { python3 "$M" build "$@"; }
send() { ip netns exec al-inet python3 "$M" send "$EDGE_MX" "$1"; }

# write_scan_conf FILE [policy lines]: the relay config plus scanning.
write_scan_conf() {
	SCAN_SECTION= write_edge_conf "$1" "state_dir = \"$WORK/state\";"
	cat >>"$1" <<EOT
scan = { enabled = true; database_dir = "$WORK/db"; threads = 2; timeout = 30; };
policy = { $2 };
EOT
}

EDGE_CONF="$WORK/edge.conf"
write_scan_conf "$EDGE_CONF" ""
start_sink "$WORK/sink"
start_edge "$EDGE_CONF"
wait_for 20 "the scan process is ready" grep -q "event=scan-ready" "$WORK/edge.log"
expect "smtp, queue and scan run as nobody" \
	test "$(ps -o user= --ppid "$EDGE_PID" | sort -u | tr -d ' \n')" = nobody

# --- libclamav's temporary files: a tmpfs only the scan process sees ------------------------------
# scan_temp_pids: the edge's children whose mount table has a tmpfs on STATE/scan-tmp.
scan_temp_pids() {
	local c
	for c in $(ps -o pid= --ppid "$EDGE_PID"); do
		grep -q " $WORK/state/scan-tmp .* - tmpfs " "/proc/$c/mountinfo" 2>/dev/null && echo "$c"
	done
}
SCANPID=$(scan_temp_pids)
expect "exactly one child (scan) has a tmpfs on state/scan-tmp: '$SCANPID'" \
	test "$(wc -w <<<"$SCANPID")" -eq 1
expect "the host's mount table does not have it" \
	bash -c '! grep -q "$1" /proc/self/mountinfo' - " $WORK/state/scan-tmp "
expect "in the scan process it belongs to nobody, mode 700" \
	test "$(nsenter -t "${SCANPID:-1}" -m stat -c '%U %a' "$WORK/state/scan-tmp")" = "nobody 700"
expect "scan-ready says so" grep -q "event=scan-ready .*temp=$WORK/state/scan-tmp temp_private=yes" \
	"$WORK/edge.log"

# --- viruses --------------------------------------------------------------------------------
msg attach "$WORK/v-exe.eml" "$T/clam.exe"
msg attach "$WORK/v-zip.eml" "$T/clam.zip"
msg zipzip "$WORK/v-zipzip.eml" "$T/clam.exe"
msg targz "$WORK/v-targz.eml" "$T/clam.exe"
msg raw "$WORK/v-mbox.eml" "$T/clam.exe.mbox.base64"
msg raw "$WORK/v-mail.eml" "$T/clam.mail"
SIG=Airlock.Test.clam.exe.UNOFFICIAL
for v in exe zip zipzip targz mbox mail; do
	out=$(send "$WORK/v-$v.eml")
	expect "virus ($v): $out" test "$out" = "550 5.7.1 Message rejected: virus found ($SIG)"
done
expect "the signature name is logged for all six" \
	test "$(grep -c "event=scanned .*verdict=infected virus=$SIG" "$WORK/edge.log")" -eq 6
expect "nothing was queued" test -z "$(ls "$WORK/spool/queue")"
expect "no temp file is left" test -z "$(ls "$WORK/spool/tmp")"

# --- attachment policy ------------------------------------------------------------------------
echo "harmless" >"$WORK/harmless.txt"
msg attach "$WORK/p-exe.eml" "$WORK/harmless.txt" prog.exe
msg attach "$WORK/p-js.eml" "$WORK/harmless.txt" run.js
msg attach "$WORK/p-double.eml" "$WORK/harmless.txt" invoice.pdf.exe
msg rfc2231 "$WORK/p-2231.eml" "$WORK/harmless.txt" screen.scr
msg zipped "$WORK/p-zip.eml" "$WORK/harmless.txt" inside.exe
for p in "exe:prog.exe (default-extension)" "js:run.js (default-extension)" \
	"double:invoice.pdf.exe (double-extension)" "2231:screen.scr (default-extension)" \
	"zip:archive.zip!inside.exe (default-extension)"; do
	out=$(send "$WORK/p-${p%%:*}.eml")
	name=${p#*:}
	expect "attachment ${p%%:*}: $out" \
		test "$out" = "550 5.7.1 Message rejected: attachment ${name% *} not allowed ${name#* }"
done
expect "still nothing queued" test -z "$(ls "$WORK/spool/queue")"

# --- a clean message: delivered, stamped, verifiable ------------------------------------------
msg clean "$WORK/clean.eml" clean-one
out=$(send "$WORK/clean.eml")
out1=$out
expect "a clean message is accepted: $out" grep -q "^250 2.0.0 Ok: queued as" <<<"$out"
wait_for 30 "it reaches the sink" sink_has "$WORK/sink" 1
python3 "$M" split "$WORK/sink/dump" "$WORK/got" >/dev/null
expect "one X-Airlock-Scan field at the sink" test "$(grep -ci '^X-Airlock-' "$WORK/got/1.eml")" -eq 1
expect "the forged incoming fields are gone" test "$(grep -c 'forged' "$WORK/got/1.eml")" -eq 0
expect "the body arrived" grep -q "Hello, this is clean-one." "$WORK/got/1.eml"
# stamp_verifies FILE ID: its stamp verifies with the edge's key and names queue id ID.
stamp_verifies() {
	if "$CHECK" "$WORK/state/attest.pub" "$1" >"$1.check"; then
		pass "the stamp of ${1##*/} verifies: $(cat "$1.check")"
	else
		fail "the stamp of ${1##*/} verifies: $(cat "$1.check")"
	fi
	expect "it names the queue id the client was given" grep -q "id=$2 verdict=clean" "$1.check"
}
stamp_verifies "$WORK/got/1.eml" "${out##* }"
sed 's/A second line/A second lime/' "$WORK/got/1.eml" >"$WORK/tampered.eml"
out=$("$CHECK" "$WORK/state/attest.pub" "$WORK/tampered.eml") && rc=0 || rc=$?
expect "one changed body byte fails it: $out" test "$rc" -eq 1 -a "${out%% *}" = body-mismatch
expect "with fields to remove, the whole message was written again" \
	grep -q "event=stamped id=${out1##* } .*removed_fields=2 rewritten=no written=whole" \
	"$WORK/edge.log"

# Nothing to remove: the stamp goes in front of the content as written (queue_tx_prefix).
msg plain "$WORK/plain.eml" plain-one
out=$(send "$WORK/plain.eml")
expect "a plain message is accepted: $out" grep -q "^250 2.0.0 Ok: queued as" <<<"$out"
expect "it was stamped in place" \
	grep -q "event=stamped id=${out##* } .*removed_fields=0 rewritten=no written=prefix" \
	"$WORK/edge.log"
wait_for 30 "it reaches the sink" sink_has "$WORK/sink" 2
python3 "$M" split "$WORK/sink/dump" "$WORK/got" >/dev/null
expect "one X-Airlock-Scan field on it" test "$(grep -ci '^X-Airlock-' "$WORK/got/2.eml")" -eq 1
expect "its body arrived" grep -q "Hello, this is plain-one." "$WORK/got/2.eml"
stamp_verifies "$WORK/got/2.eml" "${out##* }"

# --- the scan process killed with a message in flight -----------------------------------------
scan_pid() { edge_ctl status '[p["pid"] for p in d["processes"] if p["name"] == "scan"][0]'; }
# For wait_for, which runs a command again and again (arguments are expanded only once).
smtp_busy() { [ "$(edge_ctl status 'd["smtp"]["connections_now"]')" -ge 1 ]; }
scan_replaced() { local now; now=$(scan_pid); [ "$now" -gt 0 ] && [ "$now" != "$1" ]; }
ready_more_than() { [ "$(grep -c "event=scan-ready" "$WORK/edge.log")" -gt "$1" ]; }
pid=$(scan_pid)
kill -STOP "$pid"
send "$WORK/clean.eml" >"$WORK/inflight.txt" &
sender=$!
wait_for 10 "a message waits for the stopped scanner" smtp_busy
sleep 0.5
kill -KILL "$pid"
wait "$sender" || true
expect "the message in flight gets 451 4.7.1: $(cat "$WORK/inflight.txt")" \
	grep -q "^451 4.7.1" "$WORK/inflight.txt"
expect "smtp logged the lost scanner" grep -q "event=scan-lost in_flight=1 why=scanner-died" "$WORK/edge.log"
wait_for 20 "a new scan process starts" scan_replaced "$pid"
wait_for 20 "the new scan process is ready" ready_more_than 1
# A load while the scanner is killed again: every 250 must arrive, every other reply is 451.
ip netns exec al-inet python3 "$PY/smtpclient.py" send "$EDGE_MX" --count 60 --sessions 6 \
	--size 2000 --tag load --no-retry --out "$WORK/load.jsonl" >/dev/null &
loader=$!
sleep 0.3
pid=$(scan_pid)
kill -KILL "$pid" 2>/dev/null || true
wait "$loader" || true
wait_for 20 "the scan process is back" scan_replaced "$pid"
acked=$(grep -c '"code": 250' "$WORK/load.jsonl")
other=$(grep -v '"code": 250' "$WORK/load.jsonl" | grep -vc '"code": 451' || true)
expect "load: all 60 answered" test "$(wc -l <"$WORK/load.jsonl")" -eq 60
expect "load: $acked acknowledged, the rest 451 ($other other replies)" test "$acked" -ge 1 -a "$other" -eq 0
wait_for 60 "every acknowledged message arrives ($acked + 2)" sink_has "$WORK/sink" $((acked + 2))
all_acked_arrived() {
	python3 - "$WORK/load.jsonl" "$WORK/sink/dump" <<'EOT'
import json, sys
dump = open(sys.argv[2], errors="replace").read()
ids = [json.loads(l)["msgid"] for l in open(sys.argv[1]) if json.loads(l)["code"] == 250]
sys.exit(0 if all(f"Message-Id: <{i}>" in dump for i in ids) else 1)
EOT
}
expect "each acknowledged message is in the sink by its Message-Id" all_acked_arrived
out=$(send "$WORK/clean.eml")
expect "a message after the restarts is accepted: $out" grep -q "^250 2.0.0" <<<"$out"
# smtp and scan talk over a link the parent gives both; a new smtp process gets a new one.
smtp_pid() { edge_ctl status '[p["pid"] for p in d["processes"] if p["name"] == "smtp"][0]'; }
smtp_replaced() { local now; now=$(smtp_pid); [ "$now" -gt 0 ] && [ "$now" != "$1" ]; }
links=$(grep -c "event=scan-linked" "$WORK/edge.log")
pid=$(smtp_pid)
kill -KILL "$pid"
wait_for 20 "a new smtp process starts" smtp_replaced "$pid"
wait_for 20 "it gets a scan link" bash -c "[ \$(grep -c event=scan-linked '$WORK/edge.log') -gt $links ]"
scanned=$(grep -c "event=scanned .*action=accept" "$WORK/edge.log")
out=$(send "$WORK/clean.eml")
expect "after smtp's restart a message is accepted: $out" grep -q "^250 2.0.0" <<<"$out"
expect "... and it was scanned over the new link" \
	test "$(grep -c "event=scanned .*action=accept" "$WORK/edge.log")" -eq $((scanned + 1))
expect "status shows the scanner" test "$(edge_ctl status 'd["scan"]["signatures"]')" -gt 0
"$AIRLOCK_BIN/airlockctl" -c "$EDGE_CONF" status >"$WORK/status.txt" 2>&1 || true
expect "airlockctl status shows a scanner line" grep -q "^  scanner  ClamAV" "$WORK/status.txt"

# --- SIGHUP reloads the database ---------------------------------------------------------------
kill -HUP "$EDGE_PID"
wait_for 20 "SIGHUP reloads the database" grep -q "event=scan-reload ok=1" "$WORK/edge.log"

# --- strip instead of reject -------------------------------------------------------------------
ready=$(grep -c "event=scan-ready" "$WORK/edge.log")
stop_edge
write_scan_conf "$EDGE_CONF" 'attachment_action = "strip";'
start_edge "$EDGE_CONF"
wait_for 20 "the scan process is ready (strip)" ready_more_than "$ready"
n=$(sink_count "$WORK/sink")
msg twoparts "$WORK/strip.eml" strip-one tool.exe
out=$(send "$WORK/strip.eml")
expect "with attachment_action = strip the message is accepted: $out" grep -q "^250 2.0.0" <<<"$out"
wait_for 30 "it reaches the sink" sink_has "$WORK/sink" $((n + 1))
rm -rf "$WORK/got" && python3 "$M" split "$WORK/sink/dump" "$WORK/got" >/dev/null
last="$WORK/got/$((n + 1)).eml"
expect "the text part is intact" grep -q "^Keep this text: strip-one" "$last"
expect "the attachment is replaced by a notice" grep -q "^Name: tool.exe" "$last"
expect "the attachment's content is gone" test "$(grep -c "TVogbm90" "$last")" -eq 0
expect "the stripped message's stamp verifies" "$CHECK" "$WORK/state/attest.pub" "$last"

# --- scan.temp_dir is where libclamav writes ------------------------------------------------------
# A directory the scan process (nobody) cannot write: libclamav would answer clean without
# scanning what needs its temporary files, so the scan process does not start, and mail is
# deferred (scan.on_scanner_failure = tempfail).
ready=$(grep -c "event=scan-ready" "$WORK/edge.log")
stop_edge
write_scan_conf "$WORK/bad-tmp.conf" ""
sed -i "s|threads = 2;|threads = 2; temp_dir = \"$WORK/no-such-dir\";|" "$WORK/bad-tmp.conf"
out=$("$AIRLOCK_BIN/airlock-edge" -n -c "$WORK/bad-tmp.conf" 2>&1) && rc=0 || rc=$?
expect "-n refuses a scan.temp_dir that does not exist: $out" \
	test "$rc" -ne 0 -a "$out" = "airlock-edge: scan.temp_dir $WORK/no-such-dir: No such file or directory"
install -d -m 0700 -o root "$WORK/locked-tmp"
write_scan_conf "$EDGE_CONF" ""
sed -i "s|threads = 2;|threads = 2; temp_dir = \"$WORK/locked-tmp\";|" "$EDGE_CONF"
start_edge "$EDGE_CONF"
wait_for 20 "the scan process refuses to start: temp_dir not writable" grep -q \
	"event=scan-error reason=\"libclamav's temporary directory $WORK/locked-tmp is not writable" \
	"$WORK/edge.log"
out=$(send "$WORK/clean.eml")
expect "no scanner, no acceptance: 451 4.7.1 ($out)" grep -q "^451 4.7.1" <<<"$out"

# --- scan.temp_size bounds libclamav's private tmpfs ---------------------------------------------
# 1 MiB of tmpfs: libclamav cannot write the decoded 3 MiB attachment; it would answer clean,
# its error message makes it a scan error and the message is deferred; a small one still passes.
ready=$(grep -c "event=scan-ready" "$WORK/edge.log")
stop_edge
write_scan_conf "$EDGE_CONF" ""
sed -i 's/threads = 2;/threads = 2; temp_size = 1;/' "$EDGE_CONF"
start_edge "$EDGE_CONF"
wait_for 20 "the scan process is ready (temp_size = 1)" ready_more_than "$ready"
expect "scan-ready shows the 1 MiB tmpfs" grep -q "temp_private=yes temp_size_mib=1$" "$WORK/edge.log"
head -c 3145728 /dev/urandom >"$WORK/big.bin"
msg attach "$WORK/big.eml" "$WORK/big.bin"
out=$(send "$WORK/big.eml")
expect "3 MiB to decode into a 1 MiB tmpfs: 451 4.7.1 ($out)" grep -q "^451 4.7.1" <<<"$out"
expect "the scan error is logged with libclamav's message" \
	grep -q "event=scanned .*verdict=error reason=\"libclamav: " "$WORK/edge.log"
out=$(send "$WORK/clean.eml")
expect "a small message still passes: $out" grep -q "^250 2.0.0" <<<"$out"
stop_edge
expect "the private tmpfs left nothing in state/scan-tmp on the host" \
	test -z "$(ls -A "$WORK/state/scan-tmp")"
