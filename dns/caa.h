/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * caa.h - pure, bounded parser of CAA resource records (RFC 8659) and of
 * the value of their `issue` / `issuewild` properties, with the RFC 8657
 * parameters `accounturi` and `validationmethods`.
 *
 * The input is RDATA as a resolver handed it over: hostile.  Nothing here
 * allocates, logs or reads past the length given; errors are returned as
 * -1 with words in the caller's buffer.
 */
#ifndef CERTWATCH_DNS_CAA_H
#define CERTWATCH_DNS_CAA_H

#include <stddef.h>
#include <stdint.h>

#define DNS_CAA_TAG_MAX 15	   /* RFC 8659 §4.1: tag length 1-15 */
#define DNS_CAA_VALUE_MAX 1024	   /* longer values are refused, not cut */
#define DNS_CAA_FLAG_CRITICAL 0x80 /* RFC 8659 §4.1, bit 0 */

enum dns_caa_kind {
	DNS_CAA_OTHER = 0, /* iodef, contactemail, unknown tags, ... */
	DNS_CAA_ISSUE,
	DNS_CAA_ISSUEWILD,
};

/* One property: RFC 8659 §4.1. */
struct dns_caa {
	uint8_t flags;
	int critical;		       /* the Issuer Critical flag is set */
	enum dns_caa_kind kind;	       /* from the tag, case-insensitively */
	char tag[DNS_CAA_TAG_MAX + 1]; /* lower case */
	size_t value_len;
	char value[DNS_CAA_VALUE_MAX + 1]; /* NUL-terminated copy; the
					    * parser refuses a NUL in it */
};

/* The value of an issue or issuewild property: RFC 8659 §4.2/§4.3. */
struct dns_caa_issue {
	int forbids;	    /* no issuer-domain-name: no CA may issue */
	char issuer[254];   /* lower case; "" when forbids */
	int has_accounturi; /* RFC 8657 §3 */
	char accounturi[DNS_CAA_VALUE_MAX + 1];
	int has_validationmethods;		       /* RFC 8657 §4 */
	char validationmethods[DNS_CAA_VALUE_MAX + 1]; /* as written:
							* label *("," label) */
	size_t nparams; /* all parameters, known or not */
};

/*
 * Parses one CAA RDATA (`len` bytes).  Returns 0, or -1 with a reason in
 * err (errlen bytes) for a tag that is empty, longer than 15 or not
 * alphanumeric, a tag length past the RDATA, a value with a NUL or longer
 * than DNS_CAA_VALUE_MAX.
 */
int dns_caa_parse(const uint8_t *rdata, size_t len, struct dns_caa *out,
		  char *err, size_t errlen);

/*
 * Parses the value of an issue/issuewild property (`len` bytes, need not
 * be terminated).  Returns 0, or -1 with a reason in err when the value
 * does not follow RFC 8659 §4.2's grammar, a parameter appears twice
 * (RFC 8657 leaves a repeated accounturi without a meaning: refused), or a
 * validationmethods list does not follow RFC 8657 §4.  A malformed value
 * must be judged as neither bound nor forbidding.
 */
int dns_caa_issue_parse(const char *value, size_t len,
			struct dns_caa_issue *out, char *err, size_t errlen);

#endif
