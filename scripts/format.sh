#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# format.sh - the one C format of certwatch (.clang-format), applied or
# checked over every C source and header the repository tracks.
#   scripts/format.sh          reformat in place (`ninja -C build format`)
#   scripts/format.sh --check  list the files that differ; exit 1 if any
#                              (the unit suite's `format` test)
# Needs clang-format (Debian's clang-format, 14 in Debian 12): another
# major version may format differently, so the check names the one it ran.
set -eu
cd "$(dirname "$0")/.."
cf=${CLANG_FORMAT:-clang-format}
if ! command -v "$cf" >/dev/null 2>&1; then
	echo "format.sh: $cf not found (apt-get install clang-format)" >&2
	# 77: skipped, unless every test must run (scripts/test.sh).
	[ "${CERTWATCH_REQUIRE_ALL:-}" = 1 ] && exit 1
	exit 77
fi
if [ -d .git ] && command -v git >/dev/null 2>&1; then
	files=$(git ls-files '*.c' '*.h')
else
	files=$(find component ct dns probe store util tests bench \
		-name '*.c' -o -name '*.h' 2>/dev/null | sort)
fi
if [ "${1:-}" != "--check" ]; then
	# Twice at most more: clang-format 14 aligns some trailing comments
	# only on a second pass.
	for pass in 1 2 3; do
		# shellcheck disable=SC2086
		"$cf" -i $files
		# shellcheck disable=SC2086
		"$cf" --dry-run -Werror $files >/dev/null 2>&1 && exit 0
	done
	echo "format.sh: clang-format does not settle on a format" >&2
	exit 1
fi
# shellcheck disable=SC2086
if "$cf" --dry-run -Werror $files >/dev/null 2>&1; then
	echo "$("$cf" --version): all $(echo "$files" | wc -w) files formatted"
	exit 0
fi
bad=0
for f in $files; do
	if ! "$cf" --dry-run -Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (scripts/format.sh fixes it)"
		bad=$((bad + 1))
	fi
done
echo "$("$cf" --version): $bad of $(echo "$files" | wc -w) files not formatted"
[ "$bad" = 0 ]
