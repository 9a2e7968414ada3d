# Shared by tests/scenario/cert_*.sh (sourced after lib.bash): a testbed without
# certificates, airlock-cert commands bound to each host's testbed paths, and the
# pairing from nothing (init on the hub, bundle, enroll on the edge).

AC="$AIRLOCK_BIN/airlock-cert"
[ -x "$AC" ] || {
	log "FAIL - $AC not built"
	exit 1
}

cert_testbed_up() {
	"$TESTBED" up --no-certs >"$WORK/testbed-up.log" 2>&1 || {
		cat "$WORK/testbed-up.log"
		log "FAIL - testbed up --no-certs"
		exit 1
	}
	eval "$("$TESTBED" env)"
	mkdir -p "$WORK/hub" "$WORK/edge"
	cert_paths
}

# hub_ac / edge_ac ARGS...: airlock-cert with the host's swanctl dir (the one the
# testbed's charon loads with swanctl --load-all), its VICI socket, and state under $WORK.
# HUB_AC / EDGE_AC hold the same options for runs inside a namespace.
hub_ac() { "$AC" "${HUB_AC[@]}" "$@"; }
edge_ac() { "$AC" "${EDGE_AC[@]}" "$@"; }

cert_paths() {
	HUB_AC=(--swanctl-dir "$AIRLOCK_HUB_DIR/swanctl"
		--conn-file "$AIRLOCK_HUB_DIR/swanctl/conn.d/airlock.conf"
		--strongswan-conf "$WORK/hub/strongswan-airlock.conf"
		--airlock-conf "$WORK/hub/airlock-cert.conf" --state-dir "$WORK/hub/state"
		--trusted-dir "$WORK/hub/trusted" --vici "$AIRLOCK_HUB_VICI")
	EDGE_AC=(--swanctl-dir "$AIRLOCK_EDGE_DIR/swanctl"
		--conn-file "$AIRLOCK_EDGE_DIR/swanctl/conn.d/airlock.conf"
		--strongswan-conf "$WORK/edge/strongswan-airlock.conf"
		--airlock-conf "$WORK/edge/airlock-cert.conf" --state-dir "$WORK/edge/state"
		--vici "$AIRLOCK_EDGE_VICI")
}

# host_sas HOST: swanctl --list-sas of HOST's charon (blocking: --noblock leaves out the
# IKE_SAs charon has in use at that instant).
host_sas() { timeout 10 "$TESTBED" swanctl "$1" --list-sas 2>/dev/null; }

child_installed() { host_sas "$1" | grep -Eq '^ +airlock: #[0-9]+, reqid [0-9]+, INSTALLED'; }

# serial_of PEM: the serial as swanctl prints it (lower case, colon separated).
serial_of() {
	openssl x509 -noout -serial -in "$1" | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/../&:/g; s/:$//'
}

# peer_has_serial HOST SERIAL: HOST's charon lists a certificate with SERIAL.
peer_has_serial() {
	timeout 10 "$TESTBED" swanctl "$1" --list-certs 2>/dev/null | grep -q "serial: *$2\$"
}

hub_init() {
	hub_ac init --id "$AIRLOCK_HUB_ID" --local-addr "$AIRLOCK_HUB_OUTER" \
		--local-ts "$AIRLOCK_HUB_INNER/32" --remote-ts "$AIRLOCK_EDGE_INNER/32" \
		--dpd-delay 5s >"$WORK/init.out" 2>&1
}

# make_bundle FILE [ARGS...]: a bundle for the edge; the passphrase lands in FILE.pass.
make_bundle() {
	local file=$1
	shift
	hub_ac bundle "$AIRLOCK_EDGE_ID" --edge-ts "$AIRLOCK_EDGE_INNER/32" \
		--edge-addr "$AIRLOCK_EDGE_OUTER" --hub-address "$AIRLOCK_HUB_OUTER" \
		--dpd-delay 5s -o "$file" --force "$@" >"$file.out" 2>&1 || return 1
	sed -n 's/^one-time passphrase (shown once): //p' "$file.out" >"$file.pass"
	[ -s "$file.pass" ]
}

# pair: init, bundle, enroll; CHILD_SA INSTALLED on both ends.
pair() {
	expect "airlock-cert init on the hub" hub_init
	expect "airlock-cert bundle for the edge" make_bundle "$WORK/edge.bundle"
	expect "airlock-cert enroll on the edge" \
		edge_ac enroll "$WORK/edge.bundle" --passphrase-file "$WORK/edge.bundle.pass" \
		--timeout 40
	expect "CHILD_SA INSTALLED on the edge" child_installed edge
	expect "CHILD_SA INSTALLED on the hub" child_installed hub
}

# ---- mail through the paired hosts --------------------------------------------------------

# merge_conf BASE FRAGMENT: prints BASE with the settings of each of FRAGMENT's groups put
# into BASE's group of the same name (replacing settings of the same name; a group BASE
# lacks is appended). The fragments airlock-cert writes have their own tunnel, edge and hub
# groups, and libconfig cannot define a group twice: @include works only for a
# configuration without those groups, and an edge needs edge.listen, relay_domains, ...
merge_conf() {
	python3 - "$1" "$2" <<'EOT'
import re, sys
group = re.compile(r"^(\w+) = \{$")
setting = re.compile(r"^\s+(\w+) = ")
frag, cur = {}, None
for line in open(sys.argv[2]):
    if group.match(line):
        cur = frag.setdefault(group.match(line).group(1), {})
    elif line.startswith("};"):
        cur = None
    elif cur is not None and setting.match(line):
        cur[setting.match(line).group(1)] = line
out, cur = [], None
for line in open(sys.argv[1]):
    if group.match(line):
        cur = group.match(line).group(1)
    elif line.startswith("};"):
        out += frag.pop(cur, {}).values()
        cur = None
    elif cur in frag and setting.match(line) and setting.match(line).group(1) in frag[cur]:
        continue
    out.append(line)
for name, settings in frag.items():
    out += [f"{name} = {{\n", *settings.values(), "};\n"]
sys.stdout.write("".join(out))
EOT
}

HUB_HOST=hub.example.com
MTA_DIR="$WORK/mta"

# mail_path_up: the whole mail path on the paired hosts, from the fragments airlock-cert
# wrote. The internal MTA: smtp-sink on 127.0.0.1:10025 in al-hub storing into $MTA_DIR.
# airlock-hub: init's fragment (hub.listen on the inner address, hub.connections,
# hub.trusted_keys = the directory bundle wrote the edge's key into) merged into the
# testbed's settings. airlock-edge: the fragment enroll installed (edge.state_dir holding
# the attestation key of the bundle, edge.hubs, tunnel.*), scanning with a test database
# (the hub refuses unstamped mail).
mail_path_up() {
	chmod 755 "$WORK"
	sh "$AIRLOCK_SRC/tests/scan/make-test-db.sh" "$WORK/db" >/dev/null
	chmod -R a+rX "$WORK/db"
	SINK_ADDR=127.0.0.1:10025 start_sink "$MTA_DIR" || return 1
	cat >"$WORK/hub-base.conf" <<EOT
hub = {
	hostname = "$HUB_HOST";
	internal_mta = "127.0.0.1:10025";
	user = "nobody";
	control_socket = "$WORK/hub.sock";
};
tunnel = {
	vici = "$AIRLOCK_HUB_VICI";
	device = "$AIRLOCK_TUN_DEVICE";
};
log = { level = "info"; };
EOT
	merge_conf "$WORK/hub-base.conf" "$WORK/hub/airlock-cert.conf" >"$WORK/hub.conf"
	start_hub "$WORK/hub.conf" || return 1
	SCAN_SECTION="scan = { enabled = true; database_dir = \"$WORK/db\"; threads = 2; timeout = 30; };" \
		write_edge_conf "$WORK/edge-base.conf"
	merge_conf "$WORK/edge-base.conf" "$WORK/edge/airlock-cert.conf" >"$WORK/edge.conf"
	# enroll installed attest.key as root; the edge's parent hands it to edge.user.
	start_edge "$WORK/edge.conf" || return 1
	wait_for 30 "the edge's scan process is ready" grep -q "event=scan-ready" "$WORK/edge.log"
	expect "the enrolled attestation key belongs to edge.user (nobody) now" \
		test "$(stat -c %U "$WORK/edge/state/attest.key")" = nobody
}

# check_mta ARGS...: check_sink.py on the internal MTA's messages, which came through the
# hub (its Received: naming the edge's IKE identity, the edge's stamp); prints its summary.
check_mta() {
	python3 "$AIRLOCK_SRC/tests/scenario/check_sink.py" "$MTA_DIR" --hostname "$EDGE_HOST" \
		--hub "$HUB_HOST" --ike-id "$AIRLOCK_EDGE_ID" "$@"
}
