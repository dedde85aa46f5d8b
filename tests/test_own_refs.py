#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""No source or document of the tree cites a file outside the repository:
the project's readers have only the tree, so a reference to the lead's
working notes (the product contract, the notes on libraries, the shared
folder beside the checkout) is one they cannot follow.  Cite the RFC
section or the docs/ file instead (docs/architecture.md explains the
library facts the code relies on).

Usage: test_own_refs.py SOURCE_ROOT"""
import os
import re
import sys

# Written so that this file does not match itself.
OUTSIDE = re.compile(r'\bSPEC\.md\b|\bNOTES\.md\b|\.\./shared\b|[/]work[/]shared\b')
EXTS = ('.c', '.h', '.md', '.py', '.sh', '.build', '.scd', '.txt', '.conf',
        '.service', '.yml', '.yaml')
NAMES = ('meson.build', 'meson_options.txt', 'control', 'rules', 'copyright')
# Build directories, labs and version control are not the tree's text.
SKIP = re.compile(r'^(\..*|build.*|_lab.*|__pycache__)$')


def sources(root):
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not SKIP.match(d))
        for f in sorted(files):
            if f.endswith(EXTS) or f in NAMES:
                yield os.path.join(top, f)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__.rsplit('\n', 1)[-1] + '\n')
        return 2
    root = argv[1]
    bad = checked = 0
    for path in sources(root):
        checked += 1
        with open(path, encoding='utf-8', errors='replace') as f:
            for n, line in enumerate(f, 1):
                m = OUTSIDE.search(line)
                if m:
                    print('FAIL %s:%d cites %s, outside the repository: %s'
                          % (os.path.relpath(path, root), n, m.group(0),
                             line.strip()))
                    bad += 1
    if checked < 100:
        print('FAIL only %d files found under %s' % (checked, root))
        return 1
    print('%d files checked, %d references outside the repository'
          % (checked, bad))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
