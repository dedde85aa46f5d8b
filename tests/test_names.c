/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_names.c - domain normalisation and bare JIDs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "component/names.h"

static void
ok(const char *in, const char *a, const char *u)
{
	struct domain_name d;
	char err[256] = "";

	if (names_domain(in, strlen(in), &d, err, sizeof(err)) != 0)
		fail_msg("\"%s\" refused: %s", in, err);
	assert_string_equal(d.a, a);
	assert_string_equal(d.u, u);
}

static void
bad(const char *in, size_t len, const char *why)
{
	struct domain_name d;
	char err[256] = "";

	if (names_domain(in, len, &d, err, sizeof(err)) != -1)
		fail_msg("\"%s\" accepted as %s", in, d.a);
	if (strstr(err, why) == NULL)
		fail_msg("\"%s\": \"%s\" lacks \"%s\"", in, err, why);
}

static void
test_domains(void **state)
{
	ok("example.org", "example.org", "example.org");
	ok("Example.ORG.", "example.org", "example.org");
	ok("  jabber.example.org  ", "jabber.example.org",
	   "jabber.example.org");
	ok("bücher.example", "xn--bcher-kva.example", "bücher.example");
	ok("XN--BCHER-KVA.example", "xn--bcher-kva.example", "bücher.example");
	ok("BÜCHER.example", "xn--bcher-kva.example", "bücher.example");
	/* Non-transitional UTS #46: ß stays ß. */
	ok("faß.de", "xn--fa-hia.de", "faß.de");
}

static void
test_bad_domains(void **state)
{
	char big[2000];

	bad("", 0, "empty");
	bad(".", 1, "empty");
	bad("localhost", 9, "needs a dot");
	bad("a..b", 4, "empty label");
	bad("192.0.2.1", 9, "IP address");
	bad("::1", 3, "IP address");
	bad("[::1]", 5, "IP address");
	bad("user@example.org", 16, "not allowed");
	bad("exa mple.org", 12, "not allowed");
	bad("example.org/x", 13, "not allowed");
	bad("-bad.example", 12, "hyphen");
	bad("ex\0ample.org", 12, "NUL");
	bad("xn--zz.example", 14, "valid");
	bad("a_b.example", 11, "not allowed");
	/* A-labels that decode to characters UTS #46 maps away: found by
	 * fuzz_command (tests/fuzz/regressions/command/). */
	bad("xn--bnk.e", 9, "not the encoding");
	bad("1\xc2\xb2"
	    "7.0.0.1",
	    10, "IP address"); /* superscript two */
	bad("12\xc2\xad"
	    "7.0.0.1",
	    11, "IP address"); /* soft hyphen */
	bad("127.0.0", 7, "numeric");
	bad("xn--abcd-wea.example", 20, "not the encoding");
	bad("xn--abcd-w89x.example", 21, "not the encoding");
	memset(big, 'a', sizeof(big));
	bad(big, sizeof(big), "too long");
	memset(big, 'a', 70);
	memcpy(big + 70, ".org", 5);
	bad(big, 74, "");
	/* 300 bytes in labels of 9: too long a name. */
	for (int i = 0; i < 300; i++)
		big[i] = (i % 10 == 9) ? '.' : 'a';
	big[299] = 'a';
	bad(big, 300, "");
}

static void
test_hostile(void **state)
{
	struct domain_name d;
	char err[256], in[64];

	srand(7);
	for (int r = 0; r < 20000; r++) {
		size_t n = (size_t)(rand() % 64);
		for (size_t i = 0; i < n; i++)
			in[i] = (char)(rand() % 256);
		(void)names_domain(in, n, &d, err, sizeof(err));
	}
}

static void
test_jids(void **state)
{
	char out[64];

	assert_int_equal(
	    names_bare_jid("User@Example.ORG/phone", out, sizeof(out)), 0);
	assert_string_equal(out, "User@example.org");
	assert_int_equal(names_bare_jid("example.org", out, sizeof(out)), 0);
	assert_string_equal(out, "example.org");
	assert_int_equal(names_bare_jid("/res", out, sizeof(out)), -1);
	assert_int_equal(names_bare_jid("@example.org", out, sizeof(out)), -1);
	assert_int_equal(names_bare_jid("a@", out, sizeof(out)), -1);
	assert_int_equal(
	    names_bare_jid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			   "aaaaaaaaaaaaaaaaaaaaaaa@x",
			   out, sizeof(out)),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_domains),
	    cmocka_unit_test(test_bad_domains),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_jids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
