#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Logs in to the lab's Prosody as a test user, adds certwatch to the
roster and chats `check mitm.test` with it, printing the conversation."""
import asyncio
import json
import sys

import slixmpp

info = json.load(open(sys.argv[1], encoding='utf-8'))
srv = info['xmpp']['prosody']
user = srv['users'][0]
bot = srv['component']


class Demo(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(user['jid'], user['password'])
        self.done = asyncio.Event()
        self.add_event_handler('session_start', self.start)
        self.add_event_handler('message', self.message)

    async def start(self, _):
        self.send_presence()
        self.send_presence(pto=bot, ptype='subscribe')
        await asyncio.sleep(0.5)
        for body in ('help', 'check mitm.test'):
            print(f'\n{user["jid"]} → {bot}: {body}')
            self.send_message(mto=bot, mbody=body, mtype='chat')
            await asyncio.sleep(0.5)

    def message(self, msg):
        if msg['type'] in ('chat', 'normal') and msg['body']:
            print(f'{bot} → {user["jid"]}:\n{msg["body"]}')
            if 'CERTWATCH' in msg['body'] or 'mismatch' in msg['body']:
                self.done.set()


async def main():
    x = Demo()
    x['feature_mechanisms'].unencrypted_plain = True
    if info.get('ca_cert'):
        x.ca_certs = info['ca_cert']
    x.connect((srv['host'], srv['c2s_port']),
              force_starttls=False, disable_starttls=False)
    try:
        await asyncio.wait_for(x.done.wait(), 60)
    except asyncio.TimeoutError:
        print('demo: no report from the bot within 60 s; see its log')
    x.disconnect()
    await asyncio.sleep(0.2)


asyncio.get_event_loop().run_until_complete(main())
