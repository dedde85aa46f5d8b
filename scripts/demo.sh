#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# demo.sh - set up a Debian 12 machine, start the built-in lab of local
# servers (docs/lab.md), run certwatch as a component of the lab's Prosody,
# and show a first check of a good and an intercepted domain, from the
# command line and by chat.  Ctrl-C stops everything it started.
#   --once   show the checks and the chat, then stop (for scripts and CI)
set -eu
cd "$(dirname "$0")/.."
once=no
[ "${1:-}" = "--once" ] && once=yes

if [ "$(id -u)" = 0 ]; then
	./scripts/setup-debian.sh
else
	echo "demo.sh: not root, assuming the packages of scripts/setup-debian.sh are installed"
fi
if [ ! -f build/build.ninja ]; then
	meson setup build >/dev/null
fi
ninja -C build -j 2 >/dev/null
bin=build/component/certwatch

labdir=$(mktemp -d /tmp/certwatch-demo.XXXXXX)
pid=
stop() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	/usr/bin/python3 tests/lab/lab.py stop "$labdir" >/dev/null 2>&1 || true
	echo "demo: stopped certwatch and the lab"
}
trap stop EXIT
trap 'exit 0' INT TERM

echo "demo: starting the lab in $labdir (signed DNS, Prosody, ejabberd) ..."
/usr/bin/python3 tests/lab/lab.py start "$labdir"
conf=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["certwatch_conf"]["prosody"])' "$labdir/lab.json")

for d in good.test mitm.test notlsa.test; do
	echo
	echo "\$ certwatch check $d"
	"$bin" check -c "$conf" "$d" || true
done

echo
echo "demo: starting the component: certwatch run -c $conf"
"$bin" run -c "$conf" 2>"$labdir/certwatch.log" &
pid=$!
/usr/bin/python3 scripts/demo_chat.py "$labdir/lab.json"

if [ "$once" = yes ]; then
	exit 0
fi
echo
echo "demo: certwatch is running; its log is $labdir/certwatch.log."
echo "demo: lab users and passwords are in $labdir/lab.json. Ctrl-C to stop."
wait "$pid"
