#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_defence_alerts.py - a watched domain's defence alerts end to end
(docs/usage.md, "Alerts"): channel binding withdrawn between rounds.

The real `certwatch run` against the lab's Prosody, with a chat
subscriber (slixmpp).  cbswitch.test's server (the lab's cbplus fixture,
the good key) offers SCRAM-*-PLUS after TLS; an iptables DNAT rule sends
its port 5222 to cbstrip, which holds the same key (a stolen key passes
DANE) and offers the same mechanisms without the -PLUS ones, with a
certificate that expires in 3 days.  Checked:

  - the first DNAT round: one info alert naming the new leaf that
    expires before the last one and the expiry line, no alarm yet;
  - the second (`[watch] split_rounds` = 2): one ALARM with the
    documented words, while the DANE verdict stays ok;
  - the rule undone: one "recovered" (channel binding offered again);
  - the port sent to bigcert (the same key, silent after TLS): no alarm,
    one info after split_rounds rounds, then "recovered".

Rounds are awaited through the daemon's log and the messages, never by
fixed sleeps.  Needs root (the lab, iptables).

Usage: test_defence_alerts.py [CERTWATCH_BIN]   (or $CERTWATCH_BIN)
"""
import asyncio
import json
import os
import re
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "lab"))
import test_trouble as tt  # noqa: E402  (its daemon, subscriber, DNAT)
from cwtest import free_port  # noqa: E402

DOMAIN = "cbswitch.test"
check = tt.check


async def watch_presence(chat):
    """The bot in chat's roster (subscription both ways, from none: a
    reused lab keeps rosters); its presences queued in chat.presences."""
    chat.presences = asyncio.Queue()
    chat.add_event_handler(
        "presence", lambda p: p["from"].bare == chat.comp and
        p["type"] in ("available", "dnd") and chat.presences.put_nowait(p))
    await chat.get_roster()
    if chat.comp in chat.client_roster:
        chat.del_roster_item(chat.comp)
        deadline = time.monotonic() + 10
        while chat.comp in chat.client_roster and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    chat.send_presence(pto=chat.comp, ptype="subscribe")


async def presence_until(chat, want, timeout=30):
    """The bot's first presence whose status matches want: (show,
    status), or the statuses seen."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            p = await asyncio.wait_for(chat.presences.get(),
                                       deadline - time.monotonic())
        except asyncio.TimeoutError:
            break
        seen.append((p["show"], p["status"]))
        if re.search(want, p["status"] or ""):
            return p["show"], p["status"]
    return None, seen


async def scenario(info, wdir):
    ip = info["switchable"][DOMAIN]["ip"]
    strip_ip = info["targets"]["cbstrip"]
    cw = tt.Certwatch(info, wdir)
    x = cw.x
    # The web face too, for GET /api/domain.
    http = "127.0.0.1:%d" % free_port()
    with open(cw.conf, "a") as f:
        f.write("\n[http]\nlisten = %s\n" % http)
    chat = None
    redirected = False
    cw.start()
    try:
        chat = await tt.login(x, x["users"][16], x["component"])
        first = await tt.subscribe(chat, DOMAIN) or ""
        await watch_presence(chat)      # the bot answers by now
        check("the first check: ok, channel binding offered",
              "cbswitch.test: ok" in first and
              "Channel binding (XEP-0440): offered" in first, first)

        tt.dnat("-A", ip, 5222, strip_ip)
        redirected = True
        # The first round through cbstrip: counted, not yet an alarm.
        await cw.wait_log(r"cbswitch\.test: defences: .* cb_ep=0/5222/1/13/"
                          r"[0-9a-f]{8}/1/0/0", 60)
        info_alert, before = await chat.next_body(r"a new certificate", 20)
        check("round 1: an info alert, the new leaf and the expiry line",
              re.search(r"^cbswitch\.test: a new certificate at "
                        r"xmpp\.cbswitch\.test expires on \d{4}-\d\d-\d\d, "
                        r"before the one seen before it", info_alert, re.M)
              and "expires in 2 days" in info_alert
              and "ALARM" not in info_alert and not before,
              (info_alert, before))
        alarm, before = await chat.next_body(r"^ALARM", 40)
        want = (r"^ALARM: cbswitch\.test: channel binding withdrawn at "
                r"xmpp-client xmpp\.cbswitch\.test:5222: it offered "
                r"SCRAM-\*-PLUS \(XEP-0440\) and for 2 rounds offers only "
                r"SCRAM-SHA-256 SCRAM-SHA-1 PLAIN at the same TLS version "
                r"\(TLS1\.3\)\. .* whatever the DANE verdict \(ok\)\.$")
        check("round 2: the alarm, with the documented words",
              re.match(want, tt.first_line(alarm)) and not before,
              (tt.first_line(alarm), before))
        check("the DANE verdict stays ok", "cbswitch.test: ok" in alarm,
              alarm)
        logged = re.findall(r"cbswitch\.test: alarm: channel binding "
                            r"withdrawn", cw.log())
        check("logged once", len(logged) == 1, logged)
        show = await presence_until(chat, r"^ALERT: ", 20)
        check("presence: dnd while the alarm is open",
              show == ("dnd", "ALERT: cbswitch.test channel binding "
                              "withdrawn"), show)

        tt.dnat("-D", ip, 5222, strip_ip)
        redirected = False
        back, before = await chat.next_body(r"recovered", 40)
        check("recovered when it is offered again",
              re.match(r"^cbswitch\.test recovered: channel binding "
                       r"offered again at xmpp-client "
                       r"xmpp\.cbswitch\.test:5222$", tt.first_line(back))
              and not [b for b in before if "ALARM" in b],
              (tt.first_line(back), before))
        show = await presence_until(chat, r"OK", 20)
        check("presence: available again", show == ("", "1 domain OK"),
              show)

        # The same key, silent after TLS (bigcert): not a withdrawn
        # round, but said once after split_rounds rounds.
        silent_ip = info["targets"]["bigcert"]
        tt.dnat("-A", ip, 5222, silent_ip)
        redirected = silent_ip
        unread, before = await chat.next_body(r"can no longer be read", 60)
        check("silent after TLS for 2 rounds: one info, no alarm",
              re.match(r"^cbswitch\.test: channel binding can no longer be "
                       r"read at xmpp-client xmpp\.cbswitch\.test:5222: it "
                       r"offered SCRAM-\*-PLUS, and for 2 rounds its stream "
                       r"after TLS fails \(", tt.first_line(unread))
              and "cbswitch.test: ok" in unread and not before,
              (tt.first_line(unread), before))
        tt.dnat("-D", ip, 5222, silent_ip)
        redirected = False
        back, before = await chat.next_body(r"recovered", 40)
        check("recovered when it is read again",
              "channel binding offered again" in tt.first_line(back)
              and not before, (tt.first_line(back), before))
        chat.send_message(mto=chat.comp, mbody="status " + DOMAIN,
                          mtype="chat")
        st, _ = await chat.next_body(r"^cbswitch\.test: ok \(checked", 20)
        check("status: the defences line",
              re.search(r"^  defences: CAA bound to your ACME account: none; "
                        r"Channel binding: offered; Expiry: \d+ days; TLSA "
                        r"records: strong; Next key prepared: none; Key kept "
                        r"across renewals: kept$", st, re.M), st)
        url = "http://%s/api/domain?domain=%s" % (http, DOMAIN)
        with urllib.request.urlopen(url, timeout=10) as r:
            api = json.load(r)
        check("GET /api/domain: the defences, key_reuse kept",
              api.get("defences", {}).get("key_reuse") == "kept" and
              api["defences"].get("channel_binding") == "offered" and
              api["defences"].get("tlsa_quality") == "strong",
              api.get("defences"))
    finally:
        if redirected:
            tt.dnat("-D", ip, 5222,
                    strip_ip if redirected is True else redirected)
        if chat:
            chat.disconnect()
        cw.stop()
        # What the next start reads: the defence line (docs/store.md).
        lines = []
        sdir = os.path.join(wdir, "store")
        for name in os.listdir(sdir) if os.path.isdir(sdir) else ():
            with open(os.path.join(sdir, name), errors="replace") as f:
                text = f.read()
            if "domain " + DOMAIN + "\n" in text:
                lines += re.findall(r"^defence .*$", text, re.M)
        check("the store keeps the defence line, offered again",
              len(lines) == 1 and re.search(
                  r"^defence caa=none cb=offered expiry=ok tlsa=strong "
                  r"next_key=none key_reuse=kept not_after=\d+ "
                  r"expiry_alerted=\d+ cb_ep=0/5222/1/13/[0-9a-f]{8}/0/0/0$",
                  lines[0]), lines)
        cw.mark = 0
        bad = re.findall(r".*(?:Sanitizer|runtime error:).*", cw.log())
        check("no sanitizer report", not bad, bad[:5])


def main():
    return tt.run(DOMAIN, scenario, "certwatch-defalerts.")

if __name__ == "__main__":
    sys.exit(main())
