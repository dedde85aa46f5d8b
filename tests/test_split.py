#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_split.py - key-split and vantages against the real lab (issue 14;
docs/usage.md, "Probes" and "key-split").

switch.test (four endpoints on the lab's switch server, also served by the
impostor `mitm` with a lab-CA certificate) is made to lie in one place only:

  1. ports: an iptables DNAT rule sends its port 5222 alone to the
     impostor, as in the 2023 jabber.ru interception.  Without DANE
     (`Lab.zone_set(..., "notlsa")`): warning `key-split` naming port 5222
     and the other ports, `check` exits at least 1 with "keys differ
     between probes"; with DANE: `mismatch` on 5222 only.  The rule gone:
     no split.
  2. vantages: only one vantage's traffic is intercepted.  A SOCKS proxy
     of the test that connects every request to the impostor; and the
     lab's private Tor network, with the DNAT rule matching only the Tor
     exits' connections (iptables owner match on root while certwatch runs
     as nobody): split across vantages without DANE, `mismatch` of that
     vantage's probes with DANE, the other vantage's probes `ok`.
  3. a dead vantage (SOCKS and Tor): its probes unreachable at step `tor`,
     never a mismatch or a split, the verdict that of the live vantage;
     a socks5:// vantage that knows no authentication (as `ssh -D`) works,
     Tor at such a port is refused (it must isolate each probe).
  4. [probe] concurrency and [limits] probes_per_minute count every probe
     (each address, vantage and key type): SOCKS proxies that hold each
     CONNECT a moment see at most `concurrency` held at once, the probe
     past the bucket waits for a token, and /metrics'
     certwatch_probes_queued counts the probes an endpoint still owes.
  5. the chat reply, the ad-hoc form and the web page of a split show it
     and a probe line per address; where the probes agree, neither.

Needs root (the lab, iptables, setpriv).  Usage: test_split.py CERTWATCH_BIN.
Reuses the lab of $CERTWATCH_LAB and the Tor network of $CERTWATCH_TORNET,
or starts its own.
"""
import asyncio
import logging
import os
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "lab"))
from cwtest import Runner, check_json, free_port, write_config  # noqa: E402
from lab import Lab  # noqa: E402
from test_limits import ForwardingSocks, pipe, recv_exact  # noqa: E402
from test_tor_check import nobody_dir, tor_network  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) == 2 else
                      os.environ.get("CERTWATCH_BIN",
                                     "build/component/certwatch"))
DOMAIN = "switch.test"
NOBODY = 65534
TAG = "certwatch-test-split-%d" % os.getpid()
PORTS = {5222, 5223, 5269, 5270}


def dnat(op, dst, port, to, uid=None):
    """Port `port` of dst sent to `to` (loopback output), for the
    connections of user `uid` only when given."""
    rule = ["OUTPUT", "-d", dst, "-p", "tcp", "--dport", str(port)]
    if uid is not None:
        rule += ["-m", "owner", "--uid-owner", str(uid)]
    rule += ["-m", "comment", "--comment", TAG, "-j", "DNAT",
             "--to-destination", "%s:%d" % (to, port)]
    subprocess.run(["iptables", "-t", "nat", op] + rule,
                   check=(op != "-D"), capture_output=True)


def dnat_packets():
    out = subprocess.run(["iptables", "-t", "nat", "-L", "OUTPUT", "-v",
                          "-x", "-n"], capture_output=True, text=True).stdout
    return sum(int(line.split()[0]) for line in out.splitlines()
               if TAG in line)


def text_check(conf, domain=DOMAIN):
    p = subprocess.run([BIN, "check", "-c", conf, domain],
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout


def by_port(res):
    return {e["port"]: e for e in res["endpoints"]}


def splits(res):
    return [w["text"] for w in res["warnings"] if w["code"] == "key-split"]


def names(text, vantage):
    """Does a key-split text name a probe of this vantage?"""
    return "via %s vs " % vantage in text or "via %s)" % vantage in text


def keys_of(e):
    return {p["spki_sha256"] for p in e["probes"]}


# ---- 1. one port redirected -----------------------------------------------

def t_port_split(lab, info, conf):
    """Port 5222 alone to the impostor: key-split without DANE, mismatch
    on 5222 alone with DANE; the rule gone, nothing."""
    good, mitm = info["keys"]["good"], info["keys"]["mitm"]
    ip = info["switchable"][DOMAIN]["ip"]
    dnat("-A", ip, 5222, info["targets"]["mitm"])
    try:
        lab.zone_set(DOMAIN, "notlsa")
        rc, res, _ = check_json(BIN, conf, DOMAIN)
        assert res["verdict"] == "no-tlsa" and rc >= 1, (rc, res)
        ports = by_port(res)
        assert set(ports) == PORTS, ports
        for port, e in ports.items():
            want = mitm if port == 5222 else good
            assert keys_of(e) == {want["spki_sha256"]}, e
        s = splits(res)
        # 5222 against each of the other three ports.
        assert len(s) == 3, res["warnings"]
        for text in s:
            assert "port 5222" in text, s
            assert mitm["spki_sha256"][:16] in text, s
            assert good["spki_sha256"][:16] in text, s
        # No TLSA line for a key that may be the impostor's.
        assert res["setup"] == [], res["setup"]
        rc, out = text_check(conf)
        first = out.splitlines()[0]
        assert rc >= 1 and "keys differ between probes (" in first, out
        assert out.count("warning (key-split)") == 3, out
        assert "No TLSA records are offered while keys differ" in out, out
        assert "TLSA records to add" not in out, out
        # One probe per endpoint, all alike: no probe lines.
        assert "  probe " not in out, out

        lab.zone_set(DOMAIN, "normal")
        rc, res, _ = check_json(BIN, conf, DOMAIN)
        assert rc == 2 and res["verdict"] == "mismatch", res
        for port, e in by_port(res).items():
            want = "mismatch" if port == 5222 else "ok"
            assert e["verdict"] == want, e
    finally:
        dnat("-D", ip, 5222, info["targets"]["mitm"])
        lab.zone_set(DOMAIN, "normal")
    lab.zone_set(DOMAIN, "notlsa")
    try:
        rc, res, _ = check_json(BIN, conf, DOMAIN)
        assert res["verdict"] == "no-tlsa" and res["warnings"] == [], res
        assert len(res["setup"]) == 4, res["setup"]
        rc, out = text_check(conf)
        assert "keys differ" not in out, out
    finally:
        lab.zone_set(DOMAIN, "normal")


# ---- 2. one vantage intercepted -------------------------------------------

def vantage_split(lab, info, conf, liar, other):
    """switch.test checked with vantages `other` and `liar`, where `liar`
    alone reaches the impostor (at least on 5222): without DANE a split
    naming both vantages, with DANE `mismatch` of the liar's probe."""
    good, mitm = info["keys"]["good"], info["keys"]["mitm"]
    lab.zone_set(DOMAIN, "notlsa")
    try:
        rc, res, _ = check_json(BIN, conf, DOMAIN)
        assert res["verdict"] == "no-tlsa" and rc >= 1, (rc, res)
        e = by_port(res)[5222]
        got = {p["vantage"]: p["spki_sha256"] for p in e["probes"]}
        assert got == {other: good["spki_sha256"],
                       liar: mitm["spki_sha256"]}, e["probes"]
        # The split within the endpoint: 5222 across the two vantages.
        s = [t for t in splits(res) if t.count("port 5222,") == 2]
        assert len(s) == 1 and names(s[0], liar) and names(s[0], other), \
            res["warnings"]
        rc, out = text_check(conf)
        assert rc >= 1 and "keys differ between probes (" in \
            out.splitlines()[0], out
        # 5222's probes differ: a line each; the others' do not.
        assert "  probe %s via %s: no-tlsa, key %s" % (
            info["switchable"][DOMAIN]["ip"], liar,
            mitm["spki_sha256"]) in out, out
        lab.zone_set(DOMAIN, "normal")
        rc, res, _ = check_json(BIN, conf, DOMAIN)
        assert rc == 2 and res["verdict"] == "mismatch", res
        e = by_port(res)[5222]
        got = {p["vantage"]: p["verdict"] for p in e["probes"]}
        assert got == {other: "ok", liar: "mismatch"}, e["probes"]
        assert e["spki_sha256"] == mitm["spki_sha256"], e
    finally:
        lab.zone_set(DOMAIN, "normal")
    return res


def t_socks_liar(lab, info, d):
    """A SOCKS vantage that sends every connection to the impostor."""
    bad = ForwardingSocks(info["targets"]["mitm"])
    liar = "socks5://127.0.0.1:%d" % bad.port
    conf = write_config(info, os.path.join(d, "liar.conf"),
                        probe={"vantages": "direct, " + liar})
    try:
        res = vantage_split(lab, info, conf, liar, "direct")
        # Every port through it: mismatch everywhere it went.
        for e in res["endpoints"]:
            v = {p["vantage"]: p["verdict"] for p in e["probes"]}
            assert v == {"direct": "ok", liar: "mismatch"}, e
    finally:
        bad.shutdown()
        bad.server_close()


def t_tor_liar(lab, info, d, net):
    """Vantages direct and tor; the DNAT rule for root's connections
    only, that is the lab's Tor exits' (certwatch runs as nobody): the tor
    vantage alone meets the impostor on 5222."""
    if net is None:
        raise AssertionError("no Tor network")
    # test_tor_check's config for nobody, through Tor, given a second
    # vantage: direct.
    conf = nobody_dir(info, d, net)["tor"]
    with open(conf, encoding="utf-8") as f:
        text = f.read()
    with open(conf, "w", encoding="utf-8") as f:
        f.write(text.replace("[probe]\n", "[probe]\nvantages = direct, tor\n",
                             1))
    ip = info["switchable"][DOMAIN]["ip"]
    global BIN
    real = BIN
    wrapper = os.path.join(d, "as-nobody")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec setpriv --reuid %d --regid %d "
                "--clear-groups -- %s \"$@\"\n" % (NOBODY, NOBODY, real))
    os.chmod(wrapper, 0o755)
    dnat("-A", ip, 5222, info["targets"]["mitm"], uid=0)
    BIN = wrapper
    try:
        vantage_split(lab, info, conf, "tor", "direct")
        assert dnat_packets() > 0, "the rule never matched"
    finally:
        BIN = real
        dnat("-D", ip, 5222, info["targets"]["mitm"], uid=0)


# ---- 3. a dead vantage --------------------------------------------------

def t_dead_vantage(lab, info, d):
    """A dead SOCKS vantage and a dead Tor: unreachable probes at step
    tor; the verdict and the split are the live vantage's."""
    dead = free_port()
    for name, probe in (
            ("socks", {"vantages": "direct, socks5://127.0.0.1:%d" % dead}),
            ("tor", {"vantages": "direct, tor",
                     "tor_socks": "127.0.0.1:%d" % dead})):
        conf = write_config(info, os.path.join(d, "dead-%s.conf" % name),
                            probe=probe)
        for variant, want in (("normal", "ok"), ("notlsa", "no-tlsa")):
            lab.zone_set(DOMAIN, variant)
            try:
                rc, res, _ = check_json(BIN, conf, DOMAIN)
            finally:
                lab.zone_set(DOMAIN, "normal")
            assert res["verdict"] == want and res["warnings"] == [], res
            for e in res["endpoints"]:
                assert e["verdict"] == want, e
                assert len(e["probes"]) == 2, e
                for p in e["probes"]:
                    if p["vantage"] == "direct":
                        assert p["verdict"] == want, p
                    else:
                        assert p["verdict"] in ("unreachable", want), p
                        assert p["spki_sha256"] is None, p
                        assert p["error"]["step"] == "tor", p
        # The text says which vantage is down, as the service's fault.
        vname = probe["vantages"].split(", ")[1]
        _, out = text_check(conf)
        assert "The vantage %s of the certwatch service does not work" % (
            vname) in out, out


# ---- 4. the limits count every probe ------------------------------------

class HoldingSocks(socketserver.ThreadingTCPServer):
    """A SOCKS5 proxy that connects where the request says after holding
    the CONNECT `hold` seconds; `held` counts requests being held (shared
    by the proxies of one `stats`), `peak` its highest value, `starts`
    the time of each request."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, stats, hold, noauth=False):
        super().__init__(("127.0.0.1", 0), HoldingHandler)
        self.stats, self.hold, self.noauth = stats, hold, noauth
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()


class HoldStats:
    def __init__(self):
        self.lock = threading.Lock()
        self.held = self.peak = 0
        self.starts = []
        self.offers = []        # the methods each greeting offered


class HoldingHandler(socketserver.BaseRequestHandler):
    def handle(self):
        c, st = self.request, self.server.stats
        c.settimeout(10)
        try:
            _, n = recv_exact(c, 2)
            offered = recv_exact(c, n)
            st.offers.append(bytes(offered))
            # `noauth`: as ssh -D, no authentication or nothing.
            method = (0 if 0 in offered else 0xff) if self.server.noauth \
                else 2 if 2 in offered else 0
            c.sendall(bytes([5, method]))
            if method == 0xff:
                return
            if method == 2:
                recv_exact(c, recv_exact(c, 2)[1])
                recv_exact(c, recv_exact(c, 1)[0])
                c.sendall(b"\x01\x00")
            atyp = recv_exact(c, 4)[3]
            if atyp != 1:
                return
            host = socket.inet_ntop(socket.AF_INET, recv_exact(c, 4))
            port = int.from_bytes(recv_exact(c, 2), "big")
            with st.lock:
                st.held += 1
                st.peak = max(st.peak, st.held)
                st.starts.append(time.monotonic())
            time.sleep(self.server.hold)
            with st.lock:
                st.held -= 1
            with socket.create_connection((host, port), 10) as up:
                c.sendall(b"\x05\x00\x00\x01" + bytes(6))
                pipe(c, up)
        except (OSError, EOFError, ValueError):
            pass


def check_via(px, info, path, probe, domain):
    """check --json of `domain` with [probe] `probe`; the proxy px is shut
    down after.  (exit status, result)"""
    conf = write_config(info, path, probe=probe)
    try:
        rc, res, _ = check_json(BIN, conf, domain)
    finally:
        px.shutdown()
        px.server_close()
    return rc, res


def t_noauth_vantage(info, d):
    """A socks5:// vantage that knows no authentication (as `ssh -D`):
    its probes work; Tor at the same port is refused (a tor vantage
    offers username/password only, for a circuit per probe), unreachable
    at step tor, never lowering the verdict."""
    st = HoldStats()
    px = HoldingSocks(st, 0.0, noauth=True)
    name = "socks5://127.0.0.1:%d" % px.port
    rc, res = check_via(px, info, os.path.join(d, "noauth.conf"), {
        "vantages": "direct, %s, tor" % name,
        "tor_socks": "127.0.0.1:%d" % px.port}, "good.test")
    assert rc == 0 and res["verdict"] == "ok", res
    assert res["warnings"] == [], res["warnings"]
    good = info["keys"]["good"]["spki_sha256"]
    for e in res["endpoints"]:
        v = {p["vantage"]: p for p in e["probes"]}
        assert set(v) == {"direct", name, "tor"}, e["probes"]
        assert v[name]["verdict"] == "ok", v[name]
        assert v[name]["spki_sha256"] == good, v[name]
        assert v["tor"]["verdict"] == "unreachable", v["tor"]
        assert "accepts none" in v["tor"]["error"]["reason"], v["tor"]
    assert b"\x02\x00" in st.offers and b"\x02" in st.offers, st.offers


def t_two_key_types_setup(info, d):
    """Without DANE, a server holding an ECDSA and an RSA certificate (the
    lab's twokeys fixture, reached through a SOCKS vantage that sends
    notlsa.test's connections there): the TLSA lines to add name both
    keys, for both need records; no split between two key types."""
    px = ForwardingSocks(info["targets"]["twokeys"])
    _, res = check_via(px, info, os.path.join(d, "tk.conf"), {
        "vantages": "socks5://127.0.0.1:%d" % px.port}, "notlsa.test")
    assert res["verdict"] == "no-tlsa" and res["warnings"] == [], res
    e = by_port(res)[5222]
    assert {p["key_type"] for p in e["probes"]} == {"ecdsa", "rsa"}, e
    want = {"_5222._tcp.%s. IN TLSA 3 1 1 %s" % (
        e["host"], info["keys"][k]["spki_sha256"]) for k in ("good", "rsa")}
    assert want <= set(res["setup"]), res["setup"]


def holding_run(info, d, name, hold, **limits):
    """twoaddr-nodane.test (one endpoint, two addresses) from three
    holding proxies: 6 probes and the other key type's handshake."""
    st = HoldStats()
    px = [HoldingSocks(st, hold) for _ in range(3)]
    probe = {"vantages": ", ".join("socks5://127.0.0.1:%d" % p.port
                                   for p in px)}
    probe.update(limits.get("probe", {}))
    conf = write_config(info, os.path.join(d, name + ".conf"), probe=probe,
                        limits=limits.get("limits", {}))
    try:
        t0 = time.monotonic()
        _, res, _ = check_json(BIN, conf, "twoaddr-nodane.test")
    finally:
        for p in px:
            p.shutdown()
            p.server_close()
    [e] = res["endpoints"]
    assert len(e["probes"]) == 6, e["probes"]
    assert len(st.starts) == 7, st.starts     # + the other key type
    return st, [t - t0 for t in sorted(st.starts)]


def t_concurrency(info, d):
    """concurrency = 1: never two probes at once; the default (32): the
    six start together (so the proxies can see more than one)."""
    st, _ = holding_run(info, d, "c1", 0.3, probe={"concurrency": "1"})
    assert st.peak == 1, st.peak
    st, _ = holding_run(info, d, "c32", 0.3)
    assert st.peak >= 6, st.peak


def t_probes_per_minute(info, d):
    """probes_per_minute = 6: the bucket starts full, so six probes start
    at once and the seventh (the other key type's) ten seconds later."""
    st, at = holding_run(info, d, "ppm", 0.0,
                         limits={"probes_per_minute": "6"})
    assert at[5] - at[0] < 3, at
    assert 8 <= at[6] - at[0] <= 16, at


def assert_clean_log(path):
    """No sanitizer report in a daemon's log (a sanitizer build)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    assert "Sanitizer" not in log and "runtime error:" not in log, log


def check_page(port, domain):
    """The web report page of `domain`, once the check has ended."""
    import test_web
    while True:
        st, _, body = test_web.req("GET", "/check?domain=" + domain,
                                   port=port)
        if b'id="checking"' not in body:
            return st, body.decode()
        time.sleep(0.3)


def t_web_page(info, d):
    """The web page: twoaddr-nodane.test's split listed in full and one
    probe line per address; good.test's page (probes alike) with neither,
    as before issue 14."""
    import test_web
    test_web.BIN = BIN
    port = free_port()
    conf = write_config(
        info, os.path.join(d, "w.conf"),
        component={"jid": "certwatch.split.invalid", "host": "127.0.0.1",
                   "port": str(free_port()), "secret": "unused"},
        watch={"interval": "86400"}, store={"dir": os.path.join(d, "sw")},
        http={"listen": "127.0.0.1:%d" % port, "checks_per_minute": "0"})
    dm = test_web.Daemon(conf, port, os.path.join(d, "w.log"))
    dm.start()
    try:
        st, split = check_page(port, "twoaddr-nodane.test")
        st2, good = check_page(port, "good.test")
    finally:
        dm.stop()
    assert_clean_log(os.path.join(d, "w.log"))
    assert st == 200 and st2 == 200, (st, st2)
    assert '<ul id="warnings">\n<li class="err">warning (key-split): keys ' \
        'differ between probes' in split, split
    pre = split[split.index('<pre class="probes">'):]
    pre = pre[:pre.index("</pre>")]
    for a in (info["targets"]["good"], info["targets"]["mitm"]):
        assert "  probe %s via direct: no-tlsa, key " % a in pre, pre
    assert 'id="warnings"' not in good and 'class="probes"' not in good, good


async def chat_and_form(info, d):
    """check by chat and by ad-hoc command, of twoaddr-nodane.test (its
    two addresses show two keys) and good.test (probes alike)."""
    import test_component as tc
    from test_hostile import daemon_conf
    x = info["xmpp"]["prosody"]
    comp, user = x["component"], x["users"][20]
    conf = daemon_conf(info, "prosody", d)
    log = open(os.path.join(d, "chat.log"), "wb")
    bot = subprocess.Popen([BIN, "run", "-c", conf], stdout=log,
                           stderr=subprocess.STDOUT)
    c, out = None, {}
    try:
        assert await tc.wait_bot(x, user, comp), "the bot never answered"
        c = await tc.connect(x, user, comp)
        for domain in ("twoaddr-nodane.test", "good.test"):
            chat = await c.report(domain)
            r = await tc.command(c, "check", action="execute")
            r = await tc.command(c, "check", action="complete",
                                 sessionid=r.get("sessionid"), domain=domain)
            out[domain] = (chat, tc.form_values(r))
    finally:
        if c is not None:
            c.disconnect()
        bot.terminate()
        bot.wait(15)
        log.close()
    return out


def t_chat_and_form(info, d):
    """Chat and the ad-hoc form show a probe line per address only where
    the probes differ, and the split; where they agree, as before."""
    out = asyncio.run(chat_and_form(info, d))
    assert_clean_log(os.path.join(d, "chat.log"))
    chat, form = out["twoaddr-nodane.test"]
    assert "keys differ between probes (" in chat.splitlines()[0], chat
    assert chat.count("\n  probe ") == 2, chat
    assert form["endpoint.1.probe.1"].startswith("probe "), form
    assert form["endpoint.1.probe.2"].startswith("probe "), form
    assert "endpoint.1.probe.3" not in form, form
    assert sum("  probe " in line for line in form["report"]) == 2, form
    chat, form = out["good.test"]
    assert "probe " not in chat and "keys differ" not in chat, chat
    assert not [k for k in form if ".probe." in k], form


def t_queued_gauge(info, d):
    """certwatch_probes_queued counts probes, not endpoints: with
    concurrency = 1 and one endpoint owing six probes (two addresses,
    three vantages), the gauge says 5 while the first is held."""
    import test_web
    test_web.BIN = BIN
    st = HoldStats()
    px = [HoldingSocks(st, 1.0) for _ in range(3)]
    port = free_port()
    conf = write_config(
        info, os.path.join(d, "q.conf"),
        component={"jid": "certwatch.split.invalid", "host": "127.0.0.1",
                   "port": str(free_port()), "secret": "unused"},
        probe={"concurrency": "1", "vantages": ", ".join(
            "socks5://127.0.0.1:%d" % p.port for p in px)},
        watch={"interval": "86400"}, store={"dir": os.path.join(d, "sq")},
        http={"listen": "127.0.0.1:%d" % port, "checks_per_minute": "0"})
    dm = test_web.Daemon(conf, port, os.path.join(d, "q.log"))
    seen = []
    dm.start()
    try:
        t = threading.Thread(target=test_web.req, args=(
            "GET", "/probe?domain=twoaddr-nodane.test"),
            kwargs={"port": port, "timeout": 60})
        t.start()
        while t.is_alive():
            m = test_web.req("GET", "/metrics", port=port)[2].decode()
            seen.append((test_web.metric(m, "certwatch_probes_in_flight"),
                         test_web.metric(m, "certwatch_probes_queued")))
            time.sleep(0.2)
        t.join()
    finally:
        dm.stop()
        for p in px:
            p.shutdown()
            p.server_close()
    assert_clean_log(os.path.join(d, "q.log"))
    assert st.peak == 1 and len(st.starts) == 7, (st.peak, st.starts)
    assert max(q for _, q in seen) == 5, seen
    assert all(f <= 1 for f, _ in seen), seen


def main():
    logging.basicConfig(level=logging.CRITICAL)
    r = Runner()
    tmp = tempfile.mkdtemp(prefix="cw-split-")
    started = []        # a Tor network of our own, to stop
    try:
        with Lab.from_env() as lab:
            info = lab.info
            conf = write_config(info, os.path.join(tmp, "direct.conf"))
            r.run("one port redirected: key-split without DANE, mismatch "
                  "with it", t_port_split, lab, info, conf)
            r.run("a lying SOCKS vantage: split across vantages, mismatch "
                  "with DANE", t_socks_liar, lab, info, tmp)
            r.run("dead vantages: unreachable probes, never split or "
                  "mismatch", t_dead_vantage, lab, info, tmp)
            r.run("a SOCKS vantage without authentication (ssh -D)",
                  t_noauth_vantage, info, tmp)
            r.run("two key types without DANE: a TLSA line for each",
                  t_two_key_types_setup, info, tmp)
            r.run("concurrency counts every probe", t_concurrency, info, tmp)
            r.run("probes_per_minute counts every probe",
                  t_probes_per_minute, info, tmp)
            r.run("chat and ad-hoc: probe lines and the split only where "
                  "probes differ", t_chat_and_form, info, tmp)
            r.run("the web page: probe lines and the split only where "
                  "probes differ", t_web_page, info, tmp)
            r.run("the probes queued gauge counts every probe",
                  t_queued_gauge, info, tmp)
            net, own = tor_network(info, tmp)
            started += [own] if own else []
            r.run("the Tor exits intercepted: split across vantages, "
                  "mismatch with DANE", t_tor_liar, lab, info, tmp, net)
    finally:
        for net in started:
            net.stop()
    rc = r.finish()
    if rc == 0:
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
