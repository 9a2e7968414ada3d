#!/usr/bin/env bash
# Pairing from nothing with airlock-cert on the testbed: init on the hub, bundle for
# the edge, enroll on the edge -> CHILD_SA INSTALLED on both ends -> mail flows: with
# airlock-hub configured from init's fragment (trusting the key the bundle gave the edge)
# and airlock-edge from the fragment enroll installed (its attestation key, edge.hubs), a
# message from al-inet reaches the internal MTA with the hub's Received: naming the
# edge's IKE identity and an X-Airlock-Scan stamp the hub verified with that key.
# Before that, a bundle opened with the wrong passphrase, a tampered one and an expired
# one must each fail with one clear line and install nothing.
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/cert_lib.bash"

cert_testbed_up

expect "airlock-cert init on the hub" hub_init
expect "init wrote the CA key with mode 0600" \
	test "$(stat -c %a "$WORK/hub/state/ca/ca.key")" = 600
expect "init loaded the connection into the hub's charon" \
	sh -c "timeout 10 '$TESTBED' swanctl hub --list-conns | grep -q '^airlock: IKEv2'"
# The expired bundle first: a new bundle for an edge replaces the attestation key the hub
# trusts for it, and the one enrolled below must be the last.
expect "a bundle created 2 days ago with a 24 h lifetime" \
	make_bundle "$WORK/expired.bundle" --backdate 48
expect "airlock-cert bundle for the edge" make_bundle "$WORK/edge.bundle"
expect "the hub trusts the edge's attestation key" \
	grep -q '^airlock-attest-ed25519 ' "$WORK/hub/trusted/$AIRLOCK_EDGE_ID.pub"

# nothing_installed: the files under the edge's swanctl dir (the testbed's swanctl.conf
# lives there) and airlock-cert's edge paths are still those of before the first attempt.
edge_files() { find "$AIRLOCK_EDGE_DIR" "$WORK/edge" -type f ! -name 'charon.*' | sort; }
edge_files >"$WORK/edge-files.before"
nothing_installed() { edge_files | cmp -s - "$WORK/edge-files.before"; }

# refused NAME BUNDLE PASSFILE PATTERN: enroll fails with exactly one stderr line
# matching PATTERN, and nothing is installed.
refused() {
	local name=$1 bundle=$2 pass=$3 pattern=$4 rc=0
	edge_ac enroll "$bundle" --passphrase-file "$pass" >"$WORK/$name.out" 2>"$WORK/$name.err" ||
		rc=$?
	cat "$WORK/$name.err"
	expect "$name: enroll exits non-zero" test "$rc" -ne 0
	expect "$name: one line on stderr" test "$(wc -l <"$WORK/$name.err")" -eq 1
	expect "$name: the line says why" grep -q "$pattern" "$WORK/$name.err"
	expect "$name: nothing installed" nothing_installed
}

echo "not-the-passphrase" >"$WORK/wrong.pass"
refused wrong-passphrase "$WORK/edge.bundle" "$WORK/wrong.pass" "wrong passphrase or damaged file"

cp "$WORK/edge.bundle" "$WORK/tampered.bundle"
size=$(stat -c %s "$WORK/tampered.bundle")
printf '\x5a' | dd of="$WORK/tampered.bundle" bs=1 seek=$((size / 2)) conv=notrunc status=none
expect "the tampered copy differs" sh -c "! cmp -s '$WORK/edge.bundle' '$WORK/tampered.bundle'"
refused tampered "$WORK/tampered.bundle" "$WORK/edge.bundle.pass" "wrong passphrase or damaged file"

refused expired "$WORK/expired.bundle" "$WORK/expired.bundle.pass" "bundle expired at"

expect "enroll --dry-run checks without installing" \
	edge_ac enroll "$WORK/edge.bundle" --passphrase-file "$WORK/edge.bundle.pass" --dry-run
expect "--dry-run installed nothing" nothing_installed

# The real enrollment.
expect "airlock-cert enroll on the edge" \
	edge_ac enroll "$WORK/edge.bundle" --passphrase-file "$WORK/edge.bundle.pass" --timeout 40
expect "CHILD_SA INSTALLED on the edge" child_installed edge
expect "CHILD_SA INSTALLED on the hub" child_installed hub
expect "a TCP round trip through the tunnel" "$TESTBED" probe
expect "the edge key is installed with mode 0600" \
	test "$(stat -c %a "$AIRLOCK_EDGE_DIR/swanctl/private/airlock.key")" = 600
expect "the attestation key is installed with mode 0600" \
	test "$(stat -c %a "$WORK/edge/state/attest.key")" = 600
expect "the hub trusts the attestation key the edge got" \
	sh -c "cut -d' ' -f1,2 '$WORK/edge/state/attest.pub' | grep -qF \"\$(cut -d' ' -f1,2 '$WORK/hub/trusted/$AIRLOCK_EDGE_ID.pub')\""
expect "the edge's airlock.conf fragment names the hub" \
	grep -q "address = \"$AIRLOCK_HUB_INNER:25\"" "$WORK/edge/airlock-cert.conf"
edge_serial=$(serial_of "$AIRLOCK_EDGE_DIR/swanctl/x509/airlock.crt")
expect "the hub received the edge's certificate ($edge_serial)" peer_has_serial hub "$edge_serial"
edge_ac status >"$WORK/status.out" 2>&1 || true
cat "$WORK/status.out"
expect "status: own certificate with charon holding its key" \
	grep -Eq '^own +subject="CN=edge.example.com,O=airlock".* has_privkey=yes' "$WORK/status.out"
expect "status: the CA" grep -q '^ca ' "$WORK/status.out"
expect "status: the hub's certificate as peer" \
	grep -Eq '^peer +subject="CN=hub.example.com' "$WORK/status.out"
# A second enroll must not silently replace a working installation.
expect "a second enroll is refused without --force" \
	sh -c "! '$AC' --swanctl-dir '$AIRLOCK_EDGE_DIR/swanctl' --state-dir '$WORK/edge/state' --no-vici enroll '$WORK/edge.bundle' --passphrase-file '$WORK/edge.bundle.pass' 2>/dev/null"

# ---- mail through the paired hosts, configured from the fragments -------------------------
expect "the edge's fragment names the state directory enroll installed the key into" \
	grep -q "state_dir = \"$WORK/edge/state\";" "$WORK/edge/airlock-cert.conf"
cp "$WORK/edge/state/attest.pub" "$WORK/attest.pub.enrolled"
mail_path_up || exit 1
expect "airlock-edge signs with the enrolled attestation key (none generated)" \
	cmp -s "$WORK/edge/state/attest.pub" "$WORK/attest.pub.enrolled"
ip netns exec al-inet timeout 60 python3 "$PY/smtpclient.py" send "$EDGE_MX" --count 1 \
	--sessions 1 --size 2000 --tag pairing --out "$WORK/mail.jsonl" >/dev/null || true
expect "the edge accepts a message from al-inet ($(cat "$WORK/mail.jsonl"))" \
	grep -q '"code": 250' "$WORK/mail.jsonl"
wait_for 30 "it reaches the internal MTA through the SA and the hub" sink_has "$MTA_DIR" 1
if check_mta --acked "$WORK/mail.jsonl" --expect 1 >"$WORK/check.out"; then
	pass "as sent, with the hub's Received: naming $AIRLOCK_EDGE_ID and one stamp: $(cat "$WORK/check.out")"
else
	fail "as sent, with the hub's Received: naming $AIRLOCK_EDGE_ID and one stamp: $(cat "$WORK/check.out")"
fi
expect "the hub verified one stamp and refused none" \
	test "$(hub_ctl "$WORK/hub.sock" '[h["attestation"]["verified"], h["attestation"]["refused"]]')" = "[1, 0]"
python3 "$PY/scanmsg.py" split "$MTA_DIR/dump" "$WORK/got" >/dev/null
if "$AIRLOCK_BIN/../tests/attest_check" "$WORK/hub/trusted/$AIRLOCK_EDGE_ID.pub" \
	"$WORK/got/1.eml" >"$WORK/attest.out"; then
	pass "the stamp verifies with the key bundle trusted: $(cat "$WORK/attest.out")"
else
	fail "the stamp verifies with the key bundle trusted: $(cat "$WORK/attest.out")"
fi
