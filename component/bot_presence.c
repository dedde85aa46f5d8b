/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * bot_presence.c - the bot's contacts (an array in the order they came,
 * a hash map beside it) and its presence: subscriptions, probes, the
 * watcher's summary as status, and presence to every contact in slices
 * when the stream comes up.
 */
#include "component/bot.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "component/comp_link.h"
#include "component/log.h"
#include "component/names.h"
#include "util/container.h"

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
	struct hmap_node *n =
	    hmap_find(&c->contact_map, hmap_hash_str(bare), contact_eq, bare);

	return n ? CONTAINER(n, struct contact, hm) : NULL;
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

void
comp_presence_send(struct comp *c, const char *self, const char *to,
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
				comp_add_text_child(c, pr, "show", "dnd");
			comp_add_text_child(c, pr, "status", line);
		} else {
			comp_add_text_child(c, pr, "status",
					    comp_presence_status);
		}
	}
	comp_send(c, pr);
	xmpp_stanza_release(pr);
}

void
comp_send_presence(struct comp *c, const char *bare_jid)
{
	comp_presence_send(c, c->cfg->jid, bare_jid, NULL);
}

void
comp_on_presence(struct comp *c, xmpp_stanza_t *st)
{
	const char *type = xmpp_stanza_get_type(st);
	struct comp_peer p;
	char self[COMP_JID_MAX];

	if (type == NULL || comp_to_node(st) || comp_peer_of(c, st, &p) < 0)
		return; /* available/unavailable: nothing to answer */
	/* Presence is about the bare component JID. */
	if (names_bare_jid(p.self, self, sizeof(self)) < 0)
		return;
	if (strcmp(type, "subscribe") == 0) {
		comp_presence_send(c, self, p.bare, "subscribed");
		if (contact_find(c, p.bare) == NULL) {
			comp_add_contact(c, p.bare);
			if (c->have_hooks && c->hooks.presence)
				c->hooks.presence(c->hooks.arg, p.bare, 1);
		}
		comp_presence_send(c, self, p.bare, "subscribe");
		comp_presence_send(c, self, p.bare, NULL);
	} else if (strcmp(type, "unsubscribe") == 0) {
		comp_presence_send(c, self, p.bare, "unsubscribed");
		comp_presence_send(c, self, p.bare, "unavailable");
		if (contact_find(c, p.bare) != NULL) {
			remove_contact(c, p.bare);
			if (c->have_hooks && c->hooks.presence)
				c->hooks.presence(c->hooks.arg, p.bare, 0);
		}
	} else if (strcmp(type, "probe") == 0) {
		comp_presence_send(c, self, p.full, NULL);
	} else if (strcmp(type, "subscribed") == 0) {
		comp_presence_send(c, self, p.bare, NULL);
	}
}

void
comp_contacts_init(struct comp *c)
{
	c->contact_map.hash = contact_hash;
}

void
comp_contacts_free(struct comp *c)
{
	for (size_t i = 0; i < c->ncontacts; i++)
		free(c->contacts[i]);
	free(c->contacts);
	c->contacts = NULL;
	c->ncontacts = 0;
	hmap_clear(&c->contact_map);
}

/* Presence to the contacts not yet told, a slice at a time while the
 * stream's send queue is short: libstrophe keeps each queued stanza in a
 * 1 KB buffer, so 11,111 contacts at once would hold 12 MB (and leave the
 * heap that large). */
#define PRESENCE_SLICE 256

void
comp_presence_pace(evutil_socket_t fd, short what, void *arg)
{
	struct comp *c = arg;
	struct timeval tv = {0, 10000};
	size_t end;

	if (!comp_link_online(c->link))
		return; /* link_online starts again */
	if (comp_link_queued(c->link) < PRESENCE_SLICE / 4) {
		end = c->presence_next + PRESENCE_SLICE;
		if (end > c->ncontacts)
			end = c->ncontacts;
		while (c->presence_next < end)
			comp_presence_send(
			    c, c->cfg->jid,
			    c->contacts[c->presence_next++]->bare, NULL);
	}
	if (c->presence_next < c->ncontacts)
		evtimer_add(c->presence_ev, &tv);
}
