/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * dane.c - matches a presented chain against a TLSA RRset (RFC 6698,
 * RFC 7671) with our own path building over GnuTLS's X.509 API: a DANE-TA
 * match counts only when the leaf chains to the matched certificate with it
 * as the only trust anchor, and the leaf names the service.  This file:
 * certificates as read, the cost bound, the records and the match; the
 * paths are dane_path.c's (both under dane_int.h).
 */
#include "probe/dane_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

static gnutls_x509_trust_list_t sys_tl;
static int sys_loaded;
static char *sys_file;

int
dane_set_trust_file(const char *path)
{
	if (sys_tl)
		gnutls_x509_trust_list_deinit(sys_tl, 1);
	sys_tl = NULL;
	sys_loaded = 0;
	free(sys_file);
	sys_file = NULL;
	if (path && !(sys_file = strdup(path)))
		return -1;
	return 0;
}

/* The system CAs (or the file of dane_set_trust_file), loaded once; NULL
 * when none could be loaded. */
gnutls_x509_trust_list_t
dane_system_trust(void)
{
	int n;

	if (sys_loaded)
		return sys_tl;
	sys_loaded = 1;
	if (gnutls_x509_trust_list_init(&sys_tl, 0) < 0) {
		sys_tl = NULL;
		return NULL;
	}
	if (sys_file)
		n = gnutls_x509_trust_list_add_trust_file(
		    sys_tl, sys_file, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
	else
		n = gnutls_x509_trust_list_add_system_trust(sys_tl, 0, 0);
	if (n <= 0) {
		gnutls_x509_trust_list_deinit(sys_tl, 1);
		sys_tl = NULL;
	}
	return sys_tl;
}

/* Text into a fixed buffer; cutting a long subject short is fine. */

void
dane_say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static void
cost_init(struct cost *c, unsigned left)
{
	memset(c, 0, sizeof(*c));
	c->left = left;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c->deadline);
	c->deadline.tv_nsec += (long)DANE_MATCH_MAX_MS * 1000000L;
	c->deadline.tv_sec += c->deadline.tv_nsec / 1000000000L;
	c->deadline.tv_nsec %= 1000000000L;
}

/* Notes that a bound stopped the match (out); the first reason is kept
 * for the report even when the match goes on with the next record. */
static void cost_stop(struct cost *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
cost_stop(struct cost *c, const char *fmt, ...)
{
	va_list ap;

	c->out = 1;
	if (c->why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
}

/* Is there time left?  Checked before each verification and each piece
 * of work the count does not bound (an anchor tried); the first
 * DANE_VERIFY_FREE verifications always have time. */
int
dane_cost_time(struct cost *c)
{
	struct timespec t;

	if (c->spent < DANE_VERIFY_FREE)
		return 1;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	if (t.tv_sec < c->deadline.tv_sec ||
	    (t.tv_sec == c->deadline.tv_sec && t.tv_nsec < c->deadline.tv_nsec))
		return 1;
	cost_stop(c, "matching took longer than %d ms", DANE_MATCH_MAX_MS);
	return 0;
}

/* Takes n signature verifications; 0 (and the match is marked as cut
 * short) when the budget or the time is spent. */
int
dane_cost_take(struct cost *c, unsigned n)
{
	if (c->left < n) {
		cost_stop(c, "the budget of signature verifications is spent");
		return 0;
	}
	if (!dane_cost_time(c))
		return 0;
	c->left -= n;
	c->spent += n;
	return 1;
}

static void
subject_of(gnutls_x509_crt_t c, char *buf, size_t len)
{
	size_t size = len;

	if (gnutls_x509_crt_get_dn(c, buf, &size) < 0)
		dane_say(buf, len, "(unreadable subject)");
}

/*
 * Is verifying a signature with this certificate's key too costly?  The
 * cost of an RSA verification grows with the exponent's length times the
 * square of the modulus's: a 16,384-bit key with a 16,384-bit exponent
 * costs seconds (docs/performance.md).  Returns 1 with the reason in
 * c->why (the match is cut short), 0 when the key may be used.
 */
int
dane_rsa_too_costly(gnutls_x509_crt_t crt, unsigned *bits, unsigned *ebits)
{
	gnutls_datum_t m = {NULL, 0}, e = {NULL, 0};
	unsigned i;
	int alg;

	*bits = *ebits = 0;
	alg = gnutls_x509_crt_get_pk_algorithm(crt, bits);
	if (alg != GNUTLS_PK_RSA && alg != GNUTLS_PK_RSA_PSS)
		return 0;
	if (gnutls_x509_crt_get_pk_rsa_raw(crt, &m, &e) < 0)
		return -1;
	for (i = 0; i < e.size && e.data[i] == 0; i++)
		;
	if (i < e.size)
		for (*ebits = 8 * (e.size - i);
		     *ebits > 0 && !(e.data[i] & (1u << ((*ebits - 1) % 8)));
		     (*ebits)--)
			;
	gnutls_free(m.data);
	gnutls_free(e.data);
	return *bits > DANE_RSA_MAX_BITS || *ebits > 32;
}

int
dane_key_refused(gnutls_x509_crt_t crt, struct cost *c)
{
	unsigned bits, ebits;
	char dn[120];
	int rsa = dane_rsa_too_costly(crt, &bits, &ebits);

	if (rsa < 0) {
		/* Its cost cannot be known: refused (fail closed) */
		subject_of(crt, dn, sizeof(dn));
		cost_stop(c, "the RSA key of %s cannot be read", dn);
		return 1;
	}
	if (rsa > 0) {
		subject_of(crt, dn, sizeof(dn));
		cost_stop(c,
			  "the RSA key of %s is refused (%u-bit "
			  "modulus, %u-byte exponent; at most %d "
			  "bits and an exponent below 2^32)",
			  dn, bits, (ebits + 7) / 8, DANE_RSA_MAX_BITS);
		return 1;
	}
	if (gnutls_x509_crt_get_pk_algorithm(crt, &bits) == GNUTLS_PK_DSA &&
	    bits > DANE_DSA_MAX_BITS) {
		subject_of(crt, dn, sizeof(dn));
		cost_stop(c, "the %u-bit DSA key of %s is refused", bits, dn);
		return 1;
	}
	return 0;
}

int
dane_spki_sha256(const uint8_t *der, size_t len, uint8_t out[32])
{
	struct cert c;
	int r = -1;

	if (dane_cert_parse(&c, der, len) < 0)
		return -1;
	if (c.spki.data) {
		memcpy(out, c.spki256, 32);
		r = 0;
	}
	dane_cert_free(&c);
	return r;
}

void
dane_hex(const uint8_t *in, size_t len, char *buf)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		buf[2 * i] = digits[in[i] >> 4];
		buf[2 * i + 1] = digits[in[i] & 15];
	}
	buf[2 * len] = '\0';
}

int
dane_record_known(const struct dns_tlsa *t)
{
	if (!t || t->usage > 3 || t->selector > 1 || !t->data)
		return 0;
	/* A digest of the wrong length can never match: like OpenSSL's DANE
	 * code, treat it as unusable rather than as a mismatch. */
	switch (t->mtype) {
	case 0:
		return t->len > 0;
	case 1:
		return t->len == 32;
	case 2:
		return t->len == 64;
	default:
		return 0;
	}
}

int
dane_same_cert(const struct cert *a, const struct cert *b)
{
	return a->len == b->len && memcmp(a->der, b->der, a->len) == 0;
}

/* Does the record's data match this certificate (by its selector)? */
static int
record_matches(const struct dns_tlsa *t, const struct cert *c)
{
	int full = t->selector == 0;

	if (!full && !c->spki.data)
		return 0;
	switch (t->mtype) {
	case 0:
		if (full)
			return t->len == c->len &&
			       memcmp(t->data, c->der, c->len) == 0;
		return t->len == c->spki.size &&
		       memcmp(t->data, c->spki.data, t->len) == 0;
	case 1:
		return memcmp(full ? c->der256 : c->spki256, t->data, 32) == 0;
	case 2:
		return memcmp(full ? c->der512 : c->spki512, t->data, 64) == 0;
	}
	return 0;
}

/* Rank for picking the match: DANE-EE, DANE-TA, PKIX-EE, PKIX-TA. */
static int
usage_rank(uint8_t usage)
{
	static const int rank[4] = {3, 2, 1, 0};

	return rank[usage & 3];
}

/* What the match of records so far looks like. */
struct state {
	const struct dns_tlsa *recs;
	struct cert *certs;
	size_t n;
	const struct dane_names *nm;
	time_t now;
	struct dane_match *out;
	struct cost cost;
	int best_rank;
	int ta_candidate; /* some DANE-TA record matched a presented cert */
	char why[256];	  /* why the closest TA candidate failed */
};

/* A record matched with TA `ta` (NULL for an end-entity match). */
static void
note_match(struct state *s, size_t i, const struct cert *ta)
{
	int rank = usage_rank(s->recs[i].usage);
	char dn[160];

	if (s->out->matched >= 0 && rank >= s->best_rank)
		return;
	s->out->matched = (int)i;
	s->best_rank = rank;
	s->out->warnings &= ~DANE_W_WEAK_TA;
	if (ta) {
		subject_of(ta->crt, dn, sizeof(dn));
		dane_say(s->out->detail, sizeof(s->out->detail),
			 "trust anchor %s", dn);
		if (dane_path_public_ca(ta, &s->cost))
			s->out->warnings |= DANE_W_WEAK_TA;
	} else {
		dane_say(s->out->detail, sizeof(s->out->detail),
			 "the leaf certificate");
	}
}

/* Tries `ta` as the anchor of record i; 1 on a match. */
static int
try_ta(struct state *s, size_t i, const struct cert *ta)
{
	char why[160], dn[160];

	if (dane_path_chains_to(s->certs, s->n, ta, s->nm, s->now, &s->cost,
				why, sizeof(why))) {
		note_match(s, i, ta);
		return 1;
	}
	if (!s->ta_candidate && !s->cost.out) {
		subject_of(ta->crt, dn, sizeof(dn));
		dane_say(s->why, sizeof(s->why),
			 "the record %u %u %u matches %s, but %s",
			 s->recs[i].usage, s->recs[i].selector,
			 s->recs[i].mtype, dn, why);
		s->ta_candidate = 1;
	}
	return 0;
}

/* Matches one usable TA record (usage 2 or 0); 1 on a match. */
static int
match_ta(struct state *s, size_t i, int *seen)
{
	const struct dns_tlsa *t = &s->recs[i];
	gnutls_x509_crt_t path[MAX_CHAIN], iss;
	struct cert dns, sys;
	gnutls_datum_t der;
	size_t j, np, top;
	int r = 0;

	*seen = 0;
	if (t->selector == 0 && t->mtype == 0) {
		/* 2 0 0 / 0 0 0: the anchor is in DNS, whether sent or not */
		*seen = 1;
		if (!dane_cost_time(&s->cost) ||
		    dane_cert_parse(&dns, t->data, t->len) < 0)
			return 0;
		r = try_ta(s, i, &dns);
		dane_cert_free(&dns);
		return r;
	}
	for (j = 0; j < s->n && !r && !s->cost.out; j++) {
		if (!s->certs[j].crt || !record_matches(t, &s->certs[j]))
			continue;
		/* The leaf can be its own anchor only when self-issued */
		if (j == 0 && !gnutls_x509_crt_check_issuer(s->certs[0].crt,
							    s->certs[0].crt))
			continue;
		*seen = 1;
		r = try_ta(s, i, &s->certs[j]);
	}
	if (r || t->usage != 0 || !dane_system_trust() || s->cost.out)
		return r;
	/* PKIX-TA may name a root of the system store the server does not
	 * send (RFC 7671 §5.4): try the issuer of the presented chain's top */
	dane_path_build(s->certs, s->n, NULL, path, &np, &top, &s->cost);
	if (gnutls_x509_trust_list_get_issuer(dane_system_trust(),
					      s->certs[top].crt, &iss,
					      GNUTLS_TL_GET_COPY) < 0)
		return 0;
	if (gnutls_x509_crt_export2(iss, GNUTLS_X509_FMT_DER, &der) == 0) {
		if (dane_cert_parse(&sys, der.data, der.size) == 0) {
			if (record_matches(t, &sys)) {
				*seen = 1;
				r = try_ta(s, i, &sys);
			}
			dane_cert_free(&sys);
		}
		gnutls_free(der.data);
	}
	gnutls_x509_crt_deinit(iss);
	return r;
}

/*
 * The class of record i: 0 unusable, 1 usable, 2 ignored by digest agility
 * (RFC 7671 §9: a usage and selector with SHA-512 records ignore their
 * SHA-256 ones).  has512 comes from every record of the RRset.
 */
static uint8_t
record_class(const struct dns_tlsa *t, int has512[4][2])
{
	if (!dane_record_known(t))
		return 0;
	if (t->mtype == 1 && has512[t->usage][t->selector])
		return 2;
	return 1;
}

/* Classifies every record; reports the first DANE_MAX_RECORDS. */
static size_t
classify(const struct dns_tlsa *recs, size_t nrecs, int has512[4][2],
	 uint8_t *usable)
{
	size_t i, n = 0;
	uint8_t k;

	for (i = 0; i < nrecs; i++)
		if (dane_record_known(&recs[i]) && recs[i].mtype == 2)
			has512[recs[i].usage][recs[i].selector] = 1;
	for (i = 0; i < nrecs; i++) {
		k = record_class(&recs[i], has512);
		if (i < DANE_MAX_RECORDS)
			usable[i] = k;
		n += k == 1;
	}
	return n;
}

/* Why nothing matched, when something did not. */
static void
explain(struct state *s, size_t nrecs, int ta_unseen)
{
	struct dane_match *out = s->out;
	char hex[90];

	if (out->have_leaf) {
		memcpy(hex, "SPKI SHA-256 ", 13);
		dane_hex(out->spki_sha256, 32, hex + 13);
	} else {
		dane_say(hex, sizeof(hex), "a key GnuTLS cannot read");
	}
	if (out->nusable == 0) {
		dane_say(out->detail, sizeof(out->detail), "%s",
			 nrecs
			     ? "no usable TLSA record (unknown usage, selector "
			       "or matching type)"
			     : "no TLSA record");
	} else if (out->too_costly) {
		/* Before any other reason: what was not tried might have
		 * matched, or might have explained the mismatch.  The key
		 * first, so that a long reason cannot cut it short. */
		dane_say(
		    out->detail, sizeof(out->detail),
		    "chain too costly: the leaf's key (%s) matches no record "
		    "tried; %s",
		    hex, s->cost.why);
	} else if (s->ta_candidate) {
		dane_say(out->detail, sizeof(out->detail), "%s", s->why);
	} else if (ta_unseen && dane_path_cut(s->certs, s->n, &s->cost)) {
		out->warnings |= DANE_W_TA_NOT_SENT;
		dane_say(
		    out->detail, sizeof(out->detail),
		    "no certificate of the chain matches a DANE-TA record: "
		    "the server may not send its trust anchor, which "
		    "RFC 7671 §5.2 requires");
	} else {
		dane_say(out->detail, sizeof(out->detail),
			 "no usable record matches the leaf (%s) "
			 "or a trust anchor in the chain",
			 hex);
	}
}

/* Matches the records against the parsed chain: end-entity records first
 * (no signature to verify), then each TA record with a fair share of
 * what is left.  Sets s->out's match, too_costly and warnings. */
static void
match_records(struct state *s, size_t nrecs, int has512[4][2], int *ta_unseen)
{
	struct dane_match *out = s->out;
	size_t i, nta = 0;
	unsigned before, share;
	int hit, seen, stale = 0;

	for (i = 0; i < nrecs; i++) {
		if (record_class(&s->recs[i], has512) != 1)
			continue;
		if (s->recs[i].usage == 3 || s->recs[i].usage == 1) {
			hit = record_matches(&s->recs[i], &s->certs[0]);
			if (hit)
				note_match(s, i, NULL);
			stale |= !hit;
		} else {
			nta++;
		}
	}
	/* A hostile record first must not use up the tries of the
	 * operator's own: each TA record may spend its share of what is left
	 * (rounded up), and what it does not spend goes to the next ones. */
	for (i = 0; i < nrecs && nta > 0; i++) {
		if (record_class(&s->recs[i], has512) != 1 ||
		    s->recs[i].usage == 3 || s->recs[i].usage == 1)
			continue;
		before = s->cost.left;
		share = (before + (unsigned)nta - 1) / (unsigned)nta;
		nta--;
		s->cost.left = share;
		hit = match_ta(s, i, &seen);
		s->cost.left = before - (share - s->cost.left);
		if (s->cost.out) {
			/* This record was not tried to the end: neither a
			 * match nor stale.  The next ones still get their
			 * shares while the match has verifications and
			 * time left. */
			out->too_costly = 1;
			if (!dane_cost_time(&s->cost) || s->cost.left == 0)
				break;
			s->cost.out = 0;
			continue;
		}
		stale |= !hit;
		if (!seen && s->recs[i].usage == 2)
			*ta_unseen = 1;
	}
	if (out->matched >= 0 && stale)
		out->warnings |= DANE_W_STALE_RECORD;
}

/* Whether the leaf embeds an SCT list (RFC 6962 §3.3, the X.509v3
 * extension 1.3.6.1.4.1.11129.2.4.2).  SCTs sent in the TLS extension
 * or an OCSP response are not seen: XMPP servers staple neither. */
static int
has_sct(gnutls_x509_crt_t crt)
{
	for (unsigned i = 0; i < 256; i++) {
		char oid[128];
		size_t len = sizeof(oid);
		unsigned crit;
		int r = gnutls_x509_crt_get_extension_info(crt, i, oid, &len,
							   &crit);
		if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			return 0;
		if (r == 0 && !strcmp(oid, "1.3.6.1.4.1.11129.2.4.2"))
			return 1;
	}
	return 0;
}

void
dane_match(const struct dns_tlsa *recs, size_t nrecs,
	   const struct probe_cert *chain, size_t nchain,
	   const struct dane_names *names, time_t now,
	   struct dane_budget *budget, struct dane_match *out)
{
	struct cert certs[MAX_CHAIN];
	int has512[4][2] = {{0}};
	struct state s;
	size_t i, j, n = 0;
	unsigned left = DANE_VERIFY_PER_MATCH;
	int ta_unseen = 0, pkix;

	memset(out, 0, sizeof(*out));
	out->matched = -1;
	if (!recs)
		nrecs = 0;
	out->nusable = classify(recs, nrecs, has512, out->usable);
	if (budget) {
		if (budget->spent >= DANE_VERIFY_PER_CHECK)
			left = 0;
		else if (DANE_VERIFY_PER_CHECK - budget->spent < left)
			left = DANE_VERIFY_PER_CHECK - budget->spent;
	}
	/* Loaded once per process, before the clock starts: reading the
	 * store is no cost of this chain's */
	(void)dane_system_trust();
	memset(&s, 0, sizeof(s));
	cost_init(&s.cost, left);
	if (!chain || nchain == 0) {
		dane_say(out->detail, sizeof(out->detail), "no certificate");
		return;
	}
	if (dane_cert_parse(&certs[0], chain[0].der, chain[0].len) < 0) {
		/* The handshake completed with it: a mismatch, not a reason
		 * to stop looking (the verdict is the caller's). */
		dane_say(
		    out->detail, sizeof(out->detail),
		    "the leaf certificate cannot be parsed (%zu bytes), so no "
		    "record can match it",
		    chain[0].len);
		return;
	}
	n = nchain < MAX_CHAIN ? nchain : MAX_CHAIN;
	for (i = 1; i < n; i++) {
		dane_cert_parse(&certs[i], chain[i].der, chain[i].len);
		/* A repeated certificate never helps a path, only costs */
		for (j = 0; certs[i].crt && j < i; j++)
			if (certs[j].crt &&
			    dane_same_cert(&certs[i], &certs[j]))
				dane_cert_free(&certs[i]);
	}

	out->have_leaf = certs[0].spki.data != NULL;
	memcpy(out->spki_sha256, certs[0].spki256, 32);
	out->not_after =
	    (int64_t)gnutls_x509_crt_get_expiration_time(certs[0].crt);
	if (out->not_after < (int64_t)now)
		out->warnings |= DANE_W_EXPIRED_LEAF;
	if (!dane_path_names_ok(certs[0].crt, names))
		out->warnings |= DANE_W_NAME_MISMATCH;

	s.recs = recs;
	s.certs = certs;
	s.n = n;
	s.nm = names;
	s.now = now;
	s.out = out;
	match_records(&s, nrecs, has512, &ta_unseen);
	if (out->matched < 0)
		explain(&s, nrecs, ta_unseen);
	/* The PKIX report last: it is a warning, the match is the verdict */
	s.cost.out = 0;
	pkix = dane_path_pkix_valid(certs, n, names, now, &s.cost);
	out->pkix_valid = pkix == 1;
	if (pkix == 0)
		out->warnings |= DANE_W_PKIX_INVALID;
	if (pkix == 1 && !has_sct(certs[0].crt))
		out->warnings |= DANE_W_NO_SCT;
	out->verifications = s.cost.spent;
	if (budget)
		budget->spent += s.cost.spent;
	for (i = 0; i < n; i++)
		dane_cert_free(&certs[i]);
}

const char *
dane_warning_code(enum dane_warning w)
{
	switch (w) {
	case DANE_W_WEAK_TA:
		return "weak-ta";
	case DANE_W_STALE_RECORD:
		return "stale-record";
	case DANE_W_EXPIRED_LEAF:
		return "expired-leaf";
	case DANE_W_NAME_MISMATCH:
		return "name-mismatch";
	case DANE_W_PKIX_INVALID:
		return "pkix-invalid";
	case DANE_W_TA_NOT_SENT:
		return "ta-not-sent";
	case DANE_W_NO_SCT:
		return "no-sct";
	}
	return NULL;
}

const char *
dane_warning_text(enum dane_warning w)
{
	switch (w) {
	case DANE_W_WEAK_TA:
		return "the matched trust anchor is a public CA: anyone who "
		       "can "
		       "get a certificate from it passes; publish a 3 1 1 "
		       "record of your own key instead";
	case DANE_W_STALE_RECORD:
		return "a TLSA record matches nothing the server presents: "
		       "an old key's, or a prepared next key; remove an old "
		       "one once no rollover needs it";
	case DANE_W_EXPIRED_LEAF:
		return "the leaf certificate has expired; clients that do not "
		       "use DANE will refuse it";
	case DANE_W_NAME_MISMATCH:
		return "the leaf certificate does not name the domain; clients "
		       "that do not use DANE will refuse it";
	case DANE_W_PKIX_INVALID:
		return "the chain is not valid under the public CAs; clients "
		       "that do not use DANE, and PKIX-TA/PKIX-EE records, "
		       "will refuse it";
	case DANE_W_TA_NOT_SENT:
		return "the server does not send the trust anchor its DANE-TA "
		       "record names; DANE clients need it in the chain";
	case DANE_W_NO_SCT:
		return "the leaf is from a public CA but carries no Signed "
		       "Certificate Timestamp: it was not shown to be in a "
		       "Certificate Transparency log, where its owner could "
		       "see it; browsers would refuse it";
	}
	return NULL;
}
