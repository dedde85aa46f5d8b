#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""`certwatch check` and the defences of docs/usage.md against the lab's
signed zones: CAA bound to an ACME account (RFC 8657), issuers only, none
up to the TLD, found at a parent (RFC 8659 §3 tree climbing), in an
unsigned zone and in a bogus one.  Channel binding (XEP-0440) as the
lab's Prosody and ejabberd offer it, measured here with a raw client, and
a server silent after TLS.  The DANE verdict never changes."""
import os
import re
import socket
import ssl
import sys
import tempfile
import time

from cwtest import Runner, check_json, lab, run, write_config

BIN = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('CERTWATCH_BIN')
LE = 'letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1234'


def caa(conf, domain):
    rc, res, _ = check_json(BIN, conf, domain)
    assert 'defences' in res and 'caa' in res['defences'], res
    return res, res['defences']['caa']


def codes(c):
    return sorted(w['code'] for w in c['warnings'])


def t_bound(info, conf):
    res, c = caa(conf, 'good.test')
    assert res['verdict'] == 'ok', res
    assert c['state'] == 'bound', c
    assert c['found_at'] == 'good.test' and c['dnssec'] == 'secure', c
    assert sorted(c['records']) == sorted([
        f'0 issue "{LE}; validationmethods=dns-01"', '0 issue ";"',
        '0 iodef "mailto:security@good.test"']), c
    assert c['validationmethods'] == 'dns-01', c
    assert codes(c) == [], c
    # Its SRV target xmpp.good.test has no CAA: it takes good.test's.
    assert [t['name'] for t in c['targets']] == ['xmpp.good.test'], c
    t = c['targets'][0]
    assert t['state'] == 'bound' and t['found_at'] == 'good.test', t


def t_climb(info, conf):
    """A name without CAA of its own takes its parent's (RFC 8659 §3)."""
    _, c = caa(conf, 'nothing-here.good.test')
    assert c['state'] == 'bound' and c['found_at'] == 'good.test', c


def t_cname(info, conf):
    """xmpp.cname.test is a CNAME to xmpp.good.test: the alias target is
    asked, its parent good.test (bound) is not (RFC 8659 §3); the walk
    climbs cname.test and test. instead."""
    _, c = caa(conf, 'xmpp.cname.test')
    assert c['state'] == 'none' and c['found_at'] is None, c
    assert c['dnssec'] == 'secure', c


def t_issuers(info, conf):
    res, c = caa(conf, 'rollover.test')
    assert res['verdict'] == 'ok', res
    assert c['state'] == 'issuers' and c['found_at'] == 'rollover.test', c
    assert '0 issuewild "letsencrypt.org"' in c['records'], c
    assert c['validationmethods'] is None, c
    assert codes(c) == ['caa-no-accounturi'], c


def t_none(info, conf):
    res, c = caa(conf, 'notlsa.test')
    assert c['state'] == 'none' and c['found_at'] is None, c
    assert c['dnssec'] == 'secure' and c['records'] == [], c
    assert codes(c) == ['caa-none'], c
    p = run([BIN, 'check', '-c', conf, 'notlsa.test'], timeout=120)
    assert 'Defences:' in p.stdout and 'CAA: none' in p.stdout, p.stdout
    assert ('notlsa.test. IN CAA 0 issue "letsencrypt.org; accounturi='
            'https://acme-v02.api.letsencrypt.org/acme/acct/'
            '<your account id>"') in p.stdout, p.stdout


def t_insecure(info, conf):
    """CAA in an unsigned zone: judged, and said to be forgeable."""
    _, c = caa(conf, 'unsigned.test')
    assert c['state'] == 'issuers' and c['dnssec'] == 'insecure', c
    assert c['found_at'] == 'unsigned.test', c
    assert c['records'] == ['0 issue "letsencrypt.org"'], c
    assert codes(c) == ['caa-insecure', 'caa-no-accounturi'], c
    # The SRV target is in the signed good.test: judged on its own.
    t = {t['name']: t for t in c['targets']}['xmpp.good.test']
    assert t['state'] == 'bound' and t['dnssec'] == 'secure', t


def t_bogus(info, conf):
    res, c = caa(conf, 'bogus.test')
    assert res['verdict'] == 'bogus', res
    assert c['state'] == 'unknown' and c['dnssec'] == 'bogus', c
    assert codes(c) == ['caa-bogus'], c
    assert c.get('detail'), c


def t_issuewild(info, conf):
    """accounturi on every issue, issuewild without it: bound (issuewild
    is listed, not judged for the domain)."""
    _, c = caa(conf, 'cbnone.test')
    assert c['state'] == 'bound' and c['dnssec'] == 'secure', c
    assert '0 issuewild "letsencrypt.org"' in c['records'], c
    assert codes(c) == [], c


def t_expiry(info, conf):
    """cbnone.test's leaf expires in 3 days: expires-soon, the DANE
    verdict unchanged; good.test's does not."""
    rc, res, _ = check_json(BIN, conf, 'cbnone.test')
    assert res['verdict'] == 'ok', res
    x = res['defences']['expiry']
    assert x['days'] == 2 and x['host'] == 'xmpp.cbnone.test', x
    assert codes(x) == ['expires-soon'], x
    assert abs(x['not_after'] - (time.time() + 3 * 86400)) < 86400, x
    rc, res, _ = check_json(BIN, conf, 'good.test')
    assert res['defences']['expiry']['days'] > 14, res['defences']
    assert codes(res['defences']['expiry']) == [], res['defences']
    p = run([BIN, 'check', '-c', conf, 'cbnone.test'], timeout=120)
    assert 'Expiry: 2 days (xmpp.cbnone.test)' in p.stdout, p.stdout
    assert 'warning (expires-soon)' in p.stdout, p.stdout


def t_invalid(info, conf):
    """An input that is no domain has no defences to report."""
    _, res, _ = check_json(BIN, conf, 'not a domain')
    assert 'defences' not in res, res


NS_STREAMS = 'http://etherx.jabber.org/streams'


def read_until(sock, marker, limit=1 << 20, timeout=10):
    buf, end = b'', time.time() + timeout
    while marker not in buf:
        sock.settimeout(max(0.1, end - time.time()))
        chunk = sock.recv(65536)
        assert chunk and len(buf) < limit and time.time() < end, buf[-300:]
        buf += chunk
    return buf


def header(domain):
    return (f"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
            f"xmlns:stream='{NS_STREAMS}' to='{domain}' "
            f"version='1.0'>").encode()


def raw_features(ip, port, domain, direct=False):
    """A client of our own: TLS (STARTTLS or direct), the stream again,
    its features: (mechanisms, XEP-0440 types or None, TLS version)."""
    s = socket.create_connection((ip, port), timeout=10)
    if not direct:
        s.sendall(header(domain))
        read_until(s, b'</stream:features>')
        s.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        read_until(s, b'proceed')
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if direct:
        ctx.set_alpn_protocols(['xmpp-client'])
    t = ctx.wrap_socket(s, server_hostname=domain)
    t.sendall(header(domain))
    feats = read_until(t, b'</stream:features>').decode()
    version = t.version().replace('v', '')
    t.close()
    mechs = re.findall(r'<mechanism>\s*([^<\s]+)\s*</mechanism>', feats)
    types = None
    if 'urn:xmpp:sasl-cb:0' in feats:
        types = re.findall(r"<channel-binding type=['\"]([^'\"]+)", feats)
    return mechs, types, version


def cb_of(res, port):
    return next(e for e in res['endpoints']
                if e['port'] == port)['channel_binding']


def same_as_raw(cb, raw):
    mechs, types, version = raw
    assert sorted(cb['mechanisms']) == sorted(set(mechs)), (cb, raw)
    assert cb['types'] == types, (cb, raw)
    assert cb['tls_version'] == version, (cb, raw)
    plus = any(m.endswith('-PLUS') for m in mechs)
    assert cb['state'] == ('offered' if plus else 'none'), (cb, raw)


def t_cb_prosody(info, conf):
    """The lab's Prosody 0.12 (good.test), STARTTLS and direct TLS."""
    res, _ = caa(conf, 'good.test')
    assert res['verdict'] == 'ok', res
    ip = info['targets']['good']
    for port, direct in ((5222, False), (5223, True)):
        same_as_raw(cb_of(res, port),
                    raw_features(ip, port, 'good.test', direct))
    for e in res['endpoints']:
        if e['service'].endswith('server'):
            assert e['channel_binding'] is None, e
    d = res['defences']['channel_binding']
    # Measured: SCRAM-SHA-1, SCRAM-SHA-256 and PLAIN over TLS 1.3, no
    # -PLUS (its hashed store and TLS 1.3 leave it no binding to offer).
    assert d['state'] == 'none', d
    assert codes(d) == ['no-channel-binding'], d
    p = run([BIN, 'check', '-c', conf, 'good.test'], timeout=120)
    assert 'Channel binding (XEP-0440): none' in p.stdout, p.stdout


def t_cb_ejabberd(info, conf):
    """The lab's ejabberd 23 offers SCRAM-*-PLUS: offered, no warning."""
    rc, res, _ = check_json(BIN, conf, 'ejabberd.test')
    assert res['verdict'] == 'no-tlsa', res
    x = info['xmpp']['ejabberd']
    raw = raw_features(x['host'], x['c2s_port'], 'ejabberd.test')
    same_as_raw(cb_of(res, x['c2s_port']), raw)
    d = res['defences']['channel_binding']
    assert d['state'] == 'offered' and codes(d) == [], d
    assert any(m.endswith('-PLUS') for m in d['mechanisms']), d


def t_cb_fixtures(info, conf):
    """The lab's cbstrip (no -PLUS) and cbplus (SCRAM-*-PLUS with
    tls-exporter and tls-server-end-point), measured with a raw client."""
    rc, res, _ = check_json(BIN, conf, 'cbnone.test')
    raw = raw_features(info['targets']['cbstrip'], 5222, 'cbnone.test')
    assert not any(m.endswith('-PLUS') for m in raw[0]) and raw[0], raw
    same_as_raw(cb_of(res, 5222), raw)
    d = res['defences']['channel_binding']
    assert d['state'] == 'none' and codes(d) == ['no-channel-binding'], d
    raw = raw_features(info['targets']['cbplus'], 5222, 'cbswitch.test')
    assert 'SCRAM-SHA-256-PLUS' in raw[0] and raw[1] == [
        'tls-exporter', 'tls-server-end-point'], raw


def t_cb_silent(info, conf):
    """sni.test's server says nothing after TLS: channel binding unknown,
    the mismatch stays, found within the second stream's bound."""
    t0 = time.time()
    rc, res, _ = check_json(BIN, conf, 'sni.test')
    assert res['verdict'] == 'mismatch', res
    cb = cb_of(res, 5222)
    assert cb['state'] == 'unknown' and cb['detail'], cb
    assert res['defences']['channel_binding']['state'] == 'unknown', res
    assert time.time() - t0 < 60, time.time() - t0


def main():
    r = Runner()
    with lab() as info, tempfile.TemporaryDirectory() as d:
        conf = write_config(info, os.path.join(d, 'certwatch.conf'))
        for name, fn in [('CAA bound to an account', t_bound),
                         ('CAA at a parent (tree climbing)', t_climb),
                         ("CNAME: the target's parents not climbed",
                          t_cname),
                         ('CAA issuers only', t_issuers),
                         ('no CAA up to the TLD', t_none),
                         ('CAA in an unsigned zone', t_insecure),
                         ('CAA in a bogus zone', t_bogus),
                         ('CAA: issuewild without accounturi',
                          t_issuewild),
                         ('expiry: a leaf of 3 days', t_expiry),
                         ('invalid input', t_invalid),
                         ('channel binding: Prosody', t_cb_prosody),
                         ('channel binding: ejabberd', t_cb_ejabberd),
                         ('channel binding: the lab fixtures',
                          t_cb_fixtures),
                         ('channel binding: silent after TLS',
                          t_cb_silent)]:
            r.run(name, fn, info, conf)
    return r.finish()


if __name__ == '__main__':
    sys.exit(main())
