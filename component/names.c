/* SPDX-License-Identifier: GPL-3.0-or-later */
/* names.c - domain normalisation (libidn2, UTS #46) and bare JIDs. */
#include "component/names.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <idn2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NAMES_MAX_INPUT 1024

/* Checks the A-label form: LDH labels, 1-63 bytes, at least two labels. */
static int
check_alabel(const char *a, char *err, size_t errlen)
{
	size_t total = strlen(a), labels = 0, n = 0;

	if (total == 0) {
		snprintf(err, errlen, "empty name");
		return -1;
	}
	if (total > DNS_NAME_MAX) {
		snprintf(err, errlen, "name longer than 253 bytes");
		return -1;
	}
	for (const char *p = a;; p++) {
		if (*p == '.' || *p == '\0') {
			if (n == 0) {
				snprintf(err, errlen, "empty label");
				return -1;
			}
			if (n > 63) {
				snprintf(err, errlen,
					 "label longer than 63 bytes");
				return -1;
			}
			if (p[-1] == '-' || p[-(long)n] == '-') {
				snprintf(err, errlen,
					 "label starts or ends with '-'");
				return -1;
			}
			labels++;
			n = 0;
			if (*p == '\0')
				break;
			continue;
		}
		if (!(isalnum((unsigned char)*p) || *p == '-')) {
			snprintf(err, errlen, "character '%c' not allowed",
				 isprint((unsigned char)*p) ? *p : '?');
			return -1;
		}
		n++;
	}
	if (labels < 2) {
		snprintf(err, errlen, "not a domain name (needs a dot)");
		return -1;
	}
	/* A top-level label is never all digits (RFC 3696 §2): such a name
	 * is an address, or a piece of one. */
	const char *tld = strrchr(a, '.') + 1;
	if (tld[strspn(tld, "0123456789")] == '\0') {
		snprintf(err, errlen, "an all-numeric top-level label");
		return -1;
	}
	return 0;
}

int
names_domain(const char *input, size_t len, struct domain_name *out, char *err,
	     size_t errlen)
{
	char in[NAMES_MAX_INPUT + 1];
	char *alabel = NULL, *ulabel = NULL;
	unsigned char tmp[16];
	int rc;

	if (len > NAMES_MAX_INPUT) {
		snprintf(err, errlen, "too long");
		return -1;
	}
	/* Trim blanks around, then one final dot. */
	while (len > 0 && isspace((unsigned char)input[0]))
		input++, len--;
	while (len > 0 && isspace((unsigned char)input[len - 1]))
		len--;
	if (len > 0 && input[len - 1] == '.')
		len--;
	if (len == 0) {
		snprintf(err, errlen, "empty name");
		return -1;
	}
	if (memchr(input, '\0', len)) {
		snprintf(err, errlen, "NUL byte in name");
		return -1;
	}
	memcpy(in, input, len);
	in[len] = '\0';
	if (inet_pton(AF_INET, in, tmp) == 1 ||
	    inet_pton(AF_INET6, in, tmp) == 1 || (in[0] == '[')) {
		snprintf(err, errlen, "an IP address is not a domain name");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c < 0x80 && (isspace(c) || c == '@' || c == '/' ||
				 c == ':' || iscntrl(c))) {
			snprintf(err, errlen, "character '%c' not allowed",
				 isprint(c) ? c : '?');
			return -1;
		}
	}
	rc = idn2_to_ascii_8z(in, &alabel,
			      IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
	if (rc != IDN2_OK) {
		snprintf(err, errlen, "not a valid domain name: %s",
			 idn2_strerror(rc));
		return -1;
	}
	for (char *p = alabel; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	/* UTS #46 mapping can make an IP literal of what was not one
	 * (superscript digits, a soft hyphen): check the result too. */
	if (inet_pton(AF_INET, alabel, tmp) == 1 ||
	    inet_pton(AF_INET6, alabel, tmp) == 1) {
		snprintf(err, errlen, "an IP address is not a domain name");
		idn2_free(alabel);
		return -1;
	}
	if (check_alabel(alabel, err, errlen) < 0) {
		idn2_free(alabel);
		return -1;
	}
	rc = idn2_to_unicode_8z8z(alabel, &ulabel, 0);
	if (rc != IDN2_OK) {
		snprintf(err, errlen, "not a valid domain name: %s",
			 idn2_strerror(rc));
		idn2_free(alabel);
		return -1;
	}
	/* RFC 5891 §5.4: an A-label must be the encoding of its U-label.
	 * libidn2 decodes labels such as xn--bnk (U+3222, which UTS #46 maps
	 * away) without complaint; the U-label would then show a name that
	 * reads as another one and cannot be typed back. */
	char *again = NULL;
	rc = idn2_to_ascii_8z(ulabel, &again,
			      IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
	if (rc != IDN2_OK || strcasecmp(again, alabel) != 0) {
		snprintf(err, errlen,
			 "not a valid domain name: an A-label "
			 "that is not the encoding of its Unicode "
			 "form");
		idn2_free(again);
		idn2_free(alabel);
		idn2_free(ulabel);
		return -1;
	}
	idn2_free(again);
	if (strlen(ulabel) >= sizeof(out->u)) {
		snprintf(err, errlen, "name too long");
		idn2_free(alabel);
		idn2_free(ulabel);
		return -1;
	}
	snprintf(out->a, sizeof(out->a), "%s", alabel);
	snprintf(out->u, sizeof(out->u), "%s", ulabel);
	idn2_free(alabel);
	idn2_free(ulabel);
	return 0;
}

int
names_bare_jid(const char *jid, char *out, size_t outlen)
{
	size_t n = strcspn(jid, "/");
	const char *at;

	if (n == 0 || n >= outlen)
		return -1;
	memcpy(out, jid, n);
	out[n] = '\0';
	at = strchr(out, '@');
	for (char *d = at ? (char *)at + 1 : out; *d; d++)
		*d = (char)tolower((unsigned char)*d);
	if (at != NULL && (at == out || at[1] == '\0'))
		return -1;
	return 0;
}
