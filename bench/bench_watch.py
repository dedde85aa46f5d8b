#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""bench_watch.py - the watcher's numbers through the real daemon: the
start-up time and resident memory of `certwatch run` with 100,000 watched
domains, and what one verdict change costs on disk (bytes written, files,
fsyncs, from the admin `stats` command).

    bench_watch.py CERTWATCH_BIN BENCH_STORE_BIN [-n DOMAINS] [-r RUNS]

BENCH_STORE_BIN is build/store/bench_store: it fills the state directory
(`-k`: 4 endpoints, 1-2 keys, 3 history entries, 1-2 chat subscribers per
domain, a pubsub subscriber on every tenth) as for docs/store.md.  Runs
against the lab named by $CERTWATCH_LAB, or starts one (root).  The
verdict change is the lab's switch.test turned to the MITM server (an
iptables DNAT rule, removed afterwards) and back, each by an admin
`recheck`.  Figures go to docs/performance.md.
"""
import argparse
import asyncio
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lab"))
import test_watch as tw  # noqa: E402  (Daemon, Client, stats)
from lab import Lab  # noqa: E402


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def cpu_s(pid):
    """User + system CPU seconds of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        f = f.read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def start_timed(d):
    """Starts the daemon with its log on a pipe; returns the seconds to
    "starting as" (store loaded, every domain scheduled) and to "xmpp:
    connected"."""
    t0 = time.monotonic()
    d.p = subprocess.Popen([tw.BIN, "run", "-c", d.conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
    d.t0 = t0
    marks = {}
    log = open(d.log_path, "ab")
    while "connected" not in marks:
        line = d.p.stdout.readline()
        if not line:
            raise RuntimeError("certwatch exited: see %s" % d.log_path)
        log.write(line)
        if b" starting as " in line and "ready" not in marks:
            marks["ready"] = time.monotonic() - t0
            marks["cpu"] = cpu_s(d.p.pid)
        if b"xmpp: connected" in line:
            marks["connected"] = time.monotonic() - t0
    log.flush()

    def drain():
        for line in d.p.stdout:
            log.write(line)
        log.close()

    threading.Thread(target=drain, daemon=True).start()
    return marks


async def verdict_change(info, d, server="prosody"):
    """Costs of switch.test going mismatch and back: stats deltas."""
    x = info["xmpp"][server]
    admin = await tw.connect(x, x["users"][17], d.comp)
    out = []
    sw = info["switchable"][tw.SWITCH]
    mitm = info["targets"]["mitm"]
    try:
        await tw.wait_bot(admin)
        await admin.ask("subscribe " + tw.SWITCH, match=r"^Subscribed|already")
        await admin.body(60, match=r"^First check of ")
        await asyncio.sleep(3)
        for what, op, want in (("ok -> mismatch (alarm)", "-A", r"^ALARM"),
                               ("mismatch -> ok (recovered)", "-D", r"recovered")):
            s1 = await tw.stats(admin)
            tw.iptables(op, sw["ip"], mitm)
            t = time.monotonic()
            admin.send_message(mto=d.comp, mbody="recheck " + tw.SWITCH, mtype="chat")
            await admin.body(60, match=want)
            took = time.monotonic() - t
            await asyncio.sleep(1.5)   # the commit of the round is done
            s2 = await tw.stats(admin)
            delta = [b - a for a, b in zip(s1["store"], s2["store"])]
            out.append((what, delta, took, s2["rounds"] - s1["rounds"]))
        await admin.ask("unsubscribe " + tw.SWITCH, match=r"^Unsubscribed")
    finally:
        subprocess.run(["iptables", "-t", "nat", "-D", "OUTPUT", "-d", sw["ip"], "-p",
                        "tcp", "-j", "DNAT", "--to-destination", mitm],
                       capture_output=True)
        admin.disconnect()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("certwatch")
    ap.add_argument("bench_store")
    ap.add_argument("-n", type=int, default=100000)
    ap.add_argument("-r", type=int, default=3, help="start-up runs")
    a = ap.parse_args()
    tw.BIN = os.path.abspath(a.certwatch)
    logging.basicConfig(level=logging.CRITICAL)
    tmp = tempfile.mkdtemp(prefix="certwatch-bench-watch.")
    store = os.path.join(tmp, "store")
    t = time.monotonic()
    bs = subprocess.run([os.path.abspath(a.bench_store), "-n", str(a.n), "-d", store,
                         "-k"], check=True, capture_output=True, text=True).stdout
    # The store alone, opened by bench_store in a process of its own.
    alone = [l for l in bs.splitlines() if l.startswith("| open") or "resident" in l]
    fill = time.monotonic() - t
    du = sum(os.path.getsize(os.path.join(store, f)) for f in os.listdir(store))
    print("state: %d domains, %.1f MB in %d files (filled in %.0f s)"
          % (a.n, du / 1e6, len(os.listdir(store)), fill))
    print("the store alone (bench_store):\n  " + "\n  ".join(alone))
    with Lab.from_env() as lab:
        info = lab.info
        # A 31-day interval: the first rounds of the 100,000 are spread over
        # it, so the figures are those of the start, not of probing.
        d = tw.Daemon(info, "prosody", os.path.join(tmp, "run"), store=store,
                      admins=[info["xmpp"]["prosody"]["users"][17]["jid"]],
                      watch={"interval": str(31 * 86400), "jitter": "3600"})
        rows = []
        for i in range(a.r):
            marks = start_timed(d)
            rss0 = status_kb(d.p.pid, "VmRSS")
            time.sleep(10)
            rss10, hwm = status_kb(d.p.pid, "VmRSS"), status_kb(d.p.pid, "VmHWM")
            if i < a.r - 1:
                t = time.monotonic()
                d.stop()
                rows.append((marks, rss0, rss10, hwm, time.monotonic() - t))
        changes = asyncio.run(verdict_change(info, d))
        t = time.monotonic()
        d.stop()
        rows.append((marks, rss0, rss10, hwm, time.monotonic() - t))
    print("\nstart-up with %d watched domains (warm page cache):" % a.n)
    print("load average: %.1f %.1f %.1f (2 cores)" % os.getloadavg())
    print("%-4s %-22s %-9s %-16s %-12s %-14s %-9s %s" % (
        "run", "store loaded+scheduled", "its CPU", "xmpp connected", "VmRSS then",
        "VmRSS +10 s", "VmHWM", "stop"))
    for i, (m, r0, r10, hwm, stop) in enumerate(rows):
        print("%-4d %-22s %-9s %-16s %-12s %-14s %-9s %.1f s" % (
            i + 1, "%.2f s" % m["ready"], "%.2f s" % m["cpu"], "%.2f s" % m["connected"],
            "%.1f MB" % (r0 / 1024), "%.1f MB" % (r10 / 1024), "%.1f MB" % (hwm / 1024),
            stop))
    print("\none verdict change of switch.test in that store (admin stats deltas):")
    for what, (batches, files, nbytes, fsyncs), took, rounds in changes:
        print("  %-28s %d batch(es), %d file(s), %d bytes, %d fsyncs; alert %.2f s "
              "after the recheck; %d round(s) in the window" % (
                  what, batches, files, nbytes, fsyncs, took, rounds))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
