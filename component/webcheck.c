/* SPDX-License-Identifier: GPL-3.0-or-later */
/* webcheck.c - checks from the web page and the JSON API: joined by domain,
 * kept for a while, limited per client and by the probing load. */
#include "component/web_int.h"

#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "component/log.h"
#include "component/names.h"
#include "component/report.h"

enum waiter_kind { WAIT_PAGE, WAIT_API, WAIT_PROBE };

struct waiter {
	LIST_ENTRY(waiter) link; /* in job->waiters */
	struct job *job;
	struct evhttp_request *req;
	enum waiter_kind kind;
	struct event *timer; /* pages only: give up waiting */
};

/* One domain's web check, running or done (kept WEB_RESULT_TTL_S). */
struct job {
	LIST_ENTRY(job) link; /* in web->jobs */
	struct web *web;
	struct domain_name dn;
	struct check *chk; /* NULL once done */
	double started;	   /* monotonic seconds */
	double done_at;
	char *html, *json, *prom; /* rendered once, when done */
	size_t html_len, json_len, prom_len;
	LIST_HEAD(, waiter) waiters;
};

/* ---- jobs ---- */

static void
waiter_free(struct waiter *wt)
{
	if (wt->timer)
		event_free(wt->timer);
	free(wt);
}

static void
waiter_unlink(struct waiter *wt)
{
	LIST_REMOVE(wt, link);
}

static void
send_result(struct web *web, struct job *j, struct evhttp_request *req,
	    enum waiter_kind kind)
{
	if (kind == WAIT_API)
		web_reply(web, req, 200, "application/json", j->json,
			  j->json_len, NULL);
	else if (kind == WAIT_PROBE)
		web_reply(web, req, 200, WEB_PROM_TYPE, j->prom, j->prom_len,
			  NULL);
	else
		web_reply(web, req, 200, "text/html; charset=utf-8", j->html,
			  j->html_len, NULL);
}

static void
send_checking(struct web *web, struct job *j, struct evhttp_request *req)
{
	struct buf page = BUF_INIT;
	double age = web_now(web) - j->started;

	html_checking(&page, &web->hctx, &j->dn, (unsigned)(age > 0 ? age : 0));
	web_reply_html(web, req, 200, &page);
	buf_free(&page);
}

static void
job_free(struct job *j)
{
	struct waiter *wt;

	while ((wt = LIST_FIRST(&j->waiters)) != NULL) {
		LIST_REMOVE(wt, link);
		if (wt->kind == WAIT_API)
			web_reply_json_error(j->web, wt->req, 503,
					     "shutting down", 0);
		else
			web_reply_error(
			    j->web, wt->req, 503, "Shutting down",
			    "certwatch is stopping; try again later.");
		waiter_free(wt);
	}
	if (j->chk) {
		check_cancel(j->chk);
		j->web->nrunning--;
	}
	free(j->html);
	free(j->json);
	free(j->prom);
	free(j);
}

static void
job_unlink(struct web *web, struct job *j)
{
	LIST_REMOVE(j, link);
	web->njobs--;
}

static void
job_done(struct check_result *res, void *arg)
{
	struct job *j = arg;
	struct web *web = j->web;
	struct buf b = BUF_INIT;
	struct waiter *wt;

	j->chk = NULL;
	web->nrunning--;
	j->done_at = web_now(web);
	html_result(&b, &web->hctx, res);
	j->html_len = b.len;
	j->html = buf_steal(&b);
	report_json(res, &b);
	j->json_len = b.len;
	j->json = buf_steal(&b);
	metrics_probe_render(res, &b);
	j->prom_len = b.len;
	j->prom = buf_steal(&b);
	check_result_free(res);
	while ((wt = LIST_FIRST(&j->waiters)) != NULL) {
		LIST_REMOVE(wt, link);
		send_result(web, j, wt->req, wt->kind);
		waiter_free(wt);
	}
}

static struct job *
job_find(struct web *web, const char *a, double now)
{
	struct job *j;

	LIST_FOREACH(j, &web->jobs, link)
	{
		if (strcmp(j->dn.a, a))
			continue;
		if (j->chk == NULL && now - j->done_at > WEB_RESULT_TTL_S)
			return NULL; /* stale: the sweep frees it */
		return j;
	}
	return NULL;
}

/* Drops stale results; with `need` set, also the oldest finished one so
 * that a new job fits under the bound. */
static void
jobs_sweep(struct web *web, double now, int need)
{
	struct job *j, *next, *oldest = NULL;

	for (j = LIST_FIRST(&web->jobs); j != NULL; j = next) {
		next = LIST_NEXT(j, link);
		if (j->chk == NULL && LIST_EMPTY(&j->waiters) &&
		    now - j->done_at > WEB_RESULT_TTL_S) {
			job_unlink(web, j);
			job_free(j);
			continue;
		}
		if (j->chk == NULL && LIST_EMPTY(&j->waiters) &&
		    (oldest == NULL || j->done_at < oldest->done_at))
			oldest = j;
	}
	if (need && web->njobs >= 4 * WEB_MAX_CHECKS && oldest) {
		job_unlink(web, oldest);
		job_free(oldest);
	}
}

void
webcheck_sweep(struct web *web)
{
	jobs_sweep(web, web_now(web), 0);
}

void
webcheck_free_all(struct web *web)
{
	struct job *j;

	while ((j = LIST_FIRST(&web->jobs)) != NULL) {
		LIST_REMOVE(j, link);
		job_free(j);
	}
	web->njobs = 0;
}

static void
page_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *wt = arg;
	struct job *j = wt->job;

	waiter_unlink(wt);
	send_checking(j->web, j, wt->req);
	waiter_free(wt);
}

static void
add_waiter(struct web *web, struct job *j, struct evhttp_request *req,
	   enum waiter_kind kind)
{
	struct waiter *wt = xcalloc(1, sizeof(*wt));

	wt->job = j;
	wt->req = req;
	wt->kind = kind;
	if (kind == WAIT_PAGE) {
		struct timeval tv = {WEB_PAGE_WAIT_MS / 1000,
				     (WEB_PAGE_WAIT_MS % 1000) * 1000};
		wt->timer = evtimer_new(web->base, page_wait_cb, wt);
		if (wt->timer == NULL) {
			free(wt);
			send_checking(web, j, req);
			return;
		}
		evtimer_add(wt->timer, &tv);
	}
	LIST_INSERT_HEAD(&j->waiters, wt, link);
}

/* The address the per-client limit counts. */
static void
client_of(struct web *web, struct evhttp_request *req, struct webaddr *out)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const struct sockaddr *sa =
	    evcon ? evhttp_connection_get_addr(evcon) : NULL;
	struct webaddr peer;
	const char *xff[16];
	size_t n = 0;
	struct evkeyval *kv;

	memset(&peer, 0, sizeof(peer));
	webaddr_from_sockaddr(sa, &peer);
	if (!webaddr_proxies_match(&web->proxies, &peer)) {
		*out = peer;
		return;
	}
	TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next)
	{
		if (strcasecmp(kv->key, "X-Forwarded-For"))
			continue;
		if (n == sizeof(xff) / sizeof(xff[0])) /* keep the last */
			memmove(xff, xff + 1, --n * sizeof(xff[0]));
		xff[n++] = kv->value;
	}
	webaddr_client(&peer, &web->proxies, xff, n, out);
}

/*
 * Finds or starts the check of a valid domain for a request; answers the
 * request itself when refused.  Returns the job, or NULL when answered.
 */
static struct job *
job_for(struct web *web, struct evhttp_request *req,
	const struct domain_name *dn, enum waiter_kind kind)
{
	double now = web_now(web);
	struct job *j = job_find(web, dn->a, now);
	struct webaddr client;
	unsigned wait;

	if (j)
		return j;
	if (web->nrunning >= WEB_MAX_CHECKS ||
	    check_env_probes_queued(web->checks) > web->queue_bound) {
		metrics_http_check_refused(web->m, METRICS_REFUSED_BUSY);
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Retry-After", "30");
		if (kind == WAIT_API)
			web_reply_json_error(web, req, 503,
					     "busy: probing is "
					     "saturated, try again later",
					     30);
		else
			web_reply_error(
			    web, req, 503, "Busy",
			    "certwatch is checking many domains right "
			    "now. Please try again in a minute.");
		return NULL;
	}
	client_of(web, req, &client);
	web->rate.per_minute = web->cfg->http_checks_per_minute; /* SIGHUP */
	if ((wait = webaddr_rate_take(&web->rate, &client, now)) > 0) {
		char ra[16], text[256];
		metrics_http_check_refused(web->m, METRICS_REFUSED_RATE);
		snprintf(ra, sizeof(ra), "%u", wait);
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Retry-After", ra);
		if (kind == WAIT_API) {
			web_reply_json_error(web, req, 429, "rate limit", wait);
		} else {
			snprintf(
			    text, sizeof(text),
			    "You have started %u checks in the last "
			    "minute, the most this page allows. Please try "
			    "again in %u s.",
			    web->cfg->http_checks_per_minute, wait);
			web_reply_error(web, req, 429, "Too many checks", text);
		}
		return NULL;
	}
	jobs_sweep(web, now, 1);
	j = xcalloc(1, sizeof(*j));
	j->web = web;
	j->dn = *dn;
	j->started = now;
	j->chk = check_start(web->checks, dn->a, dn->u, job_done, j);
	if (j->chk == NULL) {
		free(j);
		web_reply_error(web, req, 500, "Internal error",
				"out of memory");
		return NULL;
	}
	web->nrunning++;
	LIST_INSERT_HEAD(&web->jobs, j, link);
	web->njobs++;
	metrics_http_check_started(web->m);
	if (log_get_level() >= LOG_LEVEL_DEBUG) {
		char who[64];
		webaddr_format(&client, who, sizeof(who));
		log_debug("web: check of %s for %s", dn->a, who);
	}
	return j;
}

/* ---- handlers ---- */

/* The `domain` query parameter; NULL when absent.  *bad: malformed. */
char *
webcheck_query_domain(struct evhttp_request *req, int *bad)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq kv;
	char *v = NULL;

	*bad = 0;
	if (q == NULL)
		return NULL;
	TAILQ_INIT(&kv);
	if (evhttp_parse_query_str(q, &kv) < 0) {
		*bad = 1;
	} else {
		const char *d = evhttp_find_header(&kv, "domain");
		v = d ? xstrdup(d) : NULL;
	}
	evhttp_clear_headers(&kv);
	return v;
}

void
webcheck_handle(struct web *web, struct evhttp_request *req, int api)
{
	enum waiter_kind kind = api == 2 ? WAIT_PROBE
				: api	 ? WAIT_API
					 : WAIT_PAGE;
	int bad;
	char *input = webcheck_query_domain(req, &bad);
	struct domain_name dn;
	char err[256];
	struct job *j;

	if (input == NULL || *input == '\0' ||
	    names_domain(input, strlen(input), &dn, err, sizeof(err)) < 0) {
		if (input == NULL || *input == '\0')
			snprintf(err, sizeof(err),
				 bad ? "malformed query" : "no domain given");
		if (kind == WAIT_PROBE) {
			char msg[300];
			int n = snprintf(msg, sizeof(msg), "%s\n", err);
			web_reply(web, req, 400, "text/plain; charset=utf-8",
				  msg,
				  (size_t)n < sizeof(msg) ? (size_t)n
							  : sizeof(msg) - 1,
				  NULL);
		} else if (api) {
			struct check_result *r =
			    check_result_invalid(input ? input : "", err);
			struct buf b = BUF_INIT;
			report_json(r, &b);
			web_reply(web, req, 400, "application/json", b.s, b.len,
				  NULL);
			buf_free(&b);
			check_result_free(r);
		} else {
			struct buf page = BUF_INIT;
			char msg[300];
			snprintf(msg, sizeof(msg), "Not a domain name: %s",
				 err);
			/* A huge value is not worth showing back. */
			html_index(&page, &web->hctx,
				   input && strlen(input) <= 253 ? input : "",
				   msg);
			web_reply_html(web, req, 400, &page);
			buf_free(&page);
		}
		free(input);
		return;
	}
	free(input);
	j = job_for(web, req, &dn, kind);
	if (j == NULL)
		return;
	if (j->chk == NULL)
		send_result(web, j, req, kind);
	else
		add_waiter(web, j, req, kind);
}
