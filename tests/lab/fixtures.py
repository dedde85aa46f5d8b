#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Misbehaving XMPP servers for the certwatch lab, one asyncio process.

Usage: fixtures.py CONFIG.json, where CONFIG is a list of
{"name", "behaviour", "ip", "ports", "pki", "cert", "key"} (cert and key:
the lab's good key, for behaviours that speak TLS).  Each behaviour is a coroutine in
BEHAVIOURS below; add hostile servers there (lab.py's FIXTURES names them).
Every server reads the client's stream header first and answers as the
domain named in its `to`, so a probe gets as far as the behaviour allows.
"""

import asyncio
import json
import re
import signal
import sys
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


def stream_open(header):
    """Our answering stream header, as the domain the client asked for."""
    ns = attr(header, "xmlns") or "jabber:client"
    to = attr(header, "to")
    return ("<?xml version='1.0'?><stream:stream xmlns='%s' "
            "xmlns:stream='http://etherx.jabber.org/streams' from='%s' "
            "id='%s' version='1.0' xml:lang='en'>" % (ns, to, uuid.uuid4().hex)).encode()


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


# name -> coroutine(reader, writer, client's stream header, config entry)
BEHAVIOURS = {
    "stall": stall,
    "badxml": badxml,
    "streamerr": streamerr,
    "notls": notls,
}


def handler(behaviour, fx):
    async def handle(reader, writer):
        try:
            header = await read_header(reader)
            if header is not None:
                await behaviour(reader, writer, header, fx)
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
    return handle


async def main(config):
    servers = []
    for fx in config:
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
