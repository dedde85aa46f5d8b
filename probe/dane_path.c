/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * dane_path.c - the paths a DANE-TA or PKIX match needs (RFC 7671 §5.2):
 * from the leaf up the presented chain to one trust anchor, each link's
 * signature verified once per match under the cost bound, dates against
 * `now`, the service's names in the leaf (RFC 7673 DNS-ID, RFC 6120 §13.7
 * SRV-ID and XmppAddr); GnuTLS verifies signatures, CA flags, path length
 * and name constraints.
 */
#include "probe/dane_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Was `cur` signed by `iss`, an acceptable issuer (CA flag)?  One
 * signature verification, if the names agree and the key is not refused. */
static int
issued_by(gnutls_x509_crt_t cur, gnutls_x509_crt_t iss, struct cost *c)
{
	unsigned status = 0;

	if (!gnutls_x509_crt_check_issuer(cur, iss))
		return 0;
	if (dane_key_refused(iss, c) || !dane_cost_take(c, 1))
		return 0;
	if (gnutls_x509_crt_verify(cur, &iss, 1, VFLAGS, &status) < 0)
		return 0;
	return status == 0;
}

/* 2: `cur` is the anchor itself, 1: the anchor issued it, 0: neither. */
static int
anchor_issues(const struct anchor *a, const struct cert *cur, struct cost *c)
{
	gnutls_x509_crt_t iss;
	int r;

	if (a->ta) {
		if (dane_same_cert(cur, a->ta))
			return 2;
		return issued_by(cur->crt, a->ta->crt, c);
	}
	if (!a->tl)
		return 0;
	if (gnutls_x509_trust_list_get_issuer(a->tl, cur->crt, &iss,
					      GNUTLS_TL_GET_COPY) < 0)
		return 0;
	if (gnutls_x509_crt_equals(cur->crt, iss))
		r = 2;
	else
		r = issued_by(cur->crt, iss, c);
	gnutls_x509_crt_deinit(iss);
	return r;
}

struct walk {
	struct cert *certs;
	size_t n;
	const struct anchor *a;
	gnutls_x509_crt_t *path;
	size_t np;
	int used[MAX_CHAIN];
	size_t top, top_depth;
	struct cost *cost;
};

/* Did chain certificate k issue certificate cur?  Cached in by[]; a bound
 * hit while checking leaves it unknown. */
static int
linked(struct walk *w, size_t cur, size_t k)
{
	struct cert *c = &w->certs[cur];
	int r;

	if (c->by[k])
		return c->by[k] > 0;
	r = issued_by(c->crt, w->certs[k].crt, w->cost);
	if (!w->cost->out)
		c->by[k] = r ? 1 : -1;
	return r;
}

/* Depth-first from certs[cur], so that a cross-signed intermediate that
 * leads elsewhere does not hide the path to the anchor.  A certificate is
 * explored once per walk (what it reaches does not depend on the way
 * there), so look-alikes certifying one another cost n^2 links at most,
 * never a factorial. */
static int
extend(struct walk *w, size_t cur)
{
	size_t k;
	int r;

	r = w->a ? anchor_issues(w->a, &w->certs[cur], w->cost) : 0;
	if (r == 2 && cur != 0)
		w->np--; /* the anchor is not part of the path */
	if (r > 0)
		return 1;
	if (w->np > w->top_depth) {
		w->top = cur;
		w->top_depth = w->np;
	}
	for (k = 1; k < w->n && !w->cost->out; k++) {
		if (w->used[k] || !w->certs[k].crt)
			continue;
		/* The anchor is found by anchor_issues, never as a link */
		if (w->a && w->a->ta && dane_same_cert(&w->certs[k], w->a->ta))
			continue;
		if (!linked(w, cur, k))
			continue;
		w->used[k] = 1;
		w->path[w->np++] = w->certs[k].crt;
		if (extend(w, k))
			return 1;
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
int
dane_path_build(struct cert *certs, size_t n, const struct anchor *a,
		gnutls_x509_crt_t *path, size_t *np, size_t *top,
		struct cost *c)
{
	struct walk w;
	int ok;

	memset(&w, 0, sizeof(w));
	w.certs = certs;
	w.n = n;
	w.a = a;
	w.path = path;
	w.cost = c;
	path[0] = certs[0].crt;
	w.np = 1;
	w.used[0] = 1;
	ok = extend(&w, 0);
	*np = w.np;
	*top = w.top;
	return ok;
}

/*
 * GnuTLS's own verification of a path that build_path found (CA flags,
 * path length, name constraints, the purpose): one signature per
 * certificate, each key checked first.  `ta` is the anchor certificate
 * when there is one (its key verifies the path's top).
 */
static int
verify_path(gnutls_x509_trust_list_t tl, gnutls_x509_crt_t *path, size_t np,
	    gnutls_x509_crt_t ta, gnutls_typed_vdata_st *purpose,
	    unsigned *status, struct cost *c)
{
	size_t i;

	*status = 0;
	for (i = 1; i < np; i++)
		if (dane_key_refused(path[i], c))
			return -1;
	if ((ta && dane_key_refused(ta, c)) || !dane_cost_take(c, (unsigned)np))
		return -1;
	return gnutls_x509_trust_list_verify_crt2(tl, path, (unsigned)np,
						  purpose, purpose ? 1 : 0,
						  VFLAGS, status, NULL);
}

static int
valid_at(gnutls_x509_crt_t c, time_t now)
{
	time_t from = gnutls_x509_crt_get_activation_time(c);
	time_t to = gnutls_x509_crt_get_expiration_time(c);

	return from != (time_t)-1 && to != (time_t)-1 && from <= now &&
	       now <= to;
}

/* An SRV-ID "_xmpp-client.DOMAIN" (RFC 6125 §6.5.1, RFC 6120 §13.7.1.2). */
static int
srv_id_matches(const char *v, size_t len, const struct dane_names *nm)
{
	const char *svc = nm->server ? "_xmpp-server." : "_xmpp-client.";
	size_t sl = strlen(svc), dl = strlen(nm->domain);

	return len == sl + dl && strncasecmp(v, svc, sl) == 0 &&
	       strncasecmp(v + sl, nm->domain, dl) == 0;
}

/* XmppAddr: a domain JID, UTF-8 with the U-label (RFC 6120 §13.7.1.4). */
static int
xmpp_addr_matches(const char *v, size_t len, const struct dane_names *nm)
{
	const char *d = nm->domain_u ? nm->domain_u : nm->domain;

	return len == strlen(d) && strncasecmp(v, d, len) == 0;
}

/* Does the leaf name the service: DNS-ID (domain or secure SRV target),
 * SRV-ID or XmppAddr? */
int
dane_path_names_ok(gnutls_x509_crt_t crt, const struct dane_names *nm)
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

/*
 * Does the leaf chain to `ta` (signatures, dates, names), with `ta` as the
 * only trust anchor?  1 yes; 0 no, with the reason in why.
 */
int
dane_path_chains_to(struct cert *certs, size_t n, const struct cert *ta,
		    const struct dane_names *nm, time_t now, struct cost *c,
		    char *why, size_t whylen)
{
	gnutls_x509_crt_t path[MAX_CHAIN], copy;
	gnutls_x509_trust_list_t tl;
	gnutls_datum_t d = {(unsigned char *)ta->der, (unsigned)ta->len};
	gnutls_datum_t txt;
	struct anchor a;
	size_t np = 0, top = 0, i;
	unsigned status = 0;
	int ok = 0;

	dane_say(why, whylen, "it was not tried to the end");
	if (!dane_cost_time(c))
		return 0;
	/* The path first: most anchors tried lead nowhere, and the trust
	 * list is only needed for GnuTLS's check of a path found. */
	a.ta = ta;
	a.tl = NULL;
	if (!dane_path_build(certs, n, &a, path, &np, &top, c)) {
		if (!c->out)
			dane_say(why, whylen, "the leaf does not chain to it");
		return 0;
	}
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
		dane_say(why, whylen, "the trust anchor cannot be used");
		return 0;
	}
	if (verify_path(tl, path, np, ta->crt, NULL, &status, c) < 0 ||
	    status != 0) {
		if (c->out)
			goto out;
		if (gnutls_certificate_verification_status_print(
			status, GNUTLS_CRT_X509, &txt, 0) == 0) {
			dane_say(why, whylen,
				 "the leaf does not chain to it: %s",
				 (char *)txt.data);
			gnutls_free(txt.data);
		} else {
			dane_say(why, whylen, "the leaf does not chain to it");
		}
		goto out;
	}
	/* The anchor's own dates are not checked (RFC 5280 §6.1: a trust
	 * anchor is an input to path validation, not part of the path). */
	for (i = 0; i < np; i++) {
		if (!valid_at(path[i], now)) {
			dane_say(why, whylen,
				 i == 0
				     ? "the leaf is expired or not yet valid"
				     : "an intermediate is expired or not yet "
				       "valid");
			goto out;
		}
	}
	if (!dane_path_names_ok(certs[0].crt, nm)) {
		dane_say(why, whylen, "the leaf does not name %s",
			 nm && nm->domain ? nm->domain : "the domain");
		goto out;
	}
	ok = 1;
out:
	gnutls_x509_trust_list_deinit(tl, 1);
	return ok;
}

/* The presented chain (with the system's anchor) is valid for the names:
 * 1 yes, 0 no, -1 not known (the cost bound was reached). */
int
dane_path_pkix_valid(struct cert *certs, size_t n, const struct dane_names *nm,
		     time_t now, struct cost *c)
{
	gnutls_x509_crt_t path[MAX_CHAIN];
	struct anchor a = {NULL, dane_system_trust()};
	size_t np = 0, top = 0, i;
	unsigned status = 0;
	/* What a PKIX client also wants: a server certificate */
	gnutls_typed_vdata_st purpose = {
	    GNUTLS_DT_KEY_PURPOSE_OID,
	    (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER, 0};

	if (!a.tl)
		return 0;
	if (!dane_path_build(certs, n, &a, path, &np, &top, c))
		return c->out ? -1 : 0;
	if (verify_path(a.tl, path, np, NULL, &purpose, &status, c) < 0)
		return c->out ? -1 : 0;
	if (status != 0)
		return 0;
	for (i = 0; i < np; i++)
		if (!valid_at(path[i], now))
			return 0;
	return dane_path_names_ok(certs[0].crt, nm);
}

/* Is this trust anchor a public CA: in the system store, or issued under
 * it?  Anyone who can get a certificate from it passes a match on it.  When
 * the cost bound leaves it unknown, it is said to be one (the warning
 * errs on the side of telling). */
int
dane_path_public_ca(const struct cert *ta, struct cost *c)
{
	gnutls_x509_trust_list_t tl = dane_system_trust();
	unsigned status = 0;

	if (!tl)
		return 0;
	if (!dane_cost_take(c, 1))
		return 1;
	if (gnutls_x509_trust_list_verify_crt2(
		tl, (gnutls_x509_crt_t *)&ta->crt, 1, NULL, 0, VFLAGS, &status,
		NULL) < 0)
		return 0;
	return status == 0;
}

/* Does the presented chain stop below a certificate it does not include
 * (its top is not self-issued)?  Then a TA may simply not have been sent. */
int
dane_path_cut(struct cert *certs, size_t n, struct cost *c)
{
	gnutls_x509_crt_t path[MAX_CHAIN];
	size_t np, top = 0;

	dane_path_build(certs, n, NULL, path, &np, &top, c);
	return !gnutls_x509_crt_check_issuer(certs[top].crt, certs[top].crt);
}
