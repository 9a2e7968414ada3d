#!/bin/sh
# Builds a local ClamAV signature database for the tests, from Debian's clamav-testfiles.
#
# usage: make-test-db.sh DIR [TESTFILES_DIR]
#
# Writes into DIR (created if missing):
#   airlock-test.hdb  MD5 signatures (sigtool --md5) of the plain test executables only
#                     (clam.exe and the packed clam-*.exe). Containers (zip, tar.gz, mail...)
#                     are deliberately left out, so they are only detected when libclamav
#                     unpacks them and finds clam.exe inside.
#   airlock-test.ndb  A body signature for the EICAR test string, matched at any offset of any
#                     file type, so it is found anywhere in a message.
# Signature names are "Airlock.Test.<file name>" and "Airlock.Test.EICAR"; libclamav reports
# them with ".UNOFFICIAL" appended. Nothing is downloaded. A file whose content would not
# change is left untouched (so its mtime, which reload-on-change watches, stays the same).
# Prints the directory written. Exits 77 if sigtool or the test files are missing.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 DIR [TESTFILES_DIR]" >&2
	exit 2
fi
dir=$1
src=${2:-/usr/share/clamav-testfiles}

if ! command -v sigtool >/dev/null 2>&1; then
	echo "make-test-db: sigtool not found (Debian package clamav)" >&2
	exit 77
fi
if [ ! -f "$src/clam.exe" ]; then
	echo "make-test-db: $src/clam.exe not found (Debian package clamav-testfiles)" >&2
	exit 77
fi

mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.make-test-db.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Only the leaf executables: a sorted list, so the output is the same on every run.
for f in $(cd "$src" && ls clam.exe clam-*.exe 2>/dev/null | LC_ALL=C sort); do
	sigtool --md5 "$src/$f" | awk -F: -v name="Airlock.Test.$f" \
		'NF >= 3 { print $1 ":" $2 ":" name }'
done >"$tmp/airlock-test.hdb"
if [ ! -s "$tmp/airlock-test.hdb" ]; then
	echo "make-test-db: sigtool produced no signatures" >&2
	exit 1
fi

# The 68-byte EICAR test string, as hex: Name:TargetType(0=any):Offset(*=anywhere):HexSig.
# Written in two pieces so that this script is not itself the test string.
eicar='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR''-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
hex=$(printf '%s' "$eicar" | od -An -v -tx1 | tr -d ' \n')
printf 'Airlock.Test.EICAR:0:*:%s\n' "$hex" >"$tmp/airlock-test.ndb"

for f in airlock-test.hdb airlock-test.ndb; do
	if ! cmp -s "$tmp/$f" "$dir/$f"; then
		mv -f "$tmp/$f" "$dir/$f"
	fi
done
echo "$dir"
