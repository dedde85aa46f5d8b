/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_watch_keys.c - key continuity's alerts in the watcher (issue 14;
 * docs/usage.md "Keys seen and splits"): rounds recorded as the watcher
 * records them (watch_alert_record, a memory store, an injected clock),
 * and what a split alarm changes beyond its message: the bot's presence
 * (dnd while it is open), the domain's history (the split alarm,
 * recovered and new-key alerts are entries of it, shown by `status` and
 * /d/DOMAIN) and [watch] flap_limit, which counts them like any alert.
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

#define KA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define KB "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define KC "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define DOM "k.example"
#define JID "u@example.net"

static time_t wall;

static time_t
t_now(void)
{
	return wall;
}

static uint32_t
t_rand(void)
{
	return 0;
}

static int64_t
t_mono(void)
{
	return 1000000;
}

static const struct watch_clock clk = {t_now, t_rand, t_mono};

/* The alerts published (the pubsub node), by kind. */
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
	struct wdom *d;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[128];

	config_defaults(&f->cfg);
	f->cfg.interval = 600;
	f->cfg.jitter = 0;
	f->cfg.flap_limit = 50;
	f->base = event_base_new();
	assert_int_equal(store_open(NULL, &f->st, err, sizeof(err)), 0);
	wall = 1700000000;
	memset(published, 0, sizeof(published));
	f->w = watch_new(f->base, &f->cfg, f->st, NULL, NULL, &clk);
	watch_set_publisher(f->w, &(struct watch_publisher){NULL, publish});
	f->w->running = 1000;	/* no round starts by itself */
	/* A pubsub subscriber: alerts are published, none is chat (the
	 * fixture has no component). */
	assert_int_equal(store_pubsub_add(f->st, DOM, "x@example.net", "s1"),
			 1);
	f->d = watch_wdom_get(f->w, DOM);
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

/* A round a minute after the last, of verdict v: ports 5222 and 5269 of
 * one host, one probe each (one address, direct), showing k5222 and
 * k5269. */
static void
round_keys(struct wdom *d, enum verdict v, const char *k5222,
	   const char *k5269)
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
	assert_int_equal(watch_alert_presence_summary(f->w, JID, &dnd, line,
						      len), 1);
	assert_int_equal(store_sub_remove(f->st, DOM, JID), 1);
	return dnd;
}

static void
split_alarm_presence(void **state)
{
	struct fixture *f = *state;
	char line[200];

	round_keys(f->d, VERDICT_NO_TLSA, KA, KA);	/* the baseline */
	assert_int_equal(presence_of(f, line, sizeof(line)), 0);
	assert_string_equal(line, "1 domain: 0 OK, 1 need attention");
	/* 5222 alone shows another key: one split round, then the alarm. */
	round_keys(f->d, VERDICT_NO_TLSA, KB, KA);
	assert_int_equal(published[ALERT_ALARM], 0);
	assert_int_equal(presence_of(f, line, sizeof(line)), 0);
	round_keys(f->d, VERDICT_NO_TLSA, KB, KA);
	assert_int_equal(published[ALERT_ALARM], 1);
	assert_int_equal(presence_of(f, line, sizeof(line)), 1);
	assert_string_equal(line, "ALERT: " DOM " keys differ between probes");
	/* Still open the round after, with the domain's verdict unchanged. */
	round_keys(f->d, VERDICT_NO_TLSA, KB, KA);
	assert_int_equal(presence_of(f, line, sizeof(line)), 1);
	/* One key again: recovered, and the presence with it. */
	round_keys(f->d, VERDICT_NO_TLSA, KA, KA);
	assert_int_equal(published[ALERT_RECOVERED], 1);
	assert_int_equal(presence_of(f, line, sizeof(line)), 0);
	assert_string_equal(line, "1 domain: 0 OK, 1 need attention");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(split_alarm_presence, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
