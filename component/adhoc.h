/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * adhoc.h - XEP-0050 ad-hoc commands (check, subscribe, unsubscribe,
 * status) with XEP-0004 forms: sessions, their time-outs, and the
 * disco entries of the commands node.
 */
#ifndef CERTWATCH_ADHOC_H
#define CERTWATCH_ADHOC_H

#include <stddef.h>
#include <strophe.h>

#include "component/comp.h"

struct comp_adhoc;

struct comp_adhoc *comp_adhoc_new(struct comp *c);

/* Cancels every session (their checks and requests) and frees. */
void comp_adhoc_free(struct comp_adhoc *a);

/*
 * Handles an <iq type='set'> holding `command` (xmlns commands) from peer:
 * always answers the iq, now or when the work is done.
 */
void comp_adhoc_iq(struct comp_adhoc *a, xmpp_stanza_t *iq,
		   xmpp_stanza_t *command, const struct comp_peer *p);

/* Fills a disco#items <query/> for node "http://jabber.org/protocol/commands"
 * with the commands, addressed to `self`. */
void comp_adhoc_disco_items(struct comp_adhoc *a, xmpp_stanza_t *query,
			    const char *self);

/* Fills a disco#info <query/> for `node` (a command node or the commands
 * node); returns -1 for a node that does not exist. */
int comp_adhoc_disco_info(struct comp_adhoc *a, const char *node,
			  xmpp_stanza_t *query);

/* Sessions open now (for stats and tests). */
size_t comp_adhoc_sessions(const struct comp_adhoc *a);

#endif
