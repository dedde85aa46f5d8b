#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prints one line per failed or skipped test and the closing
"N passed, N failed, N skipped" line (all three, always) from meson's
testlog.json files (meson test itself ends with the log file's name, which
CI does not read).  A skip is never counted as passed: meson reports exit
code 77 as SKIP, and the cmocka tests exit 77 when one of their cases
skipped (tests/cw_skip.h)."""
import json
import sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    build = path.split('/')[0]
    try:
        lines = open(path, encoding='utf-8').read().splitlines()
    except OSError as e:
        print(f'{path}: {e}')
        failed += 1
        continue
    for line in lines:
        t = json.loads(line)
        result = t.get('result')
        if result in ('OK', 'EXPECTEDFAIL'):
            passed += 1
        elif result == 'SKIP':
            skipped += 1
            print(f'SKIPPED [{build}] {t.get("name")}')
        else:
            failed += 1
            print(f'FAILED [{build}] {t.get("name")}: {result}')
print(f'{passed} passed, {failed} failed, {skipped} skipped')
