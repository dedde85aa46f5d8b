/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_command.c - the chat command parser and body splitter, on ordinary
 * and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "component/command.h"

static int
parse(const char *s, struct comp_cmd *c)
{
	return comp_cmd_parse(s, strlen(s), c);
}

static void
test_every_command(void **state)
{
	struct comp_cmd c;

	assert_int_equal(parse("help", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_HELP);

	assert_int_equal(parse("check example.org", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_CHECK);
	assert_true(c.has_domain);
	assert_string_equal(c.domain.a, "example.org");

	assert_int_equal(parse("subscribe example.org", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_SUBSCRIBE);
	assert_string_equal(c.domain.a, "example.org");

	assert_int_equal(parse("unsubscribe example.org", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_UNSUBSCRIBE);
	assert_false(c.all);
	assert_string_equal(c.domain.a, "example.org");

	assert_int_equal(parse("unsubscribe all", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_UNSUBSCRIBE);
	assert_true(c.all);
	assert_false(c.has_domain);

	assert_int_equal(parse("status", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_STATUS);
	assert_false(c.has_domain);

	assert_int_equal(parse("status example.org", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_STATUS);
	assert_true(c.has_domain);

	assert_int_equal(parse("stats", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_STATS);
	assert_true(comp_cmd_admin_only(c.kind));

	assert_int_equal(parse("recheck example.org", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_RECHECK);
	assert_true(comp_cmd_admin_only(c.kind));
	assert_false(comp_cmd_admin_only(COMP_CMD_CHECK));
}

static void
test_case_and_space(void **state)
{
	struct comp_cmd c;

	assert_int_equal(parse("CHECK Example.ORG.", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_CHECK);
	assert_string_equal(c.domain.a, "example.org");

	assert_int_equal(parse("  \t cHeCk\n\n  good.test  \r\n", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_CHECK);
	assert_string_equal(c.domain.a, "good.test");

	/* A no-break space, as some clients send. */
	assert_int_equal(parse("check\xc2\xa0good.test", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_CHECK);
	assert_string_equal(c.domain.a, "good.test");

	assert_int_equal(parse("/check good.test", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_CHECK);
	assert_int_equal(parse("!Help", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_HELP);

	assert_int_equal(parse("UnSubscribe ALL", &c), 0);
	assert_true(c.all);

	assert_int_equal(parse("help me please", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_HELP);
}

static void
test_idn(void **state)
{
	struct comp_cmd c;

	assert_int_equal(parse("check B\xc3\xbc"
			       "cher.example",
			       &c),
			 0);
	assert_string_equal(c.domain.a, "xn--bcher-kva.example");
	assert_string_equal(c.domain.u, "b\xc3\xbc"
					"cher.example");

	assert_int_equal(parse("check xn--bcher-kva.example", &c), 0);
	assert_string_equal(c.domain.u, "b\xc3\xbc"
					"cher.example");
}

static void
test_errors(void **state)
{
	struct comp_cmd c;

	assert_int_equal(parse("check", &c), -1);
	assert_int_equal(c.kind, COMP_CMD_CHECK);
	assert_non_null(strstr(c.error, "needs a domain"));

	assert_int_equal(parse("check a.org b.org", &c), -1);
	assert_non_null(strstr(c.error, "one domain"));

	assert_int_equal(parse("status a.org b.org", &c), -1);
	assert_int_equal(parse("subscribe", &c), -1);
	assert_int_equal(parse("unsubscribe", &c), -1);
	assert_int_equal(parse("recheck", &c), -1);

	assert_int_equal(parse("check bad..test", &c), -1);
	assert_non_null(strstr(c.error, "invalid domain"));
	assert_non_null(strstr(c.error, "empty label"));

	assert_int_equal(parse("check 192.0.2.1", &c), -1);
	assert_non_null(strstr(c.error, "IP address"));

	assert_int_equal(parse("check localhost", &c), -1);
	assert_int_equal(parse("check user@example.org", &c), -1);
	assert_int_equal(parse("check https://example.org/", &c), -1);
	assert_int_equal(parse("check -a.example", &c), -1);
	assert_int_equal(parse("check a_b.example", &c), -1);
	assert_int_equal(parse("check .", &c), -1);
}

static void
test_unknown_and_empty(void **state)
{
	struct comp_cmd c;

	assert_int_equal(parse("", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_EMPTY);
	assert_int_equal(parse(" \n\t\r ", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_EMPTY);
	assert_int_equal(parse("hello there", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_UNKNOWN);
	assert_int_equal(parse("checkgood.test", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_UNKNOWN);
	assert_int_equal(parse("/", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_UNKNOWN);
	assert_int_equal(parse("\xff\xfe\x00", &c), 0);
	assert_int_equal(c.kind, COMP_CMD_UNKNOWN);
	assert_null(comp_cmd_name(COMP_CMD_UNKNOWN));
	assert_string_equal(comp_cmd_name(COMP_CMD_RECHECK), "recheck");
}

static void
test_hostile(void **state)
{
	struct comp_cmd c;
	size_t n = 100000;
	char *big = malloc(n + 1);

	/* A huge domain: refused, and the reply shows at most 60 bytes. */
	memcpy(big, "check ", 6);
	memset(big + 6, 'a', n - 6);
	big[n] = '\0';
	assert_int_equal(comp_cmd_parse(big, n, &c), -1);
	assert_true(strlen(c.error) < 200);

	/* Many words. */
	for (size_t i = 0; i < n; i++)
		big[i] = (i % 2) ? ' ' : 'x';
	assert_int_equal(comp_cmd_parse(big, n, &c), 0);
	assert_int_equal(c.kind, COMP_CMD_UNKNOWN);

	/* NUL bytes inside: the parser reads `len` bytes, not to the NUL. */
	assert_int_equal(comp_cmd_parse("check a\0b.example", 17, &c), -1);

	/* Control characters are not echoed back raw. */
	assert_int_equal(parse("check a\x01\x1b[2J.example", &c), -1);
	for (const char *p = c.error; *p; p++)
		assert_true((unsigned char)*p >= 0x20);

	/* A UTF-8 sequence cut by `len`. */
	assert_int_equal(comp_cmd_parse("check b\xc3\xbc", 8, &c), -1);
	free(big);
}

static void
test_split(void **state)
{
	const char *s = "line one\nline two\nline three\n";
	size_t len = strlen(s);

	assert_int_equal(comp_cmd_split(s, len, 4096), len);
	/* Cut after the last line end that fits. */
	assert_int_equal(comp_cmd_split(s, len, 20), 18);
	assert_int_equal(comp_cmd_split(s, len, 18), 18);
	assert_int_equal(comp_cmd_split(s, len, 17), 9);
	/* No line end: cut, never inside a UTF-8 character. */
	assert_int_equal(comp_cmd_split("abcdef", 6, 4), 4);
	assert_int_equal(comp_cmd_split("ab\xc3\xbc"
					"cd",
					6, 3),
			 2);
	assert_int_equal(comp_cmd_split("\xe2\x80\xa6\xe2\x80\xa6", 6, 4), 3);
	assert_int_equal(comp_cmd_split("", 0, 10), 0);

	/* A long report splits into pieces of at most 4096 bytes that
	 * together are the whole text. */
	size_t n = 20000, off = 0, pieces = 0;
	char *big = malloc(n);
	for (size_t i = 0; i < n; i++)
		big[i] = (i % 97 == 96) ? '\n' : 'x';
	while (off < n) {
		size_t k = comp_cmd_split(big + off, n - off, 4096);
		assert_true(k > 0 && k <= 4096);
		if (off + k < n)
			assert_int_equal(big[off + k - 1], '\n');
		off += k;
		pieces++;
	}
	assert_int_equal(off, n);
	assert_true(pieces >= 5);
	free(big);
}

static void
test_help(void **state)
{
	assert_non_null(strstr(comp_cmd_help(0), "check DOMAIN"));
	assert_null(strstr(comp_cmd_help(0), "recheck"));
	assert_non_null(strstr(comp_cmd_help(1), "recheck"));
	assert_non_null(strstr(comp_cmd_help(1), "stats"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_command),
	    cmocka_unit_test(test_case_and_space),
	    cmocka_unit_test(test_idn),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_unknown_and_empty),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_split),
	    cmocka_unit_test(test_help),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
