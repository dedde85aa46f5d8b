#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# test_install.sh - `meson install` into a temporary DESTDIR, then check what
# it installed: the binary runs, both man pages render without a warning,
# the systemd unit passes `systemd-analyze verify`, and the example config
# passes `certwatch run -n` once a secret is filled in.
#
# Usage: test_install.sh SOURCE_ROOT BUILD_ROOT
set -u

src=$1
build=$2
tmp=$(mktemp -d /tmp/test_install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest
failed=0
passed=0

ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

if ! meson install -C "$build" --destdir "$dest" --no-rebuild >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log"
	echo "FAIL: meson install"
	echo "0 passed, 1 failed"
	exit 1
fi
ok "meson install --destdir"

# Where things went: the build's prefix and directories.
opt() {
	meson introspect --buildoptions "$build" |
		/usr/bin/python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]][0])' "$1"
}
prefix=$(opt prefix)
bindir=$(opt bindir)
libexecdir=$(opt libexecdir)
mandir=$(opt mandir)
sysconfdir=$(opt sysconfdir)
unitdir=$(opt systemdunitdir)
[ -n "$unitdir" ] || unitdir=$prefix/lib/systemd/system
case $sysconfdir in /*) ;; *) sysconfdir=$prefix/$sysconfdir ;; esac
case $bindir in /*) ;; *) bindir=$prefix/$bindir ;; esac
case $libexecdir in /*) ;; *) libexecdir=$prefix/$libexecdir ;; esac
case $mandir in /*) ;; *) mandir=$prefix/$mandir ;; esac

# ---- the binary
bin=$dest$bindir/certwatch
if [ -x "$bin" ] && "$bin" --version | grep -q '^certwatch [0-9]'; then
	ok "$bindir/certwatch runs"
else
	fail "$bindir/certwatch missing or does not run"
fi

# ---- certspotter's hook (docs/ct.md): runs the installed certwatch
hook=$dest$libexecdir/certwatch-ct-hook
if [ -x "$hook" ] && sh -n "$hook" &&
	grep -qF "exec \"$bindir/certwatch\" ct-hook -c \"\$CERTWATCH_CONFIG\"" "$hook"; then
	ok "$libexecdir/certwatch-ct-hook runs $bindir/certwatch ct-hook"
else
	fail "$libexecdir/certwatch-ct-hook missing, not executable or wrong"
fi

# ---- the man pages
for page in man8/certwatch.8 man5/certwatch.conf.5; do
	f=$dest$mandir/$page
	if [ ! -f "$f" ]; then
		fail "$mandir/$page not installed (is scdoc installed?)"
		continue
	fi
	warnings=$(MANWIDTH=80 man -l "$f" 2>&1 >/dev/null)
	if [ -n "$warnings" ]; then
		fail "man -l $page warns: $warnings"
	elif MANWIDTH=80 man -l "$f" 2>/dev/null | grep -q '^NAME'; then
		ok "man -l $page renders cleanly"
	else
		fail "man -l $page has no NAME section"
	fi
done

# ---- the systemd unit, pointed at the DESTDIR binary
unit=$dest$unitdir/certwatch.service
if [ ! -f "$unit" ]; then
	fail "$unitdir/certwatch.service not installed"
else
	if grep -q '@[A-Z]*@' "$unit"; then
		fail "certwatch.service has unreplaced @VARIABLES@"
	fi
	grep -q "^ExecStart=$bindir/certwatch run -c $sysconfdir/certwatch/certwatch.conf\$" "$unit" &&
		ok "ExecStart runs $bindir/certwatch with $sysconfdir/certwatch/certwatch.conf" ||
		fail "ExecStart: $(grep ^ExecStart "$unit")"
	mkdir -p "$tmp/unit"
	sed "s#^ExecStart=$bindir/certwatch#ExecStart=$bin#" "$unit" >"$tmp/unit/certwatch.service"
	# MANPATH: verify also finds the pages named by Documentation=.
	out=$(cd "$tmp/unit" && MANPATH=$dest$mandir systemd-analyze verify "$tmp/unit/certwatch.service" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && [ -z "$out" ]; then
		ok "systemd-analyze verify certwatch.service is clean"
	else
		fail "systemd-analyze verify (exit $rc): $out"
	fi
fi

# ---- the example config, with a secret filled in
example=$dest$sysconfdir/certwatch/certwatch.conf.example
if [ ! -f "$example" ]; then
	fail "$sysconfdir/certwatch/certwatch.conf.example not installed"
else
	umask 077
	echo "a-secret-for-the-test" >"$tmp/secret"
	sed "s#^secret_file = .*#secret_file = $tmp/secret#" "$example" >"$tmp/certwatch.conf"
	out=$("$bin" run -n -c "$tmp/certwatch.conf" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && echo "$out" | grep -q 'is valid'; then
		ok "certwatch run -n accepts the example config"
	else
		fail "certwatch run -n on the example config (exit $rc): $out"
	fi
	# Unchanged (no secret file there), it must be refused with 78, naming it.
	out=$("$bin" run -n -c "$example" 2>&1)
	rc=$?
	[ $rc -eq 78 ] && ok "the example without its secret file: exit 78 ($out)" ||
		fail "the example without its secret file: exit $rc, want 78: $out"
fi

# ---- nothing outside the prefix
outside=$(cd "$dest" && find . -type f | grep -v -e "^\.$prefix/" -e "^\.$sysconfdir/" || true)
[ -z "$outside" ] && ok "everything under $prefix (and $sysconfdir)" ||
	fail "installed outside $prefix and $sysconfdir: $outside"

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
