/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * verdict.h - the verdict rules of docs/usage.md in one place: given the DNSSEC
 * states, the TLSA set and what the probe saw, an endpoint's verdict; given
 * the endpoints, the domain's.  Pure functions, tested on a table of cases.
 */
#ifndef CERTWATCH_VERDICT_H
#define CERTWATCH_VERDICT_H

#include <stddef.h>

#include "dns/dns.h"

/* Ordered from best to worst for results; UNREACHABLE is not a result. */
enum verdict {
	VERDICT_NONE = 0, /* not decided (JSON null) */
	VERDICT_OK,
	VERDICT_NO_TLSA,
	VERDICT_INSECURE,
	VERDICT_BOGUS,
	VERDICT_MISMATCH,
	VERDICT_UNREACHABLE,
};

/* What is known of one endpoint when its verdict is decided. */
struct verdict_input {
	/* For each look-up: its DNSSEC state, DNS_SEC_NONE when it failed
	 * (SERVFAIL, time-out) or was not made; `*_failed` says it failed. */
	enum dns_sec srv; /* SRV RRset, or the SRV denial (fallback) */
	int srv_failed;
	enum dns_sec addr; /* A/AAAA of the target (and any CNAME) */
	int addr_failed;
	enum dns_sec tlsa; /* the TLSA answer (RRset or its denial) */
	int tlsa_failed;
	unsigned tlsa_usable; /* usable records in a secure RRset */
	int probe_ok;	      /* the TLS handshake completed */
	int tls_refused;      /* no <starttls/> offered, <failure/>, or the
			       * stream passed the bounds before TLS */
	int matched;	      /* a usable record matched the chain */
	/* The handshake was stopped at the leaf's key, refused as too costly
	 * to use (probe.h key_refused): the server never proved it holds
	 * it, so no record can match it, whatever `matched` says. */
	int key_refused;
};

enum verdict verdict_endpoint(const struct verdict_input *in);

/* The worse of two results (UNREACHABLE and NONE lose to any result). */
enum verdict verdict_worse(enum verdict a, enum verdict b);

/*
 * The domain's verdict (docs/usage.md "Verdicts"), from its endpoints'
 * verdicts (n of them) and the number of services whose DNS answers were
 * bogus: the worst of them, in the order mismatch, bogus, insecure,
 * no-tlsa, ok; a bogus service counts as `bogus`; an unreachable endpoint
 * does not count unless none could be checked.  VERDICT_UNREACHABLE when
 * nothing could be checked (or n is 0), never VERDICT_NONE.  The alert
 * rule passes an unreachable endpoint as its last verdict instead.
 */
enum verdict verdict_domain(const enum verdict *endpoints, size_t n,
			    size_t bogus_services);

/* "ok", "mismatch", "no-tlsa", "insecure", "bogus", "unreachable"; NULL
 * for VERDICT_NONE. */
const char *verdict_name(enum verdict v);

/* The inverse of verdict_name; VERDICT_NONE for unknown words. */
enum verdict verdict_parse(const char *word);

/* Monitoring-plugin exit code: 0 ok, 1 no-tlsa/insecure, 2 mismatch/bogus,
 * 3 unreachable/none. */
int verdict_exit_code(enum verdict v);

#endif
