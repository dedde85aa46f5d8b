/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * lex.c - the lines and fields of a shard file (docs/store.md) for its
 * parser (parse.c): one bounded line at a time, space-separated fields
 * with %XX escapes, numbers in a range, words and names of a bounded
 * length.  Pure functions of the bytes, as the parser.
 */
#include "store/lex.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

int
lex_fail(struct pctx *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!c->failed && c->err && c->errlen) {
		n = snprintf(c->err, c->errlen, "line %u: ", c->lineno);
		if (n >= 0 && (size_t)n < c->errlen) {
			va_start(ap, fmt);
			vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	c->failed = 1;
	return -1;
}

/* Copies the next line into c->line.  1 a line, 0 end of input, -1 a line
 * that is too long or holds a control byte. */
int
lex_next_line(struct pctx *c)
{
	const char *s = c->buf + c->pos, *nl;
	size_t n, rest = c->len - c->pos;

	if (rest == 0)
		return 0;
	c->lineno++;
	c->line_start = c->pos;
	nl = memchr(s, '\n',
		    rest < STORE_LINE_MAX + 1 ? rest : STORE_LINE_MAX + 1);
	n = nl ? (size_t)(nl - s) : rest;
	if (n > STORE_LINE_MAX) {
		nl = memchr(s, '\n', rest);
		c->pos = nl ? (size_t)(nl - c->buf) + 1 : c->len;
		return lex_fail(c, "line longer than %d bytes", STORE_LINE_MAX);
	}
	c->pos += n + (nl != NULL);
	/* Other control bytes are refused by decode(), which sees every
	 * byte of a line that is used. */
	if (memchr(s, '\0', n) != NULL)
		return lex_fail(c, "NUL byte");
	memcpy(c->line, s, n);
	c->line[n] = '\0';
	c->cur = c->line;
	return 1;
}

/* Decodes the %XX escapes of s in place; "-" is NULL.  -1 on a bad
 * escape or an escaped NUL. */
static int
decode(char *s, char **out)
{
	char *w = s, *r = s;

	if (strcmp(s, "-") == 0) {
		*out = NULL;
		return 0;
	}
	while (*r) {
		if ((unsigned char)*r < 0x20 || *r == 0x7f)
			return -1;
		if (*r == '%') {
			int hi = buf_hex_digit(r[1]),
			    lo = hi < 0 ? -1 : buf_hex_digit(r[2]);

			if (lo < 0 || (hi | lo) == 0)
				return -1;
			*w++ = (char)(hi << 4 | lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	*out = s;
	return 0;
}

/* The next space-separated field of the line, decoded; *out NULL for "-".
 * -1 when there is none or it is malformed. */
int
lex_field(struct pctx *c, char **out)
{
	char *s = c->cur, *sp;

	if (s == NULL || *s == '\0')
		return -1;
	sp = strchr(s, ' ');
	if (sp) {
		*sp = '\0';
		c->cur = sp + 1;
	} else {
		c->cur = NULL;
	}
	if (*s == '\0')
		return -1;
	return decode(s, out);
}

/* The rest of the line as text (the last field). */
int
lex_text(struct pctx *c, char **out)
{
	char *s = c->cur;

	c->cur = NULL;
	if (s == NULL || *s == '\0')
		return -1;
	return decode(s, out);
}

int
lex_done(struct pctx *c)
{
	return c->cur == NULL ? 0 : -1;
}

int
lex_num(struct pctx *c, int64_t min, int64_t max, int64_t *out)
{
	uint64_t v = 0;
	char *s;
	int neg;

	if (lex_field(c, &s) < 0 || s == NULL)
		return -1;
	neg = *s == '-';
	s += neg;
	if (*s == '\0' || strlen(s) > 19)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	/* 19 digits fit in a uint64_t; then the range of int64_t. */
	if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
		return -1;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	if (*out < min || *out > max)
		return -1;
	return 0;
}

int
lex_word(struct pctx *c, char **out, int required)
{
	if (lex_field(c, out) < 0)
		return -1;
	if (*out == NULL)
		return required ? -1 : 0;
	return store_word_ok(*out) ? 0 : -1;
}

int
lex_name(struct pctx *c, char **out, size_t max)
{
	if (lex_field(c, out) < 0 || *out == NULL)
		return -1;
	return strlen(*out) <= max ? 0 : -1;
}

int
lex_opt_name(struct pctx *c, char **out, size_t max)
{
	if (lex_field(c, out) < 0)
		return -1;
	return *out == NULL || strlen(*out) <= max ? 0 : -1;
}

/* Keeps a copy of a string of the record being applied until its end. */
const char *
lex_keep(struct pctx *c, const char *s)
{
	size_t n;
	char *p;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	if (c->arena_len + n > c->arena_cap)
		return NULL; /* sized beforehand: cannot happen */
	p = c->arena + c->arena_len;
	memcpy(p, s, n);
	c->arena_len += n;
	return p;
}
