#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_limits.py - [limits] hold on every path, and a private address
does not hide an endpoint (issue 13, "fail closed", the smaller items).

The CLI through a SOCKS5 proxy (Tor's place) that forwards to the lab:

- a target with one private address among public ones is still probed,
  with warning `private-address`;

and the daemon on the lab's Prosody:

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
import select
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
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


async def t_stop_with_waiting(user):
    """Two subscribes, so one check after a subscribe runs and one waits
    for the slot, then the daemon is stopped (below): it exits cleanly."""
    for dom in ("stall.test", "notls.test"):
        b = await user.ask("subscribe " + dom)
        assert b.startswith("Subscribed to " + dom), b


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


def recv_exact(c, n):
    b = b""
    while len(b) < n:
        got = c.recv(n - len(b))
        if not got:
            raise EOFError
        b += got
    return b


class ForwardingSocks(socketserver.ThreadingTCPServer):
    """A SOCKS5 proxy in Tor's place (user/password auth, an address in
    CONNECT) that connects every request to `target` at the port asked
    for, and records the host names it was given."""
    daemon_threads = True

    def __init__(self, target):
        super().__init__(("127.0.0.1", 0), SocksHandler)
        self.target = target
        self.hosts = []
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()


class SocksHandler(socketserver.BaseRequestHandler):
    def handle(self):
        c, srv = self.request, self.server
        c.settimeout(10)
        try:
            _, n = recv_exact(c, 2)
            method = 2 if 2 in recv_exact(c, n) else 0
            c.sendall(bytes([5, method]))
            if method == 2:     # RFC 1929: any user name and password
                recv_exact(c, recv_exact(c, 2)[1])
                recv_exact(c, recv_exact(c, 1)[0])
                c.sendall(b"\x01\x00")
            atyp = recv_exact(c, 4)[3]
            if atyp == 3:
                host = recv_exact(c, recv_exact(c, 1)[0]).decode()
            else:
                fam, n = ((socket.AF_INET, 4) if atyp == 1
                          else (socket.AF_INET6, 16))
                host = socket.inet_ntop(fam, recv_exact(c, n))
            port = int.from_bytes(recv_exact(c, 2), "big")
            srv.hosts.append(host)
            # target None: where the request says (an IP literal).
            with socket.create_connection((srv.target or host, port),
                                          10) as up:
                c.sendall(b"\x05\x00\x00\x01" + bytes(6))
                pipe(c, up)
        except (OSError, EOFError, ValueError):
            pass


def pipe(a, b):
    """Copies both ways until one side closes or 10 s pass idle."""
    while True:
        ready, _, _ = select.select([a, b], [], [], 10)
        if not ready:
            return
        for s in ready:
            data = s.recv(65536)
            if not data:
                return
            (b if s is a else a).sendall(data)


def t_private_address_skipped(info, d):
    """xmpp.good.test given two addresses, the lab server's (loopback, so
    private) and a public one, allow_private = no, through a SOCKS proxy:
    every endpoint is probed (its public address goes to the proxy) and shows the
    good key, with warning `private-address`; none is refused."""
    proxy = ForwardingSocks(info["targets"]["good"])
    ub = os.path.join(d, "mixed-unbound.conf")
    with open(info["unbound_conf"]) as f, open(ub, "w") as o:
        o.write(f.read())
        o.write('server:\n'
                '    local-data: "xmpp.good.test. A %s"\n'
                '    local-data: "xmpp.good.test. A 192.0.32.10"\n'
                % info["targets"]["good"])
    conf = cwtest.write_config(
        info, os.path.join(d, "mixed.ini"),
        probe={"allow_private": "no", "via": "tor",
               "tor_socks": "127.0.0.1:%d" % proxy.port},
        dns={"unbound_conf": ub})
    _, res, _ = cwtest.check_json(BIN, conf, "good.test")
    proxy.shutdown()
    proxy.server_close()
    want = info["keys"]["good"]["spki_sha256"]
    assert res["endpoints"], res
    for e in res["endpoints"]:
        assert e["error"] is None or e["error"]["step"] != "input", e
        assert e["spki_sha256"] == want, e
        assert any(w["code"] == "private-address" for w in e["warnings"]), e
    # Each public address goes to the proxy as a literal; the private
    # one is never asked for.
    assert "192.0.32.10" in proxy.hosts, proxy.hosts
    assert info["targets"]["good"] not in proxy.hosts, proxy.hosts


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
        await step("stop with a check after subscribe waiting",
                   t_stop_with_waiting(u1))
    finally:
        for c in clients:
            c.disconnect()
        bot.terminate()
        try:
            rc = bot.wait(15)
        except subprocess.TimeoutExpired:
            bot.kill()
            rc = "hung"
        log.close()
        if rc != 0:
            r.failed += 1
            print("FAIL the daemon stops cleanly (exit %s)" % rc)
        with open(log_path, "rb") as f:
            text = f.read().decode(errors="replace")
        # A sanitizer build reports memory errors and leaks in its log.
        bad = re.search(r"AddressSanitizer|LeakSanitizer|runtime error:",
                        text)
        if bad:
            r.failed += 1
            print("FAIL the daemon's log is clean of sanitizer reports")
        if r.failed:
            sys.stdout.write("--- certwatch log ---\n%s\n" % text[-4000:])


def main():
    logging.basicConfig(level=logging.CRITICAL)
    r = cwtest.Runner()
    d = tempfile.mkdtemp(prefix="cw-limits-")
    with cwtest.lab() as info:
        r.run("one private address does not hide the endpoint",
              t_private_address_skipped, info, d)
        asyncio.run(session(info, d, r))
    if not r.failed:
        shutil.rmtree(d, ignore_errors=True)
    return r.finish()


if __name__ == "__main__":
    sys.exit(main())
