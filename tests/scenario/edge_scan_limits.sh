#!/bin/bash
# Scan limits and reloads on the edge (testbed): a signature database reload (SIGHUP,
# background mode) during a 400-message load costs no 451; a zip nested deeper than
# scan.max_recursion and a part over scan.max_file_size get the limits verdict of
# scan.on_limits (550 5.7.1 by default, 451 4.7.1 with tempfail) with the limit named in the
# reply and in the log, and nothing is queued for them.
source "$(dirname "$0")/lib.bash"
T=/usr/share/clamav-testfiles
if ! command -v sigtool >/dev/null || [ ! -f "$T/clam.exe" ]; then
	echo "SKIP $SCENARIO: needs sigtool (clamav) and clamav-testfiles"
	exit 77
fi
testbed_up

sh "$AIRLOCK_SRC/tests/scan/make-test-db.sh" "$WORK/db" >/dev/null
chmod -R a+rX "$WORK/db"
M="$PY/scanmsg.py"
send() { ip netns exec al-inet python3 "$M" send "$EDGE_MX" "$1"; }

# write_limits_conf FILE [extra scan keys]
write_limits_conf() {
	SCAN_SECTION= write_edge_conf "$1" "state_dir = \"$WORK/state\";"
	cat >>"$1" <<EOT
scan = { enabled = true; database_dir = "$WORK/db"; threads = 2; timeout = 30;
	 max_recursion = 4; max_file_size = 262144; $2 };
EOT
}

# Messages: a harmless text nested in 10 zips, and a 600 KB random attachment.
python3 - "$WORK" <<'EOT'
import base64, io, os, sys, zipfile
work = sys.argv[1]
def zip_of(name, data):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED) as z:
        z.writestr(name, data)
    return b.getvalue()
def message(subject, name, data):
    enc = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (b"From: <sender@example.org>\r\nTo: <rcpt@example.com>\r\nSubject: " + subject +
            b"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n--b\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=\"" + name + b"\"\r\n\r\n" + enc +
            b"--b--\r\n")
data = b"nothing to see here\r\n"
name = "note.txt"
for i in range(10):
    data = zip_of(name, data)
    name = f"level{i}.zip"
open(os.path.join(work, "deep.eml"), "wb").write(message(b"deep zip", b"deep.zip", data))
open(os.path.join(work, "big.eml"), "wb").write(
    message(b"big part", b"big.bin", os.urandom(600 * 1024)))
EOT

EDGE_CONF="$WORK/edge.conf"
write_limits_conf "$EDGE_CONF" ""
start_sink "$WORK/sink"
start_edge "$EDGE_CONF"
wait_for 20 "the scan process is ready" grep -q "event=scan-ready" "$WORK/edge.log"

# --- a database reload during a load: no 451 ------------------------------------------------
# 200,000 extra hash signatures make the compile take long enough (hundreds of ms) for the
# load to overlap it; the HUP goes out once the load is under way.
python3 -c 'import hashlib, sys
with open(sys.argv[1], "w") as f:
    for i in range(200000):
        f.write("%s:%d:Airlock.Bulk.%d\n" % (hashlib.md5(b"bulk%d" % i).hexdigest(), 1000 + i, i))' \
	"$WORK/db/bulk.hdb"
chmod a+r "$WORK/db/bulk.hdb"
scanned() { [ "$(grep -c 'event=scanned ' "$WORK/edge.log")" -ge "$1" ]; }
ip netns exec al-inet python3 "$PY/smtpclient.py" send "$EDGE_MX" --count 400 --sessions 5 \
	--size 2000 --tag reload --no-retry --out "$WORK/load.jsonl" >/dev/null &
loader=$!
wait_for 30 "the load is under way" scanned 10
kill -HUP "$EDGE_PID"
wait "$loader" || true
acked=$(grep -c '"code": 250' "$WORK/load.jsonl" || true)
expect "the reload was a background one, started during the load" \
	grep -q "event=scan-reload-start why=signal mode=background" "$WORK/edge.log"
wait_for 30 "the reload finished" grep -q "event=scan-reload ok=1" "$WORK/edge.log"
during=$(awk '/event=scan-reload-start/ { on = 1 } /event=scan-reload ok=1/ { on = 0 }
	on && /event=scanned / { n++ } END { print n + 0 }' "$WORK/edge.log")
expect "messages were scanned while the new engine compiled ($during)" test "$during" -gt 0
expect "all 400 messages of the load got 250 ($acked)" test "$acked" -eq 400
expect "no 451 during the reload" test "$(grep -c '"code": 451' "$WORK/load.jsonl" || true)" -eq 0
wait_for 60 "all 400 arrive" sink_has "$WORK/sink" 400

# --- limits: nesting depth and part size ------------------------------------------------------
out=$(send "$WORK/deep.eml")
expect "a zip nested deeper than max_recursion: $out" \
	test "$out" = "550 5.7.1 Message rejected: scan limit exceeded (max_recursion)"
expect "the limit is named in the log" \
	grep -q "event=scanned .*verdict=limits limit=max_recursion" "$WORK/edge.log"
out=$(send "$WORK/big.eml")
expect "a part over max_file_size: $out" \
	test "$out" = "550 5.7.1 Message rejected: scan limit exceeded (max_file_size)"
expect "that limit is named in the log" \
	grep -q "event=scanned .*verdict=limits limit=max_file_size" "$WORK/edge.log"
sleep 2
expect "neither reached the sink" test "$(sink_count "$WORK/sink")" -eq 400
expect "nothing is left in the queue" test -z "$(ls "$WORK/spool/queue")"

# --- scan.on_limits = tempfail ------------------------------------------------------------------
ready=$(grep -c "event=scan-ready" "$WORK/edge.log")
stop_edge
write_limits_conf "$EDGE_CONF" 'on_limits = "tempfail";'
start_edge "$EDGE_CONF"
ready_more_than() { [ "$(grep -c "event=scan-ready" "$WORK/edge.log")" -gt "$1" ]; }
wait_for 20 "the scan process is ready (tempfail)" ready_more_than "$ready"
out=$(send "$WORK/deep.eml")
expect "with on_limits = tempfail: $out" \
	test "$out" = "451 4.7.1 Message deferred: scan limit exceeded (max_recursion)"
