/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * watch_cmd.c - the bot's hooks into the watcher: subscribe and
 * unsubscribe (acknowledged only once durable, by store_commit), the check
 * that follows a subscribe, status, recheck, stats and presence
 * subscriptions.
 */
#include "component/watch_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "component/comp.h"
#include "component/ct_state.h"
#include "component/log.h"
#include "component/domain_state.h"
#include "component/report_keys.h"
#include "component/report.h"
#include "util/buf.h"

/* A subscribe or unsubscribe waiting for its durable write. */
struct pending_req {
	struct watch *w;
	struct comp_request *r;
	struct domain_name d;
	int all;
	int is_new;
	int admin;
	char jid[STORE_JID_MAX + 1];
	char text[512];
	LIST_ENTRY(pending_req) link; /* in w->reqs */
};

static void
req_unlink(struct watch *w, struct pending_req *p)
{
	LIST_REMOVE(p, link);
}

/* Keeps p among the requests in flight and commits; `done` gets the
 * result (-ENOMEM at once when the commit cannot be queued). */
static void
req_commit(struct watch *w, struct pending_req *p, store_done_fn done)
{
	LIST_INSERT_HEAD(&w->reqs, p, link);
	if (store_commit(w->st, done, p) < 0) {
		req_unlink(w, p);
		done(p, -ENOMEM);
	}
}

static void
sub_check_unlink(struct watch *w, struct sub_check *sc)
{
	TAILQ_REMOVE(&w->subchecks, sc, link);
}

static void sub_check_done(struct check_result *r, void *arg);

/* Starts sc when one of its JID's checks_in_flight slots is free (the
 * check after a subscribe counts like a `check`, but waits for a slot
 * instead of being refused); otherwise it stays queued.  A check that
 * cannot start (out of memory) is dropped. */
static void
sub_check_try(struct watch *w, struct sub_check *sc)
{
	struct comp_peer p = {.admin = sc->admin};
	char msg[200];

	snprintf(p.bare, sizeof(p.bare), "%s", sc->jid);
	if (comp_check_acquire(w->comp, &p, msg, sizeof(msg)) < 0)
		return;
	sc->slot = 1;
	sc->check = check_start(w->checks, sc->domain, sc->domain_u,
				sub_check_done, sc);
	if (sc->check == NULL) {
		sub_check_unlink(w, sc);
		free(sc);
		comp_check_release(w->comp, p.bare);
	}
}

/* A check of that domain for that JID already waiting for a slot (a
 * subscribe, unsubscribe, subscribe loop queues no more than one). */
static int
sub_check_waiting(const struct watch *w, const char *jid, const char *domain)
{
	const struct sub_check *sc;

	TAILQ_FOREACH(sc, &w->subchecks, link)
	if (sc->check == NULL && !strcmp(sc->jid, jid) &&
	    !strcmp(sc->domain, domain))
		return 1;
	return 0;
}

/* A slot of bare_jid was given back: its oldest waiting check starts. */
static void
hook_check_slot_free(void *arg, const char *bare_jid)
{
	struct watch *w = arg;
	struct sub_check *sc;

	if (w->closing)
		return;
	/* New ones are added at the tail: the first found waited longest. */
	TAILQ_FOREACH(sc, &w->subchecks, link)
	if (sc->check == NULL && !strcmp(sc->jid, bare_jid)) {
		sub_check_try(w, sc);
		return;
	}
}

static void
sub_check_done(struct check_result *r, void *arg)
{
	struct sub_check *sc = arg;
	struct watch *w = sc->w;
	struct buf b = BUF_INIT;

	sub_check_unlink(w, sc);
	struct wdom *d = watch_wdom_find(w, sc->domain);
	const struct store_domain *sd = store_domain_get(w->st, sc->domain);

	buf_printf(&b, "First check of %s since you subscribed:\n",
		   r->domain_u);
	report_text(r, &b);
	comp_send_message(w->comp, sc->jid, b.s);
	buf_free(&b);
	if (d && sd && sd->verdict == NULL)
		watch_alert_record(d, r, 1); /* the baseline of a new domain */
	watch_alert_send_presence(w, sc->jid);
	check_result_free(r);
	if (sc->slot) /* may start the next one waiting: sc is unlinked */
		comp_check_release(w->comp, sc->jid);
	free(sc);
}

static void
sub_committed(void *arg, int result)
{
	struct pending_req *p = arg;
	struct watch *w = p->w;

	req_unlink(w, p);
	if (result < 0) {
		store_sub_remove(w->st, p->d.a, p->jid);
		if (p->is_new)
			store_domain_remove(w->st, p->d.a);
		log_error("subscribe %s for %s: the state could not be "
			  "written: %s",
			  p->d.a, p->jid, strerror(-result));
		comp_request_done(p->r,
				  "Sorry, the subscription could not "
				  "be stored (the server's disk failed). "
				  "Nothing was changed; please try "
				  "again later.",
				  1);
		free(p);
		return;
	}
	snprintf(p->text, sizeof(p->text),
		 "Subscribed to %s. You will be told when the key its XMPP "
		 "service presents stops matching its DNS. A first check is "
		 "running; its report follows.",
		 p->d.u);
	comp_request_done(p->r, p->text, 0);
	if (w->closing) {
		free(p);
		return;
	}

	struct wdom *d = watch_wdom_get(w, p->d.a);
	if (d->heap_idx == HEAP_NONE && !d->check && !d->waiting)
		watch_wdom_schedule(d, watch_next_delay(w));
	if (sub_check_waiting(w, p->jid, p->d.a)) {
		free(p);
		return;
	}
	struct sub_check *sc = xcalloc(1, sizeof(*sc));
	sc->w = w;
	snprintf(sc->jid, sizeof(sc->jid), "%s", p->jid);
	snprintf(sc->domain, sizeof(sc->domain), "%s", p->d.a);
	snprintf(sc->domain_u, sizeof(sc->domain_u), "%s", p->d.u);
	sc->is_new = p->is_new;
	sc->admin = p->admin;
	TAILQ_INSERT_TAIL(&w->subchecks, sc, link);
	sub_check_try(w, sc);
	free(p);
}

static void
hook_subscribe(void *arg, struct comp_request *r, const struct domain_name *d)
{
	struct watch *w = arg;
	const char *jid = comp_request_jid(r);
	const struct store_domain *sd = store_domain_get(w->st, d->a);
	char msg[256];
	int rc;

	if (sd) {
		for (size_t i = 0; i < sd->n_chat; i++)
			if (!strcmp(sd->chat[i], jid)) {
				snprintf(msg, sizeof(msg),
					 "You are already subscribed to %s. "
					 "Send \"status %s\" for its state.",
					 d->u, d->u);
				comp_request_done(r, msg, 0);
				return;
			}
	}
	/* Every subscription of the JID counts: chat, and pubsub ones made
	 * under any of its full JIDs. */
	if (w->cfg->subscriptions_per_jid && !comp_request_admin(r) &&
	    store_subs_of_bare(w->st, jid) >= w->cfg->subscriptions_per_jid) {
		snprintf(msg, sizeof(msg),
			 "You have reached the limit of %u subscriptions "
			 "(subscriptions_per_jid). Unsubscribe from a domain "
			 "first.",
			 w->cfg->subscriptions_per_jid);
		comp_request_done(r, msg, 1);
		return;
	}
	struct pending_req *p = xcalloc(1, sizeof(*p));
	p->w = w;
	p->r = r;
	p->d = *d;
	p->is_new = sd == NULL;
	p->admin = comp_request_admin(r);
	snprintf(p->jid, sizeof(p->jid), "%s", jid);
	rc = store_sub_add(w->st, d->a, jid);
	if (rc < 0) {
		comp_request_done(r,
				  "Sorry, that subscription cannot be "
				  "stored.",
				  1);
		free(p);
		return;
	}
	req_commit(w, p, sub_committed);
}

static void
unsub_committed(void *arg, int result)
{
	struct pending_req *p = arg;
	struct watch *w = p->w;

	req_unlink(w, p);
	if (result < 0) {
		comp_request_done(p->r,
				  "Sorry, the change could not be stored "
				  "(the server's disk failed); please "
				  "try again later.",
				  1);
	} else {
		comp_request_done(p->r, p->text, 0);
		watch_alert_send_presence(w, p->jid);
	}
	free(p);
}

static void
hook_unsubscribe(void *arg, struct comp_request *r, const struct domain_name *d)
{
	struct watch *w = arg;
	const char *jid = comp_request_jid(r);
	struct pending_req *p = xcalloc(1, sizeof(*p));

	p->w = w;
	p->r = r;
	snprintf(p->jid, sizeof(p->jid), "%s", jid);
	if (d == NULL) {
		const struct store_jid *sj = store_jid_get(w->st, jid);
		/* Every domain of the JID (admins have no cap): the views
		 * change with the removal, so copy the names first. */
		size_t n = sj ? sj->n_domains : 0;
		char **names = xcalloc(n + 1, sizeof(*names));
		for (size_t i = 0; i < n; i++)
			names[i] = xstrdup(sj->domains[i]->name);
		size_t removed = store_sub_remove_all(w->st, jid);
		for (size_t i = 0; i < n; i++) {
			watch_drop_if_unwatched(w, names[i]);
			free(names[i]);
		}
		free(names);
		snprintf(p->text, sizeof(p->text),
			 removed == 1 ? "Unsubscribed from your one domain. "
					"No more alerts will be sent to you."
			 : removed    ? "Unsubscribed from all %zu domains. No "
					"more alerts will be sent to you."
				      : "You had no subscriptions.",
			 removed);
	} else {
		int rc = store_sub_remove(w->st, d->a, jid);
		if (store_domain_get(w->st, d->a))
			watch_drop_if_unwatched(w, d->a);
		snprintf(p->text, sizeof(p->text),
			 rc > 0 ? "Unsubscribed from %s."
				: "You were not subscribed to %s.",
			 d->u);
	}
	req_commit(w, p, unsub_committed);
}

static void
fmt_when(int64_t t, char *buf, size_t len)
{
	report_time(t, REPORT_TIME_MINUTE, "never", buf, len);
}

static void
domain_status(struct watch *w, const struct store_domain *sd, struct buf *b,
	      int full)
{
	struct domain_state *ds = xcalloc(1, sizeof(*ds));
	char when[64];

	(void)domain_state_load(sd, ds, NULL, 0);
	fmt_when(sd->last_check, when, sizeof(when));
	buf_printf(b, "%s: %s (checked %s)", sd->name,
		   ds->alert.verdict != VERDICT_NONE
		       ? verdict_name(ds->alert.verdict)
		       : "not checked yet",
		   when);
	if (!full) {
		buf_putc(b, '\n');
		free(ds);
		return;
	}
	long next = watch_next_round_in(w, sd->name);
	if (next >= 0)
		buf_printf(b, ", next check in %ld min", (next + 59) / 60);
	buf_putc(b, '\n');
	for (size_t i = 0; i < ds->n; i++) {
		const struct endpoint_state *e = &ds->ep[i];
		buf_printf(b, "  %s %s:%u: %s%s%s\n",
			   check_service_name(e->service), e->host, e->port,
			   e->verdict != VERDICT_NONE ? verdict_name(e->verdict)
						      : "-",
			   e->error[0] ? " — " : "", e->error);
		if (e->spki[0])
			buf_printf(b, "    key %s\n", e->spki);
	}
	defence_state_line(&ds->def, watch_now(w), b);
	free(ds);
	for (size_t i = 0; i < sd->n_keys; i++) {
		char f[64], l[64];
		fmt_when(sd->keys[i].first_seen, f, sizeof(f));
		fmt_when(sd->keys[i].last_seen, l, sizeof(l));
		buf_printf(b, "  key seen %s: first %s, last %s\n",
			   sd->keys[i].spki, f, l);
	}
	/* Key continuity (keys.h): the keys seen per endpoint. */
	{
		struct keys_state *ks = xcalloc(1, sizeof(*ks));
		(void)domain_state_keys_load(sd, ks, NULL, 0);
		report_keys_text(b, ks, 8);
		free(ks);
	}
	size_t from = sd->n_history > 5 ? sd->n_history - 5 : 0;
	for (size_t i = from; i < sd->n_history; i++) {
		struct store_change h;
		store_domain_change(sd, i, &h);
		fmt_when(h.time, when, sizeof(when));
		buf_printf(b, "  %s: %s → %s%s%s\n", when,
			   h.from ? h.from : "none", h.to ? h.to : "none",
			   h.note ? " " : "", h.note ? h.note : "");
	}
	/* Certificate Transparency: the certificates logged (docs/ct.md). */
	ct_state_text(sd, b);
}

static void
hook_status(void *arg, struct comp_request *r, const struct domain_name *d)
{
	struct watch *w = arg;
	struct buf b = BUF_INIT;

	if (d) {
		const struct store_domain *sd = store_domain_get(w->st, d->a);
		if (sd == NULL)
			buf_printf(&b,
				   "%s is not watched. Send \"subscribe "
				   "%s\" to watch it, or \"check %s\" for "
				   "a check now.",
				   d->u, d->u, d->u);
		else
			domain_status(w, sd, &b, 1);
	} else {
		const struct store_jid *sj =
		    store_jid_get(w->st, comp_request_jid(r));
		if (sj == NULL || sj->n_domains == 0) {
			buf_puts(&b, "You have no subscriptions. Send "
				     "\"subscribe example.org\" to watch a "
				     "domain.");
		} else {
			buf_printf(&b, "Your %zu subscription%s:\n",
				   sj->n_domains,
				   sj->n_domains == 1 ? "" : "s");
			for (size_t i = 0; i < sj->n_domains; i++)
				domain_status(w, sj->domains[i], &b, 0);
		}
	}
	comp_request_done(r, b.s, 0);
	buf_free(&b);
}

static void
hook_recheck(void *arg, struct comp_request *r, const struct domain_name *d)
{
	struct watch *w = arg;
	struct wdom *wd = watch_wdom_find(w, d->a);
	char msg[300];

	if (store_domain_get(w->st, d->a) == NULL || wd == NULL) {
		snprintf(msg, sizeof(msg), "%s is not watched.", d->u);
		comp_request_done(r, msg, 1);
		return;
	}
	if (wd->check || wd->waiting) {
		snprintf(msg, sizeof(msg), "A round of %s is already running.",
			 d->u);
		comp_request_done(r, msg, 0);
		return;
	}
	snprintf(msg, sizeof(msg),
		 "A round of %s starts now; subscribers "
		 "are alerted if its state changed.",
		 d->u);
	comp_request_done(r, msg, 0);
	watch_round_due(wd);
}

static void
hook_stats(void *arg, struct buf *out)
{
	struct watch *w = arg;
	struct store_stats ss;
	struct store_io_stats io;

	store_stats(w->st, &ss);
	store_io_stats(w->st, &io);
	buf_printf(out,
		   "watched domains: %zu (%zu scheduled, %zu rounds running, "
		   "%zu waiting)\n"
		   "subscribers: %zu JIDs, %zu chat and %zu pubsub "
		   "subscriptions, %zu presence\n"
		   "rounds: %llu; alerts: %llu alarm, %llu removed, %llu down, "
		   "%llu recovered, %llu info\n"
		   "store: %llu batches, %llu files, %llu bytes, %llu fsyncs, "
		   "%llu errors\n",
		   ss.domains, w->nscheduled, w->running, w->waiting, ss.jids,
		   ss.chat_subs, ss.pubsub_subs, ss.presence,
		   (unsigned long long)w->rounds,
		   (unsigned long long)w->alerts[ALERT_ALARM],
		   (unsigned long long)w->alerts[ALERT_REMOVED],
		   (unsigned long long)w->alerts[ALERT_DOWN],
		   (unsigned long long)w->alerts[ALERT_RECOVERED],
		   (unsigned long long)w->alerts[ALERT_INFO],
		   (unsigned long long)io.batches,
		   (unsigned long long)io.files_written,
		   (unsigned long long)io.bytes_written,
		   (unsigned long long)io.fsyncs,
		   (unsigned long long)io.errors);
}

static void
hook_presence(void *arg, const char *jid, int subscribed)
{
	struct watch *w = arg;
	const struct store_jid *sj;

	store_presence_set(w->st, jid, subscribed ? "both" : NULL);
	if (!subscribed) {
		/* Removing the bot from the roster stops its presence, not
		 * the alerts: say once how to stop those. */
		sj = store_jid_get(w->st, jid);
		if (sj && sj->n_domains > 0 &&
		    !(sj->flags & STORE_FLAG_TOLD_UNSUB_ALL)) {
			comp_send_message(w->comp, jid,
					  "You removed certwatch from your "
					  "contacts; alerts for your "
					  "subscriptions still come. Send "
					  "\"unsubscribe all\" to stop them.");
			store_jid_flags(w->st, jid, STORE_FLAG_TOLD_UNSUB_ALL,
					1);
		}
	}
	store_commit(w->st, watch_commit_done_log, NULL);
	if (subscribed)
		watch_alert_send_presence(w, jid);
}

static int
hook_presence_of(void *arg, const char *jid, int *dnd, char *status, size_t len)
{
	return watch_alert_presence_summary(arg, jid, dnd, status, len);
}

/* Installs the hooks above in the bot (watch_start). */
void
watch_cmd_set_hooks(struct watch *w)
{
	struct comp_watch_hooks h = {
	    .arg = w,
	    .subscribe = hook_subscribe,
	    .unsubscribe = hook_unsubscribe,
	    .status = hook_status,
	    .recheck = hook_recheck,
	    .stats = hook_stats,
	    .presence = hook_presence,
	    .presence_of = hook_presence_of,
	    .check_slot_free = hook_check_slot_free,
	};

	comp_set_watch_hooks(w->comp, &h);
}
