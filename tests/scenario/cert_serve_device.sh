#!/bin/bash
# airlock-cert serve bound to a TUN device (kernel-libipsec) outlives the device: charon
# removes its TUN device when it stops and creates it anew, under another interface index,
# when it starts; a listener bound to the old index would never see a request again. In a
# namespace of its own with a TUN device standing in for charon's: serve listens on the
# device; the device is deleted and created again; serve says so and listens on the new one
# (ss names the device, not the old index), and exits cleanly at its deadline.
source "$(dirname "$0")/lib.bash"
AC="$AIRLOCK_BIN/airlock-cert"
[ -x "$AC" ] || {
	log "FAIL - $AC not built"
	exit 1
}
NS=al-certserve
DEV=acs0
cleanup_ns() { ip netns del "$NS" 2>/dev/null || true; }
trap 'cleanup_ns; finish' EXIT
cleanup_ns
ip netns add "$NS"
ip -n "$NS" link set lo up
make_dev() {
	ip -n "$NS" tuntap add dev "$DEV" mode tun &&
		ip -n "$NS" addr add 10.99.0.2/32 dev "$DEV" &&
		ip -n "$NS" link set "$DEV" up
}
make_dev
A=("$AC" --swanctl-dir "$WORK/swanctl" --conn-file "$WORK/swanctl/conf.d/airlock.conf"
	--strongswan-conf "$WORK/strongswan.conf" --airlock-conf "$WORK/airlock-cert.conf"
	--state-dir "$WORK/state" --trusted-dir "$WORK/trusted" --no-vici)
expect "airlock-cert init (files only) for a hub on 10.99.0.2" \
	"${A[@]}" init --id hub.test --local-ts 10.99.0.2/32 --remote-ts 10.99.0.1/32
ip netns exec "$NS" timeout 15 "${A[@]}" serve --device "$DEV" >"$WORK/serve.log" 2>&1 &
SERVE=$!
wait_for 10 "serve listens on 10.99.0.2:4750 bound to $DEV" \
	sh -c "ip netns exec $NS ss -ltn | grep -q '10.99.0.2%$DEV:4750'"
old=$(ip -n "$NS" -o link show "$DEV" | cut -d: -f1)
ip -n "$NS" link del "$DEV"
sleep 1.5
make_dev
new=$(ip -n "$NS" -o link show "$DEV" | cut -d: -f1)
expect "the device came back under another index ($old -> $new)" test "$old" != "$new"
wait_for 5 "serve says it listens on the new device" \
	grep -q "$DEV was created anew: listening on it again" "$WORK/serve.log"
expect "its listener is bound to the new $DEV, not to the old index" \
	sh -c "ip netns exec $NS ss -ltn | grep -q '10.99.0.2%$DEV:4750' && ! ip netns exec $NS ss -ltn | grep -q '%if$old:4750'"
rc=0
wait "$SERVE" || rc=$?
expect "serve ran until its deadline (timeout's 124, got $rc)" test "$rc" -eq 124
