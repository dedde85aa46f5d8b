/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * webaddr.h - who a web client is, for the per-client check limit: the
 * trusted-proxy list of `[http] trusted_proxies`, the client address taken
 * from X-Forwarded-For only when the peer is such a proxy, and a bounded
 * table of token buckets keyed by client address (IPv6 by /64, since one
 * host usually holds a whole /64).  Pure functions over bytes; no I/O.
 */
#ifndef CERTWATCH_WEBADDR_H
#define CERTWATCH_WEBADDR_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* An address, IPv4 kept as an IPv4-mapped IPv6 address. */
struct webaddr {
	uint8_t a[16];
};

struct webaddr_net {
	struct webaddr addr;
	unsigned prefix; /* 0..128, over the mapped form */
};

#define WEBADDR_MAX_PROXIES 32

struct webaddr_proxies {
	struct webaddr_net nets[WEBADDR_MAX_PROXIES];
	size_t n;
};

/* Parses one numeric address (IPv4 or IPv6, optionally in [brackets],
 * surrounding blanks ignored) of `len` bytes.  0 or -1. */
int webaddr_parse(const char *s, size_t len, struct webaddr *out);

/* From a struct sockaddr (AF_INET or AF_INET6).  0 or -1. */
int webaddr_from_sockaddr(const struct sockaddr *sa, struct webaddr *out);

/* "ADDR" or "ADDR/PREFIX" items separated by commas or blanks; empty text
 * is an empty list.  0, or -1 with the reason in err. */
int webaddr_proxies_parse(const char *text, struct webaddr_proxies *out,
			  char *err, size_t errlen);

int webaddr_proxies_match(const struct webaddr_proxies *p,
			  const struct webaddr *a);

/*
 * The client of a request: the peer, unless the peer is a trusted proxy;
 * then the X-Forwarded-For values (every such header, in order) are read
 * from the right, skipping trusted proxies, and the first other address is
 * the client.  A value that is not an address stops the walk (whatever is
 * left of it was written by the client) and the last trusted hop is the
 * client.  `xff` may hold n == 0 values.
 */
void webaddr_client(const struct webaddr *peer,
		    const struct webaddr_proxies *trusted,
		    const char *const *xff, size_t n, struct webaddr *out);

/* Text form, for logs ("192.0.2.1", "2001:db8::1"); "" when it does not
 * fit in len bytes (INET6_ADDRSTRLEN always does). */
void webaddr_format(const struct webaddr *a, char *out, size_t len);

/* ---- per-client token buckets ---- */

#define WEBADDR_RATE_SLOTS 4096

struct webaddr_rate_slot {
	struct webaddr key; /* IPv6 cut to /64 */
	double tokens;
	double last; /* seconds, monotonic; 0: free slot */
};

struct webaddr_rate {
	unsigned per_minute; /* 0: no limit */
	struct webaddr_rate_slot slot[WEBADDR_RATE_SLOTS];
};

void webaddr_rate_init(struct webaddr_rate *r, unsigned per_minute);

/*
 * Takes one token of a's bucket at time `now` (seconds).  Returns 0 when
 * allowed, else the seconds until a token is back (>= 1).  A full table
 * evicts the longest-idle bucket among the few probed.
 */
unsigned webaddr_rate_take(struct webaddr_rate *r, const struct webaddr *a,
			   double now);

#endif
