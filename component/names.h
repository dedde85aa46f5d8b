/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * names.h - domain names and JIDs, normalised once at the edge.
 *
 * A domain is kept in two forms: the A-label (lower case) for DNS, SNI and
 * certificate DNS-ID checks, and the U-label for the stream's `to`,
 * XmppAddr and JIDs (RFC 7622 §3.2).  libidn2 (UTS #46, non-transitional)
 * converts.  Pure functions.
 */
#ifndef CERTWATCH_NAMES_H
#define CERTWATCH_NAMES_H

#include <stddef.h>

#include "dns/dns.h"

struct domain_name {
	char a[DNS_NAME_MAX + 1];     /* A-label, lower case, no final dot */
	char u[DNS_NAME_MAX * 4 + 1]; /* U-label, UTF-8 */
};

/*
 * Normalises what a person typed: any case, a trailing dot, Unicode or
 * A-labels; refuses IP literals, single labels, empty labels, labels over
 * 63 bytes, names over 253 bytes, characters not allowed in host names,
 * and anything over 1024 input bytes.  Returns 0, or -1 with a short
 * reason in err ("empty label", "not a valid IDN: ...").
 */
int names_domain(const char *input, size_t len, struct domain_name *out,
		 char *err, size_t errlen);

/* Bare JID of a full JID into out ("user@host/res" → "user@host"), the
 * domain part lower-cased.  Returns 0 or -1 (too long, empty). */
int names_bare_jid(const char *jid, char *out, size_t outlen);

#endif
