/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * dane.h - matching a presented certificate chain against a TLSA RRset
 * (RFC 6698, RFC 7671, RFC 7673), with our own code over GnuTLS's X.509
 * API.  libgnutls-dane is not used: it matches DANE-TA anywhere in the chain
 * without linking the leaf to it, and checks no names (../shared/NOTES.md).
 *
 * Pure: no I/O except reading the system trust store once (for the PKIX
 * report and the "TA is a public CA" test).
 */
#ifndef CERTWATCH_DANE_H
#define CERTWATCH_DANE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dns/dns.h"
#include "probe/probe.h"

/* Warning bits; dane_warning_code() gives the JSON words. */
enum dane_warning {
	DANE_W_WEAK_TA = 1u << 0,	/* "weak-ta": TA is a public CA */
	DANE_W_STALE_RECORD = 1u << 1,	/* "stale-record" */
	DANE_W_EXPIRED_LEAF = 1u << 2,	/* "expired-leaf" */
	DANE_W_NAME_MISMATCH = 1u << 3,	/* "name-mismatch" */
	DANE_W_PKIX_INVALID = 1u << 4,	/* "pkix-invalid" */
	DANE_W_TA_NOT_SENT = 1u << 5,	/* "ta-not-sent" */
};

struct dane_names {
	const char *domain;	/* A-label, lower case */
	const char *domain_u;	/* U-label, for XmppAddr; may equal domain */
	const char *srv_target;	/* A-label SRV target when the SRV RRset is
				 * secure (an accepted reference identity);
				 * NULL otherwise */
	int server;		/* 0: _xmpp-client SRV-IDs, 1: _xmpp-server */
};

#define DANE_MAX_RECORDS 64

struct dane_match {
	size_t nusable;		/* usable records (after digest agility) */
	int matched;		/* index into the records, -1: none */
	uint32_t warnings;	/* enum dane_warning bits */
	/* Per record: 0 unusable, 1 usable, 2 ignored by digest agility;
	 * only the first DANE_MAX_RECORDS records are classified, the rest
	 * count as unusable. */
	uint8_t usable[DANE_MAX_RECORDS];
	uint8_t spki_sha256[32];	/* of the leaf's key */
	int have_leaf;
	int64_t not_after;	/* leaf expiry, seconds since the epoch */
	int pkix_valid;		/* chain valid under the system CAs for the
				 * domain (or the secure SRV target) */
	char detail[256];	/* why nothing matched, or the TA's subject */
};

/*
 * Matches `chain` (leaf first, DER) against `recs`.  `now` is the time for
 * validity checks.  Fills *out; returns 0, or -1 when the leaf cannot be
 * parsed (out->detail says why).  Records of unknown usage, selector or
 * matching type are unusable and never a mismatch.
 */
int dane_match(const struct dns_tlsa *recs, size_t nrecs,
	       const struct probe_cert *chain, size_t nchain,
	       const struct dane_names *names, time_t now,
	       struct dane_match *out);

/*
 * Replaces the system trust store (used for the PKIX report, PKIX-TA and
 * the "TA is a public CA" test) by the PEM CA file at `path`, loaded at the
 * next match; NULL goes back to the system store and frees the loaded one.
 * For tests and labs.  0 or -1 (out of memory).
 */
int dane_set_trust_file(const char *path);

/* True when this usage/selector/matching type is one certwatch knows. */
int dane_record_known(const struct dns_tlsa *t);

/* SHA-256 of the leaf's SubjectPublicKeyInfo DER.  0 or -1. */
int dane_spki_sha256(const uint8_t *der, size_t len, uint8_t out[32]);

/* Lower-case hex of `len` bytes into buf (2*len+1 bytes). */
void dane_hex(const uint8_t *in, size_t len, char *buf);

/* JSON word of one warning bit ("weak-ta", ...). */
const char *dane_warning_code(enum dane_warning w);

/* One sentence for a warning, for people ("the leaf certificate expired
 * on ...; clients that do not use DANE will refuse it"). */
const char *dane_warning_text(enum dane_warning w);

#endif
