/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * hugekey.h - test certificates with RSA keys nobody holds: any modulus
 * size and public exponent, made at run time, with a signature of random
 * bytes.  Verifying such a signature costs what a real one would, which
 * is what tests of the bounded cost (probe/dane.h) need.  For the unit
 * tests only (cmocka asserts).
 */
#ifndef CERTWATCH_TESTS_HUGEKEY_H
#define CERTWATCH_TESTS_HUGEKEY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* A test certificate: the parsed object, its key when we hold one (NULL
 * for hugekey_cert's), and the DER bytes (malloc'ed). */
struct tcert {
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
	uint8_t *der;
	size_t len;
};

/*
 * Makes *t: subject `dn`, an RSA key with a modulus of `nbytes` random
 * bytes (top bit set) and the exponent e[0..elen), valid from a day before
 * `now` to 100 days after, a CA or (ca_flag 0) a leaf with the DNS-ID
 * `dns`; issued in name by `issuer` (NULL: itself), with a signature of
 * `siglen` random bytes (below any modulus of that length).
 */
void hugekey_cert(struct tcert *t, const char *dn, const char *dns,
		  size_t nbytes, const uint8_t *e, size_t elen, int ca_flag,
		  const struct tcert *issuer, size_t siglen, time_t now);

/* Frees what hugekey_cert made. */
void hugekey_drop(struct tcert *t);

/* Frees the RSA key hugekey_cert signs with before it replaces the
 * signature (made at the first call); at the end of a test program. */
void hugekey_cleanup(void);

#endif
