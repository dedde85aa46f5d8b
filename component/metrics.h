/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * metrics.h - the service's counters and gauges, in the Prometheus text
 * exposition format (`certwatch_` prefix) for GET /metrics.
 *
 * Counters are fed by the check observers (check_config.on_probe and
 * on_check, with observer_arg = the metrics) and by the web server; gauges
 * are read when the page is rendered, from the store, the watcher, the
 * check environment and the component.  Nothing here does I/O.
 */
#ifndef CERTWATCH_METRICS_H
#define CERTWATCH_METRICS_H

#include <stdint.h>

#include "probe/check.h"
#include "util/buf.h"

struct metrics;
struct store;
struct watch;

/* Never fails (allocation failure aborts).  Free with metrics_free(). */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m); /* NULL: no-op */

/* The check observers: set check_config.on_probe / on_check to these and
 * observer_arg to the metrics. */
void metrics_on_probe(void *arg, const struct probe_result *res);
void metrics_on_check(void *arg, const struct check_result *res);

/* [http] metrics_per_domain: 1 (the default of metrics_new) renders the
 * series with a domain label, for up to METRICS_MAX_DOMAINS watched
 * domains (above, counts only); 0 counts only. */
void metrics_set_per_domain(struct metrics *m, int on);

/* The web server's own counters. */
void metrics_http_request(struct metrics *m, int status);
enum metrics_refusal {
	METRICS_REFUSED_RATE = 0,
	METRICS_REFUSED_BUSY,
	METRICS_REFUSED_COUNT
};
void metrics_http_check_refused(struct metrics *m, enum metrics_refusal why);
void metrics_http_check_started(struct metrics *m);
void metrics_http_connections(struct metrics *m, unsigned open);

/* Certificate Transparency (docs/ct.md): certspotter running (1/0; the
 * series appear once this is called), and one event taken, by judgement
 * (enum ct_judged order: known, unpublished, new, malformed). */
#define METRICS_CT_JUDGED 4
void metrics_ct_up(struct metrics *m, int up);
void metrics_ct_event(struct metrics *m, int judged);

/*
 * Where the gauges come from when rendering; any pointer may be NULL (its
 * metrics are then left out).  connected < 0: unknown (left out).
 */
struct metrics_sources {
	const struct store *store;
	const struct watch *watch;
	const struct check_env *checks;
	int connected;	   /* component stream up: 1 / 0 / -1 */
	long reconnects;   /* -1: unknown */
	double start_time; /* seconds since the epoch, 0: unknown */
};

/* Above this many watched domains, /metrics has counts only (one page of
 * about 100 bytes a series stays near 4 MB). */
#define METRICS_MAX_DOMAINS 10000

/* Appends the whole exposition (ends with a newline) to out.  m is not
 * const: it remembers that the per-domain cut was logged (once). */
void metrics_render(struct metrics *m, const struct metrics_sources *src,
		    struct buf *out);

/*
 * GET /probe?domain= (docs/web.md, "Probe"): the metrics of one check, in
 * the blackbox_exporter style: certwatch_probe_success (1: verdict ok),
 * certwatch_probe_verdict{verdict}, certwatch_probe_duration_seconds and
 * per endpoint the key match, TLSA records and certificate expiry.
 * Appends the whole exposition to out.
 */
void metrics_probe_render(const struct check_result *res, struct buf *out);

/* The histogram's bucket bounds in seconds, for tests. */
extern const double metrics_probe_buckets[];
extern const unsigned metrics_probe_nbuckets;

#endif
