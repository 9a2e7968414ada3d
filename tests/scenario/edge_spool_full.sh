#!/bin/bash
# A spool on a tiny tmpfs that fills up: new mail is answered 452 4.3.1 (or 451 4.3.0
# when a message cannot be written), nothing acknowledged is lost, and once the next
# hop takes the mail away the edge accepts mail again.
source "$(dirname "$0")/lib.bash"
testbed_up

EDGE_CONF="$WORK/edge.conf"
QUEUE_EXTRA="min_free_mb = 1;" write_edge_conf "$EDGE_CONF"
# The tmpfs is mounted inside the edge's own mount namespace (ip netns exec makes one).
start_edge "$EDGE_CONF" "mount -t tmpfs -o size=3m,mode=0700 tmpfs '$WORK/spool'"
expect "the spool is a 3 MiB tmpfs inside the edge's mount namespace" \
	test "$(edge_ctl status 'd["smtp"]["spool_space_ok"]')" = True

# No next hop yet: everything accepted stays in the spool.
ip netns exec al-inet python3 "$PY/smtpclient.py" send "$EDGE_MX" --count 60 --sessions 2 \
	--size 100000 --tag full --no-retry --deadline 120 --out "$WORK/acked.jsonl" >/dev/null
acked=$(grep -c '"code": 250' "$WORK/acked.jsonl" || true)
full=$(grep -c '"reply": "452 4.3.1' "$WORK/acked.jsonl" || true)
other=$(grep -v -c -e '"code": 250' -e '"reply": "452 4.3.1' -e '"reply": "451 4.3.0' "$WORK/acked.jsonl" || true)
log "accepted $acked, refused with 452 4.3.1: $full, other replies: $other"
expect "some mail was accepted before the spool filled" test "$acked" -ge 5
expect "a full spool answers 452 4.3.1" test "$full" -ge 1
expect "no reply other than 250, 452 4.3.1 and 451 4.3.0" test "$other" -eq 0
expect "the daemon reports the spool full" test "$(edge_ctl status 'd["smtp"]["spool_space_ok"]')" = False
expect "the queue holds every accepted message" test "$(edge_ctl status 'd["queue"]["queued"]')" = "$acked"

start_sink "$WORK/sink"
emptied() { [ "$(edge_ctl status 'd["queue"]["queued"]')" = 0 ]; }
wait_for 60 "the queue drains once the next hop is up" emptied
if python3 "$PY/check_sink.py" "$WORK/sink" --hostname "$EDGE_HOST" --acked "$WORK/acked.jsonl" \
	--size 100000 >"$WORK/check.txt"; then
	pass "nothing acknowledged was lost ($(head -1 "$WORK/check.txt"))"
else
	cat "$WORK/check.txt"
	fail "nothing acknowledged was lost"
fi
out=$(ip netns exec al-inet swaks --server "$EDGE_MX" --from a@example.org --to b@example.com \
	--body "after" 2>&1) || true
expect "mail is accepted again" grep -q "<- *250 2.0.0 Ok: queued as" <<<"$out"
wait_for 30 "and it reaches the next hop" grep -qx "after" "$WORK/sink/dump"
