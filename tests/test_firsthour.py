#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The operator's first hour (docs/running.md): `run -n` refuses every
config `run` refuses, both with 78; a dead Tor is logged at start and at
every failed round, counted, and told to users as the service's fault;
`insecure` and `unreachable` reports say what to do."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from cwtest import Runner, check_json, lab, run, write_config

BIN = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('CERTWATCH_BIN')
ROOT_KEY = '/usr/share/dns/root.key'


def write(d, name, text, mode=0o600):
    p = os.path.join(d, name)
    with open(p, 'w', encoding='utf-8') as f:
        f.write(text)
    os.chmod(p, mode)
    return p


def base_config(d, **extra):
    """A config that works but for what `extra` adds: {section: text}."""
    sec = {'component': 'jid = certwatch.example.org\nsecret = s3cret\n'
                        'host = 127.0.0.1\nport = 1\n',
           'dns': f'trust_anchor = {ROOT_KEY}\n',
           'store': f'dir = {os.path.join(d, "state")}\n'}
    for k, v in extra.items():
        sec[k] = sec.get(k, '') + v
    return ''.join(f'[{k}]\n{v}' for k, v in sec.items())


def refused_cases(d):
    """(what, config text, words the message must hold): each a config
    `run` cannot work with."""
    bad_frag = write(d, 'bad-fragment.conf', 'server:\n  no-such-option: yes\n')
    no_server = write(d, 'no-server.conf', 'local-zone: "test." nodefault\n')
    a_file = write(d, 'not-a-dir', '')
    return [
        ('missing trust anchor',
         base_config(d, dns='trust_anchor = /nonexistent/root.key\n'),
         '[dns] trust anchor /nonexistent/root.key'),
        ('bad unbound fragment',
         base_config(d, dns=f'unbound_conf = {bad_frag}\n'),
         'no-such-option'),
        ('fragment without server:',
         base_config(d, dns=f'unbound_conf = {no_server}\n'),
         f'[dns] unbound_conf {no_server}'),
        ('missing unbound fragment',
         base_config(d, dns='unbound_conf = /nonexistent/u.conf\n'),
         '/nonexistent/u.conf'),
        ('missing secret file',
         base_config(d, component='secret_file = /nonexistent/secret\n')
         .replace('secret = s3cret\n', ''),
         ':5: [component] secret_file: /nonexistent/secret'),
        ('state directory that cannot be made',
         base_config(d, store='dir = /nonexistent/a/b\n')
         .replace(f'dir = {os.path.join(d, "state")}\n', ''),
         '[store] dir /nonexistent/a/b cannot be made in /nonexistent/a'),
        ('state directory that is a file',
         base_config(d, store=f'dir = {a_file}\n')
         .replace(f'dir = {os.path.join(d, "state")}\n', ''),
         f'[store] dir {a_file}: Not a directory'),
        ('trusted_proxies not addresses',
         base_config(d, http='listen = 127.0.0.1:8080\n'
                             'trusted_proxies = proxy.example\n'),
         '[http] trusted_proxies: "proxy.example"'),
        ('IPv6 listen address without brackets',
         base_config(d, http='listen = ::1:8080\n'),
         '[http] listen: write an IPv6 address in brackets'),
    ]


def t_run_n_loads_what_run_loads(d):
    ok = run([BIN, 'run', '-n', '-c', write(d, 'ok.conf', base_config(d))])
    assert ok.returncode == 0, ok
    assert not os.path.exists(os.path.join(d, 'state')), \
        'run -n must not create the state directory'
    for what, text, words in refused_cases(d):
        conf = write(d, 'bad.conf', text)
        for argv in ([BIN, 'run', '-n', '-c', conf], [BIN, 'run', '-c', conf]):
            p = run(argv, timeout=30)
            assert p.returncode == 78, (what, argv, p.returncode, p.stderr)
            assert words in p.stderr, (what, argv, words, p.stderr)
            assert conf in p.stderr, (what, 'names the config', p.stderr)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_for(what, fn, timeout=30):
    """fn() until it returns something true; its value."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f'timed out waiting for {what}')
        time.sleep(0.1)


def slurp(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def get(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


def t_dead_tor(info, d):
    """Tor's SOCKS port closed: a warning at start, one (rate-limited) as
    probes fail at step tor, the metric counts them, and users read that
    the fault is the service's."""
    socks, http = free_port(), free_port()
    conf = write_config(
        info, os.path.join(d, 'tor.conf'),
        component={'host': '127.0.0.1', 'port': str(free_port())},
        probe={'via': 'tor', 'tor_socks': f'127.0.0.1:{socks}',
               'timeout': '5'},
        http={'listen': f'127.0.0.1:{http}'})
    log = os.path.join(d, 'tor.log')
    with open(log, 'w', encoding='utf-8') as errf:
        proc = subprocess.Popen([BIN, 'run', '-c', conf], stderr=errf)
    try:
        def text():
            return slurp(log)
        start = wait_for('the start-up warning', lambda: [
            ln for ln in text().splitlines()
            if f'SOCKS proxy 127.0.0.1:{socks} does not work at start' in ln])
        assert 'warning' in start[0] and 'start tor' in start[0] and \
            '[probe] tor_socks' in start[0], start
        assert 'allow_private = yes' in text(), text()
        base = f'http://127.0.0.1:{http}'
        res = json.loads(get(f'{base}/api/check?domain=good.test'))
        steps = {e['error']['step'] for e in res['endpoints'] if e['error']}
        assert res['verdict'] == 'unreachable' and steps == {'tor'}, res
        page = get(f'{base}/check?domain=rollover.test')
        assert 'fault of the certwatch service' in page, page[-2000:]
        warned = wait_for('the warning for step tor', lambda: [
            ln for ln in text().splitlines()
            if 'probes fail at step tor: cannot reach the SOCKS proxy' in ln])
        assert 'start tor' in warned[0], warned
        metrics = get(f'{base}/metrics')
        tor = [ln for ln in metrics.splitlines()
               if ln.startswith('certwatch_probes_total{result="tor"}')]
        assert tor and int(tor[0].split()[-1]) >= 8, tor   # 2 checks x 4
        # Rate-limited: the second check's probes add no line.
        assert len(warned) == 1, warned
        # No endpoint at all: the step and the services' findings.
        page = get(f'{base}/check?domain=nothere.test')
        assert 'failed at: no XMPP service (step dns)' in page, page[-2000:]
    finally:
        proc.terminate()
        rc = proc.wait(timeout=30)
    assert rc == 0, (rc, slurp(log)[-2000:])


def t_socks_greeting(info, d):
    """A SOCKS5 server that takes the greeting (user name and password, as
    probes offer): logged as answering; one that answers something else:
    a warning naming what it said."""
    import threading
    for reply, want in ((b'\x05\x02', 'Tor: the SOCKS proxy 127.0.0.1:%d answers'),
                        (b'HTTP/1.0 400 Bad\r\n\r\n',
                         'does not work at start: not a SOCKS5 proxy')):
        srv = socket.socket()
        srv.bind(('127.0.0.1', 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        got = []

        def serve():
            c, _ = srv.accept()
            with c:
                got.append(c.recv(16))
                c.sendall(reply)
                c.recv(16)      # until certwatch closes
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        conf = write_config(
            info, os.path.join(d, 'greet.conf'),
            component={'host': '127.0.0.1', 'port': str(free_port())},
            probe={'via': 'tor', 'tor_socks': f'127.0.0.1:{port}'})
        log = os.path.join(d, 'greet.log')
        with open(log, 'w', encoding='utf-8') as errf:
            proc = subprocess.Popen([BIN, 'run', '-c', conf], stderr=errf)
        try:
            words = want % port if '%d' in want else want
            wait_for(words, lambda: words in slurp(log))
            assert got == [b'\x05\x01\x02'], got  # RFC 1928 §3, method 2
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            srv.close()
        t.join(timeout=5)


def t_insecure_names_zone(info, d):
    conf = write_config(info, os.path.join(d, 'lab.conf'))
    rc, res, _ = check_json(BIN, conf, 'unsigned.test')
    assert rc == 1 and res['verdict'] == 'insecure', res
    zones = {e.get('unsigned_zone') for e in res['endpoints']}
    assert zones == {'unsigned.test'}, zones
    keys = {e['spki_sha256'] for e in res['endpoints']}
    want = {f'_{e["port"]}._tcp.{e["host"]}. IN TLSA 3 1 1 {e["spki_sha256"]}'
            for e in res['endpoints']}
    assert len(keys) == 1 and None not in keys and set(res['setup']) == want, \
        res['setup']
    p = run([BIN, 'check', '-c', conf, 'unsigned.test'])
    for words in ('unsigned zone: unsigned.test',
                  'TLSA records to add once the zone is signed:',
                  *want, 'computed on the server itself'):
        assert words in p.stdout, (words, p.stdout)


def t_unreachable_says_why(info, d):
    conf = write_config(info, os.path.join(d, 'lab.conf'),
                        probe={'timeout': '3'})
    p = run([BIN, 'check', '-c', conf, 'nothere.test'])
    assert p.returncode == 3, p
    for words in ('failed at: no XMPP service (step dns)',
                  'no SRV records and the domain has no address records'):
        assert words in p.stdout, (words, p.stdout)
    assert 'named above' not in p.stdout, p.stdout
    p = run([BIN, 'check', '-c', conf, 'stall.test'])
    assert p.returncode == 3, p
    assert 'failed at: timed out after 3 s during STARTTLS (step starttls)' \
        in p.stdout, p.stdout


def main():
    r = Runner()
    with tempfile.TemporaryDirectory(prefix='cw-firsthour.') as d:
        r.run('run -n and run refuse the same configs with 78',
              t_run_n_loads_what_run_loads, d)
        with lab() as info:
            r.run('a dead Tor: logged at start and at step tor, counted, '
                  'told to users', t_dead_tor, info, d)
            r.run('the SOCKS greeting at start: answered, not SOCKS5',
                  t_socks_greeting, info, d)
            r.run('insecure: the unsigned zone and the TLSA lines',
                  t_insecure_names_zone, info, d)
            r.run('unreachable: the step and the detail in text',
                  t_unreachable_says_why, info, d)
    return r.finish()


if __name__ == '__main__':
    sys.exit(main())
