/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * check_ep.c - one endpoint of a check: its address look-ups (and their
 * DNSSEC state), the TLSA look-up where DANE applies, its probes (a second
 * one with SNI = the SRV target when nothing matched), the match and its
 * verdict.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe/check_int.h"
#include "util/buf.h"

static void
add_warning(struct check_endpoint *row, const char *code, const char *text)
{
	for (size_t i = 0; i < row->nwarnings; i++)
		if (!strcmp(row->warnings[i].code, code))
			return;
	row->warnings = xrealloc(row->warnings,
				 (row->nwarnings + 1) * sizeof(*row->warnings));
	struct check_warning *w = &row->warnings[row->nwarnings++];
	snprintf(w->code, sizeof(w->code), "%s", code);
	snprintf(w->text, sizeof(w->text), "%s", text);
}

static void
push_str(char ***v, size_t *n, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*v)[i], s))
			return;
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
}

char *
check_tlsa_line(const struct dns_tlsa *t)
{
	/* "255 255 255 " and the hex: sized from the record, so that none
	 * (a TLSA record holds up to 65,532 bytes) comes out cut or empty. */
	size_t len = 16 + 2 * t->len;
	char *line = xcalloc(1, len);

	return dns_tlsa_format(t, line, len);
}

static void
set_error(struct check_endpoint *row, enum probe_step step, const char *why)
{
	if (row->err_step != PROBE_STEP_NONE)
		return;
	row->err_step = step;
	snprintf(row->err_reason, sizeof(row->err_reason), "%s", why);
}

static void
set_detail(struct check_endpoint *row, const char *fmt, const char *name,
	   const char *why)
{
	if (row->dns_detail[0])
		return;
	snprintf(row->dns_detail, sizeof(row->dns_detail), fmt, name,
		 why ? why : "");
}

/* Warning sni-target: `seen` is the key of the deciding handshake (SNI =
 * the domain), `target` the one that matched with SNI = the SRV target. */
static void
add_sni_target_warning(struct check_endpoint *row,
		       const struct dane_match *seen,
		       const struct dane_match *target)
{
	char a[65], b[65], text[sizeof(row->warnings[0].text)];

	dane_hex(seen->spki_sha256, 32, a);
	dane_hex(target->spki_sha256, 32, b);
	snprintf(text, sizeof(text),
		 "SNI = the domain (what clients send): key %s, which no "
		 "record allows; SNI = the SRV target: key %s, which a record "
		 "allows",
		 a, b);
	add_warning(row, "sni-target", text);
}

/* ---- endpoints -------------------------------------------------------- */

void
check_ref(struct check *c)
{
	c->pending++;
}

struct ep *
check_ep_new(struct check *c, enum check_service svc, const char *host,
	     uint16_t port, enum dns_sec srv_sec, int fallback)
{
	struct check_result *r = c->res;
	struct ep *e;

	if (c->neps == CHECK_MAX_ENDPOINTS)
		return NULL;
	e = xcalloc(1, sizeof(*e));
	e->c = c;
	e->server = svc >= SVC_XMPP_SERVER;
	e->fallback = fallback;
	e->srv_secure = srv_sec == DNS_SEC_SECURE;
	c->eps[c->neps++] = e;
	r->endpoints = xrealloc(r->endpoints, c->neps * sizeof(*r->endpoints));
	/* Rows moved: re-point every endpoint at its row. */
	for (size_t i = 0; i < c->neps; i++)
		c->eps[i]->row = &r->endpoints[i];
	memset(e->row, 0, sizeof(*e->row));
	r->nendpoints = c->neps;
	e->row->service = svc;
	e->row->tls = (svc == SVC_XMPPS_CLIENT || svc == SVC_XMPPS_SERVER)
			  ? PROBE_DIRECT
			  : PROBE_STARTTLS;
	snprintf(e->row->host, sizeof(e->row->host), "%s", host);
	e->row->port = port;
	e->row->dnssec_srv = srv_sec;
	return e;
}

static void ep_addr_cb(struct dns_answer *a, void *arg);
static void ep_tlsa_cb(struct dns_answer *a, void *arg);
static void ep_probe_cb(struct probe_result *res, void *arg);

void
check_ep_start(struct ep *e)
{
	struct check *c = e->c;

	e->phase = EP_ADDR;
	check_ref(c);
	check_ref(c);
	if (dns_lookup(c->env->cfg.dns, e->row->host, DNS_T_A, ep_addr_cb, e,
		       &e->qa) < 0) {
		ep_addr_cb(check_failed_answer(NULL, DNS_T_A, "invalid name"),
			   e);
	}
	if (dns_lookup(c->env->cfg.dns, e->row->host, DNS_T_AAAA, ep_addr_cb, e,
		       &e->qaaaa) < 0) {
		ep_addr_cb(
		    check_failed_answer(NULL, DNS_T_AAAA, "invalid name"), e);
	}
}

struct dns_answer *
check_failed_answer(const char *qname, uint16_t qtype, const char *why)
{
	struct dns_answer *f = xcalloc(1, sizeof(*f));

	if (qname)
		snprintf(f->qname, sizeof(f->qname), "%s", qname);
	f->qtype = qtype;
	f->status = DNS_ERROR;
	snprintf(f->error, sizeof(f->error), "%s", why);
	return f;
}

int
check_answer_failed(const struct dns_answer *a)
{
	return a->status == DNS_SERVFAIL || a->status == DNS_TIMEOUT ||
	       a->status == DNS_ERROR;
}

enum dns_sec
check_sec_worse(enum dns_sec a, enum dns_sec b)
{
	/* bogus > insecure > secure; NONE (failed) counts as nothing. */
	static const int rank[] = {0, 1, 2, 3};
	return rank[a] >= rank[b] ? a : b;
}

static void ep_after_addr(struct ep *e);

static void
ep_addr_cb(struct dns_answer *a, void *arg)
{
	struct ep *e = arg;

	if (a->qtype == DNS_T_A) {
		e->a = a;
		e->qa = NULL;
	} else {
		e->aaaa = a;
		e->qaaaa = NULL;
	}
	if (e->a && e->aaaa)
		ep_after_addr(e);
	check_unref(e->c);
}

static void
ep_lookup_tlsa(struct ep *e, const char *host)
{
	char name[DNS_NAME_MAX + 16];

	snprintf(name, sizeof(name), "_%u._tcp.%s", e->row->port, host);
	snprintf(e->row->tlsa_name, sizeof(e->row->tlsa_name), "%s", name);
	check_ref(e->c);
	if (dns_lookup(e->c->env->cfg.dns, name, DNS_T_TLSA, ep_tlsa_cb, e,
		       &e->qtlsa) < 0) {
		ep_tlsa_cb(
		    check_failed_answer(NULL, DNS_T_TLSA, "name too long"), e);
	}
}

size_t
check_addrs_drop_private(struct probe_addr *addrs, size_t *n,
			 struct probe_addr *first)
{
	size_t kept = 0, dropped = 0;

	for (size_t i = 0; i < *n; i++) {
		if (!probe_addr_is_private(&addrs[i])) {
			addrs[kept++] = addrs[i];
			continue;
		}
		if (dropped++ == 0 && first != NULL)
			*first = addrs[i];
	}
	*n = kept;
	return dropped;
}

/* One private address among public ones must not hide the endpoint (an
 * interceptor could add one to the DNS): only that address is skipped,
 * with a note.  Through Tor the name goes to the exit, which refuses
 * private addresses itself (Tor's ExitPolicyRejectPrivate). */
static void
ep_skip_private(struct ep *e)
{
	struct probe_addr first;
	char ip[INET6_ADDRSTRLEN], text[256];
	size_t total = e->naddrs;

	e->naddrs_private =
	    check_addrs_drop_private(e->addrs, &e->naddrs, &first);
	if (e->naddrs_private == 0 || e->naddrs == 0)
		return;
	if (inet_ntop(first.family, first.addr, ip, sizeof(ip)) == NULL)
		snprintf(ip, sizeof(ip), "?");
	snprintf(text, sizeof(text),
		 "%zu of the %zu addresses of %s %s private, loopback or "
		 "link-local (%s%s): certwatch does not connect to %s",
		 e->naddrs_private, total, e->row->host,
		 e->naddrs_private == 1 ? "is" : "are", ip,
		 e->naddrs_private == 1 ? "" : ", …",
		 e->naddrs_private == 1 ? "it" : "them");
	add_warning(e->row, "private-address", text);
}

static void
ep_after_addr(struct ep *e)
{
	struct check_endpoint *row = e->row;
	struct dns_answer *ans[2] = {e->a, e->aaaa};
	int failed = 0, nodata = 0;
	enum dns_sec sec = DNS_SEC_NONE;

	for (int i = 0; i < 2; i++) {
		struct dns_answer *x = ans[i];
		if (check_answer_failed(x)) {
			failed++;
			continue;
		}
		sec = check_sec_worse(sec, x->sec);
		if (x->sec == DNS_SEC_BOGUS)
			set_detail(row,
				   "the address records of %s fail "
				   "DNSSEC validation: %s",
				   row->host, x->why_bogus);
		if (x->status != DNS_ANSWER) {
			nodata++;
			continue;
		}
		for (size_t j = 0; j < x->n && e->naddrs < 32; j++) {
			struct probe_addr *pa = &e->addrs[e->naddrs++];
			pa->family = x->addr[j].family;
			memcpy(pa->addr, x->addr[j].addr, 16);
		}
	}
	if (failed == 2) {
		row->dnssec_addr = DNS_SEC_NONE;
		set_error(row, PROBE_STEP_DNS, "");
		snprintf(row->err_reason, sizeof(row->err_reason),
			 "address look-up of %s failed: %s", row->host,
			 e->a->error[0] ? e->a->error
					: dns_status_name(e->a->status));
		e->phase = EP_DONE;
		return;
	}
	row->dnssec_addr = sec;
	if (sec == DNS_SEC_INSECURE)
		set_detail(row,
			   "the address records of %s are not signed "
			   "(DNSSEC is not enabled for its zone)%s",
			   row->host, NULL);
	if (e->naddrs == 0 && nodata + failed == 2) {
		if (e->fallback && failed == 0) {
			/* A fallback name with no address: no service. */
			e->phase = EP_DONE;
			row->verdict = VERDICT_NONE;
			return;
		}
		set_error(row, PROBE_STEP_DNS, "");
		snprintf(row->err_reason, sizeof(row->err_reason),
			 "%s has no address records", row->host);
	}
	/* TLSA only when the SRV (or its denial) and addresses are secure
	 * (RFC 7673 §3.1, §3.2). */
	if (row->dnssec_srv == DNS_SEC_SECURE && sec == DNS_SEC_SECURE &&
	    failed == 0) {
		int aliased = (e->a->aliased && e->a->cname[0]) ||
			      (e->aaaa->aliased && e->aaaa->cname[0]);
		const char *cn = e->a->aliased ? e->a->cname : e->aaaa->cname;
		if (aliased && strcmp(cn, row->host)) {
			/* RFC 7671 §7: the CNAME's target first. */
			e->tlsa_second = 0;
			ep_lookup_tlsa(e, cn);
		} else {
			e->tlsa_second = 1;
			ep_lookup_tlsa(e, row->host);
		}
	} else if (row->dnssec_srv == DNS_SEC_SECURE && sec == DNS_SEC_SECURE &&
		   failed == 1) {
		/* Half the addresses are unknown: DANE's state cannot be
		 * decided; no TLSA, the endpoint is a DNS failure. */
		row->dnssec_addr = DNS_SEC_NONE;
		set_error(row, PROBE_STEP_DNS, "an address look-up failed");
	}
	e->phase = EP_MAIN;
	if (row->err_step == PROBE_STEP_DNS && e->naddrs == 0)
		return;
	if (!e->c->env->cfg.probe.allow_private)
		ep_skip_private(e);
	if (e->naddrs == 0 && e->naddrs_private > 0) {
		set_error(row, PROBE_STEP_INPUT,
			  "refused: the target has only private, loopback or "
			  "link-local addresses");
		return;
	}
	check_ep_plan(e);
	for (size_t i = 0; i < e->nap; i++)
		check_ref(e->c);
	if (e->nap > 0)
		check_env_enqueue(e);
}

static void
ep_tlsa_cb(struct dns_answer *a, void *arg)
{
	struct ep *e = arg;

	e->qtlsa = NULL;
	if (!e->tlsa_second && !check_answer_failed(a) &&
	    a->sec == DNS_SEC_SECURE &&
	    (a->status == DNS_NXDOMAIN || a->status == DNS_NODATA)) {
		/* Nothing at the CNAME's target: try the original name. */
		e->tlsa_orig = a;
		e->tlsa_second = 1;
		ep_lookup_tlsa(e, e->row->host);
	} else {
		e->tlsa = a;
	}
	check_unref(e->c);
}

/* The SNI = target probe, at the address of the deciding probe. */
void
check_ep_probe_start(struct ep *e)
{
	struct check *c = e->c;
	struct probe_req req;
	struct probe_opts o;

	check_ep_req(e, &e->ap[e->decider], e->row->host, &req);
	check_ep_opts(e, &e->ap[e->decider], &o);
	req.no_features = 1; /* the defences read the first probe's */

	c->res->probes++;
	e->probe = probe_start(c->env->cfg.base, &o, &req, ep_probe_cb, e);
	if (e->probe == NULL) {
		struct probe_result *r = xcalloc(1, sizeof(*r));
		r->fail_step = PROBE_STEP_TCP;
		snprintf(r->reason, sizeof(r->reason), "out of memory");
		e->pres_sni = r;
		check_unref(c);
		return;
	}
	c->env->in_flight++;
}

static void
ep_probe_cb(struct probe_result *res, void *arg)
{
	struct ep *e = arg;
	struct check_env *env = e->c->env;

	e->probe = NULL;
	env->in_flight--;
	if (env->cfg.on_probe)
		env->cfg.on_probe(env->cfg.observer_arg, res);
	e->pres_sni = res;
	check_unref(e->c);
	check_env_drain(env);
}

/* Fills the rows' TLSA lists and matches once the TLSA answer and the
 * probe are both in.  Returns 1 when a second probe was started. */
int
check_ep_match(struct ep *e)
{
	struct check *c = e->c;
	struct check_endpoint *row = e->row;
	struct dns_answer *t = e->tlsa;
	struct dane_names names = {
	    .domain = c->res->domain,
	    .domain_u = c->res->domain_u,
	    .srv_target = (!e->fallback && e->srv_secure) ? row->host : NULL,
	    .server = e->server,
	};
	time_t now = check_now(c->env);

	/* A completed handshake is always judged (dane.h): whatever its
	 * chain holds, the match decides, never "unreachable". */
	if (e->phase == EP_SNI) {
		e->m_sni_ok = e->pres_sni && e->pres_sni->ok;
		if (e->m_sni_ok)
			check_ep_dane_match(e, t, &names, now, e->pres_sni,
					    &e->m_sni);
		return 0;
	}
	check_ep_match_all(e, t, &names, now);
	if (check_ep_keys_start(e))
		return 1;
	if (t && t->sec == DNS_SEC_SECURE && e->m_ok && e->m.nusable > 0 &&
	    (e->m.matched < 0 || e->pres->key_refused) && !e->fallback &&
	    strcmp(row->host, c->res->domain)) {
		/* Multi-tenant hosts choose the certificate by SNI: one more
		 * probe, on a new circuit, with SNI = the SRV target. */
		e->phase = EP_SNI;
		check_ref(c);
		check_env_enqueue(e);
		return 1;
	}
	return 0;
}

void
check_ep_decide(struct ep *e)
{
	struct check *c = e->c;
	struct check_endpoint *row = e->row;
	struct dns_answer *t = e->tlsa;
	struct verdict_input in = {0};
	struct dane_match *m = &e->m;
	struct probe_result *pr = e->pres;
	char line[2 * 4096 + 32];

	if (e->fallback && e->naddrs == 0 && row->err_step == PROBE_STEP_NONE &&
	    e->a && !check_answer_failed(e->a) && e->aaaa &&
	    !check_answer_failed(e->aaaa)) {
		row->verdict = VERDICT_NONE; /* not offered; dropped */
		return;
	}
	in.srv = row->dnssec_srv;
	in.srv_failed = 0;
	in.addr = row->dnssec_addr;
	in.addr_failed = row->dnssec_addr == DNS_SEC_NONE;
	if (t) {
		row->dnssec_tlsa =
		    check_answer_failed(t) ? DNS_SEC_NONE : t->sec;
		in.tlsa = row->dnssec_tlsa;
		in.tlsa_failed = check_answer_failed(t);
		for (size_t i = 0; i < t->n; i++) {
			char *rec = check_tlsa_line(&t->tlsa[i]);
			push_str(&row->tlsa, &row->ntlsa, rec);
			if (!dane_record_known(&t->tlsa[i]))
				push_str(&row->unusable, &row->nunusable, rec);
			free(rec);
		}
		if (t->sec == DNS_SEC_BOGUS)
			set_detail(row,
				   "the TLSA records at %s fail DNSSEC "
				   "validation: %s",
				   row->tlsa_name, t->why_bogus);
		else if (t->sec == DNS_SEC_INSECURE && !check_answer_failed(t))
			set_detail(row,
				   "the TLSA records at %s are not signed%s",
				   row->tlsa_name, NULL);
		if (in.tlsa_failed)
			set_error(row, PROBE_STEP_DNS, "");
		if (in.tlsa_failed)
			snprintf(row->err_reason, sizeof(row->err_reason),
				 "TLSA look-up at %s failed: %s",
				 row->tlsa_name,
				 t->error[0] ? t->error
					     : dns_status_name(t->status));
	} else if (row->dnssec_srv == DNS_SEC_SECURE &&
		   row->dnssec_addr == DNS_SEC_SECURE) {
		in.tlsa_failed = 1; /* not made although DANE applies */
	}
	if (row->dnssec_srv == DNS_SEC_INSECURE)
		set_detail(
		    row, "%s%s",
		    e->fallback
			? "the denial of the SRV records is not signed "
			  "(DNSSEC is not enabled for the domain's zone)"
			: "the SRV records are not signed (DNSSEC is not "
			  "enabled for the domain's zone)",
		    NULL);

	/* The handshake with SNI = the domain decides: clients send the domain
	 * (XEP-0368), so a key shown only for SNI = the SRV target does not
	 * protect them, and an interceptor may select its victims by SNI.  The
	 * second probe only explains a mismatch (docs/usage.md, sni-target). */
	if (pr)
		snprintf(row->sni, sizeof(row->sni), "%s", c->res->domain);
	if (e->m_ok && e->m.have_leaf && e->m_sni_ok && e->m_sni.matched >= 0 &&
	    !e->pres_sni->key_refused)
		add_sni_target_warning(row, &e->m, &e->m_sni);

	struct verdict_input base = in;
	if (pr && pr->ok && e->m_ok) {
		in.probe_ok = 1;
		in.matched = m->matched >= 0;
		in.key_refused = pr->key_refused;
		in.tlsa_usable = (unsigned)m->nusable;
		row->have_key = m->have_leaf;
		if (m->have_leaf)
			dane_hex(m->spki_sha256, 32, row->spki_sha256);
		row->not_after = m->not_after;
		row->features = pr->features; /* defences only */
		snprintf(row->tls_version, sizeof(row->tls_version), "%s",
			 pr->tls_version);
		if (pr->chain_cut)
			add_warning(row, "chain-cut", pr->reason);
		if (pr->key_refused) {
			/* The reason, and the key it names (probe.h). */
			add_warning(row, "key-refused", pr->reason);
			snprintf(row->match_detail, sizeof(row->match_detail),
				 "%s; its SPKI SHA-256 is %s", pr->reason,
				 row->have_key ? row->spki_sha256 : "unknown");
		} else {
			snprintf(row->match_detail, sizeof(row->match_detail),
				 "%s", m->detail);
		}
		if (m->matched >= 0 && !pr->key_refused && t &&
		    (size_t)m->matched < t->n) {
			row->matched = check_tlsa_line(&t->tlsa[m->matched]);
		}
		for (unsigned b = 0; b < DANE_W_COUNT; b++) {
			enum dane_warning w = (enum dane_warning)(1u << b);
			/* These speak of a match a refused key is not. */
			if (pr->key_refused &&
			    (w == DANE_W_STALE_RECORD || w == DANE_W_WEAK_TA))
				continue;
			if (m->warnings & w)
				add_warning(row, dane_warning_code(w),
					    dane_warning_text(w));
		}
	} else {
		/* Usable records without a handshake to match against. */
		if (t && t->sec == DNS_SEC_SECURE)
			for (size_t i = 0; i < t->n; i++)
				if (dane_record_known(&t->tlsa[i]))
					in.tlsa_usable++;
		if (pr && !pr->ok) {
			in.tls_refused = pr->tls_refused;
			set_error(row, pr->fail_step, pr->reason);
		}
	}
	if (e->fallback)
		add_warning(row, "fallback-no-srv",
			    "no SRV records: clients fall back to the domain "
			    "itself; publish signed SRV records so DANE "
			    "applies (RFC 7673)");
	row->verdict = verdict_endpoint(&in);
	check_ep_probes_report(e, &base);

	/* For insecure: the lines to publish once the zone is signed; never
	 * for a refused key, which the server did not prove it holds. */
	if ((row->verdict == VERDICT_NO_TLSA ||
	     row->verdict == VERDICT_INSECURE) &&
	    row->have_key && !(pr && pr->key_refused)) {
		snprintf(line, sizeof(line), "_%u._tcp.%s. IN TLSA 3 1 1 %s",
			 row->port, row->host, row->spki_sha256);
		push_str(&c->res->setup, &c->res->nsetup, line);
		/* And each other key the probes saw, such as the other key
		 * type's: TLSA must allow both (a split drops them all). */
		for (size_t i = 0; i < row->nprobes && i < e->nap; i++) {
			if (!row->probes[i].have_key || e->ap[i].res == NULL ||
			    e->ap[i].res->key_refused)
				continue;
			snprintf(line, sizeof(line),
				 "_%u._tcp.%s. IN TLSA 3 1 1 %s", row->port,
				 row->host, row->probes[i].spki_sha256);
			push_str(&c->res->setup, &c->res->nsetup, line);
		}
	}
}
