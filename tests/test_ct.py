#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_ct.py - Certificate Transparency end to end (docs/ct.md): the real
certspotter (Debian's) reads the lab's CT log (tests/lab/ctlog.py, RFC
6962 over HTTPS with the lab CA) under a running `certwatch run` with the
lab's Prosody, and a slixmpp subscriber reads the alerts:

  - good.test, a certificate with its real key: known, no alert;
  - rollover.test (publishes a next key ahead), one with the impostor's
    (mitm) key: the alarm, by chat and by pubsub, exactly once;
  - notlsa.test (no DANE), a precertificate and its certificate: one
    event, an info;
  - the hook alone: events spooled while the daemon is stopped are
    alerted after its start, once; the daemon killed (-9) after recording
    or after sending, before removing the spool file, alerts once; no
    CERT_FILENAME or a file that is no certificate: exit 0, judged
    malformed, no alert; an unwritable spool: non-zero; EVENT=error:
    exit 0 and a log line.

Usage: test_ct.py [CERTWATCH_BIN]; reuses $CERTWATCH_LAB or starts a lab.
Needs root (the lab).  Prints one line per check, "N passed, N failed".
"""
import asyncio
import base64
import json
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "lab"))
from cwtest import write_config, free_port  # noqa: E402
from lab import Lab  # noqa: E402
import ctlog  # noqa: E402
from test_watch import connect, wait_bot, pubsub_iq, stats  # noqa: E402
from slixmpp.xmlstream import ET  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                      os.environ.get("CERTWATCH_BIN", "build/component/certwatch"))
WRAPPER_IN = os.path.join(HERE, "..", "contrib", "certwatch-ct-hook.in")
results = []


def record(name, ok, detail=""):
    results.append(bool(ok))
    print("%s %s%s" % ("ok  " if ok else "FAIL", name,
                       (" - " + str(detail)[:1500]) if detail else ""), flush=True)


class Daemon:
    def __init__(self, info, wdir, log):
        x = info["xmpp"]["prosody"]
        self.comp = x["component"]
        self.wdir = wdir
        os.makedirs(wdir, exist_ok=True)
        self.store = os.path.join(wdir, "store")
        self.log_path = os.path.join(wdir, "certwatch.log")
        self.http = "127.0.0.1:%d" % free_port()
        wrapper = os.path.join(wdir, "certwatch-ct-hook")
        with open(WRAPPER_IN) as f:
            text = f.read().replace("@BINDIR@", os.path.dirname(BIN))
        with open(wrapper, "w") as f:
            f.write(text)
        os.chmod(wrapper, 0o755)
        self.env = dict(os.environ, SSL_CERT_FILE=info["keys"]["ca"]["cert"],
                        CERTWATCH_CT_HOOK=wrapper)
        self.conf = write_config(
            info, os.path.join(wdir, "certwatch.ini"),
            component={"jid": x["component"], "host": x["host"],
                       "port": x["component_port"], "secret": x["secret"],
                       "admins": x["users"][23]["jid"]},
            probe={"timeout": "5"}, store={"dir": self.store},
            log={"level": "debug"}, watch={"interval": "86400", "jitter": "0"},
            http={"listen": self.http},
            ct={"certspotter": "/usr/bin/certspotter", "logs": log})
        self.p = None

    def start(self, **env):
        with open(self.log_path, "ab") as lg:
            self.p = subprocess.Popen([BIN, "run", "-c", self.conf], stdout=lg,
                                      stderr=subprocess.STDOUT,
                                      env=dict(self.env, **env))

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def certspotter_pid(self):
        out = subprocess.run(["pgrep", "-P", str(self.p.pid), "certspotter"],
                             capture_output=True, text=True).stdout.split()
        return int(out[0]) if out else None

    def hook(self, env, conf=None):
        """`certwatch ct-hook` as certspotter runs it."""
        return subprocess.run([BIN, "ct-hook", "-c", conf or self.conf],
                              env=dict(os.environ, **env), capture_output=True,
                              text=True, timeout=30)

    def spool(self):
        d = os.path.join(self.store, "ct", "spool")
        return sorted(f for f in os.listdir(d) if f.endswith(".ct")) \
            if os.path.isdir(d) else []


def key_of(info, name):
    with open(info["keys"][name]["key"], "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


async def quiet(c, secs):
    """The chat messages c gets within secs."""
    await asyncio.sleep(secs)
    return [m for m in c.drain(c.msgs)]


async def wait_for(pred, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        await asyncio.sleep(0.2)
    return False


def ct_count(d, judged):
    import urllib.request
    with urllib.request.urlopen("http://%s/metrics" % d.http, timeout=5) as r:
        text = r.read().decode()
    m = re.search(r'^certwatch_ct_events_total\{judged="%s"\} (\d+)' % judged,
                  text, re.M)
    return int(m[1]) if m else 0


async def certspotter_round(d):
    """certspotter looks at a log every 5 minutes, and at start: killed,
    it is started again after 1 s and reads the new entries."""
    pid = d.certspotter_pid()
    if pid:
        os.kill(pid, signal.SIGKILL)
    await wait_for(lambda: d.certspotter_pid() not in (None, pid), 20)


async def real_certspotter(info, srv, d, c):
    good, mitm = key_of(info, "good"), key_of(info, "mitm")
    # certspotter started at the end of the log: wait for its state.
    ok = await wait_for(lambda: os.path.isdir(os.path.join(
        d.store, "ct", "certspotter", "logs")), 30)
    record("certspotter started on the lab log", ok)
    await asyncio.sleep(2)
    rounds0 = (await stats(c))["rounds"]
    c.drain()
    srv.log.add_cert(srv.issue(good, ["good.test", "xmpp.good.test"]))
    srv.log.add_cert(srv.issue(mitm, ["rollover.test", "xmpp.rollover.test"]))
    # good.test publishes no key ahead: a new key is likely its renewal.
    renewal = ec.generate_private_key(ec.SECP256R1())
    srv.log.add_cert(srv.issue(renewal, ["xmpp.good.test"]))
    # ta.test's `2 0 1` names the lab CA, in the logged chain: known.
    ta_key = ec.generate_private_key(ec.SECP256R1())
    srv.log.add_cert(srv.issue(ta_key, ["ta.test"]))
    fresh = ec.generate_private_key(ec.SECP256R1())
    srv.log.add_cert(srv.issue(fresh, ["notlsa.test"], precert=True,
                               serial=4242), precert=True)
    srv.log.add_cert(srv.issue(fresh, ["notlsa.test"], serial=4242))
    c.drain()
    await certspotter_round(d)
    try:
        alarm = await c.body(40, match=r"rollover\.test")
    except asyncio.TimeoutError:
        alarm = ""
    record("impostor's key on rollover.test: ALARM by chat",
           alarm.startswith("ALARM: rollover.test: a certificate for "
                            "rollover.test was issued with a key its TLSA "
                            "records do not allow"), alarm[:300])
    ev = None
    end = time.monotonic() + 10
    while time.monotonic() < end and ev is None:
        try:
            e = await asyncio.wait_for(c.events.get(), end - time.monotonic())
        except asyncio.TimeoutError:
            break
        if "ALARM: rollover.test" in ET.tostring(e, encoding="unicode"):
            ev = e
    record("... and by pubsub", ev is not None)
    rest = await quiet(c, 6)
    rest += [alarm] if alarm else []
    news = [m for m in rest if m.startswith("notlsa.test: a new certificate")]
    record("precertificate and certificate on notlsa.test: one info",
           len(news) == 1, rest)
    good_spki = info["keys"]["good"]["spki_sha256"]
    record("good.test with its real key: no alert",
           not [m for m in rest if good_spki in m], rest)
    renew = [m for m in rest if "good.test" in m]
    record("good.test, a new key on a domain that publishes none ahead: "
           "info, not alarm",
           len(renew) == 1 and renew[0].startswith(
               "good.test: a certificate for xmpp.good.test was issued") and
           "Not an alarm" in renew[0], rest)
    record("one alarm only",
           len([m for m in rest if m.startswith("ALARM")]) == 1, rest)
    record("ta.test, a new key under its DANE-TA anchor: no alert",
           not [m for m in rest if "ta.test" in m], rest)
    # unpublished on rollover.test and good.test: each checked at once.
    ok = False
    for _ in range(30):
        rounds = (await stats(c))["rounds"]
        if rounds >= rounds0 + 2:
            ok = True
            break
        await asyncio.sleep(1)
    record("an unpublished certificate: its domain checked at once", ok,
           (rounds0, rounds))
    st = await c.ask("status ta.test", match=r"^ta\.test: ")
    record("status ta.test: known by its trust anchor",
           re.search(r"ta\.test known, key ", st), st[-400:])
    st = await c.ask("status good.test", match=r"^good\.test: ")
    record("status good.test shows the certificate known",
           re.search(r"good\.test known, key ", st), st[-500:])
    record("metrics: certwatch_ct_events_total by judgement",
           ct_count(d, "known") >= 2 and ct_count(d, "unpublished") >= 2 and
           ct_count(d, "new") == 1,
           [ct_count(d, j) for j in ("known", "unpublished", "new", "malformed")])


def cert_file(d, srv, key, names, name):
    path = os.path.join(d.wdir, name + ".pem")
    with open(path, "wb") as f:
        f.write(srv.issue(key, names).public_bytes(serialization.Encoding.PEM))
    return path


def hook_env(path, tbs):
    return {"EVENT": "discovered_cert", "WATCH_ITEM": "notlsa.test",
            "CERT_FILENAME": path, "TBS_SHA256": tbs,
            "SUMMARY": "Certificate Discovered for notlsa.test"}


async def hook_alone(info, srv, d, c):
    x = info["xmpp"]["prosody"]
    d.stop()
    # Spooled while the daemon is stopped: alerted after its start, once.
    k = ec.generate_private_key(ec.SECP256R1())
    p = d.hook(hook_env(cert_file(d, srv, k, ["notlsa.test"], "a"), "a1" * 32))
    record("hook with the daemon stopped: exit 0, spooled",
           p.returncode == 0 and len(d.spool()) == 1, (p.returncode, p.stderr))
    # No CERT_FILENAME, and a file that is no certificate: exit 0.
    env = hook_env("/nonexistent", "b2" * 32)
    del env["CERT_FILENAME"]
    p1 = d.hook(env)
    junk = os.path.join(d.wdir, "junk.pem")
    with open(junk, "w") as f:
        f.write("not a certificate\n")
    p2 = d.hook(hook_env(junk, "c3" * 32))
    record("no CERT_FILENAME, not a certificate: exit 0, spooled",
           p1.returncode == 0 and p2.returncode == 0 and len(d.spool()) == 3,
           (p1.returncode, p2.returncode, p1.stderr, p2.stderr))
    p3 = d.hook({"EVENT": "error", "SUMMARY": "lab log unreachable"})
    record("EVENT=error: exit 0", p3.returncode == 0, p3.stderr)
    # An unwritable spool: STORE/ct is a file.
    bad = os.path.join(d.wdir, "badstore")
    os.makedirs(bad, exist_ok=True)
    with open(os.path.join(bad, "ct"), "w") as f:
        f.write("x")
    badconf = write_config(info, os.path.join(d.wdir, "bad.ini"),
                           store={"dir": bad})
    p4 = d.hook(hook_env(junk, "d4" * 32), conf=badconf)
    record("unwritable spool: non-zero", p4.returncode != 0, p4.stderr)

    d.start()
    c2 = await connect(x, x["users"][24], d.comp)
    try:
        await wait_bot(c2)
        msgs = await quiet(c, 12)
        news = [m for m in msgs if m.startswith("notlsa.test: a new")]
        record("spooled while stopped: alerted after start, once",
               len(news) == 1, msgs)
        record("malformed: no alert", len(msgs) == 1, msgs)
        record("spool emptied", await wait_for(lambda: not d.spool(), 10),
               d.spool())
        st = await c.ask("status notlsa.test", match=r"^notlsa\.test: ")
        record("malformed events shown in status",
               len(re.findall(r"malformed", st)) == 2, st[-800:])
        record("EVENT=error: a log line",
               "certspotter reports an error: lab log unreachable" in d.log())
        # Killed after recording, before the alert: alerted once, later.
        for step, tbs in (("recorded", "e5" * 32), ("sent", "f6" * 32)):
            d.stop()
            d.hook(hook_env(cert_file(d, srv, ec.generate_private_key(
                ec.SECP256R1()), ["notlsa.test"], step), tbs))
            d.start(CERTWATCH_CT_TEST_STOP=step)
            died = await wait_for(lambda: d.p.poll() is not None, 20)
            left = d.spool()
            d.start()
            msgs = await quiet(c, 12)
            news = [m for m in msgs if m.startswith("notlsa.test: a new")]
            record("kill -9 after %s, before removing: alerted once" % step,
                   died and len(left) == 1 and len(news) == 1 and
                   not d.spool(), (died, left, msgs))
    finally:
        c2.disconnect()


def spool_direct(d, n, der, spki, first=0):
    """n spool files of `der` (a known certificate) written as the hook
    writes them (docs/ct.md, "The spool file"), each its own TBS_SHA256."""
    sp = os.path.join(d.store, "ct", "spool")
    os.makedirs(sp, exist_ok=True)
    b64 = base64.b64encode(der).decode()
    for i in range(n):
        tmp = os.path.join(sp, ".tmp-bulk")
        with open(tmp, "w") as f:
            f.write("certwatch-ct 1\nevent discovered_cert\nwatch_item "
                    "good.test\ntbs_sha256 %064x\ncert_state ok\n"
                    "spki_sha256 %s\ncert %s\nend\n" % (first + i + 1, spki, b64))
        os.rename(tmp, os.path.join(sp, "%020d%09d-1.ct" % (1, first + i)))


async def help_while_taken(d, c):
    """`help` every 20 ms until the spool is empty: (drained, seconds,
    p99 of the replies' latency, how many)."""
    c.drain()
    sent, got = [], []

    async def replies():
        while True:
            m = await c.body(60)
            if "check DOMAIN" in m and sent:
                ts = sent.pop(0)
                got.append(time.monotonic() - ts)

    async def pinger():
        while True:
            sent.append(time.monotonic())
            c.send_message(mto=d.comp, mbody="help", mtype="chat")
            await asyncio.sleep(0.02)

    t0 = time.monotonic()
    tasks = [asyncio.create_task(replies()), asyncio.create_task(pinger())]
    try:
        drained = await wait_for(lambda: not d.spool(), 300)
        took = time.monotonic() - t0
        tasks.pop().cancel()
        await wait_for(lambda: not sent, 10)
    finally:
        for t in tasks:
            t.cancel()
    got.sort()
    p99 = got[max(0, math.ceil(0.99 * len(got)) - 1)] if got else 99
    return drained, took, p99, len(got)


async def bulk_and_hostile(info, srv, d, c):
    """10,000 spooled events are taken without stalling chat; hostile
    spool files are set aside, and what follows them is still taken."""
    good = key_of(info, "good")
    der = srv.issue(good, ["good.test"]).public_bytes(serialization.Encoding.DER)
    spki = info["keys"]["good"]["spki_sha256"]
    sp = os.path.join(d.store, "ct", "spool")
    # Hostile: garbage, a torn file, a huge one, a symlink to the config,
    # a directory, a NUL in a value.
    os.makedirs(sp, exist_ok=True)
    hostile = {"00-garbage.ct": b"\xff\x00garbage\n",
               "01-torn.ct": b"certwatch-ct 1\nevent discovered_cert\n",
               "02-huge.ct": b"certwatch-ct 1\n" + b"x" * 300000,
               "04-nul.ct": b"certwatch-ct 1\nevent a%00b\ncert_state absent\nend\n"}
    for name, data in hostile.items():
        with open(os.path.join(sp, name), "wb") as f:
            f.write(data)
    os.symlink(d.conf, os.path.join(sp, "03-link.ct"))
    os.mkdir(os.path.join(sp, "05-dir.ct"))
    # A loaded machine delays a reply now and then: a p99 over the limit
    # is measured once more, and only a repeated one fails (a loop that
    # takes the spool in one go fails both).
    for attempt in (1, 2):
        spool_direct(d, 10000, der, spki, first=attempt * 100000)
        drained, took, p99, n = await help_while_taken(d, c)
        print("     attempt %d: 10,000 taken in %.1f s, p99 of help %.1f ms "
              "over %d" % (attempt, took, p99 * 1000, n), flush=True)
        if not drained or p99 < 0.05:
            break
    record("10,000 spooled events taken (%.1f s), chat answers: p99 of "
           "help %.1f ms over %d" % (took, p99 * 1000, n),
           drained and p99 < 0.05 and n > 50, (drained, p99))
    left = sorted(os.listdir(sp))
    bad = [f for f in left if f.endswith(".bad")]
    record("hostile spool files set aside as .bad, the daemon alive",
           d.p.poll() is None and len(bad) == 6 and "05-dir.ct.bad" in bad,
           left[:12])
    k = ec.generate_private_key(ec.SECP256R1())
    p = d.hook(hook_env(cert_file(d, srv, k, ["notlsa.test"], "after"),
                        "ab" * 32))
    try:
        m = await c.body(20, match=r"^notlsa\.test: a new")
    except asyncio.TimeoutError:
        m = ""
    record("after them, an event is still alerted", p.returncode == 0 and m)


async def web_page(d):
    """/d/good.test shows its CT events."""
    import urllib.request
    with urllib.request.urlopen("http://%s/d/good.test" % d.http,
                                timeout=10) as r:
        page = r.read().decode()
    record("/d/good.test: the CT table, the certificate known",
           'id="ct"' in page and "<td data-label=\"Judged\">known</td>" in page,
           page[page.find('id="ct"'):][:300])
    with urllib.request.urlopen(
            "http://%s/api/domain?domain=good.test" % d.http,
            timeout=10) as r:
        api = json.loads(r.read().decode())
    ev = api.get("ct") or []
    record("/api/domain?domain=good.test: the CT events, known",
           any(e.get("judged") == "known" for e in ev), str(ev)[:300])


async def main_async(lab, info, tmp):
    x = info["xmpp"]["prosody"]
    srv = ctlog.Server(info["keys"]["ca"]["cert"], info["keys"]["ca"]["key"], tmp)
    for i in range(3):      # start_at_end rebuilds a tree of three
        srv.log.add_cert(srv.issue(ec.generate_private_key(ec.SECP256R1()),
                                   ["other%d.example" % i]))
    d = Daemon(info, os.path.join(tmp, "d"),
               srv.write_log_list(os.path.join(tmp, "logs.json")))
    d.start()
    c = None
    try:
        c = await connect(x, x["users"][23], d.comp)
        record("bot up", await wait_bot(c))
        await pubsub_iq(c, "set", "subscribe", node="rollover.test",
                        jid=c.boundjid.bare)
        for dom in ("good.test", "rollover.test", "notlsa.test", "ta.test"):
            await c.ask("subscribe " + dom, match=r"^Subscribed to ")
            await c.body(90, match=r"^First check of " + re.escape(dom))
        await asyncio.sleep(1)
        c.drain()
        for name, coro in (("real certspotter", real_certspotter(info, srv, d, c)),
                           ("web page", web_page(d)),
                           ("hook alone", hook_alone(info, srv, d, c)),
                           ("bulk and hostile", bulk_and_hostile(info, srv, d, c))):
            try:
                await coro
            except Exception as e:  # noqa: BLE001 - recorded as a failure
                record(name, False, "%s: %s" % (type(e).__name__, e))
        lg = d.log()
        bad = [ln for ln in lg.splitlines() if "Sanitizer" in ln or
               "runtime error:" in ln]
        record("daemon log: no sanitizer report", not bad, bad[:3])
    finally:
        if c:
            c.disconnect()
        d.stop()
        srv.stop()


def main():
    logging.basicConfig(level=logging.CRITICAL)
    tmp = tempfile.mkdtemp(prefix="certwatch-ct.")
    with Lab.from_env() as lab:
        asyncio.run(main_async(lab, lab.info, tmp))
    failed = results.count(False)
    print("%d passed, %d failed" % (results.count(True), failed))
    if not failed:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("logs kept in %s" % tmp)
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
