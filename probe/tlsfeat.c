/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * tlsfeat.c - the stream after TLS, read up to its features, for the
 * channel-binding defence (XEP-0440), and the judgement of what it offers.
 */
#include "probe/tlsfeat.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One turn reads what the session holds, up to this, fed at once. */
#define TF_READ (64 * 1024)
/* As in probe.c: a large unfinished token is parsed again on each feed,
 * so the next read waits a little while one is pending. */
#define TF_SLOW_PENDING (8 * 1024)
#define TF_SLOW_READ_MS 10

enum tf_state {
	TF_SEND,      /* the stream header is being sent */
	TF_READ_FEAT, /* reading up to </stream:features> */
	TF_DONE,
};

struct tlsfeat {
	struct event_base *base;
	gnutls_session_t session;
	int fd;
	enum tf_state state;
	struct event *io;    /* the fd, or the slow-read timer */
	struct event *timer; /* the budget */
	int budget_ms;
	struct xmlstream *xs;
	char out[2048];
	size_t out_len;
	uint8_t *buf;
	struct probe_features *res;
	tlsfeat_cb cb;
	void *arg;
};

static void tf_io(evutil_socket_t fd, short what, void *arg);

static void
tf_events_off(struct tlsfeat *t)
{
	if (t->io != NULL) {
		event_free(t->io);
		t->io = NULL;
	}
	if (t->timer != NULL)
		evtimer_del(t->timer);
}

static void tf_end(struct tlsfeat *t, enum probe_feat_state st, const char *fmt,
		   ...) __attribute__((format(printf, 3, 4)));

/* The one way a read ends. */
static void
tf_end(struct tlsfeat *t, enum probe_feat_state st, const char *fmt, ...)
{
	va_list ap;

	if (t->state == TF_DONE)
		return;
	t->state = TF_DONE;
	t->res->state = st;
	va_start(ap, fmt);
	vsnprintf(t->res->reason, sizeof(t->res->reason), fmt, ap);
	va_end(ap);
	tf_events_off(t);
	t->cb(t->arg);
}

static void
tf_wait(struct tlsfeat *t, short what, const struct timeval *tv)
{
	if (t->io != NULL)
		event_free(t->io);
	t->io = tv ? evtimer_new(t->base, tf_io, t)
		   : event_new(t->base, t->fd, what, tf_io, t);
	if (t->io == NULL || event_add(t->io, tv) != 0)
		tf_end(t, PROBE_FEAT_FAILED, "out of memory");
}

static int
on_feat(const struct xmlstream_event *ev, void *arg)
{
	struct tlsfeat *t = arg;

	switch (ev->type) {
	case XMLSTREAM_HEADER:
		if (strncmp(ev->version, "1.", 2) != 0)
			tf_end(t, PROBE_FEAT_FAILED,
			       "the stream after TLS "
			       "has no version 1.0, so no features");
		break;
	case XMLSTREAM_FEATURES:
		t->res->sasl = *ev->sasl;
		tf_end(t, PROBE_FEAT_READ, "%s", "");
		break;
	case XMLSTREAM_STREAM_ERROR:
		tf_end(t, PROBE_FEAT_FAILED, "stream error after TLS: %s",
		       ev->condition[0] ? ev->condition : "unknown");
		break;
	case XMLSTREAM_END:
		tf_end(t, PROBE_FEAT_FAILED,
		       "the server closed the stream after TLS");
		break;
	case XMLSTREAM_ERROR:
		if (ev->bound) /* its words speak of the stream before TLS */
			tf_end(t, PROBE_FEAT_FAILED,
			       "the stream after TLS "
			       "passed certwatch's bounds (%d bytes, %d deep)",
			       XMLSTREAM_MAX_BYTES, XMLSTREAM_MAX_DEPTH);
		else
			tf_end(t, PROBE_FEAT_FAILED,
			       "the stream after TLS is "
			       "malformed: %s",
			       ev->error);
		break;
	default:
		break; /* <proceed/>, <failure/>: not ours here */
	}
	return t->state == TF_DONE;
}

static void
tf_read(struct tlsfeat *t)
{
	struct timeval slow = {0, TF_SLOW_READ_MS * 1000};
	size_t len = 0;
	ssize_t rc = 0;

	while (len < TF_READ) {
		rc =
		    gnutls_record_recv(t->session, t->buf + len, TF_READ - len);
		if (rc <= 0)
			break;
		len += (size_t)rc;
	}
	if (len > 0)
		xmlstream_feed(t->xs, t->buf, len);
	if (t->state == TF_DONE)
		return;
	if (rc == 0) {
		tf_end(t, PROBE_FEAT_FAILED,
		       "the server closed the connection "
		       "before its features after TLS");
		return;
	}
	if (rc < 0 && rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED) {
		tf_end(t, PROBE_FEAT_FAILED,
		       "TLS error after the handshake: "
		       "%s",
		       gnutls_strerror((int)rc));
		return;
	}
	if (xmlstream_pending(t->xs) >= TF_SLOW_PENDING)
		tf_wait(t, 0, &slow);
	else
		tf_wait(t, EV_READ, NULL);
}

static void
tf_step(struct tlsfeat *t)
{
	ssize_t rc;

	if (t->state == TF_SEND) {
		rc = gnutls_record_send(t->session, t->out, t->out_len);
		if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
			tf_wait(t,
				gnutls_record_get_direction(t->session)
				    ? EV_WRITE
				    : EV_READ,
				NULL);
			return;
		}
		if (rc < 0) {
			tf_end(t, PROBE_FEAT_FAILED,
			       "cannot send the stream "
			       "header over TLS: %s",
			       gnutls_strerror((int)rc));
			return;
		}
		if ((size_t)rc < t->out_len) {
			memmove(t->out, t->out + rc, t->out_len - (size_t)rc);
			t->out_len -= (size_t)rc;
			tf_wait(t, EV_WRITE, NULL);
			return;
		}
		t->state = TF_READ_FEAT;
	}
	if (t->state == TF_READ_FEAT)
		tf_read(t);
}

static void
tf_io(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	tf_step(arg);
}

static void
tf_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct tlsfeat *t = arg;

	(void)fd, (void)what;
	tf_end(t, PROBE_FEAT_FAILED, "no features within %.1f s after TLS",
	       t->budget_ms / 1000.0);
}

struct tlsfeat *
tlsfeat_start(struct event_base *base, gnutls_session_t session, int fd,
	      const char *to, int budget_ms, struct probe_features *out,
	      tlsfeat_cb cb, void *arg)
{
	struct tlsfeat *t = calloc(1, sizeof(*t));
	struct timeval tv;
	int n;

	memset(out, 0, sizeof(*out));
	out->state = PROBE_FEAT_FAILED;
	snprintf(out->reason, sizeof(out->reason), "out of memory");
	if (t == NULL)
		return NULL;
	t->base = base;
	t->session = session;
	t->fd = fd;
	t->res = out;
	t->cb = cb;
	t->arg = arg;
	t->budget_ms = budget_ms;
	t->xs = xmlstream_new(on_feat, t);
	t->buf = malloc(TF_READ);
	t->timer = evtimer_new(base, tf_timeout, t);
	if (t->xs == NULL || t->buf == NULL || t->timer == NULL) {
		tlsfeat_free(t);
		return NULL;
	}
	n = xmlstream_header(t->out, sizeof(t->out), to, 0);
	if (n < 0) {
		t->state = TF_DONE;
		snprintf(out->reason, sizeof(out->reason),
			 "unusable stream 'to'");
		tlsfeat_free(t);
		return NULL;
	}
	t->out_len = (size_t)n;
	t->state = TF_SEND;
	tv.tv_sec = budget_ms / 1000;
	tv.tv_usec = (budget_ms % 1000) * 1000;
	evtimer_add(t->timer, &tv);
	/* The socket is writable right after the handshake. */
	tf_wait(t, EV_WRITE, NULL);
	return t;
}

void
tlsfeat_stop(struct tlsfeat *t, const char *why)
{
	if (t == NULL)
		return;
	if (t->state != TF_DONE) {
		t->state = TF_DONE;
		t->res->state = PROBE_FEAT_FAILED;
		snprintf(t->res->reason, sizeof(t->res->reason), "%s",
			 why ? why : "stopped");
	}
	tf_events_off(t);
}

void
tlsfeat_free(struct tlsfeat *t)
{
	if (t == NULL)
		return;
	tf_events_off(t);
	if (t->timer != NULL)
		event_free(t->timer);
	xmlstream_free(t->xs);
	free(t->buf);
	free(t);
}

/* ---- judgement (XEP-0440, RFC 9266) ---------------------------------- */

static int
ends_with_plus(const char *m)
{
	size_t n = strlen(m);

	return n > 5 && strcmp(m + n - 5, "-PLUS") == 0;
}

enum probe_cb
probe_cb_state(const struct probe_features *f)
{
	switch (f->state) {
	case PROBE_FEAT_NOT_TRIED:
		return PROBE_CB_NA;
	case PROBE_FEAT_FAILED:
		return PROBE_CB_UNKNOWN;
	case PROBE_FEAT_READ:
		break;
	}
	for (size_t i = 0; i < f->sasl.nmechs; i++)
		if (ends_with_plus(f->sasl.mechs[i]))
			return PROBE_CB_OFFERED;
	return PROBE_CB_NONE;
}

const char *
probe_cb_name(enum probe_cb s)
{
	switch (s) {
	case PROBE_CB_NA:
		return NULL;
	case PROBE_CB_OFFERED:
		return "offered";
	case PROBE_CB_NONE:
		return "none";
	case PROBE_CB_UNKNOWN:
		return "unknown";
	}
	return NULL;
}

int
probe_cb_usable(const struct probe_features *f, const char *tls_version)
{
	int tls13 = tls_version != NULL && strcmp(tls_version, "TLS1.3") == 0;

	if (f->state != PROBE_FEAT_READ || !f->sasl.cb_list)
		return -1;
	for (size_t i = 0; i < f->sasl.ntypes; i++) {
		const char *t = f->sasl.types[i];
		/* RFC 5929 §3 and §4, RFC 9266 §2 */
		if (!strcmp(t, "tls-server-end-point") ||
		    !strcmp(t, "tls-exporter") ||
		    (!strcmp(t, "tls-unique") && !tls13))
			return 1;
	}
	return 0;
}
