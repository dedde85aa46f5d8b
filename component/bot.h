/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * bot.h - the bot's insides, shared by bot.c (stanza dispatch, iq,
 * presence, limits, sending), chat.c (chat commands), request.c (a
 * command waiting for the watcher) and adhoc.c (XEP-0050).  Private to
 * those files: everything else (the daemon, the watcher, pubsub) uses
 * comp.h.
 */
#ifndef CERTWATCH_BOT_H
#define CERTWATCH_BOT_H

#include <stddef.h>
#include <stdint.h>
#include <event2/util.h>
#include <strophe.h>
#include <sys/queue.h>
#include <time.h>

#include "component/comp.h"
#include "component/iqtab.h"
#include "util/hmap.h"

#define COMP_NS_COMMANDS "http://jabber.org/protocol/commands"
#define COMP_NS_CHATSTATES "http://jabber.org/protocol/chatstates"

/* Bytes of one body we send: a report or an alert of a domain with a few
 * endpoints, its probes and defences fits in one; longer answers are split
 * at line ends.  Servers take far larger stanzas (Prosody's
 * c2s_stanza_size_limit and ejabberd's max_stanza_size: 256 KiB). */
#define COMP_BODY_MAX 16384

/* The bot's presence status to a contact with no domains, from the bot and
 * from the watcher alike (bot.c). */
extern const char comp_presence_status[];

/*
 * Remote vantages (component/vantage.h): iq results and errors go to
 * `reply`, which returns 1 when the iq answered one of its requests; and
 * `feature`, when not NULL, is one more disco#info feature of the bot
 * while [vantage] allow is not empty.
 */
struct comp_iq_replies {
	int (*reply)(void *arg, xmpp_stanza_t *iq);
	void *arg;
	const char *feature;
};
void comp_set_iq_replies(struct comp *c, const struct comp_iq_replies *r);

/* Per bare JID: the command window and checks in flight. */
struct jid_state {
	struct hmap_node hm; /* in c->jids, by bare */
	time_t window;	     /* start of the current minute */
	unsigned count;
	int warned;
	unsigned inflight;
	char bare[];
};

/* A contact: its place in c->contacts[] (presence order) and c->contact_map. */
struct contact {
	struct hmap_node hm;
	size_t idx;
	char bare[];
};

struct outbox_item {
	STAILQ_ENTRY(outbox_item) next;
	xmpp_stanza_t *st;
	time_t queued;
};

/* The bot's state, shared by bot.c, chat.c and adhoc.c. */
struct comp {
	struct event_base *base;
	const struct config *cfg;
	struct clock clk;
	struct check_env *checks;
	struct comp_link *link;
	struct comp_adhoc *adhoc;
	struct comp_watch_hooks hooks;
	int have_hooks;
	struct comp_iq_ext iq_ext;
	int have_iq_ext;
	struct iqtab iqs;		   /* iq get/set handlers */
	struct comp_iq_replies iq_replies; /* vantage.c */

	struct hmap jids; /* struct jid_state */
	size_t njids;
	struct contact **contacts;
	size_t ncontacts, capcontacts;
	struct hmap contact_map; /* the same contacts, by bare JID */
	/* Presence to every contact when the stream comes up goes out in
	 * slices (bot.c): contacts[0, presence_next) have had it. */
	size_t presence_next;
	struct event *presence_ev;
	STAILQ_HEAD(, outbox_item) outbox;
	size_t nout;
	LIST_HEAD(, chat_check) chat_checks; /* chat.c */
	LIST_HEAD(, comp_request) requests;  /* request.c */
	struct event *sweep;

	void (*done)(void *);
	void *done_arg;
	int stopping;

	time_t started;
	uint64_t n_messages, n_commands, n_checks, n_checks_done, n_iqs;
	uint64_t n_online; /* handshakes accepted, first one included */
	uint64_t n_limited, n_dropped;
};

/* The four ad-hoc commands, also the chat commands they mirror. */
enum comp_adhoc_kind {
	ADHOC_CHECK = 0,
	ADHOC_SUBSCRIBE,
	ADHOC_UNSUBSCRIBE,
	ADHOC_STATUS,
	ADHOC_COUNT
};

/* Monotonic seconds of the bot's clock. */
time_t comp_now(const struct comp *c);

/* Sends `body` from `self` to `to` as chat messages split at line ends
 * into bodies of at most COMP_BODY_MAX bytes; `state` (may be NULL) adds
 * an XEP-0085 chat state element to the last. */
void comp_send_body(struct comp *c, const char *self, const char *to,
		    const char *body, const char *state);
/* A chat state notification alone ("composing"). */
void comp_send_state(struct comp *c, const char *self, const char *to,
		     const char *state);

/* chat.c: runs a chat command (the body is within the limits). */
void comp_chat_command(struct comp *c, const struct comp_peer *p,
		       const char *body);
/* chat.c: cancels the chat checks (their slots are given back). */
void comp_chat_cancel_all(struct comp *c);
/* chat.c: chat checks running. */
size_t comp_chat_checks(const struct comp *c);

/* Starts a check for someone (counted in stats); see check_start. */
struct check *comp_check_start(struct comp *c, const struct domain_name *d,
			       check_cb cb, void *arg);

/* The hooks, or NULL when watching is not available yet. */
const struct comp_watch_hooks *comp_hooks(struct comp *c);

/*
 * A user's command handed to a watcher hook (comp.h): `done` delivers the
 * answer (a chat reply, an ad-hoc form) with the caller's `arg`; `text` is
 * never NULL.  comp_request_done() calls it, then frees the request.
 */
typedef void (*comp_request_done_fn)(struct comp_request *r, const char *text,
				     int error);

struct comp_request {
	LIST_ENTRY(comp_request) link; /* in c->requests */
	struct comp *c;
	struct comp_peer peer;
	comp_request_done_fn done; /* NULL: the asker is gone */
	void *arg;
};

struct comp_request *comp_request_new(struct comp *c, const struct comp_peer *p,
				      comp_request_done_fn done, void *arg);
/* The asker is gone (an ad-hoc session timed out): the answer, when the
 * hook gives it, is dropped. */
void comp_request_detach(struct comp_request *r);
/* request.c: frees every pending request. */
void comp_requests_free(struct comp *c);

const struct config *comp_config(struct comp *c);
struct event_base *comp_base(struct comp *c);

/* "not yet available" text of the watching commands. */
extern const char comp_no_watch_text[];

/* bot.c: stanza helpers.  A new element (the caller owns it); an element
 * child added to parent and returned (the parent owns it); one with text. */
xmpp_stanza_t *comp_elem_new(struct comp *c, const char *name, const char *ns);
xmpp_stanza_t *comp_add_child(struct comp *c, xmpp_stanza_t *parent,
			      const char *name, const char *ns);
void comp_add_text_child(struct comp *c, xmpp_stanza_t *parent,
			 const char *name, const char *text);
/* bot.c: fills *p from a stanza's from/to; -1 when it has no usable
 * sender. */
int comp_peer_of(struct comp *c, xmpp_stanza_t *st, struct comp_peer *p);
/* bot.c: true when `to` names a user or resource of the component. */
int comp_to_node(xmpp_stanza_t *st);

/* bot_iq.c: the bot's own rows of the IQ table; an incoming iq. */
void comp_iq_register_own(struct comp *c);
void comp_on_iq(struct comp *c, xmpp_stanza_t *iq);

/* bot_presence.c: an incoming presence; `type` NULL: available, with the
 * watcher's summary as status; presence to the contacts not yet told
 * (an event callback, arg the bot); the contacts' map and their end. */
void comp_on_presence(struct comp *c, xmpp_stanza_t *st);
void comp_presence_send(struct comp *c, const char *self, const char *to,
			const char *type);
void comp_presence_pace(evutil_socket_t fd, short what, void *arg);
void comp_contacts_init(struct comp *c);
void comp_contacts_free(struct comp *c);

#endif
