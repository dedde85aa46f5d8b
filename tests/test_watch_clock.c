/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_watch_clock.c - the watcher's schedule, jitter and flap holding
 * driven by an injected clock (util/clock.h struct clock), no
 * sleeps: rounds come due by the monotonic clock alone, a step of the
 * wall clock moves none, and [watch] flap_limit holds alerts by the
 * injected wall clock; key continuity's split alarm in the presence,
 * the history and flap holding (issue 14).
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

static int64_t mono; /* ms */
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

/* The alerts published, by kind; the last one's words. */
static unsigned published[ALERT_INFO + 1];
static char last_text[600];

static void
publish(void *arg, const char *domain, enum alert_kind kind, const char *text,
	const struct check_result *res)
{
	(void)arg, (void)domain, (void)res;
	published[kind]++;
	snprintf(last_text, sizeof(last_text), "%s", text);
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
	    {0, 540},
	    {60, 600},
	    {120, 660},
	    {121, 540},
	    {UINT32_MAX, 540 + (long)(UINT32_MAX % 121)},
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

	assert_int_equal(
	    store_pubsub_add(f->st, "a.example", "x@example.net", "s1"), 1);
	assert_int_equal(
	    store_pubsub_add(f->st, "b.example", "x@example.net", "s2"), 1);
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

	assert_int_equal(
	    store_pubsub_add(f->st, "f.example", "x@example.net", "s1"), 1);
	d = watch_wdom_get(f->w, "f.example");
	round_of(d, VERDICT_OK); /* the baseline */
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

/* ---- key continuity's alerts (issue 14, docs/usage.md "Keys seen and
 * splits"): what a split alarm changes beyond its message: the bot's
 * presence (dnd while it is open), the domain's history (the split
 * alarm, recovered and new-key alerts are entries of it, shown by
 * `status` and /d/DOMAIN) and [watch] flap_limit, which counts them. */

#define KA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define KB "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define KC "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define DOM "k.example"
#define JID "u@example.net"

/* DOM with a pubsub subscriber (alerts are published; none is chat:
 * the fixture has no component), no flap holding unless a test sets
 * it. */
static struct wdom *
keys_domain(struct fixture *f)
{
	f->cfg.flap_limit = 50;
	assert_int_equal(store_pubsub_add(f->st, DOM, "x@example.net", "s1"),
			 1);
	return watch_wdom_get(f->w, DOM);
}

/* A round a minute after the last, of verdict v: ports 5222 and 5269 of
 * one host, one probe each (one address, direct), showing k5222 and
 * k5269. */
static void
round_keys(struct wdom *d, enum verdict v, const char *k5222, const char *k5269)
{
	struct check_endpoint ep[2];
	struct check_probe pr[2];
	struct check_result r;
	const char *keys[2] = {k5222, k5269};

	wall += 60;
	memset(ep, 0, sizeof(ep));
	memset(pr, 0, sizeof(pr));
	memset(&r, 0, sizeof(r));
	snprintf(r.domain, sizeof(r.domain), "%s", d->name);
	snprintf(r.domain_u, sizeof(r.domain_u), "%s", d->name);
	for (size_t i = 0; i < 2; i++) {
		ep[i].service = i == 0 ? SVC_XMPP_CLIENT : SVC_XMPP_SERVER;
		ep[i].port = i == 0 ? 5222 : 5269;
		snprintf(ep[i].host, sizeof(ep[i].host), "xmpp.%s", d->name);
		ep[i].verdict = v;
		ep[i].have_key = 1;
		snprintf(ep[i].spki_sha256, sizeof(ep[i].spki_sha256), "%s",
			 keys[i]);
		ep[i].probes = &pr[i];
		ep[i].nprobes = 1;
		snprintf(pr[i].address, sizeof(pr[i].address), "192.0.2.1");
		snprintf(pr[i].vantage, sizeof(pr[i].vantage), "direct");
		snprintf(pr[i].key_type, sizeof(pr[i].key_type), "ecdsa");
		pr[i].have_key = 1;
		snprintf(pr[i].spki_sha256, sizeof(pr[i].spki_sha256), "%s",
			 keys[i]);
		snprintf(pr[i].issuer, sizeof(pr[i].issuer), "CN=Test CA");
		pr[i].not_before = 1700000000;
		pr[i].not_after = 1800000000;
		pr[i].verdict = v;
	}
	r.endpoints = ep;
	r.nendpoints = 2;
	r.verdict = v;
	watch_alert_record(d, &r, 0);
}

/* The presence the bot shows JID, a chat subscriber of DOM for the
 * question only (a chat alert would need a component). */
static int
presence_of(struct fixture *f, char *line, size_t len)
{
	int dnd = -1;

	assert_int_equal(store_sub_add(f->st, DOM, JID), 1);
	assert_int_equal(
	    watch_alert_presence_summary(f->w, JID, &dnd, line, len), 1);
	assert_int_equal(store_sub_remove(f->st, DOM, JID), 1);
	return dnd;
}

static void
split_alarm_presence(void **state)
{
	struct fixture *f = *state;
	struct wdom *d = keys_domain(f);
	char line[200];

	round_keys(d, VERDICT_NO_TLSA, KA, KA); /* the baseline */
	assert_int_equal(presence_of(f, line, sizeof(line)), 0);
	assert_string_equal(line, "1 domain: 0 OK, 1 need attention");
	/* 5222 alone shows another key: one split round, then the alarm. */
	round_keys(d, VERDICT_NO_TLSA, KB, KA);
	assert_int_equal(published[ALERT_ALARM], 0);
	assert_int_equal(presence_of(f, line, sizeof(line)), 0);
	round_keys(d, VERDICT_NO_TLSA, KB, KA);
	assert_int_equal(published[ALERT_ALARM], 1);
	assert_non_null(strstr(last_text, "ALARM: " DOM ": possible man in the "
					  "middle: keys differ"));
	assert_int_equal(presence_of(f, line, sizeof(line)), 1);
	assert_string_equal(line, "ALERT: " DOM " keys differ between probes");
	/* Still open the round after, with the domain's verdict unchanged. */
	round_keys(d, VERDICT_NO_TLSA, KB, KA);
	assert_int_equal(presence_of(f, line, sizeof(line)), 1);
	/* One key again: recovered, and the presence with it. */
	round_keys(d, VERDICT_NO_TLSA, KA, KA);
	assert_int_equal(published[ALERT_RECOVERED], 1);
	assert_int_equal(presence_of(f, line, sizeof(line)), 0);
	assert_string_equal(line, "1 domain: 0 OK, 1 need attention");
}

/* The newest entry of DOM's history in *h; how many entries. */
static size_t
newest_change(struct fixture *f, struct store_change *h)
{
	const struct store_domain *sd = store_domain_get(f->st, DOM);

	assert_non_null(sd);
	assert_true(sd->n_history > 0);
	store_domain_change(sd, sd->n_history - 1, h);
	return sd->n_history;
}

static void
keys_alerts_in_history(void **state)
{
	struct fixture *f = *state;
	struct wdom *d = keys_domain(f);
	struct store_change h;

	round_keys(d, VERDICT_NO_TLSA, KA, KA);	   /* the baseline */
	assert_int_equal(newest_change(f, &h), 1); /* none -> no-tlsa */
	round_keys(d, VERDICT_NO_TLSA, KB, KA);
	assert_int_equal(newest_change(f, &h), 1);
	round_keys(d, VERDICT_NO_TLSA, KB, KA);
	assert_int_equal(published[ALERT_ALARM], 1);
	assert_int_equal(newest_change(f, &h), 2);
	assert_int_equal(h.time, wall);
	assert_string_equal(h.from, "no-tlsa");
	assert_string_equal(h.to, "no-tlsa");
	assert_string_equal(h.note, "alarm: keys differ between probes of "
				    "xmpp." DOM);
	round_keys(d, VERDICT_NO_TLSA, KB, KA); /* still open */
	assert_int_equal(newest_change(f, &h), 2);
	round_keys(d, VERDICT_NO_TLSA, KA, KA);
	assert_int_equal(published[ALERT_RECOVERED], 1);
	assert_int_equal(newest_change(f, &h), 3);
	assert_string_equal(h.note, "recovered: one key again on every probe "
				    "of xmpp." DOM);
	round_keys(d, VERDICT_NO_TLSA, KC, KC); /* every port moves */
	assert_int_equal(published[ALERT_INFO], 1);
	assert_int_equal(published[ALERT_ALARM], 1);
	assert_int_equal(newest_change(f, &h), 4);
	assert_string_equal(h.note, "info: new key on every endpoint of "
				    "xmpp." DOM);
	/* The round after: nothing new, no entry. */
	round_keys(d, VERDICT_NO_TLSA, KC, KC);
	assert_int_equal(newest_change(f, &h), 4);
}

/* [watch] flap_limit counts the continuity alerts: after the baseline,
 * a split alarm and its recovery (3 entries in the hour, the limit), the
 * next change of verdict is held; without them in the history it would
 * be the second and go out. */
static void
keys_alerts_count_for_flap(void **state)
{
	struct fixture *f = *state;
	struct wdom *d = keys_domain(f);

	f->cfg.flap_limit = 3;
	round_keys(d, VERDICT_NO_TLSA, KA, KA);
	round_keys(d, VERDICT_NO_TLSA, KB, KA);
	round_keys(d, VERDICT_NO_TLSA, KB, KA);
	round_keys(d, VERDICT_NO_TLSA, KA, KA);
	assert_int_equal(published[ALERT_ALARM], 1);
	assert_int_equal(published[ALERT_RECOVERED], 1);
	assert_null(d->flap);
	round_keys(d, VERDICT_INSECURE, KA, KA); /* info: held */
	assert_int_equal(published[ALERT_INFO], 0);
	assert_non_null(d->flap);
	assert_int_equal(d->flap->st.held, 1);
	/* A new key on every endpoint in that hour: held too. */
	round_keys(d, VERDICT_INSECURE, KC, KC);
	assert_int_equal(published[ALERT_INFO], 0);
	assert_int_equal(d->flap->st.held, 2);
	/* A split alarm never is. */
	round_keys(d, VERDICT_INSECURE, KB, KC);
	round_keys(d, VERDICT_INSECURE, KB, KC);
	assert_int_equal(published[ALERT_ALARM], 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(jitter_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(schedule_by_mono_clock, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(flap_holding, setup, teardown),
	    cmocka_unit_test_setup_teardown(split_alarm_presence, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(keys_alerts_in_history, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(keys_alerts_count_for_flap, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
