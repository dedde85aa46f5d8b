#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""certspotter supervised by the daemon (docs/ct.md, "Running certspotter"):
its arguments and environment, its stderr in the log, restarted with
backoff when it dies (certwatch_ct_certspotter_up 0 meanwhile), stopped
with the daemon.  A stand-in certspotter records how it was run; the
XMPP server is absent (the daemon keeps trying, CT runs all the same)."""
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from cwtest import Runner, free_port

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1
                      else os.environ.get('CERTWATCH_BIN'))

FAKE = """#!/bin/sh
echo "$$ $(date +%s.%N) $*" >> {d}/runs
echo "CERTSPOTTER_CONFIG_DIR=$CERTSPOTTER_CONFIG_DIR" > {d}/env
echo "CERTWATCH_CONFIG=$CERTWATCH_CONFIG" >> {d}/env
echo "fake certspotter says hello" >&2
exec sleep 1000
"""


def wait(pred, timeout=15):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError('timed out')


def runs(d):
    try:
        with open(os.path.join(d, 'runs'), encoding='utf-8') as f:
            return [ln.split(' ', 2) for ln in f.read().splitlines()]
    except FileNotFoundError:
        return []


def up(http):
    with urllib.request.urlopen(f'http://{http}/metrics', timeout=5) as r:
        text = r.read().decode()
    for ln in text.splitlines():
        if ln.startswith('certwatch_ct_certspotter_up '):
            return int(ln.split()[1])
    raise AssertionError('no certwatch_ct_certspotter_up in /metrics')


def alive(pid):
    try:
        with open(f'/proc/{pid}/stat', encoding='utf-8') as f:
            return f.read().split(') ')[1][0] != 'Z'
    except FileNotFoundError:
        return False


def t_supervised(d):
    fake = os.path.join(d, 'certspotter')
    with open(fake, 'w', encoding='utf-8') as f:
        f.write(FAKE.format(d=d))
    os.chmod(fake, 0o755)
    logs = os.path.join(d, 'loglist.json')
    with open(logs, 'w', encoding='utf-8') as f:
        f.write('{}\n')
    http = f'127.0.0.1:{free_port()}'
    conf = os.path.join(d, 'c.conf')
    with open(conf, 'w', encoding='utf-8') as f:
        f.write(f"""[component]
jid = certwatch.example.org
port = {free_port()}
secret = s3cret
[probe]
via = direct
[store]
dir = {d}/state
[http]
listen = {http}
[ct]
certspotter = {fake}
logs = {logs}
""")
    os.chmod(conf, 0o600)
    p = subprocess.Popen([BIN, 'run', '-c', 'c.conf'], cwd=d,
                         stderr=subprocess.PIPE, text=True)
    try:
        first = wait(lambda: runs(d))[0]
        store = f'{d}/state/ct'
        args = first[2].split(' ')
        assert args[:6] == ['-start_at_end', '-watchlist',
                            f'{store}/watchlist', '-state_dir',
                            f'{store}/certspotter', '-script'], args
        assert args[6].endswith('/certwatch-ct-hook'), args
        assert args[7:] == ['-logs', logs], args
        assert os.path.exists(f'{store}/watchlist')
        with open(os.path.join(d, 'env'), encoding='utf-8') as f:
            env = f.read()
        assert f'CERTSPOTTER_CONFIG_DIR={store}\n' in env, env
        # The relative -c is made absolute for the hook.
        assert f'CERTWATCH_CONFIG={conf}\n' in env, env
        wait(lambda: up(http) == 1)
        # Killed: 0 at once, back after 1 s, then after 2 s.
        pid = int(first[0])
        os.kill(pid, signal.SIGKILL)
        wait(lambda: up(http) == 0, 3)
        wait(lambda: len(runs(d)) == 2, 10)
        wait(lambda: up(http) == 1)
        second = runs(d)[1]
        os.kill(int(second[0]), signal.SIGKILL)
        wait(lambda: len(runs(d)) == 3, 10)
        third = runs(d)[2]
        gap1 = float(second[1]) - float(first[1])
        gap2 = float(third[1]) - float(second[1])
        assert gap1 >= 0.9 and gap2 >= 1.8, (gap1, gap2)
        # Stopped with the daemon: nothing left running.
        last = int(third[0])
        assert alive(last)
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
        assert rc == 0, rc
        assert not alive(last), 'certspotter left running'
        err = p.stderr.read()
        assert 'certspotter: fake certspotter says hello' in err, err
        assert 'certspotter killed by signal 9' in err, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for r in runs(d):
            if alive(int(r[0])):
                os.kill(int(r[0]), signal.SIGKILL)


def main():
    r = Runner()
    with tempfile.TemporaryDirectory() as d:
        r.run('certspotter supervised: args, env, stderr, backoff, metric, '
              'stopped with the daemon', t_supervised, d)
    return r.finish()


if __name__ == '__main__':
    sys.exit(main())
