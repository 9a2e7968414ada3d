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

# host_sas HOST: swanctl --list-sas of HOST's charon.
host_sas() { timeout 10 "$TESTBED" swanctl "$1" --list-sas --noblock 2>/dev/null; }

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
