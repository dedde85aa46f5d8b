/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * caa.c - CAA RDATA (RFC 8659 §4.1) and issue-value (RFC 8659 §4.2,
 * RFC 8657) parsing.  Pure: no I/O, no allocation, every index checked
 * against the length given.
 */
#include "dns/caa.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

int
dns_caa_parse(const uint8_t *rdata, size_t len, struct dns_caa *out, char *err,
	      size_t errlen)
{
	size_t taglen, vlen;

	memset(out, 0, sizeof(*out));
	if (len < 2)
		return fail(err, errlen, "CAA rdata of %zu bytes", len);
	taglen = rdata[1];
	if (taglen == 0 || taglen > DNS_CAA_TAG_MAX)
		return fail(err, errlen, "CAA tag length %zu", taglen);
	if (2 + taglen > len)
		return fail(err, errlen, "CAA tag past the rdata");
	for (size_t i = 0; i < taglen; i++) {
		if (!is_alnum(rdata[2 + i]))
			return fail(err, errlen, "CAA tag byte 0x%02x",
				    rdata[2 + i]);
		out->tag[i] = lower((char)rdata[2 + i]);
	}
	vlen = len - 2 - taglen;
	if (vlen > DNS_CAA_VALUE_MAX)
		return fail(err, errlen, "CAA value of %zu bytes", vlen);
	if (memchr(rdata + 2 + taglen, '\0', vlen) != NULL)
		return fail(err, errlen, "CAA value holds a NUL");
	memcpy(out->value, rdata + 2 + taglen, vlen);
	out->value_len = vlen;
	out->flags = rdata[0];
	out->critical = (rdata[0] & DNS_CAA_FLAG_CRITICAL) != 0;
	if (strcmp(out->tag, "issue") == 0)
		out->kind = DNS_CAA_ISSUE;
	else if (strcmp(out->tag, "issuewild") == 0)
		out->kind = DNS_CAA_ISSUEWILD;
	return 0;
}

/* A cursor over the value; every read checks `pos < len`. */
struct cur {
	const char *s;
	size_t len, pos;
};

static void
skip_wsp(struct cur *c)
{
	while (c->pos < c->len && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t'))
		c->pos++;
}

/*
 * RFC 8659 §4.2: label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT)).
 * Returns the label's length (0: none here); -1 when it ends in '-'.
 */
static long
scan_label(struct cur *c)
{
	size_t start = c->pos;

	if (c->pos >= c->len || !is_alnum((unsigned char)c->s[c->pos]))
		return 0;
	while (c->pos < c->len &&
	       (is_alnum((unsigned char)c->s[c->pos]) || c->s[c->pos] == '-'))
		c->pos++;
	if (c->s[c->pos - 1] == '-')
		return -1;
	return (long)(c->pos - start);
}

/*
 * RFC 8657 §4: value = [*(label ",") label], label = 1*(ALPHA/DIGIT/"-").
 * An empty list is allowed by the grammar (no method is permitted).
 */
static int
valid_methods(const char *v)
{
	size_t run = 0, commas = 0;

	for (; *v != '\0'; v++) {
		if (*v == ',') {
			if (run == 0)
				return 0;
			run = 0;
			commas++;
		} else if (is_alnum((unsigned char)*v) || *v == '-') {
			run++;
		} else {
			return 0;
		}
	}
	return run > 0 || commas == 0;
}

static int
copy_param(char *dst, const char *src, size_t n, int *seen, const char *name,
	   char *err, size_t errlen)
{
	if (*seen)
		return fail(err, errlen, "parameter %s given twice", name);
	*seen = 1;
	memcpy(dst, src, n); /* n <= DNS_CAA_VALUE_MAX: checked by caller */
	dst[n] = '\0';
	return 0;
}

/* parameter = tag *WSP "=" *WSP value; value = *(%x21-3A / %x3C-7E). */
static int
parse_param(struct cur *c, struct dns_caa_issue *out, char *err, size_t errlen)
{
	size_t tstart = c->pos, vstart;
	long tl = scan_label(c);
	char tag[64];

	if (tl <= 0)
		return fail(err, errlen, "bad parameter name at %zu", tstart);
	if ((size_t)tl >= sizeof(tag))
		return fail(err, errlen, "parameter name of %ld bytes", tl);
	for (long i = 0; i < tl; i++)
		tag[i] = lower(c->s[tstart + (size_t)i]);
	tag[tl] = '\0';
	skip_wsp(c);
	if (c->pos >= c->len || c->s[c->pos] != '=')
		return fail(err, errlen, "parameter %s without '='", tag);
	c->pos++;
	skip_wsp(c);
	vstart = c->pos;
	while (c->pos < c->len && (unsigned char)c->s[c->pos] >= 0x21 &&
	       (unsigned char)c->s[c->pos] <= 0x7e && c->s[c->pos] != ';')
		c->pos++;
	out->nparams++;
	if (strcmp(tag, "accounturi") == 0) {
		if (c->pos == vstart)
			return fail(err, errlen, "empty accounturi");
		return copy_param(out->accounturi, c->s + vstart,
				  c->pos - vstart, &out->has_accounturi, tag,
				  err, errlen);
	}
	if (strcmp(tag, "validationmethods") == 0) {
		if (copy_param(out->validationmethods, c->s + vstart,
			       c->pos - vstart, &out->has_validationmethods,
			       tag, err, errlen) < 0)
			return -1;
		if (!valid_methods(out->validationmethods))
			return fail(err, errlen, "bad validationmethods");
	}
	return 0;
}

int
dns_caa_issue_parse(const char *value, size_t len, struct dns_caa_issue *out,
		    char *err, size_t errlen)
{
	struct cur c = {value, len, 0};
	size_t istart;

	memset(out, 0, sizeof(*out));
	if (len > DNS_CAA_VALUE_MAX)
		return fail(err, errlen, "value of %zu bytes", len);
	skip_wsp(&c);
	istart = c.pos;
	/* issuer-domain-name = label *("." label) */
	for (;;) {
		long l = scan_label(&c);

		if (l < 0)
			return fail(err, errlen, "issuer label ends in '-'");
		if (l == 0) {
			if (c.pos != istart)
				return fail(err, errlen,
					    "empty label in issuer");
			break;
		}
		if (c.pos < c.len && c.s[c.pos] == '.')
			c.pos++;
		else
			break;
	}
	if (c.pos - istart >= sizeof(out->issuer))
		return fail(err, errlen, "issuer of %zu bytes", c.pos - istart);
	for (size_t i = istart; i < c.pos; i++)
		out->issuer[i - istart] = lower(c.s[i]);
	out->forbids = c.pos == istart;
	skip_wsp(&c);
	if (c.pos < c.len) {
		if (c.s[c.pos] != ';')
			return fail(err, errlen, "unexpected '%c' at %zu",
				    c.s[c.pos], c.pos);
		c.pos++;
		skip_wsp(&c);
		/* parameters = parameter *( *WSP ";" *WSP parameter ) */
		while (c.pos < c.len) {
			if (parse_param(&c, out, err, errlen) < 0)
				return -1;
			skip_wsp(&c);
			if (c.pos >= c.len)
				break;
			if (c.s[c.pos] != ';')
				return fail(err, errlen,
					    "unexpected '%c' at %zu",
					    c.s[c.pos], c.pos);
			c.pos++;
			skip_wsp(&c);
			if (c.pos >= c.len)
				return fail(err, errlen,
					    "';' without a parameter");
		}
	}
	return 0;
}
