#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_limits.py - [limits] hold on every path (issue 13, "fail closed",
the smaller items), against the daemon on the lab's Prosody:

- a check cancelled while probes of another wait for its slots lets them
  start (the probe queue is drained on cancel);
- the check after a `subscribe` takes one of the JID's checks_in_flight
  slots: a `check` meanwhile is refused, and a second subscribe's check
  waits and then runs;
- subscriptions_per_jid counts pubsub subscriptions made under full JIDs
  when a chat `subscribe` asks;
- pubsub subscribe and unsubscribe count against commands_per_minute.

Every wait is for a state (a reply, a counter in `stats`), with a
deadline; none is a fixed sleep."""
import asyncio
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "lab"))

import slixmpp  # noqa: E402
from slixmpp.xmlstream import ET  # noqa: E402

import cwtest  # noqa: E402
import test_component as tc  # noqa: E402  (Client, connect, command)
from test_hostile import daemon_conf  # noqa: E402

BIN = sys.argv[1] if len(sys.argv) > 1 else "certwatch"
SERVER = "prosody"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
PROBE_TIMEOUT = 8       # seconds: how long a stall.test probe holds a slot
CMDS_PER_MINUTE = 6


async def probes(admin):
    """(in flight, queued) from the admin's `stats`."""
    body = await admin.ask("stats")
    m = re.search(r"probes in flight (\d+), queued (\d+)", body)
    assert m, body
    return int(m.group(1)), int(m.group(2))


async def until(what, fn, limit=20):
    """Polls the coroutine fn until it returns a true value."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        v = await fn()
        if v:
            return v
    raise AssertionError("timed out waiting for " + what)


async def body_matching(c, pattern, limit):
    """The next body from the component that matches; others are kept."""
    deadline = time.monotonic() + limit
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no message matching %r" % pattern)
        b = (await c.body(left))["body"]
        if re.search(pattern, b):
            return b


async def pubsub(c, verb, node, jid=None):
    """One pubsub set; returns None on success, else (condition, text)."""
    iq = c.make_iq_set(ito=c.comp)
    ps = ET.Element("{%s}pubsub" % NS_PUBSUB)
    ET.SubElement(ps, "{%s}%s" % (NS_PUBSUB, verb), node=node,
                  jid=jid or str(c.boundjid))
    iq.append(ps)
    try:
        await iq.send(timeout=15)
        return None
    except slixmpp.exceptions.IqError as e:
        return (e.iq["error"]["condition"], e.iq["error"]["text"])


async def t_cancel_drains(admin, user):
    """A check cancelled (ad-hoc `cancel`) while another check's probes
    wait for its slots: those start, and their report comes."""
    r = await tc.command(user, "check", action="execute")
    sid = r.get("sessionid")
    running = asyncio.ensure_future(
        tc.command(user, "check", action="complete", sessionid=sid,
                   domain="stall.test", timeout=60))
    # stall.test: two endpoints, both probes hang (concurrency = 2).
    await until("stall.test's two probes in flight",
                lambda: probes_are(admin, lambda f, q: f == 2))
    admin.send_message(mto=admin.comp, mbody="check good.test", mtype="chat")
    await body_matching(admin, r"^Checking good\.test", 15)
    await until("good.test's probes queued",
                lambda: probes_are(admin, lambda f, q: q > 0))
    assert not running.done(), "the stalled check ended too early"
    t0 = time.monotonic()
    await tc.command(user, "check", action="cancel", sessionid=sid)
    try:
        await running       # answered "Canceled." (an error)
    except slixmpp.exceptions.IqError:
        pass
    report = await body_matching(admin, r"^good\.test: ", 2 * PROBE_TIMEOUT)
    took = time.monotonic() - t0
    assert "good.test: ok" in report, report
    print("     good.test's report %.1f s after the cancel" % took)


async def probes_are(admin, pred):
    f, q = await probes(admin)
    return pred(f, q)


async def t_subscribe_bounded(user):
    """checks_in_flight = 1: the check after `subscribe stall.test` holds
    the slot, so `check` is refused; a second subscribe's check waits for
    the slot, then runs."""
    b = await user.ask("subscribe stall.test")
    assert b.startswith("Subscribed to stall.test"), b
    user.send_message(mto=user.comp, mbody="check good.test", mtype="chat")
    b = await body_matching(user, r"^(Checking|You have)", 15)
    assert "checks_in_flight" in b, "a check ran beside the subscribe's: " + b
    b = await user.ask("subscribe good.test")
    assert b.startswith("Subscribed to good.test"), b
    first = await body_matching(user, r"^First check of", 3 * PROBE_TIMEOUT)
    second = await body_matching(user, r"^First check of", 3 * PROBE_TIMEOUT)
    assert first.startswith("First check of stall.test"), first[:80]
    assert second.startswith("First check of good.test"), second[:80]


async def t_subs_per_jid(user):
    """subscriptions_per_jid = 2, both taken by pubsub subscriptions under
    full JIDs: a chat `subscribe` is refused."""
    bare = user.boundjid.bare
    for i, node in enumerate(("nonexistent.test", "nosuch.test")):
        err = await pubsub(user, "subscribe", node,
                           "%s/res%d" % (bare, i))
        assert err is None, err
    b = await user.ask("subscribe nosrv.test")
    assert "subscriptions_per_jid" in b, b


async def t_pubsub_rate(user):
    """commands_per_minute: pubsub subscribe and unsubscribe count."""
    for i in range(CMDS_PER_MINUTE):
        verb = "subscribe" if i % 2 == 0 else "unsubscribe"
        err = await pubsub(user, verb, "nonexistent.test")
        assert err is None, (i, err)
    err = await pubsub(user, "subscribe", "nonexistent.test")
    assert err is not None and err[0] == "resource-constraint" and \
        "rate limit" in (err[1] or ""), err


async def session(info, d, r):
    x = info["xmpp"][SERVER]
    comp, users = x["component"], x["users"]
    conf = daemon_conf(info, SERVER, d,
                       probe={"timeout": str(PROBE_TIMEOUT),
                              "concurrency": "2"},
                       limits={"checks_in_flight": "1",
                               "subscriptions_per_jid": "2",
                               "commands_per_minute": str(CMDS_PER_MINUTE)})
    log_path = os.path.join(d, "daemon.log")
    log = open(log_path, "wb")
    bot = subprocess.Popen([BIN, "run", "-c", conf], stdout=log,
                           stderr=subprocess.STDOUT)
    clients = []
    try:
        assert await tc.wait_bot(x, users[0], comp), "the bot never answered"
        for u in users[:5]:
            clients.append(await tc.connect(x, u, comp))
        admin, u1, u2, u3, u4 = clients

        async def step(name, coro):
            try:
                await coro
            except Exception:  # noqa: BLE001 - reported as a failure
                r.failed += 1
                print("FAIL " + name)
                import traceback
                traceback.print_exc(file=sys.stdout)
            else:
                r.passed += 1
                print("ok   " + name)
            sys.stdout.flush()

        await step("check_cancel lets queued probes start",
                   t_cancel_drains(admin, u1))
        await step("the check after subscribe counts in checks_in_flight",
                   t_subscribe_bounded(u2))
        await step("subscriptions_per_jid counts pubsub under full JIDs",
                   t_subs_per_jid(u3))
        await step("pubsub subscribe/unsubscribe count in "
                   "commands_per_minute", t_pubsub_rate(u4))
    finally:
        for c in clients:
            c.disconnect()
        bot.terminate()
        try:
            bot.wait(15)
        except subprocess.TimeoutExpired:
            bot.kill()
        log.close()
        if r.failed:
            with open(log_path, "rb") as f:
                sys.stdout.write("--- certwatch log ---\n%s\n" %
                                 f.read().decode(errors="replace")[-4000:])


def main():
    logging.basicConfig(level=logging.CRITICAL)
    r = cwtest.Runner()
    d = tempfile.mkdtemp(prefix="cw-limits-")
    with cwtest.lab() as info:
        asyncio.run(session(info, d, r))
    if not r.failed:
        shutil.rmtree(d, ignore_errors=True)
    return r.finish()


if __name__ == "__main__":
    sys.exit(main())
