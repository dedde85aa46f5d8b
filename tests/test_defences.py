#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""`certwatch check` and the defences of docs/usage.md against the lab's
signed zones: CAA bound to an ACME account (RFC 8657), issuers only, none
up to the TLD, found at a parent (RFC 8659 §3 tree climbing), in an
unsigned zone and in a bogus one.  The DANE verdict never changes."""
import os
import sys
import tempfile

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
    _, c = caa(conf, 'unsigned.test')
    assert c['state'] == 'none' and c['dnssec'] == 'insecure', c
    assert codes(c) == ['caa-insecure', 'caa-none'], c
    # The SRV target is in the signed good.test: judged on its own.
    t = {t['name']: t for t in c['targets']}['xmpp.good.test']
    assert t['state'] == 'bound' and t['dnssec'] == 'secure', t


def t_bogus(info, conf):
    res, c = caa(conf, 'bogus.test')
    assert res['verdict'] == 'bogus', res
    assert c['state'] == 'unknown' and c['dnssec'] == 'bogus', c
    assert codes(c) == ['caa-bogus'], c
    assert c.get('detail'), c


def t_invalid(info, conf):
    """An input that is no domain has no defences to report."""
    _, res, _ = check_json(BIN, conf, 'not a domain')
    assert 'defences' not in res, res


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
                         ('invalid input', t_invalid)]:
            r.run(name, fn, info, conf)
    return r.finish()


if __name__ == '__main__':
    sys.exit(main())
