/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * vantage_proto.h - the payload of urn:xmpp:certwatch:probe:0, one probe
 * asked of another certwatch over XMPP (docs/vantages.md, the protocol):
 * the request <probe/> of an iq get, and the answer <result/> of its iq
 * result.  Building and reading both; pure functions over libstrophe
 * stanzas, bounded, fuzzed (tests/fuzz/fuzz_vantage.c).
 *
 * Reading never trusts the peer: every attribute is checked against a
 * closed list of words or a bounded number, names go through
 * names_domain(), the certificates are bounded in count and bytes and
 * their SHA-256 must be the one the answer claims.  What fails is
 * malformed: the asker makes it an unreachable probe at step "vantage".
 */
#ifndef CERTWATCH_VANTAGE_PROTO_H
#define CERTWATCH_VANTAGE_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <strophe.h>
#include <time.h>

#include "dns/dns.h"
#include "probe/probe.h"

#define VANTAGE_NS "urn:xmpp:certwatch:probe:0"

/* Bounds of an answer: certificates in the chain, bytes of one (DER),
 * bytes of them all, characters of the failure's words. */
#define VANTAGE_MAX_CERTS 10
#define VANTAGE_MAX_CERT 16384
#define VANTAGE_MAX_CHAIN 65536
#define VANTAGE_MAX_REASON 200

/* A request as read by the answering side. */
struct vantage_req {
	int server; /* xmpp(s)-server */
	enum probe_tls tls;
	char host[DNS_NAME_MAX + 1]; /* A-label */
	uint16_t port;
	char to[DNS_NAME_MAX * 4 + 1]; /* the stream's to: U-label */
	char sni[DNS_NAME_MAX + 1];    /* A-label, "" for none */
	struct probe_addr addr;
	char address[46]; /* addr as text */
	enum probe_keys keys;
};

/*
 * The <probe/> payload for one probe of req (its one address, its key
 * family); NULL when req has no address or out of memory.
 */
xmpp_stanza_t *vantage_req_build(xmpp_ctx_t *ctx, const struct probe_req *req);

/* Reads a <probe/> payload.  0, or -1 with words in why. */
int vantage_req_parse(xmpp_stanza_t *probe, struct vantage_req *out, char *why,
		      size_t whylen);

/* The probe a request asks for (pointing into vr; host: its name). */
void vantage_req_probe(const struct vantage_req *vr, struct probe_req *req);

/* The <result/> payload for a probe's result (the chain cut to the
 * bounds above, from the leaf), answered at wall time `at`. */
xmpp_stanza_t *vantage_ans_build(xmpp_ctx_t *ctx,
				 const struct probe_result *res, time_t at);

/*
 * Reads the payload of an iq result (the <result/> element).  Returns a
 * new probe result (free with probe_result_free) or NULL with words in
 * why when the answer is malformed or over a bound.
 */
struct probe_result *vantage_ans_parse(xmpp_stanza_t *result, char *why,
				       size_t whylen);

#endif
