/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * report.h - rendering a check_result, in one place: the text the bot and
 * the terminal show, the monitoring-plugin first line, and the JSON of
 * `certwatch check --json`.  Pure functions.
 */
#ifndef CERTWATCH_REPORT_H
#define CERTWATCH_REPORT_H

#include <stdint.h>

#include "component/transition.h"
#include "probe/check.h"
#include "store/store.h"
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
	"This is a fault of the certwatch service (its Tor proxy does not "    \
	"work), not of the domain; the service's operator has to fix it."

/* Appends plain words for a DNS failure's RCODE in `reason` (SERVFAIL,
 * REFUSED), or nothing. */
void report_dns_words(const char *reason, struct buf *out);

/* A result without endpoints: "failed at: WHY (step S)" and what the
 * services' look-ups found, one line each (services with the same words
 * share a line). */
void report_no_endpoint(const struct check_result *r, struct buf *out);

/* A DNSSEC state in words ("secure", ..., "-" for none). */
const char *report_sec_word(enum dns_sec s);

/* ,"KEY":[...] of JSON strings. */
void report_json_strv(struct buf *out, const char *key, char **v, size_t n);

/* What the operator should do about the domain's verdict, one paragraph. */
const char *report_advice(enum verdict v);

/* ---- report_alert.c: alerts of a watched domain, and dates ---- */

enum report_time_form {
	REPORT_TIME_DAY,    /* 2024-05-01 */
	REPORT_TIME_MINUTE, /* 2024-05-01 12:34 UTC */
	REPORT_TIME_SECOND, /* 2024-05-01 12:34:56 UTC */
};
/* The one date formatter: seconds since the epoch in UTC, `none` for 0
 * (never) or a time that cannot be shown. */
void report_time(int64_t t, enum report_time_form form, const char *none,
		 char *buf, size_t len);

/* A domain's alert of kind k (docs/usage.md "Alerts"): its words, the
 * round's report, the keys seen before (an alarm), how to stop alerts.
 * prev: the verdict before; rounds: unreachable rounds in a row. */
void report_alert(struct buf *b, enum alert_kind k, const char *domain,
		  enum verdict prev, const struct check_result *r,
		  unsigned rounds, const struct store_key *keys, size_t nkeys);
/* An endpoint's trouble alert (ALERT_INFO) or its recovery: r's endpoint
 * ep failing (failed) at `step` for `rounds`; `last`, the verdict it
 * counts at meanwhile. */
void report_endpoint_alert(struct buf *b, enum alert_kind k, const char *domain,
			   const struct check_result *r, size_t ep,
			   const char *step, unsigned rounds, enum verdict last,
			   int via_tor);
/* A watched domain's defence alert (defence_watch.h): one line per event
 * (an alarm first), then the round's report. */
struct defence_event;
void report_defence_alert(struct buf *b, const char *domain,
			  const struct check_result *r,
			  const struct defence_event *ev, size_t n);
/* The short form of one event, for the history ("channel binding
 * withdrawn at HOST:PORT"). */
void report_defence_note(const struct defence_event *ev,
			 const struct check_result *r, char *out, size_t len);
/* The summary at the end of an hour of held alerts ([watch] flap_limit). */
void report_flap_summary(struct buf *b, const char *domain, unsigned held,
			 enum verdict now);

/* report_probes.c: each endpoint's probes, the domain's warnings
 * (key-split) in JSON ("probes", "warnings") and text (probe lines only
 * where the probes differ), and the split in the summary. */
void report_json_probes(const struct check_endpoint *e, struct buf *out);
/* ",\"warnings\":[{\"code\", \"text\"}...]" */
void report_json_warning_list(const struct check_warning *w, size_t n,
			      struct buf *out);
void report_text_probes(const struct check_endpoint *e, struct buf *out);
/* Whether an endpoint's probes differ (verdict, key or failed step): only
 * then are they listed one by one (docs/usage.md, "Probes"). */
int report_probes_differ(const struct check_endpoint *e);
/* One probe: "probe ADDRESS via VANTAGE: VERDICT[, key K (TYPE)][, STEP: WHY]".
 */
void report_probe_line(const struct check_probe *p, struct buf *out);
void report_text_warnings(const struct check_result *r, struct buf *out);
/* One line when a vantage's proxy is down while other vantages decided. */
void report_text_dead_vantages(const struct check_result *r, struct buf *out);
/* For no-tlsa and insecure with a key-split: why no TLSA lines are given. */
void report_text_split_setup(const struct check_result *r, struct buf *out);
void report_summary_split(const struct check_result *r, struct buf *out);
/* check's exit status: the verdict's (verdict_exit_code), at least 1 when
 * the domain has warnings (key-split); the status line's first word
 * follows it. */
int report_exit_code(const struct check_result *r);

/* Certificate Transparency (docs/ct.md): the alarm or info of one logged
 * certificate r judged for `domain`, with what to do. */
struct ct_record;
void report_ct_alert(struct buf *b, const char *domain,
		     const struct ct_record *r);

#endif
