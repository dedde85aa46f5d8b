#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_daemon.py - `certwatch run` as a process (docs/running.md): a
second daemon refused on a locked state directory, a second SIGTERM
exiting at once, log lines that remote text cannot forge, the state
directory's modes (0700, files 0600, even under umask 0), and SIGHUP
putting new admins, [limits] and [watch] in force.

Two XMPP servers:
  - a tiny XEP-0114 server in this file for what no real server can be
    made to do: answer the handshake, then read without ever closing (so
    a shutdown waits for libstrophe's 2 s close), and send a stream error
    whose text holds a newline;
  - the lab's ejabberd, driven by slixmpp users, for SIGHUP and the store.

Usage: test_daemon.py CERTWATCH_BIN   (or $CERTWATCH_BIN)
Reuses the lab named by $CERTWATCH_LAB, or starts one.  Prints one line
per check and "N passed, N failed" last; exits 1 on failure.
"""
import asyncio
import logging
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cwtest import write_config  # noqa: E402
from test_watch import connect, wait_bot, stats  # noqa: E402
from lab import Lab  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                      os.environ.get("CERTWATCH_BIN", "build/component/certwatch"))
SERVER = "ejabberd"
results = []


def record(name, ok, detail=""):
    results.append(bool(ok))
    print("%s %s%s" % ("ok  " if ok else "FAIL", name,
                       (" - " + str(detail)[:1500]) if detail else ""), flush=True)


def wait_for(fn, limit, step=0.05):
    """fn()'s first true value within `limit` seconds, else None."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return None


# ------------------------------------------------- a tiny XEP-0114 server

class FakeServer:
    """Accepts component connections; answers the handshake of each; then
    reads everything and never closes on its own.  `send(xml)` writes to
    the first connection."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.online = threading.Event()
        self.received = b""
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf, opened = b"", False
        try:
            while b"</handshake>" not in buf:
                d = c.recv(4096)
                if not d:
                    return
                buf += d
                m = re.search(rb"<stream:stream[^>]*to=['\"]([^'\"]+)[^>]*>", buf)
                if m and not opened:
                    opened = True
                    c.sendall(b"<?xml version='1.0'?><stream:stream "
                              b"xmlns:stream='http://etherx.jabber.org/"
                              b"streams' xmlns='jabber:component:accept'"
                              b" from='" + m[1] + b"' id='fake1'>")
            c.sendall(b"<handshake/>")
            self.online.set()
            while True:
                d = c.recv(65536)
                if not d:
                    return
                self.received += d
        except OSError:
            return

    def send(self, xml):
        self.conns[0].sendall(xml)

    def close(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def fake_config(info, wdir, port, store=None):
    return write_config(
        info, os.path.join(wdir, "certwatch.ini"),
        component={"jid": "certwatch.fake.invalid", "host": "127.0.0.1",
                   "port": str(port), "secret": "fake-secret"},
        store={"dir": store or os.path.join(wdir, "store")},
        log={"level": "debug"})


def start(conf, log_path, umask=None):
    log = open(log_path, "ab")
    p = subprocess.Popen([BIN, "run", "-c", conf], stdout=log,
                         stderr=subprocess.STDOUT,
                         preexec_fn=(lambda: os.umask(umask))
                         if umask is not None else None)
    log.close()
    return p


def sigterm_timed(p):
    """SIGTERM; the exit code (None: still running after 15 s) and the
    seconds it took."""
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(15)
    except subprocess.TimeoutExpired:
        rc = None
    return rc, time.monotonic() - t0


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def sanitizer_lines(text):
    return [l for l in text.splitlines() if "AddressSanitizer" in l or
            "LeakSanitizer" in l or "runtime error:" in l]


# --------------------------------------- 1. on the tiny server: process

def process_tests(info, tmp):
    srv = FakeServer()
    wdir = os.path.join(tmp, "fake")
    os.makedirs(wdir)
    conf = fake_config(info, wdir, srv.port)
    log_path = os.path.join(wdir, "certwatch.log")
    p = start(conf, log_path)
    try:
        record("fake server: the component logs in", srv.online.wait(20),
               read(log_path)[-500:])

        # The state directory is locked: a second daemon refuses it.
        log2 = os.path.join(wdir, "second.log")
        q = start(conf, log2)
        try:
            rc = q.wait(20)
        except subprocess.TimeoutExpired:
            q.kill()
            rc = "still running after 20 s"
        text = read(log2)
        record("locked state directory: a second `run` exits 1",
               rc == 1 and "in use by another certwatch (pid %d)" % p.pid in text,
               "exit %s: %s" % (rc, text[-300:]))
        record("locked state directory: the second never connects, the first runs on",
               len(srv.conns) == 1 and p.poll() is None, len(srv.conns))

        # Remote text with a newline cannot start a log line of its own:
        # a JID and a stream error's text.
        forged = "<3>error: FORGED"
        srv.send(b"<message from='a@b/x&#10;" + forged.replace("<", "&lt;")
                 .encode() + b"' to='certwatch.fake.invalid' type='chat'>"
                 b"<body>help&#10;" + forged.replace("<", "&lt;").encode() +
                 b"</body></message>")
        srv.send(b"<stream:error><undefined-condition xmlns='urn:ietf:params:"
                 b"xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:"
                 b"xmpp-streams'>going&#10;" + forged.replace("<", "&lt;")
                 .encode() + b"&#13;" + forged.replace("<", "&lt;").encode() +
                 b"</text></stream:error></stream:stream>")
        line = wait_for(lambda: [l for l in read(log_path).splitlines()
                                 if "closed the stream" in l], 20)
        lines = read(log_path).splitlines()
        record("log: a stream error's text is logged on the line it belongs to",
               line and "FORGED" in line[0] and "going" in line[0], line)
        record("log: no line forged by a newline or a CR in remote text",
               not [l for l in lines if l.startswith(forged)],
               [l for l in lines if "FORGED" in l])

        # The stream is closed by the server now: wait for the new one.
        online = wait_for(lambda: len(srv.conns) >= 2 and
                          "connected to" in read(log_path).split(
                              "closed the stream")[-1], 30)
        record("fake server: the component logs in again", online)

        # SIGTERM while the server never closes its side: libstrophe
        # waits 2 s for it; a second signal ends that wait at once.
        p.send_signal(signal.SIGTERM)
        got = wait_for(lambda: "SIGTERM: shutting down" in read(log_path), 10)
        rc, dt = sigterm_timed(p)
        text = read(log_path)
        record("second signal: exits at once",
               got and rc == 0 and dt < 1.0 and
               "second signal: exiting at once" in text,
               "exit %s %.2f s after the second signal" % (rc, dt))

        # The control: one signal waits for the close.
        srv.conns.clear()
        srv.online.clear()
        p = start(conf, log_path)
        srv.online.wait(20)
        wait_for(lambda: read(log_path).count("connected to") >= 3, 10)
        rc, dt = sigterm_timed(p)
        record("one signal: waits for the server's close (libstrophe's 2 s)",
               rc == 0 and dt >= 1.5, "exit %s after %.2f s" % (rc, dt))
        bad = sanitizer_lines(read(log_path) + read(log2))
        record("fake server: no sanitizer report", not bad, bad[:5])
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        srv.close()


# -------------------------------------- 2. on ejabberd: SIGHUP, the store

def lab_config(info, wdir, admins, limits, watch):
    x = info["xmpp"][SERVER]
    return write_config(
        info, os.path.join(wdir, "certwatch.ini"),
        component={"jid": x["component"], "host": x["host"],
                   "port": x["component_port"], "secret": x["secret"],
                   "admins": " ".join(admins)},
        probe={"timeout": "5"},
        store={"dir": os.path.join(wdir, "store")}, log={"level": "debug"},
        watch=watch, limits=limits)


async def answers(c, n):
    """Sends `help` n times; the replies.  The bot answers in order and
    the server delivers in order: once the reply to a ping that followed
    them is in, every reply to them is too."""
    c.drain(c.msgs)
    for _ in range(n):
        c.send_message(mto=c.comp, mbody="help", mtype="chat")
    await c["xep_0199"].send_ping(c.comp, timeout=10)
    await asyncio.sleep(0)
    return c.drain(c.msgs)


async def next_round(c, domain):
    """Subscribes c to domain; after its first check, the minutes to the
    next round that `status DOMAIN` gives (None if it gives none), and
    the reply."""
    await c.ask("subscribe " + domain, match=r"^Subscribed")
    await c.body(60, match=r"^First check of " + re.escape(domain))
    body = await c.ask("status " + domain, match=re.escape(domain))
    m = re.search(r"next check in (\d+) min", body)
    return (int(m[1]) if m else None), body


async def hup_and_store(info, tmp):
    x = info["xmpp"][SERVER]
    users = x["users"]
    u_admin, u_new, u_lim, u_lim2 = users[3], users[4], users[5], users[6]
    wdir = os.path.join(tmp, "hup")
    os.makedirs(wdir)
    watch0 = {"interval": "86400", "jitter": "0"}
    conf = lab_config(info, wdir, [u_admin["jid"]], {}, watch0)
    log_path = os.path.join(wdir, "certwatch.log")
    # umask 0: the modes below must come from certwatch itself.
    p = start(conf, log_path, umask=0)
    clients = []
    try:
        a = await connect(x, u_new, x["component"])
        lim = await connect(x, u_lim, x["component"])
        lim2 = await connect(x, u_lim2, x["component"])
        clients += [a, lim, lim2]
        record("ejabberd: bot up", await wait_bot(a))

        body = await a.ask("stats", match=r"admins|checks started")
        record("before SIGHUP: a JID not in admins may not use stats",
               "only for the admins" in body, body)
        got = await answers(lim, 5)
        record("before SIGHUP: 5 commands, 5 answers (30 a minute)",
               len(got) == 5 and not any("rate limit" in b for b in got),
               [b.splitlines()[0] for b in got])
        n0, body = await next_round(a, "before.nonexistent.test")
        record("before SIGHUP: the next round in about 24 h",
               n0 is not None and 1430 <= n0 <= 1440, body)

        # The new file: u_new an admin, 3 commands a minute, 10 min rounds.
        lab_config(info, wdir, [u_admin["jid"], u_new["jid"]],
                   {"commands_per_minute": "3"},
                   {"interval": "600", "jitter": "0"})
        n_reload = read(log_path).count("SIGHUP: reloaded")
        p.send_signal(signal.SIGHUP)
        ok = await asyncio.get_running_loop().run_in_executor(
            None, wait_for, lambda: read(log_path).count("SIGHUP: reloaded")
            > n_reload, 10)
        record("SIGHUP: reloaded", ok)

        body = await a.ask("stats", match=r"admins|checks started")
        record("after SIGHUP: the new admin may use stats",
               "checks started" in body, body.splitlines()[0])
        # A JID that sent nothing yet this minute.
        got = await answers(lim2, 5)
        record("after SIGHUP: [limits] commands_per_minute = 3 in force",
               len(got) == 4 and "rate limit (3 commands" in got[3] and
               not any("rate limit" in b for b in got[:3]),
               [b.splitlines()[0] for b in got])
        n1, body = await next_round(a, "after.nonexistent.test")
        record("after SIGHUP: [watch] interval = 600 in force",
               n1 is not None and 9 <= n1 <= 10, body)

        # The store: written for these subscriptions, under umask 0.
        store = os.path.join(wdir, "store")
        s = await stats(a)
        files = sorted(os.listdir(store))
        modes = {f: stat.S_IMODE(os.stat(os.path.join(store, f)).st_mode)
                 for f in files}
        dmode = stat.S_IMODE(os.stat(store).st_mode)
        shards = [f for f in files if f.startswith("shard-")]
        record("store: the directory is 0700 (made under umask 0)",
               dmode == 0o700, oct(dmode))
        record("store: every file is 0600 (lock and shards, under umask 0)",
               "lock" in files and shards and
               all(m == 0o600 for m in modes.values()),
               {f: oct(m) for f, m in modes.items()})
        record("store: the two subscriptions are in it",
               s["domains"] == 2, s)
    finally:
        for c in clients:
            c.disconnect()
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        bad = sanitizer_lines(read(log_path))
        record("ejabberd: no sanitizer report, exit 0",
               not bad and p.returncode == 0, (p.returncode, bad[:5]))


def main():
    logging.basicConfig(level=logging.CRITICAL)
    if not os.access(BIN, os.X_OK):
        print("no certwatch binary at %s" % BIN)
        return 1
    tmp = tempfile.mkdtemp(prefix="certwatch-daemon.")
    with Lab.from_env() as lab:
        for name, fn in (("process", lambda: process_tests(lab.info, tmp)),
                         ("sighup", lambda: asyncio.run(
                             hup_and_store(lab.info, tmp)))):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - recorded as a failure
                record(name, False, "%s: %s" % (type(e).__name__, e))
                traceback.print_exc(file=sys.stdout)
    failed = results.count(False)
    print("%d passed, %d failed" % (results.count(True), failed))
    if not failed:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("logs kept in %s" % tmp)
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
