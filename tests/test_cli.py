#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The command line contract of man/certwatch.8.scd: run -n exit codes and messages,
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
        ('[component]\nhost = x\n', ': [component] jid is required'),
        ('[nope]\n', ':1: unknown section [nope]'),
    ]
    for text, want in cases:
        path = write(d, 'bad.conf', text)
        p = run([BIN, 'run', '-c', path, '-n'])
        assert p.returncode == 78, (text, p)
        # The file's name starts the message: an admin with several
        # files sees which one is wrong.
        assert path + want in p.stderr, (path + want, p.stderr)


def t_secret_mode_warned(d):
    p = run([BIN, 'run', '-c', write(d, 'open.conf', GOOD, 0o644), '-n'])
    assert p.returncode == 0, p
    assert 'readable by other users' in p.stderr, p.stderr
    assert 's3cret-value' not in p.stderr


def t_ct_config(d):
    # [ct] (docs/ct.md): a missing certspotter is a warning, not an error;
    # a relative path or a logs value that is neither a path nor a URL is.
    p = run([BIN, 'run', '-c', write(d, 'ct.conf', GOOD +
             '[ct]\ncertspotter = /nonexistent/certspotter\n'), '-n'])
    assert p.returncode == 0, p
    assert '[ct] certspotter: no executable' in p.stderr, p.stderr
    assert '[ct] certspotter = /nonexistent/certspotter' in p.stdout, p.stdout
    sh = write(d, 'fake-certspotter', '#!/bin/sh\n', 0o700)
    p = run([BIN, 'run', '-c', write(d, 'ct2.conf', GOOD +
             '[ct]\ncertspotter = %s\nlogs = %s/loglist.json\n' % (sh, d)),
             '-n'])
    assert p.returncode == 0, p
    assert 'no executable' not in p.stderr, p.stderr
    assert '[ct] logs: cannot read' in p.stderr, p.stderr
    p = run([BIN, 'run', '-c', write(d, 'ct3.conf', GOOD +
             '[ct]\ncertspotter = sh\n'), '-n'])
    assert p.returncode == 0 and 'no executable' not in p.stderr, p
    for text, want in [('certspotter = bin/certspotter\n',
                        ':12: [ct] certspotter: expected an absolute path'),
                       ('logs = loglist.json\n',
                        ':12: [ct] logs: expected an absolute path')]:
        path = write(d, 'ct4.conf', GOOD + '[ct]\n' + text)
        p = run([BIN, 'run', '-c', path, '-n'])
        assert p.returncode == 78 and path + want in p.stderr, (want, p)


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


class Stderr:
    """A process's stderr read line by line in a thread, to wait for a
    state (a log line) instead of sleeping."""

    def __init__(self, proc):
        import threading
        self.lines = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(proc,),
                                       daemon=True)
        self.thread.start()

    def _read(self, proc):
        for line in proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip('\n'))
                self.cond.notify_all()

    def wait(self, text, start=0, timeout=30):
        """The index of the first line from `start` on holding `text`."""
        with self.cond:
            def found():
                return next((i for i in range(start, len(self.lines))
                             if text in self.lines[i]), None)
            self.cond.wait_for(lambda: found() is not None, timeout)
            i = found()
        assert i is not None, (text, self.lines)
        return i


def t_sighup_reload(d):
    """SIGHUP applies what can change (the log level, seen in force in the
    lines that follow), refuses a broken file keeping the running values,
    and SIGTERM stops cleanly even while the XMPP server is away."""
    import signal
    import socket
    import subprocess
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    text = (GOOD.replace('port = 5347', f'port = {port}') +
            f'[store]\ndir = {d}/state\n[log]\nlevel = warn\n')
    info = text.replace('level = warn', 'level = info')
    path = write(d, 'hup.conf', text)
    p = subprocess.Popen([BIN, 'run', '-c', path], stderr=subprocess.PIPE,
                         text=True)
    err = Stderr(p)
    try:
        # At warn: the refused connection's warning, no info line.
        at = err.wait('cannot connect')
        assert not any(ln.startswith('<6>') for ln in err.lines), err.lines
        # -> info: the reload's own info line shows the new level in force.
        write(d, 'hup.conf', info)
        p.send_signal(signal.SIGHUP)
        at = err.wait('SIGHUP: reloaded', at)
        # A broken file (asking for warn) changes nothing: info lines go on.
        write(d, 'hup.conf', text + 'bogus = 1\n')
        p.send_signal(signal.SIGHUP)
        at = err.wait('keeping the running configuration', at)
        assert 'unknown key' in err.lines[at], err.lines[at]
        err.wait('<6>xmpp: reconnecting', at, timeout=90)
        # -> warn, with a [component] change: its warning shows, the info
        # line "reloaded" does not (the broken file after it is a fence:
        # signals are handled in order).
        write(d, 'hup.conf', text.replace(f'port = {port}', 'port = 1'))
        p.send_signal(signal.SIGHUP)
        at = err.wait('[component] port: changes need a restart', at)
        write(d, 'hup.conf', text + 'bogus = 1\n')
        p.send_signal(signal.SIGHUP)
        fence = err.wait('keeping the running configuration', at)
        quiet = [ln for ln in err.lines[at:fence] if ln.startswith('<6>')]
        assert not quiet, quiet
        p.send_signal(signal.SIGTERM)
        rc = p.wait(20)
        err.thread.join(5)
    finally:
        if p.poll() is None:
            p.kill()
    assert rc == 0, (rc, err.lines)
    assert not any('s3cret-value' in ln for ln in err.lines)


def main():
    r = Runner()
    with tempfile.TemporaryDirectory() as d:
        for name, fn in [('run -n valid', t_run_n_valid),
                         ('run -n invalid: 78 and file:line: [section] key',
                          t_run_n_invalid),
                         ('secret readable by others is warned about',
                          t_secret_mode_warned),
                         ('[ct]: missing certspotter warned, bad values '
                          'refused', t_ct_config),
                         ('check bad arguments: UNKNOWN, exit 3',
                          t_check_bad_args),
                         ('--help, --version', t_help_version),
                         ('SIGHUP: new log level in force, kept on a broken '
                          'file; SIGTERM stops',
                          t_sighup_reload)]:
            r.run(name, fn, d)
    return r.finish()


if __name__ == '__main__':
    sys.exit(main())
