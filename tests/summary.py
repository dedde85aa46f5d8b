#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prints one line per failed test and the closing "N passed, N failed"
line from meson's testlog.json files (meson test itself ends with the log
file's name, which CI does not read)."""
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
        else:
            failed += 1
            print(f'FAILED [{build}] {t.get("name")}: {result}')
print(f'{passed} passed, {failed} failed' + (f', {skipped} skipped' if skipped else ''))
