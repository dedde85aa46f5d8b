/* SPDX-License-Identifier: GPL-3.0-or-later */
/* hugekey.c - test certificates with RSA keys nobody holds (hugekey.h). */
#include "tests/hugekey.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>

#define DAY 86400L

/* Signs each certificate before its signature is replaced: only the
 * signature algorithm (RSA) it writes matters. */
static gnutls_x509_privkey_t signer;

/* Reads one DER length at p[*o]. */
static size_t
der_len(const uint8_t *p, size_t *o)
{
	size_t l = p[(*o)++], k;

	if (l & 0x80)
		for (k = l & 0x7f, l = 0; k > 0; k--)
			l = (l << 8) | p[(*o)++];
	return l;
}

static size_t
der_hdr(uint8_t *p, uint8_t tag, size_t len)
{
	p[0] = tag;
	if (len < 0x80) {
		p[1] = (uint8_t)len;
		return 2;
	}
	p[1] = 0x83;
	p[2] = (uint8_t)(len >> 16);
	p[3] = (uint8_t)(len >> 8);
	p[4] = (uint8_t)len;
	return 5;
}

void
hugekey_cert(struct tcert *t, const char *dn, const char *dns, size_t nbytes,
	     const uint8_t *e, size_t elen, int ca_flag,
	     const struct tcert *issuer, size_t siglen, time_t now)
{
	static unsigned serial = 0x7000;
	uint8_t *n = malloc(nbytes), ser[3], *out, *sig;
	gnutls_datum_t dn_ = {n, (unsigned)nbytes},
		       de = {(uint8_t *)e, (unsigned)elen};
	gnutls_datum_t d;
	gnutls_pubkey_t pub;
	size_t o = 1, tbs, mid, bl, ol;

	if (signer == NULL) {
		assert_int_equal(gnutls_x509_privkey_init(&signer), 0);
		assert_int_equal(gnutls_x509_privkey_generate(
				     signer, GNUTLS_PK_RSA, 2048, 0),
				 0);
	}
	assert_non_null(n);
	assert_int_equal(gnutls_rnd(GNUTLS_RND_NONCE, n, nbytes), 0);
	n[0] |= 0x80;
	n[nbytes - 1] |= 1;
	assert_int_equal(gnutls_pubkey_init(&pub), 0);
	assert_int_equal(gnutls_pubkey_import_rsa_raw(pub, &dn_, &de), 0);
	memset(t, 0, sizeof(*t));
	assert_int_equal(gnutls_x509_crt_init(&t->crt), 0);
	assert_int_equal(gnutls_x509_crt_set_version(t->crt, 3), 0);
	assert_int_equal(gnutls_x509_crt_set_pubkey(t->crt, pub), 0);
	serial++;
	ser[0] = 0x20;
	ser[1] = (uint8_t)(serial >> 8);
	ser[2] = (uint8_t)serial;
	assert_int_equal(gnutls_x509_crt_set_serial(t->crt, ser, 3), 0);
	assert_int_equal(gnutls_x509_crt_set_dn(t->crt, dn, NULL), 0);
	assert_int_equal(gnutls_x509_crt_set_activation_time(t->crt, now - DAY),
			 0);
	assert_int_equal(
	    gnutls_x509_crt_set_expiration_time(t->crt, now + 100 * DAY), 0);
	assert_int_equal(
	    gnutls_x509_crt_set_basic_constraints(t->crt, ca_flag, -1), 0);
	if (!ca_flag)
		assert_int_equal(gnutls_x509_crt_set_subject_alt_name(
				     t->crt, GNUTLS_SAN_DNSNAME, dns,
				     (unsigned)strlen(dns), GNUTLS_FSAN_APPEND),
				 0);
	assert_int_equal(gnutls_x509_crt_sign2(t->crt,
					       issuer ? issuer->crt : t->crt,
					       signer, GNUTLS_DIG_SHA256, 0),
			 0);
	assert_int_equal(
	    gnutls_x509_crt_export2(t->crt, GNUTLS_X509_FMT_DER, &d), 0);
	/* Certificate ::= SEQUENCE { tbs, algorithm, BIT STRING signature } */
	der_len(d.data, &o);
	tbs = o;
	o++;
	o += der_len(d.data, &o);
	o++;
	o += der_len(d.data, &o);
	mid = o - tbs;
	out = malloc(mid + siglen + 16);
	sig = malloc(siglen + 1);
	assert_true(out && sig);
	sig[0] = 0;
	assert_int_equal(gnutls_rnd(GNUTLS_RND_NONCE, sig + 1, siglen), 0);
	sig[1] &= 0x3f;			/* below any modulus of that length */
	bl = siglen + 1 < 0x80 ? 2 : 5; /* as der_hdr writes it */
	ol = der_hdr(out, 0x30, mid + bl + siglen + 1);
	memcpy(out + ol, d.data + tbs, mid);
	ol += mid;
	ol += der_hdr(out + ol, 0x03, siglen + 1);
	memcpy(out + ol, sig, siglen + 1);
	ol += siglen + 1;
	gnutls_free(d.data);
	free(sig);
	free(n);
	gnutls_pubkey_deinit(pub);
	gnutls_x509_crt_deinit(t->crt);
	t->der = out;
	t->len = ol;
	d.data = out;
	d.size = (unsigned)ol;
	assert_int_equal(gnutls_x509_crt_init(&t->crt), 0);
	assert_int_equal(
	    gnutls_x509_crt_import(t->crt, &d, GNUTLS_X509_FMT_DER), 0);
}

void
hugekey_drop(struct tcert *t)
{
	gnutls_x509_crt_deinit(t->crt);
	free(t->der);
}

void
hugekey_cleanup(void)
{
	if (signer != NULL)
		gnutls_x509_privkey_deinit(signer);
	signer = NULL;
}
