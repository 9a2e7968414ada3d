#!/bin/bash
# The demo: installs what is needed, builds airlock, brings up the reference
# testbed (edge and hub in network namespaces, a real charon on each, the IPsec SA
# between them) and shows the tunnel the way an administrator sees it.
#
#   contrib/demo.sh          run the demo and leave the testbed up for exploring
#   contrib/demo.sh --down   tear the testbed down afterwards
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=${AIRLOCK_BUILD:-$src/build}

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: must run as root (network namespaces, charon)" >&2
	exit 1
fi

contrib/install-deps.sh
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target airlockctl

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "testbed: al-inet, al-edge, al-hub, al-dmz; charon on edge and hub; SA 192.0.2.1/32 === 192.0.2.2/32"
contrib/testbed up
eval "$(contrib/testbed env)"

step "airlockctl status on the edge"
"$build/bin/airlockctl" -c "$AIRLOCK_EDGE_CONF" status

step "airlockctl status on the hub"
"$build/bin/airlockctl" -c "$AIRLOCK_HUB_CONF" status

step "airlockctl check (monitoring plugin) on both"
"$build/bin/airlockctl" -c "$AIRLOCK_EDGE_CONF" check || true
"$build/bin/airlockctl" -c "$AIRLOCK_HUB_CONF" check || true

if [ "${1:-}" = "--down" ]; then
	step "tearing the testbed down"
	contrib/testbed down
else
	cat <<EOT

The testbed is still up. Try:
  $build/bin/airlockctl -c $AIRLOCK_EDGE_CONF status --watch
  contrib/testbed swanctl edge --list-sas
  contrib/testbed down
EOT
fi
