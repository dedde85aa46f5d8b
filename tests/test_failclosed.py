#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fail closed (issue 13): impostors in the lab (tests/lab/fixtures.py,
docs/lab.md) that try to make certwatch quieter than `mismatch` on a domain
whose signed TLSA records publish the good key.  Each must give `mismatch`,
never `ok` or `unreachable`, with the impostor's key shown:

- reenc.test: the MITM leaf with a non-minimal outer DER length;
- hugeid.test: a 1,500-byte stream id before STARTTLS;
- snisel.test: an interceptor that selects by SNI (the domain: MITM key;
  the SRV target: passed through to the good server);
- hugeexp.test: the MITM leaf under a look-alike CA with a 16,384-bit RSA
  exponent, named by `2 x x` / `0 x x` records: the check must end fast, and
  a running daemon must keep answering chat (p99 of `help` under 50 ms)
  while it checks that domain.

Usage: test_failclosed.py CERTWATCH_BIN.  Uses the lab's Prosody component
JID for the daemon part, so it does not share a lab with test_hostile.py
or test_component.py at the same time (meson: is_parallel false).
"""
import asyncio
import base64
import logging
import math
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cwtest import Runner, check_json, lab, write_config  # noqa: E402
import reliability  # noqa: E402

BIN = sys.argv[1] if len(sys.argv) == 2 else os.environ.get("CERTWATCH_BIN")
QUICK_S = 2.0           # a whole check of hugeexp.test (the lab's take 0.1-0.3 s)
HELP_P99_S = 0.050      # chat latency while the hostile chain is checked
HELP_EVERY_S = 0.02     # one `help` sent every 20 ms, whatever the replies do
CHECKS = 20             # checks of hugeexp.test in a row while helps are sent
                        # (by a user of its own per attempt: 30 commands a minute)


def checked(info, conf, domain, extra=None, limit_s=None):
    """`check --json DOMAIN` must give: exit 2, mismatch on every endpoint,
    each showing the MITM key as the key seen with SNI = the domain; then
    what extra(result) says is wrong, and a time under limit_s.  The
    figures go to $CERTWATCH_RELIABILITY (docs/reliability.md)."""
    t0 = time.monotonic()
    rc, res, _ = check_json(BIN, conf, domain)
    took = time.monotonic() - t0
    bad = []
    if rc != 2 or res["verdict"] != "mismatch":
        bad.append("exit %d, verdict %s" % (rc, res["verdict"]))
    want = info["keys"]["mitm"]["spki_sha256"]
    for e in res["endpoints"]:
        if e["verdict"] != "mismatch" or e["matched"] is not None:
            bad.append("port %d: %s, matched %s" % (e["port"], e["verdict"], e["matched"]))
        if e["spki_sha256"] != want or e["sni"] != domain:
            bad.append("port %d: key %s with SNI %s, want the impostor's %s with SNI %s"
                       % (e["port"], e["spki_sha256"], e["sni"], want, domain))
    bad += extra(res) if extra else []
    if limit_s is not None and took > limit_s:
        bad.append("took %.1f s (limit %.1f s)" % (took, limit_s))
    err = next((e["error"] for e in res["endpoints"] if e.get("error")), None) or {}
    why = err.get("reason") or next((e["match_detail"] for e in res["endpoints"]
                                     if e.get("match_detail")), None)
    reliability.record("failclosed", domain, what=info["domains"][domain]["note"],
                       verdict=res["verdict"], step=err.get("step"), reason=why,
                       seconds=round(took, 2), limit_seconds=limit_s, ok=not bad)
    assert not bad, "%s: %s\n%s" % (domain, "; ".join(bad), res)


def t_reenc_served(info, d):
    """The lab case itself, seen by gnutls-cli: the handshake completes and
    the leaf arrives with its non-minimal outer length (30 85 00 00 ...),
    so that the check below is about that encoding."""
    saved = os.path.join(d, "reenc-seen.pem")
    p = subprocess.run(["gnutls-cli", "--starttls-proto=xmpp", "--insecure",
                        "--sni-hostname=reenc.test", "--save-cert=" + saved, "-p", "5222",
                        info["targets"]["reenc"]], input="", capture_output=True,
                       text=True, timeout=30)
    assert "Handshake was completed" in p.stdout, p.stdout + p.stderr
    with open(saved) as f:
        body = f.read().split("-----BEGIN CERTIFICATE-----")[1].split("-----END")[0]
    der = base64.b64decode("".join(body.split()))
    assert der[:4] == b"\x30\x85\x00\x00", der[:8].hex()


def t_reenc(info, conf):
    """The CA signature does not cover the outer header: a re-encoded leaf
    still completes TLS; the key it proved is judged."""
    checked(info, conf, "reenc.test")


def t_hugeid(info, conf):
    """A stream header clients accept (1,500-byte id), then an impostor."""
    checked(info, conf, "hugeid.test")


def t_snisel(info, conf):
    """SNI = the domain decides; the SNI = target probe, which the proxy
    passes through to the good server, only explains (sni-target, both
    keys named)."""
    good, mitm = info["keys"]["good"]["spki_sha256"], info["keys"]["mitm"]["spki_sha256"]

    def explained(res):
        text = [w["text"] for e in res["endpoints"] for w in e["warnings"]
                if w["code"] == "sni-target"]
        # SNI = the domain, the other key family (refused: one key), SNI
        # = the target.
        bad = [] if res["probes"] == 3 else ["%d probes, want 3" % res["probes"]]
        if len(text) != 1 or mitm not in text[0] or good not in text[0]:
            bad.append("no sni-target warning naming both keys: %s" % text)
        return bad
    checked(info, conf, "snisel.test", explained)


def t_hugeexp(info, conf):
    """A chain that would cost seconds of RSA per signature: mismatch, the
    impostor's key shown, and the check ends quickly."""
    checked(info, conf, "hugeexp.test", limit_s=QUICK_S)


def percentile(values, p):
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(p * len(s)) - 1)]


async def help_during_checks(admin, other, comp):
    """One measurement: `help` every 20 ms from the admin (exempt from rate
    limits) while the other user has hugeexp.test checked CHECKS times in
    a row.  Returns (latencies of the helps sent from the first check's
    start to 100 ms after the last report, replies matched in order; the
    checks' reports; seconds the checks took)."""
    sent, got = [], []          # send times waiting for a reply; (sent, latency)

    async def replies():
        while True:
            m = await admin.body(30)
            if "check DOMAIN" in m["body"] and sent:
                ts = sent.pop(0)
                got.append((ts, time.monotonic() - ts))

    async def pinger():
        while True:
            sent.append(time.monotonic())
            admin.send_message(mto=comp, mbody="help", mtype="chat")
            await asyncio.sleep(HELP_EVERY_S)

    tasks = [asyncio.create_task(replies()), asyncio.create_task(pinger())]
    try:
        await asyncio.sleep(0.2)
        t0, reports = time.monotonic(), []
        t1 = t0
        while len(reports) < CHECKS and t1 - t0 < QUICK_S * len(reports) + QUICK_S:
            reports.append(await other.report("hugeexp.test"))
            t1 = time.monotonic()
        await asyncio.sleep(0.1)
        tasks.pop().cancel()
        end = time.monotonic() + 10
        while sent and time.monotonic() < end:
            await asyncio.sleep(0.02)
    finally:
        for t in tasks:
            t.cancel()
    window = [lat for ts, lat in got if t0 <= ts <= t1 + 0.1]
    assert not sent, "%d helps unanswered" % len(sent)
    return window, reports, t1 - t0


async def daemon_help_p99(info, d):
    """While a daemon checks hugeexp.test, other users' chat is answered:
    p99 of `help` under 50 ms.  The loop freezes for seconds when matching
    is not bounded; a loaded machine also delays a reply now and then, so
    a p99 over the limit is measured once more, and only a repeated one
    fails (a frozen loop fails both)."""
    import test_component as tc
    from test_hostile import daemon_conf
    x = info["xmpp"]["prosody"]
    comp, users = x["component"], x["users"]
    conf = daemon_conf(info, "prosody", d)
    log = open(os.path.join(d, "daemon.log"), "wb")
    bot = subprocess.Popen([BIN, "run", "-c", conf], stdout=log, stderr=subprocess.STDOUT)
    clients = []
    try:
        assert await tc.wait_bot(x, users[0], comp), "the daemon did not come up"
        admin = await tc.connect(x, users[0], comp)
        others = [await tc.connect(x, u, comp) for u in users[1:3]]
        clients += [admin] + others
        # The first check of a daemon loads the system's CA store (for the
        # PKIX warning): a one-off cost that is not the hostile chain's.
        await admin.ask("help")
        assert (await others[0].report("good.test")).startswith("good.test: ok")
        outcomes = []
        for attempt, other in enumerate(others, 1):
            lat, reports, took = await help_during_checks(admin, other, comp)
            p99 = percentile(lat, 0.99)
            outcomes.append("attempt %d: %d checks in %.2f s; %d helps meanwhile: p50 %.1f ms, "
                            "p99 %.1f ms, max %.1f ms" % (
                                attempt, len(reports), took, len(lat),
                                1000 * percentile(lat, 0.5), 1000 * p99, 1000 * max(lat)))
            print("     " + outcomes[-1], flush=True)
            held = (len(reports) == CHECKS and len(lat) >= 5 and
                    all(r.startswith("hugeexp.test: mismatch") for r in reports))
            if not held or p99 < HELP_P99_S:
                break
        reliability.record(
            "failclosed", "chat meanwhile", order=10,
            what="the admin's help every %d ms while another user has hugeexp.test checked "
                 "%d times in a row by the daemon; p99 limit %d ms, a second attempt when "
                 "the first is over" % (1000 * HELP_EVERY_S, CHECKS, 1000 * HELP_P99_S),
            outcome="; ".join(outcomes), seconds=round(took, 2),
            limit_seconds=QUICK_S * CHECKS, ok=held and p99 < HELP_P99_S)
        assert len(reports) == CHECKS, "checks took %.1f s (%.1f s each allowed)" % (
            took, QUICK_S)
        assert held, (reports, lat)
        assert p99 < HELP_P99_S, "p99 of help %.1f ms (limit %.0f ms)" % (
            1000 * p99, 1000 * HELP_P99_S)
    finally:
        for c in clients:
            c.disconnect()
        bot.kill()      # its shutdown is test_component.py's business
        bot.wait()
        log.close()


def main():
    logging.basicConfig(level=logging.CRITICAL)
    r = Runner()
    reliability.start({"failclosed"})
    with lab() as info, tempfile.TemporaryDirectory() as d:
        conf = write_config(info, os.path.join(d, "certwatch.conf"))
        r.run("reenc: gnutls-cli completes TLS, leaf starts 30 85 00 00", t_reenc_served, info, d)
        for name, fn in [("reenc: re-encoded leaf is judged, mismatch", t_reenc),
                         ("hugeid: 1,500-byte stream id, mismatch", t_hugeid),
                         ("snisel: SNI-selective interceptor, mismatch", t_snisel),
                         ("hugeexp: huge RSA exponent, quick mismatch", t_hugeexp)]:
            r.run(name, fn, info, conf)
        r.run("hugeexp in the daemon: chat help p99 under 50 ms",
              lambda: asyncio.run(daemon_help_p99(info, d)))
    return r.finish()


if __name__ == "__main__":
    sys.exit(main())
