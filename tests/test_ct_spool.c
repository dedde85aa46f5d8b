/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_ct_spool.c - the CT spool file (ct/spool.h): round trip, hostile
 * files, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ct/spool.h"

static const char H1[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static struct ct_event *
full_event(void)
{
	struct ct_event *ev = calloc(1, sizeof(*ev));

	ct_event_init(ev);
	snprintf(ev->event, sizeof(ev->event), "discovered_cert");
	/* Every byte a value may hold but NUL: escapes, blanks at the ends,
	 * a line break, '%', UTF-8. */
	snprintf(ev->summary, sizeof(ev->summary),
		 " a%%b\nc\rd\te\x7f\x01 f\xc3\xa9 ");
	snprintf(ev->watch_item, sizeof(ev->watch_item), ".example.org");
	memcpy(ev->tbs_sha256, H1, 65);
	memcpy(ev->cert_sha256, H1, 65);
	snprintf(ev->issuer_dn, sizeof(ev->issuer_dn), "CN=R3,O=Let's Encrypt");
	snprintf(ev->subject_dn, sizeof(ev->subject_dn), "CN=example.org");
	snprintf(ev->serial, sizeof(ev->serial), "03ab");
	ev->has_not_before = ev->has_not_after = ev->has_entry_index = 1;
	ev->not_before = -INT64_MAX;
	ev->not_after = INT64_MAX;
	ev->entry_index = UINT64_C(9999999999999999999);
	snprintf(ev->log_uri, sizeof(ev->log_uri), "https://ct.example/log/");
	ev->cert_state = CT_CERT_OK;
	memcpy(ev->spki_sha256, H1, 65);
	for (size_t i = 0; i < 1001; i++)
		ev->cert_der[i] = (uint8_t)(i * 7);
	ev->cert_len = 1001;
	return ev;
}

static void
assert_same(const struct ct_event *a, const struct ct_event *b)
{
	assert_string_equal(a->event, b->event);
	assert_string_equal(a->summary, b->summary);
	assert_string_equal(a->watch_item, b->watch_item);
	assert_string_equal(a->tbs_sha256, b->tbs_sha256);
	assert_string_equal(a->cert_sha256, b->cert_sha256);
	assert_string_equal(a->issuer_dn, b->issuer_dn);
	assert_string_equal(a->subject_dn, b->subject_dn);
	assert_string_equal(a->serial, b->serial);
	assert_string_equal(a->log_uri, b->log_uri);
	assert_int_equal(a->has_not_before, b->has_not_before);
	assert_int_equal(a->has_not_after, b->has_not_after);
	assert_int_equal(a->has_entry_index, b->has_entry_index);
	assert_true(a->not_before == b->not_before);
	assert_true(a->not_after == b->not_after);
	assert_true(a->entry_index == b->entry_index);
	assert_int_equal(a->cert_state, b->cert_state);
	assert_string_equal(a->cert_error, b->cert_error);
	assert_string_equal(a->spki_sha256, b->spki_sha256);
	assert_int_equal(a->cert_len, b->cert_len);
	assert_memory_equal(a->cert_der, b->cert_der, a->cert_len);
	assert_int_equal(a->nchain, b->nchain);
	size_t total = 0;
	for (size_t i = 0; i < a->nchain; i++) {
		assert_int_equal(a->chain_len[i], b->chain_len[i]);
		total += a->chain_len[i];
	}
	assert_memory_equal(a->chain_der, b->chain_der, total);
}

static void
round_trip(const struct ct_event *ev)
{
	struct buf b = BUF_INIT;
	struct ct_event *back = calloc(1, sizeof(*back));
	char err[256] = "";

	ct_spool_format(ev, &b);
	assert_true(b.len <= CT_SPOOL_MAX);
	assert_int_equal(ct_spool_parse(b.s, b.len, back, err, sizeof(err)), 0);
	assert_same(ev, back);
	free(back);
	buf_free(&b);
}

static void
test_round_trip(void **state)
{
	struct ct_event *ev = full_event();

	round_trip(ev);
	/* Every base64 tail: 0, 1 and 2 bytes over a multiple of 3. */
	for (size_t n = 1; n <= 6; n++) {
		ev->cert_len = n;
		round_trip(ev);
	}
	/* The largest event: every field full of bytes that need escapes,
	 * the largest certificate. */
	memset(ev->summary, '\n', sizeof(ev->summary) - 1);
	ev->summary[sizeof(ev->summary) - 1] = '\0';
	memset(ev->issuer_dn, '%', sizeof(ev->issuer_dn) - 1);
	ev->issuer_dn[sizeof(ev->issuer_dn) - 1] = '\0';
	memset(ev->subject_dn, 0x7f, sizeof(ev->subject_dn) - 1);
	ev->subject_dn[sizeof(ev->subject_dn) - 1] = '\0';
	memset(ev->cert_error, 1, sizeof(ev->cert_error) - 1);
	ev->cert_error[sizeof(ev->cert_error) - 1] = '\0';
	ev->cert_len = CT_CERT_DER_MAX;
	round_trip(ev);
	/* The chain: one, then the most certificates and bytes. */
	ev->nchain = 1;
	ev->chain_len[0] = 5;
	memset(ev->chain_der, 0xa5, CT_CHAIN_DER_MAX);
	round_trip(ev);
	ev->nchain = CT_CHAIN_MAX;
	for (size_t i = 0; i < CT_CHAIN_MAX; i++)
		ev->chain_len[i] = CT_CHAIN_DER_MAX / CT_CHAIN_MAX;
	round_trip(ev);
	free(ev);
}

static void
test_malformed_event(void **state)
{
	struct ct_event *ev = calloc(1, sizeof(*ev));
	struct buf b = BUF_INIT;

	/* An unknown EVENT with nothing else: still a file. */
	ct_event_init(ev);
	snprintf(ev->event, sizeof(ev->event), "brand_new_event");
	ev->cert_state = CT_CERT_UNREADABLE;
	snprintf(ev->cert_error, sizeof(ev->cert_error),
		 "x: Permission denied");
	round_trip(ev);
	ct_spool_format(ev, &b);
	assert_string_equal(b.s,
			    CT_SPOOL_MAGIC "\n"
					   "event brand_new_event\n"
					   "cert_state unreadable\n"
					   "cert_error x: Permission denied\n"
					   "end\n");
	buf_free(&b);
	/* An empty EVENT is written (the key is required). */
	ev->event[0] = '\0';
	round_trip(ev);
	free(ev);
}

static int
parse_str(const char *text, char *err, size_t errlen)
{
	struct ct_event *ev = calloc(1, sizeof(*ev));
	int r = ct_spool_parse(text, strlen(text), ev, err, errlen);

	free(ev);
	return r;
}

#define HEAD CT_SPOOL_MAGIC "\n"

static void
test_hostile(void **state)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
	    {"", "empty"},
	    {"certwatch-ct 2\nevent x\ncert_state absent\nend\n", "version"},
	    {HEAD "event x\ncert_state absent\n", "end"},
	    {HEAD "event x\ncert_state absent\nend", "newline"},
	    {HEAD "event x\ncert_state absent\nend\nevent y\n", "after"},
	    {HEAD "event x\nevent y\ncert_state absent\nend\n", "twice"},
	    {HEAD "cert_state absent\nend\n", "event missing"},
	    {HEAD "event x\nend\n", "cert_state missing"},
	    {HEAD "event x\ncert_state maybe\nend\n", "cert_state"},
	    {HEAD "event x\ncert_state ok\nend\n", "without"},
	    {HEAD "event x\ncert_state absent\ncert AAAA\nend\n", "with"},
	    {HEAD "event x\ncert_state ok\ncert AAA\nend\n", "cert"},
	    {HEAD "event x\ncert_state ok\ncert A===\nend\n", "cert"},
	    {HEAD "event x\ncert_state ok\ncert AA=A\nend\n", "cert"},
	    {HEAD "event x\ncert_state ok\ncert A*AA\nend\n", "cert"},
	    {HEAD "event x\ncert_state absent\nchain AAAA\nend\n", "chain"},
	    {HEAD "event x\ncert_state ok\ncert AAAA\nchain AAAA,\nend\n",
	     "chain"},
	    {HEAD "event x\ncert_state ok\ncert AAAA\nchain ,AAAA\nend\n",
	     "chain"},
	    {HEAD "event x\ncert_state ok\ncert AAAA\nchain "
		  "AAAA,AAAA,AAAA,AAAA,AAAA\nend\n",
	     "chain"},
	    {HEAD "event x\ncert_state ok\ncert AAAA\nchain AA*A\nend\n",
	     "chain"},
	    {HEAD "event x%0\ncert_state absent\nend\n", "event"},
	    {HEAD "event x%\ncert_state absent\nend\n", "event"},
	    {HEAD "event x%zz\ncert_state absent\nend\n", "event"},
	    {HEAD "event x%00y\ncert_state absent\nend\n", "event"},
	    {HEAD "event x\ty\ncert_state absent\nend\n", "event"},
	    {HEAD "event x\ncert_state absent\ntbs_sha256 abc\nend\n",
	     "tbs_sha256"},
	    {HEAD "event x\ncert_state absent\ntbs_sha256 "
		  "0123456789ABCDEF0123456789abcdef0123456789abcdef01234567"
		  "89abcdef\nend\n",
	     "tbs_sha256"},
	    {HEAD "event x\ncert_state absent\nnot_before 1e9\nend\n",
	     "not_before"},
	    {HEAD "event x\ncert_state absent\nnot_before -\nend\n",
	     "not_before"},
	    {HEAD "event x\ncert_state absent\nnot_before "
		  "-9223372036854775808\nend\n",
	     "not_before"},
	    {HEAD "event x\ncert_state absent\nnot_after "
		  "9223372036854775808\nend\n",
	     "not_after"},
	    {HEAD "event x\ncert_state absent\nentry_index -1\nend\n",
	     "entry_index"},
	    {HEAD "event x\ncert_state absent\nentry_index "
		  "99999999999999999999\nend\n",
	     "entry_index"},
	    {HEAD "event x\ncert_state absent\nnokeyvalue\nend\n", "key"},
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (parse_str(bad[i].text, err, sizeof(err)) != -1)
			fail_msg("accepted case %zu (%s)", i, bad[i].why);
		if (strstr(err, bad[i].why) == NULL)
			fail_msg("case %zu: \"%s\" does not say %s", i, err,
				 bad[i].why);
	}
	/* NULL err is allowed. */
	assert_int_equal(parse_str("", NULL, 0), -1);
	/* Unknown keys are skipped (a later version's files). */
	assert_int_equal(parse_str(HEAD "event x\nfuture thing\ncert_state "
					"absent\nend\n",
				   err, sizeof(err)),
			 0);
}

static void
test_bounds(void **state)
{
	struct ct_event *ev = calloc(1, sizeof(*ev));
	struct buf b = BUF_INIT;
	char err[256];

	/* A value one byte over its field. */
	buf_puts(&b, HEAD "event ");
	for (size_t i = 0; i < sizeof(ev->event); i++)
		buf_putc(&b, 'e');
	buf_puts(&b, "\ncert_state absent\nend\n");
	assert_int_equal(ct_spool_parse(b.s, b.len, ev, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "event"));
	/* One byte fewer fits. */
	buf_reset(&b);
	buf_puts(&b, HEAD "event ");
	for (size_t i = 0; i + 1 < sizeof(ev->event); i++)
		buf_putc(&b, 'e');
	buf_puts(&b, "\ncert_state absent\nend\n");
	assert_int_equal(ct_spool_parse(b.s, b.len, ev, err, sizeof(err)), 0);
	/* A certificate one byte over CT_CERT_DER_MAX (base64 of 32769). */
	buf_reset(&b);
	buf_puts(&b, HEAD "event x\ncert_state ok\ncert ");
	for (size_t i = 0; i < (CT_CERT_DER_MAX + 3) / 3 * 4; i++)
		buf_putc(&b, 'A');
	buf_puts(&b, "\nend\n");
	assert_int_equal(ct_spool_parse(b.s, b.len, ev, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cert"));
	/* A file over CT_SPOOL_MAX, even of unknown keys. */
	buf_reset(&b);
	buf_puts(&b, HEAD "event x\ncert_state absent\n");
	while (b.len <= CT_SPOOL_MAX)
		buf_puts(&b,
			 "pad xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n");
	buf_puts(&b, "end\n");
	assert_int_equal(ct_spool_parse(b.s, b.len, ev, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "over"));
	/* A NUL inside a value: the length, not the NUL, ends the text. */
	static const char nul[] = HEAD "event a\0b\ncert_state absent\nend\n";
	assert_int_equal(
	    ct_spool_parse(nul, sizeof(nul) - 1, ev, err, sizeof(err)), -1);
	buf_free(&b);
	free(ev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_malformed_event),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
