/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_watch_clock.c - the watcher's schedule, jitter and flap holding
 * driven by an injected clock (util/clock.h struct clock), no
 * sleeps: rounds come due by the monotonic clock alone, a step of the
 * wall clock moves none, and [watch] flap_limit holds alerts by the
 * injected wall clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component/config.h"
#include "component/watch_int.h"

static int64_t mono;		/* ms */
static time_t wall;
static uint32_t rnd;

static time_t
t_now(void)
{
	return wall;
}

static uint32_t
t_rand(void)
{
	return rnd;
}

static int64_t
t_mono(void)
{
	return mono;
}

static const struct clock clk = {t_now, t_rand, t_mono};

/* The alerts published, by kind. */
static unsigned published[ALERT_INFO + 1];

static void
publish(void *arg, const char *domain, enum alert_kind kind, const char *text,
	const struct check_result *res)
{
	(void)arg, (void)domain, (void)text, (void)res;
	published[kind]++;
}

struct fixture {
	struct event_base *base;
	struct store *st;
	struct config cfg;
	struct watch *w;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[128];

	config_defaults(&f->cfg);
	f->cfg.interval = 600;
	f->cfg.jitter = 60;
	f->cfg.down_after = 3;
	f->cfg.flap_limit = 3;
	f->base = event_base_new();
	assert_int_equal(store_open(NULL, &f->st, err, sizeof(err)), 0);
	mono = 1000000;
	wall = 1700000000;
	rnd = 0;
	memset(published, 0, sizeof(published));
	f->w = watch_new(f->base, &f->cfg, f->st, NULL, NULL, &clk);
	watch_set_publisher(f->w, &(struct watch_publisher){NULL, publish});
	/* Every check slot taken: a round that comes due waits in the
	 * ready queue, where the test sees it, and no check starts. */
	f->w->running = 1000;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	f->w->running = 0;
	watch_free(f->w);
	store_close(f->st);
	event_base_free(f->base);
	free(f);
	return 0;
}

static size_t
waiting(const struct watch *w)
{
	struct watch_stats s;

	watch_get_stats(w, &s);
	return s.waiting;
}

static void
jitter_table(void **state)
{
	struct fixture *f = *state;
	static const struct {
		uint32_t r;
		long want;
	} cases[] = {
		{0, 540}, {60, 600}, {120, 660}, {121, 540}, {UINT32_MAX, 540 + (long)(UINT32_MAX % 121)},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rnd = cases[i].r;
		assert_int_equal(watch_next_delay(f->w), cases[i].want);
	}
	f->cfg.jitter = 0;
	assert_int_equal(watch_next_delay(f->w), 600);
	f->cfg.interval = 0;
	assert_int_equal(watch_next_delay(f->w), 1);
}

static void
schedule_by_mono_clock(void **state)
{
	struct fixture *f = *state;
	struct wdom *a, *b;

	assert_int_equal(store_pubsub_add(f->st, "a.example", "x@example.net",
					  "s1"), 1);
	assert_int_equal(store_pubsub_add(f->st, "b.example", "x@example.net",
					  "s2"), 1);
	a = watch_wdom_get(f->w, "a.example");
	b = watch_wdom_get(f->w, "b.example");
	watch_wdom_schedule(b, 200);
	watch_wdom_schedule(a, 100);
	assert_int_equal(watch_next_round_in(f->w, "a.example"), 100);
	/* Not yet due. */
	mono += 99999;
	watch_tick(f->w);
	assert_int_equal(waiting(f->w), 0);
	/* A step of the wall clock (a day back) moves no round. */
	wall -= 86400;
	watch_tick(f->w);
	assert_int_equal(waiting(f->w), 0);
	wall += 86400;
	/* Due by the monotonic clock: a first, b still scheduled. */
	mono += 1;
	watch_tick(f->w);
	assert_int_equal(waiting(f->w), 1);
	assert_true(a->waiting);
	assert_false(b->waiting);
	assert_int_equal(b->heap_idx != HEAP_NONE, 1);
	mono += 100000;
	watch_tick(f->w);
	assert_int_equal(waiting(f->w), 2);
	assert_true(b->waiting);
}

/* A round of `v` at the injected wall clock, recorded as the watcher
 * would. */
static void
round_of(struct wdom *d, enum verdict v)
{
	struct check_endpoint ep;
	struct check_result r;

	memset(&ep, 0, sizeof(ep));
	memset(&r, 0, sizeof(r));
	snprintf(r.domain, sizeof(r.domain), "%s", d->name);
	snprintf(r.domain_u, sizeof(r.domain_u), "%s", d->name);
	ep.service = SVC_XMPP_CLIENT;
	snprintf(ep.host, sizeof(ep.host), "xmpp.%s", d->name);
	ep.port = 5222;
	ep.verdict = v;
	r.endpoints = &ep;
	r.nendpoints = 1;
	r.verdict = v;
	watch_alert_record(d, &r, 0);
}

static void
flap_holding(void **state)
{
	struct fixture *f = *state;
	struct wdom *d;

	assert_int_equal(store_pubsub_add(f->st, "f.example", "x@example.net",
					  "s1"), 1);
	d = watch_wdom_get(f->w, "f.example");
	round_of(d, VERDICT_OK);	/* the baseline */
	assert_int_equal(published[ALERT_NONE], 1);
	/* ok -> no-tlsa -> ok: with the baseline, three changes in the
	 * hour (flap_limit), all sent. */
	wall += 60;
	round_of(d, VERDICT_NO_TLSA);
	wall += 60;
	round_of(d, VERDICT_OK);
	assert_int_equal(published[ALERT_REMOVED], 1);
	assert_int_equal(published[ALERT_RECOVERED], 1);
	/* The fourth change in the hour is held, and an hour of holding
	 * starts at the injected clock. */
	wall += 60;
	round_of(d, VERDICT_NO_TLSA);
	assert_int_equal(published[ALERT_REMOVED], 1);
	assert_non_null(d->flap);
	assert_int_equal(d->flap->st.until, wall + 3600);
	assert_int_equal(d->flap->st.held, 1);
	/* An alarm is never held. */
	wall += 60;
	round_of(d, VERDICT_MISMATCH);
	assert_int_equal(published[ALERT_ALARM], 1);
	/* The rest of the hour, other alerts are held... */
	wall += 1200;
	round_of(d, VERDICT_OK);
	assert_int_equal(published[ALERT_RECOVERED], 1);
	assert_int_equal(d->flap->st.held, 2);
	/* The hour's end (its timer, fired here): one summary of the two
	 * held, and the state starts over. */
	assert_true(evtimer_pending(d->flap->timer, NULL));
	event_active(d->flap->timer, EV_TIMEOUT, 1);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(published[ALERT_INFO], 1);
	assert_int_equal(d->flap->st.held, 0);
	/* With the history quiet, alerts go out again. */
	wall += 7200;
	round_of(d, VERDICT_NO_TLSA);
	assert_int_equal(published[ALERT_REMOVED], 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(jitter_table, setup, teardown),
		cmocka_unit_test_setup_teardown(schedule_by_mono_clock, setup,
						teardown),
		cmocka_unit_test_setup_teardown(flap_holding, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
