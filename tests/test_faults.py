#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Faults, each against the real daemon (`certwatch run`) and the lab:
the XMPP server killed with SIGKILL and restarted (Prosody and ejabberd);
the DNS resolver gone; Tor gone; the disk full while the store is written;
SIGTERM during a storm of commands.

Usage: test_faults.py CERTWATCH_BIN (as root: the disk-full test mounts a
tmpfs).  Results go to $CERTWATCH_RELIABILITY (tests/reliability.py).
"""
import asyncio
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "lab"))
from cwtest import lab  # noqa: E402
import reliability  # noqa: E402
import test_component as tc  # noqa: E402
from test_hostile import daemon_conf, proc_kb, timed_ask  # noqa: E402

BIN = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CERTWATCH_BIN")
RECOVER_LIMIT = 90      # seconds for the bot to be back after a server restart
passed, failed = [0], [0]


def result(name, ok, detail=""):
    (passed if ok else failed)[0] += 1
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, (" - " + detail) if detail else ""),
          flush=True)


class Daemon:
    """One `certwatch run` with its log in the test's directory."""

    def __init__(self, info, server, d, name, **over):
        self.x = info["xmpp"][server]
        self.conf = daemon_conf(info, server, d, **over)
        os.replace(self.conf, os.path.join(d, name + ".ini"))
        self.conf = os.path.join(d, name + ".ini")
        self.log_path = os.path.join(d, name + ".log")
        self.proc = None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BIN, "run", "-c", self.conf], stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()

    async def up(self, limit=60):
        return await tc.wait_bot(self.x, self.x["users"][0], self.x["component"], limit)

    def stop(self, timeout=20):
        """SIGTERM; the exit code (None if it had to be killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


async def user(dm, i):
    return await tc.connect(dm.x, dm.x["users"][i], dm.x["component"])


# --------------------------------------------------------- XMPP server

async def t_server_killed(info, server, d):
    from lab import Lab
    lb = Lab.load(os.path.join(info["dir"], "lab.json"))
    dm = Daemon(info, server, d, "kill-" + server)
    dm.start()
    clients = []
    t_kill = None
    try:
        assert await dm.up(), "the daemon did not come up"
        proc = [p for p in lb.procs if p["name"] == server][-1]
        t_kill = time.monotonic()
        os.killpg(proc["pid"], signal.SIGKILL)      # the server's own group
        await asyncio.sleep(1)
        await asyncio.get_running_loop().run_in_executor(None, lb.restart, server)
        restarted = time.monotonic() - t_kill
        back = await dm.up(RECOVER_LIMIT)
        took = time.monotonic() - t_kill
        assert back, "the bot did not reconnect within %d s" % RECOVER_LIMIT
        c = await user(dm, 1)
        clients.append(c)
        body = await c.ask("help")
        rep = await c.report("good.test")
        alive = dm.proc.poll() is None
        ok = "check DOMAIN" in body and rep.startswith("good.test: ok") and alive
        reliability.record("fault", "%s killed (SIGKILL) and restarted" % server, order=1,
                           what="the XMPP server's process group gets SIGKILL; "
                                "lab.py restarts it",
                           outcome="server back in %.1f s; the bot reconnected and "
                                   "answered help and a check (%s) %.1f s after the kill"
                                   % (restarted, rep.split(": ", 1)[1].split()[0], took),
                           seconds=round(took, 1), limit_seconds=RECOVER_LIMIT,
                           peak_kb=proc_kb(dm.proc.pid, "VmHWM"), ok=ok)
        assert ok, (body, rep, alive)
    except Exception:
        reliability.record("fault", "%s killed (SIGKILL) and restarted" % server, order=1,
                           outcome="failed", ok=False)
        raise
    finally:
        for c in clients:
            c.disconnect()
        rc = dm.stop()
        assert rc == 0, "exit %s" % rc


# ------------------------------------------------- DNS and Tor missing

def dead_address(info):
    """An address in the lab's block nothing listens on."""
    return info["net"].rsplit(".", 1)[0] + ".250"


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def check_while_gone(dm, case, what, want_step, want_words, limit):
    """A check of good.test ends unreachable with the right step; a help
    asked meanwhile is answered at once; the daemon stays up."""
    dm.start()
    clients = []
    try:
        assert await dm.up(), "the daemon did not come up"
        c, h = await user(dm, 1), await user(dm, 2)
        clients += [c, h]
        _, base = await timed_ask(h, "help")
        t0 = time.monotonic()
        task = asyncio.create_task(c.report("good.test"))
        await asyncio.sleep(0.5)
        body, help_s = await timed_ask(h, "help")
        rep = await task
        took = time.monotonic() - t0
        first = rep.splitlines()[0]
        verdict = first.split(": ", 1)[1].split()[0] if ": " in first else first
        m = re.search(r"failed at: (.*)|(SRV look-up failed.*)", rep)
        reason = (m.group(1) or m.group(2)) if m else None
        # The step, which the chat report does not name: `check --json`
        # with the same config.
        p = subprocess.run([BIN, "check", "-c", dm.conf, "--json", "good.test"],
                           capture_output=True, text=True, timeout=120)
        res = json.loads(p.stdout)
        err = res.get("error") or next((e["error"] for e in res["endpoints"]
                                        if e.get("error")), {})
        ok = (verdict == "unreachable" and reason is not None and
              res["verdict"] == "unreachable" and err.get("step") == want_step and
              all(w.lower() in rep.lower() for w in want_words) and
              help_s <= base + 1.0 and "check DOMAIN" in body and took <= limit and
              dm.proc.poll() is None)
        reliability.record("fault", case, order=2, what=what, verdict=verdict,
                           step=err.get("step"), reason=reason, seconds=round(took, 1),
                           limit_seconds=limit, peak_kb=proc_kb(dm.proc.pid, "VmHWM"),
                           outcome=None, ok=ok,
                           bound="help answered in %.2f s meanwhile (%.2f s before)"
                           % (help_s, base))
        assert ok, (rep, help_s, base, took, res)
    finally:
        for c in clients:
            c.disconnect()
        rc = dm.stop()
        assert rc == 0, "exit %s" % rc


async def t_dns_gone(info, d):
    with open(info["unbound_conf"]) as f:
        frag = re.sub(r"stub-addr: \S+", "stub-addr: %s@53" % dead_address(info), f.read())
    path = os.path.join(d, "dead-dns.conf")
    with open(path, "w") as f:
        f.write(frag)
    dm = Daemon(info, "prosody", d, "dns-gone", dns={"unbound_conf": path})
    await check_while_gone(dm, "DNS resolver gone",
                           "[dns] stubs test. to an address where no server answers",
                           "dns", ["unreachable", "look-up failed"], 30)


async def t_tor_gone(info, d):
    port = closed_port()
    dm = Daemon(info, "prosody", d, "tor-gone",
                probe={"via": "tor", "tor_socks": "127.0.0.1:%d" % port})
    await check_while_gone(dm, "Tor gone",
                           "via = tor, tor_socks a closed port",
                           "tor", ["SOCKS proxy", "connection refused"], 30)


# ------------------------------------------------------------ disk full

def fill(path):
    """Write zeros into `path` until the file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def store_domains(store):
    names = set()
    for n in os.listdir(store):
        if n.startswith("shard-") and "." not in n:
            with open(os.path.join(store, n), encoding="utf-8") as f:
                names |= {ln.split()[1] for ln in f if ln.startswith("domain ")}
    return names


async def t_disk_full(info, d):
    if os.geteuid() != 0:
        reliability.record("fault", "disk full while the store is written", order=3,
                           outcome="not run (needs root to mount a tmpfs)", ok=False)
        raise RuntimeError("needs root to mount a tmpfs")
    store = os.path.join(d, "store-full")
    os.makedirs(store, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", store],
                   check=True)
    dm = Daemon(info, "prosody", d, "disk-full", store={"dir": store})
    clients = []
    try:
        dm.start()
        assert await dm.up(), "the daemon did not come up"
        c = await user(dm, 3)
        clients.append(c)
        body = await c.ask("subscribe good.test")
        assert body.startswith("Subscribed to good.test"), body
        await c.body()                          # its first report
        before = store_domains(store)
        assert "good.test" in before, before
        filler = os.path.join(store, "filler")
        fill(filler)
        t0 = time.monotonic()
        full = await c.ask("subscribe mitm.test")
        told = time.monotonic() - t0
        status = await c.ask("status")
        during = store_domains(store)
        os.unlink(filler)
        again = await c.ask("subscribe mitm.test")
        if again.startswith("Subscribed"):
            await c.body()
        alive = dm.proc.poll() is None
        rc = dm.stop()
        dm.start()
        assert await dm.up(), "the daemon did not come back"
        c.disconnect()
        c = await user(dm, 3)
        clients.append(c)
        after = await c.ask("status")
        ok = ("could not be stored" in full and "mitm.test" not in status and
              "good.test" in status and during == before and
              again.startswith("Subscribed to mitm.test") and alive and rc == 0 and
              "good.test" in after and "mitm.test" in after)
        reliability.record("fault", "disk full while the store is written", order=3,
                           what="store on a 256 KB tmpfs, filled; then subscribe",
                           outcome="user told: %r; the old state intact on disk "
                                   "(%s); after freeing space the subscribe works and "
                                   "both survive a restart" % (full[:70], ", ".join(sorted(during))),
                           seconds=round(told, 2), limit_seconds=15,
                           peak_kb=proc_kb(dm.proc.pid, "VmHWM"), ok=ok)
        assert ok, (full, status, during, before, again, alive, rc, after)
    finally:
        for c in clients:
            c.disconnect()
        dm.stop()
        subprocess.run(["umount", store], check=False)


# ---------------------------------------------------- SIGTERM in a storm

async def t_sigterm_storm(info, d):
    dm = Daemon(info, "prosody", d, "storm", store={"dir": os.path.join(d, "store-storm")})
    dm.start()
    clients = []
    try:
        assert await dm.up(), "the daemon did not come up"
        idx = list(range(3, 15))
        clients = list(await asyncio.gather(*[user(dm, i) for i in idx]))
        per = 8
        acked = set()
        replies = [0]

        async def collect(i, c):
            while True:
                try:
                    body = (await c.body(30))["body"]
                except asyncio.TimeoutError:
                    return
                replies[0] += 1
                m = re.match(r"Subscribed to (\S+?)\. ", body)
                if m:
                    acked.add((i, m.group(1)))

        tasks = [asyncio.create_task(collect(i, c)) for i, c in zip(idx, clients)]
        for k in range(per):
            for i, c in zip(idx, clients):
                c.send_message(mto=dm.x["component"], mbody="subscribe storm-%d-%d.test" % (i, k),
                               mtype="chat")
                c.send_message(mto=dm.x["component"], mbody="help", mtype="chat")
            if k == per // 2:
                await asyncio.sleep(0.3)
                t0 = time.monotonic()
                dm.proc.send_signal(signal.SIGTERM)
        rc = await asyncio.get_running_loop().run_in_executor(None, dm.proc.wait, 30)
        down = time.monotonic() - t0
        await asyncio.sleep(2)
        for t in tasks:
            t.cancel()
        for c in clients:
            c.disconnect()
        clients = []
        # Back up: each user's status must list every acknowledged domain.
        dm.start()
        assert await dm.up(), "the daemon did not come back"
        stored = set()
        for i in idx:
            c = await user(dm, i)
            clients.append(c)
            body = await c.ask("status")
            stored |= {(i, m) for m in re.findall(r"^(storm-\d+-\d+\.test):", body, re.M)}
        lost = acked - stored
        ok = rc == 0 and not lost and len(acked) > 0
        reliability.record("fault", "SIGTERM during a storm of commands", order=4,
                           what="%d users send %d subscribes and %d helps each; SIGTERM "
                                "half-way" % (len(idx), per, per),
                           outcome="exit %s in %.1f s; %d subscriptions acknowledged, "
                                   "%d stored after restart, %d lost" % (
                                       rc, down, len(acked), len(stored), len(lost)),
                           seconds=round(down, 1), limit_seconds=30, ok=ok)
        assert ok, (rc, sorted(lost)[:5], len(acked))
    finally:
        for c in clients:
            c.disconnect()
        dm.stop()


async def step(name, coro):
    try:
        await coro
    except Exception as e:  # noqa: BLE001 - a failure of this test only
        import traceback
        result(name, False, "%s: %s" % (type(e).__name__, e))
        traceback.print_exc(file=sys.stdout)
    else:
        result(name, True)


def main():
    logging.basicConfig(level=logging.CRITICAL)
    only = os.environ.get("CERTWATCH_FAULTS", "")
    if not only:
        reliability.start({"fault"})
    with lab() as info, tempfile.TemporaryDirectory() as d:
        tests = [("kill -9 prosody", lambda: t_server_killed(info, "prosody", d)),
                 ("kill -9 ejabberd", lambda: t_server_killed(info, "ejabberd", d)),
                 ("DNS resolver gone", lambda: t_dns_gone(info, d)),
                 ("Tor gone", lambda: t_tor_gone(info, d)),
                 ("disk full", lambda: t_disk_full(info, d)),
                 ("SIGTERM during a storm", lambda: t_sigterm_storm(info, d))]
        for name, fn in tests:
            if only and name not in only.split(","):
                continue
            asyncio.run(step(name, fn()))
    print("%d passed, %d failed" % (passed[0], failed[0]))
    return 1 if failed[0] or not passed[0] else 0


if __name__ == "__main__":
    sys.exit(main())
