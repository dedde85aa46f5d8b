#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every test file is a registered test: each tests/test_*.c, .py and .sh
of the source tree appears in `meson introspect --tests` of the build (a C
file as the executable of its name, a script as an argument of a test's
command).  A file that is never registered would be a test that never
runs.  In a sanitizer build only test_valgrind.py and test_package.sh may
be missing (valgrind cannot run an ASan binary, and the package is built
once, from the plain build: tests/meson.build registers them only when
b_sanitize is 'none'); scripts/test.sh configures build/ with
-Db_sanitize=none so it is always there.

Usage: test_registered.py MESON SOURCE_ROOT BUILD_ROOT"""
import glob
import json
import os
import subprocess
import sys

# Registered only in a build without sanitizers (tests/meson.build).
PLAIN_ONLY = {'test_valgrind.py', 'test_package.sh'}


def introspect(meson, build, what):
    p = subprocess.run([meson, 'introspect', what, build], capture_output=True,
                       text=True, check=True)
    return json.loads(p.stdout)


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__.rsplit('\n', 1)[-1] + '\n')
        return 2
    meson, source, build = argv[1:]
    files = sorted(os.path.basename(f) for ext in ('c', 'py', 'sh')
                   for f in glob.glob(os.path.join(source, 'tests', 'test_*.' + ext)))
    tests = introspect(meson, build, '--tests')
    sanitize = next(o['value'] for o in introspect(meson, build, '--buildoptions')
                    if o['name'] == 'b_sanitize')
    registered = set()
    for t in tests:
        cmd = t['cmd']
        registered.add(os.path.basename(cmd[0]))         # a C test's executable
        registered.update(os.path.basename(a) for a in cmd[1:])  # a script
    missing = []
    for f in files:
        stem, ext = os.path.splitext(f)
        if (stem if ext == '.c' else f) in registered:
            print('ok   %s' % f)
        elif f in PLAIN_ONLY and sanitize not in ('none', ['none']):
            print('ok   %s (not in a b_sanitize=%s build)' % (f, sanitize))
        else:
            print('FAIL %s: no test of `meson introspect --tests` runs it' % f)
            missing.append(f)
    if len(files) < 20:
        print('FAIL only %d tests/test_* files found in %s' % (len(files), source))
        missing.append('(files)')
    print('%d passed, %d failed' % (len(files) - len(missing), len(missing)))
    return 1 if missing else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
