#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_vantage.py - remote vantages over XMPP (issue 16, docs/vantages.md).

Two certwatch daemons in the lab: A, a component of the lab's Prosody
(certwatch.prosody.test), and B, a component of its ejabberd
(certwatch.ejabberd.test).  The two servers are federated (s2s, dialback,
names from the lab's DNS): every request and answer crosses the federation.
A has `vantages = direct, xmpp:certwatch.ejabberd.test` and runs as
`nobody`; an iptables DNAT rule with an owner match sends only A's
connections to vantage.test's server (port 5222) to the lab's MITM server,
so only A is intercepted.  A's checks go through its web API (/api/check,
the daemon's own check; the CLI has no XMPP link).

 1. B does not allow A: A's remote probes are unreachable at step
    `vantage` (forbidden), never a split; B's disco#info names the feature.
 2. B allows A, A intercepted: `key-split` naming xmpp:certwatch.ejabberd.test,
    "seen only through the remote vantage"; the verdict is A's own.
 3. The interception stopped: no split, both keys the same.
 4. B stopped: unreachable probes at step `vantage`, no warning; A
    watching the domain while B goes away and then while A alone is
    intercepted sends no alert of any kind.
 5. `certwatch check` (no XMPP link) skips the xmpp: vantage, says so.
 6. A fake B (a Python component with B's secret on ejabberd: the only way
    to make a peer lie or misbehave on purpose) answers malformed, huge
    or late: each an unreachable probe at step `vantage`; a well-formed lie
    (the MITM's certificate) is a `key-split` warning naming the vantage,
    and on a DANE domain (good.test) its probes are `mismatch` while the
    verdict stays `ok` and watching the domain raises no alarm.

Usage: test_vantage.py CERTWATCH_BIN.  Reuses $CERTWATCH_LAB or starts a
lab.  Needs root (lab, iptables, setpriv).  $VANTAGE_ONLY=t_NAME runs one
test function; $VANTAGE_DEBUG=1 prints every chat message.  Internal: --fake MODE ... runs
the fake B.
"""
import asyncio
import base64
import hashlib
import json
import logging
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cwtest import (Runner, assert_clean_log, free_port, lab,  # noqa: E402
                    terminate)

NOBODY = 65534
USER = 21               # the lab user of this test's chats (no other test's)
NS = 'urn:xmpp:certwatch:probe:0'
DOMAIN = 'vantage.test'
TIMEOUT = 4            # [probe] timeout of both: A waits 2 x 4 s
RULE_TAG = 'certwatch-test-vantage'
ROUND = 10            # A's [watch] interval, seconds


# ------------------------------------------------------------ the fake B

def fake_main(mode, jid, secret, host, port, mitm_cert):
    """A component answering probe requests as `mode` says."""
    import slixmpp
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath

    def cert(der):
        return "<cert sha256='%s'>%s</cert>" % (
            hashlib.sha256(der).hexdigest(), base64.b64encode(der).decode())

    def payload():
        head = ("<result xmlns='%s' outcome='chain' elapsed-ms='5' at='%d'>"
                % (NS, int(time.time())))
        if mode == 'malformed':     # the hash is not the bytes'
            return head + "<cert sha256='%s'>AAAA</cert></result>" % ('00' * 32)
        if mode == 'failtor':       # its own Tor failed
            return ("<result xmlns='%s' outcome='failed' step='tor' elapsed-ms='5' "
                    "at='%d'><reason>SOCKS5 proxy refused</reason></result>"
                    % (NS, int(time.time())))
        if mode == 'huge':          # 12 certificates of 16 KB
            return head + ''.join(cert(os.urandom(16000)) for _ in range(12)) + '</result>'
        return head + cert(mitm_cert) + '</result>'    # lie, late

    class Fake(slixmpp.ComponentXMPP):
        def __init__(self):
            super().__init__(jid, secret, host, port)
            self.register_handler(Callback('probe', MatchXPath(
                '{jabber:component:accept}iq/{%s}probe' % NS), self.probe))

        def probe(self, iq):
            asyncio.ensure_future(self.answer(iq['id'], iq['from'].full))

        async def answer(self, id_, to):
            if mode == 'late':
                await asyncio.sleep(2 * TIMEOUT + 3)
            self.send_raw("<iq type='result' id='%s' to='%s' from='%s'>%s</iq>"
                          % (id_, to, jid, payload()))
            print('answered', mode, flush=True)

    f = Fake()
    f.add_event_handler('session_start', lambda _: print('online', flush=True))
    f.connect()
    asyncio.get_event_loop().run_forever()


# ---------------------------------------------------------------- helpers

def wait_log(path, text, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with open(path, encoding='utf-8', errors='replace') as f:
            if text in f.read():
                return
        time.sleep(0.1)
    with open(path, encoding='utf-8', errors='replace') as f:
        raise AssertionError('%s: no %r in: %s' % (path, text, f.read()[-2000:]))


def write_conf(path, x, dns, store, extra):
    text = ('[component]\njid = %s\nhost = %s\nport = %d\nsecret = %s\n\n'
            '[probe]\nvia = direct\ntimeout = %d\nallow_private = yes\n%s\n'
            '[dns]\ntrust_anchor = %s\nforward =\nunbound_conf = %s\n\n'
            '[store]\ndir = %s\n\n[log]\nlevel = debug\n%s'
            % (x['component'], x['host'], x['component_port'], x['secret'], TIMEOUT,
               extra.get('probe', ''), dns[0], dns[1], store, extra.get('tail', '')))
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


class Daemon:
    def __init__(self, binary, conf, log, user=None):
        argv = [binary, 'run', '-c', conf]
        if user is not None:
            argv = ['setpriv', '--reuid', str(user), '--regid', str(user),
                    '--clear-groups', '--'] + argv
        self.log = log
        with open(log, 'w', encoding='utf-8'):
            pass
        if user is not None:
            os.chown(log, user, user)
        self.proc = subprocess.Popen(argv, stdout=open(log, 'a'),
                                     stderr=subprocess.STDOUT)
        wait_log(log, 'xmpp: connected to')

    def stop(self):
        terminate(self.proc)
        assert_clean_log(self.log)


def api_check(port, domain=DOMAIN):
    url = 'http://127.0.0.1:%d/api/check?domain=%s' % (port, domain)
    with urllib.request.urlopen(url, timeout=120) as r:
        return json.load(r)


def probes(res):
    return [p for e in res['endpoints'] for p in e.get('probes') or []]


def remote(res, jid):
    out = [p for p in probes(res) if p['vantage'] == 'xmpp:' + jid]
    assert out, 'no probe from xmpp:%s: %s' % (jid, json.dumps(res)[:2000])
    return out


def splits(res):
    return [w['text'] for w in res.get('warnings') or [] if w['code'] == 'key-split']


def dnat(op, good, mitm):
    rule = ['-t', 'nat', op, 'OUTPUT', '-d', good, '-p', 'tcp', '--dport', '5222',
            '-m', 'owner', '--uid-owner', str(NOBODY), '-m', 'comment',
            '--comment', RULE_TAG, '-j', 'DNAT', '--to-destination', mitm]
    subprocess.run(['iptables'] + rule, check=(op != '-D'), capture_output=True)


def dnat_packets():
    out = subprocess.run(['iptables', '-t', 'nat', '-L', 'OUTPUT', '-v', '-x', '-n'],
                         capture_output=True, text=True).stdout
    return sum(int(l.split()[0]) for l in out.splitlines() if RULE_TAG in l)


async def disco_features(x, jid):
    import slixmpp
    user = x['users'][USER]
    c = slixmpp.ClientXMPP(user['jid'] + '/vantage', user['password'])
    c['feature_mechanisms'].unencrypted_plain = True
    c.ssl_context.check_hostname = False
    c.ssl_context.verify_mode = ssl.CERT_NONE
    c.register_plugin('xep_0030')
    up = asyncio.Event()
    c.add_event_handler('session_start', lambda _: up.set())
    c.connect((x['host'], int(x['c2s_port'])), force_starttls=False)
    await asyncio.wait_for(up.wait(), 20)
    try:
        r = await c['xep_0030'].get_info(jid=jid, timeout=10)
        return set(r['disco_info']['features'])
    finally:
        c.disconnect()


class Chat:
    """A user of A's server talking to A by chat: every body it sends."""

    def __init__(self, x, comp):
        import slixmpp
        user = x['users'][USER]
        self.comp = comp
        self.bodies = asyncio.Queue()
        self.c = c = slixmpp.ClientXMPP(user['jid'] + '/watch', user['password'])
        c['feature_mechanisms'].unencrypted_plain = True
        c.ssl_context.check_hostname = False
        c.ssl_context.verify_mode = ssl.CERT_NONE
        self.up = asyncio.Event()
        c.add_event_handler('session_start', self._start)
        c.add_event_handler('message', self._msg)
        c.connect((x['host'], int(x['c2s_port'])), force_starttls=False)

    def _start(self, _):
        # Available: alerts go to the bare JID (RFC 6121 §8.5.2.1.1).
        self.c.send_presence()
        self.up.set()

    def _msg(self, m):
        if os.environ.get('VANTAGE_DEBUG'):
            print('MSG', m['from'], m['body'][:200], flush=True)
        if m['from'].bare == self.comp and m['body']:
            self.bodies.put_nowait(m['body'])

    async def ask(self, text, match, timeout=60):
        self.c.send_message(mto=self.comp, mbody=text, mtype='chat')
        end = time.monotonic() + timeout
        while True:
            b = await asyncio.wait_for(self.bodies.get(), end - time.monotonic())
            if re.search(match, b):
                return b

    async def quiet(self, seconds):
        """The bodies that came in `seconds`."""
        await asyncio.sleep(seconds)
        out = []
        while not self.bodies.empty():
            out.append(self.bodies.get_nowait())
        return out


# ------------------------------------------------------------------ tests

class World:
    """The two daemons and how to (re)start them."""

    def __init__(self, binary, info, tmp):
        self.binary, self.info, self.tmp = binary, info, tmp
        # Component names of their own (the lab's vantage.DOMAIN): this
        # test runs beside the parallel ones (tests/meson.build).
        self.xa, self.xb = (dict(x, component=x.get('components', {}).get(
            'vantage', x['component'])) for x in (info['xmpp']['prosody'],
                                                  info['xmpp']['ejabberd']))
        self.port = free_port()
        # A runs as nobody: its own copies of the DNS files and its store.
        d = os.path.join(tmp, 'a')
        os.makedirs(os.path.join(d, 'store'))
        os.chmod(tmp, 0o755)
        for src in (info['trust_anchor'], info['unbound_conf']):
            shutil.copy(src, d)
        dns = (os.path.join(d, os.path.basename(info['trust_anchor'])),
               os.path.join(d, os.path.basename(info['unbound_conf'])))
        self.aconf = write_conf(os.path.join(d, 'a.ini'), self.xa, dns,
                                os.path.join(d, 'store'), {
                                    'probe': 'vantages = direct, xmpp:%s\n' % self.xb['component'],
                                    'tail': '\n[http]\nlisten = 127.0.0.1:%d\n'
                                            '\n[watch]\ninterval = %d\njitter = 0\n'
                                            '\n[component]\nadmins = %s\n'
                                            % (self.port, ROUND, self.xa['users'][USER]['jid'])})
        for root, dirs, files in os.walk(d):
            for n in dirs + files:
                os.chown(os.path.join(root, n), NOBODY, NOBODY)
        os.chown(d, NOBODY, NOBODY)
        self.a = self.b = None
        self.nb = 0

    def start_b(self, allow, limits=''):
        self.stop_b()
        self.nb += 1
        d = os.path.join(self.tmp, 'b%d' % self.nb)
        os.makedirs(d)
        conf = write_conf(os.path.join(d, 'b.ini'), self.xb,
                          (self.info['trust_anchor'], self.info['unbound_conf']),
                          os.path.join(d, 'store'),
                          {'tail': '\n[vantage]\nallow = %s\n%s' % (allow, limits)})
        self.b = Daemon(self.binary, conf, os.path.join(d, 'b.log'))

    def stop_b(self):
        if self.b:
            self.b.stop()
            self.b = None

    def restart_a(self):
        """A fresh A: the web keeps a result a minute, and each phase
        needs a check of its own."""
        if self.a:
            self.a.stop()
        self.a = Daemon(self.binary, self.aconf, os.path.join(self.tmp, 'a', 'a.log'),
                        user=NOBODY)

    def check(self, domain=DOMAIN):
        self.restart_a()
        return api_check(self.port, domain)

    def close(self):
        self.stop_b()
        if self.a:
            self.a.stop()


def t_forbidden(w):
    w.start_b('certwatch.other.test')
    res = w.check()
    for p in remote(res, w.xb['component']):
        assert p['error']['step'] == 'vantage', p
        assert 'forbidden' in p['error']['reason'], p
    assert not splits(res), res['warnings']
    assert res['verdict'] == 'no-tlsa', res['verdict']


def t_disco(w):
    feats = asyncio.run(disco_features(w.xb, w.xb['component']))
    assert NS in feats, sorted(feats)
    # A answers nobody ([vantage] allow empty): not offered.
    feats = asyncio.run(disco_features(w.xa, w.xa['component']))
    assert NS not in feats and 'urn:xmpp:ping' in feats, sorted(feats)


def t_split(w):
    w.start_b(w.xa['component'])
    good, mitm = w.info['targets']['good'], w.info['targets']['mitm']
    keys = w.info['keys']
    dnat('-I', good, mitm)
    try:
        res = w.check()
        assert dnat_packets() > 0, 'the DNAT rule matched nothing'
    finally:
        dnat('-D', good, mitm)
    local = [p for p in probes(res) if p['vantage'] == 'direct']
    assert local and all(p['spki_sha256'] == keys['mitm']['spki_sha256'] for p in local), local
    for p in remote(res, w.xb['component']):
        assert p['spki_sha256'] == keys['good']['spki_sha256'], p
        assert p['error'] is None, p
    texts = splits(res)
    assert len(texts) == 1, res.get('warnings')
    assert 'xmpp:' + w.xb['component'] in texts[0], texts
    assert 'seen only through the remote vantage' in texts[0], texts
    # The verdict is A's own probes': no DANE here, so no-tlsa.
    assert res['verdict'] == 'no-tlsa', res['verdict']


def t_no_split(w):
    res = w.check()
    keys = {p['spki_sha256'] for p in probes(res)}
    assert keys == {w.info['keys']['good']['spki_sha256']}, probes(res)
    assert not splits(res), res['warnings']
    assert all(p['error'] is None for p in remote(res, w.xb['component']))


def t_limits(w):
    """B over its probes_per_minute: resource-constraint at once."""
    w.start_b(w.xa['component'], '\n[limits]\nprobes_per_minute = 1\n')
    res = w.check('good.test')      # four endpoints: four requests at once
    rem = remote(res, w.xb['component'])
    refused = [p for p in rem if p['error'] and 'resource-constraint' in p['error']['reason']]
    made = [p for p in rem if p['error'] is None]
    assert len(rem) == 4 and len(refused) == 3 and len(made) == 1, rem
    assert res['verdict'] == 'ok', res['verdict']
    w.start_b(w.xa['component'])


def t_remote_down(w):
    w.stop_b()
    t0 = time.monotonic()
    res = w.check()
    for p in remote(res, w.xb['component']):
        assert p['error']['step'] == 'vantage', p
    assert not res.get('warnings'), res.get('warnings')
    assert res['verdict'] == 'no-tlsa', res['verdict']
    # The endpoints are A's own: no failure a watcher could count.
    assert all(e['error'] is None for e in res['endpoints']), res['endpoints']
    assert time.monotonic() - t0 < 2 * TIMEOUT + 20


def t_cli(w):
    """certwatch check has no XMPP link: the vantage is skipped, said."""
    p = subprocess.run([w.binary, 'check', '-c', w.aconf, '--json', DOMAIN],
                       capture_output=True, text=True, timeout=120)
    assert ('vantage xmpp:%s skipped: certwatch check has no XMPP link'
            % w.xb['component']) in p.stderr, p.stderr
    res = json.loads(p.stdout)
    assert {q['vantage'] for q in probes(res)} == {'direct'}, probes(res)


def fake(w, mode):
    log = os.path.join(w.tmp, 'fake-%s.log' % mode)
    mitm_cert = w.info['keys']['mitm']['cert']
    p = subprocess.Popen([sys.executable, __file__, '--fake', mode, w.xb['component'],
                          w.xb['secret'], w.xb['host'], str(w.xb['component_port']),
                          mitm_cert], stdout=open(log, 'w'), stderr=subprocess.STDOUT)
    try:
        wait_log(log, 'online')
        res = w.check()
        wait_log(log, 'answered', 2 * TIMEOUT + 10)
        time.sleep(1)       # a late answer arrives after the time-out
        assert w.a.proc.poll() is None, 'A died'
        return res
    finally:
        terminate(p, 5)


def t_fake(w, mode, words):
    w.stop_b()
    res = fake(w, mode)
    for p in remote(res, w.xb['component']):
        assert p['error']['step'] == 'vantage', p
        assert words in p['error']['reason'], p
    assert not splits(res), res['warnings']
    assert res['verdict'] == 'no-tlsa'


def t_lie(w):
    w.stop_b()
    res = fake(w, 'lie')
    texts = splits(res)
    assert len(texts) == 1 and 'seen only through the remote vantage' in texts[0], texts
    assert res['verdict'] == 'no-tlsa', res['verdict']


async def watch_phases(w):
    """A watches vantage.test; B goes away (no alert: a remote vantage
    never decides), then A alone is intercepted while B answers: A's own
    probes all moved to the MITM's key, which is the info `new key on
    every endpoint` (a remote holds no alert back), with a line naming
    B, which still shows the real key; never an alarm."""
    ch = Chat(w.xa, w.xa['component'])
    await asyncio.wait_for(ch.up.wait(), 20)
    good, mitm = w.info['targets']['good'], w.info['targets']['mitm']
    try:
        await ch.ask('subscribe ' + DOMAIN, r'^Subscribed to ')
        await ch.ask('status ' + DOMAIN, DOMAIN)
        got = await ch.quiet(2 * ROUND + 3)        # two rounds, B up
        w.stop_b()
        got += await ch.quiet(2 * ROUND + 2 * 2 * TIMEOUT)   # B gone
        w.start_b(w.xa['component'])
        dnat('-I', good, mitm)
        try:
            got += await ch.quiet(2 * ROUND + 3)    # A alone intercepted
        finally:
            dnat('-D', good, mitm)
        st = await ch.ask('stats', r'alerts: ')
        await ch.ask('unsubscribe all', r'^Unsubscribed')
    finally:
        ch.c.disconnect()
    m = re.search(r'rounds: (\d+); alerts: (\d+) alarm, (\d+) removed, (\d+) down, '
                  r'(\d+) recovered, (\d+) info', st)
    assert m, st
    rounds, alerts = int(m[1]), [int(x) for x in m.groups()[1:]]
    return rounds, alerts, got


def alerts_in(bodies):
    """The alert messages among what the bot sent (report_alert.c's
    openings; a first check's report is none)."""
    return [b for b in bodies if not b.startswith('First check of ') and
            re.search(r'^(ALARM: |\S+ changed: |\S+ is down|\S+ recovered)|fails at', b)]


async def watch_lie(w):
    ch = Chat(w.xa, w.xa['component'])
    await asyncio.wait_for(ch.up.wait(), 20)
    try:
        first = await ch.ask('subscribe good.test', r'^First check of good\.test')
        got = await ch.quiet(2 * ROUND + 3)
        st = await ch.ask('stats', r'alerts: ')
        await ch.ask('unsubscribe all', r'^Unsubscribed')
    finally:
        ch.c.disconnect()
    return first, got, st


def t_watch_lie(w):
    """good.test has DANE; the fake B answers every probe with the MITM's
    certificate: its probes are mismatch, the verdict stays A's own (ok),
    and watching it raises no alarm."""
    w.stop_b()
    log = os.path.join(w.tmp, 'fake-watch.log')
    p = subprocess.Popen([sys.executable, __file__, '--fake', 'lie', w.xb['component'],
                          w.xb['secret'], w.xb['host'], str(w.xb['component_port']),
                          w.info['keys']['mitm']['cert']],
                         stdout=open(log, 'w'), stderr=subprocess.STDOUT)
    try:
        wait_log(log, 'online')
        res = w.check('good.test')
        assert res['verdict'] == 'ok', res['verdict']
        rem = remote(res, w.xb['component'])
        assert rem and all(q['verdict'] == 'mismatch' for q in rem), rem
        assert all(e['verdict'] == 'ok' for e in res['endpoints'])
        first, got, st = asyncio.run(watch_lie(w))
    finally:
        terminate(p, 5)
    assert 'good.test: ok' in first, first
    assert re.search(r'alerts: 0 alarm, 0 removed, 0 down, 0 recovered, 0 info', st), st
    assert not alerts_in(got), got


def t_watch(w):
    w.start_b(w.xa['component'])
    w.restart_a()
    rounds, alerts, got = asyncio.run(watch_phases(w))
    assert rounds >= 6, 'only %d rounds' % rounds
    assert alerts == [0, 0, 0, 0, 1], (alerts, got)
    assert not alerts_in(got), got
    mitm = w.info['keys']['mitm']['spki_sha256']
    info = [b for b in got if 'new key on every endpoint' in b]
    assert len(info) == 1 and mitm in info[0], (info, got)
    assert ('Still another key through the remote vantage xmpp:%s: '
            % w.xb['component']) in info[0], info[0]


def main():
    if len(sys.argv) > 2 and sys.argv[1] == '--fake':
        mode, jid, secret, host, port, cert = sys.argv[2:8]
        import lab as labmod  # noqa: E402 - tests/lab/lab.py
        return fake_main(mode, jid, secret, host, int(port), labmod.pem_der(cert))
    binary = sys.argv[1] if len(sys.argv) > 1 else os.environ['CERTWATCH_BIN']
    logging.basicConfig(level=logging.CRITICAL)
    r = Runner()
    tmp = tempfile.mkdtemp(prefix='cw-vantage-')
    with lab() as info:
        w = World(binary, info, tmp)
        try:
            if os.environ.get('VANTAGE_ONLY'):
                r.run('only', globals()[os.environ['VANTAGE_ONLY']], w)
                return r.finish()
            r.run('a JID not allowed: forbidden, unreachable at step vantage',
                  t_forbidden, w)
            r.run('disco#info names %s' % NS, t_disco, w)
            r.run('only A intercepted: key-split naming the remote vantage', t_split, w)
            r.run('interception stopped: no split', t_no_split, w)
            r.run('remote over its limits: resource-constraint', t_limits, w)
            r.run('watched: remote stopped: no alert; A alone intercepted: the info naming B, no alarm',
                  t_watch, w)
            r.run('remote stopped: unreachable at step vantage, no warning',
                  t_remote_down, w)
            r.run('certwatch check skips the xmpp: vantage with a note', t_cli, w)
            r.run('malformed answer: unreachable', t_fake, w, 'malformed',
                  'malformed answer')
            r.run('huge answer: bounded, unreachable', t_fake, w, 'huge',
                  'over the bound')
            r.run('late answer: unreachable after 2 x timeout', t_fake, w, 'late',
                  'did not answer')
            r.run("the remote's Tor failed: step vantage, not tor", t_fake, w,
                  'failtor', 'its Tor failed: SOCKS5 proxy refused')
            r.run('a lying remote: a warning naming it, no more', t_lie, w)
            r.run('a lying remote on a DANE domain: its probes mismatch, '
                  'the verdict ok, no alarm while watched', t_watch_lie, w)
        finally:
            w.close()
    code = r.finish()
    if code == 0:
        shutil.rmtree(tmp, ignore_errors=True)
    return code


if __name__ == '__main__':
    sys.exit(main())
