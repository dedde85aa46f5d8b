#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""bench_web.py - requests/s and latency of the web face with 10,000 watched
domains in the store, and the chat round trip while the page is loaded.

Usage: bench_web.py [CERTWATCH_BIN] [WEB_FILL_STORE_BIN] [--domains N]
                    [--seconds S] [--conns C] [--threads T]

Fills a state directory with N domains (web_fill_store: 4 endpoints, 2
keys, 2 history entries and a subscriber each), starts `certwatch run` on
the lab's Prosody with [http] listen, then runs wrk against /d/DOMAIN (a
random one of the N per request) and against /metrics.  Meanwhile one
chat client (a raw XMPP client, see bench_chat.py) sends `help` to the bot
one at a time and times each reply; the same is measured before the load,
for comparison.  Reuses $CERTWATCH_LAB or starts a lab.
"""
import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lab"))
sys.path.insert(0, HERE)

from bench_chat import RawClient, cpu_seconds, pct  # noqa: E402

LUA_DOMAINS = """
math.randomseed(os.time())
request = function()
  return wrk.format("GET", string.format("/d/d%%05d.example",
                    math.random(0, %d)))
end
"""
# Paced runs: each connection waits PACE_MS after each answer, so the load
# is about conns * 1000 / (PACE_MS + latency) requests/s, not the most the
# server can take.
PACE_MS = 4
LUA_PACE = "delay = function() return %d end\n" % PACE_MS


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wrk(url, seconds, conns, threads, script=None):
    argv = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds,
            "--latency"]
    if script:
        argv += ["-s", script]
    out = subprocess.run(argv + [url], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for p, v, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\b",
                                 out, re.M):
        lat[p] = float(v) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50_ms": lat.get("50"), "p99_ms": lat.get("99"),
            "non2xx": int(errs.group(1)) if errs else 0,
            "socket_errors": sock.group(1) if sock else "", "raw": out}


class Chat:
    """One logged-in user; rtt() sends `help` and waits for the reply."""

    def __init__(self, info, user, comp):
        self.c = RawClient(info, user, comp)
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.c.login())
        self.replies = self.c.replies().__aiter__()

    def rtts(self, n=None, until=None):
        async def go():
            out = []
            while (n is None or len(out) < n) and \
                    (until is None or time.monotonic() < until):
                t0 = time.monotonic()
                self.c.send("help")
                await asyncio.wait_for(self.replies.__anext__(), 10)
                out.append((time.monotonic() - t0) * 1000)
                await asyncio.sleep(0.02)
            return out
        return self.loop.run_until_complete(go())

    def close(self):
        self.c.w.close()
        self.loop.close()


def summary(ms):
    ms = sorted(ms)
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 2),
            "p99_ms": round(pct(ms, 99), 2), "max_ms": round(ms[-1], 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?",
                    default=os.environ.get("CERTWATCH_BIN", "certwatch"))
    ap.add_argument("fill", nargs="?", default=os.environ.get(
        "WEB_FILL_STORE", "build/tests/web_fill_store"))
    ap.add_argument("--domains", type=int, default=10000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--store", help="a state directory already filled by "
                    "web_fill_store (kept), instead of filling a new one")
    ap.add_argument("--runs", default="d,metrics,d paced,metrics paced,"
                    "metrics paced control",
                    help="which runs, comma-separated")
    ap.add_argument("--paced-conns", type=int, default=40,
                    help="connections of the paced run (40: ~5,000 req/s)")
    a = ap.parse_args()

    from lab import Lab
    tmp = tempfile.mkdtemp(prefix="cw-bench-web-")
    lab = Lab.from_env(os.path.join(tmp, "lab"))
    bot = control = None
    chat = None
    try:
        store = a.store or os.path.join(tmp, "store")
        t0 = time.monotonic()
        if not a.store:
            subprocess.run([a.fill, store, str(a.domains)], check=True)
        fill_s = time.monotonic() - t0
        xinfo = lab.info["xmpp"]["prosody"]
        port = free_port()
        with open(lab.info["certwatch_conf"]["prosody"]) as f:
            text = f.read().replace("level = debug", "level = warn")
        text = re.sub(r"(?m)^dir = .*$", "dir = " + store, text)
        text += ("\n[limits]\ncommands_per_minute = 0\n"
                 "[watch]\ninterval = 86400\n"
                 "[http]\nlisten = 127.0.0.1:%d\n" % port)
        conf = os.path.join(tmp, "certwatch.ini")
        with open(conf, "w") as f:
            f.write(text)
        os.chmod(conf, 0o600)
        log = open(os.path.join(tmp, "certwatch.log"), "wb")
        bot = subprocess.Popen([a.binary, "run", "-c", conf], stdout=log,
                               stderr=subprocess.STDOUT)
        base = "http://127.0.0.1:%d" % port
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1.0)   # the component's handshake
        # A control: a second certwatch whose page takes the same load
        # while the chat goes to the first one.  What the chat loses then
        # is the machine's (2 cores shared by wrk, Prosody, the client and
        # certwatch), not the bot's event loop.
        port2 = free_port()
        text2 = re.sub(r"(?m)^dir = .*$", "dir = " + os.path.join(
            tmp, "store2"), text)
        text2 = re.sub(r"(?m)^port = .*$", "port = 9", text2)
        text2 = text2.replace("listen = 127.0.0.1:%d" % port,
                              "listen = 127.0.0.1:%d" % port2)
        conf2 = os.path.join(tmp, "control.ini")
        with open(conf2, "w") as f:
            f.write(text2)
        os.chmod(conf2, 0o600)
        control = subprocess.Popen([a.binary, "run", "-c", conf2],
                                   stdout=log, stderr=subprocess.STDOUT)
        base2 = "http://127.0.0.1:%d" % port2
        for _ in range(100):
            try:
                urllib.request.urlopen(base2 + "/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        size_d = len(urllib.request.urlopen(base + "/d/d00042.example")
                     .read())
        size_m = len(urllib.request.urlopen(base + "/metrics").read())

        chat = Chat(xinfo, xinfo["users"][1], xinfo["component"])
        idle = summary(chat.rtts(n=200))

        lua = os.path.join(tmp, "d.lua")
        with open(lua, "w") as f:
            f.write(LUA_DOMAINS % (a.domains - 1))
        lua_paced = os.path.join(tmp, "dp.lua")
        with open(lua_paced, "w") as f:
            f.write(LUA_DOMAINS % (a.domains - 1) + LUA_PACE)
        lua_mpaced = os.path.join(tmp, "mp.lua")
        with open(lua_mpaced, "w") as f:
            f.write(LUA_PACE)
        results = {}
        for name, url, script, conns in (
                ("d", base + "/d/", lua, a.conns),
                ("metrics", base + "/metrics", None, a.conns),
                ("d paced", base + "/d/", lua_paced, a.paced_conns),
                ("metrics paced", base + "/metrics", lua_mpaced,
                 a.paced_conns),
                ("metrics paced control", base2 + "/metrics", lua_mpaced,
                 a.paced_conns)):
            if name not in a.runs.split(","):
                continue
            box = {}
            th = threading.Thread(target=lambda: box.update(
                wrk(url, a.seconds, conns, a.threads, script)))
            pid = control.pid if "control" in name else bot.pid
            cpu0 = cpu_seconds(pid)
            th.start()
            time.sleep(1)
            loaded = chat.rtts(until=time.monotonic() + a.seconds - 2)
            th.join()
            cpu = cpu_seconds(pid) - cpu0
            r = box
            r["chat_during"] = summary(loaded)
            r["certwatch_cpu_s"] = round(cpu, 2)
            results[name] = r
        print("bench_web: %d watched domains (filled in %.1f s), wrk -t%d "
              "-c%d -d%ds on 2 cores" % (a.domains, fill_s, a.threads,
                                         a.conns, a.seconds))
        print("  chat `help` round trip, no load: p50 %.2f ms  p99 %.2f ms "
              "(%d)" % (idle["p50_ms"], idle["p99_ms"], idle["n"]))
        for name in results:
            size = size_d if name.startswith("d") else size_m
            r = results[name]
            label = name.replace("d", "/d/DOMAIN", 1) if name[0] == "d" \
                else "/" + name
            if "control" in name:
                label = "control: /metrics paced of another certwatch"
            print("  %-22s %5d bytes: %7.0f req/s  p50 %.2f ms  p99 %.2f ms"
                  "  non-2xx %d %s; certwatch CPU %.1f s; chat during: p50 "
                  "%.2f ms  p99 %.2f ms (%d)" % (
                      label, size, r["rps"], r["p50_ms"], r["p99_ms"],
                      r["non2xx"], r["socket_errors"], r["certwatch_cpu_s"],
                      r["chat_during"]["p50_ms"], r["chat_during"]["p99_ms"],
                      r["chat_during"]["n"]))
        print(json.dumps({"domains": a.domains, "chat_idle": idle,
                          **{k: {x: y for x, y in v.items() if x != "raw"}
                             for k, v in results.items()}}))
    finally:
        if control is not None:
            control.send_signal(signal.SIGTERM)
            control.wait(15)
        if chat:
            chat.close()
        if bot is not None:
            bot.send_signal(signal.SIGTERM)
            try:
                bot.wait(15)
            except subprocess.TimeoutExpired:
                bot.kill()
        lab.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
