/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_transition.c - the alert rules, as a table of round sequences. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "component/transition.h"

#define OK VERDICT_OK
#define MM VERDICT_MISMATCH
#define BG VERDICT_BOGUS
#define IN VERDICT_INSECURE
#define NT VERDICT_NO_TLSA
#define UN VERDICT_UNREACHABLE

/* One round: the alert verdict, all unreachable?, key rolled?, and the
 * alert expected. */
struct round {
	enum verdict v;
	int down, rolled;
	enum alert_kind want;
};

#define R(v, w)                                                                \
	{                                                                      \
		v, 0, 0, w                                                     \
	}
#define D(v, w)                                                                \
	{                                                                      \
		v, 1, 0, w                                                     \
	}
#define K(v, w)                                                                \
	{                                                                      \
		v, 0, 1, w                                                     \
	}
#define END                                                                    \
	{                                                                      \
		VERDICT_NONE, 0, 0, ALERT_NONE                                 \
	}

static const struct {
	const char *name;
	struct round r[12];
} cases[] = {
    {"baseline ok sends nothing", {R(OK, ALERT_NONE), R(OK, ALERT_NONE), END}},
    {"baseline mismatch sends nothing (the subscriber got the report)",
     {R(MM, ALERT_NONE), R(MM, ALERT_NONE), END}},
    {"ok to mismatch alarms once, recovers once",
     {R(OK, 0), R(MM, ALERT_ALARM), R(MM, ALERT_NONE), R(OK, ALERT_RECOVERED),
      R(OK, ALERT_NONE), END}},
    {"ok to bogus alarms",
     {R(OK, 0), R(BG, ALERT_ALARM), R(OK, ALERT_RECOVERED), END}},
    {"mismatch to bogus alarms again",
     {R(OK, 0), R(MM, ALERT_ALARM), R(BG, ALERT_ALARM), END}},
    {"records removed, then back",
     {R(OK, 0), R(NT, ALERT_REMOVED), R(NT, ALERT_NONE), R(OK, ALERT_RECOVERED),
      END}},
    {"DNSSEC removed",
     {R(OK, 0), R(IN, ALERT_REMOVED), R(OK, ALERT_RECOVERED), END}},
    {"no-tlsa to ok is info (set-up done)", {R(NT, 0), R(OK, ALERT_INFO), END}},
    {"insecure to no-tlsa is info", {R(IN, 0), R(NT, ALERT_INFO), END}},
    {"insecure to mismatch alarms", {R(IN, 0), R(MM, ALERT_ALARM), END}},
    {"down after 3 unreachable rounds, once, then recovered",
     {R(OK, 0), D(OK, ALERT_NONE), D(OK, ALERT_NONE), D(OK, ALERT_DOWN),
      D(OK, ALERT_NONE), D(OK, ALERT_NONE), R(OK, ALERT_RECOVERED),
      R(OK, ALERT_NONE), END}},
    {"two unreachable rounds are not down",
     {R(OK, 0), D(OK, 0), D(OK, 0), R(OK, ALERT_NONE), D(OK, 0), D(OK, 0),
      R(OK, 0), END}},
    {"down, then back as a mismatch: alarm",
     {R(OK, 0), D(OK, 0), D(OK, 0), D(OK, ALERT_DOWN), R(MM, ALERT_ALARM),
      R(OK, ALERT_RECOVERED), END}},
    {"down from the start",
     {D(UN, 0), D(UN, 0), D(UN, ALERT_DOWN), R(OK, ALERT_RECOVERED), END}},
    {"key rollover while matching is info",
     {R(OK, 0), K(OK, ALERT_INFO), R(OK, ALERT_NONE), END}},
};

static void
test_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct watch_state st = {VERDICT_NONE, ALERT_NONE, 0};
		for (int j = 0; cases[i].r[j].v != VERDICT_NONE; j++) {
			const struct round *r = &cases[i].r[j];
			struct round_facts f = {r->v, r->down, r->rolled};
			enum alert_kind got = transition_decide(&st, &f, 3);
			if (got != r->want)
				fail_msg("%s: round %d: got %s, want %s",
					 cases[i].name, j + 1,
					 alert_kind_name(got),
					 alert_kind_name(r->want));
		}
	}
}

/* Endpoint trouble: one probe per round (A answered, F failed at a
 * counted step, O something else), whether another probe of the domain
 * answered, and the alert expected; down_after is 3. */
struct eround {
	enum trouble_probe p;
	int others;
	enum alert_kind want;
};

#define EA(w)                                                                  \
	{                                                                      \
		TROUBLE_ANSWERED, 1, w                                         \
	}
#define EF(w)                                                                  \
	{                                                                      \
		TROUBLE_FAILED, 1, w                                           \
	}
#define EFA(w)                                                                 \
	{                                                                      \
		TROUBLE_FAILED, 0, w                                           \
	} /* nothing else answered */
#define EO(w)                                                                  \
	{                                                                      \
		TROUBLE_OTHER, 1, w                                            \
	}
#define EEND                                                                   \
	{                                                                      \
		TROUBLE_OTHER, -1, ALERT_NONE                                  \
	}
#define NO ALERT_NONE
#define INFO ALERT_INFO
#define BACK ALERT_RECOVERED

static const struct {
	const char *name;
	struct eround r[14];
} ecases[] = {
    {"answers every round: nothing", {EA(NO), EA(NO), EA(NO), EEND}},
    {"three failed rounds after an answer: info once, recovered once",
     {EA(NO), EF(NO), EF(NO), EF(INFO), EF(NO), EF(NO), EA(BACK), EA(NO),
      EEND}},
    {"two failed rounds are nothing",
     {EA(NO), EF(NO), EF(NO), EA(NO), EF(NO), EF(NO), EA(NO), EEND}},
    {"never answered: no alert (nothing to hide behind)",
     {EF(NO), EF(NO), EF(NO), EF(NO), EA(NO), EF(NO), EF(NO), EF(INFO), EEND}},
    {"the whole domain down is the down alert's, not this one's",
     {EA(NO), EFA(NO), EFA(NO), EFA(NO), EFA(NO), EEND}},
    {"others answer again while it still fails: info then",
     {EA(NO), EFA(NO), EFA(NO), EFA(NO), EF(INFO), EF(NO), EA(BACK), EEND}},
    {"a round that says nothing neither counts nor resets",
     {EA(NO), EF(NO), EO(NO), EF(NO), EO(NO), EF(INFO), EO(NO), EA(BACK),
      EEND}},
    {"after a recovery, a new run of failures alerts again",
     {EA(NO), EF(NO), EF(NO), EF(INFO), EA(BACK), EF(NO), EF(NO), EF(INFO),
      EEND}},
};

static void
test_trouble_table(void **state)
{
	for (size_t i = 0; i < sizeof(ecases) / sizeof(ecases[0]); i++) {
		struct trouble_state st = {0, 0, 0};
		for (int j = 0; ecases[i].r[j].others >= 0; j++) {
			const struct eround *r = &ecases[i].r[j];
			enum alert_kind got =
			    transition_trouble_decide(&st, r->p, r->others, 3);
			if (got != r->want)
				fail_msg("%s: round %d: got %s, want %s",
					 ecases[i].name, j + 1,
					 alert_kind_name(got),
					 alert_kind_name(r->want));
		}
	}
}

static void
test_trouble_counts(void **state)
{
	struct trouble_state st = {0, 1, 0};

	/* The count is the N of the alert's text. */
	for (int i = 0; i < 5; i++)
		transition_trouble_decide(&st, TROUBLE_FAILED, 1, 5);
	assert_int_equal(st.fail_rounds, 5);
	assert_int_equal(st.alerted, 1);
	/* down_after 1: the first failed round alerts. */
	st = (struct trouble_state){0, 1, 0};
	assert_int_equal(transition_trouble_decide(&st, TROUBLE_FAILED, 1, 1),
			 ALERT_INFO);
	/* Never answered: not counted (no store write per round). */
	st = (struct trouble_state){0, 0, 0};
	for (int i = 0; i < 5; i++)
		assert_int_equal(
		    transition_trouble_decide(&st, TROUBLE_FAILED, 1, 3),
		    ALERT_NONE);
	assert_int_equal(st.fail_rounds, 0);
	/* A count read back from the store at its limit does not wrap. */
	st = (struct trouble_state){UINT32_MAX, 1, 1};
	assert_int_equal(transition_trouble_decide(&st, TROUBLE_FAILED, 1, 3),
			 ALERT_NONE);
	assert_int_equal(st.fail_rounds, UINT32_MAX);
}

/* Which probes count: after TCP could be tried, and a peer's doing. */
static void
test_trouble_classify(void **state)
{
	static const struct {
		enum verdict v;
		enum probe_step step;
		enum trouble_probe want;
	} t[] = {
	    {UN, PROBE_STEP_TCP, TROUBLE_FAILED},
	    {UN, PROBE_STEP_STREAM, TROUBLE_FAILED},
	    {UN, PROBE_STEP_STARTTLS, TROUBLE_FAILED},
	    {UN, PROBE_STEP_TLS, TROUBLE_FAILED},
	    {UN, PROBE_STEP_TOR, TROUBLE_OTHER}, /* our proxy's fault */
	    {UN, PROBE_STEP_DNS, TROUBLE_OTHER},
	    {UN, PROBE_STEP_INPUT, TROUBLE_OTHER},
	    {UN, PROBE_STEP_NONE, TROUBLE_OTHER},
	    {OK, PROBE_STEP_NONE, TROUBLE_ANSWERED},
	    {MM, PROBE_STEP_TLS, TROUBLE_ANSWERED}, /* a verdict came */
	    {NT, PROBE_STEP_NONE, TROUBLE_ANSWERED},
	    {IN, PROBE_STEP_NONE, TROUBLE_ANSWERED},
	    {BG, PROBE_STEP_NONE, TROUBLE_ANSWERED},
	    {VERDICT_NONE, PROBE_STEP_NONE, TROUBLE_OTHER},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (transition_trouble_classify(t[i].v, t[i].step) != t[i].want)
			fail_msg("row %zu: %s at %s", i, verdict_name(t[i].v),
				 probe_step_name(t[i].step));
}

static void
test_names(void **state)
{
	for (int k = ALERT_NONE; k <= ALERT_INFO; k++)
		assert_int_equal(alert_kind_parse(alert_kind_name(k)), k);
	assert_int_equal(alert_kind_parse("garbage"), ALERT_NONE);
	assert_int_equal(alert_kind_parse(NULL), ALERT_NONE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_trouble_table),
	    cmocka_unit_test(test_trouble_counts),
	    cmocka_unit_test(test_trouble_classify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
