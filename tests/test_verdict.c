/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_verdict.c - the verdict table of docs/usage.md, row by row, as data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "probe/verdict.h"

#define S DNS_SEC_SECURE
#define I DNS_SEC_INSECURE
#define B DNS_SEC_BOGUS
#define N DNS_SEC_NONE

struct row {
	const char *what;
	struct verdict_input in;
	enum verdict want;
};

/* Fields: srv, srv_failed, addr, addr_failed, tlsa, tlsa_failed,
 * tlsa_usable, probe_ok, tls_refused, matched, key_refused. */
static const struct row rows[] = {
    /* ok */
    {"secure, usable, matched", {S, 0, S, 0, S, 0, 2, 1, 0, 1, 0}, VERDICT_OK},
    /* mismatch */
    {"secure, usable, no match",
     {S, 0, S, 0, S, 0, 1, 1, 0, 0, 0},
     VERDICT_MISMATCH},
    {"downgrade: TLS refused",
     {S, 0, S, 0, S, 0, 1, 0, 1, 0, 0},
     VERDICT_MISMATCH},
    {"downgrade wins over a failed probe",
     {S, 0, S, 0, S, 0, 3, 0, 1, 0, 0},
     VERDICT_MISMATCH},
    /* A stream past the bounds before TLS is reported as TLS withheld
     * (probe.h); a time-out is not (tests/test_probe.c runs both). */
    {"stream over the bounds before TLS, secure usable TLSA",
     {S, 0, S, 0, S, 0, 1, 0, 1, 0, 0},
     VERDICT_MISMATCH},
    {"time-out in the stream, secure usable TLSA",
     {S, 0, S, 0, S, 0, 1, 0, 0, 0, 0},
     VERDICT_UNREACHABLE},
    /* A leaf key refused as too costly before the server proved it holds
     * it (probe.h key_refused): shown, never matched, never unreachable,
     * even where a record names that very key (DANE-EE matches on the
     * key's hash alone, tests/test_probe.c test_huge_key). */
    {"key refused, a record names it",
     {S, 0, S, 0, S, 0, 1, 1, 0, 1, 1},
     VERDICT_MISMATCH},
    {"key refused, no record names it",
     {S, 0, S, 0, S, 0, 1, 1, 0, 0, 1},
     VERDICT_MISMATCH},
    {"key refused, secure denial of TLSA",
     {S, 0, S, 0, S, 0, 0, 1, 0, 0, 1},
     VERDICT_NO_TLSA},
    {"key refused, SRV insecure",
     {I, 0, S, 0, N, 0, 0, 1, 0, 0, 1},
     VERDICT_INSECURE},
    {"key refused, TLSA dropped",
     {S, 0, S, 0, N, 1, 0, 1, 0, 0, 1},
     VERDICT_UNREACHABLE},
    /* no-tlsa */
    {"secure denial of TLSA",
     {S, 0, S, 0, S, 0, 0, 1, 0, 0, 0},
     VERDICT_NO_TLSA},
    {"only unusable records",
     {S, 0, S, 0, S, 0, 0, 0, 0, 0, 0},
     VERDICT_NO_TLSA},
    {"no-tlsa whatever the probe",
     {S, 0, S, 0, S, 0, 0, 0, 1, 0, 0},
     VERDICT_NO_TLSA},
    /* insecure */
    {"SRV insecure", {I, 0, S, 0, N, 0, 0, 1, 0, 0, 0}, VERDICT_INSECURE},
    {"SRV insecure, TLSA found anyway",
     {I, 0, S, 0, S, 0, 1, 1, 0, 0, 0},
     VERDICT_INSECURE},
    {"address insecure", {S, 0, I, 0, N, 0, 0, 1, 0, 0, 0}, VERDICT_INSECURE},
    {"TLSA insecure", {S, 0, S, 0, I, 0, 0, 1, 0, 1, 0}, VERDICT_INSECURE},
    {"insecure although the probe failed",
     {I, 0, I, 0, N, 0, 0, 0, 0, 0, 0},
     VERDICT_INSECURE},
    {"insecure fallback denial",
     {I, 0, S, 0, N, 0, 0, 1, 1, 0, 0},
     VERDICT_INSECURE},
    /* bogus, in any of the three, whatever the rest */
    {"SRV bogus", {B, 0, N, 0, N, 0, 0, 0, 0, 0, 0}, VERDICT_BOGUS},
    {"address bogus", {S, 0, B, 0, N, 0, 0, 1, 0, 1, 0}, VERDICT_BOGUS},
    {"TLSA bogus", {S, 0, S, 0, B, 0, 0, 1, 0, 1, 0}, VERDICT_BOGUS},
    {"bogus beats insecure", {I, 0, B, 0, N, 0, 0, 0, 0, 0, 0}, VERDICT_BOGUS},
    {"bogus beats a failure", {S, 0, S, 0, B, 1, 0, 0, 0, 0, 0}, VERDICT_BOGUS},
    {"bogus TLSA under an insecure SRV",
     {I, 0, S, 0, B, 0, 0, 0, 0, 0, 0},
     VERDICT_BOGUS},
    /* unreachable: DNS failures first, never insecure or no-tlsa */
    {"SRV failed", {N, 1, N, 0, N, 0, 0, 0, 0, 0, 0}, VERDICT_UNREACHABLE},
    {"address failed", {S, 0, N, 1, N, 0, 0, 1, 0, 0, 0}, VERDICT_UNREACHABLE},
    {"TLSA dropped: not no-tlsa",
     {S, 0, S, 0, N, 1, 0, 1, 0, 0, 0},
     VERDICT_UNREACHABLE},
    {"TLSA dropped, insecure SRV: not insecure",
     {I, 0, S, 0, N, 1, 0, 1, 0, 0, 0},
     VERDICT_UNREACHABLE},
    {"address failed, insecure SRV: not insecure",
     {I, 0, N, 1, N, 0, 0, 0, 0, 0, 0},
     VERDICT_UNREACHABLE},
    {"TLSA never looked up",
     {S, 0, S, 0, N, 0, 0, 1, 0, 0, 0},
     VERDICT_UNREACHABLE},
    {"probe failed with usable records",
     {S, 0, S, 0, S, 0, 1, 0, 0, 0, 0},
     VERDICT_UNREACHABLE},
    {"probe failed, a stale match flag",
     {S, 0, S, 0, S, 0, 1, 0, 0, 1, 0},
     VERDICT_UNREACHABLE},
};

static void
test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum verdict got = verdict_endpoint(&rows[i].in);

		if (got != rows[i].want)
			fail_msg("%s: got %s, want %s", rows[i].what,
				 verdict_name(got), verdict_name(rows[i].want));
	}
}

static void
test_worse(void **state)
{
	/* The order of results, best first. */
	static const enum verdict order[] = {
	    VERDICT_OK,	   VERDICT_NO_TLSA,  VERDICT_INSECURE,
	    VERDICT_BOGUS, VERDICT_MISMATCH,
	};
	size_t i, j, n = sizeof(order) / sizeof(order[0]);

	(void)state;
	for (i = 0; i < n; i++) {
		for (j = 0; j < n; j++) {
			enum verdict w = order[i > j ? i : j];

			assert_int_equal(verdict_worse(order[i], order[j]), w);
		}
		/* unreachable and none lose to any result */
		assert_int_equal(verdict_worse(order[i], VERDICT_UNREACHABLE),
				 order[i]);
		assert_int_equal(verdict_worse(VERDICT_UNREACHABLE, order[i]),
				 order[i]);
		assert_int_equal(verdict_worse(VERDICT_NONE, order[i]),
				 order[i]);
		assert_int_equal(verdict_worse(order[i], VERDICT_NONE),
				 order[i]);
	}
	assert_int_equal(verdict_worse(VERDICT_NONE, VERDICT_UNREACHABLE),
			 VERDICT_UNREACHABLE);
	assert_int_equal(verdict_worse(VERDICT_UNREACHABLE, VERDICT_NONE),
			 VERDICT_UNREACHABLE);
	assert_int_equal(verdict_worse(VERDICT_NONE, VERDICT_NONE),
			 VERDICT_NONE);
	/* A domain: one mismatch among ok and unreachable endpoints. */
	assert_int_equal(
	    verdict_worse(verdict_worse(VERDICT_OK, VERDICT_UNREACHABLE),
			  VERDICT_MISMATCH),
	    VERDICT_MISMATCH);
}

/* The domain's verdict from its endpoints' (docs/usage.md "Verdicts"). */
struct domain_row {
	const char *what;
	enum verdict eps[4];
	size_t n;
	size_t bogus_services;
	enum verdict want;
};

#define OK VERDICT_OK
#define NT VERDICT_NO_TLSA
#define IN VERDICT_INSECURE
#define BO VERDICT_BOGUS
#define MM VERDICT_MISMATCH
#define UN VERDICT_UNREACHABLE
#define NO VERDICT_NONE

static const struct domain_row domain_rows[] = {
    {"no endpoint, nothing bogus", {NO}, 0, 0, UN},
    {"no endpoint, a bogus service", {NO}, 0, 1, BO},
    {"one ok", {OK}, 1, 0, OK},
    {"every endpoint unreachable", {UN, UN}, 2, 0, UN},
    {"unreachable does not count beside ok", {UN, OK, UN}, 3, 0, OK},
    {"unreachable does not count beside mismatch", {UN, MM}, 2, 0, MM},
    {"mismatch is the worst", {OK, MM, BO, IN}, 4, 0, MM},
    {"bogus over insecure", {IN, BO, OK}, 3, 0, BO},
    {"insecure over no-tlsa", {NT, IN, OK}, 3, 0, IN},
    {"no-tlsa over ok", {OK, NT}, 2, 0, NT},
    {"a bogus service over ok endpoints", {OK, OK}, 2, 1, BO},
    {"a bogus service under a mismatch", {OK, MM}, 2, 2, MM},
    {"a bogus service beside unreachable endpoints", {UN, UN}, 2, 1, BO},
    {"undecided endpoints only", {NO, NO}, 2, 0, UN},
    {"only the first n count", {OK, MM}, 1, 0, OK},
};

static void
test_domain(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(domain_rows) / sizeof(domain_rows[0]);
	     i++) {
		const struct domain_row *d = &domain_rows[i];
		enum verdict got =
		    verdict_domain(d->eps, d->n, d->bogus_services);

		if (got != d->want)
			fail_msg("%s: got %s, want %s", d->what,
				 verdict_name(got), verdict_name(d->want));
	}
	/* Order does not matter: every rotation of a row gives its verdict. */
	for (size_t i = 0; i < sizeof(domain_rows) / sizeof(domain_rows[0]);
	     i++) {
		const struct domain_row *d = &domain_rows[i];
		for (size_t r = 1; r < d->n; r++) {
			enum verdict rot[4];
			for (size_t j = 0; j < d->n; j++)
				rot[j] = d->eps[(j + r) % d->n];
			assert_int_equal(
			    verdict_domain(rot, d->n, d->bogus_services),
			    d->want);
		}
	}
}

static void
test_names(void **state)
{
	enum verdict v;

	(void)state;
	assert_null(verdict_name(VERDICT_NONE));
	assert_null(verdict_name((enum verdict)99));
	assert_string_equal(verdict_name(VERDICT_OK), "ok");
	assert_string_equal(verdict_name(VERDICT_NO_TLSA), "no-tlsa");
	assert_string_equal(verdict_name(VERDICT_MISMATCH), "mismatch");
	for (v = VERDICT_OK; v <= VERDICT_UNREACHABLE; v++)
		assert_int_equal(verdict_parse(verdict_name(v)), v);
	assert_int_equal(verdict_parse("OK"), VERDICT_NONE);
	assert_int_equal(verdict_parse(""), VERDICT_NONE);
	assert_int_equal(verdict_parse("mismatch "), VERDICT_NONE);
	assert_int_equal(verdict_parse(NULL), VERDICT_NONE);
}

static void
test_exit_codes(void **state)
{
	(void)state;
	assert_int_equal(verdict_exit_code(VERDICT_OK), 0);
	assert_int_equal(verdict_exit_code(VERDICT_NO_TLSA), 1);
	assert_int_equal(verdict_exit_code(VERDICT_INSECURE), 1);
	assert_int_equal(verdict_exit_code(VERDICT_MISMATCH), 2);
	assert_int_equal(verdict_exit_code(VERDICT_BOGUS), 2);
	assert_int_equal(verdict_exit_code(VERDICT_UNREACHABLE), 3);
	assert_int_equal(verdict_exit_code(VERDICT_NONE), 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),      cmocka_unit_test(test_worse),
	    cmocka_unit_test(test_domain),     cmocka_unit_test(test_names),
	    cmocka_unit_test(test_exit_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
