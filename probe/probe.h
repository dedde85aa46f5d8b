/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * probe.h - one probe: one connection to one XMPP endpoint, directly or
 * through a SOCKS5 proxy (Tor), the XMPP stream up to STARTTLS or direct
 * TLS, and a TLS handshake whose whole presented chain is kept.
 *
 * A probe never logs, never exits and never resolves a name when it goes
 * through SOCKS (the hostname goes to the proxy).  It runs on the caller's
 * event_base and ends with exactly one callback, unless cancelled.
 */
#ifndef CERTWATCH_PROBE_H
#define CERTWATCH_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "probe/xmlstream.h"

struct event_base;

enum probe_tls {
	PROBE_STARTTLS = 0,
	PROBE_DIRECT,
};

/* The step that failed; these names are the JSON "error.step" words. */
enum probe_step {
	PROBE_STEP_NONE = 0,
	PROBE_STEP_INPUT,    /* "input" */
	PROBE_STEP_DNS,	     /* "dns" */
	PROBE_STEP_TOR,	     /* "tor": the SOCKS proxy or the circuit */
	PROBE_STEP_TCP,	     /* "tcp" */
	PROBE_STEP_STREAM,   /* "stream": the XMPP stream before TLS */
	PROBE_STEP_STARTTLS, /* "starttls" */
	PROBE_STEP_TLS,	     /* "tls": the handshake */
	/* "vantage": a remote vantage (xmpp:JID, docs/vantages.md) did not
	 * answer in time, answered an error or a malformed result. */
	PROBE_STEP_VANTAGE,
};

struct probe_addr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
};

struct probe_opts {
	int via_socks;		/* 1: through the SOCKS5 proxy below */
	const char *socks_host; /* numeric address of the proxy */
	uint16_t socks_port;
	/* SOCKS5 username/password (RFC 1929); NULL: fresh random ones are
	 * made for this probe, so Tor's IsolateSOCKSAuth gives it its own
	 * circuit. */
	const char *socks_user;
	const char *socks_pass;
	/* 1: offer no authentication as well (a SOCKS vantage that is not
	 * Tor, such as `ssh -D`); 0: username/password only, so that a Tor
	 * cannot put two probes on one circuit. */
	int socks_any_auth;
	int timeout_ms;	   /* the whole probe */
	int allow_private; /* allow private/loopback targets */
	/* Random source for the SOCKS credentials; NULL: getrandom(). */
	void (*random)(void *buf, size_t len);
};

/* The signature family the handshake offers (the server's key type). */
enum probe_keys {
	PROBE_KEYS_ANY = 0,
	PROBE_KEYS_RSA, /* RSA (PKCS#1 v1.5, PSS) signatures only */
	PROBE_KEYS_EC,	/* ECDSA and Ed25519 signatures only */
};

struct probe_req {
	const char *host; /* A-label target: sent to the proxy, or the
			   * name `addrs` belong to */
	uint16_t port;
	const char *stream_to; /* the stream's `to`: the domain, U-label */
	const char *sni;       /* SNI, A-label; NULL or "" for none */
	int server;	       /* 0: jabber:client, 1: jabber:server */
	enum probe_tls tls;
	/* A server holding an RSA and an ECDSA certificate shows the one
	 * the client's signature_algorithms allow (RFC 8446 §4.2.3). */
	enum probe_keys keys;
	/* Direct mode: the addresses to try, in order.  Ignored through SOCKS.
	 * Private, loopback, link-local and multicast ones are refused unless
	 * opts->allow_private. */
	const struct probe_addr *addrs;
	size_t naddrs;
	/* c2s: do not read the features after TLS (a second probe of the
	 * same endpoint, whose features nobody reads). */
	int no_features;
};

/*
 * A c2s probe whose handshake completed opens the stream again over TLS
 * (RFC 6120 §5.4.3.3; at once for direct TLS, XEP-0368) and reads its
 * features: the SASL mechanisms and XEP-0440 channel-binding types.  It
 * never authenticates.  This second stream is bounded like the first
 * (probe/xmlstream.h) and by PROBE_FEATURES_MS, and nothing in it changes
 * `ok`, the chain or any other field of the result.
 */
#define PROBE_FEATURES_MS 5000
/* ... and by twice the time the probe took up to the end of the handshake
 * (a server answers a stream header in about one round trip), at least
 * PROBE_FEATURES_MIN_MS: a server silent after TLS delays the verdict,
 * a mismatch included, by little. */
#define PROBE_FEATURES_MIN_MS 1000

enum probe_feat_state {
	PROBE_FEAT_NOT_TRIED = 0, /* s2s, or no completed handshake */
	PROBE_FEAT_READ,	  /* the features were read */
	PROBE_FEAT_FAILED,	  /* the stream after TLS failed */
};

struct probe_features {
	enum probe_feat_state state;
	struct xmlstream_sasl sasl; /* PROBE_FEAT_READ */
	char reason[160];	    /* PROBE_FEAT_FAILED: words */
};

/* Channel binding as offered by one endpoint (XEP-0440). */
enum probe_cb {
	PROBE_CB_NA = 0,  /* not tried: JSON null */
	PROBE_CB_OFFERED, /* "offered": a -PLUS mechanism */
	PROBE_CB_NONE,	  /* "none" */
	PROBE_CB_UNKNOWN, /* "unknown": the stream after TLS failed */
};

enum probe_cb probe_cb_state(const struct probe_features *f);
/* "offered", "none", "unknown"; NULL for PROBE_CB_NA. */
const char *probe_cb_name(enum probe_cb s);
/*
 * Whether the advertised XEP-0440 types hold one a client can use at this
 * TLS version ("TLS1.3", ...): 1 yes, 0 no (none, or only tls-unique under
 * TLS 1.3, which RFC 9266 §1 leaves undefined there), -1 when no XEP-0440
 * list was advertised.
 */
int probe_cb_usable(const struct probe_features *f, const char *tls_version);

struct probe_cert {
	uint8_t *der;
	size_t len;
};

struct probe_result {
	/* The chain was captured: the handshake completed, or it was
	 * stopped at a refused key (key_refused).  Either way what the
	 * server presented is judged, never `unreachable`. */
	int ok;
	enum probe_step fail_step; /* when !ok */
	char reason[256];	   /* words for the failure */
	/* The server refused or withheld TLS: no <starttls/> in its
	 * features, a <failure/> to it, or a stream past the reader's
	 * bounds before <proceed/> (probe/xmlstream.h; a client would read
	 * on).  With a secure usable TLSA RRset this is a downgrade
	 * (RFC 7673 §3.4).  Never set by a time-out. */
	int tls_refused;
	/* The handshake completed but not all of the chain could be kept
	 * (over the byte bound, or no X.509 certificate): `reason` says
	 * what; `ok` stays 1 and what was kept is judged. */
	int chain_cut;
	/* Bounded cost: the leaf's RSA key has a modulus over
	 * DANE_RSA_MAX_BITS (16,384) or an exponent of 2^32 or more, so
	 * using it (verifying TLS 1.3 CertificateVerify or TLS 1.2
	 * ServerKeyExchange, or encrypting to it in TLS 1.2's RSA key
	 * exchange) would hold the event loop for seconds.  The handshake was
	 * stopped before GnuTLS used it, right after the server's
	 * Certificate: `ok` is 1, the chain and tls_version are kept, and
	 * `reason` says why ("the server's RSA key is refused before any
	 * signature is verified: 16384-bit modulus, ...").  The server never
	 * proved it holds that key, so no TLSA record can match it: with a
	 * secure usable RRset the verdict is `mismatch` (verdict.h), never
	 * `unreachable`, which an interceptor could otherwise choose. */
	int key_refused;

	struct probe_cert *chain; /* as presented, leaf first */
	size_t nchain;
	char tls_version[16]; /* "TLS1.3", ... */
	char alpn[32];	      /* negotiated ALPN, "" if none */
	char peer[64];	      /* the address connected to, or the
			       * proxy's, for the report */
	char socks_user[64];  /* credentials used (for tests that
			       * match Tor circuits) */
	uint32_t elapsed_ms;
	struct probe_features features; /* the stream after TLS (c2s) */
};

struct probe;

/* The callee owns `res` and frees it with probe_result_free(). */
typedef void (*probe_cb)(struct probe_result *res, void *arg);

/*
 * Starts a probe.  Copies what it needs from opts and req.  Returns NULL
 * only on out-of-memory; every other failure arrives through `cb`, never
 * before probe_start() has returned.
 */
struct probe *probe_start(struct event_base *base,
			  const struct probe_opts *opts,
			  const struct probe_req *req, probe_cb cb, void *arg);

/* Stops a probe; its callback is never called. */
void probe_cancel(struct probe *p);

void probe_result_free(struct probe_result *res);

/* "input", "dns", "tor", ..., or NULL for PROBE_STEP_NONE. */
const char *probe_step_name(enum probe_step step);

/*
 * True for addresses a probe must not reach unless allow_private: the
 * entries of IANA's IPv4 and IPv6 Special-Purpose Address Registries
 * (RFC 6890) that are not globally reachable (unspecified, loopback,
 * private, shared, link-local, documentation, benchmarking, reserved,
 * local-use NAT64 64:ff9b:1::/48), multicast, broadcast, deprecated
 * site-local (fec0::/10), IPv4-compatible (::a.b.c.d) and IPv4-translated
 * (::ffff:0:a.b.c.d) addresses, and the IPv4-mapped, NAT64 (64:ff9b::/96)
 * and 6to4 forms of private IPv4 addresses.
 */
int probe_addr_is_private(const struct probe_addr *a);

#endif
