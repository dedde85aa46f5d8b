/* SPDX-License-Identifier: GPL-3.0-or-later */
/* vantage.c - remote vantages over XMPP: asking and answering. */
#include "component/vantage.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/random.h>

#include "component/bot.h"
#include "component/config.h"
#include "component/config_vantage.h"
#include "component/log.h"
#include "component/names.h"
#include "component/vantage_proto.h"
#include "probe/check.h"
#include "util/buf.h"

/* One request of the asking side. */
struct ask {
	LIST_ENTRY(ask) link;
	struct vantage *v; /* NULL once the vantage is freed */
	char id[40];
	char jid[80]; /* the remote certwatch */
	probe_cb cb;
	void *cbarg;
	struct event *timer;
};

/* One probe of the answering side. */
struct answer {
	LIST_ENTRY(answer) link;
	struct vantage *v;
	struct probe *probe;
	char id[256], to[COMP_JID_MAX], from[COMP_JID_MAX];
};

struct vantage {
	struct comp *c;
	struct check_env *env;
	const struct config *cfg;
	struct clock clk;
	LIST_HEAD(, ask) asks;
	size_t nasks;
	uint64_t seq;
	LIST_HEAD(, answer) answers;
	size_t nanswers;
};

/* ---- asking ------------------------------------------------------------ */

static struct probe_result *
unreachable(const char *fmt, const char *jid, const char *what)
{
	struct probe_result *r = xcalloc(1, sizeof(*r));

	r->fail_step = PROBE_STEP_VANTAGE;
	snprintf(r->reason, sizeof(r->reason), fmt, jid, what);
	snprintf(r->peer, sizeof(r->peer), "xmpp:%.58s", jid);
	return r;
}

static void
ask_unlink(struct ask *a)
{
	if (a->v != NULL) {
		LIST_REMOVE(a, link);
		a->v->nasks--;
		a->v = NULL;
	}
	if (a->timer) {
		event_free(a->timer);
		a->timer = NULL;
	}
}

/* Ends a request with its result (the callee owns it). */
static void
ask_end(struct ask *a, struct probe_result *res)
{
	probe_cb cb = a->cb;
	void *arg = a->cbarg;

	ask_unlink(a);
	free(a);
	cb(res, arg);
}

static void
ask_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct ask *a = arg;
	char secs[16];

	(void)fd;
	(void)what;
	snprintf(secs, sizeof(secs), "%u", 2 * a->v->cfg->timeout);
	ask_end(a, unreachable("xmpp:%s did not answer in %s s", a->jid, secs));
}

static void *
ask_start(void *arg, const struct check_vantage *cv,
	  const struct probe_req *req, probe_cb cb, void *cbarg)
{
	struct vantage *v = arg;
	struct timeval tv = {2 * (time_t)v->cfg->timeout, 0};
	xmpp_ctx_t *ctx = comp_ctx(v->c);
	xmpp_stanza_t *iq, *payload;
	uint32_t rnd = 0;
	struct ask *a;

	if (v->nasks >= VANTAGE_MAX_PENDING)
		return NULL;
	payload = vantage_req_build(ctx, req);
	if (payload == NULL)
		return NULL;
	a = xcalloc(1, sizeof(*a));
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = (uint32_t)random();
	snprintf(a->id, sizeof(a->id), "cwv-%llu-%08x",
		 (unsigned long long)++v->seq, rnd);
	snprintf(a->jid, sizeof(a->jid), "%s", cv->name + 5);
	a->cb = cb;
	a->cbarg = cbarg;
	a->v = v;
	a->timer = evtimer_new(comp_base(v->c), ask_timeout, a);
	if (a->timer == NULL) {
		free(a);
		xmpp_stanza_release(payload);
		return NULL;
	}
	evtimer_add(a->timer, &tv);
	LIST_INSERT_HEAD(&v->asks, a, link);
	v->nasks++;
	iq = xmpp_iq_new(ctx, "get", a->id);
	xmpp_stanza_set_to(iq, a->jid);
	xmpp_stanza_set_from(iq, v->cfg->jid);
	xmpp_stanza_add_child(iq, payload);
	xmpp_stanza_release(payload);
	comp_send(v->c, iq);
	xmpp_stanza_release(iq);
	return a;
}

/* Also the cancel of a freed vantage: the request is only forgotten. */
static void
ask_cancel(void *arg, void *handle)
{
	struct ask *a = handle;

	(void)arg;
	ask_unlink(a);
	free(a);
}

/* The error condition's name (RFC 6120 §8.3.3), for the reason. */
static const char *
error_condition(xmpp_stanza_t *iq)
{
	xmpp_stanza_t *e = xmpp_stanza_get_child_by_name(iq, "error");

	for (xmpp_stanza_t *c = e ? xmpp_stanza_get_children(e) : NULL; c;
	     c = xmpp_stanza_get_next(c)) {
		const char *name = xmpp_stanza_get_name(c);
		if (!xmpp_stanza_is_text(c) && name && strcmp(name, "text") &&
		    strlen(name) < 40)
			return name;
	}
	return "no condition";
}

static int
ask_reply(void *arg, xmpp_stanza_t *iq)
{
	struct vantage *v = arg;
	const char *id = xmpp_stanza_get_id(iq);
	const char *from = xmpp_stanza_get_from(iq);
	char bare[COMP_JID_MAX], why[160];
	struct ask *a;
	xmpp_stanza_t *payload;
	struct probe_result *res;

	if (id == NULL || from == NULL || strncmp(id, "cwv-", 4) ||
	    names_bare_jid(from, bare, sizeof(bare)) < 0)
		return 0;
	LIST_FOREACH(a, &v->asks, link)
	if (!strcmp(a->id, id))
		break;
	/* Only the JID asked may answer (a guessed id from another is
	 * ignored, and the request runs to its time-out). */
	if (a == NULL || strcasecmp(bare, a->jid))
		return 0;
	if (!strcmp(xmpp_stanza_get_type(iq), "error")) {
		ask_end(a, unreachable("xmpp:%s answered an error: %s", a->jid,
				       error_condition(iq)));
		return 1;
	}
	payload =
	    xmpp_stanza_get_child_by_name_and_ns(iq, "result", VANTAGE_NS);
	res = payload ? vantage_ans_parse(payload, why, sizeof(why)) : NULL;
	if (res == NULL) {
		ask_end(a, unreachable("xmpp:%s sent a malformed answer: %s",
				       a->jid, payload ? why : "no result"));
		return 1;
	}
	snprintf(res->peer, sizeof(res->peer), "xmpp:%.58s", a->jid);
	if (!res->ok) {
		/* Its words, named; its own Tor failing is the vantage's
		 * failure, not the target's. */
		char words[sizeof(res->reason)];
		snprintf(words, sizeof(words), "%s", res->reason);
		snprintf(res->reason, sizeof(res->reason), "xmpp:%.74s: %s%s",
			 a->jid,
			 res->fail_step == PROBE_STEP_TOR ? "its Tor failed: "
							  : "",
			 words);
		if (res->fail_step == PROBE_STEP_TOR)
			res->fail_step = PROBE_STEP_VANTAGE;
	}
	ask_end(a, res);
	return 1;
}

/* ---- answering --------------------------------------------------------- */

static void
answer_unlink(struct answer *an)
{
	LIST_REMOVE(an, link);
	an->v->nanswers--;
}

static void
answer_done(struct probe_result *res, void *arg)
{
	struct answer *an = arg;
	struct vantage *v = an->v;
	xmpp_ctx_t *ctx = comp_ctx(v->c);
	xmpp_stanza_t *iq = xmpp_iq_new(ctx, "result", an->id);
	xmpp_stanza_t *payload = vantage_ans_build(ctx, res, v->clk.now());

	xmpp_stanza_set_to(iq, an->from);
	xmpp_stanza_set_from(iq, an->to);
	xmpp_stanza_add_child(iq, payload);
	xmpp_stanza_release(payload);
	comp_send(v->c, iq);
	xmpp_stanza_release(iq);
	probe_result_free(res);
	answer_unlink(an);
	free(an);
}

/* This instance's own way out: its first local vantage, else `via`. */
static void
answer_opts(const struct config *cfg, struct probe_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->via_socks = cfg->via_tor;
	o->socks_host = cfg->tor_socks_host;
	o->socks_port = cfg->tor_socks_port;
	for (size_t i = 0; i < cfg->nvantages; i++)
		if (!cfg->vantages[i].remote) {
			o->via_socks = cfg->vantages[i].via_socks;
			o->socks_host = cfg->vantages[i].socks_host;
			o->socks_port = cfg->vantages[i].socks_port;
			break;
		}
	o->timeout_ms = (int)cfg->timeout * 1000;
	o->allow_private = cfg->allow_private;
}

static int
answer_iq(void *userdata, void *call)
{
	struct vantage *v = userdata;
	struct comp_iq_call *qc = call;
	struct vantage_req vr;
	struct probe_req req;
	struct probe_opts o;
	struct answer *an;
	char why[160];
	const char *id = xmpp_stanza_get_id(qc->iq);

	if (!config_vantage_allowed(v->cfg, qc->peer->bare)) {
		log_info("vantage: probe request from %s refused: not in "
			 "[vantage] allow",
			 qc->peer->bare);
		comp_iq_error(v->c, qc->iq, "auth", "forbidden", NULL);
		return 1;
	}
	if (id == NULL || strlen(id) >= sizeof(an->id) ||
	    vantage_req_parse(qc->payload, &vr, why, sizeof(why)) < 0) {
		comp_iq_error(v->c, qc->iq, "modify", "bad-request",
			      id ? why : "no id");
		return 1;
	}
	if (v->nanswers >= VANTAGE_MAX_ANSWERING ||
	    !check_env_take_token(v->env)) {
		comp_iq_error(v->c, qc->iq, "wait", "resource-constraint",
			      v->nanswers >= VANTAGE_MAX_ANSWERING
				  ? "too many probes for others at once"
				  : "over [limits] probes_per_minute");
		return 1;
	}
	answer_opts(v->cfg, &o);
	vantage_req_probe(&vr, &req);
	if (o.via_socks)
		req.host = vr.address; /* an IP literal to the proxy */
	req.no_features = 1;
	an = xcalloc(1, sizeof(*an));
	an->v = v;
	snprintf(an->id, sizeof(an->id), "%s", id);
	snprintf(an->from, sizeof(an->from), "%s", qc->peer->full);
	snprintf(an->to, sizeof(an->to), "%s", qc->peer->self);
	an->probe = probe_start(comp_base(v->c), &o, &req, answer_done, an);
	if (an->probe == NULL) {
		free(an);
		comp_iq_error(v->c, qc->iq, "wait", "resource-constraint",
			      "out of memory");
		return 1;
	}
	LIST_INSERT_HEAD(&v->answers, an, link);
	v->nanswers++;
	log_debug("vantage: probing %s port %u at %s for %s", vr.host,
		  (unsigned)vr.port, vr.address, qc->peer->bare);
	return 1;
}

/* ---- life -------------------------------------------------------------- */

struct vantage *
vantage_new(struct comp *c, struct check_env *env, const struct config *cfg,
	    const struct clock *clk)
{
	struct vantage *v = xcalloc(1, sizeof(*v));
	struct check_remote r = {ask_start, ask_cancel, v};
	struct comp_iq_replies rep = {ask_reply, v, VANTAGE_NS};

	v->c = c;
	v->env = env;
	v->cfg = cfg;
	v->clk = clock_or_system(clk);
	LIST_INIT(&v->asks);
	LIST_INIT(&v->answers);
	if (comp_iq_handler_add(c, answer_iq, VANTAGE_NS, "probe", IQTAB_GET,
				v) < 0)
		log_error("vantage: cannot register the probe request handler");
	comp_set_iq_replies(c, &rep);
	check_env_set_remote(env, &r);
	return v;
}

void
vantage_free(struct vantage *v)
{
	struct check_remote detached = {NULL, ask_cancel, NULL};
	struct comp_iq_replies none = {0};

	if (v == NULL)
		return;
	check_env_set_remote(v->env, &detached);
	comp_set_iq_replies(v->c, &none);
	(void)iqtab_remove(&v->c->iqs, answer_iq, VANTAGE_NS, "probe");
	while (!LIST_EMPTY(&v->asks))
		ask_unlink(LIST_FIRST(&v->asks));
	while (!LIST_EMPTY(&v->answers)) {
		struct answer *an = LIST_FIRST(&v->answers);
		probe_cancel(an->probe);
		answer_unlink(an);
		free(an);
	}
	free(v);
}
