/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_alert_rules.c - the facts a round's alert is decided on
 * (component/transition.h): the verdict for alerts with unreachable
 * endpoints counted at their last verdict, a key rollover, and [watch]
 * flap_limit with its hourly summary, on tables and an injected clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "component/domain_state.h"
#include "component/transition.h"

#define KEY_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define KEY_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* An endpoint of this round: service, host, port, verdict, key or NULL. */
struct ep {
	enum check_service svc;
	const char *host;
	unsigned port;
	enum verdict v;
	const char *key;
};

static void
fill_result(struct check_result *r, struct check_endpoint *eps,
	    const struct ep *in, size_t n, enum verdict domain)
{
	memset(r, 0, sizeof(*r));
	memset(eps, 0, n * sizeof(*eps));
	for (size_t i = 0; i < n; i++) {
		eps[i].service = in[i].svc;
		snprintf(eps[i].host, sizeof(eps[i].host), "%s", in[i].host);
		eps[i].port = (uint16_t)in[i].port;
		eps[i].verdict = in[i].v;
		eps[i].have_key = in[i].key != NULL;
		if (in[i].key)
			snprintf(eps[i].spki_sha256, sizeof(eps[i].spki_sha256),
				 "%s", in[i].key);
	}
	r->endpoints = eps;
	r->nendpoints = n;
	r->verdict = domain;
}

#define C SVC_XMPP_CLIENT
#define S SVC_XMPP_SERVER
#define OK VERDICT_OK
#define MM VERDICT_MISMATCH
#define UN VERDICT_UNREACHABLE
#define NT VERDICT_NO_TLSA

/* The state the last round left, from store words (the one conversion,
 * domain_state_add_endpoint). */
static struct domain_state *
state_of(const struct store_endpoint *last, size_t n)
{
	static struct domain_state ds;
	char err[128];

	memset(&ds, 0, sizeof(ds));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(
		    domain_state_add_endpoint(&ds, &last[i], err, sizeof(err)),
		    0);
	return &ds;
}

/* The last round in the store: "xmpp-client a.example:5222 mismatch", ... */
static const struct store_endpoint last_mixed[] = {
    {"xmpp-client", "a.example", 5222, "mismatch", KEY_B, NULL, 0, 0},
    {"xmpp-client", "b.example", 5222, "ok", KEY_A, NULL, 0, 0},
    {"xmpp-server", "a.example", 5269, "ok", KEY_A, NULL, 0, 0},
    {"xmpp-client", "c.example", 5222, "unreachable", NULL, "tcp: refused", 0,
     0},
};

static void
alert_verdict_table(void **state)
{
	static const struct {
		const char *name;
		struct ep eps[4];
		size_t n;
		enum verdict want;
	} cases[] = {
	    {"every endpoint reachable: their verdicts",
	     {{C, "a.example", 5222, OK, KEY_A},
	      {C, "b.example", 5222, OK, KEY_A}},
	     2,
	     OK},
	    {"one of two unreachable counts at its last verdict (mismatch)",
	     {{C, "a.example", 5222, UN, NULL},
	      {C, "b.example", 5222, OK, KEY_A}},
	     2,
	     MM},
	    {"one of two unreachable, last ok: ok",
	     {{C, "b.example", 5222, UN, NULL},
	      {S, "a.example", 5269, OK, KEY_A}},
	     2,
	     OK},
	    {"an unreachable one without history does not count",
	     {{C, "new.example", 5222, UN, NULL},
	      {C, "b.example", 5222, OK, KEY_A}},
	     2,
	     OK},
	    {"a last verdict of unreachable is no verdict",
	     {{C, "c.example", 5222, UN, NULL},
	      {C, "b.example", 5222, NT, NULL}},
	     2,
	     NT},
	    {"same host, another port or service: not its history",
	     {{S, "a.example", 5222, UN, NULL},
	      {C, "a.example", 5223, UN, NULL},
	      {C, "b.example", 5222, OK, KEY_A}},
	     3,
	     OK},
	    {"every endpoint unreachable: their last verdicts",
	     {{C, "a.example", 5222, UN, NULL},
	      {C, "b.example", 5222, UN, NULL}},
	     2,
	     MM},
	    {"nothing known at all: unreachable",
	     {{C, "new.example", 5222, UN, NULL}},
	     1,
	     UN},
	    {"a worse verdict now wins over an ok history",
	     {{C, "b.example", 5222, MM, KEY_B},
	      {C, "a.example", 5222, UN, NULL}},
	     2,
	     MM},
	};
	struct check_result r;
	struct check_endpoint eps[4];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fill_result(&r, eps, cases[i].eps, cases[i].n, VERDICT_NONE);
		enum verdict got = transition_alert_verdict(
		    &r, state_of(last_mixed,
				 sizeof(last_mixed) / sizeof(last_mixed[0])));
		if (got != cases[i].want)
			fail_msg("%s: got %s, want %s", cases[i].name,
				 verdict_name(got),
				 verdict_name(cases[i].want));
	}
	/* No store entry yet (a new domain). */
	fill_result(&r, eps, cases[1].eps, 2, VERDICT_NONE);
	assert_int_equal(transition_alert_verdict(&r, NULL), OK);
	/* A bogus service answer counts as bogus. */
	fill_result(&r, eps, cases[0].eps, 2, VERDICT_NONE);
	r.services[SVC_XMPPS_SERVER] = SVC_STATE_BOGUS;
	assert_int_equal(transition_alert_verdict(&r, state_of(last_mixed, 4)),
			 VERDICT_BOGUS);
}

static void
last_verdict_words(void **state)
{
	struct check_endpoint e;

	(void)state;
	memset(&e, 0, sizeof(e));
	e.service = C;
	snprintf(e.host, sizeof(e.host), "a.example");
	e.port = 5222;
	assert_int_equal(transition_last_verdict(&e, state_of(last_mixed, 4)),
			 VERDICT_MISMATCH);
	snprintf(e.host, sizeof(e.host), "c.example");
	assert_int_equal(transition_last_verdict(&e, state_of(last_mixed, 4)),
			 VERDICT_NONE);
	e.service = SVC_XMPPS_CLIENT;
	snprintf(e.host, sizeof(e.host), "a.example");
	assert_int_equal(transition_last_verdict(&e, state_of(last_mixed, 4)),
			 VERDICT_NONE);
}

static void
key_rolled_table(void **state)
{
	static const struct store_endpoint last[] = {
	    {"xmpp-client", "x.example", 5222, "ok", KEY_A, NULL, 0, 0},
	    {"xmpp-server", "x.example", 5269, "ok", KEY_A, NULL, 0, 0},
	    {"xmpp-client", "y.example", 5222, "unreachable", NULL, "tcp", 0,
	     0},
	};
	static const struct {
		const char *name;
		struct ep eps[3];
		size_t n;
		enum verdict domain;
		int want;
	} cases[] = {
	    {"same keys: no rollover",
	     {{C, "x.example", 5222, OK, KEY_A},
	      {S, "x.example", 5269, OK, KEY_A}},
	     2,
	     OK,
	     0},
	    {"a new key that matches (the domain is ok): rollover",
	     {{C, "x.example", 5222, OK, KEY_B},
	      {S, "x.example", 5269, OK, KEY_A}},
	     2,
	     OK,
	     1},
	    {"every key new: rollover",
	     {{C, "x.example", 5222, OK, KEY_B},
	      {S, "x.example", 5269, OK, KEY_B}},
	     2,
	     OK,
	     1},
	    {"a new key on a domain that is not ok: no rollover (an alarm)",
	     {{C, "x.example", 5222, MM, KEY_B},
	      {S, "x.example", 5269, OK, KEY_A}},
	     2,
	     MM,
	     0},
	    {"no key this round (unreachable): no rollover",
	     {{C, "x.example", 5222, UN, NULL},
	      {S, "x.example", 5269, OK, KEY_A}},
	     2,
	     OK,
	     0},
	    {"no key before (unreachable last time): no rollover",
	     {{C, "y.example", 5222, OK, KEY_B},
	      {S, "x.example", 5269, OK, KEY_A}},
	     2,
	     OK,
	     0},
	    {"another host: not the same endpoint",
	     {{C, "z.example", 5222, OK, KEY_B},
	      {S, "x.example", 5269, OK, KEY_A}},
	     2,
	     OK,
	     0},
	    {"another port: not the same endpoint",
	     {{C, "x.example", 5223, OK, KEY_B},
	      {S, "x.example", 5269, OK, KEY_A}},
	     2,
	     OK,
	     0},
	};
	struct check_result r;
	struct check_endpoint eps[3];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fill_result(&r, eps, cases[i].eps, cases[i].n, cases[i].domain);
		int got = transition_key_rolled(&r, state_of(last, 3));
		if (got != cases[i].want)
			fail_msg("%s: got %d, want %d", cases[i].name, got,
				 cases[i].want);
	}
	fill_result(&r, eps, cases[1].eps, 2, OK);
	assert_int_equal(transition_key_rolled(&r, NULL), 0);
}

/*
 * flap_limit on an injected clock: each step is an alert decided at
 * `t` seconds with `changes` in the hour before it (the history's count),
 * or, with kind ALERT_NONE, the moment the caller's timer fires at
 * f.until (the hour's end) and a summary of `want` alerts goes out.
 */
struct step {
	int64_t t;
	enum alert_kind k;
	unsigned changes;
	int want; /* hold: 0 send, 1 held, 2 held and an hour starts;
		   * summary: the alerts held */
};

#define A(t, k, ch, w)                                                         \
	{                                                                      \
		t, k, ch, w                                                    \
	}
#define SUMMARY(w)                                                             \
	{                                                                      \
		-1, ALERT_NONE, 0, w                                           \
	}
#define END                                                                    \
	{                                                                      \
		0, ALERT_NONE, 0, -1                                           \
	}

static void
flap_table(void **state)
{
	static const struct {
		const char *name;
		unsigned limit;
		struct step s[12];
	} cases[] = {
	    {"up to the limit, every alert goes out",
	     4,
	     {A(0, ALERT_INFO, 1, 0), A(600, ALERT_REMOVED, 2, 0),
	      A(1200, ALERT_RECOVERED, 3, 0), A(1800, ALERT_INFO, 4, 0), END}},
	    {"beyond it: held for an hour, one summary at its end",
	     4,
	     {A(0, ALERT_INFO, 4, 0), A(100, ALERT_REMOVED, 5, 2),
	      A(200, ALERT_RECOVERED, 6, 1), A(300, ALERT_DOWN, 7, 1),
	      SUMMARY(3), END}},
	    {"held for the whole hour, even when the changes slow down",
	     2,
	     {A(0, ALERT_INFO, 3, 2), A(3000, ALERT_INFO, 1, 1),
	      A(3599, ALERT_RECOVERED, 1, 1), SUMMARY(3),
	      A(3700, ALERT_INFO, 1, 0), END}},
	    {"alarms are never held, nor counted in the summary",
	     1,
	     {A(0, ALERT_INFO, 2, 2), A(10, ALERT_ALARM, 3, 0),
	      A(20, ALERT_RECOVERED, 4, 1), A(30, ALERT_ALARM, 5, 0),
	      SUMMARY(2), END}},
	    {"still flapping after the summary: a new hour of holding",
	     1,
	     {A(0, ALERT_INFO, 2, 2), SUMMARY(1), A(3601, ALERT_INFO, 3, 2),
	      A(3700, ALERT_INFO, 4, 1), SUMMARY(2), END}},
	    {"an hour with only alarms after the first hold: summary of one",
	     1,
	     {A(0, ALERT_REMOVED, 2, 2), A(50, ALERT_ALARM, 3, 0), SUMMARY(1),
	      END}},
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct flap_state f = {0, 0};
		int64_t due = 0;
		for (size_t i = 0; cases[c].s[i].want != -1; i++) {
			const struct step *s = &cases[c].s[i];
			if (s->t < 0) {
				/* The caller's timer, armed when an hour of
				 * holding started, fires at its end. */
				if (due == 0 || due != f.until)
					fail_msg(
					    "%s: step %zu: no hour of holding "
					    "to end (until %lld)",
					    cases[c].name, i,
					    (long long)f.until);
				unsigned held = transition_flap_summary(&f);
				if ((int)held != s->want)
					fail_msg(
					    "%s: step %zu: summary of %u, want "
					    "%d",
					    cases[c].name, i, held, s->want);
				assert_int_equal(f.until, 0);
				due = 0;
				continue;
			}
			int got = transition_flap_hold(
			    &f, s->k, s->t, s->changes, cases[c].limit);
			if (got != s->want)
				fail_msg(
				    "%s: step %zu (t %lld, %s, %u changes): "
				    "got %d, want %d",
				    cases[c].name, i, (long long)s->t,
				    alert_kind_name(s->k), s->changes, got,
				    s->want);
			if (got == 2) {
				assert_int_equal(f.until, s->t + 3600);
				due = f.until;
			}
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(alert_verdict_table),
	    cmocka_unit_test(last_verdict_words),
	    cmocka_unit_test(key_rolled_table),
	    cmocka_unit_test(flap_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
