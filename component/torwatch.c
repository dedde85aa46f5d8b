/* SPDX-License-Identifier: GPL-3.0-or-later */
/* torwatch.c - the start-up greeting of the Tor SOCKS proxy and the
 * warnings while probes fail at step `tor`. */
#include "component/torwatch.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "component/log.h"
#include "component/report.h"
#include "probe/socks5.h"

struct torwatch {
	struct event_base *base;
	const struct config *cfg;
	struct metrics *m;
	struct clock clk;
	int started;		   /* logging is on */
	struct bufferevent *greet; /* the start-up greeting, in flight */
	int64_t last_warn;	   /* monotonic s; 0: no warning yet */
	unsigned unlogged;	   /* failures since last_warn, not logged */
	int failing;		   /* the last probe failed at step tor */
};

struct torwatch *
torwatch_new(struct event_base *base, const struct config *cfg,
	     struct metrics *m, const struct clock *clk)
{
	struct torwatch *tw = calloc(1, sizeof(*tw));

	if (tw == NULL)
		abort();
	tw->base = base;
	tw->cfg = cfg;
	tw->m = m;
	tw->clk = clock_or_system(clk);
	return tw;
}

void
torwatch_free(struct torwatch *tw)
{
	if (tw == NULL)
		return;
	if (tw->greet)
		bufferevent_free(tw->greet);
	free(tw);
}

/* `what` went wrong with the proxy; the operator is told what to do. */
static void
warn_dead_proxy(const struct torwatch *tw, const char *what, const char *tail)
{
	log_warn("Tor: %s; every check is \"unreachable\" until the proxy "
		 "answers: start tor (systemctl start tor) or set [probe] "
		 "tor_socks in %s to Tor's SocksPort (docs/running.md)%s",
		 what, tw->cfg->path, tail);
}

/* The greeting ended: why == NULL when the proxy took it. */
static void
greet_done(struct torwatch *tw, const char *why)
{
	/* Freeing a bufferevent from its own callback is safe: libevent
	 * defers the release until the callback has returned. */
	bufferevent_free(tw->greet);
	tw->greet = NULL;
	if (why == NULL) {
		log_info("Tor: the SOCKS proxy %s:%u answers",
			 tw->cfg->tor_socks_host, tw->cfg->tor_socks_port);
		return;
	}
	char what[256];
	snprintf(what, sizeof(what),
		 "the SOCKS proxy %s:%u does not work at "
		 "start: %s",
		 tw->cfg->tor_socks_host, tw->cfg->tor_socks_port, why);
	tw->failing = 1;
	warn_dead_proxy(tw, what, "");
}

static void
greet_read(struct bufferevent *bev, void *arg)
{
	struct torwatch *tw = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in), used;
	char err[256];

	enum socks5_status st =
	    socks5_parse_method(evbuffer_pullup(in, (ev_ssize_t)len), len, 1,
				&used, err, sizeof(err));
	if (st == SOCKS5_NEED_MORE)
		return;
	greet_done(tw, st == SOCKS5_DONE ? NULL : err);
}

static void
greet_event(struct bufferevent *bev, short what, void *arg)
{
	struct torwatch *tw = arg;
	char why[128];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof(why), "no answer within %u s",
			 tw->cfg->timeout);
	else if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why),
			 "it closed the connection without a SOCKS5 reply");
	else
		snprintf(why, sizeof(why), "%s",
			 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	greet_done(tw, why);
}

void
torwatch_start(struct torwatch *tw)
{
	const struct config *c = tw->cfg;
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	char spec[96];
	uint8_t hello[SOCKS5_MSG_MAX];
	struct timeval tv = {(time_t)c->timeout, 0};

	tw->started = 1;
	if (!c->via_tor)
		return;
	snprintf(spec, sizeof(spec),
		 strchr(c->tor_socks_host, ':') ? "[%s]:%u" : "%s:%u",
		 c->tor_socks_host, c->tor_socks_port);
	/* The config holds a numeric address and a port (config.c). */
	if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &sslen) <
	    0)
		return;
	tw->greet = bufferevent_socket_new(tw->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (tw->greet == NULL)
		return;
	bufferevent_setcb(tw->greet, greet_read, NULL, greet_event, tw);
	bufferevent_set_timeouts(tw->greet, &tv, &tv);
	/* The greeting the probes send: user name and password only, so a
	 * proxy that would not isolate circuits fails here already. */
	int n = socks5_greeting(hello, sizeof(hello), 1);
	bufferevent_write(tw->greet, hello, (size_t)n);
	bufferevent_enable(tw->greet, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(tw->greet, (struct sockaddr *)&ss,
				       sslen) < 0)
		greet_done(tw, strerror(errno));
}

void
torwatch_on_probe(void *arg, const struct probe_result *res)
{
	struct torwatch *tw = arg;
	char tail[96] = "";

	metrics_on_probe(tw->m, res);
	/* A remote vantage's probe (docs/vantages.md) says nothing of this
	 * instance's Tor. */
	if (!tw->started || !tw->cfg->via_tor ||
	    !strncmp(res->peer, "xmpp:", 5))
		return;
	if (res->ok || res->fail_step > PROBE_STEP_TOR) {
		if (tw->failing)
			log_info(
			    "Tor: probes get through the SOCKS proxy %s:%u "
			    "again",
			    tw->cfg->tor_socks_host, tw->cfg->tor_socks_port);
		tw->failing = 0;
		return;
	}
	if (res->fail_step != PROBE_STEP_TOR)
		return;
	tw->failing = 1;
	int64_t now = tw->clk.mono_ms() / 1000 + 1; /* never 0 */
	if (tw->last_warn != 0 && now - tw->last_warn < TORWATCH_WARN_EVERY) {
		tw->unlogged++;
		return;
	}
	if (tw->unlogged)
		snprintf(tail, sizeof(tail),
			 " (and %u more probes since the last warning)",
			 tw->unlogged);
	tw->last_warn = now;
	tw->unlogged = 0;
	if (report_service_fault(res->fail_step, res->reason)) {
		char what[320];
		snprintf(what, sizeof(what), "probes fail at step tor: %s",
			 res->reason);
		warn_dead_proxy(tw, what, tail);
	} else
		log_warn("Tor: a probe failed at step tor: %s (the Tor circuit "
			 "or the server it asked for)%s; if most probes do, "
			 "see tor's own log (journalctl -u tor@default)",
			 res->reason, tail);
}

void
torwatch_on_check(void *arg, const struct check_result *res)
{
	struct torwatch *tw = arg;

	metrics_on_check(tw->m, res);
}
