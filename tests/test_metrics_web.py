#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""/metrics of `certwatch run` with 10,000 watched domains (docs/web.md,
"Metrics"): a state directory filled by web_fill_store, the page through
`promtool check metrics`, one certwatch_domain_verdict series a domain,
certwatch_domains{verdict} adding up, its size and time; then 10,001
domains (counts only, logged once), [http] metrics_per_domain = no, and
the same applied by SIGHUP.

No lab is needed: the page is served from the store; the component port
is closed (certwatch retries it) and no check runs.

usage: test_metrics_web.py CERTWATCH_BIN WEB_FILL_STORE_BIN
"""
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from cwtest import Runner, assert_clean_log, free_port, terminate

BIN, FILL = sys.argv[1], sys.argv[2]
N = 10000


def get(port, path):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
    try:
        c.request('GET', path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class Daemon:
    """certwatch run on a filled store, web on; stopped by SIGTERM."""

    def __init__(self, tmp, store, per_domain):
        self.port = free_port()
        self.conf = os.path.join(tmp, 'certwatch.conf')
        self.logpath = os.path.join(tmp, 'certwatch.log')
        with open(self.conf, 'w', encoding='utf-8') as f:
            f.write(f"""[component]
jid = certwatch.invalid
host = 127.0.0.1
port = {free_port()}
secret = unused
[probe]
via = direct
[store]
dir = {store}
[http]
listen = 127.0.0.1:{self.port}
{'' if per_domain is None else f'metrics_per_domain = {per_domain}'}
""")
        os.chmod(self.conf, 0o600)

    def __enter__(self):
        self.log = open(self.logpath, 'a', encoding='utf-8')
        self.start = self.log.tell()
        self.proc = subprocess.Popen([BIN, 'run', '-c', self.conf],
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            assert self.proc.poll() is None, self.logtext()
            try:
                if get(self.port, '/')[0] == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError('the web server did not answer: ' +
                             self.logtext())

    def __exit__(self, *exc):
        terminate(self.proc)
        self.log.close()

    def logtext(self):
        with open(self.logpath, encoding='utf-8', errors='replace') as f:
            f.seek(self.start)
            return f.read()[-3000:]

    def metrics(self):
        t0 = time.monotonic()
        st, body = get(self.port, '/metrics')
        ms = (time.monotonic() - t0) * 1000
        assert st == 200, st
        return body.decode(), ms


def promtool(text):
    p = subprocess.run(['promtool', 'check', 'metrics'], input=text,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]


def series(text, name):
    return re.findall('^' + re.escape(name) + r'\{([^}]*)\} (\S+)$', text,
                      re.M)


def fill(tmp, n):
    store = os.path.join(tmp, f'store{n}')
    p = subprocess.run([FILL, store, str(n)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return store


def t_full(tmp, store):
    with Daemon(tmp, store, None) as d:
        text, ms = d.metrics()
        promtool(text)
        verdicts = series(text, 'certwatch_domain_verdict')
        assert len(verdicts) == N, len(verdicts)
        assert all(v == '1' for _, v in verdicts)
        counts = dict((lab.split('"')[1], float(v))
                      for lab, v in series(text, 'certwatch_domains'))
        assert counts['ok'] == N and sum(counts.values()) == N, counts
        ts = series(text, 'certwatch_domain_last_check_timestamp_seconds')
        assert len(ts) == N and all(float(v) > 1.6e9 for _, v in ts)
        km = series(text, 'certwatch_endpoint_key_match')
        assert len(km) == 4 * N and all(v == '1' for _, v in km), len(km)
        assert ('domain="d00042.example",service="xmpps-server",'
                'host="xmpp.d00042.example",port="5270"', '1') in km
        # Defences: counts from each domain's defence line.
        dfc = dict((lab, float(v)) for lab, v in
                   series(text, 'certwatch_domains_defence'))
        bound = (N + 2) // 3
        assert dfc['defence="caa",state="bound"'] == bound, dfc
        assert dfc['defence="caa",state="none"'] == N - bound, dfc
        assert dfc['defence="channel_binding",state="offered"'] == bound
        assert dfc['defence="expiry",state="soon"'] == bound, dfc
        assert dfc['defence="next_key",state="yes"'] == bound, dfc
        # A second scrape (warm), for the figure in docs/web.md.
        _, ms2 = d.metrics()
        print(f'     {N} domains: /metrics {len(text) / 1e6:.1f} MB, '
              f'{len(text.splitlines())} lines, {ms:.0f} ms, then '
              f'{ms2:.0f} ms')


def t_cut(tmp):
    store = fill(tmp, N + 1)
    with Daemon(tmp, store, None) as d:
        text, _ = d.metrics()
        d.metrics()
        promtool(text)
        assert 'certwatch_domains{verdict="ok"} %d\n' % (N + 1) in text
        assert 'domain="' not in text
        # Logged once, not at each scrape.
        assert d.logtext().count('counts only') == 1, d.logtext()


def t_off(tmp, store):
    with Daemon(tmp, store, 'no') as d:
        text, ms = d.metrics()
        promtool(text)
        assert 'certwatch_domains{verdict="ok"} %d\n' % N in text
        assert 'domain="' not in text
        assert 'counts only' not in d.logtext()
        print(f'     metrics_per_domain = no: {len(text)} bytes, {ms:.0f} ms')


def t_reload(tmp, store):
    # SIGHUP applies [http] metrics_per_domain (docs/running.md).
    with Daemon(tmp, store, 'yes') as d:
        assert 'certwatch_domain_verdict{' in d.metrics()[0]
        with open(d.conf, encoding='utf-8') as f:
            text = f.read().replace('metrics_per_domain = yes',
                                    'metrics_per_domain = no')
        with open(d.conf, 'w', encoding='utf-8') as f:
            f.write(text)
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while 'domain="' in d.metrics()[0]:
            assert time.time() < deadline, 'SIGHUP did not apply it'
            time.sleep(0.2)


def main():
    r = Runner()
    tmp = tempfile.mkdtemp(prefix='certwatch-metrics.')
    try:
        store = fill(tmp, N)
        r.run(f'{N} domains: per-domain series, promtool', t_full, tmp,
              store)
        r.run(f'{N + 1} domains: counts only, logged once', t_cut, tmp)
        r.run('metrics_per_domain = no: counts only', t_off, tmp, store)
        r.run('SIGHUP: metrics_per_domain = no applied', t_reload, tmp,
              store)
        r.run('no sanitizer report', assert_clean_log,
              os.path.join(tmp, 'certwatch.log'))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return r.finish()


if __name__ == '__main__':
    sys.exit(main())
