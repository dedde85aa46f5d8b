/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * fuzz_dns.c - DNS answer parsing (dns/dns.h dns_parse_response) on hostile
 * packets, read for every type certwatch asks (A, AAAA, SRV, TLSA) and for
 * CNAME, then each TLSA record formatted with dns_tlsa_format() into a
 * buffer that fits and one that does not.
 *
 * Input: the packet as libunbound hands it over (the .bin files of
 * tests/data/dns).
 */
#include "fuzz.h"

#include <sys/socket.h>

#include "dns/dns.h"

static const uint16_t qtypes[] = {DNS_T_A,    DNS_T_AAAA,  DNS_T_SRV,
				  DNS_T_TLSA, DNS_T_CNAME, DNS_T_CAA};

static void
check_answer(const struct dns_answer *a, uint16_t qtype)
{
	FUZZ_CHECK(a->status >= DNS_ANSWER && a->status <= DNS_ERROR);
	FUZZ_CHECK(a->n <= 1024);
	FUZZ_CHECK(fuzz_terminated(a->cname, sizeof(a->cname)));
	FUZZ_CHECK(a->n == 0 || a->status == DNS_ANSWER);
	for (size_t i = 0; i < a->n; i++) {
		switch (qtype) {
		case DNS_T_SRV:
			FUZZ_CHECK(a->srv != NULL);
			FUZZ_CHECK(fuzz_terminated(a->srv[i].target,
						   sizeof(a->srv[i].target)));
			FUZZ_CHECK(strlen(a->srv[i].target) <= DNS_NAME_MAX);
			break;
		case DNS_T_TLSA: {
			const struct dns_tlsa *t = &a->tlsa[i];
			size_t cap = 16 + 2 * t->len;
			char *big = malloc(cap), small[12];
			unsigned sum = 0;

			FUZZ_CHECK(big != NULL);
			FUZZ_CHECK(t->len == 0 || t->data != NULL);
			for (size_t k = 0; k < t->len; k++)
				sum += t->data[k];
			FUZZ_CHECK(dns_tlsa_format(t, big, cap) == big);
			FUZZ_CHECK(strlen(big) >= 5 && strlen(big) < cap);
			FUZZ_CHECK(dns_tlsa_format(t, small, sizeof(small)) ==
				   small);
			FUZZ_CHECK(fuzz_terminated(small, sizeof(small)));
			free(big);
			(void)sum;
			break;
		}
		case DNS_T_A:
			FUZZ_CHECK(a->addr[i].family == AF_INET);
			break;
		case DNS_T_AAAA:
			FUZZ_CHECK(a->addr[i].family == AF_INET6);
			break;
		default:
			break;
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly `size` bytes, so ASan sees any read past it. */
	uint8_t *pkt = malloc(size ? size : 1);

	FUZZ_CHECK(pkt != NULL);
	memcpy(pkt, data, size);
	for (size_t i = 0; i < sizeof(qtypes) / sizeof(qtypes[0]); i++) {
		struct dns_answer a;
		char err[128];
		int rc;

		memset(&a, 0, sizeof(a));
		memset(err, 'x', sizeof(err));
		rc = dns_parse_response(pkt, size, qtypes[i], &a, err,
					sizeof(err));
		FUZZ_CHECK(rc == 0 || rc == -1);
		if (rc == 0)
			check_answer(&a, qtypes[i]);
		else
			FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) &&
				   err[0] != '\0');
		dns_answer_clear(&a);
	}
	free(pkt);
	return 0;
}
