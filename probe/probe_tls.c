/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * probe_tls.c - a probe's TLS: the client session (one signature family,
 * ALPN for direct TLS), the handshake hook that refuses a leaf key too
 * costly to use before GnuTLS uses it (probe.h key_refused), the
 * presented chain copied out, and for c2s the stream after TLS
 * (tlsfeat.c).  The TCP, SOCKS5 and XMPP stream steps are probe.c's.
 */
#include "probe/probe_int.h"

#include "probe/dane.h"
#include "probe/tlsfeat.h"
#include "probe/xmlstream.h"

#include <event2/event.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int on_handshake_msg(gnutls_session_t session, unsigned int htype,
			    unsigned when, unsigned int incoming,
			    const gnutls_datum_t *msg);

void
probe_tls_start(struct probe *p)
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
		rc = gnutls_server_name_set(p->session, GNUTLS_NAME_DNS, p->sni,
					    strlen(p->sni));
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
	probe_wait_for(p, EV_WRITE);
}

/*
 * Copies the presented chain into the result, leaf first: the leaf always
 * (GnuTLS bounds one handshake message), the rest while the chain stays
 * under PROBE_MAX_CHAIN_BYTES.  What is not kept sets chain_cut, with the
 * words in `note` ("" otherwise).  0, or -1 when out of memory.
 */
static int
keep_chain(struct probe *p, char *note, size_t notelen)
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
		snprintf(note, notelen,
			 "the handshake completed without an "
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
		snprintf(note, notelen,
			 "the chain was cut after %u of %u "
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
static void
keep_session_facts(struct probe *p)
{
	struct probe_result *r = p->res;
	gnutls_datum_t proto;
	const char *ver;

	ver = gnutls_protocol_get_name(gnutls_protocol_get_version(p->session));
	snprintf(r->tls_version, sizeof(r->tls_version), "%s", ver ? ver : "?");
	if (gnutls_alpn_get_selected_protocol(p->session, &proto) == 0)
		snprintf(r->alpn, sizeof(r->alpn), "%.*s", (int)proto.size,
			 (const char *)proto.data);
}

static void
features_done(void *arg)
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
static void
start_features(struct probe *p)
{
	int64_t budget = 2 * (int64_t)probe_elapsed_ms(p);
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
	p->feat = tlsfeat_start(
	    p->base, p->session, p->fd, p->stream_to ? p->stream_to : p->host,
	    (int)budget, &p->res->features, features_done, p);
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
static void
capture_chain(struct probe *p)
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
static int
key_refused(const gnutls_datum_t *leaf, char *why, size_t len)
{
	/* The parse the check will take again (dane.h "Parsed once") */
	gnutls_x509_crt_t crt = dane_cert_hold(leaf->data, leaf->size);
	unsigned bits, ebits;
	int rsa;

	if (crt == NULL)
		return 0; /* GnuTLS refuses it itself, or out of memory */
	rsa = dane_rsa_too_costly(crt, &bits, &ebits);
	dane_cert_drop(crt);
	if (rsa < 0)
		snprintf(why, len,
			 "the server's RSA key is refused before any "
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
static int
on_handshake_msg(gnutls_session_t session, unsigned int htype, unsigned when,
		 unsigned int incoming, const gnutls_datum_t *msg)
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
		return 0; /* before the Certificate message */
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

void
probe_tls_handshake(struct probe *p)
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
		probe_wait_for(p, gnutls_record_get_direction(p->session)
				      ? EV_WRITE
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
