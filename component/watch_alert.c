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

#include "component/bot.h"
#include "component/log.h"
#include "component/report.h"
#include "util/buf.h"

/* ---- rounds and alerts --------------------------------------------------- */

/* The stored endpoint (service, host, port) of e: 1 found, else 0. */
static int
stored_endpoint(const struct store_domain *sd, const struct check_endpoint *e,
		struct store_endpoint *out)
{
	const char *svc = check_service_name(e->service);

	for (size_t i = 0; sd && i < sd->n_endpoints; i++) {
		store_domain_endpoint(sd, i, out);
		if (out->port == e->port && !strcmp(out->host, e->host) &&
		    !strcmp(out->service, svc))
			return 1;
	}
	return 0;
}

/* The endpoints the last round left in the store, read out of sd (whose
 * strings they point into). */
static size_t
last_endpoints(const struct store_domain *sd,
	       struct store_endpoint last[STORE_ENDPOINTS_MAX])
{
	size_t n = sd ? sd->n_endpoints : 0;

	if (n > STORE_ENDPOINTS_MAX)
		n = STORE_ENDPOINTS_MAX;
	for (size_t i = 0; i < n; i++)
		store_domain_endpoint(sd, i, &last[i]);
	return n;
}

static void
alert_text(struct buf *b, enum alert_kind k, const char *domain,
	   enum verdict prev, const struct check_result *r, unsigned rounds,
	   const struct store_domain *sd)
{
	switch (k) {
	case ALERT_ALARM:
		buf_printf(b, "ALARM: %s is now %s%s\n", domain,
			   verdict_name(r->verdict),
			   r->verdict == VERDICT_MISMATCH
				   ? ": POSSIBLE MAN IN THE MIDDLE"
				   : ": DNSSEC validation fails");
		break;
	case ALERT_REMOVED:
		buf_printf(b, "%s: DNSSEC or its TLSA records were removed "
			      "(was %s, now %s)\n",
			   domain, verdict_name(prev), verdict_name(r->verdict));
		break;
	case ALERT_DOWN:
		buf_printf(b, "%s is down: no endpoint could be checked in %u "
			      "rounds in a row (this is not a sign of "
			      "interception)\n",
			   domain, rounds);
		break;
	case ALERT_RECOVERED:
		buf_printf(b, "%s recovered: now %s\n", domain,
			   verdict_name(r->verdict));
		break;
	case ALERT_INFO:
		if (prev == r->verdict)
			buf_printf(b, "%s: the key changed and still matches a "
				      "TLSA record (a planned rollover)\n",
				   domain);
		else
			buf_printf(b, "%s changed: %s → %s\n", domain,
				   verdict_name(prev), verdict_name(r->verdict));
		break;
	default:
		return;
	}
	buf_putc(b, '\n');
	report_text(r, b);
	if (k == ALERT_ALARM && sd != NULL && sd->n_keys > 0) {
		/* What this service presented before, to compare with. */
		buf_puts(b, "\nKeys seen before (SPKI SHA-256, first and last "
			    "seen):\n");
		for (size_t i = 0; i < sd->n_keys; i++) {
			char f[32], l[32];
			time_t ft = (time_t)sd->keys[i].first_seen;
			time_t lt = (time_t)sd->keys[i].last_seen;
			struct tm tm;
			strftime(f, sizeof(f), "%Y-%m-%d", gmtime_r(&ft, &tm));
			strftime(l, sizeof(l), "%Y-%m-%d %H:%M", gmtime_r(&lt, &tm));
			buf_printf(b, "  %s (%s to %s UTC)\n", sd->keys[i].spki,
				   f, l);
		}
	}
	buf_printf(b, "\nSend \"unsubscribe %s\" to stop these alerts.\n",
		   domain);
}

/* ---- endpoint trouble -------------------------------------------------- */

/* One endpoint's trouble alert of a round (transition.h). */
struct ep_alert {
	enum alert_kind kind;	/* ALERT_INFO, or ALERT_RECOVERED */
	size_t ep;		/* its index in the check's endpoints */
	char step[16];		/* the step it fails (failed) at */
	unsigned rounds;	/* in a row */
};

/* The step word an endpoint's stored error starts with ("stream: ..."). */
static void
step_of_error(const char *error, char *out, size_t len)
{
	size_t n = error ? strcspn(error, ":") : 0;

	snprintf(out, len, "%.*s", (int)n, error ? error : "");
}

/*
 * Folds each endpoint's probe of this round into its trouble state, kept
 * in the store with the endpoint (eps[i] is what is stored for
 * r->endpoints[i]), and collects the alerts in out (room for n).  An
 * endpoint answered before when it has a stored verdict: the store keeps
 * an unreachable endpoint at its last one.  Returns how many alerts.
 */
static size_t
trouble_round(const struct watch *w, const struct store_domain *sd,
	      const struct check_result *r, struct store_endpoint *eps,
	      size_t n, struct ep_alert *out)
{
	enum trouble_probe cls[STORE_ENDPOINTS_MAX];
	size_t answering = 0, na = 0;

	for (size_t i = 0; i < n; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		cls[i] = trouble_classify(e->verdict, e->err_step);
		answering += cls[i] == TROUBLE_ANSWERED;
	}
	for (size_t i = 0; i < n; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		struct store_endpoint old;
		struct trouble_state ts = {0, 0, 0};
		int found = stored_endpoint(sd, e, &old);
		enum alert_kind k;

		if (found) {
			ts.fail_rounds = old.fail_rounds;
			ts.answered = old.verdict &&
				      strcmp(old.verdict, "unreachable") != 0;
			ts.alerted = (old.flags & STORE_EP_ALERTED) != 0;
		}
		k = trouble_decide(&ts, cls[i],
				   answering > (cls[i] == TROUBLE_ANSWERED),
				   w->cfg->down_after);
		eps[i].fail_rounds = ts.fail_rounds;
		eps[i].flags = ts.alerted ? STORE_EP_ALERTED : 0;
		if (cls[i] == TROUBLE_FAILED)
			log_debug("%s: %s %s:%u fails at %s (%u rounds in a "
				  "row)",
				  r->domain, check_service_name(e->service),
				  e->host, e->port, probe_step_name(e->err_step),
				  ts.fail_rounds);
		if (k == ALERT_NONE)
			continue;
		out[na].kind = k;
		out[na].ep = i;
		if (k == ALERT_INFO) {
			snprintf(out[na].step, sizeof(out[na].step), "%s",
				 probe_step_name(e->err_step));
			out[na].rounds = ts.fail_rounds;
		} else {
			step_of_error(old.error, out[na].step,
				      sizeof(out[na].step));
			out[na].rounds = old.fail_rounds;
		}
		na++;
	}
	return na;
}

/* The address an endpoint's probe connected to, without its port; the
 * host through Tor, where the proxy resolves the name. */
static void
endpoint_address(const struct check_endpoint *e, char *out, size_t len)
{
	const char *a = e->address;
	const char *colon = strrchr(a, ':');
	size_t n = colon ? (size_t)(colon - a) : strlen(a);

	if (n >= 2 && a[0] == '[' && a[n - 1] == ']') {
		a++;
		n -= 2;
	}
	if (n == 0 || n >= len)
		snprintf(out, len, "%s", e->host);
	else
		snprintf(out, len, "%.*s", (int)n, a);
}

static void
ep_alert_text(struct buf *b, const struct watch *w, const char *domain,
	      const struct check_result *r, const struct store_endpoint *stored,
	      const struct ep_alert *a)
{
	const struct check_endpoint *e = &r->endpoints[a->ep];
	const char *svc = check_service_name(e->service);
	const char *via = w->cfg->via_tor ? "tor" : "direct";
	char addr[DNS_NAME_MAX + 1];

	endpoint_address(e, addr, sizeof(addr));
	if (a->kind == ALERT_INFO) {
		buf_printf(b, "%s: %s %s:%u (%s via %s) fails at %s for %u "
			      "rounds (it answered before): an interceptor can "
			      "hide behind a failure\n",
			   domain, svc, e->host, e->port, addr, via, a->step,
			   a->rounds);
		buf_printf(b, "\nNow: %s: %s. Until it answers, the domain's "
			      "verdict counts it at its last one (%s).\n",
			   probe_step_name(e->err_step), e->err_reason,
			   stored->verdict ? stored->verdict : "none");
	} else {
		buf_printf(b, "%s: %s %s:%u (%s via %s) recovered: it answers "
			      "again (%s) after failing at %s for %u rounds\n",
			   domain, svc, e->host, e->port, addr, via,
			   verdict_name(e->verdict), a->step, a->rounds);
	}
	buf_putc(b, '\n');
	report_text(r, b);
	buf_printf(b, "\nSend \"unsubscribe %s\" to stop these alerts.\n",
		   domain);
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
		buf_printf(&b, "%s changed state often in the last hour: %u "
			       "alerts were held. Now: %s.\n",
			   d->name, held,
			   sd->verdict ? sd->verdict : "unknown");
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
	struct flap_state fs = d->flap ? d->flap->st : (struct flap_state){0, 0};
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

void
watch_alert_record(struct wdom *d, struct check_result *r, int baseline_only)
{
	struct watch *w = d->w;
	const struct store_domain *sd = store_domain_get(w->st, d->name);
	struct watch_state ws = {VERDICT_NONE, ALERT_NONE, 0};
	struct round_facts f;
	struct store_endpoint eps[STORE_ENDPOINTS_MAX], last[STORE_ENDPOINTS_MAX];
	size_t nlast = last_endpoints(sd, last);
	char errs[STORE_ENDPOINTS_MAX][300];
	size_t n = 0;
	time_t now = watch_now(w);
	struct store_change ch;
	char note[300];
	enum alert_kind k;
	enum verdict prev;
	struct ep_alert ea[STORE_ENDPOINTS_MAX];
	size_t na;

	if (sd) {
		ws.verdict = sd->verdict ? verdict_parse(sd->verdict)
					 : VERDICT_NONE;
		ws.last = alert_kind_parse(sd->alert);
		ws.unreachable_rounds = sd->unreachable_rounds;
	}
	prev = ws.verdict;
	f.verdict = transition_alert_verdict(r, last, nlast);
	f.all_unreachable = r->verdict == VERDICT_UNREACHABLE;
	f.key_rolled = transition_key_rolled(r, last, nlast);
	k = transition_decide(&ws, &f, w->cfg->down_after);
	if (baseline_only && prev == VERDICT_NONE)
		k = ALERT_NONE;

	for (size_t i = 0; i < r->nendpoints && n < STORE_ENDPOINTS_MAX; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		struct store_endpoint *se = &eps[n];
		const char *v = verdict_name(e->verdict);
		se->service = check_service_name(e->service);
		se->host = e->host;
		se->port = e->port;
		se->spki = e->have_key ? e->spki_sha256 : NULL;
		se->error = NULL;
		if (e->err_step != PROBE_STEP_NONE) {
			snprintf(errs[n], sizeof(errs[n]), "%s: %s",
				 probe_step_name(e->err_step), e->err_reason);
			se->error = errs[n];
		}
		if (e->verdict == VERDICT_UNREACHABLE) {
			/* Keep the last known verdict; the error says it is
			 * unreachable now. */
			const char *was = transition_last_verdict(e, last, nlast);
			if (was)
				v = was;
		}
		se->verdict = v;
		n++;
	}
	na = trouble_round(w, sd, r, eps, n, ea);
	struct store_update u = {
		.verdict = verdict_name(ws.verdict),
		.alert = alert_kind_name(ws.last),
		.unreachable_rounds = ws.unreachable_rounds,
		.checked = now,
		.next_due = d->heap_idx != HEAP_NONE ? d->due : now,
		.endpoints = eps,
		.n_endpoints = n,
		.change = NULL,
	};
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
			 ea[0].kind == ALERT_INFO ? "fails" : "answers again, failed",
			 ea[0].step);
		ch.time = now;
		ch.from = verdict_name(prev);
		ch.to = verdict_name(ws.verdict);
		ch.note = note;
		u.change = &ch;
	}
	int rc = -1;
	if (round_unchanged(sd, &u)) {
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
		store_commit(w->st, watch_commit_done_log, NULL);
	}
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
	if (sd == NULL)
		return;

	if (k != ALERT_NONE) {
		log_info("%s: %s (%s → %s)", d->name, alert_kind_name(k),
			 verdict_name(prev) ? verdict_name(prev) : "none",
			 verdict_name(ws.verdict));
		if (!flap_hold(d, sd, k, now)) {
			struct buf b = BUF_INIT;
			alert_text(&b, k, d->name, prev, r,
				   ws.unreachable_rounds, sd);
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
			 a->kind == ALERT_INFO ? "fails" : "answers again, failed",
			 a->step, a->rounds);
		if (flap_hold(d, sd, a->kind, now))
			continue;
		struct buf b = BUF_INIT;
		ep_alert_text(&b, w, d->name, r, &eps[a->ep], a);
		deliver(w, sd, a->kind, b.s, r);
		buf_free(&b);
	}
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
		enum verdict v = verdict_parse(sd->verdict);
		if (v == VERDICT_MISMATCH || v == VERDICT_BOGUS) {
			alarm++;
			alarm_dom = sd->name;
			alarm_v = sd->verdict;
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
