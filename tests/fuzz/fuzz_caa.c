/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * fuzz_caa.c - the CAA parsers (dns/caa.h) on hostile RDATA: the input is
 * one CAA RDATA (flags, tag length, tag, value); when it parses, its value
 * goes through dns_caa_issue_parse() too, and the input as a whole as well
 * (so the issue grammar is fuzzed without needing a valid RDATA).
 */
#include "fuzz.h"

#include "dns/caa.h"

static void
issue(const char *v, size_t n)
{
	struct dns_caa_issue i;
	char err[64];
	int rc;

	memset(err, 'x', sizeof(err));
	rc = dns_caa_issue_parse(v, n, &i, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == -1) {
		FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) && err[0] != '\0');
		return;
	}
	FUZZ_CHECK(fuzz_terminated(i.issuer, sizeof(i.issuer)));
	FUZZ_CHECK(i.forbids == (i.issuer[0] == '\0'));
	FUZZ_CHECK(fuzz_terminated(i.accounturi, sizeof(i.accounturi)));
	FUZZ_CHECK(!i.has_accounturi || i.accounturi[0] != '\0');
	FUZZ_CHECK(
	    fuzz_terminated(i.validationmethods, sizeof(i.validationmethods)));
	FUZZ_CHECK(i.nparams >=
		   (size_t)(i.has_accounturi + i.has_validationmethods));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly `size` bytes, so ASan sees any read past it. */
	uint8_t *rd = malloc(size ? size : 1);
	struct dns_caa c;
	char err[64];
	int rc;

	FUZZ_CHECK(rd != NULL);
	memcpy(rd, data, size);
	memset(err, 'x', sizeof(err));
	rc = dns_caa_parse(rd, size, &c, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		size_t tl = strlen(c.tag);

		FUZZ_CHECK(tl >= 1 && tl <= DNS_CAA_TAG_MAX);
		FUZZ_CHECK(c.value_len == size - 2 - tl);
		FUZZ_CHECK(strlen(c.value) == c.value_len);
		FUZZ_CHECK(c.critical == ((c.flags & 0x80) != 0));
		issue(c.value, c.value_len);
	} else {
		FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) && err[0] != '\0');
	}
	issue((const char *)rd, size);
	free(rd);
	return 0;
}
