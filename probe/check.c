/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * check.c - one check of a domain: SRV look-ups, the RFC 6120 fallback,
 * address and TLSA look-ups, probes, DANE matching and verdicts, joined
 * into one check_result.
 *
 * Each endpoint walks: addresses → (TLSA ∥ probe) → match → maybe a second
 * probe with SNI = the SRV target → verdict.  A check counts its pending
 * operations; when the count drops to zero it decides and reports through
 * a deferred event, never from inside check_start() or a DNS callback
 * (libunbound answers cached queries synchronously).
 */
#include "probe/check.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "probe/dane.h"
#include "util/buf.h"

#define CHECK_MAX_ENDPOINTS 32	/* SRV RRsets larger than this are cut */

struct check_env {
	struct check_config cfg;
	size_t in_flight;
	struct ep *queue_head, *queue_tail;
	size_t queued;
	/* probes_per_minute: a token bucket refilled continuously. */
	double tokens;
	struct timeval last_refill;
	struct event *drain;
	struct check *checks;	/* every live check, for env_free */
};

enum ep_phase { EP_ADDR, EP_MAIN, EP_SNI, EP_DONE };

struct ep {
	struct check *c;
	struct check_endpoint *row;	/* in c->res->endpoints */
	int server;
	int fallback;
	enum ep_phase phase;

	struct dns_query *qa, *qaaaa, *qtlsa;
	struct dns_answer *a, *aaaa, *tlsa, *tlsa_orig;
	int tlsa_second;		/* looking up at the original name */
	int srv_secure;

	struct probe_addr addrs[32];
	size_t naddrs;
	int addr_private;

	struct probe *probe;
	int probe_waiting;		/* in the env's queue */
	struct ep *qnext;
	struct probe_result *pres;	/* the SNI = domain probe */
	struct probe_result *pres_sni;	/* the SNI = target probe */
	struct dane_match m, m_sni;
	int m_ok, m_sni_ok;
};

struct srvq {
	struct check *c;
	enum check_service s;
};

struct check {
	struct check_env *env;
	struct srvq sq[SVC_COUNT];
	struct check *next, *prev;
	struct check_result *res;
	check_cb cb;
	void *arg;

	struct dns_query *qsrv[SVC_COUNT];
	struct dns_answer *srv[SVC_COUNT];
	int srv_done[SVC_COUNT];
	struct ep *eps[CHECK_MAX_ENDPOINTS];
	size_t neps;
	unsigned pending;
	int finishing;
	struct event *done_ev;
	struct timeval t0;
};

static const char *const svc_names[SVC_COUNT] = {
	"xmpp-client", "xmpps-client", "xmpp-server", "xmpps-server"};

const char *
check_service_name(enum check_service s)
{
	return (unsigned)s < SVC_COUNT ? svc_names[s] : "?";
}

const char *
check_svc_state_name(enum check_svc_state s)
{
	switch (s) {
	case SVC_STATE_SRV: return "srv";
	case SVC_STATE_FALLBACK: return "fallback";
	case SVC_STATE_NOT_OFFERED: return "not-offered";
	case SVC_STATE_BOGUS: return "bogus";
	case SVC_STATE_FAILED: return "failed";
	default: return NULL;
	}
}

static time_t
env_now(const struct check_env *env)
{
	return env->cfg.now ? env->cfg.now() : time(NULL);
}

/* ---- the probe queue ------------------------------------------------ */

static void ep_probe_start(struct ep *e);
static void check_unref(struct check *c);

static int
env_take_token(struct check_env *env)
{
	struct timeval now, d;
	int rate = env->cfg.probes_per_minute;

	if (rate <= 0)
		return 1;
	gettimeofday(&now, NULL);
	timersub(&now, &env->last_refill, &d);
	env->last_refill = now;
	env->tokens += ((double)d.tv_sec + d.tv_usec / 1e6) * rate / 60.0;
	if (env->tokens > rate)
		env->tokens = rate;
	if (env->tokens < 1.0)
		return 0;
	env->tokens -= 1.0;
	return 1;
}

static size_t
env_max(const struct check_env *env)
{
	return env->cfg.max_probes > 0 ? (size_t)env->cfg.max_probes : 32;
}

static void
env_drain(struct check_env *env)
{
	while (env->queue_head && env->in_flight < env_max(env)) {
		if (!env_take_token(env)) {
			struct timeval tv = {0, 200000};
			evtimer_add(env->drain, &tv);
			return;
		}
		struct ep *e = env->queue_head;
		env->queue_head = e->qnext;
		if (env->queue_head == NULL)
			env->queue_tail = NULL;
		env->queued--;
		e->qnext = NULL;
		e->probe_waiting = 0;
		ep_probe_start(e);
	}
}

static void
env_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	env_drain(arg);
}

static void
env_enqueue(struct ep *e)
{
	struct check_env *env = e->c->env;

	e->probe_waiting = 1;
	e->qnext = NULL;
	if (env->queue_tail)
		env->queue_tail->qnext = e;
	else
		env->queue_head = e;
	env->queue_tail = e;
	env->queued++;
	env_drain(env);
}

static void
env_dequeue(struct ep *e)
{
	struct check_env *env = e->c->env;
	struct ep **pp = &env->queue_head, *prev = NULL;

	while (*pp && *pp != e) {
		prev = *pp;
		pp = &(*pp)->qnext;
	}
	if (*pp == NULL)
		return;
	*pp = e->qnext;
	if (env->queue_tail == e)
		env->queue_tail = prev;
	env->queued--;
	e->probe_waiting = 0;
}

struct check_env *
check_env_new(const struct check_config *cfg)
{
	struct check_env *env = xcalloc(1, sizeof(*env));

	env->cfg = *cfg;
	env->tokens = cfg->probes_per_minute > 0 ? cfg->probes_per_minute : 0;
	gettimeofday(&env->last_refill, NULL);
	env->drain = evtimer_new(cfg->base, env_drain_cb, env);
	if (env->drain == NULL) {
		free(env);
		return NULL;
	}
	return env;
}

size_t
check_env_probes_in_flight(const struct check_env *env)
{
	return env->in_flight;
}

size_t
check_env_probes_queued(const struct check_env *env)
{
	return env->queued;
}

/* ---- results ---------------------------------------------------------- */

static void
free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
check_result_free(struct check_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nendpoints; i++) {
		struct check_endpoint *e = &r->endpoints[i];
		free_strv(e->tlsa, e->ntlsa);
		free_strv(e->unusable, e->nunusable);
		free(e->matched);
		free(e->warnings);
	}
	free(r->endpoints);
	free_strv(r->setup, r->nsetup);
	free(r);
}

struct check_result *
check_result_invalid(const char *input, const char *reason)
{
	struct check_result *r = xcalloc(1, sizeof(*r));

	snprintf(r->domain, sizeof(r->domain), "%s", input ? input : "");
	snprintf(r->domain_u, sizeof(r->domain_u), "%s", r->domain);
	r->verdict = VERDICT_NONE;
	r->err_step = PROBE_STEP_INPUT;
	snprintf(r->err_reason, sizeof(r->err_reason), "invalid domain: %s",
		 reason);
	r->started = time(NULL);
	return r;
}

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

/* ---- endpoints -------------------------------------------------------- */

static void
check_ref(struct check *c)
{
	c->pending++;
}

static struct ep *
ep_new(struct check *c, enum check_service svc, const char *host,
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
	r->endpoints = xrealloc(r->endpoints,
				c->neps * sizeof(*r->endpoints));
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

static void
ep_start(struct ep *e)
{
	struct check *c = e->c;

	e->phase = EP_ADDR;
	check_ref(c);
	check_ref(c);
	if (dns_lookup(c->env->cfg.dns, e->row->host, DNS_T_A, ep_addr_cb, e,
		       &e->qa) < 0) {
		struct dns_answer *f = xcalloc(1, sizeof(*f));
		f->qtype = DNS_T_A;
		f->status = DNS_ERROR;
		snprintf(f->error, sizeof(f->error), "invalid name");
		ep_addr_cb(f, e);
	}
	if (dns_lookup(c->env->cfg.dns, e->row->host, DNS_T_AAAA, ep_addr_cb,
		       e, &e->qaaaa) < 0) {
		struct dns_answer *f = xcalloc(1, sizeof(*f));
		f->qtype = DNS_T_AAAA;
		f->status = DNS_ERROR;
		snprintf(f->error, sizeof(f->error), "invalid name");
		ep_addr_cb(f, e);
	}
}

static int
answer_failed(const struct dns_answer *a)
{
	return a->status == DNS_SERVFAIL || a->status == DNS_TIMEOUT ||
	       a->status == DNS_ERROR;
}

static enum dns_sec
sec_worse(enum dns_sec a, enum dns_sec b)
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
		struct dns_answer *f = xcalloc(1, sizeof(*f));
		f->qtype = DNS_T_TLSA;
		f->status = DNS_ERROR;
		snprintf(f->error, sizeof(f->error), "name too long");
		ep_tlsa_cb(f, e);
	}
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
		if (answer_failed(x)) {
			failed++;
			continue;
		}
		sec = sec_worse(sec, x->sec);
		if (x->sec == DNS_SEC_BOGUS)
			set_detail(row, "the address records of %s fail "
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
			if (probe_addr_is_private(pa))
				e->addr_private = 1;
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
		set_detail(row, "the address records of %s are not signed "
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
	if (e->addr_private && !e->c->env->cfg.probe.allow_private) {
		set_error(row, PROBE_STEP_INPUT,
			  "refused: the target has a private, loopback or "
			  "link-local address");
		return;
	}
	check_ref(e->c);
	env_enqueue(e);
}

static void
ep_tlsa_cb(struct dns_answer *a, void *arg)
{
	struct ep *e = arg;

	e->qtlsa = NULL;
	if (!e->tlsa_second && !answer_failed(a) && a->sec == DNS_SEC_SECURE &&
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

static void
ep_probe_start(struct ep *e)
{
	struct check *c = e->c;
	struct probe_req req = {
		.host = e->row->host,
		.port = e->row->port,
		.stream_to = c->res->domain_u,
		.sni = e->phase == EP_SNI ? e->row->host : c->res->domain,
		.server = e->server,
		.tls = e->row->tls,
		.addrs = e->addrs,
		.naddrs = e->naddrs,
	};

	c->res->probes++;
	e->probe = probe_start(c->env->cfg.base, &c->env->cfg.probe, &req,
			       ep_probe_cb, e);
	if (e->probe == NULL) {
		struct probe_result *r = xcalloc(1, sizeof(*r));
		r->fail_step = PROBE_STEP_TCP;
		snprintf(r->reason, sizeof(r->reason), "out of memory");
		if (e->phase == EP_SNI)
			e->pres_sni = r;
		else
			e->pres = r;
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
	if (e->phase == EP_SNI)
		e->pres_sni = res;
	else
		e->pres = res;
	check_unref(e->c);
	env_drain(env);
}

/* Fills the rows' TLSA lists and matches once the TLSA answer and the
 * probe are both in.  Returns 1 when a second probe was started. */
static int
ep_match(struct ep *e)
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
	time_t now = env_now(c->env);

	if (e->phase == EP_SNI) {
		e->m_sni_ok = e->pres_sni && e->pres_sni->ok &&
			      dane_match(t->tlsa, t->n, e->pres_sni->chain,
					 e->pres_sni->nchain, &names, now,
					 &e->m_sni) == 0;
		return 0;
	}
	if (e->pres && e->pres->ok)
		e->m_ok = dane_match(t ? t->tlsa : NULL, t ? t->n : 0,
				     e->pres->chain, e->pres->nchain, &names,
				     now, &e->m) == 0;
	if (t && t->sec == DNS_SEC_SECURE && e->m_ok && e->m.nusable > 0 &&
	    e->m.matched < 0 && !e->fallback && strcmp(row->host, c->res->domain)) {
		/* Multi-tenant hosts choose the certificate by SNI: one more
		 * probe, on a new circuit, with SNI = the SRV target. */
		e->phase = EP_SNI;
		check_ref(c);
		env_enqueue(e);
		return 1;
	}
	return 0;
}

static void
ep_decide(struct ep *e)
{
	struct check *c = e->c;
	struct check_endpoint *row = e->row;
	struct dns_answer *t = e->tlsa;
	struct verdict_input in = {0};
	struct dane_match *m = &e->m;
	struct probe_result *pr = e->pres;
	char line[2 * 4096 + 32];

	if (e->fallback && e->naddrs == 0 && row->err_step == PROBE_STEP_NONE &&
	    e->a && !answer_failed(e->a) && e->aaaa && !answer_failed(e->aaaa)) {
		row->verdict = VERDICT_NONE;	/* not offered; dropped */
		return;
	}
	in.srv = row->dnssec_srv;
	in.srv_failed = 0;
	in.addr = row->dnssec_addr;
	in.addr_failed = row->dnssec_addr == DNS_SEC_NONE;
	if (t) {
		row->dnssec_tlsa = answer_failed(t) ? DNS_SEC_NONE : t->sec;
		in.tlsa = row->dnssec_tlsa;
		in.tlsa_failed = answer_failed(t);
		for (size_t i = 0; i < t->n; i++) {
			dns_tlsa_format(&t->tlsa[i], line, sizeof(line));
			push_str(&row->tlsa, &row->ntlsa, line);
			if (!dane_record_known(&t->tlsa[i]))
				push_str(&row->unusable, &row->nunusable, line);
		}
		if (t->sec == DNS_SEC_BOGUS)
			set_detail(row, "the TLSA records at %s fail DNSSEC "
					"validation: %s",
				   row->tlsa_name, t->why_bogus);
		else if (t->sec == DNS_SEC_INSECURE && !answer_failed(t))
			set_detail(row, "the TLSA records at %s are not signed%s",
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
		in.tlsa_failed = 1;	/* not made although DANE applies */
	}
	if (row->dnssec_srv == DNS_SEC_INSECURE)
		set_detail(row, "%s%s", e->fallback
			   ? "the denial of the SRV records is not signed "
			     "(DNSSEC is not enabled for the domain's zone)"
			   : "the SRV records are not signed (DNSSEC is not "
			     "enabled for the domain's zone)", NULL);

	/* Use the SNI = target handshake if it matched. */
	if (e->m_sni_ok && e->m_sni.matched >= 0) {
		m = &e->m_sni;
		pr = e->pres_sni;
		snprintf(row->sni, sizeof(row->sni), "%s", row->host);
		add_warning(row, "sni-target",
			    "the record matched only with SNI set to the SRV "
			    "target; clients send the domain as SNI and may "
			    "see another certificate");
	} else if (pr) {
		snprintf(row->sni, sizeof(row->sni), "%s", c->res->domain);
	}
	int mok = (m == &e->m) ? e->m_ok : 1;

	if (pr && pr->ok && mok) {
		in.probe_ok = 1;
		in.matched = m->matched >= 0;
		in.tlsa_usable = (unsigned)m->nusable;
		row->have_key = m->have_leaf;
		if (m->have_leaf)
			dane_hex(m->spki_sha256, 32, row->spki_sha256);
		row->not_after = m->not_after;
		snprintf(row->match_detail, sizeof(row->match_detail), "%s",
			 m->detail);
		if (m->matched >= 0 && t && (size_t)m->matched < t->n) {
			dns_tlsa_format(&t->tlsa[m->matched], line, sizeof(line));
			row->matched = xstrdup(line);
		}
		for (unsigned b = 0; b < 6; b++) {
			enum dane_warning w = (enum dane_warning)(1u << b);
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
		} else if (pr && pr->ok && !mok) {
			set_error(row, PROBE_STEP_TLS,
				  "the server's certificate could not be parsed");
		}
	}
	if (e->fallback)
		add_warning(row, "fallback-no-srv",
			    "no SRV records: clients fall back to the domain "
			    "itself; publish signed SRV records so DANE "
			    "applies (RFC 7673)");
	row->verdict = verdict_endpoint(&in);

	if (row->verdict == VERDICT_NO_TLSA && row->have_key) {
		snprintf(line, sizeof(line), "_%u._tcp.%s. IN TLSA 3 1 1 %s",
			 row->port, row->host, row->spki_sha256);
		push_str(&c->res->setup, &c->res->nsetup, line);
	}
}

/* ---- SRV and the fallback -------------------------------------------- */

static void
srv_class_done(struct check *c, int server)
{
	enum check_service s0 = server ? SVC_XMPP_SERVER : SVC_XMPP_CLIENT;
	enum check_service s1 = s0 + 1;
	struct dns_answer *a0 = c->srv[s0], *a1 = c->srv[s1];
	int none0 = !answer_failed(a0) && a0->sec != DNS_SEC_BOGUS &&
		    a0->status != DNS_ANSWER;
	int none1 = !answer_failed(a1) && a1->sec != DNS_SEC_BOGUS &&
		    a1->status != DNS_ANSWER;

	for (enum check_service s = s0; s <= s1; s++) {
		struct dns_answer *a = c->srv[s];
		char *det = c->res->service_detail[s];
		if (a->sec == DNS_SEC_BOGUS) {
			c->res->services[s] = SVC_STATE_BOGUS;
			snprintf(det, 256, "SRV records fail DNSSEC validation: %s",
				 a->why_bogus);
		} else if (answer_failed(a)) {
			c->res->services[s] = SVC_STATE_FAILED;
			snprintf(det, 256, "SRV look-up failed: %s",
				 a->error[0] ? a->error : dns_status_name(a->status));
		} else if (a->status != DNS_ANSWER) {
			c->res->services[s] = SVC_STATE_NOT_OFFERED;
		} else if (a->n == 1 && !strcmp(a->srv[0].target, ".")) {
			c->res->services[s] = SVC_STATE_NOT_OFFERED;
			snprintf(det, 256, "SRV target \".\": the service is "
					   "decidedly not offered");
		} else {
			c->res->services[s] = SVC_STATE_SRV;
			for (size_t i = 0; i < a->n; i++) {
				if (!strcmp(a->srv[i].target, "."))
					continue;
				struct ep *e = ep_new(c, s, a->srv[i].target,
						      a->srv[i].port, a->sec, 0);
				if (e)
					ep_start(e);
			}
		}
	}
	if (none0 && none1) {
		/* RFC 6120 §3.2.1: the domain itself, STARTTLS only. */
		enum dns_sec sec = sec_worse(a0->sec, a1->sec);
		c->res->services[s0] = SVC_STATE_FALLBACK;
		struct ep *e = ep_new(c, s0, c->res->domain,
				      server ? 5269 : 5222, sec, 1);
		if (e)
			ep_start(e);
	}
}

static void
srv_cb(struct dns_answer *a, void *arg)
{
	struct srvq *q = arg;
	struct check *c = q->c;
	enum check_service s = q->s;

	c->srv[s] = a;
	c->qsrv[s] = NULL;
	c->srv_done[s] = 1;
	if (c->srv_done[s ^ 1])
		srv_class_done(c, s >= SVC_XMPP_SERVER);
	check_unref(c);
}

/* ---- the check's life ------------------------------------------------- */

static void
check_decide(struct check *c)
{
	struct check_result *r = c->res;
	enum verdict v = VERDICT_NONE;
	size_t kept = 0, unreachable = 0;
	int any_service = 0;

	for (size_t i = 0; i < c->neps; i++)
		ep_decide(c->eps[i]);
	/* Drop fallback endpoints that turned out not offered. */
	for (size_t i = 0; i < c->neps; i++) {
		struct check_endpoint *row = &r->endpoints[i];
		if (c->eps[i]->fallback && row->verdict == VERDICT_NONE) {
			r->services[row->service] = SVC_STATE_NOT_OFFERED;
			char *det = r->service_detail[row->service];
			strcpy(det, "no SRV records and the domain has no "
				    "address records");
			free_strv(row->tlsa, row->ntlsa);
			free_strv(row->unusable, row->nunusable);
			free(row->matched);
			free(row->warnings);
			continue;
		}
		if (kept != i)
			r->endpoints[kept] = *row;
		kept++;
	}
	r->nendpoints = kept;
	for (size_t i = 0; i < kept; i++) {
		enum verdict ev = r->endpoints[i].verdict;
		if (ev == VERDICT_UNREACHABLE)
			unreachable++;
		v = verdict_worse(v, ev);
	}
	for (int s = 0; s < SVC_COUNT; s++) {
		if (r->services[s] == SVC_STATE_BOGUS)
			v = verdict_worse(v, VERDICT_BOGUS);
		if (r->services[s] != SVC_STATE_NOT_OFFERED)
			any_service = 1;
		if (r->services[s] == SVC_STATE_FAILED && v == VERDICT_NONE)
			v = VERDICT_UNREACHABLE;
	}
	if (v == VERDICT_NONE) {
		v = VERDICT_UNREACHABLE;
		if (!any_service || kept == 0) {
			r->err_step = PROBE_STEP_DNS;
			snprintf(r->err_reason, sizeof(r->err_reason),
				 "no XMPP service");
		}
	}
	for (int s = 0; s < SVC_COUNT && r->err_step == PROBE_STEP_NONE; s++)
		if (r->services[s] == SVC_STATE_FAILED && kept == 0) {
			r->err_step = PROBE_STEP_DNS;
			snprintf(r->err_reason, sizeof(r->err_reason), "%s",
				 r->service_detail[s]);
		}
	r->verdict = v;
	(void)unreachable;
}

static void
check_free_internals(struct check *c)
{
	for (int s = 0; s < SVC_COUNT; s++) {
		if (c->qsrv[s])
			dns_cancel(c->qsrv[s]);
		dns_answer_free(c->srv[s]);
	}
	for (size_t i = 0; i < c->neps; i++) {
		struct ep *e = c->eps[i];
		if (e->qa)
			dns_cancel(e->qa);
		if (e->qaaaa)
			dns_cancel(e->qaaaa);
		if (e->qtlsa)
			dns_cancel(e->qtlsa);
		if (e->probe) {
			probe_cancel(e->probe);
			c->env->in_flight--;
		}
		if (e->probe_waiting)
			env_dequeue(e);
		dns_answer_free(e->a);
		dns_answer_free(e->aaaa);
		dns_answer_free(e->tlsa);
		dns_answer_free(e->tlsa_orig);
		probe_result_free(e->pres);
		probe_result_free(e->pres_sni);
		free(e);
	}
	c->neps = 0;
	if (c->done_ev)
		event_free(c->done_ev);
	if (c->prev)
		c->prev->next = c->next;
	else if (c->env->checks == c)
		c->env->checks = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

static void
check_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct check *c = arg;
	struct check_result *r = c->res;
	check_cb cb = c->cb;
	void *cbarg = c->arg;
	struct timeval t1, d;

	gettimeofday(&t1, NULL);
	timersub(&t1, &c->t0, &d);
	r->elapsed_ms = (uint32_t)(d.tv_sec * 1000 + d.tv_usec / 1000);
	c->res = NULL;
	if (c->env->cfg.on_check)
		c->env->cfg.on_check(c->env->cfg.observer_arg, r);
	check_free_internals(c);
	free(c);
	cb(r, cbarg);
}

static void
check_unref(struct check *c)
{
	if (--c->pending > 0)
		return;
	/* Every operation so far is in: endpoints whose TLSA answer and
	 * probe are both here are matched, which may start SNI probes. */
	for (size_t i = 0; i < c->neps; i++) {
		struct ep *e = c->eps[i];
		if (e->phase == EP_MAIN) {
			c->pending++;	/* hold while matching */
			int more = ep_match(e);
			if (!more)
				e->phase = EP_DONE;
			c->pending--;
		} else if (e->phase == EP_SNI && e->pres_sni) {
			ep_match(e);
			e->phase = EP_DONE;
		}
	}
	if (c->pending > 0 || c->finishing)
		return;
	c->finishing = 1;
	check_decide(c);
	event_active(c->done_ev, EV_TIMEOUT, 0);
}

struct check *
check_start(struct check_env *env, const char *domain_a, const char *domain_u,
	    check_cb cb, void *arg)
{
	struct check *c = xcalloc(1, sizeof(*c));
	char name[DNS_NAME_MAX + 32];

	c->env = env;
	c->cb = cb;
	c->arg = arg;
	c->res = xcalloc(1, sizeof(*c->res));
	snprintf(c->res->domain, sizeof(c->res->domain), "%s", domain_a);
	snprintf(c->res->domain_u, sizeof(c->res->domain_u), "%s",
		 domain_u && *domain_u ? domain_u : domain_a);
	c->res->started = env_now(env);
	gettimeofday(&c->t0, NULL);
	c->done_ev = event_new(env->cfg.base, -1, 0, check_done_cb, c);
	if (c->done_ev == NULL) {
		free(c->res);
		free(c);
		return NULL;
	}
	c->next = env->checks;
	if (env->checks)
		env->checks->prev = c;
	env->checks = c;

	c->pending = 1;	/* held until every SRV look-up is started */
	for (int s = 0; s < SVC_COUNT; s++) {
		snprintf(name, sizeof(name), "_%s._tcp.%s", svc_names[s],
			 domain_a);
		c->pending++;
		c->sq[s].c = c;
		c->sq[s].s = (enum check_service)s;
		struct dns_query *q = NULL;
		if (dns_lookup(env->cfg.dns, name, DNS_T_SRV, srv_cb, &c->sq[s],
			       &q) < 0) {
			struct dns_answer *f = xcalloc(1, sizeof(*f));
			snprintf(f->qname, sizeof(f->qname), "%s", name);
			f->qtype = DNS_T_SRV;
			f->status = DNS_ERROR;
			snprintf(f->error, sizeof(f->error), "invalid name");
			srv_cb(f, &c->sq[s]);
		} else if (!c->srv_done[s]) {
			c->qsrv[s] = q;
		}
	}
	check_unref(c);
	return c;
}

void
check_cancel(struct check *c)
{
	if (c == NULL)
		return;
	check_result_free(c->res);
	c->res = NULL;
	check_free_internals(c);
	free(c);
}

void
check_env_free(struct check_env *env)
{
	if (env == NULL)
		return;
	while (env->checks)
		check_cancel(env->checks);
	event_free(env->drain);
	free(env);
}
