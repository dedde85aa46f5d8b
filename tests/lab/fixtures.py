#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Misbehaving XMPP servers for the certwatch lab, one asyncio process.

Usage: fixtures.py CONFIG.json, where CONFIG is a list of
{"name", "behaviour", "ip", "ports", "pki", "cert", "key", "impostor",
"good"} (cert and key: the lab's good key, for behaviours that speak TLS;
impostor: the MITM key's "chain" and "key", or a chain made for that
server; good: the good server's address).  Each behaviour is a coroutine in
BEHAVIOURS below; add hostile servers there (lab.py's FIXTURES names them).
Every server reads the client's stream header first and answers as the
domain named in its `to`, so a probe gets as far as the behaviour allows.
"""

import asyncio
import json
import re
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid

HEADER_LIMIT = 4096      # bytes we read while waiting for the stream header
IDLE_LIMIT = 120.0       # seconds a stalled connection is kept open
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_STREAMS = "urn:ietf:params:xml:ns:xmpp-streams"


async def read_header(reader):
    """Read up to the end of the client's <stream:stream ...> open tag."""
    buf = b""
    while len(buf) < HEADER_LIMIT:
        chunk = await asyncio.wait_for(reader.read(1024), 30)
        if not chunk:
            return None
        buf += chunk
        m = re.search(rb"<(?:\w+:)?stream\b[^>]*>", buf)
        if m:
            return m.group(0).decode("utf-8", "replace")
    return None


def attr(header, name):
    m = re.search(r"\s%s\s*=\s*(['\"])(.*?)\1" % re.escape(name), header)
    return m.group(2) if m else ""


def stream_open(header, sid=None):
    """Our answering stream header, as the domain the client asked for."""
    ns = attr(header, "xmlns") or "jabber:client"
    to = attr(header, "to")
    return ("<?xml version='1.0'?><stream:stream xmlns='%s' "
            "xmlns:stream='http://etherx.jabber.org/streams' from='%s' "
            "id='%s' version='1.0' xml:lang='en'>"
            % (ns, to, sid or uuid.uuid4().hex)).encode()


async def idle(reader):
    """Keep the connection open, ignoring input, until the peer leaves."""
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(4096), IDLE_LIMIT)
            if not chunk:
                return
    except (asyncio.TimeoutError, ConnectionError):
        return


async def stall(reader, writer, header, fx):
    """Offers STARTTLS, then never answers <starttls/>."""
    writer.write(stream_open(header) +
                 b"<stream:features><starttls xmlns='%s'><required/></starttls>"
                 b"</stream:features>" % NS_TLS.encode())
    await writer.drain()
    await idle(reader)


async def badxml(reader, writer, header, fx):
    """Sends a stream header, then features that are not well-formed XML."""
    writer.write(stream_open(header) +
                 b"<stream:features><starttls xmlns='%s'></stream:feat<<&&>"
                 b"</starttls>" % NS_TLS.encode())
    await writer.drain()
    await idle(reader)


async def streamerr(reader, writer, header, fx):
    """Answers with a stream error (host-unknown) and closes."""
    writer.write(stream_open(header) +
                 b"<stream:error><host-unknown xmlns='%s'/></stream:error>"
                 b"</stream:stream>" % NS_STREAMS.encode())
    await writer.drain()


async def notls(reader, writer, header, fx):
    """Offers no <starttls/> at all (a TLS-stripping downgrade)."""
    writer.write(stream_open(header) +
                 b"<stream:features><mechanisms xmlns="
                 b"'urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
                 b"</mechanisms></stream:features>")
    await writer.drain()
    await idle(reader)


# ------------------------------------------------ hostile servers (issue 6)
# Each one attacks a bound of the probe; tests/test_hostile.py checks that
# the probe ends `unreachable` in time and the daemon's memory stays small.

async def slow_write(writer, data, delay=1.0):
    for i in range(len(data)):
        writer.write(data[i:i + 1])
        await writer.drain()
        await asyncio.sleep(delay)


async def slowloris(reader, writer, header, fx):
    """Sends its stream header and features one byte per second."""
    await slow_write(writer, stream_open(header) + FEATURES_STARTTLS)


async def bigfeatures(reader, writer, header, fx):
    """Sends 50 MB of stream features (many small elements)."""
    writer.write(stream_open(header) + b"<stream:features>")
    chunk = b"<x xmlns='urn:example:junk'>junk</x>" * 1800   # ~64 KB
    sent = 0
    while sent < 50 * 1024 * 1024:
        writer.write(chunk)
        await writer.drain()
        sent += len(chunk)
    writer.write(FEATURES_STARTTLS[len(b"<stream:features>"):])
    await writer.drain()
    await idle(reader)


async def deepxml(reader, writer, header, fx):
    """Nests elements 100,000 deep inside the features."""
    writer.write(stream_open(header) + b"<stream:features>" + b"<a>" * 100000)
    await writer.drain()
    await idle(reader)


async def laughs(reader, writer, header, fx):
    """Entity expansion ("billion laughs"): a DTD before the stream and a
    reference that would expand to 10^9 "lol"s in the features."""
    dtd = [b"<!DOCTYPE stream:stream [<!ENTITY l0 'lol'>"]
    for i in range(1, 10):
        dtd.append(b"<!ENTITY l%d '%s'>" % (i, b"&l%d;" % (i - 1) * 10))
    dtd.append(b"]>")
    opened = stream_open(header)
    decl = b"<?xml version='1.0'?>"
    writer.write(decl + b"".join(dtd) + opened[len(decl):] +
                 b"<stream:features><x>&l9;</x></stream:features>")
    await writer.drain()
    await idle(reader)


async def badutf8(reader, writer, header, fx):
    """Features holding bytes that are not UTF-8."""
    writer.write(stream_open(header) +
                 b"<stream:features><starttls xmlns='%s'/>"
                 b"<x a='\xc0\xaf'>\xff\xfe\xed\xa0\x80</x></stream:features>"
                 % NS_TLS.encode())
    await writer.drain()
    await idle(reader)


async def proceed(reader, writer, header, opening=None):
    """Offer STARTTLS, wait for <starttls/>, answer <proceed/>."""
    writer.write((opening or stream_open(header)) + FEATURES_STARTTLS)
    await writer.drain()
    buf = b""
    while b"starttls" not in buf:
        chunk = await asyncio.wait_for(reader.read(1024), 30)
        if not chunk or len(buf) > HEADER_LIMIT:
            return False
        buf += chunk
    writer.write(b"<proceed xmlns='%s'/>" % NS_TLS.encode())
    await writer.drain()
    return True


async def serve_tls(reader, writer, header, chain, key, opening=None):
    if not await proceed(reader, writer, header, opening):
        return
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain, key)
    await writer.start_tls(ctx)
    await idle(reader)


async def chain100(reader, writer, header, fx):
    """After STARTTLS presents a chain of 100 certificates (the good leaf,
    then 99 copies of a 3 KB filler: about 300 KB in all)."""
    await serve_tls(reader, writer, header, fx["made"]["chain100"], fx["key"])


async def bigcert(reader, writer, header, fx):
    """After STARTTLS presents one 64 KB certificate (the good key, signed
    by the lab CA, with a 64 KB extension)."""
    await serve_tls(reader, writer, header, fx["made"]["bigcert"], fx["key"])


async def sni(reader, writer, header, fx):
    """A multi-tenant host: presents the good key only to clients that
    send the SRV target (xmpp.<domain>) as SNI, the MITM key otherwise:
    the probe with SNI = the domain decides (mismatch); the second one,
    SNI = the target, finds the match and only explains it (sni-target)."""
    if not await proceed(reader, writer, header):
        return
    pki = fx["pki"]
    other = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    other.load_cert_chain(os.path.join(pki, "good.chain.pem"),
                          os.path.join(pki, "good.key"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(pki, "mitm.chain.pem"),
                        os.path.join(pki, "mitm.key"))

    def pick(sock, name, _ctx):
        if name and name.startswith("xmpp."):
            sock.context = other
    ctx.sni_callback = pick
    await writer.start_tls(ctx)
    await idle(reader)


async def twokeys(reader, writer, header, fx):
    """After STARTTLS, an ECDSA (good) and an RSA certificate: the client's
    signature algorithms choose (RFC 8446 §4.2.3)."""
    if not await proceed(reader, writer, header):
        return
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(fx["cert"], fx["key"])
    ctx.load_cert_chain(os.path.join(fx["pki"], "rsa.chain.pem"),
                        os.path.join(fx["pki"], "rsa.key"))
    await writer.start_tls(ctx)
    await idle(reader)


async def tlsnever(reader, writer, header, fx):
    """Answers <proceed/>, then never says a word of TLS."""
    if await proceed(reader, writer, header):
        await idle(reader)


async def tlsclose(reader, writer, header, fx):
    """Answers <proceed/>, reads the ClientHello, sends the first bytes of
    a handshake record and closes."""
    if await proceed(reader, writer, header):
        await asyncio.wait_for(reader.read(4096), 30)
        writer.write(b"\x16\x03\x03\x04\x00\x02\x00\x03\xfc\x03\x03")
        await writer.drain()


# ------------------------------------------ fail-closed servers (issue 13)
# Impostors presenting the MITM key (CA-valid: the lab CA's certificate
# names their domains), each in a way meant to make certwatch quieter than
# `mismatch`; tests/test_failclosed.py checks that it is not.

async def reenc(reader, writer, header, fx):
    """STARTTLS, then the TLS handshake relayed to a gnutls-serv that sends
    the MITM leaf with its outer length re-encoded (30 85 00 00 LL LL LL)
    as it is: Python's ssl would re-encode the certificate."""
    if await proceed(reader, writer, header):
        await relay(reader, writer, b"", *await tcp("127.0.0.1", fx["tls_port"]))


async def hugeid(reader, writer, header, fx):
    """A stream header whose id has 1,500 bytes (clients carry on: RFC 6120
    sets no limit), then STARTTLS with the MITM key."""
    await serve_tls(reader, writer, header, fx["impostor"]["chain"], fx["impostor"]["key"],
                    stream_open(header, "i" * 1500))


async def snisel(reader, writer, header, fx):
    """An interceptor that chooses by SNI: a ClientHello naming the domain
    (what clients send) goes to a gnutls-serv with the MITM key; any other
    is passed through, with its own STARTTLS, to the good server."""
    if not await proceed(reader, writer, header):
        return
    head = await asyncio.wait_for(reader.readexactly(5), 30)
    hello = head + await asyncio.wait_for(reader.readexactly(int.from_bytes(head[3:5], "big")), 30)
    domain = attr(header, "to")
    if client_hello_sni(hello).lower() == domain.lower():
        await relay(reader, writer, hello, *await tcp("127.0.0.1", fx["tls_port"]))
        return
    up_r, up_w = await tcp(fx["good"], 5222)
    up_w.write(("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                "xmlns:stream='http://etherx.jabber.org/streams' to='%s' "
                "version='1.0'>" % domain).encode())
    if await read_until(up_r, b"</stream:features>"):
        up_w.write(b"<starttls xmlns='%s'/>" % NS_TLS.encode())
        if await read_until(up_r, b"<proceed"):
            await relay(reader, writer, hello, up_r, up_w)
    up_w.close()


async def hugeexp(reader, writer, header, fx):
    """After STARTTLS, the MITM leaf and a look-alike CA whose RSA key has a
    16,384-bit modulus and an exponent of almost as many bits, with a
    signature on the leaf as long as the modulus (lab.py pki_failclosed)."""
    await serve_tls(reader, writer, header, fx["impostor"]["chain"], fx["impostor"]["key"])


# ------------------------------------------ channel binding (issue 15)
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_SASL_CB = "urn:xmpp:sasl-cb:0"
SASL_OTHERS = ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN")


def sasl_features(plus):
    """Features after TLS: SCRAM-*-PLUS with XEP-0440 types, or the same
    list without them."""
    mechs = (("SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS") if plus else ()) + SASL_OTHERS
    cb = ("<sasl-channel-binding xmlns='%s'><channel-binding type='tls-exporter'/>"
          "<channel-binding type='tls-server-end-point'/></sasl-channel-binding>"
          % NS_SASL_CB) if plus else ""
    return ("<stream:features><mechanisms xmlns='%s'>%s</mechanisms>%s"
            "</stream:features>" % (NS_SASL, "".join(
                "<mechanism>%s</mechanism>" % m for m in mechs), cb)).encode()


async def serve_sasl(reader, writer, header, chain, key, plus):
    if not await proceed(reader, writer, header):
        return
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain, key)
    await writer.start_tls(ctx)
    again = await read_header(reader)
    if again is not None:
        writer.write(stream_open(again) + sasl_features(plus))
        await writer.drain()
        await idle(reader)


def short_cert(fx):
    """A certificate of the good key from the lab CA that expires in 3
    days, with the CA after it (one openssl run, made once)."""
    if "short" in MADE:
        return MADE["short"]
    d = os.path.join(os.path.dirname(os.path.abspath(fx["pki"])), "fixtures", "certs")
    os.makedirs(d, exist_ok=True)
    ca_crt, ca_key = (os.path.join(fx["pki"], "ca." + e) for e in ("crt", "key"))
    csr, ext, leaf = (os.path.join(d, "short." + e) for e in ("csr", "ext", "crt"))
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:cbnone.test,DNS:xmpp.cbnone.test,"
                "DNS:cbswitch.test,DNS:xmpp.cbswitch.test\n")
    openssl("req", "-new", "-key", fx["key"], "-subj", "/CN=cbnone.test", "-out", csr)
    openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
            "-set_serial", "4343", "-days", "3", "-extfile", ext, "-out", leaf)
    path = os.path.join(d, "short.chain.pem")
    with open(leaf) as a, open(ca_crt) as b, open(path, "w") as out:
        out.write(a.read() + b.read())
    MADE["short"] = path
    return path


async def cbplus(reader, writer, header, fx):
    """After STARTTLS (the good key), SCRAM-*-PLUS offered."""
    await serve_sasl(reader, writer, header, fx["cert"], fx["key"], True)


async def cbstrip(reader, writer, header, fx):
    """cbplus's list without -PLUS, and a leaf that expires in 3 days."""
    await serve_sasl(reader, writer, header, short_cert(fx), fx["key"], False)


def client_hello_sni(record):
    """The host_name of a TLS ClientHello's server_name extension (RFC 6066
    §3), "" when there is none.  `record` is one whole TLS record."""
    try:
        p = 5 + 4 + 2 + 32                      # record, handshake headers; version, random
        p += 1 + record[p]                      # session id
        p += 2 + int.from_bytes(record[p:p + 2], "big")   # cipher suites
        p += 1 + record[p]                      # compression methods
        end = p + 2 + int.from_bytes(record[p:p + 2], "big")
        p += 2
        while p + 4 <= end:
            etype = int.from_bytes(record[p:p + 2], "big")
            elen = int.from_bytes(record[p + 2:p + 4], "big")
            if etype == 0:                      # list length (2), type (1), name
                nlen = int.from_bytes(record[p + 7:p + 9], "big")
                return record[p + 9:p + 9 + nlen].decode("ascii", "replace")
            p += 4 + elen
    except IndexError:
        pass
    return ""


async def tcp(host, port):
    return await asyncio.wait_for(asyncio.open_connection(host, port), 10)


async def read_until(reader, marker, limit=65536):
    """Read until `marker` has been seen (False: closed or over `limit`)."""
    buf = b""
    while marker not in buf:
        chunk = await asyncio.wait_for(reader.read(4096), 30)
        if not chunk or len(buf) > limit:
            return False
        buf += chunk
    return True


async def relay(reader, writer, first, up_r, up_w):
    """Pass bytes both ways between the client and an upstream (sending it
    `first` before), until either side closes."""
    async def pipe(src, dst):
        try:
            while True:
                data = await asyncio.wait_for(src.read(65536), IDLE_LIMIT)
                if not data:
                    return
                dst.write(data)
                await dst.drain()
        except (asyncio.TimeoutError, ConnectionError):
            return

    up_w.write(first)
    tasks = [asyncio.ensure_future(pipe(reader, up_w)), asyncio.ensure_future(pipe(up_r, writer))]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for t in tasks:
        t.cancel()
    up_w.close()


def start_gnutls_serv(chain, key):
    """A gnutls-serv on a free loopback port, serving `chain` byte for byte;
    it belongs to this process's group, which the lab stops."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.Popen(["gnutls-serv", "-q", "--echo", "-p", str(port), "--x509certfile", chain,
                      "--x509keyfile", key], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return port
        time.sleep(0.05)
    raise RuntimeError("gnutls-serv did not start on port %d" % port)


FEATURES_STARTTLS = (b"<stream:features><starttls xmlns='%s'/></stream:features>"
                     % NS_TLS.encode())


def openssl(*args):
    subprocess.run(("openssl",) + args, check=True, capture_output=True)


def make_certs(fx):
    """The oversized certificates, made once when the first server that
    needs them starts (four openssl runs, well under a second)."""
    if MADE:
        return MADE
    d = os.path.join(os.path.dirname(os.path.abspath(fx["pki"])), "fixtures", "certs")
    os.makedirs(d, exist_ok=True)
    ca_crt, ca_key = (os.path.join(fx["pki"], "ca." + e) for e in ("crt", "key"))
    leaf = fx["cert"]    # good leaf + CA
    with open(leaf) as f:
        leaf_pem = f.read().split("-----END CERTIFICATE-----")[0] + \
            "-----END CERTIFICATE-----\n"
    # 3 KB filler: a self-signed certificate with a 3000-byte extension.
    filler_key, filler = os.path.join(d, "filler.key"), os.path.join(d, "filler.crt")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", filler_key, "-out", filler, "-days", "30",
            "-subj", "/CN=filler", "-addext",
            "1.3.6.1.4.1.55555.1=ASN1:UTF8String:" + "F" * 3000)
    with open(filler) as f:
        filler_pem = f.read()
    path = os.path.join(d, "chain100.pem")
    with open(path, "w") as f:
        f.write(leaf_pem + filler_pem * 99)
    MADE["chain100"] = path
    # 64 KB leaf for the good key.
    csr, ext = os.path.join(d, "big.csr"), os.path.join(d, "big.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:bigcert.test,DNS:xmpp.bigcert.test\n"
                "1.3.6.1.4.1.55555.2=ASN1:UTF8String:%s\n" % ("B" * 65000))
    openssl("req", "-new", "-key", fx["key"], "-subj", "/CN=bigcert.test", "-out", csr)
    big = os.path.join(d, "bigcert.pem")
    openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
            "-set_serial", "4242", "-days", "30", "-extfile", ext, "-out", big)
    MADE["bigcert"] = big
    return MADE


MADE = {}
NEEDS_CERTS = ("chain100", "bigcert")


# name -> coroutine(reader, writer, client's stream header, config entry)
BEHAVIOURS = {
    "stall": stall,
    "badxml": badxml,
    "streamerr": streamerr,
    "notls": notls,
    "slowloris": slowloris,
    "bigfeatures": bigfeatures,
    "deepxml": deepxml,
    "laughs": laughs,
    "badutf8": badutf8,
    "chain100": chain100,
    "bigcert": bigcert,
    "tlsnever": tlsnever,
    "tlsclose": tlsclose,
    "sni": sni,
    "reenc": reenc,
    "hugeid": hugeid,
    "snisel": snisel,
    "hugeexp": hugeexp,
    "twokeys": twokeys,
    "cbplus": cbplus,
    "cbstrip": cbstrip,
}
# Behaviours whose impostor TLS is a gnutls-serv (fx["tls_port"]).
NEEDS_GNUTLS = ("reenc", "snisel")


def handler(behaviour, fx):
    async def handle(reader, writer):
        try:
            header = await read_header(reader)
            if header is not None:
                await behaviour(reader, writer, header, fx)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError,
                ssl.SSLError):
            pass
        finally:
            writer.close()
    return handle


async def main(config):
    servers = []
    for fx in config:
        if fx["behaviour"] in NEEDS_CERTS:
            fx["made"] = make_certs(fx)
        if fx["behaviour"] == "cbstrip":
            short_cert(fx)
        if fx["behaviour"] in NEEDS_GNUTLS:
            fx["tls_port"] = start_gnutls_serv(fx["impostor"]["chain"], fx["impostor"]["key"])
        for port in fx["ports"]:
            servers.append(await asyncio.start_server(
                handler(BEHAVIOURS[fx["behaviour"]], fx), fx["ip"], port,
                reuse_address=True))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        asyncio.run(main(json.load(f)))
