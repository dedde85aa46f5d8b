#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""bench_idle.py - wake-ups and CPU of an idle `certwatch run` connected to
the lab's Prosody as its component (docs/performance.md "Idle wake-ups").

    bench_idle.py [--seconds 60] [--lab lab.json] BINARY [BINARY...]

For each binary: starts it, waits until the stream is up, lets it settle
for 3 s, then counts over --seconds the process's context switches
(/proc/PID/task/*/status: voluntary + nonvoluntary, i.e. wake-ups) and CPU
time (/proc/PID/stat utime + stime).  Starts a lab unless --lab names one.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lab"))
from cwtest import write_config, terminate  # noqa: E402
from lab import Lab  # noqa: E402


def switches(pid):
    n = 0
    for st in glob.glob("/proc/%d/task/*/status" % pid):
        with open(st) as f:
            for line in f:
                if line.startswith(("voluntary_ctxt_switches",
                                    "nonvoluntary_ctxt_switches")):
                    n += int(line.split()[1])
    return n


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(binary, info, tmp, seconds):
    x = info["xmpp"]["prosody"]
    wdir = tempfile.mkdtemp(dir=tmp)
    conf = write_config(info, os.path.join(wdir, "certwatch.ini"),
                        component={"jid": x["component"], "host": x["host"],
                                   "port": str(x["component_port"]),
                                   "secret": x["secret"]},
                        log={"level": "info"})
    log_path = os.path.join(wdir, "log")
    with open(log_path, "wb") as log:
        p = subprocess.Popen([binary, "run", "-c", conf], stdout=log,
                             stderr=subprocess.STDOUT)
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 15:
            with open(log_path, errors="replace") as f:
                if "xmpp: connected" in f.read():
                    break
            time.sleep(0.1)
        else:
            raise SystemExit("%s: not connected in 15 s" % binary)
        time.sleep(3)
        s0, c0 = switches(p.pid), cpu_s(p.pid)
        time.sleep(seconds)
        s1, c1 = switches(p.pid), cpu_s(p.pid)
    finally:
        terminate(p)
    per_min = 60.0 / seconds
    return (s1 - s0) * per_min, (c1 - c0) * per_min * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--lab")
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-idle.")
    lab = None
    if a.lab:
        with open(a.lab) as f:
            info = json.load(f)
    else:
        lab = Lab.start(os.path.join(tmp, "lab"))
        info = lab.info
    try:
        for b in a.binaries:
            wake, ms = measure(b, info, tmp, a.seconds)
            print("%s: %.0f wake-ups/min, %.1f ms CPU/min (over %.0f s idle)"
                  % (b, wake, ms, a.seconds))
    finally:
        if lab is not None:
            lab.stop()


if __name__ == "__main__":
    main()
