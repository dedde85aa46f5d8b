#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_tor_check.py - certwatch through the lab's private Tor network
(tests/lab/tornet.py, docs/tor.md): the real binary with `[probe] via = tor`.

  1. good.test and mitm.test give the same verdicts and keys as direct;
  2. the client's control port shows every probe's stream on a circuit of
     its own (conflux sets compared too), the target sent as an IP literal
     (issue 14), a fresh SOCKS user name each, and more than one exit over
     40 probes (4 endpoints and their other key type's handshakes, 5
     checks);
  3. a connection refused behind the exit comes back as tor's SOCKS5
     error reply (address type 0), reported in words at step `tor`; one
     left unanswered ends at certwatch's time-out, also at step `tor`;
     run as an unprivileged user whose direct connections to the lab's
     XMPP servers are rejected (iptables owner match), a Tor check still
     succeeds and the rule never matches: nothing went around Tor;
  4. with the Tor client stopped: `check` says unreachable at step `tor`
     naming the SOCKS proxy; the daemon's rounds go unreachable and a
     subscriber gets no alert; with the client back the rounds recover,
     still without an alert (docs/usage.md "Alerts": unreachable endpoints count at their
     last verdict); stopped for down_after rounds: one "down" alert, never
     an alarm, then "recovered".

Usage: test_tor_check.py [CERTWATCH_BIN]   (or $CERTWATCH_BIN)
Reuses the lab of $CERTWATCH_LAB and the Tor network of $CERTWATCH_TORNET
(waits for it), or starts its own.  Needs root (lab, iptables, setpriv).
Prints one line per test and "N passed, N failed" last.
"""
import asyncio
import json
import logging
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time

from cwtest import Runner, check_json, lab, run, write_config
from tornet import StreamWatch, TorNet, split_event

import slixmpp

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                      os.environ.get('CERTWATCH_BIN',
                                     'build/component/certwatch'))
USER_RE = re.compile(r'^[0-9a-f]{32}$')
NOBODY = 65534
RULE_TAG = 'certwatch-test-tor-%d' % os.getpid()


# ------------------------------------------------------------- helpers

class TimedWatch(StreamWatch):
    """StreamWatch that also keeps, per stream, the target of its NEW event
    (later REMAP events replace it with the exit's address), when it was
    first seen, and every status it went through."""

    def _on_event(self, text):
        words, _ = split_event(text)
        if len(words) >= 5 and words[0] == 'STREAM':
            rec = self.streams.setdefault(words[1], {'id': words[1]})
            rec.setdefault('first_target', words[4])
            rec.setdefault('seen', time.monotonic())
            rec.setdefault('statuses', []).append(words[2])
        super()._on_event(text)


def endpoints(res):
    return {(e['service'], e['host'], e['port']): e for e in res['endpoints']}


def tor_streams(watch, host, known=()):
    """Streams to `host` (as the SOCKS client sent it: since issue 14 the
    address) not in known."""
    watch.pump(1.0)
    return [r for r in watch.report()
            if r['id'] not in known and
            r.get('first_target', '').rsplit(':', 1)[0] == host]


def check_tor(conf, domain, **kw):
    rc, res, p = check_json(BIN, conf, domain, **kw)
    return rc, res


# ------------------------------------------ 1. the same verdicts as direct

def t_same_as_direct(info, net, confs):
    for domain, want in (('good.test', 'ok'), ('mitm.test', 'mismatch')):
        _, direct = check_tor(confs['direct'], domain)
        rc, tor = check_tor(confs['tor'], domain)
        assert direct['verdict'] == want, direct
        assert tor['verdict'] == want, tor
        d, t = endpoints(direct), endpoints(tor)
        assert set(d) == set(t) and len(t) == 4, (sorted(d), sorted(t))
        for k in d:
            assert t[k]['error'] is None, t[k]
            assert (t[k]['verdict'], t[k]['spki_sha256'], t[k]['matched']) == \
                (d[k]['verdict'], d[k]['spki_sha256'], d[k]['matched']), \
                (k, t[k], d[k])
        key = info['keys']['good' if want == 'ok' else 'mitm']['spki_sha256']
        assert all(e['spki_sha256'] == key for e in t.values()), tor


# ---------------------------------------- 2. a circuit of its own per probe

def t_circuits(info, net, confs):
    # The address goes to Tor as an IP literal (issue 14).
    host = info['targets']['good']
    exits = {e['fingerprint'] for e in net.info['exits']}
    watch = TimedWatch(net.control)
    try:
        watch.pump(0.5)
        known = {r['id'] for r in watch.report()}
        probes = []
        for i in range(5):
            rc, res = check_tor(confs['tor'], 'good.test')
            assert rc == 0 and res['verdict'] == 'ok', res
            new = tor_streams(watch, host, known)
            known |= {r['id'] for r in new}
            # Matched to this check's probes by target and time: the checks
            # run one after another, so a check's streams are the new ones:
            # per endpoint one probe and the other key type's handshake.
            want = sorted(2 * [e['port'] for e in res['endpoints']])
            got = sorted(int(r['first_target'].rsplit(':', 1)[1]) for r in new)
            assert got == want and res['probes'] == 8, \
                ('check %d' % i, got, want, new)
            probes += new
        assert len(probes) == 40, len(probes)
        users = [r.get('username', '') for r in probes]
        assert all(USER_RE.match(u) for u in users), users
        assert len(set(users)) == 40, 'a SOCKS user name was reused'
        for r in probes:
            assert 'SUCCEEDED' in r['statuses'], r
            assert r.get('exit_fp') in exits, r
        circs = [r['circ'] for r in probes]
        assert len(set(circs)) == 40, 'two probes on one circuit: %s' % circs
        # Conflux: a stream's circuit may be one leg of a set; two probes on
        # two legs of one set would share the exit's view all the same.
        cfx = [r['conflux_id'] for r in probes if r.get('conflux_id')]
        assert len(set(cfx)) == len(cfx), 'two probes on one conflux set'
        used = {}
        for r in probes:
            used[r['exit_nick']] = used.get(r['exit_nick'], 0) + 1
        assert len(used) > 1, 'every probe used exit %s' % used
        print('     exits of 40 probes: %s; %d on conflux sets' % (
            ', '.join('%s %d' % kv for kv in sorted(used.items())), len(cfx)))
    finally:
        watch.close()


# --------------------------------------------- 3. nothing around Tor

def iptables_rules(op, addrs):
    for a in addrs:
        subprocess.run(['iptables', op, 'OUTPUT', '-d', a, '-p', 'tcp',
                        '-m', 'owner', '--uid-owner', str(NOBODY),
                        '-m', 'comment', '--comment', RULE_TAG,
                        '-j', 'REJECT', '--reject-with', 'tcp-reset'],
                       check=(op != '-D'), capture_output=True)


def rejected_packets():
    out = run(['iptables', '-L', 'OUTPUT', '-v', '-x', '-n']).stdout
    return sum(int(line.split()[0]) for line in out.splitlines()
               if RULE_TAG in line)


def nobody_dir(info, base, net):
    """A directory nobody can read with its own copies of the config and
    the lab's DNS files (the lab's directory is root's)."""
    d = os.path.join(base, 'nobody')
    os.makedirs(d)
    os.chmod(base, 0o755)
    os.chmod(d, 0o755)
    for name in ('anchor.key', 'unbound.conf'):
        src = info['trust_anchor'] if name == 'anchor.key' else info['unbound_conf']
        shutil.copy(src, os.path.join(d, name))
    confs = {}
    for via, probe in (('direct', {}),
                       ('tor', {'via': 'tor', 'tor_socks': net.socks})):
        confs[via] = write_config(
            info, os.path.join(d, via + '.conf'), probe=probe,
            dns={'trust_anchor': os.path.join(d, 'anchor.key'),
                 'unbound_conf': os.path.join(d, 'unbound.conf')},
            store={'dir': os.path.join(d, 'store')})
    for root, dirs, files in os.walk(d):
        for n in dirs + files:
            os.chown(os.path.join(root, n), NOBODY, NOBODY)
    os.chown(d, NOBODY, NOBODY)
    return confs


def as_nobody(conf, domain):
    p = run(['setpriv', '--reuid', str(NOBODY), '--regid', str(NOBODY),
             '--clear-groups', '--', BIN, 'check', '-c', conf, '--json',
             domain])
    try:
        return p.returncode, json.loads(p.stdout)
    except ValueError:
        raise AssertionError('not JSON (exit %d): %r %r' % (
            p.returncode, p.stdout, p.stderr))


def t_only_through_tor(info, net, confs, base):
    addrs = sorted({info['targets']['good'], info['targets']['mitm']})
    nconf = nobody_dir(info, base, net)
    host = info['targets']['good']     # an IP literal to Tor (issue 14)
    watch = TimedWatch(net.control)
    iptables_rules('-I', addrs)
    try:
        # The rule works: direct, the same user cannot reach the servers.
        rc, res = as_nobody(nconf['direct'], 'good.test')
        assert res['verdict'] == 'unreachable', res
        for e in res['endpoints']:
            assert e['error']['step'] == 'tcp', e
        blocked = rejected_packets()
        assert blocked >= 4, 'the rule matched %d packets' % blocked
        # Through Tor: the exits (root's tor) connect, certwatch does not.
        watch.pump(0.5)
        known = {r['id'] for r in watch.report()}
        for domain, want in (('good.test', 'ok'), ('mitm.test', 'mismatch')):
            rc, res = as_nobody(nconf['tor'], domain)
            assert res['verdict'] == want, res
            assert all(e['error'] is None for e in res['endpoints']), res
        assert rejected_packets() == blocked, \
            'certwatch connected to a target around Tor'
        new = tor_streams(watch, host, known)
        assert len(new) == 8, new      # good.test: 4 probes, 4 key types
    finally:
        iptables_rules('-D', addrs)
        watch.close()
    assert rejected_packets() == 0


def exits_blocked(info, conf, target):
    """check good.test while the exits' (root's) connections to the good
    server's 5222 meet `target` (REJECT or DROP); the JSON result."""
    ip = info['targets']['good']
    rule = ['OUTPUT', '-d', ip, '-p', 'tcp', '--dport', '5222',
            '-m', 'owner', '--uid-owner', str(os.getuid()),
            '-m', 'comment', '--comment', RULE_TAG, '-j', target]
    if target == 'REJECT':
        rule += ['--reject-with', 'tcp-reset']
    subprocess.run(['iptables', '-I'] + rule, check=True, capture_output=True)
    try:
        return check_tor(conf, 'good.test')
    finally:
        subprocess.run(['iptables', '-D'] + rule, capture_output=True)


def t_exit_refused(info, net, confs):
    """The exits' own connections to the good server's 5222 are refused:
    tor answers that probe with a SOCKS5 error reply (address type 0);
    certwatch reports it in words at step `tor`, the other three are ok."""
    rc, res = exits_blocked(info, confs['tor'], 'REJECT')
    assert res['verdict'] != 'mismatch', res
    for e in res['endpoints']:
        if e['port'] == 5222:
            assert e['verdict'] == 'unreachable', e
            assert e['error']['step'] == 'tor', e
            # Tor retries a refused stream at other exits; after three it
            # gives up with "general failure" (reply 1, address type 0).
            assert e['error']['reason'] in (
                'SOCKS: general SOCKS server failure',
                'SOCKS: connection refused'), e
            print('     5222 refused behind the exit: %s' % e['error']['reason'])
        else:
            assert e['verdict'] == 'ok', e


def t_exit_silent(info, net, confs, base):
    """The exits' connections to 5222 go unanswered: tor holds the SOCKS
    request, and certwatch's own time-out ends the probe at step `tor`."""
    conf = write_config(info, os.path.join(base, 'tor-5s.conf'),
                        probe={'via': 'tor', 'tor_socks': net.socks,
                               'timeout': '5'})
    t0 = time.monotonic()
    rc, res = exits_blocked(info, conf, 'DROP')
    took = time.monotonic() - t0
    assert res['verdict'] != 'mismatch' and took < 5 + 5, (took, res)
    for e in res['endpoints']:
        if e['port'] == 5222:
            assert e['verdict'] == 'unreachable', e
            assert e['error']['step'] == 'tor', e
            assert 'timed out after 5 s during the SOCKS connection' in \
                e['error']['reason'], e
            print('     5222 silent behind the exit: %s' % e['error']['reason'])
        else:
            assert e['verdict'] == 'ok', e


# ---------------------------------------- 4. the client stopped mid-run

class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, comp):
        super().__init__(jid, password)
        self.comp = comp
        self.msgs = asyncio.Queue()
        self.started = asyncio.Event()
        self['feature_mechanisms'].unencrypted_plain = True
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.register_plugin('xep_0199')
        self.add_event_handler('session_start', self._start)
        self.add_event_handler('message', self._msg)

    async def _start(self, _):
        self.send_presence()
        await self.get_roster()
        self.started.set()

    def _msg(self, m):
        if m['from'].bare == self.comp and m['body']:
            self.msgs.put_nowait(m['body'])

    async def body(self, timeout=30, match=None):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError('no message matching %r' % match)
            b = await asyncio.wait_for(self.msgs.get(), left)
            if match is None or re.search(match, b):
                return b

    async def ask(self, text, match=None, timeout=30):
        self.send_message(mto=self.comp, mbody=text, mtype='chat')
        return await self.body(timeout, match)

    def drain(self):
        out = []
        while not self.msgs.empty():
            out.append(self.msgs.get_nowait())
        return out


async def connect(x, user, comp):
    c = Client(user['jid'] + '/tor%d' % os.getpid(), user['password'], comp)
    c.connect((x['host'], int(x['c2s_port'])), force_starttls=False)
    await asyncio.wait_for(c.started.wait(), 20)
    return c


async def rounds(admin):
    b = await admin.ask('stats', match=r'rounds: \d+')
    return int(re.search(r'rounds: (\d+)', b)[1])


async def wait_rounds(admin, n, timeout):
    start = await rounds(admin)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        if await rounds(admin) >= start + n:
            return
    raise AssertionError('not %d rounds in %d s' % (n, timeout))


async def client_stopped(info, net, confs, base):
    x = info['xmpp']['prosody']
    users = x['users']
    wdir = os.path.join(base, 'daemon')
    os.makedirs(wdir)
    conf = write_config(
        info, os.path.join(wdir, 'certwatch.ini'),
        component={'jid': x['component'], 'host': x['host'],
                   'port': x['component_port'], 'secret': x['secret'],
                   'admins': users[0]['jid']},
        probe={'via': 'tor', 'tor_socks': net.socks, 'timeout': '10'},
        store={'dir': os.path.join(wdir, 'store')}, log={'level': 'debug'},
        watch={'interval': '10', 'jitter': '1', 'down_after': '3'})
    log_path = os.path.join(wdir, 'certwatch.log')
    with open(log_path, 'ab') as log:
        bot = subprocess.Popen([BIN, 'run', '-c', conf], stdout=log,
                               stderr=subprocess.STDOUT)
    clients = []
    stopped = False
    try:
        admin = await connect(x, users[0], x['component'])
        clients.append(admin)
        deadline = time.monotonic() + 60
        while True:
            try:
                await admin['xep_0199'].send_ping(x['component'], timeout=3)
                break
            except Exception:  # noqa: BLE001 - not connected yet
                if time.monotonic() > deadline:
                    raise AssertionError('the bot never answered a ping')
                await asyncio.sleep(0.5)
        sub = await connect(x, users[14], x['component'])
        clients.append(sub)
        await sub.ask('unsubscribe all', match=r'nsubscribed|no subscriptions')
        await sub.ask('subscribe good.test', match=r'^Subscribed to ')
        first = await sub.body(90, match=r'^First check of ')
        assert 'good.test: ok' in first, first
        await wait_rounds(admin, 1, 40)
        sub.drain()

        # The client goes away between two rounds.
        await asyncio.get_running_loop().run_in_executor(None, net.stop_client)
        stopped = True
        rc, res = check_tor(confs['tor'], 'good.test')
        assert rc == 3 and res['verdict'] == 'unreachable', res
        for e in res['endpoints']:
            assert e['error']['step'] == 'tor', e
            assert 'SOCKS' in e['error']['reason'], e
        print('     check with the client stopped: %s' %
              res['endpoints'][0]['error']['reason'])
        await wait_rounds(admin, 1, 30)
        st = await admin.ask('status good.test', match=r'good\.test')
        # Each endpoint keeps its last verdict, with the reason it could
        # not be checked this round.
        assert len(re.findall(r': ok — tor: cannot reach the SOCKS proxy', st)) \
            == 4, st
        await wait_rounds(admin, 1, 30)
        # Two unreachable rounds (down_after = 3): the client comes back.
        await asyncio.get_running_loop().run_in_executor(None, net.start_client)
        stopped = False
        got = sub.drain()
        assert not got, 'alert while Tor was down: %s' % got
        await wait_rounds(admin, 2, 40)
        st = await admin.ask('status good.test', match=r'good\.test')
        assert st.startswith('good.test: ok') and 'SOCKS' not in st, st
        await asyncio.sleep(1)
        got = sub.drain()
        assert not got, 'alert after Tor came back: %s' % got
        with open(log_path, errors='replace') as f:
            text = f.read()
        # Every alert (chat and pubsub alike) is logged: there is none.
        alerts = re.findall(r'good\.test: (\w+) \(.*→.*\)', text)
        assert not alerts, alerts

        # The client stays away: the third unreachable round is "down"
        # (not an alarm), and the first good round after it "recovered".
        await asyncio.get_running_loop().run_in_executor(None, net.stop_client)
        stopped = True
        t0 = time.monotonic()
        down = await sub.body(60, match=r'good\.test')
        assert down.startswith('good.test is down: no endpoint could be '
                               'checked in 3 rounds') and 'SOCKS' in down, down
        took = time.monotonic() - t0
        assert took > 15, 'down after %.0f s, before 3 rounds' % took
        await asyncio.get_running_loop().run_in_executor(None, net.start_client)
        stopped = False
        back = await sub.body(40, match=r'good\.test')
        assert back.startswith('good.test recovered: now ok'), back
        await wait_rounds(admin, 1, 30)
        await asyncio.sleep(1)
        got = sub.drain()
        assert not got, 'more alerts: %s' % got
        with open(log_path, errors='replace') as f:
            text = f.read()
        alerts = re.findall(r'good\.test: (\w+) \(.*→.*\)', text)
        assert alerts == ['down', 'recovered'], alerts
        for c in clients:
            c.disconnect()
        clients = []
        bot.send_signal(signal.SIGTERM)
        rc = await asyncio.get_running_loop().run_in_executor(
            None, lambda: bot.wait(20))
        with open(log_path, errors='replace') as f:
            text = f.read()
        assert rc == 0 and 'Sanitizer' not in text, (rc, text[-2000:])
    finally:
        if stopped:
            net.start_client()
        for c in clients:
            c.disconnect()
        if bot.poll() is None:
            bot.send_signal(signal.SIGTERM)
            try:
                bot.wait(20)
            except subprocess.TimeoutExpired:
                bot.kill()
                bot.wait()


def t_client_stopped(info, net, confs, base):
    asyncio.run(client_stopped(info, net, confs, base))


# ------------------------------------------------------------------ main

def tor_network(info, tmp):
    """($CERTWATCH_TORNET's network, None) or (our own, it to stop)."""
    path = os.environ.get('CERTWATCH_TORNET')
    if path:
        d = os.path.dirname(path) if path.endswith('.json') else path
        return TorNet(d).wait(timeout=300), None
    net = TorNet(os.path.join(tmp, 'tor'), resolver=info['dns']['resolver'])
    net.start()
    return net, net


def main():
    logging.basicConfig(level=logging.CRITICAL)
    r = Runner()
    tmp = tempfile.mkdtemp(prefix='cw-tor-')
    own = None
    try:
        with lab() as info:
            net, own = tor_network(info, tmp)
            confs = {
                'direct': write_config(info, os.path.join(tmp, 'direct.conf')),
                'tor': write_config(info, os.path.join(tmp, 'tor.conf'),
                                    probe={'via': 'tor',
                                           'tor_socks': net.socks}),
            }
            for name, fn in (('same verdicts and keys as direct',
                              t_same_as_direct),
                             ('a circuit of its own per probe, several exits',
                              t_circuits)):
                r.run(name, fn, info, net, confs)
            r.run('refused behind the exit: SOCKS reply in words',
                  t_exit_refused, info, net, confs)
            r.run('silent behind the exit: certwatch\'s time-out, step tor',
                  t_exit_silent, info, net, confs, tmp)
            r.run('nothing reaches the servers around Tor',
                  t_only_through_tor, info, net, confs, tmp)
            r.run('Tor client stopped: unreachable, no alert; recovers; '
                  'down only after down_after rounds',
                  t_client_stopped, info, net, confs, tmp)
    finally:
        if own is not None:
            own.stop()
    if not r.failed:
        shutil.rmtree(tmp, ignore_errors=True)
    return r.finish()


if __name__ == '__main__':
    sys.exit(main())
