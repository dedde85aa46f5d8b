/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * comp.h - the certwatch bot, as the daemon sees it: an XEP-0114 component
 * that answers chat commands, ad-hoc commands (XEP-0050), disco, version,
 * ping and presence, and runs one-off checks.  Everything runs on the
 * caller's event_base.  The one public face of the bot: the daemon, the
 * watcher and pubsub see struct comp only through this header (bot.h is
 * the bot's own).
 */
#ifndef CERTWATCH_COMP_H
#define CERTWATCH_COMP_H

#include <stddef.h>
#include <strophe.h>

#include "component/config.h"
#include "component/iqtab.h"
#include "component/names.h"
#include "probe/check.h"
#include "util/clock.h"
#include "util/buf.h"

struct event_base;
struct comp;

/*
 * Creates the bot.  `cfg` and `checks` must outlive it (cfg is read, not
 * copied); `clk` is the daemon's clock (util/clock.h; NULL: the
 * system's), whose monotonic time the rate limits and the outbox's ages
 * are counted in.  Returns NULL with a message in err.
 */
struct comp *comp_new(struct event_base *base, const struct config *cfg,
		      struct check_env *checks, const struct clock *clk,
		      char *err, size_t errlen);

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

/* ---- For the bot's extensions (pubsub, the watcher) ------------------ */

#define COMP_JID_MAX 3072 /* RFC 7622: three parts of 1023 bytes */

/* Who asked, and where the answer goes. */
struct comp_peer {
	char full[COMP_JID_MAX]; /* reply address (the sender) */
	char bare[COMP_JID_MAX]; /* for limits and subscriptions */
	char self[COMP_JID_MAX]; /* the address it was sent to: our
				  * `from` on the reply */
	int admin;
};

/* One iq get/set to the component's own address, as the handlers of the
 * IQ table (iqtab.h) get it: `payload` is its first element child. */
struct comp_iq_call {
	struct comp *c;
	xmpp_stanza_t *iq;
	xmpp_stanza_t *payload;
	const struct comp_peer *peer;
	int get;
};

/*
 * Registers fn for iq gets and/or sets (IQTAB_GET | IQTAB_SET) whose
 * payload is <name xmlns=ns/>, like libstrophe's xmpp_handler_add(); fn
 * gets (userdata, struct comp_iq_call *) and returns 1 when it answered.
 * 0, or -1 (duplicate, table full).  ns and name must outlive the bot.
 */
int comp_iq_handler_add(struct comp *c, int (*fn)(void *, void *),
			const char *ns, const char *name, unsigned types,
			void *userdata);

/*
 * An extension of the bot's disco (the pubsub service): its nodes and
 * features beside the bot's own.
 */
struct comp_iq_ext {
	void *arg;
	/* node NULL: adds identities and features to the root disco#info
	 * and returns 0; otherwise fills `q` for a node it knows (0) or
	 * returns -1. */
	int (*disco_info)(void *arg, const char *node, xmpp_stanza_t *q);
	/* node NULL: adds items of the root disco#items (0); otherwise
	 * fills `q` for a node it knows (0) or returns -1.  `self` is the
	 * address the request was sent to. */
	int (*disco_items)(void *arg, const char *node, xmpp_stanza_t *q,
			   const char *self);
};

/* Installs the extension (copied); one at a time. */
void comp_set_iq_ext(struct comp *c, const struct comp_iq_ext *ext);

/* xmpp_ctx_t for building stanzas. */
xmpp_ctx_t *comp_ctx(struct comp *c);

/* Sends now, or keeps it for when the stream is back (the caller keeps
 * its reference). */
void comp_send(struct comp *c, xmpp_stanza_t *st);

/* Replies to an iq with an error of RFC 6120 §8.3 (`text` may be NULL). */
void comp_iq_error(struct comp *c, xmpp_stanza_t *iq, const char *type,
		   const char *cond, const char *text);

/* A result iq to `iq`, from its `to`; the caller sends and releases. */
xmpp_stanza_t *comp_iq_result(struct comp *c, xmpp_stanza_t *iq);

/*
 * Counts one command of peer against [limits] commands_per_minute.
 * Returns 0 (go on), 1 (first one over the limit: tell them, `*wait_s`
 * seconds to wait), 2 (over again: drop silently).
 */
int comp_limit_command(struct comp *c, const struct comp_peer *p,
		       unsigned *wait_s);

/* Takes one of the peer's [limits] checks_in_flight slots; -1 with a reply
 * text in msg when none is free.  comp_check_release gives it back (and
 * tells the watcher, whose checks after a subscribe wait for a slot). */
int comp_check_acquire(struct comp *c, const struct comp_peer *p, char *msg,
		       size_t msglen);
void comp_check_release(struct comp *c, const char *bare);

#endif
