#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The web face of `certwatch run` against the lab: the check form in a
real browser (Debian's chromium, headless, JavaScript off, driven by
python3-selenium), the report pages of the good and MITM domains, the
page that reloads itself while a slow check runs, /d/DOMAIN from a filled
state directory, /api/check against `certwatch check --json`, /metrics
through promtool, and the hostile cases: escaping, a 64 KB domain,
methods, the per-client rate limit (X-Forwarded-For from a trusted proxy
only), 404, 503 when probing is saturated, the connection cap.

usage: test_web.py CERTWATCH_BIN WEB_FILL_STORE_BIN
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

from cwtest import Runner, check_json, lab, write_config

BIN = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('CERTWATCH_BIN')
FILL = sys.argv[2] if len(sys.argv) > 2 else None
CSP_NEEDED = ["default-src 'none'", "style-src 'self'", "img-src 'self'",
              "form-action 'self'"]
RATE = 5    # [http] checks_per_minute in this test


def free_port(host='127.0.0.1'):
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def log_dir():
    """The meson log directory when run by meson, else a temp dir."""
    for d in (os.environ.get('CERTWATCH_WEB_SHOTS'), 'meson-logs',
              os.path.join('..', 'meson-logs')):
        if d and os.path.isdir(d):
            return os.path.abspath(d)
    return tempfile.mkdtemp(prefix='certwatch-web-shots.')


class Daemon:
    def __init__(self, conf, port, logpath):
        self.conf, self.port, self.logpath = conf, port, logpath
        self.proc = None

    def start(self):
        self.log = open(self.logpath, 'a', encoding='utf-8')
        self.proc = subprocess.Popen([BIN, 'run', '-c', self.conf],
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f'certwatch exited {self.proc.returncode}'
                                     f': {open(self.logpath).read()[-2000:]}')
            try:
                if req('GET', '/', port=self.port, timeout=2)[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError('the web server did not answer')

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


PORT = None


def req(method, path, headers=None, port=None, source=None, timeout=60,
        body=None):
    """(status, {lower-case header: value}, body bytes)."""
    c = http.client.HTTPConnection(
        '127.0.0.1', port or PORT, timeout=timeout,
        source_address=(source, 0) if source else None)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


_xff = [0]


def fresh_client():
    """A new client address behind the trusted proxy (127.0.0.1), so each
    test has its own rate-limit bucket."""
    _xff[0] += 1
    return {'X-Forwarded-For': f'203.0.113.{_xff[0]}'}


def api(domain, headers=None):
    st, h, body = req('GET', '/api/check?domain=' +
                      urllib.parse.quote(domain, safe=''),
                      headers if headers is not None else fresh_client())
    return st, h, json.loads(body) if body else None


def metrics():
    st, h, body = req('GET', '/metrics')
    assert st == 200 and h['content-type'].startswith('text/plain'), (st, h)
    return body.decode()


def metric(text, name):
    m = re.search('^' + re.escape(name) + r' (\S+)$', text, re.M)
    assert m, f'{name} not in /metrics'
    return float(m.group(1))


def normalise(res):
    res = dict(res)
    for k in ('started', 'elapsed_ms', 'probes'):
        res.pop(k, None)
    res['endpoints'] = sorted(res['endpoints'], key=lambda e: (
        e['service'], e['host'], e['port']))
    return res


# ---- the tests ------------------------------------------------------------

def t_index_and_headers(info):
    st, h, body = req('GET', '/')
    assert st == 200, st
    page = body.decode()
    for d in CSP_NEEDED:
        assert d in h['content-security-policy'], h
    assert h['x-content-type-options'] == 'nosniff', h
    assert '<script' not in page and 'style=' not in page
    assert '<form action="/check" method="get">' in page, page
    assert 'name="domain"' in page
    st, h, css = req('GET', '/style.css')
    assert st == 200 and h['content-type'].startswith('text/css'), h
    assert b'@media' in css
    st, h, body = req('HEAD', '/')
    assert st == 200 and body == b'', (st, body)


def t_browser(info, shots):
    """The form in headless chromium with JavaScript switched off."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    profile = tempfile.mkdtemp(prefix='certwatch-chromium.')
    opts = webdriver.ChromeOptions()
    opts.binary_location = '/usr/bin/chromium'
    for a in ('--headless', '--no-sandbox', '--disable-gpu',
              '--disable-background-networking', '--disable-component-update',
              '--disable-sync', '--no-first-run', '--disable-dev-shm-usage',
              f'--user-data-dir={profile}', '--window-size=1200,1800'):
        opts.add_argument(a)
    opts.add_experimental_option(
        'prefs', {'profile.managed_default_content_settings.javascript': 2})
    drv = webdriver.Chrome(service=Service('/usr/bin/chromedriver'),
                           options=opts)
    comp = info['xmpp']['prosody']['component']
    base = f'http://127.0.0.1:{PORT}'
    try:
        def submit(domain):
            drv.get(base + '/')
            box = drv.find_element(By.ID, 'domain')
            box.clear()
            box.send_keys(domain)
            drv.find_element(By.CSS_SELECTOR, 'button[type=submit]').click()

        def result(timeout=40):
            WebDriverWait(drv, timeout, 0.2).until(
                lambda d: d.find_elements(By.ID, 'verdict'))
            return drv.find_element(By.ID, 'verdict').text.strip()

        good = info['keys']['good']['spki_sha256']
        mitm = info['keys']['mitm']['spki_sha256']
        for domain, want, key, other in (('good.test', 'ok', good, None),
                                         ('mitm.test', 'mismatch', mitm,
                                          good)):
            submit(domain)
            assert result() == want, (domain, drv.page_source[:2000])
            assert drv.current_url.endswith('/check?domain=' + domain), \
                drv.current_url
            src = drv.page_source
            assert key in src, f'{domain}: key seen not shown'
            if other:
                assert other in src, f'{domain}: expected key not shown'
            rows = drv.find_elements(By.CSS_SELECTOR, 'tr.endpoint')
            assert len(rows) == 4, len(rows)
            chat = drv.find_element(By.CSS_SELECTOR, 'a.subscribe-chat')
            assert chat.get_attribute('href') == \
                f'xmpp:{comp}?message;body=subscribe%20{domain}', \
                chat.get_attribute('href')
            pubsub = drv.find_element(By.CSS_SELECTOR, 'a.subscribe-pubsub')
            assert pubsub.get_attribute('href') == \
                f'xmpp:{comp}?pubsub;action=subscribe;node={domain}'
            assert drv.find_element(By.ID, 'advice').text
            drv.save_screenshot(os.path.join(shots, f'web-{domain}.png'))

        # A slow check (the server stalls until [probe] timeout): the page
        # says it is checking, reloads itself, and ends on the result.
        submit('stall.test')
        WebDriverWait(drv, 10, 0.1).until(
            lambda d: d.find_elements(By.ID, 'checking')
            or d.find_elements(By.ID, 'verdict'))
        assert drv.find_elements(By.ID, 'checking'), 'no checking page'
        assert 'http-equiv="refresh"' in drv.page_source
        drv.save_screenshot(os.path.join(shots, 'web-checking.png'))
        assert result(40) == 'unreachable'

        # The same result on a phone-sized window.
        drv.set_window_size(390, 2400)
        drv.get(base + '/check?domain=mitm.test')
        assert result() == 'mismatch'
        drv.save_screenshot(os.path.join(shots, 'web-mitm.test-phone.png'))
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


def t_api_equals_cli(info, conf):
    for domain in ('good.test', 'mitm.test', 'notlsa.test', 'bogus.test'):
        st, h, web = api(domain)
        assert st == 200, (domain, st, web)
        assert h['content-type'] == 'application/json', h
        _, cli, _ = check_json(BIN, conf, domain)
        assert normalise(web) == normalise(cli), \
            f'{domain}:\nweb {normalise(web)}\ncli {normalise(cli)}'
    st, _, res = api('<script>')
    assert st == 400 and res['verdict'] is None, (st, res)
    assert res['error']['step'] == 'input', res
    st, _, res = api('')
    assert st == 400 and res['error']['step'] == 'input', (st, res)


def t_api_joins(info):
    """Two requests for one domain at once run one check."""
    before = metric(metrics(), 'certwatch_http_checks_started_total')
    out = []
    ts = [threading.Thread(target=lambda: out.append(api('sel0.test')))
          for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert [o[0] for o in out] == [200] * 3, out
    assert out[0][2] == out[1][2] == out[2][2]
    assert out[0][2]['verdict'] == 'ok'
    after = metric(metrics(), 'certwatch_http_checks_started_total')
    assert after == before + 1, (before, after)


def t_metrics(info):
    m1 = metrics()
    p = subprocess.run(['promtool', 'check', 'metrics'], input=m1,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    st, _, res = api('rollover.test')
    assert st == 200 and res['verdict'] == 'ok', res
    st, _, res = api('notls.test')
    assert st == 200 and res['verdict'] == 'mismatch', res
    m2 = metrics()
    p = subprocess.run(['promtool', 'check', 'metrics'], input=m2,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr

    def d(name):
        return metric(m2, name) - metric(m1, name)
    assert d('certwatch_checks_total{verdict="ok"}') == 1
    assert d('certwatch_checks_total{verdict="mismatch"}') == 1
    assert d('certwatch_probes_total{result="ok"}') >= 4
    assert d('certwatch_probe_duration_seconds_count') >= 6
    assert d('certwatch_probe_duration_seconds_sum') > 0
    assert d('certwatch_http_checks_started_total') == 2
    assert d('certwatch_http_requests_total{code="200"}') >= 3
    for name in ('certwatch_watched_domains', 'certwatch_subscribers',
                 'certwatch_pubsub_subscriptions', 'certwatch_probes_in_flight',
                 'certwatch_build_info{version="%s"}' % version()):
        metric(m2, name)
    assert metric(m2, 'certwatch_watched_domains') == 21   # filled store
    assert 'certwatch_alerts_total{kind="alarm"}' in m2


def version():
    return subprocess.run([BIN, '--version'], capture_output=True,
                          text=True).stdout.split()[-1]


def t_status_pages(info):
    st, _, body = req('GET', '/d/d00003.example')
    page = body.decode()
    assert st == 200, (st, page[:500])
    assert 'id="keys"' in page and 'id="history"' in page, page
    assert 'xmpp.d00003.example:5222' in page
    assert 'subscribe%20d00003.example' in page
    # The checklist from the stored defences (web_fill_store's line).
    assert ('<li class="ok">CAA bound to your ACME account: <b>bound</b>'
            '</li>') in page, page
    assert '<li class="ok">Channel binding: <b>offered</b></li>' in page
    # Any case and a final dot lead to the same page.
    assert req('GET', '/d/D00003.Example.')[0] == 200
    st, _, body = req('GET', '/d/good.test')
    assert st == 404 and b'is not watched' in body, (st, body[:300])
    st, _, body = req('GET', '/no/such/page')
    assert st == 404 and b'Not found' in body
    st, _, body = req('GET', '/d/%3Cscript%3E.test')
    assert st == 400 and b'<script' not in body


def t_escaping(info):
    # Stored strings (a remote error, a history note) with markup.
    st, _, body = req('GET', '/d/evil.test')
    page = body.decode()
    assert st == 200, st
    assert '<script' not in page and '<img' not in page, page
    assert '&lt;script&gt;alert(&#39;error&#39;)' in page, page
    assert '&lt;script&gt;alert(&#39;note&#39;)' in page
    # What a stranger types.
    for q in ('<script>alert(1)</script>', '"><script>x</script>',
              "good.test'onmouseover=alert(1)"):
        st, _, body = req('GET', '/check?domain=' +
                          urllib.parse.quote(q, safe=''), fresh_client())
        assert st == 400, (q, st)
        assert b'<script' not in body and b"'onmouseover" not in body, body
    # A stream error from a remote server, shown in the report.
    st, _, body = req('GET', '/check?domain=streamerr.test', fresh_client())
    while b'id="checking"' in body:
        time.sleep(0.5)
        st, _, body = req('GET', '/check?domain=streamerr.test')
    assert st == 200 and b'unreachable' in body, body[:500]
    assert b'host-unknown' in body, body


def t_big_input(info):
    big = 'a' * 65536 + '.test'
    st, _, body = req('GET', '/check?domain=' + big)
    assert st in (400, 413, 414, 431), st
    assert len(body) < 4096 and big.encode() not in body
    st, _, body = req('GET', '/api/check?domain=' + 'b' * 2000 + '.test',
                      fresh_client())
    assert st == 400, st
    assert json.loads(body)['error']['step'] == 'input'
    st, _, body = req('GET', '/check?domain=' + 'c' * 2000 + '.test',
                      fresh_client())
    assert st == 400 and b'c' * 300 not in body, st
    # Headers beyond the bound, and a body on a GET.
    st, _, _ = req('GET', '/', {'X-Junk': 'x' * 20000})
    assert st in (400, 413, 431), st
    st, _, _ = req('GET', '/', body=b'x' * 70000)
    assert st in (400, 413), st
    assert req('GET', '/')[0] == 200   # still serving


def t_methods(info):
    for m in ('POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE'):
        st, h, body = req(m, '/check?domain=good.test', body=b'')
        assert st == 405, (m, st)
        assert h.get('allow') == 'GET, HEAD', h
    st, _, _ = req('POST', '/api/check?domain=good.test', body=b'x')
    assert st == 405


def t_rate_limit(info):
    who = {'X-Forwarded-For': '198.51.100.77'}
    for i in range(RATE):
        st, _, res = api(f'rl{i}.test', who)
        assert st == 200 and res['verdict'] == 'unreachable', (i, st, res)
    st, h, res = api(f'rl{RATE}.test', who)
    assert st == 429, st
    assert int(h['retry-after']) >= 1, h
    assert res['error'] == 'rate limit', res
    st, _, body = req('GET', f'/check?domain=rl{RATE}.test', who)
    assert st == 429 and b'Too many checks' in body, (st, body[:300])
    # A result already there costs nothing: it is shown.
    assert api('rl0.test', who)[0] == 200
    # Another client behind the proxy is not limited.
    assert api(f'rl{RATE}.test', {'X-Forwarded-For': '198.51.100.78'})[0] \
        == 200
    # From a peer that is not a trusted proxy, the header is ignored: all
    # these count against 127.0.0.2.
    codes = []
    for i in range(RATE + 1):
        st, _, _ = req('GET', f'/api/check?domain=rx{i}.test',
                       {'X-Forwarded-For': f'192.0.2.{i}'},
                       source='127.0.0.2')
        codes.append(st)
    assert codes == [200] * RATE + [429], codes


def t_saturated(info):
    """503 once more probes wait than the bound (4 x concurrency, at
    least 8): stall.test holds both slots ([probe] concurrency = 2) for
    the probe timeout while three more checks queue 12 probes."""
    out = {}

    def bg(domain):
        out[domain] = api(domain)
    ts = [threading.Thread(target=bg, args=(d,)) for d in
          ('stall.test', 'ta.test', 'notlsa.test', 'unsigned.test')]
    ts[0].start()
    wait_for('stall.test never held both probe slots',
             lambda: metric(metrics(), 'certwatch_probes_in_flight') >= 2, 10)
    for t in ts[1:]:
        t.start()
    wait_for('probes never queued',
             lambda: metric(metrics(), 'certwatch_probes_queued') > 8, 10)
    st, h, res = api('nosrv.test')
    assert st == 503 and res['error'].startswith('busy'), (st, res)
    assert h['retry-after'] == '30'
    st, _, body = req('GET', '/check?domain=nosrv.test', fresh_client())
    assert st == 503 and b'Busy' in body, st
    for t in ts:
        t.join(60)
    assert out['stall.test'][2]['verdict'] == 'unreachable', out
    assert out['ta.test'][2]['verdict'] == 'ok', out


def tcp_table(port):
    """(inodes of the sockets connected to local `port`, the listening
    socket's accept queue) from /proc/net/tcp{,6}."""
    conns, backlog = set(), None
    for name in ('/proc/net/tcp', '/proc/net/tcp6'):
        with open(name, encoding='ascii') as f:
            for row in f.read().splitlines()[1:]:
                col = row.split()
                if int(col[1].rsplit(':', 1)[1], 16) != port:
                    continue
                if col[3] == '0A':          # LISTEN: rx_queue = backlog
                    backlog = int(col[4].split(':')[1], 16)
                elif col[3] == '01':        # ESTABLISHED
                    conns.add(int(col[9]))
    return conns, backlog


def accepted(pid, port):
    """How many connections to `port` process `pid` has accepted (holds
    an fd of), and how many wait in its listening socket's backlog."""
    mine = set()
    for fd in os.listdir(f'/proc/{pid}/fd'):
        try:
            link = os.readlink(f'/proc/{pid}/fd/{fd}')
        except OSError:
            continue
        if link.startswith('socket:['):
            mine.add(int(link[8:-1]))
    conns, backlog = tcp_table(port)
    return len(conns & mine), backlog


def wait_for(what, cond, timeout=30):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, what
        time.sleep(0.05)


def t_connection_cap(info, d):
    """WEB_MAX_CONNECTIONS (512) open at once: the daemon holds exactly 512
    (counted in /proc, its fds against the port's connections); 10 more
    wait in the listening socket's backlog, unserved, while a request on
    a held connection is answered; once 50 close, the 10 are served."""
    pid = d.proc.pid
    idle = [socket.create_connection(('127.0.0.1', PORT), timeout=5)
            for _ in range(512)]
    wait_for('the daemon never held 512 connections',
             lambda: accepted(pid, PORT)[0] == 512)
    extra = []
    for _ in range(10):
        c = socket.create_connection(('127.0.0.1', PORT), timeout=5)
        c.sendall(b'GET /style.css HTTP/1.0\r\n\r\n')
        extra.append(c)
    wait_for('the 10 more never reached the backlog',
             lambda: accepted(pid, PORT)[1] == 10)
    # A fence: a request on a held connection is answered, so the daemon's
    # loop has run since the 10 arrived, and it did not accept them.
    idle[0].sendall(b'GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n')
    assert idle[0].recv(100).startswith(b'HTTP/1.1 200')
    held, backlog = accepted(pid, PORT)
    assert (held, backlog) == (512, 10), (held, backlog)
    for c in extra:
        c.setblocking(False)
        try:
            data = c.recv(100)
        except BlockingIOError:
            data = None
        assert data is None, data   # not served, and not closed
        c.settimeout(30)
    for s in idle[:50]:
        s.close()
    for c in extra:
        data = c.recv(100)
        assert data.startswith((b'HTTP/1.1 200', b'HTTP/1.0 200')), data
        c.close()
    for s in idle[50:]:
        s.close()
    wait_for('connections not released',
             lambda: metric(metrics(), 'certwatch_http_connections') <= 2,
             10)


def t_clean_log(path):
    with open(path, encoding='utf-8', errors='replace') as f:
        text = f.read()
    for bad in ('AddressSanitizer', 'LeakSanitizer', 'runtime error:'):
        assert bad not in text, text[text.index(bad) - 200:][:3000]


def main():
    global PORT
    if not BIN or not FILL:
        print('usage: test_web.py CERTWATCH_BIN WEB_FILL_STORE_BIN')
        return 2
    r = Runner()
    shots = log_dir()
    with lab() as info:
        tmp = tempfile.mkdtemp(prefix='certwatch-web.')
        store = os.path.join(tmp, 'store')
        p = subprocess.run([FILL, store, '20', '--hostile'],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        PORT = free_port()
        xp = info['xmpp']['prosody']
        conf = write_config(
            info, os.path.join(tmp, 'certwatch.ini'),
            component={'jid': xp['component'], 'host': xp['host'],
                       'port': str(xp['component_port']),
                       'secret': xp['secret']},
            probe={'via': 'direct', 'timeout': '3', 'allow_private': 'yes',
                   'concurrency': '2'},
            watch={'interval': '86400'},
            store={'dir': store},
            http={'listen': f'127.0.0.1:{PORT}',
                  'checks_per_minute': str(RATE),
                  'trusted_proxies': '127.0.0.1'})
        d = Daemon(conf, PORT, os.path.join(tmp, 'certwatch.log'))
        try:
            d.start()
            r.run('index and headers', t_index_and_headers, info)
            r.run('browser: form, good and MITM reports, refresh page',
                  t_browser, info, shots)
            r.run('api equals check --json', t_api_equals_cli, info, conf)
            r.run('api joins one check', t_api_joins, info)
            r.run('metrics: promtool, counters move', t_metrics, info)
            r.run('status pages and 404', t_status_pages, info)
            r.run('escaping', t_escaping, info)
            r.run('big input', t_big_input, info)
            r.run('methods: 405', t_methods, info)
            r.run('rate limit: 429, trusted proxies', t_rate_limit, info)
            # A fresh daemon: no result of the tests above in its cache.
            d.stop()
            d.start()
            r.run('saturated: 503', t_saturated, info)
            r.run('connection cap', t_connection_cap, info, d)
        finally:
            d.stop()
            # A sanitizer build reports into the daemon's log.
            r.run('no sanitizer report', t_clean_log, d.logpath)
            if r.failed:
                print(open(d.logpath, encoding='utf-8').read()[-4000:])
            print(f'screenshots in {shots}')
            shutil.rmtree(tmp, ignore_errors=True)
    return r.finish()


if __name__ == '__main__':
    sys.exit(main())
