/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * watch.c - the schedule and rounds of the watched domains.
 *
 * The watched domains wait in one binary min-heap ordered by due time,
 * under one libevent timer armed for the earliest (100,000 domains cost a
 * small struct and a 16-byte heap entry each, not a struct event each); a
 * due round waits for a slot when [probe] concurrency rounds already
 * run.  A round's result goes to watch_alert.c, the bot's commands to
 * watch_cmd.c.
 */
#include "component/watch_int.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "component/log.h"
#include "component/names.h"
#include "util/buf.h"
#include "util/container.h"

/* A heap entry: the monotonic due time in ms, with the domain. */
struct hent {
	int64_t key;
	struct wdom *d;
};

time_t
watch_now(const struct watch *w)
{
	return w->clk.now();
}

static uint32_t
w_rand(const struct watch *w)
{
	return w->clk.rand32();
}

static uint32_t
wdom_hash(const struct hmap_node *n)
{
	return hmap_hash_str(CONTAINER(n, struct wdom, hm)->name);
}

static int
wdom_eq(const struct hmap_node *n, const void *name)
{
	return strcmp(CONTAINER(n, struct wdom, hm)->name, name) == 0;
}

/* Monotonic milliseconds (a step of the wall clock moves no round, as
 * libevent's own timers did). */
static int64_t
mono_ms(const struct watch *w)
{
	return w->clk.mono_ms();
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
			w->heap =
			    xrealloc(w->heap, w->capheap * sizeof(*w->heap));
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
	delta = key - mono_ms(w);
	if (delta < 0)
		delta = 0;
	tv.tv_sec = (time_t)(delta / 1000);
	tv.tv_usec = (suseconds_t)(delta % 1000) * 1000;
	evtimer_add(w->tick, &tv);
	w->tick_key = key;
}

struct wdom *
watch_wdom_find(const struct watch *w, const char *name)
{
	struct hmap_node *n =
	    hmap_find(&w->doms, hmap_hash_str(name), wdom_eq, name);

	return n ? CONTAINER(n, struct wdom, hm) : NULL;
}

struct wdom *
watch_wdom_get(struct watch *w, const char *name)
{
	struct wdom *d = watch_wdom_find(w, name);
	size_t len = strlen(name);

	if (d)
		return d;
	d = xcalloc(1, sizeof(*d) + len + 1);
	d->w = w;
	memcpy(d->name, name, len + 1);
	d->heap_idx = HEAP_NONE;
	if (hmap_insert(&w->doms, &d->hm, hmap_hash_str(name)) < 0)
		fatal(1, "out of memory");
	return d;
}

static void
ready_remove(struct watch *w, struct wdom *d)
{
	TAILQ_REMOVE(&w->ready, d, ready);
	d->waiting = 0;
	w->waiting--;
}

static void
wdom_free(struct watch *w, struct wdom *d)
{
	hmap_remove(&w->doms, &d->hm);
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
void
watch_wdom_schedule(struct wdom *d, long delay)
{
	if (delay < 0)
		delay = 0;
	d->due = watch_now(d->w) + delay;
	heap_set(d->w, d, mono_ms(d->w) + (int64_t)delay * 1000);
	tick_arm(d->w);
}

long
watch_next_delay(const struct watch *w)
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

void
watch_commit_done_log(void *arg, int result)
{
	if (result < 0)
		log_error("writing the state failed: %s; will retry",
			  strerror(-result));
}

/* Forgets a domain nobody subscribes to any more, with its timer (not
 * left to fire once more); the caller commits. */
void
watch_drop_if_unwatched(struct watch *w, const char *name)
{
	const struct store_domain *sd = store_domain_get(w->st, name);
	struct wdom *d;

	if (has_subscribers(sd))
		return;
	if (sd)
		store_domain_remove(w->st, name);
	if ((d = watch_wdom_find(w, name)) != NULL)
		wdom_free(w, d);
}

/* ---- rounds ------------------------------------------------------------- */

static void round_start(struct wdom *d);

static void
ready_pump(struct watch *w)
{
	unsigned max = w->cfg->concurrency ? w->cfg->concurrency : 32;

	while (!TAILQ_EMPTY(&w->ready) && w->running < max) {
		struct wdom *d = TAILQ_FIRST(&w->ready);
		ready_remove(w, d);
		round_start(d);
	}
}

void
watch_round_due(struct wdom *d)
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
		store_commit(w->st, watch_commit_done_log, NULL);
		wdom_free(w, d);
		return;
	}
	if (d->check || d->waiting)
		return;
	d->waiting = 1;
	TAILQ_INSERT_TAIL(&w->ready, d, ready);
	w->waiting++;
	ready_pump(w);
}

void
watch_tick(struct watch *w)
{
	int64_t now = mono_ms(w);

	w->tick_key = -1;
	while (w->nscheduled > 0 && w->heap[0].key <= now)
		watch_round_due(w->heap[0].d);
	tick_arm(w);
}

/* The timer: every domain whose time has come, earliest first. */
static void
tick_fire(evutil_socket_t fd, short what, void *arg)
{
	watch_tick(arg);
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
		watch_wdom_schedule(d, watch_next_delay(w));
	watch_alert_record(d, r, 0);
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
		store_commit(w->st, watch_commit_done_log, NULL);
		wdom_free(w, d);
		return;
	}
	d->check = check_start(w->checks, dn.a, dn.u, round_done, d);
	if (d->check)
		w->running++;
	else
		watch_wdom_schedule(d, 60);
}

/* ---- life ------------------------------------------------------------------
 */

struct watch *
watch_new(struct event_base *base, const struct config *cfg, struct store *st,
	  struct comp *comp, struct check_env *checks, const struct clock *clk)
{
	struct watch *w = xcalloc(1, sizeof(*w));

	TAILQ_INIT(&w->ready);
	w->doms.hash = wdom_hash;
	TAILQ_INIT(&w->subchecks);
	LIST_INIT(&w->reqs);
	w->base = base;
	w->cfg = cfg;
	w->st = st;
	w->comp = comp;
	w->checks = checks;
	w->clk = clock_or_system(clk);
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
	size_t cur = 0;
	const struct store_domain *sd;
	const struct store_jid *sj;
	time_t now = watch_now(w);
	long interval = (long)w->cfg->interval;

	watch_cmd_set_hooks(w);
	while ((sd = store_domain_next(w->st, &cur)) != NULL) {
		struct wdom *d = watch_wdom_get(w, sd->name);
		long delay = (long)(sd->next_due - now);
		/* A due time within one interval is kept; anything overdue
		 * (or odd) is spread over the interval, so a restart is not
		 * a burst. */
		if (sd->next_due <= now ||
		    delay > interval + (long)w->cfg->jitter)
			delay = (long)(w_rand(w) % (uint32_t)interval);
		watch_wdom_schedule(d, delay);
	}
	cur = 0;
	while ((sj = store_jid_next(w->st, &cur)) != NULL)
		if (sj->presence)
			comp_add_contact(w->comp, sj->jid);
}

void
watch_domain_touched(struct watch *w, const char *domain)
{
	struct wdom *d = watch_wdom_get(w, domain);
	const struct store_domain *sd = store_domain_get(w->st, domain);

	if (d->heap_idx != HEAP_NONE || d->check || d->waiting)
		return;
	watch_wdom_schedule(d, sd && sd->verdict ? watch_next_delay(w) : 0);
}

void
watch_domain_maybe_drop(struct watch *w, const char *domain)
{
	if (has_subscribers(store_domain_get(w->st, domain)))
		return;
	watch_drop_if_unwatched(w, domain);
	store_commit(w->st, watch_commit_done_log, NULL);
}

long
watch_next_round_in(const struct watch *w, const char *domain)
{
	struct wdom *d = watch_wdom_find(w, domain);

	if (d == NULL || d->heap_idx == HEAP_NONE)
		return -1;
	long s = (long)(d->due - watch_now(w));
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
	struct hmap_iter it;
	for (struct hmap_node *n = hmap_first(&w->doms, &it); n;
	     n = hmap_next(&it))
		wdom_free(w, CONTAINER(n, struct wdom, hm));
	hmap_clear(&w->doms);
	while (!TAILQ_EMPTY(&w->subchecks)) {
		struct sub_check *sc = TAILQ_FIRST(&w->subchecks);
		TAILQ_REMOVE(&w->subchecks, sc, link);
		check_cancel(sc->check);
		free(sc);
	}
	event_free(w->tick);
	free(w->heap);
	free(w);
}
