/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * web.h - the web face (`[http] listen`): the check form and its report
 * page, /d/DOMAIN status pages of watched domains, GET /api/check (the JSON
 * of `certwatch check --json`) and GET /metrics (Prometheus), served by
 * libevent's evhttp on the process's own event_base.
 *
 * Checks from the web use the daemon's check_env (its concurrency, probe
 * rate and private-target rules), are limited per client address
 * (`[http] checks_per_minute`, X-Forwarded-For believed only from
 * `trusted_proxies`), joined by domain (a reload never starts a second
 * check) and their results kept for a minute.  Pages need no JavaScript:
 * while a check runs the page reloads itself (meta refresh).
 */
#ifndef CERTWATCH_WEB_H
#define CERTWATCH_WEB_H

#include <stddef.h>

#include "component/config.h"
#include "component/metrics.h"
#include "probe/check.h"
#include "util/clock.h"

struct event_base;
struct store;
struct watch;
struct web;

/* The component's link state, for /metrics; any function may be NULL. */
struct web_hooks {
	void *arg;
	int (*connected)(void *arg);		/* 1 while the stream is up */
	unsigned long (*reconnects)(void *arg); /* since the start */
};

/*
 * Fixed limits (docs/web.md): connections open at once (beyond, new ones
 * wait in the listen backlog); the read/write idle timeout; request line
 * plus headers, and body, in bytes; web checks running at once; how long
 * a result is shown again; how long a page waits for a result before it
 * answers with the page that reloads itself.
 */
#define WEB_MAX_CONNECTIONS 512
#define WEB_TIMEOUT_S 15
#define WEB_MAX_HEADERS 8192
#define WEB_MAX_BODY 1024
#define WEB_MAX_CHECKS 32
#define WEB_RESULT_TTL_S 60
#define WEB_PAGE_WAIT_MS 1500

/*
 * Listens on cfg->http_listen (which must not be empty).  cfg, checks,
 * metrics and, when not NULL, st and w must outlive the server; hooks is
 * copied (may be NULL); clk is the daemon's clock (util/clock.h; NULL:
 * the system's).  Returns NULL with a message in err on a bad
 * listen address, a port in use or a bad trusted_proxies list.
 */
struct web *web_new(struct event_base *base, const struct config *cfg,
		    struct check_env *checks, struct store *st, struct watch *w,
		    struct metrics *m, const struct web_hooks *hooks,
		    const struct clock *clk, char *err, size_t errlen);

/* Answers every waiting request with 503, cancels the web's checks,
 * closes every connection and frees the server.  NULL: no-op. */
void web_free(struct web *web);

/* The port actually bound (useful with port 0). */
unsigned web_port(const struct web *web);

#endif
