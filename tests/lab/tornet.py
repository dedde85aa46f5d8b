#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""tornet.py - a private Tor network on loopback for certwatch's lab tests.

Three directory authorities, three exit relays and one client, all Debian's
tor with TestingTorNetwork, each on its own 127.R.S.x address with free
ports chosen at run time.  docs/tor.md explains every option.

    tornet.py start DIR --resolver IP[:PORT] [--net 127.R.S] [--timeout S]
    tornet.py wait DIR [--timeout S]
    tornet.py stop DIR
    tornet.py status DIR
    tornet.py client-stop DIR | client-start DIR

`start` exits 0 only once the client reports Bootstrapped 100% and a test
stream through the network echoed its bytes; DIR/tornet.json then says
where the client's SOCKS and control ports are.  `start` may run in the
background (`tornet.py start ... &`): `wait` blocks until it is ready or has
failed.  `stop` kills exactly the recorded PIDs and is idempotent.

Also a module (stdlib only): TorNet, Control (a control-port client),
StreamWatch (which circuit and exit each stream used), socks5_connect and
EchoServer.
"""

import argparse
import base64
import binascii
import json
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

TOR = "/usr/sbin/tor"
TOR_GENCERT = "/usr/bin/tor-gencert"
N_AUTH = 3
N_EXIT = 3
STATE = "tornet.json"

# Host parts inside 127.R.S: authorities .1-.3, exits .11-.13, client .20.
# Tests may use .30-.99 for their own servers (EchoServer, a DNS stub).
HOST_AUTH = 1
HOST_EXIT = 11
HOST_CLIENT = 20
HOST_SELFTEST = 29

VOTE_LEAD = int(os.environ.get("TORNET_VOTE_LEAD", "14"))
VOTING = """\
TestingV3AuthInitialVotingInterval 20
TestingV3AuthInitialVoteDelay 4
TestingV3AuthInitialDistDelay 4
V3AuthVotingInterval 20
V3AuthVoteDelay 4
V3AuthDistDelay 4
"""


class TorNetError(Exception):
    """The network could not be started, or a control command failed."""


# ---------------------------------------------------------------- helpers

def free_port(ip, prefer=()):
    """Return a TCP port that is free on ip right now (preferred ones first)."""
    for port in list(prefer) + [0]:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((ip, port))
            return s.getsockname()[1]
        except OSError:
            continue
        finally:
            s.close()
    raise TorNetError("no free port on %s" % ip)


def random_net():
    """Pick a 127.R.S prefix whose .1 address has no listener we can see."""
    for _ in range(50):
        # Below 127.192/10, tor's default VirtualAddrNetworkIPv4: a client
        # refuses a literal target there ("Missing mapping for virtual
        # address").  The lab's client moves that network anyway.
        net = "127.%d.%d" % (random.randint(64, 191), random.randint(1, 250))
        try:
            free_port(net + ".1")
            return net
        except TorNetError:
            continue
    raise TorNetError("no free 127.R.S network found")


def _write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _pid_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def rss_bytes(pids):
    """Sum of the resident set sizes of pids (those still alive)."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def _run(argv, stdin_text=None):
    p = subprocess.run(argv, input=stdin_text, capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0:
        raise TorNetError("%s failed (%d): %s" % (argv[0], p.returncode,
                                                  p.stderr.strip() or p.stdout.strip()))
    return p.stdout


def _relay_fingerprint(datadir, nickname):
    """Make a relay's identity key in datadir and return its fingerprint."""
    empty = os.path.join(datadir, "empty-torrc")
    open(empty, "w").close()
    _run([TOR, "--quiet", "-f", empty, "--defaults-torrc", empty,
          "--list-fingerprint", "--DataDirectory", datadir,
          "--ORPort", "1", "--Nickname", nickname,
          "--DirAuthority", "x 127.0.0.1:1 " + "f" * 40])
    with open(os.path.join(datadir, "fingerprint")) as f:
        return f.read().split()[1]


def _authority_v3ident(datadir, address):
    """Make an authority's v3 keys with tor-gencert; return its v3 identity."""
    keys = os.path.join(datadir, "keys")
    os.makedirs(keys, mode=0o700, exist_ok=True)
    cert = os.path.join(keys, "authority_certificate")
    _run([TOR_GENCERT, "--create-identity-key", "--passphrase-fd", "0",
          "-i", os.path.join(keys, "authority_identity_key"),
          "-s", os.path.join(keys, "authority_signing_key"),
          "-c", cert, "-m", "12", "-a", address], stdin_text="\n")
    with open(cert) as f:
        for line in f:
            if line.startswith("fingerprint "):
                return line.split()[1]
    raise TorNetError("no fingerprint in " + cert)


def consensus_relays(path):
    """Parse a (microdesc) consensus: {nickname: {"fp", "ip", "flags"}}."""
    relays = {}
    cur = None
    try:
        with open(path, errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return {}
    for line in lines:
        parts = line.split()
        if line.startswith("r "):
            cur = None
            # microdesc flavour: r nick id date time ip orport dirport;
            # full flavour has a descriptor digest after id.
            if len(parts) not in (8, 9):
                continue
            try:
                ident = parts[2] + "=" * (-len(parts[2]) % 4)
                fp = binascii.hexlify(base64.b64decode(ident, validate=True))
            except (ValueError, binascii.Error):
                continue
            cur = {"fp": fp.decode().upper(), "ip": parts[-3], "flags": set()}
            relays[parts[1]] = cur
        elif line.startswith("s ") and cur is not None:
            cur["flags"] = set(parts[1:])
    return relays


# ------------------------------------------------------------ SOCKS5, echo

SOCKS5_REPLIES = {
    1: "general failure", 2: "connection not allowed by ruleset",
    3: "network unreachable", 4: "host unreachable",
    5: "connection refused", 6: "TTL expired",
    7: "command not supported", 8: "address type not supported",
}


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("SOCKS5 server closed the connection")
        buf += chunk
    return buf


def socks5_connect(proxy, host, port, username=None, password=None, timeout=30):
    """CONNECT to host:port through a SOCKS5 proxy ("ip:port"), host sent as a
    domain name (ATYP 3) so the exit resolves it.  With a username, offers only
    method 2 (so Tor isolates by it).  Returns the connected socket; raises
    ConnectionError with the reply code in words."""
    pip, pport = proxy.rsplit(":", 1)
    sock = socket.create_connection((pip, int(pport)), timeout=timeout)
    try:
        if username is not None:
            sock.sendall(b"\x05\x01\x02")
        else:
            sock.sendall(b"\x05\x01\x00")
        ver, method = _recv_exact(sock, 2)
        if ver != 5 or method == 0xFF:
            raise ConnectionError("SOCKS5: no acceptable method")
        if method == 2:
            u = (username or "").encode()
            p = (password if password is not None else "x").encode()
            sock.sendall(b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p)
            if _recv_exact(sock, 2)[1] != 0:
                raise ConnectionError("SOCKS5: authentication refused")
        h = host.encode()
        sock.sendall(b"\x05\x01\x00\x03" + bytes([len(h)]) + h +
                     port.to_bytes(2, "big"))
        ver, rep, _, atyp = _recv_exact(sock, 4)
        # Tor's error replies carry ATYP 0 with no address after it.
        alen = {1: 4, 4: 16}.get(atyp)
        if atyp == 3:
            alen = _recv_exact(sock, 1)[0]
        if alen is not None:
            _recv_exact(sock, alen + 2)
        if rep != 0:
            raise ConnectionError("SOCKS5 reply %d: %s" % (
                rep, SOCKS5_REPLIES.get(rep, "unknown error")))
        return sock
    except BaseException:
        sock.close()
        raise


class EchoServer:
    """A threaded TCP echo server on (ip, port); logs accepted peers."""

    def __init__(self, ip, port=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.listen(64)
        self.addr = self.sock.getsockname()
        self.peers = []
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.peers.append(peer)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn):
        with conn:
            try:
                while True:
                    data = conn.recv(4096)
                    if not data:
                        return
                    conn.sendall(data)
            except OSError:
                return

    def close(self):
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


# ---------------------------------------------------------- control port

def _unquote(s):
    """Undo the control protocol's QuotedString escapes ("..." with \\)."""
    if len(s) < 2 or s[0] != '"':
        return s
    out, i = [], 1
    while i < len(s) - 1:
        c = s[i]
        if c == "\\" and i + 1 < len(s) - 1:
            i += 1
            c = {"n": "\n", "r": "\r", "t": "\t"}.get(s[i], s[i])
        out.append(c)
        i += 1
    return "".join(out)


def split_event(line):
    """Split an event or status line into positional words and KEY=VALUE
    pairs, honouring quoted values.  Returns (words, kv)."""
    words, kv = [], {}
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] == " ":
            i += 1
        if i >= n:
            break
        j = i
        quoted = False
        while j < n and (quoted or line[j] != " "):
            if line[j] == "\\" and quoted:
                j += 2
                continue
            if line[j] == '"':
                quoted = not quoted
            j += 1
        tok = line[i:j]
        i = j
        eq = tok.find("=")
        if eq > 0 and tok[:eq].replace("_", "").isalnum() and tok[:eq].isupper():
            kv[tok[:eq]] = _unquote(tok[eq + 1:])
        else:
            words.append(tok)
    return words, kv


def parse_path(path):
    """'$FP~nick,$FP~nick' -> [(FP, nick)]"""
    hops = []
    for hop in path.split(","):
        hop = hop.lstrip("$")
        fp, _, nick = hop.replace("=", "~").partition("~")
        hops.append((fp.upper(), nick))
    return hops


class Control:
    """A minimal Tor control-port client (control-spec.txt): commands get
    their reply; asynchronous 650 events are queued for read_event()."""

    def __init__(self, addr, password=None, timeout=30):
        ip, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((ip, int(port)), timeout=timeout)
        self.timeout = timeout
        self.buf = b""
        self.events = []
        if password is None:
            self.command("AUTHENTICATE")
        else:
            self.command('AUTHENTICATE "%s"' % password)

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
        except OSError:
            pass
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _readline(self):
        """One line; a time-out leaves the partial line buffered."""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise TorNetError("control connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace").rstrip("\r")

    def _read_reply(self):
        """Read one whole reply: [(code, sep, text, data-or-None)]."""
        lines = []
        while True:
            line = self._readline()
            if len(line) < 4:
                raise TorNetError("bad control line: %r" % line)
            code, sep, text = line[:3], line[3], line[4:]
            data = None
            if sep == "+":
                body = []
                while True:
                    d = self._readline()
                    if d == ".":
                        break
                    body.append(d[1:] if d.startswith("..") else d)
                data = "\n".join(body)
            lines.append((code, sep, text, data))
            if sep == " ":
                return lines

    def command(self, cmd):
        """Send cmd, return its reply lines; raise unless the code is 250."""
        self.sock.sendall(cmd.encode() + b"\r\n")
        while True:
            reply = self._read_reply()
            if reply[0][0] == "650":
                self.events.append(reply)
                continue
            if reply[-1][0] != "250":
                raise TorNetError("%s: %s %s" % (cmd.split()[0], reply[-1][0],
                                                 reply[-1][2]))
            return reply

    def getinfo(self, key):
        for code, sep, text, data in self.command("GETINFO " + key):
            if text.startswith(key + "="):
                return data if data is not None else text[len(key) + 1:]
        raise TorNetError("GETINFO %s: no value" % key)

    def setevents(self, *names):
        self.command("SETEVENTS " + " ".join(names))

    def read_event(self, timeout=None):
        """Next event as (first line's text, [more lines]); None on time-out."""
        if not self.events:
            # Wait for the start of a reply, then read all of it: tor writes
            # an event's lines together, so a time-out never splits one.
            if b"\n" not in self.buf and not select.select(
                    [self.sock], [], [], timeout)[0]:
                return None
            self.events.append(self._read_reply())
        reply = self.events.pop(0)
        first = reply[0][2]
        rest = [t for _, _, t, _ in reply[1:]] + [d for *_, d in reply if d]
        return first, rest

    def bootstrap_progress(self):
        _, kv = split_event(self.getinfo("status/bootstrap-phase"))
        return int(kv.get("PROGRESS", "0")), kv.get("SUMMARY", "")

    def circuits(self):
        """GETINFO circuit-status as {circ_id: {"status", "path", kv...}}."""
        out = {}
        for line in self.getinfo("circuit-status").splitlines():
            words, kv = split_event(line)
            if len(words) >= 2:
                kv["status"] = words[1]
                kv["path"] = parse_path(words[2]) if len(words) > 2 else []
                out[words[0]] = kv
        return out

    def streams(self):
        """GETINFO stream-status as {stream_id: {"status", "circ", "target"}}."""
        out = {}
        for line in self.getinfo("stream-status").splitlines():
            words, _ = split_event(line)
            if len(words) >= 4:
                out[words[0]] = {"status": words[1], "circ": words[2],
                                 "target": words[3]}
        return out


class StreamWatch:
    """Follow STREAM and CIRC events on a control connection of its own and
    tell which circuit and exit each stream used.

    Streams are keyed by tor's stream id; each record holds target
    ("host:port"), circ, status, username (SOCKS_USERNAME, which tor 0.4.3+
    puts in STREAM events), source_addr (the SOCKS client's ip:port, so a
    caller that knows its local port can find its stream) and, once known,
    exit_fp / exit_nick / path, and conflux_id when tor put the stream on a
    conflux set (two circuits, "legs", ending at the same exit).
    """

    def __init__(self, control_addr):
        self.ctl = Control(control_addr)
        self.ctl.setevents("STREAM", "CIRC")
        self.streams = {}
        self.circs = {}

    def close(self):
        self.ctl.close()

    def _on_event(self, text):
        words, kv = split_event(text)
        if not words:
            return
        if words[0] == "STREAM" and len(words) >= 5:
            sid, status, circ, target = words[1:5]
            rec = self.streams.setdefault(sid, {"id": sid})
            rec["status"] = status
            rec["target"] = target
            if circ != "0":
                rec["circ"] = circ
            for key, name in (("SOCKS_USERNAME", "username"),
                              ("SOURCE_ADDR", "source_addr"),
                              ("REASON", "reason")):
                if key in kv:
                    rec[name] = kv[key]
        elif words[0] == "CIRC" and len(words) >= 3:
            cid, status = words[1], words[2]
            rec = self.circs.setdefault(cid, {"id": cid})
            rec["status"] = status
            if len(words) > 3 and words[3].startswith("$"):
                rec["path"] = parse_path(words[3])
            if "SOCKS_USERNAME" in kv:
                rec["username"] = kv["SOCKS_USERNAME"]
            if "CONFLUX_ID" in kv:
                rec["conflux_id"] = kv["CONFLUX_ID"]

    def pump(self, duration=0.5):
        """Read events for up to duration seconds (until quiet)."""
        end = time.monotonic() + duration
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            ev = self.ctl.read_event(timeout=left)
            if ev is None:
                return
            self._on_event(ev[0])

    def report(self):
        """Streams with their exit: list of dicts (see class doc)."""
        try:
            live = self.ctl.circuits()
        except TorNetError:
            live = {}
        for cid, c in live.items():
            rec = self.circs.setdefault(cid, {"id": cid})
            if c.get("path"):
                rec["path"] = c["path"]
            if "CONFLUX_ID" in c:
                rec["conflux_id"] = c["CONFLUX_ID"]
        out = []
        for rec in self.streams.values():
            r = dict(rec)
            circ = self.circs.get(rec.get("circ"), {})
            if "conflux_id" in circ:
                r["conflux_id"] = circ["conflux_id"]
            path = circ.get("path")
            if path:
                r["path"] = path
                r["exit_fp"], r["exit_nick"] = path[-1]
            out.append(r)
        return out

    def find(self, source_port=None, username=None):
        """The stream record of a SOCKS connection, by its local port or
        SOCKS username; None if not seen."""
        for r in self.report():
            if username is not None and r.get("username") == username:
                return r
            if (source_port is not None and
                    r.get("source_addr", "").endswith(":%d" % source_port)):
                return r
        return None


# ----------------------------------------------------------- the network

def _torrc_common(datadir, nick, dirauth_lines):
    return ("TestingTorNetwork 1\n"
            "DataDirectory %s\n"
            "PidFile %s/tor.pid\n"
            "Log notice file %s/notice.log\n"
            "Nickname %s\n"
            "SafeLogging 0\n"
            "ShutdownWaitLength 0\n"
            "ContactInfo certwatch-lab\n"
            "%s" % (datadir, datadir, datadir, nick, dirauth_lines))


class TorNet:
    """A private Tor network in directory `path`.

    TorNet(path, resolver="127.0.0.53", net=None).start() builds and starts
    it and returns once the client is bootstrapped (or raises TorNetError);
    TorNet.load(path) attaches to one described by path/tornet.json (or a
    tornet.json file).  .socks and .control are "ip:port" strings, .info the
    whole JSON, .stop() kills the processes."""

    def __init__(self, path, resolver=None, net=None):
        self.dir = os.path.abspath(path)
        self.resolver = resolver
        self.net = net
        self.info = {}
        self.procs = []

    # state file -----------------------------------------------------
    @property
    def state_path(self):
        return os.path.join(self.dir, STATE)

    @classmethod
    def load(cls, path):
        path = os.path.abspath(path)
        if os.path.isfile(path):
            path = os.path.dirname(path)
        t = cls(path)
        t.info = t.read_state()
        if not t.info:
            raise TorNetError("no %s in %s" % (STATE, path))
        t.net = t.info.get("net")
        return t

    def read_state(self):
        try:
            with open(self.state_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def _save(self):
        _write_atomic(self.state_path, json.dumps(self.info, indent=1) + "\n")

    @property
    def socks(self):
        return self.info.get("socks")

    @property
    def control(self):
        return self.info.get("control")

    # start ----------------------------------------------------------
    def _launch(self, name, torrc):
        d = os.path.join(self.dir, name)
        path = os.path.join(d, "torrc")
        with open(path, "w") as f:
            f.write(torrc)
        log = open(os.path.join(d, "stdout.log"), "ab")
        p = subprocess.Popen([TOR, "-f", path, "--defaults-torrc", os.devnull],
                             stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.procs.append((name, p))
        self.info["pids"].append(p.pid)
        self._save()
        return p

    def _check_procs(self):
        for name, p in self.procs:
            if p.poll() is not None:
                raise TorNetError("tor %s exited with %s; see %s/%s/notice.log"
                                  % (name, p.returncode, self.dir, name))

    def start(self, timeout=180, log=None):
        """Build and start the network; return when a stream works."""
        say = log or (lambda msg: None)
        if self.resolver is None:
            raise TorNetError("a resolver is needed (--resolver IP[:PORT])")
        old = self.read_state()
        if old.get("pids") and any(_pid_alive(p) for p in old["pids"]):
            raise TorNetError("a network is already running in %s" % self.dir)
        if old:
            # A stopped network of ours: start afresh in the same place.
            for name in os.listdir(self.dir):
                if name.startswith(("auth", "exit", "client")):
                    shutil.rmtree(os.path.join(self.dir, name))
        os.makedirs(self.dir, exist_ok=True)
        net = self.net or random_net()
        self.net = net
        t0 = time.monotonic()
        self.info = {"net": net, "ready": False, "start_pid": os.getpid(),
                     "pids": [], "resolver": self.resolver}
        self._save()
        try:
            self._start(net, t0, timeout, say)
        except BaseException as e:
            # Leave nothing running behind a failed start.
            self.info["error"] = str(e) or e.__class__.__name__
            self._save()
            self.stop()
            raise
        return self

    def _start(self, net, t0, timeout, say):
        deadline = t0 + timeout
        auths, exits = [], []
        for i in range(N_AUTH):
            ip = "%s.%d" % (net, HOST_AUTH + i)
            orport = free_port(ip)
            dirport = free_port(ip)
            while dirport == orport:
                dirport = free_port(ip)
            auths.append({"nick": "auth%d" % (i + 1), "ip": ip,
                          "or": orport, "dir": dirport})
        for i in range(N_EXIT):
            ip = "%s.%d" % (net, HOST_EXIT + i)
            exits.append({"nick": "exit%d" % (i + 1), "ip": ip, "or": free_port(ip)})
        for r in auths + exits:
            d = os.path.join(self.dir, r["nick"])
            if os.path.exists(d):
                raise TorNetError("%s exists: use a fresh directory" % d)
            os.makedirs(d, mode=0o700)

        def keys(r):
            d = os.path.join(self.dir, r["nick"])
            try:
                r["fp"] = _relay_fingerprint(d, r["nick"])
                r["v3"] = _authority_v3ident(d, "%s:%d" % (r["ip"], r["dir"]))
            except (TorNetError, OSError, subprocess.SubprocessError) as e:
                r["error"] = str(e)
        # Key making is most of the set-up time (seconds of CPU, more on a
        # busy machine): do it in parallel, and only for the authorities,
        # whose fingerprints every torrc needs.  Exits make their own keys
        # as they start, while the authorities wait for the first vote.
        threads = [threading.Thread(target=keys, args=(r,)) for r in auths]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        for r in auths:
            if "error" in r:
                raise TorNetError("keys for %s: %s" % (r["nick"], r["error"]))
        self.info["keys_seconds"] = round(time.monotonic() - t0, 1)
        say("authority keys made (%.1fs)" % (time.monotonic() - t0))

        dirauth = "".join(
            "DirAuthority %s orport=%d no-v2 v3ident=%s %s:%d %s\n"
            % (a["nick"], a["or"], a["v3"], a["ip"], a["dir"], a["fp"])
            for a in auths)
        bwfile = os.path.join(self.dir, "bandwidths")

        def write_bwfile():
            # Authorities read it at every vote: exits are added once known.
            _write_atomic(bwfile, "%d\n" % int(time.time()) + "".join(
                "node_id=$%s bw=1000\n" % r["fp"] for r in auths + exits
                if "fp" in r))
        write_bwfile()
        resolv = os.path.join(self.dir, "resolv.conf")
        _write_atomic(resolv, "nameserver %s\n" % self.resolver)

        # Put the first vote LEAD seconds after launch: enough for the
        # authorities to start and the exits to upload their descriptors,
        # instead of wherever the wall clock's 20 s schedule falls.
        offset = int(time.time() + VOTE_LEAD) % 20
        for a in auths:
            d = os.path.join(self.dir, a["nick"])
            self._launch(a["nick"], _torrc_common(d, a["nick"], dirauth) + (
                "TestingV3AuthVotingStartOffset %d\n" % offset + (
                "Address {ip}\nORPort {ip}:{orp}\nDirPort {ip}:{dirp}\n"
                "SocksPort 0\n"
                "AuthoritativeDirectory 1\nV3AuthoritativeDirectory 1\n"
                "ExitPolicy reject *:*\n"
                "AssumeReachable 1\n"
                "AuthDirMaxServersPerAddr 0\n"
                "AuthDirVoteStableGuaranteeMinUptime 0\n"
                "AuthDirVoteStableGuaranteeMTBF 0\n"
                "V3BandwidthsFile {bw}\n").format(
                    ip=a["ip"], orp=a["or"], dirp=a["dir"], bw=bwfile)) + VOTING)
        for e in exits:
            d = os.path.join(self.dir, e["nick"])
            self._launch(e["nick"], _torrc_common(d, e["nick"], dirauth) + (
                "Address {ip}\nORPort {ip}:{orp}\n"
                "SocksPort 0\n"
                "DirCache 0\n"
                "ExitRelay 1\n"
                "ExitPolicy accept 127.0.0.0/8:*,accept *:*\n"
                "ExitPolicyRejectPrivate 0\n"
                "RefuseUnknownExits 0\n"
                "AssumeReachable 1\n"
                "ServerDNSResolvConfFile {resolv}\n"
                "ServerDNSDetectHijacking 0\n"
                "ServerDNSTestAddresses\n").format(
                    ip=e["ip"], orp=e["or"], resolv=resolv) + VOTING)
        while not all("fp" in e for e in exits):
            self._check_procs()
            if time.monotonic() > deadline:
                raise TorNetError("exits made no keys")
            for e in exits:
                try:
                    with open(os.path.join(self.dir, e["nick"], "fingerprint")) as f:
                        e["fp"] = f.read().split()[1]
                except (OSError, IndexError):
                    pass
            time.sleep(0.1)
        write_bwfile()
        self.info["exits"] = [{"nickname": e["nick"], "fingerprint": e["fp"],
                               "address": e["ip"]} for e in exits]
        self.info["authorities"] = [{"nickname": a["nick"], "fingerprint": a["fp"],
                                     "address": "%s:%d" % (a["ip"], a["dir"])}
                                    for a in auths]
        self._save()
        say("authorities and exits started (%.1fs)" % (time.monotonic() - t0))

        # The client starts only once a consensus lists every relay with the
        # flags its paths need; started earlier it may cache a consensus
        # without the exits and wait a whole voting round for the next one.
        want = {r["nick"] for r in auths + exits}
        cons = [os.path.join(self.dir, a["nick"], "cached-microdesc-consensus")
                for a in auths]
        while True:
            self._check_procs()
            ok = False
            for path in cons:
                rel = consensus_relays(path)
                if want <= set(rel) and all(
                        {"Running", "Valid", "Stable", "Fast"} <= rel[n]["flags"]
                        for n in want) and all(
                        "Exit" in rel[e["nick"]]["flags"] for e in exits):
                    ok = True
                    break
            if ok:
                break
            if time.monotonic() > deadline:
                raise TorNetError("no consensus listing all %d relays after %ds"
                                  % (len(want), timeout))
            time.sleep(0.5)
        self.info["consensus_seconds"] = round(time.monotonic() - t0, 1)
        say("consensus lists all relays (%.1fs)" % (time.monotonic() - t0))

        cip = "%s.%d" % (net, HOST_CLIENT)
        socks_port = free_port(cip, prefer=(9050,))
        ctl_port = free_port(cip, prefer=(9051,))
        while ctl_port == socks_port:
            ctl_port = free_port(cip)
        d = os.path.join(self.dir, "client")
        os.makedirs(d, mode=0o700)
        t_client = time.monotonic()
        p = self._launch("client", _torrc_common(d, "client", dirauth) + (
            "SocksPort {ip}:{s}\nControlPort {ip}:{c}\nCookieAuthentication 0\n"
            "VirtualAddrNetworkIPv4 10.192.0.0/10\n"
        ).format(ip=cip, s=socks_port, c=ctl_port))
        self.info["client_pid"] = p.pid
        self.info["socks"] = "%s:%d" % (cip, socks_port)
        self.info["control"] = "%s:%d" % (cip, ctl_port)
        self._save()
        self._wait_bootstrap(deadline, self._check_procs)
        self.info["client_bootstrap_seconds"] = round(time.monotonic() - t_client, 1)
        say("client bootstrapped (%.1fs)" % (time.monotonic() - t0))

        self._selftest(net, deadline)
        self.info["bootstrap_seconds"] = round(time.monotonic() - t0, 1)
        self.info["rss_bytes"] = rss_bytes(self.info["pids"])
        self.info["ready"] = True
        self.info.pop("start_pid", None)
        self._save()
        say("test stream echoed (%.1fs); RSS %d MB" % (
            time.monotonic() - t0, self.info["rss_bytes"] >> 20))

    def _wait_bootstrap(self, deadline, check):
        """Poll the client's control port until Bootstrapped 100%."""
        ctl = None
        try:
            while True:
                check()
                if time.monotonic() > deadline:
                    raise TorNetError("client not bootstrapped in time")
                try:
                    if ctl is None:
                        ctl = Control(self.info["control"], timeout=5)
                    if ctl.bootstrap_progress()[0] >= 100:
                        return
                except (OSError, TorNetError):
                    if ctl is not None:
                        ctl.close()
                    ctl = None
                time.sleep(0.2)
        finally:
            if ctl is not None:
                ctl.close()

    # The client alone: tests stop it mid-run to see probes fail cleanly,
    # then start it again on the same ports with the same data directory.
    def stop_client(self):
        """SIGTERM the client and wait for it to go; returns its old PID."""
        info = self.read_state() or self.info
        pid = info.get("client_pid")
        if pid and _pid_alive(pid) and self.dir + "/" in _pid_cmdline(pid):
            os.kill(pid, signal.SIGTERM)
            end = time.monotonic() + 10
            while _pid_alive(pid) and time.monotonic() < end:
                time.sleep(0.05)
            if _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        for name, p in self.procs:
            if p.pid == pid:
                p.wait(timeout=5)
        self.info = info
        return pid

    def start_client(self, timeout=60):
        """Start the client again from its torrc; return once bootstrapped."""
        info = self.read_state() or self.info
        self.info = info
        old = info.get("client_pid")
        if old and _pid_alive(old) and self.dir + "/" in _pid_cmdline(old):
            raise TorNetError("client %d is still running" % old)
        path = os.path.join(self.dir, "client", "torrc")
        with open(path) as f:
            torrc = f.read()
        self.procs = [(n, p) for n, p in self.procs if n != "client"]
        p = self._launch("client", torrc)
        if old in info["pids"]:
            info["pids"].remove(old)
        info["client_pid"] = p.pid
        self._save()

        def alive():
            if p.poll() is not None:
                raise TorNetError("client exited with %s" % p.returncode)
        self._wait_bootstrap(time.monotonic() + timeout, alive)
        return p.pid

    def _selftest(self, net, deadline):
        """One stream through the network to an echo server, retried until
        the deadline (the first streams can fail while exits learn the
        consensus)."""
        echo = EchoServer("%s.%d" % (net, HOST_SELFTEST))
        err = None
        try:
            while time.monotonic() < deadline:
                try:
                    ip, port = echo.addr
                    s = socks5_connect(self.info["socks"], ip, port,
                                       "tornet-selftest-%d" % random.getrandbits(32),
                                       "x", timeout=15)
                    with s:
                        s.sendall(b"ping\n")
                        if _recv_exact(s, 5) == b"ping\n":
                            return
                        err = "echo mismatch"
                except (OSError, ConnectionError) as e:
                    err = str(e)
                time.sleep(1)
            raise TorNetError("test stream failed: %s" % err)
        finally:
            echo.close()

    # wait / stop ----------------------------------------------------
    def wait(self, timeout=240):
        """Block until a start (maybe in another process) is ready; raise
        TorNetError if it failed or its start process died."""
        end = time.monotonic() + timeout
        while True:
            info = self.read_state()
            if info.get("ready"):
                self.info = info
                return self
            if info.get("error"):
                raise TorNetError("start failed: " + info["error"])
            spid = info.get("start_pid")
            if info and spid and not _pid_alive(spid):
                info = self.read_state()
                if not info.get("ready"):
                    raise TorNetError("start process %d died" % spid)
            if not info and time.monotonic() > end - timeout + 30:
                raise TorNetError("no %s after 30s: was start run?" % STATE)
            if time.monotonic() > end:
                raise TorNetError("not ready after %ds" % timeout)
            time.sleep(0.3)

    def stop(self):
        """Kill the recorded processes (only those whose command line names
        this directory); idempotent.  Returns the PIDs signalled."""
        info = self.read_state()
        killed = []
        spid = info.get("start_pid")
        if spid and spid != os.getpid() and _pid_alive(spid) and \
                "tornet" in _pid_cmdline(spid):
            os.kill(spid, signal.SIGTERM)
            killed.append(spid)
            for _ in range(50):
                if not _pid_alive(spid):
                    break
                time.sleep(0.1)
            info = self.read_state()
        pids = [p for p in info.get("pids", [])
                if _pid_alive(p) and self.dir + "/" in _pid_cmdline(p)]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
                killed.append(pid)
            except ProcessLookupError:
                pass
        end = time.monotonic() + 10
        for pid in pids:
            while _pid_alive(pid) and time.monotonic() < end:
                time.sleep(0.1)
            if _pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for _, p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if info:
            info["ready"] = False
            info["stopped"] = True
            self.info = info
            self._save()
        return killed


# ------------------------------------------------------------------- CLI

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start", help="build and start a network in DIR")
    s.add_argument("dir")
    s.add_argument("--resolver", required=True,
                   help="IP[:PORT] of the DNS resolver the exits use")
    s.add_argument("--net", help="127.R.S prefix (default: random)")
    s.add_argument("--timeout", type=float, default=180)
    w = sub.add_parser("wait", help="wait until DIR's network is ready")
    w.add_argument("dir")
    w.add_argument("--timeout", type=float, default=240)
    for name, what in (("stop", "kill every process of DIR's network"),
                       ("status", "print tornet.json with live PIDs and RSS"),
                       ("client-stop", "stop only the client"),
                       ("client-start", "start the client again, wait for it")):
        sub.add_parser(name, help=what).add_argument("dir")
    a = ap.parse_args(argv)

    def say(msg):
        print("tornet: " + msg, file=sys.stderr, flush=True)

    if a.cmd == "start":
        if a.net and (len(a.net.split(".")) != 3 or not a.net.startswith("127.")):
            ap.error("--net must look like 127.R.S")
        t = TorNet(a.dir, resolver=a.resolver, net=a.net)
        # A SIGTERM (from `stop`) while starting: clean up like a failure.
        def on_term(*_):
            raise TorNetError("stopped by SIGTERM")
        signal.signal(signal.SIGTERM, on_term)
        try:
            t.start(timeout=a.timeout, log=say)
        except (TorNetError, OSError, subprocess.SubprocessError) as e:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            say("start failed: %s" % e)
            t.stop()
            return 1
        print(json.dumps({k: t.info[k] for k in ("socks", "control",
                                                 "bootstrap_seconds")}))
        return 0
    t = TorNet(a.dir)
    if a.cmd == "wait":
        try:
            t.wait(timeout=a.timeout)
        except TorNetError as e:
            say(str(e))
            return 1
        print(json.dumps({k: t.info.get(k) for k in ("socks", "control",
                                                     "bootstrap_seconds")}))
        return 0
    if a.cmd == "client-stop":
        t.info = t.read_state()
        say("client %s stopped" % t.stop_client())
        return 0
    if a.cmd == "client-start":
        try:
            say("client %d bootstrapped" % t.start_client())
        except (TorNetError, OSError) as e:
            say(str(e))
            return 1
        return 0
    if a.cmd == "stop":
        killed = t.stop()
        say("stopped %d process(es)" % len(killed))
        return 0
    info = t.read_state()
    alive = [p for p in info.get("pids", []) if _pid_alive(p)]
    info["alive"] = alive
    info["rss_bytes"] = rss_bytes(alive)
    print(json.dumps(info, indent=1))
    return 0 if info.get("ready") and len(alive) == len(info.get("pids", [])) else 1


if __name__ == "__main__":
    sys.exit(main())
