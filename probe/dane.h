/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * dane.h - matching a presented certificate chain against a TLSA RRset
 * (RFC 6698, RFC 7671, RFC 7673), with our own code over GnuTLS's X.509
 * API.  libgnutls-dane is not used: it matches DANE-TA anywhere in the chain
 * without linking the leaf to it, and checks no names (docs/architecture.md,
 * "Our own DANE matcher").
 *
 * Pure: no I/O except reading the system trust store once (for the PKIX
 * report and the "TA is a public CA" test) and the clock (the time bound
 * of a match).
 */
#ifndef CERTWATCH_DANE_H
#define CERTWATCH_DANE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <gnutls/x509.h>

#include "dns/dns.h"
#include "probe/probe.h"

/* Warning bits; dane_warning_code() gives the JSON words. */
enum dane_warning {
	DANE_W_WEAK_TA = 1u << 0,	/* "weak-ta": TA is a public CA */
	DANE_W_STALE_RECORD = 1u << 1,	/* "stale-record" */
	DANE_W_EXPIRED_LEAF = 1u << 2,	/* "expired-leaf" */
	DANE_W_NAME_MISMATCH = 1u << 3, /* "name-mismatch" */
	DANE_W_PKIX_INVALID = 1u << 4,	/* "pkix-invalid" */
	DANE_W_TA_NOT_SENT = 1u << 5,	/* "ta-not-sent" */
	DANE_W_NO_SCT = 1u << 6,	/* "no-sct": a public-CA leaf without
					 * SCTs (RFC 6962 §3.3) */
};
#define DANE_W_COUNT 7 /* warning bits, for loops */

struct dane_names {
	const char *domain;	/* A-label, lower case */
	const char *domain_u;	/* U-label, for XmppAddr; may equal domain */
	const char *srv_target; /* A-label SRV target when the SRV RRset is
				 * secure (an accepted reference identity);
				 * NULL otherwise */
	int server;		/* 0: _xmpp-client SRV-IDs, 1: _xmpp-server */
};

/* Records whose class dane_match reports in struct dane_match's usable[];
 * every record is classified and matched, however many there are. */
#define DANE_MAX_RECORDS 64

/*
 * Bounded cost (docs/performance.md "Matching a hostile chain"): a hostile
 * chain or RRset must not hold the event loop.  Matching spends signature
 * verifications (a DANE-EE or PKIX-EE match spends none): at most
 * DANE_VERIFY_PER_MATCH per dane_match and DANE_VERIFY_PER_CHECK over one
 * check, and stops at DANE_MATCH_MAX_MS of CPU time (once past
 * DANE_VERIFY_FREE verifications); an RSA key over
 * DANE_RSA_MAX_BITS or with a public exponent of 2^32 or more, or a DSA key
 * over DANE_DSA_MAX_BITS, is refused before any signature is verified with
 * it.  A record that could not be tried to the end is counted in
 * struct dane_match's too_costly: with no match, the endpoint is a
 * mismatch, never ok or unreachable.
 */
#define DANE_VERIFY_PER_MATCH 64
#define DANE_VERIFY_PER_CHECK 256
/* Verifications a match may always make, however slow the machine (a
 * normal chain needs at most about 14, the PKIX report included): the time
 * bound only stops matches that need more, so a slow machine or valgrind
 * never changes a legitimate match's verdict. */
#define DANE_VERIFY_FREE 16
/* Sanitizer builds run GnuTLS's many small allocations through ASan's
 * allocator, about five times slower: the time bound scales with them, so
 * that their tests judge the same matches as the real build's. */
#if defined(__SANITIZE_ADDRESS__)
#define DANE_MATCH_MAX_MS 125
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DANE_MATCH_MAX_MS 125
#endif
#endif
#ifndef DANE_MATCH_MAX_MS
#define DANE_MATCH_MAX_MS 25
#endif
#define DANE_RSA_MAX_BITS 16384
#define DANE_DSA_MAX_BITS 3072

/*
 * The size of crt's RSA (or RSA-PSS) key: its modulus in *bits and its
 * public exponent in *ebits (significant bits).  1 when it is over the
 * bounds above (DANE_RSA_MAX_BITS, an exponent of 2^32 or more), 0 when
 * it is within them or not RSA, -1 when GnuTLS cannot read the key (its
 * cost cannot be known: callers refuse it).  Used by the matcher and by
 * the probe's handshake, which refuses the leaf's key before GnuTLS uses
 * it.
 */
int dane_rsa_too_costly(gnutls_x509_crt_t crt, unsigned *bits, unsigned *ebits);

/*
 * Parsed once: dane_match and the handshake hook take a certificate's
 * parse from a cache of the process keyed by the SHA-256 of its DER (at
 * most 64 certificates, the least recently used replaced; never one in
 * use), so the same chain shown to every probe of a check and every round
 * is parsed once.  dane_cert_hold gives the parse of der (NULL when
 * GnuTLS cannot parse it), read-only and valid until dane_cert_drop.
 * dane_cert_cached counts the certificates kept; dane_cert_cache_clear
 * empties the cache of those not in use.
 */
gnutls_x509_crt_t dane_cert_hold(const uint8_t *der, size_t len);
void dane_cert_drop(gnutls_x509_crt_t crt);
size_t dane_cert_cached(void);
void dane_cert_cache_clear(void);

/* What one check has spent on matching.  The caller owns it (one per
 * check), zeroes it before the check's first match and passes it to every
 * dane_match of that check; dane_match adds what it spent. */
struct dane_budget {
	unsigned spent; /* signature verifications so far */
};

struct dane_match {
	size_t nusable;	   /* usable records (after digest agility) */
	int matched;	   /* index into the records, -1: none */
	uint32_t warnings; /* enum dane_warning bits */
	/* Per record: 0 unusable, 1 usable, 2 ignored by digest agility;
	 * reported for the first DANE_MAX_RECORDS records only (nusable and
	 * the match cover them all). */
	uint8_t usable[DANE_MAX_RECORDS];
	uint8_t spki_sha256[32]; /* of the leaf's key, as GnuTLS reads
				  * it */
	int have_leaf;		 /* spki_sha256 and not_after are set */
	int64_t not_after;	 /* leaf expiry, seconds since the epoch */
	int pkix_valid;		 /* chain valid under the system CAs for the
				  * domain (or the secure SRV target) */
	int too_costly;		 /* a usable record was not tried to the end:
				  * a bound of "Bounded cost" was reached */
	unsigned verifications;	 /* signature verifications spent */
	char detail[256];	 /* why nothing matched, or the TA's subject */
};

/*
 * Matches `chain` (leaf first, DER, as presented) against `recs`.  `now`
 * is the time for validity checks; `budget` is the check's (see struct
 * dane_budget), or NULL for a match on its own.  Always fills *out: a
 * completed handshake is judged whatever its certificates hold, so a leaf
 * GnuTLS cannot parse, a chain too costly to match, or any other failure
 * is "no match" (matched -1) with the reason in out->detail, never an
 * error.  The leaf's key is GnuTLS's view of the certificate it accepted;
 * certwatch parses no DER of its own.  Records of unknown usage, selector
 * or matching type are unusable and never a mismatch.
 */
void dane_match(const struct dns_tlsa *recs, size_t nrecs,
		const struct probe_cert *chain, size_t nchain,
		const struct dane_names *names, time_t now,
		struct dane_budget *budget, struct dane_match *out);

/*
 * Replaces the system trust store (used for the PKIX report, PKIX-TA and
 * the "TA is a public CA" test) by the PEM CA file at `path`, loaded at the
 * next match; NULL goes back to the system store and frees the loaded one.
 * For tests and labs.  0 or -1 (out of memory).
 */
int dane_set_trust_file(const char *path);

/* True when this usage/selector/matching type is one certwatch knows. */
int dane_record_known(const struct dns_tlsa *t);

/* SHA-256 of a certificate's SubjectPublicKeyInfo, as GnuTLS encodes the
 * key it reads from the DER.  0, or -1 when GnuTLS cannot read it. */
int dane_spki_sha256(const uint8_t *der, size_t len, uint8_t out[32]);

/* Lower-case hex of `len` bytes into buf (2*len+1 bytes). */
void dane_hex(const uint8_t *in, size_t len, char *buf);

/* JSON word of one warning bit ("weak-ta", ...). */
const char *dane_warning_code(enum dane_warning w);

/* One sentence for a warning, for people ("the leaf certificate expired
 * on ...; clients that do not use DANE will refuse it"). */
const char *dane_warning_text(enum dane_warning w);

#endif
