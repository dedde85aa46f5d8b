#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Time and CPU of one `certwatch check` of the lab's good.test through the
lab's private Tor network against direct, and the network's bootstrap time.

    bench/bench_tor.py CERTWATCH_BIN [RUNS]

Reuses $CERTWATCH_LAB and $CERTWATCH_TORNET, or starts its own lab and Tor
network (then the bootstrap figures are of this run).  Runs RUNS checks in
each mode (default 10), alternating so that load from elsewhere hits both
alike, after one warm-up each; CPU is the certwatch process's own (user +
system from wait4), and the tor processes' CPU from /proc.  Prints Markdown for docs/performance.md."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'tests'))
from cwtest import lab, write_config  # noqa: E402
from tornet import TorNet  # noqa: E402  (tests/lab, put on the path by cwtest)


def proc_cpu(pids):
    """CPU seconds used so far by the live processes among pids."""
    total = 0.0
    for pid in pids:
        try:
            with open('/proc/%d/stat' % pid, encoding='ascii') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
    return total


def one_check(binary, conf):
    """(wall s, CPU s, certwatch's elapsed_ms, verdict) of one check."""
    t0 = time.monotonic()
    p = subprocess.Popen([binary, 'check', '-c', conf, '--json', 'good.test'],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    p.stdout.close()
    res = json.loads(out)
    return wall, ru.ru_utime + ru.ru_stime, res['elapsed_ms'], res['verdict']


def row(name, samples):
    wall = [s[0] * 1000 for s in samples]
    cpu = [s[1] * 1000 for s in samples]
    own = [s[2] for s in samples]
    return ('| %s | %.0f | %.0f–%.0f | %.0f | %.1f | %.1f–%.1f |' % (
        name, statistics.median(wall), min(wall), max(wall),
        statistics.median(own), statistics.median(cpu), min(cpu), max(cpu)))


def main():
    binary = os.path.abspath(sys.argv[1])
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    tmp = tempfile.mkdtemp(prefix='bench-tor-')
    own = None
    with lab() as info:
        try:
            path = os.environ.get('CERTWATCH_TORNET')
            if path:
                net = TorNet(os.path.dirname(path)).wait(timeout=300)
            else:
                own = net = TorNet(os.path.join(tmp, 'tor'),
                                   resolver=info['dns']['resolver']).start()
            confs = {
                'direct': write_config(info, os.path.join(tmp, 'direct.conf')),
                'tor': write_config(info, os.path.join(tmp, 'tor.conf'),
                                    probe={'via': 'tor', 'tor_socks': net.socks}),
            }
            got = {'direct': [], 'tor': []}
            tor_cpu = []
            for mode in got:
                one_check(binary, confs[mode])          # warm-up
            for _ in range(runs):
                for mode in got:
                    c0 = proc_cpu(net.info['pids'])
                    s = one_check(binary, confs[mode])
                    if mode == 'tor':
                        tor_cpu.append(proc_cpu(net.info['pids']) - c0)
                    if s[3] != 'ok':
                        raise SystemExit('%s check gave %s' % (mode, s[3]))
                    got[mode].append(s)
            ti = net.info
        finally:
            if own is not None:
                own.stop()
            shutil.rmtree(tmp, ignore_errors=True)
    print('Tor network (%s): keys %.1f s, consensus listing all relays '
          '%.1f s, client bootstrapped %.1f s after its start, '
          'start → ready %.1f s; RSS at ready %d MB' % (
              'started by this run' if own else 'of $CERTWATCH_TORNET',
              ti.get('keys_seconds', 0), ti.get('consensus_seconds', 0),
              ti.get('client_bootstrap_seconds', 0),
              ti.get('bootstrap_seconds', 0), ti.get('rss_bytes', 0) >> 20))
    print()
    print('| one check of good.test (4 probes), %d runs | wall ms, median '
          '| wall ms, range | certwatch elapsed_ms, median | CPU ms, median '
          '| CPU ms, range |' % runs)
    print('|---|---:|---:|---:|---:|---:|')
    print(row('direct', got['direct']))
    print(row('through the lab\'s Tor', got['tor']))
    print()
    print('CPU of the 7 tor processes during one check through Tor: '
          'median %.0f ms (clock ticks of 10 ms)' % (
              statistics.median(tor_cpu) * 1000))
    print()
    print('load average: %.1f %.1f %.1f' % os.getloadavg())
    return 0


if __name__ == '__main__':
    sys.exit(main())
