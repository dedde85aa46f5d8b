#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""`certwatch check` against the lab: every verdict of docs/usage.md from real
signed zones and real XMPP servers, both directions of each, the no-SRV
fallback, s2s and direct TLS, DANE-TA, selector 0 / SHA-512, downgrades,
servers that stall or send garbage, and SOCKS proxies that refuse."""
import os
import re
import socket
import struct
import sys
import tempfile
import threading
import time

from cwtest import VERDICT_EXIT, Runner, check_json, lab, run, write_config

BIN = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('CERTWATCH_BIN')
HEX64 = re.compile(r'^[0-9a-f]{64}$')
EXIT = VERDICT_EXIT


def endpoints(res):
    """The check's endpoints, at least one: over none, every per-endpoint
    assertion would pass."""
    assert res.get('endpoints'), res
    return res['endpoints']


def by_service(res):
    out = {}
    for e in endpoints(res):
        out.setdefault(e['service'], []).append(e)
    return out


def t_every_domain(info, conf):
    """Each lab domain gives the verdict the lab says it must."""
    wrong = []
    for domain, d in sorted(info['domains'].items()):
        want = d['expect'] if isinstance(d, dict) else d
        rc, res, _ = check_json(BIN, conf, domain)
        if res['verdict'] != want or rc != EXIT[want]:
            wrong.append(f"{domain}: got {res['verdict']} (exit {rc}), "
                         f"want {want}; {res}")
    assert not wrong, '\n'.join(wrong)


def t_good(info, conf):
    rc, res, _ = check_json(BIN, conf, 'good.test')
    assert rc == 0 and res['verdict'] == 'ok', res
    svc = by_service(res)
    assert set(svc) == {'xmpp-client', 'xmpps-client', 'xmpp-server',
                        'xmpps-server'}, svc.keys()
    assert [s['state'] for s in res['services']] == ['srv'] * 4
    good = info['keys']['good']['spki_sha256']
    for e in endpoints(res):
        assert e['verdict'] == 'ok', e
        assert e['spki_sha256'] == good, e
        assert e['matched'] == f'3 1 1 {good}', e
        assert e['dnssec'] == 'secure' and e['dnssec_tlsa'] == 'secure', e
        assert e['sni'] == 'good.test', e
        assert e['error'] is None, e
        assert e['tls'] == ('direct' if e['service'].startswith('xmpps')
                            else 'starttls'), e
    assert res['setup'] == []


def t_mitm(info, conf):
    """A valid certificate from the same CA, but not the published key."""
    rc, res, _ = check_json(BIN, conf, 'mitm.test')
    assert rc == 2 and res['verdict'] == 'mismatch', res
    mitm = info['keys']['mitm']['spki_sha256']
    good = info['keys']['good']['spki_sha256']
    seen = [e for e in endpoints(res) if e['verdict'] == 'mismatch']
    assert seen, res
    for e in seen:
        assert e['spki_sha256'] == mitm, e
        assert e['matched'] is None
        assert any(good in t for t in e['tlsa']), e
    p = run([BIN, 'check', '-c', conf, 'mitm.test'])
    first = p.stdout.splitlines()[0]
    assert first.startswith('CERTWATCH CRITICAL - mitm.test: mismatch'), first
    assert 'POSSIBLE MAN IN THE MIDDLE' in p.stdout
    assert mitm in p.stdout and good in p.stdout


def t_rollover(info, conf):
    rc, res, _ = check_json(BIN, conf, 'rollover.test')
    assert res['verdict'] == 'ok', res
    good = info['keys']['good']['spki_sha256']
    for e in endpoints(res):
        assert len(e['tlsa']) >= 2, e
        assert e['matched'].endswith(good), e
        assert 'stale-record' in [w['code'] for w in e['warnings']], e


def t_fallback(info, conf):
    rc, res, _ = check_json(BIN, conf, 'nosrv.test')
    assert res['verdict'] == 'ok', res
    states = {s['service']: s['state'] for s in res['services']}
    assert states['xmpp-client'] == 'fallback', states
    assert states['xmpp-server'] == 'fallback', states
    hp = sorted((e['host'], e['port'], e['tls']) for e in endpoints(res))
    assert hp == [('nosrv.test', 5222, 'starttls'),
                  ('nosrv.test', 5269, 'starttls')], hp
    for e in endpoints(res):
        assert 'fallback-no-srv' in [w['code'] for w in e['warnings']], e


def t_notlsa(info, conf):
    rc, res, _ = check_json(BIN, conf, 'notlsa.test')
    assert rc == 1 and res['verdict'] == 'no-tlsa', res
    good = info['keys']['good']['spki_sha256']
    assert res['setup'], res
    for line in res['setup']:
        assert re.match(r'^_\d+\._tcp\.[a-z0-9.-]+\. IN TLSA 3 1 1 '
                        + good + '$', line), line
    p = run([BIN, 'check', '-c', conf, 'notlsa.test'])
    assert p.stdout.startswith('CERTWATCH WARNING - notlsa.test: no-tlsa')
    assert 'openssl' in p.stdout and '--reuse-key' in p.stdout


def t_insecure(info, conf):
    """An unsigned SRV pointing at a signed target with TLSA: DANE does
    not apply (RFC 7673 §3.1), whatever the target's zone holds."""
    rc, res, _ = check_json(BIN, conf, 'unsigned.test')
    assert rc == 1 and res['verdict'] == 'insecure', res
    for e in endpoints(res):
        assert e['dnssec_srv'] == 'insecure', e
        assert e['verdict'] == 'insecure', e
        assert e['matched'] is None, e


def t_bogus(info, conf):
    rc, res, _ = check_json(BIN, conf, 'bogus.test')
    assert rc == 2 and res['verdict'] == 'bogus', res
    p = run([BIN, 'check', '-c', conf, 'bogus.test'])
    assert p.stdout.startswith('CERTWATCH CRITICAL - bogus.test: bogus')


def t_dane_ta(info, conf):
    rc, res, _ = check_json(BIN, conf, 'ta.test')
    assert res['verdict'] == 'ok', res
    for e in endpoints(res):
        assert e['matched'] and e['matched'].startswith('2 0 1 '), e


def t_selector0(info, conf):
    rc, res, _ = check_json(BIN, conf, 'sel0.test')
    assert res['verdict'] == 'ok', res
    for e in endpoints(res):
        assert e['matched'] and e['matched'].startswith('3 0 2 '), e


def t_cname(info, conf):
    """RFC 7671 §7: for a CNAME'd SRV target, TLSA at the CNAME's target
    first, then at the original name."""
    good = info['keys']['good']['spki_sha256']
    for domain in ('cname.test', 'cname2.test'):
        rc, res, _ = check_json(BIN, conf, domain)
        assert res['verdict'] == 'ok', res
        for e in endpoints(res):
            assert e['host'] == f'xmpp.{domain}', e
            assert e['matched'] == f'3 1 1 {good}', e
            assert e['dnssec_addr'] == 'secure', e


def t_sni_target(info, conf):
    """A host that picks its certificate by SNI: the probe with SNI = the
    domain (what clients send) sees another key and decides: mismatch.
    The second probe, SNI = the SRV target, matches and only explains:
    warning sni-target names both keys; sni and key are the domain's."""
    good = info['keys']['good']['spki_sha256']
    mitm = info['keys']['mitm']['spki_sha256']
    rc, res, _ = check_json(BIN, conf, 'sni.test')
    assert rc == 2 and res['verdict'] == 'mismatch', res
    e = res['endpoints'][0]
    assert e['verdict'] == 'mismatch' and e['matched'] is None, e
    assert e['sni'] == 'sni.test', e
    assert e['spki_sha256'] == mitm, e
    w = [w['text'] for w in e['warnings'] if w['code'] == 'sni-target']
    assert len(w) == 1 and mitm in w[0] and good in w[0], e
    # SNI = the domain, the other key family (one key: refused), the target
    assert res['probes'] == 3, res


def t_stall(info, conf):
    t0 = time.monotonic()
    rc, res, _ = check_json(BIN, conf, 'stall.test')
    took = time.monotonic() - t0
    assert rc == 3 and res['verdict'] == 'unreachable', res
    e = res['endpoints'][0]
    assert e['error']['step'] in ('starttls', 'stream', 'tls'), e
    assert 'timed out' in e['error']['reason'], e
    assert took < 10 + 8, took  # [probe] timeout = 10


def t_badxml(info, conf):
    rc, res, _ = check_json(BIN, conf, 'badxml.test')
    assert res['verdict'] == 'unreachable', res
    assert res['endpoints'][0]['error']['step'] == 'stream', res


def t_streamerr(info, conf):
    rc, res, _ = check_json(BIN, conf, 'streamerr.test')
    assert res['verdict'] == 'unreachable', res
    err = res['endpoints'][0]['error']
    assert err['step'] == 'stream' and 'host-unknown' in err['reason'], err


def t_downgrade(info, conf):
    """No <starttls/> although secure TLSA exists: a downgrade."""
    rc, res, _ = check_json(BIN, conf, 'notls.test')
    assert rc == 2 and res['verdict'] == 'mismatch', res
    assert res['endpoints'][0]['error']['step'] == 'starttls', res


def t_invalid_domain(info, conf):
    p = run([BIN, 'check', '-c', conf, 'bad..name'])
    assert p.returncode == 3, p
    assert p.stdout.startswith('CERTWATCH UNKNOWN - invalid domain: '), p
    rc, res, _ = check_json(BIN, conf, 'exa mple.org')
    assert rc == 3 and res['verdict'] is None, res
    assert res['error']['step'] == 'input', res


def t_no_service(info, conf):
    rc, res, _ = check_json(BIN, conf, 'nonexistent.test')
    assert rc == 3 and res['verdict'] == 'unreachable', res
    assert res['endpoints'] == [], res
    assert 'no XMPP service' in res['error']['reason'], res


def t_private_refused(info, d):
    conf = write_config(info, os.path.join(d, 'private.conf'),
                        probe={'allow_private': 'no'})
    rc, res, _ = check_json(BIN, conf, 'good.test')
    assert res['verdict'] == 'unreachable', res
    for e in endpoints(res):
        assert 'private' in e['error']['reason'], e


class RefusingSocks(threading.Thread):
    """A SOCKS5 proxy that takes user/password auth, then answers every
    CONNECT with reply code `code` (and Tor's address type 0)."""

    def __init__(self, code):
        super().__init__(daemon=True)
        self.code = code
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.users = []
        self.errors = []    # what the client got wrong, for the test

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                c.settimeout(5)
                ver, n = c.recv(2)
                methods = c.recv(n)
                assert 2 in methods, 'no username/password method offered'
                c.sendall(b'\x05\x02')
                hdr = c.recv(2)
                user = c.recv(hdr[1])
                plen = c.recv(1)[0]
                c.recv(plen)
                self.users.append(user)
                c.sendall(b'\x01\x00')
                req = c.recv(4)
                # Every address is probed: an IP literal (ATYP 1 or 4).
                assert req[3] in (1, 4), 'address not sent as a literal'
                c.recv((4 if req[3] == 1 else 16) + 2)
                c.sendall(bytes([5, self.code, 0, 0]))
            except Exception as e:  # noqa: BLE001 - the test asserts none
                self.errors.append(repr(e))
            finally:
                c.close()


def t_socks_refuses(info, d):
    srv = RefusingSocks(0x05)
    srv.start()
    conf = write_config(info, os.path.join(d, 'socks.conf'),
                        probe={'via': 'tor',
                               'tor_socks': f'127.0.0.1:{srv.port}'})
    rc, res, _ = check_json(BIN, conf, 'good.test')
    assert rc == 3 and res['verdict'] == 'unreachable', res
    for e in endpoints(res):
        assert e['error']['step'] == 'tor', e
        assert 'refused' in e['error']['reason'], e
    assert not srv.errors, srv.errors
    # A fresh SOCKS user name per probe: Tor puts each on its own circuit.
    assert len(srv.users) >= 4 and len(set(srv.users)) == len(srv.users), \
        srv.users
    srv.sock.close()


def t_socks_absent(info, d):
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    conf = write_config(info, os.path.join(d, 'nosocks.conf'),
                        probe={'via': 'tor', 'tor_socks': f'127.0.0.1:{port}'})
    rc, res, _ = check_json(BIN, conf, 'mitm.test')
    assert res['verdict'] == 'unreachable', res
    assert all(e['error']['step'] == 'tor' for e in endpoints(res)), res


def main():
    r = Runner()
    with lab() as info, tempfile.TemporaryDirectory() as d:
        conf = write_config(info, os.path.join(d, 'certwatch.conf'))
        for name, fn in [('every lab domain', t_every_domain),
                         ('good: all four services ok', t_good),
                         ('mitm: mismatch with both keys', t_mitm),
                         ('rollover', t_rollover),
                         ('no-SRV fallback', t_fallback),
                         ('no-tlsa and setup lines', t_notlsa),
                         ('insecure SRV into a signed zone', t_insecure),
                         ('bogus', t_bogus),
                         ('DANE-TA 2 0 1', t_dane_ta),
                         ('selector 0, SHA-512', t_selector0),
                         ('CNAME on the way: TLSA at either name', t_cname),
                         ('SNI = the SRV target on a multi-tenant host',
                          t_sni_target),
                         ('stalled STARTTLS', t_stall),
                         ('malformed XML', t_badxml),
                         ('stream error', t_streamerr),
                         ('STARTTLS downgrade', t_downgrade),
                         ('invalid domain', t_invalid_domain),
                         ('no XMPP service', t_no_service)]:
            r.run(name, fn, info, conf)
        r.run('private targets refused', t_private_refused, info, d)
        r.run('SOCKS proxy refuses', t_socks_refuses, info, d)
        r.run('SOCKS proxy absent', t_socks_absent, info, d)
    return r.finish()


if __name__ == '__main__':
    sys.exit(main())
