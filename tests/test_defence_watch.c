/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_defence_watch.c - a watched domain's defences between rounds
 * (component/defence_watch.c): the rules on tables of rounds, a round
 * from check results, the store's `defence` line (round trip, hostile
 * text) and the alert's words.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component/defence_watch.h"
#include "component/domain_state.h"
#include "component/report.h"

#define OF PROBE_CB_OFFERED
#define NO PROBE_CB_NONE
#define UK PROBE_CB_UNKNOWN

/* One round of an endpoint: what it offered, its TLS version, its other
 * mechanisms (hashed), and the event expected. */
struct cb_round {
	enum probe_cb obs;
	uint8_t tls;
	uint32_t others;
	int want;
};

#define C(o, t, m, w)                                                          \
	{                                                                      \
		o, t, m, w                                                     \
	}
#define CEND                                                                   \
	{                                                                      \
		PROBE_CB_NA, 0, 0, -1                                          \
	}

static const struct {
	const char *name;
	unsigned split;
	struct cb_round r[10];
} cb_cases[] = {
    {"offered throughout: nothing",
     2,
     {C(OF, 13, 1, 0), C(OF, 13, 1, 0), C(OF, 13, 1, 0), CEND}},
    {"withdrawn, the rest kept, 2 rounds: alarm once, then back",
     2,
     {C(OF, 13, 1, 0), C(NO, 13, 1, 0), C(NO, 13, 1, DEV_CB_WITHDRAWN),
      C(NO, 13, 1, 0), C(NO, 13, 1, 0), C(OF, 13, 1, DEV_CB_BACK),
      C(OF, 13, 1, 0), CEND}},
    {"split_rounds 1: the first round alarms",
     1,
     {C(OF, 13, 1, 0), C(NO, 13, 1, DEV_CB_WITHDRAWN), CEND}},
    {"one round withdrawn, then offered: nothing (under split_rounds)",
     2,
     {C(OF, 13, 1, 0), C(NO, 13, 1, 0), C(OF, 13, 1, 0), C(NO, 13, 1, 0),
      C(OF, 13, 1, 0), CEND}},
    {"a failing stream between withdrawn rounds keeps the count",
     2,
     {C(OF, 13, 1, 0), C(NO, 13, 1, 0), C(UK, 0, 0, 0),
      C(NO, 13, 1, DEV_CB_WITHDRAWN), CEND}},
    {"a failing stream: info once after split_rounds, then back",
     2,
     {C(OF, 13, 1, 0), C(UK, 0, 0, 0), C(UK, 0, 0, DEV_CB_UNREAD),
      C(UK, 0, 0, 0), C(OF, 13, 1, DEV_CB_BACK), C(OF, 13, 1, 0), CEND}},
    {"one failing round between offered ones says nothing",
     2,
     {C(OF, 13, 1, 0), C(UK, 0, 0, 0), C(OF, 13, 1, 0), C(UK, 0, 0, 0),
      C(OF, 13, 1, 0), CEND}},
    {"failing, then withdrawn: the info, then the alarm",
     2,
     {C(OF, 13, 1, 0), C(UK, 0, 0, 0), C(UK, 0, 0, DEV_CB_UNREAD),
      C(NO, 13, 1, 0), C(NO, 13, 1, DEV_CB_WITHDRAWN), C(UK, 0, 0, 0),
      C(UK, 0, 0, 0), CEND}},
    {"a failing stream where -PLUS was never offered: nothing",
     2,
     {C(NO, 13, 1, 0), C(UK, 0, 0, 0), C(UK, 0, 0, 0), C(UK, 0, 0, 0), CEND}},
    {"withdrawn with other mechanisms changed: info, new baseline",
     2,
     {C(OF, 13, 1, 0), C(NO, 13, 2, DEV_CB_CHANGED), C(NO, 13, 2, 0),
      C(NO, 13, 2, 0), C(OF, 13, 2, DEV_CB_OFFERED), CEND}},
    {"withdrawn at another TLS version: info",
     2,
     {C(OF, 13, 1, 0), C(NO, 12, 1, DEV_CB_CHANGED), C(NO, 12, 1, 0), CEND}},
    {"never offered: nothing; then offered: info",
     2,
     {C(NO, 13, 1, 0), C(NO, 13, 3, 0), C(OF, 13, 3, DEV_CB_OFFERED), CEND}},
    {"the baseline is the first round that answered",
     2,
     {C(UK, 0, 0, 0), C(OF, 13, 1, 0), C(NO, 13, 1, 0),
      C(NO, 13, 1, DEV_CB_WITHDRAWN), CEND}},
    {"offered at a new TLS version: no alert, the new one counts",
     2,
     {C(OF, 12, 1, 0), C(OF, 13, 1, 0), C(NO, 13, 1, 0),
      C(NO, 13, 1, DEV_CB_WITHDRAWN), CEND}},
};

static void
cb_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cb_cases) / sizeof(cb_cases[0]); i++) {
		struct defence_cb st = {0};
		int known = 0;
		for (int j = 0; cb_cases[i].r[j].want >= 0; j++) {
			const struct cb_round *r = &cb_cases[i].r[j];
			int got =
			    defence_cb_decide(&st, known, r->obs, r->tls,
					      r->others, cb_cases[i].split);
			known |= r->obs == OF || r->obs == NO;
			if (got != r->want)
				fail_msg("%s: round %d: got %d, want %d",
					 cb_cases[i].name, j + 1, got, r->want);
		}
	}
}

static void
caa_table(void **state)
{
	static const struct {
		enum check_caa_state from, to;
		int want;
	} cases[] = {
	    {CAA_STATE_BOUND, CAA_STATE_BOUND, 0},
	    {CAA_STATE_BOUND, CAA_STATE_ISSUERS, DEV_CAA_REMOVED},
	    {CAA_STATE_BOUND, CAA_STATE_NONE, DEV_CAA_REMOVED},
	    {CAA_STATE_BOUND, CAA_STATE_UNKNOWN, DEV_CAA_REMOVED},
	    {CAA_STATE_ISSUERS, CAA_STATE_NONE, 0},
	    {CAA_STATE_NONE, CAA_STATE_BOUND, 0},
	    {CAA_STATE_UNKNOWN, CAA_STATE_NONE, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(defence_caa_decide(cases[i].from, cases[i].to),
				 cases[i].want);
}

#define DAY 86400
static void
expiry_table(void **state)
{
	static const struct {
		const char *name;
		struct {
			int64_t na;
			int soon, want, want2;
		} r[6];
	} cases[] = {
	    {"under the line: once per leaf",
	     {{100 * DAY, 0, 0, 0},
	      {100 * DAY, 1, DEV_EXPIRY_LINE, 0},
	      {100 * DAY, 1, 0, 0},
	      {190 * DAY, 0, 0, 0},
	      {190 * DAY, 1, DEV_EXPIRY_LINE, 0},
	      {0, 0, -1, 0}}},
	    {"a round without a leaf changes nothing",
	     {{100 * DAY, 0, 0, 0},
	      {0, 1, 0, 0},
	      {100 * DAY, 1, DEV_EXPIRY_LINE, 0},
	      {0, 0, -1, 0}}},
	    {"a new leaf expiring earlier: info; later: nothing",
	     {{100 * DAY, 0, 0, 0},
	      {40 * DAY, 0, DEV_SHORTER_LEAF, 0},
	      {130 * DAY, 0, 0, 0},
	      {0, 0, -1, 0}}},
	    {"less than a day earlier is the same leaf's clock",
	     {{100 * DAY, 0, 0, 0},
	      {100 * DAY - 3600, 0, 0, 0},
	      {0, 0, -1, 0}}},
	    {"earlier and under the line: both",
	     {{100 * DAY, 0, 0, 0},
	      {3 * DAY, 1, DEV_SHORTER_LEAF, DEV_EXPIRY_LINE},
	      {3 * DAY, 1, 0, 0},
	      {0, 0, -1, 0}}},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct defence_state st;
		(void)defence_parse(NULL, &st);
		for (int j = 0; cases[i].r[j].want >= 0; j++) {
			int second, got = defence_expiry_decide(
					&st, cases[i].r[j].na,
					cases[i].r[j].soon, &second);
			if (got != cases[i].r[j].want ||
			    second != cases[i].r[j].want2)
				fail_msg("%s: round %d: got %d/%d",
					 cases[i].name, j + 1, got, second);
		}
	}
}

/* ---- a round from check results -------------------------------------- */

struct world {
	struct check_result r;
	struct check_endpoint ep[3];
};

/* good.test with a c2s endpoint (offering or not -PLUS over TLS 1.3),
 * an s2s one, CAA as given, its leaf expiring in `days`. */
static void
world(struct world *w, int plus, enum check_caa_state caa, int days)
{
	static const char *const mechs[] = {"SCRAM-SHA-256", "PLAIN",
					    "SCRAM-SHA-256-PLUS"};
	memset(w, 0, sizeof(*w));
	snprintf(w->r.domain, sizeof(w->r.domain), "good.test");
	snprintf(w->r.domain_u, sizeof(w->r.domain_u), "good.test");
	w->r.verdict = VERDICT_OK;
	w->r.started = 1700000000;
	w->r.caa.state = caa;
	w->r.endpoints = w->ep;
	w->r.nendpoints = 2;
	for (int i = 0; i < 2; i++) {
		struct check_endpoint *e = &w->ep[i];
		e->service = i ? SVC_XMPP_SERVER : SVC_XMPP_CLIENT;
		e->port = i ? 5269 : 5222;
		snprintf(e->host, sizeof(e->host), "xmpp.good.test");
		e->verdict = VERDICT_OK;
		e->have_key = 1;
		memset(e->spki_sha256, 'a', 64);
		e->not_after = w->r.started + (int64_t)days * DAY;
		snprintf(e->tls_version, sizeof(e->tls_version), "TLS1.3");
	}
	struct probe_features *f = &w->ep[0].features;
	f->state = PROBE_FEAT_READ;
	for (int i = 0; i < 2 + plus; i++)
		snprintf(f->sasl.mechs[f->sasl.nmechs++],
			 sizeof(f->sasl.mechs[0]), "%s", mechs[i]);
}

/* One round: last -> next (as watch_alert.c does), the store's line
 * written and read back in between; returns the number of events. */
static size_t
round_of(struct domain_state *last, const struct world *w, unsigned split,
	 struct defence_event *ev)
{
	struct domain_state *next = calloc(1, sizeof(*next));
	struct buf t = BUF_INIT;
	size_t n;

	assert_non_null(next);
	domain_state_round(next, last, &w->r);
	n = defence_round(next, last, &w->r, split, ev);
	defence_format(&next->def, &t);
	*last = *next;
	assert_int_equal(defence_parse(t.s, &last->def), 0);
	buf_free(&t);
	free(next);
	return n;
}

static void
round_rules(void **state)
{
	struct domain_state *ds = calloc(1, sizeof(*ds));
	struct defence_event ev[DEFENCE_EVENTS_MAX];
	struct world w;
	struct buf b = BUF_INIT;

	(void)state;
	assert_non_null(ds);
	assert_int_equal(domain_state_load(NULL, ds, NULL, 0), 0);
	/* The baseline, already under the expiry line: no event. */
	world(&w, 1, CAA_STATE_BOUND, 5);
	assert_int_equal(round_of(ds, &w, 2, ev), 0);
	assert_int_equal(ds->def.cb, PROBE_CB_OFFERED);
	assert_int_equal(ds->def.expiry, DEF_EXPIRY_SOON);
	assert_int_equal(round_of(ds, &w, 2, ev), 0);
	/* -PLUS withdrawn, the rest kept: the second round alarms. */
	world(&w, 0, CAA_STATE_BOUND, 5);
	assert_int_equal(round_of(ds, &w, 2, ev), 0);
	assert_int_equal(round_of(ds, &w, 2, ev), 1);
	assert_int_equal(ev[0].kind, DEV_CB_WITHDRAWN);
	assert_int_equal(ev[0].ep, 0);
	assert_int_equal(defence_alert_kind(ev, 1), ALERT_ALARM);
	report_defence_alert(&b, "good.test", &w.r, ev, 1);
	assert_non_null(strstr(b.s, "ALARM: good.test: channel binding "
				    "withdrawn at xmpp-client "
				    "xmpp.good.test:5222"));
	assert_non_null(strstr(b.s, "offers only SCRAM-SHA-256 PLAIN at the "
				    "same TLS version (TLS1.3)"));
	assert_non_null(strstr(b.s, "unsubscribe good.test"));
	buf_reset(&b);
	assert_int_equal(round_of(ds, &w, 2, ev), 0);
	/* Back, with CAA unbound and a new leaf expiring earlier. */
	world(&w, 1, CAA_STATE_NONE, 2);
	w.ep[0].not_after -= 3600;
	w.ep[1].not_after -= 3600;
	assert_int_equal(round_of(ds, &w, 2, ev), 4);
	assert_int_equal(ev[0].kind, DEV_CB_BACK);
	assert_int_equal(ev[1].kind, DEV_CAA_REMOVED);
	assert_int_equal(ev[2].kind, DEV_SHORTER_LEAF);
	assert_int_equal(ev[3].kind, DEV_EXPIRY_LINE);
	assert_int_equal(defence_alert_kind(ev, 4), ALERT_INFO);
	assert_int_equal(defence_alert_kind(ev, 1), ALERT_RECOVERED);
	assert_int_equal(ds->def.key_reuse, DEF_REUSE_KEPT);
	report_defence_alert(&b, "good.test", &w.r, ev, 4);
	assert_non_null(strstr(b.s, "good.test: the CAA binding to an ACME "
				    "account was removed (was bound, now "
				    "none)"));
	assert_non_null(strstr(b.s, "expires in 1 days"));
	assert_non_null(strstr(b.s, "before the one seen before it"));
	buf_free(&b);
	/* A new key with the next leaf. */
	world(&w, 1, CAA_STATE_NONE, 90);
	memset(w.ep[0].spki_sha256, 'b', 64);
	assert_int_equal(round_of(ds, &w, 2, ev), 0);
	assert_int_equal(ds->def.key_reuse, DEF_REUSE_NEW);
	/* `status DOMAIN`'s line, days counted to now. */
	b = (struct buf)BUF_INIT;
	defence_state_line(&ds->def, w.r.started + 86400, &b);
	assert_string_equal(b.s, "  defences: CAA bound to your ACME account: "
				 "none; Channel binding: offered; Expiry: 89 "
				 "days; TLSA records: none; Key kept across "
				 "renewals: new\n");
	/* GET /api/domain's "defences". */
	buf_reset(&b);
	defence_state_json(&ds->def, &b);
	assert_non_null(strstr(b.s, "{\"caa\":\"none\",\"channel_binding\":"
				    "\"offered\",\"expiry\":\"ok\","
				    "\"not_after\":"));
	assert_non_null(strstr(b.s, ",\"tlsa_quality\":\"none\",\"next_key\":"
				    "\"none\",\"key_reuse\":\"new\"}"));
	buf_reset(&b);
	defence_state_json(&(struct defence_state){0}, &b);
	assert_string_equal(b.s, "null");
	buf_free(&b);
	free(ds);
}

/* An unreachable round (no leaf, no features) changes nothing kept. */
static void
round_unreachable(void **state)
{
	struct domain_state *ds = calloc(1, sizeof(*ds));
	struct defence_event ev[DEFENCE_EVENTS_MAX];
	struct world w;

	(void)state;
	assert_non_null(ds);
	world(&w, 1, CAA_STATE_BOUND, 60);
	assert_int_equal(round_of(ds, &w, 1, ev), 0);
	for (int i = 0; i < 2; i++) {
		w.ep[i].verdict = VERDICT_UNREACHABLE;
		w.ep[i].not_after = 0;
		w.ep[i].tls_version[0] = '\0';
	}
	/* DNS fails (bogus): no endpoint at all, nothing kept changes. */
	w.r.nendpoints = 0;
	w.r.endpoints = NULL;
	w.r.caa.state = CAA_STATE_UNKNOWN;
	assert_int_equal(round_of(ds, &w, 1, ev), 1);
	assert_int_equal(ev[0].kind, DEV_CAA_REMOVED);
	assert_int_equal(ds->def.expiry, DEF_EXPIRY_OK);
	assert_int_equal(ds->def.ncb, 0);
	w.r.nendpoints = 2;
	w.r.endpoints = w.ep;
	w.r.caa.state = CAA_STATE_BOUND;
	assert_int_equal(round_of(ds, &w, 1, ev), 0);
	/* No handshake: the features were not tried. */
	w.ep[0].features.state = PROBE_FEAT_NOT_TRIED;
	assert_int_equal(round_of(ds, &w, 1, ev), 0);
	assert_int_equal(ds->def.cb, PROBE_CB_OFFERED);
	assert_int_equal(ds->def.expiry, DEF_EXPIRY_OK);
	assert_int_equal(ds->def.ncb, 1);
	assert_true(ds->def.cb_ep[0].plus);
	/* A handshake, then the stream after TLS fails: said once after
	 * split_rounds rounds, never as a withdrawn round. */
	world(&w, 1, CAA_STATE_BOUND, 60);
	w.ep[0].features.state = PROBE_FEAT_FAILED;
	snprintf(w.ep[0].features.reason, sizeof(w.ep[0].features.reason),
		 "timed out");
	assert_int_equal(round_of(ds, &w, 2, ev), 0);
	assert_int_equal(round_of(ds, &w, 2, ev), 1);
	assert_int_equal(ev[0].kind, DEV_CB_UNREAD);
	assert_int_equal(ev[0].rounds, 2);
	assert_int_equal(defence_alert_kind(ev, 1), ALERT_INFO);
	{
		struct buf b = BUF_INIT;
		report_defence_alert(&b, "good.test", &w.r, ev, 1);
		assert_non_null(strstr(b.s,
				       "good.test: channel binding can no "
				       "longer be read at xmpp-client "
				       "xmpp.good.test:5222: it offered "
				       "SCRAM-*-PLUS, and for 2 rounds its "
				       "stream after TLS fails (timed "
				       "out)"));
		buf_free(&b);
	}
	assert_int_equal(round_of(ds, &w, 2, ev), 0);
	world(&w, 1, CAA_STATE_BOUND, 60);
	assert_int_equal(round_of(ds, &w, 2, ev), 1);
	assert_int_equal(ev[0].kind, DEV_CB_BACK);
	free(ds);
}

/* ---- the store's line -------------------------------------------------- */

static void
line_round_trip(void **state)
{
	struct defence_state st, back;
	struct buf t = BUF_INIT, t2 = BUF_INIT;

	(void)state;
	assert_int_equal(defence_parse(NULL, &st), 0);
	assert_false(st.have);
	defence_format(&st, &t);
	assert_string_equal(t.s ? t.s : "", "");
	st.have = 1;
	st.caa = CAA_STATE_ISSUERS;
	st.cb = PROBE_CB_NONE;
	st.expiry = DEF_EXPIRY_EXPIRED;
	st.tlsa = DEFENCES_TLSA_WEAK;
	st.next_key = 1;
	st.key_reuse = DEF_REUSE_NEW;
	st.not_after = 1767225600;
	st.expiry_alerted = 1767225600;
	st.ncb = DEFENCE_CB_MAX;
	for (size_t i = 0; i < st.ncb; i++)
		st.cb_ep[i] = (struct defence_cb){
		    (uint8_t)(63 - i), 65535,	      1, 13, 3, 0xdeadbeefu,
		    UINT32_MAX,	       UINT32_MAX - 1};
	defence_format(&st, &t);
	assert_true(t.len <= STORE_TEXT_MAX);
	assert_int_equal(defence_parse(t.s, &back), 0);
	defence_format(&back, &t2);
	assert_string_equal(t.s, t2.s);
	assert_int_equal(memcmp(&back.cb_ep, &st.cb_ep, sizeof(st.cb_ep)), 0);
	/* A later version's words are ignored. */
	buf_puts(&t, " future=thing");
	assert_int_equal(defence_parse(t.s, &back), 0);
	assert_true(back.have);
	/* A leaf from before 1970 (a hostile server's) is kept, not a line
	 * that no longer parses (which would make every round a baseline);
	 * the longest line fits the store's 1000 bytes whole. */
	st.not_after = st.expiry_alerted = INT64_MIN;
	buf_reset(&t);
	defence_format(&st, &t);
	assert_true(t.len <= DEFENCE_TEXT_MAX);
	assert_int_equal(defence_parse(t.s, &back), 0);
	assert_int_equal(back.not_after, INT64_MIN);
	assert_int_equal(back.ncb, DEFENCE_CB_MAX);
	buf_free(&t);
	buf_free(&t2);
}

static void
line_hostile(void **state)
{
	static const char *const bad[] = {
	    "caa=maybe",
	    "caa",
	    "not_after=--5",
	    "not_after=",
	    "not_after=99999999999999999999999",
	    "expiry_alerted=12x",
	    "cb_ep=1/2/3",
	    "cb_ep=64/5222/1/13/00000000/0/0/0",
	    "cb_ep=1/65536/1/13/00000000/0/0/0",
	    "cb_ep=1/5222/2/13/00000000/0/0/0",
	    "cb_ep=1/5222/1/13/00000000/0/0/0/9",
	    "cb_ep=1/5222/1/13/zz/0/0/0",
	    "cb_ep=3/5223/0/-2/00000000/1/1/0", /* found by fuzz_defence */
	    "cb_ep=3/5223/0/+2/00000000/1/1/0",
	    "cb_ep=3/5223/0/2/00000000/1/1/-0",
	    "cb_ep=1/5222/1/13/00000000/0/4/0",
	    "cb_ep=1/5222/1/13/00000000/0/0",
	    "cb=sometimes",
	    "=",
	};
	struct defence_state st;
	char many[2000] = "";

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (defence_parse(bad[i], &st) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		/* What does not parse is no baseline. */
		assert_false(st.have);
	}
	/* More endpoints than kept: refused, never past the array. */
	for (int i = 0; i <= DEFENCE_CB_MAX; i++)
		strcat(many, "cb_ep=1/5222/1/13/00000000/0/0/0 ");
	assert_int_equal(defence_parse(many, &st), -1);
	assert_true(st.ncb <= DEFENCE_CB_MAX);
	/* The presence's open alarm. */
	assert_false(defence_alarm_open(NULL));
	assert_false(defence_alarm_open("cb_ep=0/5222/1/13/00000000/1/2/2"));
	assert_true(
	    defence_alarm_open("caa=none cb_ep=0/5222/1/13/00000000/1/2/2 "
			       "cb_ep=1/5223/1/13/00000000/2/1/0"));
	assert_false(
	    defence_alarm_open("cb_ep=1/5223/1/13/00000000/2/1/0 cb=x"));
	assert_false(defence_alarm_open("cb_ep=1/5223/1/13/00000000/2/9/0"));
	/* Spaces anywhere, an empty text. */
	assert_int_equal(defence_parse("  caa=bound   cb=none ", &st), 0);
	assert_int_equal(st.caa, CAA_STATE_BOUND);
	assert_int_equal(defence_parse("", &st), 0);
	assert_false(st.have);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(cb_table),
	    cmocka_unit_test(caa_table),
	    cmocka_unit_test(expiry_table),
	    cmocka_unit_test(round_rules),
	    cmocka_unit_test(round_unreachable),
	    cmocka_unit_test(line_round_trip),
	    cmocka_unit_test(line_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
