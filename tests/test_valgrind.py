#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""valgrind memcheck on a chosen part of the integration run (the whole
run under valgrind is 20-50x slower): `certwatch check` of lab domains
covering every verdict and the misbehaving servers, and the daemon through
a chat session (check, subscribe, status, ad-hoc, pubsub-free paths) until
SIGTERM.  Any invalid access or definite/indirect leak fails the test, and
so does a crash (a signal: a negative return code) or an exit code other
than the verdict's (certwatch(8): 0 ok, 1 no-tlsa/insecure, 2 mismatch/bogus,
3 unreachable or an invalid domain); the suppressions in tests/valgrind.supp
are for the libraries' own, each explained there."""
import asyncio
import os
import signal
import subprocess
import sys
import tempfile

from cwtest import VERDICT_EXIT as EXIT, Runner, lab, write_config
import test_component as tc

BIN = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('CERTWATCH_BIN')
HERE = os.path.dirname(os.path.abspath(__file__))
VG = ['valgrind', '--leak-check=full',
      '--show-leak-kinds=definite,indirect',
      '--errors-for-leak-kinds=definite,indirect', '--error-exitcode=99',
      '--track-fds=no', '--num-callers=30',
      f'--suppressions={os.path.join(HERE, "valgrind.supp")}']


def exit_problem(rc, want, log):
    """Why exit code rc is wrong (None: it is `want`): valgrind's own 99,
    a signal (negative), or another code than the verdict's."""
    if rc == want:
        return None
    why = ('valgrind found errors' if rc == 99 else
           f'killed by signal {-rc}' if rc < 0 else f'want exit {want}')
    with open(log, encoding='utf-8', errors='replace') as f:
        return f'exit {rc} ({why})\n{f.read()[-3000:]}'


def t_checks(info, conf, d):
    bad = []
    domains = ('good.test', 'mitm.test', 'notlsa.test', 'bogus.test',
               'unsigned.test', 'nosrv.test', 'badxml.test',
               'streamerr.test', 'notls.test', 'bad..name')
    for domain in domains:
        want = EXIT[info['domains'][domain]['expect']] \
            if domain in info['domains'] else 3     # an invalid name
        log = os.path.join(d, f'vg-{domain}.log')
        p = subprocess.run(VG + [f'--log-file={log}', BIN, 'check', '-c',
                                 conf, domain],
                           capture_output=True, text=True, timeout=300)
        why = exit_problem(p.returncode, want, log)
        if why:
            bad.append(f'{domain}: {why}')
    assert not bad, '\n'.join(bad)


async def chat_session(info, comp):
    c = await tc.connect(info, info['users'][0], comp)
    try:
        c.send_presence(pto=comp, ptype='subscribe')
        assert 'check' in (await c.ask('help', 60)).lower()
        rep = await c.report('good.test')
        assert 'good.test: ok' in rep, rep
        rep = await c.report('mitm.test')
        assert 'mismatch' in rep, rep
        ack = await c.ask('subscribe notlsa.test', 60)
        assert 'ubscribed' in ack, ack
        await c.body(120)  # the first check's report
        st = await c.ask('status', 60)
        assert 'notlsa.test' in st, st
        cmd = await tc.command(c, 'check')
        sid = cmd.get('sessionid')
        cmd = await tc.command(c, 'check', sessionid=sid, domain='good.test')
        assert tc.form_values(cmd), cmd
        assert 'nsubscribed' in await c.ask('unsubscribe all', 60)
    finally:
        c.disconnect()
        await asyncio.sleep(0.2)


def t_daemon(info, d):
    srv = info['xmpp']['prosody']
    conf = write_config(info, os.path.join(d, 'daemon.conf'),
                        component={'jid': srv['component'],
                                   'secret': srv['secret'],
                                   'host': srv['host'],
                                   'port': str(srv['component_port'])},
                        store={'dir': os.path.join(d, 'state')})
    log = os.path.join(d, 'vg-daemon.log')
    p = subprocess.Popen(VG + [f'--log-file={log}', BIN, 'run', '-c', conf],
                         stderr=subprocess.DEVNULL)
    try:
        loop = asyncio.get_event_loop()
        ok = loop.run_until_complete(
            tc.wait_bot(srv, srv['users'][0], srv['component'], 120))
        assert ok, 'the bot did not come online under valgrind'
        loop.run_until_complete(chat_session(srv, srv['component']))
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(120)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
    why = exit_problem(rc, 0, log)
    assert not why, why


def main():
    r = Runner()
    with lab() as info, tempfile.TemporaryDirectory() as d:
        conf = write_config(info, os.path.join(d, 'certwatch.conf'))
        r.run('memcheck: check of every verdict and bad servers',
              t_checks, info, conf, d)
        r.run('memcheck: the daemon through a chat session and SIGTERM',
              t_daemon, info, d)
    return r.finish()


if __name__ == '__main__':
    sys.exit(main())
