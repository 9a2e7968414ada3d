#!/bin/bash
# Installs every Debian 12 package airlock needs to build, test and run its demo.
# Idempotent and non-interactive; needs root. Nothing is downloaded at build time.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root (apt-get)" >&2
	exit 1
fi

packages=(
	# build
	build-essential cmake pkg-config clang libclang-rt-14-dev llvm clang-format
	# libraries chosen in the design
	libevent-dev libssl-dev libsodium-dev libclamav-dev libgmime-3.0-dev libconfig-dev
	libjansson-dev libcmocka-dev libarchive-dev libmagic-dev
	# IPsec: charon with kernel-libipsec, swanctl, pki
	strongswan-charon strongswan-swanctl libcharon-extra-plugins
	libstrongswan-standard-plugins libstrongswan-extra-plugins strongswan-pki
	# testbed and test peers
	iproute2 procps psmisc openssl tcpdump swaks postfix clamav clamav-testfiles nftables
	python3
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#packages[@]} packages present"
	exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Postfix is only a test peer here: never let its installer configure a system MTA.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
