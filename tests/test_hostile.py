#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile probe targets and abuse: each of the lab's hostile servers
(tests/lab/fixtures.py) ends within `[probe] timeout` with a clear step and
reason, `unreachable` (or `mismatch` where the stream passes the bounds
before TLS on this DANE domain: a client would read on), first with `certwatch check`, then all at once in the
running daemon, whose memory stays bounded while a check of a good server and a
chat `help` of other users are answered as usual; a flood of 10,000 messages
from one JID does not delay another user's answer; private targets are
refused; the secret never appears in the debug log.

Usage: test_hostile.py CERTWATCH_BIN.  Results go to $CERTWATCH_RELIABILITY
(tests/reliability.py makes docs/reliability.md of them).
"""
import asyncio
import configparser
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cwtest import Runner, lab, write_config  # noqa: E402
import reliability  # noqa: E402
import server_bounds  # noqa: E402

BIN = sys.argv[1] if len(sys.argv) == 2 else os.environ.get("CERTWATCH_BIN")
TIMEOUT = 10            # [probe] timeout of the lab's configs
SLACK = 5               # seconds allowed above it (DNS, process start)
# Peak resident memory the daemon may add while it checks every hostile
# domain at once (its bounds per probe: 2 MiB of XML, 150,000 open elements
# at ~145 bytes each in expat, so deepxml.test's two endpoints, 100,000 deep,
# hold ~29 MB until their time-out; 256 KB of chain, GnuTLS's own handshake
# limit; anything near this means a bound failed).
DAEMON_GROWTH_LIMIT_KB = 40 * 1024
CLI_PEAK_LIMIT_KB = 64 * 1024

# domain -> (what the server does, verdict, step, words the reason holds)
HOSTILE = [
    ("slowloris.test", "sends one byte per second", "unreachable", "stream", "timed out after 10 s"),
    # Past the bounds before TLS, no <starttls/>: TLS withheld (mismatch).
    ("bigfeatures.test", "sends 50 MB of stream features", "mismatch", "stream",
     "with no <starttls/> offered: more than 2097152 bytes"),
    # Within the depth bound, then silent, as a client would find it too.
    ("deepxml.test", "nests XML 100,000 deep", "unreachable", "stream", "timed out after 10 s"),
    ("laughs.test", "entity expansion (billion laughs)", "unreachable", "stream", "document type declaration"),
    ("badutf8.test", "invalid UTF-8 in the features", "unreachable", "stream", "invalid XML"),
    ("chain100.test", "a chain of 100 certificates (~300 KB)", "unreachable", "tls", "too large"),
    # One 64 KB certificate of the published key fits every bound (256 KB
    # of chain): the check completes, and ok is the right verdict.
    ("bigcert.test", "one 64 KB certificate (the published key)", "ok", None, None),
    ("tlsnever.test", "never completes the TLS handshake", "unreachable", "tls", "timed out after 10 s"),
    ("tlsclose.test", "closes mid-handshake", "unreachable", "tls", "handshake"),
]


def asan(binary):
    """True for a sanitizer build (its memory figures mean nothing)."""
    p = subprocess.run(["ldd", binary], capture_output=True, text=True)
    return "libasan" in p.stdout


def judge(res, verdict, step, words):
    """Problems with one check's JSON result (empty: as it must be)."""
    bad = []
    if res.get("verdict") != verdict:
        bad.append("verdict %s, want %s" % (res.get("verdict"), verdict))
    for e in res.get("endpoints", []):
        err = e.get("error")
        if step is None:
            if err is not None:
                bad.append("%s: %s" % (e["port"], err))
            continue
        if err is None or err.get("step") != step or words not in err.get("reason", ""):
            bad.append("port %s: %s, want step %s with %r" % (e["port"], err, step, words))
    if not res.get("endpoints"):
        bad.append("no endpoints")
    return bad


def first_error(res):
    for e in res.get("endpoints", []):
        if e.get("error"):
            return e["error"]
    return {}


def run_measured(argv, timeout):
    """Run argv; (stdout, seconds, peak RSS of the child in KB)."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    timer.cancel()
    return out, time.monotonic() - t0, ru.ru_maxrss


# ------------------------------------------------------------------ CLI

def source_bounds():
    """The probe's limits as its sources define them (for the figures)."""
    top = os.path.dirname(HERE)
    text = ""
    for f in ("probe/xmlstream.h", "probe/probe.c"):
        with open(os.path.join(top, f), encoding="utf-8") as fh:
            text += fh.read()
    out = []
    for name in ("XMLSTREAM_MAX_BYTES", "XMLSTREAM_MAX_DEPTH", "XMLSTREAM_MAX_ATTR",
                 "PROBE_MAX_CHAIN_BYTES"):
        m = re.search(r"#define %s \(?([^)\n]*)\)?" % name, text)
        out.append("%s = %s" % (name, m.group(1).strip() if m else "?"))
    return ", ".join(out)


def t_cli_all(info, conf):
    """Every hostile domain at once, one `certwatch check` each."""
    import json
    reliability.record("hostile-cli", "bounds", note_only=True, ok=True,
                       bound="the probe's limits (from probe/xmlstream.h and probe/probe.c "
                             "in this tree): %s; [probe] timeout = %d s; DTDs and entity "
                             "declarations refused; invalid UTF-8 is an XML error. The "
                             "time is the whole check (DNS, then the probe, whose own "
                             "deadline is the timeout); the test allows %d s more; memory "
                             "limit per check process %d MB" % (
                                 source_bounds(), TIMEOUT, SLACK, CLI_PEAK_LIMIT_KB // 1024))
    results = {}

    def one(domain):
        results[domain] = run_measured([BIN, "check", "-c", conf, "--json", domain], 120)

    threads = [threading.Thread(target=one, args=(h[0],)) for h in HOSTILE]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sanitized = asan(BIN)
    wrong = []
    for order, (domain, what, verdict, step, words) in enumerate(HOSTILE):
        out, took, peak = results[domain]
        try:
            res = json.loads(out)
        except ValueError:
            res = {}
        bad = judge(res, verdict, step, words)
        if took > TIMEOUT + SLACK:
            bad.append("took %.1f s" % took)
        if not sanitized and peak > CLI_PEAK_LIMIT_KB:
            bad.append("peak %d KB" % peak)
        err = first_error(res)
        reliability.record("hostile-cli", domain, order=order, what=what,
                           verdict=res.get("verdict"), step=err.get("step"),
                           reason=err.get("reason"), seconds=round(took, 2),
                           limit_seconds=TIMEOUT, peak_kb=None if sanitized else peak,
                           ok=not bad)
        wrong += ["%s: %s" % (domain, b) for b in bad]
    assert not wrong, "\n".join(wrong)


def t_private(info, d):
    """allow_private = no: a lab domain's SRV target (127.x) is refused
    before any connection, in direct mode."""
    import json
    conf = write_config(info, os.path.join(d, "private.conf"),
                        probe={"allow_private": "no"})
    out, took, peak = run_measured([BIN, "check", "-c", conf, "--json", "slowloris.test"], 60)
    res = json.loads(out)
    err = first_error(res)
    ok = (res["verdict"] == "unreachable" and took < 5 and
          all(e["error"] and "private" in e["error"]["reason"] for e in res["endpoints"]))
    reliability.record("abuse", "private target refused", order=3,
                       what="allow_private = no, SRV target 127.x (loopback), direct",
                       verdict=res["verdict"], step=err.get("step"),
                       reason=err.get("reason"), seconds=round(took, 2),
                       limit_seconds=TIMEOUT, ok=ok)
    assert ok, res


# --------------------------------------------------------------- daemon

def daemon_conf(info, server, d, **over):
    """The lab's config for `server`, with a private store (and overrides)."""
    cp = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=None)
    cp.read(info["certwatch_conf"][server])
    cp["store"]["dir"] = os.path.join(d, "store-" + server)
    for sec, kv in over.items():
        if not cp.has_section(sec):
            cp.add_section(sec)
        for k, v in kv.items():
            cp[sec][k] = v
    path = os.path.join(d, "daemon-%s.ini" % server)
    with open(path, "w") as f:
        cp.write(f)
    os.chmod(path, 0o600)
    return path


def proc_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


async def messages_seen(admin):
    """The daemon's count of messages received (admin `stats`)."""
    body = await admin.ask("stats")
    m = re.search(r"messages (\d+),", body)
    assert m, body
    return int(m.group(1))


async def timed_ask(c, text, timeout=15):
    t0 = time.monotonic()
    body = await c.ask(text, timeout)
    return body, time.monotonic() - t0


async def daemon_session(info, server, d, r):
    """One daemon, the hostile checks, the flood; results into r (Runner)."""
    import test_component as tc
    x = info["xmpp"][server]
    comp, users = x["component"], x["users"]
    conf = daemon_conf(info, server, d)
    log_path = os.path.join(d, "daemon-%s.log" % server)
    log = open(log_path, "wb")
    bot = subprocess.Popen([BIN, "run", "-c", conf], stdout=log, stderr=subprocess.STDOUT)
    clients = []
    sanitized = asan(BIN)

    async def step(name, coro):
        try:
            await coro
        except Exception as e:  # noqa: BLE001 - reported as a failure
            r.failed += 1
            print("FAIL %s (%s): %s: %s" % (name, server, type(e).__name__, e), flush=True)
        else:
            r.passed += 1
            print("ok   %s (%s)" % (name, server), flush=True)

    try:
        if not await tc.wait_bot(x, users[0], comp):
            raise RuntimeError("the daemon did not come up")
        admin = await tc.connect(x, users[0], comp)     # exempt from limits
        other = await tc.connect(x, users[1], comp)
        clients += [admin, other]

        async def hostile():
            await other.report("good.test")
            _, base = await timed_ask(other, "help")
            hwm0 = proc_kb(bot.pid, "VmHWM")
            peak_rss = [0]
            stop = threading.Event()

            def sample():
                while not stop.wait(0.05):
                    v = proc_kb(bot.pid, "VmRSS")
                    if v:
                        peak_rss[0] = max(peak_rss[0], v)
            th = threading.Thread(target=sample)
            th.start()
            t0 = time.monotonic()
            for h in HOSTILE:
                admin.send_message(mto=comp, mbody="check " + h[0], mtype="chat")
            reports, took = {}, {}

            async def collect():
                deadline = t0 + TIMEOUT + SLACK + 10
                while len(reports) < len(HOSTILE) and time.monotonic() < deadline:
                    m = await admin.body(deadline - time.monotonic())
                    dom = m["body"].split(":", 1)[0]
                    if any(dom == h[0] for h in HOSTILE) and dom not in reports:
                        reports[dom] = m["body"]
                        took[dom] = time.monotonic() - t0
            collector = asyncio.create_task(collect())
            await asyncio.sleep(0.5)
            # Another user, while the hostile probes run: a chat command and
            # a check of a domain not checked before (no cached result).
            body, help_s = await timed_ask(other, "help")
            t1 = time.monotonic()
            good = await other.report("ta.test")
            good_s = time.monotonic() - t1
            await collector
            stop.set()
            th.join()
            hwm1 = proc_kb(bot.pid, "VmHWM")
            growth = hwm1 - hwm0
            bad = []
            if "check DOMAIN" not in body or help_s > base + 1.0:
                bad.append("help took %.2f s (%.2f s before)" % (help_s, base))
            if not good.startswith("ta.test: ok") or good_s > 10:
                bad.append("ta.test: %r in %.1f s" % (good.splitlines()[0], good_s))
            if not sanitized and growth > DAEMON_GROWTH_LIMIT_KB:
                bad.append("VmHWM grew by %d KB" % growth)
            for order, (dom, what, verdict, step_, words) in enumerate(HOSTILE):
                text = reports.get(dom)
                first = text.splitlines()[0] if text else None
                ok = bool(text) and first.startswith("%s: %s" % (dom, verdict)) and \
                    took[dom] <= TIMEOUT + SLACK and (words is None or words in text)
                if not ok:
                    bad.append("%s: %r after %.1f s" % (dom, first, took.get(dom, -1)))
                failed_at = re.search(r"failed at: (.*)", text or "")
                reliability.record(
                    "hostile-daemon", "%s (%s)" % (dom, server), order=order, server=server, what=what,
                    verdict=first.split(": ", 1)[1].split()[0] if first else "no report",
                    step=step_, reason=failed_at.group(1) if failed_at else None,
                    seconds=round(took.get(dom, -1), 2), limit_seconds=TIMEOUT,
                    peak_kb=None if sanitized else hwm1, ok=ok)
            reliability.record(
                "hostile-daemon", "other users meanwhile (%s)" % server,
                order=len(HOSTILE), server=server,
                what="another user's chat help, and check of ta.test (a good "
                     "server), while the nine hostile probes run",
                outcome="help in %.2f s (%.2f s before); ta.test %s in %.1f s" % (
                    help_s, base, good.split(": ", 1)[1].split()[0], good_s),
                seconds=round(help_s, 2), limit_seconds="%.2f + 1" % base,
                peak_kb=None if sanitized else hwm1, ok=not bad,
                bound="VmHWM %s → %s KB (+%d KB, limit +%d KB); peak VmRSS sampled "
                      "%d KB" % (hwm0, hwm1, growth, DAEMON_GROWTH_LIMIT_KB, peak_rss[0])
                      if not sanitized else "sanitizer build: memory not measured")
            assert not bad, "\n".join(bad)
        await step("hostile domains in the daemon, others unaffected", hostile())
        admin.drain()
        other.drain()

        async def flood():
            # The flooder is its own process: in this one its 10,000 sends
            # would hold up our event loop and so our own measurement.
            _, base = await timed_ask(other, "help")
            n = 10000
            fl = await asyncio.create_subprocess_exec(
                sys.executable, os.path.abspath(__file__), "--flood", x["host"],
                str(x["c2s_port"]), users[5]["jid"], users[5]["password"], comp, str(n),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            line = await asyncio.wait_for(fl.stdout.readline(), 30)
            assert line.strip() == b"ready", line
            fl.stdin.write(b"go\n")
            await fl.stdin.drain()
            # Until the daemon has read the whole flood (its stats count the
            # messages), at least 10 times: the other user's help.
            m0 = await messages_seen(admin)
            lat, seen, t0 = [], 0, time.monotonic()
            while (len(lat) < 10 or seen < n) and time.monotonic() - t0 < 60:
                _, s = await timed_ask(other, "help")
                lat.append(s)
                await asyncio.sleep(0.3)
                seen = await messages_seen(admin) - m0
            read_s = time.monotonic() - t0
            out = (await asyncio.wait_for(fl.stdout.read(), 60)).decode().split()
            await fl.wait()
            sent, got = float(out[0]), int(out[1])
            worst = max(lat)
            ok = worst <= base + 1.0 and got <= 31 and seen >= n
            reliability.record(
                "abuse", "flood of 10,000 messages (%s)" % server, order=1,
                what="one JID sends 10,000 chat messages (written in %.1f s)" % sent,
                outcome="the daemon read %d of them in %.1f s; the other user's help "
                        "(%d times meanwhile): worst %.2f s (%.2f s before); the flooder "
                        "got %d replies" % (seen, read_s, len(lat), worst, base, got),
                seconds=round(worst, 2), limit_seconds="%.2f + 1" % base,
                peak_kb=None if sanitized else proc_kb(bot.pid, "VmHWM"), ok=ok)
            assert ok, (lat, base, got, seen)
        await step("flood of 10,000 messages", flood())

        async def shutdown():
            bot.send_signal(signal.SIGTERM)
            rc = await asyncio.get_running_loop().run_in_executor(None, lambda: bot.wait(20))
            assert rc == 0, rc
        await step("SIGTERM: exit 0", shutdown())
    finally:
        for c in clients:
            c.disconnect()
        if bot.poll() is None:
            bot.kill()
            bot.wait()
        log.close()

    with open(log_path, "rb") as f:
        text = f.read().decode(errors="replace")
    secret = x["secret"]
    debug = "debug" in text.lower()
    ok = secret not in text and debug and len(text) > 0
    reliability.record("abuse", "secret never logged (%s)" % server, order=2,
                       what="a full session at [log] level = debug: connect, checks, "
                            "flood, shutdown; stderr searched for the secret",
                       outcome="%d log lines, secret %s" % (
                           text.count("\n"), "found" if secret in text else "absent"),
                       ok=ok)
    r.run("secret never in the debug log (%s)" % server,
          lambda: (_ for _ in ()).throw(AssertionError("secret in the log or no debug lines"))
          if not ok else None)


async def flooder(host, port, jid, password, comp, n):
    """--flood: log in, say "ready", on "go" send n messages; print the
    seconds the sending took and the replies got in the next 5 s."""
    import test_component as tc
    c = await tc.connect({"host": host, "c2s_port": port}, {"jid": jid, "password": password},
                         comp)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    t0 = time.monotonic()
    for i in range(n):
        c.send_message(mto=comp, mbody="help %d" % i, mtype="chat")
        if i % 200 == 0:
            await asyncio.sleep(0)      # let slixmpp write
    sent = time.monotonic() - t0
    got = 0
    try:
        while True:
            await c.body(5)
            got += 1
    except asyncio.TimeoutError:
        pass
    c.disconnect()
    print("%.2f %d" % (sent, got), flush=True)


def main():
    logging.basicConfig(level=logging.CRITICAL)
    if len(sys.argv) == 8 and sys.argv[1] == "--flood":
        a = sys.argv[2:]
        asyncio.run(flooder(a[0], int(a[1]), a[2], a[3], a[4], int(a[5])))
        return 0
    r = Runner()
    reliability.start({"bounds", "hostile-cli", "hostile-daemon", "abuse"})
    with lab() as info, tempfile.TemporaryDirectory() as d:
        conf = write_config(info, os.path.join(d, "certwatch.conf"))
        r.run("bounds before TLS: no smaller than Prosody's and ejabberd's",
              server_bounds.t_server_bounds, info)
        r.run("hostile servers, certwatch check, all at once", t_cli_all, info, conf)
        r.run("private targets refused", t_private, info, d)
        servers = os.environ.get("CERTWATCH_SERVERS", "prosody,ejabberd").split(",")
        for server in servers:
            asyncio.run(daemon_session(info, server, d, r))
    return r.finish()


if __name__ == "__main__":
    sys.exit(main())
