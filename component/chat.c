/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * chat.c - chat commands: one-off checks (acknowledged at once, the report
 * when done), the watcher's requests, help and the admin counters.
 */
#include "component/bot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "version.h"
#include "component/adhoc.h"
#include "component/command.h"
#include "component/log.h"
#include "component/report.h"

const char comp_no_watch_text[] =
    "Watching domains is not available yet in this version of "
    "certwatch; \"check DOMAIN\" works now.";

struct chat_check {
	LIST_ENTRY(chat_check) link; /* in c->chat_checks */
	struct comp *c;
	struct check *chk;
	struct comp_peer peer;
};

/* ---- Checks asked for in chat ------------------------------------------ */

struct check *
comp_check_start(struct comp *c, const struct domain_name *d, check_cb cb,
		 void *arg)
{
	c->n_checks++;
	return check_start(c->checks, d->a, d->u, cb, arg);
}

static void
chat_check_done(struct check_result *res, void *arg)
{
	struct chat_check *k = arg;
	struct comp *c = k->c;
	struct buf text = BUF_INIT;

	c->n_checks_done++;
	report_text(res, &text);
	comp_send_body(c, k->peer.self, k->peer.full, text.s ? text.s : "",
		       "active");
	buf_free(&text);
	check_result_free(res);
	comp_check_release(c, k->peer.bare);
	LIST_REMOVE(k, link);
	free(k);
}

static void
chat_check(struct comp *c, const struct comp_peer *p,
	   const struct domain_name *d)
{
	char msg[sizeof(d->u) + 32];
	struct chat_check *k;

	if (comp_check_acquire(c, p, msg, sizeof(msg)) < 0) {
		comp_send_body(c, p->self, p->full, msg, NULL);
		return;
	}
	k = xcalloc(1, sizeof(*k));
	k->c = c;
	k->peer = *p;
	k->chk = comp_check_start(c, d, chat_check_done, k);
	if (k->chk == NULL) {
		comp_check_release(c, p->bare);
		free(k);
		comp_send_body(c, p->self, p->full,
			       "Sorry, the check could not start (out of "
			       "memory).",
			       NULL);
		return;
	}
	LIST_INSERT_HEAD(&c->chat_checks, k, link);
	snprintf(msg, sizeof(msg), "Checking %s \xe2\x80\xa6", d->u);
	comp_send_body(c, p->self, p->full, msg, NULL);
	comp_send_state(c, p->self, p->full, "composing");
}

/* ---- Requests for the watcher's hooks ---------------------------------- */

/* A chat command's answer: a reply, when there is something to say. */
static void
chat_request_done(struct comp_request *r, const char *text, int error)
{
	if (text[0] != '\0')
		comp_send_body(r->c, r->peer.self, r->peer.full, text, NULL);
}

static struct comp_request *
chat_request(struct comp *c, const struct comp_peer *p)
{
	return comp_request_new(c, p, chat_request_done, NULL);
}

void
comp_set_watch_hooks(struct comp *c, const struct comp_watch_hooks *h)
{
	c->hooks = *h;
	c->have_hooks = 1;
}

/* ---- Chat -------------------------------------------------------------- */

static void
stats_text(struct comp *c, struct buf *b)
{
	buf_printf(b, "certwatch %s, up %lld s\n", CERTWATCH_VERSION,
		   (long long)(comp_now(c) - c->started));
	buf_printf(b, "messages %llu, commands %llu, rate-limited %llu\n",
		   (unsigned long long)c->n_messages,
		   (unsigned long long)c->n_commands,
		   (unsigned long long)c->n_limited);
	buf_printf(b, "checks started %llu, done %llu\n",
		   (unsigned long long)c->n_checks,
		   (unsigned long long)c->n_checks_done);
	buf_printf(b, "probes in flight %zu, queued %zu\n",
		   check_env_probes_in_flight(c->checks),
		   check_env_probes_queued(c->checks));
	buf_printf(b,
		   "iqs %llu, ad-hoc sessions %zu, contacts %zu, JIDs "
		   "tracked %zu, replies waiting %zu, dropped %llu\n",
		   (unsigned long long)c->n_iqs, comp_adhoc_sessions(c->adhoc),
		   c->ncontacts, c->njids, c->nout,
		   (unsigned long long)c->n_dropped);
	if (c->have_hooks && c->hooks.stats)
		c->hooks.stats(c->hooks.arg, b);
}

void
comp_chat_command(struct comp *c, const struct comp_peer *p, const char *body)
{
	struct comp_cmd cmd;
	struct buf b = BUF_INIT;
	const struct comp_watch_hooks *h = comp_hooks(c);

	int rc = comp_cmd_parse(body, strlen(body), &cmd);
	const char *verb = comp_cmd_name(cmd.kind);

	/* Who asked what, at debug level only: the verb and the normalised
	 * domain, never the raw text. */
	log_debug("bot: %s: %s%s%s%s", p->bare, verb ? verb : "(other)",
		  cmd.has_domain ? " " : "", cmd.has_domain ? cmd.domain.a : "",
		  rc < 0 ? " (refused)" : "");
	if (rc < 0) {
		comp_send_body(c, p->self, p->full, cmd.error, NULL);
		return;
	}
	if (comp_cmd_admin_only(cmd.kind) && !p->admin) {
		buf_printf(&b, "\"%s\" is only for the admins of this service.",
			   comp_cmd_name(cmd.kind));
		comp_send_body(c, p->self, p->full, b.s, NULL);
		buf_free(&b);
		return;
	}
	switch (cmd.kind) {
	case COMP_CMD_EMPTY:
		return;
	case COMP_CMD_CHECK:
		chat_check(c, p, &cmd.domain);
		return;
	case COMP_CMD_STATS:
		stats_text(c, &b);
		comp_send_body(c, p->self, p->full, b.s, NULL);
		buf_free(&b);
		return;
	case COMP_CMD_SUBSCRIBE:
		if (h && h->subscribe) {
			h->subscribe(h->arg, chat_request(c, p), &cmd.domain);
			return;
		}
		break;
	case COMP_CMD_UNSUBSCRIBE:
		if (h && h->unsubscribe) {
			h->unsubscribe(h->arg, chat_request(c, p),
				       cmd.all ? NULL : &cmd.domain);
			return;
		}
		break;
	case COMP_CMD_STATUS:
		if (h && h->status) {
			h->status(h->arg, chat_request(c, p),
				  cmd.has_domain ? &cmd.domain : NULL);
			return;
		}
		break;
	case COMP_CMD_RECHECK:
		if (h && h->recheck) {
			h->recheck(h->arg, chat_request(c, p), &cmd.domain);
			return;
		}
		break;
	case COMP_CMD_HELP:
	case COMP_CMD_UNKNOWN:
	default:
		comp_send_body(c, p->self, p->full, comp_cmd_help(p->admin),
			       NULL);
		return;
	}
	comp_send_body(c, p->self, p->full, comp_no_watch_text, NULL);
}

void
comp_chat_cancel_all(struct comp *c)
{
	while (!LIST_EMPTY(&c->chat_checks)) {
		struct chat_check *k = LIST_FIRST(&c->chat_checks);
		LIST_REMOVE(k, link);
		check_cancel(k->chk);
		comp_check_release(c, k->peer.bare);
		free(k);
	}
}

size_t
comp_chat_checks(const struct comp *c)
{
	const struct chat_check *k;
	size_t n = 0;

	LIST_FOREACH(k, &c->chat_checks, link)
	n++;
	return n;
}
