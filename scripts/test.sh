#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# test.sh - set up a Debian 12 machine and run every certwatch test: the
# unit tests and the integration tests against the lab of real servers
# (tests/lab/, docs/lab.md), in a normal build with warnings as errors and
# again in an ASan+UBSan build.  The last line is "N passed, N failed,
# N skipped"; a skip of anything scripts/setup-debian.sh installs fails
# (CERTWATCH_REQUIRE_ALL, tests/cw_skip.h).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

if [ "$(id -u)" = 0 ]; then
	./scripts/setup-debian.sh
else
	echo "test.sh: not root, assuming the packages of scripts/setup-debian.sh are installed"
fi

jobs=2
build() {	# build DIR [meson options...]
	dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" --werror "$@" >/dev/null
	else
		meson setup "$dir" --werror "$@" >/dev/null
	fi
	ninja -C "$dir" -j "$jobs"
}

# build/ without sanitizers, said outright: --reconfigure keeps the options
# of an earlier setup, and a sanitizer there would drop the valgrind test.
build build -Db_sanitize=none -Db_lundef=true
build build-asan -Db_sanitize=address,undefined -Db_lundef=false
# libFuzzer targets (tests/fuzz/, docs/fuzzing.md): clang, without --werror
# (clang warns where gcc does not; the gcc builds above hold the line).
# Only the fuzz targets: the rest of the tree is built and tested above.
[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzz=true \
	-Dc_args=-fsanitize=fuzzer-no-link -Db_sanitize=address,undefined \
	-Db_lundef=false >/dev/null
fuzzers=$(cd tests/fuzz && ls fuzz_*.c | sed 's,^,tests/fuzz/,; s,\.c$,,')
# shellcheck disable=SC2086 # one word a target
ninja -C build-fuzz -j "$jobs" $fuzzers

# One lab (DNS, XMPP servers, Tor network) for the whole run.
labdir=$(mktemp -d /tmp/certwatch-lab.XXXXXX)
cleanup() {
	/usr/bin/python3 tests/lab/lab.py stop "$labdir" >/dev/null 2>&1 || true
	if [ -f tests/lab/tornet.py ]; then
		/usr/bin/python3 tests/lab/tornet.py stop "$labdir/tor" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT INT TERM
/usr/bin/python3 tests/lab/lab.py start "$labdir"
export CERTWATCH_LAB="$labdir/lab.json"
if [ -f tests/lab/tornet.py ]; then
	# The Tor network needs ~30 s to bootstrap: start it now, in the
	# background; the tests that need it wait for it.
	resolver=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dns"]["resolver"])' "$CERTWATCH_LAB")
	/usr/bin/python3 tests/lab/tornet.py start "$labdir/tor" --resolver "$resolver" >"$labdir/tornet.log" 2>&1 &
	export CERTWATCH_TORNET="$labdir/tor/tornet.json"
fi

status=0
# Every test runs in full: a missing tool is a failure, not a skip.
export CERTWATCH_REQUIRE_ALL=1
# The plain build (warnings as errors) runs the unit tests and what needs
# an uninstrumented binary (valgrind, install, the manual's checks); the
# ASan+UBSan build runs everything else too, integration included, so
# the slow end-to-end tests run once, under the sanitizers.
meson test -C build --print-errorlogs --num-processes "$jobs" \
	--suite unit --suite plain || status=1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	meson test -C build-asan --print-errorlogs --num-processes "$jobs" || status=1
# Each fuzz target: its regression inputs, then 10 s on its corpus.
meson test -C build-fuzz --no-rebuild --suite fuzz --print-errorlogs \
	--num-processes "$jobs" || status=1

# The shared Tor network's stop (test_tornet checks it only on a network
# of its own): exit 0 and no tor process left, or the run fails.
if [ -f "${CERTWATCH_TORNET:-}" ]; then
	if ! /usr/bin/python3 tests/lab/tornet.py stop "$labdir/tor" ||
	   ! /usr/bin/python3 -c 'import json, sys
sys.path.insert(0, "tests/lab")
import tornet   # a zombie is dead: _pid_alive
sys.exit(any(tornet._pid_alive(p)
             for p in json.load(open(sys.argv[1])).get("pids", [])))' \
		"$CERTWATCH_TORNET"; then
		echo "FAILED tests/lab/tornet.py stop $labdir/tor: error or tor left running"
		status=1
	fi
fi

/usr/bin/python3 tests/summary.py build/meson-logs/testlog.json build-asan/meson-logs/testlog.json \
	build-fuzz/meson-logs/testlog.json
exit $status
