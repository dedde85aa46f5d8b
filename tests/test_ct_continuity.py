#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_ct_continuity.py - a logged certificate with a new key for a
watched domain without DANE, then that key on its endpoints (issue 20;
docs/ct.md, docs/usage.md "Keys seen and splits").

The real certspotter reads the lab's CT log (tests/lab/ctlog.py) under
`certwatch run` on the lab's Prosody, which watches keys.test (no TLSA,
four endpoints on its own server).  The log gets a certificate for
keys.test with the lab's MITM key:

  - the CT info `a new certificate` (no DANE: whose key it is cannot be
    told), never an alarm;
  - port 5222 alone sent to the mitm server (iptables DNAT): the split
    alarm after [watch] split_rounds (2) split rounds, naming both keys;
    the rule removed: `recovered`;
  - then every port of keys.test sent to the mitm server: the key on
    every endpoint is the renewal the info foretold, the info `new key
    on every endpoint`, no alarm in the rounds after.

The split comes first: a key shown on every endpoint for two rounds is
established, and a later split between two established keys is no
alarm (docs/usage.md, "Keys seen and splits").

Rounds are awaited through the daemon's log (test_continuity.py's
"keys:" line).  Needs root (the lab, iptables).

Usage: test_ct_continuity.py [CERTWATCH_BIN]   (or $CERTWATCH_BIN)
Reuses the lab named by $CERTWATCH_LAB, or starts one.  Prints one line
per check and "N passed, N failed" last; exits 1 on failure.
"""
import asyncio
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "lab"))
import test_trouble as tt  # noqa: E402  (its chat user and DNAT)
import test_continuity as tc  # noqa: E402  (its daemon and rounds)
from cwtest import write_config  # noqa: E402
from lab import Lab  # noqa: E402
import ctlog  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

BIN = tt.BIN
DOMAIN = tc.DOMAIN
USER = 20
check = tt.check
WRAPPER_IN = os.path.join(HERE, "..", "contrib", "certwatch-ct-hook.in")


class Daemon(tc.Daemon):
    """test_continuity's daemon (interval 10 s, split_rounds 2) with
    [ct] on the lab's log and the hook's wrapper."""

    def __init__(self, info, wdir, logs):
        super().__init__(info, wdir)
        wrapper = os.path.join(wdir, "certwatch-ct-hook")
        with open(WRAPPER_IN) as f:
            text = f.read().replace("@BINDIR@", os.path.dirname(BIN))
        with open(wrapper, "w") as f:
            f.write(text)
        os.chmod(wrapper, 0o755)
        # certspotter trusts the lab CA; certwatch runs this wrapper.
        os.environ["SSL_CERT_FILE"] = info["keys"]["ca"]["cert"]
        os.environ["CERTWATCH_CT_HOOK"] = wrapper
        self.conf = write_config(
            info, os.path.join(wdir, "certwatch.ini"),
            component={"jid": self.x["component"], "host": self.x["host"],
                       "port": self.x["component_port"],
                       "secret": self.x["secret"]},
            probe={"timeout": "5"}, log={"level": "debug"},
            store={"dir": self.store_dir}, http={"listen": self.http},
            watch={"interval": "10", "jitter": "0", "split_rounds": "2",
                   "flap_limit": "50"},
            ct={"certspotter": "/usr/bin/certspotter", "logs": logs})

    def certspotter_pid(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid), "certspotter"],
                             capture_output=True, text=True).stdout.split()
        return int(out[0]) if out else None


async def until(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        await asyncio.sleep(0.2)
    return False


def alerts(bodies):
    return [b for b in bodies if DOMAIN in b and
            re.search(r"ALARM|recovered|new key on every endpoint|"
                      r"new certificate|was issued", b)]


async def scenario(info, wdir, srv, cw):
    ip = info["switchable"][DOMAIN]["ip"]
    mitm = info["targets"]["mitm"]
    good_key = info["keys"]["good"]["spki_sha256"]
    mitm_key = info["keys"]["mitm"]["spki_sha256"]
    x = cw.x
    chat = await tt.login(x, x["users"][USER], x["component"])
    redirected = None
    try:
        check("the bot answers", await chat.bot_answers())
        chat.send_message(mto=chat.comp, mbody="subscribe " + DOMAIN,
                          mtype="chat")
        await chat.next_body(r"^Subscribed to ", 30)
        await chat.next_body(r"^First check of ", 60)
        base = await cw.wait_rounds(1)
        check("the baseline round: keys seen, no split",
              base and int(base[0][0]) >= 4 and base[0][1] == "0", base)
        check("certspotter started on the lab log", await until(
            lambda: os.path.isdir(os.path.join(cw.store_dir, "ct",
                                               "certspotter", "logs")), 60))

        # The logged certificate: killed, certspotter is started again
        # (after 1 s) on the current watch list and reads the new entry.
        with open(info["keys"]["mitm"]["key"], "rb") as f:
            mkey = serialization.load_pem_private_key(f.read(), None)
        srv.log.add_cert(srv.issue(mkey, [DOMAIN, "xmpp." + DOMAIN]))
        pid = cw.certspotter_pid()
        if pid:
            os.kill(pid, signal.SIGKILL)
        ct, before = await chat.next_body(r"^keys\.test: a new certificate", 60)
        check("CT: the MITM key logged for keys.test (no DANE): an info",
              ct.startswith("keys.test: a new certificate for keys.test was "
                            "logged") and "Key (SPKI SHA-256): %s" % mitm_key
              in ct and "publishes no TLSA records" in ct and
              not alerts(before), (ct[:400], before))

        # (b) The key on port 5222 alone: the split alarm.
        tt.dnat("-A", ip, 5222, mitm)
        redirected = "5222"
        one = []
        while not [r for r in one if r[1] != "0"] and len(one) < 3:
            one += await cw.wait_rounds(1)
        early = [a for a in chat.pending(chat.bodies) if "ALARM" in a]
        check("5222 alone: one split round, no alarm yet",
              one[-1][1] == "1" and not early, (one, early))
        alarm, before = await chat.next_body(r"^ALARM: keys\.test", 40)
        check("5222 alone: the split alarm after split_rounds (2) rounds",
              alarm.startswith("ALARM: keys.test: possible man in the middle: "
                               "keys differ between probes of xmpp.keys.test")
              and not [a for a in before if "ALARM" in a],
              (alarm.splitlines()[:1], before))
        check("the split alarm names both keys, 5222 the logged one",
              "new key %s ecdsa, never established" % mitm_key in alarm and
              "key %s, seen since" % good_key in alarm and
              "xmpp-client xmpp.keys.test:5222 at %s via direct" % ip in alarm,
              alarm)
        tt.dnat("-D", ip, 5222, mitm)
        redirected = None
        back, before = await chat.next_body(r"recovered", 40)
        check("the rule removed: recovered",
              back.startswith("keys.test recovered: every probe of "
                              "xmpp.keys.test shows one key again (%s)"
                              % good_key), (back.splitlines()[:1], before))

        # (a) The key on every endpoint: the renewal, an info.  (The
        # split's new key was never established, so it is new here; in
        # the other order the key, established by its rounds on every
        # endpoint, would be no split: docs/usage.md.)
        tc.dnat_all("-A", ip, mitm)
        redirected = "all"
        moved, before = await chat.next_body(r"new key on every endpoint", 40)
        check("every port shows the logged key: info `new key on every "
              "endpoint`, no alarm",
              moved.startswith("keys.test: new key on every endpoint of "
                               "xmpp.keys.test: %s" % mitm_key) and
              not [a for a in before if "ALARM" in a],
              (moved.splitlines()[:1], before))
        more = await cw.wait_rounds(2)
        after = alerts(chat.pending(chat.bodies))
        check("every port: no alarm in the rounds after, no split",
              not after and all(r[1] == "0" for r in more), (more, after))
        tc.dnat_all("-D", ip, mitm)
        redirected = None
    finally:
        if redirected == "5222":
            tt.dnat("-D", ip, 5222, mitm)
        elif redirected == "all":
            tc.dnat_all("-D", ip, mitm)
        chat.disconnect()


def main():
    logging.basicConfig(level=logging.CRITICAL)
    if not os.access(BIN, os.X_OK):
        print("no certwatch binary at %s" % BIN)
        return 1
    wdir = tempfile.mkdtemp(prefix="certwatch-ct-continuity.")
    t0 = time.monotonic()
    with Lab.from_env() as lab:
        info = lab.info
        if DOMAIN not in info.get("switchable", {}):
            check("the lab has keys.test", False)
        else:
            srv = ctlog.Server(info["keys"]["ca"]["cert"],
                               info["keys"]["ca"]["key"], wdir)
            for i in range(3):      # start_at_end rebuilds a tree of three
                srv.log.add_cert(srv.issue(ec.generate_private_key(
                    ec.SECP256R1()), ["other%d.example" % i]))
            cw = Daemon(info, os.path.join(wdir, "d"),
                        srv.write_log_list(os.path.join(wdir, "logs.json")))
            cw.start()
            try:
                asyncio.run(scenario(info, wdir, srv, cw))
            except Exception as e:  # noqa: BLE001 - any error fails
                check("the scenario ran to its end", False,
                      "%s: %s" % (type(e).__name__, e))
            finally:
                cw.stop()
                srv.stop()
            bad = re.findall(r".*(?:Sanitizer|runtime error:).*", cw.log())
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
