#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# setup-debian.sh - install every Debian 12 package certwatch needs to build,
# test and run its local lab.  Idempotent; run as root.
#
# Installing prosody, ejabberd, tor, knot or unbound on a normal host would
# start their system services (and prosody and ejabberd would fight over
# port 5222).  The lab runs private instances on its own ports, so a
# temporary /usr/sbin/policy-rc.d keeps the packaged services from starting
# during the install; it is removed afterwards.
set -eu

if [ "$(id -u)" != 0 ]; then
	echo "setup-debian.sh: must run as root (it calls apt-get)" >&2
	exit 1
fi

BUILD="build-essential meson ninja-build pkg-config git ca-certificates
 libstrophe-dev libevent-dev libunbound-dev libgnutls28-dev libexpat1-dev
 libidn2-dev libcmocka-dev clang clang-format libclang-rt-14-dev scdoc"
LAB="knot knot-dnssecutils unbound bind9-dnsutils dns-root-data prosody
 ejabberd tor gnutls-bin openssl python3 python3-slixmpp iproute2 iptables
 procps psmisc util-linux"
# Certificate Transparency: the CT monitor certwatch runs (docs/ct.md),
# and what the lab's CT log (tests/lab/ctlog.py) signs and issues with.
CT="certspotter python3-cryptography"
CHECKS="valgrind man-db systemd"
# The web face's tests and benchmark: a real browser, promtool, wrk.
WEB="chromium chromium-driver python3-selenium prometheus wrk"
# The Debian package (debian/, tests/test_package.sh).
PACKAGE="debhelper dpkg-dev fakeroot lintian"

missing=""
for p in $BUILD $LAB $CT $CHECKS $WEB $PACKAGE; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "setup-debian.sh: all packages present"
	exit 0
fi

echo "setup-debian.sh: installing:$missing"
created_policy=no
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	created_policy=yes
	echo "setup-debian.sh: services are kept from starting during the install"
fi
# An "if", not "&&": the trap's last status becomes the script's, and a
# machine that already has a policy-rc.d (Docker images do) must not make
# a good install exit 1.
cleanup() {
	if [ "$created_policy" = yes ]; then rm -f /usr/sbin/policy-rc.d; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
