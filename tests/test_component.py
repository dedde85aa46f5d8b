#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_component.py - the bot end to end: the real `certwatch run` against
the lab's Prosody and ejabberd, driven by a real client library (slixmpp).

Usage: test_component.py [CERTWATCH_BIN]   (or $CERTWATCH_BIN)
Reuses the lab named by $CERTWATCH_LAB (path of lab.json), or starts one.
$CERTWATCH_SERVERS=prosody,ejabberd picks the servers.
Prints one line per test and "N passed, N failed" last; exits 1 on failure.
"""
import asyncio
import json
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

import slixmpp
from slixmpp.xmlstream import ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lab"))

NS_CMD = "http://jabber.org/protocol/commands"
NS_DATA = "jabber:x:data"
NS_CHATSTATES = "http://jabber.org/protocol/chatstates"
CHECK_TIMEOUT = 120     # seconds for one check's report
results = []


def record(server, name, ok, detail=""):
    results.append(ok)
    print("%s %s: %s%s" % ("ok  " if ok else "FAIL", server, name,
                           (" - " + detail) if detail else ""), flush=True)


class Client(slixmpp.ClientXMPP):
    """A user: queues what the component sends it."""

    def __init__(self, jid, password, comp):
        super().__init__(jid, password)
        self.comp = comp
        self.msgs = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.started = asyncio.Event()
        self.failed = None
        self.composing = 0
        self["feature_mechanisms"].unencrypted_plain = True
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        for p in ("xep_0030", "xep_0004", "xep_0050", "xep_0092",
                  "xep_0199", "xep_0085"):
            self.register_plugin(p)
        self.add_event_handler("session_start", self._start)
        self.add_event_handler("failed_auth", self._fail)
        self.add_event_handler("message", self._msg)
        self.add_event_handler("presence", self._presence)
        self.add_event_handler("chatstate_composing", self._composing)

    def _composing(self, m):
        if m["from"].bare == self.comp:
            self.composing += 1

    async def _start(self, _):
        self.send_presence()
        await self.get_roster()
        self.started.set()

    def _fail(self, _):
        self.failed = "authentication failed"
        self.started.set()

    def _msg(self, m):
        if m["from"].bare == self.comp:
            self.msgs.put_nowait(m)

    def _presence(self, p):
        if p["from"].bare == self.comp:
            self.presences.put_nowait(p)

    async def body(self, timeout=CHECK_TIMEOUT):
        """The next message with a body from the component."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError("no reply")
            m = await asyncio.wait_for(self.msgs.get(), left)
            if m["body"]:
                return m

    async def ask(self, text, timeout=15):
        self.send_message(mto=self.comp, mbody=text, mtype="chat")
        return (await self.body(timeout))["body"]

    async def report(self, domain):
        """check DOMAIN: the report (its first line names the domain);
        other messages (the acknowledgement, a watcher's alert) are
        skipped.  Returns the report, or the first reply that is neither
        an acknowledgement nor a report (an error)."""
        self.send_message(mto=self.comp, mbody="check " + domain,
                          mtype="chat")
        want = domain.lower().rstrip(".") + ": "
        while True:
            m = await self.body()
            body = m["body"]
            if body.startswith(want):
                # A report over 16 KiB comes in pieces; the last
                # carries the chat state <active/> (XEP-0085).
                while m.xml.find("{%s}active" % NS_CHATSTATES) is None:
                    m = await self.body()
                    body += "\n" + m["body"]
                return body
            if body.startswith("Checking ") or body.startswith("First "):
                continue
            return body

    async def whole(self, body):
        """A report split over several bodies, whole: read on up to its
        last line (the Defences section's TLSA or next-key line)."""
        while not re.search(r"^  (Next key|TLSA records: none)", body, re.M):
            body += "\n" + (await self.body())["body"]
        return body

    def drain(self):
        while not self.msgs.empty():
            self.msgs.get_nowait()


async def connect(info, user, comp):
    c = Client(user["jid"] + "/t%d" % os.getpid(), user["password"], comp)
    c.connect((info["host"], int(info["c2s_port"])), force_starttls=False)
    try:
        await asyncio.wait_for(c.started.wait(), 20)
    except asyncio.TimeoutError:
        c.disconnect()
        raise RuntimeError("cannot log in as %s" % user["jid"])
    if c.failed:
        raise RuntimeError("%s: %s" % (user["jid"], c.failed))
    return c


async def command(c, node, action=None, sessionid=None, domain=None,
                  timeout=CHECK_TIMEOUT):
    """One XEP-0050 request; returns the <command/> element of the reply."""
    iq = c.make_iq_set(ito=c.comp)
    cmd = ET.Element("{%s}command" % NS_CMD, node=node)
    if action:
        cmd.set("action", action)
    if sessionid:
        cmd.set("sessionid", sessionid)
    if domain is not None:
        x = ET.SubElement(cmd, "{%s}x" % NS_DATA, type="submit")
        f = ET.SubElement(x, "{%s}field" % NS_DATA, var="domain")
        ET.SubElement(f, "{%s}value" % NS_DATA).text = domain
    iq.append(cmd)
    r = await iq.send(timeout=timeout)
    return r.xml.find("{%s}command" % NS_CMD)


def form_values(cmd):
    out = {}
    x = cmd.find("{%s}x" % NS_DATA)
    if x is None:
        return out
    for f in x.findall("{%s}field" % NS_DATA):
        vals = [v.text or "" for v in f.findall("{%s}value" % NS_DATA)]
        out[f.get("var")] = vals[0] if len(vals) == 1 else vals
    return out


def note(cmd):
    n = cmd.find("{%s}note" % NS_CMD)
    return (n.get("type"), n.text or "") if n is not None else (None, "")


async def wait_bot(info, user, comp, limit=60):
    """Until the component answers a ping (it is connected)."""
    deadline = time.monotonic() + limit
    c = await connect(info, user, comp)
    try:
        while time.monotonic() < deadline:
            try:
                await c["xep_0199"].send_ping(comp, timeout=3)
                return True
            except Exception:
                await asyncio.sleep(0.5)
        return False
    finally:
        c.disconnect()


def port_open(host, port):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def restart_server(lab, lab_json, name):
    """The lab's restart, or kill and start again with its recorded
    command.  Returns a note on how it was done."""
    info = lab_json["xmpp"][name]
    if lab is not None and any(p.get("name") == name
                               for p in getattr(lab, "procs", [])):
        lab.restart(name)
        return "lab.restart"
    # Without tests/lab/lab.py (a hand-made lab.json): kill the recorded
    # process and run the recorded command.
    pidfile = info.get("pidfile")
    pid = info.get("pid")
    if pidfile and os.path.exists(pidfile):
        pid = int(open(pidfile).read().split()[0])
    if not pid or not info.get("cmd"):
        raise RuntimeError("the lab offers no way to restart %s" % name)
    os.kill(pid, signal.SIGTERM)
    host, port = info["host"], int(info["component_port"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:     # until the process is gone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    while port_open(host, port) and time.monotonic() < deadline:
        time.sleep(0.2)
    log = open(info.get("log", os.devnull), "ab")
    # The server writes its own pidfile (the recorded command may be a
    # wrapper such as ejabberdctl).
    subprocess.Popen(info["cmd"], stdout=log, stderr=log,
                     start_new_session=True, cwd=info.get("cwd"))
    while not port_open(host, port) and time.monotonic() < deadline + 30:
        time.sleep(0.2)
    return "killed and restarted"


async def run_server(name, lab, lab_json, binary, tmp):
    info = lab_json["xmpp"][name]
    comp = info["component"]
    users = info["users"]
    conf = lab_json["certwatch_conf"][name]
    log_path = os.path.join(tmp, "certwatch-%s.log" % name)
    log = open(log_path, "wb")
    bot = subprocess.Popen([binary, "run", "-c", conf], stdout=log,
                           stderr=subprocess.STDOUT)
    clients = []

    def check(tname, ok, detail=""):
        record(name, tname, ok, detail)

    async def step(tname, coro):
        try:
            await coro
        except Exception as e:  # one failure does not stop the others
            check(tname, False, "%s: %s" % (type(e).__name__, e))
            if os.environ.get("CERTWATCH_TEST_DEBUG"):
                traceback.print_exc()

    try:
        up = await wait_bot(info, users[0], comp)
        check("bot connects", up)
        if not up:
            return
        # The lab's config makes users[0] an admin: the ordinary user is
        # users[1]; the 20 users are the others.
        a = await connect(info, users[1], comp)
        clients.append(a)

        async def roster():
            # From scratch: a roster left by an earlier run would make
            # the server answer the subscription itself.
            if comp in a.client_roster:
                a.del_roster_item(comp)
                # Until the server's roster push has removed it.
                deadline = time.monotonic() + 10
                while comp in a.client_roster and \
                        time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            while not a.presences.empty():
                a.presences.get_nowait()
            a.send_presence(pto=comp, ptype="subscribe")
            got = set()
            deadline = time.monotonic() + 15
            while "available" not in got and time.monotonic() < deadline:
                p = await asyncio.wait_for(a.presences.get(),
                                           deadline - time.monotonic())
                got.add(p["type"])
            item = a.client_roster[comp]
            check("roster add: subscribed, subscribes back, online",
                  {"subscribed", "available"} <= got and
                  item["subscription"] in ("to", "both"),
                  "got %s, subscription %s" % (sorted(got),
                                               item["subscription"]))
            # A probe (as after a client restart) is answered too.
            await asyncio.sleep(0.5)
            while not a.presences.empty():
                a.presences.get_nowait()
            a.send_presence(pto=comp, ptype="probe")
            p = await asyncio.wait_for(a.presences.get(), 10)
            while p["type"] != "available":
                p = await asyncio.wait_for(a.presences.get(), 10)
            check("probe answered with available presence",
                  p["status"] != "", p["status"])
        await step("roster", roster())
        a.drain()

        async def chat():
            body = await a.ask("help")
            check("help", "check DOMAIN" in body, body.splitlines()[0])
            body = await a.ask("what is this?")
            check("unknown text gets help", "check DOMAIN" in body)
            body = await a.ask("check bad..test")
            check("bad domain: clear error",
                  "invalid domain" in body and "empty label" in body, body)
            body = await a.ask("CHECK")
            check("check without domain", "needs a domain" in body, body)
            body = await a.ask("x" * 5000)
            check("long body refused", "too long" in body, body[:80])
            body = await a.ask("stats")
            check("stats refused for non-admins", "admins" in body, body)
            adm = await connect(info, users[0], comp)
            try:
                body = await adm.ask("stats")
                check("stats for admins", "checks started" in body,
                      body.splitlines()[0])
            finally:
                adm.disconnect()
            body = await a.report("good.test")
            check("check good.test: ok", "good.test: ok" in body,
                  body.splitlines()[0])
            check("check: composing chat state sent", a.composing > 0)
            # The Defences section (docs/usage.md), the report's last
            # lines: every part of the reply, up to its "Next key" line.
            body = await a.whole(await a.report("cbnone.test"))
            check("check cbnone.test: the Defences lines",
                  "\nDefences:\n  CAA: bound (records at cbnone.test" in body
                  and "Channel binding (XEP-0440): none" in body and
                  "Expiry: 2 days (xmpp.cbnone.test)" in body,
                  body[body.find("Defences:"):][:300])
            body = await a.whole(await a.report("MITM.test."))
            check("check mitm.test: mismatch", "mitm.test: mismatch" in body,
                  body.splitlines()[0])
            # From scratch: the lab's state directory outlives a run.
            body = await a.ask("unsubscribe all")
            check("unsubscribe all first: answered",
                  body.startswith(("Unsubscribed from all ",
                                   "Unsubscribed from your one domain. ",
                                   "You had no subscriptions.")), body)
            body = await a.ask("subscribe good.test")
            check("subscribe: subscribed",
                  body.startswith("Subscribed to good.test. ") and
                  "its report follows" in body, body.splitlines()[0])
            # The watcher's first report follows as a second message.
            body = (await a.body())["body"]
            check("subscribe: report follows",
                  body.startswith("First check of good.test since you "
                                  "subscribed:") and
                  "good.test: ok" in body, " | ".join(body.splitlines()[:2]))
            body = await a.ask("unsubscribe all")
            # Exactly the one subscription made above.
            check("unsubscribe all: unsubscribed",
                  body.startswith("Unsubscribed from your one domain. "),
                  body.splitlines()[0])
        await step("chat", chat())
        a.drain()

        async def no_answers():
            # type='error' is never answered (no loops between bots);
            # neither are group chat and headline messages.
            # The chat message after them is a fence: the bot answers in
            # order, so an answer to any of them would come first.
            a.drain()
            for t in ("error", "groupchat", "headline"):
                a.send_message(mto=comp, mbody="help", mtype=t)
            body = await a.ask("check")
            check("error/groupchat/headline messages not answered",
                  "needs a domain" in body, body.splitlines()[0])
        await step("no answers", no_answers())
        a.drain()

        async def limits():
            cfg = open(conf).read()
            if "commands_per_minute" in cfg or len(users) < 25:
                # The checks below need the defaults and 25 users: a lab
                # without them fails here rather than skip in silence.
                check("limits: the lab keeps the defaults, 25 users", False,
                      "%d users; commands_per_minute set: %s" % (
                          len(users), "commands_per_minute" in cfg))
                return
            r = await connect(info, users[23], comp)
            clients.append(r)
            for _ in range(40):
                r.send_message(mto=comp, mbody="help", mtype="chat")
            got = []
            try:
                while True:
                    got.append((await r.body(3))["body"])
            except asyncio.TimeoutError:
                pass
            limited = [b for b in got if "rate limit" in b]
            check("rate limit: 30 answers, one notice, then silence",
                  len(got) == 31 and len(limited) == 1 and
                  "try again in" in limited[0],
                  "%d replies, %d notices: %s" % (
                      len(got), len(limited), limited[:1]))
            q = await connect(info, users[24], comp)
            clients.append(q)
            for _ in range(3):
                q.send_message(mto=comp, mbody="check good.test",
                               mtype="chat")
            got = []
            try:
                while len([b for b in got if b.startswith("good.test:")]) \
                        < 2:
                    got.append((await q.body())["body"])
            except asyncio.TimeoutError:
                pass
            refused = [b for b in got if "checks_in_flight" in b]
            check("checks_in_flight: the third check at once is refused",
                  len(refused) == 1, "%d refused" % len(refused))
        await step("limits", limits())

        async def discovery():
            info_r = await a["xep_0030"].get_info(jid=comp, timeout=10)
            feats = set(info_r["disco_info"]["features"])
            ids = info_r["disco_info"]["identities"]
            want = {"http://jabber.org/protocol/disco#info",
                    "http://jabber.org/protocol/commands",
                    "jabber:iq:version", "urn:xmpp:ping"}
            check("disco#info", want <= feats and len(ids) > 0,
                  str(sorted(feats)))
            v = await a["xep_0092"].get_version(comp, timeout=10)
            check("version", v["software_version"]["name"] == "certwatch",
                  v["software_version"]["version"])
            await a["xep_0199"].send_ping(comp, timeout=10)
            check("ping", True)
            iq = a.make_iq_get(ito=comp)
            iq.append(ET.Element("{urn:example:nothing}query"))
            try:
                await iq.send(timeout=10)
                check("unknown iq: service-unavailable", False, "result")
            except slixmpp.exceptions.IqError as e:
                check("unknown iq: service-unavailable",
                      e.condition == "service-unavailable", e.condition)
            iq = a.make_iq_get(ito="nobody@" + comp)
            iq.append(ET.Element("{urn:xmpp:ping}ping"))
            try:
                await iq.send(timeout=10)
                check("iq to user@component: service-unavailable", False,
                      "result")
            except slixmpp.exceptions.IqError as e:
                check("iq to user@component: service-unavailable",
                      e.condition == "service-unavailable", e.condition)
        await step("disco", discovery())

        async def adhoc():
            items = await a["xep_0030"].get_items(jid=comp, node=NS_CMD,
                                                  timeout=10)
            nodes = {i[1] for i in items["disco_items"]["items"]}
            check("ad-hoc list", {"check", "subscribe", "unsubscribe",
                                  "status"} <= nodes, str(sorted(nodes)))
            r = await command(a, "check", action="execute")
            sid = r.get("sessionid")
            x = r.find("{%s}x" % NS_DATA)
            field = x.find("{%s}field" % NS_DATA) if x is not None else None
            check("ad-hoc check: form with text-single domain",
                  r.get("status") == "executing" and field is not None and
                  field.get("var") == "domain" and
                  field.get("type") == "text-single")
            r = await command(a, "check", action="complete", sessionid=sid,
                              domain="bad..test")
            t, text = note(r)
            check("ad-hoc bad domain: error note, form again",
                  r.get("status") == "executing" and t == "error" and
                  "empty label" in text, text)
            r = await command(a, "check", action="complete", sessionid=sid,
                              domain="good.test")
            vals = form_values(r)
            t, text = note(r)
            eps = [v for k, v in vals.items() if k.startswith("endpoint.")]
            check("ad-hoc check good.test: result form and note",
                  r.get("status") == "completed" and
                  vals.get("verdict") == "ok" and len(eps) > 0 and
                  "good.test" in text, "%s / %s" % (text, eps[:1]))
            rep = vals.get("report")
            rep = "\n".join(rep) if isinstance(rep, list) else rep or ""
            check("ad-hoc check good.test: the report's Defences lines",
                  "\nDefences:\n" in rep and "  CAA: bound" in rep and
                  "TLSA records: strong" in rep,
                  rep[rep.find("Defences:"):][:300])
            r = await command(a, "check", action="execute")
            sid = r.get("sessionid")
            r = await command(a, "check", action="cancel", sessionid=sid)
            check("ad-hoc cancel", r.get("status") == "canceled")
            try:
                await command(a, "check", action="complete", sessionid=sid,
                              domain="good.test")
                check("ad-hoc canceled session is gone", False)
            except slixmpp.exceptions.IqError as e:
                check("ad-hoc canceled session is gone",
                      e.condition == "bad-request", e.condition)
            r = await command(a, "status", action="execute")
            sid = r.get("sessionid")
            r = await command(a, "status", action="complete", sessionid=sid,
                              domain="")
            check("ad-hoc status completes", r.get("status") == "completed",
                  note(r)[1][:80])
        await step("adhoc", adhoc())

        async def many():
            n = min(20, len(users) - 2)
            others = await asyncio.gather(
                *[connect(info, u, comp) for u in users[2:n + 2]])
            clients.extend(others)
            doms = ["good.test" if i % 2 == 0 else "mitm.test"
                    for i in range(n)]
            t0 = time.monotonic()
            bodies = await asyncio.gather(
                *[c.report(d) for c, d in zip(others, doms)])
            good = sum(1 for b, d in zip(bodies, doms)
                       if b.startswith(d + ": ") and
                       (("ok" if d == "good.test" else "mismatch") in
                        b.splitlines()[0]))
            check("%d users check at once, each gets its own answer" % n,
                  good == n and n >= 20,
                  "%d/%d right in %.1f s" % (good, n,
                                             time.monotonic() - t0))
            for c in others:
                c.disconnect()
                clients.remove(c)
        await step("many users", many())

        async def restart():
            # A client whose stream must drop: proof the server went down.
            w = await connect(info, users[2], comp)
            gone = asyncio.Event()
            w.add_event_handler("disconnected", lambda _: gone.set())
            how = await asyncio.get_running_loop().run_in_executor(
                None, restart_server, lab, lab_json, name)
            try:
                await asyncio.wait_for(gone.wait(), 30)
                check("server restarted (%s)" % how, True)
            except asyncio.TimeoutError:
                check("server restarted (%s)" % how, False,
                      "a client's stream stayed up")
            up = await wait_bot(info, users[0], comp, limit=90)
            check("bot reconnects after the restart", up)
            b = await connect(info, users[1], comp)
            clients.append(b)
            body = await b.ask("help")
            check("answers again after the restart", "check DOMAIN" in body)
            body = await b.report("good.test")
            check("checks again after the restart", "good.test: ok" in body,
                  body.splitlines()[0])
            return b
        for c in list(clients):
            c.disconnect()
            clients.remove(c)
        await step("restart", restart())

        async def shutdown():
            b = clients[-1]
            # The probe's answer first, so that the next unavailable
            # presence is the shutdown's.
            b.send_presence(pto=comp, ptype="probe")
            p = await asyncio.wait_for(b.presences.get(), 10)
            while p["type"] != "available":
                p = await asyncio.wait_for(b.presences.get(), 10)
            while not b.presences.empty():
                b.presences.get_nowait()
            bot.send_signal(signal.SIGTERM)
            got = None
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                p = await asyncio.wait_for(b.presences.get(),
                                           deadline - time.monotonic())
                if p["type"] == "unavailable":
                    got = p
                    break
            check("shutdown: unavailable presence", got is not None)
            rc = await asyncio.get_running_loop().run_in_executor(
                None, lambda: bot.wait(15))
            check("shutdown: exits 0", rc == 0, "exit %s" % rc)
        if clients:
            await step("shutdown", shutdown())
    finally:
        for c in clients:
            c.disconnect()
        if bot.poll() is None:
            bot.terminate()
            try:
                bot.wait(10)
            except subprocess.TimeoutExpired:
                bot.kill()
        log.close()
        with open(log_path, "rb") as f:
            text = f.read().decode(errors="replace")
        record(name, "log never shows the secret",
               lab_json["xmpp"][name]["secret"] not in text)
        if any(not r for r in results):
            sys.stdout.write("--- certwatch log (%s) ---\n%s\n" %
                             (name, text[-3000:]))


def main():
    binary = (sys.argv[1] if len(sys.argv) > 1
              else os.environ.get("CERTWATCH_BIN", "certwatch"))
    logging.basicConfig(level=logging.CRITICAL)
    tmp = tempfile.mkdtemp(prefix="cw-comp-")
    lab = None
    try:
        from lab import Lab
        # $CERTWATCH_LAB (a lab.json) is reused; otherwise a lab of our own.
        lab = Lab.from_env(os.path.join(tmp, "lab"))
        lab_json = lab.info
    except ImportError:
        lab_json = json.load(open(os.environ["CERTWATCH_LAB"]))
    servers = os.environ.get("CERTWATCH_SERVERS", "prosody,ejabberd")
    try:
        for name in servers.split(","):
            if name not in lab_json.get("xmpp", {}):
                record(name, "present in the lab", False)
                continue
            asyncio.run(run_server(name, lab, lab_json, binary, tmp))
    finally:
        if lab is not None:
            lab.stop()      # only stops a lab this test started
    passed = sum(1 for r in results if r)
    failed = len(results) - passed
    if failed == 0:
        shutil.rmtree(tmp, ignore_errors=True)   # kept for a look otherwise
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
