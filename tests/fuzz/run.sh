#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# run.sh - runs one libFuzzer target of tests/fuzz/ (docs/fuzzing.md).
#
#   run.sh ci BIN CORPUS REGRESSIONS SECONDS
#       CI (meson test --suite fuzz): replays every input of REGRESSIONS
#       (crashes found before, must not crash again), then fuzzes SECONDS
#       seconds starting from CORPUS and REGRESSIONS.  New inputs go to a
#       temporary directory, never into the source tree; a crash is kept
#       under ./fuzz-artifacts/NAME/.
#   run.sh long BIN CORPUS SECONDS [WORKDIR]
#       A long local run at nice 19: fuzzes into WORKDIR (default
#       /tmp/certwatch-fuzz/NAME, kept between runs), then merges what
#       adds coverage into CORPUS (-merge=1: existing files stay).  The
#       final statistics are in WORKDIR/log.
set -eu

usage() {
	echo "usage: run.sh ci BIN CORPUS REGRESSIONS SECONDS" >&2
	echo "       run.sh long BIN CORPUS SECONDS [WORKDIR]" >&2
	exit 2
}

[ $# -ge 4 ] || usage
mode=$1
bin=$2
corpus=$3
name=$(basename "$bin")
name=${name#fuzz_}
# One input may take at most 10 s and 2 GB; leaks are crashes too.
opts="-timeout=10 -rss_limit_mb=2048 -print_final_stats=1"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

case $mode in
ci)
	[ $# -eq 5 ] || usage
	regressions=$4
	seconds=$5
	artifacts="$(pwd)/fuzz-artifacts/$name"
	mkdir -p "$artifacts"
	if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
		echo "== $name: replaying $(ls "$regressions" | wc -l) regression input(s)"
		# shellcheck disable=SC2086
		"$bin" $opts -artifact_prefix="$artifacts/" "$regressions"/*
	else
		regressions=
	fi
	work=$(mktemp -d "${TMPDIR:-/tmp}/certwatch-fuzz-$name.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	echo "== $name: fuzzing for $seconds s from $corpus"
	# shellcheck disable=SC2086
	"$bin" $opts -max_total_time="$seconds" -artifact_prefix="$artifacts/" \
		"$work" "$corpus" $regressions
	rmdir "$artifacts" "$(dirname "$artifacts")" 2>/dev/null || true
	;;
long)
	seconds=$4
	work=${5:-/tmp/certwatch-fuzz/$name}
	mkdir -p "$work/corpus" "$work/artifacts"
	echo "== $name: fuzzing for $seconds s in $work (log: $work/log)"
	# shellcheck disable=SC2086
	nice -n 19 "$bin" $opts -max_total_time="$seconds" \
		-artifact_prefix="$work/artifacts/" \
		"$work/corpus" "$corpus" >"$work/log" 2>&1 || {
		echo "== $name: the fuzzer stopped with a finding, see $work/log" >&2
		tail -n 40 "$work/log" >&2
	}
	tail -n 12 "$work/log"
	echo "== $name: merging new coverage into $corpus"
	nice -n 19 "$bin" -merge=1 "$corpus" "$work/corpus" \
		>"$work/merge.log" 2>&1
	tail -n 2 "$work/merge.log"
	;;
*)
	usage
	;;
esac
