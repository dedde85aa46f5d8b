/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_dns.c - the DNS wire parser on hand-built and hostile packets, and
 * dns_lookup() through libunbound against a tiny fake server on loopback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "tests/cw_skip.h"
#include <event2/event.h>

#include "dns/dns.h"

/* ---- packet builder ---------------------------------------------------- */

struct pb {
	uint8_t b[65535];
	size_t n;
	size_t rdlen_at;
};

static void
u8(struct pb *p, unsigned v)
{
	assert_true(p->n < sizeof(p->b));
	p->b[p->n++] = (uint8_t)v;
}

static void
u16(struct pb *p, unsigned v)
{
	u8(p, v >> 8);
	u8(p, v & 0xff);
}

static void
u32(struct pb *p, uint32_t v)
{
	u16(p, v >> 16);
	u16(p, v & 0xffff);
}

static void
raw(struct pb *p, const void *d, size_t n)
{
	assert_true(p->n + n <= sizeof(p->b));
	memcpy(p->b + p->n, d, n);
	p->n += n;
}

/* Writes the labels of dotted `text` ("" for none); no terminator. */
static void
labels(struct pb *p, const char *text)
{
	while (*text != '\0') {
		size_t l = strcspn(text, ".");

		u8(p, (unsigned)l);
		raw(p, text, l);
		text += l;
		if (*text == '.')
			text++;
	}
}

/* A whole uncompressed name; returns where it starts. */
static size_t
name(struct pb *p, const char *text)
{
	size_t at = p->n;

	labels(p, text);
	u8(p, 0);
	return at;
}

/* Labels then a compression pointer to `target`. */
static size_t
name_ptr(struct pb *p, const char *text, size_t target)
{
	size_t at = p->n;

	labels(p, text);
	u16(p, 0xc000 | (unsigned)target);
	return at;
}

static void
header(struct pb *p, unsigned rcode, unsigned qd, unsigned an, unsigned ns,
       unsigned ar)
{
	p->n = 0;
	u16(p, 0x1234);
	u16(p, 0x8180 | rcode); /* QR RD RA */
	u16(p, qd);
	u16(p, an);
	u16(p, ns);
	u16(p, ar);
}

static void
set_count(struct pb *p, int section, unsigned v)
{
	p->b[4 + 2 * section] = (uint8_t)(v >> 8);
	p->b[5 + 2 * section] = (uint8_t)v;
}

static void
question(struct pb *p, const char *qname, unsigned qtype)
{
	name(p, qname);
	u16(p, qtype);
	u16(p, 1);
}

/* Owner already written; type, class IN, ttl, rdlength to be patched. */
static void
rr(struct pb *p, unsigned type, uint32_t ttl)
{
	u16(p, type);
	u16(p, 1);
	u32(p, ttl);
	p->rdlen_at = p->n;
	u16(p, 0);
}

static void
rr_end(struct pb *p)
{
	size_t l = p->n - p->rdlen_at - 2;

	p->b[p->rdlen_at] = (uint8_t)(l >> 8);
	p->b[p->rdlen_at + 1] = (uint8_t)l;
}

static int
parse(const struct pb *p, unsigned qtype, struct dns_answer *a)
{
	char err[128];
	/* an exact-size heap copy, so that the sanitizer sees any over-read */
	uint8_t *copy = malloc(p->n ? p->n : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, p->b, p->n);
	memset(a, 0, sizeof(*a));
	err[0] = '\0';
	r = dns_parse_response(copy, p->n, (uint16_t)qtype, a, err,
			       sizeof(err));
	if (r < 0)
		assert_true(err[0] != '\0');
	free(copy);
	return r;
}

/* ---- sample packets ---------------------------------------------------- */

static const uint8_t digest[32] = {
    0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
    0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11,
    0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0xff,
};

/* _xmpp-client._tcp.Example.ORG SRV, compressed owners and targets */
static void
build_srv(struct pb *p)
{
	size_t t;

	header(p, 0, 1, 3, 0, 1);
	question(p, "_xmpp-client._tcp.Example.ORG", DNS_T_SRV);
	/* the domain part of the question starts after two labels */
	size_t dom = 12 + 1 + 12 + 1 + 4;

	name_ptr(p, "", 12);
	rr(p, DNS_T_SRV, 3600);
	u16(p, 10);
	u16(p, 20);
	u16(p, 5222);
	t = p->n;
	name_ptr(p, "XMPP", dom);
	rr_end(p);

	name_ptr(p, "", 12);
	rr(p, DNS_T_SRV, 300);
	u16(p, 20);
	u16(p, 0);
	u16(p, 5223);
	name_ptr(p, "backup", t); /* backup.xmpp.example.org */
	rr_end(p);

	/* an RRSIG at the same owner is skipped */
	name_ptr(p, "", 12);
	rr(p, 46, 3600);
	raw(p, "\x00\x21\x0d\x04", 4);
	rr_end(p);

	/* additional: an OPT record */
	u8(p, 0);
	u16(p, 41);
	u16(p, 1232);
	u32(p, 0x8000);
	u16(p, 0);
}

static void
build_tlsa(struct pb *p)
{
	header(p, 0, 1, 1, 0, 0);
	question(p, "_5222._tcp.xmpp.example.org", DNS_T_TLSA);
	name_ptr(p, "", 12);
	rr(p, DNS_T_TLSA, 600);
	u8(p, 3);
	u8(p, 1);
	u8(p, 1);
	raw(p, digest, sizeof(digest));
	rr_end(p);
}

/* a -> b -> c (CNAMEs, out of order), A at c, noise at other names */
static void
build_chain(struct pb *p, unsigned rcode, int with_a)
{
	size_t b, c;

	header(p, rcode, 1, 0, 0, 0);
	question(p, "a.example", DNS_T_A);
	unsigned an = 0;

	b = p->n;
	name(p, "b.example");
	rr(p, DNS_T_CNAME, 50);
	c = p->n;
	name(p, "C.example");
	rr_end(p);
	an++;
	if (with_a) {
		name_ptr(p, "", c);
		rr(p, DNS_T_A, 40);
		raw(p, "\xc0\x00\x02\x01", 4);
		rr_end(p);
		an++;
	}
	name_ptr(p, "", 12);
	rr(p, DNS_T_CNAME, 60);
	name_ptr(p, "", b);
	rr_end(p);
	an++;
	/* an A record at the question name's *alias source* is no answer */
	name(p, "other.example");
	rr(p, DNS_T_A, 1);
	raw(p, "\x0a\x00\x00\x01", 4);
	rr_end(p);
	an++;
	set_count(p, 1, an);
}

static void
build_aaaa(struct pb *p)
{
	header(p, 0, 1, 2, 0, 0);
	question(p, "host.example", DNS_T_AAAA);
	for (int i = 0; i < 2; i++) {
		name_ptr(p, "", 12);
		rr(p, DNS_T_AAAA, 100 + (uint32_t)i);
		raw(p,
		    "\x20\x01\x0d\xb8\x00\x00\x00\x00"
		    "\x00\x00\x00\x00\x00\x00\x00",
		    15);
		u8(p, (unsigned)i + 1);
		rr_end(p);
	}
}

/* NOERROR, no answer, SOA in authority */
static void
build_nodata(struct pb *p, unsigned rcode)
{
	size_t zone;

	header(p, rcode, 1, 0, 1, 0);
	question(p, "_xmpps-client._tcp.example.org", DNS_T_SRV);
	zone = 12 + 1 + 13 + 1 + 4;
	name_ptr(p, "", zone);
	rr(p, 6, 3600);
	name_ptr(p, "ns1", zone);
	name_ptr(p, "hostmaster", zone);
	u32(p, 2024010101);
	u32(p, 7200);
	u32(p, 3600);
	u32(p, 1209600);
	u32(p, 900); /* minimum: the negative TTL */
	rr_end(p);
}

/* ---- parser tests ------------------------------------------------------ */

static void
test_srv(void **state)
{
	struct pb p;
	struct dns_answer a;

	(void)state;
	build_srv(&p);
	assert_int_equal(parse(&p, DNS_T_SRV, &a), 0);
	assert_int_equal(a.status, DNS_ANSWER);
	assert_int_equal(a.n, 2);
	assert_non_null(a.srv);
	assert_int_equal(a.srv[0].priority, 10);
	assert_int_equal(a.srv[0].weight, 20);
	assert_int_equal(a.srv[0].port, 5222);
	assert_string_equal(a.srv[0].target, "xmpp.example.org");
	assert_int_equal(a.srv[1].port, 5223);
	assert_string_equal(a.srv[1].target, "backup.xmpp.example.org");
	assert_int_equal(a.ttl, 300);
	assert_int_equal(a.aliased, 0);
	assert_null(a.tlsa);
	assert_null(a.addr);
	dns_answer_clear(&a);
	assert_null(a.srv);

	/* asked for another type than the question: refused */
	assert_int_equal(parse(&p, DNS_T_TLSA, &a), -1);
	assert_int_equal(a.status, DNS_ERROR);
	dns_answer_clear(&a);
}

static void
test_srv_root_and_escapes(void **state)
{
	struct pb p;
	struct dns_answer a;

	(void)state;
	header(&p, 0, 1, 2, 0, 0);
	question(&p, "_xmpps-server._tcp.example.org", DNS_T_SRV);
	name_ptr(&p, "", 12);
	rr(&p, DNS_T_SRV, 100);
	u16(&p, 0);
	u16(&p, 0);
	u16(&p, 0);
	u8(&p, 0);
	rr_end(&p);
	name_ptr(&p, "", 12);
	rr(&p, DNS_T_SRV, 100);
	u16(&p, 1);
	u16(&p, 1);
	u16(&p, 5269);
	raw(&p,
	    "\x04"
	    "A.b\x01"
	    "\x07"
	    "example"
	    "\x00",
	    14);
	rr_end(&p);
	assert_int_equal(parse(&p, DNS_T_SRV, &a), 0);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.srv[0].target, ".");
	/* a dot inside a label cannot pose as a label boundary */
	assert_string_equal(a.srv[1].target, "a\\.b\\001.example");
	dns_answer_clear(&a);
}

static void
test_tlsa(void **state)
{
	struct pb p;
	struct dns_answer a;
	char buf[100], small[20];

	(void)state;
	build_tlsa(&p);
	assert_int_equal(parse(&p, DNS_T_TLSA, &a), 0);
	assert_int_equal(a.status, DNS_ANSWER);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.tlsa[0].usage, 3);
	assert_int_equal(a.tlsa[0].selector, 1);
	assert_int_equal(a.tlsa[0].mtype, 1);
	assert_int_equal(a.tlsa[0].len, 32);
	assert_memory_equal(a.tlsa[0].data, digest, 32);
	assert_int_equal(a.ttl, 600);
	assert_string_equal(dns_tlsa_format(&a.tlsa[0], buf, sizeof(buf)),
			    "3 1 1 deadbeef000102030405060708090a0b0c0d0e0f"
			    "101112131415161718191aff");
	/* never a cut-off digest */
	assert_string_equal(dns_tlsa_format(&a.tlsa[0], small, sizeof(small)),
			    "");
	dns_answer_clear(&a);
}

static void
test_addresses(void **state)
{
	struct pb p;
	struct dns_answer a;

	(void)state;
	build_chain(&p, 0, 1);
	assert_int_equal(parse(&p, DNS_T_A, &a), 0);
	assert_int_equal(a.status, DNS_ANSWER);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.addr[0].family, AF_INET);
	assert_memory_equal(a.addr[0].addr, "\xc0\x00\x02\x01", 4);
	assert_int_equal(a.aliased, 1);
	assert_string_equal(a.cname, "c.example");
	assert_int_equal(a.ttl, 40);
	dns_answer_clear(&a);

	build_aaaa(&p);
	assert_int_equal(parse(&p, DNS_T_AAAA, &a), 0);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.addr[1].family, AF_INET6);
	assert_int_equal(a.addr[1].addr[15], 2);
	assert_int_equal(a.addr[0].addr[0], 0x20);
	assert_int_equal(a.ttl, 100);
	assert_int_equal(a.aliased, 0);
	dns_answer_clear(&a);
}

static void
test_chain_ends(void **state)
{
	struct pb p;
	struct dns_answer a;

	(void)state;
	/* the chain leads nowhere: NODATA at the canonical name */
	build_chain(&p, 0, 0);
	assert_int_equal(parse(&p, DNS_T_A, &a), 0);
	assert_int_equal(a.status, DNS_NODATA);
	assert_int_equal(a.aliased, 1);
	assert_string_equal(a.cname, "c.example");
	assert_int_equal(a.n, 0);
	dns_answer_clear(&a);

	/* NXDOMAIN reached through a CNAME */
	build_chain(&p, 3, 0);
	assert_int_equal(parse(&p, DNS_T_A, &a), 0);
	assert_int_equal(a.status, DNS_NXDOMAIN);
	assert_int_equal(a.aliased, 1);
	assert_string_equal(a.cname, "c.example");
	dns_answer_clear(&a);
}

static void
test_dname(void **state)
{
	struct pb p;
	struct dns_answer a;
	size_t owner;

	(void)state;
	header(&p, 0, 1, 2, 0, 0);
	question(&p, "_5222._tcp.x.a.example", DNS_T_TLSA);
	owner = 12 + 6 + 5 + 2; /* "a.example" inside the question */
	name_ptr(&p, "", owner);
	rr(&p, DNS_T_DNAME, 70);
	name(&p, "b.example");
	rr_end(&p);
	name(&p, "_5222._tcp.x.b.example");
	rr(&p, DNS_T_TLSA, 80);
	raw(&p, "\x02\x00\x01", 3);
	raw(&p, digest, 4);
	rr_end(&p);
	assert_int_equal(parse(&p, DNS_T_TLSA, &a), 0);
	assert_int_equal(a.status, DNS_ANSWER);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.tlsa[0].usage, 2);
	assert_int_equal(a.tlsa[0].len, 4);
	assert_int_equal(a.aliased, 1);
	assert_string_equal(a.cname, "_5222._tcp.x.b.example");
	assert_int_equal(a.ttl, 70);
	dns_answer_clear(&a);

	/* a DNAME at the name itself does not redirect it */
	header(&p, 0, 1, 1, 0, 0);
	question(&p, "a.example", DNS_T_A);
	name_ptr(&p, "", 12);
	rr(&p, DNS_T_DNAME, 70);
	name(&p, "b.example");
	rr_end(&p);
	assert_int_equal(parse(&p, DNS_T_A, &a), 0);
	assert_int_equal(a.status, DNS_NODATA);
	assert_int_equal(a.aliased, 0);
	dns_answer_clear(&a);
}

static void
test_negative(void **state)
{
	struct pb p;
	struct dns_answer a;

	(void)state;
	build_nodata(&p, 0);
	assert_int_equal(parse(&p, DNS_T_SRV, &a), 0);
	assert_int_equal(a.status, DNS_NODATA);
	assert_int_equal(a.n, 0);
	assert_null(a.srv);
	assert_int_equal(a.ttl, 900);
	dns_answer_clear(&a);

	build_nodata(&p, 3);
	assert_int_equal(parse(&p, DNS_T_SRV, &a), 0);
	assert_int_equal(a.status, DNS_NXDOMAIN);
	assert_int_equal(a.aliased, 0);
	dns_answer_clear(&a);

	/* a bare header with a question and nothing else */
	header(&p, 3, 1, 0, 0, 0);
	question(&p, "nope.example", DNS_T_A);
	assert_int_equal(parse(&p, DNS_T_A, &a), 0);
	assert_int_equal(a.status, DNS_NXDOMAIN);
	assert_int_equal(a.ttl, 0);
	dns_answer_clear(&a);

	/* records of the type, but of another class: no data */
	header(&p, 0, 1, 1, 0, 0);
	question(&p, "host.example", DNS_T_A);
	name_ptr(&p, "", 12);
	u16(&p, DNS_T_A);
	u16(&p, 3); /* CH */
	u32(&p, 5);
	u16(&p, 4);
	raw(&p, "\x01\x02\x03\x04", 4);
	assert_int_equal(parse(&p, DNS_T_A, &a), 0);
	assert_int_equal(a.status, DNS_NODATA);
	dns_answer_clear(&a);
}

static void
test_failures(void **state)
{
	static const unsigned codes[] = {1, 2, 4, 5, 9, 15};
	struct pb p;
	struct dns_answer a;

	(void)state;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		build_srv(&p);
		p.b[3] = (uint8_t)((p.b[3] & 0xf0) | codes[i]);
		assert_int_equal(parse(&p, DNS_T_SRV, &a), 0);
		assert_int_equal(a.status, DNS_SERVFAIL);
		assert_int_equal(a.n, 0);
		assert_null(a.srv);
		assert_true(a.error[0] != '\0');
		dns_answer_clear(&a);
	}
	/* a SERVFAIL needs nothing past its header */
	header(&p, 2, 0, 0, 0, 0);
	assert_int_equal(parse(&p, DNS_T_A, &a), 0);
	assert_int_equal(a.status, DNS_SERVFAIL);
	assert_non_null(strstr(a.error, "SERVFAIL"));
	dns_answer_clear(&a);
	/* but a NOERROR without a question is not an answer */
	header(&p, 0, 0, 0, 0, 0);
	assert_int_equal(parse(&p, DNS_T_A, &a), -1);
	dns_answer_clear(&a);
}

typedef void (*builder)(struct pb *);

static void
build_chain_a(struct pb *p)
{
	build_chain(p, 0, 1);
}

static void
build_nodata0(struct pb *p)
{
	build_nodata(p, 0);
}

static const struct {
	builder fn;
	unsigned qtype;
} samples[] = {
    {build_srv, DNS_T_SRV},	{build_tlsa, DNS_T_TLSA},
    {build_chain_a, DNS_T_A},	{build_aaaa, DNS_T_AAAA},
    {build_nodata0, DNS_T_SRV},
};

static void
test_truncated(void **state)
{
	struct pb *p = malloc(sizeof(*p));
	struct dns_answer a;

	(void)state;
	assert_non_null(p);
	for (size_t s = 0; s < sizeof(samples) / sizeof(samples[0]); s++) {
		size_t full;

		samples[s].fn(p);
		full = p->n;
		assert_int_equal(parse(p, samples[s].qtype, &a), 0);
		dns_answer_clear(&a);
		/* every section is checked: no prefix is a whole packet */
		for (size_t len = 0; len < full; len++) {
			p->n = len;
			assert_int_equal(parse(p, samples[s].qtype, &a), -1);
			assert_int_equal(a.n, 0);
			dns_answer_clear(&a);
		}
	}
	free(p);
}

static void
test_compression_loops(void **state)
{
	struct pb p;
	struct dns_answer a;
	size_t first, prev;

	(void)state;
	/* the question name points at itself */
	header(&p, 0, 1, 0, 0, 0);
	u16(&p, 0xc00c);
	u16(&p, DNS_T_A);
	u16(&p, 1);
	assert_int_equal(parse(&p, DNS_T_A, &a), -1);

	/* a forward pointer */
	header(&p, 0, 1, 0, 0, 0);
	u16(&p, 0xc00e);
	name(&p, "x");
	u16(&p, DNS_T_A);
	u16(&p, 1);
	assert_int_equal(parse(&p, DNS_T_A, &a), -1);

	/* two owners pointing at each other */
	header(&p, 0, 1, 2, 0, 0);
	question(&p, "x.example", DNS_T_A);
	first = p.n;
	u16(&p, 0xc000 | (unsigned)(first + 16));
	rr(&p, DNS_T_A, 1);
	raw(&p, "\x01\x02\x03\x04", 4);
	rr_end(&p);
	assert_int_equal(p.n, first + 16);
	u16(&p, 0xc000 | (unsigned)first);
	rr(&p, DNS_T_A, 1);
	raw(&p, "\x01\x02\x03\x04", 4);
	rr_end(&p);
	assert_int_equal(parse(&p, DNS_T_A, &a), -1);

	/* a pointer beyond the end of the packet */
	header(&p, 0, 1, 1, 0, 0);
	question(&p, "x.example", DNS_T_A);
	u16(&p, 0xc000 | 0x3fff);
	rr(&p, DNS_T_A, 1);
	raw(&p, "\x01\x02\x03\x04", 4);
	rr_end(&p);
	assert_int_equal(parse(&p, DNS_T_A, &a), -1);

	/* a label type 0x40 (extended) */
	header(&p, 0, 1, 0, 0, 0);
	raw(&p, "\x41x\x00", 3);
	u16(&p, DNS_T_A);
	u16(&p, 1);
	assert_int_equal(parse(&p, DNS_T_A, &a), -1);

	/* pointers to pointers, backwards: fine up to a limit */
	for (int hops = 100; hops <= 200; hops += 100) {
		header(&p, 0, 1, 2, 0, 0);
		question(&p, "x.example", DNS_T_A);
		name(&p, "pad");
		rr(&p, 99, 1); /* opaque rdata holding the chain */
		prev = p.n;
		u8(&p, 0);
		for (int i = 0; i < hops; i++) {
			size_t here = p.n;

			u16(&p, 0xc000 | (unsigned)prev);
			prev = here;
		}
		rr_end(&p);
		name_ptr(&p, "", prev);
		rr(&p, DNS_T_A, 1);
		raw(&p, "\x01\x02\x03\x04", 4);
		rr_end(&p);
		assert_int_equal(parse(&p, DNS_T_A, &a), hops == 100 ? 0 : -1);
		if (hops == 100)
			assert_int_equal(a.status, DNS_NODATA);
		dns_answer_clear(&a);
	}

	/* backward pointers adding up to a name of more than 255 bytes */
	{
		char l63[64];

		memset(l63, 'a', 63);
		l63[63] = '\0';
		header(&p, 0, 1, 1, 0, 0);
		question(&p, "x.example", DNS_T_A);
		name(&p, "pad");
		rr(&p, 99, 1);
		prev = p.n;
		name(&p, l63);
		for (int i = 0; i < 4; i++) {
			size_t here = p.n;

			name_ptr(&p, l63, prev);
			prev = here;
		}
		rr_end(&p);
		assert_int_equal(parse(&p, DNS_T_A, &a), 0); /* unread */
		dns_answer_clear(&a);
		set_count(&p, 1, 2);
		name_ptr(&p, "", prev);
		rr(&p, DNS_T_A, 1);
		raw(&p, "\x01\x02\x03\x04", 4);
		rr_end(&p);
		assert_int_equal(parse(&p, DNS_T_A, &a), -1);
	}

	/* CNAMEs in a circle */
	header(&p, 0, 1, 2, 0, 0);
	question(&p, "a.example", DNS_T_A);
	first = p.n;
	name_ptr(&p, "", 12);
	rr(&p, DNS_T_CNAME, 1);
	size_t b = p.n;
	name(&p, "b.example");
	rr_end(&p);
	name_ptr(&p, "", b);
	rr(&p, DNS_T_CNAME, 1);
	name_ptr(&p, "", 12);
	rr_end(&p);
	assert_int_equal(parse(&p, DNS_T_A, &a), -1);
	(void)first;
}

static void
test_lying_rdlength(void **state)
{
	struct pb p;
	struct dns_answer a;

	(void)state;
	/* rdlength beyond the packet */
	build_tlsa(&p);
	p.b[p.rdlen_at + 1]++;
	assert_int_equal(parse(&p, DNS_T_TLSA, &a), -1);

	/* TLSA too short to hold its three fields */
	header(&p, 0, 1, 1, 0, 0);
	question(&p, "_1._tcp.x", DNS_T_TLSA);
	name_ptr(&p, "", 12);
	rr(&p, DNS_T_TLSA, 1);
	raw(&p, "\x03\x01", 2);
	rr_end(&p);
	assert_int_equal(parse(&p, DNS_T_TLSA, &a), -1);

	/* A with five bytes */
	header(&p, 0, 1, 1, 0, 0);
	question(&p, "x", DNS_T_A);
	name_ptr(&p, "", 12);
	rr(&p, DNS_T_A, 1);
	raw(&p, "\x01\x02\x03\x04\x05", 5);
	rr_end(&p);
	assert_int_equal(parse(&p, DNS_T_A, &a), -1);

	/* SRV whose target runs past its rdata (rdlength too small) */
	header(&p, 0, 1, 2, 0, 0);
	question(&p, "_s._tcp.x", DNS_T_SRV);
	name_ptr(&p, "", 12);
	rr(&p, DNS_T_SRV, 1);
	raw(&p, "\x00\x01\x00\x01\x00\x01", 6);
	name(&p, "target.example");
	rr_end(&p);
	p.b[p.rdlen_at + 1] = 6 + 4;
	/* the rest of the name now reads as the next record: make it one */
	size_t keep = p.n;
	p.n = p.rdlen_at + 2 + 10;
	assert_int_equal(parse(&p, DNS_T_SRV, &a), -1);
	p.n = keep;
	assert_int_equal(parse(&p, DNS_T_SRV, &a), -1);

	/* SRV with a byte after its target, inside the rdata */
	header(&p, 0, 1, 1, 0, 0);
	question(&p, "_s._tcp.x", DNS_T_SRV);
	name_ptr(&p, "", 12);
	rr(&p, DNS_T_SRV, 1);
	raw(&p, "\x00\x01\x00\x01\x00\x01", 6);
	name(&p, "target.example");
	u8(&p, 0);
	rr_end(&p);
	assert_int_equal(parse(&p, DNS_T_SRV, &a), -1);

	/* CNAME whose target does not fill its rdata */
	header(&p, 0, 1, 1, 0, 0);
	question(&p, "x", DNS_T_A);
	name_ptr(&p, "", 12);
	rr(&p, DNS_T_CNAME, 1);
	name(&p, "y");
	u8(&p, 7);
	rr_end(&p);
	assert_int_equal(parse(&p, DNS_T_A, &a), -1);

	/* an answer count far above what the packet holds */
	build_srv(&p);
	set_count(&p, 1, 65535);
	assert_int_equal(parse(&p, DNS_T_SRV, &a), -1);
	dns_answer_clear(&a);
}

static void
test_many_records(void **state)
{
	struct pb *p = malloc(sizeof(*p));
	struct dns_answer a;
	unsigned an = 0;

	(void)state;
	assert_non_null(p);
	header(p, 0, 1, 0, 0, 0);
	question(p, "many.example", DNS_T_A);
	for (unsigned i = 0; i < 3000; i++) {
		name_ptr(p, "", 12);
		rr(p, i % 3 == 2 ? DNS_T_AAAA : DNS_T_A, 1000 + i);
		if (i % 3 == 2)
			raw(p, digest, 16);
		else
			u32(p, i);
		rr_end(p);
		an++;
	}
	set_count(p, 1, an);
	assert_int_equal(parse(p, DNS_T_A, &a), 0);
	assert_int_equal(a.n, 1024);
	assert_int_equal(a.addr[1023].family, AF_INET);
	assert_int_equal(a.addr[1].addr[3], 1);
	assert_int_equal(a.ttl, 1000);
	dns_answer_clear(&a);
	assert_int_equal(parse(p, DNS_T_AAAA, &a), -1); /* question is A */

	/* 1000 TLSA records, each with its own data */
	header(p, 0, 1, 1000, 0, 0);
	question(p, "_443._tcp.many.example", DNS_T_TLSA);
	for (unsigned i = 0; i < 1000; i++) {
		name_ptr(p, "", 12);
		rr(p, DNS_T_TLSA, 5);
		raw(p, "\x03\x01\x01", 3);
		u32(p, i);
		rr_end(p);
	}
	assert_int_equal(parse(p, DNS_T_TLSA, &a), 0);
	assert_int_equal(a.n, 1000);
	assert_int_equal(a.tlsa[999].data[3], 999 & 0xff);
	dns_answer_clear(&a);
	free(p);
}

/* TLSA and CAA come out in canonical order (RFC 4034 §6.3) whatever order
 * the server sent them in; SRV records keep theirs. */
static void
build_shuffled(struct pb *p, unsigned qtype, const unsigned *ord, unsigned n)
{
	header(p, 0, 1, n, 0, 0);
	question(p, "_5222._tcp.shuffle.example", qtype);
	for (unsigned i = 0; i < n; i++) {
		name_ptr(p, "", 12);
		rr(p, qtype, 60);
		if (qtype == DNS_T_TLSA) {
			raw(p, ord[i] == 2 ? "\x02\x00\x01" : "\x03\x01\x01",
			    3);
			u8(p, ord[i]);
		} else if (qtype == DNS_T_CAA) {
			u8(p, 0);
			u8(p, 5);
			raw(p, "issue", 5);
			/* "ca" is a prefix of "ca1": the shorter goes first */
			raw(p,
			    ord[i] == 0	  ? "ca"
			    : ord[i] == 1 ? "ca1"
					  : "cb",
			    ord[i] == 1 ? 3 : 2);
		} else {
			u16(p, 10);
			u16(p, 0);
			u16(p, 5222 + ord[i]);
			name(p, "x.example");
		}
		rr_end(p);
	}
}

static void
test_canonical_order(void **state)
{
	static const unsigned orders[][3] = {
	    {0, 1, 2}, {2, 1, 0}, {1, 2, 0}, {2, 0, 1}};
	struct pb *p = malloc(sizeof(*p));
	struct dns_answer a;

	(void)state;
	assert_non_null(p);
	for (size_t o = 0; o < sizeof(orders) / sizeof(orders[0]); o++) {
		build_shuffled(p, DNS_T_TLSA, orders[o], 3);
		assert_int_equal(parse(p, DNS_T_TLSA, &a), 0);
		assert_int_equal(a.n, 3);
		/* 3 1 1 00, 3 1 1 01 sort after 2 0 1 02 */
		assert_int_equal(a.tlsa[0].usage, 2);
		assert_int_equal(a.tlsa[1].data[0], 0);
		assert_int_equal(a.tlsa[2].data[0], 1);
		dns_answer_clear(&a);

		build_shuffled(p, DNS_T_CAA, orders[o], 3);
		assert_int_equal(parse(p, DNS_T_CAA, &a), 0);
		assert_int_equal(a.n, 3);
		assert_int_equal(a.rdata[0].len, 9);
		assert_memory_equal(a.rdata[0].data + 7, "ca", 2);
		assert_int_equal(a.rdata[1].len, 10);
		assert_memory_equal(a.rdata[1].data + 7, "ca1", 3);
		assert_memory_equal(a.rdata[2].data + 7, "cb", 2);
		dns_answer_clear(&a);

		build_shuffled(p, DNS_T_SRV, orders[o], 3);
		assert_int_equal(parse(p, DNS_T_SRV, &a), 0);
		assert_int_equal(a.n, 3);
		for (unsigned i = 0; i < 3; i++)
			assert_int_equal(a.srv[i].port, 5222 + orders[o][i]);
		dns_answer_clear(&a);
	}
	free(p);
}

/* Random damage to the samples: only 0 or -1, no crash, sane output. */
static void
test_mutations(void **state)
{
	struct pb *p = malloc(sizeof(*p));
	struct dns_answer a;
	unsigned seed = 12345;

	(void)state;
	assert_non_null(p);
	for (int round = 0; round < 40000; round++) {
		size_t s =
		    (size_t)round % (sizeof(samples) / sizeof(samples[0]));
		int r;

		samples[s].fn(p);
		for (int k = 0; k < 1 + round % 4; k++) {
			seed = seed * 1103515245u + 12345u;
			size_t at = (seed >> 8) % p->n;
			seed = seed * 1103515245u + 12345u;
			p->b[at] = (uint8_t)(seed >> 16);
		}
		if (round % 7 == 0)
			p->n -= (seed >> 4) % (p->n / 2 + 1);
		r = parse(p, samples[s].qtype, &a);
		assert_true(r == 0 || r == -1);
		if (r == 0) {
			assert_true(a.n <= 1024);
			assert_true(strlen(a.cname) <= DNS_NAME_MAX);
			for (size_t i = 0; a.srv != NULL && i < a.n; i++)
				assert_true(strlen(a.srv[i].target) > 0);
		}
		dns_answer_clear(&a);
	}
	free(p);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(dns_sec_name(DNS_SEC_SECURE), "secure");
	assert_string_equal(dns_sec_name(DNS_SEC_INSECURE), "insecure");
	assert_string_equal(dns_sec_name(DNS_SEC_BOGUS), "bogus");
	assert_null(dns_sec_name(DNS_SEC_NONE));
	assert_string_equal(dns_status_name(DNS_NXDOMAIN), "NXDOMAIN");
	assert_string_equal(dns_status_name(DNS_NODATA), "no records");
	assert_string_equal(dns_status_name(DNS_TIMEOUT), "timed out");
	assert_string_equal(dns_status_name(DNS_SERVFAIL), "SERVFAIL");
}

/* ---- packets captured from libunbound (tests/data/dns/README) -------- */

static const char *data_dir = "tests/data/dns";

static struct pb *
load(const char *file)
{
	char path[512];
	struct pb *p = malloc(sizeof(*p));
	FILE *f;

	assert_non_null(p);
	snprintf(path, sizeof(path), "%s/%s", data_dir, file);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	p->n = fread(p->b, 1, sizeof(p->b), f);
	fclose(f);
	assert_true(p->n > 12);
	return p;
}

static const struct {
	const char *file;
	unsigned qtype;
	enum dns_status status;
	size_t n;
	const char *cname; /* NULL: not aliased */
	uint32_t ttl;
} captured[] = {
    {"srv-secure.bin", DNS_T_SRV, DNS_ANSWER, 2, NULL, 300},
    {"srv-root-secure.bin", DNS_T_SRV, DNS_ANSWER, 1, NULL, 300},
    {"nxdomain-secure.bin", DNS_T_SRV, DNS_NXDOMAIN, 0, NULL, 60},
    {"nodata-secure.bin", DNS_T_TLSA, DNS_NODATA, 0, NULL, 60},
    {"tlsa-secure.bin", DNS_T_TLSA, DNS_ANSWER, 1, NULL, 300},
    {"cname-a-secure.bin", DNS_T_A, DNS_ANSWER, 1, "xmpp.example.test", 300},
    {"dname-aaaa-secure.bin", DNS_T_AAAA, DNS_ANSWER, 1, "xmpp.example.test",
     300},
    {"cname-nxdomain-secure.bin", DNS_T_A, DNS_NXDOMAIN, 0,
     "nothere.example.test", 60},
};

static void
test_captured(void **state)
{
	struct dns_answer a;
	char buf[200];

	(void)state;
	for (size_t i = 0; i < sizeof(captured) / sizeof(captured[0]); i++) {
		struct pb *p = load(captured[i].file);
		size_t full = p->n;

		assert_int_equal(parse(p, captured[i].qtype, &a), 0);
		assert_int_equal(a.status, captured[i].status);
		assert_int_equal(a.n, captured[i].n);
		assert_int_equal(a.aliased, captured[i].cname != NULL);
		if (captured[i].cname != NULL)
			assert_string_equal(a.cname, captured[i].cname);
		assert_int_equal(a.ttl, captured[i].ttl);
		if (strcmp(captured[i].file, "srv-secure.bin") == 0) {
			int b = a.srv[0].priority == 0;

			assert_string_equal(a.srv[!b].target,
					    "xmpp.example.test");
			assert_string_equal(a.srv[b].target,
					    "backup.example.test");
			assert_int_equal(a.srv[b].port, 5222);
		}
		if (strcmp(captured[i].file, "srv-root-secure.bin") == 0)
			assert_string_equal(a.srv[0].target, ".");
		if (strcmp(captured[i].file, "tlsa-secure.bin") == 0)
			assert_string_equal(
			    dns_tlsa_format(&a.tlsa[0], buf, sizeof(buf)),
			    "3 1 1 0123456789abcdef0123456789abcdef"
			    "0123456789abcdef0123456789abcdef");
		if (strcmp(captured[i].file, "dname-aaaa-secure.bin") == 0)
			assert_memory_equal(a.addr[0].addr, "\x20\x01\x0d\xb8",
					    4);
		dns_answer_clear(&a);
		/* asked with another type than the question's */
		assert_int_equal(
		    parse(p,
			  captured[i].qtype == DNS_T_A ? DNS_T_AAAA : DNS_T_A,
			  &a),
		    -1);
		for (size_t len = 0; len < full; len++) {
			p->n = len;
			assert_int_equal(parse(p, captured[i].qtype, &a), -1);
		}
		free(p);
	}
}

/* Every single-byte change of every captured packet. */
static void
test_captured_flips(void **state)
{
	struct dns_answer a;

	(void)state;
	for (size_t i = 0; i < sizeof(captured) / sizeof(captured[0]); i++) {
		struct pb *p = load(captured[i].file);

		for (size_t at = 0; at < p->n; at++) {
			uint8_t keep = p->b[at];
			static const uint8_t vals[] = {0x00, 0xff, 0xc0,
						       0x3f, 0x01, 0x80};

			for (size_t v = 0; v < sizeof(vals); v++) {
				int r;

				p->b[at] =
				    vals[v] == keep ? keep ^ 0x55 : vals[v];
				r = parse(p, captured[i].qtype, &a);
				assert_true(r == 0 || r == -1);
				assert_true(a.n <= 1024);
				dns_answer_clear(&a);
			}
			p->b[at] = keep;
		}
		free(p);
	}
}

/* ---- dns_lookup() through libunbound ---------------------------------- */

struct seen {
	int calls;
	struct dns_answer *a;
	struct event_base *base;
};

static void
on_done(struct dns_answer *a, void *arg)
{
	struct seen *s = arg;

	s->calls++;
	if (s->a != NULL)
		dns_answer_free(s->a);
	s->a = a;
}

static void
never(struct dns_answer *a, void *arg)
{
	(void)arg;
	dns_answer_free(a);
	fail_msg("a cancelled look-up called back");
}

/* runs the loop for ms milliseconds, or until *calls reaches want */
static void
run_until(struct event_base *base, int *calls, int want, int ms)
{
	for (int t = 0; t < ms && *calls < want; t += 10) {
		struct timeval tv = {0, 10000};

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

/* A UDP socket on 127.0.0.1 with a free port. */
static int
udp_socket(int *port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* An unbound.conf fragment that lets libunbound use loopback servers. */
static char conf_path[64];

static void
write_conf(const char *extra)
{
	FILE *f;
	int fd;

	strcpy(conf_path, "/tmp/test_dns_conf.XXXXXX");
	fd = mkstemp(conf_path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fprintf(f, "server:\n  do-not-query-localhost: no\n%s", extra);
	fclose(f);
}

static struct dns_ctx *
new_ctx(struct event_base *base, int port, int ms, const char *extra)
{
	struct dns_config cfg = {0};
	char fwd[64], err[256];
	struct dns_ctx *ctx;

	write_conf(extra);
	snprintf(fwd, sizeof(fwd), "127.0.0.1@%d", port);
	cfg.forward = fwd;
	cfg.unbound_conf = conf_path;
	cfg.timeout_ms = ms;
	ctx = dns_new(base, &cfg, err, sizeof(err));
	if (ctx == NULL)
		fail_msg("dns_new: %s", err);
	unlink(conf_path);
	return ctx;
}

static void
test_new_errors(void **state)
{
	struct event_base *base = event_base_new();
	struct dns_config cfg = {0};
	char err[256], path[] = "/tmp/test_dns_ta.XXXXXX";
	struct dns_ctx *ctx;
	int fd;

	(void)state;
	cfg.trust_anchor = "/nonexistent/root.key";
	err[0] = '\0';
	assert_null(dns_new(base, &cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/root.key"));

	/* readable, but no trust anchor in it */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "this is not a DS record\n", 24), 24);
	close(fd);
	cfg.trust_anchor = path;
	err[0] = '\0';
	assert_null(dns_new(base, &cfg, err, sizeof(err)));
	assert_true(err[0] != '\0');
	unlink(path);

	/* parses, but of an algorithm unbound ignores: no validation at all */
	strcpy(path, "/tmp/test_dns_ta.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, ". IN DS 1 2 3\n", 14), 14);
	close(fd);
	err[0] = '\0';
	assert_null(dns_new(base, &cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "ignored"));
	unlink(path);

	cfg.trust_anchor = NULL;
	cfg.forward = "not-an-address";
	assert_null(dns_new(base, &cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "not-an-address"));

	strcpy(path, "/tmp/test_dns_ta.XXXXXX");
	cfg.forward = NULL;
	write_conf("  no-such-option: yes\n");
	cfg.unbound_conf = conf_path;
	err[0] = '\0';
	assert_null(dns_new(base, &cfg, err, sizeof(err)));
	assert_non_null(strstr(err, conf_path));
	unlink(conf_path);

	/* and a good one: trust anchor, forwarders, fragment */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	{
		static const char ds[] =
		    ". IN DS 20326 8 2 "
		    "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237"
		    "C7F8EC8D\n";

		assert_int_equal(write(fd, ds, sizeof(ds) - 1),
				 (ssize_t)sizeof(ds) - 1);
	}
	close(fd);
	cfg.trust_anchor = path;
	cfg.forward = "127.0.0.1@9 ::1";
	cfg.unbound_conf = NULL;
	ctx = dns_new(base, &cfg, err, sizeof(err));
	if (ctx == NULL)
		fail_msg("dns_new: %s", err);
	assert_int_equal(dns_pending(ctx), 0);
	dns_free(ctx);
	unlink(path);
	event_base_free(base);
}

static void
test_bad_names(void **state)
{
	static const char *const bad[] = {
	    "",
	    ".",
	    "a..b",
	    ".a",
	    "a b",
	    "a\\.b",
	    "a/b",
	    "é.example",
	    /* a 64-byte label (one literal: clang warns of a split one in a
	       list) */
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	    "example",
	};
	struct event_base *base = event_base_new();
	struct seen s = {0};
	struct dns_query *q = (struct dns_query *)&s;
	struct dns_ctx *ctx;
	char longname[300];

	(void)state;
	ctx = new_ctx(base, 9, 1000, "");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		    dns_lookup(ctx, bad[i], DNS_T_A, on_done, &s, &q), -1);
		assert_null(q);
	}
	assert_int_equal(dns_lookup(ctx, NULL, DNS_T_A, on_done, &s, NULL), -1);
	/* 254 characters; 253 with a trailing dot is fine */
	memset(longname, 0, sizeof(longname));
	for (int i = 0; i < 127; i++)
		memcpy(longname + 2 * i, "a.", 2);
	longname[253] = '\0'; /* "a.a. ... a" : 253 characters */
	assert_int_equal(strlen(longname), 253);
	assert_int_equal(dns_lookup(ctx, longname, DNS_T_A, on_done, &s, &q),
			 0);
	dns_cancel(q);
	longname[253] = 'a';
	longname[254] = '\0';
	assert_int_equal(dns_lookup(ctx, longname, DNS_T_A, on_done, &s, &q),
			 -1);
	assert_int_equal(s.calls, 0);
	assert_int_equal(dns_pending(ctx), 0);
	dns_free(ctx);
	event_base_free(base);
}

/* RFC 6761 names are answered by libunbound itself, inside
 * ub_resolve_event(): the callback still waits for the event loop. */
static void
test_special_name(void **state)
{
	struct event_base *base = event_base_new();
	struct seen s = {0}, c = {0};
	struct dns_query *q = NULL;
	struct dns_ctx *ctx;

	(void)state;
	ctx = new_ctx(base, 9, 1000, "");
	assert_int_equal(
	    dns_lookup(ctx, "certwatch.invalid.", DNS_T_SRV, on_done, &s, &q),
	    0);
	assert_int_equal(s.calls, 0); /* never before dns_lookup returns */
	assert_non_null(q);
	assert_int_equal(dns_pending(ctx), 1);
	/* a deferred answer can still be cancelled: no callback then */
	assert_int_equal(
	    dns_lookup(ctx, "other.invalid.", DNS_T_A, on_done, &c, &q), 0);
	assert_int_equal(c.calls, 0);
	assert_non_null(q);
	dns_cancel(q);
	assert_int_equal(dns_pending(ctx), 1);
	run_until(base, &s.calls, 1, 100);
	assert_int_equal(s.calls, 1);
	assert_int_equal(c.calls, 0);
	assert_int_equal(s.a->status, DNS_NXDOMAIN);
	assert_string_equal(s.a->qname, "certwatch.invalid");
	assert_int_equal(s.a->qtype, DNS_T_SRV);
	assert_int_equal(dns_pending(ctx), 0);
	run_until(base, &s.calls, 2, 100);
	assert_int_equal(s.calls, 1);
	dns_answer_free(s.a);
	dns_free(ctx);
	event_base_free(base);
}

/* A closed port: ends in a failure, exactly once. */
static void
test_no_network(void **state)
{
	struct event_base *base = event_base_new();
	struct seen s = {0};
	struct dns_query *q = NULL;
	struct dns_ctx *ctx;
	int port, fd = udp_socket(&port);

	(void)state;
	close(fd); /* nobody listens there any more */
	ctx =
	    new_ctx(base, port, 700, "  local-zone: \"invalid.\" nodefault\n");
	assert_int_equal(
	    dns_lookup(ctx, "certwatch.invalid", DNS_T_A, on_done, &s, &q), 0);
	assert_int_equal(s.calls, 0);
	assert_non_null(q);
	assert_int_equal(dns_pending(ctx), 1);
	run_until(base, &s.calls, 1, 3000);
	assert_int_equal(s.calls, 1);
	assert_true(s.a->status == DNS_SERVFAIL || s.a->status == DNS_TIMEOUT);
	assert_int_equal(s.a->sec, DNS_SEC_NONE);
	assert_true(s.a->error[0] != '\0');
	assert_int_equal(dns_pending(ctx), 0);
	run_until(base, &s.calls, 2, 1500);
	assert_int_equal(s.calls, 1);
	dns_answer_free(s.a);
	dns_free(ctx);
	event_base_free(base);
}

/* A server that never answers: time-out, cancel, and free while pending. */
static void
test_timeout_cancel(void **state)
{
	struct event_base *base = event_base_new();
	struct seen s = {0};
	struct dns_query *q = NULL, *q2 = NULL;
	struct dns_ctx *ctx;
	int port, fd = udp_socket(&port);

	(void)state;
	ctx = new_ctx(base, port, 300, "");
	assert_int_equal(
	    dns_lookup(ctx, "slow.example", DNS_T_TLSA, on_done, &s, &q), 0);
	run_until(base, &s.calls, 1, 2000);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.a->status, DNS_TIMEOUT);
	assert_int_equal(s.a->sec, DNS_SEC_NONE);
	assert_int_equal(dns_pending(ctx), 0);

	assert_int_equal(
	    dns_lookup(ctx, "cancelled.example", DNS_T_A, never, NULL, &q), 0);
	assert_int_equal(
	    dns_lookup(ctx, "freed.example", DNS_T_A, never, NULL, &q2), 0);
	assert_int_equal(dns_pending(ctx), 2);
	dns_cancel(q);
	assert_int_equal(dns_pending(ctx), 1);
	run_until(base, &s.calls, 2, 150);
	dns_free(ctx); /* q2 still pending: no callback */
	run_until(base, &s.calls, 2, 100);
	assert_int_equal(s.calls, 1);
	dns_answer_free(s.a);
	close(fd);
	event_base_free(base);
}

/* ---- a fake forwarder ------------------------------------------------- */

struct fake {
	int fd;
	int queries;
	unsigned rcode;
	struct event *ev;
};

/* Answers every query with rcode and, for NOERROR SRV, two records. */
static void
fake_read(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;
	uint8_t q[512];
	struct pb *p = malloc(sizeof(*p));
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n;
	size_t qend = 12;
	(void)what;

	assert_non_null(p);
	n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
	if (n < 12) {
		free(p);
		return;
	}
	f->queries++;
	while (qend < (size_t)n && q[qend] != 0)
		qend += 1 + q[qend];
	qend += 5;
	p->n = 0;
	raw(p, q, 2);
	u16(p, 0x8180 | f->rcode);
	u16(p, 1);
	u16(p, 0);
	u16(p, 0);
	u16(p, 0);
	raw(p, q + 12, qend - 12);
	if (f->rcode == 0 && q[qend - 3] == DNS_T_SRV) {
		for (int i = 0; i < 2; i++) {
			name_ptr(p, "", 12);
			rr(p, DNS_T_SRV, 3600);
			u16(p, (unsigned)i);
			u16(p, 5);
			u16(p, 5222 + (unsigned)i);
			name(p, i ? "Two.Example" : "one.example");
			rr_end(p);
		}
		set_count(p, 1, 2);
	}
	sendto(fd, p->b, p->n, 0, (struct sockaddr *)&from, fl);
	free(p);
}

/* Starts more look-ups from inside a callback. */
struct nest {
	struct dns_ctx *ctx;
	struct seen inner;
	int outer_calls;
	int sync_inner;
};

static void
nest_cb(struct dns_answer *a, void *arg)
{
	struct nest *t = arg;
	struct dns_query *q = (struct dns_query *)t;
	int before = t->inner.calls;

	t->outer_calls++;
	assert_int_equal(a->status, DNS_ANSWER);
	/* the same name again: unbound may have it at once, but the
	 * callback never runs before dns_lookup() returns */
	assert_int_equal(
	    dns_lookup(t->ctx, a->qname, a->qtype, on_done, &t->inner, &q), 0);
	t->sync_inner = t->inner.calls == before && q != NULL;
	/* and a new one, answered later */
	assert_int_equal(dns_lookup(t->ctx, "nested.example.com", DNS_T_SRV,
				    on_done, &t->inner, NULL),
			 0);
	dns_answer_free(a);
}

static void
test_fake_server(void **state)
{
	struct event_base *base = event_base_new();
	struct seen s = {0};
	struct dns_query *q = NULL;
	struct dns_ctx *ctx;
	struct fake f = {0};
	int port;

	(void)state;
	f.fd = udp_socket(&port);
	f.ev = event_new(base, f.fd, EV_READ | EV_PERSIST, fake_read, &f);
	event_add(f.ev, NULL);
	ctx = new_ctx(base, port, 2000, "");

	assert_int_equal(dns_lookup(ctx, "_xmpp-client._tcp.Example.COM.",
				    DNS_T_SRV, on_done, &s, &q),
			 0);
	assert_non_null(q);
	run_until(base, &s.calls, 1, 3000);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.a->status, DNS_ANSWER);
	assert_int_equal(s.a->sec, DNS_SEC_INSECURE); /* no anchor */
	assert_int_equal(s.a->n, 2);
	/* unbound may rotate the RRset */
	{
		int two = s.a->srv[1].port == 5223;

		assert_string_equal(s.a->srv[!two].target, "one.example");
		assert_string_equal(s.a->srv[two].target, "two.example");
		assert_int_equal(s.a->srv[two].port, 5223);
		assert_int_equal(s.a->srv[two].priority, 1);
	}
	assert_string_equal(s.a->qname, "_xmpp-client._tcp.example.com");
	assert_true(s.a->ttl > 0 && s.a->ttl <= 3600);

	/* again: from the cache, but not before dns_lookup() returns */
	dns_answer_free(s.a);
	s.a = NULL;
	assert_int_equal(dns_lookup(ctx, "_xmpp-client._tcp.example.com",
				    DNS_T_SRV, on_done, &s, &q),
			 0);
	assert_int_equal(s.calls, 1);
	assert_non_null(q);
	assert_int_equal(dns_pending(ctx), 1);
	run_until(base, &s.calls, 2, 100);
	assert_int_equal(s.calls, 2);
	assert_int_equal(s.a->n, 2);
	assert_int_equal(dns_pending(ctx), 0);

	/* look-ups started inside a callback: each answered once */
	{
		struct nest t = {0};

		t.ctx = ctx;
		assert_int_equal(dns_lookup(ctx, "_nest._tcp.example.com",
					    DNS_T_SRV, nest_cb, &t, NULL),
				 0);
		run_until(base, &t.inner.calls, 2, 3000);
		run_until(base, &t.inner.calls, 3, 200);
		assert_int_equal(t.outer_calls, 1);
		assert_int_equal(t.sync_inner, 1);
		assert_int_equal(t.inner.calls, 2);
		assert_int_equal(t.inner.a->n, 2);
		assert_string_equal(t.inner.a->qname, "nested.example.com");
		dns_answer_free(t.inner.a);
		assert_int_equal(dns_pending(ctx), 0);
	}

	/* NXDOMAIN from the server: the real RCODE is read from the packet */
	f.rcode = 3;
	assert_int_equal(
	    dns_lookup(ctx, "gone.example.com", DNS_T_TLSA, on_done, &s, NULL),
	    0);
	run_until(base, &s.calls, 3, 3000);
	assert_int_equal(s.calls, 3);
	assert_int_equal(s.a->status, DNS_NXDOMAIN);
	assert_int_equal(s.a->sec, DNS_SEC_INSECURE);

	/* REFUSED: a failure without DNSSEC state */
	f.rcode = 5;
	assert_int_equal(
	    dns_lookup(ctx, "refused.example.com", DNS_T_A, on_done, &s, NULL),
	    0);
	run_until(base, &s.calls, 4, 3000);
	assert_int_equal(s.calls, 4);
	assert_true(s.a->status == DNS_SERVFAIL || s.a->status == DNS_TIMEOUT);
	assert_int_equal(s.a->sec, DNS_SEC_NONE);

	dns_answer_free(s.a);
	dns_free(ctx);
	event_free(f.ev);
	close(f.fd);
	event_base_free(base);
}

/* ---- against knotd serving signed zones (skipped without knot) ------- */

static const char zone_text[] =
    "$ORIGIN %s.\n$TTL 300\n"
    "@ SOA ns hostmaster 1 7200 3600 1209600 60\n"
    "@ NS ns\nns A 127.0.0.1\n"
    "_xmpp-client._tcp SRV 0 5 5222 xmpp\n"
    "_xmpps-client._tcp SRV 0 0 0 .\n"
    "xmpp A 192.0.2.1\nxmpp AAAA 2001:db8::1\n"
    "_5222._tcp.xmpp TLSA 3 1 1 "
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
    "alias CNAME xmpp\n";

static void write_file(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
write_file(const char *path, const char *fmt, ...)
{
	FILE *f = fopen(path, "w");
	va_list ap;

	assert_non_null(f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	assert_int_equal(fclose(f), 0);
}

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("failed: %s", cmd);
}

/* Signs zone `name` offline and appends its DS to the anchor file. */
static void
sign_zone(const char *dir, const char *name, FILE *ta)
{
	char cmd[512], line[512];
	FILE *p;

	run("kzonesign -c %s/knot.conf -o %s %s >/dev/null 2>&1", dir, dir,
	    name);
	snprintf(cmd, sizeof(cmd), "keymgr -c %s/knot.conf %s. ds", dir, name);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	pclose(p);
	fputs(line, ta);
}

struct lab_case {
	const char *name;
	unsigned type;
	enum dns_status status;
	enum dns_sec sec;
	size_t n;
	struct dns_answer *a;
};

static void
lab_done(struct dns_answer *a, void *arg)
{
	struct lab_case *c = arg;

	assert_null(c->a);
	c->a = a;
}

/* knotd and its directory, for the teardown (runs after a failure too) */
static pid_t lab_pid;
static char lab_dir[64];

static int
knot_teardown(void **state)
{
	(void)state;
	if (lab_pid > 0) {
		kill(lab_pid, SIGTERM);
		waitpid(lab_pid, NULL, 0);
		lab_pid = 0;
	}
	if (lab_dir[0] != '\0') {
		run("rm -rf %s", lab_dir);
		lab_dir[0] = '\0';
	}
	return 0;
}

static void
test_knot_lab(void **state)
{
	struct lab_case cases[] = {
	    {"_xmpp-client._tcp.good.test", DNS_T_SRV, DNS_ANSWER,
	     DNS_SEC_SECURE, 1, NULL},
	    {"_xmpps-client._tcp.good.test", DNS_T_SRV, DNS_ANSWER,
	     DNS_SEC_SECURE, 1, NULL},
	    {"_xmpp-server._tcp.good.test", DNS_T_SRV, DNS_NXDOMAIN,
	     DNS_SEC_SECURE, 0, NULL},
	    {"xmpp.good.test", DNS_T_TLSA, DNS_NODATA, DNS_SEC_SECURE, 0, NULL},
	    {"_5222._tcp.xmpp.good.test", DNS_T_TLSA, DNS_ANSWER,
	     DNS_SEC_SECURE, 1, NULL},
	    {"alias.good.test", DNS_T_AAAA, DNS_ANSWER, DNS_SEC_SECURE, 1,
	     NULL},
	    /* a TLSA record changed after signing */
	    {"_5222._tcp.xmpp.bad.test", DNS_T_TLSA, DNS_ANSWER, DNS_SEC_BOGUS,
	     1, NULL},
	    {"xmpp.bad.test", DNS_T_A, DNS_ANSWER, DNS_SEC_SECURE, 1, NULL},
	    /* no anchor covers it */
	    {"xmpp.plain.test", DNS_T_A, DNS_ANSWER, DNS_SEC_INSECURE, 1, NULL},
	    {"nx.plain.test", DNS_T_A, DNS_NXDOMAIN, DNS_SEC_INSECURE, 0, NULL},
	};
	const size_t ncases = sizeof(cases) / sizeof(cases[0]);
	char dir[] = "/tmp/test_dns_knot.XXXXXX", path[256], err[256];
	struct event_base *base;
	struct dns_config cfg = {0};
	struct dns_ctx *ctx;
	FILE *ta;
	pid_t knotd;
	int port, fd, done = 0;

	(void)state;
	if (access("/usr/sbin/knotd", X_OK) != 0 ||
	    access("/usr/bin/kzonesign", X_OK) != 0 ||
	    access("/usr/sbin/keymgr", X_OK) != 0)
		cw_skip_missing("knot (knotd, kzonesign, keymgr)");
	assert_non_null(mkdtemp(dir));
	snprintf(lab_dir, sizeof(lab_dir), "%s", dir);
	fd = udp_socket(&port);
	close(fd);
	snprintf(path, sizeof(path), "%s/knot.conf", dir);
	write_file(path,
		   "server:\n  listen: 127.0.0.1@%d\n  rundir: %s\n"
		   "database:\n  storage: %s\n"
		   "template:\n  - id: default\n    storage: %s\n"
		   "    zonefile-sync: -1\n    journal-content: none\n"
		   "zone:\n  - domain: good.test\n  - domain: bad.test\n"
		   "  - domain: plain.test\n",
		   port, dir, dir, dir);
	static const char *const zones[] = {"good.test", "bad.test",
					    "plain.test"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s.zone", dir, zones[i]);
		write_file(path, zone_text, zones[i]);
	}
	snprintf(path, sizeof(path), "%s/ta.key", dir);
	ta = fopen(path, "w");
	assert_non_null(ta);
	sign_zone(dir, "good.test", ta);
	sign_zone(dir, "bad.test", ta);
	fclose(ta);
	run("sed -i 's/TLSA\\t3 1 1 0123/TLSA\\t3 1 1 FF23/' %s/bad.test.zone",
	    dir);

	knotd = fork();
	assert_true(knotd >= 0);
	if (knotd == 0) {
		snprintf(path, sizeof(path), "%s/knot.conf", dir);
		fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(fd, 2);
		execl("/usr/sbin/knotd", "knotd", "-c", path, (char *)NULL);
		_exit(127);
	}
	lab_pid = knotd;
	/* knotd is up when its TCP port accepts; on a loaded machine that
	 * may take seconds, and a test that went on without it would read a
	 * time-out as a resolver failure */
	int up = 0;

	for (int i = 0; i < 3000 && !up; i++) {
		struct sockaddr_in sin = {0};
		int s = socket(AF_INET, SOCK_STREAM, 0), ok;

		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ok = connect(s, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(s);
		if (ok)
			up = 1;
		else
			usleep(10000);
	}
	if (!up)
		fail_msg("knotd did not listen on port %d within 30 s", port);

	{
		char extra[512];

		snprintf(extra, sizeof(extra),
			 "  local-zone: \"test.\" nodefault\n"
			 "stub-zone:\n  name: \"good.test.\"\n"
			 "  stub-addr: 127.0.0.1@%d\n"
			 "stub-zone:\n  name: \"bad.test.\"\n"
			 "  stub-addr: 127.0.0.1@%d\n"
			 "stub-zone:\n  name: \"plain.test.\"\n"
			 "  stub-addr: 127.0.0.1@%d\n",
			 port, port, port);
		write_conf(extra);
	}
	snprintf(path, sizeof(path), "%s/ta.key", dir);
	cfg.trust_anchor = path;
	cfg.unbound_conf = conf_path;
	cfg.timeout_ms = 15000;
	base = event_base_new();
	ctx = dns_new(base, &cfg, err, sizeof(err));
	unlink(conf_path);
	if (ctx == NULL)
		fail_msg("dns_new: %s", err);
	for (size_t i = 0; i < ncases; i++)
		assert_int_equal(dns_lookup(ctx, cases[i].name,
					    (uint16_t)cases[i].type, lab_done,
					    &cases[i], NULL),
				 0);
	for (int t = 0; t < 2000 && dns_pending(ctx) > 0; t++)
		run_until(base, &done, 1, 10);
	knot_teardown(NULL);

	for (size_t i = 0; i < ncases; i++) {
		struct dns_answer *a = cases[i].a;

		if (a == NULL)
			fail_msg("%s: no answer", cases[i].name);
		if (a->status != cases[i].status || a->sec != cases[i].sec ||
		    a->n != cases[i].n)
			fail_msg("%s: %s %s %zu (%s)", cases[i].name,
				 dns_status_name(a->status),
				 dns_sec_name(a->sec), a->n, a->error);
		if (a->sec == DNS_SEC_BOGUS)
			assert_non_null(strstr(a->why_bogus, "TLSA"));
		else
			assert_string_equal(a->why_bogus, "");
		dns_answer_free(a);
	}
	dns_free(ctx);
	event_base_free(base);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_srv),
	    cmocka_unit_test(test_srv_root_and_escapes),
	    cmocka_unit_test(test_tlsa),
	    cmocka_unit_test(test_addresses),
	    cmocka_unit_test(test_chain_ends),
	    cmocka_unit_test(test_dname),
	    cmocka_unit_test(test_negative),
	    cmocka_unit_test(test_failures),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_compression_loops),
	    cmocka_unit_test(test_lying_rdlength),
	    cmocka_unit_test(test_many_records),
	    cmocka_unit_test(test_canonical_order),
	    cmocka_unit_test(test_mutations),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_captured),
	    cmocka_unit_test(test_captured_flips),
	    cmocka_unit_test(test_new_errors),
	    cmocka_unit_test(test_bad_names),
	    cmocka_unit_test(test_special_name),
	    cmocka_unit_test(test_no_network),
	    cmocka_unit_test(test_timeout_cancel),
	    cmocka_unit_test(test_fake_server),
	    cmocka_unit_test_teardown(test_knot_lab, knot_teardown),
	};

	if (argc > 1)
		data_dir = argv[1];
	return cw_skip_status(cmocka_run_group_tests(tests, NULL, NULL));
}
