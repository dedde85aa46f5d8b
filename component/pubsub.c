/* SPDX-License-Identifier: GPL-3.0-or-later */
/* pubsub.c - XEP-0060 nodes named after watched domains. */
#include "component/pubsub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component/comp.h"
#include "component/domain_state.h"
#include "component/log.h"
#include "component/names.h"
#include "util/buf.h"

#define PUBSUB_MAX_ITEMS_LISTED 1000 /* disco#items of the service */

struct pubsub {
	struct comp *comp;
	const struct config *cfg;
	struct store *st;
	struct watch *w;
};

/* A subscribe waiting for its durable write. */
struct ps_pending {
	struct pubsub *ps;
	xmpp_stanza_t *iq;
	char node[DNS_NAME_MAX + 1];
	char jid[STORE_JID_MAX + 1];
	char subid[32];
	int is_new;
};

static xmpp_stanza_t *
child(xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name, const char *ns)
{
	xmpp_stanza_t *c = xmpp_stanza_new(ctx);

	xmpp_stanza_set_name(c, name);
	if (ns)
		xmpp_stanza_set_ns(c, ns);
	xmpp_stanza_add_child(parent, c);
	xmpp_stanza_release(c);
	return c;
}

static void
text_child(xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name,
	   const char *text)
{
	xmpp_stanza_t *c = child(ctx, parent, name, NULL);
	xmpp_stanza_t *t = xmpp_stanza_new(ctx);

	xmpp_stanza_set_text(t, text);
	xmpp_stanza_add_child(c, t);
	xmpp_stanza_release(t);
}

static void
set_int_attr(xmpp_stanza_t *s, const char *name, long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	xmpp_stanza_set_attribute(s, name, buf);
}

xmpp_stanza_t *
pubsub_state_payload(struct pubsub *ps, const char *domain, const char *alert,
		     const char *text)
{
	xmpp_ctx_t *ctx = comp_ctx(ps->comp);
	const struct store_domain *sd = store_domain_get(ps->st, domain);
	xmpp_stanza_t *st;

	if (sd == NULL)
		return NULL;
	struct domain_state *ds = xcalloc(1, sizeof(*ds));
	(void)domain_state_load(sd, ds, NULL, 0);
	st = xmpp_stanza_new(ctx);
	xmpp_stanza_set_name(st, "state");
	xmpp_stanza_set_ns(st, CERTWATCH_NS_STATE);
	xmpp_stanza_set_attribute(st, "domain", sd->name);
	xmpp_stanza_set_attribute(st, "verdict",
				  ds->alert.verdict != VERDICT_NONE
				      ? verdict_name(ds->alert.verdict)
				      : "pending");
	if (alert)
		xmpp_stanza_set_attribute(st, "alert", alert);
	set_int_attr(st, "checked", (long long)sd->last_check);
	set_int_attr(st, "changed", (long long)sd->last_change);
	for (size_t i = 0; i < ds->n; i++) {
		const struct endpoint_state *e = &ds->ep[i];
		xmpp_stanza_t *ep = child(ctx, st, "endpoint", NULL);
		xmpp_stanza_set_attribute(ep, "service",
					  check_service_name(e->service));
		xmpp_stanza_set_attribute(ep, "host", e->host);
		set_int_attr(ep, "port", e->port);
		if (e->verdict !=
		    VERDICT_NONE) /* a store file may leave it out */
			xmpp_stanza_set_attribute(ep, "verdict",
						  verdict_name(e->verdict));
		if (e->spki[0])
			xmpp_stanza_set_attribute(ep, "spki-sha256", e->spki);
		if (e->error[0])
			xmpp_stanza_set_attribute(ep, "error", e->error);
	}
	free(ds);
	if (text)
		text_child(ctx, st, "text", text);
	return st;
}

/* Sends one notification of `domain`'s state to `jid`. */
static void
notify_one(struct pubsub *ps, const char *domain, const char *jid,
	   const char *subid, xmpp_stanza_t *payload, const char *body)
{
	xmpp_ctx_t *ctx = comp_ctx(ps->comp);
	xmpp_stanza_t *m = xmpp_message_new(ctx, "headline", jid, NULL);
	xmpp_stanza_t *ev, *items, *item;

	xmpp_stanza_set_from(m, ps->cfg->jid);
	ev = child(ctx, m, "event", PUBSUB_NS_EVENT);
	items = child(ctx, ev, "items", NULL);
	xmpp_stanza_set_attribute(items, "node", domain);
	item = child(ctx, items, "item", NULL);
	xmpp_stanza_set_attribute(item, "id", "current");
	xmpp_stanza_t *copy = xmpp_stanza_copy(payload);
	xmpp_stanza_add_child(item, copy);
	xmpp_stanza_release(copy);
	if (subid && *subid) {
		xmpp_stanza_t *h =
		    child(ctx, m, "headers", "http://jabber.org/protocol/shim");
		xmpp_stanza_t *hd = child(ctx, h, "header", NULL);
		xmpp_stanza_set_attribute(hd, "name", "SubID");
		xmpp_stanza_t *t = xmpp_stanza_new(ctx);
		xmpp_stanza_set_text(t, subid);
		xmpp_stanza_add_child(hd, t);
		xmpp_stanza_release(t);
	}
	if (body)
		text_child(ctx, m, "body", body);
	comp_send(ps->comp, m);
	xmpp_stanza_release(m);
}

static void
publish(void *arg, const char *domain, enum alert_kind kind, const char *text,
	const struct check_result *res)
{
	struct pubsub *ps = arg;
	const struct store_domain *sd = store_domain_get(ps->st, domain);
	xmpp_stanza_t *payload;

	if (sd == NULL || sd->n_pubsub == 0)
		return;
	payload = pubsub_state_payload(ps, domain, alert_kind_name(kind), text);
	if (payload == NULL)
		return;
	for (size_t i = 0; i < sd->n_pubsub; i++)
		notify_one(ps, domain, sd->pubsub[i].jid, sd->pubsub[i].subid,
			   payload, text);
	xmpp_stanza_release(payload);
}

static void
iq_error(struct pubsub *ps, xmpp_stanza_t *iq, const char *type,
	 const char *cond, const char *text)
{
	comp_iq_error(ps->comp, iq, type, cond, text);
}

static int
node_domain(const char *node, struct domain_name *d, char *err, size_t errlen)
{
	if (node == NULL || *node == '\0') {
		snprintf(err, errlen, "a node (the domain) is required");
		return -1;
	}
	return names_domain(node, strlen(node), d, err, errlen);
}

/* The subscriber's JID must be the requester's (bare compare). */
static int
jid_matches(const char *jid, const char *from_bare)
{
	char bare[STORE_JID_MAX + 1];

	if (jid == NULL || names_bare_jid(jid, bare, sizeof(bare)) < 0)
		return 0;
	return strcmp(bare, from_bare) == 0;
}

static void
subscription_reply(struct pubsub *ps, xmpp_stanza_t *iq, const char *node,
		   const char *jid, const char *subid, const char *state)
{
	xmpp_ctx_t *ctx = comp_ctx(ps->comp);
	xmpp_stanza_t *r = comp_iq_result(ps->comp, iq);
	xmpp_stanza_t *p = child(ctx, r, "pubsub", PUBSUB_NS);
	xmpp_stanza_t *s = child(ctx, p, "subscription", NULL);

	xmpp_stanza_set_attribute(s, "node", node);
	xmpp_stanza_set_attribute(s, "jid", jid);
	if (subid && *subid)
		xmpp_stanza_set_attribute(s, "subid", subid);
	xmpp_stanza_set_attribute(s, "subscription", state);
	comp_send(ps->comp, r);
	xmpp_stanza_release(r);
}

static void
sub_committed(void *arg, int result)
{
	struct ps_pending *p = arg;
	struct pubsub *ps = p->ps;

	if (result < 0) {
		store_pubsub_remove(ps->st, p->node, p->jid, p->subid);
		if (p->is_new)
			watch_domain_maybe_drop(ps->w, p->node);
		iq_error(ps, p->iq, "wait", "internal-server-error",
			 "the subscription could not be stored");
	} else {
		subscription_reply(ps, p->iq, p->node, p->jid, p->subid,
				   "subscribed");
		watch_domain_touched(ps->w, p->node);
		/* The last published item: the current state, if known. */
		const struct store_domain *sd =
		    store_domain_get(ps->st, p->node);
		if (sd && sd->verdict) {
			xmpp_stanza_t *pl =
			    pubsub_state_payload(ps, p->node, NULL, NULL);
			notify_one(ps, p->node, p->jid, p->subid, pl, NULL);
			xmpp_stanza_release(pl);
		}
	}
	xmpp_stanza_release(p->iq);
	free(p);
}

static void
do_subscribe(struct pubsub *ps, xmpp_stanza_t *iq, xmpp_stanza_t *el,
	     const char *from_bare, int admin)
{
	const char *node = xmpp_stanza_get_attribute(el, "node");
	const char *jid = xmpp_stanza_get_attribute(el, "jid");
	struct domain_name d;
	char err[128];

	if (!jid_matches(jid, from_bare)) {
		iq_error(ps, iq, "modify", "bad-request",
			 "the jid must be your own");
		return;
	}
	if (node_domain(node, &d, err, sizeof(err)) < 0) {
		iq_error(ps, iq, "cancel", "item-not-found", err);
		return;
	}
	if (!admin && ps->cfg->subscriptions_per_jid &&
	    store_subs_of_bare(ps->st, from_bare) >=
		ps->cfg->subscriptions_per_jid) {
		iq_error(ps, iq, "cancel", "not-allowed",
			 "subscription limit reached (subscriptions_per_jid)");
		return;
	}
	struct ps_pending *p = xcalloc(1, sizeof(*p));
	p->ps = ps;
	p->iq = xmpp_stanza_clone(iq);
	p->is_new = store_domain_get(ps->st, d.a) == NULL;
	snprintf(p->node, sizeof(p->node), "%s", d.a);
	snprintf(p->jid, sizeof(p->jid), "%s", jid);
	/* One subscription per JID and node: its subid is fixed. */
	snprintf(p->subid, sizeof(p->subid), "cw1");
	if (store_pubsub_add(ps->st, d.a, jid, p->subid) < 0 ||
	    store_commit(ps->st, sub_committed, p) < 0) {
		xmpp_stanza_release(p->iq);
		free(p);
		iq_error(ps, iq, "wait", "internal-server-error", NULL);
	}
}

static void
do_unsubscribe(struct pubsub *ps, xmpp_stanza_t *iq, xmpp_stanza_t *el,
	       const char *from_bare)
{
	const char *node = xmpp_stanza_get_attribute(el, "node");
	const char *jid = xmpp_stanza_get_attribute(el, "jid");
	struct domain_name d;
	char err[128];

	if (!jid_matches(jid, from_bare)) {
		iq_error(ps, iq, "modify", "bad-request",
			 "the jid must be your own");
		return;
	}
	if (node_domain(node, &d, err, sizeof(err)) < 0 ||
	    store_domain_get(ps->st, d.a) == NULL) {
		iq_error(ps, iq, "cancel", "item-not-found", NULL);
		return;
	}
	if (store_pubsub_remove(ps->st, d.a, jid, NULL) == 0) {
		iq_error(ps, iq, "cancel", "unexpected-request",
			 "not subscribed");
		return;
	}
	watch_domain_maybe_drop(ps->w, d.a);
	store_commit(ps->st, NULL, NULL);
	xmpp_stanza_t *r = comp_iq_result(ps->comp, iq);
	comp_send(ps->comp, r);
	xmpp_stanza_release(r);
}

static void
do_items(struct pubsub *ps, xmpp_stanza_t *iq, xmpp_stanza_t *el)
{
	xmpp_ctx_t *ctx = comp_ctx(ps->comp);
	const char *node = xmpp_stanza_get_attribute(el, "node");
	struct domain_name d;
	char err[128];
	xmpp_stanza_t *payload;

	if (node_domain(node, &d, err, sizeof(err)) < 0 ||
	    store_domain_get(ps->st, d.a) == NULL) {
		iq_error(ps, iq, "cancel", "item-not-found", NULL);
		return;
	}
	xmpp_stanza_t *r = comp_iq_result(ps->comp, iq);
	xmpp_stanza_t *p = child(ctx, r, "pubsub", PUBSUB_NS);
	xmpp_stanza_t *items = child(ctx, p, "items", NULL);
	xmpp_stanza_set_attribute(items, "node", d.a);
	payload = pubsub_state_payload(ps, d.a, NULL, NULL);
	if (payload) {
		xmpp_stanza_t *item = child(ctx, items, "item", NULL);
		xmpp_stanza_set_attribute(item, "id", "current");
		xmpp_stanza_add_child(item, payload);
		xmpp_stanza_release(payload);
	}
	comp_send(ps->comp, r);
	xmpp_stanza_release(r);
}

static void
do_subscriptions(struct pubsub *ps, xmpp_stanza_t *iq, xmpp_stanza_t *el,
		 const char *from_bare)
{
	xmpp_ctx_t *ctx = comp_ctx(ps->comp);
	const char *only = xmpp_stanza_get_attribute(el, "node");
	xmpp_stanza_t *r = comp_iq_result(ps->comp, iq);
	xmpp_stanza_t *p = child(ctx, r, "pubsub", PUBSUB_NS);
	xmpp_stanza_t *subs = child(ctx, p, "subscriptions", NULL);
	size_t cur = 0;
	const struct store_jid *sj;

	if (only)
		xmpp_stanza_set_attribute(subs, "node", only);
	/* Every JID whose bare form is the requester's. */
	while ((sj = store_jid_next(ps->st, &cur)) != NULL) {
		if (!jid_matches(sj->jid, from_bare))
			continue;
		for (size_t i = 0; i < sj->n_pubsub; i++) {
			const struct store_domain *sd = sj->pubsub[i];
			if (only && strcmp(only, sd->name))
				continue;
			xmpp_stanza_t *s =
			    child(ctx, subs, "subscription", NULL);
			xmpp_stanza_set_attribute(s, "node", sd->name);
			xmpp_stanza_set_attribute(s, "jid", sj->jid);
			xmpp_stanza_set_attribute(s, "subscription",
						  "subscribed");
			for (size_t j = 0; j < sd->n_pubsub; j++)
				if (!strcmp(sd->pubsub[j].jid, sj->jid) &&
				    sd->pubsub[j].subid)
					xmpp_stanza_set_attribute(
					    s, "subid", sd->pubsub[j].subid);
		}
	}
	comp_send(ps->comp, r);
	xmpp_stanza_release(r);
}

/* Subscribe and unsubscribe are commands like chat's and ad-hoc's: they
 * count against the JID's [limits] commands_per_minute (an iq always gets
 * an answer, RFC 6120 §8.2.3, so each one over is refused, not dropped).
 * Answers and returns -1 when over. */
static int
rate_limited(struct pubsub *ps, xmpp_stanza_t *iq, const char *from_bare,
	     int admin)
{
	struct comp_peer p = {.admin = admin};
	unsigned wait_s = 0;
	char msg[160];

	snprintf(p.bare, sizeof(p.bare), "%s", from_bare);
	if (comp_limit_command(ps->comp, &p, &wait_s) == 0)
		return 0;
	snprintf(msg, sizeof(msg),
		 "rate limit: %u commands a minute; try again in %u s",
		 ps->cfg->commands_per_minute, wait_s);
	iq_error(ps, iq, "wait", "resource-constraint", msg);
	return -1;
}

/* The IQ table's rows for <pubsub/> in both namespaces (bot.h). */
static int
ext_iq(void *arg, void *call)
{
	struct pubsub *ps = arg;
	const struct comp_iq_call *q = call;
	xmpp_stanza_t *iq = q->iq, *payload = q->payload;
	const char *from_bare = q->peer->bare;
	int admin = q->peer->admin, get = q->get;
	const char *ns = xmpp_stanza_get_ns(payload);
	xmpp_stanza_t *el;

	if (ns == NULL || strcmp(xmpp_stanza_get_name(payload), "pubsub"))
		return 0;
	if (!strcmp(ns, PUBSUB_NS_OWNER)) {
		iq_error(ps, iq, "cancel", "forbidden",
			 "nodes are made by watching a domain");
		return 1;
	}
	if (strcmp(ns, PUBSUB_NS))
		return 0;
	for (el = xmpp_stanza_get_children(payload); el;
	     el = xmpp_stanza_get_next(el))
		if (!xmpp_stanza_is_text(el))
			break;
	if (el == NULL) {
		iq_error(ps, iq, "modify", "bad-request", NULL);
		return 1;
	}
	const char *name = xmpp_stanza_get_name(el);
	if (!get &&
	    (!strcmp(name, "subscribe") || !strcmp(name, "unsubscribe")) &&
	    rate_limited(ps, iq, from_bare, admin) < 0)
		return 1;
	if (!get && !strcmp(name, "subscribe"))
		do_subscribe(ps, iq, el, from_bare, admin);
	else if (!get && !strcmp(name, "unsubscribe"))
		do_unsubscribe(ps, iq, el, from_bare);
	else if (get && !strcmp(name, "items"))
		do_items(ps, iq, el);
	else if (get && !strcmp(name, "subscriptions"))
		do_subscriptions(ps, iq, el, from_bare);
	else if (!get && (!strcmp(name, "publish") || !strcmp(name, "create") ||
			  !strcmp(name, "retract")))
		iq_error(ps, iq, "auth", "forbidden",
			 "only certwatch publishes on its nodes");
	else
		iq_error(ps, iq, "cancel", "feature-not-implemented", NULL);
	return 1;
}

static void
feature(xmpp_ctx_t *ctx, xmpp_stanza_t *q, const char *var)
{
	xmpp_stanza_set_attribute(child(ctx, q, "feature", NULL), "var", var);
}

static int
ext_disco_info(void *arg, const char *node, xmpp_stanza_t *q)
{
	struct pubsub *ps = arg;
	xmpp_ctx_t *ctx = comp_ctx(ps->comp);

	if (node == NULL) {
		xmpp_stanza_t *id = child(ctx, q, "identity", NULL);
		xmpp_stanza_set_attribute(id, "category", "pubsub");
		xmpp_stanza_set_attribute(id, "type", "service");
		xmpp_stanza_set_attribute(id, "name", "certwatch alerts");
		feature(ctx, q, PUBSUB_NS);
		feature(ctx, q, PUBSUB_NS "#subscribe");
		feature(ctx, q, PUBSUB_NS "#retrieve-items");
		feature(ctx, q, PUBSUB_NS "#retrieve-subscriptions");
		feature(ctx, q, PUBSUB_NS "#last-published");
		return 0;
	}
	if (store_domain_get(ps->st, node) == NULL)
		return -1;
	xmpp_stanza_t *id = child(ctx, q, "identity", NULL);
	xmpp_stanza_set_attribute(id, "category", "pubsub");
	xmpp_stanza_set_attribute(id, "type", "leaf");
	xmpp_stanza_set_attribute(id, "name", node);
	feature(ctx, q, PUBSUB_NS);
	return 0;
}

static int
ext_disco_items(void *arg, const char *node, xmpp_stanza_t *q, const char *self)
{
	struct pubsub *ps = arg;
	xmpp_ctx_t *ctx = comp_ctx(ps->comp);
	size_t cur = 0, n = 0;
	const struct store_domain *sd;

	if (node != NULL)
		return store_domain_get(ps->st, node) ? 0 : -1;
	while ((sd = store_domain_next(ps->st, &cur)) != NULL &&
	       n < PUBSUB_MAX_ITEMS_LISTED) {
		xmpp_stanza_t *it = child(ctx, q, "item", NULL);
		xmpp_stanza_set_attribute(it, "jid", self);
		xmpp_stanza_set_attribute(it, "node", sd->name);
		xmpp_stanza_set_attribute(it, "name", sd->name);
		n++;
	}
	return 0;
}

struct pubsub *
pubsub_new(struct comp *comp, const struct config *cfg, struct store *st,
	   struct watch *w)
{
	struct pubsub *ps = xcalloc(1, sizeof(*ps));
	struct comp_iq_ext ext = {
	    .arg = ps,
	    .disco_info = ext_disco_info,
	    .disco_items = ext_disco_items,
	};
	struct watch_publisher pub = {.arg = ps, .publish = publish};

	ps->comp = comp;
	ps->cfg = cfg;
	ps->st = st;
	ps->w = w;
	comp_set_iq_ext(comp, &ext);
	if (comp_iq_handler_add(comp, ext_iq, PUBSUB_NS, "pubsub",
				IQTAB_GET | IQTAB_SET, ps) < 0 ||
	    comp_iq_handler_add(comp, ext_iq, PUBSUB_NS_OWNER, "pubsub",
				IQTAB_GET | IQTAB_SET, ps) < 0)
		log_warn("pubsub: the IQ table refused its handlers");
	watch_set_publisher(w, &pub);
	return ps;
}

void
pubsub_free(struct pubsub *ps)
{
	free(ps);
}
