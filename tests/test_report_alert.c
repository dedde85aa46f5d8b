/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_report_alert.c - the words of alerts (component/report_alert.c) and
 * the one date formatter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "component/report.h"

static void
time_table(void **state)
{
	static const struct {
		int64_t t;
		enum report_time_form form;
		const char *want;
	} cases[] = {
	    {1700000000, REPORT_TIME_DAY, "2023-11-14"},
	    {1700000000, REPORT_TIME_MINUTE, "2023-11-14 22:13 UTC"},
	    {1700000000, REPORT_TIME_SECOND, "2023-11-14 22:13:20 UTC"},
	    {0, REPORT_TIME_MINUTE, "never"},
	    {-5, REPORT_TIME_SECOND, "never"},
	    {INT64_MAX, REPORT_TIME_SECOND, "never"},
	};
	char s[64], tiny[8];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		report_time(cases[i].t, cases[i].form, "never", s, sizeof(s));
		assert_string_equal(s, cases[i].want);
	}
	/* Too small a buffer: the `none` word, cut, never garbage. */
	report_time(1700000000, REPORT_TIME_SECOND, "?", tiny, sizeof(tiny));
	assert_string_equal(tiny, "?");
}

static void
alert_words(void **state)
{
	static const struct store_key keys[] = {
	    {"ab12", 1700000000, 1700003600},
	};
	struct check_result r;
	struct buf b = BUF_INIT;

	(void)state;
	memset(&r, 0, sizeof(r));
	snprintf(r.domain, sizeof(r.domain), "x.example");
	snprintf(r.domain_u, sizeof(r.domain_u), "x.example");
	r.verdict = VERDICT_MISMATCH;
	report_alert(&b, ALERT_ALARM, "x.example", VERDICT_OK, &r, 0, keys, 1);
	assert_non_null(strstr(b.s, "ALARM: x.example is now mismatch: "
				    "POSSIBLE MAN IN THE MIDDLE\n"));
	assert_non_null(strstr(b.s, "  ab12 (2023-11-14 to 2023-11-14 "
				    "23:13 UTC)\n"));
	assert_non_null(strstr(b.s, "Send \"unsubscribe x.example\""));
	buf_free(&b);
	b = (struct buf)BUF_INIT;
	r.verdict = VERDICT_NO_TLSA;
	report_alert(&b, ALERT_REMOVED, "x.example", VERDICT_OK, &r, 0, NULL,
		     0);
	assert_non_null(strstr(b.s, "(was ok, now no-tlsa)"));
	buf_free(&b);
	b = (struct buf)BUF_INIT;
	report_alert(&b, ALERT_NONE, "x.example", VERDICT_OK, &r, 0, NULL, 0);
	assert_true(b.s == NULL || b.s[0] == '\0');
	buf_free(&b);
	b = (struct buf)BUF_INIT;
	report_flap_summary(&b, "x.example", 3, VERDICT_NONE);
	assert_string_equal(b.s, "x.example changed state often in the last "
				 "hour: 3 alerts were held. Now: unknown.\n");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(time_table),
	    cmocka_unit_test(alert_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
