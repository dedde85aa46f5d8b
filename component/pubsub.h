/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * pubsub.h - the component's JID as a XEP-0060 pubsub service, the subset
 * a client needs: each watched domain is a leaf node named after it;
 * subscribe / unsubscribe (also through XEP-0147 links), the current state
 * as the node's one item, subscriptions, disco; alerts arrive as <event/>
 * notifications with a payload in certwatch's namespace and a body.
 * Subscribing to a node of a domain not yet watched starts watching it.
 */
#ifndef CERTWATCH_PUBSUB_H
#define CERTWATCH_PUBSUB_H

#include <strophe.h>

#include "component/comp.h"
#include "component/watch.h"
#include "store/store.h"

#define PUBSUB_NS "http://jabber.org/protocol/pubsub"
#define PUBSUB_NS_EVENT "http://jabber.org/protocol/pubsub#event"
#define PUBSUB_NS_OWNER "http://jabber.org/protocol/pubsub#owner"
#define CERTWATCH_NS_STATE "urn:certwatch:state:0"

struct pubsub;

/* comp, st and w must outlive it.  Registers itself with the bot (iq and
 * disco extension) and with the watcher (publisher). */
struct pubsub *pubsub_new(struct comp *comp, const struct config *cfg,
			  struct store *st, struct watch *w);
void pubsub_free(struct pubsub *ps);

/* Builds the <state/> payload of a domain from the store (NULL when the
 * domain is unknown); the caller releases it. */
xmpp_stanza_t *pubsub_state_payload(struct pubsub *ps, const char *domain,
				    const char *alert, const char *text);

#endif
