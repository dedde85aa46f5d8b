/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_caa.c - the CAA RDATA and issue-value parsers (dns/caa.h) on
 * hand-built wire bytes, RFC 8659 / RFC 8657 examples and hostile input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dns/caa.h"
#include "dns/dns.h"

/* Wire RDATA: flags, tag length, tag, value. */
static size_t
rdata(uint8_t *b, uint8_t flags, const char *tag, const char *value)
{
	size_t tl = strlen(tag), vl = strlen(value);

	b[0] = flags;
	b[1] = (uint8_t)tl;
	memcpy(b + 2, tag, tl);
	memcpy(b + 2 + tl, value, vl);
	return 2 + tl + vl;
}

static void
test_rdata_issue(void **state)
{
	uint8_t b[512];
	struct dns_caa c;
	char err[128];
	size_t n = rdata(b, 0, "Issue", "letsencrypt.org");

	(void)state;
	assert_int_equal(dns_caa_parse(b, n, &c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, DNS_CAA_ISSUE);
	assert_string_equal(c.tag, "issue");
	assert_string_equal(c.value, "letsencrypt.org");
	assert_int_equal(c.value_len, 15);
	assert_false(c.critical);

	n = rdata(b, 128, "issuewild", ";");
	assert_int_equal(dns_caa_parse(b, n, &c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, DNS_CAA_ISSUEWILD);
	assert_true(c.critical);

	n = rdata(b, 0, "iodef", "mailto:a@example.org");
	assert_int_equal(dns_caa_parse(b, n, &c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, DNS_CAA_OTHER);

	/* An empty value is legal RDATA (RFC 8659 §4.1). */
	n = rdata(b, 0, "issue", "");
	assert_int_equal(dns_caa_parse(b, n, &c, err, sizeof(err)), 0);
	assert_int_equal(c.value_len, 0);
}

static void
test_rdata_hostile(void **state)
{
	uint8_t b[2048] = {0};
	struct dns_caa c;
	char err[16];
	size_t n;

	(void)state;
	/* Too short for flags and tag length. */
	assert_int_equal(dns_caa_parse(b, 0, &c, err, sizeof(err)), -1);
	assert_int_equal(dns_caa_parse(b, 1, &c, err, sizeof(err)), -1);
	assert_non_null(memchr(err, '\0', sizeof(err)));
	/* Tag length 0, 16, and past the RDATA. */
	b[0] = 0;
	b[1] = 0;
	assert_int_equal(dns_caa_parse(b, 2, &c, err, sizeof(err)), -1);
	n = rdata(b, 0, "abcdefghijklmnop", "x");
	assert_int_equal(dns_caa_parse(b, n, &c, err, sizeof(err)), -1);
	b[0] = 0;
	b[1] = 5;
	memcpy(b + 2, "iss", 3);
	assert_int_equal(dns_caa_parse(b, 5, &c, err, sizeof(err)), -1);
	/* A 15-byte tag is the longest allowed. */
	n = rdata(b, 0, "abcdefghijklmno", "x");
	assert_int_equal(dns_caa_parse(b, n, &c, err, sizeof(err)), 0);
	/* Non-alphanumeric tag, NUL in the value. */
	n = rdata(b, 0, "iss-ue", "ca.example");
	assert_int_equal(dns_caa_parse(b, n, &c, err, sizeof(err)), -1);
	n = rdata(b, 0, "issue", "ca.example");
	b[n - 2] = '\0';
	assert_int_equal(dns_caa_parse(b, n, &c, err, sizeof(err)), -1);
	/* A value past the bound is refused, not cut. */
	b[0] = 0;
	b[1] = 5;
	memcpy(b + 2, "issue", 5);
	memset(b + 7, 'a', DNS_CAA_VALUE_MAX + 1);
	assert_int_equal(
	    dns_caa_parse(b, 7 + DNS_CAA_VALUE_MAX + 1, &c, err, sizeof(err)),
	    -1);
	assert_int_equal(
	    dns_caa_parse(b, 7 + DNS_CAA_VALUE_MAX, &c, err, sizeof(err)), 0);
}

static int
issue(const char *v, struct dns_caa_issue *out)
{
	char err[128];

	return dns_caa_issue_parse(v, strlen(v), out, err, sizeof(err));
}

static void
test_issue_values(void **state)
{
	struct dns_caa_issue i;

	(void)state;
	assert_int_equal(issue("ca.example.net", &i), 0);
	assert_string_equal(i.issuer, "ca.example.net");
	assert_false(i.forbids);
	assert_false(i.has_accounturi);

	assert_int_equal(issue(";", &i), 0);
	assert_true(i.forbids);
	assert_int_equal(issue("", &i), 0);
	assert_true(i.forbids);
	assert_int_equal(issue("  ;  ", &i), 0);
	assert_true(i.forbids);

	/* RFC 8657 §3's example, and §4's. */
	assert_int_equal(issue("example.net; accounturi=https://example.net/"
			       "account/1234",
			       &i),
			 0);
	assert_string_equal(i.issuer, "example.net");
	assert_true(i.has_accounturi);
	assert_string_equal(i.accounturi, "https://example.net/account/1234");
	assert_int_equal(issue("Example.NET ; validationmethods = dns-01,"
			       "ca-custom ; accounturi=urn:x ;unknown=v",
			       &i),
			 0);
	assert_string_equal(i.issuer, "example.net");
	assert_string_equal(i.validationmethods, "dns-01,ca-custom");
	assert_string_equal(i.accounturi, "urn:x");
	assert_int_equal(i.nparams, 3);

	/* RFC 8659 §4.2: parameters without an issuer still forbid. */
	assert_int_equal(issue("; accounturi=https://a/1", &i), 0);
	assert_true(i.forbids);
	assert_true(i.has_accounturi);
}

static void
test_issue_malformed(void **state)
{
	static const char *bad[] = {
	    "ca..example", /* empty label */
	    ".ca.example",
	    "ca-.example",	       /* label ends in '-' */
	    "ca.example extra",	       /* junk after the name */
	    "ca.example; accounturi",  /* no '=' */
	    "ca.example; accounturi=", /* empty account */
	    "ca.example; =x",	       /* no name */
	    "ca.example; a=b;",	       /* ';' without a parameter */
	    "ca.example; a=b c=d",     /* no ';' between */
	    "ca.example; accounturi=a; accounturi=b", /* twice */
	    "ca.example; validationmethods=dns-01,,http-01",
	    "ca.example; validationmethods=dns_01",
	    "ca.example; validationmethods=dns-01,",
	    "ca.example; a=\x7f",
	    "ca.example; a=b\x80",
	};
	struct dns_caa_issue i;
	char err[8];

	(void)state;
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		memset(err, 'x', sizeof(err));
		if (dns_caa_issue_parse(bad[k], strlen(bad[k]), &i, err,
					sizeof(err)) != -1)
			fail_msg("accepted \"%s\"", bad[k]);
		assert_non_null(memchr(err, '\0', sizeof(err)));
	}
	/* An empty validationmethods list is legal (RFC 8657 §4). */
	assert_int_equal(issue("ca.example; validationmethods=", &i), 0);
	assert_true(i.has_validationmethods);
}

/* The length given is the bound: bytes after it are never read. */
static void
test_issue_unterminated(void **state)
{
	const char v[] = "ca.example; accounturi=https://a/1XXXX";
	struct dns_caa_issue i;
	char err[64];

	(void)state;
	assert_int_equal(
	    dns_caa_issue_parse(v, strlen(v) - 4, &i, err, sizeof(err)), 0);
	assert_string_equal(i.accounturi, "https://a/1");
	assert_int_equal(dns_caa_issue_parse(v, 10, &i, err, sizeof(err)), 0);
	assert_string_equal(i.issuer, "ca.example");
	assert_false(i.has_accounturi);
}

/* dns_parse_response() keeps CAA records whole, for dns_caa_parse(). */
static void
test_response_caa(void **state)
{
	static const uint8_t pkt[] = {
	    0,
	    0,
	    0x81,
	    0x80,
	    0,
	    1,
	    0,
	    2,
	    0,
	    0,
	    0,
	    0,
	    4,
	    'g',
	    'o',
	    'o',
	    'd',
	    4,
	    't',
	    'e',
	    's',
	    't',
	    0,
	    1,
	    1,
	    0,
	    1,
	    /* good.test CAA 0 issue ";" */
	    0xc0,
	    12,
	    1,
	    1,
	    0,
	    1,
	    0,
	    0,
	    1,
	    44,
	    0,
	    8,
	    0,
	    5,
	    'i',
	    's',
	    's',
	    'u',
	    'e',
	    ';',
	    /* good.test CAA with an empty RDATA: kept, then refused */
	    0xc0,
	    12,
	    1,
	    1,
	    0,
	    1,
	    0,
	    0,
	    1,
	    44,
	    0,
	    0,
	};
	struct dns_answer a;
	struct dns_caa c;
	char err[128];

	(void)state;
	memset(&a, 0, sizeof(a));
	assert_int_equal(dns_parse_response(pkt, sizeof(pkt), DNS_T_CAA, &a,
					    err, sizeof(err)),
			 0);
	assert_int_equal(a.status, DNS_ANSWER);
	assert_int_equal(a.n, 2);
	/* canonical order (RFC 4034 §6.3): the empty RDATA comes first */
	assert_int_equal(a.rdata[0].len, 0);
	assert_non_null(a.rdata[0].data);
	assert_int_equal(dns_caa_parse(a.rdata[0].data, a.rdata[0].len, &c, err,
				       sizeof(err)),
			 -1);
	assert_int_equal(a.rdata[1].len, 8);
	assert_int_equal(dns_caa_parse(a.rdata[1].data, a.rdata[1].len, &c, err,
				       sizeof(err)),
			 0);
	assert_int_equal(c.kind, DNS_CAA_ISSUE);
	assert_string_equal(c.value, ";");
	dns_answer_clear(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rdata_issue),
	    cmocka_unit_test(test_rdata_hostile),
	    cmocka_unit_test(test_issue_values),
	    cmocka_unit_test(test_issue_malformed),
	    cmocka_unit_test(test_issue_unterminated),
	    cmocka_unit_test(test_response_caa),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
