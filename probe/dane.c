/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * dane.c - matches a presented chain against a TLSA RRset (RFC 6698,
 * RFC 7671) with our own path building over GnuTLS's X.509 API: a DANE-TA
 * match counts only when the leaf chains to the matched certificate with it
 * as the only trust anchor, and the leaf names the service.
 */
#include "probe/dane.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* Dates are ours to check (against `now`); GnuTLS checks signatures, CA
 * flags, path length and name constraints. */
#define VFLAGS                                                                 \
	(GNUTLS_VERIFY_DISABLE_TIME_CHECKS |                                   \
	 GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS)

/* Longest chain we look at; a server sending more is broken anyway. */
#define MAX_CHAIN 16

/* Trust anchors tried in one match, each a bounded path search: the cost
 * of a hostile chain stays small. */
#define MAX_TA_TRIES 32

struct cert {
	gnutls_x509_crt_t crt; /* NULL: did not parse */
	const uint8_t *der;
	size_t len;
	const uint8_t *spki; /* inside der */
	size_t spki_len;
};

/* The trust anchor a path must end at: one certificate (DANE-TA), or the
 * system store (PKIX). */
struct anchor {
	const struct cert *ta;	     /* NULL for the system store */
	gnutls_x509_trust_list_t tl; /* verifies the path */
};

static gnutls_x509_trust_list_t sys_tl;
static int sys_loaded;
static char *sys_file;

int dane_set_trust_file(const char *path)
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
static gnutls_x509_trust_list_t system_trust(void)
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
static void say(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* Reads one DER header at *off (definite lengths only, up to 4 length
 * bytes); on success *off is at the content and *vlen fits in len. */
static int der_header(const uint8_t *p, size_t len, size_t *off, uint8_t *tag,
		      size_t *vlen)
{
	size_t o = *off, l, n;

	if (o + 2 > len)
		return -1;
	*tag = p[o++];
	if ((*tag & 0x1f) == 0x1f)
		return -1; /* high tag numbers never occur here */
	l = p[o++];
	if (l & 0x80) {
		n = l & 0x7f;
		if (n == 0 || n > 4 || o + n > len)
			return -1;
		for (l = 0; n > 0; n--)
			l = (l << 8) | p[o++];
	}
	if (l > len - o)
		return -1;
	*off = o;
	*vlen = l;
	return 0;
}

/*
 * Finds the SubjectPublicKeyInfo (header included) in a certificate's DER:
 * Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
 * serial, signature, issuer, validity, subject, subjectPublicKeyInfo, ...
 * The exact bytes matter: selector 1 hashes the SPKI as the certificate
 * carries it, not a re-encoding.
 */
static int find_spki(const uint8_t *der, size_t len, const uint8_t **spki,
		     size_t *spki_len)
{
	/* serial, signature, issuer, validity, subject, then the SPKI */
	static const uint8_t want[6] = {0x02, 0x30, 0x30, 0x30, 0x30, 0x30};
	size_t off = 0, vlen, end, start = 0;
	uint8_t tag;
	int i;

	if (der_header(der, len, &off, &tag, &vlen) < 0 || tag != 0x30)
		return -1;
	if (der_header(der, len, &off, &tag, &vlen) < 0 || tag != 0x30)
		return -1;
	end = off + vlen;
	for (i = -1; i < 6; i++) {
		start = off;
		if (der_header(der, end, &off, &tag, &vlen) < 0)
			return -1;
		if (i == -1) {
			/* [0] version is optional */
			if (tag == 0xa0) {
				off += vlen;
				continue;
			}
			i = 0;
		}
		if (tag != want[i])
			return -1;
		if (i < 5)
			off += vlen;
	}
	*spki = der + start;
	*spki_len = off - start + vlen;
	return 0;
}

int dane_spki_sha256(const uint8_t *der, size_t len, uint8_t out[32])
{
	const uint8_t *spki;
	size_t spki_len;

	if (!der || find_spki(der, len, &spki, &spki_len) < 0)
		return -1;
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, spki, spki_len, out) < 0)
		return -1;
	return 0;
}

void dane_hex(const uint8_t *in, size_t len, char *buf)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		buf[2 * i] = digits[in[i] >> 4];
		buf[2 * i + 1] = digits[in[i] & 15];
	}
	buf[2 * len] = '\0';
}

int dane_record_known(const struct dns_tlsa *t)
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

static int cert_parse(struct cert *c, const uint8_t *der, size_t len)
{
	gnutls_datum_t d = {(unsigned char *)der, (unsigned)len};

	memset(c, 0, sizeof(*c));
	if (!der || len == 0 || len > 1u << 20)
		return -1;
	if (find_spki(der, len, &c->spki, &c->spki_len) < 0)
		return -1;
	if (gnutls_x509_crt_init(&c->crt) < 0) {
		c->crt = NULL;
		return -1;
	}
	if (gnutls_x509_crt_import(c->crt, &d, GNUTLS_X509_FMT_DER) < 0) {
		gnutls_x509_crt_deinit(c->crt);
		c->crt = NULL;
		return -1;
	}
	c->der = der;
	c->len = len;
	return 0;
}

static void cert_free(struct cert *c)
{
	if (c->crt)
		gnutls_x509_crt_deinit(c->crt);
	c->crt = NULL;
}

static int same_cert(const struct cert *a, const struct cert *b)
{
	return a->len == b->len && memcmp(a->der, b->der, a->len) == 0;
}

/* Does the record's data match this certificate (by its selector)? */
static int record_matches(const struct dns_tlsa *t, const struct cert *c)
{
	const uint8_t *d = t->selector == 0 ? c->der : c->spki;
	size_t len = t->selector == 0 ? c->len : c->spki_len;
	uint8_t h[64];

	switch (t->mtype) {
	case 0:
		return t->len == len && memcmp(t->data, d, len) == 0;
	case 1:
		return gnutls_hash_fast(GNUTLS_DIG_SHA256, d, len, h) == 0 &&
		       memcmp(h, t->data, 32) == 0;
	case 2:
		return gnutls_hash_fast(GNUTLS_DIG_SHA512, d, len, h) == 0 &&
		       memcmp(h, t->data, 64) == 0;
	}
	return 0;
}

/* Was `cur` signed by `iss`, an acceptable issuer (CA flag)? */
static int issued_by(gnutls_x509_crt_t cur, gnutls_x509_crt_t iss)
{
	unsigned status = 0;

	if (!gnutls_x509_crt_check_issuer(cur, iss))
		return 0;
	if (gnutls_x509_crt_verify(cur, &iss, 1, VFLAGS, &status) < 0)
		return 0;
	return status == 0;
}

/* 2: `cur` is the anchor itself, 1: the anchor issued it, 0: neither. */
static int anchor_issues(const struct anchor *a, const struct cert *cur)
{
	gnutls_x509_crt_t iss;
	int r;

	if (a->ta) {
		if (same_cert(cur, a->ta))
			return 2;
		return issued_by(cur->crt, a->ta->crt);
	}
	if (!a->tl)
		return 0;
	if (gnutls_x509_trust_list_get_issuer(a->tl, cur->crt, &iss,
					      GNUTLS_TL_GET_COPY) < 0)
		return 0;
	if (gnutls_x509_crt_equals(cur->crt, iss))
		r = 2;
	else
		r = issued_by(cur->crt, iss);
	gnutls_x509_crt_deinit(iss);
	return r;
}

/* Signature checks one path search may make: a hostile chain of
 * look-alikes must not cost a factorial. */
#define PATH_BUDGET 256

struct walk {
	const struct cert *certs;
	size_t n;
	const struct anchor *a;
	gnutls_x509_crt_t *path;
	size_t np;
	int used[MAX_CHAIN];
	size_t top, top_depth;
	int budget;
};

/* Depth-first from certs[cur], so that a cross-signed intermediate that
 * leads elsewhere does not hide the path to the anchor. */
static int extend(struct walk *w, size_t cur)
{
	size_t k;
	int r;

	r = w->a ? anchor_issues(w->a, &w->certs[cur]) : 0;
	if (r == 2 && cur != 0)
		w->np--; /* the anchor is not part of the path */
	if (r > 0)
		return 1;
	if (w->np > w->top_depth) {
		w->top = cur;
		w->top_depth = w->np;
	}
	for (k = 1; k < w->n; k++) {
		if (w->used[k] || !w->certs[k].crt)
			continue;
		/* The anchor is found by anchor_issues, never as a link */
		if (w->a && w->a->ta && same_cert(&w->certs[k], w->a->ta))
			continue;
		if (--w->budget < 0)
			return 0;
		if (!issued_by(w->certs[cur].crt, w->certs[k].crt))
			continue;
		w->used[k] = 1;
		w->path[w->np++] = w->certs[k].crt;
		if (extend(w, k))
			return 1;
		w->used[k] = 0;
		w->np--;
	}
	return 0;
}

/*
 * Builds leaf -> ... from the presented certificates until the anchor
 * issues the last one (the anchor itself stays out of the path unless it is
 * the leaf).  Returns 1 with the path in path[] / *np, or 0 with *top the
 * index of the highest certificate reached.  The anchor may be NULL: then
 * the walk just finds how far the presented chain goes.
 */
static int build_path(const struct cert *certs, size_t n,
		      const struct anchor *a, gnutls_x509_crt_t *path,
		      size_t *np, size_t *top)
{
	struct walk w;
	int ok;

	memset(&w, 0, sizeof(w));
	w.certs = certs;
	w.n = n;
	w.a = a;
	w.path = path;
	w.budget = PATH_BUDGET;
	path[0] = certs[0].crt;
	w.np = 1;
	w.used[0] = 1;
	ok = extend(&w, 0);
	*np = w.np;
	*top = w.top;
	return ok;
}

static int valid_at(gnutls_x509_crt_t c, time_t now)
{
	time_t from = gnutls_x509_crt_get_activation_time(c);
	time_t to = gnutls_x509_crt_get_expiration_time(c);

	return from != (time_t)-1 && to != (time_t)-1 && from <= now &&
	       now <= to;
}

/* An SRV-ID "_xmpp-client.DOMAIN" (RFC 6125 §6.5.1, RFC 6120 §13.7.1.2). */
static int srv_id_matches(const char *v, size_t len,
			  const struct dane_names *nm)
{
	const char *svc = nm->server ? "_xmpp-server." : "_xmpp-client.";
	size_t sl = strlen(svc), dl = strlen(nm->domain);

	return len == sl + dl && strncasecmp(v, svc, sl) == 0 &&
	       strncasecmp(v + sl, nm->domain, dl) == 0;
}

/* XmppAddr: a domain JID, UTF-8 with the U-label (RFC 6120 §13.7.1.4). */
static int xmpp_addr_matches(const char *v, size_t len,
			     const struct dane_names *nm)
{
	const char *d = nm->domain_u ? nm->domain_u : nm->domain;

	return len == strlen(d) && strncasecmp(v, d, len) == 0;
}

/* Does the leaf name the service: DNS-ID (domain or secure SRV target),
 * SRV-ID or XmppAddr? */
static int names_ok(gnutls_x509_crt_t crt, const struct dane_names *nm)
{
	char buf[512];
	size_t size;
	unsigned idx, crit;
	int type;

	if (!nm || !nm->domain || !*nm->domain)
		return 0;
	if (gnutls_x509_crt_check_hostname2(crt, nm->domain, 0))
		return 1;
	if (nm->srv_target && *nm->srv_target &&
	    gnutls_x509_crt_check_hostname2(crt, nm->srv_target, 0))
		return 1;
	/* GnuTLS decodes both otherNames into their virtual types; an entry
	 * it cannot decode (or too long) is skipped, not fatal. */
	for (idx = 0; idx < 256; idx++) {
		size = sizeof(buf);
		type = gnutls_x509_crt_get_subject_alt_name2(
		    crt, idx, buf, &size, NULL, &crit);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type < 0 || size >= sizeof(buf))
			continue;
		if (memchr(buf, '\0', size))
			continue;
		if (type == GNUTLS_SAN_OTHERNAME_SRV &&
		    srv_id_matches(buf, size, nm))
			return 1;
		if (type == GNUTLS_SAN_OTHERNAME_XMPP &&
		    xmpp_addr_matches(buf, size, nm))
			return 1;
	}
	return 0;
}

static void subject_of(gnutls_x509_crt_t c, char *buf, size_t len)
{
	size_t size = len;

	if (gnutls_x509_crt_get_dn(c, buf, &size) < 0)
		say(buf, len, "(unreadable subject)");
}

/*
 * Does the leaf chain to `ta` (signatures, dates, names), with `ta` as the
 * only trust anchor?  1 yes; 0 no, with the reason in why.
 */
static int chains_to(const struct cert *certs, size_t n, const struct cert *ta,
		     const struct dane_names *nm, time_t now, char *why,
		     size_t whylen)
{
	gnutls_x509_crt_t path[MAX_CHAIN], copy;
	gnutls_x509_trust_list_t tl;
	gnutls_datum_t d = {(unsigned char *)ta->der, (unsigned)ta->len};
	gnutls_datum_t txt;
	struct anchor a;
	size_t np = 0, top = 0, i;
	unsigned status = 0;
	int ok = 0;

	if (gnutls_x509_trust_list_init(&tl, 0) < 0)
		return 0;
	if (gnutls_x509_crt_init(&copy) < 0) {
		gnutls_x509_trust_list_deinit(tl, 1);
		return 0;
	}
	if (gnutls_x509_crt_import(copy, &d, GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_x509_trust_list_add_cas(tl, &copy, 1, 0) != 1) {
		gnutls_x509_crt_deinit(copy);
		gnutls_x509_trust_list_deinit(tl, 1);
		say(why, whylen, "the trust anchor cannot be used");
		return 0;
	}
	a.ta = ta;
	a.tl = tl;
	if (!build_path(certs, n, &a, path, &np, &top)) {
		say(why, whylen, "the leaf does not chain to it");
		goto out;
	}
	if (gnutls_x509_trust_list_verify_crt2(tl, path, (unsigned)np, NULL, 0,
					       VFLAGS, &status, NULL) < 0 ||
	    status != 0) {
		if (gnutls_certificate_verification_status_print(
			status, GNUTLS_CRT_X509, &txt, 0) == 0) {
			say(why, whylen, "the leaf does not chain to it: %s",
			    (char *)txt.data);
			gnutls_free(txt.data);
		} else {
			say(why, whylen, "the leaf does not chain to it");
		}
		goto out;
	}
	/* The anchor's own dates are not checked (RFC 5280 §6.1: a trust
	 * anchor is an input to path validation, not part of the path). */
	for (i = 0; i < np; i++) {
		if (!valid_at(path[i], now)) {
			say(why, whylen,
			    i == 0 ? "the leaf is expired or not yet valid"
				   : "an intermediate is expired or not yet "
				     "valid");
			goto out;
		}
	}
	if (!names_ok(certs[0].crt, nm)) {
		say(why, whylen, "the leaf does not name %s",
		    nm && nm->domain ? nm->domain : "the domain");
		goto out;
	}
	ok = 1;
out:
	gnutls_x509_trust_list_deinit(tl, 1);
	return ok;
}

/* The presented chain (with the system's anchor) is valid for the names. */
static int pkix_valid(const struct cert *certs, size_t n,
		      const struct dane_names *nm, time_t now)
{
	gnutls_x509_crt_t path[MAX_CHAIN];
	struct anchor a = {NULL, system_trust()};
	size_t np = 0, top = 0, i;
	unsigned status = 0;
	/* What a PKIX client also wants: a server certificate */
	gnutls_typed_vdata_st purpose = {
	    GNUTLS_DT_KEY_PURPOSE_OID,
	    (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER, 0};

	if (!a.tl || !build_path(certs, n, &a, path, &np, &top))
		return 0;
	if (gnutls_x509_trust_list_verify_crt2(a.tl, path, (unsigned)np,
					       &purpose, 1, VFLAGS, &status,
					       NULL) < 0 ||
	    status != 0)
		return 0;
	for (i = 0; i < np; i++)
		if (!valid_at(path[i], now))
			return 0;
	return names_ok(certs[0].crt, nm);
}

/* Is this trust anchor a public CA: in the system store, or issued under
 * it?  Anyone who can get a certificate from it passes a match on it. */
static int is_public_ca(const struct cert *ta)
{
	gnutls_x509_trust_list_t tl = system_trust();
	unsigned status = 0;

	if (!tl)
		return 0;
	if (gnutls_x509_trust_list_verify_crt2(
		tl, (gnutls_x509_crt_t *)&ta->crt, 1, NULL, 0, VFLAGS, &status,
		NULL) < 0)
		return 0;
	return status == 0;
}

/* Does the presented chain stop below a certificate it does not include
 * (its top is not self-issued)?  Then a TA may simply not have been sent. */
static int chain_is_cut(const struct cert *certs, size_t n)
{
	gnutls_x509_crt_t path[MAX_CHAIN];
	size_t np, top = 0;

	build_path(certs, n, NULL, path, &np, &top);
	return !gnutls_x509_crt_check_issuer(certs[top].crt, certs[top].crt);
}

/* Rank for picking the match: DANE-EE, DANE-TA, PKIX-EE, PKIX-TA. */
static int usage_rank(uint8_t usage)
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
	int best_rank;
	int ta_candidate; /* some DANE-TA record matched a presented cert */
	int tries;	  /* anchors tried, at most MAX_TA_TRIES */
	char why[256];	  /* why the closest TA candidate failed */
};

/* A record matched with TA `ta` (NULL for an end-entity match). */
static void note_match(struct state *s, size_t i, const struct cert *ta)
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
		say(s->out->detail, sizeof(s->out->detail), "trust anchor %s",
		    dn);
		if (is_public_ca(ta))
			s->out->warnings |= DANE_W_WEAK_TA;
	} else {
		say(s->out->detail, sizeof(s->out->detail),
		    "the leaf certificate");
	}
}

/* Tries `ta` as the anchor of record i; 1 on a match. */
static int try_ta(struct state *s, size_t i, const struct cert *ta)
{
	char why[160], dn[160];

	/* Look-alikes sharing a key can each match a 2 1 x record */
	if (++s->tries > MAX_TA_TRIES)
		return 0;
	if (chains_to(s->certs, s->n, ta, s->nm, s->now, why, sizeof(why))) {
		note_match(s, i, ta);
		return 1;
	}
	if (!s->ta_candidate) {
		subject_of(ta->crt, dn, sizeof(dn));
		say(s->why, sizeof(s->why),
		    "the record %u %u %u matches %s, but %s", s->recs[i].usage,
		    s->recs[i].selector, s->recs[i].mtype, dn, why);
	}
	s->ta_candidate = 1;
	return 0;
}

/* Matches one usable TA record (usage 2 or 0); 1 on a match. */
static int match_ta(struct state *s, size_t i, int *seen)
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
		if (cert_parse(&dns, t->data, t->len) < 0)
			return 0;
		r = try_ta(s, i, &dns);
		cert_free(&dns);
		return r;
	}
	for (j = 0; j < s->n && !r; j++) {
		if (!s->certs[j].crt || !record_matches(t, &s->certs[j]))
			continue;
		/* The leaf can be its own anchor only when self-issued */
		if (j == 0 && !gnutls_x509_crt_check_issuer(s->certs[0].crt,
							    s->certs[0].crt))
			continue;
		*seen = 1;
		r = try_ta(s, i, &s->certs[j]);
	}
	if (r || t->usage != 0 || !system_trust())
		return r;
	/* PKIX-TA may name a root of the system store the server does not
	 * send (RFC 7671 §5.4): try the issuer of the presented chain's top */
	build_path(s->certs, s->n, NULL, path, &np, &top);
	if (gnutls_x509_trust_list_get_issuer(system_trust(), s->certs[top].crt,
					      &iss, GNUTLS_TL_GET_COPY) < 0)
		return 0;
	if (gnutls_x509_crt_export2(iss, GNUTLS_X509_FMT_DER, &der) == 0) {
		if (cert_parse(&sys, der.data, der.size) == 0) {
			if (record_matches(t, &sys)) {
				*seen = 1;
				r = try_ta(s, i, &sys);
			}
			cert_free(&sys);
		}
		gnutls_free(der.data);
	}
	gnutls_x509_crt_deinit(iss);
	return r;
}

/* Marks usable records, then digest agility (RFC 7671 §9). */
static size_t classify(const struct dns_tlsa *recs, size_t nrecs,
		       uint8_t *usable)
{
	int has512[4][2] = {{0}};
	size_t i, n = 0,
		  lim = nrecs < DANE_MAX_RECORDS ? nrecs : DANE_MAX_RECORDS;

	for (i = 0; i < lim; i++) {
		usable[i] = (uint8_t)dane_record_known(&recs[i]);
		if (usable[i] && recs[i].mtype == 2)
			has512[recs[i].usage][recs[i].selector] = 1;
	}
	for (i = 0; i < lim; i++) {
		if (usable[i] && recs[i].mtype == 1 &&
		    has512[recs[i].usage][recs[i].selector])
			usable[i] = 2;
		n += usable[i] == 1;
	}
	return n;
}

int dane_match(const struct dns_tlsa *recs, size_t nrecs,
	       const struct probe_cert *chain, size_t nchain,
	       const struct dane_names *names, time_t now,
	       struct dane_match *out)
{
	struct cert certs[MAX_CHAIN];
	uint8_t hit[DANE_MAX_RECORDS] = {0};
	struct state s;
	size_t i, j, n, lim;
	int seen, ta_unseen = 0, stale = 0;

	memset(out, 0, sizeof(*out));
	out->matched = -1;
	if (!recs)
		nrecs = 0;
	lim = nrecs < DANE_MAX_RECORDS ? nrecs : DANE_MAX_RECORDS;
	out->nusable = classify(recs, nrecs, out->usable);
	if (!chain || nchain == 0) {
		say(out->detail, sizeof(out->detail), "no certificate");
		return -1;
	}
	n = nchain < MAX_CHAIN ? nchain : MAX_CHAIN;
	if (cert_parse(&certs[0], chain[0].der, chain[0].len) < 0) {
		say(out->detail, sizeof(out->detail),
		    "the leaf certificate cannot be parsed");
		return -1;
	}
	for (i = 1; i < n; i++) {
		cert_parse(&certs[i], chain[i].der, chain[i].len);
		/* A repeated certificate never helps a path, only costs */
		for (j = 0; certs[i].crt && j < i; j++)
			if (certs[j].crt && same_cert(&certs[i], &certs[j]))
				cert_free(&certs[i]);
	}

	out->have_leaf = 1;
	gnutls_hash_fast(GNUTLS_DIG_SHA256, certs[0].spki, certs[0].spki_len,
			 out->spki_sha256);
	out->not_after =
	    (int64_t)gnutls_x509_crt_get_expiration_time(certs[0].crt);
	if (out->not_after < (int64_t)now)
		out->warnings |= DANE_W_EXPIRED_LEAF;
	if (!names_ok(certs[0].crt, names))
		out->warnings |= DANE_W_NAME_MISMATCH;
	out->pkix_valid = pkix_valid(certs, n, names, now);
	if (!out->pkix_valid)
		out->warnings |= DANE_W_PKIX_INVALID;

	memset(&s, 0, sizeof(s));
	s.recs = recs;
	s.certs = certs;
	s.n = n;
	s.nm = names;
	s.now = now;
	s.out = out;
	for (i = 0; i < lim; i++) {
		if (out->usable[i] != 1)
			continue;
		if (recs[i].usage == 3 || recs[i].usage == 1) {
			hit[i] = (uint8_t)record_matches(&recs[i], &certs[0]);
			if (hit[i])
				note_match(&s, i, NULL);
			continue;
		}
		hit[i] = (uint8_t)match_ta(&s, i, &seen);
		if (!seen && recs[i].usage == 2)
			ta_unseen = 1;
	}
	for (i = 0; i < lim; i++)
		if (out->usable[i] == 1 && !hit[i])
			stale = 1;
	if (out->matched >= 0) {
		if (stale)
			out->warnings |= DANE_W_STALE_RECORD;
	} else if (out->nusable == 0) {
		say(out->detail, sizeof(out->detail), "%s",
		    nrecs ? "no usable TLSA record (unknown usage, selector "
			    "or matching type)"
			  : "no TLSA record");
	} else if (s.ta_candidate) {
		say(out->detail, sizeof(out->detail), "%s", s.why);
	} else if (ta_unseen && chain_is_cut(certs, n)) {
		out->warnings |= DANE_W_TA_NOT_SENT;
		say(out->detail, sizeof(out->detail),
		    "no certificate of the chain matches a DANE-TA record: "
		    "the server may not send its trust anchor, which "
		    "RFC 7671 §5.2 requires");
	} else {
		char hex[65];

		dane_hex(out->spki_sha256, 32, hex);
		say(out->detail, sizeof(out->detail),
		    "no usable record matches the leaf (SPKI SHA-256 %s) "
		    "or a trust anchor in the chain",
		    hex);
	}
	for (i = 0; i < n; i++)
		cert_free(&certs[i]);
	return 0;
}

const char *dane_warning_code(enum dane_warning w)
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
	}
	return NULL;
}

const char *dane_warning_text(enum dane_warning w)
{
	switch (w) {
	case DANE_W_WEAK_TA:
		return "the matched trust anchor is a public CA: anyone who "
		       "can "
		       "get a certificate from it passes; publish a 3 1 1 "
		       "record of your own key instead";
	case DANE_W_STALE_RECORD:
		return "a TLSA record matches nothing the server presents; "
		       "remove it once it is no longer needed for a rollover";
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
	}
	return NULL;
}
