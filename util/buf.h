/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * buf.h - a growable, always NUL-terminated byte string, with the escapes
 * the renderers need (JSON, HTML, XML).  Allocation failure aborts: a daemon
 * that cannot allocate a few bytes of text cannot do anything useful.
 */
#ifndef CERTWATCH_BUF_H
#define CERTWATCH_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *s; /* NUL-terminated; NULL until the first append */
	size_t len;
	size_t cap;
};

#define BUF_INIT                                                               \
	{                                                                      \
		NULL, 0, 0                                                     \
	}

void buf_append(struct buf *b, const char *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);

/* A JSON string literal, with quotes; NULL gives `null`.  Invalid UTF-8
 * bytes become U+FFFD. */
void buf_json_str(struct buf *b, const char *s);
/* Text escaped for HTML element content and quoted attribute values. */
void buf_html(struct buf *b, const char *s);

/* The value of one hex digit (either case), or -1: for the readers of
 * %XX escapes and hex strings (the store, the CT spool and state). */
int buf_hex_digit(char c);

/* Empties b, keeping its memory. */
void buf_reset(struct buf *b);
/* Frees b's memory and zeroes it. */
void buf_free(struct buf *b);
/* Hands over the string (never NULL; "" when empty); b is zeroed. */
char *buf_steal(struct buf *b);

/* Like strdup, but aborts on failure. NULL gives NULL. */
char *xstrdup(const char *s);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);

#endif
