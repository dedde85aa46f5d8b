#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The command line contract of SPEC.md: run -n exit codes and messages,
check's exit codes for bad arguments, --help, --version."""
import os
import sys
import tempfile

from cwtest import Runner, run

BIN = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('CERTWATCH_BIN')

GOOD = """[component]
jid = certwatch.example.org
host = 127.0.0.1
port = 5347
secret = s3cret-value
admins = admin@example.org

[probe]
via = tor
tor_socks = 127.0.0.1:9050
"""


def write(d, name, text, mode=0o600):
    p = os.path.join(d, name)
    with open(p, 'w', encoding='utf-8') as f:
        f.write(text)
    os.chmod(p, mode)
    return p


def t_run_n_valid(d):
    p = run([BIN, 'run', '-c', write(d, 'ok.conf', GOOD), '-n'])
    assert p.returncode == 0, p
    assert 'certwatch.example.org' in p.stdout, p.stdout
    assert 's3cret-value' not in p.stdout + p.stderr


def t_run_n_invalid(d):
    cases = [
        (GOOD + 'bogus = 1\n', ':11: [probe] bogus: unknown key'),
        (GOOD.replace('port = 5347', 'port = many'),
         ':4: [component] port: expected a number'),
        ('[component]\nhost = x\n', '[component] jid is required'),
        ('[nope]\n', ':1: unknown section [nope]'),
    ]
    for text, want in cases:
        path = write(d, 'bad.conf', text)
        p = run([BIN, 'run', '-c', path, '-n'])
        assert p.returncode == 78, (text, p)
        assert path + want in p.stderr or want in p.stderr, (want, p.stderr)


def t_secret_mode_warned(d):
    p = run([BIN, 'run', '-c', write(d, 'open.conf', GOOD, 0o644), '-n'])
    assert p.returncode == 0, p
    assert 'readable by other users' in p.stderr, p.stderr
    assert 's3cret-value' not in p.stderr


def t_check_bad_args(d):
    for argv in (['check'], ['check', 'a.org', 'b.org'], ['check', '--nope', 'a.org']):
        p = run([BIN] + argv)
        assert p.returncode == 3, (argv, p)
        assert p.stdout.startswith('CERTWATCH UNKNOWN - bad arguments'), p
    p = run([BIN, 'check', '-c', '/nonexistent.conf', 'example.org'])
    assert p.returncode == 3 and 'invalid config' in p.stdout, p
    p = run([BIN, 'check', 'exa mple.org'])
    assert p.returncode == 3, p
    assert p.stdout.startswith('CERTWATCH UNKNOWN - invalid domain: '), p


def t_help_version(d):
    p = run([BIN, '--help'])
    assert p.returncode == 0 and 'certwatch run -c FILE' in p.stdout, p
    p = run([BIN, '--version'])
    assert p.returncode == 0 and p.stdout.startswith('certwatch '), p
    p = run([BIN, 'frobnicate'])
    assert p.returncode == 2, p


def t_sighup_reload(d):
    """SIGHUP applies what can change, refuses a broken file, and SIGTERM
    stops cleanly even while the XMPP server is away."""
    import signal
    import socket
    import subprocess
    import time
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    text = (GOOD.replace('port = 5347', f'port = {port}') +
            f'[store]\ndir = {d}/state\n[log]\nlevel = info\n')
    path = write(d, 'hup.conf', text)
    p = subprocess.Popen([BIN, 'run', '-c', path], stderr=subprocess.PIPE,
                         text=True)
    try:
        time.sleep(1.0)
        write(d, 'hup.conf', text.replace('level = info', 'level = debug'))
        p.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        write(d, 'hup.conf', text + 'bogus = 1\n')
        p.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, (p.returncode, err)
    assert 'SIGHUP: reloaded' in err, err
    assert 'keeping the running configuration' in err, err
    assert 'unknown key' in err, err
    assert 's3cret-value' not in err


def main():
    r = Runner()
    with tempfile.TemporaryDirectory() as d:
        for name, fn in [('run -n valid', t_run_n_valid),
                         ('run -n invalid: 78 and file:line: [section] key',
                          t_run_n_invalid),
                         ('secret readable by others is warned about',
                          t_secret_mode_warned),
                         ('check bad arguments: UNKNOWN, exit 3',
                          t_check_bad_args),
                         ('--help, --version', t_help_version),
                         ('SIGHUP reloads, SIGTERM stops', t_sighup_reload)]:
            r.run(name, fn, d)
    return r.finish()


if __name__ == '__main__':
    sys.exit(main())
