/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * fuzz_ct_spool.c - the CT spool file parser (ct/spool.h ct_spool_parse)
 * on hostile files: a spool directory is the daemon's input, written by a
 * hook certspotter runs.
 *
 * What parses is checked against the header's bounds, written back with
 * ct_spool_format, and must parse again to the same bytes (the writer and
 * the parser agree on every event the parser accepts).
 */
#include "fuzz.h"

#include "ct/spool.h"

static void
check_strings(const struct ct_event *ev)
{
	FUZZ_CHECK(fuzz_terminated(ev->event, sizeof(ev->event)));
	FUZZ_CHECK(fuzz_terminated(ev->summary, sizeof(ev->summary)));
	FUZZ_CHECK(fuzz_terminated(ev->watch_item, sizeof(ev->watch_item)));
	FUZZ_CHECK(fuzz_terminated(ev->issuer_dn, sizeof(ev->issuer_dn)));
	FUZZ_CHECK(fuzz_terminated(ev->subject_dn, sizeof(ev->subject_dn)));
	FUZZ_CHECK(fuzz_terminated(ev->serial, sizeof(ev->serial)));
	FUZZ_CHECK(fuzz_terminated(ev->log_uri, sizeof(ev->log_uri)));
	FUZZ_CHECK(fuzz_terminated(ev->cert_error, sizeof(ev->cert_error)));
	FUZZ_CHECK(strlen(ev->tbs_sha256) == 0 || strlen(ev->tbs_sha256) == 64);
	FUZZ_CHECK(strlen(ev->spki_sha256) == 0 ||
		   strlen(ev->spki_sha256) == 64);
	FUZZ_CHECK(ev->cert_len <= CT_CERT_DER_MAX);
	FUZZ_CHECK((ev->cert_state == CT_CERT_OK) == (ev->cert_len > 0));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ct_event ev, again;
	struct buf out = BUF_INIT, out2 = BUF_INIT;
	char err[128];

	memset(err, 'x', sizeof(err));
	if (ct_spool_parse((const char *)data, size, &ev, err, sizeof(err)) <
	    0) {
		FUZZ_CHECK(fuzz_terminated(err, sizeof(err)));
		return 0;
	}
	check_strings(&ev);
	ct_spool_format(&ev, &out);
	FUZZ_CHECK(out.len <= CT_SPOOL_MAX);
	FUZZ_CHECK(ct_spool_parse(out.s, out.len, &again, err, sizeof(err)) ==
		   0);
	ct_spool_format(&again, &out2);
	FUZZ_CHECK(out.len == out2.len && !memcmp(out.s, out2.s, out.len));
	buf_free(&out);
	buf_free(&out2);
	return 0;
}
