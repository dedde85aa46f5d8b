/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * request.c - a user's command waiting for the watcher's answer.  One
 * object whatever the command came by: its `done` function, given by the
 * asker (chat.c, adhoc.c), says where the answer goes.
 */
#include "component/bot.h"

#include <stdlib.h>

#include "component/log.h"

struct comp_request *
comp_request_new(struct comp *c, const struct comp_peer *p,
		 comp_request_done_fn done, void *arg)
{
	struct comp_request *r = xcalloc(1, sizeof(*r));

	r->c = c;
	r->peer = *p;
	r->done = done;
	r->arg = arg;
	LIST_INSERT_HEAD(&c->requests, r, link);
	return r;
}

void
comp_request_detach(struct comp_request *r)
{
	r->done = NULL;
	r->arg = NULL;
}

const char *
comp_request_jid(const struct comp_request *r)
{
	return r->peer.bare;
}

int
comp_request_admin(const struct comp_request *r)
{
	return r->peer.admin;
}

static void
request_free(struct comp_request *r)
{
	LIST_REMOVE(r, link);
	free(r);
}

void
comp_request_done(struct comp_request *r, const char *text, int error)
{
	if (r->done != NULL)
		r->done(r, text != NULL ? text : "", error);
	request_free(r);
}

void
comp_requests_free(struct comp *c)
{
	while (!LIST_EMPTY(&c->requests))
		request_free(LIST_FIRST(&c->requests));
}
