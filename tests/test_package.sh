#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# test_package.sh - build the Debian package (debian/) from a clean copy of
# the tree, run lintian on it, unpack it into a throw-away root (dpkg -x:
# no chroot is needed) and check what an operator gets: the binary, both
# man pages, /etc/certwatch/certwatch.conf as a conffile that `certwatch
# run -n` accepts once a secret is set, the systemd unit (systemd-analyze
# verify), enabled but not started on install (README.md, "Install on
# Debian").  About 40 s on 2 cores, most of it the package build.
#
# Usage: test_package.sh SOURCE_ROOT
set -u

src=$1
tmp=$(mktemp -d /tmp/test_package.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failed=0
passed=0

ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
finish() {
	echo "$passed passed, $failed failed"
	[ $failed -eq 0 ]
	exit
}

# ---- a clean copy: the files git knows of (and new ones not ignored),
# none of the build directories or a developer's leftovers.
# Outside a git checkout (a release tarball): all but the build trees.
mkdir "$tmp/src"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
	if ! (cd "$src" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 cp --parents -t "$tmp/src") 2>"$tmp/copy.log"; then
		# Files git knows of but deleted in the work tree are not copied.
		grep -v 'No such file' "$tmp/copy.log" && fail "copy the tree"
	fi
else
	tar -C "$src" --exclude='./build*' --exclude='./obj-*' --exclude=./debian/certwatch \
		-cf - . | tar -C "$tmp/src" -xf - || fail "copy the tree"
fi
[ -x "$tmp/src/debian/rules" ] || { fail "no debian/rules in $src"; finish; }

# ---- the build: binary only, unsigned; the unit tests run in their own
# suite, so nocheck keeps this test short.
if (cd "$tmp/src" && DEB_BUILD_OPTIONS="parallel=2 nocheck" \
	dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b"
else
	tail -40 "$tmp/build.log"
	fail "dpkg-buildpackage"
	finish
fi
deb=$(ls "$tmp"/certwatch_*.deb 2>/dev/null | head -1)
changes=$(ls "$tmp"/certwatch_*.changes 2>/dev/null | head -1)
[ -f "$deb" ] || { fail "no certwatch_*.deb built"; finish; }

# ---- lintian: no error (E:) on the package.
lintian --fail-on error "$changes" >"$tmp/lintian.log" 2>&1
rc=$?
if [ $rc -eq 0 ] && ! grep -q '^E:' "$tmp/lintian.log"; then
	ok "lintian: no errors ($(grep -c '^[WI]:' "$tmp/lintian.log") warnings and notes)"
else
	fail "lintian (exit $rc): $(grep '^E:' "$tmp/lintian.log")"
fi

# ---- unpacked into a throw-away root
root=$tmp/root
dpkg -x "$deb" "$root"
dpkg-deb -e "$deb" "$tmp/control"
bin=$root/usr/bin/certwatch
if [ -x "$bin" ] && "$bin" --version | grep -q '^certwatch [0-9]'; then
	ok "/usr/bin/certwatch runs"
else
	fail "/usr/bin/certwatch missing or does not run"
fi
for page in man8/certwatch.8.gz man5/certwatch.conf.5.gz; do
	f=$root/usr/share/man/$page
	if [ -f "$f" ] && MANWIDTH=80 man -l "$f" 2>/dev/null | grep -q '^NAME'; then
		ok "/usr/share/man/$page renders"
	else
		fail "/usr/share/man/$page missing or does not render"
	fi
done

[ -f "$root/usr/share/doc/certwatch/examples/certwatch.rules.yml" ] &&
	ok "the Prometheus alert rules are shipped as an example" ||
	fail "no /usr/share/doc/certwatch/examples/certwatch.rules.yml"

# ---- the conffile: listed, and accepted once a secret is set (by hand, as
# the operator checks it before starting the service: secret_file named).
conf=$root/etc/certwatch/certwatch.conf
grep -qx /etc/certwatch/certwatch.conf "$tmp/control/conffiles" &&
	ok "/etc/certwatch/certwatch.conf is a conffile" ||
	fail "conffiles: $(cat "$tmp/control/conffiles" 2>/dev/null)"
if [ -f "$conf" ]; then
	umask 077
	echo "a-secret-for-the-test" >"$root/etc/certwatch/secret"
	sed "s#^secret_file = .*#secret_file = $root/etc/certwatch/secret#" "$conf" >"$tmp/certwatch.conf"
	out=$("$bin" run -n -c "$tmp/certwatch.conf" 2>&1)
	rc=$?
	[ $rc -eq 0 ] && echo "$out" | grep -q 'is valid' &&
		ok "certwatch run -n -c certwatch.conf (secret set): $(echo "$out" | head -1)" ||
		fail "certwatch run -n on the conffile (exit $rc): $out"
	out=$("$bin" run -n -c "$conf" 2>&1)
	rc=$?
	[ $rc -eq 78 ] && ok "the conffile without a secret: exit 78" ||
		fail "the conffile without a secret: exit $rc, want 78: $out"
	# Unchanged, as the service reads it: the secret where systemd's
	# LoadCredential= puts it, in a private mount namespace (a tmpfs on
	# /run seen by this one command only).
	if unshare --mount --propagation private true 2>/dev/null; then
		out=$(unshare --mount --propagation private sh -c '
			mount -t tmpfs -o mode=0755 tmpfs /run &&
			mkdir -p /run/credentials/certwatch.service &&
			(umask 077; echo a-secret-for-the-test >/run/credentials/certwatch.service/secret) &&
			exec "$1" run -n -c "$2"' sh "$bin" "$conf" 2>&1)
		rc=$?
		[ $rc -eq 0 ] && echo "$out" | grep -q 'is valid' &&
			ok "the conffile unchanged, with the credential in place: valid" ||
			fail "the conffile with /run/credentials/certwatch.service/secret (exit $rc): $out"
	else
		echo "skip: no mount namespace here (unshare --mount)"
	fi
else
	fail "/etc/certwatch/certwatch.conf not in the package"
fi

# ---- the unit: verified against the unpacked binary and man pages;
# enabled on install, never started by the package, skipped (not failed)
# while the secret is missing.
unit=$root/lib/systemd/system/certwatch.service
if [ -f "$unit" ]; then
	mkdir "$tmp/unit"
	sed "s#^ExecStart=/usr/bin/certwatch#ExecStart=$bin#" "$unit" >"$tmp/unit/certwatch.service"
	out=$(cd "$tmp/unit" && MANPATH=$root/usr/share/man systemd-analyze verify "$tmp/unit/certwatch.service" 2>&1)
	rc=$?
	[ $rc -eq 0 ] && [ -z "$out" ] && ok "systemd-analyze verify certwatch.service" ||
		fail "systemd-analyze verify (exit $rc): $out"
	grep -q '^StateDirectory=certwatch$' "$unit" &&
		ok "/var/lib/certwatch comes from StateDirectory=" ||
		fail "the unit has no StateDirectory=certwatch"
	grep -q '^ConditionPathExists=/etc/certwatch/secret$' "$unit" &&
		ok "the unit is skipped until /etc/certwatch/secret exists" ||
		fail "the unit has no ConditionPathExists=/etc/certwatch/secret"
else
	fail "/lib/systemd/system/certwatch.service not in the package"
fi
post=$tmp/control/postinst
if grep -q "deb-systemd-helper enable 'certwatch.service'" "$post" 2>/dev/null &&
	! grep -q 'deb-systemd-invoke' "$post"; then
	ok "postinst enables certwatch.service and does not start it"
else
	fail "postinst: $(grep -e deb-systemd "$post" 2>/dev/null)"
fi

finish
