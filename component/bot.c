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

#include "component/adhoc.h"
#include "component/command.h"
#include "component/log.h"
#include "component/report.h"
#include "component/comp_link.h"
#include "util/clock.h"
#include "util/container.h"

#define OUTBOX_MAX 20000 /* stanzas kept while the stream is down */
#define OUTBOX_TTL 900	 /* seconds they are kept */
#define SWEEP_S 60

const char comp_presence_status[] =
    "I check XMPP services for machine-in-the-middle attacks (DANE); "
    "send \"help\".";

time_t
comp_now(const struct comp *c)
{
	return (time_t)(c->clk.mono_ms() / 1000);
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
	time_t t = comp_now(c);
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
			 "for the XMPP server",
			 expired, OUTBOX_TTL);
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
			 "dropping one to %s",
			 OUTBOX_MAX,
			 xmpp_stanza_get_to(st) ? xmpp_stanza_get_to(st) : "?");
		return;
	}
	o = xcalloc(1, sizeof(*o));
	o->st = xmpp_stanza_clone(st);
	o->queued = comp_now(c);
	STAILQ_INSERT_TAIL(&c->outbox, o, next);
	c->nout++;
	outbox_flush(c);
}

xmpp_stanza_t *
comp_elem_new(struct comp *c, const char *name, const char *ns)
{
	xmpp_stanza_t *e = xmpp_stanza_new(comp_ctx(c));

	xmpp_stanza_set_name(e, name);
	if (ns != NULL)
		xmpp_stanza_set_ns(e, ns);
	return e;
}

/* Adds an element child and returns it (owned by the parent). */
xmpp_stanza_t *
comp_add_child(struct comp *c, xmpp_stanza_t *parent, const char *name,
	       const char *ns)
{
	xmpp_stanza_t *e = comp_elem_new(c, name, ns);

	xmpp_stanza_add_child_ex(parent, e, 0);
	return e;
}

void
comp_add_text_child(struct comp *c, xmpp_stanza_t *parent, const char *name,
		    const char *text)
{
	xmpp_stanza_t *e = comp_add_child(c, parent, name, NULL);
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
			comp_add_child(c, m, state, COMP_NS_CHATSTATES);
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
	comp_add_child(c, m, state, COMP_NS_CHATSTATES);
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
	xmpp_stanza_t *r =
	    xmpp_iq_new(comp_ctx(c), "result", xmpp_stanza_get_id(iq));
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
comp_limit_command(struct comp *c, const struct comp_peer *p, unsigned *wait_s)
{
	unsigned limit = c->cfg->commands_per_minute;
	struct jid_state *j;
	time_t t = comp_now(c);

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
	time_t t = comp_now(c);

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
int
comp_peer_of(struct comp *c, xmpp_stanza_t *st, struct comp_peer *p)
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
int
comp_to_node(xmpp_stanza_t *st)
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
	if (comp_peer_of(c, st, &p) < 0)
		return;
	body = xmpp_message_get_body(st);
	if (body == NULL)
		return; /* chat states, receipts... */
	c->n_messages++;
	if (comp_to_node(st)) {
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
			 "again in %u s.",
			 c->cfg->commands_per_minute, wait_s);
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

/* ---- The link's callbacks ---------------------------------------------- */

static void
link_online(void *arg)
{
	struct comp *c = arg;

	c->n_online++;
	/* Contacts see the bot online again at once, not at their next
	 * probe. */
	c->presence_next = 0;
	comp_presence_pace(-1, 0, c);
	outbox_flush(c);
}

static void
link_offline(void *arg)
{
	struct comp *c = arg;

	log_info("bot: %zu chat checks and %zu ad-hoc sessions wait for "
		 "the stream",
		 comp_chat_checks(c), comp_adhoc_sessions(c->adhoc));
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
		comp_on_iq(c, st);
	else if (strcmp(name, "presence") == 0)
		comp_on_presence(c, st);
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
	 struct check_env *checks, const struct clock *clk, char *err,
	 size_t errlen)
{
	struct comp *c = xcalloc(1, sizeof(*c));
	struct comp_link_opts o = {
	    .jid = cfg->jid,
	    .secret = cfg->secret,
	    .host = cfg->host,
	    .port = cfg->port,
	};
	struct comp_link_cbs cbs = {
	    .online = link_online,
	    .offline = link_offline,
	    .stanza = link_stanza,
	    .closed = link_closed,
	};
	struct timeval sweep = {SWEEP_S, 0};

	STAILQ_INIT(&c->outbox);
	c->jids.hash = jid_hash;
	comp_contacts_init(c);
	LIST_INIT(&c->chat_checks);
	LIST_INIT(&c->requests);
	c->base = base;
	c->cfg = cfg;
	c->checks = checks;
	c->clk = clock_or_system(clk);
	c->started = comp_now(c);
	c->link = comp_link_new(base, &o, &cbs, c, err, errlen);
	if (c->link == NULL) {
		free(c);
		return NULL;
	}
	comp_iq_register_own(c);
	c->adhoc = comp_adhoc_new(c);
	c->sweep = event_new(base, -1, EV_PERSIST, sweep_cb, c);
	event_add(c->sweep, &sweep);
	c->presence_ev = evtimer_new(base, comp_presence_pace, c);
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
			comp_presence_send(c, c->cfg->jid, c->contacts[i]->bare,
					   "unavailable");
	comp_link_close(c->link);
}

void
comp_free(struct comp *c)
{
	if (c == NULL)
		return;
	c->stopping = 1; /* the watcher may be gone: no more hooks */
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
	comp_contacts_free(c);
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

int
comp_unsent(const struct comp *c)
{
	if (!STAILQ_EMPTY(&c->outbox) || !comp_link_online(c->link))
		return 1 + comp_link_queued(c->link);
	return comp_link_queued(c->link);
}

unsigned long
comp_reconnects(const struct comp *c)
{
	return c->n_online > 1 ? (unsigned long)(c->n_online - 1) : 0;
}
