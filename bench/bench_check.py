#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Probes per second and CPU per probe of certwatch's check against the
lab's good domain (direct mode), side by side with a loop of
`openssl s_client -dane_tlsa_rrdata` doing the same DANE check of one
endpoint (handed the TLSA record, so it does no DNS at all).

    bench/bench_check.py BUILD_DIR [CHECKS] [CONCURRENCY] [VANTAGES]

VANTAGES = k: k direct vantages (each address probed k times;
docs/performance.md); without it the one vantage of `via`.

Prints a Markdown table for docs/performance.md."""
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'tests'))
from cwtest import lab  # noqa: E402

build = sys.argv[1]
checks = int(sys.argv[2]) if len(sys.argv) > 2 else 200
conc = int(sys.argv[3]) if len(sys.argv) > 3 else 16
vantages = sys.argv[4:5]
peer_runs = 60


def server_cpu(info):
    """CPU seconds used so far by the lab's good Prosody (the target)."""
    pid = next(p['pid'] for p in info['procs'] if p['name'] == 'good')
    with open(f'/proc/{pid}/stat', encoding='ascii') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def certwatch(info, n, c):
    s0 = server_cpu(info)
    out = subprocess.run(
        [os.path.join(build, 'bench', 'bench_check'), info['trust_anchor'],
         info['unbound_conf'], 'good.test', str(n), str(c)] + vantages,
        capture_output=True, text=True, check=True).stdout
    res = dict(kv.split('=') for kv in out.split())
    res['server_cpu_share'] = (server_cpu(info) - s0) / float(res['wall_s'])
    return res


def peer(info):
    good = info['keys']['good']['spki_sha256']
    ip = info['targets']['good']
    argv = ['openssl', 's_client', '-connect', f'{ip}:5222', '-starttls',
            'xmpp', '-xmpphost', 'good.test', '-servername', 'good.test',
            '-dane_tlsa_domain', 'good.test', '-dane_tlsa_rrdata',
            f'3 1 1 {good}', '-verify_return_error', '-brief']
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    for _ in range(peer_runs):
        p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True)
        if 'Verification: OK' not in p.stderr + p.stdout:
            raise SystemExit(f'peer check failed: {p.stderr}')
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {'probes_per_s': peer_runs / wall,
            'cpu_ms_per_probe': cpu * 1000 / peer_runs}


with lab() as info:
    seq = certwatch(info, max(20, checks // 5), 1)
    par = certwatch(info, checks, conc)
    pe = peer(info)

rows = [
    ('openssl s_client -dane_tlsa_rrdata, sequential (1 probe per run)',
     pe['probes_per_s'], pe['cpu_ms_per_probe'], '-'),
    ('certwatch, 1 check at a time (%d probes + DNS per check)'
     % (int(seq['probes']) // int(seq['checks'])),
     float(seq['probes_per_s']), float(seq['cpu_ms_per_probe']),
     seq['kb_per_probe_in_flight']),
    (f'certwatch, {conc} checks at a time',
     float(par['probes_per_s']), float(par['cpu_ms_per_probe']),
     par['kb_per_probe_in_flight']),
]
print('| run | probes/s | CPU ms/probe (client side) | KB per probe in flight |')
print('|---|---:|---:|---:|')
for name, pps, cpu, kb in rows:
    print(f'| {name} | {pps:.1f} | {cpu:.2f} | {kb} |')
print()
print(f'the target Prosody used {par["server_cpu_share"] * 100:.0f}% of a '
      f'core during the {conc}-at-once run (it is single-threaded)')
print()
print(f'ratio, probes/s (certwatch {conc} at once / peer): '
      f'{float(par["probes_per_s"]) / pe["probes_per_s"]:.1f}x')
print(f'ratio, CPU per probe (peer / certwatch): '
      f'{pe["cpu_ms_per_probe"] / float(par["cpu_ms_per_probe"]):.1f}x')
print(json.dumps({'certwatch_seq': seq, 'certwatch_par': par, 'peer': pe}))
