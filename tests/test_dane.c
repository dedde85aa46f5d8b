/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_dane.c - the DANE matcher on certificates made at test time
 * (ECDSA P-256 with GnuTLS): every selector and matching type, and the
 * negative cases of NOTES.md that libgnutls-dane gets wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "probe/dane.h"

#define NOW ((time_t)1750000000) /* 2025-06-15 */
#define DAY 86400L

struct tcert {
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
	uint8_t *der;
	size_t len;
};

struct spec {
	const char *dn;
	int ca;
	const char *dns;   /* a DNS-ID, or NULL */
	const char *xmpp;  /* an XmppAddr, or NULL */
	const char *srvid; /* an SRVName (IA5 "_xmpp-client.x"), or NULL */
	long from, to;	   /* validity, seconds from NOW */
	const struct tcert *ski_of; /* copy its key id (a forgery) */
	const struct tcert *key_of; /* reuse its key (a cross-signature) */
	const char *eku;	    /* one extended key usage, or NULL */
};

static struct tcert ca, other_ca, inter, fake_ca, leaf, leaf_i, evil_leaf,
    expired_leaf, noname_leaf, forged_leaf, self_leaf, xmpp_leaf, srvid_leaf,
    target_leaf, expired_inter, leaf_ei, cross_inter, leaf_loop, client_leaf;

/* Look-alike CAs: one name, one key, certifying one another */
#define NLOOP 15
static struct tcert loop[NLOOP];

static const struct dane_names names = {"example.org", "example.org", NULL, 0};

static void make(struct tcert *t, const struct spec *s,
		 const struct tcert *issuer)
{
	static unsigned serial = 1;
	uint8_t id[64], ser[4];
	size_t idlen = sizeof(id);
	gnutls_datum_t d;

	assert_int_equal(gnutls_x509_privkey_init(&t->key), 0);
	if (s->key_of)
		assert_int_equal(
		    gnutls_x509_privkey_cpy(t->key, s->key_of->key), 0);
	else
		assert_int_equal(
		    gnutls_x509_privkey_generate(
			t->key, GNUTLS_PK_ECDSA,
			GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
		    0);
	assert_int_equal(gnutls_x509_crt_init(&t->crt), 0);
	assert_int_equal(gnutls_x509_crt_set_version(t->crt, 3), 0);
	assert_int_equal(gnutls_x509_crt_set_key(t->crt, t->key), 0);
	serial++;
	ser[0] = 0x10;
	ser[1] = (uint8_t)(serial >> 16);
	ser[2] = (uint8_t)(serial >> 8);
	ser[3] = (uint8_t)serial;
	assert_int_equal(gnutls_x509_crt_set_serial(t->crt, ser, 4), 0);
	assert_int_equal(gnutls_x509_crt_set_dn(t->crt, s->dn, NULL), 0);
	assert_int_equal(
	    gnutls_x509_crt_set_activation_time(t->crt, NOW + s->from), 0);
	assert_int_equal(
	    gnutls_x509_crt_set_expiration_time(t->crt, NOW + s->to), 0);
	assert_int_equal(
	    gnutls_x509_crt_set_basic_constraints(t->crt, s->ca, -1), 0);
	assert_int_equal(
	    gnutls_x509_crt_set_key_usage(
		t->crt, s->ca ? GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN
			      : GNUTLS_KEY_DIGITAL_SIGNATURE),
	    0);
	if (s->ski_of)
		assert_int_equal(gnutls_x509_crt_get_subject_key_id(
				     s->ski_of->crt, id, &idlen, NULL),
				 0);
	else
		assert_int_equal(
		    gnutls_x509_crt_get_key_id(t->crt, 0, id, &idlen), 0);
	assert_int_equal(gnutls_x509_crt_set_subject_key_id(t->crt, id, idlen),
			 0);
	if (s->dns)
		assert_int_equal(gnutls_x509_crt_set_subject_alt_name(
				     t->crt, GNUTLS_SAN_DNSNAME, s->dns,
				     (unsigned)strlen(s->dns),
				     GNUTLS_FSAN_APPEND),
				 0);
	if (s->eku)
		assert_int_equal(
		    gnutls_x509_crt_set_key_purpose_oid(t->crt, s->eku, 0), 0);
	if (s->xmpp)
		assert_int_equal(
		    gnutls_x509_crt_set_subject_alt_othername(
			t->crt, "1.3.6.1.5.5.7.8.5", s->xmpp,
			(unsigned)strlen(s->xmpp),
			GNUTLS_FSAN_APPEND | GNUTLS_FSAN_ENCODE_UTF8_STRING),
		    0);
	if (s->srvid) {
		uint8_t ia5[128];
		size_t n = strlen(s->srvid);

		assert_true(n < 120);
		ia5[0] = 0x16;
		ia5[1] = (uint8_t)n;
		memcpy(ia5 + 2, s->srvid, n);
		assert_int_equal(gnutls_x509_crt_set_subject_alt_othername(
				     t->crt, "1.3.6.1.5.5.7.8.7", ia5,
				     (unsigned)n + 2, GNUTLS_FSAN_APPEND),
				 0);
	}
	assert_int_equal(gnutls_x509_crt_sign2(t->crt,
					       issuer ? issuer->crt : t->crt,
					       issuer ? issuer->key : t->key,
					       GNUTLS_DIG_SHA256, 0),
			 0);
	assert_int_equal(
	    gnutls_x509_crt_export2(t->crt, GNUTLS_X509_FMT_DER, &d), 0);
	t->der = malloc(d.size);
	assert_non_null(t->der);
	memcpy(t->der, d.data, d.size);
	t->len = d.size;
	gnutls_free(d.data);
	/* Read back, so the object is what a peer would parse */
	gnutls_x509_crt_deinit(t->crt);
	d.data = t->der;
	d.size = (unsigned)t->len;
	assert_int_equal(gnutls_x509_crt_init(&t->crt), 0);
	assert_int_equal(
	    gnutls_x509_crt_import(t->crt, &d, GNUTLS_X509_FMT_DER), 0);
}

static void drop(struct tcert *t)
{
	gnutls_x509_crt_deinit(t->crt);
	gnutls_x509_privkey_deinit(t->key);
	free(t->der);
}

static int setup(void **state)
{
	const struct spec s_ca = {.dn = "CN=Operator CA,O=Example",
				  .ca = 1,
				  .from = -100 * DAY,
				  .to = 3000 * DAY};
	const struct spec s_other = {.dn = "CN=Public CA,O=Somebody",
				     .ca = 1,
				     .from = -100 * DAY,
				     .to = 3000 * DAY};
	const struct spec s_inter = {.dn = "CN=Operator Intermediate,O=Example",
				     .ca = 1,
				     .from = -50 * DAY,
				     .to = 1000 * DAY};
	const struct spec s_expinter = {.dn = "CN=Old Intermediate,O=Example",
					.ca = 1,
					.from = -500 * DAY,
					.to = -DAY};
	const struct spec s_leaf = {.dn = "CN=example.org",
				    .dns = "example.org",
				    .from = -10 * DAY,
				    .to = 80 * DAY};
	const struct spec s_expired = {.dn = "CN=example.org",
				       .dns = "example.org",
				       .from = -100 * DAY,
				       .to = -DAY};
	const struct spec s_noname = {.dn = "CN=other.example",
				      .dns = "other.example",
				      .from = -10 * DAY,
				      .to = 80 * DAY};
	const struct spec s_xmpp = {.dn = "CN=XMPP",
				    .xmpp = "example.org",
				    .from = -10 * DAY,
				    .to = 80 * DAY};
	const struct spec s_srvid = {.dn = "CN=SRV",
				     .srvid = "_xmpp-client.example.org",
				     .from = -10 * DAY,
				     .to = 80 * DAY};
	const struct spec s_target = {.dn = "CN=xmpp.hoster.example",
				      .dns = "xmpp.hoster.example",
				      .from = -10 * DAY,
				      .to = 80 * DAY};
	struct spec s_fake = s_ca;
	struct spec s_self = s_leaf;
	struct spec s_cross = s_inter;
	struct spec s_loop = s_other;
	struct spec s_client = s_leaf;
	size_t i;

	(void)state;
	s_fake.ski_of = &ca;
	s_self.ca = 0;
	make(&ca, &s_ca, NULL);
	make(&other_ca, &s_other, NULL);
	make(&inter, &s_inter, &ca);
	make(&expired_inter, &s_expinter, &ca);
	make(&fake_ca, &s_fake, NULL);
	make(&leaf, &s_leaf, &ca);
	make(&leaf_i, &s_leaf, &inter);
	make(&leaf_ei, &s_leaf, &expired_inter);
	make(&evil_leaf, &s_leaf, &other_ca);
	make(&expired_leaf, &s_expired, &ca);
	make(&noname_leaf, &s_noname, &ca);
	make(&forged_leaf, &s_leaf, &fake_ca);
	make(&self_leaf, &s_self, NULL);
	make(&xmpp_leaf, &s_xmpp, &ca);
	make(&srvid_leaf, &s_srvid, &ca);
	make(&target_leaf, &s_target, &ca);
	s_cross.key_of = &inter;
	make(&cross_inter, &s_cross, &other_ca);
	s_loop.dn = "CN=Loop CA";
	make(&loop[0], &s_loop, NULL);
	s_loop.key_of = &loop[0];
	for (i = 1; i < NLOOP; i++)
		make(&loop[i], &s_loop, NULL);
	make(&leaf_loop, &s_leaf, &loop[0]);
	s_client.eku = GNUTLS_KP_TLS_WWW_CLIENT;
	make(&client_leaf, &s_client, &ca);
	return 0;
}

static int teardown(void **state)
{
	struct tcert *all[] = {&ca,	     &other_ca,	    &inter,
			       &fake_ca,     &leaf,	    &leaf_i,
			       &evil_leaf,   &expired_leaf, &noname_leaf,
			       &forged_leaf, &self_leaf,    &xmpp_leaf,
			       &srvid_leaf,  &target_leaf,  &expired_inter,
			       &leaf_ei,     &cross_inter};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		drop(all[i]);
	for (i = 0; i < NLOOP; i++)
		drop(&loop[i]);
	dane_set_trust_file(NULL);
	return 0;
}

/* A TLSA RRset under construction. */
struct rset {
	struct dns_tlsa r[8];
	uint8_t data[8][2048];
	size_t n;
};

static void add_raw(struct rset *s, int u, int sel, int mt, const uint8_t *data,
		    size_t len)
{
	assert_true(s->n < 8 && len <= sizeof(s->data[0]));
	memcpy(s->data[s->n], data, len);
	s->r[s->n].usage = (uint8_t)u;
	s->r[s->n].selector = (uint8_t)sel;
	s->r[s->n].mtype = (uint8_t)mt;
	s->r[s->n].len = len;
	s->r[s->n].data = s->data[s->n];
	s->n++;
}

/* A record for `c`; the SPKI comes from GnuTLS's own encoding of the key,
 * a cross-check of the matcher's DER walk. */
static void add(struct rset *s, int u, int sel, int mt, const struct tcert *c)
{
	gnutls_pubkey_t pub;
	gnutls_datum_t spki = {NULL, 0};
	const uint8_t *d = c->der;
	size_t len = c->len;
	uint8_t h[64];

	if (sel == 1) {
		assert_int_equal(gnutls_pubkey_init(&pub), 0);
		assert_int_equal(gnutls_pubkey_import_x509(pub, c->crt, 0), 0);
		assert_int_equal(
		    gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki), 0);
		gnutls_pubkey_deinit(pub);
		d = spki.data;
		len = spki.size;
	}
	if (mt == 1) {
		assert_int_equal(gnutls_hash_fast(GNUTLS_DIG_SHA256, d, len, h),
				 0);
		add_raw(s, u, sel, mt, h, 32);
	} else if (mt == 2) {
		assert_int_equal(gnutls_hash_fast(GNUTLS_DIG_SHA512, d, len, h),
				 0);
		add_raw(s, u, sel, mt, h, 64);
	} else {
		add_raw(s, u, sel, mt, d, len);
	}
	gnutls_free(spki.data);
}

/* Matches the NULL-terminated chain (leaf first). */
static int match_nm(const struct rset *rs, const struct dane_names *nm,
		    struct dane_match *m, ...)
{
	struct probe_cert chain[8];
	const struct tcert *c;
	size_t n = 0;
	va_list ap;

	va_start(ap, m);
	while ((c = va_arg(ap, const struct tcert *)) != NULL) {
		assert_true(n < 8);
		chain[n].der = c->der;
		chain[n].len = c->len;
		n++;
	}
	va_end(ap);
	dane_match(rs->r, rs->n, chain, n, nm, NOW, NULL, m);
	return 0;
}

#define MATCH(rs, m, ...) match_nm(rs, &names, m, __VA_ARGS__, NULL)

/* Starts an RRset of one record. */
static void one(struct rset *s, int u, int sel, int mt, const struct tcert *c)
{
	memset(s, 0, sizeof(*s));
	add(s, u, sel, mt, c);
}

static void test_ee_every_selector_and_type(void **state)
{
	struct dane_match m;
	struct rset rs;
	int u, sel, mt;

	(void)state;
	for (u = 1; u <= 3; u += 2)
		for (sel = 0; sel <= 1; sel++)
			for (mt = 0; mt <= 2; mt++) {
				one(&rs, u, sel, mt, &leaf);
				assert_int_equal(MATCH(&rs, &m, &leaf, &ca), 0);
				assert_int_equal(m.nusable, 1);
				assert_int_equal(m.matched, 0);
				assert_int_equal(m.usable[0], 1);
				/* our CA is not a public one */
				assert_int_equal(m.warnings,
						 DANE_W_PKIX_INVALID);
				assert_false(m.pkix_valid);
				/* another key does not match */
				one(&rs, u, sel, mt, &evil_leaf);
				assert_int_equal(MATCH(&rs, &m, &leaf, &ca), 0);
				assert_int_equal(m.matched, -1);
			}
}

static void test_leaf_facts(void **state)
{
	struct dane_match m;
	struct rset rs;
	uint8_t h[32];

	(void)state;
	one(&rs, 3, 1, 1, &leaf);
	assert_int_equal(MATCH(&rs, &m, &leaf), 0);
	assert_true(m.have_leaf);
	assert_int_equal(m.not_after, (int64_t)(NOW + 80 * DAY));
	/* the record's hash is SHA-256 of the SPKI */
	assert_memory_equal(m.spki_sha256, rs.r[0].data, 32);
	assert_int_equal(dane_spki_sha256(leaf.der, leaf.len, h), 0);
	assert_memory_equal(h, rs.r[0].data, 32);
}

static void test_ta_every_selector_and_type(void **state)
{
	struct dane_match m;
	struct rset rs;
	int u, sel, mt;

	(void)state;
	for (u = 0; u <= 2; u += 2)
		for (sel = 0; sel <= 1; sel++)
			for (mt = 0; mt <= 2; mt++) {
				/* the root, sent */
				one(&rs, u, sel, mt, &ca);
				assert_int_equal(MATCH(&rs, &m, &leaf, &ca), 0);
				assert_int_equal(m.matched, 0);
				assert_non_null(
				    strstr(m.detail, "Operator CA"));
				assert_false(m.warnings & DANE_W_WEAK_TA);
				/* through an intermediate */
				assert_int_equal(
				    MATCH(&rs, &m, &leaf_i, &inter, &ca), 0);
				assert_int_equal(m.matched, 0);
				/* the chain sent out of order */
				assert_int_equal(
				    MATCH(&rs, &m, &leaf_i, &ca, &inter), 0);
				assert_int_equal(m.matched, 0);
				/* the intermediate as the TA */
				one(&rs, u, sel, mt, &inter);
				assert_int_equal(
				    MATCH(&rs, &m, &leaf_i, &inter), 0);
				assert_int_equal(m.matched, 0);
				assert_non_null(
				    strstr(m.detail, "Operator Intermediate"));
			}
}

/* NOTES.md: the operator's CA appended to another CA's leaf. */
static void test_appended_ca_does_not_match(void **state)
{
	struct dane_match m;
	struct rset rs;
	int u, sel, mt;

	(void)state;
	for (u = 0; u <= 2; u += 2)
		for (sel = 0; sel <= 1; sel++)
			for (mt = 0; mt <= 2; mt++) {
				one(&rs, u, sel, mt, &ca);
				assert_int_equal(
				    MATCH(&rs, &m, &evil_leaf, &ca), 0);
				assert_int_equal(m.matched, -1);
				assert_int_equal(
				    MATCH(&rs, &m, &evil_leaf, &other_ca, &ca),
				    0);
				assert_int_equal(m.matched, -1);
				assert_int_equal(
				    MATCH(&rs, &m, &evil_leaf, &ca, &inter), 0);
				assert_int_equal(m.matched, -1);
			}
	one(&rs, 2, 0, 1, &ca);
	assert_int_equal(MATCH(&rs, &m, &evil_leaf, &ca), 0);
	assert_non_null(strstr(m.detail, "does not chain"));
	assert_false(m.warnings & DANE_W_TA_NOT_SENT);
	/* the TA sent, but the intermediate the leaf needs is missing */
	assert_int_equal(MATCH(&rs, &m, &leaf_i, &ca), 0);
	assert_int_equal(m.matched, -1);
}

static void test_ta_not_sent(void **state)
{
	struct dane_match m;
	struct rset rs;

	(void)state;
	one(&rs, 2, 0, 1, &ca);
	assert_int_equal(MATCH(&rs, &m, &leaf_i, &inter), 0);
	assert_int_equal(m.matched, -1);
	assert_true(m.warnings & DANE_W_TA_NOT_SENT);
	assert_non_null(strstr(m.detail, "may not send its trust anchor"));
	one(&rs, 2, 1, 1, &ca);
	assert_int_equal(MATCH(&rs, &m, &leaf), 0);
	assert_int_equal(m.matched, -1);
	assert_true(m.warnings & DANE_W_TA_NOT_SENT);
	/* a self-signed leaf has nothing unsent above it */
	assert_int_equal(MATCH(&rs, &m, &self_leaf), 0);
	assert_int_equal(m.matched, -1);
	assert_false(m.warnings & DANE_W_TA_NOT_SENT);
}

static void test_2_0_0_ta_only_in_dns(void **state)
{
	struct dane_match m;
	struct rset rs;

	(void)state;
	one(&rs, 2, 0, 0, &ca);
	assert_int_equal(MATCH(&rs, &m, &leaf), 0);
	assert_int_equal(m.matched, 0);
	assert_false(m.warnings & DANE_W_TA_NOT_SENT);
	assert_int_equal(MATCH(&rs, &m, &leaf_i, &inter), 0);
	assert_int_equal(m.matched, 0);
	assert_int_equal(MATCH(&rs, &m, &evil_leaf), 0);
	assert_int_equal(m.matched, -1);
	assert_int_equal(MATCH(&rs, &m, &forged_leaf), 0);
	assert_int_equal(m.matched, -1);
	/* 2 0 0 whose data is not a certificate: usable, never matches */
	memset(&rs, 0, sizeof(rs));
	add_raw(&rs, 2, 0, 0, (const uint8_t *)"\x30\x03\x02\x01\x01", 5);
	assert_int_equal(MATCH(&rs, &m, &leaf, &ca), 0);
	assert_int_equal(m.nusable, 1);
	assert_int_equal(m.matched, -1);
}

static void test_expired(void **state)
{
	struct dane_match m;
	struct rset rs;

	(void)state;
	one(&rs, 3, 1, 1, &expired_leaf);
	assert_int_equal(MATCH(&rs, &m, &expired_leaf, &ca), 0);
	assert_int_equal(m.matched, 0);
	assert_true(m.warnings & DANE_W_EXPIRED_LEAF);
	assert_false(m.warnings & DANE_W_NAME_MISMATCH);
	/* DANE-TA checks dates */
	one(&rs, 2, 0, 1, &ca);
	assert_int_equal(MATCH(&rs, &m, &expired_leaf, &ca), 0);
	assert_int_equal(m.matched, -1);
	assert_non_null(strstr(m.detail, "expired"));
	/* ... of intermediates too */
	assert_int_equal(MATCH(&rs, &m, &leaf_ei, &expired_inter, &ca), 0);
	assert_int_equal(m.matched, -1);
	/* the expired intermediate as the TA: an anchor's dates do not
	 * count (RFC 5280 §6.1), only those of the path below it */
	one(&rs, 2, 1, 1, &expired_inter);
	assert_int_equal(MATCH(&rs, &m, &leaf_ei, &expired_inter), 0);
	assert_int_equal(m.matched, 0);
}

static void test_only_unusable(void **state)
{
	struct dane_match m;
	struct rset rs;
	uint8_t h[32] = {0};

	(void)state;
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(dane_spki_sha256(leaf.der, leaf.len, h), 0);
	add_raw(&rs, 3, 1, 3, h, 32);
	add_raw(&rs, 4, 1, 1, h, 32);
	add_raw(&rs, 3, 2, 1, h, 32);
	add_raw(&rs, 3, 1, 1, h, 31); /* wrong digest length */
	add_raw(&rs, 255, 255, 255, h, 0);
	assert_int_equal(MATCH(&rs, &m, &leaf, &ca), 0);
	assert_int_equal(m.nusable, 0);
	assert_int_equal(m.matched, -1);
	assert_memory_equal(m.usable, "\0\0\0\0\0", 5);
	assert_non_null(strstr(m.detail, "no usable"));
	assert_false(m.warnings & DANE_W_STALE_RECORD);
	/* no records at all */
	dane_match(NULL, 0, &(struct probe_cert){leaf.der, leaf.len}, 1,
		   &names, NOW, NULL, &m);
	assert_int_equal(m.nusable, 0);
	assert_int_equal(m.matched, -1);
}

static void test_digest_agility(void **state)
{
	struct dane_match m;
	struct rset rs;

	(void)state;
	/* NOTES.md: 3 1 1 beside a 3 1 2 for another key: no match */
	one(&rs, 3, 1, 1, &leaf);
	add(&rs, 3, 1, 2, &evil_leaf);
	assert_int_equal(MATCH(&rs, &m, &leaf, &ca), 0);
	assert_int_equal(m.usable[0], 2);
	assert_int_equal(m.usable[1], 1);
	assert_int_equal(m.nusable, 1);
	assert_int_equal(m.matched, -1);
	/* the SHA-512 record of the same key matches */
	one(&rs, 3, 1, 1, &leaf);
	add(&rs, 3, 1, 2, &leaf);
	assert_int_equal(MATCH(&rs, &m, &leaf, &ca), 0);
	assert_int_equal(m.matched, 1);
	assert_false(m.warnings & DANE_W_STALE_RECORD);
	/* type 0 always counts */
	one(&rs, 3, 1, 0, &leaf);
	add(&rs, 3, 1, 2, &evil_leaf);
	assert_int_equal(MATCH(&rs, &m, &leaf, &ca), 0);
	assert_int_equal(m.matched, 0);
	assert_true(m.warnings & DANE_W_STALE_RECORD);
	/* per usage and selector: 3 0 2 leaves 3 1 1 alone */
	one(&rs, 3, 1, 1, &leaf);
	add(&rs, 3, 0, 2, &evil_leaf);
	add(&rs, 2, 1, 2, &ca);
	assert_int_equal(MATCH(&rs, &m, &leaf, &ca), 0);
	assert_int_equal(m.usable[0], 1);
	assert_int_equal(m.matched, 0);
	/* a SHA-512 record of the wrong length is unusable: no agility */
	one(&rs, 3, 1, 1, &leaf);
	add_raw(&rs, 3, 1, 2, rs.data[0], 32);
	assert_int_equal(MATCH(&rs, &m, &leaf, &ca), 0);
	assert_int_equal(m.usable[1], 0);
	assert_int_equal(m.matched, 0);
}

static void test_names(void **state)
{
	struct dane_names nm = names;
	struct dane_match m;
	struct rset rs;

	(void)state;
	one(&rs, 2, 0, 1, &ca);
	/* DANE-TA needs the name */
	assert_int_equal(MATCH(&rs, &m, &noname_leaf, &ca), 0);
	assert_int_equal(m.matched, -1);
	assert_non_null(strstr(m.detail, "does not name"));
	/* DANE-EE does not, but says so */
	one(&rs, 3, 1, 1, &noname_leaf);
	assert_int_equal(MATCH(&rs, &m, &noname_leaf, &ca), 0);
	assert_int_equal(m.matched, 0);
	assert_true(m.warnings & DANE_W_NAME_MISMATCH);
	assert_false(m.warnings & DANE_W_EXPIRED_LEAF);

	one(&rs, 2, 1, 1, &ca);
	/* XmppAddr */
	assert_int_equal(MATCH(&rs, &m, &xmpp_leaf, &ca), 0);
	assert_int_equal(m.matched, 0);
	assert_false(m.warnings & DANE_W_NAME_MISMATCH);
	/* SRV-ID for the client service, not the server one */
	assert_int_equal(MATCH(&rs, &m, &srvid_leaf, &ca), 0);
	assert_int_equal(m.matched, 0);
	nm.server = 1;
	assert_int_equal(match_nm(&rs, &nm, &m, &srvid_leaf, &ca, NULL), 0);
	assert_int_equal(m.matched, -1);
	/* the SRV target only when the SRV is secure */
	assert_int_equal(MATCH(&rs, &m, &target_leaf, &ca), 0);
	assert_int_equal(m.matched, -1);
	nm = names;
	nm.srv_target = "xmpp.hoster.example";
	assert_int_equal(match_nm(&rs, &nm, &m, &target_leaf, &ca, NULL), 0);
	assert_int_equal(m.matched, 0);
	/* no names at all */
	assert_int_equal(match_nm(&rs, NULL, &m, &leaf, &ca, NULL), 0);
	assert_int_equal(m.matched, -1);
}

static void test_stale_record(void **state)
{
	struct dane_match m;
	struct rset rs;

	(void)state;
	one(&rs, 3, 1, 1, &evil_leaf);
	add(&rs, 3, 1, 1, &leaf);
	assert_int_equal(MATCH(&rs, &m, &leaf, &ca), 0);
	assert_int_equal(m.matched, 1);
	assert_true(m.warnings & DANE_W_STALE_RECORD);
	/* nothing matches: a mismatch, not a stale record */
	one(&rs, 3, 1, 1, &evil_leaf);
	add(&rs, 3, 1, 1, &other_ca);
	assert_int_equal(MATCH(&rs, &m, &leaf, &ca), 0);
	assert_int_equal(m.matched, -1);
	assert_false(m.warnings & DANE_W_STALE_RECORD);
	assert_non_null(strstr(m.detail, "no usable record matches"));
}

static void test_preference(void **state)
{
	struct dane_match m;
	struct rset rs;

	(void)state;
	one(&rs, 0, 0, 1, &ca);
	add(&rs, 1, 1, 1, &leaf);
	add(&rs, 2, 1, 1, &ca);
	assert_int_equal(MATCH(&rs, &m, &leaf, &ca), 0);
	assert_int_equal(m.matched, 2);
	add(&rs, 3, 0, 1, &leaf);
	assert_int_equal(MATCH(&rs, &m, &leaf, &ca), 0);
	assert_int_equal(m.matched, 3);
	assert_int_equal(strcmp(m.detail, "the leaf certificate"), 0);
	one(&rs, 0, 0, 1, &ca);
	add(&rs, 1, 1, 1, &leaf);
	assert_int_equal(MATCH(&rs, &m, &leaf, &ca), 0);
	assert_int_equal(m.matched, 1);
	/* the first of equals */
	one(&rs, 3, 1, 1, &leaf);
	add(&rs, 3, 0, 1, &leaf);
	assert_int_equal(MATCH(&rs, &m, &leaf, &ca), 0);
	assert_int_equal(m.matched, 0);
}

/* A TA with the right subject (and key id) but another key. */
static void test_wrong_signature(void **state)
{
	struct dane_match m;
	struct rset rs;

	(void)state;
	one(&rs, 2, 0, 1, &ca);
	/* the attacker's leaf claims the operator's CA as issuer */
	assert_int_equal(MATCH(&rs, &m, &forged_leaf, &ca), 0);
	assert_int_equal(m.matched, -1);
	assert_int_equal(MATCH(&rs, &m, &forged_leaf, &fake_ca, &ca), 0);
	assert_int_equal(m.matched, -1);
	/* a record for the look-alike does not bless the real chain */
	one(&rs, 2, 1, 1, &fake_ca);
	assert_int_equal(MATCH(&rs, &m, &leaf, &fake_ca), 0);
	assert_int_equal(m.matched, -1);
}

/* The intermediate's key also certified by another CA, sent first: the
 * path search must not stop at the first issuer it finds. */
static void test_cross_signed(void **state)
{
	struct dane_match m;
	struct rset rs;

	(void)state;
	one(&rs, 2, 0, 1, &ca);
	assert_int_equal(
	    MATCH(&rs, &m, &leaf_i, &cross_inter, &other_ca, &inter, &ca), 0);
	assert_int_equal(m.matched, 0);
	one(&rs, 2, 0, 1, &other_ca);
	assert_int_equal(
	    MATCH(&rs, &m, &leaf_i, &inter, &ca, &cross_inter, &other_ca), 0);
	assert_int_equal(m.matched, 0);
	/* the cross-signed one alone, the other root named */
	assert_int_equal(MATCH(&rs, &m, &leaf_i, &inter, &ca), 0);
	assert_int_equal(m.matched, -1);
}

/* Look-alike CAs (one name, one key) that all certify one another: the
 * path search is bounded, not factorial. */
static void test_path_budget(void **state)
{
	struct dane_match m;
	struct rset rs;
	struct probe_cert chain[16];
	size_t i;

	(void)state;
	one(&rs, 2, 0, 1, &other_ca);
	add(&rs, 2, 0, 1, &ca);
	chain[0].der = leaf_loop.der;
	chain[0].len = leaf_loop.len;
	for (i = 1; i < 16; i++) {
		chain[i].der = loop[i - 1].der;
		chain[i].len = loop[i - 1].len;
	}
	dane_match(rs.r, rs.n, chain, 16, &names, NOW, NULL, &m);
	assert_int_equal(m.matched, -1);
	/* a 2 1 1 record for their shared key matches all of them */
	one(&rs, 2, 1, 1, &loop[0]);
	dane_match(rs.r, rs.n, chain, 16, &names, NOW, NULL, &m);
	assert_int_equal(m.matched, 0);
}

static void test_self_issued_leaf(void **state)
{
	struct dane_match m;
	struct rset rs;

	(void)state;
	one(&rs, 2, 0, 1, &self_leaf);
	assert_int_equal(MATCH(&rs, &m, &self_leaf), 0);
	assert_int_equal(m.matched, 0);
	/* a leaf issued by someone else is not its own anchor */
	one(&rs, 2, 0, 1, &leaf);
	assert_int_equal(MATCH(&rs, &m, &leaf, &ca), 0);
	assert_int_equal(m.matched, -1);
}

/* The "system" store replaced by a file holding our CA. */
static void test_public_ca(void **state)
{
	char path[] = "/tmp/test_dane_XXXXXX";
	gnutls_datum_t der = {ca.der, (unsigned)ca.len}, pem;
	struct dane_match m;
	struct rset rs;
	FILE *f;
	int fd;

	(void)state;
	one(&rs, 2, 0, 1, &ca);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(gnutls_pem_base64_encode2("CERTIFICATE", &der, &pem),
			 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(pem.data, 1, pem.size, f), pem.size);
	fclose(f);
	gnutls_free(pem.data);
	assert_int_equal(dane_set_trust_file(path), 0);

	assert_int_equal(MATCH(&rs, &m, &leaf, &ca), 0);
	assert_int_equal(m.matched, 0);
	assert_true(m.warnings & DANE_W_WEAK_TA);
	assert_true(m.pkix_valid);
	assert_false(m.warnings & DANE_W_PKIX_INVALID);
	/* a public intermediate is as weak */
	one(&rs, 2, 1, 1, &inter);
	assert_int_equal(MATCH(&rs, &m, &leaf_i, &inter), 0);
	assert_int_equal(m.matched, 0);
	assert_true(m.warnings & DANE_W_WEAK_TA);
	assert_true(m.pkix_valid);
	/* PKIX-TA on a root the server does not send */
	one(&rs, 0, 1, 1, &ca);
	assert_int_equal(MATCH(&rs, &m, &leaf_i, &inter), 0);
	assert_int_equal(m.matched, 0);
	assert_true(m.warnings & DANE_W_WEAK_TA);
	/* ... but not on another CA's leaf */
	assert_int_equal(MATCH(&rs, &m, &evil_leaf), 0);
	assert_int_equal(m.matched, -1);
	/* PKIX validity wants the name and the dates */
	one(&rs, 3, 1, 1, &noname_leaf);
	assert_int_equal(MATCH(&rs, &m, &noname_leaf, &ca), 0);
	assert_false(m.pkix_valid);
	assert_true(m.warnings & DANE_W_PKIX_INVALID);
	assert_int_equal(MATCH(&rs, &m, &expired_leaf, &ca), 0);
	assert_false(m.pkix_valid);
	assert_int_equal(MATCH(&rs, &m, &evil_leaf, &other_ca), 0);
	assert_false(m.pkix_valid);
	/* ... and a server certificate */
	assert_int_equal(MATCH(&rs, &m, &client_leaf, &ca), 0);
	assert_false(m.pkix_valid);
	/* a private DANE-TA is not weak */
	one(&rs, 2, 0, 1, &other_ca);
	assert_int_equal(MATCH(&rs, &m, &evil_leaf, &other_ca), 0);
	assert_int_equal(m.matched, 0);
	assert_false(m.warnings & DANE_W_WEAK_TA);

	assert_int_equal(dane_set_trust_file(NULL), 0);
	unlink(path);
}

static void test_garbage(void **state)
{
	static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x00};
	struct probe_cert bad = {(uint8_t *)junk, sizeof(junk)};
	struct probe_cert chain[2];
	struct dane_match m;
	struct rset rs;
	uint8_t h[32], *copy;
	size_t i;

	(void)state;
	one(&rs, 3, 1, 1, &leaf);
	/* A leaf nothing can parse is judged: no match, with the reason,
	 * while the record stays usable (the endpoint is a mismatch) */
	dane_match(rs.r, rs.n, &bad, 1, &names, NOW, NULL, &m);
	assert_int_equal(m.matched, -1);
	assert_int_equal(m.nusable, 1);
	assert_false(m.have_leaf);
	assert_non_null(strstr(m.detail, "cannot be parsed"));
	dane_match(rs.r, rs.n, NULL, 0, &names, NOW, NULL, &m);
	assert_int_equal(m.matched, -1);
	assert_int_equal(m.nusable, 1);
	assert_true(m.detail[0] != '\0');
	assert_int_equal(dane_spki_sha256(junk, sizeof(junk), h), -1);
	/* a garbage intermediate is skipped */
	chain[0].der = leaf.der;
	chain[0].len = leaf.len;
	chain[1] = bad;
	dane_match(rs.r, rs.n, chain, 2, &names, NOW, NULL, &m);
	assert_int_equal(m.matched, 0);
	/* every truncation of a real leaf fails cleanly */
	for (i = 0; i < leaf.len; i++) {
		copy = malloc(i + 1);
		assert_non_null(copy);
		memcpy(copy, leaf.der, i);
		chain[0].der = copy;
		chain[0].len = i;
		assert_int_equal(dane_spki_sha256(copy, i, h), -1);
		dane_match(rs.r, rs.n, chain, 1, &names, NOW, NULL, &m);
		assert_int_equal(m.matched, -1);
		assert_false(m.have_leaf);
		free(copy);
	}
	/* flipped bytes: whatever GnuTLS says, no crash and no false match
	 * on the leaf's key unless the SPKI is intact */
	copy = malloc(leaf.len);
	assert_non_null(copy);
	for (i = 0; i < leaf.len; i++) {
		memcpy(copy, leaf.der, leaf.len);
		copy[i] ^= 0xa5;
		chain[0].der = copy;
		chain[0].len = leaf.len;
		(void)dane_spki_sha256(copy, leaf.len, h);
		dane_match(rs.r, rs.n, chain, 1, &names, NOW, NULL, &m);
	}
	free(copy);
}

static void test_helpers(void **state)
{
	static const uint8_t in[] = {0x00, 0x0f, 0xa5, 0xff};
	struct dns_tlsa t = {3, 1, 1, 32,
			     (uint8_t *)"0123456789abcdef"
					"0123456789abcdef"};
	char buf[9];
	unsigned bit;

	(void)state;
	dane_hex(in, sizeof(in), buf);
	assert_string_equal(buf, "000fa5ff");
	dane_hex(in, 0, buf);
	assert_string_equal(buf, "");

	assert_true(dane_record_known(&t));
	t.mtype = 2;
	assert_false(dane_record_known(&t)); /* 32 bytes for SHA-512 */
	t.len = 64;
	assert_true(dane_record_known(&t));
	t.mtype = 3;
	assert_false(dane_record_known(&t));
	t.mtype = 0;
	assert_true(dane_record_known(&t));
	t.len = 0;
	assert_false(dane_record_known(&t));
	t.len = 32;
	t.selector = 2;
	assert_false(dane_record_known(&t));
	t.selector = 0;
	t.usage = 4;
	assert_false(dane_record_known(&t));
	assert_false(dane_record_known(NULL));

	assert_string_equal(dane_warning_code(DANE_W_WEAK_TA), "weak-ta");
	assert_string_equal(dane_warning_code(DANE_W_STALE_RECORD),
			    "stale-record");
	assert_string_equal(dane_warning_code(DANE_W_EXPIRED_LEAF),
			    "expired-leaf");
	assert_string_equal(dane_warning_code(DANE_W_NAME_MISMATCH),
			    "name-mismatch");
	assert_string_equal(dane_warning_code(DANE_W_PKIX_INVALID),
			    "pkix-invalid");
	assert_string_equal(dane_warning_code(DANE_W_TA_NOT_SENT),
			    "ta-not-sent");
	for (bit = 1; bit <= DANE_W_TA_NOT_SENT; bit <<= 1) {
		assert_non_null(dane_warning_code((enum dane_warning)bit));
		assert_non_null(dane_warning_text((enum dane_warning)bit));
	}
	assert_null(dane_warning_code((enum dane_warning)(1u << 20)));
	assert_null(dane_warning_text((enum dane_warning)0));
}

/* More records than struct dane_match reports: every one still counts,
 * the one that matches and the one that forbids (digest agility). */
#define NMANY (DANE_MAX_RECORDS + 40)
static void test_many_records(void **state)
{
	static struct dns_tlsa recs[NMANY];
	static uint8_t data[NMANY][64];
	struct probe_cert c = {leaf.der, leaf.len};
	struct rset rs;
	struct dane_match m;
	size_t i;

	(void)state;
	for (i = 0; i < NMANY; i++) {
		recs[i].usage = 3;
		recs[i].selector = 1;
		recs[i].mtype = 1;
		recs[i].len = 32;
		recs[i].data = data[i];
		memset(data[i], (int)i, 64);
	}
	/* the operator's record last */
	one(&rs, 3, 1, 1, &leaf);
	memcpy(data[NMANY - 1], rs.r[0].data, 32);
	dane_match(recs, NMANY, &c, 1, &names, NOW, NULL, &m);
	assert_int_equal(m.nusable, NMANY);
	assert_int_equal(m.matched, NMANY - 1);
	assert_true(m.warnings & DANE_W_STALE_RECORD);
	/* a 3 1 2 record far down: the 3 1 1 ones no longer count */
	recs[NMANY - 2].mtype = 2;
	recs[NMANY - 2].len = 64;
	dane_match(recs, NMANY, &c, 1, &names, NOW, NULL, &m);
	assert_int_equal(m.nusable, 1);
	assert_int_equal(m.matched, -1);
	assert_int_equal(m.usable[0], 2);
	recs[NMANY - 2].mtype = 1;
	recs[NMANY - 2].len = 32;

	/* DANE-TA: records for other CAs first, the operator's CA last */
	for (i = 0; i < NMANY; i++)
		recs[i].usage = 2;
	one(&rs, 2, 1, 1, &ca);
	memcpy(data[NMANY - 1], rs.r[0].data, 32);
	{
		struct probe_cert ch[2] = {{leaf.der, leaf.len},
					   {ca.der, ca.len}};

		dane_match(recs, NMANY, ch, 2, &names, NOW, NULL, &m);
	}
	assert_int_equal(m.matched, NMANY - 1);
	assert_false(m.too_costly);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ee_every_selector_and_type),
	    cmocka_unit_test(test_leaf_facts),
	    cmocka_unit_test(test_ta_every_selector_and_type),
	    cmocka_unit_test(test_appended_ca_does_not_match),
	    cmocka_unit_test(test_ta_not_sent),
	    cmocka_unit_test(test_2_0_0_ta_only_in_dns),
	    cmocka_unit_test(test_expired),
	    cmocka_unit_test(test_only_unusable),
	    cmocka_unit_test(test_digest_agility),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_stale_record),
	    cmocka_unit_test(test_preference),
	    cmocka_unit_test(test_wrong_signature),
	    cmocka_unit_test(test_cross_signed),
	    cmocka_unit_test(test_path_budget),
	    cmocka_unit_test(test_self_issued_leaf),
	    cmocka_unit_test(test_public_ca),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_helpers),
	    cmocka_unit_test(test_many_records),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
