/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * report.h - rendering a check_result, in one place: the text the bot and
 * the terminal show, the monitoring-plugin first line, and the JSON of
 * `certwatch check --json`.  Pure functions.
 */
#ifndef CERTWATCH_REPORT_H
#define CERTWATCH_REPORT_H

#include "probe/check.h"
#include "util/buf.h"

/* "CERTWATCH OK - good.test: ok (4 endpoints)" without a newline. */
void report_status_line(const struct check_result *r, struct buf *out);

/* The full human report (several lines, ends with a newline): verdict,
 * endpoints, keys, what to do.  The bot and the CLI send the same text. */
void report_text(const struct check_result *r, struct buf *out);

/* One short line for lists ("good.test: ok"). */
void report_summary(const struct check_result *r, struct buf *out);

/* The JSON object of "check --json" (man/certwatch.8.scd), one line plus
 * newline. */
void report_json(const struct check_result *r, struct buf *out);

/* True when a probe's failure is the service's own, not the domain's: the
 * Tor SOCKS proxy could not be reached or did not speak SOCKS5. */
int report_service_fault(enum probe_step step, const char *reason);

/* Said to users under such a failure. */
#define REPORT_SERVICE_FAULT                                                   \
	"This is a fault of the certwatch service (its Tor proxy does not "   \
	"work), not of the domain; the service's operator has to fix it."

/* Appends plain words for a DNS failure's RCODE in `reason` (SERVFAIL,
 * REFUSED), or nothing. */
void report_dns_words(const char *reason, struct buf *out);

/* A result without endpoints: "failed at: WHY (step S)" and what the
 * services' look-ups found, one line each (services with the same words
 * share a line). */
void report_no_endpoint(const struct check_result *r, struct buf *out);

/* What the operator should do about the domain's verdict, one paragraph. */
const char *report_advice(enum verdict v);

/* report_probes.c: each endpoint's probes, the domain's warnings
 * (key-split) in JSON ("probes", "warnings") and text (probe lines only
 * where the probes differ), and the split in the summary. */
void report_json_probes(const struct check_endpoint *e, struct buf *out);
/* ",\"warnings\":[{\"code\", \"text\"}...]" */
void report_json_warning_list(const struct check_warning *w, size_t n,
			      struct buf *out);
void report_text_probes(const struct check_endpoint *e, struct buf *out);
void report_text_warnings(const struct check_result *r, struct buf *out);
void report_summary_split(const struct check_result *r, struct buf *out);

#endif
