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

from cwtest import Runner, lab, run, write_config

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


def main():
    r = Runner()
    with tempfile.TemporaryDirectory(prefix='cw-firsthour.') as d:
        r.run('run -n and run refuse the same configs with 78',
              t_run_n_loads_what_run_loads, d)
    return r.finish()


if __name__ == '__main__':
    sys.exit(main())
