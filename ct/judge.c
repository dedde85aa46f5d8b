/* SPDX-License-Identifier: GPL-3.0-or-later */
/* judge.c - judging a logged certificate for a watched domain (judge.h). */
#include "ct/judge.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "probe/dane.h"

const char *
ct_judged_word(enum ct_judged j)
{
	static const char *const w[] = {"known", "unpublished", "new",
					"malformed"};

	return (unsigned)j < CT_JUDGED_COUNT ? w[j] : "malformed";
}

int
ct_name_covers(const char *id, const char *name)
{
	size_t il = strlen(id), nl = strlen(name);

	/* One trailing dot of a fully qualified name is the same name. */
	if (il && id[il - 1] == '.')
		il--;
	if (nl && name[nl - 1] == '.')
		nl--;
	if (!il || !nl)
		return 0;
	if (id[0] != '*')
		return il == nl && !strncasecmp(id, name, il);
	/* "*.rest": rest has two labels or more; name = one label + rest. */
	if (il < 4 || id[1] != '.')
		return 0;
	const char *rest = id + 2;
	size_t rl = il - 2;
	if (!memchr(rest, '.', rl) || memchr(rest, '*', rl))
		return 0;
	const char *dot = memchr(name, '.', nl);
	if (dot == NULL || dot == name)
		return 0;
	size_t tail = nl - (size_t)(dot + 1 - name);
	return tail == rl && !strncasecmp(dot + 1, rest, rl);
}

/* LDH labels, dots, an optional leading "*."; lower-cased into out. */
static int
take_name(const char *in, size_t len, char *out)
{
	if (len == 0 || len >= CT_NAME_LEN)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '*' && i == 0 && len > 2 && in[1] == '.')
			;
		else if (!isalnum(c) && c != '-' && c != '.' && c != '_')
			return -1;
		out[i] = (char)tolower(c);
	}
	out[len] = '\0';
	return 0;
}

int
ct_cert_names(const uint8_t *der, size_t len, char (*names)[CT_NAME_LEN],
	      size_t max)
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t d = {(unsigned char *)der, (unsigned)len};
	size_t n = 0;
	int any_dns = 0;

	if (len == 0 || len > CT_CERT_DER_MAX || gnutls_x509_crt_init(&crt) < 0)
		return -1;
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) < 0) {
		gnutls_x509_crt_deinit(crt);
		return -1;
	}
	for (unsigned i = 0; i < 10000; i++) {
		char buf[1024];
		size_t bl = sizeof(buf);
		unsigned crit;
		int t = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &bl,
							     &crit);
		if (t == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (t != GNUTLS_SAN_DNSNAME)
			continue;
		any_dns = 1;
		if (n < max && memchr(buf, '\0', bl) == NULL &&
		    take_name(buf, bl, names[n]) == 0)
			n++;
	}
	if (!any_dns) {
		char buf[1024];
		size_t bl = sizeof(buf);
		if (gnutls_x509_crt_get_dn_by_oid(crt,
						  GNUTLS_OID_X520_COMMON_NAME,
						  0, 0, buf, &bl) == 0 &&
		    n < max && take_name(buf, strlen(buf), names[n]) == 0)
			n++;
	}
	gnutls_x509_crt_deinit(crt);
	return (int)n;
}

static int
key_seen(const struct ct_domain_view *d, const uint8_t k[32])
{
	for (size_t i = 0; i < d->nseen; i++)
		if (!memcmp(d->seen[i], k, 32))
			return 1;
	return 0;
}

/* Whether the domain shows it publishes keys before using them: a
 * SPKI SHA-256 record naming no key seen (a prepared next key), or its
 * last change kept the key.  And whether every usable record is
 * selector 1 (a certificate record names a certificate, not a key). */
static void
publishing(const struct ct_domain_view *d, int *ahead, int *all_spki)
{
	*ahead = d->kept_key;
	*all_spki = 1;
	for (size_t i = 0; i < d->ntlsa; i++) {
		const struct dns_tlsa *t = &d->tlsa[i];
		if (!dane_record_known(t))
			continue;
		if (t->selector != 1)
			*all_spki = 0;
		else if (t->mtype == 1 && t->len == 32 && d->nseen &&
			 !key_seen(d, t->data))
			*ahead = 1;
	}
}

void
ct_judge(const struct ct_event *ev, const struct ct_domain_view *d,
	 struct ct_judgement *out)
{
	uint8_t spki[32];

	memset(out, 0, sizeof(*out));
	out->matched = -1;
	if (strcmp(ev->event, "discovered_cert") ||
	    ev->cert_state != CT_CERT_OK || ev->cert_len == 0 ||
	    dane_spki_sha256(ev->cert_der, ev->cert_len, spki) < 0) {
		out->judged = CT_MALFORMED;
		return;
	}
	if (d->ntlsa) {
		struct dns_tlsa recs[DANE_MAX_RECORDS];
		size_t n =
		    d->ntlsa < DANE_MAX_RECORDS ? d->ntlsa : DANE_MAX_RECORDS;
		/* The leaf and the chain certspotter saved after it: a
		 * DANE-TA record names a certificate of the chain. */
		struct probe_cert chain[1 + CT_CHAIN_MAX];
		size_t nc = 1, off = 0;

		chain[0] =
		    (struct probe_cert){(uint8_t *)ev->cert_der, ev->cert_len};
		for (size_t i = 0; i < ev->nchain && i < CT_CHAIN_MAX; i++) {
			if (ev->chain_len[i] > CT_CHAIN_DER_MAX - off)
				break;
			chain[nc++] = (struct probe_cert){
			    (uint8_t *)ev->chain_der + off, ev->chain_len[i]};
			off += ev->chain_len[i];
		}
		struct dane_names nm = {d->domain, d->domain, NULL, 0};
		struct dane_match m;

		for (size_t i = 0; i < n; i++) {
			recs[i] = d->tlsa[i];
			if (recs[i].usage == 1 || recs[i].usage == 0)
				recs[i].usage = (uint8_t)(recs[i].usage + 2);
		}
		/* The leaf's own validity is the time: a logged certificate
		 * may be for later, or long expired. */
		time_t when =
		    ev->has_not_before ? (time_t)ev->not_before + 1 : 0;
		dane_match(recs, n, chain, nc, &nm, when, NULL, &m);
		if (m.matched >= 0) {
			out->judged = CT_KNOWN;
			out->matched = m.matched;
			out->warnings = m.warnings & DANE_W_WEAK_TA;
			return;
		}
	}
	if (key_seen(d, spki)) {
		out->judged = CT_KNOWN;
		return;
	}
	if (d->ntlsa == 0) {
		out->judged = CT_NEW;
		out->info = 1;
		return;
	}
	int all_spki;
	out->judged = CT_UNPUBLISHED;
	publishing(d, &out->publishes_ahead, &all_spki);
	out->alarm = out->publishes_ahead && all_spki;
	out->info = !out->alarm;
}

int
ct_tbs_seen(struct ct_tbs_set *s, const char *tbs)
{
	if (strlen(tbs) != 64 || strspn(tbs, "0123456789abcdef") != 64)
		return 0;
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->h[i], tbs))
			return 1;
	memcpy(s->h[s->next], tbs, 65);
	s->next = (s->next + 1) % CT_TBS_REMEMBER;
	if (s->n < CT_TBS_REMEMBER)
		s->n++;
	return 0;
}
