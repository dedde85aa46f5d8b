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

#define R(v, w) {v, 0, 0, w}
#define D(v, w) {v, 1, 0, w}
#define K(v, w) {v, 0, 1, w}
#define END {VERDICT_NONE, 0, 0, ALERT_NONE}

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
	{"ok to bogus alarms", {R(OK, 0), R(BG, ALERT_ALARM), R(OK, ALERT_RECOVERED), END}},
	{"mismatch to bogus alarms again", {R(OK, 0), R(MM, ALERT_ALARM), R(BG, ALERT_ALARM), END}},
	{"records removed, then back",
	 {R(OK, 0), R(NT, ALERT_REMOVED), R(NT, ALERT_NONE), R(OK, ALERT_RECOVERED), END}},
	{"DNSSEC removed", {R(OK, 0), R(IN, ALERT_REMOVED), R(OK, ALERT_RECOVERED), END}},
	{"no-tlsa to ok is info (set-up done)", {R(NT, 0), R(OK, ALERT_INFO), END}},
	{"insecure to no-tlsa is info", {R(IN, 0), R(NT, ALERT_INFO), END}},
	{"insecure to mismatch alarms", {R(IN, 0), R(MM, ALERT_ALARM), END}},
	{"down after 3 unreachable rounds, once, then recovered",
	 {R(OK, 0), D(OK, ALERT_NONE), D(OK, ALERT_NONE), D(OK, ALERT_DOWN),
	  D(OK, ALERT_NONE), D(OK, ALERT_NONE), R(OK, ALERT_RECOVERED), R(OK, ALERT_NONE), END}},
	{"two unreachable rounds are not down",
	 {R(OK, 0), D(OK, 0), D(OK, 0), R(OK, ALERT_NONE), D(OK, 0), D(OK, 0), R(OK, 0), END}},
	{"down, then back as a mismatch: alarm",
	 {R(OK, 0), D(OK, 0), D(OK, 0), D(OK, ALERT_DOWN), R(MM, ALERT_ALARM), R(OK, ALERT_RECOVERED), END}},
	{"down from the start", {D(UN, 0), D(UN, 0), D(UN, ALERT_DOWN), R(OK, ALERT_RECOVERED), END}},
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
