/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * bot.c - the bot: stanza dispatch (message, iq, presence), chat commands,
 * per-JID limits, one-off checks, and what waits while the stream is down.
 */
#include "component/bot.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "version.h"
#include "component/adhoc.h"
#include "component/command.h"
#include "component/log.h"
#include "component/report.h"
#include "component/comp_link.h"
#include "util/clock.h"
#include "util/container.h"


#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_VERSION "jabber:iq:version"
#define NS_PING "urn:xmpp:ping"
#define NS_CHATSTATES "http://jabber.org/protocol/chatstates"

#define OUTBOX_MAX 20000	/* stanzas kept while the stream is down */
#define OUTBOX_TTL 900		/* seconds they are kept */
#define SWEEP_S 60

const char comp_presence_status[] =
	"I check XMPP services for machine-in-the-middle attacks (DANE); "
	"send \"help\".";

time_t
comp_now(void)
{
	return (time_t)(clock_mono_ms() / 1000);
}

xmpp_ctx_t *
comp_ctx(struct comp *c)
{
	return comp_link_ctx(c->link);
}

const struct config *
comp_config(struct comp *c)
{
	return c->cfg;
}

struct event_base *
comp_base(struct comp *c)
{
	return c->base;
}

const struct comp_watch_hooks *
comp_hooks(struct comp *c)
{
	return c->have_hooks ? &c->hooks : NULL;
}

/* ---- Sending ----------------------------------------------------------- */

static void
outbox_flush(struct comp *c)
{
	time_t t = comp_now();
	size_t expired = 0;

	while (!STAILQ_EMPTY(&c->outbox) && comp_link_online(c->link)) {
		struct outbox_item *o = STAILQ_FIRST(&c->outbox);
		STAILQ_REMOVE_HEAD(&c->outbox, next);
		c->nout--;
		if (t - o->queued <= OUTBOX_TTL)
			comp_link_send(c->link, o->st);
		else
			expired++;
		xmpp_stanza_release(o->st);
		free(o);
	}
	if (expired > 0)
		log_warn("bot: dropped %zu replies older than %d s that waited "
			 "for the XMPP server", expired, OUTBOX_TTL);
}

void
comp_send(struct comp *c, xmpp_stanza_t *st)
{
	struct outbox_item *o;

	if (comp_link_online(c->link) && STAILQ_EMPTY(&c->outbox)) {
		comp_link_send(c->link, st);
		return;
	}
	if (c->nout >= OUTBOX_MAX) {
		c->n_dropped++;
		log_warn("bot: XMPP server away and %d replies waiting: "
			 "dropping one to %s", OUTBOX_MAX,
			 xmpp_stanza_get_to(st) ? xmpp_stanza_get_to(st)
						: "?");
		return;
	}
	o = xcalloc(1, sizeof(*o));
	o->st = xmpp_stanza_clone(st);
	o->queued = comp_now();
	STAILQ_INSERT_TAIL(&c->outbox, o, next);
	c->nout++;
	outbox_flush(c);
}

static xmpp_stanza_t *
new_elem(struct comp *c, const char *name, const char *ns)
{
	xmpp_stanza_t *e = xmpp_stanza_new(comp_ctx(c));

	xmpp_stanza_set_name(e, name);
	if (ns != NULL)
		xmpp_stanza_set_ns(e, ns);
	return e;
}

/* Adds an element child and returns it (owned by the parent). */
static xmpp_stanza_t *
add_child(struct comp *c, xmpp_stanza_t *parent, const char *name,
	  const char *ns)
{
	xmpp_stanza_t *e = new_elem(c, name, ns);

	xmpp_stanza_add_child_ex(parent, e, 0);
	return e;
}

static void
add_text_child(struct comp *c, xmpp_stanza_t *parent, const char *name,
	       const char *text)
{
	xmpp_stanza_t *e = add_child(c, parent, name, NULL);
	xmpp_stanza_t *t = xmpp_stanza_new(comp_ctx(c));

	xmpp_stanza_set_text(t, text);
	xmpp_stanza_add_child_ex(e, t, 0);
}

/* Sends `body` from `self` to `to`, split into bodies of at most 4096
 * bytes at line ends; `state` adds an XEP-0085 chat state to the last. */
void
comp_send_body(struct comp *c, const char *self, const char *to,
	       const char *body, const char *state)
{
	size_t len = strlen(body), off = 0;

	do {
		size_t n = comp_cmd_split(body + off, len - off, COMP_BODY_MAX);
		size_t keep = n;
		char *piece;
		xmpp_stanza_t *m;

		while (keep > 0 && body[off + keep - 1] == '\n')
			keep--;
		piece = xcalloc(1, keep + 1);
		memcpy(piece, body + off, keep);
		m = xmpp_message_new(comp_ctx(c), "chat", to, NULL);
		xmpp_stanza_set_from(m, self);
		xmpp_message_set_body(m, piece);
		if (state != NULL && off + n >= len)
			add_child(c, m, state, NS_CHATSTATES);
		comp_send(c, m);
		xmpp_stanza_release(m);
		free(piece);
		off += n;
	} while (off < len);
}

void
comp_send_state(struct comp *c, const char *self, const char *to,
		const char *state)
{
	xmpp_stanza_t *m = xmpp_message_new(comp_ctx(c), "chat", to, NULL);

	xmpp_stanza_set_from(m, self);
	add_child(c, m, state, NS_CHATSTATES);
	comp_send(c, m);
	xmpp_stanza_release(m);
}

int
comp_send_message(struct comp *c, const char *to_jid, const char *body)
{
	if (to_jid == NULL || body == NULL || body[0] == '\0')
		return -1;
	comp_send_body(c, c->cfg->jid, to_jid, body, NULL);
	return 0;
}

xmpp_stanza_t *
comp_iq_result(struct comp *c, xmpp_stanza_t *iq)
{
	xmpp_stanza_t *r = xmpp_iq_new(comp_ctx(c), "result",
				       xmpp_stanza_get_id(iq));
	const char *to = xmpp_stanza_get_to(iq);

	xmpp_stanza_set_to(r, xmpp_stanza_get_from(iq));
	xmpp_stanza_set_from(r, to ? to : c->cfg->jid);
	return r;
}

void
comp_iq_error(struct comp *c, xmpp_stanza_t *iq, const char *type,
	      const char *cond, const char *text)
{
	xmpp_stanza_t *r = xmpp_stanza_reply_error(iq, type, cond, text);

	if (r == NULL)
		return;
	if (xmpp_stanza_get_from(r) == NULL)
		xmpp_stanza_set_from(r, c->cfg->jid);
	comp_send(c, r);
	xmpp_stanza_release(r);
}

/* ---- Per-JID limits ---------------------------------------------------- */

static uint32_t
jid_hash(const struct hmap_node *n)
{
	return hmap_hash_str(CONTAINER(n, struct jid_state, hm)->bare);
}

static int
jid_eq(const struct hmap_node *n, const void *bare)
{
	return strcmp(CONTAINER(n, struct jid_state, hm)->bare, bare) == 0;
}

static struct jid_state *
jid_get(struct comp *c, const char *bare)
{
	uint32_t h = hmap_hash_str(bare);
	struct hmap_node *n = hmap_find(&c->jids, h, jid_eq, bare);
	struct jid_state *j;

	if (n != NULL)
		return CONTAINER(n, struct jid_state, hm);
	j = xcalloc(1, sizeof(*j) + strlen(bare) + 1);
	strcpy(j->bare, bare);
	if (hmap_insert(&c->jids, &j->hm, h) < 0)
		fatal(1, "out of memory");
	c->njids++;
	return j;
}

int
comp_limit_command(struct comp *c, const struct comp_peer *p,
		   unsigned *wait_s)
{
	unsigned limit = c->cfg->commands_per_minute;
	struct jid_state *j;
	time_t t = comp_now();

	c->n_commands++;
	if (limit == 0 || p->admin)
		return 0;
	j = jid_get(c, p->bare);
	if (t - j->window >= 60) {
		j->window = t;
		j->count = 0;
		j->warned = 0;
	}
	if (++j->count <= limit)
		return 0;
	c->n_limited++;
	*wait_s = (unsigned)(60 - (t - j->window));
	if (j->warned)
		return 2;
	j->warned = 1;
	return 1;
}

int
comp_check_acquire(struct comp *c, const struct comp_peer *p, char *msg,
		   size_t msglen)
{
	unsigned limit = c->cfg->checks_in_flight;
	struct jid_state *j = jid_get(c, p->bare);

	if (limit > 0 && !p->admin && j->inflight >= limit) {
		snprintf(msg, msglen,
			 "You have %u checks running already (limit "
			 "checks_in_flight = %u); wait for their reports.",
			 j->inflight, limit);
		return -1;
	}
	j->inflight++;
	return 0;
}

void
comp_check_release(struct comp *c, const char *bare)
{
	struct jid_state *j = jid_get(c, bare);

	if (j->inflight > 0)
		j->inflight--;
	if (!c->stopping && c->have_hooks && c->hooks.check_slot_free)
		c->hooks.check_slot_free(c->hooks.arg, bare);
}

/* Forgets JIDs that have nothing running and an old window. */
static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct comp *c = arg;
	time_t t = comp_now();

	struct hmap_iter it;

	for (struct hmap_node *n = hmap_first(&c->jids, &it); n;
	     n = hmap_next(&it)) {
		struct jid_state *j = CONTAINER(n, struct jid_state, hm);
		if (j->inflight == 0 && t - j->window >= 60) {
			hmap_remove(&c->jids, n);
			free(j);
			c->njids--;
		}
	}
}

/* Fills *p from a stanza; -1 when it has no usable sender. */
static int
peer_of(struct comp *c, xmpp_stanza_t *st, struct comp_peer *p)
{
	const char *from = xmpp_stanza_get_from(st);
	const char *to = xmpp_stanza_get_to(st);

	if (from == NULL || strlen(from) >= sizeof(p->full) ||
	    (to != NULL && strlen(to) >= sizeof(p->self)))
		return -1;
	if (names_bare_jid(from, p->bare, sizeof(p->bare)) < 0)
		return -1;
	snprintf(p->full, sizeof(p->full), "%s", from);
	snprintf(p->self, sizeof(p->self), "%s", to ? to : c->cfg->jid);
	p->admin = config_is_admin(c->cfg, p->bare);
	return 0;
}

/* True when `to` names a user or resource of the component ("x@comp"). */
static int
to_node(xmpp_stanza_t *st)
{
	const char *to = xmpp_stanza_get_to(st);

	return to != NULL && strchr(to, '@') != NULL;
}

static void
on_message(struct comp *c, xmpp_stanza_t *st)
{
	const char *type = xmpp_stanza_get_type(st);
	struct comp_peer p;
	char *body;
	unsigned wait_s = 0;
	int lim;

	/* Never answer errors (no loops between bots), group chats or
	 * headlines. */
	if (type != NULL && strcmp(type, "chat") != 0 &&
	    strcmp(type, "normal") != 0)
		return;
	if (peer_of(c, st, &p) < 0)
		return;
	body = xmpp_message_get_body(st);
	if (body == NULL)
		return;	/* chat states, receipts... */
	c->n_messages++;
	if (to_node(st)) {
		xmpp_stanza_t *e = xmpp_stanza_reply_error(
			st, "cancel", "service-unavailable",
			"Nobody here: talk to the component's own address.");
		if (e != NULL) {
			comp_send(c, e);
			xmpp_stanza_release(e);
		}
		xmpp_free(comp_ctx(c), body);
		return;
	}
	lim = comp_limit_command(c, &p, &wait_s);
	if (lim == 1) {
		char msg[200];
		snprintf(msg, sizeof(msg),
			 "You hit the rate limit (%u commands a minute); try "
			 "again in %u s.", c->cfg->commands_per_minute, wait_s);
		comp_send_body(c, p.self, p.full, msg, NULL);
	} else if (lim == 0 && c->cfg->max_message > 0 &&
		   strlen(body) > c->cfg->max_message) {
		char msg[200];
		snprintf(msg, sizeof(msg),
			 "Your message is too long (%zu bytes; the limit is "
			 "%u). Send \"help\" for the commands.",
			 strlen(body), c->cfg->max_message);
		comp_send_body(c, p.self, p.full, msg, NULL);
	} else if (lim == 0) {
		comp_chat_command(c, &p, body);
	}
	xmpp_free(comp_ctx(c), body);
}

/* ---- iq ---------------------------------------------------------------- */

static void
add_feature(struct comp *c, xmpp_stanza_t *q, const char *var)
{
	xmpp_stanza_t *f = add_child(c, q, "feature", NULL);

	xmpp_stanza_set_attribute(f, "var", var);
}

/* The bot's own rows of the IQ table (iq_register_own), peers of ad-hoc
 * (adhoc.c) and pubsub (pubsub.c), which register themselves. */
static int
disco_info(void *userdata, void *call)
{
	struct comp_iq_call *qc = call;
	struct comp *c = qc->c;
	xmpp_stanza_t *iq = qc->iq, *query = qc->payload;
	const char *node = xmpp_stanza_get_attribute(query, "node");
	xmpp_stanza_t *r = comp_iq_result(c, iq);
	xmpp_stanza_t *q = add_child(c, r, "query", NS_DISCO_INFO);

	(void)userdata;
	if (node != NULL) {
		xmpp_stanza_set_attribute(q, "node", node);
		if (comp_adhoc_disco_info(c->adhoc, node, q) < 0 &&
		    (!c->have_iq_ext || c->iq_ext.disco_info == NULL ||
		     c->iq_ext.disco_info(c->iq_ext.arg, node, q) < 0)) {
			xmpp_stanza_release(r);
			comp_iq_error(c, iq, "cancel", "item-not-found", NULL);
			return 1;
		}
	} else {
		xmpp_stanza_t *id = add_child(c, q, "identity", NULL);
		xmpp_stanza_set_attribute(id, "category", "component");
		xmpp_stanza_set_attribute(id, "type", "generic");
		xmpp_stanza_set_attribute(id, "name", "certwatch");
		id = add_child(c, q, "identity", NULL);
		xmpp_stanza_set_attribute(id, "category", "automation");
		xmpp_stanza_set_attribute(id, "type", "command-list");
		xmpp_stanza_set_attribute(id, "name", "certwatch commands");
		add_feature(c, q, NS_DISCO_INFO);
		add_feature(c, q, NS_DISCO_ITEMS);
		add_feature(c, q, COMP_NS_COMMANDS);
		add_feature(c, q, "jabber:x:data");
		add_feature(c, q, NS_VERSION);
		add_feature(c, q, NS_PING);
		add_feature(c, q, NS_CHATSTATES);
		if (c->have_iq_ext && c->iq_ext.disco_info != NULL)
			(void)c->iq_ext.disco_info(c->iq_ext.arg, NULL, q);
	}
	comp_send(c, r);
	xmpp_stanza_release(r);
	return 1;
}

static int
disco_items(void *userdata, void *call)
{
	struct comp_iq_call *qc = call;
	struct comp *c = qc->c;
	xmpp_stanza_t *iq = qc->iq, *query = qc->payload;
	const char *node = xmpp_stanza_get_attribute(query, "node");
	const char *self = xmpp_stanza_get_to(iq);
	const struct comp_iq_ext *ext = c->have_iq_ext ? &c->iq_ext : NULL;
	xmpp_stanza_t *r, *q;

	(void)userdata;
	if (self == NULL)
		self = c->cfg->jid;
	r = comp_iq_result(c, iq);
	q = add_child(c, r, "query", NS_DISCO_ITEMS);
	if (node != NULL)
		xmpp_stanza_set_attribute(q, "node", node);
	if (node != NULL && strcmp(node, COMP_NS_COMMANDS) == 0) {
		comp_adhoc_disco_items(c->adhoc, q, self);
	} else if (node != NULL &&
		   comp_adhoc_disco_info(c->adhoc, node, NULL) == 0) {
		/* A command node has no items. */
	} else if (ext != NULL && ext->disco_items != NULL) {
		if (ext->disco_items(ext->arg, node, q, self) < 0 &&
		    node != NULL) {
			xmpp_stanza_release(r);
			comp_iq_error(c, iq, "cancel", "item-not-found", NULL);
			return 1;
		}
	} else if (node != NULL) {
		xmpp_stanza_release(r);
		comp_iq_error(c, iq, "cancel", "item-not-found", NULL);
		return 1;
	}
	comp_send(c, r);
	xmpp_stanza_release(r);
	return 1;
}

static int
version(void *userdata, void *call)
{
	struct comp_iq_call *qc = call;
	struct comp *c = qc->c;
	xmpp_stanza_t *r = comp_iq_result(c, qc->iq);
	xmpp_stanza_t *q = add_child(c, r, "query", NS_VERSION);

	(void)userdata;
	add_text_child(c, q, "name", "certwatch");
	add_text_child(c, q, "version", CERTWATCH_VERSION);
	comp_send(c, r);
	xmpp_stanza_release(r);
	return 1;
}

static void
on_iq(struct comp *c, xmpp_stanza_t *iq)
{
	const char *type = xmpp_stanza_get_type(iq);
	xmpp_stanza_t *child = NULL;
	const char *ns = NULL, *name = NULL;
	int get;
	struct comp_peer p;
	struct comp_iq_call call;

	if (type == NULL ||
	    (strcmp(type, "get") != 0 && strcmp(type, "set") != 0))
		return;	/* results and errors: we ask nothing */
	if (peer_of(c, iq, &p) < 0)
		return;
	c->n_iqs++;
	get = strcmp(type, "get") == 0;
	if (to_node(iq)) {
		comp_iq_error(c, iq, "cancel", "service-unavailable", NULL);
		return;
	}
	/* The payload: the first element child (RFC 6120 §8.2.3: exactly
	 * one). */
	for (child = xmpp_stanza_get_children(iq); child;
	     child = xmpp_stanza_get_next(child))
		if (!xmpp_stanza_is_text(child))
			break;
	if (child != NULL) {
		ns = xmpp_stanza_get_ns(child);
		name = xmpp_stanza_get_name(child);
	}
	if (ns == NULL || name == NULL) {
		comp_iq_error(c, iq, "modify", "bad-request", NULL);
		return;
	}
	call = (struct comp_iq_call){
		.c = c, .iq = iq, .payload = child, .peer = &p, .get = get,
	};
	if (iqtab_dispatch(&c->iqs, ns, name, get ? IQTAB_GET : IQTAB_SET,
			   &call) == 0)
		comp_iq_error(c, iq, "cancel", "service-unavailable", NULL);
}

int
comp_iq_handler_add(struct comp *c, int (*fn)(void *, void *), const char *ns,
		    const char *name, unsigned types, void *userdata)
{
	return iqtab_add(&c->iqs, fn, ns, name, types, userdata);
}

/* XEP-0199 §4: an empty result. */
static int
iq_ping(void *userdata, void *call)
{
	struct comp_iq_call *q = call;
	xmpp_stanza_t *r = comp_iq_result(q->c, q->iq);

	(void)userdata;
	comp_send(q->c, r);
	xmpp_stanza_release(r);
	return 1;
}

static void
iq_register_own(struct comp *c)
{
	iqtab_init(&c->iqs);
	(void)iqtab_add(&c->iqs, disco_info, NS_DISCO_INFO, "query",
			IQTAB_GET, NULL);
	(void)iqtab_add(&c->iqs, disco_items, NS_DISCO_ITEMS, "query",
			IQTAB_GET, NULL);
	(void)iqtab_add(&c->iqs, version, NS_VERSION, "query", IQTAB_GET,
			NULL);
	(void)iqtab_add(&c->iqs, iq_ping, NS_PING, "ping", IQTAB_GET, NULL);
}

/* ---- Presence ---------------------------------------------------------- */

/* The contacts live in an array (presence goes out in the order they came)
 * with a hash map beside it, so the watcher can add 100,000 of them at
 * start-up without a quadratic scan. */
static uint32_t
contact_hash(const struct hmap_node *n)
{
	return hmap_hash_str(CONTAINER(n, struct contact, hm)->bare);
}

static int
contact_eq(const struct hmap_node *n, const void *bare)
{
	return strcmp(CONTAINER(n, struct contact, hm)->bare, bare) == 0;
}

static struct contact *
contact_find(struct comp *c, const char *bare)
{
	struct hmap_node *n = hmap_find(&c->contact_map, hmap_hash_str(bare),
					contact_eq, bare);

	return n ? CONTAINER(n, struct contact, hm) : NULL;
}

void
comp_set_iq_ext(struct comp *c, const struct comp_iq_ext *ext)
{
	c->iq_ext = *ext;
	c->have_iq_ext = 1;
}

void
comp_add_contact(struct comp *c, const char *bare)
{
	struct contact *k;
	size_t len = strlen(bare);

	if (contact_find(c, bare) != NULL)
		return;
	if (c->ncontacts == c->capcontacts) {
		c->capcontacts = c->capcontacts ? c->capcontacts * 2 : 16;
		c->contacts = xrealloc(c->contacts,
				       c->capcontacts * sizeof(*c->contacts));
	}
	k = xcalloc(1, sizeof(*k) + len + 1);
	memcpy(k->bare, bare, len + 1);
	k->idx = c->ncontacts;
	if (hmap_insert(&c->contact_map, &k->hm, hmap_hash_str(bare)) < 0)
		fatal(1, "out of memory");
	c->contacts[c->ncontacts++] = k;
}

/* Moves contacts[from] to the free place `to`. */
static void
contact_move(struct comp *c, size_t from, size_t to)
{
	c->contacts[to] = c->contacts[from];
	c->contacts[to]->idx = to;
}

static void
remove_contact(struct comp *c, const char *bare)
{
	struct contact *k = contact_find(c, bare);
	size_t i, last;

	if (k == NULL)
		return;
	i = k->idx;
	hmap_remove(&c->contact_map, &k->hm);
	free(k);
	last = --c->ncontacts;
	if (i < c->presence_next) {
		/* Keep [0, presence_next) the contacts already sent: the
		 * last of those fills the hole, and its place becomes the
		 * hole. */
		size_t hole = --c->presence_next;
		if (hole != i)
			contact_move(c, hole, i);
		i = hole;
	}
	if (i != last)
		contact_move(c, last, i);
}

static void
send_presence(struct comp *c, const char *self, const char *to,
	      const char *type)
{
	xmpp_stanza_t *pr = xmpp_presence_new(comp_ctx(c));

	xmpp_stanza_set_from(pr, self);
	xmpp_stanza_set_to(pr, to);
	if (type != NULL) {
		xmpp_stanza_set_type(pr, type);
	} else {
		char bare[COMP_JID_MAX], line[512];
		int dnd = 0;
		/* The watcher's summary of the contact's domains, if any. */
		if (c->have_hooks && c->hooks.presence_of &&
		    names_bare_jid(to, bare, sizeof(bare)) == 0 &&
		    c->hooks.presence_of(c->hooks.arg, bare, &dnd, line,
					 sizeof(line))) {
			if (dnd)
				add_text_child(c, pr, "show", "dnd");
			add_text_child(c, pr, "status", line);
		} else {
			add_text_child(c, pr, "status", comp_presence_status);
		}
	}
	comp_send(c, pr);
	xmpp_stanza_release(pr);
}

void
comp_send_presence(struct comp *c, const char *bare_jid)
{
	send_presence(c, c->cfg->jid, bare_jid, NULL);
}

static void
on_presence(struct comp *c, xmpp_stanza_t *st)
{
	const char *type = xmpp_stanza_get_type(st);
	struct comp_peer p;
	char self[COMP_JID_MAX];

	if (type == NULL || to_node(st) || peer_of(c, st, &p) < 0)
		return;	/* available/unavailable: nothing to answer */
	/* Presence is about the bare component JID. */
	if (names_bare_jid(p.self, self, sizeof(self)) < 0)
		return;
	if (strcmp(type, "subscribe") == 0) {
		send_presence(c, self, p.bare, "subscribed");
		if (contact_find(c, p.bare) == NULL) {
			comp_add_contact(c, p.bare);
			if (c->have_hooks && c->hooks.presence)
				c->hooks.presence(c->hooks.arg, p.bare, 1);
		}
		send_presence(c, self, p.bare, "subscribe");
		send_presence(c, self, p.bare, NULL);
	} else if (strcmp(type, "unsubscribe") == 0) {
		send_presence(c, self, p.bare, "unsubscribed");
		send_presence(c, self, p.bare, "unavailable");
		if (contact_find(c, p.bare) != NULL) {
			remove_contact(c, p.bare);
			if (c->have_hooks && c->hooks.presence)
				c->hooks.presence(c->hooks.arg, p.bare, 0);
		}
	} else if (strcmp(type, "probe") == 0) {
		send_presence(c, self, p.full, NULL);
	} else if (strcmp(type, "subscribed") == 0) {
		send_presence(c, self, p.bare, NULL);
	}
}

/* ---- The link's callbacks ---------------------------------------------- */

/* Presence to the contacts not yet told, a slice at a time while the
 * stream's send queue is short: libstrophe keeps each queued stanza in a
 * 1 KB buffer, so 11,111 contacts at once would hold 12 MB (and leave the
 * heap that large). */
#define PRESENCE_SLICE 256

static void
presence_pace(evutil_socket_t fd, short what, void *arg)
{
	struct comp *c = arg;
	struct timeval tv = {0, 10000};
	size_t end;

	if (!comp_link_online(c->link))
		return;	/* link_online starts again */
	if (comp_link_queued(c->link) < PRESENCE_SLICE / 4) {
		end = c->presence_next + PRESENCE_SLICE;
		if (end > c->ncontacts)
			end = c->ncontacts;
		while (c->presence_next < end)
			send_presence(c, c->cfg->jid,
				      c->contacts[c->presence_next++]->bare,
				      NULL);
	}
	if (c->presence_next < c->ncontacts)
		evtimer_add(c->presence_ev, &tv);
}

static void
link_online(void *arg)
{
	struct comp *c = arg;

	c->n_online++;
	/* Contacts see the bot online again at once, not at their next
	 * probe. */
	c->presence_next = 0;
	presence_pace(-1, 0, c);
	outbox_flush(c);
}

static void
link_offline(void *arg)
{
	struct comp *c = arg;

	log_info("bot: %zu chat checks and %zu ad-hoc sessions wait for "
		 "the stream", comp_chat_checks(c),
		 comp_adhoc_sessions(c->adhoc));
}

static void
link_stanza(void *arg, xmpp_stanza_t *st)
{
	struct comp *c = arg;
	const char *name = xmpp_stanza_get_name(st);

	if (name == NULL || c->stopping)
		return;
	if (strcmp(name, "message") == 0)
		on_message(c, st);
	else if (strcmp(name, "iq") == 0)
		on_iq(c, st);
	else if (strcmp(name, "presence") == 0)
		on_presence(c, st);
}

static void
link_closed(void *arg)
{
	struct comp *c = arg;

	if (c->done)
		c->done(c->done_arg);
}

/* ---- Life cycle -------------------------------------------------------- */

struct comp *
comp_new(struct event_base *base, const struct config *cfg,
	 struct check_env *checks, char *err, size_t errlen)
{
	struct comp *c = xcalloc(1, sizeof(*c));
	struct comp_link_opts o = {
		.jid = cfg->jid, .secret = cfg->secret, .host = cfg->host,
		.port = cfg->port,
	};
	struct comp_link_cbs cbs = {
		.online = link_online, .offline = link_offline,
		.stanza = link_stanza, .closed = link_closed,
	};
	struct timeval sweep = {SWEEP_S, 0};

	STAILQ_INIT(&c->outbox);
	c->jids.hash = jid_hash;
	c->contact_map.hash = contact_hash;
	LIST_INIT(&c->chat_checks);
	LIST_INIT(&c->requests);
	c->base = base;
	c->cfg = cfg;
	c->checks = checks;
	c->started = comp_now();
	c->link = comp_link_new(base, &o, &cbs, c, err, errlen);
	if (c->link == NULL) {
		free(c);
		return NULL;
	}
	iq_register_own(c);
	c->adhoc = comp_adhoc_new(c);
	c->sweep = event_new(base, -1, EV_PERSIST, sweep_cb, c);
	event_add(c->sweep, &sweep);
	c->presence_ev = evtimer_new(base, presence_pace, c);
	return c;
}

int
comp_start(struct comp *c)
{
	log_info("bot: %s connecting to %s:%u", c->cfg->jid, c->cfg->host,
		 (unsigned)c->cfg->port);
	return comp_link_start(c->link);
}

void
comp_shutdown(struct comp *c, void (*done)(void *), void *arg)
{
	c->done = done;
	c->done_arg = arg;
	c->stopping = 1;
	comp_chat_cancel_all(c);
	if (comp_link_online(c->link))
		for (size_t i = 0; i < c->ncontacts; i++)
			send_presence(c, c->cfg->jid, c->contacts[i]->bare,
				      "unavailable");
	comp_link_close(c->link);
}

void
comp_free(struct comp *c)
{
	if (c == NULL)
		return;
	c->stopping = 1;	/* the watcher may be gone: no more hooks */
	comp_chat_cancel_all(c);
	comp_adhoc_free(c->adhoc);
	comp_requests_free(c);
	while (!STAILQ_EMPTY(&c->outbox)) {
		struct outbox_item *o = STAILQ_FIRST(&c->outbox);
		STAILQ_REMOVE_HEAD(&c->outbox, next);
		xmpp_stanza_release(o->st);
		free(o);
	}
	struct hmap_iter it;
	for (struct hmap_node *n = hmap_first(&c->jids, &it); n;
	     n = hmap_next(&it))
		free(CONTAINER(n, struct jid_state, hm));
	hmap_clear(&c->jids);
	for (size_t i = 0; i < c->ncontacts; i++)
		free(c->contacts[i]);
	free(c->contacts);
	hmap_clear(&c->contact_map);
	if (c->sweep)
		event_free(c->sweep);
	if (c->presence_ev)
		event_free(c->presence_ev);
	comp_link_free(c->link);
	free(c);
}

int
comp_online(const struct comp *c)
{
	return comp_link_online(c->link);
}

unsigned long
comp_reconnects(const struct comp *c)
{
	return c->n_online > 1 ? (unsigned long)(c->n_online - 1) : 0;
}
