#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""GET /probe?domain= (docs/web.md, "Probe"), Prometheus' multi-target
pattern: `certwatch run` with the web on, against the lab's good.test,
mitm.test (a valid certificate with another key), streamerr.test
(unreachable) and twoaddr-nodane.test (a key split); each answer through `promtool check metrics` with the
series its verdict calls for; a bad domain is 400; [http]
checks_per_minute applies (429); and the time each probe takes
(docs/performance.md).

The component port is a closed one (certwatch retries it; checks do not
need it), so this test shares no component JID with the others.

usage: test_probe_web.py CERTWATCH_BIN
"""
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

from cwtest import (Runner, assert_clean_log, free_port, lab, terminate,
                    write_config)

BIN = sys.argv[1]
RATE = 5
PORT = None


def get(path, timeout=90):
    c = http.client.HTTPConnection('127.0.0.1', PORT, timeout=timeout)
    try:
        c.request('GET', path)
        r = c.getresponse()
        return r.status, r.getheader('Content-Type'), r.read().decode()
    finally:
        c.close()


def probe(domain):
    t0 = time.monotonic()
    st, ctype, body = get('/probe?domain=' + urllib.parse.quote(domain))
    ms = (time.monotonic() - t0) * 1000
    assert st == 200, (st, body[:500])
    assert ctype.startswith('text/plain; version=0.0.4'), ctype
    p = subprocess.run(['promtool', 'check', 'metrics'], input=body,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr + body
    print(f'     {domain}: {ms:.0f} ms')
    return body


def value(text, name, labels=''):
    m = re.search('^' + re.escape(name + labels) + r' (\S+)$', text, re.M)
    assert m, f'{name}{labels} not in:\n{text}'
    return float(m.group(1))


def series(text, name):
    return re.findall('^' + re.escape(name) + r'\{([^}]*)\} (\S+)$', text,
                      re.M)


def t_good():
    t = probe('good.test')
    assert value(t, 'certwatch_probe_success') == 1
    assert value(t, 'certwatch_probe_verdict', '{verdict="ok"}') == 1
    assert value(t, 'certwatch_probe_verdict', '{verdict="mismatch"}') == 0
    km = series(t, 'certwatch_probe_key_match')
    assert len(km) == 4 and all(v == '1' for _, v in km), km
    assert ('service="xmpp-client",host="xmpp.good.test",port="5222"',
            '1') in km, km
    tl = series(t, 'certwatch_probe_tlsa_records')
    assert len(tl) == 4 and all(int(v) >= 1 for _, v in tl), tl
    exp = series(t, 'certwatch_probe_certificate_expiry_timestamp_seconds')
    assert len(exp) == 4 and all(float(v) > time.time() for _, v in exp)
    assert 0 < value(t, 'certwatch_probe_duration_seconds') < 60
    assert value(t, 'certwatch_probe_key_split', '{seen="own"}') == 0
    assert value(t, 'certwatch_probe_key_split', '{seen="remote_only"}') == 0


def t_mitm():
    t = probe('mitm.test')
    assert value(t, 'certwatch_probe_success') == 0
    assert value(t, 'certwatch_probe_verdict', '{verdict="mismatch"}') == 1
    assert value(t, 'certwatch_probe_verdict', '{verdict="ok"}') == 0
    km = series(t, 'certwatch_probe_key_match')
    assert km and all(v == '0' for _, v in km), km
    assert len(series(t, 'certwatch_probe_tlsa_records')) == 4


def t_unreachable():
    t = probe('streamerr.test')
    assert value(t, 'certwatch_probe_success') == 0
    assert value(t, 'certwatch_probe_verdict',
                 '{verdict="unreachable"}') == 1
    # Nothing compared, no certificate seen: no such series.
    assert series(t, 'certwatch_probe_key_match') == []
    assert series(t,
                  'certwatch_probe_certificate_expiry_timestamp_seconds') \
        == []
    assert len(series(t, 'certwatch_probe_tlsa_records')) == 2


def t_split():
    # twoaddr-nodane.test: no DANE, its target's two addresses show two
    # keys (the good server's, the impostor's): a split of our own probes.
    t = probe('twoaddr-nodane.test')
    assert value(t, 'certwatch_probe_key_split', '{seen="own"}') == 1, t
    assert value(t, 'certwatch_probe_key_split', '{seen="remote_only"}') == 0
    assert value(t, 'certwatch_probe_verdict', '{verdict="no-tlsa"}') == 1


def t_bad_input():
    for q in ('/probe', '/probe?domain=', '/probe?domain=a..b',
              '/probe?domain=' + 'x' * 5000):
        st, _, body = get(q)
        assert st == 400, (q, st, body[:200])


def t_rate_limit():
    # Three checks above, the good one again is the same result (no new
    # check); then new domains until the per-client bucket is empty.
    assert get('/probe?domain=good.test')[0] == 200
    codes = [get('/probe?domain=' + d)[0]
             for d in ('notlsa.test', 'bogus.test', 'ta.test')]
    assert codes[-1] == 429 and 200 in codes, codes


def main():
    global PORT
    r = Runner()
    with lab() as info:
        tmp = tempfile.mkdtemp(prefix='certwatch-probe.')
        PORT = free_port()
        conf = write_config(
            info, os.path.join(tmp, 'certwatch.ini'),
            component={'jid': 'certwatch.invalid', 'host': '127.0.0.1',
                       'port': str(free_port()), 'secret': 'unused'},
            probe={'via': 'direct', 'timeout': '5', 'allow_private': 'yes'},
            http={'listen': f'127.0.0.1:{PORT}',
                  'checks_per_minute': str(RATE)})
        logpath = os.path.join(tmp, 'certwatch.log')
        log = open(logpath, 'w', encoding='utf-8')
        proc = subprocess.Popen([BIN, 'run', '-c', conf], stdout=log,
                                stderr=log)
        try:
            deadline = time.time() + 30
            while time.time() < deadline:
                assert proc.poll() is None, open(logpath).read()
                try:
                    get('/', timeout=2)
                    break
                except OSError:
                    time.sleep(0.1)
            r.run('good.test: success 1, keys match', t_good)
            r.run('mitm.test: mismatch, key match 0', t_mitm)
            r.run('streamerr.test: unreachable, nothing compared',
                  t_unreachable)
            r.run('twoaddr-nodane.test: key split of our own probes', t_split)
            r.run('bad input: 400', t_bad_input)
            r.run('checks_per_minute: 429', t_rate_limit)
        finally:
            terminate(proc)
            log.close()
            r.run('no sanitizer report', assert_clean_log, logpath)
            if r.failed:
                print(open(logpath, encoding='utf-8').read()[-3000:])
            shutil.rmtree(tmp, ignore_errors=True)
    return r.finish()


if __name__ == '__main__':
    sys.exit(main())
