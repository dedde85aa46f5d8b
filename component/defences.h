/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * defences.h - what else protects a domain against an interception with
 * a valid certificate (docs/usage.md, "Defences"): CAA bound to an ACME
 * account, channel binding, expiry, the strength of the TLSA records and
 * a prepared next key.  Pure: a check_result in, text, JSON or a
 * checklist out.  Never changes a verdict.
 */
#ifndef CERTWATCH_DEFENCES_H
#define CERTWATCH_DEFENCES_H

#include "probe/check.h"
#include "util/buf.h"

/* The "Defences:" section of the text report, from a blank line. */
void defences_text(const struct check_result *r, struct buf *out);

/* ,"defences":{...} of the JSON report. */
void defences_json(const struct check_result *r, struct buf *out);

/* ,"channel_binding":{...} of one endpoint (null for s2s). */
void defences_endpoint_json(const struct check_endpoint *e, struct buf *out);

/* One line of the checklist of the web page. */
struct defence_line {
	const char *name;	/* "CAA", "Channel binding", ... */
	char state[64];		/* the JSON state, or days for expiry */
	int good;		/* 1 in place, 0 missing, -1 not known */
	const char *todo;	/* what to do; "" when nothing */
};

#define DEFENCES_LINES 5

/* Fills l[0..DEFENCES_LINES); returns how many lines were filled. */
size_t defences_checklist(const struct check_result *r,
			  struct defence_line *l);

#endif
