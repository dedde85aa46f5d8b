/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * probe_int.h - what probe.c (TCP, SOCKS5, the probe's life),
 * probe_stream.c (the XMPP stream before TLS) and probe_tls.c (the TLS
 * session and handshake, the chain, the stream after TLS) share.  Not a public
 * API: probe.h is.
 */
#ifndef CERTWATCH_PROBE_INT_H
#define CERTWATCH_PROBE_INT_H

#include <event2/util.h>
#include <gnutls/gnutls.h>
#include <stdint.h>

#include "probe/probe.h"

/* A chain larger than this is refused rather than copied. */
#define PROBE_MAX_CHAIN_BYTES (256u * 1024u)
#define PROBE_DEFAULT_TIMEOUT_MS 60000
/* One read of the stream before TLS takes what the socket holds, up to
 * this, and feeds it to the reader at once. */
#define PROBE_STREAM_READ (64 * 1024)
/* While the reader holds an unfinished token this long, every feed parses
 * it again (up to 2 MiB), so the next read waits PROBE_SLOW_READ_MS: a
 * server sending such a token a byte at a time costs at most 100 parses a
 * second, not one a byte; the kernel gathers the bytes meanwhile. */
#define PROBE_SLOW_PENDING (8 * 1024)
#define PROBE_SLOW_READ_MS 10
/* TLS 1.2 and 1.3 only; X.509 only, as raw public keys are never enabled
 * (no GNUTLS_ENABLE_RAWPK). */
#define PROBE_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
/* One signature family only (probe.h, enum probe_keys). */
#define PROBE_PRIORITY_RSA                                                     \
	PROBE_PRIORITY ":-ECDHE-ECDSA:-SIGN-ALL:+SIGN-RSA-PSS-RSAE-SHA256:"    \
		       "+SIGN-RSA-PSS-RSAE-SHA384:+SIGN-RSA-PSS-RSAE-SHA512:"  \
		       "+SIGN-RSA-SHA256:+SIGN-RSA-SHA384:+SIGN-RSA-SHA512"
#define PROBE_PRIORITY_EC                                                      \
	PROBE_PRIORITY                                                         \
	":-RSA:-ECDHE-RSA:-DHE-RSA:-SIGN-ALL:"                                 \
	"+SIGN-ECDSA-SECP256R1-SHA256:"                                        \
	"+SIGN-ECDSA-SECP384R1-SHA384:"                                        \
	"+SIGN-ECDSA-SECP521R1-SHA512:+SIGN-ECDSA-SHA256:"                     \
	"+SIGN-ECDSA-SHA384:+SIGN-ECDSA-SHA512:+SIGN-EdDSA-Ed25519"

enum probe_state {
	PS_CONNECT,	  /* TCP connect under way (target or proxy) */
	PS_SOCKS_METHOD,  /* greeting sent */
	PS_SOCKS_AUTH,	  /* credentials sent */
	PS_SOCKS_CONNECT, /* CONNECT sent */
	PS_STREAM,	  /* stream header sent, waiting for features */
	PS_PROCEED,	  /* <starttls/> sent */
	PS_TLS,		  /* handshake under way */
	PS_FEATURES,	  /* c2s: the stream after TLS (tlsfeat.c) */
	PS_DONE,	  /* result made, callback deferred */
};

struct probe {
	struct event_base *base;
	probe_cb cb;
	void *cb_arg;

	char *host, *stream_to, *sni;
	uint16_t port;
	int server;
	enum probe_tls tls;
	enum probe_keys keys;
	struct probe_addr *addrs;
	size_t naddrs, next_addr;
	int via_socks;
	struct probe_addr proxy;
	uint16_t proxy_port;
	char socks_user[256], socks_pass[256];
	int socks_any_auth; /* probe_opts.socks_any_auth */
	int timeout_ms;
	int allow_private;

	enum probe_state state;
	int fd;
	struct event *io;	/* the fd, for reading or writing */
	struct event *deadline; /* the whole probe */
	struct event *done;	/* fires the callback outside our stack */
	int64_t started_ms;	/* monotonic */

	uint8_t out[2600]; /* stream header or a SOCKS message */
	size_t out_len, out_off;
	uint8_t in[600]; /* SOCKS replies (at most 262 bytes each) */
	size_t in_len;

	struct xmlstream *xs;
	uint8_t *sbuf; /* PROBE_STREAM_READ bytes, for the stream */
	int proceed;   /* <proceed/> read */

	gnutls_session_t session;
	gnutls_certificate_credentials_t cred;
	int key_checked;      /* the leaf's key went through key_refused() */
	int no_features;      /* probe_req.no_features */
	struct tlsfeat *feat; /* PS_FEATURES */
	char chain_note[256]; /* capture_chain()'s words, kept meanwhile */

	char last_err[160]; /* why the last address failed */
	struct probe_result *res;
};

/* probe.c */
/*
 * The one way a probe ends: fills in the result, closes everything and
 * defers the callback to a fresh turn of the loop, so it never runs inside
 * probe_start() or inside one of this probe's own callbacks.
 */
void probe_finish(struct probe *p, enum probe_step step, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fails the current step. */
#define probe_fail(p, ...) probe_finish((p), probe_state_step(p), __VA_ARGS__)
/* The step and the words of where the probe is. */
enum probe_step probe_state_step(const struct probe *p);
const char *probe_state_words(const struct probe *p);
/* errno in the words of a report. */
const char *probe_errno_words(int err);
/* Watches the fd for `what` (EV_READ or EV_WRITE) only; -1 (and the
 * probe failed) when it cannot. */
int probe_wait_for(struct probe *p, short what);
/* Milliseconds since the probe started (monotonic). */
uint32_t probe_elapsed_ms(const struct probe *p);

/* Queues bytes (the stream header, a SOCKS message) and writes them. */
void probe_send_bytes(struct probe *p, const void *data, size_t len);

/* probe_stream.c: sends the stream header (or starts TLS at once for
 * direct TLS); feeds the reader bytes read with the SOCKS reply or from
 * the socket. */
void probe_stream_start(struct probe *p);
void probe_stream_feed(struct probe *p, const void *data, size_t len);
void probe_stream_read(struct probe *p);

/* probe_tls.c: starts the TLS session after <proceed/> or at once (direct
 * TLS); goes on with the handshake when the socket is ready. */
void probe_tls_start(struct probe *p);
void probe_tls_handshake(struct probe *p);

#endif
