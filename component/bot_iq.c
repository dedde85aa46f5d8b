/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * bot_iq.c - the bot's iq get/set: the IQ table's dispatch (on_iq) and the
 * bot's own rows (disco#info, disco#items, version, ping), peers of ad-hoc
 * and pubsub, which register theirs.
 */
#include "component/bot.h"

#include <stdio.h>
#include <string.h>

#include "version.h"
#include "component/adhoc.h"

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_VERSION "jabber:iq:version"
#define NS_PING "urn:xmpp:ping"

/* ---- iq ---------------------------------------------------------------- */

static void
add_feature(struct comp *c, xmpp_stanza_t *q, const char *var)
{
	xmpp_stanza_t *f = comp_add_child(c, q, "feature", NULL);

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
	xmpp_stanza_t *q = comp_add_child(c, r, "query", NS_DISCO_INFO);

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
		xmpp_stanza_t *id = comp_add_child(c, q, "identity", NULL);
		xmpp_stanza_set_attribute(id, "category", "component");
		xmpp_stanza_set_attribute(id, "type", "generic");
		xmpp_stanza_set_attribute(id, "name", "certwatch");
		id = comp_add_child(c, q, "identity", NULL);
		xmpp_stanza_set_attribute(id, "category", "automation");
		xmpp_stanza_set_attribute(id, "type", "command-list");
		xmpp_stanza_set_attribute(id, "name", "certwatch commands");
		add_feature(c, q, NS_DISCO_INFO);
		add_feature(c, q, NS_DISCO_ITEMS);
		add_feature(c, q, COMP_NS_COMMANDS);
		add_feature(c, q, "jabber:x:data");
		add_feature(c, q, NS_VERSION);
		add_feature(c, q, NS_PING);
		add_feature(c, q, COMP_NS_CHATSTATES);
		/* Offered while [vantage] allow names someone (SIGHUP). */
		if (c->iq_replies.feature != NULL && c->cfg->nvantage_allow > 0)
			add_feature(c, q, c->iq_replies.feature);
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
	q = comp_add_child(c, r, "query", NS_DISCO_ITEMS);
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
	xmpp_stanza_t *q = comp_add_child(c, r, "query", NS_VERSION);

	(void)userdata;
	comp_add_text_child(c, q, "name", "certwatch");
	comp_add_text_child(c, q, "version", CERTWATCH_VERSION);
	comp_send(c, r);
	xmpp_stanza_release(r);
	return 1;
}

void
comp_on_iq(struct comp *c, xmpp_stanza_t *iq)
{
	const char *type = xmpp_stanza_get_type(iq);
	xmpp_stanza_t *child = NULL;
	const char *ns = NULL, *name = NULL;
	int get;
	struct comp_peer p;
	struct comp_iq_call call;

	if (type != NULL && c->iq_replies.reply != NULL &&
	    (strcmp(type, "result") == 0 || strcmp(type, "error") == 0)) {
		/* Answers to remote vantage requests (vantage.c). */
		(void)c->iq_replies.reply(c->iq_replies.arg, iq);
		return;
	}
	if (type == NULL ||
	    (strcmp(type, "get") != 0 && strcmp(type, "set") != 0))
		return; /* results and errors: we ask nothing else */
	if (comp_peer_of(c, iq, &p) < 0)
		return;
	c->n_iqs++;
	get = strcmp(type, "get") == 0;
	if (comp_to_node(iq)) {
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
	    .c = c,
	    .iq = iq,
	    .payload = child,
	    .peer = &p,
	    .get = get,
	};
	if (iqtab_dispatch(&c->iqs, ns, name, get ? IQTAB_GET : IQTAB_SET,
			   &call) == 0)
		comp_iq_error(c, iq, "cancel", "service-unavailable", NULL);
}

void
comp_set_iq_replies(struct comp *c, const struct comp_iq_replies *r)
{
	c->iq_replies = *r;
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

void
comp_iq_register_own(struct comp *c)
{
	iqtab_init(&c->iqs);
	(void)iqtab_add(&c->iqs, disco_info, NS_DISCO_INFO, "query", IQTAB_GET,
			NULL);
	(void)iqtab_add(&c->iqs, disco_items, NS_DISCO_ITEMS, "query",
			IQTAB_GET, NULL);
	(void)iqtab_add(&c->iqs, version, NS_VERSION, "query", IQTAB_GET, NULL);
	(void)iqtab_add(&c->iqs, iq_ping, NS_PING, "ping", IQTAB_GET, NULL);
}

void
comp_set_iq_ext(struct comp *c, const struct comp_iq_ext *ext)
{
	c->iq_ext = *ext;
	c->have_iq_ext = 1;
}
