#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_continuity.py - key continuity of a watched domain end to end
(issue 14; docs/usage.md "Keys seen and splits"): the jabber.ru case of
2023, a domain without DANE whose port 5222 alone is intercepted with a
valid certificate.

The lab's keys.test (no TLSA, four endpoints on its own server) and the
real `certwatch run` on the lab's Prosody, with a chat subscriber
(slixmpp) and the web API.  An iptables DNAT rule sends port 5222 alone,
then every port, to the lab's mitm server (the MITM key, a certificate of
the lab CA naming the domain).  Checked:

  - `check` with 5222 redirected: warning key-split, exit status >= 1;
  - watched: the baseline, a kill -9 (the keys seen survive it), then
    5222 redirected: no alarm after one split round, the alarm (both
    keys, where and since when) after the second;
  - `status` and GET /api/domain show the keys seen per endpoint, the
    MITM key not established, and status the alarm among the last
    changes; 404 for a domain not watched, 400 for a bad name;
    /d/keys.test has the table; /metrics counts the domain in
    certwatch_domains_split while the alarm is open, not after;
  - kill -9 while the alarm is open: no second alarm after the restart;
  - the redirect ends: `recovered`;
  - a clean restart; every port redirected: the info alert "new key on
    every endpoint"
    with the issuer and validity, never an alarm in the rounds after;
  - a version 2 store (written by the certwatch before) loads, its first
    round is the continuity baseline (no alert) and it is written back as
    version 3 with `seen` lines.

Rounds are awaited through the daemon's log (one "keys:" line per round
of keys.test), never by fixed sleeps.  Needs root (the lab, iptables).

Usage: test_continuity.py [CERTWATCH_BIN]   (or $CERTWATCH_BIN)
Reuses the lab named by $CERTWATCH_LAB, or starts one.  Prints one line
per check and "N passed, N failed" last; exits 1 on failure.
"""
import asyncio
import glob
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "lab"))
import test_trouble as tt  # noqa: E402  (its daemon, user and DNAT)
from cwtest import check_json, free_port, write_config  # noqa: E402
from lab import Lab  # noqa: E402

BIN = tt.BIN
DOMAIN = "keys.test"
USER = 20
check = tt.check
ROUND = r"keys\.test: keys: (\d+) seen, split in (\d+) of the last (\d+) rounds"


def dnat_all(op, dst, to):
    """Every port of dst sent to `to`."""
    subprocess.run(["iptables", "-t", "nat", op, "OUTPUT", "-d", dst, "-p",
                    "tcp", "-j", "DNAT", "--to-destination", to],
                   check=True, capture_output=True)


class Daemon(tt.Certwatch):
    """test_trouble's daemon, with the web API and [watch] split_rounds."""

    def __init__(self, info, wdir, store=None):
        os.makedirs(wdir, exist_ok=True)
        super().__init__(info, wdir)
        self.store_dir = store or os.path.join(wdir, "store")
        self.http = "127.0.0.1:%d" % free_port()
        self.conf = write_config(
            info, os.path.join(wdir, "certwatch.ini"),
            component={"jid": self.x["component"], "host": self.x["host"],
                       "port": self.x["component_port"],
                       "secret": self.x["secret"]},
            probe={"timeout": "5"}, log={"level": "debug"},
            store={"dir": self.store_dir},
            http={"listen": self.http},
            watch={"interval": "10", "jitter": "0", "split_rounds": "2",
                   "flap_limit": "50"})

    def rounds(self):
        return re.findall(ROUND, self.log())

    async def wait_rounds(self, n, timeout=90):
        """Until n more rounds of keys.test have ended; their lines."""
        start = len(self.rounds())
        deadline = time.monotonic() + timeout
        while len(self.rounds()) < start + n:
            if time.monotonic() > deadline:
                raise asyncio.TimeoutError("%d rounds not seen" % n)
            if self.proc.poll() is not None:
                raise RuntimeError("certwatch exited (%s)" % self.proc.returncode)
            await asyncio.sleep(0.3)
        return self.rounds()[start:start + n]

    async def on_disk(self, pattern, timeout=15):
        """Until a shard file of the store matches pattern (a regular
        expression): the store's writer thread commits a round after the
        round's alert went out, and kill -9 before that ends loses the
        round (docs/store.md, "Crash safety"); under load, in an ASan
        build, that took longer than the test's requests after the
        alarm."""
        store = self.store_dir
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for f in glob.glob(os.path.join(store, "shard-*")):
                with open(f) as fh:
                    if re.search(pattern, fh.read()):
                        return True
            await asyncio.sleep(0.2)
        return False

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def get(self, path):
        """(status, body) of GET http://LISTEN/path."""
        try:
            with urllib.request.urlopen("http://%s%s" % (self.http, path),
                                        timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


async def restart(cw, chat, how):
    if how == "kill -9":
        cw.kill9()
    else:
        cw.stop()
    cw.start()
    return check("the bot is back after %s" % how, await chat.bot_answers())


def alerts(bodies):
    return [b for b in bodies if DOMAIN in b and
            re.search(r"ALARM|recovered|new key on every endpoint", b)]


async def watched(info, wdir):
    ip = info["switchable"][DOMAIN]["ip"]
    mitm = info["targets"]["mitm"]
    good_key = info["keys"]["good"]["spki_sha256"]
    mitm_key = info["keys"]["mitm"]["spki_sha256"]
    redirected = None

    # `check`: 5222 alone redirected.
    conf = write_config(info, os.path.join(wdir, "check.ini"))
    tt.dnat("-A", ip, 5222, mitm)
    redirected = "5222"
    try:
        rc, res, _ = check_json(BIN, conf, DOMAIN)
    finally:
        tt.dnat("-D", ip, 5222, mitm)
        redirected = None
    splits = [w for w in res.get("warnings", []) if w["code"] == "key-split"]
    check("check, 5222 redirected: key-split naming both keys, exit >= 1",
          rc >= 1 and splits and good_key[:16] in splits[0]["text"] and
          mitm_key[:16] in splits[0]["text"], (rc, res.get("warnings")))

    cw = Daemon(info, wdir)
    x = cw.x
    users = []
    cw.start()
    try:
        chat = await tt.login(x, x["users"][USER], x["component"])
        users.append(chat)
        check("the bot answers", await chat.bot_answers())
        chat.send_message(mto=chat.comp, mbody="subscribe " + DOMAIN,
                          mtype="chat")
        await chat.next_body(r"^Subscribed to ", 30)
        first, _ = await chat.next_body(r"^First check of ", 60)
        check("the first check: no-tlsa, no split", "keys.test: no-tlsa" in first
              and "keys differ" not in first, first.splitlines()[:2])
        base = await cw.wait_rounds(1)
        check("the baseline round: keys seen, no split",
              base and int(base[0][0]) >= 4 and base[0][1] == "0", base)

        # The keys seen survive kill -9: otherwise the first round after
        # the restart would be a new baseline and the split its normal
        # state, with no alarm ever.
        check("the baseline's keys are on disk",
              await cw.on_disk(r"\nseen xmpp-client xmpp\.keys\.test 5222 "))
        await restart(cw, chat, "kill -9")
        tt.dnat("-A", ip, 5222, mitm)
        redirected = "5222"
        # The round after the restart may have begun before the rule.
        one = []
        while not [r for r in one if r[1] != "0"] and len(one) < 3:
            one += await cw.wait_rounds(1)
        early = alerts(chat.pending(chat.bodies))
        check("5222 redirected: one split round, no alarm yet",
              one[-1][1] == "1" and not early, (one, early))
        t0 = time.monotonic()
        alarm, before = await chat.next_body(r"^ALARM: keys\.test", 40)
        head = alarm.splitlines()
        check("the alarm after the second split round (%.0f s)"
              % (time.monotonic() - t0),
              head[0] == "ALARM: keys.test: possible man in the middle: keys "
              "differ between probes of xmpp.keys.test (2 of the last 4 rounds)"
              and not alerts(before), (head[:1], before))
        check("the alarm names both keys and where each was seen",
              "new key %s ecdsa, never established, first seen" % mitm_key in alarm
              and "xmpp-client xmpp.keys.test:5222 at %s via direct" % ip in alarm
              and "key %s, seen since" % good_key in alarm
              and "xmpp-server xmpp.keys.test:5269" in alarm
              and "publish TLSA (3 1 1) for each key" in alarm, alarm)

        chat.send_message(mto=chat.comp, mbody="status " + DOMAIN, mtype="chat")
        st, _ = await chat.next_body(r"^keys\.test: ", 30)
        check("status: the keys seen per endpoint, the MITM key not established,"
              " the alarm in the last changes",
              "Keys seen (split alarm open):" in st and
              re.search(r"no-tlsa → no-tlsa alarm: keys differ between probes "
                        r"of xmpp\.keys\.test", st) and
              re.search(r"xmpp-client xmpp\.keys\.test:5222 ecdsa %s… .*"
                        r"\(not established\)" % mitm_key[:16], st), st)
        code, body = cw.get("/api/domain?domain=" + DOMAIN)
        try:
            j = json.loads(body)
            keys = j["continuity"]["keys"]
        except (ValueError, KeyError, TypeError):
            j, keys = None, []
        mk = [k for k in keys if k["spki_sha256"] == mitm_key]
        gk = [k for k in keys if k["spki_sha256"] == good_key]
        check("GET /api/domain: the split alarm and the keys per endpoint",
              code == 200 and j["continuity"]["split_alarm"] is True and
              len(mk) == 1 and mk[0]["port"] == 5222 and
              mk[0]["established"] is False and mk[0]["vantages"] == ["direct"]
              and mk[0]["addresses"] == [ip] and len(gk) == 4 and
              all(k["established"] for k in gk) and
              j["endpoints"] and j["verdict"] == "no-tlsa", body[:2000])
        nw = cw.get("/api/domain?domain=good.test")
        bad = cw.get("/api/domain?domain=bad..name")
        none = cw.get("/api/domain")
        check("GET /api/domain: 404 not watched, 400 bad name or none",
              nw[0] == 404 and bad[0] == 400 and none[0] == 400,
              (nw, bad, none))
        code, page = cw.get("/d/" + DOMAIN)
        check("/d/keys.test: the keys per endpoint",
              code == 200 and 'id="endpoint-keys"' in page and
              mitm_key in page and 'id="split-alarm"' in page, code)

        code, met = cw.get("/metrics")
        check("/metrics: certwatch_domains_split 1 while the alarm is open",
              code == 200 and "\ncertwatch_domains_split 1\n" in met,
              [l for l in met.splitlines() if "split" in l])

        # kill -9 with the alarm open (and written): it is not sent again.
        check("the open alarm is on disk",
              await cw.on_disk(r"\nsplit \d+ alarm\b"))
        await restart(cw, chat, "kill -9")
        more = await cw.wait_rounds(2)
        again = alerts(chat.pending(chat.bodies))
        check("kill -9 during the alarm: still open, not repeated",
              not again and all(r[1] != "0" for r in more), (more, again))

        tt.dnat("-D", ip, 5222, mitm)
        redirected = None
        back, before = await chat.next_body(r"recovered", 40)
        check("the redirect ends: recovered",
              back.startswith("keys.test recovered: every probe of "
                              "xmpp.keys.test shows one key again (%s)"
                              % good_key) and not alerts(before),
              (back.splitlines()[:1], before))
        code, met = cw.get("/metrics")
        check("/metrics: certwatch_domains_split 0 after recovered",
              code == 200 and "\ncertwatch_domains_split 0\n" in met,
              [l for l in met.splitlines() if "split" in l])

        # A clean restart (SIGTERM) keeps them too: the next round is no
        # new baseline, so every port moving is still told.
        await restart(cw, chat, "a restart")
        # Every port to the impostor: one new key everywhere, an info.
        dnat_all("-A", ip, mitm)
        redirected = "all"
        moved, before = await chat.next_body(r"new key on every endpoint", 40)
        check("every port redirected: the info alert with issuer and validity",
              re.match(r"keys\.test: new key on every endpoint of "
                       r"xmpp\.keys\.test: %s ecdsa, issued by (?!\(unknown\))"
                       r".+, valid \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d$" % mitm_key,
                       moved.splitlines()[0]) and
              "If you did not just renew, every port is intercepted." in moved
              and not alerts(before), (moved.splitlines()[:1], before))
        more = await cw.wait_rounds(2)
        after = alerts(chat.pending(chat.bodies))
        check("every port redirected: never an alarm, nothing repeated",
              not after and all(r[1] == "0" for r in more), (more, after))
        dnat_all("-D", ip, mitm)
        redirected = None
        await cw.wait_rounds(1)
    finally:
        if redirected == "5222":
            tt.dnat("-D", ip, 5222, mitm)
        elif redirected == "all":
            dnat_all("-D", ip, mitm)
        for u in users:
            u.disconnect()
        cw.stop()
    shard = [open(f).read() for f in glob.glob(os.path.join(wdir, "store", "shard-*"))
             if "domain keys.test\n" in open(f).read()]
    check("the store: version 3 with the seen lines",
          shard and shard[0].startswith("certwatch-store 3\n") and
          "\nseen xmpp-client xmpp.keys.test 5222 ecdsa %s " % mitm_key in shard[0],
          shard[:1])
    return cw


async def old_store(info, wdir, jid):
    """A version 2 store (no seen lines) loads; its first round is the
    continuity baseline; it is written back as version 3."""
    store = os.path.join(wdir, "store2")
    os.makedirs(store, mode=0o700)
    with open(os.path.join(store, "shard-000"), "w") as f:
        f.write("certwatch-store 2\ncommit 3\ndomain keys.test\n"
                "state no-tlsa - 0 1700000000 1700000000 1700000000\n"
                "endpoint xmpp-client xmpp.keys.test 5222 no-tlsa - -\n"
                "change 1700000000 - no-tlsa -\n"
                "chat %s\nend\nrecords 1\n" % jid)
    os.chmod(os.path.join(store, "shard-000"), 0o600)
    cw = Daemon(info, os.path.join(wdir, "old"), store=store)
    cw.start()
    try:
        r = await cw.wait_rounds(2)
        lg = cw.log()
        check("a version 2 store loads: rounds with keys, no warning, no alert",
              r and int(r[0][0]) >= 4 and not re.search(r"stored (state|keys):", lg) and
              "corrupt" not in lg and "keys: alarm" not in lg and
              "keys: info" not in lg, (r, [l for l in lg.splitlines()
                                           if "warn" in l.lower()][:5]))
    finally:
        cw.stop()
    text = "".join(open(f).read() for f in glob.glob(os.path.join(store, "shard-*")))
    check("written back as version 3 with seen lines",
          text.startswith("certwatch-store 3\n") and "\nseen xmpp-client "
          "xmpp.keys.test 5222 ecdsa " in text, text[:300])


def main():
    logging.basicConfig(level=logging.CRITICAL)
    if not os.access(BIN, os.X_OK):
        print("no certwatch binary at %s" % BIN)
        return 1
    wdir = tempfile.mkdtemp(prefix="certwatch-continuity.")
    t0 = time.monotonic()
    with Lab.from_env() as lab:
        if DOMAIN not in lab.info.get("switchable", {}):
            check("the lab has keys.test", False)
        else:
            for what, run in (("watched", lambda: watched(lab.info, wdir)),
                              ("old store", lambda: old_store(
                                  lab.info, wdir,
                                  lab.info["xmpp"]["prosody"]["users"][USER]["jid"]))):
                try:
                    asyncio.run(run())
                except Exception as e:  # noqa: BLE001 - any error fails
                    check("%s: the scenario ran to its end" % what, False,
                          "%s: %s" % (type(e).__name__, e))
    # Both daemons' logs, leaks included, in a sanitizer build.
    bad = []
    for lg in glob.glob(os.path.join(wdir, "**", "certwatch.log"), recursive=True):
        with open(lg, errors="replace") as f:
            bad += re.findall(r".*(?:Sanitizer|runtime error:).*", f.read())
    check("no sanitizer report", not bad, bad[:5])
    print("%d passed, %d failed (%.0f s)" % (len(tt.passed), len(tt.failed),
                                             time.monotonic() - t0))
    if tt.failed:
        print("logs kept in %s" % wdir)
    else:
        shutil.rmtree(wdir, ignore_errors=True)
    return 1 if tt.failed or not tt.passed else 0


if __name__ == "__main__":
    sys.exit(main())
