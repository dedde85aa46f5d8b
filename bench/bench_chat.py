#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""bench_chat.py - chat commands per second that need no probe (help,
status) through the lab's Prosody on loopback, with round-trip latency.

Usage: bench_chat.py [CERTWATCH_BIN] [--commands N] [--procs P]
                     [--clients C] [--window W] [--server prosody|ejabberd]

Starts `certwatch run` on a copy of the lab's config with [limits]
commands_per_minute = 0 (the point is the bot, not its rate limit), then P
client processes with C logged-in users each; every user keeps W commands
in flight (alternating `help` and `status`) and times each reply (replies
to one user come back in order).  Reuses $CERTWATCH_LAB or starts a lab.
Prints commands/s and p50/p90/p99/max round-trip in milliseconds.
"""
import argparse
import asyncio
import base64
import collections
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lab"))


class RawClient:
    """A minimal XMPP client over plain TCP (the lab allows PLAIN without
    TLS): slixmpp costs ~1 ms of CPU per stanza, more than the bot and the
    server together, and would measure itself."""

    def __init__(self, info, user, comp):
        self.info, self.user, self.comp = info, user, comp
        self.buf = b""

    async def _until(self, marker):
        while marker not in self.buf:
            data = await self.r.read(65536)
            if not data:
                raise RuntimeError("stream closed during login")
            self.buf += data
        i = self.buf.index(marker) + len(marker)
        head, self.buf = self.buf[:i], self.buf[i:]
        return head

    def _header(self, domain):
        self.w.write(("<?xml version='1.0'?><stream:stream to='%s' "
                      "xmlns='jabber:client' xmlns:stream="
                      "'http://etherx.jabber.org/streams' version='1.0'>"
                      % domain).encode())

    async def login(self):
        local, domain = self.user["jid"].split("@", 1)
        self.r, self.w = await asyncio.open_connection(
            self.info["host"], int(self.info["c2s_port"]))
        self._header(domain)
        await self._until(b"</stream:features>")
        cred = base64.b64encode(("\0%s\0%s" % (
            local, self.user["password"])).encode()).decode()
        self.w.write(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                      "mechanism='PLAIN'>%s</auth>" % cred).encode())
        head = await self._until(b">")
        while b"<success" not in head and b"<failure" not in head:
            head += await self._until(b">")
        if b"<failure" in head:
            raise RuntimeError("login refused for %s" % self.user["jid"])
        self.buf = b""
        self._header(domain)
        await self._until(b"</stream:features>")
        self.w.write(b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:"
                     b"xml:ns:xmpp-bind'><resource>bench</resource></bind>"
                     b"</iq>")
        await self._until(b"</iq>")

    async def replies(self):
        """Yields once per <message/> received."""
        while True:
            data = await self.r.read(65536)
            if not data:
                return
            self.buf += data
            parts = self.buf.split(b"</message>")
            self.buf = parts.pop()
            for part in parts:
                if b"<message" in part:
                    yield

    def send(self, body):
        self.w.write(("<message to='%s' type='chat'><body>%s</body>"
                      "</message>" % (self.comp, body)).encode())


def worker(info, users, comp, per_client, window, start_at, out):
    """One process: len(users) clients; puts a list of latencies (s) and
    the time span of the measured part into `out`."""

    async def one(c, lat, ready, go):
        await c.login()
        ready.set()
        await go.wait()
        sent = collections.deque()
        left = per_client
        for _ in range(min(window, left)):
            sent.append(time.monotonic())
            c.send("help" if left % 2 else "status")
            left -= 1
        async for _ in c.replies():
            lat.append(time.monotonic() - sent.popleft())
            if left > 0:
                sent.append(time.monotonic())
                c.send("help" if left % 2 else "status")
                left -= 1
            elif not sent:
                break
        c.w.close()

    async def run():
        lat = []
        go = asyncio.Event()
        readies = [asyncio.Event() for _ in users]
        tasks = [asyncio.create_task(one(RawClient(info, u, comp), lat, r,
                                         go))
                 for u, r in zip(users, readies)]
        await asyncio.gather(*[asyncio.wait_for(r.wait(), 30)
                               for r in readies])
        await asyncio.sleep(max(0.0, start_at - time.time()))
        t0 = time.monotonic()
        go.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 300)
        return lat, time.monotonic() - t0

    out.put(asyncio.run(run()))


def cpu_seconds(pid):
    """utime + stime of a process, from /proc."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def watched(bot, info):
    """(name, pid) of certwatch and of the XMPP server, when known."""
    out = [("certwatch", bot.pid)]
    if info.get("pid"):
        out.append(("xmpp server", int(info["pid"])))
    return out


def pct(sorted_vals, p):
    i = min(len(sorted_vals) - 1, int(round(p / 100.0 * (len(sorted_vals)
                                                          - 1))))
    return sorted_vals[i]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?",
                    default=os.environ.get("CERTWATCH_BIN", "certwatch"))
    ap.add_argument("--commands", type=int, default=20000)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--server", default="prosody")
    a = ap.parse_args()

    from lab import Lab
    tmp = tempfile.mkdtemp(prefix="cw-bench-chat-")
    lab = Lab.from_env(os.path.join(tmp, "lab"))
    bot = None
    try:
        info = lab.info["xmpp"][a.server]
        comp = info["component"]
        conf = os.path.join(tmp, "certwatch.ini")
        with open(lab.info["certwatch_conf"][a.server]) as f:
            text = f.read().replace("level = debug", "level = warn")
        with open(conf, "w") as f:
            f.write(text + "\n[limits]\ncommands_per_minute = 0\n")
        os.chmod(conf, 0o600)
        log = open(os.path.join(tmp, "certwatch.log"), "wb")
        bot = subprocess.Popen([a.binary, "run", "-c", conf], stdout=log,
                               stderr=subprocess.STDOUT)
        time.sleep(1.5)
        # users[0] is an admin (not rate limited anyway); use the others.
        users = info["users"][1:]
        need = a.procs * a.clients
        if need > len(users):
            sys.exit("the lab has %d users, %d needed" % (len(users), need))
        per_client = a.commands // need
        out = multiprocessing.Queue()
        start_at = time.time() + 3 + 0.3 * need
        ps = [multiprocessing.Process(
            target=worker,
            args=(info, users[i * a.clients:(i + 1) * a.clients], comp,
                  per_client, a.window, start_at, out))
              for i in range(a.procs)]
        for p in ps:
            p.start()
        cpu0 = {n: cpu_seconds(pid) for n, pid in watched(bot, info)}
        lat, spans = [], []
        for _ in ps:
            l, span = out.get(timeout=600)
            lat += l
            spans.append(span)
        cpu1 = {n: cpu_seconds(pid) for n, pid in watched(bot, info)}
        for p in ps:
            p.join()
        lat.sort()
        span = max(spans)
        rate = len(lat) / span
        ms = [x * 1000 for x in lat]
        print("bench_chat: %s, %d commands (help/status), %d procs x %d "
              "clients x window %d" % (a.server, len(lat), a.procs,
                                       a.clients, a.window))
        print("  %.0f commands/s; round trip ms: p50 %.2f  p90 %.2f  "
              "p99 %.2f  max %.2f" % (rate, pct(ms, 50), pct(ms, 90),
                                      pct(ms, 99), ms[-1]))
        print("  CPU seconds during the run: " + ", ".join(
            "%s %.2f" % (n, cpu1[n] - cpu0[n]) for n in cpu0) +
            " (of %.1f s wall)" % span)
        print(json.dumps({"server": a.server, "commands": len(lat),
                          "per_second": round(rate),
                          "p50_ms": round(pct(ms, 50), 2),
                          "p99_ms": round(pct(ms, 99), 2)}))
    finally:
        if bot is not None:
            bot.send_signal(signal.SIGTERM)
            try:
                bot.wait(10)
            except subprocess.TimeoutExpired:
                bot.kill()
        lab.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
