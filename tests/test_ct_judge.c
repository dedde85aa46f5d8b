/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_ct_judge.c - judging a logged certificate (ct/judge.h): names under
 * RFC 6125 with wildcards, known / unpublished (alarm or info) / new /
 * malformed, certificate and precertificate as one event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "ct/judge.h"
#include "probe/dane.h"

#define T0 ((time_t)1750000000)

struct kc { /* a key and a certificate made with it */
	gnutls_x509_privkey_t key;
	uint8_t der[4096];
	size_t len;
	uint8_t spki[32], cert_hash[32];
};

static struct kc op, evil, next;

static void
new_key(struct kc *k)
{
	assert_int_equal(gnutls_x509_privkey_init(&k->key), 0);
	assert_int_equal(gnutls_x509_privkey_generate(
			     k->key, GNUTLS_PK_ECDSA,
			     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
			     0),
			 0);
}

/* A self-signed leaf with k's key; `sans` NUL-separated DNS-IDs, then
 * the CN.  Its DER in k->der. */
static void
issue(struct kc *k, const char *sans, const char *dn)
{
	gnutls_x509_crt_t c;
	uint8_t ser[2] = {0x11, 0x22};
	size_t len = sizeof(k->der);

	assert_int_equal(gnutls_x509_crt_init(&c), 0);
	gnutls_x509_crt_set_version(c, 3);
	assert_int_equal(gnutls_x509_crt_set_key(c, k->key), 0);
	gnutls_x509_crt_set_serial(c, ser, 2);
	assert_int_equal(gnutls_x509_crt_set_dn(c, dn, NULL), 0);
	gnutls_x509_crt_set_activation_time(c, T0);
	gnutls_x509_crt_set_expiration_time(c, T0 + 90 * 86400);
	for (const char *s = sans; *s; s += strlen(s) + 1)
		assert_int_equal(gnutls_x509_crt_set_subject_alt_name(
				     c, GNUTLS_SAN_DNSNAME, s,
				     (unsigned)strlen(s), GNUTLS_FSAN_APPEND),
				 0);
	assert_int_equal(
	    gnutls_x509_crt_sign2(c, c, k->key, GNUTLS_DIG_SHA256, 0), 0);
	assert_int_equal(
	    gnutls_x509_crt_export(c, GNUTLS_X509_FMT_DER, k->der, &len), 0);
	k->len = len;
	gnutls_x509_crt_deinit(c);
	assert_int_equal(dane_spki_sha256(k->der, k->len, k->spki), 0);
	assert_int_equal(
	    gnutls_hash_fast(GNUTLS_DIG_SHA256, k->der, k->len, k->cert_hash),
	    0);
}

static int
setup(void **state)
{
	(void)state;
	new_key(&op);
	new_key(&evil);
	new_key(&next);
	issue(&op, "example.org\0*.example.org\0", "CN=example.org");
	issue(&evil, "example.org\0", "CN=example.org");
	issue(&next, "example.org\0", "CN=example.org");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	gnutls_x509_privkey_deinit(op.key);
	gnutls_x509_privkey_deinit(evil.key);
	gnutls_x509_privkey_deinit(next.key);
	return 0;
}

static void
test_name_covers(void **state)
{
	static const struct {
		const char *id, *name;
		int want;
	} t[] = {
	    {"example.org", "example.org", 1},
	    {"EXAMPLE.org.", "example.ORG", 1},
	    {"example.org", "xmpp.example.org", 0},
	    {"*.example.org", "xmpp.example.org", 1},
	    {"*.example.org", "example.org", 0},
	    {"*.example.org", "a.b.example.org", 0},
	    {"*.example.org", ".example.org", 0},
	    {"*.org", "example.org", 0},
	    {"x*.example.org", "xa.example.org", 0},
	    {"*.*.example.org", "a.b.example.org", 0},
	    {"a.*.example.org", "a.b.example.org", 0},
	    {"*", "org", 0},
	    {"", "", 0},
	    {"*.", "a.", 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (ct_name_covers(t[i].id, t[i].name) != t[i].want)
			fail_msg("%s covers %s: want %d", t[i].id, t[i].name,
				 t[i].want);
	}
}

static void
test_cert_names(void **state)
{
	char names[4][CT_NAME_LEN];
	struct kc k;
	uint8_t junk[64];

	(void)state;
	assert_int_equal(ct_cert_names(op.der, op.len, names, 4), 2);
	assert_string_equal(names[0], "example.org");
	assert_string_equal(names[1], "*.example.org");
	assert_int_equal(ct_cert_names(op.der, op.len, names, 1), 1);
	/* Only the CN when there is no DNS-ID (RFC 6125 §6.4.4); names that
	 * are not host names are skipped. */
	k.key = next.key;
	issue(&k, "", "CN=Xmpp.Example.org");
	assert_int_equal(ct_cert_names(k.der, k.len, names, 4), 1);
	assert_string_equal(names[0], "xmpp.example.org");
	issue(&k, "a b.example.org\0ok.example.org\0", "CN=cn.example.org");
	assert_int_equal(ct_cert_names(k.der, k.len, names, 4), 1);
	assert_string_equal(names[0], "ok.example.org");
	memset(junk, 0x30, sizeof(junk));
	assert_int_equal(ct_cert_names(junk, sizeof(junk), names, 4), -1);
	assert_int_equal(ct_cert_names(junk, 0, names, 4), -1);
}

static void
event_of(struct ct_event *ev, const struct kc *k)
{
	ct_event_init(ev);
	snprintf(ev->event, sizeof(ev->event), "discovered_cert");
	ev->cert_state = CT_CERT_OK;
	memcpy(ev->cert_der, k->der, k->len);
	ev->cert_len = k->len;
	ev->has_not_before = 1;
	ev->not_before = T0;
}

static void
rec(struct dns_tlsa *t, int u, int s, const uint8_t *h)
{
	t->usage = (uint8_t)u;
	t->selector = (uint8_t)s;
	t->mtype = 1;
	t->len = 32;
	t->data = (uint8_t *)h;
}

static void
judge(const struct kc *k, const struct ct_domain_view *d, enum ct_judged want,
      int alarm)
{
	static struct ct_event ev;
	struct ct_judgement j;

	event_of(&ev, k);
	ct_judge(&ev, d, &j);
	if (j.judged != want || j.alarm != alarm ||
	    j.info != (want == CT_NEW || (want == CT_UNPUBLISHED && !alarm)))
		fail_msg("judged %s alarm %d info %d, want %s alarm %d",
			 ct_judged_word(j.judged), j.alarm, j.info,
			 ct_judged_word(want), alarm);
}

static void
test_judge(void **state)
{
	struct dns_tlsa r[2];
	uint8_t seen[2][32];
	struct ct_domain_view d = {
	    "example.org", r, 1, (const uint8_t(*)[32])seen, 1, 0};

	(void)state;
	memcpy(seen[0], op.spki, 32);
	/* DANE-EE SPKI record of the operator's key. */
	rec(&r[0], 3, 1, op.spki);
	judge(&op, &d, CT_KNOWN, 0);
	/* The impostor's key, on a domain that shows no sign of publishing
	 * ahead: a renewal with a new key is as likely, so info. */
	judge(&evil, &d, CT_UNPUBLISHED, 0);
	/* Its last change kept the key: the alarm. */
	d.kept_key = 1;
	judge(&evil, &d, CT_UNPUBLISHED, 1);
	d.kept_key = 0;
	/* A prepared next key in TLSA, not seen yet: the alarm; and the
	 * prepared key itself is known. */
	rec(&r[1], 3, 1, next.spki);
	d.ntlsa = 2;
	judge(&evil, &d, CT_UNPUBLISHED, 1);
	judge(&next, &d, CT_KNOWN, 0);
	/* A certificate record (selector 0) among them: info, not alarm. */
	rec(&r[0], 3, 0, op.cert_hash);
	judge(&evil, &d, CT_UNPUBLISHED, 0);
	judge(&op, &d, CT_KNOWN, 0);
	/* PKIX-EE records are matched on the key too. */
	rec(&r[0], 1, 1, op.spki);
	d.ntlsa = 1;
	judge(&op, &d, CT_KNOWN, 0);
	/* A key seen on the endpoints, with no TLSA for it: known. */
	d.ntlsa = 0;
	judge(&op, &d, CT_KNOWN, 0);
	/* No TLSA, a key never seen: new, info. */
	judge(&evil, &d, CT_NEW, 0);
	d.nseen = 0;
	judge(&op, &d, CT_NEW, 0);
}

static void
test_malformed(void **state)
{
	static struct ct_event ev;
	struct ct_domain_view d = {"example.org", NULL, 0, NULL, 0, 0};
	struct ct_judgement j;

	(void)state;
	event_of(&ev, &op);
	ev.cert_state = CT_CERT_MALFORMED;
	ct_judge(&ev, &d, &j);
	assert_int_equal(j.judged, CT_MALFORMED);
	assert_false(j.alarm || j.info);
	event_of(&ev, &op);
	snprintf(ev.event, sizeof(ev.event), "error");
	ct_judge(&ev, &d, &j);
	assert_int_equal(j.judged, CT_MALFORMED);
	event_of(&ev, &op);
	memset(ev.cert_der, 0x30, 100);
	ct_judge(&ev, &d, &j);
	assert_int_equal(j.judged, CT_MALFORMED);
	assert_false(j.alarm || j.info);
	assert_string_equal(ct_judged_word(CT_JUDGED_COUNT), "malformed");
}

static void
test_tbs_once(void **state)
{
	static struct ct_tbs_set s;
	char h[65];

	(void)state;
	memset(&s, 0, sizeof(s));
	snprintf(h, sizeof(h), "%064x", 1);
	/* The precertificate, then its certificate: one event. */
	assert_int_equal(ct_tbs_seen(&s, h), 0);
	assert_int_equal(ct_tbs_seen(&s, h), 1);
	/* No TBS_SHA256, or garbage: never merged. */
	assert_int_equal(ct_tbs_seen(&s, ""), 0);
	assert_int_equal(ct_tbs_seen(&s, ""), 0);
	assert_int_equal(ct_tbs_seen(&s, "zz"), 0);
	/* Bounded: the oldest is forgotten. */
	for (unsigned i = 2; i < CT_TBS_REMEMBER + 2; i++) {
		char o[65];
		snprintf(o, sizeof(o), "%064x", i);
		assert_int_equal(ct_tbs_seen(&s, o), 0);
	}
	assert_int_equal(ct_tbs_seen(&s, h), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_covers),
	    cmocka_unit_test(test_cert_names),
	    cmocka_unit_test(test_judge),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_tbs_once),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
