#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Self-test of the lab (tests/lab/lab.py): every server is up and answers
the way docs/lab.md says, checked with independent tools (dig, openssl,
gnutls-cli, a raw XEP-0114 handshake, slixmpp).

Always starts its own lab, so that start and `stop` (which must leave
nothing running) are tested in every run; the lab named by $CERTWATCH_LAB
(scripts/test.sh's, which the other tests share) is left alone.  Prints
one line per check and "N passed, N failed"; exit 0 when all passed.
"""

import asyncio
import hashlib
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lab"))
from lab import Lab, alive, group_alive  # noqa: E402

RESULTS = []


def check(what, ok, detail=""):
    RESULTS.append(bool(ok))
    print("%s - %s%s" % ("ok" if ok else "FAIL", what, (": " + detail) if detail and not ok else ""))
    sys.stdout.flush()


def guarded(fn, *args):
    try:
        fn(*args)
    except Exception as e:  # noqa: BLE001 - any error fails the check
        check("%s raised" % fn.__name__, False, "%s: %s" % (type(e).__name__, e))


def sh(argv, input=None, timeout=20):
    return subprocess.run(argv, input=input, capture_output=True, timeout=timeout,
                          text=isinstance(input, str) or input is None)


# -------------------------------------------------------------------- DNS

def dig(info, name, rtype, server="resolver"):
    p = sh(["dig", "+dnssec", "+time=3", "+tries=1", "@" + info["dns"][server], name, rtype])
    out = p.stdout
    status = re.search(r"status: (\w+)", out)
    flags = re.search(r";; flags: ([a-z ]+);", out)
    answers = [l.split(None, 4) for l in out.splitlines()
               if l and not l.startswith(";") and "\tIN\t" in l.replace(" ", "\t")]
    answers = [a for a in answers if len(a) == 5 and a[3] == rtype]
    return (status.group(1) if status else "NONE",
            (flags.group(1).split() if flags else []), answers)


def test_dns(info):
    st, flags, ans = dig(info, "_xmpp-client._tcp.good.test", "SRV")
    check("good.test SRV is NOERROR with AD", st == "NOERROR" and "ad" in flags and ans,
          "%s %s" % (st, flags))
    st, flags, ans = dig(info, "_xmpp-client._tcp.bogus.test", "SRV")
    check("bogus.test SRV is SERVFAIL", st == "SERVFAIL", st)
    st, flags, ans = dig(info, "_xmpp-client._tcp.unsigned.test", "SRV")
    check("unsigned.test SRV answers without AD", st == "NOERROR" and ans and "ad" not in flags,
          "%s %s" % (st, flags))
    st, flags, ans = dig(info, "_xmpp-client._tcp.nosrv.test", "SRV")
    check("nosrv.test has a secure denial of SRV", st == "NXDOMAIN" and "ad" in flags,
          "%s %s" % (st, flags))
    st, flags, ans = dig(info, "_xmpp-client._tcp.notlsa.test", "SRV")
    target = ans[0][4].split()[-1].rstrip(".") if ans else "?"
    st, flags, ans = dig(info, "_5222._tcp.%s" % target, "TLSA")
    check("notlsa.test: secure proof of no TLSA", st in ("NXDOMAIN", "NOERROR") and not ans
          and "ad" in flags, "%s %s" % (st, flags))

    # Every domain: SRV/TLSA in DNS as lab.json says, with the AD bit its
    # DNSSEC state promises (bogus ones fail).
    for name, d in sorted(info["domains"].items()):
        want_ad = d["dnssec"] == "signed"
        for s in d["srv"][:1]:
            st, flags, ans = dig(info, "_%s._tcp.%s" % (s["service"], name), "SRV")
            if d["dnssec"] == "bogus":
                check("%s SRV is SERVFAIL" % name, st == "SERVFAIL", st)
                continue
            ok = (st == "NOERROR" and ("ad" in flags) == want_ad and
                  any(a[4].split()[-1].rstrip(".") == s["target"] for a in ans))
            check("%s SRV -> %s (%s)" % (name, s["target"], "AD" if want_ad else "no AD"), ok,
                  "%s %s %s" % (st, flags, ans))
        if d["dnssec"] == "bogus":
            continue
        for owner, recs in sorted(d["tlsa"].items()):
            st, flags, ans = dig(info, owner, "TLSA")
            got = sorted(re.sub(r"\s+", "", a[4]).lower() for a in ans)
            want = sorted(r.replace(" ", "").lower() for r in recs)
            check("%s TLSA as in lab.json" % owner, st == "NOERROR" and got == want and
                  ("ad" in flags) == want_ad, "%s %s %s" % (st, flags, got))
    # The authoritative server itself answers, and the anchor is the DS of test.
    st, flags, ans = dig(info, "test", "SOA", server="auth")
    check("knotd answers test. SOA authoritatively", st == "NOERROR" and "aa" in flags, st)
    with open(info["trust_anchor"]) as f:
        anchor = f.read()
    check("trust anchor holds the DS of test.", re.search(r"^test\.\s+DS\s+\d+ 13 2 ", anchor, re.M),
          anchor)
    with open(info["unbound_conf"]) as f:
        conf = f.read()
    check("unbound.conf fragment names the stub and the nodefault local-zone",
          'local-zone: "test." nodefault' in conf and
          "stub-addr: %s@53" % info["dns"]["auth"] in conf, conf)


# -------------------------------------------------------------------- TLS

def spki_of_pem(pem):
    pub = sh(["openssl", "x509", "-noout", "-pubkey"], input=pem).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                         input=pub.encode(), capture_output=True).stdout
    return hashlib.sha256(der).hexdigest() if der else None


def s_client_chain(args):
    p = sh(["openssl", "s_client", "-showcerts", "-verify_return_error"] + args,
           input="", timeout=15)
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n",
                      p.stdout, re.S), p


def test_tls(info):
    ca = info["ca_cert"]
    good, mitm = info["targets"]["good"], info["targets"]["mitm"]
    cases = [
        ("good 5222 STARTTLS", "good",
         ["-connect", good + ":5222", "-starttls", "xmpp", "-xmpphost", "good.test"]),
        ("good 5223 direct TLS", "good",
         ["-connect", good + ":5223", "-servername", "good.test", "-alpn", "xmpp-client"]),
        ("good 5269 s2s STARTTLS", "good",
         ["-connect", good + ":5269", "-starttls", "xmpp-server", "-xmpphost", "good.test"]),
        ("good 5270 s2s direct TLS", "good",
         ["-connect", good + ":5270", "-servername", "good.test", "-alpn", "xmpp-server"]),
        ("good 5222 as rollover.test", "good",
         ["-connect", good + ":5222", "-starttls", "xmpp", "-xmpphost", "rollover.test"]),
        ("good 5222 as nosrv.test", "good",
         ["-connect", good + ":5222", "-starttls", "xmpp", "-xmpphost", "nosrv.test"]),
        ("mitm 5222 STARTTLS", "mitm",
         ["-connect", mitm + ":5222", "-starttls", "xmpp", "-xmpphost", "mitm.test"]),
        ("mitm 5223 direct TLS", "mitm",
         ["-connect", mitm + ":5223", "-servername", "mitm.test"]),
    ]
    for what, key, args in cases:
        chain, p = s_client_chain(args + ["-CAfile", ca])
        spki = spki_of_pem(chain[0]) if chain else None
        check("%s presents the %s key (openssl, chain of %d, verified by the lab CA)"
              % (what, key, len(chain)),
              spki == info["keys"][key]["spki_sha256"] and len(chain) == 2 and p.returncode == 0,
              "spki %s rc %d %s" % (spki, p.returncode, p.stderr[-300:]))
    check("good and mitm keys differ",
          info["keys"]["good"]["spki_sha256"] != info["keys"]["mitm"]["spki_sha256"])

    # An independent TLS stack: gnutls-cli on the direct-TLS ports.
    for key, ip, sni in (("good", good, "good.test"), ("mitm", mitm, "mitm.test")):
        with tempfile.NamedTemporaryFile(suffix=".pem") as tmp:
            p = sh(["gnutls-cli", "--x509cafile=" + ca, "--sni-hostname=" + sni,
                    "--verify-hostname=" + sni, "-p", "5223", "--save-cert=" + tmp.name, ip],
                   input="", timeout=15)
            with open(tmp.name) as f:
                pem = f.read()
        spki = spki_of_pem(pem) if pem else None
        check("gnutls-cli: %s 5223 presents the %s key, trusted" % (ip, key),
              spki == info["keys"][key]["spki_sha256"] and "certificate is trusted" in p.stdout,
              "spki %s %s" % (spki, p.stdout[-300:]))


# --------------------------------------------------------------- fixtures

def raw_stream(ip, port, to, send_after=b"", wait=1.0):
    """Open a client stream, optionally send more, return what came back."""
    with socket.create_connection((ip, port), timeout=5) as s:
        s.sendall(("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                   "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>"
                   % to).encode())
        data = b""
        end = time.monotonic() + wait
        sent = False
        while time.monotonic() < end:
            s.settimeout(max(0.05, end - time.monotonic()))
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                chunk = None
            if chunk == b"":
                return data, True
            if chunk:
                data += chunk
            if send_after and not sent and b"</stream:features>" in data:
                s.sendall(send_after)
                sent = True
                end = time.monotonic() + wait
        return data, False


def test_fixtures(info):
    t = info["targets"]
    data, closed = raw_stream(t["stall"], 5222, "stall.test",
                              b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    check("stall: offers STARTTLS, then no answer to <starttls/>",
          b"<starttls" in data and b"proceed" not in data and not closed, repr(data[-200:]))
    data, closed = raw_stream(t["badxml"], 5269, "badxml.test")
    check("badxml: sends malformed features", b"<<&&" in data, repr(data[-200:]))
    data, closed = raw_stream(t["streamerr"], 5222, "streamerr.test")
    check("streamerr: sends <stream:error> host-unknown and closes",
          b"<stream:error><host-unknown" in data and closed, repr(data[-200:]))
    data, closed = raw_stream(t["notls"], 5222, "notls.test")
    check("notls: features without <starttls/>",
          b"<stream:features>" in data and b"starttls" not in data, repr(data[-200:]))
    data, closed = raw_stream(t["good"], 5222, "good.test")
    check("good Prosody offers <starttls/> to a stream without from (c2s)",
          b"urn:ietf:params:xml:ns:xmpp-tls" in data, repr(data[-300:]))


# -------------------------------------------------------------- component

def component_handshake(host, port, component, secret):
    """XEP-0114: returns True on <handshake/>, False on a refusal."""
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(("<stream:stream xmlns='jabber:component:accept' "
                   "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>"
                   % component).encode())
        data = b""
        while b"id=" not in data or b">" not in data[data.find(b"<stream:stream"):]:
            chunk = s.recv(4096)
            if not chunk:
                return False
            data += chunk
        m = re.search(rb"<stream:stream[^>]*\sid=['\"]([^'\"]+)['\"]", data)
        sid = m.group(1).decode()
        s.sendall(("<handshake>%s</handshake>" % hashlib.sha1(
            (sid + secret).encode()).hexdigest()).encode())
        data = b""
        end = time.monotonic() + 5
        while time.monotonic() < end:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
            if b"<handshake" in data:
                return True
            if b"stream:error" in data or b"</stream:stream>" in data:
                return False
        return False


def test_component(info):
    for name, x in sorted(info["xmpp"].items()):
        ok = component_handshake(x["host"], x["component_port"], x["component"], x["secret"])
        check("%s accepts the component handshake of %s" % (name, x["component"]), ok)
        bad = component_handshake(x["host"], x["component_port"], x["component"],
                                  x["secret"] + "x")
        check("%s refuses a wrong component secret" % name, not bad)


def test_clients(info):
    import slixmpp  # Debian's python3-slixmpp

    async def login(x, user):
        done = asyncio.get_running_loop().create_future()
        c = slixmpp.ClientXMPP(user["jid"], user["password"])
        c.ca_certs = info["ca_cert"]
        c.add_event_handler("session_start", lambda _: done.done() or done.set_result(True))
        c.add_event_handler("failed_auth", lambda _: done.done() or done.set_result(False))
        c.connect((x["host"], x["c2s_port"]))
        try:
            return await asyncio.wait_for(done, 15)
        except asyncio.TimeoutError:
            return False
        finally:
            c.disconnect()
            await asyncio.sleep(0.1)

    async def main():
        for name, x in sorted(info["xmpp"].items()):
            u = x["users"][0]
            check("slixmpp logs in as %s on %s (STARTTLS, lab CA)" % (u["jid"], name),
                  await login(x, u))
            wrong = dict(u, password=u["password"] + "x")
            check("%s refuses a wrong password" % name, not await login(x, wrong))
            check("%s has %d users" % (name, len(x["users"])), len(x["users"]) >= 25)

    logging.basicConfig(level=logging.CRITICAL)
    asyncio.run(main())


def test_files(info):
    for server, path in sorted(info["certwatch_conf"].items()):
        with open(path) as f:
            text = f.read()
        check("certwatch config for %s" % server,
              "via = direct" in text and "allow_private = yes" in text and
              "trust_anchor = %s" % info["trust_anchor"] in text and
              "secret = %s" % info["xmpp"][server]["secret"] in text)
    check("lab.json lists every domain with its verdict",
          all(d.get("expect") for d in info["domains"].values()) and len(info["domains"]) >= 13)


def main():
    t0 = time.monotonic()
    lab = Lab.start(tempfile.mkdtemp(prefix="certwatch-lab-test-"))
    print("# started a lab in %s in %.1f s" % (lab.dir, time.monotonic() - t0))
    check("the lab started is owned (its stop is tested)", lab.owned)
    info = lab.info
    try:
        check("every lab process is running", all(up for _, _, up in lab.status()),
              str(lab.status()))
        for fn in (test_dns, test_tls, test_fixtures, test_component, test_clients, test_files):
            guarded(fn, info)
    finally:
        if lab.owned:
            t0 = time.monotonic()
            lab.stop()
            print("# stopped in %.1f s" % (time.monotonic() - t0))
            left = [p for p in lab.procs if alive(p) or group_alive(p["pid"])]
            check("stop leaves no lab process running", not left, str(left))
            if all(RESULTS):
                shutil.rmtree(lab.dir, ignore_errors=True)
            else:
                print("# lab files kept in %s" % lab.dir)
    passed = sum(RESULTS)
    print("%d passed, %d failed" % (passed, len(RESULTS) - passed))
    return 0 if RESULTS and all(RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
