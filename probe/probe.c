/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * probe.c - one probe's connection on the caller's event loop: TCP (direct
 * or through SOCKS5), the XMPP stream up to <proceed/>, and a TLS handshake
 * whose presented chain is copied out.  Certificates are not verified here:
 * matching is the DANE code's job; but a leaf whose RSA key is too costly
 * to use stops the handshake before GnuTLS uses it (probe.h key_refused).
 */
#include "probe/probe.h"

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
	PROBE_PRIORITY ":-RSA:-ECDHE-RSA:-DHE-RSA:-SIGN-ALL:"                  \
		       "+SIGN-ECDSA-SECP256R1-SHA256:"                         \
		       "+SIGN-ECDSA-SECP384R1-SHA384:"                         \
		       "+SIGN-ECDSA-SECP521R1-SHA512:+SIGN-ECDSA-SHA256:"      \
		       "+SIGN-ECDSA-SHA384:+SIGN-ECDSA-SHA512:+SIGN-EdDSA-Ed25519"

enum probe_state {
	PS_CONNECT,		/* TCP connect under way (target or proxy) */
	PS_SOCKS_METHOD,	/* greeting sent */
	PS_SOCKS_AUTH,		/* credentials sent */
	PS_SOCKS_CONNECT,	/* CONNECT sent */
	PS_STREAM,		/* stream header sent, waiting for features */
	PS_PROCEED,		/* <starttls/> sent */
	PS_TLS,			/* handshake under way */
	PS_FEATURES,		/* c2s: the stream after TLS (tlsfeat.c) */
	PS_DONE,		/* result made, callback deferred */
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
	int timeout_ms;
	int allow_private;

	enum probe_state state;
	int fd;
	struct event *io;	/* the fd, for reading or writing */
	struct event *deadline;	/* the whole probe */
	struct event *done;	/* fires the callback outside our stack */
	int64_t started_ms;	/* monotonic */

	uint8_t out[2600];	/* stream header or a SOCKS message */
	size_t out_len, out_off;
	uint8_t in[600];	/* SOCKS replies (at most 262 bytes each) */
	size_t in_len;

	struct xmlstream *xs;
	uint8_t *sbuf;		/* PROBE_STREAM_READ bytes, for the stream */
	int proceed;		/* <proceed/> read */

	gnutls_session_t session;
	gnutls_certificate_credentials_t cred;
	int key_checked;	/* the leaf's key went through key_refused() */
	int no_features;	/* probe_req.no_features */
	struct tlsfeat *feat;	/* PS_FEATURES */
	char chain_note[256];	/* capture_chain()'s words, kept meanwhile */

	char last_err[160];	/* why the last address failed */
	struct probe_result *res;
};

static void probe_io(evutil_socket_t fd, short what, void *arg);
static int on_handshake_msg(gnutls_session_t session, unsigned int htype,
			    unsigned when, unsigned int incoming,
			    const gnutls_datum_t *msg);

static enum probe_step state_step(const struct probe *p)
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

static const char *state_words(const struct probe *p)
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
static const char *errno_words(int err)
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

static void addr_str(const struct probe_addr *a, uint16_t port, char *buf,
		     size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (inet_ntop(a->family, a->addr, ip, sizeof(ip)) == NULL)
		snprintf(ip, sizeof(ip), "?");
	if (a->family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", ip, (unsigned)port);
	else
		snprintf(buf, len, "%s:%u", ip, (unsigned)port);
}

static uint32_t elapsed_ms(const struct probe *p)
{
	int64_t ms = clock_mono_ms() - p->started_ms;

	return ms < 0 ? 0 : (uint32_t)ms;
}

/* Closes the connection and its TLS session, if any. */
static void probe_close(struct probe *p, int polite)
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

static void probe_finish(struct probe *p, enum probe_step step,
			 const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * The one way a probe ends: fills in the result, closes everything and
 * defers the callback to a fresh turn of the loop, so it never runs inside
 * probe_start() or inside one of this probe's own callbacks.
 */
static void probe_finish(struct probe *p, enum probe_step step,
			 const char *fmt, ...)
{
	va_list ap;

	if (p->state == PS_DONE)
		return;
	p->res->ok = step == PROBE_STEP_NONE;
	p->res->fail_step = step;
	va_start(ap, fmt);
	vsnprintf(p->res->reason, sizeof(p->res->reason), fmt, ap);
	va_end(ap);
	p->res->elapsed_ms = elapsed_ms(p);
	/* close_notify only after a completed handshake */
	probe_close(p, p->res->ok && !p->res->key_refused);
	evtimer_del(p->deadline);
	p->state = PS_DONE;
	event_active(p->done, EV_TIMEOUT, 1);
}

/* Fails the current step. */
#define probe_fail(p, ...) probe_finish((p), state_step(p), __VA_ARGS__)

static void probe_free(struct probe *p)
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

static void probe_done_cb(evutil_socket_t fd, short what, void *arg)
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

static void probe_timeout_cb(evutil_socket_t fd, short what, void *arg)
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
			   state_words(p));
	else
		probe_fail(p, "timed out after %.1f s during %s", ms / 1000.0,
			   state_words(p));
}

/* Watches the fd for `what` (EV_READ or EV_WRITE) only. */
static int wait_for(struct probe *p, short what)
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
static void flush_out(struct probe *p)
{
	ssize_t n;

	while (p->out_off < p->out_len) {
		n = send(p->fd, p->out + p->out_off, p->out_len - p->out_off,
			 MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
			      errno == EINTR)) {
			wait_for(p, EV_WRITE);
			return;
		}
		if (n < 0) {
			probe_fail(p, "%s during %s", errno_words(errno),
				   state_words(p));
			return;
		}
		p->out_off += (size_t)n;
	}
	p->out_off = p->out_len = 0;
	wait_for(p, EV_READ);
}

static void send_bytes(struct probe *p, const void *data, size_t len)
{
	if (len > sizeof(p->out) - p->out_len) {
		probe_fail(p, "internal error: output too long");
		return;
	}
	memcpy(p->out + p->out_len, data, len);
	p->out_len += len;
	flush_out(p);
}

static void start_tls(struct probe *p)
{
	gnutls_datum_t alpn;
	int rc;

	p->state = PS_TLS;
	rc = gnutls_certificate_allocate_credentials(&p->cred);
	if (rc == 0)
		rc = gnutls_init(&p->session, GNUTLS_CLIENT | GNUTLS_NONBLOCK |
						      GNUTLS_NO_TICKETS |
						      GNUTLS_NO_SIGNAL);
	if (rc == 0)
		rc = gnutls_priority_set_direct(
			p->session,
			p->keys == PROBE_KEYS_RSA  ? PROBE_PRIORITY_RSA
			: p->keys == PROBE_KEYS_EC ? PROBE_PRIORITY_EC
						   : PROBE_PRIORITY,
			NULL);
	if (rc == 0)
		rc = gnutls_credentials_set(p->session, GNUTLS_CRD_CERTIFICATE,
					    p->cred);
	if (rc == 0 && p->sni != NULL)
		rc = gnutls_server_name_set(p->session, GNUTLS_NAME_DNS,
					    p->sni, strlen(p->sni));
	if (rc == 0 && p->tls == PROBE_DIRECT) {
		alpn.data = (unsigned char *)(p->server ? "xmpp-server"
							: "xmpp-client");
		alpn.size = (unsigned)strlen((char *)alpn.data);
		rc = gnutls_alpn_set_protocols(p->session, &alpn, 1, 0);
	}
	if (rc != 0) {
		probe_fail(p, "TLS set-up failed: %s", gnutls_strerror(rc));
		return;
	}
	gnutls_transport_set_int(p->session, p->fd);
	gnutls_session_set_ptr(p->session, p);
	gnutls_handshake_set_hook_function(p->session, GNUTLS_HANDSHAKE_ANY,
					   GNUTLS_HOOK_PRE, on_handshake_msg);
	/* The probe's own deadline bounds the handshake. */
	gnutls_handshake_set_timeout(p->session, 0);
	wait_for(p, EV_WRITE);
}

/*
 * Copies the presented chain into the result, leaf first: the leaf always
 * (GnuTLS bounds one handshake message), the rest while the chain stays
 * under PROBE_MAX_CHAIN_BYTES.  What is not kept sets chain_cut, with the
 * words in `note` ("" otherwise).  0, or -1 when out of memory.
 */
static int keep_chain(struct probe *p, char *note, size_t notelen)
{
	const gnutls_datum_t *peers = NULL;
	unsigned int n = 0, i, keep;
	size_t total;
	struct probe_result *r = p->res;

	note[0] = '\0';
	if (gnutls_certificate_type_get2(p->session, GNUTLS_CTYPE_SERVER) ==
	    GNUTLS_CRT_X509)
		peers = gnutls_certificate_get_peers(p->session, &n);
	if (peers == NULL)
		n = 0;
	if (n == 0) {
		r->chain_cut = 1;
		snprintf(note, notelen, "the handshake completed without an "
					"X.509 certificate");
	}
	total = n ? peers[0].size : 0;
	for (keep = n ? 1 : 0; keep < n; keep++) {
		if (peers[keep].size > PROBE_MAX_CHAIN_BYTES - total)
			break;
		total += peers[keep].size;
	}
	if (keep < n) {
		r->chain_cut = 1;
		snprintf(note, notelen, "the chain was cut after %u of %u "
					"certificates: more than %u bytes",
			 keep, n, PROBE_MAX_CHAIN_BYTES);
	}
	if (keep > 0) {
		r->chain = calloc(keep, sizeof(*r->chain));
		if (r->chain == NULL)
			return -1;
	}
	for (i = 0; i < keep; i++) {
		r->chain[i].der = malloc(peers[i].size ? peers[i].size : 1);
		if (r->chain[i].der == NULL)
			return -1;
		memcpy(r->chain[i].der, peers[i].data, peers[i].size);
		r->chain[i].len = peers[i].size;
		r->nchain = i + 1;
	}
	return 0;
}

/* The protocol version and ALPN agreed, for the report. */
static void keep_session_facts(struct probe *p)
{
	struct probe_result *r = p->res;
	gnutls_datum_t proto;
	const char *ver;

	ver = gnutls_protocol_get_name(gnutls_protocol_get_version(p->session));
	snprintf(r->tls_version, sizeof(r->tls_version), "%s",
		 ver ? ver : "?");
	if (gnutls_alpn_get_selected_protocol(p->session, &proto) == 0)
		snprintf(r->alpn, sizeof(r->alpn), "%.*s", (int)proto.size,
			 (const char *)proto.data);
}

static void features_done(void *arg)
{
	struct probe *p = arg;

	probe_finish(p, PROBE_STEP_NONE, "%s", p->chain_note);
}

/*
 * c2s: the stream again over TLS, for its features (probe.h).  Bounded by
 * twice the time so far (at least PROBE_FEATURES_MIN_MS), PROBE_FEATURES_MS
 * and a quarter of the probe's time, so that it delays a verdict little;
 * whatever happens there, the probe ends `ok`.
 */
static void start_features(struct probe *p)
{
	int64_t budget = 2 * (int64_t)elapsed_ms(p);
	int cap = p->timeout_ms / 4;

	if (cap > PROBE_FEATURES_MS)
		cap = PROBE_FEATURES_MS;
	if (budget < PROBE_FEATURES_MIN_MS)
		budget = PROBE_FEATURES_MIN_MS;
	if (budget > cap)
		budget = cap;
	if (budget < 1)
		budget = 1;
	p->state = PS_FEATURES;
	p->feat = tlsfeat_start(p->base, p->session, p->fd,
				p->stream_to ? p->stream_to : p->host,
				(int)budget,
				&p->res->features, features_done, p);
	if (p->feat == NULL)
		probe_finish(p, PROBE_STEP_NONE, "%s", p->chain_note);
}

/*
 * The handshake completed: the server proved it holds the key of the leaf
 * it sent, so from here on nothing it sent may make the probe fail (a
 * failure would be `unreachable`, and an interceptor would choose it).
 * What cannot be kept is noted in `reason` with `chain_cut` set, and the
 * matcher judges what was kept (docs/architecture.md, "A completed
 * handshake is judged").
 */
static void capture_chain(struct probe *p)
{
	char note[sizeof(p->res->reason)];

	if (keep_chain(p, note, sizeof(note)) != 0) {
		probe_fail(p, "out of memory");
		return;
	}
	keep_session_facts(p);
	if (!p->server && !p->no_features) {
		snprintf(p->chain_note, sizeof(p->chain_note), "%s", note);
		start_features(p);
		return;
	}
	probe_finish(p, PROBE_STEP_NONE, "%s", note);
}

/*
 * Is using this RSA key too costly (probe.h key_refused)?  The cost of a
 * verification or an encryption grows with the exponent's length times
 * the square of the modulus's: a 16,384-bit modulus and exponent cost
 * 0.6-0.8 s of CPU per handshake here (docs/performance.md).  The bounds
 * are the matcher's (probe/dane.h).  A key GnuTLS reads but we cannot
 * is refused too: its cost cannot be known.  1 with the words in `why`.
 */
static int key_refused(const gnutls_datum_t *leaf, char *why, size_t len)
{
	gnutls_x509_crt_t crt = NULL;
	unsigned bits, ebits;
	int rsa;

	if (gnutls_x509_crt_init(&crt) < 0)
		return 0;	/* out of memory: GnuTLS fails it too */
	if (gnutls_x509_crt_import(crt, leaf, GNUTLS_X509_FMT_DER) < 0) {
		gnutls_x509_crt_deinit(crt);
		return 0;	/* GnuTLS refuses it itself */
	}
	rsa = dane_rsa_too_costly(crt, &bits, &ebits);
	gnutls_x509_crt_deinit(crt);
	if (rsa < 0)
		snprintf(why, len, "the server's RSA key is refused before any "
				   "signature is verified: its size cannot be "
				   "read");
	else if (rsa > 0)
		snprintf(why, len,
			 "the server's RSA key is refused before any "
			 "signature is verified: %u-bit modulus, "
			 "%u-bit exponent (at most %u bits, an "
			 "exponent below 2^32)",
			 bits, ebits, (unsigned)DANE_RSA_MAX_BITS);
	return rsa != 0;
}

/*
 * Runs before GnuTLS processes each handshake message it receives.  Right
 * after the server's Certificate, GnuTLS uses the leaf's key: it verifies
 * CertificateVerify (TLS 1.3) or ServerKeyExchange (TLS 1.2) with it, or
 * encrypts the premaster secret to it (TLS 1.2 RSA key exchange).  The
 * first message after the Certificate finds the chain in the session, and
 * the key is checked there, before any use.  (The certificate verify
 * function comes too late: in TLS 1.3 GnuTLS 3.7.9 runs it after
 * CertificateVerify is verified, lib/handshake-tls13.c.)  A refused key
 * ends the handshake with the chain kept (probe.h key_refused).
 */
static int on_handshake_msg(gnutls_session_t session, unsigned int htype,
			    unsigned when, unsigned int incoming,
			    const gnutls_datum_t *msg)
{
	struct probe *p = gnutls_session_get_ptr(session);
	const gnutls_datum_t *peers;
	unsigned int n = 0;
	char note[sizeof(p->res->reason)], why[sizeof(p->res->reason)];

	(void)htype, (void)when, (void)msg;
	if (!incoming || p->key_checked)
		return 0;
	if (gnutls_certificate_type_get2(session, GNUTLS_CTYPE_SERVER) !=
	    GNUTLS_CRT_X509)
		return 0;
	peers = gnutls_certificate_get_peers(session, &n);
	if (peers == NULL || n == 0)
		return 0;	/* before the Certificate message */
	p->key_checked = 1;
	if (!key_refused(&peers[0], why, sizeof(why)))
		return 0;
	if (keep_chain(p, note, sizeof(note)) != 0)
		return GNUTLS_E_MEMORY_ERROR;
	keep_session_facts(p);
	p->res->key_refused = 1;
	if (note[0] != '\0')
		snprintf(p->res->reason, sizeof(p->res->reason), "%s; %s", why,
			 note);
	else
		snprintf(p->res->reason, sizeof(p->res->reason), "%s", why);
	return GNUTLS_E_CERTIFICATE_ERROR;
}

static void do_handshake(struct probe *p)
{
	int rc;

	do {
		rc = gnutls_handshake(p->session);
	} while (rc < 0 && rc != GNUTLS_E_AGAIN && !gnutls_error_is_fatal(rc));
	if (rc == 0) {
		capture_chain(p);
		return;
	}
	if (p->res->key_refused) {
		char why[sizeof(p->res->reason)];

		/* One try at telling the server why; the probe is over. */
		gnutls_alert_send(p->session, GNUTLS_AL_FATAL,
				  GNUTLS_A_UNSUPPORTED_CERTIFICATE);
		memcpy(why, p->res->reason, sizeof(why));
		probe_finish(p, PROBE_STEP_NONE, "%s", why);
		return;
	}
	if (rc == GNUTLS_E_AGAIN) {
		wait_for(p, gnutls_record_get_direction(p->session) ? EV_WRITE
								     : EV_READ);
		return;
	}
	if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED)
		probe_fail(p, "TLS alert from the server: %s",
			   gnutls_alert_get_name(gnutls_alert_get(p->session)));
	else if (rc == GNUTLS_E_PREMATURE_TERMINATION ||
		 rc == GNUTLS_E_PULL_ERROR || rc == GNUTLS_E_PUSH_ERROR)
		probe_fail(p, "the server closed the connection during the "
			      "TLS handshake");
	else
		probe_fail(p, "TLS handshake failed: %s", gnutls_strerror(rc));
}

/* The stream reader's events, while we are inside xmlstream_feed(). */
static int on_stream(const struct xmlstream_event *ev, void *arg)
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
		send_bytes(p, XMLSTREAM_STARTTLS, strlen(XMLSTREAM_STARTTLS));
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
		probe_fail(p, "the stream passed certwatch's bounds before TLS, "
			      "%s: %s",
			   ev->starttls ? "after <starttls/> was offered"
					: "with no <starttls/> offered",
			   ev->error);
		break;
	}
	return p->state == PS_DONE;
}

static void start_stream(struct probe *p)
{
	char header[2048];
	int n;

	if (p->tls == PROBE_DIRECT) {
		start_tls(p);
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
	send_bytes(p, header, (size_t)n);
}

static void feed_stream(struct probe *p, const void *data, size_t len)
{
	xmlstream_feed(p->xs, data, len);
	if (p->state != PS_DONE && p->proceed)
		start_tls(p);
}

/* Reads the next SOCKS reply from p->in; answers or moves on. */
static void socks_step(struct probe *p)
{
	uint8_t msg[SOCKS5_MSG_MAX];
	char err[160];
	size_t used = 0;
	uint8_t rep = 0;
	enum socks5_status st;
	int n;

	switch (p->state) {
	case PS_SOCKS_METHOD:
		st = socks5_parse_method(p->in, p->in_len, 1, &used, err,
					 sizeof(err));
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
		send_bytes(p, msg, (size_t)n);
		break;
	case PS_SOCKS_AUTH:
		n = socks5_connect_request(msg, sizeof(msg), p->host, p->port,
					   err, sizeof(err));
		if (n < 0) {
			probe_finish(p, PROBE_STEP_INPUT, "%s", err);
			return;
		}
		p->state = PS_SOCKS_CONNECT;
		send_bytes(p, msg, (size_t)n);
		break;
	default:
		start_stream(p);
		/* The server speaks only after our header or ClientHello:
		 * anything already here is out of turn; let the stream reader
		 * judge it. */
		if (p->state == PS_STREAM && p->in_len > 0)
			feed_stream(p, p->in, p->in_len);
		p->in_len = 0;
		break;
	}
}

static void read_again(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	(void)fd, (void)what;
	if (p->state != PS_DONE)
		wait_for(p, EV_READ);
}

/* Reads the stream after PROBE_SLOW_READ_MS. */
static void read_later(struct probe *p)
{
	struct timeval tv = {0, PROBE_SLOW_READ_MS * 1000};

	if (p->io != NULL)
		event_free(p->io);
	p->io = evtimer_new(p->base, read_again, p);
	if (p->io == NULL || evtimer_add(p->io, &tv) != 0)
		probe_fail(p, "out of memory");
}

/* The stream before TLS: what the socket holds, fed at once. */
static void read_stream(struct probe *p)
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
		feed_stream(p, p->sbuf, len);
	if (p->state != PS_STREAM && p->state != PS_PROCEED)
		return;		/* ended, or TLS began */
	if (n == 0) {
		probe_fail(p, "the server closed the connection during %s",
			   state_words(p));
		return;
	}
	if (n < 0 && err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
		probe_fail(p, "%s during %s", errno_words(err), state_words(p));
		return;
	}
	/* Unless the reader's events chose what to wait for (<starttls/>
	 * sent), read on. */
	if (p->io != NULL && event_pending(p->io, EV_READ | EV_WRITE, NULL))
		return;
	if (xmlstream_pending(p->xs) >= PROBE_SLOW_PENDING)
		read_later(p);
	else
		wait_for(p, EV_READ);
}

static void on_readable(struct probe *p)
{
	ssize_t n;
	int socks = p->state == PS_SOCKS_METHOD ||
		    p->state == PS_SOCKS_AUTH || p->state == PS_SOCKS_CONNECT;

	if (!socks) {
		read_stream(p);
		return;
	}
	n = recv(p->fd, p->in + p->in_len, sizeof(p->in) - p->in_len, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		probe_fail(p, "%s during %s", errno_words(errno),
			   state_words(p));
		return;
	}
	if (n == 0) {
		probe_fail(p, "the SOCKS proxy closed the connection during %s",
			   state_words(p));
		return;
	}
	p->in_len += (size_t)n;
	socks_step(p);
	/* p->io is not persistent: unless the step above chose what to wait
	 * for next (or ended the probe), read on.  Without this a reply split
	 * over two reads stalled the probe until its deadline. */
	if ((p->state == PS_SOCKS_METHOD || p->state == PS_SOCKS_AUTH ||
	     p->state == PS_SOCKS_CONNECT) && p->io != NULL &&
	    !event_pending(p->io, EV_READ | EV_WRITE, NULL))
		wait_for(p, EV_READ);
}

static void try_connect(struct probe *p);

/* The TCP connection is up (or failed). */
static void on_connected(struct probe *p)
{
	uint8_t msg[8];
	int err = 0, n;
	socklen_t len = sizeof(err);

	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0) {
		if (p->via_socks) {
			probe_fail(p, "cannot reach the SOCKS proxy %s: %s",
				   p->res->peer, errno_words(err));
			return;
		}
		snprintf(p->last_err, sizeof(p->last_err), "%s",
			 errno_words(err));
		probe_close(p, 0);
		try_connect(p);
		return;
	}
	if (!p->via_socks) {
		start_stream(p);
		return;
	}
	p->state = PS_SOCKS_METHOD;
	n = socks5_greeting(msg, sizeof(msg), 1);
	send_bytes(p, msg, (size_t)n);
}

static void probe_io(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	(void)fd;
	switch (p->state) {
	case PS_CONNECT:
		on_connected(p);
		break;
	case PS_TLS:
		do_handshake(p);
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
static int connect_to(struct probe *p, const struct probe_addr *a,
		      uint16_t port)
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
	p->fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0);
	if (p->fd < 0)
		return errno;
	if (connect(p->fd, (struct sockaddr *)&ss, sslen) == 0 ||
	    errno == EINPROGRESS) {
		p->state = PS_CONNECT;
		return wait_for(p, EV_WRITE) == 0 ? 0 : ENOMEM;
	}
	err = errno;
	close(p->fd);
	p->fd = -1;
	return err;
}

/* Direct mode: the next allowed address, or the end. */
static void try_connect(struct probe *p)
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
				 "(allow_private is off)", where);
			continue;
		}
		err = connect_to(p, a, p->port);
		if (err == 0)
			return;
		snprintf(p->last_err, sizeof(p->last_err), "%s",
			 errno_words(err));
	}
	p->state = PS_CONNECT;
	probe_finish(p, PROBE_STEP_TCP, "%s",
		     p->last_err[0] ? p->last_err : "no address to connect to");
}

static void make_credentials(struct probe *p, const struct probe_opts *o,
			     char *out, size_t outlen)
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

static int parse_numeric(const char *s, struct probe_addr *a)
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

static char *dup_or_null(const char *s, int *oom)
{
	char *d;

	if (s == NULL || s[0] == '\0')
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*oom = 1;
	return d;
}

struct probe *probe_start(struct event_base *base, const struct probe_opts *opts,
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
	p->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms
					     : PROBE_DEFAULT_TIMEOUT_MS;
	p->allow_private = opts->allow_private;
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
		make_credentials(p, opts, p->socks_user,
				 sizeof(p->socks_user));
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
			   p->res->peer, errno_words(err));
	}
	return p;
}

void probe_cancel(struct probe *p)
{
	if (p != NULL)
		probe_free(p);
}

void probe_result_free(struct probe_result *res)
{
	size_t i;

	if (res == NULL)
		return;
	for (i = 0; i < res->nchain; i++)
		free(res->chain[i].der);
	free(res->chain);
	free(res);
}

const char *probe_step_name(enum probe_step step)
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
	}
	return NULL;
}

/* The entries of the IANA IPv4 Special-Purpose Address Registry (RFC 6890
 * §2.2.2, https://www.iana.org/assignments/iana-ipv4-special-registry/)
 * that are not globally reachable, with multicast (224/4) and broadcast.
 * 192.0.0.0/24 is taken whole: its two global /32s (PCP and TURN anycast,
 * RFC 7723, RFC 8155) are not XMPP servers. */
static int v4_is_private(const uint8_t *a)
{
	static const struct {
		uint32_t net;
		int len;
	} nets[] = {
		{0x00000000, 8},  {0x0a000000, 8},  {0x64400000, 10},
		{0x7f000000, 8},  {0xa9fe0000, 16}, {0xac100000, 12},
		{0xc0000000, 24}, {0xc0000200, 24}, {0xc0a80000, 16},
		{0xc6120000, 15}, {0xc6336400, 24}, {0xcb007100, 24},
		{0xe0000000, 4},  {0xf0000000, 4},  {0xffffffff, 32},
	};
	uint32_t v = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 |
		     (uint32_t)a[2] << 8 | a[3];
	size_t i;

	for (i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
		if ((v & (0xffffffffu << (32 - nets[i].len))) == nets[i].net)
			return 1;
	return 0;
}

/*
 * IPv6 ranges a probe must not reach, after the IANA IPv6 Special-Purpose
 * Address Registry (RFC 6890 §2.2.3, updated by RFC 8190;
 * https://www.iana.org/assignments/iana-ipv6-special-registry/): the entries
 * that are not "globally reachable", plus deprecated forms that the
 * registry does not list but that a host must not send to the Internet
 * (site-local fec0::/10, RFC 3879; IPv4-compatible ::/96, RFC 4291
 * §2.5.5.1) and multicast.  The first matching entry decides, so the
 * global exceptions inside 2001::/23 come before it.  `embed`: the
 * address carries an IPv4 address at that byte offset, which decides
 * instead (IPv4-mapped, the well-known NAT64 prefix, 6to4).
 */
static const struct v6_range {
	uint8_t prefix[8];
	uint8_t len;		/* bits; no entry is longer than 96 */
	uint8_t tail[4];	/* bytes 8-11, for the /96 entries */
	int8_t private;		/* 1 private, 0 public, -1 decided by embed */
	uint8_t embed;
} v6_ranges[] = {
	/* ::ffff:0:0/96 IPv4-mapped (RFC 4291 §2.5.5.2) */
	{{0}, 96, {0, 0, 0xff, 0xff}, -1, 12},
	/* ::ffff:0:0:0/96 IPv4-translated (RFC 2765 §2.1): never a
	 * destination on the wire */
	{{0}, 96, {0xff, 0xff, 0, 0}, 1, 0},
	/* ::/96: ::, ::1 and IPv4-compatible (deprecated, RFC 4291
	 * §2.5.5.1) */
	{{0}, 96, {0}, 1, 0},
	/* 64:ff9b::/96 the well-known NAT64 prefix (RFC 6052 §2.1): public
	 * when the IPv4 address is */
	{{0, 0x64, 0xff, 0x9b}, 96, {0}, -1, 12},
	/* 64:ff9b:1::/48 local-use IPv4/IPv6 translation (RFC 8215) */
	{{0, 0x64, 0xff, 0x9b, 0, 0x01}, 48, {0}, 1, 0},
	/* 100::/64 discard-only (RFC 6666); 100:0:0:1::/64 dummy prefix
	 * (RFC 9780) */
	{{0x01, 0x00}, 64, {0}, 1, 0},
	{{0x01, 0x00, 0, 0, 0, 0, 0, 0x01}, 64, {0}, 1, 0},
	/* Globally reachable exceptions inside 2001::/23: 2001:3::/32 AMT
	 * (RFC 7450), 2001:4:112::/48 AS112-v6 (RFC 7535), 2001:20::/28
	 * ORCHIDv2 (RFC 7343), 2001:30::/28 DRIP (RFC 9374).  The three
	 * anycast /128s in 2001:1::/48 are not service addresses of an
	 * XMPP server and stay private with the rest. */
	{{0x20, 0x01, 0x00, 0x03}, 32, {0}, 0, 0},
	{{0x20, 0x01, 0x00, 0x04, 0x01, 0x12}, 48, {0}, 0, 0},
	{{0x20, 0x01, 0x00, 0x20}, 28, {0}, 0, 0},
	{{0x20, 0x01, 0x00, 0x30}, 28, {0}, 0, 0},
	/* 2001::/23 IETF protocol assignments (RFC 2928): Teredo,
	 * benchmarking 2001:2::/48 (RFC 5180), deprecated ORCHID */
	{{0x20, 0x01, 0x00, 0x00}, 23, {0}, 1, 0},
	/* 2001:db8::/32 and 3fff::/20 documentation (RFC 3849, RFC 9637) */
	{{0x20, 0x01, 0x0d, 0xb8}, 32, {0}, 1, 0},
	{{0x3f, 0xff, 0x00}, 20, {0}, 1, 0},
	/* 2002::/16 6to4 (RFC 3056): the IPv4 address of its relay */
	{{0x20, 0x02}, 16, {0}, -1, 2},
	/* 5f00::/16 SRv6 SIDs (RFC 9602) */
	{{0x5f, 0x00}, 16, {0}, 1, 0},
	/* fc00::/7 unique local (RFC 4193) */
	{{0xfc}, 7, {0}, 1, 0},
	/* fe80::/10 link-local (RFC 4291 §2.5.6), fec0::/10 site-local
	 * (deprecated, RFC 3879): fe80::/9 covers both */
	{{0xfe, 0x80}, 9, {0}, 1, 0},
	/* ff00::/8 multicast (RFC 4291 §2.7) */
	{{0xff}, 8, {0}, 1, 0},
};

/* True when the first `len` bits of a and b agree. */
static int bits_equal(const uint8_t *a, const uint8_t *b, unsigned len)
{
	unsigned full = len / 8, rest = len % 8;

	if (memcmp(a, b, full) != 0)
		return 0;
	return rest == 0 ||
	       ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

int probe_addr_is_private(const struct probe_addr *a)
{
	const uint8_t *b = a->addr;
	size_t i;

	if (a->family == AF_INET)
		return v4_is_private(b);
	if (a->family != AF_INET6)
		return 1;
	for (i = 0; i < sizeof(v6_ranges) / sizeof(v6_ranges[0]); i++) {
		const struct v6_range *r = &v6_ranges[i];
		uint8_t pfx[16] = {0};

		memcpy(pfx, r->prefix, sizeof(r->prefix));
		memcpy(pfx + 8, r->tail, sizeof(r->tail));
		if (!bits_equal(b, pfx, r->len))
			continue;
		return r->private >= 0 ? r->private : v4_is_private(b + r->embed);
	}
	return 0;
}
