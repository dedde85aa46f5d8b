/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * dns.h - DNSSEC-validated look-ups (SRV, TLSA, A, AAAA) with libunbound
 * on the process's libevent base.
 *
 * The module knows nothing of XMPP.  It never logs and never exits: errors
 * are returned as values, with text the caller may show.  Everything runs on
 * the caller's event_base; there are no threads and no blocking calls.
 */
#ifndef CERTWATCH_DNS_H
#define CERTWATCH_DNS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;

#define DNS_NAME_MAX 253 /* presentation form, no trailing dot */

enum dns_rrtype {
	DNS_T_A = 1,
	DNS_T_CNAME = 5,
	DNS_T_AAAA = 28,
	DNS_T_SRV = 33,
	DNS_T_DNAME = 39,
	DNS_T_TLSA = 52,
	DNS_T_CAA = 257, /* RFC 8659; parse with dns/caa.h */
};

/* DNSSEC state of one answer, as unbound's validator saw it. */
enum dns_sec {
	DNS_SEC_NONE = 0, /* no state: the look-up failed or was not made */
	DNS_SEC_SECURE,
	DNS_SEC_INSECURE,
	DNS_SEC_BOGUS,
};

/* What the look-up found. */
enum dns_status {
	DNS_ANSWER = 0, /* one or more records of the asked type */
	DNS_NXDOMAIN,	/* the name does not exist (RCODE 3) */
	DNS_NODATA,	/* the name exists, no record of this type */
	DNS_SERVFAIL,	/* resolution failed (SERVFAIL, REFUSED, ...) */
	DNS_TIMEOUT,	/* no answer in time */
	DNS_ERROR,	/* local failure (memory, bad packet, ...) */
};

struct dns_srv {
	uint16_t priority;
	uint16_t weight;
	uint16_t port;
	char target[DNS_NAME_MAX + 1]; /* lower case, no trailing dot; "." for
					* the root (service not offered) */
};

struct dns_tlsa {
	uint8_t usage;
	uint8_t selector;
	uint8_t mtype;
	size_t len;
	uint8_t *data; /* owned by the dns_answer */
};

/* A record kept as its RDATA (CAA), for a parser of its own. */
struct dns_rdata {
	size_t len;
	uint8_t *data; /* owned by the dns_answer */
};

struct dns_addr {
	int family;	  /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network order; 4 bytes used for AF_INET */
};

/*
 * One answer.  Records of the asked type only; a CNAME/DNAME chain on the
 * way is summarised in `cname` (the final owner name the records were found
 * at) and `aliased`.
 */
struct dns_answer {
	char qname[DNS_NAME_MAX + 1];
	uint16_t qtype;
	enum dns_status status;
	enum dns_sec sec;	      /* DNS_SEC_NONE when status is SERVFAIL,
				       * TIMEOUT or ERROR */
	char why_bogus[256];	      /* unbound's reason when sec == BOGUS */
	char error[256];	      /* words for SERVFAIL/TIMEOUT/ERROR */
	int aliased;		      /* a CNAME or DNAME was followed */
	char cname[DNS_NAME_MAX + 1]; /* the canonical name when aliased */
	uint32_t ttl;		      /* smallest TTL of the records */

	size_t n;		 /* records of qtype */
	struct dns_srv *srv;	 /* when qtype == DNS_T_SRV */
	struct dns_tlsa *tlsa;	 /* when qtype == DNS_T_TLSA */
	struct dns_addr *addr;	 /* when qtype == DNS_T_A or DNS_T_AAAA */
	struct dns_rdata *rdata; /* when qtype == DNS_T_CAA */
};

struct dns_config {
	const char *trust_anchor; /* file of DS/DNSKEY lines; NULL: none */
	const char *forward;	  /* space-separated resolvers, "" or NULL:
				   * full recursion from the root */
	const char *unbound_conf; /* unbound.conf fragment or NULL */
	int timeout_ms;		  /* per look-up; 0: 15000 */
};

struct dns_ctx;
struct dns_query;

/*
 * Called once per look-up with an answer the callee owns (free it with
 * dns_answer_free), always from the event loop: never before dns_lookup()
 * has returned, even for an answer in libunbound's cache (that one comes
 * from a zero-delay timer).
 */
typedef void (*dns_cb)(struct dns_answer *answer, void *arg);

/*
 * Creates a resolver on `base`.  Returns NULL and writes a message into err
 * (errlen bytes) on failure (unreadable anchor, bad fragment, ...).  The
 * anchors are loaded here, not at the first look-up: an anchor file that
 * unbound would ignore (unsupported algorithm) is an error too.  From then
 * on libunbound's own logging is switched off (it is process-wide).
 */
struct dns_ctx *dns_new(struct event_base *base, const struct dns_config *cfg,
			char *err, size_t errlen);

/*
 * Starts a look-up of `name` (presentation form, A-labels, trailing dot
 * optional) for `rrtype`.  Returns 0, or -1 with the callback never called
 * (bad name, out of memory, libunbound refused the query).  Names are
 * letters, digits, '-' and '_' only, <= 253 characters, labels of 1-63.
 * If `out` is not NULL, *out is set to a handle valid until the callback
 * runs, for dns_cancel() (a cached answer's too: its callback has not run
 * yet when dns_lookup() returns).
 */
int dns_lookup(struct dns_ctx *ctx, const char *name, uint16_t rrtype,
	       dns_cb cb, void *arg, struct dns_query **out);

/* Cancels a pending look-up; its callback is never called. */
void dns_cancel(struct dns_query *q);

/*
 * Cancels every pending look-up (no callback runs) and frees the resolver.
 * Not from inside a dns_cb: libunbound is still using its state then.
 */
void dns_free(struct dns_ctx *ctx);

/* Look-ups started and still pending (for metrics and tests). */
size_t dns_pending(const struct dns_ctx *ctx);

void dns_answer_free(struct dns_answer *a);

/*
 * Pure parser of a wire-format DNS response (as libunbound's event API
 * hands it over): fills status (from the header RCODE and the answer
 * count), the records of `qtype` found at the end of any CNAME/DNAME chain
 * starting at the question name, aliased/cname and ttl.  Leaves sec,
 * why_bogus and qname to the caller.  Bounded: never reads past `len`,
 * follows at most 16 aliases, stops at 1024 records.  Returns 0, or -1 with
 * a reason in err for a malformed packet.  The caller frees with
 * dns_answer_clear() (or dns_answer_free() if heap-allocated); records
 * already in *out are overwritten, not freed.  ttl of an answer without
 * records is the negative TTL (authority SOA, RFC 2308), or 0.  A failure
 * RCODE gives 0 and DNS_SERVFAIL without reading past the header.
 */
int dns_parse_response(const uint8_t *pkt, size_t len, uint16_t qtype,
		       struct dns_answer *out, char *err, size_t errlen);

/* Frees the records held by *a and zeroes it. */
void dns_answer_clear(struct dns_answer *a);

/* "secure", "insecure", "bogus", or NULL for DNS_SEC_NONE. */
const char *dns_sec_name(enum dns_sec sec);

/* Words for a status: "NXDOMAIN", "no records", "SERVFAIL", "timed out"... */
const char *dns_status_name(enum dns_status st);

/* Hex-encodes a TLSA record as "U S M HEX" into buf; returns buf. */
char *dns_tlsa_format(const struct dns_tlsa *t, char *buf, size_t len);

#endif
