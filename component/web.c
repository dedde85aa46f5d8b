/* SPDX-License-Identifier: GPL-3.0-or-later */
/* web.c - the evhttp server: routing, security headers, bounded requests
 * and connections. */
#include "component/web_int.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "component/log.h"
#include "component/names.h"
#include "component/watch.h"
#include "store/store.h"
#include "util/clock.h"

#define CSP                                                                    \
	"default-src 'none'; style-src 'self'; img-src 'self'; "               \
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

double
web_now(const struct web *web)
{
	return (double)web->clk.mono_ms() / 1e3;
}

/* ---- replies ---- */

void
web_reply(struct web *web, struct evhttp_request *req, int code,
	  const char *ctype, const char *body, size_t len, const char *cache)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Content-Security-Policy", CSP);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Cache-Control", cache ? cache : "no-store");
	if (b)
		evbuffer_add(b, body, len);
	metrics_http_request(web->m, code);
	evhttp_send_reply(req, code, NULL, b);
	if (b)
		evbuffer_free(b);
}

void
web_reply_html(struct web *web, struct evhttp_request *req, int code,
	       struct buf *page)
{
	web_reply(web, req, code, "text/html; charset=utf-8",
		  page->s ? page->s : "", page->len, NULL);
}

void
web_reply_error(struct web *web, struct evhttp_request *req, int code,
		const char *title, const char *text)
{
	struct buf page = BUF_INIT;

	html_error(&page, &web->hctx, title, text);
	web_reply_html(web, req, code, &page);
	buf_free(&page);
}

void
web_reply_json_error(struct web *web, struct evhttp_request *req, int code,
		     const char *what, unsigned retry_after)
{
	struct buf b = BUF_INIT;

	buf_puts(&b, "{\"error\":");
	buf_json_str(&b, what);
	if (retry_after)
		buf_printf(&b, ",\"retry_after\":%u", retry_after);
	buf_puts(&b, "}\n");
	web_reply(web, req, code, "application/json", b.s, b.len, NULL);
	buf_free(&b);
}

/* ---- connections at once ---- */

static void
conn_gone(struct web *web)
{
	if (web->conns > 0)
		web->conns--;
	metrics_http_connections(web->m, web->conns);
	if (!web->closing && web->paused && web->conns < WEB_MAX_CONNECTIONS) {
		evconnlistener_enable(web->lis);
		web->paused = 0;
	}
}

static void
conn_closed(struct evhttp_connection *evcon, void *arg)
{
	conn_gone(arg);
}

/*
 * evhttp in libevent 2.1 has no connection limit and no hook for a new
 * connection: it asks for a bufferevent per accepted socket, then sets its
 * own callbacks on it with the connection as their argument.  Right after
 * (before any I/O on it), fresh_cb finds the connection through
 * bufferevent_getcb() and sets its close callback.
 */
static struct bufferevent *
conn_new_bev(struct event_base *base, void *arg)
{
	struct web *web = arg;
	struct bufferevent *bev;

	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL;
	if (web->nfresh == web->capfresh) {
		web->capfresh = web->capfresh ? web->capfresh * 2 : 16;
		web->fresh =
		    xrealloc(web->fresh, web->capfresh * sizeof(*web->fresh));
	}
	/* Pages wait while chat, DNS and probes have work (see web_new). */
	if (web->low_prio > 0)
		bufferevent_priority_set(bev, web->low_prio);
	bufferevent_incref(bev); /* until fresh_cb has looked */
	web->fresh[web->nfresh++] = bev;
	web->conns++;
	metrics_http_connections(web->m, web->conns);
	if (web->conns >= WEB_MAX_CONNECTIONS && !web->paused) {
		evconnlistener_disable(web->lis);
		web->paused = 1;
	}
	event_active(web->fresh_ev, EV_TIMEOUT, 1);
	return bev;
}

static void
fresh_cb(evutil_socket_t fd, short what, void *arg)
{
	struct web *web = arg;

	for (size_t i = 0; i < web->nfresh; i++) {
		struct bufferevent *bev = web->fresh[i];
		bufferevent_data_cb rcb;
		void *cbarg = NULL;

		bufferevent_getcb(bev, &rcb, NULL, NULL, &cbarg);
		if (rcb != NULL && cbarg != NULL)
			evhttp_connection_set_closecb(cbarg, conn_closed, web);
		else /* evhttp already dropped it */
			conn_gone(web);
		bufferevent_decref(bev);
	}
	web->nfresh = 0;
}

static void
handle_domain(struct web *web, struct evhttp_request *req, const char *path)
{
	size_t len = 0;
	char *name = evhttp_uridecode(path, 0, &len);
	struct domain_name dn;
	char err[256];
	struct buf page = BUF_INIT;
	const struct store_domain *d = NULL;

	if (name == NULL || strlen(name) != len ||
	    names_domain(name, len, &dn, err, sizeof(err)) < 0) {
		free(name);
		web_reply_error(web, req, 400, "Not a domain name",
				"The address after /d/ must be a domain name, "
				"such as /d/example.org.");
		return;
	}
	free(name);
	if (web->st)
		d = store_domain_get(web->st, dn.a);
	if (d == NULL || d->n_chat + d->n_pubsub == 0) {
		html_not_watched(&page, &web->hctx, &dn);
		web_reply_html(web, req, 404, &page);
	} else {
		long next =
		    web->watch ? watch_next_round_in(web->watch, dn.a) : -1;
		html_domain(&page, &web->hctx, d, web->clk.now(), next);
		web_reply_html(web, req, 200, &page);
	}
	buf_free(&page);
}

static void
handle_metrics(struct web *web, struct evhttp_request *req)
{
	struct metrics_sources src = {
	    .store = web->st,
	    .watch = web->watch,
	    .checks = web->checks,
	    .connected = -1,
	    .reconnects = -1,
	    .start_time = web->start_time,
	};
	struct buf b = BUF_INIT;

	if (web->hooks.connected)
		src.connected = web->hooks.connected(web->hooks.arg) ? 1 : 0;
	if (web->hooks.reconnects)
		src.reconnects = (long)web->hooks.reconnects(web->hooks.arg);
	metrics_render(web->m, &src, &b);
	web_reply(web, req, 200, "text/plain; version=0.0.4; charset=utf-8",
		  b.s, b.len, NULL);
	buf_free(&b);
}

static void
handle(struct evhttp_request *req, void *arg)
{
	struct web *web = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	if (path == NULL || *path == '\0') {
		/* evhttp calls back without a URI after a protocol error. */
		web_reply_error(web, req, 400, "Bad request",
				"The request could not be read.");
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Allow", "GET, HEAD");
		web_reply_error(
		    web, req, 405, "Method not allowed",
		    "This site only answers GET and HEAD requests.");
		return;
	}
	if (!strcmp(path, "/")) {
		struct buf page = BUF_INIT;
		html_index(&page, &web->hctx, NULL, NULL);
		web_reply(web, req, 200, "text/html; charset=utf-8", page.s,
			  page.len, "max-age=300");
		buf_free(&page);
	} else if (!strcmp(path, "/style.css")) {
		web_reply(web, req, 200, "text/css; charset=utf-8",
			  html_stylesheet, strlen(html_stylesheet),
			  "max-age=3600");
	} else if (!strcmp(path, "/check")) {
		webcheck_handle(web, req, 0);
	} else if (!strcmp(path, "/api/check")) {
		webcheck_handle(web, req, 1);
	} else if (!strcmp(path, "/api/domain")) {
		webdomain_handle(web, req);
	} else if (!strncmp(path, "/d/", 3) && path[3]) {
		handle_domain(web, req, path + 3);
	} else if (!strcmp(path, "/probe")) {
		webcheck_handle(web, req, 2);
	} else if (!strcmp(path, "/metrics")) {
		handle_metrics(web, req);
	} else if (!strcmp(path, "/robots.txt")) {
		static const char robots[] = "User-agent: *\nDisallow: /check\n"
					     "Disallow: /api/\n"
					     "Disallow: /probe\n";
		web_reply(web, req, 200, "text/plain; charset=utf-8", robots,
			  sizeof(robots) - 1, "max-age=86400");
	} else {
		web_reply_error(web, req, 404, "Not found",
				"There is no page at this address.");
	}
}

/* ---- life ---- */

static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	webcheck_sweep(arg);
}

static int
listen_on(struct web *web, const char *spec, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	struct evhttp_bound_socket *bound;

	if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &len) <
	    0) {
		snprintf(err, errlen,
			 "[http] listen: \"%s\" is not ADDRESS:PORT", spec);
		return -1;
	}
	web->lis = evconnlistener_new_bind(
	    web->base, NULL, NULL,
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	    128, (struct sockaddr *)&ss, len);
	if (web->lis == NULL) {
		snprintf(err, errlen, "[http] listen: cannot listen on %s: %s",
			 spec, strerror(errno));
		return -1;
	}
	bound = evhttp_bind_listener(web->http, web->lis);
	if (bound == NULL) {
		evconnlistener_free(web->lis);
		web->lis = NULL;
		snprintf(err, errlen, "[http] listen: cannot serve on %s",
			 spec);
		return -1;
	}
	len = sizeof(ss);
	if (getsockname(evconnlistener_get_fd(web->lis), (struct sockaddr *)&ss,
			(socklen_t *)&len) == 0)
		web->port = ntohs(ss.ss_family == AF_INET6
				      ? ((struct sockaddr_in6 *)&ss)->sin6_port
				      : ((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

struct web *
web_new(struct event_base *base, const struct config *cfg,
	struct check_env *checks, struct store *st, struct watch *w,
	struct metrics *m, const struct web_hooks *hooks,
	const struct clock *clk, char *err, size_t errlen)
{
	struct web *web = xcalloc(1, sizeof(*web));
	struct timeval sweep = {10, 0};
	size_t n;

	web->base = base;
	web->cfg = cfg;
	web->checks = checks;
	web->st = st;
	web->watch = w;
	web->m = m;
	web->clk = clock_or_system(clk);
	metrics_set_per_domain(m, cfg->http_metrics_per_domain);
	if (hooks)
		web->hooks = *hooks;
	web->start_time = (double)web->clk.now();
	snprintf(web->base_url, sizeof(web->base_url), "%s",
		 cfg->http_base_url);
	n = strlen(web->base_url);
	while (n > 0 && web->base_url[n - 1] == '/')
		web->base_url[--n] = '\0';
	web->hctx.base = web->base_url;
	web->hctx.jid = cfg->jid;
	web->queue_bound = cfg->concurrency * 4 > 8 ? cfg->concurrency * 4 : 8;
	webaddr_rate_init(&web->rate, cfg->http_checks_per_minute);
	if (webaddr_proxies_parse(cfg->http_trusted_proxies, &web->proxies, err,
				  errlen) < 0) {
		char tmp[256];
		snprintf(tmp, sizeof(tmp), "%s", err);
		snprintf(err, errlen, "[http] trusted_proxies: %s", tmp);
		goto fail;
	}
	/* Serve pages at the lowest priority, so that a loaded page never
	 * delays chat, DNS or probes: with 3 queues, events made from now on
	 * default to the middle one, and those made before keep the top one.
	 * This works only before any event is active (as here, before the
	 * loop runs); otherwise all share one priority, as before. */
	if (event_base_get_npriorities(base) < 3)
		event_base_priority_init(base, 3);
	web->low_prio = event_base_get_npriorities(base) - 1;
	web->http = evhttp_new(base);
	web->fresh_ev = event_new(base, -1, 0, fresh_cb, web);
	web->sweep_ev = event_new(base, -1, EV_PERSIST, sweep_cb, web);
	if (web->http == NULL || web->fresh_ev == NULL ||
	    web->sweep_ev == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	evhttp_set_max_headers_size(web->http, WEB_MAX_HEADERS);
	evhttp_set_max_body_size(web->http, WEB_MAX_BODY);
	evhttp_set_timeout(web->http, WEB_TIMEOUT_S);
	/* Every method reaches handle(), which answers 405 (evhttp itself
	 * would answer 501 to the ones it is not told to allow). */
	evhttp_set_allowed_methods(web->http, 0x1ff);
	evhttp_set_gencb(web->http, handle, web);
	evhttp_set_bevcb(web->http, conn_new_bev, web);
	if (listen_on(web, cfg->http_listen, err, errlen) < 0)
		goto fail;
	evtimer_add(web->sweep_ev, &sweep);
	log_info("web: listening on %s%s%s", cfg->http_listen,
		 web->base_url[0] ? ", links under " : "", web->base_url);
	return web;
fail:
	web_free(web);
	return NULL;
}

unsigned
web_port(const struct web *web)
{
	return web->port;
}

void
web_free(struct web *web)
{
	if (web == NULL)
		return;
	webcheck_free_all(web);
	if (web->fresh_ev)
		fresh_cb(-1, 0, web); /* drops our references */
	web->closing = 1;
	if (web->http)
		evhttp_free(web->http); /* closes connections (and lis) */
	else if (web->lis)
		evconnlistener_free(web->lis);
	if (web->fresh_ev)
		event_free(web->fresh_ev);
	if (web->sweep_ev)
		event_free(web->sweep_ev);
	free(web->fresh);
	free(web);
}
