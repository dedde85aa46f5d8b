/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * dane_int.h - what dane.c (certificates, the cost bound, TLSA records and
 * the match) and dane_path.c (path building to an anchor, signatures,
 * dates, names, PKIX) share.  Not a public API: dane.h is.
 */
#ifndef CERTWATCH_DANE_INT_H
#define CERTWATCH_DANE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "probe/dane.h"

/* Dates are ours to check (against `now`); GnuTLS checks signatures, CA
 * flags, path length and name constraints. */
#define VFLAGS                                                                 \
	(GNUTLS_VERIFY_DISABLE_TIME_CHECKS |                                   \
	 GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS)

/* Longest chain we look at; a server sending more is broken anyway. */
#define MAX_CHAIN 16

/*
 * A certificate as GnuTLS reads it.  Selector 0 is matched on the bytes as
 * presented (der), not on a re-encoding: they are what the server sent and
 * what the operator's `x 0 x` record was computed from; a re-encoded copy of
 * the operator's certificate is not that certificate (and cannot complete a
 * handshake without its key anyway).  Selector 1 is matched on GnuTLS's
 * encoding of the key it read (gnutls_pubkey_export2, as libgnutls-dane
 * does): the key the handshake was verified with, whatever DER leniency
 * GnuTLS allowed in the certificate around it.
 */
struct dane_cert_entry; /* dane_cert.c's cache */

struct cert {
	gnutls_x509_crt_t crt; /* NULL: did not parse */
	const uint8_t *der;
	size_t len;
	gnutls_datum_t spki; /* data NULL: GnuTLS cannot read the key */
	uint8_t der256[32], der512[64], spki256[32], spki512[64];
	/* by[k]: did the chain's certificate k issue this one?  0 not known
	 * yet, 1 yes, -1 no; links do not depend on the anchor, so each is
	 * verified once per match, however many anchors are tried. */
	int8_t by[MAX_CHAIN];
	/* the cache entry crt and spki belong to; NULL: this struct's own
	 * (every entry was in use when it was parsed) */
	struct dane_cert_entry *entry;
};

/* What a match may still spend (dane.h "Bounded cost").  The time is the
 * CPU time of the thread, which is what holds the event loop: a busy
 * machine preempting us must not turn a legitimate match into "too
 * costly". */
struct cost {
	unsigned left; /* signature verifications still allowed */
	unsigned spent;
	struct timespec deadline;
	int out;       /* a bound was hit: something was not tried */
	char why[200]; /* the first bound hit */
};

/* The trust anchor a path must end at: one certificate (DANE-TA), or the
 * system store (PKIX). */
struct anchor {
	const struct cert *ta;	     /* NULL for the system store */
	gnutls_x509_trust_list_t tl; /* verifies the path */
};

/* dane.c */
/* snprintf into a caller's buffer of len bytes. */
void dane_say(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The system's trust store (loaded once), or NULL. */
gnutls_x509_trust_list_t dane_system_trust(void);
/* The CPU-time bound: 0 while within it, -1 (and c->out) past it. */
int dane_cost_time(struct cost *c);
/* Takes n signature verifications from the budget: 0, or -1 (c->out). */
int dane_cost_take(struct cost *c, unsigned n);
/* 1 when the certificate's key is over the matcher's bound (c->why). */
int dane_key_refused(gnutls_x509_crt_t crt, struct cost *c);
/* The same bytes as presented. */
int dane_same_cert(const struct cert *a, const struct cert *b);

/* dane_cert.c */
/* Fills c with the certificate's parse, from the process's cache of
 * parsed certificates (dane.h "Parsed once") or parsed now: 0, or -1 when
 * GnuTLS cannot parse it.  c->der points at the caller's bytes. */
int dane_cert_parse(struct cert *c, const uint8_t *der, size_t len);
/* Gives back what dane_cert_parse filled (none of it is valid after). */
void dane_cert_free(struct cert *c);

/* dane_path.c */
/*
 * Walks from the leaf up the presented chain (any order) to a certificate
 * the anchor issues (the anchor itself for DANE-TA when it was sent as
 * the leaf).  Returns 1 with the path in path[] / *np, or 0 with *top the
 * index of the highest certificate reached.  The anchor may be NULL: then
 * the walk just finds how far the presented chain goes.
 */
int dane_path_build(struct cert *certs, size_t n, const struct anchor *a,
		    gnutls_x509_crt_t *path, size_t *np, size_t *top,
		    struct cost *c);
/* Does the leaf name the service: DNS-ID (domain or secure SRV target),
 * SRV-ID or XmppAddr? */
int dane_path_names_ok(gnutls_x509_crt_t crt, const struct dane_names *nm);
/* Does the leaf chain to `ta` (signatures, dates, names), with `ta` as the
 * only trust anchor?  1 yes; 0 no, with the reason in why. */
int dane_path_chains_to(struct cert *certs, size_t n, const struct cert *ta,
			const struct dane_names *nm, time_t now, struct cost *c,
			char *why, size_t whylen);
/* The presented chain (with the system's anchor) is valid for the names:
 * 1 yes, 0 no, -1 not known (the cost bound was reached). */
int dane_path_pkix_valid(struct cert *certs, size_t n,
			 const struct dane_names *nm, time_t now,
			 struct cost *c);
/* Is this trust anchor a public CA (in the system store, or issued under
 * it)?  Unknown under the cost bound counts as yes. */
int dane_path_public_ca(const struct cert *ta, struct cost *c);
/* Does the presented chain stop below a certificate it does not include? */
int dane_path_cut(struct cert *certs, size_t n, struct cost *c);

#endif
