/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * watch_alert.c - a round's result folded into the store (endpoints,
 * keys, history) and compared with the previous one by
 * transition_decide(); alerts to chat subscribers and the pubsub node,
 * held summaries of flapping domains, and the presence summarising each
 * subscriber's domains.
 */
#include "component/watch_int.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>
#include <time.h>

#include "component/comp.h"
#include "component/ct_take.h"
#include "component/domain_state.h"
#include "component/log.h"
#include "component/report.h"
#include "util/buf.h"

/* ---- rounds and alerts --------------------------------------------------- */

/* ---- endpoint trouble -------------------------------------------------- */

/* One endpoint's trouble alert of a round (transition.h). */
struct ep_alert {
	enum alert_kind kind; /* ALERT_INFO, or ALERT_RECOVERED */
	size_t ep;	      /* its index in the check's endpoints */
	char step[16];	      /* the step it fails (failed) at */
	unsigned rounds;      /* in a row */
};

/*
 * Folds each endpoint's probe of this round into its trouble state (in
 * next->ep[i], for r->endpoints[i]) and collects the alerts in out (room
 * for next->n).  An endpoint answered before when it has a last verdict:
 * the state keeps an unreachable endpoint at its last one.  Returns how
 * many alerts.
 */
static size_t
trouble_round(const struct watch *w, const struct domain_state *last,
	      const struct check_result *r, struct domain_state *next,
	      struct ep_alert *out)
{
	enum trouble_probe cls[STORE_ENDPOINTS_MAX];
	size_t answering = 0, na = 0, n = next->n;

	for (size_t i = 0; i < n; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		cls[i] = transition_trouble_classify(e->verdict, e->err_step);
		answering += cls[i] == TROUBLE_ANSWERED;
	}
	for (size_t i = 0; i < n; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		const struct endpoint_state *old =
		    domain_state_find(last, e->service, e->host, e->port);
		struct trouble_state ts = {0, 0, 0};
		enum alert_kind k;

		if (old) {
			ts.fail_rounds = old->fail_rounds;
			ts.answered = old->verdict != VERDICT_UNREACHABLE &&
				      old->verdict != VERDICT_NONE;
			ts.alerted = old->trouble_alerted;
		}
		k = transition_trouble_decide(
		    &ts, cls[i], answering > (cls[i] == TROUBLE_ANSWERED),
		    w->cfg->down_after);
		next->ep[i].fail_rounds = ts.fail_rounds;
		next->ep[i].trouble_alerted = ts.alerted;
		if (cls[i] == TROUBLE_FAILED)
			log_debug("%s: %s %s:%u fails at %s (%u rounds in a "
				  "row)",
				  r->domain, check_service_name(e->service),
				  e->host, e->port,
				  probe_step_name(e->err_step), ts.fail_rounds);
		if (k == ALERT_NONE)
			continue;
		out[na].kind = k;
		out[na].ep = i;
		enum probe_step step = k == ALERT_INFO ? e->err_step
				       : old	       ? old->err_step
						       : PROBE_STEP_NONE;
		const char *sw = probe_step_name(step);
		snprintf(out[na].step, sizeof(out[na].step), "%s",
			 sw ? sw : "");
		out[na].rounds = k == ALERT_INFO ? ts.fail_rounds
				 : old		 ? old->fail_rounds
						 : 0;
		na++;
	}
	return na;
}

static void
deliver(struct watch *w, const struct store_domain *sd, enum alert_kind k,
	const char *text, const struct check_result *r)
{
	for (size_t i = 0; i < sd->n_chat; i++)
		comp_send_message(w->comp, sd->chat[i], text);
	if (w->pub.publish)
		w->pub.publish(w->pub.arg, sd->name, k, text, r);
	w->alerts[k]++;
}

static void
flap_summary(evutil_socket_t fd, short what, void *arg)
{
	struct wdom *d = arg;
	struct watch *w = d->w;
	const struct store_domain *sd = store_domain_get(w->st, d->name);
	struct buf b = BUF_INIT;
	unsigned held = transition_flap_summary(&d->flap->st);

	if (held > 0 && sd) {
		report_flap_summary(&b, d->name, held,
				    domain_state_verdict(sd));
		for (size_t i = 0; i < sd->n_chat; i++)
			comp_send_message(w->comp, sd->chat[i], b.s);
		if (w->pub.publish)
			w->pub.publish(w->pub.arg, d->name, ALERT_INFO, b.s,
				       NULL);
	}
	buf_free(&b);
}

/* Changes in the history during the last hour, this one included. */
static unsigned
changes_last_hour(const struct store_domain *sd, time_t now)
{
	unsigned n = 0;

	for (size_t i = 0; i < sd->n_history; i++) {
		struct store_change h;
		store_domain_change(sd, i, &h);
		if (h.time > now - 3600)
			n++;
	}
	return n;
}

/* [watch] flap_limit (transition_flap_hold): whether an alert of kind k
 * of d is held for the hour's summary; an alarm never is.  Arms the
 * summary's timer when an hour of holding starts. */
static int
flap_hold(struct wdom *d, const struct store_domain *sd, enum alert_kind k,
	  time_t now)
{
	struct watch *w = d->w;
	struct flap_state fs =
	    d->flap ? d->flap->st : (struct flap_state){0, 0};
	int hold = transition_flap_hold(&fs, k, now, changes_last_hour(sd, now),
					w->cfg->flap_limit);

	if (!hold)
		return 0;
	if (d->flap == NULL)
		d->flap = xcalloc(1, sizeof(*d->flap));
	d->flap->st = fs;
	if (hold == 2) {
		struct timeval tv = {(time_t)(fs.until - now), 0};
		if (d->flap->timer == NULL)
			d->flap->timer = evtimer_new(w->base, flap_summary, d);
		evtimer_add(d->flap->timer, &tv);
	}
	return 1;
}

/* Equal strings, NULL and "" being the same "none" (as the store keeps
 * them). */
static int
same_str(const char *a, const char *b)
{
	if (a == NULL || *a == '\0')
		return b == NULL || *b == '\0';
	return b != NULL && strcmp(a, b) == 0;
}

/* Whether recording u would change nothing in sd but times: same words,
 * same endpoints (trouble counts too), no history entry. */
static int
round_unchanged(const struct store_domain *sd, const struct store_update *u)
{
	if (sd == NULL || u->change != NULL ||
	    !same_str(sd->verdict, u->verdict) ||
	    !same_str(sd->alert, u->alert) ||
	    sd->unreachable_rounds != u->unreachable_rounds ||
	    sd->n_endpoints != u->n_endpoints)
		return 0;
	for (size_t i = 0; i < u->n_endpoints; i++) {
		struct store_endpoint a;
		const struct store_endpoint *b = &u->endpoints[i];
		store_domain_endpoint(sd, i, &a);
		if (a.port != b->port || !same_str(a.service, b->service) ||
		    !same_str(a.host, b->host) ||
		    !same_str(a.verdict, b->verdict) ||
		    !same_str(a.spki, b->spki) ||
		    !same_str(a.error, b->error) ||
		    a.fail_rounds != b->fail_rounds || a.flags != b->flags)
			return 0;
	}
	return 1;
}

/* ---- defences (defence_watch.h) ------------------------------------------ */

/* Keeps next's defences as the domain's `defence` line: 1 when the line
 * changed (the shard is to be written), 0 when not, -1 on an error. */
static int
defence_store(struct watch *w, const char *name,
	      const struct domain_state *next)
{
	struct buf t = BUF_INIT;
	int rc;

	defence_format(&next->def, &t);
	rc = store_domain_set_defence(w->st, name, t.s);
	if (rc > 0)
		log_debug("%s: defences: %s", name, t.s ? t.s : "");
	if (rc < 0)
		log_error("%s: cannot keep its defences: %s", name,
			  strerror(-rc));
	buf_free(&t);
	return rc < 0 ? -1 : rc;
}

/* The round's defence alert, if any: one message, an alarm never held. */
static void
defence_alert(struct wdom *d, const struct store_domain *sd,
	      const struct check_result *r, const struct defence_event *ev,
	      size_t n, time_t now)
{
	enum alert_kind k = (enum alert_kind)defence_alert_kind(ev, n);
	struct buf b = BUF_INIT;
	char note[200];

	if (n == 0)
		return;
	report_defence_note(&ev[0], r, note, sizeof(note));
	log_info("%s: %s: %s%s", d->name, alert_kind_name(k), note,
		 n > 1 ? " (and more)" : "");
	if (flap_hold(d, sd, k, now))
		return;
	report_defence_alert(&b, d->name, r, ev, n);
	deliver(d->w, sd, k, b.s, r);
	buf_free(&b);
	/* An alarm opened or closed: the presence summary changes. */
	for (size_t i = 0; i < sd->n_chat; i++)
		watch_alert_send_presence(d->w, sd->chat[i]);
}

void
watch_alert_record(struct wdom *d, struct check_result *r, int baseline_only)
{
	struct watch *w = d->w;
	const struct store_domain *sd = store_domain_get(w->st, d->name);
	struct domain_state *last = xcalloc(2, sizeof(*last));
	struct domain_state *next = last + 1;
	struct round_facts f;
	struct store_endpoint eps[STORE_ENDPOINTS_MAX];
	time_t now = watch_now(w);
	struct store_change ch;
	char note[300], why[200];
	enum alert_kind k;
	enum verdict prev;
	struct ep_alert ea[STORE_ENDPOINTS_MAX];
	size_t na;

	if (domain_state_load(sd, last, why, sizeof(why)) < 0)
		log_warn("%s: stored state: %s (the rest is used)", d->name,
			 why);
	prev = last->alert.verdict;
	next->alert = last->alert;
	f.verdict = transition_alert_verdict(r, last);
	f.all_unreachable = r->verdict == VERDICT_UNREACHABLE;
	f.key_rolled = transition_key_rolled(r, last);
	k = transition_decide(&next->alert, &f, w->cfg->down_after);
	if (baseline_only && prev == VERDICT_NONE)
		k = ALERT_NONE;

	domain_state_round(next, last, r);
	na = trouble_round(w, last, r, next, ea);
	struct defence_event dev[DEFENCE_EVENTS_MAX];
	size_t ndev = defence_round(next, last, r, w->cfg->split_rounds, dev);
	struct store_update u = {
	    .checked = now,
	    .next_due = d->heap_idx != HEAP_NONE ? d->due : now,
	    .change = NULL,
	};
	domain_state_to_update(next, &u, eps);
	const struct watch_state ws = next->alert;
	size_t n = next->n;
	if (ws.verdict != prev) {
		snprintf(note, sizeof(note), "%s",
			 k != ALERT_NONE ? alert_kind_name(k) : "");
		ch.time = now;
		ch.from = verdict_name(prev);
		ch.to = verdict_name(ws.verdict);
		ch.note = note[0] ? note : NULL;
		u.change = &ch;
	} else if (k == ALERT_DOWN || k == ALERT_INFO) {
		snprintf(note, sizeof(note), "%s", alert_kind_name(k));
		ch.time = now;
		ch.from = verdict_name(prev);
		ch.to = verdict_name(ws.verdict);
		ch.note = note;
		u.change = &ch;
	} else if (na > 0) {
		/* An endpoint's trouble: in the history, when nothing else
		 * is this round. */
		const struct check_endpoint *e = &r->endpoints[ea[0].ep];
		snprintf(note, sizeof(note), "%s: %s %s:%u %s at %s",
			 alert_kind_name(ea[0].kind),
			 check_service_name(e->service), e->host, e->port,
			 ea[0].kind == ALERT_INFO ? "fails"
						  : "answers again, failed",
			 ea[0].step);
		ch.time = now;
		ch.from = verdict_name(prev);
		ch.to = verdict_name(ws.verdict);
		ch.note = note;
		u.change = &ch;
	} else if (ndev > 0) {
		/* A defence's alert: in the history, when nothing else is. */
		char what[200];
		report_defence_note(&dev[0], r, what, sizeof(what));
		snprintf(note, sizeof(note), "%s: %s",
			 alert_kind_name(
			     (enum alert_kind)defence_alert_kind(dev, ndev)),
			 what);
		ch.time = now;
		ch.from = verdict_name(prev);
		ch.to = verdict_name(ws.verdict);
		ch.note = note;
		u.change = &ch;
	}
	int rc = -1;
	int def_changed = sd ? defence_store(w, d->name, next) : 1;
	if (def_changed == 0 && round_unchanged(sd, &u)) {
		/* Only times moved: no shard write for this round. */
		const char *spkis[STORE_ENDPOINTS_MAX];
		for (size_t i = 0; i < n; i++)
			spkis[i] = eps[i].spki;
		rc = store_domain_touch(w->st, d->name, u.checked, u.next_due,
					spkis, n);
	}
	if (rc < 0) {
		rc = store_domain_record(w->st, d->name, &u);
		if (rc < 0)
			log_error("%s: cannot record the round: %s", d->name,
				  strerror(-rc));
		if (sd == NULL)
			(void)defence_store(w, d->name, next);
		store_commit(w->st, watch_commit_done_log, NULL);
	}
	/* Certificate Transparency: the TLSA and keys it judges by. */
	if (w->cfg->ct_certspotter[0] && rc >= 0 &&
	    ct_take_round(w->st, d->name, r,
			  ws.last == ALERT_ALARM ||
			      r->verdict == VERDICT_MISMATCH))
		store_commit(w->st, watch_commit_done_log, NULL);
	sd = store_domain_get(w->st, d->name);
	if (sd && prev == VERDICT_NONE && ws.verdict != VERDICT_NONE &&
	    sd->n_pubsub > 0 && w->pub.publish) {
		/* The baseline alerts nobody, but pubsub subscribers have had
		 * no report yet: publish the first state. */
		struct buf fb = BUF_INIT;
		buf_printf(&fb, "First check of %s:\n", d->name);
		report_text(r, &fb);
		w->pub.publish(w->pub.arg, d->name, ALERT_NONE, fb.s, r);
		buf_free(&fb);
	}
	if (sd == NULL) {
		free(last);
		return;
	}

	if (k != ALERT_NONE) {
		log_info("%s: %s (%s → %s)", d->name, alert_kind_name(k),
			 verdict_name(prev) ? verdict_name(prev) : "none",
			 verdict_name(ws.verdict));
		if (!flap_hold(d, sd, k, now)) {
			struct buf b = BUF_INIT;
			report_alert(&b, k, d->name, prev, r,
				     ws.unreachable_rounds, sd->keys,
				     sd->n_keys);
			deliver(w, sd, k, b.s, r);
			buf_free(&b);
			for (size_t i = 0; i < sd->n_chat; i++)
				watch_alert_send_presence(w, sd->chat[i]);
		}
	}
	for (size_t i = 0; i < na; i++) {
		const struct ep_alert *a = &ea[i];
		const struct check_endpoint *e = &r->endpoints[a->ep];
		log_info("%s: %s: %s %s:%u %s at %s for %u rounds", d->name,
			 alert_kind_name(a->kind),
			 check_service_name(e->service), e->host, e->port,
			 a->kind == ALERT_INFO ? "fails"
					       : "answers again, failed",
			 a->step, a->rounds);
		if (flap_hold(d, sd, a->kind, now))
			continue;
		struct buf b = BUF_INIT;
		report_endpoint_alert(&b, a->kind, d->name, r, a->ep, a->step,
				      a->rounds, next->ep[a->ep].verdict,
				      w->cfg->via_tor);
		deliver(w, sd, a->kind, b.s, r);
		buf_free(&b);
	}
	defence_alert(d, sd, r, dev, ndev, now);
	/* Key continuity (watch_keys.c): its own state and alert; a split
	 * alarm is never held, the others as any alert. */
	{
		struct buf kb = BUF_INIT;
		enum alert_kind kk = watch_keys_round(w, d->name, r, now, &kb);
		sd = store_domain_get(w->st, d->name);
		if (kk != ALERT_NONE && sd && !flap_hold(d, sd, kk, now))
			deliver(w, sd, kk, kb.s, r);
		buf_free(&kb);
		/* The split alarm opened or closed: the presence of every
		 * chat subscriber says so (dnd), held alert or not. */
		sd = store_domain_get(w->st, d->name);
		if ((kk == ALERT_ALARM || kk == ALERT_RECOVERED) && sd)
			for (size_t i = 0; i < sd->n_chat; i++)
				watch_alert_send_presence(w, sd->chat[i]);
	}
	free(last);
}

/* ---- presence ----------------------------------------------------------- */

/* What the bot's presence says to `jid`: a status line summarising its
 * domains, and whether to show dnd (an alarm).  0 when the JID has
 * nothing stored (the bot's generic presence then). */
int
watch_alert_presence_summary(struct watch *w, const char *jid, int *dnd,
			     char *line, size_t len)
{
	const struct store_jid *sj = store_jid_get(w->st, jid);
	size_t ok = 0, alarm = 0, other = 0;
	const char *alarm_dom = NULL, *alarm_v = NULL;

	if (sj == NULL || sj->n_domains == 0)
		return 0;
	for (size_t i = 0; i < sj->n_domains; i++) {
		const struct store_domain *sd = sj->domains[i];
		enum verdict v = domain_state_verdict(sd);
		if (v == VERDICT_MISMATCH || v == VERDICT_BOGUS) {
			alarm++;
			alarm_dom = sd->name;
			alarm_v = verdict_name(v);
		} else if (domain_state_split_alarm(sd)) {
			/* Key continuity's split alarm (keys.h), open until
			 * its `recovered`, is an alarm like the others. */
			alarm++;
			alarm_dom = sd->name;
			alarm_v = "keys differ between probes";
		} else if (defence_alarm_open(sd->defence)) {
			/* Channel binding withdrawn: an alarm while DANE
			 * says ok (docs/usage.md, "Alerts"). */
			alarm++;
			alarm_dom = sd->name;
			alarm_v = "channel binding withdrawn";
		} else if (v == VERDICT_OK) {
			ok++;
		} else {
			other++;
		}
	}
	*dnd = alarm > 0;
	if (alarm)
		snprintf(line, len, "ALERT: %s %s%s", alarm_dom, alarm_v,
			 alarm > 1 ? " (and more)" : "");
	else if (other == 0)
		snprintf(line, len, "%zu domain%s OK", ok, ok == 1 ? "" : "s");
	else
		snprintf(line, len, "%zu domain%s: %zu OK, %zu need attention",
			 sj->n_domains, sj->n_domains == 1 ? "" : "s", ok,
			 other);
	return 1;
}

void
watch_alert_send_presence(struct watch *w, const char *jid)
{
	const struct store_jid *sj = store_jid_get(w->st, jid);

	/* The bot builds the stanza; it asks our presence_of hook. */
	if (sj != NULL && sj->presence != NULL)
		comp_send_presence(w->comp, jid);
}

/* ---- Certificate Transparency (ct_take.c) ------------------------------- */

void
watch_ct_alert(struct watch *w, const char *domain, enum alert_kind k,
	       const char *text)
{
	const struct store_domain *sd = store_domain_get(w->st, domain);

	if (sd == NULL)
		return;
	log_info("%s: CT %s sent", domain, alert_kind_name(k));
	deliver(w, sd, k, text, NULL);
	if (k == ALERT_ALARM)
		for (size_t i = 0; i < sd->n_chat; i++)
			watch_alert_send_presence(w, sd->chat[i]);
}

int
watch_ct_written(const struct watch *w)
{
	return comp_online(w->comp) && comp_unsent(w->comp) == 0;
}

void
watch_check_now(struct watch *w, const char *domain)
{
	struct wdom *d = watch_wdom_find(w, domain);

	if (d && !d->check && !d->waiting)
		watch_round_due(d);
}
