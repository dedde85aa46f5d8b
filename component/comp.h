/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * comp.h - the certwatch bot, as the daemon sees it: an XEP-0114 component
 * that answers chat commands, ad-hoc commands (XEP-0050), disco, version,
 * ping and presence, and runs one-off checks.  Everything runs on the
 * caller's event_base.
 */
#ifndef CERTWATCH_COMP_H
#define CERTWATCH_COMP_H

#include <stddef.h>

#include "component/config.h"
#include "component/names.h"
#include "probe/check.h"
#include "util/buf.h"

struct event_base;
struct comp;

/*
 * Creates the bot.  `cfg` and `checks` must outlive it (cfg is read, not
 * copied).  Returns NULL with a message in err.
 */
struct comp *comp_new(struct event_base *base, const struct config *cfg,
		      struct check_env *checks, char *err, size_t errlen);

/* Connects; from then on it reconnects by itself, forever.  0 or -1. */
int comp_start(struct comp *c);

/*
 * Sends unavailable presence to every known contact, closes the stream
 * after what is queued, then calls done(arg) from the event loop.  Checks
 * still running are cancelled.
 */
void comp_shutdown(struct comp *c, void (*done)(void *), void *arg);

/* Frees the bot (cancels its checks and pending requests). */
void comp_free(struct comp *c);

/*
 * Sends `body` as chat message(s) to a bare JID, split at line ends into
 * bodies of at most 4096 bytes (never cut short).  While the stream is
 * down the messages wait and go out once reconnected.  0 or -1.
 */
int comp_send_message(struct comp *c, const char *to_jid, const char *body);

/* 1 while the stream to the server is up. */
int comp_online(const struct comp *c);

/* Stanzas not yet written to the server's socket: waiting for the stream
 * to come back, or in libstrophe's send queue (0: all written). */
int comp_unsent(const struct comp *c);

/* Times the stream came back after the first connection. */
unsigned long comp_reconnects(const struct comp *c);

/* ---- Hooks for the watcher (subscriptions) --------------------------- */

/* One user's command waiting for its answer, from chat or ad-hoc. */
struct comp_request;

/* The bare JID that asked. */
const char *comp_request_jid(const struct comp_request *r);

/* True when the JID is an admin (not bound by [limits]). */
int comp_request_admin(const struct comp_request *r);

/*
 * Answers and frees the request: a chat reply (split like
 * comp_send_message), or the ad-hoc command's completed form with `text`
 * as its note.  `error`: the request failed (ad-hoc: an error note).
 */
void comp_request_done(struct comp_request *r, const char *text, int error);

/*
 * What `subscribe`, `unsubscribe`, `status` and `recheck` do.  Each hook
 * owns `r` until it calls comp_request_done() (now or later); `d` is only
 * valid during the call.  Until hooks are set those commands answer that
 * watching is not available yet.  Requests still pending at comp_free()
 * are freed by it: the hooks' owner must not use them after that.
 */
struct comp_watch_hooks {
	void *arg;
	void (*subscribe)(void *arg, struct comp_request *r,
			  const struct domain_name *d);
	/* d == NULL: `unsubscribe all` */
	void (*unsubscribe)(void *arg, struct comp_request *r,
			    const struct domain_name *d);
	/* d == NULL: every subscription of the JID */
	void (*status)(void *arg, struct comp_request *r,
		       const struct domain_name *d);
	void (*recheck)(void *arg, struct comp_request *r,
			const struct domain_name *d);
	/* Extra lines for the admin `stats` reply (may be NULL). */
	void (*stats)(void *arg, struct buf *out);
	/* A JID subscribed to / unsubscribed from the bot's presence
	 * (may be NULL); the bot keeps its own list in memory. */
	void (*presence)(void *arg, const char *bare_jid, int subscribed);
	/* The bot's available presence towards a bare JID (answering its
	 * probe, after a reconnect): fills `status` (and *dnd for an alarm)
	 * and returns 1, or 0 for the bot's generic presence (may be NULL). */
	int (*presence_of)(void *arg, const char *bare_jid, int *dnd,
			   char *status, size_t len);
	/* One of the JID's checks_in_flight slots was given back (may be
	 * NULL): a check waiting for one (after a subscribe) can start.
	 * Not called once the bot is stopping. */
	void (*check_slot_free)(void *arg, const char *bare_jid);
};

void comp_set_watch_hooks(struct comp *c, const struct comp_watch_hooks *h);

/* Sends the bot's available presence to a bare JID now: the status line
 * (and <show>dnd</show>) from the presence_of hook, or the generic one. */
void comp_send_presence(struct comp *c, const char *bare_jid);

/* Adds a JID to the contacts that get the bot's presence (e.g. loaded
 * from the store at start). */
void comp_add_contact(struct comp *c, const char *bare_jid);

#endif
