# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers shared by the Python integration tests: the lab, certwatch
configs, running the binary, and a tiny test runner that ends with the
"N passed, N failed" line."""
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'lab'))

# `certwatch check`'s exit code for each verdict (Nagios states,
# certwatch(8)): an unreachable domain, bad arguments and an invalid
# domain are 3.
VERDICT_EXIT = {'ok': 0, 'no-tlsa': 1, 'insecure': 1, 'mismatch': 2,
                'bogus': 2, 'unreachable': 3}


@contextlib.contextmanager
def lab():
    """The lab named by $CERTWATCH_LAB, or a private one for this test."""
    path = os.environ.get('CERTWATCH_LAB')
    if path and os.path.exists(path):
        with open(path, encoding='utf-8') as f:
            yield json.load(f)
        return
    from lab import Lab  # noqa: E402  (tests/lab/lab.py)
    d = tempfile.mkdtemp(prefix='certwatch-lab.')
    lb = Lab.start(d)
    try:
        yield lb.info
    finally:
        lb.stop()


def write_config(info, path, **sections):
    """A certwatch config for the lab; `sections` override keys:
    write_config(info, p, probe={'via': 'direct'})."""
    conf = {
        'component': {'jid': 'certwatch.invalid', 'secret': 'unused'},
        'probe': {'via': 'direct', 'timeout': '10', 'allow_private': 'yes'},
        'dns': {'trust_anchor': info['trust_anchor'],
                'unbound_conf': info['unbound_conf'], 'forward': ''},
        'store': {'dir': os.path.join(os.path.dirname(path), 'store')},
        'log': {'level': 'info'},
    }
    for sec, kv in sections.items():
        conf.setdefault(sec, {}).update(kv)
    with open(path, 'w', encoding='utf-8') as f:
        for sec, kv in conf.items():
            f.write(f'[{sec}]\n')
            for k, v in kv.items():
                f.write(f'{k} = {v}\n')
    os.chmod(path, 0o600)
    return path


def free_port(host='127.0.0.1'):
    """A TCP port free on host now (for a listener, or a closed port)."""
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def terminate(proc, timeout=20):
    """SIGTERM (certwatch's clean stop), then SIGKILL after timeout."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def assert_clean_log(path):
    """A sanitizer build reports into the daemon's log: none there."""
    with open(path, encoding='utf-8', errors='replace') as f:
        text = f.read()
    for bad in ('AddressSanitizer', 'LeakSanitizer', 'runtime error:'):
        assert bad not in text, text[max(0, text.index(bad) - 200):][:3000]


def run(argv, timeout=120, **kw):
    return subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout, **kw)


def check_json(binary, conf, domain, timeout=120):
    p = run([binary, 'check', '-c', conf, '--json', domain], timeout=timeout)
    try:
        return p.returncode, json.loads(p.stdout), p
    except json.JSONDecodeError:
        raise AssertionError(f'not JSON (exit {p.returncode}): '
                             f'{p.stdout!r} {p.stderr!r}')


class Runner:
    """Runs test functions, prints each result, ends with the summary."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, name, fn, *args):
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - any failure is a test failure
            self.failed += 1
            print(f'FAIL {name}')
            traceback.print_exc(file=sys.stdout)
        else:
            self.passed += 1
            print(f'ok   {name}')
        sys.stdout.flush()

    def finish(self):
        print(f'{self.passed} passed, {self.failed} failed')
        return 1 if self.failed or not self.passed else 0
