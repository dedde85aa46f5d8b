#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""`certwatch ct-hook -c FILE` (docs/ct.md): the real binary run with the
environments certspotter gives its hook (certspotter-script(8)), a real
certificate made with openssl, and the spool files it leaves, read back
with an independent reader of the format docs/ct.md documents."""
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time

from cwtest import Runner, run, terminate

BIN = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('CERTWATCH_BIN')
WRAPPER_IN = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                          'contrib', 'certwatch-ct-hook.in')
NOBODY = 65534
TBS = 'ab' * 32
CERT = 'CD' * 32


def write(path, text, mode=0o644):
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def config(d, extra=''):
    store = os.path.join(d, 'store')
    os.makedirs(store, exist_ok=True)
    return write(os.path.join(d, 'certwatch.conf'),
                 f'{extra}\n[store]\ndir = {store}\n'), store


def unescape(v):
    out = bytearray()
    i = 0
    b = v.encode('utf-8', 'surrogateescape')
    while i < len(b):
        if b[i:i + 1] == b'%':
            out.append(int(b[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(b[i])
            i += 1
    return out.decode('utf-8', 'replace')


def read_spool(store):
    """Every spool file as a dict, checking the file format on the way."""
    sp = os.path.join(store, 'ct', 'spool')
    names = sorted(os.listdir(sp))
    assert not [n for n in names if n.startswith('.')], names  # no temps
    events = []
    for n in names:
        assert n.endswith('.ct'), n
        p = os.path.join(sp, n)
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, oct(os.stat(p).st_mode)
        with open(p, 'rb') as f:
            text = f.read().decode('utf-8', 'surrogateescape')
        lines = text.split('\n')
        assert lines[0] == 'certwatch-ct 1', lines[:1]
        assert lines[-2:] == ['end', ''], lines[-2:]
        ev = {}
        for line in lines[1:-2]:
            key, _, val = line.partition(' ')
            assert re.fullmatch(r'[a-z_0-9]+', key), line
            assert key not in ev, key
            assert not re.search(r'[\x00-\x1f\x7f]', val), line
            ev[key] = unescape(val)
        events.append(ev)
    return events


def hook(conf, env, uid=None):
    argv = [BIN, 'ct-hook', '-c', conf]
    if uid is not None and os.geteuid() == 0:
        argv = ['setpriv', f'--reuid={uid}', f'--regid={uid}',
                '--clear-groups'] + argv
    return run(argv, env={'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
                          **env})


def certspotter_env(certfile, event='discovered_cert', **kw):
    env = {'EVENT': event, 'SUMMARY': 'certificate discovered for .example.org',
           'WATCH_ITEM': '.example.org', 'TBS_SHA256': TBS,
           'CERT_SHA256': CERT, 'ISSUER_DN': 'CN=Lab CA, O=certwatch lab',
           'SUBJECT_DN': 'CN=xmpp.example.org', 'SERIAL': '0a1b2c',
           'NOT_BEFORE_UNIXTIME': '1700000000',
           'NOT_AFTER_UNIXTIME': '1707776000',
           'LOG_URI': 'https://ct.lab.example/log/', 'ENTRY_INDEX': '4242',
           'JSON_FILENAME': '/nonexistent.json'}
    if certfile is not None:
        env['CERT_FILENAME'] = certfile
    env.update(kw)
    return env


def make_cert(d):
    """A leaf and its CA, as certspotter writes them: leaf first, then the
    chain, PEM.  Returns (path, spki sha256 hex, leaf DER)."""
    key = os.path.join(d, 'leaf.key')
    crt = os.path.join(d, 'leaf.crt')
    for argv in (['openssl', 'req', '-x509', '-newkey', 'ec',
                  '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                  '-keyout', key, '-out', crt, '-days', '30',
                  '-subj', '/CN=xmpp.example.org',
                  '-addext', 'subjectAltName=DNS:example.org'],
                 ['openssl', 'req', '-x509', '-newkey', 'ec',
                  '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                  '-keyout', key + '.ca', '-out', crt + '.ca', '-days', '30',
                  '-subj', '/CN=Lab CA']):
        p = run(argv)
        assert p.returncode == 0, p.stderr
    pub = subprocess.run(['openssl', 'x509', '-in', crt, '-noout', '-pubkey'],
                         capture_output=True, check=True).stdout
    spki = subprocess.run(['openssl', 'pkey', '-pubin', '-outform', 'DER'],
                          input=pub, capture_output=True, check=True).stdout
    der = subprocess.run(['openssl', 'x509', '-in', crt, '-outform', 'DER'],
                         capture_output=True, check=True).stdout
    chain = os.path.join(d, 'chain.pem')
    with open(chain, 'w', encoding='ascii') as f:
        f.write(open(crt, encoding='ascii').read())
        f.write(open(crt + '.ca', encoding='ascii').read())
    return chain, hashlib.sha256(spki).hexdigest(), der


def t_real_certificate(d):
    conf, store = config(d)
    chain, spki, der = make_cert(d)
    p = hook(conf, certspotter_env(chain))
    assert p.returncode == 0, p
    assert p.stdout == '' and p.stderr == '', p
    for sub in ('ct', 'ct/spool'):
        m = stat.S_IMODE(os.stat(os.path.join(store, sub)).st_mode)
        assert m == 0o700, (sub, oct(m))
    [ev] = read_spool(store)
    assert ev['event'] == 'discovered_cert', ev
    assert ev['summary'] == 'certificate discovered for .example.org', ev
    assert ev['watch_item'] == '.example.org'
    assert ev['tbs_sha256'] == TBS and ev['cert_sha256'] == CERT.lower(), ev
    assert ev['issuer_dn'] == 'CN=Lab CA, O=certwatch lab'
    assert ev['subject_dn'] == 'CN=xmpp.example.org'
    assert ev['serial'] == '0a1b2c'
    assert ev['not_before'] == '1700000000' and ev['not_after'] == '1707776000'
    assert ev['log_uri'] == 'https://ct.lab.example/log/'
    assert ev['entry_index'] == '4242'
    assert ev['cert_state'] == 'ok', ev
    # GnuTLS's SPKI hash agrees with OpenSSL's, and the spooled
    # certificate is the leaf (the first block), not the CA after it.
    assert ev['spki_sha256'] == spki, (ev['spki_sha256'], spki)
    import base64
    assert base64.b64decode(ev['cert'], validate=True) == der
    # A second call is a second file, sorted after the first.
    p = hook(conf, certspotter_env(chain, event='discovered_cert'))
    assert p.returncode == 0, p
    assert len(read_spool(store)) == 2


def t_no_cert_file(d):
    conf, store = config(d)
    p = hook(conf, certspotter_env(None))
    assert p.returncode == 0, p
    [ev] = read_spool(store)
    assert ev['cert_state'] == 'absent' and 'cert' not in ev, ev
    assert 'spki_sha256' not in ev, ev


def t_unreadable_cert(d):
    conf, store = config(d)
    chain, _, _ = make_cert(d)
    os.chmod(chain, 0)
    # As root the mode does not stop a read: run the hook as nobody,
    # who may write the spool but not read the certificate.
    for path in (d, store):
        os.chmod(path, 0o755)
    os.makedirs(os.path.join(store, 'ct', 'spool'), mode=0o700)
    for sub in ('ct', 'ct/spool'):
        os.chown(os.path.join(store, sub), NOBODY, NOBODY)
    p = hook(conf, certspotter_env(chain), uid=NOBODY)
    assert p.returncode == 0, p
    [ev] = read_spool(store)
    assert ev['cert_state'] == 'unreadable', ev
    assert 'Permission denied' in ev['cert_error'], ev
    assert 'cert' not in ev


def t_not_a_certificate(d):
    conf, store = config(d)
    cases = {
        'text': 'hello, I am not a certificate\n',
        'bad base64': '-----BEGIN CERTIFICATE-----\n!!!!\n'
                      '-----END CERTIFICATE-----\n',
        'not X.509': '-----BEGIN CERTIFICATE-----\nMAMCAQA=\n'
                     '-----END CERTIFICATE-----\n',
    }
    for name, text in cases.items():
        p = hook(conf, certspotter_env(write(os.path.join(d, 'x.pem'), text)))
        assert p.returncode == 0, (name, p)
    big = write(os.path.join(d, 'big.pem'), 'A' * (65536 + 1))
    p = hook(conf, certspotter_env(big))
    assert p.returncode == 0, p
    p = hook(conf, certspotter_env(d))  # a directory
    assert p.returncode == 0, p
    evs = read_spool(store)
    assert [e['cert_state'] for e in evs] == \
        ['malformed'] * 3 + ['unreadable'] * 2, evs
    assert 'over 65536 bytes' in evs[3]['cert_error'], evs[3]
    assert all('cert' not in e for e in evs)


def t_unknown_and_error_events(d):
    conf, store = config(d)
    p = hook(conf, certspotter_env(None, event='something_new_in_2030'))
    assert p.returncode == 0, p
    p = hook(conf, {'EVENT': 'error', 'SUMMARY': 'log unreachable: EOF'})
    assert p.returncode == 0, p
    assert 'certspotter reported an error: log unreachable: EOF' in p.stderr
    p = hook(conf, {})  # not even EVENT: still spooled
    assert p.returncode == 0, p
    evs = read_spool(store)
    assert [e['event'] for e in evs] == ['something_new_in_2030', 'error',
                                         ''], evs


def t_hostile_values(d):
    conf, store = config(d)
    p = hook(conf, certspotter_env(
        None, SUMMARY='line\nbreak %41  ' + 'é' * 3000,  # cut mid-é
        TBS_SHA256='zz' * 32, NOT_BEFORE_UNIXTIME='soon',
        ENTRY_INDEX='-1', ISSUER_DN='x' * 100000))
    assert p.returncode == 0, p
    [ev] = read_spool(store)
    assert ev['summary'].startswith('line\nbreak %41  é'), ev['summary'][:20]
    assert len(ev['summary'].encode()) <= 1023, len(ev['summary'].encode())
    assert '\ufffd' not in ev['summary']  # cut between characters
    assert len(ev['issuer_dn']) == 1023
    assert 'tbs_sha256' not in ev and 'not_before' not in ev, ev
    assert 'entry_index' not in ev, ev


def t_unwritable_spool(d):
    conf, store = config(d)
    # The spool's place taken by a file: nothing can be spooled, whoever
    # runs the hook.
    os.makedirs(os.path.join(store, 'ct'))
    write(os.path.join(store, 'ct', 'spool'), 'in the way')
    p = hook(conf, certspotter_env(None))
    assert p.returncode == 1, p
    assert 'cannot spool the discovered_cert event' in p.stderr, p.stderr
    os.unlink(os.path.join(store, 'ct', 'spool'))
    # A read-only spool directory (as nobody: root writes anyway).
    for path in (d, store):
        os.chmod(path, 0o755)
    os.makedirs(os.path.join(store, 'ct', 'spool'), mode=0o500)
    for sub in ('ct', 'ct/spool'):
        os.chown(os.path.join(store, sub), NOBODY, NOBODY)
    p = hook(conf, certspotter_env(None), uid=NOBODY)
    assert p.returncode == 1, p
    assert 'Permission denied' in p.stderr, p.stderr
    assert os.listdir(os.path.join(store, 'ct', 'spool')) == []
    # No store at all.
    shutil.rmtree(store)
    p = hook(conf, certspotter_env(None))
    assert p.returncode == 1, p


def t_only_store_section(d):
    broken = ('[component]\njid = not a@valid/jid\nsecret_file = /nonexistent\n'
              '[nosuchsection]\nthis line is not key = value\x01\n'
              '[http]\nlisten = nonsense\n' + 'x' * 10000 + '\n'
              '[watch]\ninterval = 1\njitter = 900\n')
    conf, store = config(d, broken)
    p = run([BIN, 'run', '-n', '-c', conf])
    assert p.returncode == 78, p  # the daemon refuses this file
    p = hook(conf, certspotter_env(None))
    assert p.returncode == 0, p
    assert len(read_spool(store)) == 1
    # A broken [store] stops the hook, with the file and line.
    bad = write(os.path.join(d, 'bad.conf'), '[log]\nlevel = x\n[store]\n'
                'dir =\n')
    p = hook(bad, certspotter_env(None))
    assert p.returncode == 78, p
    assert 'bad.conf:4: [store] dir: must not be empty' in p.stderr, p.stderr
    p = hook(os.path.join(d, 'missing.conf'), certspotter_env(None))
    assert p.returncode == 78, p
    p = run([BIN, 'ct-hook'])
    assert p.returncode == 2, p


def t_wrapper(d):
    conf, store = config(d)
    wrapper = os.path.join(d, 'certwatch-ct-hook')
    with open(WRAPPER_IN, encoding='utf-8') as f:
        write(wrapper, f.read().replace(
            '@BINDIR@', os.path.dirname(os.path.abspath(BIN))), 0o755)
    # certspotter runs -script as one file, without arguments.
    p = run([wrapper], env={'CERTWATCH_CONFIG': conf, 'EVENT': 'x'})
    assert p.returncode == 0, p
    assert [e['event'] for e in read_spool(store)] == ['x']
    p = run([wrapper], env={'EVENT': 'x'})
    assert p.returncode == 2 and 'CERTWATCH_CONFIG' in p.stderr, p


def t_real_certspotter(d):
    """The real certspotter runs the installed wrapper: offline, a log it
    cannot reach fails its health check, which it reports to its -script
    as EVENT=error (certspotter(8), -healthcheck).  No CT log server is
    packaged, so discovered_cert cannot be driven here."""
    certspotter = shutil.which('certspotter')
    assert certspotter, 'certspotter is not installed (scripts/setup-debian.sh)'
    conf, store = config(d)
    wrapper = os.path.join(d, 'certwatch-ct-hook')
    with open(WRAPPER_IN, encoding='utf-8') as f:
        write(wrapper, f.read().replace(
            '@BINDIR@', os.path.dirname(os.path.abspath(BIN))), 0o755)
    key = os.path.join(d, 'log.key')
    subprocess.run(['openssl', 'ecparam', '-name', 'prime256v1', '-genkey',
                    '-noout', '-out', key], check=True, capture_output=True)
    pub = subprocess.run(['openssl', 'ec', '-in', key, '-pubout', '-outform',
                          'DER'], check=True, capture_output=True).stdout
    import base64
    import json
    loglist = {'version': '1.0', 'log_list_timestamp': '2026-01-01T00:00:00Z',
               'operators': [{'name': 'lab', 'email': ['lab@example.org'],
                              'logs': [{
                                  'description': 'nobody listens here',
                                  'log_id': base64.b64encode(
                                      hashlib.sha256(pub).digest()).decode(),
                                  'key': base64.b64encode(pub).decode(),
                                  'url': 'https://127.0.0.1:9/', 'mmd': 86400,
                                  'state': {'usable': {
                                      'timestamp': '2020-01-01T00:00:00Z'}}}]}]}
    write(os.path.join(d, 'loglist.json'), json.dumps(loglist))
    write(os.path.join(d, 'watchlist'), 'example.org\n')
    os.makedirs(os.path.join(d, 'csconfig'))
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': d,
           'CERTSPOTTER_CONFIG_DIR': os.path.join(d, 'csconfig'),
           'CERTWATCH_CONFIG': conf}
    with open(os.path.join(d, 'certspotter.log'), 'wb') as log:
        proc = subprocess.Popen(
            [certspotter, '-start_at_end', '-watchlist',
             os.path.join(d, 'watchlist'), '-state_dir',
             os.path.join(d, 'state'), '-script', wrapper, '-logs',
             os.path.join(d, 'loglist.json'), '-healthcheck', '5s'],
            env=env, stdout=log, stderr=log)
        try:
            spool = os.path.join(store, 'ct', 'spool')
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (
                    os.path.isdir(spool) and
                    [n for n in os.listdir(spool) if n.endswith('.ct')]):
                assert proc.poll() is None, open(log.name).read()
                time.sleep(0.5)
        finally:
            terminate(proc)
    evs = read_spool(store)
    assert evs, open(os.path.join(d, 'certspotter.log')).read()
    assert evs[0]['event'] == 'error', evs[0]
    assert evs[0]['summary'], evs[0]
    assert evs[0]['cert_state'] == 'absent', evs[0]


def main():
    r = Runner()
    for name, fn in [
            ('a real certificate: every field, SPKI as OpenSSL hashes it',
             t_real_certificate),
            ('no CERT_FILENAME: spooled, absent', t_no_cert_file),
            ('unreadable certificate: spooled, unreadable', t_unreadable_cert),
            ('not a certificate / too big / a directory: spooled',
             t_not_a_certificate),
            ('unknown EVENT, EVENT=error, no EVENT: exit 0',
             t_unknown_and_error_events),
            ('hostile values: escaped, cut, dropped', t_hostile_values),
            ('unwritable spool: exit 1, nothing left', t_unwritable_spool),
            ('only [store] is read', t_only_store_section),
            ('the installed wrapper', t_wrapper),
            ('the real certspotter runs the wrapper (EVENT=error, offline)',
             t_real_certspotter)]:
        with tempfile.TemporaryDirectory() as d:
            r.run(name, fn, d)
    return r.finish()


if __name__ == '__main__':
    sys.exit(main())
