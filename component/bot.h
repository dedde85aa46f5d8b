/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * bot.h - the bot's insides, shared by bot.c (stanza dispatch, iq,
 * presence, limits, sending), chat.c (chat commands), adhoc.c (XEP-0050)
 * and the watcher.  Private to component/: the daemon uses comp.h.
 */
#ifndef CERTWATCH_BOT_H
#define CERTWATCH_BOT_H

#include <stddef.h>
#include <stdint.h>
#include <strophe.h>
#include <sys/queue.h>
#include <time.h>

#include "component/comp.h"
#include "component/iqtab.h"
#include "util/hmap.h"

#define COMP_NS_COMMANDS "http://jabber.org/protocol/commands"
#define COMP_JID_MAX 3072	/* RFC 7622: three parts of 1023 bytes */

#define COMP_BODY_MAX 4096	/* bytes of one body we send */

/* The bot's presence status to a contact with no domains, from the bot and
 * from the watcher alike (bot.c). */
extern const char comp_presence_status[];

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

/* Per bare JID: the command window and checks in flight. */
struct jid_state {
	struct hmap_node hm;	/* in c->jids, by bare */
	time_t window;		/* start of the current minute */
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
	struct check_env *checks;
	struct comp_link *link;
	struct comp_adhoc *adhoc;
	struct comp_watch_hooks hooks;
	int have_hooks;
	struct comp_iq_ext iq_ext;
	int have_iq_ext;
	struct iqtab iqs;	/* iq get/set handlers */

	struct hmap jids;	/* struct jid_state */
	size_t njids;
	struct contact **contacts;
	size_t ncontacts, capcontacts;
	struct hmap contact_map;	/* the same contacts, by bare JID */
	/* Presence to every contact when the stream comes up goes out in
	 * slices (bot.c): contacts[0, presence_next) have had it. */
	size_t presence_next;
	struct event *presence_ev;
	STAILQ_HEAD(, outbox_item) outbox;
	size_t nout;
	struct chat_check *chat_checks;	/* chat.c */
	struct comp_request *requests;	/* chat.c */
	struct event *sweep;

	void (*done)(void *);
	void *done_arg;
	int stopping;

	time_t started;
	uint64_t n_messages, n_commands, n_checks, n_checks_done, n_iqs;
	uint64_t n_online;	/* handshakes accepted, first one included */
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

/* Who asked, and where the answer goes. */
struct comp_peer {
	char full[COMP_JID_MAX];	/* reply address (the sender) */
	char bare[COMP_JID_MAX];	/* for limits and subscriptions */
	char self[COMP_JID_MAX];	/* the address it was sent to: our
					 * `from` on the reply */
	int admin;
};

/* Monotonic seconds. */
time_t comp_now(void);

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
/* chat.c: frees every pending request. */
void comp_requests_free(struct comp *c);

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

/* Starts a check for someone (counted in stats); see check_start. */
struct check *comp_check_start(struct comp *c, const struct domain_name *d,
			       check_cb cb, void *arg);

/* The hooks, or NULL when watching is not available yet. */
const struct comp_watch_hooks *comp_hooks(struct comp *c);

/* A request answered through an ad-hoc session (adhoc.c): the session
 * gets the text by comp_adhoc_request_done(). */
struct comp_adhoc_session;
struct comp_request *comp_request_adhoc(struct comp *c,
					const struct comp_peer *p,
					struct comp_adhoc_session *s);
/* The request's session is gone: its answer, when the hook gives it,
 * is dropped. */
void comp_request_detach(struct comp_request *r);

const struct config *comp_config(struct comp *c);
struct event_base *comp_base(struct comp *c);

/* "not yet available" text of the watching commands. */
extern const char comp_no_watch_text[];

#endif
