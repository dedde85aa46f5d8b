/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * probe_stream.c - a probe's XMPP stream before TLS: the stream header,
 * the server's features read by the bounded reader (xmlstream.c) up to
 * <proceed/>, and reads paced while the reader holds a long unfinished
 * token.  TCP and SOCKS5 are probe.c's, TLS probe_tls.c's.
 */
#include "probe/probe_int.h"

#include "probe/xmlstream.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The stream reader's events, while we are inside xmlstream_feed(). */
static int
on_stream(const struct xmlstream_event *ev, void *arg)
{
	struct probe *p = arg;

	switch (ev->type) {
	case XMLSTREAM_HEADER:
		/* Without version='1.0' there are no features, so no
		 * STARTTLS (RFC 6120 §4.7.5). */
		if (strncmp(ev->version, "1.", 2) != 0) {
			p->res->tls_refused = 1;
			probe_finish(p, PROBE_STEP_STARTTLS,
				     "the server's stream has no version 1.0, "
				     "so no STARTTLS");
		}
		break;
	case XMLSTREAM_FEATURES:
		if (p->state != PS_STREAM)
			break;
		if (!ev->starttls) {
			p->res->tls_refused = 1;
			probe_finish(p, PROBE_STEP_STARTTLS,
				     "the server offers no STARTTLS");
			break;
		}
		p->state = PS_PROCEED;
		probe_send_bytes(p, XMLSTREAM_STARTTLS,
				 strlen(XMLSTREAM_STARTTLS));
		break;
	case XMLSTREAM_PROCEED:
		if (p->state != PS_PROCEED) {
			probe_fail(p, "<proceed/> before <starttls/>");
			break;
		}
		p->proceed = 1;
		return 1;
	case XMLSTREAM_FAILURE:
		if (p->state == PS_PROCEED)
			p->res->tls_refused = 1;
		probe_fail(p, "the server answered STARTTLS with <failure/>");
		break;
	case XMLSTREAM_STREAM_ERROR:
		if (ev->text[0] != '\0')
			probe_fail(p, "stream error: %s (%s)",
				   ev->condition[0] ? ev->condition : "unknown",
				   ev->text);
		else
			probe_fail(p, "stream error: %s",
				   ev->condition[0] ? ev->condition
						    : "unknown");
		break;
	case XMLSTREAM_END:
		probe_fail(p, "the server closed the XMPP stream");
		break;
	case XMLSTREAM_ERROR:
		if (!ev->bound) {
			probe_fail(p, "%s", ev->error);
			break;
		}
		/* Clients read on past any bound of ours, into TLS with
		 * whoever sent this, so with DANE it is judged like a
		 * refused STARTTLS.  Also once <starttls/> was offered: or an
		 * interceptor would offer it first, then overflow
		 * (docs/reliability.md, "Bounds before TLS"). */
		p->res->tls_refused = 1;
		probe_fail(p,
			   "the stream passed certwatch's bounds before TLS, "
			   "%s: %s",
			   ev->starttls ? "after <starttls/> was offered"
					: "with no <starttls/> offered",
			   ev->error);
		break;
	}
	return p->state == PS_DONE;
}

void
probe_stream_start(struct probe *p)
{
	char header[2048];
	int n;

	if (p->tls == PROBE_DIRECT) {
		probe_tls_start(p);
		return;
	}
	p->state = PS_STREAM;
	n = xmlstream_header(header, sizeof(header), p->stream_to, p->server);
	if (n < 0) {
		probe_finish(p, PROBE_STEP_INPUT, "unusable stream 'to': %s",
			     p->stream_to);
		return;
	}
	p->xs = xmlstream_new(on_stream, p);
	p->sbuf = malloc(PROBE_STREAM_READ);
	if (p->xs == NULL || p->sbuf == NULL) {
		probe_fail(p, "out of memory");
		return;
	}
	probe_send_bytes(p, header, (size_t)n);
}

void
probe_stream_feed(struct probe *p, const void *data, size_t len)
{
	xmlstream_feed(p->xs, data, len);
	if (p->state != PS_DONE && p->proceed)
		probe_tls_start(p);
}

static void
read_again(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	(void)fd, (void)what;
	if (p->state != PS_DONE)
		probe_wait_for(p, EV_READ);
}

/* Reads the stream after PROBE_SLOW_READ_MS. */
static void
read_later(struct probe *p)
{
	struct timeval tv = {0, PROBE_SLOW_READ_MS * 1000};

	if (p->io != NULL)
		event_free(p->io);
	p->io = evtimer_new(p->base, read_again, p);
	if (p->io == NULL || evtimer_add(p->io, &tv) != 0)
		probe_fail(p, "out of memory");
}

/* The stream before TLS: what the socket holds, fed at once. */
void
probe_stream_read(struct probe *p)
{
	size_t len = 0;
	ssize_t n = 0;
	int err = 0;

	while (len < PROBE_STREAM_READ) {
		n = recv(p->fd, p->sbuf + len, PROBE_STREAM_READ - len, 0);
		if (n <= 0) {
			err = errno;
			break;
		}
		len += (size_t)n;
	}
	if (len > 0)
		probe_stream_feed(p, p->sbuf, len);
	if (p->state != PS_STREAM && p->state != PS_PROCEED)
		return; /* ended, or TLS began */
	if (n == 0) {
		probe_fail(p, "the server closed the connection during %s",
			   probe_state_words(p));
		return;
	}
	if (n < 0 && err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
		probe_fail(p, "%s during %s", probe_errno_words(err),
			   probe_state_words(p));
		return;
	}
	/* Unless the reader's events chose what to wait for (<starttls/>
	 * sent), read on. */
	if (p->io != NULL && event_pending(p->io, EV_READ | EV_WRITE, NULL))
		return;
	if (xmlstream_pending(p->xs) >= PROBE_SLOW_PENDING)
		read_later(p);
	else
		probe_wait_for(p, EV_READ);
}
