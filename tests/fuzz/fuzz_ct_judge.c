/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * fuzz_ct_judge.c - the judge (ct/judge.h) on hostile certificates: the
 * DER comes from a CT log, through certspotter and the spool.
 *
 * The first byte chooses the domain's records and seen keys; the rest is
 * the certificate.  Names must be bounded, terminated host names; a
 * judgement must be one of the four, an alarm only for unpublished.
 */
#include "fuzz.h"

#include "ct/judge.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ct_event ev;
	static char names[8][CT_NAME_LEN];
	static const uint8_t key[32] = {1, 2, 3};
	const uint8_t(*seen)[32] = &key;
	struct dns_tlsa t[2] = {{3, 1, 1, 32, (uint8_t *)key},
				{2, 0, 1, 32, (uint8_t *)key}};
	struct ct_judgement j;

	if (size < 1 || size - 1 > CT_CERT_DER_MAX)
		return 0;
	int n = ct_cert_names(data + 1, size - 1, names, 8);
	FUZZ_CHECK(n >= -1 && n <= 8);
	for (int i = 0; i < n; i++) {
		FUZZ_CHECK(fuzz_terminated(names[i], CT_NAME_LEN));
		FUZZ_CHECK(names[i][0] != '\0');
		(void)ct_name_covers(names[i], "example.org");
	}
	ct_event_init(&ev);
	snprintf(ev.event, sizeof(ev.event), "discovered_cert");
	ev.cert_state = CT_CERT_OK;
	memcpy(ev.cert_der, data + 1, size - 1);
	ev.cert_len = size - 1;
	ev.has_not_before = data[0] & 1;
	struct ct_domain_view d = {"example.org",      t,
				   (data[0] >> 1) % 3, seen,
				   (data[0] >> 3) & 1, (data[0] >> 4) & 1};
	ct_judge(&ev, &d, &j);
	FUZZ_CHECK(j.judged < CT_JUDGED_COUNT);
	FUZZ_CHECK(!j.alarm || j.judged == CT_UNPUBLISHED);
	FUZZ_CHECK(!(j.alarm && j.info));
	return 0;
}
