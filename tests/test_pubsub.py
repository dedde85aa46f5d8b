#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_pubsub.py - subscriptions end to end, the promises of
docs/usage.md that test_component.py and test_watch.py leave out, on one
`certwatch run` against the lab's Prosody, users driven by slixmpp:

  - pubsub: subscribing (or unsubscribing) another JID is `bad-request`;
    publish, create, retract and the owner namespace are refused; an
    already-watched node sends its current state at once;
  - chat `unsubscribe DOMAIN`, and "You were not subscribed";
  - ad-hoc `subscribe` and `unsubscribe`;
  - the contact-removed notice, once;
  - `recheck` by an admin, and an `info` alert end to end (switch.test
    from no-tlsa to ok, by chat and by pubsub);
  - [watch] flap_limit: beyond it a `removed` alert is held, an alarm is
    not (the hourly summary is tests/test_transition.c's, on a table);
  - ad-hoc `resource-constraint` over commands_per_minute, and
    adhoc_session_timeout (an idle session is gone, a pending request
    gets session-expired).

Usage: test_pubsub.py [CERTWATCH_BIN]   (or $CERTWATCH_BIN)
Reuses the lab named by $CERTWATCH_LAB (it must know switch.test), or
starts one.  Switches switch.test: not beside test_watch.py.
Prints one line per check and "N passed, N failed" last; exits 1 on
failure.
"""
import asyncio
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import traceback

from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_component import command, note  # noqa: E402
from test_watch import (NS_EVENT, NS_PUBSUB, NS_STATE, SWITCH,  # noqa: E402
                        Daemon, connect, pubsub_iq, roster_add, wait_bot)
from lab import Lab  # noqa: E402

NS_OWNER = NS_PUBSUB + "#owner"
CMDS_PER_MINUTE = 20
SESSION_TIMEOUT = 10    # the least [limits] adhoc_session_timeout allows
results = []


def record(name, ok, detail=""):
    results.append(bool(ok))
    print("%s %s%s" % ("ok  " if ok else "FAIL", name,
                       (" - " + str(detail)[:1500]) if detail else ""), flush=True)


def bodyless_events(c):
    """Queues on c.events the pubsub events that come without a <body/>
    too (slixmpp's "message" event is only for messages with one): the
    current state sent on subscribing has none."""
    def handle(m):
        if m["from"].bare == c.comp and not m["body"]:
            c.events.put_nowait(m.xml.find("{%s}event" % NS_EVENT))
    c.register_handler(Callback("bodyless pubsub event", MatchXPath(
        "{jabber:client}message/{%s}event" % NS_EVENT), handle))


async def iq_condition(coro):
    """The error condition of an iq, or "result"."""
    try:
        await coro
        return "result"
    except IqError as e:
        return e.iq["error"]["condition"]


async def raw_iq(c, itype, ns, name, **attrs):
    iq = c.make_iq_set(ito=c.comp) if itype == "set" else c.make_iq_get(ito=c.comp)
    ps = ET.Element("{%s}pubsub" % ns)
    el = ET.SubElement(ps, "{%s}%s" % (ns, name), **attrs)
    if name == "publish":
        item = ET.SubElement(el, "{%s}item" % ns, id="current")
        ET.SubElement(item, "{%s}state" % NS_STATE, verdict="ok")
    iq.append(ps)
    return await iq.send(timeout=30)


async def event(c, timeout=30):
    """The next pubsub event's <state/>, or None."""
    try:
        ev = await asyncio.wait_for(c.events.get(), timeout)
    except asyncio.TimeoutError:
        return None
    return ev.find(".//{%s}state" % NS_STATE)


async def settled(c):
    """Every stanza the bot sent c before now has arrived: the bot
    answers in order and the server delivers in order."""
    await c["xep_0199"].send_ping(c.comp, timeout=10)
    await asyncio.sleep(0)


# ------------------------------------------------------------ pubsub

async def pubsub_rules(x, a, b):
    """a and b: two users.  Refusals, then the current state at once."""
    other = b.boundjid.bare
    cond = await iq_condition(pubsub_iq(a, "set", "subscribe",
                                        node="good.test", jid=other))
    record("pubsub: subscribing another JID is bad-request",
           cond == "bad-request", cond)
    cond = await iq_condition(pubsub_iq(a, "set", "subscribe",
                                        node="good.test", jid=other + "/x"))
    record("pubsub: another JID's resource too", cond == "bad-request", cond)
    cond = await iq_condition(pubsub_iq(a, "set", "unsubscribe",
                                        node=SWITCH, jid=other))
    record("pubsub: unsubscribing another JID is bad-request",
           cond == "bad-request", cond)
    for name in ("publish", "create", "retract"):
        cond = await iq_condition(raw_iq(a, "set", NS_PUBSUB, name,
                                         node=SWITCH))
        record("pubsub: %s refused (forbidden)" % name, cond == "forbidden",
               cond)
    for name in ("configure", "delete", "purge"):
        cond = await iq_condition(raw_iq(a, "set", NS_OWNER, name,
                                         node=SWITCH))
        record("pubsub: owner %s refused (forbidden)" % name,
               cond == "forbidden", cond)
    cond = await iq_condition(raw_iq(a, "get", NS_OWNER, "configure",
                                     node=SWITCH))
    record("pubsub: owner configure form refused", cond == "forbidden", cond)
    r = await pubsub_iq(b, "get", "subscriptions")
    subs = r.xml.findall(".//{%s}subscription" % NS_PUBSUB)
    record("pubsub: after the refusals, b has no subscription",
           not subs, [dict(s.attrib) for s in subs])


async def current_state(b, verdict):
    """b subscribes to the already-watched switch.test: its state comes
    at once, as an event."""
    b.drain(b.events)
    r = await pubsub_iq(b, "set", "subscribe", node=SWITCH,
                        jid=b.boundjid.bare)
    sub = r.xml.find(".//{%s}subscription" % NS_PUBSUB)
    st = await event(b, 10)
    record("pubsub: an already-watched node sends its state at once",
           sub is not None and sub.get("subscription") == "subscribed" and
           st is not None and st.get("verdict") == verdict and
           st.get("domain") == SWITCH, st is not None and dict(st.attrib))


# ------------------------------------------------------- chat, ad-hoc

async def chat_unsubscribe(c):
    dom = "unsub.nonexistent.test"
    body = await c.ask("unsubscribe " + dom, match=dom)
    record("chat: unsubscribe of a domain never subscribed",
           body == "You were not subscribed to %s." % dom, body)
    await c.ask("subscribe " + dom, match=r"^Subscribed to ")
    await c.body(60, match=r"^First check of ")
    body = await c.ask("unsubscribe " + dom.upper() + ".", match=dom)
    record("chat: unsubscribe DOMAIN (any case, final dot)",
           body == "Unsubscribed from %s." % dom, body)
    body = await c.ask("status", match=r"subscriptions")
    record("chat: status after unsubscribe DOMAIN",
           body.startswith("You have no subscriptions"), body)
    body = await c.ask("unsubscribe " + dom, match=dom)
    record("chat: unsubscribe again: not subscribed",
           body == "You were not subscribed to %s." % dom, body)


async def adhoc_run(c, node, domain):
    """One ad-hoc command with a domain: execute, then complete; the
    final <command/>."""
    r = await command(c, node, action="execute")
    return await command(c, node, action="complete",
                         sessionid=r.get("sessionid"), domain=domain)


async def adhoc_subscribe(c):
    dom = "adhoc.nonexistent.test"
    r = await adhoc_run(c, "subscribe", dom)
    t, text = note(r)
    record("ad-hoc subscribe: completed, the chat's words",
           r.get("status") == "completed" and
           text.startswith("Subscribed to %s." % dom), (r.get("status"), t, text))
    body = await c.ask("status", match=r"subscription")
    record("ad-hoc subscribe: in status",
           re.search(r"^Your 1 subscription:\n%s: " % re.escape(dom), body),
           body)
    r = await adhoc_run(c, "unsubscribe", dom)
    t, text = note(r)
    record("ad-hoc unsubscribe: completed",
           r.get("status") == "completed" and
           text == "Unsubscribed from %s." % dom, (r.get("status"), t, text))
    r = await adhoc_run(c, "unsubscribe", dom)
    t, text = note(r)
    record("ad-hoc unsubscribe: not subscribed",
           text == "You were not subscribed to %s." % dom, text)
    body = await c.ask("status", match=r"subscriptions")
    record("ad-hoc unsubscribe: gone from status",
           body.startswith("You have no subscriptions"), body)
    for d in ("ad1.nonexistent.test", "ad2.nonexistent.test"):
        await adhoc_run(c, "subscribe", d)
    r = await adhoc_run(c, "unsubscribe", "all")
    t, text = note(r)
    record("ad-hoc unsubscribe all",
           text.startswith("Unsubscribed from all 2 domains."), text)


async def bot_presence(c, types, timeout=20):
    """The bot's next presence to c of one of `types`, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            p = await asyncio.wait_for(c.presences.get(),
                                       deadline - time.monotonic())
        except asyncio.TimeoutError:
            return None
        if p["type"] in types:
            return p
    return None


async def contact_removed(c):
    """Removing the bot from the roster: one notice while subscribed."""
    await c.ask("subscribe removed.nonexistent.test", match=r"^Subscribed")
    notices = []
    for i in range(2):
        await roster_add(c)
        up = await bot_presence(c, ("available",))
        c.drain(c.presences)
        c.drain(c.msgs)
        c.del_roster_item(c.comp)
        # The bot answers the unsubscribe (unsubscribed, unavailable)
        # before it says anything else.
        gone = await bot_presence(c, ("unsubscribed", "unavailable"))
        await settled(c)
        notices.append([m for m in c.drain(c.msgs) if "removed certwatch" in m])
        if i == 0:
            record("contact removed: the notice", up and gone and notices[0] == [
                "You removed certwatch from your contacts; alerts for your "
                "subscriptions still come. Send \"unsubscribe all\" to stop "
                "them."], (bool(up), bool(gone), notices[0]))
    record("contact removed: said once", up and gone and not notices[1],
           (bool(up), bool(gone), notices[1]))
    await c.ask("unsubscribe all", match=r"^Unsubscribed")


# ------------------------------------- recheck, info, flap_limit

async def round_until(admin, d, line, limit=40):
    """Rechecks switch.test until the daemon logs `line` once more (an
    alert decided): knotd re-signs and the resolver's 1 s cache expires
    in their own time.  Whether it came."""
    n = d.log().count(line)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        await admin.ask("recheck " + SWITCH, match=r"^A round of")
        t = time.monotonic()
        while time.monotonic() - t < 2:
            if d.log().count(line) > n:
                return True
            await asyncio.sleep(0.1)
    return False


async def info_and_flap(lab, admin, s, p, d):
    """switch.test watched from no-tlsa (s by chat, p by pubsub), flap_limit
    = 2: the change to ok is an info alert (2 changes this hour); the
    change back to no-tlsa is held (3); an alarm still goes out."""
    admin.drain(admin.msgs)
    admin.send_message(mto=admin.comp, mbody="recheck " + SWITCH, mtype="chat")
    admin.send_message(mto=admin.comp, mbody="recheck " + SWITCH, mtype="chat")
    r1 = await admin.body(15, match=SWITCH)
    r2 = await admin.body(15, match=SWITCH)
    record("recheck: a round starts now",
           r1 == "A round of %s starts now; subscribers are alerted if its "
           "state changed." % SWITCH, r1)
    record("recheck: a second one meanwhile is already running",
           r2 == "A round of %s is already running." % SWITCH, r2)
    body = await s.ask("recheck " + SWITCH, match=r"admins|round")
    record("recheck: only for admins",
           body == "\"recheck\" is only for the admins of this service.", body)
    await settled(s)
    s.drain(s.msgs)
    p.drain(p.events)

    lab.zone_set(SWITCH, "normal")
    came = await round_until(admin, d, "%s: info (no-tlsa → ok)" % SWITCH)
    try:
        msg = await s.body(20, match=re.escape(SWITCH))
    except asyncio.TimeoutError:
        msg = None
    record("info alert by chat: no-tlsa to ok",
           came and msg and
           msg.startswith("%s changed: no-tlsa → ok\n" % SWITCH) and
           "Send \"unsubscribe %s\"" % SWITCH in msg,
           msg and msg.splitlines()[:2])
    st = await event(p, 20)
    record("info alert by pubsub", st is not None and
           st.get("alert") == "info" and st.get("verdict") == "ok",
           st is not None and dict(st.attrib))

    # A third change this hour: held.
    lab.zone_set(SWITCH, "notlsa")
    decided = await round_until(admin, d, "%s: removed (ok → no-tlsa)" % SWITCH)
    await settled(s)
    await settled(p)
    chat = [m for m in s.drain(s.msgs) if SWITCH in m]
    evs = p.drain(p.events)
    record("flap_limit: the third change this hour is held (chat, pubsub)",
           decided and not chat and not evs,
           (decided, [m.splitlines()[0] for m in chat], len(evs)))
    body = await s.ask("status " + SWITCH, match=SWITCH)
    record("flap_limit: held, but the state is recorded",
           body.startswith("%s: no-tlsa" % SWITCH), body.splitlines()[0])

    # Alarms are never held.
    lab.zone_set(SWITCH, "bogus")
    came = await round_until(admin, d, "%s: alarm (no-tlsa → bogus)" % SWITCH)
    try:
        msg = await s.body(20, match=re.escape(SWITCH))
    except asyncio.TimeoutError:
        msg = None
    record("flap_limit: an alarm is sent all the same",
           came and msg and msg.startswith("ALARM: %s is now bogus" % SWITCH),
           msg and msg.splitlines()[0])
    st = await event(p, 20)
    record("flap_limit: the alarm's pubsub event", st is not None and
           st.get("alert") == "alarm", st is not None and dict(st.attrib))


# ----------------------------------------------------- ad-hoc limits

async def adhoc_rate(c):
    """Over commands_per_minute, an ad-hoc request gets
    resource-constraint (an iq must be answered)."""
    for i in range(CMDS_PER_MINUTE):
        r = await command(c, "status", action="execute")
        await command(c, "status", action="cancel", sessionid=r.get("sessionid"))
    try:
        await command(c, "status", action="execute")
        cond, text = "result", ""
    except IqError as e:
        cond, text = e.iq["error"]["condition"], e.iq["error"]["text"]
    record("ad-hoc over commands_per_minute: resource-constraint",
           cond == "resource-constraint" and "rate limit" in text,
           (cond, text))


async def adhoc_timeout(c):
    """An idle session is gone after adhoc_session_timeout; a request
    still pending then gets bad-request with session-expired."""
    t0 = time.monotonic()
    idle = (await command(c, "check", action="execute")).get("sessionid")
    r = await command(c, "check", action="execute")
    try:
        # stall.test's probes hang for [probe] timeout (15 s here).
        await command(c, "check", action="complete", sessionid=r.get("sessionid"),
                      domain="stall.test", timeout=60)
        cond, why = "result", None
    except IqError as e:
        cond = e.iq["error"]["condition"]
        why = [el.tag for el in e.iq.xml.find("{jabber:client}error")]
    dt = time.monotonic() - t0
    record("ad-hoc: a pending request expires with the session",
           cond == "bad-request" and any("session-expired" in w for w in why) and
           SESSION_TIMEOUT - 1 <= dt <= SESSION_TIMEOUT + 4,
           "%s %s after %.1f s" % (cond, why, dt))
    cond = await iq_condition(command(c, "check", action="complete",
                                      sessionid=idle, domain="good.test"))
    record("ad-hoc: an idle session is gone after the time-out",
           cond == "bad-request", cond)


# ---------------------------------------------------------------- main

async def main_async(lab, info, tmp):
    x = info["xmpp"]["prosody"]
    users = x["users"]
    admin_u = users[17]
    d = Daemon(info, "prosody", os.path.join(tmp, "d"),
               watch={"interval": "86400", "jitter": "0", "flap_limit": "2"},
               limits={"commands_per_minute": str(CMDS_PER_MINUTE),
                       "adhoc_session_timeout": str(SESSION_TIMEOUT)},
               admins=[admin_u["jid"]])
    with open(d.conf) as f:
        text = f.read()
    with open(d.conf, "w") as f:    # stall.test holds a check 15 s
        f.write(text.replace("timeout = 5\n", "timeout = 15\n"))
    clients = []

    async def step(name, coro):
        try:
            await coro
        except IqError as e:
            record(name, False, "iq error %s: %s" % (
                e.iq["error"]["condition"], e.iq["error"]["text"]))
            traceback.print_exc(file=sys.stdout)
        except Exception as e:  # noqa: BLE001 - recorded as a failure
            record(name, False, "%s: %s" % (type(e).__name__, e))
            traceback.print_exc(file=sys.stdout)

    lab.zone_set(SWITCH, "notlsa")
    d.start()
    try:
        cs = []
        for u in users[17:23]:
            cs.append(await connect(x, u, d.comp))
        clients += cs
        admin, s, p, c1, c2, c3 = cs
        bodyless_events(p)
        record("bot up", await wait_bot(admin))
        # switch.test watched by s (chat), baseline no-tlsa.
        await s.ask("subscribe " + SWITCH, match=r"^Subscribed to ")
        first = await s.body(60, match=r"^First check of ")
        record("baseline: switch.test no-tlsa",
               "%s: no-tlsa" % SWITCH in first, first.splitlines()[:2])
        await step("pubsub rules", pubsub_rules(x, c1, p))
        await step("current state", current_state(p, "no-tlsa"))
        await step("chat unsubscribe", chat_unsubscribe(c1))
        await step("ad-hoc subscribe", adhoc_subscribe(c2))
        await step("contact removed", contact_removed(c3))
        await step("info and flap", info_and_flap(lab, admin, s, p, d))
        await step("ad-hoc timeout", adhoc_timeout(c1))
        await step("ad-hoc rate", adhoc_rate(await connect(x, users[23], d.comp)))
        lg = d.log()
        errs = [l for l in lg.splitlines() if l.startswith("<3>")]
        record("daemon log: no error lines", not errs, errs[:5])
    finally:
        lab.zone_set(SWITCH, "normal")
        for c in clients:
            c.disconnect()
        rc = d.stop()
        record("exits 0", rc == 0, rc)


def main():
    logging.basicConfig(level=logging.CRITICAL)
    tmp = tempfile.mkdtemp(prefix="certwatch-pubsub.")
    with Lab.from_env() as lab:
        if SWITCH not in lab.info.get("switchable", {}):
            record("the lab has switch.test", False)
        else:
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
