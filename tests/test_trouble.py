#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_trouble.py - the endpoint trouble alert end to end (docs/usage.md,
"Alerts"): one endpoint of a watched domain that fails after TCP while the
others answer must not stay hidden at its last `ok`.

The real `certwatch run` against the lab's Prosody, with a chat subscriber
and a pubsub subscriber (slixmpp).  switch.test has four endpoints on one
server; an iptables DNAT rule sends only its port 5222 to the lab's
`streamerr` fixture (a <stream:error/> at once: the step `stream`), so
that endpoint fails while 5223, 5269 and 5270 answer.  Checked:

  - after `down_after` (3) failed rounds, exactly one info alert with the
    documented words reaches the chat subscriber, and one pubsub event;
  - the count survives a restart: the daemon is stopped after the second
    failed round, and the first round after the restart alerts;
  - two more failed rounds repeat nothing, and the domain's own verdict
    raises no alert (the endpoint counts at its last verdict);
  - the rule undone, one "recovered" by chat and by pubsub.

Rounds are awaited through the daemon's log and the messages, never by
fixed sleeps.  Needs root (the lab, iptables).

Usage: test_trouble.py [CERTWATCH_BIN]   (or $CERTWATCH_BIN)
Reuses the lab named by $CERTWATCH_LAB, or starts one.  Prints one line
per check and "N passed, N failed" last; exits 1 on failure.
"""
import asyncio
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

import slixmpp
from slixmpp.xmlstream import ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "lab"))
from cwtest import write_config  # noqa: E402
from lab import Lab  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                      os.environ.get("CERTWATCH_BIN", "build/component/certwatch"))
DOMAIN = "switch.test"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_EVENT = "http://jabber.org/protocol/pubsub#event"
NS_STATE = "urn:certwatch:state:0"
DOWN_AFTER = 3
passed, failed = [], []


def check(name, ok, detail=""):
    (passed if ok else failed).append(name)
    print("%s %s%s" % ("ok  " if ok else "FAIL", name,
                       " - %s" % str(detail)[:1200] if detail else ""), flush=True)
    return ok


class Certwatch:
    """`certwatch run` on the lab's Prosody, its log read as it grows."""

    def __init__(self, info, wdir):
        self.x = info["xmpp"]["prosody"]
        self.log_path = os.path.join(wdir, "certwatch.log")
        self.conf = write_config(
            info, os.path.join(wdir, "certwatch.ini"),
            component={"jid": self.x["component"], "host": self.x["host"],
                       "port": self.x["component_port"],
                       "secret": self.x["secret"]},
            probe={"timeout": "5"}, log={"level": "debug"},
            watch={"interval": "10", "jitter": "0",
                   "down_after": str(DOWN_AFTER), "flap_limit": "50"})
        self.proc = None
        self.mark = 0

    def start(self):
        """Starts it; log() reads only what it writes from now on."""
        self.mark = os.path.getsize(self.log_path) \
            if os.path.exists(self.log_path) else 0
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen([BIN, "run", "-c", self.conf],
                                         stdout=out, stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log(self):
        with open(self.log_path, "rb") as f:
            f.seek(self.mark)
            return f.read().decode(errors="replace")

    async def wait_log(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.log())
            if m:
                return m
            if self.proc.poll() is not None:
                raise RuntimeError("certwatch exited (%s)" % self.proc.returncode)
            await asyncio.sleep(0.2)
        raise asyncio.TimeoutError("no log line %r" % pattern)


class User(slixmpp.ClientXMPP):
    """A subscriber: the component's chat bodies and pubsub states."""

    def __init__(self, account, comp):
        super().__init__(account["jid"] + "/trouble", account["password"])
        self.comp = comp
        self.bodies = asyncio.Queue()
        self.states = asyncio.Queue()
        self.online = asyncio.Event()
        self["feature_mechanisms"].unencrypted_plain = True
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.register_plugin("xep_0199")
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", self.on_message)

    async def on_start(self, _):
        self.send_presence()
        self.online.set()

    def on_message(self, m):
        if m["from"].bare != self.comp:
            return
        st = m.xml.find("{%s}event//{%s}state" % (NS_EVENT, NS_STATE))
        if st is not None:
            self.states.put_nowait(dict(st.attrib))
        elif m["body"]:
            self.bodies.put_nowait(m["body"])

    async def next_body(self, pattern, timeout):
        """The first body matching pattern; the others before it are
        returned too, to be checked."""
        skipped = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError("no message matching %r (had %r)"
                                           % (pattern, skipped))
            b = await asyncio.wait_for(self.bodies.get(), left)
            if re.search(pattern, b):
                return b, skipped
            skipped.append(b)

    def pending(self, q):
        out = []
        while not q.empty():
            out.append(q.get_nowait())
        return out

    async def bot_answers(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                await self["xep_0199"].send_ping(self.comp, timeout=3)
                return True
            except Exception:  # noqa: BLE001 - not up yet
                await asyncio.sleep(0.5)
        return False


async def login(x, account, comp):
    u = User(account, comp)
    u.connect((x["host"], int(x["c2s_port"])), force_starttls=False)
    await asyncio.wait_for(u.online.wait(), 20)
    return u


def dnat(op, dst, port, to):
    """One port of dst sent to `to` (iptables DNAT, loopback output)."""
    subprocess.run(["iptables", "-t", "nat", op, "OUTPUT", "-d", dst, "-p",
                    "tcp", "--dport", str(port), "-j", "DNAT",
                    "--to-destination", "%s:%d" % (to, port)],
                   check=True, capture_output=True)


async def subscribe(chat, domain):
    """`subscribe DOMAIN` once the bot answers: the first check's report
    (None when the bot does not answer)."""
    if not check("the bot answers", await chat.bot_answers()):
        return None
    chat.send_message(mto=chat.comp, mbody="subscribe " + domain,
                      mtype="chat")
    await chat.next_body(r"^Subscribed to ", 30)
    first, _ = await chat.next_body(r"^First check of ", 60)
    return first


def first_line(b):
    return b.splitlines()[0] if b else b


async def scenario(info, wdir):
    sw_ip = info["switchable"][DOMAIN]["ip"]
    bad_ip = info["targets"]["streamerr"]
    cw = Certwatch(info, wdir)
    x = cw.x
    users = []
    redirected = False
    cw.start()
    try:
        chat = await login(x, x["users"][14], x["component"])
        ps = await login(x, x["users"][15], x["component"])
        users += [chat, ps]
        first = await subscribe(chat, DOMAIN) or ""
        check("the first check: every endpoint answers",
              "switch.test: ok" in first and "unreachable" not in first,
              first)
        iq = ps.make_iq_set(ito=ps.comp)
        sub = ET.Element("{%s}pubsub" % NS_PUBSUB)
        ET.SubElement(sub, "{%s}subscribe" % NS_PUBSUB, node=DOMAIN,
                      jid=x["users"][15]["jid"])
        iq.append(sub)
        await iq.send(timeout=30)

        # Only port 5222 to the fixture: it fails at `stream`, the other
        # three endpoints keep answering.
        dnat("-A", sw_ip, 5222, bad_ip)
        redirected = True
        fails = r"xmpp-client xmpp\.switch\.test:5222 fails at stream " \
                r"\((\d+) rounds in a row\)"
        await cw.wait_log(fails.replace(r"(\d+)", "2"), 60)
        early = chat.pending(chat.bodies)
        check("no alert before down_after rounds",
              not [b for b in early if DOMAIN in b], early)

        # A restart between the second and third failed rounds.
        cw.stop()
        ps.pending(ps.states)   # the last item sent at subscribe
        cw.start()
        check("the bot is back after the restart", await chat.bot_answers())
        want = (r"^switch\.test: xmpp-client xmpp\.switch\.test:5222 "
                r"\(%s via direct\) fails at stream for %d rounds \(it "
                r"answered before\): an interceptor can hide behind a "
                r"failure$" % (re.escape(sw_ip), DOWN_AFTER))
        t0 = time.monotonic()
        try:
            alert, before = await chat.next_body(r"fails at ", 45)
        except asyncio.TimeoutError as e:
            alert, before = None, [str(e)]
        check("one info alert with the documented words (%.0f s after the "
              "restart)" % (time.monotonic() - t0),
              alert and re.match(want, first_line(alert), re.M), first_line(alert))
        check("the alert says what failed",
              alert and "Now: stream: " in alert and
              "Until it answers, the domain's verdict counts it at its last "
              "one (ok)" in alert,
              alert and [l for l in alert.splitlines() if l.startswith("Now")])
        counts = [int(n) for n in re.findall(fails, cw.log())]
        check("the count survived the restart: its first round was the third",
              counts[:1] == [DOWN_AFTER], counts)
        try:
            ev = await asyncio.wait_for(ps.states.get(), 20)
        except asyncio.TimeoutError:
            ev = None
        check("one pubsub event: alert info, verdict still ok",
              ev and ev.get("alert") == "info" and ev.get("verdict") == "ok",
              ev)

        # Two more failed rounds: nothing is repeated, and the domain's
        # verdict (the endpoint counted at its last) raises nothing.
        await cw.wait_log(fails.replace(r"(\d+)", str(DOWN_AFTER + 2)), 40)
        more = [b for b in before + chat.pending(chat.bodies) if DOMAIN in b]
        evs = ps.pending(ps.states)
        check("sent once: nothing more in the next two rounds",
              not more and not evs, (more, evs))

        dnat("-D", sw_ip, 5222, bad_ip)
        redirected = False
        try:
            back, before = await chat.next_body(r"recovered", 40)
        except asyncio.TimeoutError as e:
            back, before = None, [str(e)]
        check("recovered when it answers again",
              back and re.match(
                  r"^switch\.test: xmpp-client xmpp\.switch\.test:5222 \(%s "
                  r"via direct\) recovered: it answers again \(ok\) after "
                  r"failing at stream for \d+ rounds$" % re.escape(sw_ip),
                  first_line(back)) and not before,
              (first_line(back), before))
        try:
            ev = await asyncio.wait_for(ps.states.get(), 20)
        except asyncio.TimeoutError:
            ev = None
        check("one pubsub event: alert recovered",
              ev and ev.get("alert") == "recovered", ev)
    finally:
        if redirected:
            dnat("-D", sw_ip, 5222, bad_ip)
        for u in users:
            u.disconnect()
        cw.stop()
        # Both runs, leaks included (reported at exit) in a sanitizer build.
        cw.mark = 0
        bad = re.findall(r".*(?:Sanitizer|runtime error:).*", cw.log())
        check("no sanitizer report", not bad, bad[:5])


def run(domain, scenario, prefix):
    """The lab (switchable `domain` in it), scenario(info, wdir), the
    summary line; the exit status.  Shared by test_defence_alerts.py."""
    logging.basicConfig(level=logging.CRITICAL)
    if not os.access(BIN, os.X_OK):
        print("no certwatch binary at %s" % BIN)
        return 1
    wdir = tempfile.mkdtemp(prefix=prefix)
    t0 = time.monotonic()
    with Lab.from_env() as lab:
        if domain not in lab.info.get("switchable", {}):
            check("the lab has " + domain, False)
        else:
            try:
                asyncio.run(scenario(lab.info, wdir))
            except Exception as e:  # noqa: BLE001 - any error fails
                check("the scenario ran to its end", False,
                      "%s: %s" % (type(e).__name__, e))
    print("%d passed, %d failed (%.0f s)" % (len(passed), len(failed),
                                             time.monotonic() - t0))
    if failed:
        print("logs kept in %s" % wdir)
    else:
        shutil.rmtree(wdir, ignore_errors=True)
    return 1 if failed or not passed else 0


def main():
    return run(DOMAIN, scenario, "certwatch-trouble.")

if __name__ == "__main__":
    sys.exit(main())
