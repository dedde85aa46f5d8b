/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * web_int.h - what web.c (the server, routing, limits) and webcheck.c
 * (checks from the web, joined by domain) share.  Not a public API.
 */
#ifndef CERTWATCH_WEB_INT_H
#define CERTWATCH_WEB_INT_H

#include <sys/queue.h>

#include <event2/http.h>

#include "component/html.h"
#include "component/web.h"
#include "component/webaddr.h"

struct job;

struct web {
	struct event_base *base;
	const struct config *cfg;
	struct check_env *checks;
	struct store *st;
	struct watch *watch;
	struct metrics *m;
	struct clock clk;
	struct web_hooks hooks;
	struct evhttp *http;
	struct evconnlistener *lis;
	unsigned port;
	char base_url[512];
	struct html_ctx hctx;
	struct webaddr_proxies proxies;
	struct webaddr_rate rate;
	size_t queue_bound; /* probes queued beyond: 503 */
	double start_time;

	LIST_HEAD(web_jobs, job) jobs;
	size_t njobs, nrunning;

	/* Connections at once: counted from the bufferevent evhttp asks us
	 * for (one per accepted socket) to its close callback. */
	unsigned conns;
	int paused;
	int closing;		    /* in web_free: the listener is going */
	int low_prio;		    /* the priority of HTTP connections */
	struct bufferevent **fresh; /* accepted, close callback not set */
	size_t nfresh, capfresh;
	struct event *fresh_ev;
	struct event *sweep_ev;
};

/* Monotonic seconds of the web's clock. */
double web_now(const struct web *web);

/* Answers with the security headers; `cache` NULL: no-store. */
void web_reply(struct web *web, struct evhttp_request *req, int code,
	       const char *ctype, const char *body, size_t len,
	       const char *cache);
void web_reply_html(struct web *web, struct evhttp_request *req, int code,
		    struct buf *page);
void web_reply_error(struct web *web, struct evhttp_request *req, int code,
		     const char *title, const char *text);
void web_reply_json_error(struct web *web, struct evhttp_request *req, int code,
			  const char *what, unsigned retry_after);

/* api: 0 the page (/check), 1 the JSON API (/api/check), 2 Prometheus'
 * multi-target probe (/probe, docs/web.md). */
void webcheck_handle(struct web *web, struct evhttp_request *req, int api);
#define WEB_PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The `domain` query parameter (a copy to free), NULL when absent; *bad
 * when the query is malformed. */
char *webcheck_query_domain(struct evhttp_request *req, int *bad);

/* GET /api/domain?domain=: a watched domain's state as JSON
 * (webdomain.c, docs/web.md). */
void webdomain_handle(struct web *web, struct evhttp_request *req);

/* Drops results older than WEB_RESULT_TTL_S. */
void webcheck_sweep(struct web *web);

/* Answers waiting requests with 503 and frees every job. */
void webcheck_free_all(struct web *web);

#endif
