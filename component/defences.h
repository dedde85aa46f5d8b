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
	const char *name; /* "CAA", "Channel binding", ... */
	char state[64];	  /* the JSON state, or days for expiry */
	int good;	  /* 1 in place, 0 missing, -1 not known */
	const char *todo; /* what to do; "" when nothing */
};

/* What the defences of a result come to (docs/usage.md "Defences"), for
 * a watched domain's state between rounds and the metrics. */
enum defences_tlsa {
	DEFENCES_TLSA_NONE,
	DEFENCES_TLSA_WEAK,
	DEFENCES_TLSA_STRONG
};
struct defences_summary {
	enum check_caa_state caa;
	enum probe_cb cb;  /* as in JSON; PROBE_CB_NA: no c2s endpoint */
	int64_t not_after; /* the earliest leaf's expiry; 0: none seen */
	size_t expiry_ep;  /* the endpoint of that leaf */
	int expiry_days;   /* whole days left (negative: expired) */
	int expiry_soon;   /* under [watch] expiry_warn_days */
	enum defences_tlsa tlsa;
	int next_key;  /* a prepared next key is published */
	int cb_usable; /* as in JSON: -1 null, 0 false, 1 true */
	int key_reuse; /* watched domains: 1 kept, 2 new, 0 unknown */
};

void defences_summary(const struct check_result *r, struct defences_summary *s);
/* "strong", "weak", "none". */
const char *defences_tlsa_name(enum defences_tlsa q);

#define DEFENCES_LINES 6

/* Fills l[0..DEFENCES_LINES); returns how many lines were filled. */
size_t defences_checklist(const struct check_result *r, struct defence_line *l);
/* The same from a summary (a watched domain's, defence_watch.h). */
size_t defences_checklist_of(const struct defences_summary *s,
			     struct defence_line *l);

#endif
