/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * verdict.c - the verdict rules of docs/usage.md "Verdicts": the DNS state
 * decides first, a DNS failure is never turned into advice, and only a
 * secure, usable TLSA RRset lets the probe decide.
 */
#include "probe/verdict.h"

#include <stddef.h>
#include <string.h>

enum verdict
verdict_endpoint(const struct verdict_input *in)
{
	if (in->srv == DNS_SEC_BOGUS || in->addr == DNS_SEC_BOGUS ||
	    in->tlsa == DNS_SEC_BOGUS)
		return VERDICT_BOGUS;
	/* Before insecure/no-tlsa: whoever drops TLSA queries must not turn
	 * a mismatch into set-up advice built from their own key. */
	if (in->srv_failed || in->addr_failed || in->tlsa_failed)
		return VERDICT_UNREACHABLE;
	if (in->srv == DNS_SEC_INSECURE || in->addr == DNS_SEC_INSECURE)
		return VERDICT_INSECURE;
	if (in->tlsa == DNS_SEC_INSECURE)
		return VERDICT_INSECURE;
	/* No TLSA state without a failure: the look-up was not made, so
	 * nothing is known; never report that as no-tlsa. */
	if (in->tlsa != DNS_SEC_SECURE)
		return VERDICT_UNREACHABLE;
	if (in->tlsa_usable == 0)
		return VERDICT_NO_TLSA;
	/* A secure usable RRset and no TLS: a downgrade (RFC 7673 §3.4) */
	if (in->tls_refused)
		return VERDICT_MISMATCH;
	if (!in->probe_ok)
		return VERDICT_UNREACHABLE;
	/* A key refused before it was used: shown, never proved, so never
	 * ok, and never unreachable either (or an interceptor would
	 * present one; docs/architecture.md "The handshake has the same
	 * bound"). */
	if (in->key_refused)
		return VERDICT_MISMATCH;
	return in->matched ? VERDICT_OK : VERDICT_MISMATCH;
}

/* Higher is worse: NONE < UNREACHABLE < every result. */
static int
severity(enum verdict v)
{
	switch (v) {
	case VERDICT_UNREACHABLE:
		return 1;
	case VERDICT_OK:
		return 2;
	case VERDICT_NO_TLSA:
		return 3;
	case VERDICT_INSECURE:
		return 4;
	case VERDICT_BOGUS:
		return 5;
	case VERDICT_MISMATCH:
		return 6;
	case VERDICT_NONE:
		break;
	}
	return 0;
}

enum verdict
verdict_worse(enum verdict a, enum verdict b)
{
	if (severity(a) == 0 && severity(b) == 0)
		return VERDICT_NONE;
	return severity(b) > severity(a) ? b : a;
}

enum verdict
verdict_domain(const enum verdict *endpoints, size_t n, size_t bogus_services)
{
	enum verdict v = bogus_services ? VERDICT_BOGUS : VERDICT_NONE;

	for (size_t i = 0; i < n; i++)
		v = verdict_worse(v, endpoints[i]);
	return v == VERDICT_NONE ? VERDICT_UNREACHABLE : v;
}

static const char *const names[] = {
    [VERDICT_OK] = "ok",
    [VERDICT_NO_TLSA] = "no-tlsa",
    [VERDICT_INSECURE] = "insecure",
    [VERDICT_BOGUS] = "bogus",
    [VERDICT_MISMATCH] = "mismatch",
    [VERDICT_UNREACHABLE] = "unreachable",
};

const char *
verdict_name(enum verdict v)
{
	if ((unsigned)v >= sizeof(names) / sizeof(names[0]))
		return NULL;
	return names[v];
}

enum verdict
verdict_parse(const char *word)
{
	size_t i;

	if (!word)
		return VERDICT_NONE;
	for (i = 1; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i] && strcmp(word, names[i]) == 0)
			return (enum verdict)i;
	return VERDICT_NONE;
}

int
verdict_exit_code(enum verdict v)
{
	switch (v) {
	case VERDICT_OK:
		return 0;
	case VERDICT_NO_TLSA:
	case VERDICT_INSECURE:
		return 1;
	case VERDICT_MISMATCH:
	case VERDICT_BOGUS:
		return 2;
	case VERDICT_UNREACHABLE:
	case VERDICT_NONE:
		break;
	}
	return 3;
}
