/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * wire.c - bounded parser of wire-format DNS responses (RFC 1035) into a
 * dns_answer, plus the small formatting helpers of dns.h.
 *
 * Everything here is pure: no I/O, no globals, and no read past the
 * length given.  The input is whatever a resolver handed over, so it is
 * treated as hostile: every length is checked, compression pointers may
 * only point backwards (so they cannot loop) and are counted anyway.
 */
#include "util/err.h"
#include "dns/dns.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define WIRE_NAME_MAX 255 /* RFC 1035 §3.1, wire form with root label */
#define MAX_PTR_HOPS 127  /* more than any honest packet needs */
#define MAX_ALIASES 16
#define MAX_RECORDS 1024
#define HDR_LEN 12

/* One resource record of the answer section, located in the packet. */
struct rr {
	size_t owner; /* offset of the owner name */
	uint16_t type;
	uint16_t class;
	uint32_t ttl;
	size_t rdata; /* offset of the rdata */
	uint16_t rdlen;
};

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint8_t
lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/*
 * Reads the (possibly compressed) name at `off` into `out` as lower-case,
 * uncompressed wire form (at most 255 bytes, root label included).
 * *end gets the offset just past the name's bytes at `off` (the first
 * pointer ends it).  Returns the wire length, or -1 if the name is
 * malformed, too long, loops or leaves the packet.
 */
static int
read_name(const uint8_t *pkt, size_t len, size_t off,
	  uint8_t out[WIRE_NAME_MAX], size_t *end)
{
	size_t pos = off, n = 0, limit = off;
	int hops = 0, jumped = 0;

	for (;;) {
		uint8_t c;

		if (pos >= len)
			return -1;
		c = pkt[pos];
		if ((c & 0xc0) == 0xc0) {
			size_t target;

			if (pos + 1 >= len)
				return -1;
			target = (size_t)(c & 0x3f) << 8 | pkt[pos + 1];
			/*
			 * Only backwards, and before where the current run
			 * of labels began: a pointer can then never reach
			 * itself again, so no loop is possible.
			 */
			if (target >= limit || ++hops > MAX_PTR_HOPS)
				return -1;
			if (!jumped && end != NULL)
				*end = pos + 2;
			jumped = 1;
			pos = limit = target;
			continue;
		}
		if (c & 0xc0)
			return -1; /* 0x40/0x80: extended or reserved */
		if (n + 1 + c > WIRE_NAME_MAX || pos + 1 + c > len)
			return -1;
		out[n++] = c;
		if (c == 0)
			break;
		for (size_t i = 0; i < c; i++)
			out[n++] = lower(pkt[pos + 1 + i]);
		pos += 1 + (size_t)c;
	}
	if (!jumped && end != NULL)
		*end = pos + 1;
	return (int)n;
}

static int
name_eq(const uint8_t *a, int alen, const uint8_t *b, int blen)
{
	return alen == blen && memcmp(a, b, (size_t)alen) == 0;
}

/*
 * If wire name `anc` is a proper ancestor of `name`, returns the length of
 * the prefix of `name` (its labels below `anc`), else -1.
 */
static int
below(const uint8_t *name, int nlen, const uint8_t *anc, int alen)
{
	int pos = 0;

	while (pos < nlen && name[pos] != 0) {
		pos += 1 + name[pos];
		if (nlen - pos == alen &&
		    memcmp(name + pos, anc, (size_t)alen) == 0)
			return pos;
	}
	return -1;
}

/*
 * Writes wire name `w` in presentation form, without the trailing dot
 * ("." for the root).  Bytes that are not plain printable ASCII, and the
 * dot and backslash inside a label, are escaped (RFC 4343 §2.1) so that
 * no label can pose as two.  Returns 0, or -1 if it does not fit.
 */
static int
name_to_text(const uint8_t *w, char *out, size_t outlen)
{
	size_t o = 0, p = 0;

	if (outlen < 2)
		return -1;
	if (w[0] == 0) {
		strcpy(out, ".");
		return 0;
	}
	while (w[p] != 0) {
		uint8_t l = w[p++];

		if (o > 0) {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = '.';
		}
		for (uint8_t i = 0; i < l; i++, p++) {
			uint8_t c = w[p];
			int k;

			if (c > 0x20 && c < 0x7f && c != '.' && c != '\\')
				k = snprintf(out + o, outlen - o, "%c", c);
			else if (c == '.' || c == '\\')
				k = snprintf(out + o, outlen - o, "\\%c", c);
			else
				k = snprintf(out + o, outlen - o, "\\%03u", c);
			if (k < 0 || (size_t)k >= outlen - o)
				return -1;
			o += (size_t)k;
		}
	}
	out[o] = '\0';
	return 0;
}

/* Skips one RR at *off, checking its bounds; fills r if not NULL. */
static int
read_rr(const uint8_t *pkt, size_t len, size_t *off, struct rr *r)
{
	uint8_t name[WIRE_NAME_MAX];
	size_t p;
	struct rr tmp;

	if (read_name(pkt, len, *off, name, &p) < 0)
		return -1;
	if (p + 10 > len)
		return -1;
	tmp.owner = *off;
	tmp.type = get16(pkt + p);
	tmp.class = get16(pkt + p + 2);
	tmp.ttl = get32(pkt + p + 4);
	if (tmp.ttl > 0x7fffffff) /* RFC 2181 §8: treat as zero */
		tmp.ttl = 0;
	tmp.rdlen = get16(pkt + p + 8);
	tmp.rdata = p + 10;
	if (tmp.rdata + tmp.rdlen > len)
		return -1;
	*off = tmp.rdata + tmp.rdlen;
	if (r != NULL)
		*r = tmp;
	return 0;
}

/* Reads a name that must fill the rdata of r exactly (CNAME, DNAME). */
static int
rdata_name(const uint8_t *pkt, const struct rr *r, uint8_t out[WIRE_NAME_MAX])
{
	size_t end;
	int n;

	/* the name may point backwards but never past its own rdata */
	n = read_name(pkt, r->rdata + r->rdlen, r->rdata, out, &end);
	if (n < 0 || end != r->rdata + r->rdlen)
		return -1;
	return n;
}

static uint32_t
min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* Copies one record of the asked type into slot i of the answer. */
static int
take_record(const uint8_t *pkt, const struct rr *r, struct dns_answer *out,
	    size_t i, char *err, size_t errlen)
{
	const uint8_t *d = pkt + r->rdata;
	uint8_t name[WIRE_NAME_MAX];
	size_t end;

	switch (r->type) {
	case DNS_T_A:
	case DNS_T_AAAA: {
		size_t want = r->type == DNS_T_A ? 4 : 16;

		if (r->rdlen != want) {
			errf(err, errlen, "%s rdata of %u bytes",
			     r->type == DNS_T_A ? "A" : "AAAA", r->rdlen);
			return -1;
		}
		out->addr[i].family = r->type == DNS_T_A ? AF_INET : AF_INET6;
		memcpy(out->addr[i].addr, d, want);
		return 0;
	}
	case DNS_T_SRV:
		if (r->rdlen < 7 ||
		    read_name(pkt, r->rdata + r->rdlen, r->rdata + 6, name,
			      &end) < 0 ||
		    end != r->rdata + r->rdlen) {
			errf(err, errlen, "malformed SRV rdata");
			return -1;
		}
		out->srv[i].priority = get16(d);
		out->srv[i].weight = get16(d + 2);
		out->srv[i].port = get16(d + 4);
		if (name_to_text(name, out->srv[i].target,
				 sizeof(out->srv[i].target)) < 0) {
			errf(err, errlen, "SRV target too long to show");
			return -1;
		}
		return 0;
	case DNS_T_TLSA:
		if (r->rdlen < 3) {
			errf(err, errlen, "TLSA rdata of %u bytes", r->rdlen);
			return -1;
		}
		out->tlsa[i].usage = d[0];
		out->tlsa[i].selector = d[1];
		out->tlsa[i].mtype = d[2];
		out->tlsa[i].len = (size_t)r->rdlen - 3;
		/* +1: a record with empty data still gets a pointer */
		out->tlsa[i].data = malloc(out->tlsa[i].len + 1);
		if (out->tlsa[i].data == NULL) {
			errf(err, errlen, "out of memory");
			return -1;
		}
		memcpy(out->tlsa[i].data, d + 3, out->tlsa[i].len);
		return 0;
	case DNS_T_CAA:
		/* +1: an empty RDATA still gets a pointer; dns/caa.c parses */
		out->rdata[i].data = malloc((size_t)r->rdlen + 1);
		if (out->rdata[i].data == NULL) {
			errf(err, errlen, "out of memory");
			return -1;
		}
		memcpy(out->rdata[i].data, d, r->rdlen);
		out->rdata[i].len = r->rdlen;
		return 0;
	default:
		return 0; /* counted, not decoded */
	}
}

/* Allocates the record array that matches qtype, for n records. */
static int
alloc_records(struct dns_answer *out, uint16_t qtype, size_t n)
{
	switch (qtype) {
	case DNS_T_SRV:
		out->srv = calloc(n, sizeof(*out->srv));
		return out->srv != NULL ? 0 : -1;
	case DNS_T_TLSA:
		out->tlsa = calloc(n, sizeof(*out->tlsa));
		return out->tlsa != NULL ? 0 : -1;
	case DNS_T_A:
	case DNS_T_AAAA:
		out->addr = calloc(n, sizeof(*out->addr));
		return out->addr != NULL ? 0 : -1;
	case DNS_T_CAA:
		out->rdata = calloc(n, sizeof(*out->rdata));
		return out->rdata != NULL ? 0 : -1;
	default:
		return 0;
	}
}

/* Negative-answer TTL: the authority SOA's min(TTL, MINIMUM), RFC 2308. */
static int
soa_ttl(const uint8_t *pkt, size_t len, size_t off, unsigned count,
	uint32_t *ttl)
{
	for (unsigned i = 0; i < count; i++) {
		struct rr r;
		uint8_t name[WIRE_NAME_MAX];
		size_t p;

		if (read_rr(pkt, len, &off, &r) < 0)
			return -1;
		if (r.type != 6 || r.class != 1)
			continue;
		/* mname, rname, then serial refresh retry expire minimum */
		if (read_name(pkt, r.rdata + r.rdlen, r.rdata, name, &p) < 0 ||
		    read_name(pkt, r.rdata + r.rdlen, p, name, &p) < 0 ||
		    p + 20 != r.rdata + r.rdlen)
			return -1;
		*ttl = min32(*ttl, min32(r.ttl, get32(pkt + p + 16)));
	}
	return 0;
}

/*
 * Follows the alias chain from the question name through the answer
 * section.  On return `cur` holds the final owner name; aliases found are
 * noted in out.  Returns 0, or -1 for a chain that is too long or broken.
 */
static int
follow_chain(const uint8_t *pkt, size_t len, const struct rr *rrs, size_t nrr,
	     uint16_t qtype, uint8_t cur[WIRE_NAME_MAX], int *curlen,
	     struct dns_answer *out, uint32_t *ttl, char *err, size_t errlen)
{
	uint8_t name[WIRE_NAME_MAX];

	for (int aliases = 0;; aliases++) {
		const struct rr *cname = NULL, *dname = NULL;
		int dprefix = -1, n;

		for (size_t i = 0; i < nrr; i++) {
			if (rrs[i].class != 1)
				continue;
			n = read_name(pkt, len, rrs[i].owner, name, NULL);
			if (rrs[i].type == DNS_T_DNAME && dname == NULL &&
			    qtype != DNS_T_DNAME) {
				dprefix = below(cur, *curlen, name, n);
				if (dprefix >= 0)
					dname = &rrs[i];
			}
			if (!name_eq(name, n, cur, *curlen))
				continue;
			if (rrs[i].type == qtype)
				return 0; /* the records are here */
			if (rrs[i].type == DNS_T_CNAME && cname == NULL)
				cname = &rrs[i];
		}
		if (cname == NULL && dname == NULL)
			return 0;
		if (aliases == MAX_ALIASES) {
			errf(err, errlen, "more than %d aliases (a loop?)",
			     MAX_ALIASES);
			return -1;
		}
		if (cname != NULL) {
			n = rdata_name(pkt, cname, name);
			if (n < 0) {
				errf(err, errlen, "malformed CNAME rdata");
				return -1;
			}
			memcpy(cur, name, (size_t)n);
			*curlen = n;
			*ttl = min32(*ttl, cname->ttl);
		} else {
			/* DNAME (RFC 6672): keep the labels below the owner,
			 * put the target under them */
			n = rdata_name(pkt, dname, name);
			if (n < 0) {
				errf(err, errlen, "malformed DNAME rdata");
				return -1;
			}
			if (dprefix + n > WIRE_NAME_MAX) {
				errf(err, errlen, "DNAME result too long");
				return -1;
			}
			memcpy(cur + dprefix, name, (size_t)n);
			*curlen = dprefix + n;
			*ttl = min32(*ttl, dname->ttl);
		}
		out->aliased = 1;
	}
}

/* Fills the status and words of an answer with a failure RCODE. */
static void
failed(struct dns_answer *out, unsigned rcode)
{
	static const char *const names[] = {
	    "NOERROR",	"FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
	    "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE",
	};

	out->status = DNS_SERVFAIL;
	if (rcode < sizeof(names) / sizeof(names[0]))
		snprintf(out->error, sizeof(out->error),
			 "resolution failed (%s)", names[rcode]);
	else
		snprintf(out->error, sizeof(out->error),
			 "resolution failed (RCODE %u)", rcode);
}

/* Reads the first question into cur (its type must be qtype), skips the
 * others; *off moves past the question section. */
static int
read_question(const uint8_t *pkt, size_t len, unsigned qd, uint16_t qtype,
	      uint8_t cur[WIRE_NAME_MAX], int *curlen, size_t *off, char *err,
	      size_t errlen)
{
	if (qd == 0) {
		errf(err, errlen, "DNS packet without a question");
		return -1;
	}
	for (unsigned i = 0; i < qd; i++) {
		uint8_t name[WIRE_NAME_MAX];
		int n = read_name(pkt, len, *off, name, off);

		if (n < 0 || *off + 4 > len) {
			errf(err, errlen, "malformed question");
			return -1;
		}
		if (i == 0 && get16(pkt + *off) != qtype) {
			errf(err, errlen, "answer is for type %u, not %u",
			     get16(pkt + *off), qtype);
			return -1;
		}
		if (i == 0) {
			memcpy(cur, name, (size_t)n);
			*curlen = n;
		}
		*off += 4;
	}
	return 0;
}

/*
 * Locates the answer records into *rrs (NULL when there are none) and
 * checks that the authority and additional sections are whole; *nsoff
 * gets where the authority section starts.
 */
static int
index_records(const uint8_t *pkt, size_t len, size_t off, unsigned an,
	      unsigned more, struct rr **rrs, size_t *nsoff, char *err,
	      size_t errlen)
{
	*rrs = NULL;
	/* every RR takes at least 11 bytes: this bounds the allocation */
	if (an > (len - off) / 11) {
		errf(err, errlen, "truncated answer section");
		return -1;
	}
	if (an > 0 && (*rrs = calloc(an, sizeof(**rrs))) == NULL) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	for (unsigned i = 0; i < an; i++) {
		if (read_rr(pkt, len, &off, &(*rrs)[i]) < 0) {
			errf(err, errlen, "malformed answer record %u", i + 1);
			return -1;
		}
	}
	*nsoff = off;
	for (unsigned i = 0; i < more; i++) {
		if (read_rr(pkt, len, &off, NULL) < 0) {
			errf(err, errlen,
			     "malformed authority or additional "
			     "record %u",
			     i + 1);
			return -1;
		}
	}
	return 0;
}

static int
owned_by(const uint8_t *pkt, size_t len, const struct rr *r, uint16_t qtype,
	 const uint8_t *cur, int curlen)
{
	uint8_t name[WIRE_NAME_MAX];

	if (r->type != qtype || r->class != 1)
		return 0;
	return name_eq(name, read_name(pkt, len, r->owner, name, NULL), cur,
		       curlen);
}

/* One owned record, placed by its RDATA for canonical ordering. */
struct placed {
	const uint8_t *rdata;
	uint16_t rdlen;
	size_t i;
};

/* RFC 4034 §6.3: RDATA compared as left-justified unsigned octet strings,
 * a shorter one first when it is a prefix of the other. */
static int
placed_cmp(const void *a, const void *b)
{
	const struct placed *x = a, *y = b;
	size_t n = x->rdlen < y->rdlen ? x->rdlen : y->rdlen;
	int c = memcmp(x->rdata, y->rdata, n);

	if (c != 0)
		return c;
	return (x->rdlen > y->rdlen) - (x->rdlen < y->rdlen);
}

/*
 * Copies the records of qtype owned by cur into out (at most 1024).  TLSA
 * and CAA records, which are listed to users and compared between checks,
 * are put in canonical order (their RDATA holds no names, so the wire
 * bytes are canonical): a server that shuffles an RRset does not change
 * the report.  SRV and address records keep the order they came in.
 */
static int
collect(const uint8_t *pkt, size_t len, const struct rr *rrs, size_t an,
	uint16_t qtype, const uint8_t *cur, int curlen, struct dns_answer *out,
	uint32_t *ttl, char *err, size_t errlen)
{
	struct placed *order;
	size_t n = 0, k = 0;

	for (size_t i = 0; i < an; i++)
		n += (size_t)owned_by(pkt, len, &rrs[i], qtype, cur, curlen);
	if (n > MAX_RECORDS)
		n = MAX_RECORDS;
	if (n == 0)
		return 0;
	order = calloc(n, sizeof(*order));
	if (order == NULL || alloc_records(out, qtype, n) < 0) {
		free(order);
		errf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < an && k < n; i++) {
		if (!owned_by(pkt, len, &rrs[i], qtype, cur, curlen))
			continue;
		order[k].rdata = pkt + rrs[i].rdata;
		order[k].rdlen = rrs[i].rdlen;
		order[k].i = i;
		k++;
	}
	if (qtype == DNS_T_TLSA || qtype == DNS_T_CAA)
		qsort(order, k, sizeof(*order), placed_cmp);
	for (size_t j = 0; j < k; j++) {
		const struct rr *r = &rrs[order[j].i];

		/* out->n counts the records filled, so that a failure
		 * frees exactly those */
		if (take_record(pkt, r, out, out->n, err, errlen) < 0) {
			free(order);
			return -1;
		}
		*ttl = min32(*ttl, r->ttl);
		out->n++;
	}
	free(order);
	return 0;
}

static void
free_rdata(struct dns_rdata *r, size_t n)
{
	if (r != NULL)
		for (size_t i = 0; i < n; i++)
			free(r[i].data);
	free(r);
}

/* Frees what the parser put into out, leaving it an empty DNS_ERROR. */
static void
reset(struct dns_answer *out)
{
	if (out->tlsa != NULL)
		for (size_t i = 0; i < out->n; i++)
			free(out->tlsa[i].data);
	free(out->tlsa);
	free_rdata(out->rdata, out->n);
	out->rdata = NULL;
	free(out->srv);
	free(out->addr);
	out->srv = NULL;
	out->tlsa = NULL;
	out->addr = NULL;
	out->n = 0;
	out->status = DNS_ERROR;
	out->aliased = 0;
	out->cname[0] = '\0';
	out->ttl = 0;
}

int
dns_parse_response(const uint8_t *pkt, size_t len, uint16_t qtype,
		   struct dns_answer *out, char *err, size_t errlen)
{
	uint8_t cur[WIRE_NAME_MAX];
	struct rr *rrs = NULL;
	unsigned an, ns, rcode;
	size_t off = HDR_LEN, nsoff = 0;
	uint32_t ttl = UINT32_MAX;
	int curlen = 0;

	/* whatever `out` held is overwritten, never freed: pass it zeroed */
	out->srv = NULL;
	out->tlsa = NULL;
	out->addr = NULL;
	out->rdata = NULL;
	out->n = 0;
	out->error[0] = '\0';
	reset(out);
	if (pkt == NULL || len < HDR_LEN) {
		errf(err, errlen, "DNS packet of %zu bytes", len);
		return -1;
	}
	rcode = pkt[3] & 0x0f;
	an = get16(pkt + 6);
	ns = get16(pkt + 8);
	if (rcode != 0 && rcode != 3) {
		/* nothing in a failed answer is worth reading */
		failed(out, rcode);
		return 0;
	}
	if (read_question(pkt, len, get16(pkt + 4), qtype, cur, &curlen, &off,
			  err, errlen) < 0 ||
	    index_records(pkt, len, off, an, ns + get16(pkt + 10), &rrs, &nsoff,
			  err, errlen) < 0 ||
	    follow_chain(pkt, len, rrs, an, qtype, cur, &curlen, out, &ttl, err,
			 errlen) < 0)
		goto fail;
	if (out->aliased &&
	    name_to_text(cur, out->cname, sizeof(out->cname)) < 0) {
		errf(err, errlen, "canonical name too long to show");
		goto fail;
	}
	/* an NXDOMAIN's records are only the aliases on the way */
	if (rcode == 0 && collect(pkt, len, rrs, an, qtype, cur, curlen, out,
				  &ttl, err, errlen) < 0)
		goto fail;
	if (out->n > 0) {
		out->status = DNS_ANSWER;
	} else {
		if (soa_ttl(pkt, len, nsoff, ns, &ttl) < 0) {
			errf(err, errlen, "malformed SOA record");
			goto fail;
		}
		out->status = rcode == 3 ? DNS_NXDOMAIN : DNS_NODATA;
	}
	out->ttl = ttl == UINT32_MAX ? 0 : ttl;
	free(rrs);
	return 0;
fail:
	free(rrs);
	reset(out);
	return -1;
}

void
dns_answer_clear(struct dns_answer *a)
{
	if (a == NULL)
		return;
	if (a->tlsa != NULL)
		for (size_t i = 0; i < a->n; i++)
			free(a->tlsa[i].data);
	free(a->tlsa);
	free_rdata(a->rdata, a->n);
	free(a->srv);
	free(a->addr);
	memset(a, 0, sizeof(*a));
}

void
dns_answer_free(struct dns_answer *a)
{
	dns_answer_clear(a);
	free(a);
}

const char *
dns_sec_name(enum dns_sec sec)
{
	switch (sec) {
	case DNS_SEC_SECURE:
		return "secure";
	case DNS_SEC_INSECURE:
		return "insecure";
	case DNS_SEC_BOGUS:
		return "bogus";
	default:
		return NULL;
	}
}

const char *
dns_status_name(enum dns_status st)
{
	switch (st) {
	case DNS_ANSWER:
		return "answer";
	case DNS_NXDOMAIN:
		return "NXDOMAIN";
	case DNS_NODATA:
		return "no records";
	case DNS_SERVFAIL:
		return "SERVFAIL";
	case DNS_TIMEOUT:
		return "timed out";
	case DNS_ERROR:
		return "error";
	}
	return "unknown";
}

char *
dns_tlsa_format(const struct dns_tlsa *t, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	int k;

	if (len == 0)
		return buf;
	k = snprintf(buf, len, "%u %u %u", t->usage, t->selector, t->mtype);
	/* all or nothing: a cut-off digest would look like a real one */
	if (k < 0 || (size_t)k + (t->len > 0 ? 1 + 2 * t->len : 0) >= len) {
		buf[0] = '\0';
		return buf;
	}
	if (t->len > 0) {
		char *p = buf + k;

		*p++ = ' ';
		for (size_t i = 0; i < t->len; i++) {
			*p++ = hex[t->data[i] >> 4];
			*p++ = hex[t->data[i] & 0x0f];
		}
		*p = '\0';
	}
	return buf;
}
