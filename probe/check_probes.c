/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * check_probes.c - the probes of one endpoint: one per address of its
 * target (IPv4 and IPv6 in turn, in DNS order, up to max_addresses), each
 * matched on its own; the worst of them decides the endpoint (an
 * unreachable one never lowers a decided one), and every one is reported.
 * Then the key-split warning of the whole check: keys that should agree
 * and do not (docs/usage.md, "key-split").
 */
#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe/check_int.h"
#include "util/buf.h"

#define EP_DEFAULT_ADDRESSES 8

void
check_ep_plan(struct ep *e)
{
	size_t max = e->c->env->cfg.max_addresses > 0
			 ? (size_t)e->c->env->cfg.max_addresses
			 : EP_DEFAULT_ADDRESSES;
	size_t i4 = 0, i6 = 0, n = 0;
	int want6 = 0;

	size_t nv = e->c->env->cfg.nvantages ? e->c->env->cfg.nvantages : 1;

	if (max > e->naddrs)
		max = e->naddrs;
	e->ap = xcalloc(max * nv + 1, sizeof(*e->ap));
	while (n < max) {
		/* The next of the wanted family, else of the other one. */
		int fam = want6 ? AF_INET6 : AF_INET;
		size_t *ix = want6 ? &i6 : &i4;
		while (*ix < e->naddrs && e->addrs[*ix].family != fam)
			(*ix)++;
		want6 = !want6;
		if (*ix >= e->naddrs)
			continue;
		struct ep_probe *p = &e->ap[n++];
		p->e = e;
		p->addr = e->addrs[(*ix)++];
		if (inet_ntop(p->addr.family, p->addr.addr, p->addr_s,
			      sizeof(p->addr_s)) == NULL)
			snprintf(p->addr_s, sizeof(p->addr_s), "?");
	}
	/* The same addresses from every other vantage. */
	for (size_t v = 1; v < nv; v++)
		for (size_t i = 0; i < n; i++) {
			e->ap[v * n + i] = e->ap[i];
			e->ap[v * n + i].vantage = v;
		}
	n *= nv;
	e->nap = n;
	e->nplan = n;
	e->ap_next = 0;
}

static void
ap_probe_cb(struct probe_result *res, void *arg)
{
	struct ep_probe *p = arg;
	struct ep *e = p->e;
	struct check_env *env = e->c->env;

	p->probe = NULL;
	p->remote = NULL;
	p->res = res;
	env->in_flight--;
	if (env->cfg.on_probe)
		env->cfg.on_probe(env->cfg.observer_arg, res);
	check_unref(e->c);
	check_env_drain(env);
}

static const struct check_vantage *
ap_vantage(const struct ep *e, const struct ep_probe *p)
{
	const struct check_config *cfg = &e->c->env->cfg;

	return cfg->nvantages ? &cfg->vantages[p->vantage] : NULL;
}

void
check_ep_opts(const struct ep *e, const struct ep_probe *p,
	      struct probe_opts *o)
{
	const struct check_vantage *v = ap_vantage(e, p);

	*o = e->c->env->cfg.probe;
	if (v == NULL)
		return;
	o->via_socks = v->via_socks;
	o->socks_host = v->socks_host;
	o->socks_port = v->socks_port;
	/* Fresh credentials per probe: each its own Tor circuit. */
	o->socks_user = NULL;
	o->socks_pass = NULL;
	/* A socks5:// vantage may not be Tor (ssh -D knows no
	 * authentication); a tor one must isolate. */
	o->socks_any_auth = !strncmp(v->name, "socks5://", 9);
}

static const char *
ap_vantage_name(const struct ep *e, const struct ep_probe *p)
{
	const struct check_vantage *v = ap_vantage(e, p);

	if (v)
		return v->name;
	return e->c->env->cfg.probe.via_socks ? "tor" : "direct";
}

void
check_ep_req(const struct ep *e, const struct ep_probe *p, const char *sni,
	     struct probe_req *req)
{
	const struct check *c = e->c;
	const struct check_vantage *v = ap_vantage(e, p);
	int socks = v ? v->via_socks : c->env->cfg.probe.via_socks;

	/* Through SOCKS the address goes as a literal (ATYP 1 or 4); SNI
	 * and the stream's `to` stay as they are. */
	memset(req, 0, sizeof(*req));
	req->host = socks ? p->addr_s : e->row->host;
	req->port = e->row->port;
	req->stream_to = c->res->domain_u;
	req->sni = sni;
	req->server = e->server;
	req->tls = e->row->tls;
	req->addrs = &p->addr;
	req->naddrs = 1;
	req->keys = p->keys;
}

/* A probe from an xmpp: vantage: the bot asks that certwatch
 * (component/vantage.h).  Without the bot (the CLI) it is unreachable at
 * step "vantage"; the CLI leaves such vantages out before (main.c). */
static int
ap_remote_start(struct ep *e, struct ep_probe *p, const struct probe_req *req)
{
	struct check_env *env = e->c->env;
	const struct check_remote *r = &env->cfg.remote;

	p->remote =
	    r->start ? r->start(r->arg, ap_vantage(e, p), req, ap_probe_cb, p)
		     : NULL;
	if (p->remote == NULL) {
		p->res = xcalloc(1, sizeof(*p->res));
		p->res->fail_step = PROBE_STEP_VANTAGE;
		snprintf(p->res->reason, sizeof(p->res->reason),
			 "%s was not asked: no XMPP link here, or too many "
			 "requests waiting",
			 ap_vantage(e, p)->name);
		check_unref(e->c);
	} else {
		env->in_flight++;
	}
	return e->ap_next < e->nplan;
}

int
check_ep_probe_next(struct ep *e)
{
	struct check *c = e->c;
	struct ep_probe *p;
	struct probe_req req;
	struct probe_opts o;

	if (e->ap_next >= e->nplan)
		return 0;
	p = &e->ap[e->ap_next++];
	check_ep_req(e, p, c->res->domain, &req);
	check_ep_opts(e, p, &o);
	c->res->probes++;
	if (ap_vantage(e, p) && ap_vantage(e, p)->remote)
		return ap_remote_start(e, p, &req);
	p->probe = probe_start(c->env->cfg.base, &o, &req, ap_probe_cb, p);
	if (p->probe == NULL) {
		p->res = xcalloc(1, sizeof(*p->res));
		p->res->fail_step = PROBE_STEP_TCP;
		snprintf(p->res->reason, sizeof(p->res->reason),
			 "out of memory");
		check_unref(c);
	} else {
		c->env->in_flight++;
	}
	return e->ap_next < e->nplan;
}

/* How bad a probe's outcome is, for choosing the one that decides. */
static int
ap_rank(const struct ep_probe *p, const struct dns_answer *t)
{
	int secure = t && t->sec == DNS_SEC_SECURE;

	if (p->res == NULL)
		return -1;
	/* A remote vantage can report a wrong key: it never decides the
	 * endpoint, neither ok nor mismatch (docs/vantages.md). */
	if (ap_vantage(p->e, p) && ap_vantage(p->e, p)->remote)
		return -1;
	if (p->res->ok && p->m_ok && secure &&
	    ((p->m.nusable > 0 && p->m.matched < 0) || p->res->key_refused))
		return 3; /* mismatch */
	if (!p->res->ok && p->res->tls_refused && secure)
		return 2; /* downgrade */
	if (p->res->ok)
		return 1;
	return 0; /* unreachable */
}

/* Byte for byte the same chain as presented. */
static int
same_chain(const struct probe_result *a, const struct probe_result *b)
{
	if (a->nchain != b->nchain)
		return 0;
	for (size_t i = 0; i < a->nchain; i++)
		if (a->chain[i].len != b->chain[i].len ||
		    memcmp(a->chain[i].der, b->chain[i].der, a->chain[i].len))
			return 0;
	return 1;
}

/* The same TLSA records, in the same order. */
static int
same_records(const struct dns_answer *a, const struct dns_answer *b)
{
	size_t na = a ? a->n : 0, nb = b ? b->n : 0;

	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++) {
		const struct dns_tlsa *x = &a->tlsa[i], *y = &b->tlsa[i];
		if (x->usage != y->usage || x->selector != y->selector ||
		    x->mtype != y->mtype || x->len != y->len ||
		    memcmp(x->data, y->data, x->len))
			return 0;
	}
	return 1;
}

/* The names e's matches are made for (check_ep_match's dane_names). */
static const char *
ep_srv_target(const struct ep *e)
{
	return (!e->fallback && e->srv_secure) ? e->row->host : NULL;
}

static int
same_names(const struct ep *e, const struct ep *f)
{
	const char *a = ep_srv_target(e), *b = ep_srv_target(f);

	return e->server == f->server && (a == b || (a && b && !strcmp(a, b)));
}

/* A match of one of f's probes shown res's chain, copied into *out. */
static int
shared_match(const struct ep *f, const struct probe_result *res,
	     struct dane_match *out)
{
	for (size_t j = 0; j < f->nap; j++) {
		const struct ep_probe *q = &f->ap[j];
		if (q->matched_done && q->m_ok && q->res != res &&
		    same_chain(q->res, res)) {
			*out = q->m;
			out->verifications = 0;
			return 1;
		}
	}
	return 0;
}

void
check_ep_dane_match(struct ep *e, const struct dns_answer *t,
		    const struct dane_names *names, time_t now,
		    const struct probe_result *res, struct dane_match *out)
{
	struct check *c = e->c;

	/* dane_match is a function of the records, the chain, the names and
	 * the time (the check's): probes of the check that were shown the
	 * same chain for the same records and names (every address, the
	 * other key family's handshake of a one-key server, the probe with
	 * SNI = the target, the ports of one server) share one match, which
	 * spends no more of the check's budget. */
	if (shared_match(e, res, out))
		return;
	for (size_t k = 0; k < c->neps; k++) {
		const struct ep *f = c->eps[k];
		/* f's records are final: matches start once every look-up
		 * of the check is in (check_unref). */
		if (f != e && same_names(e, f) && same_records(t, f->tlsa) &&
		    shared_match(f, res, out))
			return;
	}
	dane_match(t ? t->tlsa : NULL, t ? t->n : 0, res->chain, res->nchain,
		   names, now, &c->dane_budget, out);
}

void
check_ep_match_all(struct ep *e, const struct dns_answer *t,
		   const struct dane_names *names, time_t now)
{
	struct check *c = e->c;
	int best = -2;

	e->decider = 0;
	for (size_t i = 0; i < e->nap; i++) {
		struct ep_probe *p = &e->ap[i];
		if (!p->matched_done) {
			p->m_ok = p->res && p->res->ok;
			if (p->m_ok)
				check_ep_dane_match(e, t, names, now, p->res,
						    &p->m);
			p->matched_done = 1;
		}
		int r = ap_rank(p, t);
		if (r > best) {
			best = r;
			e->decider = i;
		}
	}
	if (e->nap == 0)
		return;
	struct ep_probe *d = &e->ap[e->decider];
	e->pres = d->res;
	e->m = d->m;
	e->m_ok = d->m_ok;
	if (d->res && d->res->peer[0])
		snprintf(e->row->address, sizeof(e->row->address), "%s",
			 d->res->peer);
	if (ap_vantage(e, d) ? ap_vantage(e, d)->via_socks
			     : c->env->cfg.probe.via_socks)
		snprintf(e->row->address, sizeof(e->row->address),
			 d->addr.family == AF_INET6 ? "[%s]:%u" : "%s:%u",
			 d->addr_s, e->row->port);
}

/* What a check reports of a probe's leaf. */
struct leaf {
	int known; /* it parsed: the fields below are read */
	uint8_t sha256[32];
	int pk;		    /* gnutls_pk_algorithm_t */
	int64_t not_before; /* 0: not read */
	char issuer[256];   /* its DN (RFC 4514); "" when not read */
};

/* The leaf's facts, read from its parse (dane.h "Parsed once": for a
 * probe of ours, the one the handshake hook made).  -1 when not even its
 * hash could be computed; else 0, with out->known 0 when the leaf does
 * not parse. */
static int
leaf_of(const struct probe_result *r, struct leaf *out)
{
	const struct probe_cert *leaf = &r->chain[0];
	gnutls_x509_crt_t crt;
	size_t len = sizeof(out->issuer);
	time_t nb;

	memset(out, 0, sizeof(*out));
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, leaf->der, leaf->len,
			     out->sha256) < 0)
		return -1;
	crt = dane_cert_hold(leaf->der, leaf->len);
	if (crt == NULL)
		return 0;
	nb = gnutls_x509_crt_get_activation_time(crt);
	out->not_before = nb == (time_t)-1 ? 0 : (int64_t)nb;
	if (gnutls_x509_crt_get_issuer_dn(crt, out->issuer, &len) < 0)
		out->issuer[0] = '\0';
	out->pk = gnutls_x509_crt_get_pk_algorithm(crt, NULL);
	out->known = 1;
	dane_cert_drop(crt);
	return 0;
}

static enum probe_keys
leaf_family(const struct probe_result *r)
{
	struct leaf l;

	if (r == NULL || !r->ok || r->key_refused || r->nchain == 0 ||
	    leaf_of(r, &l) < 0 || !l.known)
		return PROBE_KEYS_ANY;
	return l.pk == GNUTLS_PK_RSA || l.pk == GNUTLS_PK_RSA_PSS
		   ? PROBE_KEYS_RSA
		   : PROBE_KEYS_EC;
}

int
check_ep_keys_start(struct ep *e)
{
	enum probe_keys seen;
	struct ep_probe *p;

	if (e->keys_done || e->nap == 0)
		return 0;
	e->keys_done = 1;
	seen = leaf_family(e->ap[e->decider].res);
	if (seen == PROBE_KEYS_ANY)
		return 0;
	p = &e->ap[e->nap];
	*p = e->ap[e->decider];
	p->probe = NULL;
	p->res = NULL;
	p->matched_done = 0;
	p->keys = seen == PROBE_KEYS_RSA ? PROBE_KEYS_EC : PROBE_KEYS_RSA;
	e->nplan = e->nap + 1;
	e->phase = EP_KEYS;
	check_ref(e->c);
	check_env_enqueue(e);
	return 1;
}

void
check_ep_keys_end(struct ep *e)
{
	struct ep_probe *p = &e->ap[e->nap];

	e->phase = EP_MAIN;
	if (p->res && p->res->ok && !p->res->tls_refused) {
		e->nap++; /* a key of the other family: a probe */
		return;
	}
	probe_result_free(p->res);
	p->res = NULL;
	e->nplan = e->nap;
}

/* The leaf's certificate hash, validity, issuer and key type. */
static void
leaf_facts(const struct probe_result *r, struct check_probe *cp)
{
	struct leaf l;

	if (leaf_of(r, &l) < 0)
		return;
	dane_hex(l.sha256, 32, cp->cert_sha256);
	if (!l.known)
		return;
	cp->not_before = l.not_before;
	memcpy(cp->issuer, l.issuer, sizeof(cp->issuer));
	switch (l.pk) {
	case GNUTLS_PK_RSA:
	case GNUTLS_PK_RSA_PSS:
		strcpy(cp->key_type, "rsa");
		break;
	case GNUTLS_PK_ECDSA:
		strcpy(cp->key_type, "ecdsa");
		break;
	case GNUTLS_PK_EDDSA_ED25519:
		strcpy(cp->key_type, "ed25519");
		break;
	default:
		break;
	}
}

void
check_ep_probes_report(struct ep *e, const struct verdict_input *base)
{
	struct check_endpoint *row = e->row;
	const struct dns_answer *t = e->tlsa;

	if (e->nap == 0)
		return;
	row->probes = xcalloc(e->nap, sizeof(*row->probes));
	row->nprobes = e->nap;
	for (size_t i = 0; i < e->nap; i++) {
		struct ep_probe *p = &e->ap[i];
		struct check_probe *cp = &row->probes[i];
		struct verdict_input in = *base;

		snprintf(cp->address, sizeof(cp->address), "%s", p->addr_s);
		snprintf(cp->vantage, sizeof(cp->vantage), "%s",
			 ap_vantage_name(e, p));
		cp->remote = ap_vantage(e, p) && ap_vantage(e, p)->remote;
		if (p->res && p->res->ok && p->m_ok) {
			in.probe_ok = 1;
			in.matched = p->m.matched >= 0;
			in.key_refused = p->res->key_refused;
			in.tlsa_usable = (unsigned)p->m.nusable;
			cp->have_key = p->m.have_leaf;
			if (p->m.have_leaf)
				dane_hex(p->m.spki_sha256, 32, cp->spki_sha256);
			cp->not_after = p->m.not_after;
			cp->allowed = in.matched && !in.key_refused && t &&
				      t->sec == DNS_SEC_SECURE;
			if (p->res->nchain > 0)
				leaf_facts(p->res, cp);
		} else {
			if (t && t->sec == DNS_SEC_SECURE)
				for (size_t j = 0; j < t->n; j++)
					if (dane_record_known(&t->tlsa[j]))
						in.tlsa_usable++;
			if (p->res) {
				in.tls_refused = p->res->tls_refused;
				cp->err_step = p->res->fail_step;
				snprintf(cp->err_reason, sizeof(cp->err_reason),
					 "%s", p->res->reason);
			}
		}
		cp->verdict = verdict_endpoint(&in);
	}
}

void
check_ep_probes_free(struct ep *e, struct check_env *env)
{
	for (size_t i = 0; i < e->nplan; i++) {
		struct ep_probe *p = &e->ap[i];
		if (p->probe) {
			probe_cancel(p->probe);
			env->in_flight--;
		}
		if (p->remote) {
			env->cfg.remote.cancel(env->cfg.remote.arg, p->remote);
			env->in_flight--;
		}
		probe_result_free(p->res);
	}
	free(e->ap);
	e->ap = NULL;
	e->nap = 0;
}

/* ---- key-split ------------------------------------------------------- */

#define SPLIT_MAX_WARNINGS 16

static void
add_domain_warning(struct check_result *r, const char *code, const char *text)
{
	r->warnings =
	    xrealloc(r->warnings, (r->nwarnings + 1) * sizeof(*r->warnings));
	struct check_warning *w = &r->warnings[r->nwarnings++];
	snprintf(w->code, sizeof(w->code), "%s", code);
	snprintf(w->text, sizeof(w->text), "%s", text);
}

/* Two probes whose keys should agree and do not: same key type, both
 * keys seen, different, not both allowed by secure TLSA. */
static int
split_pair(const struct check_probe *a, const struct check_probe *b)
{
	return a->have_key && b->have_key &&
	       !strcmp(a->key_type, b->key_type) &&
	       strcmp(a->spki_sha256, b->spki_sha256) &&
	       !(a->allowed && b->allowed);
}

/* How many remote vantages (xmpp:) show `key` on this host. */
static size_t
split_remote_vantages(const struct check_result *r, const char *host,
		      const struct check_probe *k)
{
	const char *seen[CHECK_MAX_VANTAGES];
	size_t n = 0;

	for (size_t i = 0; i < r->nendpoints; i++)
		for (size_t x = 0; !strcmp(r->endpoints[i].host, host) &&
				   x < r->endpoints[i].nprobes;
		     x++) {
			const struct check_probe *p =
			    &r->endpoints[i].probes[x];
			size_t j = 0;
			if (!p->remote || !p->have_key ||
			    strcmp(p->key_type, k->key_type) ||
			    strcmp(p->spki_sha256, k->spki_sha256))
				continue;
			while (j < n && strcmp(seen[j], p->vantage))
				j++;
			if (j == n && n < CHECK_MAX_VANTAGES)
				seen[n++] = p->vantage;
		}
	return n;
}

static void
split_warn(struct check_result *r, const struct check_endpoint *ea,
	   const struct check_probe *a, const struct check_endpoint *eb,
	   const struct check_probe *b)
{
	char text[sizeof(r->warnings[0].text)];
	/* A remote vantage can report a wrong key: a split only it sees is
	 * a warning naming it, never an alarm (docs/vantages.md). */
	const struct check_probe *rem = b->remote ? b : a->remote ? a : NULL;
	int alone = rem && split_remote_vantages(r, ea->host, rem) < 2;

	if (alone) {
		const struct check_probe *own = rem == b ? a : b;
		const struct check_endpoint *eo = rem == b ? ea : eb;
		const struct check_endpoint *er = rem == b ? eb : ea;
		snprintf(text, sizeof(text),
			 "keys differ between probes (%.16s… at %s port %u, "
			 "%s via %s vs %.16s… at port %u, %s); seen only "
			 "through the remote vantage %s, which can report a "
			 "wrong key",
			 own->spki_sha256, eo->host, eo->port, own->address,
			 own->vantage, rem->spki_sha256, er->port, rem->address,
			 rem->vantage);
	} else {
		snprintf(text, sizeof(text),
			 "keys differ between probes (%.16s… at %s port %u, "
			 "%s via %s vs %.16s… at %s port %u, %s via %s); no "
			 "secure TLSA record allows both",
			 a->spki_sha256, ea->host, ea->port, a->address,
			 a->vantage, b->spki_sha256, eb->host, eb->port,
			 b->address, b->vantage);
		r->split_alarm = 1;
	}
	add_domain_warning(r, "key-split", text);
}

/* Is this key among the n already named? */
static int
split_named(const char *const *named, size_t n, const char *spki)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(named[i], spki))
			return 1;
	return 0;
}

/* The splits between two endpoints of one host (or within one, a == b):
 * one warning per pair of probes that names a key not named yet for
 * these two, so every key is named once; pairs of this instance's own
 * probes first, then those with a remote vantage's (docs/vantages.md); at
 * most SPLIT_MAX_WARNINGS for the whole check (the addresses of an
 * unsigned zone are the sender's to choose). */
static void
split_endpoints(struct check_result *r, const struct check_endpoint *ea,
		const struct check_endpoint *eb)
{
	const char *named[2 * SPLIT_MAX_WARNINGS];
	size_t nn = 0;

	for (int remote = 0; remote < 2; remote++)
		for (size_t x = 0; x < ea->nprobes; x++)
			for (size_t y = (ea == eb ? x + 1 : 0); y < eb->nprobes;
			     y++) {
				const struct check_probe *a = &ea->probes[x];
				const struct check_probe *b = &eb->probes[y];
				if (r->nwarnings >= SPLIT_MAX_WARNINGS)
					return;
				if ((a->remote || b->remote) != remote ||
				    !split_pair(a, b) ||
				    (split_named(named, nn, a->spki_sha256) &&
				     split_named(named, nn, b->spki_sha256)))
					continue;
				split_warn(r, ea, a, eb, b);
				named[nn++] = a->spki_sha256;
				named[nn++] = b->spki_sha256;
			}
}

void
check_split(struct check_result *r)
{
	/* Every pair of probes of one host name: the same endpoint across
	 * addresses and vantages, or its ports. */
	for (size_t i = 0; i < r->nendpoints; i++) {
		const struct check_endpoint *ea = &r->endpoints[i];
		for (size_t j = i; j < r->nendpoints; j++) {
			const struct check_endpoint *eb = &r->endpoints[j];
			if (strcmp(ea->host, eb->host) ||
			    (j > i && ea->port == eb->port &&
			     ea->tls == eb->tls))
				continue;
			split_endpoints(r, ea, eb);
		}
	}
	/* No TLSA line to publish while keys differ: the key of one probe
	 * may be an interceptor's (docs/usage.md, "key-split"). */
	if (r->nwarnings > 0) {
		check_free_strv(r->setup, r->nsetup);
		r->setup = NULL;
		r->nsetup = 0;
	}
}
