/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_strophe_sm.c - the component link against a tiny XEP-0114 server on
 * loopback.  The regression test of libstrophe 0.12.2's crash: without the
 * stream-management state hand-over in component/comp_link.c, the first stanza
 * the server sends (its <handshake/>) is a SIGSEGV.  Also: stanzas both
 * ways, reconnect after the server drops the stream (the state survives),
 * a refused secret, and a socket above FD_SETSIZE.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/cw_skip.h"
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <sys/select.h>

#include "component/log.h"
#include "component/comp_link.h"

enum srv_mode { SRV_ACCEPT, SRV_REFUSE };

/* One test's world: the server side and what the link reported. */
struct world {
	struct event_base *base;
	struct evconnlistener *lis;
	uint16_t port;
	enum srv_mode mode;
	struct bufferevent *peer; /* the server's end */
	int stage;		  /* 0 header, 1 handshake, 2 stanzas */
	int streams, refusals, pongs;
	int drop_after_pong; /* drop the stream after N pongs */
	int online, offline, closed;
	struct comp_link *link;
	int want_pongs;
	int want_refusals;
};

static void
srv_send(struct world *w, const char *s)
{
	bufferevent_write(w->peer, s, strlen(s));
}

static void
srv_drop(struct world *w)
{
	if (w->peer) {
		bufferevent_free(w->peer);
		w->peer = NULL;
	}
}

static void
finish(struct world *w)
{
	comp_link_close(w->link);
}

static void
srv_read(struct bufferevent *bev, void *arg)
{
	struct world *w = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	char *data = (char *)evbuffer_pullup(in, (ssize_t)len);
	char buf[8192];

	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, data, len);
	buf[len] = '\0';

	if (w->stage == 0) {
		char *open = strstr(buf, "<stream:stream");
		char *end = open ? strchr(open, '>') : NULL;
		if (end == NULL)
			return;
		evbuffer_drain(in, (size_t)(end + 1 - buf));
		w->streams++;
		srv_send(w, "<?xml version='1.0'?><stream:stream "
			    "xmlns='jabber:component:accept' "
			    "xmlns:stream='http://etherx.jabber.org/streams' "
			    "from='comp.test' id='sid12345'>");
		w->stage = 1;
		return;
	}
	if (w->stage == 1) {
		char *end = strstr(buf, "</handshake>");
		if (end == NULL)
			return;
		evbuffer_drain(in, (size_t)(end + 12 - buf));
		if (w->mode == SRV_REFUSE) {
			w->refusals++;
			srv_send(w, "<stream:error><not-authorized xmlns="
				    "'urn:ietf:params:xml:ns:xmpp-streams'/>"
				    "</stream:error></stream:stream>");
			w->stage = 3;
			return;
		}
		/* The reply that crashed libstrophe, then a stanza. */
		srv_send(w, "<handshake/><message from='u@x.test/r' "
			    "to='comp.test' type='chat'><body>ping</body>"
			    "</message>");
		w->stage = 2;
		return;
	}
	if (w->stage == 2) {
		char *end = strstr(buf, "</message>");
		if (end == NULL)
			return;
		evbuffer_drain(in, (size_t)(end + 10 - buf));
		if (strstr(buf, "pong") != NULL && strstr(buf, "from=") != NULL)
			w->pongs++;
		if (w->pongs >= w->want_pongs) {
			finish(w);
		} else if (w->pongs == w->drop_after_pong) {
			srv_drop(w); /* the server goes away */
		}
		return;
	}
	evbuffer_drain(in, len);
}

static void
srv_event(struct bufferevent *bev, short what, void *arg)
{
	struct world *w = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		srv_drop(w);
		if (w->want_refusals && w->refusals >= w->want_refusals)
			finish(w);
	}
}

static void
srv_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
	   int salen, void *arg)
{
	struct world *w = arg;

	srv_drop(w);
	w->peer = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	w->stage = 0;
	bufferevent_setcb(w->peer, srv_read, NULL, srv_event, w);
	bufferevent_enable(w->peer, EV_READ | EV_WRITE);
}

static void
on_online(void *arg)
{
	((struct world *)arg)->online++;
}

static void
on_offline(void *arg)
{
	((struct world *)arg)->offline++;
}

static void
on_closed(void *arg)
{
	struct world *w = arg;

	w->closed++;
	event_base_loopexit(w->base, NULL);
}

static void
on_stanza(void *arg, xmpp_stanza_t *st)
{
	struct world *w = arg;
	xmpp_ctx_t *ctx = comp_link_ctx(w->link);
	char *body = xmpp_message_get_body(st);
	xmpp_stanza_t *m;

	if (body == NULL)
		return;
	m = xmpp_message_new(ctx, "chat", xmpp_stanza_get_from(st), NULL);
	xmpp_stanza_set_from(m, "comp.test");
	xmpp_message_set_body(m, strcmp(body, "ping") == 0 ? "pong" : "?");
	comp_link_send(w->link, m);
	xmpp_stanza_release(m);
	xmpp_free(ctx, body);
}

static void
world_init(struct world *w, enum srv_mode mode)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	struct comp_link_cbs cbs = {on_online, on_offline, on_stanza,
				    on_closed};
	struct comp_link_opts o;
	char err[256];

	memset(w, 0, sizeof(*w));
	w->mode = mode;
	w->base = event_base_new();
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	w->lis = evconnlistener_new_bind(
	    w->base, srv_accept, w, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
	    16, (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(w->lis);
	getsockname(evconnlistener_get_fd(w->lis), (struct sockaddr *)&sin,
		    &slen);
	w->port = ntohs(sin.sin_port);

	memset(&o, 0, sizeof(o));
	o.jid = "comp.test";
	o.secret = "secret";
	o.host = "127.0.0.1";
	o.port = w->port;
	o.backoff_min = 1;
	o.backoff_max = 2;
	w->link = comp_link_new(w->base, &o, &cbs, w, err, sizeof(err));
	assert_non_null(w->link);
}

static void
world_run(struct world *w)
{
	struct timeval limit = {20, 0};

	assert_int_equal(comp_link_start(w->link), 0);
	event_base_loopexit(w->base, &limit); /* a hang fails, not blocks */
	event_base_dispatch(w->base);
}

static void
world_free(struct world *w)
{
	comp_link_free(w->link);
	srv_drop(w);
	evconnlistener_free(w->lis);
	event_base_free(w->base);
}

static void
test_handshake_and_reconnect(void **state)
{
	struct world w;

	world_init(&w, SRV_ACCEPT);
	w.drop_after_pong = 1;
	w.want_pongs = 2;
	world_run(&w);
	assert_int_equal(w.pongs, 2);
	assert_int_equal(w.streams, 2);
	assert_int_equal(w.online, 2);
	assert_int_equal(w.offline, 1);
	assert_int_equal(w.closed, 1);
	world_free(&w);
}

static void
test_refused_secret(void **state)
{
	struct world w;

	world_init(&w, SRV_REFUSE);
	w.want_refusals = 2;
	world_run(&w);
	assert_true(w.refusals >= 2);
	assert_int_equal(w.online, 0);
	assert_int_equal(w.closed, 1);
	world_free(&w);
}

static void
test_socket_above_fd_setsize(void **state)
{
	struct rlimit rl;
	struct world w;
	int fds[FD_SETSIZE + 64];
	size_t n = 0;

	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_max < FD_SETSIZE + 128 && geteuid() == 0) {
		/* root may raise the hard limit */
		rl.rlim_max = FD_SETSIZE + 128;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_max < FD_SETSIZE + 128)
		cw_skip_unprivileged(
		    "RLIMIT_NOFILE hard limit below FD_SETSIZE + 128");
	rl.rlim_cur = FD_SETSIZE + 128;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);

	world_init(&w, SRV_ACCEPT); /* the link reserves a low fd here */
	/* Use up every number below FD_SETSIZE and a few more. */
	for (;;) {
		int fd = dup(0);
		assert_true(fd >= 0);
		fds[n++] = fd;
		if (fd >= FD_SETSIZE + 8 || n == sizeof(fds) / sizeof(fds[0]))
			break;
	}
	w.want_pongs = 1;
	world_run(&w);
	assert_int_equal(w.pongs, 1);
	assert_int_equal(w.online, 1);
	world_free(&w);
	while (n > 0)
		close(fds[--n]);
}

static void
test_backoff(void **state)
{
	/* min 1 s, max 60 s: 1, 2, 4, ... capped, each in [d/2, d]. */
	for (unsigned a = 0; a < 40; a++) {
		unsigned d = a < 6 ? (1000u << a) : 60000u;
		unsigned lo = comp_link_backoff_ms(a, 1, 60, 0);
		unsigned hi = comp_link_backoff_ms(a, 1, 60, d / 2);
		assert_int_equal(lo, d / 2);
		assert_int_equal(hi, d);
		for (long r = 1; r < 100000; r += 7919) {
			unsigned x = comp_link_backoff_ms(a, 1, 60, r);
			assert_true(x >= d / 2 && x <= d);
		}
	}
	assert_true(comp_link_backoff_ms(3, 1, 60, -5) <= 8000);
	assert_int_equal(comp_link_backoff_ms(0, 0, 0, 0), 500);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_handshake_and_reconnect),
	    cmocka_unit_test(test_refused_secret),
	    cmocka_unit_test(test_socket_above_fd_setsize),
	};

	log_set_level(LOG_LEVEL_WARN);
	return cw_skip_status(cmocka_run_group_tests(tests, NULL, NULL));
}
