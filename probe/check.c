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

#include "probe/check_int.h"
#include "probe/dane.h"
#include "util/buf.h"

static const char *const svc_names[SVC_COUNT] = {"xmpp-client", "xmpps-client",
						 "xmpp-server", "xmpps-server"};

const char *
check_service_name(enum check_service s)
{
	return (unsigned)s < SVC_COUNT ? svc_names[s] : "?";
}

const char *
check_svc_state_name(enum check_svc_state s)
{
	switch (s) {
	case SVC_STATE_SRV:
		return "srv";
	case SVC_STATE_FALLBACK:
		return "fallback";
	case SVC_STATE_NOT_OFFERED:
		return "not-offered";
	case SVC_STATE_BOGUS:
		return "bogus";
	case SVC_STATE_FAILED:
		return "failed";
	default:
		return NULL;
	}
}

time_t
check_now(const struct check_env *env)
{
	/* A test may build an env by hand, with no clock. */
	return env->clk.now ? env->clk.now() : clock_wall();
}

/* ---- the probe queue ------------------------------------------------ */

int
check_env_take_token(struct check_env *env)
{
	int64_t now;
	int rate = env->cfg.probes_per_minute;

	if (rate <= 0)
		return 1;
	now = env->clk.mono_ms();
	env->tokens += (double)(now - env->last_refill_ms) / 1e3 * rate / 60.0;
	env->last_refill_ms = now;
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

static void env_append(struct ep *e);

void
check_env_drain(struct check_env *env)
{
	while (!TAILQ_EMPTY(&env->queue) && env->in_flight < env_max(env)) {
		if (!check_env_take_token(env)) {
			struct timeval tv = {0, 200000};
			evtimer_add(env->drain, &tv);
			return;
		}
		struct ep *e = TAILQ_FIRST(&env->queue);
		TAILQ_REMOVE(&env->queue, e, qlink);
		env->queued--;
		e->probe_waiting = 0;
		if (e->phase == EP_MAIN || e->phase == EP_KEYS) {
			/* One address per turn: endpoints share the slots. */
			if (check_ep_probe_next(e))
				env_append(e);
			continue;
		}
		check_ep_probe_start(e);
	}
}

static void
env_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	check_env_drain(arg);
}

static void
env_append(struct ep *e)
{
	struct check_env *env = e->c->env;

	e->probe_waiting = 1;
	TAILQ_INSERT_TAIL(&env->queue, e, qlink);
	env->queued++;
}

void
check_env_enqueue(struct ep *e)
{
	env_append(e);
	check_env_drain(e->c->env);
}

static void
env_dequeue(struct ep *e)
{
	struct check_env *env = e->c->env;

	if (!e->probe_waiting)
		return;
	TAILQ_REMOVE(&env->queue, e, qlink);
	env->queued--;
	e->probe_waiting = 0;
}

struct check_env *
check_env_new(const struct check_config *cfg)
{
	struct check_env *env = xcalloc(1, sizeof(*env));

	TAILQ_INIT(&env->queue);
	LIST_INIT(&env->checks);
	env->cfg = *cfg;
	env->tokens = cfg->probes_per_minute > 0 ? cfg->probes_per_minute : 0;
	env->clk = clock_or_system(cfg->clock);
	env->cfg.clock = NULL; /* not kept: env->clk is */
	env->last_refill_ms = env->clk.mono_ms();
	env->drain = evtimer_new(cfg->base, env_drain_cb, env);
	if (env->drain == NULL) {
		free(env);
		return NULL;
	}
	return env;
}

void
check_env_set_remote(struct check_env *env, const struct check_remote *remote)
{
	env->cfg.remote = *remote;
}

size_t
check_env_probes_in_flight(const struct check_env *env)
{
	return env->in_flight;
}

size_t
check_env_probes_queued(const struct check_env *env)
{
	size_t n = 0;

	/* Every probe waiting counts: an endpoint in the queue still owes
	 * one per address, vantage and key type not started (issue 14). */
	const struct ep *e;

	TAILQ_FOREACH(e, &env->queue, qlink)
	n += (e->phase == EP_MAIN || e->phase == EP_KEYS) &&
		     e->nplan > e->ap_next
		 ? e->nplan - e->ap_next
		 : 1;
	return n;
}

/* ---- results ---------------------------------------------------------- */

void
check_free_strv(char **v, size_t n)
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
		check_free_strv(e->tlsa, e->ntlsa);
		check_free_strv(e->unusable, e->nunusable);
		free(e->matched);
		free(e->warnings);
		free(e->probes);
	}
	free(r->endpoints);
	free(r->warnings);
	check_free_strv(r->setup, r->nsetup);
	check_free_strv(r->caa.records, r->caa.nrecords);
	for (size_t i = 0; i < r->ncaa_targets; i++)
		check_free_strv(r->caa_targets[i].caa.records,
				r->caa_targets[i].caa.nrecords);
	free(r->caa_targets);
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
	r->started = clock_wall(); /* no check, no injected clock */
	return r;
}

/* ---- SRV and the fallback -------------------------------------------- */

static void
srv_class_done(struct check *c, int server)
{
	enum check_service s0 = server ? SVC_XMPP_SERVER : SVC_XMPP_CLIENT;
	enum check_service s1 = s0 + 1;
	struct dns_answer *a0 = c->srv[s0], *a1 = c->srv[s1];
	int none0 = !check_answer_failed(a0) && a0->sec != DNS_SEC_BOGUS &&
		    a0->status != DNS_ANSWER;
	int none1 = !check_answer_failed(a1) && a1->sec != DNS_SEC_BOGUS &&
		    a1->status != DNS_ANSWER;

	for (enum check_service s = s0; s <= s1; s++) {
		struct dns_answer *a = c->srv[s];
		char *det = c->res->service_detail[s];
		if (a->sec == DNS_SEC_BOGUS) {
			c->res->services[s] = SVC_STATE_BOGUS;
			snprintf(det, 256,
				 "SRV records fail DNSSEC validation: %s",
				 a->why_bogus);
		} else if (check_answer_failed(a)) {
			c->res->services[s] = SVC_STATE_FAILED;
			snprintf(det, 256, "SRV look-up failed: %s",
				 a->error[0] ? a->error
					     : dns_status_name(a->status));
		} else if (a->status != DNS_ANSWER) {
			c->res->services[s] = SVC_STATE_NOT_OFFERED;
		} else if (a->n == 1 && !strcmp(a->srv[0].target, ".")) {
			c->res->services[s] = SVC_STATE_NOT_OFFERED;
			snprintf(det, 256,
				 "SRV target \".\": the service is "
				 "decidedly not offered");
		} else {
			c->res->services[s] = SVC_STATE_SRV;
			for (size_t i = 0; i < a->n; i++) {
				if (!strcmp(a->srv[i].target, "."))
					continue;
				check_caa_target(c, a->srv[i].target);
				struct ep *e =
				    check_ep_new(c, s, a->srv[i].target,
						 a->srv[i].port, a->sec, 0);
				if (e)
					check_ep_start(e);
			}
		}
	}
	if (none0 && none1) {
		/* RFC 6120 §3.2.1: the domain itself, STARTTLS only. */
		enum dns_sec sec = check_sec_worse(a0->sec, a1->sec);
		c->res->services[s0] = SVC_STATE_FALLBACK;
		struct ep *e = check_ep_new(c, s0, c->res->domain,
					    server ? 5269 : 5222, sec, 1);
		if (e)
			check_ep_start(e);
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

static int
endpoint_cmp(const void *a, const void *b)
{
	const struct check_endpoint *x = a, *y = b;
	int d;

	if (x->service != y->service)
		return x->service < y->service ? -1 : 1;
	if ((d = strcmp(x->host, y->host)) != 0)
		return d;
	return (int)x->port - (int)y->port;
}

static void
check_decide(struct check *c)
{
	struct check_result *r = c->res;
	enum verdict v;
	size_t kept = 0, nbogus = 0;
	int any_service = 0, decided = 0;

	for (size_t i = 0; i < c->neps; i++)
		check_ep_decide(c->eps[i]);
	/* Drop fallback endpoints that turned out not offered. */
	for (size_t i = 0; i < c->neps; i++) {
		struct check_endpoint *row = &r->endpoints[i];
		if (c->eps[i]->fallback && row->verdict == VERDICT_NONE) {
			r->services[row->service] = SVC_STATE_NOT_OFFERED;
			char *det = r->service_detail[row->service];
			strcpy(det, "no SRV records and the domain has no "
				    "address records");
			check_free_strv(row->tlsa, row->ntlsa);
			check_free_strv(row->unusable, row->nunusable);
			free(row->matched);
			free(row->warnings);
			free(row->probes);
			continue;
		}
		if (kept != i)
			r->endpoints[kept] = *row;
		kept++;
	}
	r->nendpoints = kept;
	/* A stable order for people and diffs: by service, host, port. */
	if (kept > 1)
		qsort(r->endpoints, kept, sizeof(*r->endpoints), endpoint_cmp);
	check_split(r);
	enum verdict *evs = xcalloc(kept + 1, sizeof(*evs));
	for (size_t i = 0; i < kept; i++) {
		evs[i] = r->endpoints[i].verdict;
		decided |= evs[i] != VERDICT_NONE;
	}
	for (int s = 0; s < SVC_COUNT; s++) {
		nbogus += r->services[s] == SVC_STATE_BOGUS;
		decided |= r->services[s] == SVC_STATE_FAILED;
		if (r->services[s] != SVC_STATE_NOT_OFFERED)
			any_service = 1;
	}
	v = verdict_domain(evs, kept, nbogus);
	free(evs);
	/* Nothing decided, not even a failed look-up: no service at all. */
	if (!decided && nbogus == 0) {
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
		check_ep_probes_free(e, c->env);
		if (e->probe_waiting)
			env_dequeue(e);
		dns_answer_free(e->a);
		dns_answer_free(e->aaaa);
		dns_answer_free(e->tlsa);
		dns_answer_free(e->tlsa_orig);
		probe_result_free(e->pres_sni);
		free(e);
	}
	c->neps = 0;
	check_caa_cancel(c);
	if (c->qzone)
		dns_cancel(c->qzone);
	if (c->zone_timer)
		event_free(c->zone_timer);
	if (c->done_ev)
		event_free(c->done_ev);
	LIST_REMOVE(c, link);
}

static void
check_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct check *c = arg;
	struct check_result *r = c->res;
	check_cb cb = c->cb;
	void *cbarg = c->arg;
	int64_t d = c->env->clk.mono_ms() - c->t0_ms;

	r->elapsed_ms = d > 0 ? (uint32_t)d : 0;
	c->res = NULL;
	if (c->env->cfg.on_check)
		c->env->cfg.on_check(c->env->cfg.observer_arg, r);
	check_free_internals(c);
	free(c);
	cb(r, cbarg);
}

void
check_unref(struct check *c)
{
	if (--c->pending > 0)
		return;
	/* Every operation so far is in: endpoints whose TLSA answer and
	 * probe are both here are matched, which may start SNI probes. */
	for (size_t i = 0; i < c->neps; i++) {
		struct ep *e = c->eps[i];
		if (e->phase == EP_KEYS)
			check_ep_keys_end(e); /* then matched again */
		if (e->phase == EP_MAIN) {
			c->pending++; /* hold while matching */
			int more = check_ep_match(e);
			if (!more)
				e->phase = EP_DONE;
			c->pending--;
		} else if (e->phase == EP_SNI && e->pres_sni) {
			check_ep_match(e);
			e->phase = EP_DONE;
		}
	}
	if (c->pending > 0 || c->finishing)
		return;
	c->finishing = 1;
	check_decide(c);
	check_zone_start(c); /* then done_ev */
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
	c->res->started = check_now(env);
	c->res->expiry_warn_days = env->cfg.expiry_warn_days;
	c->t0_ms = env->clk.mono_ms();
	c->done_ev = event_new(env->cfg.base, -1, 0, check_done_cb, c);
	if (c->done_ev == NULL) {
		free(c->res);
		free(c);
		return NULL;
	}
	LIST_INSERT_HEAD(&env->checks, c, link);

	c->pending = 1; /* held until every SRV look-up is started */
	for (int s = 0; s < SVC_COUNT; s++) {
		snprintf(name, sizeof(name), "_%s._tcp.%s", svc_names[s],
			 domain_a);
		c->pending++;
		c->sq[s].c = c;
		c->sq[s].s = (enum check_service)s;
		struct dns_query *q = NULL;
		if (dns_lookup(env->cfg.dns, name, DNS_T_SRV, srv_cb, &c->sq[s],
			       &q) < 0) {
			srv_cb(check_failed_answer(name, DNS_T_SRV,
						   "invalid name"),
			       &c->sq[s]);
		} else if (!c->srv_done[s]) {
			c->qsrv[s] = q;
		}
	}
	check_caa_start(c); /* defences: never changes the verdict */
	check_unref(c);
	return c;
}

void
check_cancel(struct check *c)
{
	struct check_env *env;

	if (c == NULL)
		return;
	env = c->env;
	check_result_free(c->res);
	c->res = NULL;
	check_free_internals(c);
	free(c);
	/* Its probes' slots are free: the queue moves on, from the loop
	 * (not inside the caller, which may be cancelling more). */
	if (!env->freeing && !TAILQ_EMPTY(&env->queue))
		event_active(env->drain, EV_TIMEOUT, 0);
}

void
check_env_free(struct check_env *env)
{
	if (env == NULL)
		return;
	env->freeing = 1;
	while (!LIST_EMPTY(&env->checks))
		check_cancel(LIST_FIRST(&env->checks));
	event_free(env->drain);
	free(env);
}
