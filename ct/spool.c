/* SPDX-License-Identifier: GPL-3.0-or-later */
/* spool.c - the CT spool file: writer and pure, bounded parser (spool.h). */
#include "ct/spool.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/err.h"

enum field_type { F_STR, F_HEX, F_I64, F_U64, F_STATE, F_CERT, F_CHAIN };

struct field {
	const char *key;
	enum field_type type;
	size_t off;	/* of the value in struct ct_event */
	size_t size;	/* of a string's buffer */
	size_t has_off; /* of its has_* flag (F_I64, F_U64) */
	int required;
};

#define S(k, m)                                                                \
	{                                                                      \
		k, F_STR, offsetof(struct ct_event, m),                        \
		    sizeof(((struct ct_event *)0)->m), 0, 0                    \
	}
#define H(k, m)                                                                \
	{                                                                      \
		k, F_HEX, offsetof(struct ct_event, m), 65, 0, 0               \
	}
#define N(k, t, m, h)                                                          \
	{                                                                      \
		k, t, offsetof(struct ct_event, m), 0,                         \
		    offsetof(struct ct_event, h), 0                            \
	}

/* In the order the writer emits them (docs/ct.md, "The spool file"). */
static const struct field fields[] = {
    {"event", F_STR, offsetof(struct ct_event, event),
     sizeof(((struct ct_event *)0)->event), 0, 1},
    S("summary", summary),
    S("watch_item", watch_item),
    H("tbs_sha256", tbs_sha256),
    H("cert_sha256", cert_sha256),
    S("issuer_dn", issuer_dn),
    S("subject_dn", subject_dn),
    S("serial", serial),
    N("not_before", F_I64, not_before, has_not_before),
    N("not_after", F_I64, not_after, has_not_after),
    S("log_uri", log_uri),
    N("entry_index", F_U64, entry_index, has_entry_index),
    {"cert_state", F_STATE, offsetof(struct ct_event, cert_state), 0, 0, 1},
    S("cert_error", cert_error),
    H("spki_sha256", spki_sha256),
    {"cert", F_CERT, offsetof(struct ct_event, cert_der), 0, 0, 0},
    {"chain", F_CHAIN, offsetof(struct ct_event, chain_der), 0, 0, 0},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static const char *const state_words[] = {"ok", "absent", "unreadable",
					  "malformed"};

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void
ct_event_init(struct ct_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->cert_state = CT_CERT_ABSENT;
}

const char *
ct_cert_state_word(enum ct_cert_state s)
{
	if ((unsigned)s < sizeof(state_words) / sizeof(state_words[0]))
		return state_words[s];
	return "malformed";
}

/* ---- writer ---------------------------------------------------------- */

/* Control bytes, DEL and '%' become %XX, so a value is one line and
 * keeps its leading and trailing blanks. */
static void
put_escaped(struct buf *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '%')
			buf_printf(out, "%%%02X", *p);
		else
			buf_putc(out, (char)*p);
	}
}

static void
put_base64(struct buf *out, const uint8_t *d, size_t n)
{
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v =
		    (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
		char q[4] = {b64[v >> 18], b64[(v >> 12) & 63],
			     b64[(v >> 6) & 63], b64[v & 63]};
		buf_append(out, q, 4);
	}
	if (i < n) {
		uint32_t v = (uint32_t)d[i] << 16 |
			     (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0);
		char q[4] = {b64[v >> 18], b64[(v >> 12) & 63],
			     i + 1 < n ? b64[(v >> 6) & 63] : '=', '='};
		buf_append(out, q, 4);
	}
}

/* A chain to write: 1 to CT_CHAIN_MAX certificates, none empty, that fit,
 * after a leaf. */
static int
chain_ok(const struct ct_event *ev)
{
	size_t total = 0;

	if (ev->nchain == 0 || ev->nchain > CT_CHAIN_MAX || ev->cert_len == 0)
		return 0;
	for (size_t i = 0; i < ev->nchain; i++) {
		if (ev->chain_len[i] == 0)
			return 0;
		total += ev->chain_len[i];
	}
	return total <= CT_CHAIN_DER_MAX;
}

void
ct_spool_format(const struct ct_event *ev, struct buf *out)
{
	const char *base = (const char *)ev;

	buf_puts(out, CT_SPOOL_MAGIC "\n");
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];
		const char *v = base + f->off;

		switch (f->type) {
		case F_STR:
		case F_HEX:
			if (!*v && !f->required)
				continue;
			buf_printf(out, "%s ", f->key);
			/* A string filled past its size would run on. */
			if (memchr(v, '\0', f->size) != NULL)
				put_escaped(out, v);
			break;
		case F_I64:
			if (!*(const int *)(base + f->has_off))
				continue;
			buf_printf(out, "%s %" PRId64, f->key,
				   *(const int64_t *)(const void *)v);
			break;
		case F_U64:
			if (!*(const int *)(base + f->has_off))
				continue;
			buf_printf(out, "%s %" PRIu64, f->key,
				   *(const uint64_t *)(const void *)v);
			break;
		case F_STATE:
			buf_printf(out, "%s %s", f->key,
				   ct_cert_state_word(ev->cert_state));
			break;
		case F_CERT:
			if (ev->cert_len == 0 || ev->cert_len > CT_CERT_DER_MAX)
				continue;
			buf_printf(out, "%s ", f->key);
			put_base64(out, ev->cert_der, ev->cert_len);
			break;
		case F_CHAIN:
			if (!chain_ok(ev))
				continue;
			buf_printf(out, "%s ", f->key);
			for (size_t c = 0, off = 0; c < ev->nchain; c++) {
				if (c)
					buf_putc(out, ',');
				put_base64(out, ev->chain_der + off,
					   ev->chain_len[c]);
				off += ev->chain_len[c];
			}
			break;
		}
		buf_putc(out, '\n');
	}
	buf_puts(out, "end\n");
}

/* ---- parser ---------------------------------------------------------- */

/* Unescapes v[0..n) into dst (size bytes, NUL-terminated).  -1 when a %
 * is not followed by two hex digits, the value holds a raw control byte or
 * an escaped NUL, or it does not fit. */
static int
get_escaped(const char *v, size_t n, char *dst, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= n)
				return -1;
			hi = buf_hex_digit(v[i + 1]);
			lo = buf_hex_digit(v[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			if (c == 0)
				return -1;
			i += 2;
		} else if (c < 0x20 || c == 0x7f) {
			return -1;
		}
		if (o + 1 >= size)
			return -1;
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return 0;
}

static int
get_hex(const char *v, size_t n, char *dst)
{
	if (n != 64)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (buf_hex_digit(v[i]) < 0 || (v[i] >= 'A' && v[i] <= 'F'))
			return -1;
		dst[i] = v[i];
	}
	dst[n] = '\0';
	return 0;
}

/* A decimal number of at most 19 digits (no overflow), '-' allowed when
 * `sign`. */
static int
get_num(const char *v, size_t n, int sign, int64_t *neg, uint64_t *out)
{
	size_t i = 0;
	uint64_t u = 0;

	*neg = 0;
	if (sign && n > 0 && v[0] == '-') {
		*neg = 1;
		i = 1;
	}
	if (i == n || n - i > 19)
		return -1;
	for (; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		u = u * 10 + (uint64_t)(v[i] - '0');
	}
	*out = u;
	return 0;
}

static int
get_base64(const char *v, size_t n, uint8_t *dst, size_t size, size_t *len)
{
	size_t o = 0;

	if (n == 0 || n % 4)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t acc = 0;
		int pad = 0;
		for (int j = 0; j < 4; j++) {
			const char *p;
			char c = v[i + j];
			if (c == '=' && i + 4 == n && j >= 2 &&
			    (j == 3 || v[i + 3] == '=')) {
				pad++;
				acc <<= 6;
				continue;
			}
			if (pad || c == '\0' || (p = strchr(b64, c)) == NULL)
				return -1;
			acc = acc << 6 | (uint32_t)(p - b64);
		}
		if (o + 3 - (size_t)pad > size)
			return -1;
		dst[o++] = (uint8_t)(acc >> 16);
		if (pad < 2)
			dst[o++] = (uint8_t)(acc >> 8);
		if (pad < 1)
			dst[o++] = (uint8_t)acc;
	}
	*len = o;
	return 0;
}

static int
set_field(struct ct_event *ev, const struct field *f, const char *v, size_t n)
{
	char *base = (char *)ev;
	int64_t neg;
	uint64_t u;

	switch (f->type) {
	case F_STR:
		return get_escaped(v, n, base + f->off, f->size);
	case F_HEX:
		return n == 0 ? 0 : get_hex(v, n, base + f->off);
	case F_I64:
		/* Up to ±INT64_MAX: -INT64_MIN would overflow. */
		if (get_num(v, n, 1, &neg, &u) < 0 || u > INT64_MAX)
			return -1;
		*(int64_t *)(void *)(base + f->off) =
		    neg ? -(int64_t)u : (int64_t)u;
		*(int *)(base + f->has_off) = 1;
		return 0;
	case F_U64:
		if (get_num(v, n, 0, &neg, &u) < 0)
			return -1;
		*(uint64_t *)(void *)(base + f->off) = u;
		*(int *)(base + f->has_off) = 1;
		return 0;
	case F_STATE:
		for (size_t i = 0;
		     i < sizeof(state_words) / sizeof(state_words[0]); i++)
			if (strlen(state_words[i]) == n &&
			    !memcmp(v, state_words[i], n)) {
				ev->cert_state = (enum ct_cert_state)i;
				return 0;
			}
		return -1;
	case F_CERT:
		return get_base64(v, n, ev->cert_der, CT_CERT_DER_MAX,
				  &ev->cert_len);
	case F_CHAIN: {
		/* Base64 blocks joined by ',', at most CT_CHAIN_MAX. */
		size_t off = 0;
		while (n > 0) {
			const char *comma = memchr(v, ',', n);
			size_t bl = comma ? (size_t)(comma - v) : n, got;
			if (ev->nchain == CT_CHAIN_MAX ||
			    get_base64(v, bl, ev->chain_der + off,
				       CT_CHAIN_DER_MAX - off, &got) < 0 ||
			    got == 0)
				return -1;
			ev->chain_len[ev->nchain++] = got;
			off += got;
			if (comma && bl + 1 == n)
				return -1; /* a trailing ',' */
			n -= comma ? bl + 1 : bl;
			v += comma ? bl + 1 : bl;
		}
		return ev->nchain ? 0 : -1;
	}
	}
	return -1;
}

int
ct_spool_parse(const char *text, size_t len, struct ct_event *ev, char *err,
	       size_t errlen)
{
	size_t pos = 0, lineno = 0;
	uint32_t seen = 0;
	int ended = 0;

	ct_event_init(ev);
	if (len > CT_SPOOL_MAX) {
		errf(err, errlen, "spool file over %d bytes", CT_SPOOL_MAX);
		return -1;
	}
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n, klen;
		const char *sp;

		lineno++;
		if (nl == NULL) {
			errf(err, errlen, "line %zu: no newline (torn file)",
			     lineno);
			return -1;
		}
		n = (size_t)(nl - line);
		pos += n + 1;
		if (ended) {
			errf(err, errlen, "line %zu: text after \"end\"",
			     lineno);
			return -1;
		}
		if (lineno == 1) {
			if (n != strlen(CT_SPOOL_MAGIC) ||
			    memcmp(line, CT_SPOOL_MAGIC, n)) {
				errf(err, errlen,
				     "not a certwatch CT spool "
				     "file (version 1)");
				return -1;
			}
			continue;
		}
		if (n == 3 && !memcmp(line, "end", 3)) {
			ended = 1;
			continue;
		}
		sp = memchr(line, ' ', n);
		if (sp == NULL) {
			errf(err, errlen, "line %zu: expected \"key value\"",
			     lineno);
			return -1;
		}
		klen = (size_t)(sp - line);
		for (size_t i = 0; i < NFIELDS; i++) {
			const struct field *f = &fields[i];
			if (strlen(f->key) != klen ||
			    memcmp(f->key, line, klen))
				continue;
			if (seen & (1u << i)) {
				errf(err, errlen, "line %zu: %s given twice",
				     lineno, f->key);
				return -1;
			}
			seen |= 1u << i;
			if (set_field(ev, f, sp + 1, n - klen - 1) < 0) {
				errf(err, errlen, "line %zu: bad %s value",
				     lineno, f->key);
				return -1;
			}
			break;
		}
	}
	if (lineno == 0) {
		errf(err, errlen, "empty spool file");
		return -1;
	}
	if (!ended) {
		errf(err, errlen, "no \"end\" line (torn file)");
		return -1;
	}
	for (size_t i = 0; i < NFIELDS; i++)
		if (fields[i].required && !(seen & (1u << i))) {
			errf(err, errlen, "%s missing", fields[i].key);
			return -1;
		}
	if (ev->nchain && ev->cert_len == 0) {
		errf(err, errlen, "a chain without a cert line");
		return -1;
	}
	if ((ev->cert_state == CT_CERT_OK) != (ev->cert_len > 0)) {
		errf(err, errlen, "cert_state %s %s a cert line",
		     ct_cert_state_word(ev->cert_state),
		     ev->cert_len ? "with" : "without");
		return -1;
	}
	return 0;
}
