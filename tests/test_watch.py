#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_watch.py - watching end to end: the real `certwatch run` against
the lab's Prosody (and ejabberd), subscribers driven by slixmpp, the
lab's switch.test switched under the running daemon.

  - alarms: a chat subscriber and a pubsub subscriber each get exactly one
    alert per change, and one "recovered" when it is undone: the server's
    address redirected to the MITM server (iptables DNAT, as the 2023
    attack did), and on the first server also the TLSA records removed
    and the DS made bogus (the watcher's rules, whichever server carries
    the alert);
  - the bot's presence summary, `status`, `unsubscribe all`, the per-JID
    cap, and a domain nobody subscribes to stops being polled;
  - kill -9 while 1,000 subscribes stream in: every acknowledged one is
    there after a restart, and the store loads cleanly;
  - a corrupted shard is set aside and the rest loads;
  - a restart with 10,000 due domains spreads the first rounds.

Usage: test_watch.py [CERTWATCH_BIN]   (or $CERTWATCH_BIN)
Reuses the lab named by $CERTWATCH_LAB (it must know switch.test for the
alarm tests), or starts one.  $CERTWATCH_SERVERS=prosody,ejabberd picks
the servers of the alarm test (default: both; the rest runs on Prosody).
Needs root (the lab, iptables).  Prints one line per check and
"N passed, N failed" last; exits 1 on failure.
"""
import asyncio
import glob
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
import traceback

import slixmpp
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "lab"))
from cwtest import write_config  # noqa: E402
from lab import Lab  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                      os.environ.get("CERTWATCH_BIN", "build/component/certwatch"))
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_EVENT = "http://jabber.org/protocol/pubsub#event"
NS_STATE = "urn:certwatch:state:0"
SWITCH = "switch.test"
results = []


def record(name, ok, detail=""):
    results.append(bool(ok))
    print("%s %s%s" % ("ok  " if ok else "FAIL", name,
                       (" - " + str(detail)[:1500]) if detail else ""), flush=True)


# ------------------------------------------------------------ the daemon

class Daemon:
    """One `certwatch run` with its own config, store and log."""

    def __init__(self, info, server, wdir, watch=None, limits=None,
                 admins=(), store=None, cache_ttl=True):
        x = info["xmpp"][server]
        os.makedirs(wdir, exist_ok=True)
        self.wdir = wdir
        # A component name of its own (the lab's "watch.DOMAIN"): this
        # test runs beside the others (tests/meson.build).
        self.comp = x.get("components", {}).get("watch", x["component"])
        self.store = store or os.path.join(wdir, "store")
        self.log_path = os.path.join(wdir, "certwatch.log")
        unbound = info["unbound_conf"]
        if cache_ttl:
            # The lab's TTLs are 300 s: cap libunbound's caches so a zone
            # changed under the daemon is seen at its next round.
            with open(info["unbound_conf"]) as f:
                text = f.read()
            text = text.replace("server:\n", "server:\n    cache-max-ttl: 1\n"
                                "    cache-max-negative-ttl: 1\n"
                                "    val-bogus-ttl: 1\n", 1)
            unbound = os.path.join(wdir, "unbound.conf")
            with open(unbound, "w") as f:
                f.write(text)
        self.conf = write_config(
            info, os.path.join(wdir, "certwatch.ini"),
            component={"jid": self.comp, "host": x["host"],
                       "port": x["component_port"], "secret": x["secret"],
                       "admins": ", ".join(admins)},
            probe={"timeout": "5"},
            dns={"unbound_conf": unbound},
            store={"dir": self.store}, log={"level": "debug"},
            watch=watch or {}, limits=limits or {})
        self.p = None

    def start(self):
        log = open(self.log_path, "ab")
        self.p = subprocess.Popen([BIN, "run", "-c", self.conf], stdout=log,
                                  stderr=subprocess.STDOUT)
        log.close()
        self.t0 = time.monotonic()

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
            self.sanitizers()
        return self.p.returncode if self.p else None

    def sanitizers(self):
        """A sanitizer build's reports are failures (each once)."""
        lg = self.log()
        bad = [l for l in lg.splitlines() if "AddressSanitizer" in l or
               "LeakSanitizer" in l or "runtime error:" in l]
        if len(bad) > getattr(self, "reported", 0):
            record("%s: sanitizer report" % os.path.basename(self.wdir), False,
                   bad[self.reported if hasattr(self, "reported") else 0:][:5])
            self.reported = len(bad)

    def kill9(self):
        self.p.kill()
        self.p.wait()

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


# ------------------------------------------------------------- a client

class Client(slixmpp.ClientXMPP):
    """A user: queues chat messages, pubsub events and presence from the
    component."""

    def __init__(self, jid, password, comp):
        super().__init__(jid, password)
        self.comp = comp
        self.msgs = asyncio.Queue()
        self.events = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.started = asyncio.Event()
        self["feature_mechanisms"].unencrypted_plain = True
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.register_plugin("xep_0199")
        self.add_event_handler("session_start", self._start)
        self.add_event_handler("message", self._msg)
        self.add_event_handler("presence", self._presence)

    async def _start(self, _):
        self.send_presence()
        await self.get_roster()
        self.started.set()

    def _msg(self, m):
        if m["from"].bare != self.comp:
            return
        ev = m.xml.find("{%s}event" % NS_EVENT)
        if ev is not None:
            self.events.put_nowait(ev)
        elif m["body"]:
            self.msgs.put_nowait(m["body"])

    def _presence(self, p):
        if p["from"].bare == self.comp:
            self.presences.put_nowait(p)

    async def body(self, timeout=30, match=None):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError("no message%s" % (
                    " matching %r" % match if match else ""))
            b = await asyncio.wait_for(self.msgs.get(), left)
            if match is None or re.search(match, b):
                return b

    async def ask(self, text, match=None, timeout=30):
        self.send_message(mto=self.comp, mbody=text, mtype="chat")
        return await self.body(timeout, match)

    def drain(self, q=None):
        out = []
        for qq in ([q] if q else [self.msgs, self.events, self.presences]):
            while not qq.empty():
                out.append(qq.get_nowait())
        return out


async def connect(info, user, comp):
    c = Client(user["jid"] + "/w%d" % os.getpid(), user["password"], comp)
    c.connect((info["host"], int(info["c2s_port"])), force_starttls=False)
    await asyncio.wait_for(c.started.wait(), 20)
    return c


async def wait_bot(c, limit=60):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            await c["xep_0199"].send_ping(c.comp, timeout=3)
            return True
        except Exception:
            await asyncio.sleep(0.5)
    return False


async def pubsub_iq(c, itype, name, **attrs):
    iq = c.make_iq_set(ito=c.comp) if itype == "set" else c.make_iq_get(ito=c.comp)
    ps = ET.Element("{%s}pubsub" % NS_PUBSUB)
    ET.SubElement(ps, "{%s}%s" % (NS_PUBSUB, name), **attrs)
    iq.append(ps)
    return await iq.send(timeout=30)


async def status_all(c, timeout=60):
    """`status`: the domains listed.  A long list comes in several
    messages (bodies are cut at 4 KB): read until the count it announces."""
    b = await c.ask("status", match=r"^Your \d+ subscriptions?:|no subscriptions",
                    timeout=timeout)
    m = re.match(r"Your (\d+) subscriptions?:", b)
    want = int(m[1]) if m else 0
    have = re.findall(r"^(\S+): ", b, re.M)
    while len(have) < want:
        b = await c.body(10)
        have += re.findall(r"^(\S+): ", b, re.M)
    return want, set(have)


async def stats(admin):
    """The admin `stats` numbers: rounds, scheduled, running, waiting."""
    b = await admin.ask("stats", match=r"watched domains:")
    out = {}
    m = re.search(r"watched domains: (\d+) \((\d+) scheduled, (\d+) rounds "
                  r"running, (\d+) waiting\)", b)
    out.update(domains=int(m[1]), scheduled=int(m[2]), running=int(m[3]),
               waiting=int(m[4]))
    out["rounds"] = int(re.search(r"rounds: (\d+)", b)[1])
    m = re.search(r"alerts: (\d+) alarm, (\d+) removed, (\d+) down, (\d+) "
                  r"recovered, (\d+) info", b)
    out["alerts"] = [int(x) for x in m.groups()]
    m = re.search(r"store: (\d+) batches, (\d+) files, (\d+) bytes, (\d+) "
                  r"fsyncs", b)
    out["store"] = [int(x) for x in m.groups()]
    return out


async def wait_rounds(admin, n, timeout=60):
    """Until n more rounds have finished."""
    start = (await stats(admin))["rounds"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(1)
        if (await stats(admin))["rounds"] >= start + n:
            return True
    return False


async def roster_add(c):
    """Adds the bot to c's roster (presence subscription both ways)."""
    if c.comp in c.client_roster and \
            c.client_roster[c.comp]["subscription"] != "none":
        c.del_roster_item(c.comp)
        # Until the server's roster push has removed it.
        deadline = time.monotonic() + 10
        while c.comp in c.client_roster and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    c.drain(c.presences)
    c.send_presence(pto=c.comp, ptype="subscribe")


async def presence_status(c, want, timeout=30):
    """The bot's presence to c until its status matches `want`."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            p = await asyncio.wait_for(c.presences.get(),
                                       deadline - time.monotonic())
        except asyncio.TimeoutError:
            break
        if p["type"] in ("available", "dnd", "away", "xa", "chat"):
            seen.append((p["type"], p["show"], p["status"]))
            if re.search(want, p["status"] or ""):
                return p["show"] or "available", p["status"], seen
    return None, None, seen


# -------------------------------------------------------- 1. the alarms

def iptables(op, src_ip, dst_ip):
    subprocess.run(["iptables", "-t", "nat", op, "OUTPUT", "-d", src_ip, "-p",
                    "tcp", "-j", "DNAT", "--to-destination", dst_ip],
                   check=True, capture_output=True)


async def alarms(server, lab, info, tmp, dns_phases=True):
    """The alerts of a watched domain through one XMPP server, by chat
    and by pubsub.  dns_phases: also TLSA removed and back, DS bogus and
    back (rules of the watcher, the same whichever server carries the
    alert: run on the first server only, which saves CI minutes)."""
    x = info["xmpp"][server]
    users = x["users"]
    sw = info["switchable"][SWITCH]
    mitm_ip = info["targets"]["mitm"]
    d = Daemon(info, server, os.path.join(tmp, "alarms-" + server),
               watch={"interval": "10", "jitter": "2", "down_after": "2",
                      "flap_limit": "50"},
               limits={"subscriptions_per_jid": "3"},
               admins=[users[0]["jid"]])
    d.start()
    clients = []
    tag = server + ": "
    dnat = False
    try:
        admin = await connect(x, users[0], d.comp)
        clients.append(admin)
        record(tag + "bot up", await wait_bot(admin))
        a = await connect(x, users[10], d.comp)   # chat subscriber
        b = await connect(x, users[11], d.comp)   # pubsub subscriber
        clients += [a, b]
        await roster_add(a)
        show, status, seen = await presence_status(a, r"send \"help\"|OK")
        record(tag + "roster add: presence with a summary", show, seen)

        body = await a.ask("subscribe " + SWITCH, match=r"^Subscribed to ")
        record(tag + "subscribe by chat acknowledged", SWITCH in body, body)
        first = await a.body(60, match=r"^First check of ")
        record(tag + "first check reported to the subscriber",
               "switch.test: ok" in first, first.splitlines()[:3])
        r = await pubsub_iq(b, "set", "subscribe", node=SWITCH,
                            jid=users[11]["jid"])
        sub = r.xml.find(".//{%s}subscription" % NS_PUBSUB)
        record(tag + "pubsub subscribe", sub is not None and
               sub.get("subscription") == "subscribed", r)
        # Its current state (the last item) may come at once; drop it.
        try:
            await asyncio.wait_for(b.events.get(), 10)
        except asyncio.TimeoutError:
            pass
        b.drain(b.events)
        show, status, seen = await presence_status(a, r"1 domain OK", 20)
        record(tag + "presence: available \"1 domain OK\"",
               show == "available", seen)
        r = await pubsub_iq(b, "get", "items", node=SWITCH)
        st = r.xml.find(".//{%s}state" % NS_STATE)
        record(tag + "pubsub items: the current state", st is not None and
               st.get("verdict") == "ok", r)

        async def phase(what, switch, kind, text_re, verdict, limit=40):
            """Switch, then exactly one alert of `kind` by chat and by
            pubsub, none more in the two rounds that follow.  `limit`:
            seconds to wait for it (one interval, plus what the
            resolver's caches add)."""
            a.drain(a.msgs)
            b.drain(b.events)
            t0 = time.monotonic()
            switch()
            try:
                msg = await a.body(limit, match=r"^(ALARM|%s|.* recovered|.*removed)"
                                   % re.escape(SWITCH))
            except asyncio.TimeoutError:
                msg = None
            # An alert longer than one message (4096 bytes) comes in
            # parts: the rest of this one, up to its footer, is no repeat.
            try:
                while msg is not None and "to stop these alerts" not in msg:
                    msg += "\n" + await a.body(10)
            except asyncio.TimeoutError:
                pass
            ok = msg is not None and re.search(text_re, msg)
            record(tag + "%s: one chat alert (after %.0f s)"
                   % (what, time.monotonic() - t0), ok, msg and msg.splitlines()[0])
            try:
                ev = await asyncio.wait_for(b.events.get(), 20)
                st = ev.find(".//{%s}state" % NS_STATE)
            except asyncio.TimeoutError:
                st = None
            record(tag + "%s: one pubsub event" % what, st is not None and
                   st.get("alert") == kind and st.get("verdict") == verdict,
                   st is not None and dict(st.attrib))
            # Two more rounds: the same state is never repeated.  Rounds
            # that stall prove nothing: that fails too.
            rounds = await wait_rounds(admin, 2, 90)
            more = [m for m in a.drain(a.msgs) if SWITCH in m]
            evs = a.drain(a.events) + b.drain(b.events)
            record(tag + "%s: no repeat in the next two rounds" % what,
                   rounds and not more and not evs,
                   ("two rounds done" if rounds else "rounds stalled",
                    more, len(evs)))

        def dnat_on():
            nonlocal dnat
            iptables("-A", sw["ip"], mitm_ip)
            dnat = True

        def dnat_off():
            nonlocal dnat
            iptables("-D", sw["ip"], mitm_ip)
            dnat = False

        await phase("MITM (DNAT to the mitm server)", dnat_on, "alarm",
                    r"^ALARM: switch\.test is now mismatch", "mismatch")
        show, status, seen = await presence_status(a, r"ALERT", 15)
        record(tag + "presence: dnd \"ALERT: switch.test mismatch\"",
               show == "dnd" and "switch.test mismatch" in status, seen)
        # A probe (the subscriber's client logs in again) must get the
        # same summary, not a generic available presence.
        a.drain(a.presences)
        a.send_presence(pto=d.comp, ptype="probe")
        show, status, seen = await presence_status(a, r".", 10)
        record(tag + "presence: a probe during the alarm is answered dnd ALERT",
               show == "dnd" and "ALERT" in (status or ""), seen)
        await phase("MITM undone", dnat_off, "recovered",
                    r"^switch\.test recovered: now ok", "ok")
        show, status, seen = await presence_status(a, r"OK", 15)
        record(tag + "presence: back to \"1 domain OK\"",
               show == "available" and "1 domain OK" in status, seen)
        if dns_phases:
            await phase("TLSA removed", lambda: lab.zone_set(SWITCH, "notlsa"),
                        "removed", r"switch\.test: DNSSEC or its TLSA records were "
                        r"removed \(was ok, now no-tlsa\)", "no-tlsa")
            await phase("TLSA back", lambda: lab.zone_set(SWITCH, "normal"),
                        "recovered", r"^switch\.test recovered: now ok", "ok")
            await phase("DS bogus", lambda: lab.zone_set(SWITCH, "bogus"), "alarm",
                        r"^ALARM: switch\.test is now bogus", "bogus")
            # libunbound keeps a key it found bogus for 60 s (its
            # BOGUS_KEY_TTL, not a setting): up to 60 s + one interval.
            await phase("DS back", lambda: lab.zone_set(SWITCH, "normal"),
                        "recovered", r"^switch\.test recovered: now ok", "ok", 100)

        # status, the cap, unsubscribe all.
        body = await a.ask("status", match=r"subscription")
        record(tag + "status lists the subscription",
               re.search(r"Your 1 subscription:\nswitch\.test: ok", body), body)
        body = await a.ask("status " + SWITCH, match=r"^switch\.test")
        record(tag + "status DOMAIN: endpoints, keys, history",
               "next check in" in body and "key " + info["keys"]["good"]["spki_sha256"]
               in body and "mismatch" in body, body)
        for n in ("nonexistent.test", "nosuch.test"):
            await a.ask("subscribe " + n, match=r"^Subscribed to ")
        body = await a.ask("subscribe notlsa.test", match=r"limit|^Subscribed")
        record(tag + "the per-JID cap says so", "limit of 3 subscriptions" in body,
               body)
        # The cap counts pubsub subscriptions of every resource of a JID:
        # b has one (switch.test); two more, then the fourth is refused.
        bare_b = users[11]["jid"]
        for i in (1, 2):
            await pubsub_iq(b, "set", "subscribe", node="p%d.nonexistent.test" % i,
                            jid="%s/r%d" % (bare_b, i))
        try:
            r = await pubsub_iq(b, "set", "subscribe", node="p3.nonexistent.test",
                                jid=bare_b + "/r3")
            cond = "subscribed"
        except IqError as e:
            cond = e.iq["error"]["condition"]
        record(tag + "pubsub cap: a new resource per request does not get past it",
               cond == "not-allowed", cond)
        for i in (1, 2, 3) if cond == "subscribed" else (1, 2):
            await pubsub_iq(b, "set", "unsubscribe", node="p%d.nonexistent.test" % i,
                            jid="%s/r%d" % (bare_b, i))
        b.drain(b.events)
        body = await a.ask("subscribe nonexistent.test", match=r"already")
        record(tag + "already subscribed", "already subscribed" in body, body)
        a.drain(a.presences)
        body = await a.ask("unsubscribe all", match=r"^Unsubscribed|no subscriptions")
        record(tag + "unsubscribe all", "Unsubscribed from all 3 domains" in body, body)
        body = await a.ask("status", match=r"subscriptions")
        record(tag + "status after unsubscribe all",
               body.startswith("You have no subscriptions"), body)
        show, status, seen = await presence_status(a, r"help", 15)
        record(tag + "presence after unsubscribe all", show == "available" and
               "send \"help\"" in status, seen)

        # switch.test still has its pubsub subscriber: still polled; the
        # others stop.
        s = await stats(admin)
        record(tag + "domains without subscribers are dropped at once",
               s["domains"] == 1 and s["scheduled"] + s["running"] +
               s["waiting"] == 1, s)
        r = await pubsub_iq(b, "set", "unsubscribe", node=SWITCH,
                            jid=users[11]["jid"])
        record(tag + "pubsub unsubscribe", r["type"] == "result", r)
        await asyncio.sleep(1)
        s1 = await stats(admin)
        await asyncio.sleep(14)
        s2 = await stats(admin)
        record(tag + "no subscriber left: no longer polled",
               s1["domains"] == 0 and s2["rounds"] == s1["rounds"] and
               s2["scheduled"] == 0 and s2["running"] == 0, (s1, s2))
        body = await a.ask("status " + SWITCH, match=r"switch\.test")
        record(tag + "status of a dropped domain", "is not watched" in body, body)
        lg = d.log()
        errs = [l for l in lg.splitlines() if l.startswith("<3>")]
        record(tag + "daemon log: no error lines", not errs, errs[:5])
    finally:
        if dnat:
            iptables("-D", sw["ip"], mitm_ip)
        lab.zone_set(SWITCH, "normal")
        for c in clients:
            c.disconnect()
        d.stop()


# ------------------------------------------- 2. kill -9 while subscribing

async def kill_during_subscribes(info, tmp):
    x = info["xmpp"]["prosody"]
    users = x["users"][12:16]
    wdir = os.path.join(tmp, "kill9")
    d = Daemon(info, "prosody", wdir, admins=[u["jid"] for u in users],
               watch={"interval": "3600", "jitter": "60"})
    d.start()
    clients = []
    acked = {}
    try:
        for u in users:
            clients.append(await connect(x, u, d.comp))
        record("kill9: bot up", await wait_bot(clients[0]))
        # 1,000 distinct names, 250 per user, streamed over about 10 s
        # (so commits go on all the time); names under nonexistent.test
        # (a secure NXDOMAIN: no probe).
        per = 250

        async def send(i, c):
            for j in range(per):
                c.send_message(mto=d.comp, mtype="chat",
                               mbody="subscribe k%d-%03d.nonexistent.test" % (i, j))
                await asyncio.sleep(0.04)

        for i, c in enumerate(clients):
            acked[c.boundjid.bare] = set()
        senders = [asyncio.ensure_future(send(i, c)) for i, c in enumerate(clients)]

        async def collect(c):
            while True:
                b = await c.msgs.get()
                m = re.match(r"Subscribed to (\S+)\. ", b)
                if m:
                    acked[c.boundjid.bare].add(m[1])

        tasks = [asyncio.ensure_future(collect(c)) for c in clients]
        # Kill it once 300 are acknowledged: more are being read and
        # committed (its debug log names each command it reads).
        deadline = time.monotonic() + 60
        while sum(len(v) for v in acked.values()) < 300 and \
                time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        d.kill9()
        for t in senders:
            t.cancel()
        taken = len(re.findall(r": subscribe k\d", d.log()))
        # Acknowledgements the server had not yet delivered still come.
        await asyncio.sleep(3)
        for t in tasks:
            t.cancel()
        n_acked = sum(len(v) for v in acked.values())
        record("kill9: killed mid-stream", 0 < n_acked < 1000 and taken < 1000,
               "%d subscribes read, %d acknowledged" % (taken, n_acked))
        corrupt = glob.glob(os.path.join(d.store, "*.corrupt-*"))
        d.start()
        record("kill9: restarted", await wait_bot(clients[0]))
        lost, total = [], 0
        for c in clients:
            c.drain(c.msgs)
            n, have = await status_all(c)
            total += n
            lost += sorted(acked[c.boundjid.bare] - have)
        n_acked = sum(len(v) for v in acked.values())
        record("kill9: every acknowledged subscription is there after restart",
               not lost, "%d acknowledged, %d in status, %d lost: %s" % (
                   n_acked, total, len(lost), lost[:10]))
        lg = d.log()
        corrupt = glob.glob(os.path.join(d.store, "*.corrupt-*"))
        record("kill9: the store loads cleanly (no file set aside)",
               not corrupt and "set aside" not in lg and "corrupt" not in lg,
               corrupt)
    finally:
        for c in clients:
            c.disconnect()
        d.stop()
    return d, sum(len(v) for v in acked.values())


# ------------------------------------------------- 3. a corrupted shard

async def corrupted_shard(info, tmp, d):
    """d: the kill9 daemon (stopped), its store full of subscriptions."""
    x = info["xmpp"]["prosody"]
    users = x["users"][12:16]
    shards = sorted(glob.glob(os.path.join(d.store, "shard-???")))
    victim = None
    names = {}
    for path in shards:
        with open(path) as f:
            text = f.read()
        doms = re.findall(r"^domain (\S+)$", text, re.M)
        names[path] = doms
        if doms and victim is None:
            victim = path
    total = sum(len(v) for v in names.values())
    with open(victim, "wb") as f:
        f.write(b"\x00\xffnot a shard\n" * 50)
    # A file the parser accepts may still hold odd values: an endpoint
    # with no verdict ("-") in a domain that one of the users watches.
    odd = odd_endpoint(shards, victim, set(u["jid"] for u in users))
    d.start()
    clients = []
    try:
        for u in users:
            clients.append(await connect(x, u, d.comp))
        record("corrupt: bot up with a corrupted shard", await wait_bot(clients[0]))
        have = set()
        for c in clients:
            have |= (await status_all(c))[1]
        want = set(n for p, v in names.items() if p != victim for n in v)
        record("corrupt: every other domain loads",
               want <= have and not (set(names[victim]) & have),
               "%d of %d loaded, %d were in the bad file" % (
                   len(have), total, len(names[victim])))
        if odd:
            dom, jid = odd
            c = next(c for u, c in zip(users, clients) if u["jid"] == jid)
            try:
                body = await c.ask("status " + dom, match=r"odd\.example", timeout=20)
            except Exception as e:
                body = "no answer: %r" % e
            record("corrupt: an endpoint without a verdict is shown as '-'",
                   " odd.example:5222: -" in body and d.p.poll() is None, body[:300])
        else:
            record("corrupt: an endpoint without a verdict is shown as '-'",
                   False, "no domain of users 12-15 outside the bad file")
        kept = glob.glob(victim + ".corrupt-*")
        same = False
        if kept:
            with open(kept[0], "rb") as f:
                same = f.read() == b"\x00\xffnot a shard\n" * 50
        record("corrupt: the file is kept as NAME.corrupt-TIME, byte for byte",
               len(kept) == 1 and same, kept)
        lg = d.log()
        record("corrupt: the daemon logs it",
               os.path.basename(victim) in lg and "corrupt" in lg,
               [l for l in lg.splitlines() if os.path.basename(victim) in l][:3])
    finally:
        for c in clients:
            c.disconnect()
        d.stop()


def odd_endpoint(shards, victim, jids):
    """Adds `endpoint xmpp-client odd.example 5222 - - -` to the first
    domain (outside victim) that one of jids subscribes to by chat; returns
    (domain, jid) or None."""
    for path in shards:
        if path == victim:
            continue
        with open(path) as f:
            lines = f.read().split("\n")
        dom = None
        for i, line in enumerate(lines):
            if line.startswith("domain "):
                dom = line.split(" ", 1)[1]
            elif line.startswith("chat ") and line[5:] in jids and dom:
                for j in range(i, 0, -1):
                    if lines[j].startswith("state "):
                        lines.insert(j + 1, "endpoint xmpp-client odd.example 5222 - - -")
                        with open(path, "w") as f:
                            f.write("\n".join(lines))
                        return dom, line[5:]
    return None


# ---------------------------------------- 4. a restart with 10,000 due

def fnv1a32(s):
    h = 2166136261
    for ch in s.encode():
        h = ((h ^ ch) * 16777619) & 0xffffffff
    return h


def fill_store(store, names, jid, next_due, last_check):
    """Writes shard files (docs/store.md, version 1) holding `names`, each
    checked `ok` at last_check and due at next_due, `jid` subscribed."""
    os.makedirs(store, mode=0o700, exist_ok=True)
    shards = {}
    for n in names:
        shards.setdefault(fnv1a32(n) % 4096, []).append(n)
    for sh, ns in shards.items():
        out = ["certwatch-store 1\n", "commit 1\n"]
        for n in sorted(ns):
            out.append("domain %s\nstate ok - 0 %d %d %d\n"
                       "change %d - ok -\nchat %s\nend\n"
                       % (n, last_check, last_check, next_due, last_check, jid))
        out.append("records %d\n" % len(ns))
        path = os.path.join(store, "shard-%03x" % sh)
        with open(path, "w") as f:
            f.write("".join(out))
        os.chmod(path, 0o600)


async def spread_restart(info, tmp, n=10000, interval=60):
    x = info["xmpp"]["prosody"]
    admin_u = x["users"][16]
    wdir = os.path.join(tmp, "spread")
    d = Daemon(info, "prosody", wdir, admins=[admin_u["jid"]],
               watch={"interval": str(interval), "jitter": "5"},
               limits={})
    now = int(time.time())
    fill_store(d.store, ["s%05d.nonexistent.test" % i for i in range(n)],
               "watcher@example.org", now - 7200, now - 10000)
    d.start()
    c = None
    try:
        c = await connect(x, admin_u, d.comp)
        record("spread: bot up with %d domains" % n, await wait_bot(c))
        t0 = d.t0
        samples = []
        io0 = (await stats(c))["store"]
        while time.monotonic() - t0 < interval + 15:
            s = await stats(c)
            samples.append((time.monotonic() - t0, s["rounds"],
                            s["waiting"] + s["running"], s["scheduled"]))
            await asyncio.sleep(2)
        # Rounds done by each quarter of the interval: about 25 %, 50 %,
        # 75 %, and everything by its end; never a queue of thousands.
        def done_at(t):
            return max([r for (ts, r, _, _) in samples if ts <= t] or [0])
        quarters = [done_at(interval * q / 4) / n for q in (1, 2, 3)]
        peak = max(q for (_, _, q, _) in samples)
        io = [b - a for a, b in zip(io0, s["store"])]
        detail = ("rounds done at 1/4, 1/2, 3/4 of the interval: %s; all: %d "
                  "at %.0f s; largest queue %d; the store meanwhile: %d "
                  "batches, %d files, %.1f MB, %d fsyncs" % (
                      ["%.0f%%" % (100 * q) for q in quarters], samples[-1][1],
                      samples[-1][0], peak, io[0], io[1], io[2] / 1e6, io[3]))
        record("spread: first rounds spread across the interval, not a burst",
               0.10 <= quarters[0] <= 0.40 and 0.35 <= quarters[1] <= 0.65 and
               0.60 <= quarters[2] <= 0.90 and samples[-1][1] >= 0.97 * n and
               peak < n / 10, detail)
        return samples
    finally:
        if c:
            c.disconnect()
        d.stop()


# ----------------------------------------------------------------- main

async def main_async(lab, info, tmp):
    servers = os.environ.get("CERTWATCH_SERVERS", "prosody,ejabberd").split(",")

    async def step(name, coro):
        try:
            return await coro
        except Exception as e:
            record(name, False, "%s: %s" % (type(e).__name__, e))
            traceback.print_exc(file=sys.stdout)
            return None

    if SWITCH in info.get("switchable", {}):
        for i, s in enumerate(servers):
            await step(s + ": alarms", alarms(s, lab, info, tmp, i == 0))
    else:
        record("alarms: the lab has no switch.test (an older lab?)", False)
    r = await step("kill9", kill_during_subscribes(info, tmp))
    if r:
        await step("corrupt", corrupted_shard(info, tmp, r[0]))
    await step("spread", spread_restart(info, tmp))


def main():
    logging.basicConfig(level=logging.CRITICAL)
    if not os.access(BIN, os.X_OK):
        print("no certwatch binary at %s" % BIN)
        return 1
    tmp = tempfile.mkdtemp(prefix="certwatch-watch.")
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
