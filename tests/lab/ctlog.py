#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""ctlog.py - a Certificate Transparency log for the lab (docs/lab.md,
"The CT log"): no CT log server is packaged in Debian, and the real
certspotter must read one.  It speaks RFC 6962 for real, as certspotter
0.16 uses it:

  - the Merkle tree of RFC 6962 §2.1 (leaf hash SHA-256(0x00 || leaf),
    node hash SHA-256(0x01 || left || right), split at the largest power
    of two below n), audit paths (§2.1.1) and consistency proofs (§2.1.2);
  - GET /ct/v1/get-sth (§4.3), signed with the log's ECDSA P-256 key as a
    TreeHeadSignature in a DigitallySigned struct (§3.5, RFC 5246 §4.7);
  - GET /ct/v1/get-sth-consistency (§4.4), /ct/v1/get-proof-by-hash
    (§4.5), /ct/v1/get-entries (§4.6), with MerkleTreeLeaf leaf_input and
    the extra_data of x509 and precert entries (§3.1, §3.4);
  - served over HTTPS with a certificate from the lab CA.

A test adds entries with add_cert(); a new STH is made at once.  The log
list file (log_list()) is the JSON certspotter's -logs reads (the v3
schema of Chrome's log list: operators, logs with key, log_id, url, mmd,
state).
"""
import base64
import datetime
import hashlib
import http.server
import json
import ssl
import struct
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MAX_ENTRIES = 1000   # per get-entries answer, as real logs cap it


def _h(data):
    return hashlib.sha256(data).digest()


def leaf_hash(leaf):
    return _h(b"\x00" + leaf)


def node_hash(left, right):
    return _h(b"\x01" + left + right)


def _split(n):
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(hashes_):
    """RFC 6962 §2.1: the Merkle Tree Hash of the leaf hashes given."""
    n = len(hashes_)
    if n == 0:
        return _h(b"")
    if n == 1:
        return hashes_[0]
    k = _split(n)
    return node_hash(mth(hashes_[:k]), mth(hashes_[k:]))


def audit_path(m, hashes_):
    """RFC 6962 §2.1.1: PATH(m, D[n])."""
    n = len(hashes_)
    if n <= 1:
        return []
    k = _split(n)
    if m < k:
        return audit_path(m, hashes_[:k]) + [mth(hashes_[k:])]
    return audit_path(m - k, hashes_[k:]) + [mth(hashes_[:k])]


def consistency(m, hashes_):
    """RFC 6962 §2.1.2: PROOF(m, D[n])."""
    def subproof(m, d, b):
        n = len(d)
        if m == n:
            return [] if b else [mth(d)]
        k = _split(n)
        if m <= k:
            return subproof(m, d[:k], b) + [mth(d[k:])]
        return subproof(m - k, d[k:], False) + [mth(d[:k])]
    if m <= 0 or m >= len(hashes_):
        return []
    return subproof(m, hashes_, True)


def _u24(b):
    return struct.pack(">I", len(b))[1:] + b


def _tbs_without_poison(cert):
    """The TBSCertificate of a precertificate with its poison extension
    removed (RFC 6962 §3.2), re-encoded in DER by hand."""
    poison = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.3")
    tbs = cert.tbs_certificate_bytes
    # Find the extensions [3] wrapper and drop the poison Extension.
    return _drop_extension(tbs, poison.dotted_string)


def _der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _der_read(buf, i):
    tag = buf[i]
    ln = buf[i + 1]
    j = i + 2
    if ln & 0x80:
        k = ln & 0x7f
        ln = int.from_bytes(buf[j:j + k], "big")
        j += k
    return tag, j, j + ln     # tag, start of contents, end


def _children(buf, start, end):
    out = []
    i = start
    while i < end:
        tag, s, e = _der_read(buf, i)
        out.append((tag, i, s, e))
        i = e
    return out


def _oid_der(dotted):
    parts = [int(x) for x in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        enc = [p & 0x7f]
        p >>= 7
        while p:
            enc.append(0x80 | (p & 0x7f))
            p >>= 7
        body += bytes(reversed(enc))
    return b"\x06" + _der_len(len(body)) + body


def _drop_extension(tbs, dotted):
    oid = _oid_der(dotted)
    _, s, e = _der_read(tbs, 0)
    out = b""
    for tag, i, cs, ce in _children(tbs, s, e):
        if tag == 0xa3:
            _, ss, se = _der_read(tbs, cs)          # SEQUENCE of Extension
            exts = [tbs[a:c] for _, a, xs, c in _children(tbs, ss, se)
                    if tbs[xs:xs + len(oid)] != oid]
            seq = b"".join(exts)
            seq = b"\x30" + _der_len(len(seq)) + seq
            out += b"\xa3" + _der_len(len(seq)) + seq
        else:
            out += tbs[i:ce]
    return b"\x30" + _der_len(len(out)) + out


class Log:
    """The log's entries, tree and signed heads; thread-safe."""

    def __init__(self, issuer_cert):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.pub = self.key.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)
        self.log_id = _h(self.pub)
        self.issuer = issuer_cert
        self.issuer_key_hash = _h(issuer_cert.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo))
        self.entries = []      # (leaf_input, extra_data)
        self.hashes = []
        self.lock = threading.Lock()
        self.sth = None
        self._sign()

    def _sign(self):
        ts = int(time.time() * 1000)
        root = mth(self.hashes)
        tbs = struct.pack(">BBQQ", 0, 1, ts, len(self.hashes)) + root
        sig = self.key.sign(tbs, ec.ECDSA(hashes.SHA256()))
        ds = struct.pack(">BBH", 4, 3, len(sig)) + sig
        self.sth = {"tree_size": len(self.hashes), "timestamp": ts,
                    "sha256_root_hash": base64.b64encode(root).decode(),
                    "tree_head_signature": base64.b64encode(ds).decode()}

    def add_cert(self, cert, precert=False):
        """Logs a certificate (x509_entry) or a precertificate (a
        certificate with the poison extension: precert_entry)."""
        der = cert.public_bytes(serialization.Encoding.DER)
        issuer = self.issuer.public_bytes(serialization.Encoding.DER)
        ts = int(time.time() * 1000)
        if precert:
            entry = struct.pack(">H", 1) + self.issuer_key_hash + \
                _u24(_tbs_without_poison(cert))
            extra = _u24(der) + _u24(_u24(issuer))
        else:
            entry = struct.pack(">H", 0) + _u24(der)
            extra = _u24(_u24(issuer))
        leaf = struct.pack(">BBQ", 0, 0, ts) + entry + struct.pack(">H", 0)
        with self.lock:
            self.entries.append((leaf, extra))
            self.hashes.append(leaf_hash(leaf))
            self._sign()
            return len(self.entries) - 1

    def log_list(self, url):
        now = datetime.datetime.now(datetime.timezone.utc)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"version": "1.0", "log_list_timestamp": stamp,
                "operators": [{"name": "certwatch lab", "email": [],
                               "logs": [{
                                   "description": "certwatch lab log",
                                   "log_id": base64.b64encode(self.log_id).decode(),
                                   "key": base64.b64encode(self.pub).decode(),
                                   "url": url, "mmd": 60,
                                   "state": {"usable": {"timestamp": stamp}},
                               }]}]}

    # ---- the API (RFC 6962 §4) ----

    def get(self, path, q):
        with self.lock:
            n = len(self.hashes)
            if path == "/ct/v1/get-sth":
                return 200, self.sth
            if path == "/ct/v1/get-entries":
                start, end = int(q["start"][0]), int(q["end"][0])
                if start < 0 or end < start or start >= n:
                    return 400, {"error": "bad range"}
                end = min(end, n - 1, start + MAX_ENTRIES - 1)
                return 200, {"entries": [
                    {"leaf_input": base64.b64encode(l).decode(),
                     "extra_data": base64.b64encode(x).decode()}
                    for l, x in self.entries[start:end + 1]]}
            if path == "/ct/v1/get-proof-by-hash":
                h = base64.b64decode(q["hash"][0])
                size = int(q["tree_size"][0])
                if size > n or h not in self.hashes[:size]:
                    return 400, {"error": "unknown hash"}
                i = self.hashes.index(h)
                return 200, {"leaf_index": i, "audit_path": [
                    base64.b64encode(p).decode()
                    for p in audit_path(i, self.hashes[:size])]}
            if path == "/ct/v1/get-sth-consistency":
                first, second = int(q["first"][0]), int(q["second"][0])
                if first > second or second > n:
                    return 400, {"error": "bad sizes"}
                return 200, {"consistency": [
                    base64.b64encode(p).decode()
                    for p in consistency(first, self.hashes[:second])]}
        return 404, {"error": "no such method"}


class Server:
    """The log over HTTPS on 127.0.0.1, certificate from the lab CA."""

    def __init__(self, ca_cert_path, ca_key_path, tmpdir):
        with open(ca_cert_path, "rb") as f:
            self.ca = x509.load_pem_x509_certificate(f.read())
        with open(ca_key_path, "rb") as f:
            self.ca_key = serialization.load_pem_private_key(f.read(), None)
        self.log = Log(self.ca)
        key = ec.generate_private_key(ec.SECP256R1())
        import ipaddress
        cert = self.issue(key, ["localhost"],
                          ips=[ipaddress.ip_address("127.0.0.1")])
        self.cert_path, self.key_path = tmpdir + "/ctlog.crt", tmpdir + "/ctlog.key"
        with open(self.cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(self.key_path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        log = self.log

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                u = urllib.parse.urlparse(self.path)
                try:
                    code, body = log.get(u.path, urllib.parse.parse_qs(u.query))
                except (KeyError, ValueError) as e:
                    code, body = 400, {"error": str(e)}
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_path, self.key_path)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = "https://127.0.0.1:%d/" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def issue(self, key, names, ips=(), precert=False, days=30, serial=None):
        """A certificate from the lab CA for `key` (a private or public
        key), with a poison extension when precert; the same serial and
        dates give the same TBSCertificate but for the poison."""
        pub = key.public_key() if hasattr(key, "public_key") else key
        now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
        sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(i) for i in ips]
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                         names[0])]))
             .issuer_name(self.ca.subject)
             .public_key(pub)
             .serial_number(serial or x509.random_serial_number())
             .not_valid_before(now)
             .not_valid_after(now + datetime.timedelta(days=days) +
                              datetime.timedelta(days=365))
             .add_extension(x509.SubjectAlternativeName(sans), critical=False)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                            critical=True))
        if precert:
            b = b.add_extension(x509.PrecertPoison(), critical=True)
        return b.sign(self.ca_key, hashes.SHA256())

    def write_log_list(self, path):
        with open(path, "w") as f:
            json.dump(self.log.log_list(self.url), f)
        return path

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
