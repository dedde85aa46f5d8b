/* SPDX-License-Identifier: GPL-3.0-or-later */
/* vantage_proto.c - urn:xmpp:certwatch:probe:0, its two payloads. */
#include "component/vantage_proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component/names.h"
#include "probe/dane.h"
#include "util/buf.h"

static const char *const services[4] = {"xmpp-client", "xmpps-client",
					"xmpp-server", "xmpps-server"};

/* ---- helpers ---------------------------------------------------------- */

static int
fail(char *why, size_t whylen, const char *fmt, const char *what)
{
	snprintf(why, whylen, fmt, what);
	return -1;
}

/* A decimal number in [lo, hi], digits only, at most 10 of them. */
static int
read_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	unsigned long v = 0;
	size_t n = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s; s++, n++) {
		if (*s < '0' || *s > '9' || n >= 10)
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* "true" / "false"; absent is false.  -1 for any other word. */
static int
read_bool(xmpp_stanza_t *e, const char *name)
{
	const char *v = xmpp_stanza_get_attribute(e, name);

	if (v == NULL || !strcmp(v, "false"))
		return 0;
	return strcmp(v, "true") ? -1 : 1;
}

static int
b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict base64 (RFC 4648 §4, padded), ASCII white space between
 * characters ignored; at most `max` bytes out.  The length, or -1. */
static long
b64_decode(const char *s, size_t len, uint8_t *out, size_t max)
{
	uint32_t acc = 0;
	size_t n = 0, q = 0, pad = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int v;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (c == '=') {
			pad++;
			v = 0;
		} else {
			v = b64_val(c);
			if (v < 0 || pad > 0)
				return -1; /* data after padding */
		}
		acc = (acc << 6) | (uint32_t)v;
		if (++q < 4)
			continue;
		if (pad > 2 || n + 3 - pad > max)
			return -1;
		out[n++] = (uint8_t)(acc >> 16);
		if (pad < 2)
			out[n++] = (uint8_t)(acc >> 8);
		if (pad < 1)
			out[n++] = (uint8_t)acc;
		acc = 0;
		q = 0;
		if (pad > 0 && i + 1 < len) {
			/* Only white space may follow the last quantum. */
			for (size_t j = i + 1; j < len; j++)
				if (!strchr(" \t\r\n", s[j]))
					return -1;
			break;
		}
	}
	return q == 0 ? (long)n : -1;
}

static void
b64_encode(const uint8_t *in, size_t len, struct buf *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		buf_putc(out, tab[(v >> 18) & 63]);
		buf_putc(out, tab[(v >> 12) & 63]);
		buf_putc(out, i + 1 < len ? tab[(v >> 6) & 63] : '=');
		buf_putc(out, i + 2 < len ? tab[v & 63] : '=');
	}
}

static xmpp_stanza_t *
elem(xmpp_ctx_t *ctx, const char *name, const char *ns)
{
	xmpp_stanza_t *e = xmpp_stanza_new(ctx);

	xmpp_stanza_set_name(e, name);
	if (ns)
		xmpp_stanza_set_ns(e, ns);
	return e;
}

static void
add_text(xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *text)
{
	xmpp_stanza_t *t = xmpp_stanza_new(ctx);

	xmpp_stanza_set_text(t, text);
	xmpp_stanza_add_child(parent, t);
	xmpp_stanza_release(t);
}

/* The text of e (its text children), at most max bytes; -1 over. */
static long
elem_text(xmpp_stanza_t *e, char *out, size_t max)
{
	size_t n = 0;

	for (xmpp_stanza_t *c = xmpp_stanza_get_children(e); c;
	     c = xmpp_stanza_get_next(c)) {
		const char *t;
		size_t l;
		if (!xmpp_stanza_is_text(c))
			return -1; /* no elements inside */
		t = xmpp_stanza_get_text_ptr(c);
		l = t ? strlen(t) : 0;
		if (l > max - n)
			return -1;
		memcpy(out + n, t, l);
		n += l;
	}
	out[n] = '\0';
	return (long)n;
}

static int
is_ns(xmpp_stanza_t *e, const char *name)
{
	const char *n = xmpp_stanza_get_name(e), *ns = xmpp_stanza_get_ns(e);

	return n && ns && !strcmp(n, name) && !strcmp(ns, VANTAGE_NS);
}

/* ---- the request ------------------------------------------------------ */

xmpp_stanza_t *
vantage_req_build(xmpp_ctx_t *ctx, const struct probe_req *req)
{
	char addr[46], port[8];
	xmpp_stanza_t *p;
	int svc = (req->server ? 2 : 0) + (req->tls == PROBE_DIRECT);

	if (req->naddrs < 1 || req->stream_to == NULL ||
	    inet_ntop(req->addrs[0].family, req->addrs[0].addr, addr,
		      sizeof(addr)) == NULL)
		return NULL;
	snprintf(port, sizeof(port), "%u", (unsigned)req->port);
	p = elem(ctx, "probe", VANTAGE_NS);
	xmpp_stanza_set_attribute(p, "service", services[svc]);
	xmpp_stanza_set_attribute(p, "host", req->host);
	xmpp_stanza_set_attribute(p, "port", port);
	xmpp_stanza_set_attribute(
	    p, "tls", req->tls == PROBE_DIRECT ? "direct" : "starttls");
	xmpp_stanza_set_attribute(p, "to", req->stream_to);
	xmpp_stanza_set_attribute(p, "address", addr);
	if (req->sni && req->sni[0])
		xmpp_stanza_set_attribute(p, "sni", req->sni);
	if (req->keys != PROBE_KEYS_ANY)
		xmpp_stanza_set_attribute(
		    p, "key-type",
		    req->keys == PROBE_KEYS_RSA ? "rsa" : "ecdsa");
	return p;
}

/* A host name attribute into its A-label. */
static int
req_name(xmpp_stanza_t *p, const char *attr, char *a, size_t alen, char *u,
	 size_t ulen, char *why, size_t whylen)
{
	const char *v = xmpp_stanza_get_attribute(p, attr);
	struct domain_name dn;
	char err[128];

	if (v == NULL || names_domain(v, strlen(v), &dn, err, sizeof(err)) < 0)
		return fail(why, whylen, "bad or missing %s", attr);
	snprintf(a, alen, "%s", dn.a);
	if (u)
		snprintf(u, ulen, "%s", dn.u);
	return 0;
}

int
vantage_req_parse(xmpp_stanza_t *p, struct vantage_req *out, char *why,
		  size_t whylen)
{
	const char *svc = xmpp_stanza_get_attribute(p, "service");
	const char *tls = xmpp_stanza_get_attribute(p, "tls");
	const char *addr = xmpp_stanza_get_attribute(p, "address");
	const char *kt = xmpp_stanza_get_attribute(p, "key-type");
	unsigned long port;
	int s;

	memset(out, 0, sizeof(*out));
	if (!is_ns(p, "probe"))
		return fail(why, whylen, "%s", "not a probe element");
	for (s = 0; s < 4 && (svc == NULL || strcmp(svc, services[s])); s++)
		;
	if (s == 4)
		return fail(why, whylen, "bad or missing %s", "service");
	out->server = s >= 2;
	out->tls = (s & 1) ? PROBE_DIRECT : PROBE_STARTTLS;
	if (tls == NULL ||
	    strcmp(tls, out->tls == PROBE_DIRECT ? "direct" : "starttls"))
		return fail(why, whylen, "bad or missing %s", "tls");
	if (read_uint(xmpp_stanza_get_attribute(p, "port"), 1, 65535, &port) <
	    0)
		return fail(why, whylen, "bad or missing %s", "port");
	out->port = (uint16_t)port;
	if (req_name(p, "host", out->host, sizeof(out->host), NULL, 0, why,
		     whylen) < 0)
		return -1;
	{
		char a[DNS_NAME_MAX + 1];
		if (req_name(p, "to", a, sizeof(a), out->to, sizeof(out->to),
			     why, whylen) < 0)
			return -1;
	}
	if (xmpp_stanza_get_attribute(p, "sni") &&
	    req_name(p, "sni", out->sni, sizeof(out->sni), NULL, 0, why,
		     whylen) < 0)
		return -1;
	if (addr == NULL || strlen(addr) >= sizeof(out->address))
		return fail(why, whylen, "bad or missing %s", "address");
	if (inet_pton(AF_INET, addr, out->addr.addr) == 1)
		out->addr.family = AF_INET;
	else if (inet_pton(AF_INET6, addr, out->addr.addr) == 1)
		out->addr.family = AF_INET6;
	else
		return fail(why, whylen, "bad or missing %s", "address");
	snprintf(out->address, sizeof(out->address), "%s", addr);
	if (kt == NULL)
		out->keys = PROBE_KEYS_ANY;
	else if (!strcmp(kt, "rsa"))
		out->keys = PROBE_KEYS_RSA;
	else if (!strcmp(kt, "ecdsa"))
		out->keys = PROBE_KEYS_EC;
	else
		return fail(why, whylen, "bad %s", "key-type");
	return 0;
}

void
vantage_req_probe(const struct vantage_req *vr, struct probe_req *req)
{
	memset(req, 0, sizeof(*req));
	req->host = vr->host;
	req->port = vr->port;
	req->stream_to = vr->to;
	req->sni = vr->sni;
	req->server = vr->server;
	req->tls = vr->tls;
	req->keys = vr->keys;
	req->addrs = &vr->addr;
	req->naddrs = 1;
}

/* ---- the answer ------------------------------------------------------- */

static void
hash_hex(const uint8_t *der, size_t len, char out[65])
{
	uint8_t h[32];

	out[0] = '\0';
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, der, len, h) == 0)
		dane_hex(h, 32, out);
}

xmpp_stanza_t *
vantage_ans_build(xmpp_ctx_t *ctx, const struct probe_result *res, time_t at)
{
	xmpp_stanza_t *r = elem(ctx, "result", VANTAGE_NS), *e;
	char num[24];
	size_t total = 0;

	xmpp_stanza_set_attribute(r, "outcome", res->ok ? "chain" : "failed");
	if (!res->ok)
		xmpp_stanza_set_attribute(r, "step",
					  probe_step_name(res->fail_step)
					      ? probe_step_name(res->fail_step)
					      : "tcp");
	if (res->tls_refused)
		xmpp_stanza_set_attribute(r, "tls-refused", "true");
	if (res->key_refused)
		xmpp_stanza_set_attribute(r, "key-refused", "true");
	if (res->tls_version[0])
		xmpp_stanza_set_attribute(r, "tls-version", res->tls_version);
	snprintf(num, sizeof(num), "%u", (unsigned)res->elapsed_ms);
	xmpp_stanza_set_attribute(r, "elapsed-ms", num);
	snprintf(num, sizeof(num), "%lld", (long long)at);
	xmpp_stanza_set_attribute(r, "at", num);
	if (res->reason[0]) {
		char words[VANTAGE_MAX_REASON + 1];
		snprintf(words, sizeof(words), "%s", res->reason);
		e = elem(ctx, "reason", NULL);
		add_text(ctx, e, words);
		xmpp_stanza_add_child(r, e);
		xmpp_stanza_release(e);
	}
	for (size_t i = 0; res->ok && i < res->nchain && i < VANTAGE_MAX_CERTS;
	     i++) {
		const struct probe_cert *c = &res->chain[i];
		struct buf b64 = BUF_INIT;
		char hex[65];
		uint8_t spki[32];
		if (c->len > VANTAGE_MAX_CERT ||
		    total + c->len > VANTAGE_MAX_CHAIN) {
			xmpp_stanza_set_attribute(r, "chain-cut", "true");
			break;
		}
		total += c->len;
		e = elem(ctx, "cert", NULL);
		hash_hex(c->der, c->len, hex);
		xmpp_stanza_set_attribute(e, "sha256", hex);
		if (i == 0 && dane_spki_sha256(c->der, c->len, spki) == 0) {
			/* Informative: the asker computes its own. */
			dane_hex(spki, 32, hex);
			xmpp_stanza_set_attribute(e, "spki-sha256", hex);
		}
		b64_encode(c->der, c->len, &b64);
		add_text(ctx, e, b64.s);
		buf_free(&b64);
		xmpp_stanza_add_child(r, e);
		xmpp_stanza_release(e);
	}
	return r;
}

/* One <cert/> into the result's chain. */
static int
ans_cert(xmpp_stanza_t *e, struct probe_result *r, size_t *total, char *why,
	 size_t whylen)
{
	static char text[VANTAGE_MAX_CERT * 2]; /* base64 and white space */
	const char *claim = xmpp_stanza_get_attribute(e, "sha256");
	uint8_t *der;
	long tl, n;
	char hex[65];

	if (r->nchain >= VANTAGE_MAX_CERTS)
		return fail(why, whylen, "more than %s certificates", "10");
	tl = elem_text(e, text, sizeof(text) - 1);
	if (tl < 0)
		return fail(why, whylen, "%s", "a certificate over the bound");
	der = malloc(VANTAGE_MAX_CERT);
	if (der == NULL)
		return fail(why, whylen, "%s", "out of memory");
	n = b64_decode(text, (size_t)tl, der, VANTAGE_MAX_CERT);
	if (n <= 0 || *total + (size_t)n > VANTAGE_MAX_CHAIN) {
		free(der);
		return fail(why, whylen, "%s",
			    n <= 0 ? "a certificate that is "
				     "not base64"
				   : "a chain over the bound");
	}
	hash_hex(der, (size_t)n, hex);
	if (claim == NULL || strcmp(claim, hex)) {
		free(der);
		return fail(why, whylen, "%s",
			    "a certificate whose sha256 is "
			    "not the one claimed");
	}
	*total += (size_t)n;
	r->chain[r->nchain].der = der;
	r->chain[r->nchain].len = (size_t)n;
	r->nchain++;
	return 0;
}

static int
ans_step(const char *s, struct probe_result *r)
{
	static const enum probe_step ok[] = {
	    PROBE_STEP_TOR, PROBE_STEP_TCP, PROBE_STEP_STREAM,
	    PROBE_STEP_STARTTLS, PROBE_STEP_TLS};

	for (size_t i = 0; s && i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!strcmp(s, probe_step_name(ok[i]))) {
			r->fail_step = ok[i];
			return 0;
		}
	return -1;
}

static int
ans_fill(xmpp_stanza_t *res, struct probe_result *r, char *why, size_t whylen)
{
	const char *outcome = xmpp_stanza_get_attribute(res, "outcome");
	const char *ver = xmpp_stanza_get_attribute(res, "tls-version");
	unsigned long ms, at;
	size_t total = 0;
	int b;

	if (!is_ns(res, "result"))
		return fail(why, whylen, "%s", "no result element");
	if (outcome == NULL ||
	    (strcmp(outcome, "chain") && strcmp(outcome, "failed")))
		return fail(why, whylen, "bad or missing %s", "outcome");
	r->ok = !strcmp(outcome, "chain");
	if (!r->ok && ans_step(xmpp_stanza_get_attribute(res, "step"), r) < 0)
		return fail(why, whylen, "bad or missing %s", "step");
	if (r->ok && xmpp_stanza_get_attribute(res, "step"))
		return fail(why, whylen, "%s", "a step with a chain");
	if ((b = read_bool(res, "tls-refused")) < 0)
		return fail(why, whylen, "bad %s", "tls-refused");
	r->tls_refused = b && !r->ok;
	if ((b = read_bool(res, "key-refused")) < 0)
		return fail(why, whylen, "bad %s", "key-refused");
	r->key_refused = b && r->ok;
	if ((b = read_bool(res, "chain-cut")) < 0)
		return fail(why, whylen, "bad %s", "chain-cut");
	r->chain_cut = b && r->ok;
	if (read_uint(xmpp_stanza_get_attribute(res, "elapsed-ms"), 0, 3600000,
		      &ms) < 0)
		return fail(why, whylen, "bad or missing %s", "elapsed-ms");
	r->elapsed_ms = (uint32_t)ms;
	if (read_uint(xmpp_stanza_get_attribute(res, "at"), 0, 9999999999UL,
		      &at) < 0)
		return fail(why, whylen, "bad or missing %s", "at");
	if (ver) {
		if (strlen(ver) >= sizeof(r->tls_version) ||
		    strncmp(ver, "TLS1.", 5) || strspn(ver + 5, "0123") != 1 ||
		    ver[6] != '\0')
			return fail(why, whylen, "bad %s", "tls-version");
		snprintf(r->tls_version, sizeof(r->tls_version), "%s", ver);
	}
	r->chain = calloc(VANTAGE_MAX_CERTS, sizeof(*r->chain));
	if (r->chain == NULL)
		return fail(why, whylen, "%s", "out of memory");
	for (xmpp_stanza_t *e = xmpp_stanza_get_children(res); e;
	     e = xmpp_stanza_get_next(e)) {
		const char *name = xmpp_stanza_get_name(e);
		if (xmpp_stanza_is_text(e))
			continue;
		if (name && !strcmp(name, "cert")) {
			if (ans_cert(e, r, &total, why, whylen) < 0)
				return -1;
		} else if (name && !strcmp(name, "reason")) {
			char words[VANTAGE_MAX_REASON + 1];
			if (elem_text(e, words, sizeof(words) - 1) < 0)
				return fail(why, whylen, "%s",
					    "a reason over the bound");
			for (char *w = words; *w; w++)
				if ((unsigned char)*w < ' ')
					*w = ' ';
			snprintf(r->reason, sizeof(r->reason), "%s", words);
		} else {
			return fail(why, whylen, "%s", "an unknown element");
		}
	}
	if (r->ok && r->nchain == 0)
		return fail(why, whylen, "%s", "a chain with no certificate");
	if (!r->ok && r->nchain > 0)
		return fail(why, whylen, "%s", "certificates with a failure");
	return 0;
}

struct probe_result *
vantage_ans_parse(xmpp_stanza_t *res, char *why, size_t whylen)
{
	struct probe_result *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	if (ans_fill(res, r, why, whylen) < 0) {
		probe_result_free(r);
		return NULL;
	}
	return r;
}
