#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""bench_probe_cpu.py - the daemon's CPU per probe under a light watch
load: `certwatch run` against the lab's Prosody, one user subscribed to a
few of the lab's domains, [watch] interval = 10 s; after a warm-up, the
daemon's CPU (utime + stime) over a window divided by the probes it made
(`certwatch_probes_total` of /metrics) and by its checks; CPU time from
/proc/PID/task/*/schedstat, and the instructions `perf stat` counts (which
a busy machine does not change; 0 where the machine has no counters).

    bench_probe_cpu.py CERTWATCH_BIN [-s SECONDS] [--ttl1] [--debug]
                       [--perf FILE]

--ttl1 and --debug run it as test_watch.py does (libunbound's cache capped
at 1 s, so every round validates its look-ups again; the log at debug).
--perf records the window with `perf record --call-graph dwarf` into
FILE.  Runs against
the lab named by $CERTWATCH_LAB, or starts one (root).  Figures go to
docs/performance.md.
"""
import argparse
import asyncio
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lab"))
import test_watch as tw  # noqa: E402  (Client, connect, wait_bot)
from cwtest import free_port, write_config  # noqa: E402
from lab import Lab  # noqa: E402

DOMAINS = ["good.test", "twokeys.test", "twoaddr.test", "rollover.test",
           "reenc.test", "cname.test", "sni.test", "mitm.test"]


def cpu_s(pid):
    """CPU seconds of every thread so far, from schedstat (nanoseconds:
    /proc/PID/stat's 10 ms ticks are too coarse for a minute's work)."""
    total = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e9


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=10) as r:
        text = r.read().decode()
    probes = sum(float(m) for m in re.findall(
        r"^certwatch_probes_total\{[^}]*\} (\S+)$", text, re.M))
    checks = sum(float(m) for m in re.findall(
        r"^certwatch_checks_total\{[^}]*\} (\S+)$", text, re.M))
    return probes, checks


async def run(info, a, wdir):
    x = info["xmpp"]["prosody"]
    unbound = info["unbound_conf"]
    if a.ttl1:
        with open(unbound) as f:
            text = f.read().replace("server:\n", "server:\n    cache-max-ttl: 1\n"
                                    "    cache-max-negative-ttl: 1\n"
                                    "    val-bogus-ttl: 1\n", 1)
        unbound = os.path.join(wdir, "unbound.conf")
        with open(unbound, "w") as f:
            f.write(text)
    port = free_port()
    conf = write_config(
        info, os.path.join(wdir, "certwatch.ini"),
        component={"jid": x["component"], "host": x["host"],
                   "port": x["component_port"], "secret": x["secret"]},
        probe={"timeout": "5"}, dns={"unbound_conf": unbound},
        store={"dir": os.path.join(wdir, "store")},
        log={"level": "debug" if a.debug else "info"},
        watch={"interval": "10", "jitter": "0"},
        limits={"subscriptions_per_jid": "100", "commands_per_minute": "1000"},
        http={"listen": "127.0.0.1:%d" % port})
    log = open(os.path.join(wdir, "certwatch.log"), "ab")
    p = subprocess.Popen([tw.BIN, "run", "-c", conf], stdout=log,
                         stderr=subprocess.STDOUT)
    c = None
    try:
        c = await tw.connect(x, x["users"][20], x["component"])
        await tw.wait_bot(c)
        for d in DOMAINS:
            await c.ask("subscribe " + d, match=r"^Subscribed|already")
        await asyncio.sleep(25)         # first checks, a round or two
        c0, (p0, k0), t0 = cpu_s(p.pid), metrics(port), time.monotonic()
        stat = subprocess.Popen(["perf", "stat", "-x,", "-e", "instructions",
                                 "-o", os.path.join(wdir, "stat"), "-p",
                                 str(p.pid)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        perf = None
        if a.perf:
            perf = subprocess.Popen(["perf", "record", "--call-graph", "dwarf,16384",
                                     "-F", "999", "-o", a.perf,
                                     "-p", str(p.pid)],
                                    stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        await asyncio.sleep(a.seconds)
        if perf:
            perf.send_signal(2)
            perf.wait(30)
        c1, (p1, k1), t1 = cpu_s(p.pid), metrics(port), time.monotonic()
        stat.send_signal(2)
        stat.wait(30)
        instr = 0
        with open(os.path.join(wdir, "stat")) as f:
            for line in f:
                v = line.split(",")
                if len(v) > 2 and v[2].startswith("instructions"):
                    try:
                        instr = float(v[0])
                    except ValueError:     # no PMU (a VM): not counted
                        instr = 0
        for d in DOMAINS:
            await c.ask("unsubscribe " + d, match=r"^Unsubscribed|not")
        cpu, probes, checks = c1 - c0, p1 - p0, k1 - k0
        print("| %d domains, interval 10 s%s%s | %.0f s | %d | %d | %.2f | %.2f | %.2f |"
              % (len(DOMAINS), ", cache TTL 1 s" if a.ttl1 else "",
                 ", log debug" if a.debug else "", t1 - t0, probes, checks,
                 1000 * cpu / probes if probes else 0,
                 1000 * cpu / checks if checks else 0,
                 instr / probes / 1e6 if probes else 0))
    finally:
        if c:
            c.disconnect()
        p.terminate()
        p.wait(20)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("certwatch")
    ap.add_argument("-s", "--seconds", type=int, default=60)
    ap.add_argument("--ttl1", action="store_true")
    ap.add_argument("--debug", action="store_true")
    ap.add_argument("--perf")
    a = ap.parse_args()
    tw.BIN = os.path.abspath(a.certwatch)
    logging.basicConfig(level=logging.CRITICAL)
    print("| load | window | probes | checks | CPU ms per probe | CPU ms per check "
          "| M instructions per probe |")
    print("|---|---|---|---|---|---|---|")
    with Lab.from_env() as lab, tempfile.TemporaryDirectory() as wdir:
        asyncio.run(run(lab.info, a, wdir))


if __name__ == "__main__":
    sys.exit(main())
