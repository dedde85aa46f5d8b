/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * probe.c - one probe's connection on the caller's event loop: TCP (direct
 * or through SOCKS5), the XMPP stream up to <proceed/>, and a TLS handshake
 * whose presented chain is copied out.  Certificates are not verified here:
 * matching is the DANE code's job; but a leaf whose RSA key is too costly
 * to use stops the handshake before GnuTLS uses it (probe.h key_refused).
 * This file: the probe's life (start, the one exit, free), TCP and SOCKS5;
 * the stream before TLS is probe_stream.c's, TLS probe_tls.c's, the
 * address ranges refused probe_addr.c's (all under probe_int.h).
 */
#include "probe/probe_int.h"

#include "probe/dane.h"
#include "probe/socks5.h"
#include "probe/tlsfeat.h"
#include "probe/xmlstream.h"
#include "util/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void probe_io(evutil_socket_t fd, short what, void *arg);

enum probe_step
probe_state_step(const struct probe *p)
{
	switch (p->state) {
	case PS_CONNECT:
		return p->via_socks ? PROBE_STEP_TOR : PROBE_STEP_TCP;
	case PS_SOCKS_METHOD:
	case PS_SOCKS_AUTH:
	case PS_SOCKS_CONNECT:
		return PROBE_STEP_TOR;
	case PS_STREAM:
		return PROBE_STEP_STREAM;
	case PS_PROCEED:
		return PROBE_STEP_STARTTLS;
	case PS_TLS:
	case PS_FEATURES:
	case PS_DONE:
		break;
	}
	return PROBE_STEP_TLS;
}

const char *
probe_state_words(const struct probe *p)
{
	switch (p->state) {
	case PS_CONNECT:
		return p->via_socks ? "the connection to the SOCKS proxy"
				    : "the TCP connection";
	case PS_SOCKS_METHOD:
	case PS_SOCKS_AUTH:
		return "the SOCKS handshake";
	case PS_SOCKS_CONNECT:
		return "the SOCKS connection to the server";
	case PS_STREAM:
		return "the XMPP stream";
	case PS_PROCEED:
		return "STARTTLS";
	case PS_FEATURES:
		return "the stream after TLS";
	case PS_TLS:
	case PS_DONE:
		break;
	}
	return "the TLS handshake";
}

/* errno in the words of a report. */
const char *
probe_errno_words(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return "connection refused";
	case ETIMEDOUT:
		return "connection timed out";
	case EHOSTUNREACH:
		return "host unreachable";
	case ENETUNREACH:
		return "network unreachable";
	case ECONNRESET:
		return "connection reset";
	case EPIPE:
		return "connection closed";
	case EADDRNOTAVAIL:
		return "address not available";
	default:
		return strerror(err);
	}
}

static void
addr_str(const struct probe_addr *a, uint16_t port, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (inet_ntop(a->family, a->addr, ip, sizeof(ip)) == NULL)
		snprintf(ip, sizeof(ip), "?");
	if (a->family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", ip, (unsigned)port);
	else
		snprintf(buf, len, "%s:%u", ip, (unsigned)port);
}

uint32_t
probe_elapsed_ms(const struct probe *p)
{
	int64_t ms = clock_mono_ms() - p->started_ms;

	return ms < 0 ? 0 : (uint32_t)ms;
}

/* Closes the connection and its TLS session, if any. */
static void
probe_close(struct probe *p, int polite)
{
	if (p->io != NULL) {
		event_free(p->io);
		p->io = NULL;
	}
	tlsfeat_stop(p->feat, NULL);
	if (p->session != NULL) {
		/* One try at close_notify; a non-blocking socket may refuse
		 * and that is fine: the chain is already ours. */
		if (polite)
			gnutls_bye(p->session, GNUTLS_SHUT_WR);
		gnutls_deinit(p->session);
		p->session = NULL;
	}
	if (p->cred != NULL) {
		gnutls_certificate_free_credentials(p->cred);
		p->cred = NULL;
	}
	if (p->fd >= 0) {
		close(p->fd);
		p->fd = -1;
	}
}

/*
 * The one way a probe ends: fills in the result, closes everything and
 * defers the callback to a fresh turn of the loop, so it never runs inside
 * probe_start() or inside one of this probe's own callbacks.
 */
void
probe_finish(struct probe *p, enum probe_step step, const char *fmt, ...)
{
	va_list ap;

	if (p->state == PS_DONE)
		return;
	p->res->ok = step == PROBE_STEP_NONE;
	p->res->fail_step = step;
	va_start(ap, fmt);
	vsnprintf(p->res->reason, sizeof(p->res->reason), fmt, ap);
	va_end(ap);
	p->res->elapsed_ms = probe_elapsed_ms(p);
	/* close_notify only after a completed handshake */
	probe_close(p, p->res->ok && !p->res->key_refused);
	evtimer_del(p->deadline);
	p->state = PS_DONE;
	event_active(p->done, EV_TIMEOUT, 1);
}

static void
probe_free(struct probe *p)
{
	probe_close(p, 0);
	if (p->deadline != NULL)
		event_free(p->deadline);
	if (p->done != NULL)
		event_free(p->done);
	xmlstream_free(p->xs);
	tlsfeat_free(p->feat);
	free(p->sbuf);
	probe_result_free(p->res);
	free(p->host);
	free(p->stream_to);
	free(p->sni);
	free(p->addrs);
	explicit_bzero(p->socks_pass, sizeof(p->socks_pass));
	free(p);
}

static void
probe_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	struct probe_result *res = p->res;
	probe_cb cb = p->cb;
	void *cb_arg = p->cb_arg;

	(void)fd, (void)what;
	p->res = NULL;
	probe_free(p);
	cb(res, cb_arg);
}

static void
probe_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	int ms = p->timeout_ms;

	(void)fd, (void)what;
	if (p->state == PS_FEATURES) {
		/* The chain is in: the deadline ends only the second stream. */
		tlsfeat_stop(p->feat, "no features before the probe's "
				      "deadline");
		probe_finish(p, PROBE_STEP_NONE, "%s", p->chain_note);
		return;
	}
	if (ms % 1000 == 0)
		probe_fail(p, "timed out after %d s during %s", ms / 1000,
			   probe_state_words(p));
	else
		probe_fail(p, "timed out after %.1f s during %s", ms / 1000.0,
			   probe_state_words(p));
}

/* Watches the fd for `what` (EV_READ or EV_WRITE) only. */
int
probe_wait_for(struct probe *p, short what)
{
	if (p->io != NULL)
		event_free(p->io);
	p->io = event_new(p->base, p->fd, what, probe_io, p);
	if (p->io == NULL || event_add(p->io, NULL) != 0) {
		probe_fail(p, "out of memory");
		return -1;
	}
	return 0;
}

/* Writes what is queued; then waits for the answer. */
static void
flush_out(struct probe *p)
{
	ssize_t n;

	while (p->out_off < p->out_len) {
		n = send(p->fd, p->out + p->out_off, p->out_len - p->out_off,
			 MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
			      errno == EINTR)) {
			probe_wait_for(p, EV_WRITE);
			return;
		}
		if (n < 0) {
			probe_fail(p, "%s during %s", probe_errno_words(errno),
				   probe_state_words(p));
			return;
		}
		p->out_off += (size_t)n;
	}
	p->out_off = p->out_len = 0;
	probe_wait_for(p, EV_READ);
}

void
probe_send_bytes(struct probe *p, const void *data, size_t len)
{
	if (len > sizeof(p->out) - p->out_len) {
		probe_fail(p, "internal error: output too long");
		return;
	}
	memcpy(p->out + p->out_len, data, len);
	p->out_len += len;
	flush_out(p);
}

/* Reads the next SOCKS reply from p->in; answers or moves on. */
static void
socks_step(struct probe *p)
{
	uint8_t msg[SOCKS5_MSG_MAX];
	char err[160];
	size_t used = 0;
	uint8_t rep = 0;
	enum socks5_status st;
	int n;

	switch (p->state) {
	case PS_SOCKS_METHOD:
		st = socks5_parse_method(p->in, p->in_len,
					 p->socks_any_auth ? SOCKS5_AUTH_EITHER
							   : 1,
					 &used, err, sizeof(err));
		/* No authentication chosen (only where it was offered): on
		 * to the CONNECT request, as after a successful one. */
		if (st == SOCKS5_DONE && !socks5_method_is_auth(p->in))
			p->state = PS_SOCKS_AUTH;
		break;
	case PS_SOCKS_AUTH:
		st = socks5_parse_auth(p->in, p->in_len, &used, err,
				       sizeof(err));
		break;
	default:
		st = socks5_parse_connect(p->in, p->in_len, &used, &rep, err,
					  sizeof(err));
		break;
	}
	if (st == SOCKS5_NEED_MORE)
		return;
	if (st == SOCKS5_ERROR) {
		probe_fail(p, "SOCKS: %s", err);
		return;
	}
	memmove(p->in, p->in + used, p->in_len - used);
	p->in_len -= used;

	switch (p->state) {
	case PS_SOCKS_METHOD:
		n = socks5_auth_request(msg, sizeof(msg), p->socks_user,
					p->socks_pass, err, sizeof(err));
		if (n < 0) {
			probe_fail(p, "SOCKS: %s", err);
			return;
		}
		p->state = PS_SOCKS_AUTH;
		probe_send_bytes(p, msg, (size_t)n);
		break;
	case PS_SOCKS_AUTH:
		n = socks5_connect_request(msg, sizeof(msg), p->host, p->port,
					   err, sizeof(err));
		if (n < 0) {
			probe_finish(p, PROBE_STEP_INPUT, "%s", err);
			return;
		}
		p->state = PS_SOCKS_CONNECT;
		probe_send_bytes(p, msg, (size_t)n);
		break;
	default:
		probe_stream_start(p);
		/* The server speaks only after our header or ClientHello:
		 * anything already here is out of turn; let the stream reader
		 * judge it. */
		if (p->state == PS_STREAM && p->in_len > 0)
			probe_stream_feed(p, p->in, p->in_len);
		p->in_len = 0;
		break;
	}
}

static void
on_readable(struct probe *p)
{
	ssize_t n;
	int socks = p->state == PS_SOCKS_METHOD || p->state == PS_SOCKS_AUTH ||
		    p->state == PS_SOCKS_CONNECT;

	if (!socks) {
		probe_stream_read(p);
		return;
	}
	n = recv(p->fd, p->in + p->in_len, sizeof(p->in) - p->in_len, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		probe_fail(p, "%s during %s", probe_errno_words(errno),
			   probe_state_words(p));
		return;
	}
	if (n == 0) {
		probe_fail(p, "the SOCKS proxy closed the connection during %s",
			   probe_state_words(p));
		return;
	}
	p->in_len += (size_t)n;
	socks_step(p);
	/* p->io is not persistent: unless the step above chose what to wait
	 * for next (or ended the probe), read on.  Without this a reply split
	 * over two reads stalled the probe until its deadline. */
	if ((p->state == PS_SOCKS_METHOD || p->state == PS_SOCKS_AUTH ||
	     p->state == PS_SOCKS_CONNECT) &&
	    p->io != NULL && !event_pending(p->io, EV_READ | EV_WRITE, NULL))
		probe_wait_for(p, EV_READ);
}

static void try_connect(struct probe *p);

/* The TCP connection is up (or failed). */
static void
on_connected(struct probe *p)
{
	uint8_t msg[8];
	int err = 0, n;
	socklen_t len = sizeof(err);

	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0) {
		if (p->via_socks) {
			probe_fail(p, "cannot reach the SOCKS proxy %s: %s",
				   p->res->peer, probe_errno_words(err));
			return;
		}
		snprintf(p->last_err, sizeof(p->last_err), "%s",
			 probe_errno_words(err));
		probe_close(p, 0);
		try_connect(p);
		return;
	}
	if (!p->via_socks) {
		probe_stream_start(p);
		return;
	}
	p->state = PS_SOCKS_METHOD;
	n = socks5_greeting(msg, sizeof(msg),
			    p->socks_any_auth ? SOCKS5_AUTH_EITHER : 1);
	probe_send_bytes(p, msg, (size_t)n);
}

static void
probe_io(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	(void)fd;
	switch (p->state) {
	case PS_CONNECT:
		on_connected(p);
		break;
	case PS_TLS:
		probe_tls_handshake(p);
		break;
	case PS_DONE:
		break;
	default:
		if (what & EV_WRITE)
			flush_out(p);
		else
			on_readable(p);
		break;
	}
}

/* Starts a non-blocking connect; 0 if under way, else errno. */
static int
connect_to(struct probe *p, const struct probe_addr *a, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int err;

	memset(&ss, 0, sizeof(ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, a->addr, 4);
		sslen = sizeof(*sin);
	} else if (a->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, a->addr, 16);
		sslen = sizeof(*sin6);
	} else {
		return EAFNOSUPPORT;
	}
	addr_str(a, port, p->res->peer, sizeof(p->res->peer));
	p->fd =
	    socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		return errno;
	if (connect(p->fd, (struct sockaddr *)&ss, sslen) == 0 ||
	    errno == EINPROGRESS) {
		p->state = PS_CONNECT;
		return probe_wait_for(p, EV_WRITE) == 0 ? 0 : ENOMEM;
	}
	err = errno;
	close(p->fd);
	p->fd = -1;
	return err;
}

/* Direct mode: the next allowed address, or the end. */
static void
try_connect(struct probe *p)
{
	const struct probe_addr *a;
	char where[64];
	int err;

	while (p->next_addr < p->naddrs) {
		a = &p->addrs[p->next_addr++];
		if (!p->allow_private && probe_addr_is_private(a)) {
			addr_str(a, p->port, where, sizeof(where));
			snprintf(p->last_err, sizeof(p->last_err),
				 "refused to connect to private address %s "
				 "(allow_private is off)",
				 where);
			continue;
		}
		err = connect_to(p, a, p->port);
		if (err == 0)
			return;
		snprintf(p->last_err, sizeof(p->last_err), "%s",
			 probe_errno_words(err));
	}
	p->state = PS_CONNECT;
	probe_finish(p, PROBE_STEP_TCP, "%s",
		     p->last_err[0] ? p->last_err : "no address to connect to");
}

static void
make_credentials(struct probe *p, const struct probe_opts *o, char *out,
		 size_t outlen)
{
	uint8_t raw[16];
	size_t i;

	if (o->random != NULL) {
		o->random(raw, sizeof(raw));
	} else if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		/* Only isolation suffers: a clock and an address still make
		 * a name of its own for this probe. */
		struct timespec ts;
		uintptr_t self = (uintptr_t)p;

		clock_gettime(CLOCK_REALTIME, &ts);
		memset(raw, 0, sizeof(raw));
		memcpy(raw, &ts, sizeof(ts) < 8 ? sizeof(ts) : 8);
		memcpy(raw + 8, &self, sizeof(self) < 8 ? sizeof(self) : 8);
	}
	for (i = 0; i < sizeof(raw) && 2 * i + 2 < outlen; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

static int
parse_numeric(const char *s, struct probe_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (s == NULL)
		return -1;
	if (inet_pton(AF_INET, s, a->addr) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->addr) == 1) {
		a->family = AF_INET6;
		return 0;
	}
	return -1;
}

static char *
dup_or_null(const char *s, int *oom)
{
	char *d;

	if (s == NULL || s[0] == '\0')
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*oom = 1;
	return d;
}

struct probe *
probe_start(struct event_base *base, const struct probe_opts *opts,
	    const struct probe_req *req, probe_cb cb, void *arg)
{
	struct probe *p = calloc(1, sizeof(*p));
	struct timeval tv;
	int oom = 0, err;

	if (p == NULL)
		return NULL;
	p->fd = -1;
	p->base = base;
	p->cb = cb;
	p->cb_arg = arg;
	p->started_ms = clock_mono_ms();
	p->res = calloc(1, sizeof(*p->res));
	p->host = dup_or_null(req->host, &oom);
	p->stream_to = dup_or_null(req->stream_to, &oom);
	p->sni = dup_or_null(req->sni, &oom);
	p->port = req->port;
	p->server = req->server;
	p->no_features = req->no_features;
	p->tls = req->tls;
	p->keys = req->keys;
	p->via_socks = opts->via_socks;
	p->proxy_port = opts->socks_port;
	p->timeout_ms =
	    opts->timeout_ms > 0 ? opts->timeout_ms : PROBE_DEFAULT_TIMEOUT_MS;
	p->allow_private = opts->allow_private;
	p->socks_any_auth = opts->socks_any_auth;
	if (!p->via_socks && req->naddrs > 0) {
		p->addrs = calloc(req->naddrs, sizeof(*p->addrs));
		if (p->addrs != NULL) {
			memcpy(p->addrs, req->addrs,
			       req->naddrs * sizeof(*p->addrs));
			p->naddrs = req->naddrs;
		} else {
			oom = 1;
		}
	}
	p->deadline = evtimer_new(base, probe_timeout_cb, p);
	p->done = evtimer_new(base, probe_done_cb, p);
	if (oom || p->res == NULL || p->deadline == NULL || p->done == NULL) {
		probe_free(p);
		return NULL;
	}
	tv.tv_sec = p->timeout_ms / 1000;
	tv.tv_usec = (p->timeout_ms % 1000) * 1000;
	evtimer_add(p->deadline, &tv);

	if (p->stream_to == NULL && p->tls == PROBE_STARTTLS) {
		probe_finish(p, PROBE_STEP_INPUT, "no stream 'to' domain");
		return p;
	}
	if (!p->via_socks) {
		try_connect(p);
		return p;
	}

	/* Too long: left empty, so the SOCKS codec refuses it in words. */
	if (opts->socks_user != NULL &&
	    strlen(opts->socks_user) < sizeof(p->socks_user))
		snprintf(p->socks_user, sizeof(p->socks_user), "%s",
			 opts->socks_user);
	else if (opts->socks_user == NULL)
		make_credentials(p, opts, p->socks_user, sizeof(p->socks_user));
	/* The report keeps what fits; the proxy gets it whole. */
	snprintf(p->res->socks_user, sizeof(p->res->socks_user), "%.*s",
		 (int)sizeof(p->res->socks_user) - 1, p->socks_user);
	if (opts->socks_pass != NULL &&
	    strlen(opts->socks_pass) < sizeof(p->socks_pass))
		snprintf(p->socks_pass, sizeof(p->socks_pass), "%s",
			 opts->socks_pass);
	else if (opts->socks_pass == NULL)
		make_credentials(p, opts, p->socks_pass, sizeof(p->socks_pass));
	if (p->host == NULL) {
		probe_finish(p, PROBE_STEP_INPUT, "no host name to connect to");
		return p;
	}
	if (parse_numeric(opts->socks_host, &p->proxy) != 0) {
		p->state = PS_CONNECT;
		probe_fail(p, "SOCKS proxy address is not numeric: %s",
			   opts->socks_host ? opts->socks_host : "(none)");
		return p;
	}
	err = connect_to(p, &p->proxy, p->proxy_port);
	if (err != 0) {
		p->state = PS_CONNECT;
		probe_fail(p, "cannot reach the SOCKS proxy %s: %s",
			   p->res->peer, probe_errno_words(err));
	}
	return p;
}

void
probe_cancel(struct probe *p)
{
	if (p != NULL)
		probe_free(p);
}

void
probe_result_free(struct probe_result *res)
{
	size_t i;

	if (res == NULL)
		return;
	for (i = 0; i < res->nchain; i++)
		free(res->chain[i].der);
	free(res->chain);
	free(res);
}

const char *
probe_step_name(enum probe_step step)
{
	switch (step) {
	case PROBE_STEP_NONE:
		return NULL;
	case PROBE_STEP_INPUT:
		return "input";
	case PROBE_STEP_DNS:
		return "dns";
	case PROBE_STEP_TOR:
		return "tor";
	case PROBE_STEP_TCP:
		return "tcp";
	case PROBE_STEP_STREAM:
		return "stream";
	case PROBE_STEP_STARTTLS:
		return "starttls";
	case PROBE_STEP_TLS:
		return "tls";
	case PROBE_STEP_VANTAGE:
		return "vantage";
	}
	return NULL;
}
