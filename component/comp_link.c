/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * comp_link.c - libstrophe's XEP-0114 component connection on the process's
 * libevent loop, reconnecting forever.
 *
 * How libstrophe is driven without xmpp_run() (it has its own select()
 * loop, which would starve everything else):
 *
 *  - The socket.  libstrophe creates it inside xmpp_connect_component()
 *    and shows it to us only in the sockopt callback, which runs before
 *    connect(), once per address tried; the fd is settled once
 *    xmpp_connect_component() has returned 0, and only then do we watch it.
 *    libstrophe closes the fd *before* it calls our handler with
 *    XMPP_CONN_DISCONNECT, so the events on it are dropped there, first.
 *    We watch a dup() of it: the socket stays open until that handler has
 *    removed our events, so epoll never sees a closed (or reused) fd
 *    number; then the dup is closed too.
 *  - Reading.  A level-triggered EV_READ calls xmpp_run_once(ctx, 0), which
 *    reads at most 4 KB; level-triggering brings us back for the rest.
 *  - Writing.  xmpp_send() only queues; the queue is written at the start
 *    of the next xmpp_run_once().  Handlers fire during the read, so the
 *    replies they queue would wait for the next event: we call
 *    xmpp_run_once() again (a few times at most) while the send queue is
 *    not empty, and keep an EV_WRITE on the socket while anything is still
 *    queued (a full socket buffer, or a reply queued from a check's
 *    callback outside libstrophe).  A TCP connect in progress also waits
 *    for EV_WRITE.
 *  - Timers.  libstrophe's own timers (connect and handshake time-outs,
 *    the 2 s close time-out) run inside xmpp_run_once(), and it has no
 *    public call that tells its next deadline.  Those timers exist only
 *    while a stream is being set up or closed, so a one-shot 100 ms timer
 *    is armed after each turn in exactly those states (and while online
 *    without a watched fd); an established stream is driven by its socket
 *    alone and an idle bot does not wake up for libstrophe at all
 *    (docs/performance.md "Idle wake-ups").
 *  - select().  libstrophe uses select() internally, so its fd must stay
 *    below FD_SETSIZE on every reconnect.  socket() returns the lowest
 *    free number, so a socket above the limit means none below is free:
 *    the link holds a low fd in reserve (/dev/null, opened early) and the
 *    sockopt callback moves a high socket onto it with dup3().
 *
 * The libstrophe 0.12.2 crash: xmpp_connect_component() never allocates the
 * connection's stream-management (XEP-0198) state, and the receive path
 * dereferences it, so the first stanza (the server's <handshake/>) is a
 * SIGSEGV.  Only xmpp_connect_client() allocates it.  We borrow one with
 * public API: a throwaway client connection on the same context, whose
 * connect we make fail at once (its sockopt callback refuses every socket,
 * so no packet is sent); xmpp_connect_client() has allocated the state by
 * then, and once that connection is disconnected we move the state over
 * with xmpp_conn_get_sm_state() / xmpp_conn_set_sm_state().  It stays with
 * the component connection across reconnects.  tests/test_strophe_sm.c
 * crashes if this ever regresses.
 */
#include "component/comp_link.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/select.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "component/log.h"

#define TICK_MS 100
#define RUN_AGAIN_MAX 4

enum link_state {
	LINK_IDLE = 0,
	LINK_PREPARING,	 /* waiting for the donor of the SM state */
	LINK_CONNECTING, /* TCP connect or handshake in progress */
	LINK_ONLINE,
	LINK_WAITING, /* backoff before the next attempt */
	LINK_CLOSING,
	LINK_CLOSED,
};

struct comp_link {
	struct event_base *base;
	xmpp_ctx_t *ctx;
	xmpp_log_t log;
	xmpp_conn_t *conn;
	xmpp_conn_t *donor; /* throwaway client lending its SM state */
	struct comp_link_cbs cbs;
	void *arg;

	char *jid, *secret, *host;
	uint16_t port;
	unsigned bmin, bmax;
	long (*rand)(void);

	enum link_state state;
	int fd;		/* our dup of libstrophe's fd, -1 */
	int new_fd;	/* from the sockopt callback */
	int reserve_fd; /* a low fd kept for libstrophe's socket */
	struct event *rd, *wr;
	int wr_on;
	struct event *tick;
	struct event *retry;
	struct event *notify;	/* deferred `closed` callback */
	struct event *sm_ready; /* donor disconnected: move its state */
	unsigned attempt;
	int freeing;

	LIST_ENTRY(comp_link) link; /* in registry, from new to free */
};

/* The sockopt callback gets the connection, not our pointer. */
static LIST_HEAD(, comp_link) registry = LIST_HEAD_INITIALIZER(registry);

static void do_connect(struct comp_link *l);

unsigned
comp_link_backoff_ms(unsigned attempt, unsigned min_s, unsigned max_s, long rnd)
{
	uint64_t ms = (uint64_t)(min_s ? min_s : 1) * 1000;
	uint64_t cap = (uint64_t)(max_s ? max_s : 60) * 1000;

	for (unsigned i = 0; i < attempt && ms < cap; i++)
		ms *= 2;
	if (ms > cap)
		ms = cap;
	/* Jitter: a point in [ms/2, ms], so servers restarting under many
	 * components are not hit by all of them at once. */
	if (rnd < 0)
		rnd = -(rnd + 1);
	return (unsigned)(ms / 2 + (uint64_t)rnd % (ms / 2 + 1));
}

/* Jitter must differ between processes: not random()'s fixed seed. */
static long
default_rand(void)
{
	unsigned long r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		return random();
	return (long)(r >> 1);
}

static struct comp_link *
find_link(xmpp_conn_t *conn)
{
	struct comp_link *l;

	LIST_FOREACH(l, &registry, link)
	if (l->conn == conn || l->donor == conn)
		return l;
	return NULL;
}

static void
strophe_log(void *arg, xmpp_log_level_t level, const char *area,
	    const char *msg)
{
	/* libstrophe's debug level prints every stanza and the handshake
	 * digest: only its errors are worth a line. */
	if (level == XMPP_LEVEL_ERROR)
		log_warn("xmpp: libstrophe %s: %s", area, msg);
}

static int
sockopt_cb(xmpp_conn_t *conn, void *sockp)
{
	struct comp_link *l = find_link(conn);
	int fd = *(int *)sockp, one = 1;

	if (l == NULL || conn == l->donor)
		return -1; /* the donor must never connect */
	if (fd >= FD_SETSIZE) {
		if (l->reserve_fd < 0 ||
		    dup3(fd, l->reserve_fd, O_CLOEXEC) < 0) {
			log_error("xmpp: no file descriptor below %d free "
				  "for libstrophe's select()",
				  FD_SETSIZE);
			return -1;
		}
		close(fd);
		fd = l->reserve_fd;
		l->reserve_fd = -1; /* it is the socket now */
		*(int *)sockp = fd;
	}
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	/* Replies are small and go out at once: no Nagle delay. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)xmpp_sockopt_cb_keepalive(conn, sockp);
	l->new_fd = fd;
	return 0;
}

/* Keeps a low fd in reserve for sockopt_cb (see the top of the file). */
static void
reserve_low_fd(struct comp_link *l)
{
	int fd;

	if (l->reserve_fd >= 0)
		return;
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= FD_SETSIZE) {
		close(fd);
		fd = -1;
	}
	l->reserve_fd = fd;
}

static void
watch_write(struct comp_link *l)
{
	int want;

	if (l->fd < 0 || l->wr == NULL)
		return;
	want = xmpp_conn_is_connecting(l->conn) ||
	       xmpp_conn_send_queue_len(l->conn) > 0;
	if (want && !l->wr_on)
		event_add(l->wr, NULL);
	else if (!want && l->wr_on)
		event_del(l->wr);
	l->wr_on = want;
}

static void
drop_fd(struct comp_link *l)
{
	if (l->rd != NULL)
		event_free(l->rd);
	if (l->wr != NULL)
		event_free(l->wr);
	l->rd = l->wr = NULL;
	l->wr_on = 0;
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

/* Arms the one-shot tick while libstrophe may have a deadline of its own
 * (setting up or closing a stream) or no fd of ours drives it; disarms it
 * otherwise. */
static void
arm_tick(struct comp_link *l)
{
	struct timeval tv = {0, TICK_MS * 1000};
	int want = l->state == LINK_PREPARING || l->state == LINK_CONNECTING ||
		   l->state == LINK_CLOSING ||
		   (l->state == LINK_ONLINE && l->rd == NULL);

	if (l->tick == NULL || l->freeing)
		return;
	if (!want)
		event_del(l->tick);
	else if (!evtimer_pending(l->tick, NULL))
		evtimer_add(l->tick, &tv);
}

/* One turn of libstrophe: write what is queued, read what is there, fire
 * handlers and timers; again while replies wait in the queue. */
static void
run(struct comp_link *l)
{
	xmpp_run_once(l->ctx, 0);
	for (int i = 0; i < RUN_AGAIN_MAX && l->fd >= 0 &&
			xmpp_conn_send_queue_len(l->conn) > 0;
	     i++)
		xmpp_run_once(l->ctx, 0);
	watch_write(l);
	arm_tick(l);
}

static void
io_cb(evutil_socket_t fd, short what, void *arg)
{
	run(arg);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct comp_link *l = arg;

	if (l->state == LINK_PREPARING || l->state == LINK_CONNECTING ||
	    l->state == LINK_ONLINE || l->state == LINK_CLOSING)
		run(l); /* re-arms the tick while a deadline may exist */
}

static void
schedule_retry(struct comp_link *l)
{
	unsigned ms =
	    comp_link_backoff_ms(l->attempt, l->bmin, l->bmax, l->rand());
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	if (l->attempt < 32)
		l->attempt++;
	l->state = LINK_WAITING;
	log_info("xmpp: reconnecting to %s:%u in %.1f s", l->host,
		 (unsigned)l->port, ms / 1000.0);
	evtimer_add(l->retry, &tv);
}

static const char *
stream_error_name(xmpp_error_type_t t)
{
	static const char *names[] = {
	    "bad-format",
	    "bad-namespace-prefix",
	    "conflict",
	    "connection-timeout",
	    "host-gone",
	    "host-unknown",
	    "improper-addressing",
	    "internal-server-error",
	    "invalid-from",
	    "invalid-id",
	    "invalid-namespace",
	    "invalid-xml",
	    "not-authorized",
	    "policy-violation",
	    "remote-connection-failed",
	    "resource-constraint",
	    "restricted-xml",
	    "see-other-host",
	    "system-shutdown",
	    "undefined-condition",
	    "unsupported-encoding",
	    "unsupported-stanza-type",
	    "unsupported-version",
	    "not-well-formed",
	};
	if ((size_t)t < sizeof(names) / sizeof(names[0]))
		return names[t];
	return "unknown";
}

/* Says why the stream ended, once, in words an operator acts on. */
static void
log_disconnect(struct comp_link *l, int was_online, int error,
	       xmpp_stream_error_t *se)
{
	const char *text = se && se->text ? se->text : "";

	if (se != NULL) {
		switch (se->type) {
		case XMPP_SE_NOT_AUTHORIZED:
			log_error("xmpp: %s:%u refused the component secret "
				  "for %s (not-authorized): check [component] "
				  "secret against the server's component "
				  "password",
				  l->host, (unsigned)l->port, l->jid);
			return;
		case XMPP_SE_HOST_UNKNOWN:
			log_error("xmpp: %s:%u does not know the component "
				  "name %s (host-unknown): configure it as an "
				  "external component on the server",
				  l->host, (unsigned)l->port, l->jid);
			return;
		case XMPP_SE_CONFLICT:
			log_error("xmpp: %s:%u refused the name %s "
				  "(conflict): another component is connected "
				  "under that name",
				  l->host, (unsigned)l->port, l->jid);
			return;
		default:
			log_warn("xmpp: %s:%u closed the stream: %s%s%s",
				 l->host, (unsigned)l->port,
				 stream_error_name(se->type),
				 text[0] ? ": " : "", text);
			return;
		}
	}
	if (was_online)
		log_warn("xmpp: connection to %s:%u lost%s%s", l->host,
			 (unsigned)l->port, error ? ": " : "",
			 error ? strerror(error) : "");
	else if (error)
		log_warn("xmpp: cannot connect to %s:%u as %s: %s", l->host,
			 (unsigned)l->port, l->jid, strerror(error));
	else
		log_warn("xmpp: cannot connect to %s:%u as %s: connection "
			 "refused, or closed before the handshake",
			 l->host, (unsigned)l->port, l->jid);
}

static void
conn_handler(xmpp_conn_t *conn, xmpp_conn_event_t ev, int error,
	     xmpp_stream_error_t *se, void *arg)
{
	struct comp_link *l = arg;
	int was_online = l->state == LINK_ONLINE;

	if (ev == XMPP_CONN_CONNECT) {
		l->state = LINK_ONLINE;
		l->attempt = 0;
		log_info("xmpp: connected to %s:%u as %s", l->host,
			 (unsigned)l->port, l->jid);
		if (l->cbs.online)
			l->cbs.online(l->arg);
		return;
	}
	if (ev != XMPP_CONN_DISCONNECT && ev != XMPP_CONN_FAIL)
		return;
	/* libstrophe has closed the fd already. */
	drop_fd(l);
	if (l->freeing)
		return;
	if (l->state == LINK_CLOSING) {
		l->state = LINK_CLOSED;
		log_info("xmpp: stream to %s:%u closed", l->host,
			 (unsigned)l->port);
		event_active(l->notify, EV_TIMEOUT, 0);
		return;
	}
	log_disconnect(l, was_online, error, se);
	schedule_retry(l);
	if (was_online && l->cbs.offline)
		l->cbs.offline(l->arg);
}

static int
stanza_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	struct comp_link *l = arg;

	if (l->cbs.stanza && l->state == LINK_ONLINE)
		l->cbs.stanza(l->arg, st);
	return 1; /* stay installed */
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	do_connect(arg);
}

static void
notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct comp_link *l = arg;

	if (l->cbs.closed)
		l->cbs.closed(l->arg);
}

static void
do_connect(struct comp_link *l)
{
	int rc;

	l->new_fd = -1;
	l->state = LINK_CONNECTING;
	arm_tick(l);
	reserve_low_fd(l);
	rc = xmpp_connect_component(l->conn, l->host, l->port, conn_handler, l);
	if (rc != XMPP_EOK) {
		log_warn("xmpp: cannot connect to %s:%u (libstrophe error %d)",
			 l->host, (unsigned)l->port, rc);
		schedule_retry(l);
		return;
	}
	if (l->new_fd < 0)
		return; /* no fd seen: the tick drives it */
	/* Only now is the fd settled (the sockopt callback may have seen
	 * others that failed). */
	l->fd = fcntl(l->new_fd, F_DUPFD_CLOEXEC, 3);
	if (l->fd < 0)
		return; /* the tick drives it */
	l->rd = event_new(l->base, l->fd, EV_READ | EV_PERSIST, io_cb, l);
	l->wr = event_new(l->base, l->fd, EV_WRITE | EV_PERSIST, io_cb, l);
	event_add(l->rd, NULL);
	watch_write(l);
}

/* Moves the donor's SM state to the component connection. */
static int
take_sm_state(struct comp_link *l)
{
	xmpp_sm_state_t *sm = xmpp_conn_get_sm_state(l->donor);

	if (sm == NULL || xmpp_conn_set_sm_state(l->conn, sm) != XMPP_EOK) {
		if (sm != NULL)
			xmpp_free_sm_state(sm);
		log_error("xmpp: cannot prepare libstrophe's stream "
			  "management state (see comp_link.c)");
		return -1;
	}
	xmpp_conn_release(l->donor);
	l->donor = NULL;
	return 0;
}

static void
donor_handler(xmpp_conn_t *conn, xmpp_conn_event_t ev, int error,
	      xmpp_stream_error_t *se, void *arg)
{
	struct comp_link *l = arg;

	/* Not from inside libstrophe's own call: move it from the loop. */
	if (ev == XMPP_CONN_DISCONNECT || ev == XMPP_CONN_FAIL)
		event_active(l->sm_ready, EV_TIMEOUT, 0);
}

static void
sm_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct comp_link *l = arg;

	if (l->state != LINK_PREPARING || take_sm_state(l) < 0)
		return;
	do_connect(l);
}

struct comp_link *
comp_link_new(struct event_base *base, const struct comp_link_opts *o,
	      const struct comp_link_cbs *cbs, void *arg, char *err,
	      size_t errlen)
{
	struct comp_link *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	LIST_INSERT_HEAD(&registry, l, link);
	l->base = base;
	l->cbs = *cbs;
	l->arg = arg;
	l->jid = strdup(o->jid);
	l->secret = strdup(o->secret);
	l->host = strdup(o->host);
	l->port = o->port ? o->port : 5347;
	l->bmin = o->backoff_min ? o->backoff_min : 1;
	l->bmax = o->backoff_max ? o->backoff_max : 60;
	l->rand = o->rand ? o->rand : default_rand;
	l->fd = l->new_fd = l->reserve_fd = -1;
	reserve_low_fd(l);
	xmpp_initialize();
	l->log.handler = strophe_log;
	l->log.userdata = l;
	l->ctx = xmpp_ctx_new(NULL, &l->log);
	l->conn = l->ctx ? xmpp_conn_new(l->ctx) : NULL;
	l->tick = evtimer_new(base, tick_cb, l);
	l->retry = evtimer_new(base, retry_cb, l);
	l->notify = event_new(base, -1, 0, notify_cb, l);
	l->sm_ready = event_new(base, -1, 0, sm_ready_cb, l);
	if (!l->jid || !l->secret || !l->host || !l->conn || !l->tick ||
	    !l->retry || !l->notify || !l->sm_ready) {
		snprintf(err, errlen, "out of memory");
		comp_link_free(l);
		return NULL;
	}
	xmpp_conn_set_jid(l->conn, l->jid);
	xmpp_conn_set_pass(l->conn, l->secret);
	xmpp_conn_set_sockopt_callback(l->conn, sockopt_cb);
	xmpp_handler_add(l->conn, stanza_handler, NULL, NULL, NULL, l);
	return l;
}

int
comp_link_start(struct comp_link *l)
{
	int rc;

	if (l->state != LINK_IDLE)
		return 0;
	l->state = LINK_PREPARING;
	arm_tick(l);
	l->donor = xmpp_conn_new(l->ctx);
	if (l->donor == NULL)
		return -1;
	xmpp_conn_set_jid(l->donor, "sm-donor@localhost");
	xmpp_conn_set_sockopt_callback(l->donor, sockopt_cb);
	/* Fails at once: sockopt_cb refuses the donor's socket.  Should a
	 * libstrophe connect anyway, its DISCONNECT arrives through the tick
	 * and sm_ready_cb continues. */
	rc = xmpp_connect_client(l->donor, "127.0.0.1", 9, donor_handler, l);
	if (rc == XMPP_EOK)
		return 0;
	if (take_sm_state(l) < 0)
		return -1;
	do_connect(l);
	return 0;
}

int
comp_link_online(const struct comp_link *l)
{
	return l->state == LINK_ONLINE;
}

xmpp_ctx_t *
comp_link_ctx(struct comp_link *l)
{
	return l->ctx;
}

int
comp_link_send(struct comp_link *l, xmpp_stanza_t *st)
{
	if (l->state != LINK_ONLINE)
		return -1;
	xmpp_send(l->conn, st);
	watch_write(l);
	return 0;
}

int
comp_link_queued(const struct comp_link *l)
{
	return l->fd >= 0 ? xmpp_conn_send_queue_len(l->conn) : 0;
}

void
comp_link_close(struct comp_link *l)
{
	switch (l->state) {
	case LINK_ONLINE:
	case LINK_CONNECTING:
		l->state = LINK_CLOSING;
		/* Sends </stream:stream> after what is queued; the server's
		 * close, or libstrophe's 2 s time-out, ends it. */
		xmpp_disconnect(l->conn);
		watch_write(l);
		arm_tick(l);
		break;
	case LINK_CLOSING:
		break;
	default:
		evtimer_del(l->retry);
		l->state = LINK_CLOSED;
		event_active(l->notify, EV_TIMEOUT, 0);
		break;
	}
}

void
comp_link_free(struct comp_link *l)
{
	if (l == NULL)
		return;
	l->freeing = 1;
	LIST_REMOVE(l, link);
	if (l->donor)
		xmpp_conn_release(l->donor);
	if (l->conn)
		xmpp_conn_release(l->conn); /* drops a live stream */
	drop_fd(l);
	if (l->reserve_fd >= 0)
		close(l->reserve_fd);
	if (l->ctx)
		xmpp_ctx_free(l->ctx);
	xmpp_shutdown();
	if (l->tick)
		event_free(l->tick);
	if (l->retry)
		event_free(l->retry);
	if (l->notify)
		event_free(l->notify);
	if (l->sm_ready)
		event_free(l->sm_ready);
	if (l->secret)
		explicit_bzero(l->secret, strlen(l->secret));
	free(l->jid);
	free(l->secret);
	free(l->host);
	free(l);
}
