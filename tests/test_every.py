#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every address (issue 14): the lab's twoaddr.test and twoaddr-nodane.test
have an SRV target with two A records, the good server's and the
impostor's (the mitm key, with a lab-CA certificate naming the domain: a
valid-certificate interceptor of one address among two).

- with DANE: `mismatch` on every run, both addresses in `probes`;
- without DANE: warning `key-split`, exit status at least 1, the summary
  "keys differ between probes";
- through a SOCKS proxy: each address goes as an IP literal, same verdicts;
- a SOCKS proxy that is dead: unreachable probes, never mismatch or split;
- max_addresses = 1: one probe per endpoint;
- twokeys(-both).test: an ECDSA and an RSA certificate, TLSA for one
  (mismatch naming the other) or both (ok);
- [probe] vantages: every address from each; a dead vantage's probes
  unreachable without lowering the verdict; an intercepting vantage's
  probe mismatch under DANE.

Usage: test_every.py CERTWATCH_BIN.
"""
import os
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cwtest import Runner, check_json, lab, write_config  # noqa: E402
from test_limits import ForwardingSocks  # noqa: E402

BIN = sys.argv[1] if len(sys.argv) == 2 else os.environ.get("CERTWATCH_BIN")
RUNS = 3


def LiteralSocks():
    """A SOCKS5 proxy that connects where the request says; its `hosts`
    are what it was asked for (the probe must send IP literals)."""
    return ForwardingSocks(None)


def addrs(info):
    return {info["targets"]["good"], info["targets"]["mitm"]}


def probes_by_addr(e):
    return {p["address"]: p for p in e["probes"]}


def t_dane_mismatch(info, conf, domain="twoaddr.test"):
    """Every run: mismatch, both addresses probed, the impostor's probe
    mismatch with its key, the good one's ok."""
    good, mitm = info["keys"]["good"], info["keys"]["mitm"]
    for _ in range(RUNS):
        rc, res, _ = check_json(BIN, conf, domain)
        assert rc == 2 and res["verdict"] == "mismatch", res
        [e] = res["endpoints"]
        assert e["verdict"] == "mismatch", e
        assert e["spki_sha256"] == mitm["spki_sha256"], e
        by = probes_by_addr(e)
        assert set(by) == addrs(info), e["probes"]
        pm = by[info["targets"]["mitm"]]
        pg = by[info["targets"]["good"]]
        assert pm["verdict"] == "mismatch", pm
        assert pm["spki_sha256"] == mitm["spki_sha256"], pm
        assert pg["verdict"] == "ok", pg
        assert pg["spki_sha256"] == good["spki_sha256"], pg
        for p in (pm, pg):
            assert p["cert_sha256"] and p["issuer"] and p["not_before"], p
            assert p["key_type"] in ("ecdsa", "rsa", "ed25519"), p
    return res


def t_split(info, conf, domain="twoaddr-nodane.test"):
    """No DANE: key-split naming both keys; exit >= 1; the summary."""
    good, mitm = info["keys"]["good"], info["keys"]["mitm"]
    rc, res, _ = check_json(BIN, conf, domain)
    assert rc >= 1, (rc, res)
    [e] = res["endpoints"]
    assert set(probes_by_addr(e)) == addrs(info), e["probes"]
    splits = [w for w in res["warnings"] if w["code"] == "key-split"]
    assert len(splits) == 1, res["warnings"]
    for k in (good, mitm):
        assert k["spki_sha256"][:16] in splits[0]["text"], splits
    p = subprocess.run([BIN, "check", "-c", conf, domain],
                       capture_output=True, text=True, timeout=120)
    first = p.stdout.splitlines()[0]
    assert p.returncode >= 1, p
    assert "keys differ between probes (" in first, first
    # Probes differ: one line each.
    assert p.stdout.count("  probe ") == 2, p.stdout


def t_one_address_no_split(info, conf):
    """The lab's good.test (one address, one key per port's endpoint):
    no warnings, one probe per endpoint, exit 0 as before."""
    rc, res, _ = check_json(BIN, conf, "good.test")
    assert rc == 0 and res["verdict"] == "ok", res
    assert res["warnings"] == [], res["warnings"]
    for e in res["endpoints"]:
        assert len(e["probes"]) == 1, e


def t_socks(info, d):
    """Through SOCKS: the two addresses go as literals; same verdicts."""
    proxy = LiteralSocks()
    conf = write_config(info, os.path.join(d, "socks.conf"),
                        probe={"via": "tor",
                               "tor_socks": "127.0.0.1:%d" % proxy.port})
    try:
        res = t_dane_mismatch(info, conf)
        assert all(p["vantage"] == "tor" for p in res["endpoints"][0]["probes"])
        t_split(info, conf)
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert set(proxy.hosts) == addrs(info), proxy.hosts


def t_dead_socks(info, d):
    """A dead proxy: every probe unreachable, never mismatch or split."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    conf = write_config(info, os.path.join(d, "dead.conf"),
                        probe={"via": "tor",
                               "tor_socks": "127.0.0.1:%d" % port})
    # Without DANE the verdict is the DNS's (no-tlsa), as in one probe.
    for domain, want in (("twoaddr.test", "unreachable"),
                         ("twoaddr-nodane.test", "no-tlsa")):
        rc, res, _ = check_json(BIN, conf, domain)
        assert res["verdict"] == want, res
        assert res["warnings"] == [], res
        [e] = res["endpoints"]
        assert len(e["probes"]) == 2, e
        for p in e["probes"]:
            assert p["verdict"] == want and p["spki_sha256"] is None, p
            assert p["error"]["step"] == "tor", p


def t_max_addresses(info, d):
    conf = write_config(info, os.path.join(d, "one.conf"),
                        probe={"via": "direct", "timeout": "10",
                               "allow_private": "yes", "max_addresses": "1"})
    _, res, _ = check_json(BIN, conf, "twoaddr.test")
    [e] = res["endpoints"]
    assert len(e["probes"]) == 1, e


def t_vantages(info, d):
    """[probe] vantages = direct, a SOCKS proxy that passes through, a
    dead one, one that intercepts: every address from each vantage; the
    dead one's probes unreachable without lowering the verdict; the
    intercepting one's probe is mismatch under DANE."""
    # The intercepting vantage: every connection goes to the impostor.
    live, bad = LiteralSocks(), ForwardingSocks(info["targets"]["mitm"])
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    names = ["direct", "socks5://127.0.0.1:%d" % live.port,
             "socks5://127.0.0.1:%d" % dead]
    conf = write_config(info, os.path.join(d, "v.conf"),
                        probe={"via": "direct", "timeout": "10",
                               "allow_private": "yes",
                               "vantages": ", ".join(names)})
    try:
        rc, res, _ = check_json(BIN, conf, "twoaddr.test")
        assert rc == 2 and res["verdict"] == "mismatch", res
        [e] = res["endpoints"]
        got = {(p["address"], p["vantage"]): p for p in e["probes"]}
        assert set(got) == {(a, v) for a in addrs(info) for v in names}, got
        for (a, v), p in got.items():
            if v == names[2]:
                assert p["verdict"] == "unreachable", p
            else:
                want = "mismatch" if a == info["targets"]["mitm"] else "ok"
                assert p["verdict"] == want, p
        # Only the dead vantage: unreachable probes, never mismatch/split.
        rc, res, _ = check_json(BIN, conf, "good.test")
        assert rc == 0 and res["verdict"] == "ok", res
        assert res["warnings"] == [], res["warnings"]
        for e in res["endpoints"]:
            assert len(e["probes"]) == 3, e
        # One vantage intercepted, the domain's one address not.
        conf2 = write_config(info, os.path.join(d, "v2.conf"),
                             probe={"via": "direct", "timeout": "10",
                                    "allow_private": "yes",
                                    "vantages": "direct, socks5://127.0.0.1:%d"
                                    % bad.port})
        rc, res, _ = check_json(BIN, conf2, "switch.test")
        assert rc == 2 and res["verdict"] == "mismatch", res
        for e in res["endpoints"]:
            v = {p["vantage"]: p["verdict"] for p in e["probes"]}
            assert v == {"direct": "ok",
                         "socks5://127.0.0.1:%d" % bad.port: "mismatch"}, e
    finally:
        for p in (live, bad):
            p.shutdown()
            p.server_close()


def t_bad_vantages(info, d):
    for bad in ("xmpp:someone@example.org", "socks5://name:9050", ""):
        conf = write_config(info, os.path.join(d, "bad.conf"),
                            probe={"vantages": bad})
        p = subprocess.run([BIN, "check", "-c", conf, "good.test"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode != 0 and "vantages" in p.stdout + p.stderr, \
            (bad, p)


def t_two_keys(info, conf):
    """An ECDSA and an RSA certificate: TLSA for the ECDSA key only gives
    mismatch naming the RSA key; TLSA for both gives ok, both shown."""
    good, rsa = info["keys"]["good"], info["keys"]["rsa"]
    rc, res, _ = check_json(BIN, conf, "twokeys.test")
    assert rc == 2 and res["verdict"] == "mismatch", res
    [e] = res["endpoints"]
    assert e["spki_sha256"] == rsa["spki_sha256"], e
    kt = {p["key_type"]: p for p in e["probes"]}
    assert set(kt) == {"ecdsa", "rsa"}, e["probes"]
    assert kt["rsa"]["verdict"] == "mismatch", kt
    assert kt["rsa"]["spki_sha256"] == rsa["spki_sha256"], kt
    assert kt["ecdsa"]["verdict"] == "ok", kt
    assert kt["ecdsa"]["spki_sha256"] == good["spki_sha256"], kt
    assert res["warnings"] == [], res["warnings"]   # two types: no split
    rc, res, _ = check_json(BIN, conf, "twokeys-both.test")
    assert rc == 0 and res["verdict"] == "ok", res
    [e] = res["endpoints"]
    got = {p["key_type"]: (p["spki_sha256"], p["verdict"]) for p in e["probes"]}
    assert got == {"ecdsa": (good["spki_sha256"], "ok"),
                   "rsa": (rsa["spki_sha256"], "ok")}, got


def main():
    r = Runner()
    with lab() as info, tempfile.TemporaryDirectory() as d:
        conf = write_config(info, os.path.join(d, "certwatch.conf"))
        r.run("two addresses, DANE: mismatch on every run", t_dane_mismatch,
              info, conf)
        r.run("two addresses, no DANE: key-split", t_split, info, conf)
        r.run("one address: no split, one probe", t_one_address_no_split,
              info, conf)
        r.run("through SOCKS: IP literals, same verdicts", t_socks, info, d)
        r.run("dead SOCKS proxy: unreachable, no split", t_dead_socks,
              info, d)
        r.run("max_addresses = 1: one probe", t_max_addresses, info, d)
        r.run("vantages: every address from each", t_vantages, info, d)
        r.run("vantages: bad entries refused", t_bad_vantages, info, d)
        r.run("two key types: each judged", t_two_keys, info, conf)
    return r.finish()


if __name__ == "__main__":
    sys.exit(main())
