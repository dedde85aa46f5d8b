/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * watch.c - subscriptions, rounds, alerts.
 *
 * The watched domains wait in one binary min-heap ordered by due time,
 * under one libevent timer armed for the earliest (100,000 domains cost a
 * small struct and a 16-byte heap entry each, not a struct event each); a
 * due round waits for a slot when [probe] concurrency rounds already
 * run.  A round's result is folded into the store (endpoints, keys,
 * history) and compared with the previous one by transition_decide();
 * alerts go to chat subscribers and the pubsub node.  Subscriptions are acknowledged only once durable (store_commit).
 */
#include "component/watch.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>
#include <time.h>

#include "component/bot.h"
#include "component/log.h"
#include "component/names.h"
#include "component/report.h"
#include "util/buf.h"

#define HASH_SIZE 65536u

#define HEAP_NONE UINT32_MAX

/* [watch] flap_limit: alerts other than alarms held this hour; only for
 * the few domains that flapped. */
struct wflap {
	time_t until;
	unsigned held;
	struct event *timer;
};

/* One watched domain: kept small, there may be 100,000. */
struct wdom {
	struct watch *w;
	struct wdom *hnext, *qnext;
	struct check *check;
	struct wflap *flap;
	time_t due;		/* wall clock, for status and the store */
	uint32_t heap_idx;	/* its place in w->heap, HEAP_NONE: not scheduled */
	uint32_t waiting;	/* in the ready queue */
	char name[];
};

/* A heap entry: the monotonic due time in ms, with the domain. */
struct hent {
	int64_t key;
	struct wdom *d;
};

struct watch {
	struct event_base *base;
	const struct config *cfg;
	struct store *st;
	struct comp *comp;
	struct check_env *checks;
	struct watch_clock clk;
	struct watch_publisher pub;
	struct wdom *hash[HASH_SIZE];
	struct wdom *ready_head, *ready_tail;
	struct hent *heap;	/* min-heap by key: the scheduled domains */
	size_t nscheduled, capheap, running, waiting;
	struct event *tick;	/* fires at the heap's earliest key */
	int64_t tick_key;	/* the key it is armed for, -1: not armed */
	uint64_t rounds;
	uint64_t alerts[ALERT_INFO + 1];
	struct event *store_ev;
	struct pending_req *reqs;	/* subscribe/unsubscribe in flight */
	struct sub_check *subchecks;	/* checks that follow a subscribe */
	int closing;
};

static time_t
w_now(const struct watch *w)
{
	return w->clk.now ? w->clk.now() : time(NULL);
}

static uint32_t
w_rand(const struct watch *w)
{
	return w->clk.rand32 ? w->clk.rand32() : (uint32_t)random();
}

static unsigned
hash_name(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % HASH_SIZE;
}

/* Monotonic milliseconds, so that a step of the wall clock moves no
 * round (as libevent's own timers did). */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the schedule: a binary min-heap of due domains -------------------- */

static void
heap_put(struct watch *w, size_t i, struct hent e)
{
	w->heap[i] = e;
	e.d->heap_idx = (uint32_t)i;
}

static void
heap_up(struct watch *w, size_t i)
{
	struct hent e = w->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (w->heap[parent].key <= e.key)
			break;
		heap_put(w, i, w->heap[parent]);
		i = parent;
	}
	heap_put(w, i, e);
}

static void
heap_down(struct watch *w, size_t i)
{
	struct hent e = w->heap[i];
	size_t n = w->nscheduled;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && w->heap[c + 1].key < w->heap[c].key)
			c++;
		if (e.key <= w->heap[c].key)
			break;
		heap_put(w, i, w->heap[c]);
		i = c;
	}
	heap_put(w, i, e);
}

static void
heap_remove(struct watch *w, struct wdom *d)
{
	size_t i = d->heap_idx;

	if (i == HEAP_NONE)
		return;
	d->heap_idx = HEAP_NONE;
	if (i == --w->nscheduled)
		return;
	struct wdom *moved = w->heap[w->nscheduled].d;
	heap_put(w, i, w->heap[w->nscheduled]);
	heap_up(w, i);
	heap_down(w, moved->heap_idx);
}

/* Inserts d with key, or moves it there when already scheduled. */
static void
heap_set(struct watch *w, struct wdom *d, int64_t key)
{
	size_t i = d->heap_idx;

	if (i == HEAP_NONE) {
		if (w->nscheduled == w->capheap) {
			w->capheap = w->capheap ? 2 * w->capheap : 64;
			w->heap = xrealloc(w->heap,
					   w->capheap * sizeof(*w->heap));
		}
		i = w->nscheduled++;
	}
	heap_put(w, i, (struct hent){key, d});
	heap_up(w, i);
	heap_down(w, d->heap_idx);
}

/* Arms the one timer for the earliest due domain, if it changed. */
static void
tick_arm(struct watch *w)
{
	int64_t key, delta;
	struct timeval tv;

	if (w->nscheduled == 0) {
		if (w->tick_key >= 0)
			evtimer_del(w->tick);
		w->tick_key = -1;
		return;
	}
	key = w->heap[0].key;
	if (key == w->tick_key)
		return;
	delta = key - mono_ms();
	if (delta < 0)
		delta = 0;
	tv.tv_sec = (time_t)(delta / 1000);
	tv.tv_usec = (suseconds_t)(delta % 1000) * 1000;
	evtimer_add(w->tick, &tv);
	w->tick_key = key;
}

static struct wdom *
wdom_find(const struct watch *w, const char *name)
{
	for (struct wdom *d = w->hash[hash_name(name)]; d; d = d->hnext)
		if (!strcmp(d->name, name))
			return d;
	return NULL;
}

static struct wdom *
wdom_get(struct watch *w, const char *name)
{
	struct wdom *d = wdom_find(w, name);
	size_t len = strlen(name);
	unsigned h;

	if (d)
		return d;
	d = xcalloc(1, sizeof(*d) + len + 1);
	d->w = w;
	memcpy(d->name, name, len + 1);
	d->heap_idx = HEAP_NONE;
	h = hash_name(name);
	d->hnext = w->hash[h];
	w->hash[h] = d;
	return d;
}

static void
ready_remove(struct watch *w, struct wdom *d)
{
	struct wdom **pp = &w->ready_head, *prev = NULL;

	while (*pp && *pp != d) {
		prev = *pp;
		pp = &(*pp)->qnext;
	}
	if (*pp == NULL)
		return;
	*pp = d->qnext;
	if (w->ready_tail == d)
		w->ready_tail = prev;
	d->waiting = 0;
	w->waiting--;
}

static void
wdom_free(struct watch *w, struct wdom *d)
{
	struct wdom **pp = &w->hash[hash_name(d->name)];

	while (*pp != d)
		pp = &(*pp)->hnext;
	*pp = d->hnext;
	if (d->waiting)
		ready_remove(w, d);
	if (d->check) {
		check_cancel(d->check);
		w->running--;
	}
	if (d->heap_idx != HEAP_NONE) {
		heap_remove(w, d);
		if (!w->closing)
			tick_arm(w);
	}
	if (d->flap) {
		if (d->flap->timer)
			event_free(d->flap->timer);
		free(d->flap);
	}
	free(d);
}

/* Schedules the next round `delay` seconds from now. */
static void
wdom_schedule(struct wdom *d, long delay)
{
	if (delay < 0)
		delay = 0;
	d->due = w_now(d->w) + delay;
	heap_set(d->w, d, mono_ms() + (int64_t)delay * 1000);
	tick_arm(d->w);
}

static long
next_delay(const struct watch *w)
{
	long j = (long)w->cfg->jitter;
	long delay = (long)w->cfg->interval;

	if (j > 0)
		delay += (long)(w_rand(w) % (uint32_t)(2 * j + 1)) - j;
	return delay > 1 ? delay : 1;
}

static int
has_subscribers(const struct store_domain *sd)
{
	return sd && (sd->n_chat > 0 || sd->n_pubsub > 0);
}

static void
commit_done_log(void *arg, int result)
{
	if (result < 0)
		log_error("writing the state failed: %s; will retry",
			  strerror(-result));
}

/* ---- rounds ------------------------------------------------------------- */

static void round_start(struct wdom *d);

static void
ready_pump(struct watch *w)
{
	unsigned max = w->cfg->concurrency ? w->cfg->concurrency : 32;

	while (w->ready_head && w->running < max) {
		struct wdom *d = w->ready_head;
		w->ready_head = d->qnext;
		if (w->ready_head == NULL)
			w->ready_tail = NULL;
		d->waiting = 0;
		w->waiting--;
		round_start(d);
	}
}

static void
round_due(struct wdom *d)
{
	struct watch *w = d->w;
	const struct store_domain *sd = store_domain_get(w->st, d->name);

	if (d->heap_idx != HEAP_NONE) {
		heap_remove(w, d);
		tick_arm(w);
	}
	if (!has_subscribers(sd)) {
		/* Nobody subscribes any more: stop polling, forget it. */
		if (sd)
			store_domain_remove(w->st, d->name);
		store_commit(w->st, commit_done_log, NULL);
		wdom_free(w, d);
		return;
	}
	if (d->check || d->waiting)
		return;
	d->waiting = 1;
	d->qnext = NULL;
	if (w->ready_tail)
		w->ready_tail->qnext = d;
	else
		w->ready_head = d;
	w->ready_tail = d;
	w->waiting++;
	ready_pump(w);
}

/* The timer: every domain whose time has come, earliest first. */
static void
tick_fire(evutil_socket_t fd, short what, void *arg)
{
	struct watch *w = arg;
	int64_t now = mono_ms();

	w->tick_key = -1;
	while (w->nscheduled > 0 && w->heap[0].key <= now)
		round_due(w->heap[0].d);
	tick_arm(w);
}

static const char *
last_verdict_of(const struct store_domain *sd, const struct check_endpoint *e)
{
	const char *svc = check_service_name(e->service);

	for (size_t i = 0; sd && i < sd->n_endpoints; i++) {
		struct store_endpoint sep;
		const struct store_endpoint *se = &sep;
		store_domain_endpoint(sd, i, &sep);
		if (se->port == e->port && !strcmp(se->host, e->host) &&
		    !strcmp(se->service, svc) && se->verdict &&
		    strcmp(se->verdict, "unreachable"))
			return se->verdict;
	}
	return NULL;
}

/* The verdict for alerts: unreachable endpoints count at their last. */
static enum verdict
alert_verdict(const struct store_domain *sd, const struct check_result *r)
{
	enum verdict v = VERDICT_NONE;

	for (size_t i = 0; i < r->nendpoints; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		enum verdict ev = e->verdict;
		if (ev == VERDICT_UNREACHABLE) {
			const char *last = last_verdict_of(sd, e);
			if (last)
				ev = verdict_parse(last);
		}
		v = verdict_worse(v, ev);
	}
	for (int s = 0; s < SVC_COUNT; s++)
		if (r->services[s] == SVC_STATE_BOGUS)
			v = verdict_worse(v, VERDICT_BOGUS);
	if (v == VERDICT_NONE)
		v = VERDICT_UNREACHABLE;
	return v;
}

/* A key changed while every endpoint still matches (a rollover). */
static int
key_rolled(const struct store_domain *sd, const struct check_result *r)
{
	int changed = 0;

	if (r->verdict != VERDICT_OK || sd == NULL)
		return 0;
	for (size_t i = 0; i < r->nendpoints; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		if (!e->have_key)
			continue;
		for (size_t j = 0; j < sd->n_endpoints; j++) {
			struct store_endpoint sep;
			const struct store_endpoint *se = &sep;
			store_domain_endpoint(sd, j, &sep);
			if (se->port == e->port && !strcmp(se->host, e->host) &&
			    se->spki && strcmp(se->spki, e->spki_sha256))
				changed = 1;
		}
	}
	return changed;
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

static void send_presence_summary(struct watch *w, const char *jid);

static void
flap_summary(evutil_socket_t fd, short what, void *arg)
{
	struct wdom *d = arg;
	struct watch *w = d->w;
	const struct store_domain *sd = store_domain_get(w->st, d->name);
	struct buf b = BUF_INIT;

	if (d->flap->held > 0 && sd) {
		buf_printf(&b, "%s changed state often in the last hour: %u "
			       "alerts were held. Now: %s.\n",
			   d->name, d->flap->held,
			   sd->verdict ? sd->verdict : "unknown");
		for (size_t i = 0; i < sd->n_chat; i++)
			comp_send_message(w->comp, sd->chat[i], b.s);
		if (w->pub.publish)
			w->pub.publish(w->pub.arg, d->name, ALERT_INFO, b.s,
				       NULL);
	}
	d->flap->held = 0;
	d->flap->until = 0;
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
 * same endpoints, no history entry. */
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
		struct store_endpoint sa;
		const struct store_endpoint *a = &sa;
		const struct store_endpoint *b = &u->endpoints[i];
		store_domain_endpoint(sd, i, &sa);
		if (a->port != b->port || !same_str(a->service, b->service) ||
		    !same_str(a->host, b->host) ||
		    !same_str(a->verdict, b->verdict) ||
		    !same_str(a->spki, b->spki) ||
		    !same_str(a->error, b->error))
			return 0;
	}
	return 1;
}

static void
round_record(struct wdom *d, struct check_result *r, int baseline_only)
{
	struct watch *w = d->w;
	const struct store_domain *sd = store_domain_get(w->st, d->name);
	struct watch_state ws = {VERDICT_NONE, ALERT_NONE, 0};
	struct round_facts f;
	struct store_endpoint eps[STORE_ENDPOINTS_MAX];
	char errs[STORE_ENDPOINTS_MAX][300];
	size_t n = 0;
	time_t now = w_now(w);
	struct store_change ch;
	char note[300];
	enum alert_kind k;
	enum verdict prev;

	if (sd) {
		ws.verdict = sd->verdict ? verdict_parse(sd->verdict)
					 : VERDICT_NONE;
		ws.last = alert_kind_parse(sd->alert);
		ws.unreachable_rounds = sd->unreachable_rounds;
	}
	prev = ws.verdict;
	f.verdict = alert_verdict(sd, r);
	f.all_unreachable = r->verdict == VERDICT_UNREACHABLE;
	f.key_rolled = key_rolled(sd, r);
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
			const char *last = last_verdict_of(sd, e);
			if (last)
				v = last;
		}
		se->verdict = v;
		n++;
	}
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
		store_commit(w->st, commit_done_log, NULL);
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
	if (k == ALERT_NONE || sd == NULL)
		return;

	log_info("%s: %s (%s → %s)", d->name, alert_kind_name(k),
		 verdict_name(prev) ? verdict_name(prev) : "none",
		 verdict_name(ws.verdict));
	/* [watch] flap_limit: beyond it, hold everything but alarms. */
	if (k != ALERT_ALARM &&
	    ((d->flap && d->flap->until > now) ||
	     changes_last_hour(sd, now) > w->cfg->flap_limit)) {
		if (d->flap == NULL)
			d->flap = xcalloc(1, sizeof(*d->flap));
		if (d->flap->until <= now) {
			struct timeval tv = {3600, 0};
			d->flap->until = now + 3600;
			if (d->flap->timer == NULL)
				d->flap->timer = evtimer_new(w->base,
							     flap_summary, d);
			evtimer_add(d->flap->timer, &tv);
		}
		d->flap->held++;
		return;
	}
	struct buf b = BUF_INIT;
	alert_text(&b, k, d->name, prev, r, ws.unreachable_rounds, sd);
	deliver(w, sd, k, b.s, r);
	buf_free(&b);
	for (size_t i = 0; i < sd->n_chat; i++)
		send_presence_summary(w, sd->chat[i]);
}

static void
round_done(struct check_result *r, void *arg)
{
	struct wdom *d = arg;
	struct watch *w = d->w;

	d->check = NULL;
	w->running--;
	w->rounds++;
	if (d->heap_idx == HEAP_NONE)
		wdom_schedule(d, next_delay(w));
	round_record(d, r, 0);
	check_result_free(r);
	ready_pump(w);
}

static void
round_start(struct wdom *d)
{
	struct watch *w = d->w;
	struct domain_name dn;
	char err[128];

	if (names_domain(d->name, strlen(d->name), &dn, err, sizeof(err)) < 0) {
		log_warn("%s: not a valid domain in the store (%s); dropped",
			 d->name, err);
		store_domain_remove(w->st, d->name);
		store_commit(w->st, commit_done_log, NULL);
		wdom_free(w, d);
		return;
	}
	d->check = check_start(w->checks, dn.a, dn.u, round_done, d);
	if (d->check)
		w->running++;
	else
		wdom_schedule(d, 60);
}

/* ---- presence ----------------------------------------------------------- */

/* What the bot's presence says to `jid`: a status line summarising its
 * domains, and whether to show dnd (an alarm).  0 when the JID has
 * nothing stored (the bot's generic presence then). */
static int
presence_summary(struct watch *w, const char *jid, int *dnd, char *line,
		 size_t len)
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

static int
hook_presence_of(void *arg, const char *jid, int *dnd, char *status,
		 size_t len)
{
	return presence_summary(arg, jid, dnd, status, len);
}

static void
send_presence_summary(struct watch *w, const char *jid)
{
	const struct store_jid *sj = store_jid_get(w->st, jid);
	xmpp_ctx_t *ctx = comp_ctx(w->comp);
	xmpp_stanza_t *p, *show, *status, *txt;
	char line[512];
	int dnd = 0;

	if (sj == NULL || sj->presence == NULL)
		return;
	if (!presence_summary(w, jid, &dnd, line, sizeof(line)))
		snprintf(line, sizeof(line),
			 "Watching XMPP services for MITM; send \"help\"");
	p = xmpp_presence_new(ctx);
	xmpp_stanza_set_from(p, w->cfg->jid);
	xmpp_stanza_set_to(p, jid);
	if (dnd) {
		show = xmpp_stanza_new(ctx);
		xmpp_stanza_set_name(show, "show");
		txt = xmpp_stanza_new(ctx);
		xmpp_stanza_set_text(txt, "dnd");
		xmpp_stanza_add_child(show, txt);
		xmpp_stanza_release(txt);
		xmpp_stanza_add_child(p, show);
		xmpp_stanza_release(show);
	}
	status = xmpp_stanza_new(ctx);
	xmpp_stanza_set_name(status, "status");
	txt = xmpp_stanza_new(ctx);
	xmpp_stanza_set_text(txt, line);
	xmpp_stanza_add_child(status, txt);
	xmpp_stanza_release(txt);
	xmpp_stanza_add_child(p, status);
	xmpp_stanza_release(status);
	comp_send(w->comp, p);
	xmpp_stanza_release(p);
}

/* ---- the hooks ------------------------------------------------------------ */

/* Forgets a domain nobody subscribes to any more, with its timer (not
 * left to fire once more); the caller commits. */
static void
drop_if_unwatched(struct watch *w, const char *name)
{
	const struct store_domain *sd = store_domain_get(w->st, name);
	struct wdom *d;

	if (has_subscribers(sd))
		return;
	if (sd)
		store_domain_remove(w->st, name);
	if ((d = wdom_find(w, name)) != NULL)
		wdom_free(w, d);
}

/* A subscribe or unsubscribe waiting for its durable write. */
struct pending_req {
	struct watch *w;
	struct comp_request *r;
	struct domain_name d;
	int all;
	int is_new;
	char jid[STORE_JID_MAX + 1];
	char text[512];
	struct pending_req *next;
};

static void
req_unlink(struct watch *w, struct pending_req *p)
{
	for (struct pending_req **pp = &w->reqs; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			return;
		}
}

/* The check after a subscribe: its report goes to that subscriber only;
 * for a new domain it is the baseline. */
struct sub_check {
	struct watch *w;
	struct check *check;
	struct sub_check *next;
	char jid[STORE_JID_MAX + 1];
	char domain[DNS_NAME_MAX + 1];
	int is_new;
};

static void
sub_check_done(struct check_result *r, void *arg)
{
	struct sub_check *sc = arg;
	struct watch *w = sc->w;
	struct buf b = BUF_INIT;

	for (struct sub_check **pp = &w->subchecks; *pp; pp = &(*pp)->next)
		if (*pp == sc) {
			*pp = sc->next;
			break;
		}
	struct wdom *d = wdom_find(w, sc->domain);
	const struct store_domain *sd = store_domain_get(w->st, sc->domain);

	buf_printf(&b, "First check of %s since you subscribed:\n", r->domain_u);
	report_text(r, &b);
	comp_send_message(w->comp, sc->jid, b.s);
	buf_free(&b);
	if (d && sd && sd->verdict == NULL)
		round_record(d, r, 1);	/* the baseline of a new domain */
	send_presence_summary(w, sc->jid);
	check_result_free(r);
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
		comp_request_done(p->r, "Sorry, the subscription could not "
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

	struct wdom *d = wdom_get(w, p->d.a);
	if (d->heap_idx == HEAP_NONE && !d->check && !d->waiting)
		wdom_schedule(d, next_delay(w));
	struct sub_check *sc = xcalloc(1, sizeof(*sc));
	sc->w = w;
	snprintf(sc->jid, sizeof(sc->jid), "%s", p->jid);
	snprintf(sc->domain, sizeof(sc->domain), "%s", p->d.a);
	sc->is_new = p->is_new;
	sc->check = check_start(w->checks, p->d.a, p->d.u, sub_check_done, sc);
	if (sc->check == NULL) {
		free(sc);
	} else {
		sc->next = w->subchecks;
		w->subchecks = sc;
	}
	free(p);
}

static void
hook_subscribe(void *arg, struct comp_request *r, const struct domain_name *d)
{
	struct watch *w = arg;
	const char *jid = comp_request_jid(r);
	const struct store_jid *sj = store_jid_get(w->st, jid);
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
	if (w->cfg->subscriptions_per_jid && !comp_request_admin(r) && sj &&
	    sj->n_domains + sj->n_pubsub >= w->cfg->subscriptions_per_jid) {
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
	snprintf(p->jid, sizeof(p->jid), "%s", jid);
	rc = store_sub_add(w->st, d->a, jid);
	if (rc < 0) {
		comp_request_done(r, "Sorry, that subscription cannot be "
				     "stored.",
				  1);
		free(p);
		return;
	}
	p->next = w->reqs;
	w->reqs = p;
	if (store_commit(w->st, sub_committed, p) < 0) {
		req_unlink(w, p);
		sub_committed(p, -ENOMEM);
	}
}

static void
unsub_committed(void *arg, int result)
{
	struct pending_req *p = arg;
	struct watch *w = p->w;

	req_unlink(w, p);
	if (result < 0) {
		comp_request_done(p->r, "Sorry, the change could not be stored "
					"(the server's disk failed); please "
					"try again later.",
				  1);
	} else {
		comp_request_done(p->r, p->text, 0);
		send_presence_summary(w, p->jid);
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
			drop_if_unwatched(w, names[i]);
			free(names[i]);
		}
		free(names);
		snprintf(p->text, sizeof(p->text),
			 removed ? "Unsubscribed from all %zu domains. No more "
				   "alerts will be sent to you."
				 : "You had no subscriptions.",
			 removed);
	} else {
		int rc = store_sub_remove(w->st, d->a, jid);
		if (store_domain_get(w->st, d->a))
			drop_if_unwatched(w, d->a);
		snprintf(p->text, sizeof(p->text),
			 rc > 0 ? "Unsubscribed from %s."
				: "You were not subscribed to %s.",
			 d->u);
	}
	p->next = w->reqs;
	w->reqs = p;
	if (store_commit(w->st, unsub_committed, p) < 0) {
		req_unlink(w, p);
		unsub_committed(p, -ENOMEM);
	}
}

static void
fmt_when(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(buf, len, "never");
	else
		strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm);
}

static void
domain_status(struct watch *w, const struct store_domain *sd, struct buf *b,
	      int full)
{
	char when[64];

	fmt_when(sd->last_check, when, sizeof(when));
	buf_printf(b, "%s: %s (checked %s)", sd->name,
		   sd->verdict ? sd->verdict : "not checked yet", when);
	if (!full) {
		buf_putc(b, '\n');
		return;
	}
	long next = watch_next_round_in(w, sd->name);
	if (next >= 0)
		buf_printf(b, ", next check in %ld min", (next + 59) / 60);
	buf_putc(b, '\n');
	for (size_t i = 0; i < sd->n_endpoints; i++) {
		struct store_endpoint ep;
		const struct store_endpoint *e = &ep;
		store_domain_endpoint(sd, i, &ep);
		buf_printf(b, "  %s %s:%u: %s%s%s\n", e->service, e->host,
			   e->port, e->verdict ? e->verdict : "-",
			   e->error ? " — " : "",
			   e->error ? e->error : "");
		if (e->spki)
			buf_printf(b, "    key %s\n", e->spki);
	}
	for (size_t i = 0; i < sd->n_keys; i++) {
		char f[64], l[64];
		fmt_when(sd->keys[i].first_seen, f, sizeof(f));
		fmt_when(sd->keys[i].last_seen, l, sizeof(l));
		buf_printf(b, "  key seen %s: first %s, last %s\n",
			   sd->keys[i].spki, f, l);
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
}

static void
hook_status(void *arg, struct comp_request *r, const struct domain_name *d)
{
	struct watch *w = arg;
	struct buf b = BUF_INIT;

	if (d) {
		const struct store_domain *sd = store_domain_get(w->st, d->a);
		if (sd == NULL)
			buf_printf(&b, "%s is not watched. Send \"subscribe "
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
				   sj->n_domains, sj->n_domains == 1 ? "" : "s");
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
	struct wdom *wd = wdom_find(w, d->a);
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
	snprintf(msg, sizeof(msg), "A round of %s starts now; subscribers "
				   "are alerted if its state changed.",
		 d->u);
	comp_request_done(r, msg, 0);
	round_due(wd);
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
			store_jid_flags(w->st, jid, STORE_FLAG_TOLD_UNSUB_ALL, 1);
		}
	}
	store_commit(w->st, commit_done_log, NULL);
	if (subscribed)
		send_presence_summary(w, jid);
}

/* ---- life ------------------------------------------------------------------ */

static void
store_ready(evutil_socket_t fd, short what, void *arg)
{
	struct watch *w = arg;

	store_process_completions(w->st);
}

struct watch *
watch_new(struct event_base *base, const struct config *cfg, struct store *st,
	  struct comp *comp, struct check_env *checks,
	  const struct watch_clock *clk)
{
	struct watch *w = xcalloc(1, sizeof(*w));

	w->base = base;
	w->cfg = cfg;
	w->st = st;
	w->comp = comp;
	w->checks = checks;
	if (clk)
		w->clk = *clk;
	w->store_ev = event_new(base, store_notify_fd(st), EV_READ | EV_PERSIST,
				store_ready, w);
	event_add(w->store_ev, NULL);
	w->tick = evtimer_new(base, tick_fire, w);
	w->tick_key = -1;
	return w;
}

void
watch_set_publisher(struct watch *w, const struct watch_publisher *p)
{
	w->pub = *p;
}

void
watch_start(struct watch *w)
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
	};
	size_t cur = 0;
	const struct store_domain *sd;
	const struct store_jid *sj;
	time_t now = w_now(w);
	long interval = (long)w->cfg->interval;

	comp_set_watch_hooks(w->comp, &h);
	while ((sd = store_domain_next(w->st, &cur)) != NULL) {
		struct wdom *d = wdom_get(w, sd->name);
		long delay = (long)(sd->next_due - now);
		/* A due time within one interval is kept; anything overdue
		 * (or odd) is spread over the interval, so a restart is not
		 * a burst. */
		if (sd->next_due <= now || delay > interval + (long)w->cfg->jitter)
			delay = (long)(w_rand(w) % (uint32_t)interval);
		wdom_schedule(d, delay);
	}
	cur = 0;
	while ((sj = store_jid_next(w->st, &cur)) != NULL)
		if (sj->presence)
			comp_add_contact(w->comp, sj->jid);
}

void
watch_domain_touched(struct watch *w, const char *domain)
{
	struct wdom *d = wdom_get(w, domain);
	const struct store_domain *sd = store_domain_get(w->st, domain);

	if (d->heap_idx != HEAP_NONE || d->check || d->waiting)
		return;
	wdom_schedule(d, sd && sd->verdict ? next_delay(w) : 0);
}

void
watch_domain_maybe_drop(struct watch *w, const char *domain)
{
	if (has_subscribers(store_domain_get(w->st, domain)))
		return;
	drop_if_unwatched(w, domain);
	store_commit(w->st, commit_done_log, NULL);
}

long
watch_next_round_in(const struct watch *w, const char *domain)
{
	struct wdom *d = wdom_find(w, domain);

	if (d == NULL || d->heap_idx == HEAP_NONE)
		return -1;
	long s = (long)(d->due - w_now(w));
	return s > 0 ? s : 0;
}

void
watch_get_stats(const struct watch *w, struct watch_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->scheduled = w->nscheduled;
	out->running = w->running;
	out->waiting = w->waiting;
	out->rounds = w->rounds;
	memcpy(out->alerts, w->alerts, sizeof(out->alerts));
}

void
watch_free(struct watch *w)
{
	if (w == NULL)
		return;
	/* Everything acknowledged must be on disk, and every subscribe
	 * waiting for its write answered, before the bot goes. */
	w->closing = 1;
	store_commit_sync(w->st);
	for (unsigned i = 0; i < HASH_SIZE; i++)
		while (w->hash[i])
			wdom_free(w, w->hash[i]);
	while (w->subchecks) {
		struct sub_check *sc = w->subchecks;
		w->subchecks = sc->next;
		check_cancel(sc->check);
		free(sc);
	}
	if (w->store_ev)
		event_free(w->store_ev);
	event_free(w->tick);
	free(w->heap);
	free(w);
}
