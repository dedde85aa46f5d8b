/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * comp_link.h - the XEP-0114 link: libstrophe's component connection driven by
 * the process's libevent loop, reconnecting forever with backoff.
 *
 * The link knows nothing of commands: it hands every stanza it receives to
 * a callback and sends what it is given while the stream is up.
 */
#ifndef CERTWATCH_COMP_LINK_H
#define CERTWATCH_COMP_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <strophe.h>

struct event_base;
struct comp_link;

struct comp_link_cbs {
	/* The server accepted the handshake: stanzas may be sent. */
	void (*online)(void *arg);
	/* The stream went away; the link reconnects by itself. */
	void (*offline)(void *arg);
	/* A stanza from the server; the link keeps the reference. */
	void (*stanza)(void *arg, xmpp_stanza_t *st);
	/* After comp_link_close(): the stream is closed (called from the
	 * event loop, never from inside comp_link_close). */
	void (*closed)(void *arg);
};

struct comp_link_opts {
	const char *jid; /* the component's name */
	const char *secret;
	const char *host; /* the server's component port */
	uint16_t port;
	/* Reconnect delays, seconds; 0: 1 and 60. */
	unsigned backoff_min, backoff_max;
	/* Random source for jitter; NULL: getrandom(). */
	long (*rand)(void);
};

/*
 * Creates a link (not yet connecting).  Copies what opts points to.
 * Returns NULL with a message in err.
 */
struct comp_link *comp_link_new(struct event_base *base,
				const struct comp_link_opts *opts,
				const struct comp_link_cbs *cbs, void *arg,
				char *err, size_t errlen);

/* Starts connecting; from now on the link reconnects forever.  0 or -1. */
int comp_link_start(struct comp_link *l);

/* True while the stream is up (handshake accepted). */
int comp_link_online(const struct comp_link *l);

/* The libstrophe context, for building stanzas. */
xmpp_ctx_t *comp_link_ctx(struct comp_link *l);

/* Queues a stanza (the caller keeps its reference) when online; returns
 * -1 and sends nothing otherwise. */
int comp_link_send(struct comp_link *l, xmpp_stanza_t *st);

/* Bytes and stanzas waiting in libstrophe's send queue. */
int comp_link_queued(const struct comp_link *l);

/* Closes the stream after what is queued and stops reconnecting; then
 * cbs->closed runs (also when the link was not connected). */
void comp_link_close(struct comp_link *l);

/* Frees the link, dropping any connection at once.  Not from inside one
 * of its own callbacks. */
void comp_link_free(struct comp_link *l);

/*
 * The delay before reconnect attempt `attempt` (0, 1, ...): min * 2^attempt
 * capped at max, then a random point in its upper half (jitter), in
 * milliseconds.  `rnd` is any non-negative random number.  Pure.
 */
unsigned comp_link_backoff_ms(unsigned attempt, unsigned min_s, unsigned max_s,
			      long rnd);

#endif
