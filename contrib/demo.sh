#!/bin/bash
# The demo: installs what is needed, builds airlock, brings up the reference testbed with
# the whole mail path - airlock-edge (the MX, scanning) in al-edge, the IPsec SA, airlock-hub
# in al-hub and Postfix on al-hub's loopback as the internal MTA - then sends two messages
# from al-inet (the Internet): a clean one, which ends up in the internal MTA's maildir, and
# one carrying the EICAR test string, which the edge refuses. Then it shows both hosts the
# way an administrator sees them.
#
#   contrib/demo.sh          run the demo and leave the testbed up for exploring
#   contrib/demo.sh --down   tear the testbed down afterwards
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=${AIRLOCK_BUILD:-$src/build}
down=0
case ${1:-} in
"") ;;
--down) down=1 ;;
*)
	echo "usage: contrib/demo.sh [--down]" >&2
	exit 2
	;;
esac

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: must run as root (network namespaces, charon)" >&2
	exit 1
fi

contrib/install-deps.sh
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target airlockctl airlock-edge airlock-hub
export AIRLOCK_BIN="$build/bin"
ctl="$build/bin/airlockctl"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# The testbed is one per machine: wait for anyone else using it (tests take this lock too).
exec 9>/var/tmp/airlock-testbed.lock
if ! flock -w 900 9; then
	echo "demo: the testbed is in use by someone else (lock /var/tmp/airlock-testbed.lock)" >&2
	exit 1
fi

step "testbed: al-inet, al-edge, al-hub, al-dmz; charon on edge and hub; SA 192.0.2.1/32 === 192.0.2.2/32;"
echo "         airlock-edge on 198.51.100.25:25, airlock-hub on 192.0.2.2:25, Postfix on al-hub's 127.0.0.1:10025"
contrib/testbed up 9>&-
eval "$(contrib/testbed env)"
echo "maildir of the internal MTA: $AIRLOCK_MAILDIR"
echo "logs: $AIRLOCK_EDGE_LOG, $AIRLOCK_HUB_LOG, $AIRLOCK_HUB_MTA_LOG"

maildir_count() { find "$AIRLOCK_MAILDIR/new" "$AIRLOCK_MAILDIR/cur" -type f 2>/dev/null | wc -l; }
before=$(maildir_count)
tag="demo-$(date +%s)-$$"

step "al-inet -> MX: a clean message (swaks)"
ip netns exec al-inet swaks --server "$AIRLOCK_EDGE_MX" --helo client.example.org \
	--from alice@example.org --to bob@example.com \
	--header "Subject: hello through the airlock" --header "Message-Id: <$tag@example.org>" \
	--body "Hello Bob, this message was scanned on the edge and crossed the IPsec SA." \
	9>&- | sed -n 's/^<-  \(250 2.0.0 .*\)/  edge answered: \1/p; s/^<\*\* \(.*\)/  edge answered: \1/p' || true

step "where it ended up: the internal MTA's maildir"
got=""
for _ in $(seq 300); do
	got=$(grep -l "^Message-I[dD]: <$tag@example.org>" "$AIRLOCK_MAILDIR"/new/* 2>/dev/null | head -n 1 || true)
	[ -n "$got" ] && break
	sleep 0.2
done
if [ -n "$got" ]; then
	echo "  $got"
	echo "  its header, as the internal MTA stored it (the hub's Received: names the edge's IKE identity):"
	sed -e '/^$/q' "$got" | sed 's/^/    /'
else
	echo "  not arrived within 60 s; see $AIRLOCK_EDGE_LOG and $AIRLOCK_HUB_LOG"
	"$ctl" -c "$AIRLOCK_EDGE_CONF" queue 9>&- || true
fi

step "al-inet -> MX: a message carrying the EICAR test string (swaks)"
# shellcheck disable=SC2016 # the EICAR string, not an expansion
eicar='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR''-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
ip netns exec al-inet swaks --server "$AIRLOCK_EDGE_MX" --helo client.example.org \
	--from mallory@example.net --to bob@example.com --header "Subject: totally harmless" \
	--body "$eicar" 9>&- | sed -n 's/^<\*\* \(.*\)/  edge answered: \1/p; s/^<-  \(250 .*queued.*\)/  edge answered: \1/p' || true
echo "  the edge's log line:"
{ grep "event=scanned .*verdict=infected" "$AIRLOCK_EDGE_LOG" || true; } | tail -n 1 | sed 's/^/    /'
echo "  messages in the maildir: $before before the demo, $(maildir_count) now (the infected one is not there)"

step "airlockctl status on the edge"
"$ctl" -c "$AIRLOCK_EDGE_CONF" status 9>&- || true

step "airlockctl status on the hub"
"$ctl" -c "$AIRLOCK_HUB_CONF" status 9>&- || true

step "airlockctl check (monitoring plugin) on both"
"$ctl" -c "$AIRLOCK_EDGE_CONF" check 9>&- || true
"$ctl" -c "$AIRLOCK_HUB_CONF" check 9>&- || true

if [ $down -eq 1 ]; then
	step "tearing the testbed down"
	contrib/testbed down 9>&-
else
	cat <<EOT

The testbed is still up. Try:
  $ctl -c $AIRLOCK_EDGE_CONF status --watch
  $ctl -c $AIRLOCK_HUB_CONF status
  ip netns exec al-inet swaks --server $AIRLOCK_EDGE_MX --to someone@example.com
  ls $AIRLOCK_MAILDIR/new
  contrib/testbed swanctl edge --list-sas
  contrib/testbed down
EOT
fi
