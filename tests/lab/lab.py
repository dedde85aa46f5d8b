#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The certwatch lab: real DNS and XMPP servers on a private loopback block.

    lab.py start DIR    start every server, write DIR/lab.json, exit 0 when all answer
    lab.py stop DIR     stop exactly the processes `start` recorded (idempotent)
    lab.py status DIR   show which recorded processes still run
    lab.py restart DIR SERVER   stop one server and start it again (e.g. prosody)

As a library (tests):  from lab import Lab
    with Lab.from_env() as lab:      # reuses $CERTWATCH_LAB (a lab.json) or starts one
        lab.info["dns"]["resolver"]

What the lab holds (domains, servers) is the data in SERVERS, FIXTURES and
DOMAINS below; docs/lab.md describes it.  Stdlib only, plus Debian's knot,
knot-dnssecutils, unbound, prosody, ejabberd and openssl binaries.
"""

import base64
import contextlib
import hashlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import string
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
# knotd, keymgr, unbound and ejabberdctl live in /usr/sbin.
for _d in ("/usr/sbin", "/sbin"):
    if _d not in os.environ.get("PATH", "").split(":"):
        os.environ["PATH"] = os.environ.get("PATH", "/usr/bin:/bin") + ":" + _d
TEMPLATES = os.path.join(HERE, "templates")
PYTHON = "/usr/bin/python3"

PORTS = {"xmpp-client": 5222, "xmpps-client": 5223,
         "xmpp-server": 5269, "xmpps-server": 5270}
ALL4 = ("xmpp-client", "xmpps-client", "xmpp-server", "xmpps-server")
PLAIN2 = ("xmpp-client", "xmpp-server")
COMPONENT_PORT = 5347
NUSERS = 25

# Every server of the lab: its host number inside the run's 127.R.S.0/24.
# kind "prosody" (a probe target presenting `key`), "fixture" (fixtures.py
# behaviour of the same name), or one of the infrastructure kinds.
SERVERS = {
    "auth":      {"host": 1, "kind": "knot"},
    "resolver":  {"host": 2, "kind": "unbound"},
    "good":      {"host": 10, "kind": "prosody", "key": "good"},
    "mitm":      {"host": 11, "kind": "prosody", "key": "mitm"},
    # switch.test's own server (good key): tests/test_watch.py redirects
    # its address to mitm with an iptables DNAT rule, as in the 2023 attack.
    "switch":    {"host": 12, "kind": "prosody", "key": "good"},
    # keys.test's own server (good key, no DANE): tests/test_continuity.py
    # redirects its port 5222 alone, then every port, to mitm (issue 14).
    "keys":      {"host": 13, "kind": "prosody", "key": "good"},
    "prosody":   {"host": 20, "kind": "home"},
    "ejabberd":  {"host": 21, "kind": "ejabberd"},
    # Misbehaving servers (tests/lab/fixtures.py): "behaviour" (default:
    # the entry's name) and "ports" (default FIXTURE_PORTS) may be given.
    "stall":     {"host": 30, "kind": "fixture"},
    "badxml":    {"host": 31, "kind": "fixture"},
    "streamerr": {"host": 32, "kind": "fixture"},
    "notls":     {"host": 33, "kind": "fixture"},
    # Hostile servers (issue 6, tests/test_hostile.py): one domain each.
    "slowloris":   {"host": 34, "kind": "fixture"},
    "bigfeatures": {"host": 35, "kind": "fixture"},
    "deepxml":     {"host": 36, "kind": "fixture"},
    "laughs":      {"host": 37, "kind": "fixture"},
    "badutf8":     {"host": 38, "kind": "fixture"},
    "chain100":    {"host": 39, "kind": "fixture"},
    "bigcert":     {"host": 40, "kind": "fixture"},
    "tlsnever":    {"host": 41, "kind": "fixture"},
    "tlsclose":    {"host": 42, "kind": "fixture"},
    # Chooses its certificate by SNI, as multi-tenant hosts do.
    "sni":         {"host": 43, "kind": "fixture", "ports": (5222,)},
    # Fail closed (issue 13, tests/test_failclosed.py): impostors (the
    # mitm key, whose certificate from the lab CA names their domains)
    # that each try to hide from certwatch in their own way.
    "reenc":       {"host": 44, "kind": "fixture", "key": "mitm", "ports": (5222,)},
    "hugeid":      {"host": 45, "kind": "fixture", "key": "mitm", "ports": (5222,)},
    "snisel":      {"host": 46, "kind": "fixture", "key": "mitm", "ports": (5222,)},
    "hugeexp":     {"host": 47, "kind": "fixture", "key": "mitm", "ports": (5222,)},
    # Every key type (issue 14): an ECDSA (good) and an RSA certificate.
    "twokeys":     {"host": 48, "kind": "fixture", "key": "good", "ports": (5222,)},
    # Channel binding (issue 15, tests/test_defence_alerts.py): the good
    # key, SASL after TLS with SCRAM-*-PLUS (cbplus) or the same list
    # without the -PLUS mechanisms and a certificate that expires in 3
    # days (cbstrip: what an interceptor holding the key shows).
    "cbplus":      {"host": 60, "kind": "fixture", "key": "good", "ports": (5222,)},
    "cbstrip":     {"host": 61, "kind": "fixture", "key": "good", "ports": (5222,)},
}
FIXTURE_PORTS = (5222, 5269)

# The zones under test. and the verdict certwatch must give for each.
#   server: which SERVERS entry the SRV target's address (or, without
#           SRV, the domain's own address) points at;
#   dnssec: signed | unsigned | bogus (signed, but test. holds a DS that
#           matches none of its keys);
#   srv:    services with an SRV record (port from PORTS); () = none, then
#           the apex gets an A record (RFC 6120 fallback);
#   target: SRV target (default xmpp.<name>); when outside the zone, no
#           address or TLSA is added here;
#   also:   other SERVERS that serve it too (VirtualHost, certificate);
#   addrs:  more SERVERS whose addresses the target also has (A records)
#   switch: tests change its state while the lab runs (Lab.zone_set,
#           a DNAT of its server): listed under lab.json's "switchable",
#           not "domains", so tests running beside them never see it;
#   tlsa:   "usage selector mtype source" with source a key of the lab
#           PKI (good, old, mitm, ca); placed at _PORT._tcp.<target> for
#           each SRV port, or at _5222/_5269._tcp.<name> without SRV;
#   caa:    CAA records at the apex, "FLAGS TAG VALUE" as in a zone file
#           (RFC 8659); none by default (test_defences.py).
DOMAINS = [
    {"name": "good.test", "expect": "ok", "server": "good",
     "tlsa": ["3 1 1 good"], "note": "all four services, 3 1 1 of the served key",
     "caa": ['0 issue "letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1234; validationmethods=dns-01"',
             '0 issue ";"', '0 iodef "mailto:security@good.test"']},
    {"name": "rollover.test", "expect": "ok", "server": "good",
     "tlsa": ["3 1 1 old", "3 1 1 good"],
     "caa": ['0 issue "letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1234"',
             '0 issue "ca.example.net"',
             '0 issuewild "letsencrypt.org"'],
     "note": "two TLSA records: a key not served (old) and the served one"},
    {"name": "nosrv.test", "expect": "ok", "server": "good", "srv": (),
     "tlsa": ["3 1 1 good"], "note": "no SRV (secure denial): fallback to the domain on 5222/5269"},
    {"name": "notlsa.test", "expect": "no-tlsa", "server": "good", "tlsa": [],
     "note": "signed, SRV, no TLSA"},
    {"name": "unsigned.test", "expect": "insecure", "server": "good",
     "dnssec": "unsigned", "target": "xmpp.good.test", "tlsa": [],
     "caa": ['0 issue "letsencrypt.org"'],
     "note": "unsigned zone (no DS), SRV into the signed good.test that has TLSA"},
    {"name": "bogus.test", "expect": "bogus", "server": "good", "dnssec": "bogus",
     "tlsa": ["3 1 1 good"], "note": "the DS in test. matches no key of the zone"},
    {"name": "mitm.test", "expect": "mismatch", "server": "mitm",
     "tlsa": ["3 1 1 good"],
     "note": "server presents another key with a valid cert from the same lab CA"},
    {"name": "ta.test", "expect": "ok", "server": "good", "tlsa": ["2 0 1 ca"],
     "note": "DANE-TA of the lab CA; the server sends leaf+CA"},
    {"name": "sel0.test", "expect": "ok", "server": "good", "tlsa": ["3 0 2 good"],
     "note": "full certificate, SHA-512"},
    {"name": "stall.test", "expect": "unreachable", "server": "stall", "srv": PLAIN2,
     "tlsa": ["3 1 1 good"], "note": "never answers <starttls/>"},
    {"name": "badxml.test", "expect": "unreachable", "server": "badxml", "srv": PLAIN2,
     "tlsa": ["3 1 1 good"], "note": "malformed XML in the stream features"},
    {"name": "streamerr.test", "expect": "unreachable", "server": "streamerr",
     "srv": PLAIN2, "tlsa": ["3 1 1 good"], "note": "<stream:error> host-unknown"},
    {"name": "notls.test", "expect": "mismatch", "server": "notls", "srv": PLAIN2,
     "tlsa": ["3 1 1 good"], "note": "offers no <starttls/>: TLS downgrade"},
    {"name": "cname.test", "expect": "ok", "server": "good", "tlsa": [],
     "cname": "xmpp.good.test",
     "note": "SRV target is a CNAME to xmpp.good.test: TLSA found at the CNAME's target"},
    {"name": "cname2.test", "expect": "ok", "server": "good", "tlsa": ["3 1 1 good"],
     "cname": "xmpp.notlsa.test",
     "note": "SRV target is a CNAME to a name without TLSA: TLSA found at the original name"},
    {"name": "sni.test", "expect": "mismatch", "server": "sni", "srv": ("xmpp-client",),
     "tlsa": ["3 1 1 good"],
     "note": "the good key only for SNI = the SRV target: mismatch (SNI = the domain "
             "decides) with warning sni-target naming both keys"},
    {"name": "reenc.test", "expect": "mismatch", "server": "reenc", "srv": ("xmpp-client",),
     "tlsa": ["3 1 1 good"],
     "note": "the MITM leaf with its outer DER length re-encoded (30 85 00 00 LL LL LL)"},
    {"name": "hugeid.test", "expect": "mismatch", "server": "hugeid", "srv": ("xmpp-client",),
     "tlsa": ["3 1 1 good"],
     "note": "a stream header with a 1,500-byte id, then STARTTLS with the MITM key"},
    {"name": "snisel.test", "expect": "mismatch", "server": "snisel", "also": ["good"],
     "srv": ("xmpp-client",), "tlsa": ["3 1 1 good"],
     "note": "intercepts SNI = the domain (MITM key), passes other SNI through to good"},
    {"name": "hugeexp.test", "expect": "mismatch", "server": "hugeexp",
     "srv": ("xmpp-client",),
     "tlsa": ["3 1 1 good", "2 0 1 lookalike", "2 1 1 lookalike", "0 0 1 lookalike",
              "0 1 1 lookalike"],
     "note": "the MITM leaf under a look-alike CA with a 16,384-bit RSA exponent"},
    # Every address (issue 14, tests/test_every.py): the SRV target has a
    # second A record, the impostor's, which serves the domain with a
    # lab-CA certificate as a valid-certificate interceptor would.
    {"name": "twoaddr.test", "expect": "mismatch", "server": "good", "also": ["mitm"],
     "addrs": ["mitm"], "srv": ("xmpp-client",), "tlsa": ["3 1 1 good"],
     "note": "two addresses, one the good server, one the impostor"},
    {"name": "twoaddr-nodane.test", "expect": "no-tlsa", "server": "good",
     "also": ["mitm"], "addrs": ["mitm"], "srv": ("xmpp-client",),
     "note": "two addresses, no TLSA: key-split"},
    {"name": "twokeys.test", "expect": "mismatch", "server": "twokeys",
     "srv": ("xmpp-client",), "tlsa": ["3 1 1 good"],
     "note": "an ECDSA and an RSA certificate, TLSA for the ECDSA key only"},
    {"name": "twokeys-both.test", "expect": "ok", "server": "twokeys",
     "srv": ("xmpp-client",), "tlsa": ["3 1 1 good", "3 1 1 rsa"],
     "note": "an ECDSA and an RSA certificate, TLSA for both"},
    {"name": "vantage.test", "expect": "no-tlsa", "server": "good", "also": ["mitm"],
     "srv": ("xmpp-client",),
     "note": "test_vantage.py: one certwatch's connections DNATed to mitm; the other "
             "certwatch, asked over s2s, sees the good key: key-split naming it"},
    {"name": "cbnone.test", "expect": "ok", "server": "cbstrip",
     "srv": ("xmpp-client",), "tlsa": ["3 1 1 good"],
     "caa": ['0 issue "letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1234"',
             '0 issuewild "letsencrypt.org"'],
     "note": "no -PLUS after TLS; a leaf expiring in 3 days; CAA bound, issuewild without accounturi"},
    {"name": "cbswitch.test", "expect": "ok", "server": "cbplus",
     "srv": ("xmpp-client",), "tlsa": ["3 1 1 good"], "switch": True,
     "note": "test_defence_alerts.py: DNAT to cbstrip (channel binding withdrawn)"},
    {"name": "switch.test", "expect": "ok", "server": "switch", "also": ["mitm"],
     "switch": True, "tlsa": ["3 1 1 good"],
     "note": "test_watch.py: DNAT to mitm, TLSA removed, DS made bogus, and back"},
    {"name": "keys.test", "expect": "no-tlsa", "server": "keys", "also": ["mitm"],
     "switch": True, "tlsa": [],
     "note": "test_continuity.py: no DANE; 5222 alone, then every port, DNAT to mitm"},
] + [
    {"name": name + ".test", "expect": expect, "server": name, "srv": PLAIN2,
     "tlsa": ["3 1 1 good"], "note": note}
    for name, expect, note in (
        ("slowloris", "unreachable", "sends one byte per second"),
        # Past the pre-TLS bytes bound with no <starttls/>: TLS withheld,
        # so mismatch with DANE (docs/reliability.md, "Bounds before TLS").
        ("bigfeatures", "mismatch", "sends 50 MB of stream features"),
        # Within the depth bound (150,000), then silent: a time-out.
        ("deepxml", "unreachable", "nests XML 100,000 deep"),
        ("laughs", "unreachable", "entity expansion (billion laughs)"),
        ("badutf8", "unreachable", "invalid UTF-8 in the features"),
        ("chain100", "unreachable", "a chain of 100 certificates, ~300 KB"),
        ("bigcert", "ok", "one 64 KB certificate of the good key"),
        ("tlsnever", "unreachable", "never completes the TLS handshake"),
        ("tlsclose", "unreachable", "closes mid-handshake"))]

# Names of the XMPP servers for the component, published in test. too.
HOME_DOMAINS = {"prosody": "prosody.test", "ejabberd": "ejabberd.test"}


class LabError(Exception):
    pass


def switchable(name):
    """A domain whose state tests change while the lab runs."""
    return any(d["name"] == name and d.get("switch") for d in DOMAINS)


# ---------------------------------------------------------------- helpers

def run(argv, **kw):
    """Run a tool; a failure raises LabError with its stderr."""
    p = subprocess.run(argv, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise LabError("%s failed (%d): %s" % (" ".join(argv), p.returncode,
                                              (p.stderr or p.stdout).strip()[-2000:]))
    return p.stdout


def render(template, dest, **values):
    with open(os.path.join(TEMPLATES, template)) as f:
        text = string.Template(f.read()).substitute(values)
    write(dest, text)


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def proc_start_time(pid):
    """Kernel start time of a process (to refuse to signal a reused PID)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[19])


def alive(proc):
    st = proc_start_time(proc["pid"])
    return st is not None and st == proc["start"]


def block_is_free(net):
    """True when nothing listens on the addresses this run would use."""
    for srv in SERVERS.values():
        ip = "%s.%d" % (net, srv["host"])
        for kind, port in ((socket.SOCK_STREAM, 5222), (socket.SOCK_STREAM, 53),
                           (socket.SOCK_DGRAM, 53)):
            s = socket.socket(socket.AF_INET, kind)
            try:
                s.bind((ip, port))
            except OSError:
                return False
            finally:
                s.close()
    return True


def pick_block():
    rng = random.SystemRandom()
    for _ in range(50):
        net = "127.%d.%d" % (rng.randint(2, 254), rng.randint(0, 255))
        if block_is_free(net):
            return net
    raise LabError("no free 127.R.S.0/24 block found: does a system service listen "
                   "on all addresses at port 53 or 5222 (unbound, knot, prosody, "
                   "ejabberd)? The lab needs those ports on its own addresses")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_up(ip, port):
    try:
        with socket.create_connection((ip, port), timeout=0.5):
            return True
    except OSError:
        return False


def dns_query(server, name, qtype, timeout=1.0):
    """One UDP query with the DO bit; returns (flags, rcode, ancount)."""
    qid = random.randint(0, 0xffff)
    q = struct.pack(">HHHHHH", qid, 0x0120, 1, 0, 0, 1)  # RD + AD
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    q += b"\0" + struct.pack(">HHIH", 41, 1232, 0x8000, 0)  # OPT, DO
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, (server, 53))
        while True:
            data = s.recv(4096)
            if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid:
                break
    _, flags, _, ancount, _, _ = struct.unpack(">HHHHHH", data[:12])
    return flags, flags & 0xf, ancount


def wait_for(what, check, deadline):
    while True:
        try:
            if check():
                return
        except (OSError, LabError):
            pass
        if time.monotonic() > deadline:
            raise LabError("timed out waiting for " + what)
        time.sleep(0.05)


# -------------------------------------------------------------------- PKI

def openssl(*args):
    return run(["openssl"] + list(args))


def pem_der(path):
    """DER of the first certificate in a PEM file."""
    with open(path) as f:
        text = f.read()
    body = text.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    return base64.b64decode("".join(body.split()))


def add_hashes(entry):
    spki = subprocess.run(["openssl", "pkey", "-in", entry["key"], "-pubout", "-outform", "DER"],
                          capture_output=True, check=True).stdout
    der = pem_der(entry["cert"])
    entry.update(cert_sha256=hashlib.sha256(der).hexdigest(),
                 spki_sha256=hashlib.sha256(spki).hexdigest(), _der={0: der, 1: spki})
    return entry


def pki_ca(pki):
    """The lab CA; returns the start of lab.json's keys."""
    os.makedirs(pki, exist_ok=True)
    ca_key, ca_crt = os.path.join(pki, "ca.key"), os.path.join(pki, "ca.crt")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "30",
            "-subj", "/O=certwatch lab/CN=certwatch lab CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    os.chmod(ca_key, 0o600)
    return {"ca": add_hashes({"cert": ca_crt, "key": ca_key})}


def pki_names():
    """Key name -> the names its certificate carries (first = CN)."""
    served = {"home": [HOME_DOMAINS["prosody"], HOME_DOMAINS["ejabberd"]]
                      + ["%s.%s" % (c, d) for d in HOME_DOMAINS.values()
                         for c in ("certwatch",) + EXTRA_COMPONENTS]}
    for d in DOMAINS:
        for key in [SERVERS[s].get("key") for s in [d["server"]] + d.get("also", [])]:
            if not key:
                continue
            names = served.setdefault(key, [])
            for n in (d["name"], d.get("target") or "xmpp." + d["name"]):
                if n not in names:
                    names.append(n)
    served["old"] = ["good.test", "xmpp.good.test"]
    return served


def pki_leaf(pki, name, names, keys, newkey=("ec", "-pkeyopt", "ec_paramgen_curve:P-256")):
    """A fresh P-256 key (or `newkey`) and its certificate from the lab CA."""
    ca_crt, ca_key = keys["ca"]["cert"], keys["ca"]["key"]
    key, crt = os.path.join(pki, name + ".key"), os.path.join(pki, name + ".crt")
    csr = os.path.join(pki, name + ".csr")
    ext = os.path.join(pki, name + ".ext")
    sans = ["DNS:" + n for n in names]
    # XmppAddr (RFC 6120 §13.7.1.4) for the XMPP domains themselves.
    sans += ["otherName:1.3.6.1.5.5.7.8.5;UTF8:" + n
             for n in names if not n.startswith("xmpp.")]
    write(ext, "basicConstraints=critical,CA:FALSE\n"
               "keyUsage=critical,digitalSignature\n"
               "extendedKeyUsage=serverAuth,clientAuth\n"
               "subjectAltName=" + ",".join(sans) + "\n")
    openssl("req", "-new", "-newkey", *newkey,
            "-nodes", "-keyout", key, "-out", csr, "-subj",
            "/O=certwatch lab/CN=" + names[0])
    openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
            "-set_serial", str(secrets.randbits(63)), "-days", "30",
            "-extfile", ext, "-out", crt)
    chain = os.path.join(pki, name + ".chain.pem")
    with open(chain, "w") as out:
        for p in (crt, ca_crt):
            with open(p) as f:
                out.write(f.read())
    os.chmod(key, 0o600)
    keys[name] = add_hashes({"cert": crt, "chain": chain, "key": key, "names": names})


# Certificates of the fail-closed servers (issue 13, docs/lab.md): DER
# built or rewritten by hand, since no tool makes these on purpose.

def der_tlv(tag, body):
    """One DER element, with a minimal length."""
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def der_int(v):
    return der_tlv(0x02, v.to_bytes(v.bit_length() // 8 + 1, "big"))


def der_oid(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    out = bytes([40 * arcs[0] + arcs[1]])
    for a in arcs[2:]:
        chunk = [a & 0x7f]
        while a > 0x7f:
            a >>= 7
            chunk.append(0x80 | (a & 0x7f))
        out += bytes(reversed(chunk))
    return der_tlv(0x06, out)


def der_split(der):
    """(header length, content length) of the DER element at der[0]."""
    if der[1] < 0x80:
        return 2, der[1]
    k = der[1] & 0x7f
    return 2 + k, int.from_bytes(der[2:2 + k], "big")


def der_children(der):
    """The elements inside the constructed element der."""
    hl, n = der_split(der)
    body, out = der[hl:hl + n], []
    while body:
        h, m = der_split(body)
        out.append(body[:h + m])
        body = body[h + m:]
    return out


def pem(ders):
    return "".join("-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % "\n".join(
        textwrap.wrap(base64.b64encode(d).decode(), 64)) for d in ders)


def reencoded(der):
    """The certificate with its outer SEQUENCE length in five bytes
    (30 85 00 00 LL LL LL): not DER, but BER that GnuTLS and OpenSSL
    accept, and outside what the CA signed (only the TBSCertificate)."""
    hl, n = der_split(der)
    return b"\x30\x85" + n.to_bytes(5, "big") + der[hl:]


SHA256_RSA = der_tlv(0x30, der_oid("1.2.840.113549.1.1.11") + b"\x05\x00")


def lookalike_ca(bits=16384):
    """A CA certificate whose RSA key has a 16,384-bit modulus and a public
    exponent of almost as many bits (random odd numbers: no one holds the
    private key), so that checking one signature with it costs seconds.
    Only its own signature is junk: a trust anchor's is never checked."""
    n = secrets.randbits(bits) | (1 << (bits - 1)) | 1
    e = secrets.randbits(bits - 1) | (1 << (bits - 2)) | 1
    name = der_tlv(0x30, der_tlv(0x31, der_tlv(0x30, der_oid("2.5.4.3") + der_tlv(
        0x0c, b"certwatch lab look-alike CA"))))
    rsa = der_tlv(0x30, der_oid("1.2.840.113549.1.1.1") + b"\x05\x00")
    spki = der_tlv(0x30, rsa + der_tlv(0x03, b"\0" + der_tlv(0x30, der_int(n) + der_int(e))))
    now = time.time()
    when = lambda t: der_tlv(0x17, time.strftime("%y%m%d%H%M%SZ", time.gmtime(t)).encode())
    ca_true = der_tlv(0x30, der_tlv(0x01, b"\xff"))
    ext = der_tlv(0xa3, der_tlv(0x30, der_tlv(0x30, der_oid("2.5.29.19") + der_tlv(
        0x01, b"\xff") + der_tlv(0x04, ca_true))))
    tbs = der_tlv(0x30, der_tlv(0xa0, der_int(2)) + der_int(secrets.randbits(63)) +
                  SHA256_RSA + name + der_tlv(0x30, when(now - 86400) + when(now + 30 * 86400)) +
                  name + spki + ext)
    return (der_tlv(0x30, tbs + SHA256_RSA + der_tlv(0x03, b"\0" + secrets.token_bytes(bits // 8))),
            spki, n)


def pki_failclosed(pki, keys):
    """What the fail-closed servers present: the MITM leaf re-encoded
    (reenc), and a MITM leaf under a look-alike CA with a huge RSA
    exponent (hugeexp).  Adds keys["lookalike"] (for its TLSA records)."""
    mitm = keys["mitm"]
    ca_pem = pem([keys["ca"]["_der"][0]])
    reenc = os.path.join(pki, "reenc.chain.pem")
    write(reenc, pem([reencoded(mitm["_der"][0])]) + ca_pem)
    ca_der, ca_spki, n = lookalike_ca()
    # The leaf names the look-alike as its issuer and carries an RSA
    # signature as long as its modulus (so that checking it runs the
    # whole exponentiation) that no key made: openssl signs it with a
    # throwaway RSA key of the look-alike's name, whose signature is
    # then replaced.
    tmp_key, tmp_crt = os.path.join(pki, "lookalike-tmp.key"), os.path.join(pki, "lookalike-tmp.crt")
    openssl("req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", tmp_key, "-out", tmp_crt,
            "-days", "30", "-subj", "/CN=certwatch lab look-alike CA")
    csr, leaf = os.path.join(pki, "hugeexp.csr"), os.path.join(pki, "hugeexp.crt")
    openssl("req", "-new", "-key", mitm["key"], "-subj", "/O=certwatch lab/CN=hugeexp.test",
            "-out", csr)
    openssl("x509", "-req", "-in", csr, "-CA", tmp_crt, "-CAkey", tmp_key, "-set_serial", "77",
            "-days", "30", "-out", leaf)
    tbs, alg, _ = der_children(pem_der(leaf))
    sig = (secrets.randbits(16383) % n).to_bytes(2048, "big")
    leaf_der = der_tlv(0x30, tbs + alg + der_tlv(0x03, b"\0" + sig))
    chain = os.path.join(pki, "hugeexp.chain.pem")
    write(chain, pem([leaf_der, ca_der]))
    cert = os.path.join(pki, "lookalike.crt")
    write(cert, pem([ca_der]))
    keys["lookalike"] = {"cert": cert, "cert_sha256": hashlib.sha256(ca_der).hexdigest(),
                         "spki_sha256": hashlib.sha256(ca_spki).hexdigest(),
                         "_der": {0: ca_der, 1: ca_spki}}
    return {"reenc": reenc, "hugeexp": chain}


def tlsa_rdata(spec, keys):
    usage, selector, mtype, source = spec.split()
    data = keys[source]["_der"][int(selector)]
    digest = {"0": lambda b: b.hex(), "1": lambda b: hashlib.sha256(b).hexdigest(),
              "2": lambda b: hashlib.sha512(b).hexdigest()}[mtype](data)
    return "%s %s %s %s" % (usage, selector, mtype, digest)


# -------------------------------------------------------------------- DNS

SOA = "@ 300 IN SOA ns.test. hostmaster.%s. 1 3600 600 86400 60\n@ 300 IN NS ns.test.\n"


def build_zones(net, keys):
    """Zone texts (name -> text) and lab.json's per-domain records."""
    ip = lambda server: "%s.%d" % (net, SERVERS[server]["host"])
    zones, described = {}, {}
    for d in DOMAINS:
        name = d["name"]
        z = ["$ORIGIN %s.\n$TTL 300\n" % name, SOA % name]
        z += ["@ 300 IN CAA %s\n" % c for c in d.get("caa", [])]
        target = d.get("target") or "xmpp." + name
        srv = d.get("srv", ALL4)
        srvs = []
        for service in srv:
            z.append("_%s._tcp 300 IN SRV 0 5 %d %s.\n" % (service, PORTS[service], target))
            srvs.append({"service": service, "port": PORTS[service], "target": target})
        if srv:
            owner_ports = [(target, PORTS[s]) for s in srv]
        else:
            owner_ports = [(name, 5222), (name, 5269)]
            target = name
        in_zone = target == name or target.endswith("." + name)
        if in_zone and d.get("cname"):
            z.append("%s. 300 IN CNAME %s.\n" % (target, d["cname"]))
        elif in_zone:
            for server in [d["server"]] + d.get("addrs", []):
                z.append("%s. 300 IN A %s\n" % (target, ip(server)))
        tlsa = {}
        if in_zone:
            for host, port in owner_ports:
                owner = "_%d._tcp.%s" % (port, host)
                recs = [tlsa_rdata(t, keys) for t in d.get("tlsa", [])]
                if recs:
                    tlsa[owner] = recs
                for r in recs:
                    z.append("%s. 300 IN TLSA %s\n" % (owner, r))
        zones[name] = "".join(z)
        described[name] = {
            "expect": d["expect"], "server": d["server"], "ip": ip(d["server"]),
            "dnssec": d.get("dnssec", "signed"), "srv": srvs, "target": target,
            "tlsa": tlsa, "caa": d.get("caa", []), "note": d.get("note", "")}
    return zones, described


def start_dns(lab, zones):
    """Keys (keymgr), the test. zone with DS records, knotd, unbound."""
    kdir = os.path.join(lab.dir, "knot")
    for sub in ("db", "keys", "zones"):
        os.makedirs(os.path.join(kdir, sub), exist_ok=True)
    dnssec = {d["name"]: d.get("dnssec", "signed") for d in DOMAINS}
    zone_conf = ['  - domain: "test."\n    template: signed\n']
    for name in zones:
        zone_conf.append('  - domain: "%s."\n    template: %s\n'
                         % (name, "default" if dnssec[name] == "unsigned" else "signed"))
    conf = os.path.join(kdir, "knot.conf")
    render("knot.conf", conf, dir=kdir, ip=lab.ip("auth"), zones="".join(zone_conf))

    signed = ["test"] + [n for n in zones if dnssec[n] != "unsigned"]
    gens = [subprocess.Popen(["keymgr", "-c", conf, z + ".", "generate",
                              "algorithm=ecdsap256sha256", "ksk=yes", "zsk=yes"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for z in signed]
    # keymgr shares one LMDB: run them at once, then one by one (a few
    # tries: a busy machine's LMDB may say MDB_READERS_FULL) any that lost
    # a race.
    def keymgr(*args, text=False):
        for attempt in range(5):
            p = subprocess.run(["keymgr", "-c", conf] + list(args),
                               capture_output=True, text=text)
            if p.returncode == 0:
                return p.stdout
            time.sleep(0.2 * (attempt + 1))
        raise LabError("keymgr %s failed (%d): %s"
                       % (" ".join(args), p.returncode, p.stderr))

    for z, g in zip(signed, gens):
        if g.wait() != 0:
            keymgr(z + ".", "generate", "algorithm=ecdsap256sha256",
                   "ksk=yes", "zsk=yes")
    dss = {z: subprocess.Popen(["keymgr", "-c", conf, z + ".", "ds"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for z in signed}
    ds = {}
    for z, p in dss.items():
        out, err = p.communicate()
        if p.returncode != 0:
            out = keymgr(z + ".", "ds", text=True)
        ds[z] = [l for l in out.splitlines() if " DS " in l and " 13 2 " in l]

    parent = ["$ORIGIN test.\n$TTL 300\n", SOA % "test",
              "ns 300 IN A %s\n" % lab.ip("auth")]
    for server, domain in HOME_DOMAINS.items():
        parent.append("%s. 300 IN A %s\n" % (domain, lab.ip(server)))
        # The component too: the other home server reaches it by s2s.
        for c in ("certwatch",) + EXTRA_COMPONENTS:
            parent.append("%s.%s. 300 IN A %s\n" % (c, domain, lab.ip(server)))
    for name in zones:
        parent.append("%s. 300 IN NS ns.test.\n" % name)
        if dnssec[name] == "bogus":
            # A DS that matches no key of the zone: validators must say bogus.
            tag = int(ds[name][0].split()[3])
            parent.append("%s. 300 IN DS %d 13 2 %s\n"
                          % (name, (tag + 1) & 0xffff, secrets.token_hex(32)))
        elif dnssec[name] == "signed":
            parent.extend(l.strip() + "\n" for l in ds[name])
    zones = dict(zones, test="".join(parent))
    for name, text in zones.items():
        write(os.path.join(kdir, "zones", name + ".zone"), text)

    # Trust anchor: the DS of test., zone-file format (unbound, libunbound).
    write(lab.path("anchor.key"), "".join(l.strip() + "\n" for l in ds["test"]))
    udir = os.path.join(lab.dir, "unbound")
    render("unbound.conf", os.path.join(udir, "unbound.conf"), dir=udir,
           ip=lab.ip("resolver"), auth=lab.ip("auth"), anchor=lab.path("anchor.key"))
    write(lab.path("unbound.conf"),
          "# unbound.conf fragment for certwatch's libunbound ([dns] unbound_conf)\n"
          "server:\n"
          "    do-not-query-localhost: no\n"
          "    local-zone: \"test.\" nodefault\n"
          "    val-log-level: 2\n"
          "stub-zone:\n"
          "    name: \"test.\"\n"
          "    stub-addr: %s@53\n" % lab.ip("auth"))

    lab.spawn("knot", ["knotd", "-c", conf], kdir, [(lab.ip("auth"), 53)])
    # Debian's AppArmor profile for /usr/sbin/unbound (enforced on a normal
    # Debian 12 host) forbids reading a config outside /etc/unbound: run a
    # copy of the binary, which no profile names.
    unbound = os.path.join(udir, "unbound")
    shutil.copy2(shutil.which("unbound") or "/usr/sbin/unbound", unbound)
    lab.spawn("unbound", [unbound, "-d", "-c", os.path.join(udir, "unbound.conf")], udir,
              [(lab.ip("resolver"), 53)])


def dns_ready(lab, zones, deadline):
    auth, res = lab.ip("auth"), lab.ip("resolver")
    dnssec = {d["name"]: d.get("dnssec", "signed") for d in DOMAINS}

    def zone_loaded(z):
        flags, rcode, an = dns_query(auth, z, 6)
        # Answered authoritatively, with its RRSIG when the zone is signed.
        return rcode == 0 and flags & 0x0400 and an >= (1 if dnssec.get(z) == "unsigned" else 2)

    for z in ["test"] + list(zones):
        wait_for("knotd to serve " + z, lambda: zone_loaded(z), deadline)

    def validated():
        flags, rcode, an = dns_query(res, "_xmpp-client._tcp.good.test", 33)
        return rcode == 0 and an > 0 and flags & 0x0020

    wait_for("unbound to validate good.test", validated, deadline)


# ------------------------------------------------------------------- XMPP

# The component names a server serves besides "certwatch.DOMAIN": one
# per test that runs beside the others with a daemon of its own
# (tests/meson.build; lab.json: xmpp.SERVER.components).
EXTRA_COMPONENTS = ("watch", "vantage")


def prosody_hosts(domains, component=None, secret=None, extra=()):
    out = []
    for d in domains:
        out.append('VirtualHost "%s"\n' % d)
    for c in ([component] if component else []) + list(extra):
        out.append('Component "%s"\n\tcomponent_secret = "%s"\n' % (c, secret))
    return "".join(out)


def lab_resolv(lab, d, argv):
    """argv run with the lab's resolver as /etc/resolv.conf, in a mount
    namespace of its own: the home servers' s2s with each other
    (tests/test_vantage.py).  Prosody without lua-unbound, and ejabberd's
    address look-ups (getaddrinfo), read only that file."""
    write(os.path.join(d, "resolv.conf"), "nameserver %s\n" % lab.ip("resolver"))
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind "$0" /etc/resolv.conf && exec "$@"',
            os.path.join(d, "resolv.conf")] + argv


def start_prosody(lab, name, cert, key, domains, ports, component=None, secret=None,
                  users=(), resolv=None, extra_components=()):
    pdir = os.path.join(lab.dir, "prosody-" + name)
    for sub in ("data", "certs"):
        os.makedirs(os.path.join(pdir, sub), exist_ok=True)
    for d in domains:
        host_dir = os.path.join(pdir, "data", d.replace(".", "%2e"), "accounts")
        for u in users:
            local = u["jid"].split("@")[0]
            if u["jid"].endswith("@" + d):
                write(os.path.join(host_dir, local + ".dat"),
                      'return {\n\t["password"] = "%s";\n};\n' % u["password"], 0o600)
    lst = lambda key: ", ".join(str(p) for p in ports.get(key, ()))
    render("prosody.cfg.lua", os.path.join(pdir, "prosody.cfg.lua"), name=name, dir=pdir,
           ip=lab.ip(name), cert=cert, key=key, loglevel="info",
           c2s_ports=lst("c2s"), c2s_direct_tls_ports=lst("c2s_direct_tls"),
           s2s_ports=lst("s2s"), s2s_direct_tls_ports=lst("s2s_direct_tls"),
           component_ports=lst("component"),
           modules_disabled="" if ports.get("s2s") else '"s2s"',
           hosts=prosody_hosts(domains, component=component, secret=secret,
                               extra=extra_components))
    argv = ["prosody", "--config", os.path.join(pdir, "prosody.cfg.lua"), "-F"]
    if resolv:
        argv = lab_resolv(lab, pdir, argv)
    lab.spawn(name, argv, pdir, [(lab.ip(name), p) for plist in ports.values() for p in plist])
    return pdir


def start_ejabberd(lab, info):
    edir = os.path.join(lab.dir, "ejabberd")
    for sub in ("spool", "logs"):
        os.makedirs(os.path.join(edir, sub), exist_ok=True)
    home = lab.keys["home"]
    render("ejabberd.yml", os.path.join(edir, "ejabberd.yml"), domain=info["domain"],
           ip=info["host"], cert=home["chain"], key=home["key"], ca=lab.keys["ca"]["cert"],
           component=info["component"], secret=info["secret"],
           extra_components="".join('      "%s":\n        password: "%s"\n'
                                    % (c, info["secret"])
                                    for c in info["components"].values()),
           loglevel="info")
    node = "certwatch-lab-%s@localhost" % lab.net.replace(".", "-")
    render("ejabberdctl.cfg", os.path.join(edir, "ejabberdctl.cfg"), node=node,
           dist_port=free_port(), cookie=secrets.token_hex(16), dir=edir)
    shutil.copy("/etc/ejabberd/inetrc", os.path.join(edir, "inetrc"))
    os.chmod(os.path.join(edir, "ejabberd.yml"), 0o600)
    # s2s with the lab's Prosody: names from the lab's resolver.
    lab.spawn("ejabberd", lab_resolv(lab, edir, [
                  "ejabberdctl", "--config-dir", edir, "--spool", os.path.join(edir, "spool"),
                  "--logs", os.path.join(edir, "logs"), "foreground"]), edir,
              [(info["host"], p) for p in (5222, 5269, COMPONENT_PORT, info["api_port"])])
    info["node"] = node


def ejabberd_api(info, command, args):
    req = urllib.request.Request(
        "http://%s:%d/api/%s" % (info["host"], info["api_port"], command),
        data=json.dumps(args).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raise LabError("ejabberd API %s: HTTP %d %s" % (command, e.code, e.read()[:300]))


def ejabberd_register(info, deadline):
    wait_for("ejabberd's API", lambda: ejabberd_api(info, "status", {}) is not None
             and tcp_up(info["host"], info["c2s_port"])
             and tcp_up(info["host"], info["component_port"]), deadline)
    for u in info["users"]:
        local, domain = u["jid"].split("@")
        ejabberd_api(info, "register", {"user": local, "host": domain,
                                        "password": u["password"]})


# -------------------------------------------------------------------- Lab

class Lab:
    """One running lab.  Start it with Lab.start(dir), attach to a running
    one with Lab.load(lab_json) or Lab.from_env(); use as a context manager
    (stop on exit, only when this object started it)."""

    def __init__(self, dir, info=None, owned=False):
        self.dir = os.path.abspath(dir)
        self.info = info or {}
        self.owned = owned
        self.net = self.info.get("net")
        self.procs = list(self.info.get("procs", []))
        self.keys = {}
        self.temporary = False

    # -- construction
    @classmethod
    def load(cls, lab_json):
        with open(lab_json) as f:
            info = json.load(f)
        return cls(info["dir"], info, owned=False)

    @classmethod
    def from_env(cls, dir=None):
        """The lab named by $CERTWATCH_LAB, or a new one (in dir, or a
        temporary directory) that this object owns and stops."""
        path = os.environ.get("CERTWATCH_LAB")
        if path:
            return cls.load(path)
        if dir:
            return cls.start(dir)
        lab = cls.start(tempfile.mkdtemp(prefix="certwatch-lab-"))
        lab.temporary = True  # removed by a clean exit of the `with` block
        return lab

    @classmethod
    def start(cls, dir, timeout=60.0):
        lab = cls(dir, owned=True)
        os.makedirs(lab.dir, exist_ok=True)
        if os.path.exists(lab.path("lab.json")):
            old = cls.load(lab.path("lab.json"))
            if any(alive(p) for p in old.procs):
                raise LabError("a lab is already running in %s" % lab.dir)
        lab._clean()
        try:
            lab._start(timeout)
        except BaseException:
            lab._kill_all()
            lab._write_json()
            raise
        return lab

    def _clean(self):
        """Remove what an earlier (stopped) lab left in this directory:
        old DNSSEC keys or accounts would leak into the new run."""
        for entry in os.listdir(self.dir):
            if entry in ("pki", "knot", "unbound", "ejabberd", "fixtures", "lab.json",
                         "anchor.key", "unbound.conf") or \
                    entry.startswith(("prosody-", "store-", "certwatch-")):
                path = self.path(entry)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.unlink(path)

    # -- paths and addresses
    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def ip(self, server):
        return "%s.%d" % (self.net, SERVERS[server]["host"])

    @property
    def json_path(self):
        return self.path("lab.json")

    def spawn(self, name, argv, cwd, ports=()):
        """Start one server in its own session (so its process group is
        ours to stop) and record it; `ports` are the (ip, port) pairs that
        answer once it is up."""
        log = open(os.path.join(cwd, name + ".out"), "ab")
        p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs = [q for q in self.procs if q["name"] != name or alive(q)]
        self.procs.append({"name": name, "pid": p.pid, "start": proc_start_time(p.pid),
                           "log": log.name, "argv": argv, "cwd": cwd,
                           "ports": [list(x) for x in ports]})
        self._write_json()  # so `stop` can clean up after a failed start
        return p

    def wait_ports(self, proc, deadline):
        for ip, port in proc["ports"]:
            wait_for("%s on %s:%d" % (proc["name"], ip, port),
                     lambda: tcp_up(ip, port), deadline)

    def restart(self, name, timeout=30.0):
        """Stop one server (SIGTERM to its group) and start it again with
        the same command and files; waits until it answers again.  Prosody
        and ejabberd keep their accounts (data on disk)."""
        procs = [p for p in self.procs if p["name"] == name]
        if not procs:
            raise LabError("no server named %s in this lab" % name)
        proc = procs[-1]
        self._kill([proc])
        self.procs.remove(proc)
        self.spawn(name, proc["argv"], proc["cwd"], proc["ports"])
        deadline = time.monotonic() + timeout
        new = self.procs[-1]
        self.wait_ports(new, deadline)
        if name == "ejabberd":
            info = self.info["xmpp"]["ejabberd"]
            wait_for("ejabberd's API", lambda: ejabberd_api(info, "status", {}) is not None,
                     deadline)
        elif name in ("knot", "unbound"):
            dns_ready(self, [d["name"] for d in DOMAINS], deadline)
        self._note_xmpp_procs()
        self._write_json()

    def zone_set(self, domain, variant):
        """Change one zone while the lab runs, then have knotd re-sign and
        serve it: "normal" (as at start), "notlsa" (its TLSA records
        removed, securely denied), "bogus" (test. holds a DS that matches
        none of its keys).  Resolvers keep old answers for their TTL (300
        s here): a test caps its resolver's cache (cache-max-ttl)."""
        zdir = self.path("knot", "zones")

        def original(name):
            path = os.path.join(zdir, name + ".zone")
            if not os.path.exists(path + ".orig"):
                shutil.copy2(path, path + ".orig")
            with open(path + ".orig") as f:
                return path, f.read()

        zpath, zone = original(domain)
        tpath, parent = original("test")
        if variant == "notlsa":
            zone = "".join(l for l in zone.splitlines(True) if " IN TLSA " not in l)
        elif variant == "bogus":
            lines = []
            for l in parent.splitlines(True):
                f = l.split()
                if f and f[0] == domain + "." and "DS" in f:
                    tag = int(f[f.index("DS") + 1])
                    l = "%s. 300 IN DS %d 13 2 %s\n" % (domain, (tag + 1) & 0xffff,
                                                        secrets.token_hex(32))
                lines.append(l)
            parent = "".join(lines)
        elif variant != "normal":
            raise LabError("zone_set: unknown variant %r" % variant)
        write(zpath, zone)
        write(tpath, parent)
        run(["knotc", "-c", self.path("knot", "knot.conf"), "-b", "zone-reload",
             domain + ".", "test."])

    # -- start
    def _start(self, timeout):
        t0 = time.monotonic()
        deadline = t0 + timeout
        if os.geteuid() != 0:
            # DNS on port 53, and Debian's ejabberdctl runs only as root or
            # as its own user.
            raise LabError("the lab must run as root")
        self.net = pick_block()
        self.info = {"dir": self.dir, "net": self.net + ".0/24", "pids": [], "procs": []}
        timing = {}

        def mark(phase, t=[t0]):
            now = time.monotonic()
            timing[phase] = round(now - t[0], 2)
            t[0] = now

        # ejabberd is the slowest to boot: only the CA and its certificate
        # come before it; the rest is built while it starts.
        pki = self.path("pki")
        names = pki_names()
        self.keys = pki_ca(pki)
        pki_leaf(pki, "home", names.pop("home"), self.keys)
        mark("pki_home")
        users = [{"jid": "user%d@%s" % (i, "%s"), "password": secrets.token_urlsafe(12)}
                 for i in range(1, NUSERS + 1)]

        xmpp = {}
        for server in ("prosody", "ejabberd"):
            domain = HOME_DOMAINS[server]
            xmpp[server] = {
                "host": self.ip(server), "c2s_port": 5222, "component_port": COMPONENT_PORT,
                "domain": domain, "component": "certwatch." + domain,
                "components": {c: "%s.%s" % (c, domain) for c in EXTRA_COMPONENTS},
                "secret": secrets.token_urlsafe(18),
                "tls": "starttls offered, not required; certificate from ca_cert",
                "users": [{"jid": u["jid"] % domain, "password": u["password"]}
                          for u in users]}
        xmpp["ejabberd"]["api_port"] = 5280
        self.info["xmpp"] = xmpp

        start_ejabberd(self, xmpp["ejabberd"])
        for name, certnames in names.items():
            pki_leaf(pki, name, certnames, self.keys)
        # twokeys.test's second certificate (fixtures.py, twokeys).
        pki_leaf(pki, "rsa", [n for d in ("twokeys.test", "twokeys-both.test")
                              for n in (d, "xmpp." + d)], self.keys, ("rsa:2048",))
        hostile_chains = pki_failclosed(pki, self.keys)
        mark("pki")
        home = self.keys["home"]
        # s2s with ejabberd (tests/test_vantage.py: two certwatch, federated).
        start_prosody(self, "prosody", home["chain"], home["key"], [xmpp["prosody"]["domain"]],
                      {"c2s": [5222], "component": [COMPONENT_PORT], "s2s": [5269]},
                      component=xmpp["prosody"]["component"],
                      secret=xmpp["prosody"]["secret"], users=xmpp["prosody"]["users"],
                      resolv=True,
                      extra_components=list(xmpp["prosody"]["components"].values()))
        target_ports = {"c2s": [5222], "c2s_direct_tls": [5223], "s2s": [5269],
                        "s2s_direct_tls": [5270]}
        targets = {}
        for name, srv in SERVERS.items():
            if srv["kind"] == "prosody":
                k = self.keys[srv["key"]]
                served = [d["name"] for d in DOMAINS
                          if d["server"] == name or name in d.get("also", ())]
                start_prosody(self, name, k["chain"], k["key"], served, target_ports)
                targets[name] = self.ip(name)
        # A fixture may name its own ports and behaviour; it gets the PKI
        # directory and the good key's paths for behaviours that speak TLS.
        # Impostors get the MITM key and the chain made for them, if any,
        # and the address of the good server (snisel passes through to it).
        fixtures = [{"name": n, "behaviour": s.get("behaviour", n), "ip": self.ip(n),
                     "ports": list(s.get("ports", FIXTURE_PORTS)),
                     "pki": self.path("pki"), "cert": self.keys["good"]["chain"],
                     "key": self.keys["good"]["key"],
                     "impostor": {"chain": hostile_chains.get(n, self.keys["mitm"]["chain"]),
                                  "key": self.keys["mitm"]["key"]},
                     "good": self.ip("good")}
                    for n, s in SERVERS.items() if s["kind"] == "fixture"]
        fdir = self.path("fixtures")
        write(os.path.join(fdir, "fixtures.json"), json.dumps(fixtures, indent=1))
        self.spawn("fixtures", [PYTHON, os.path.join(HERE, "fixtures.py"),
                                os.path.join(fdir, "fixtures.json")], fdir,
                   [(fx["ip"], port) for fx in fixtures for port in fx["ports"]])
        for fx in fixtures:
            targets[fx["name"]] = fx["ip"]

        mark("launch_xmpp")
        zones, domains = build_zones(self.net, self.keys)
        start_dns(self, zones)
        mark("sign_and_launch_dns")

        self.info.update({
            "dns": {"auth": self.ip("auth"), "resolver": self.ip("resolver")},
            "trust_anchor": self.path("anchor.key"),
            "unbound_conf": self.path("unbound.conf"),
            "ca_cert": self.keys["ca"]["cert"],
            "keys": {n: {kk: v for kk, v in k.items() if not kk.startswith("_")}
                     for n, k in self.keys.items()},
            "domains": {n: v for n, v in domains.items() if not switchable(n)},
            "switchable": {n: v for n, v in domains.items() if switchable(n)},
            "targets": targets,
            "ports": dict(PORTS, component=COMPONENT_PORT),
        })
        self.info["certwatch_conf"] = {s: self._certwatch_conf(s) for s in xmpp}

        # Everything is launched: now wait until each answers.
        for proc in self.procs:
            if proc["name"] != "ejabberd":
                self.wait_ports(proc, deadline)
        mark("wait_xmpp")
        dns_ready(self, zones, deadline)
        mark("wait_dns")
        ejabberd_register(xmpp["ejabberd"], deadline)
        mark("wait_ejabberd_and_register")
        self._check_alive()
        self._note_xmpp_procs()
        self.info["start_seconds"] = round(time.monotonic() - t0, 2)
        self.info["start_timing"] = timing
        self._write_json()

    def _note_xmpp_procs(self):
        """Where tests find each XMPP server's process (restart by hand)."""
        for name, x in self.info.get("xmpp", {}).items():
            proc = [p for p in self.procs if p["name"] == name][-1]
            x.update({"pid": proc["pid"], "log": proc["log"], "cwd": proc["cwd"],
                      "cmd": [PYTHON, os.path.abspath(__file__), "restart", self.dir, name],
                      "pidfile": os.path.join(proc["cwd"], "%s.pid" % (
                          "ejabberd" if name == "ejabberd" else "prosody"))})

    def _certwatch_conf(self, server):
        x = self.info["xmpp"][server]
        store = self.path("store-" + server)
        os.makedirs(store, exist_ok=True)
        path = self.path("certwatch-%s.ini" % server)
        write(path, "; certwatch config for the lab's %s (written by tests/lab/lab.py)\n"
              "[component]\njid = %s\nhost = %s\nport = %d\nsecret = %s\nadmins = %s\n\n"
              "[probe]\nvia = direct\ntimeout = 10\nallow_private = yes\n\n"
              "[dns]\ntrust_anchor = %s\nforward =\nunbound_conf = %s\n\n"
              "[store]\ndir = %s\n\n[log]\nlevel = debug\n"
              % (server, x["component"], x["host"], x["component_port"], x["secret"],
                 x["users"][0]["jid"], self.path("anchor.key"), self.path("unbound.conf"),
                 store), 0o600)
        return path

    def _check_alive(self):
        dead = [p["name"] for p in self.procs if not alive(p)]
        if dead:
            raise LabError("exited during start: %s (see %s)" % (
                ", ".join(dead), ", ".join(p["log"] for p in self.procs if not alive(p))))

    def _write_json(self):
        self.info["procs"] = self.procs
        self.info["pids"] = [p["pid"] for p in self.procs]
        if self.info.get("dir"):
            tmp = self.path("lab.json.tmp")
            with open(tmp, "w") as f:
                json.dump(self.info, f, indent=1, sort_keys=True)
            os.replace(tmp, self.path("lab.json"))

    # -- stop
    def _kill_all(self, grace=5.0):
        self._kill(self.procs, grace)

    def _kill(self, procs, grace=5.0):
        """SIGTERM each recorded process group (each server was started in
        its own session, so its group id is its PID), then SIGKILL what is
        left.  A PID whose start time differs was reused: left alone."""
        # Linux never hands out a PID still used as a group id, so a group
        # that outlived its leader is still ours.
        mine = [p for p in procs if alive(p) or
                (proc_start_time(p["pid"]) is None and group_alive(p["pid"]))]
        for p in mine:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p["pid"], signal.SIGTERM)
        end = time.monotonic() + grace
        while time.monotonic() < end and any(alive(p) or group_alive(p["pid"]) for p in mine):
            reap()
            time.sleep(0.05)
        for p in mine:
            if alive(p) or group_alive(p["pid"]):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p["pid"], signal.SIGKILL)
        reap()

    def stop(self):
        """Stop the processes this lab started (no-op for a borrowed lab)."""
        if not self.owned:
            return
        # A server restarted by another process (lab.py restart) is only
        # in lab.json: stop it too.
        with contextlib.suppress(OSError, ValueError):
            with open(self.json_path) as f:
                known = {(p["pid"], p["start"]) for p in self.procs}
                self.procs += [p for p in json.load(f).get("procs", [])
                               if (p["pid"], p["start"]) not in known]
        self._kill_all()
        self.info["stopped"] = True
        self._write_json()

    def status(self):
        return [(p["name"], p["pid"], alive(p)) for p in self.procs]

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if self.owned and self.temporary and exc_type is None:
            shutil.rmtree(self.dir, ignore_errors=True)


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def reap():
    """Collect exited children of this process (when it started them)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


# -------------------------------------------------------------------- CLI

def main(argv):
    if not ((len(argv) == 3 and argv[1] in ("start", "stop", "status")) or
            (len(argv) == 4 and argv[1] == "restart")):
        sys.stderr.write("usage: lab.py start|stop|status DIR | restart DIR SERVER\n")
        return 2
    cmd, dir = argv[1], argv[2]
    # SIGTERM during start: unwind like Ctrl-C, so what started is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if cmd == "start":
        try:
            Lab.start(dir)
        except LabError as e:
            sys.stderr.write("lab.py: %s\n" % e)
            return 1
        except KeyboardInterrupt:
            sys.stderr.write("lab.py: interrupted; what had started is stopped\n")
            return 130
        return 0
    lab_json = os.path.join(dir, "lab.json")
    if not os.path.exists(lab_json):
        if cmd == "stop":
            return 0
        sys.stderr.write("lab.py: no lab in %s\n" % dir)
        return 1
    lab = Lab.load(lab_json)
    if cmd == "restart":
        try:
            lab.restart(argv[3])
        except LabError as e:
            sys.stderr.write("lab.py: %s\n" % e)
            return 1
        return 0
    if cmd == "stop":
        lab.owned = True
        lab.stop()
        return 0
    running = 0
    for name, pid, up in lab.status():
        print("%-10s %7d %s" % (name, pid, "running" if up else "stopped"))
        running += up
    return 0 if running == len(lab.procs) and running else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
