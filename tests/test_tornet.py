#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_tornet.py - checks the lab's private Tor network the way certwatch
will use it: SOCKS5 with a fresh username per connection, to a long-lived
(XMPP) port, every stream on its own circuit and more than one exit used.

    /usr/bin/python3 tests/test_tornet.py [-n 16] [--keep] [--unit]

Starts a network in a temporary directory through the tornet.py command
line (start in the background, wait, stop twice), or reuses the one named
by CERTWATCH_TORNET=path/to/tornet.json: then it neither starts nor stops
it (scripts/test.sh checks that network's stop), but restarts its client
as on its own network.  Exits 0 when every check passed, 1 otherwise.
"""

import argparse
import json
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lab"))
import tornet  # noqa: E402

TORNET_PY = os.path.join(HERE, "lab", "tornet.py")
# Ports in tor's default LongLivedPorts: circuits for them need Stable
# relays, the case that matters for XMPP.  5222 first; another lab server
# may hold it on 0.0.0.0.
LONG_LIVED = (5222, 5223, 6667, 6697, 8300)

failures = []


def check(cond, what):
    print("%s: %s" % ("ok  " if cond else "FAIL", what), flush=True)
    if not cond:
        failures.append(what)
    return cond


class DnsStub:
    """A tiny UDP DNS server: A records from a dict, NXDOMAIN for other
    names, NODATA for other types.  Enough for tor's exits (evdns)."""

    def __init__(self, ip, names):
        self.names = {k.lower().rstrip("."): v for k, v in names.items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((ip, 53))
        except OSError:
            self.sock.bind((ip, 0))
        self.addr = self.sock.getsockname()
        self.queries = []
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                q, peer = self.sock.recvfrom(512)
            except OSError:
                return
            try:
                self.sock.sendto(self.answer(q), peer)
            except (ValueError, IndexError, struct.error, OSError):
                continue

    def answer(self, q):
        qid, flags, qd = struct.unpack("!HHH", q[:6])
        if qd != 1:
            raise ValueError("one question only")
        i, labels = 12, []
        while q[i]:
            if q[i] & 0xC0:
                raise ValueError("compressed qname")
            labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
            i += 1 + q[i]
        qtype, _ = struct.unpack("!HH", q[i + 1:i + 5])
        question = q[12:i + 5]
        name = ".".join(labels).lower()
        self.queries.append((name, qtype))
        ip = self.names.get(name)
        rflags = 0x8400 | (flags & 0x0100) | 0x0080  # QR AA, RD copied, RA
        if ip is None:
            return struct.pack("!HHHHHH", qid, rflags | 3, 1, 0, 0, 0) + question
        if qtype != 1:
            return struct.pack("!HHHHHH", qid, rflags, 1, 0, 0, 0) + question
        rr = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(ip)
        return struct.pack("!HHHHHH", qid, rflags, 1, 1, 0, 0) + question + rr

    def close(self):
        self.sock.close()


def unit_checks():
    """Pure parsers of tornet.py on captured tor output."""
    line = ('STREAM 21 SUCCEEDED 19 127.97.34.40:5223 '
            'SOCKS_USERNAME="u30f0124e" SOCKS_PASSWORD="p\\"q" '
            'SOURCE_ADDR=127.0.0.1:56696 PURPOSE=USER')
    words, kv = tornet.split_event(line)
    check(words == ["STREAM", "21", "SUCCEEDED", "19", "127.97.34.40:5223"]
          and kv["SOCKS_USERNAME"] == "u30f0124e" and kv["SOCKS_PASSWORD"] == 'p"q'
          and kv["SOURCE_ADDR"] == "127.0.0.1:56696",
          "split_event parses a captured STREAM event")
    path = tornet.parse_path("$C2AB77859C4574A75A353F9AFC020F033806A507~auth1,"
                             "$592F6728C1943F5C96F0A74B8D400A4685DF763B~exit1")
    check(path[-1] == ("592F6728C1943F5C96F0A74B8D400A4685DF763B", "exit1"),
          "parse_path gives the exit last")
    words, kv = tornet.split_event('CIRC 7 BUILT PURPOSE=GENERAL TIME_CREATED=x '
                                   'SOCKS_USERNAME="a b"')
    check(words == ["CIRC", "7", "BUILT"] and kv["SOCKS_USERNAME"] == "a b",
          "split_event keeps quoted spaces")
    with tempfile.NamedTemporaryFile("w", suffix=".consensus") as f:
        f.write("r exit2 M+wd4o2V2XSAISHVzxKVGKGam8c 2038-01-01 00:00:00 "
                "127.97.34.12 43863 0\ns Exit Fast Running Stable Valid\n"
                "r garbage\n")
        f.flush()
        rel = tornet.consensus_relays(f.name)
    check(rel.get("exit2", {}).get("fp") == "33EC1DE28D95D974802121D5CF129518A19A9BC7"
          and "Stable" in rel["exit2"]["flags"],
          "consensus_relays decodes a microdesc consensus r/s pair")
    rng = random.Random(8)
    alphabet = ' ="\\=$~,AZaz09_-\r\n\x00\xff'
    bad = None
    for _ in range(3000):
        junk = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        try:
            tornet.split_event(junk)
            tornet.parse_path(junk)
        except Exception as e:  # any exception is a finding
            bad = (junk, e)
            break
    check(bad is None, "split_event/parse_path survive 3000 junk lines %s"
          % ("" if bad is None else repr(bad)))
    # A SOCKS5 server that answers like tor does on failure: ATYP 0.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def fake():
        c, _ = srv.accept()
        with c:
            c.recv(3)
            c.sendall(b"\x05\x02")
            c.recv(512)
            c.sendall(b"\x01\x00")
            c.recv(512)
            c.sendall(b"\x05\x04\x00\x00")
    th = threading.Thread(target=fake, daemon=True)
    th.start()
    try:
        tornet.socks5_connect("127.0.0.1:%d" % srv.getsockname()[1],
                              "x.test", 5222, "u", "p", timeout=5)
        check(False, "socks5_connect reports a tor-style error reply")
    except ConnectionError as e:
        check("host unreachable" in str(e),
              "socks5_connect reads an ATYP-0 error reply (%s)" % e)
    th.join()
    srv.close()


def start_network(workdir, resolver, net):
    """Start through the CLI in the background, as a test runner would."""
    log = open(os.path.join(workdir, "start.log"), "w")
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, TORNET_PY, "start", workdir,
                          "--resolver", resolver, "--net", net],
                         stdout=log, stderr=subprocess.STDOUT)
    log.close()
    w = subprocess.run([sys.executable, TORNET_PY, "wait", workdir,
                        "--timeout", "240"], capture_output=True, text=True)
    rc = p.wait(timeout=60)
    wall = time.monotonic() - t0
    with open(os.path.join(workdir, "start.log")) as f:
        sys.stdout.write(f.read())
    check(w.returncode == 0 and rc == 0,
          "tornet.py start (background) + wait succeed (%.1fs wall)" % wall)
    return tornet.TorNet.load(workdir)


def stream_checks(net, t, n, resolver_is_ours):
    echo = None
    for port in LONG_LIVED:
        try:
            echo = tornet.EchoServer(net + ".40", port)
            break
        except OSError:
            continue
    if echo is None:
        echo = tornet.EchoServer(net + ".40", 0)
    eip, eport = echo.addr
    print("echo server on %s:%d" % (eip, eport))
    watch = tornet.StreamWatch(t.control)
    target = "echo.tornet.test" if resolver_is_ours else eip
    conns = []
    t0 = time.monotonic()
    try:
        for i in range(n):
            user = "cw%016x" % random.getrandbits(64)
            try:
                s = tornet.socks5_connect(t.socks, target, eport, user,
                                          "%x" % random.getrandbits(32), timeout=30)
            except (OSError, ConnectionError) as e:
                check(False, "stream %d (%s) connects: %s" % (i, user, e))
                continue
            s.sendall(b"hello %d\n" % i)
            want = b"hello %d\n" % i
            got = tornet._recv_exact(s, len(want))
            conns.append((user, s.getsockname()[1], s, got == want))
        dt = time.monotonic() - t0
        check(len(conns) == n and all(ok for *_, ok in conns),
              "%d streams to %s:%d echo (%.2fs, %.0f ms each)"
              % (n, target, eport, dt, 1000 * dt / max(n, 1)))
        watch.pump(1.5)
        recs = []
        for user, lport, _, _ in conns:
            r = watch.find(username=user) or watch.find(source_port=lport)
            check(r is not None and r.get("status") == "SUCCEEDED" and "exit_nick" in r,
                  "stream of %s seen on the control port: circ %s exit %s"
                  % (user, r and r.get("circ"), r and r.get("exit_nick")))
            if r:
                recs.append(r)
        check(all(r.get("username") for r in recs),
              "STREAM events carry SOCKS_USERNAME")
        circs = [r.get("circ") for r in recs]
        check(len(set(circs)) == len(circs) == n,
              "every stream on its own circuit (%d distinct of %d)"
              % (len(set(circs)), len(circs)))
        cfx = [r["conflux_id"] for r in recs if "conflux_id" in r]
        check(len(set(cfx)) == len(cfx),
              "no two streams share a conflux set (%d of %d streams on conflux)"
              % (len(cfx), len(recs)))
        exits = {}
        for r in recs:
            exits[r.get("exit_nick")] = exits.get(r.get("exit_nick"), 0) + 1
        known = {e["nickname"] for e in t.info.get("exits", [])}
        check(set(exits) <= known, "every stream left through a lab exit")
        check(len(exits) > 1, "more than one exit used: %s" % json.dumps(exits))
        peers = {p[0] for p in echo.peers}
        check(len(echo.peers) == n,
              "echo server accepted exactly %d connections (from %s)"
              % (len(echo.peers), ", ".join(sorted(peers))))
        if resolver_is_ours:
            try:
                s = tornet.socks5_connect(t.socks, "nosuch.tornet.test", eport,
                                          "cw-nx", "p", timeout=30)
                s.close()
                check(False, "an unknown name gives a SOCKS5 error")
            except ConnectionError as e:
                check(True, "an unknown name gives a SOCKS5 error (%s)" % e)
    finally:
        for _, _, s, _ in conns:
            s.close()
        watch.close()
        echo.close()


def client_restart_checks(workdir, t):
    """Stop only the client (as a test of certwatch's 'Tor is down' path
    does), see SOCKS refused, start it again and see a stream work."""
    r = subprocess.run([sys.executable, TORNET_PY, "client-stop", workdir],
                       capture_output=True, text=True)
    check(r.returncode == 0, "tornet.py client-stop")
    try:
        tornet.socks5_connect(t.socks, "127.0.0.1", 9, "cw-down", "p", timeout=5)
        check(False, "SOCKS refused while the client is down")
    except (OSError, ConnectionError) as e:
        check(True, "SOCKS refused while the client is down (%s)" % e)
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, TORNET_PY, "client-start", workdir],
                       capture_output=True, text=True)
    dt = time.monotonic() - t0
    check(r.returncode == 0, "tornet.py client-start (%.1fs): %s"
          % (dt, r.stderr.strip()))
    t.info = t.read_state()
    echo = tornet.EchoServer(t.net + ".41", 0)
    try:
        s = tornet.socks5_connect(t.socks, echo.addr[0], echo.addr[1],
                                  "cw-again", "p", timeout=30)
        with s:
            s.sendall(b"again")
            check(tornet._recv_exact(s, 5) == b"again",
                  "a stream works after the client restarted")
    except (OSError, ConnectionError) as e:
        check(False, "a stream works after the client restarted: %s" % e)
    finally:
        echo.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=16, help="streams (default 16)")
    ap.add_argument("--keep", action="store_true",
                    help="leave the network running (prints its tornet.json)")
    ap.add_argument("--unit", action="store_true",
                    help="only the parser checks, no Tor network")
    a = ap.parse_args()

    unit_checks()
    if a.unit:
        return 1 if failures else 0
    reuse = os.environ.get("CERTWATCH_TORNET")
    dns = None
    workdir = None
    t = None
    try:
        if reuse:
            t = tornet.TorNet.load(reuse)
            net = t.net
            print("reusing the network of %s" % reuse)
        else:
            net = tornet.random_net()
            dns = DnsStub(net + ".53", {"echo.tornet.test": net + ".40"})
            resolver = "%s:%d" % dns.addr if dns.addr[1] != 53 else dns.addr[0]
            workdir = tempfile.mkdtemp(prefix="tornet-")
            t = start_network(workdir, resolver, net)
        check(t.info.get("ready"), "network ready: socks %s control %s"
              % (t.socks, t.control))
        if t.info.get("ready"):
            print("bootstrap: %ss total (consensus at %ss, client %ss), "
                  "RSS now %d MB" % (
                      t.info.get("bootstrap_seconds"), t.info.get("consensus_seconds"),
                      t.info.get("client_bootstrap_seconds"),
                      tornet.rss_bytes(t.info["pids"]) >> 20))
            with tornet.Control(t.control) as ctl:
                check(ctl.bootstrap_progress()[0] == 100, "client reports Bootstrapped 100%")
            stream_checks(net, t, a.n, dns is not None)
            print("RSS after the streams: %d MB (all tor processes)"
                  % (tornet.rss_bytes(t.read_state().get("pids", [])) >> 20))
            # On a shared network too (scripts/test.sh's): the client comes
            # back bootstrapped before the next test uses it.
            client_restart_checks(workdir or os.path.dirname(reuse), t)
            if dns is not None:
                check(any(q[0] == "echo.tornet.test" for q in dns.queries),
                      "the exits resolved the name through the lab resolver")
    finally:
        if workdir and not a.keep:
            pids = (t.info.get("pids") if t else None) or []
            for i in (1, 2):
                r = subprocess.run([sys.executable, TORNET_PY, "stop", workdir],
                                   capture_output=True, text=True)
                check(r.returncode == 0, "tornet.py stop #%d exits 0" % i)
            deadline = time.monotonic() + 10
            while any(tornet._pid_alive(p) for p in pids) and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
            check(not any(tornet._pid_alive(p) for p in pids),
                  "no tor process left after stop")
        elif workdir:
            print("kept: %s" % os.path.join(workdir, tornet.STATE))
        if dns:
            dns.close()
    print("%d check(s) failed" % len(failures) if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
