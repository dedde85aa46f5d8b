/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * err.h - the libraries' way of saying what went wrong: a message written
 * into a buffer the caller owns (which may be NULL).  Inline so that every
 * module can use it without linking anything.
 */
#ifndef CERTWATCH_ERR_H
#define CERTWATCH_ERR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

#endif
