#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bounds before TLS: what the lab's Prosody 0.12 and ejabberd 23.01 accept
from a peer before TLS (a stream header attribute, a stanza, nesting), tried
on the wire, and the limits their installed code and configuration state.
certwatch's bounds (probe/xmlstream.h) must be at least what they accept
(docs/reliability.md, "Bounds before TLS"; the records become that section).

Used by tests/test_hostile.py: t_server_bounds(info) records group
"bounds"; its rows hold when each bound of certwatch is no smaller than the
largest value a server accepted.
"""
import os
import re
import socket
import time

import reliability

NS_STREAMS = "http://etherx.jabber.org/streams"
HERE = os.path.dirname(os.path.abspath(__file__))

# What a server says when it refuses for size; anything else (an <iq/>
# error, not-authorized) comes after the whole stanza was read.
REFUSALS = ("policy-violation", "resource-constraint", "not-well-formed",
            "stanza-too-large", "xml-not-well-formed", "restricted-xml")


def certwatch_bounds():
    """XMLSTREAM_MAX_* of probe/xmlstream.h, as numbers."""
    with open(os.path.join(os.path.dirname(HERE), "probe/xmlstream.h"),
              encoding="utf-8") as f:
        text = f.read()
    out = {}
    for name in ("BYTES", "DEPTH", "ATTR"):
        m = re.search(r"#define XMLSTREAM_MAX_%s \(?([0-9 *]+)\)?" % name, text)
        n = 1
        for factor in m.group(1).split("*"):
            n *= int(factor)
        out[name] = n
    return out


def read_some(s, done, limit):
    """Bytes from s until `done(buf)`, EOF (marked "<<EOF>>") or `limit` s."""
    buf = b""
    end = time.monotonic() + limit
    while not done(buf) and time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            d = b""
        if not d:
            return buf + b"<<EOF>>"
        buf += d
    return buf


def open_stream(t, extra=""):
    s = socket.create_connection((t["host"], t["port"]), timeout=5)
    s.sendall(("<?xml version='1.0'?><stream:stream xmlns='%s' "
               "xmlns:stream='%s' to='%s' version='1.0'%s>" % (
                   t["xmlns"], NS_STREAMS, t["to"], extra)).encode())
    return s


def outcome(buf):
    """('accepted' | 'refused', words)."""
    text = buf.decode(errors="replace")
    for w in REFUSALS:
        if w in text:
            m = re.search(r"<text[^>]*>([^<]*)</text>", text)
            return "refused", w + (": " + m.group(1) if m else "")
    if "</stream:features>" in text or "<iq" in text or \
            "<proceed" in text or "not-authorized" in text:
        return "accepted", ""
    return "refused", "closed" if "<<EOF>>" in text else "no answer"


def try_header(t, n):
    """A stream header with one attribute of n bytes: features come?"""
    s = open_stream(t, " x-pad='%s'" % ("a" * n))
    buf = read_some(s, lambda b: b"</stream:features>" in b or
                    b"</stream:error>" in b, 5)
    s.close()
    return outcome(buf)


def try_stanza(t, payload):
    s = open_stream(t)
    buf = read_some(s, lambda b: b"</stream:features>" in b, 5)
    if b"</stream:features>" not in buf:
        s.close()
        return "refused", "no features"
    # Then <starttls/>: a server that read the stanza and goes on answers
    # <proceed/> (Prosody's s2s answers nothing else before TLS).
    try:
        s.sendall(payload + b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    except OSError:
        pass
    buf = read_some(s, lambda b: b"</iq>" in b or b"</stream:error>" in b or
                    b"<proceed" in b or b"<<EOF>>" in b, 15)
    s.close()
    return outcome(buf)


def stanza_of(t, inner):
    """An <iq/> holding `inner`, in the stream's default namespace."""
    return ("<iq type='get' id='b1' to='%s'><query xmlns='urn:example:b'>"
            "%s</query></iq>" % (t["to"], inner)).encode()


def sweep(t, dimension, points, attempt):
    """Tries points in order until the first refusal."""
    accepted, refused = None, None
    for p in points:
        verdict, words = attempt(t, p)
        if verdict == "accepted":
            accepted = p
            continue
        refused = (p, words)
        break
    return accepted, refused


DIMENSIONS = [
    # (name, certwatch bound, points tried, attempt)
    ("an attribute of the stream header, bytes", "ATTR",
     [1500, 11000, 65000, 300000, 600000, 1100000, 2200000], try_header),
    ("one stanza before TLS, bytes", "BYTES",
     [11000, 200000, 300000, 600000, 1100000, 2200000],
     lambda t, n: try_stanza(t, stanza_of(t, "<x>%s</x>" % ("y" * (n - 120))))),
    ("nesting inside one stanza, elements", "DEPTH",
     [1000, 26000, 37000, 80000, 140000, 300000],
     lambda t, d: try_stanza(t, stanza_of(t, "<a>" * d + "</a>" * d))),
]


def option_defaults(path, names):
    """`name = default` of module:get_option_number(name, default) lines."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return []
    out = []
    for name in names:
        m = re.search(r'get_option_number\("%s",\s*([0-9*]+)' % name, text)
        if m:
            n = 1
            for factor in m.group(1).split("*"):
                n *= int(factor)
            out.append("%s %d" % (name, n))
    return out


def yml_sizes(path):
    try:
        with open(path, encoding="utf-8") as f:
            return re.findall(r"module: (\w+)|max_stanza_size: (\d+)", f.read())
    except OSError:
        return []


def stated_limits(info):
    """What the installed code and configs say (no wire)."""
    notes = []
    mods = "/usr/lib/prosody/modules/"
    c2s = option_defaults(mods + "mod_c2s.lua", [
        "c2s_unauthed_stanza_size_limit", "c2s_stanza_size_limit",
        "c2s_max_child_elements"])
    s2s = option_defaults(mods + "mod_s2s.lua", [
        "s2s_unauthed_stanza_size_limit", "s2s_stanza_size_limit",
        "s2s_max_child_elements"])
    try:
        with open("/usr/lib/prosody/util/xmppstream.lua", encoding="utf-8") as f:
            m = re.search(r"default_stanza_size_limit = ([0-9*]+)", f.read())
        n = 1
        for factor in m.group(1).split("*"):
            n *= int(factor)
        util = ["util/xmppstream.lua default_stanza_size_limit %d (streams "
                "opened without one: components, BOSH)" % n]
    except (OSError, AttributeError):
        util = []
    notes.append("/usr/lib/prosody, defaults: mod_c2s.lua %s; mod_s2s.lua "
                 "%s; %s. The unauthed limits count bytes not yet parsed (a "
                 "header read whole in one piece passes at 11,000); mod_s2s "
                 "sets its unauthed limit on outgoing streams only, so an "
                 "incoming s2s stream is read with the 1 MiB default until "
                 "authenticated (as measured above); max_child_elements did "
                 "not stop 140,000 nested elements there; no limit on depth "
                 "or on one attribute" % (
                     ", ".join(c2s), ", ".join(s2s), "; ".join(util)))
    lab_yml = os.path.join(info["xmpp"]["ejabberd"]["cwd"], "ejabberd.yml")
    sizes = []
    for yml, name in (("/etc/ejabberd/ejabberd.yml", "Debian's"),
                      (lab_yml, "the lab's")):
        mod = None
        pairs = []
        for m, size in yml_sizes(yml):
            if m:
                mod = m
            elif size:
                pairs.append("%s %s" % (mod, size))
        sizes.append("%s %s: %s" % (name, os.path.basename(yml),
                                     ", ".join(pairs) or "unset"))
    notes.append("max_stanza_size per listener (bytes of one "
                 "stanza, before TLS too; the stream header counts as one), "
                 "no depth or attribute limit of its own; %s" % "; ".join(sizes))
    notes.append("libstrophe 0.12 and other expat-based clients set no "
                 "limit of their own on the stream before TLS; whatever bound "
                 "certwatch keeps, a client reads on past it")
    return notes


def t_server_bounds(info):
    """Sweeps each server's pre-TLS limits; certwatch's are no smaller."""
    ours = certwatch_bounds()
    targets = [
        {"label": "Prosody 0.12 c2s (%s)" % info["xmpp"]["prosody"]["domain"],
         "host": info["xmpp"]["prosody"]["host"], "port": 5222,
         "xmlns": "jabber:client", "to": info["xmpp"]["prosody"]["domain"]},
        {"label": "Prosody 0.12 s2s (good.test)",
         "host": info["targets"]["good"], "port": 5269,
         "xmlns": "jabber:server", "to": "good.test"},
        {"label": "ejabberd 23.01 c2s (%s)" % info["xmpp"]["ejabberd"]["domain"],
         "host": info["xmpp"]["ejabberd"]["host"], "port": 5222,
         "xmlns": "jabber:client", "to": info["xmpp"]["ejabberd"]["domain"]},
    ]
    bad = []
    order = 0
    for t in targets:
        for name, key, points, attempt in DIMENSIONS:
            t0 = time.monotonic()
            accepted, refused = sweep(t, name, points, attempt)
            held = accepted is None or ours[key] >= accepted
            if not held:
                bad.append("%s, %s: accepted %s > certwatch's %d" % (
                    t["label"], name, accepted, ours[key]))
            what = "accepted up to %s; %s" % (
                "{:,}".format(accepted) if accepted else "none tried",
                "refused {:,} ({})".format(refused[0], refused[1]) if refused
                else "every size tried accepted")
            reliability.record(
                "bounds", "%s, %s" % (t["label"], name), order=order,
                what="tried %s" % ", ".join("{:,}".format(p) for p in points),
                outcome="%s; certwatch's bound {:,}".format(ours[key]) % what,
                seconds=round(time.monotonic() - t0, 1), ok=held)
            order += 1
    for case, note in zip(("Prosody 0.12, as installed",
                           "ejabberd 23.01, as installed", "clients"),
                          stated_limits(info)):
        reliability.record("bounds", case, note_only=True, ok=True,
                           order=order, bound=note)
        order += 1
    reliability.record(
        "bounds", "certwatch", note_only=True, ok=True, order=order,
        bound="certwatch's bounds (probe/xmlstream.h): XMLSTREAM_MAX_BYTES "
              "{:,} bytes before <proceed/> (four of ejabberd's largest packaged "
              "stanza, twice Prosody's largest default), XMLSTREAM_MAX_ATTR {:,} "
              "(Prosody's largest default stanza), XMLSTREAM_MAX_DEPTH {:,} "
              "(Prosody's s2s reads a 1 MiB stanza before TLS: 149,796 deep as "
              "<a></a>; ejabberd's 524,288-byte s2s stanza, 74,898; expat "
              "holds ~145 bytes per open element, ~22 MB a probe at the "
              "bound); time: [probe] timeout "
              "for the whole probe; expat parses an unfinished token again on "
              "every read (up to 2 MiB, under 4 ms measured for 1 MiB), so "
              "while it holds 8 KiB or more the probe reads every 10 ms, "
              "taking what the socket holds (a 768 KiB id sent a byte a "
              "segment: CPU 6-8 % of the probe's time, 18-26 % without; "
              "tests/test_probe.c). Past a bound before "
              "<proceed/>, TLS is withheld: with a secure, usable TLSA RRset "
              "the endpoint is mismatch (step stream, or starttls once "
              "<starttls/> was sent; reason 'the stream passed certwatch's "
              "bounds before TLS, with no <starttls/> offered: …' or '…, "
              "after <starttls/> was offered: …'), also after <starttls/> was "
              "offered: an interceptor would offer it first and overflow "
              "after, while clients read on into its TLS. A time-out stays "
              "unreachable; malformed XML, a DTD or an entity declaration "
              "are refused as before and stay unreachable".format(
                  ours["BYTES"], ours["ATTR"], ours["DEPTH"]))
    assert not bad, "; ".join(bad)
