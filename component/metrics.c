/* SPDX-License-Identifier: GPL-3.0-or-later */
/* metrics.c - counters fed by the checks and the web server, rendered in the
 * Prometheus text exposition format. */
#include "component/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "version.h"
#include "component/log.h"
#include "component/transition.h"
#include "component/domain_state.h"
#include "component/watch.h"
#include "store/store.h"

/* Probes take from tens of milliseconds (direct) to a minute (Tor, a
 * stalled server up to [probe] timeout). */
const double metrics_probe_buckets[] = {0.025, 0.05, 0.1, 0.25, 0.5, 1,
					2.5,   5,    10,  30,	60};
#define NBUCKETS                                                               \
	(sizeof(metrics_probe_buckets) / sizeof(metrics_probe_buckets[0]))
const unsigned metrics_probe_nbuckets = NBUCKETS;

/* Verdicts of checks, in verdict order (index = enum verdict). */
#define NVERDICTS (VERDICT_UNREACHABLE + 1)

/* Probe results: "ok" and each step a probe can fail at. */
static const enum probe_step probe_steps[] = {
    PROBE_STEP_NONE,	 PROBE_STEP_INPUT, PROBE_STEP_DNS,
    PROBE_STEP_TOR,	 PROBE_STEP_TCP,   PROBE_STEP_STREAM,
    PROBE_STEP_STARTTLS, PROBE_STEP_TLS,   PROBE_STEP_VANTAGE,
};
#define NSTEPS (sizeof(probe_steps) / sizeof(probe_steps[0]))

/* HTTP statuses the server answers with; others count as "other". */
static const int http_codes[] = {200, 304, 400, 404, 405,
				 408, 413, 429, 500, 503};
#define NCODES (sizeof(http_codes) / sizeof(http_codes[0]))

struct metrics {
	uint64_t checks[NVERDICTS];
	uint64_t check_probes;	     /* probes made by checks */
	uint64_t probes[NSTEPS + 1]; /* by result; last: other */
	uint64_t probe_tls_refused;
	uint64_t buckets[NBUCKETS]; /* not cumulative */
	uint64_t probe_count;
	double probe_sum;	   /* seconds */
	uint64_t http[NCODES + 1]; /* last: other */
	uint64_t refused[METRICS_REFUSED_COUNT];
	uint64_t web_checks;
	unsigned http_open;
	int per_domain; /* [http] metrics_per_domain */
	int cut_logged; /* the per-domain series were left out, and logged */
	int ct_up;	/* certspotter running: 1 / 0; -1: [ct] not set */
	uint64_t ct_events[METRICS_CT_JUDGED]; /* by judgement */
};

struct metrics *
metrics_new(void)
{
	struct metrics *m = xcalloc(1, sizeof(struct metrics));

	m->per_domain = 1;
	m->ct_up = -1;
	return m;
}

void
metrics_set_per_domain(struct metrics *m, int on)
{
	m->per_domain = on;
}

void
metrics_free(struct metrics *m)
{
	free(m);
}

void
metrics_on_probe(void *arg, const struct probe_result *res)
{
	struct metrics *m = arg;
	size_t i = 0;
	double s = res->elapsed_ms / 1000.0;

	if (!res->ok) {
		for (i = 1; i < NSTEPS && probe_steps[i] != res->fail_step; i++)
			;
		if (i == 0 || res->fail_step == PROBE_STEP_NONE)
			i = NSTEPS; /* "other" */
	}
	m->probes[i]++;
	if (res->tls_refused)
		m->probe_tls_refused++;
	for (size_t b = 0; b < NBUCKETS; b++) {
		if (s <= metrics_probe_buckets[b]) {
			m->buckets[b]++;
			break;
		}
	}
	m->probe_count++;
	m->probe_sum += s;
}

void
metrics_on_check(void *arg, const struct check_result *res)
{
	struct metrics *m = arg;

	if ((unsigned)res->verdict < NVERDICTS)
		m->checks[res->verdict]++;
	m->check_probes += res->probes;
}

void
metrics_http_request(struct metrics *m, int status)
{
	size_t i;

	for (i = 0; i < NCODES && http_codes[i] != status; i++)
		;
	m->http[i]++;
}

void
metrics_http_check_refused(struct metrics *m, enum metrics_refusal why)
{
	if ((unsigned)why < METRICS_REFUSED_COUNT)
		m->refused[why]++;
}

void
metrics_http_check_started(struct metrics *m)
{
	m->web_checks++;
}

void
metrics_http_connections(struct metrics *m, unsigned open)
{
	m->http_open = open;
}

/* ---- rendering ---- */

static void
head(struct buf *out, const char *name, const char *type, const char *help)
{
	buf_printf(out, "# HELP certwatch_%s %s\n# TYPE certwatch_%s %s\n",
		   name, help, name, type);
}

static void
one(struct buf *out, const char *name, const char *type, const char *help,
    unsigned long long v)
{
	head(out, name, type, help);
	buf_printf(out, "certwatch_%s %llu\n", name, v);
}

static void
render_checks(const struct metrics *m, struct buf *out)
{
	head(out, "checks_total", "counter",
	     "Checks of a domain that ended, by the domain's verdict.");
	for (int v = VERDICT_OK; v < (int)NVERDICTS; v++)
		buf_printf(out, "certwatch_checks_total{verdict=\"%s\"} %llu\n",
			   verdict_name((enum verdict)v),
			   (unsigned long long)m->checks[v]);

	head(out, "probes_total", "counter",
	     "Probes (one connection to one endpoint) that ended, by result: "
	     "ok or the step that failed.");
	for (size_t i = 0; i <= NSTEPS; i++) {
		const char *w = i == 0	      ? "ok"
				: i == NSTEPS ? "other"
					      : probe_step_name(probe_steps[i]);
		buf_printf(out, "certwatch_probes_total{result=\"%s\"} %llu\n",
			   w, (unsigned long long)m->probes[i]);
	}
	one(out, "probes_tls_refused_total", "counter",
	    "Probes where the server offered no TLS or refused it.",
	    m->probe_tls_refused);

	head(out, "probe_duration_seconds", "histogram",
	     "Time from the start of a probe to its end.");
	unsigned long long cum = 0;
	for (size_t b = 0; b < NBUCKETS; b++) {
		cum += m->buckets[b];
		buf_printf(out,
			   "certwatch_probe_duration_seconds_bucket{le=\"%g\"} "
			   "%llu\n",
			   metrics_probe_buckets[b], cum);
	}
	buf_printf(out,
		   "certwatch_probe_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
		   "certwatch_probe_duration_seconds_sum %.3f\n"
		   "certwatch_probe_duration_seconds_count %llu\n",
		   (unsigned long long)m->probe_count, m->probe_sum,
		   (unsigned long long)m->probe_count);
}

static void
render_http(const struct metrics *m, struct buf *out)
{
	head(out, "http_requests_total", "counter",
	     "HTTP requests answered by the web server, by status code.");
	for (size_t i = 0; i <= NCODES; i++) {
		if (i < NCODES)
			buf_printf(out,
				   "certwatch_http_requests_total{code=\"%d\"} "
				   "%llu\n",
				   http_codes[i],
				   (unsigned long long)m->http[i]);
		else
			buf_printf(
			    out,
			    "certwatch_http_requests_total{code=\"other\"} "
			    "%llu\n",
			    (unsigned long long)m->http[i]);
	}
	one(out, "http_checks_started_total", "counter",
	    "Checks started from the web page or the JSON API.", m->web_checks);
	head(out, "http_checks_refused_total", "counter",
	     "Checks from the web refused: rate-limit (per client address) or "
	     "busy (probing saturated).");
	buf_printf(
	    out,
	    "certwatch_http_checks_refused_total{reason=\"rate-limit\"} "
	    "%llu\n"
	    "certwatch_http_checks_refused_total{reason=\"busy\"} %llu\n",
	    (unsigned long long)m->refused[METRICS_REFUSED_RATE],
	    (unsigned long long)m->refused[METRICS_REFUSED_BUSY]);
	one(out, "http_connections", "gauge", "HTTP connections open now.",
	    m->http_open);
}

static void
render_sources(const struct metrics_sources *src, struct buf *out)
{
	if (src->store) {
		struct store_stats ss;
		store_stats(src->store, &ss);
		one(out, "watched_domains", "gauge",
		    "Domains in the watch list.", ss.domains);
		one(out, "subscribers", "gauge",
		    "JIDs known to the store (chat subscribers and presence "
		    "contacts).",
		    ss.jids);
		one(out, "chat_subscriptions", "gauge",
		    "Chat subscriptions (domain, JID).", ss.chat_subs);
		one(out, "pubsub_subscriptions", "gauge",
		    "Pubsub subscriptions to domain nodes.", ss.pubsub_subs);
		one(out, "presence_subscriptions", "gauge",
		    "JIDs subscribed to the component's presence.",
		    ss.presence);
	}
	if (src->checks) {
		one(out, "probes_in_flight", "gauge", "Probes running now.",
		    check_env_probes_in_flight(src->checks));
		one(out, "probes_queued", "gauge",
		    "Probes waiting for a slot (concurrency, "
		    "probes_per_minute).",
		    check_env_probes_queued(src->checks));
	}
	if (src->watch) {
		struct watch_stats ws;
		watch_get_stats(src->watch, &ws);
		one(out, "rounds_total", "counter",
		    "Scheduled checks of watched domains that ended.",
		    ws.rounds);
		one(out, "rounds_running", "gauge", "Rounds in flight.",
		    ws.running);
		one(out, "rounds_waiting", "gauge",
		    "Rounds due and waiting for a slot.", ws.waiting);
		one(out, "domains_scheduled", "gauge",
		    "Watched domains with a round scheduled.", ws.scheduled);
		head(out, "alerts_total", "counter",
		     "Alerts sent to subscribers, by kind.");
		for (int k = ALERT_ALARM; k <= ALERT_INFO; k++)
			buf_printf(out,
				   "certwatch_alerts_total{kind=\"%s\"} %llu\n",
				   alert_kind_name((enum alert_kind)k),
				   (unsigned long long)ws.alerts[k]);
	}
	if (src->connected >= 0)
		one(out, "component_connected", "gauge",
		    "1 while the XEP-0114 stream to the XMPP server is up.",
		    (unsigned long long)src->connected);
	if (src->reconnects >= 0)
		one(out, "component_reconnects_total", "counter",
		    "Times the component's stream was established again after "
		    "it went down.",
		    (unsigned long long)src->reconnects);
	if (src->start_time > 0) {
		head(out, "start_time_seconds", "gauge",
		     "When the process started, seconds since the epoch.");
		buf_printf(out, "certwatch_start_time_seconds %.0f\n",
			   src->start_time);
	}
}

/* A label value in the text exposition format: backslash, double quote
 * and line feed escaped (Prometheus docs, "Text-based format"). */
static void
label(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			buf_putc(out, '\\');
		if (*s == '\n') {
			buf_puts(out, "\\n");
			continue;
		}
		buf_putc(out, *s);
	}
}

/* 1 when an endpoint's key matched a usable TLSA record, 0 when it did
 * not (mismatch); -1 when nothing was compared (no-tlsa, insecure, bogus,
 * unreachable: the verdict says why). */
static int
key_match(enum verdict v)
{
	if (v == VERDICT_OK)
		return 1;
	if (v == VERDICT_MISMATCH)
		return 0;
	return -1;
}

/* `service="...",host="...",port="..."}` of an endpoint: the caller has
 * opened the brace (and may have put labels before these). */
static void
endpoint_labels(struct buf *out, const char *service, const char *host,
		unsigned port)
{
	buf_puts(out, "service=\"");
	label(out, service ? service : "");
	buf_puts(out, "\",host=\"");
	label(out, host ? host : "");
	buf_printf(out, "\",port=\"%u\"}", port);
}

/* The verdict of a watched domain as a label: its word, "none" before the
 * first check. */
static int
domain_verdict(const struct store_domain *d)
{
	enum verdict v = domain_state_verdict(d);
	return (int)v;
}

static const char *
verdict_label(int v)
{
	return v == VERDICT_NONE ? "none" : verdict_name((enum verdict)v);
}

static void
render_endpoints(const struct store_domain *d, struct buf *out)
{
	struct domain_state *ds = xcalloc(1, sizeof(*ds));

	(void)domain_state_load(d, ds, NULL, 0);
	for (size_t i = 0; i < ds->n; i++) {
		const struct endpoint_state *e = &ds->ep[i];
		int match = key_match(e->verdict);
		if (match < 0)
			continue;
		buf_puts(out, "certwatch_endpoint_key_match{domain=\"");
		label(out, d->name);
		buf_puts(out, "\",");
		endpoint_labels(out, check_service_name(e->service), e->host,
				e->port);
		buf_printf(out, " %d\n", match);
	}
	free(ds);
}

/* Watched domains by the state of each defence at their last check
 * (docs/running.md): counts only, bounded labels (defence_watch.h). */
static void
render_defences(const struct metrics_sources *src, struct buf *out)
{
	uint64_t by[DEFENCE_METRIC_DEFS][DEFENCE_METRIC_STATES] = {{0}};
	struct defence_state st;
	int idx[DEFENCE_METRIC_DEFS];
	size_t cur = 0;
	const struct store_domain *d;

	while ((d = store_domain_next(src->store, &cur)) != NULL) {
		if (defence_parse(d->defence, &st) < 0)
			continue;
		defence_metric_states(&st, idx);
		for (int i = 0; i < DEFENCE_METRIC_DEFS; i++)
			if (idx[i] >= 0 && idx[i] < DEFENCE_METRIC_STATES)
				by[i][idx[i]]++;
	}
	head(out, "domains_defence", "gauge",
	     "Watched domains by the state of each defence at their last "
	     "check (docs/usage.md, \"Defences\"); a domain not checked yet, "
	     "without a client endpoint (channel_binding) or without a leaf "
	     "seen (expiry) is not counted there.");
	for (int i = 0; i < DEFENCE_METRIC_DEFS; i++)
		for (int s = 0; s < DEFENCE_METRIC_STATES; s++) {
			const char *w = defence_metric_word(i, s);
			if (w == NULL)
				continue;
			buf_printf(out,
				   "certwatch_domains_defence{defence=\"%s\","
				   "state=\"%s\"} %llu\n",
				   defence_metric_word(i, -1), w,
				   (unsigned long long)by[i][s]);
		}
}

/* Watched domains by verdict, and (per_domain, up to METRICS_MAX_DOMAINS)
 * each domain's verdict, last check and endpoints' key match. */
static void
render_domains(struct metrics *m, const struct metrics_sources *src,
	       struct buf *out)
{
	uint64_t by[NVERDICTS] = {0};
	size_t cur = 0, n = 0;
	const struct store_domain *d;

	while ((d = store_domain_next(src->store, &cur)) != NULL) {
		by[domain_verdict(d)]++;
		n++;
	}
	head(out, "domains", "gauge",
	     "Watched domains by the verdict of their last check (none: not "
	     "checked yet).");
	for (int v = VERDICT_NONE; v < (int)NVERDICTS; v++)
		buf_printf(out, "certwatch_domains{verdict=\"%s\"} %llu\n",
			   verdict_label(v), (unsigned long long)by[v]);
	if (!m->per_domain)
		return;
	if (n > METRICS_MAX_DOMAINS) {
		if (!m->cut_logged)
			log_warn("metrics: %zu watched domains, more than %d: "
				 "/metrics has counts only, no per-domain "
				 "series",
				 n, METRICS_MAX_DOMAINS);
		m->cut_logged = 1;
		return;
	}
	head(out, "domain_verdict", "gauge",
	     "1 for the verdict of the last check of each watched domain.");
	cur = 0;
	while ((d = store_domain_next(src->store, &cur)) != NULL) {
		buf_puts(out, "certwatch_domain_verdict{domain=\"");
		label(out, d->name);
		buf_printf(out, "\",verdict=\"%s\"} 1\n",
			   verdict_label(domain_verdict(d)));
	}
	head(out, "domain_last_check_timestamp_seconds", "gauge",
	     "When each watched domain was last checked, seconds since the "
	     "epoch (absent before the first check).");
	cur = 0;
	while ((d = store_domain_next(src->store, &cur)) != NULL) {
		if (d->last_check <= 0)
			continue;
		buf_puts(
		    out,
		    "certwatch_domain_last_check_timestamp_seconds{domain=\"");
		label(out, d->name);
		buf_printf(out, "\"} %lld\n", (long long)d->last_check);
	}
	head(out, "endpoint_key_match", "gauge",
	     "1 when the key an endpoint presented matched a usable TLSA "
	     "record at the last check, 0 when it did not (mismatch); absent "
	     "when nothing was compared.");
	cur = 0;
	while ((d = store_domain_next(src->store, &cur)) != NULL)
		render_endpoints(d, out);
}

/* Watched domains whose split alarm of key continuity (keys.h; docs/
 * usage.md "Keys seen and splits") is open: one series, no label, so
 * bounded whatever the watch list; present with metrics_per_domain = no
 * too. */
static void
render_split(const struct metrics_sources *src, struct buf *out)
{
	const struct store_domain *d;
	unsigned long long n = 0;
	size_t cur = 0;

	while ((d = store_domain_next(src->store, &cur)) != NULL)
		n += domain_state_split_alarm(d) != 0;
	one(out, "domains_split", "gauge",
	    "Watched domains whose split alarm is open (keys differ between "
	    "probes).",
	    n);
}

/* Certificate Transparency (docs/ct.md), when [ct] certspotter is set. */
static void
render_ct(const struct metrics *m, struct buf *out)
{
	static const char *const judged[METRICS_CT_JUDGED] = {
	    "known", "unpublished", "new", "malformed"};

	head(out, "ct_certspotter_up", "gauge",
	     "1 while certspotter runs under certwatch, 0 otherwise.");
	buf_printf(out, "certwatch_ct_certspotter_up %d\n", m->ct_up);
	head(out, "ct_events_total", "counter",
	     "Logged certificates taken from the spool, by judgement.");
	for (int j = 0; j < METRICS_CT_JUDGED; j++)
		buf_printf(out,
			   "certwatch_ct_events_total{judged=\"%s\"} %llu\n",
			   judged[j], (unsigned long long)m->ct_events[j]);
}

void
metrics_ct_up(struct metrics *m, int up)
{
	if (m)
		m->ct_up = up;
}

void
metrics_ct_event(struct metrics *m, int judged)
{
	if (m && judged >= 0 && judged < METRICS_CT_JUDGED)
		m->ct_events[judged]++;
}

void
metrics_render(struct metrics *m, const struct metrics_sources *src,
	       struct buf *out)
{
	head(out, "build_info", "gauge", "Always 1; the version as a label.");
	buf_printf(out, "certwatch_build_info{version=\"%s\"} 1\n",
		   CERTWATCH_VERSION);
	render_checks(m, out);
	one(out, "check_probes_total", "counter",
	    "Probes made by the checks that ended.", m->check_probes);
	render_http(m, out);
	if (src)
		render_sources(src, out);
	if (src && src->store)
		render_domains(m, src, out);
	if (src && src->store) {
		render_split(src, out);
		render_defences(src, out);
	}
	if (m->ct_up >= 0)
		render_ct(m, out);
}

/* ---- GET /probe ---- */

/* One per-endpoint series of a probe: name{service,host,port} value. */
static void
probe_endpoint(struct buf *out, const char *name,
	       const struct check_endpoint *e, long long v)
{
	buf_printf(out, "certwatch_probe_%s{", name);
	endpoint_labels(out, check_service_name(e->service), e->host, e->port);
	buf_printf(out, " %lld\n", v);
}

void
metrics_probe_render(const struct check_result *res, struct buf *out)
{
	head(out, "probe_success", "gauge",
	     "1 when the check's verdict is ok: every endpoint presented a key "
	     "its DNSSEC-signed TLSA records allow.");
	buf_printf(out, "certwatch_probe_success %d\n",
		   res->verdict == VERDICT_OK);
	head(
	    out, "probe_verdict", "gauge",
	    "1 for the check's verdict (none: not decided), 0 for the others.");
	for (int v = VERDICT_NONE; v < (int)NVERDICTS; v++)
		buf_printf(out, "certwatch_probe_verdict{verdict=\"%s\"} %d\n",
			   verdict_label(v), (int)res->verdict == v);
	head(out, "probe_duration_seconds", "gauge",
	     "How long the check took.");
	buf_printf(out, "certwatch_probe_duration_seconds %.3f\n",
		   res->elapsed_ms / 1000.0);
	int split = 0;
	for (size_t i = 0; i < res->nwarnings; i++)
		split |= !strcmp(res->warnings[i].code, "key-split");
	head(out, "probe_key_split", "gauge",
	     "1 when keys differ between probes (key-split): seen=\"own\" by "
	     "this instance's own probes or by two vantages, "
	     "seen=\"remote_only\" only through one remote vantage, which "
	     "can report a wrong key.");
	buf_printf(out,
		   "certwatch_probe_key_split{seen=\"own\"} %d\n"
		   "certwatch_probe_key_split{seen=\"remote_only\"} %d\n",
		   split && res->split_alarm, split && !res->split_alarm);
	head(out, "probe_key_match", "gauge",
	     "Per endpoint: 1 the key matched a usable TLSA record, 0 it did "
	     "not (mismatch); absent when nothing was compared.");
	for (size_t i = 0; i < res->nendpoints; i++) {
		const struct check_endpoint *e = &res->endpoints[i];
		int match = key_match(e->verdict);
		if (match >= 0)
			probe_endpoint(out, "key_match", e, match);
	}
	head(out, "probe_tlsa_records", "gauge",
	     "Per endpoint: TLSA records found (usable or not).");
	for (size_t i = 0; i < res->nendpoints; i++)
		probe_endpoint(out, "tlsa_records", &res->endpoints[i],
			       (long long)res->endpoints[i].ntlsa);
	head(out, "probe_certificate_expiry_timestamp_seconds", "gauge",
	     "Per endpoint: when the certificate presented expires (absent "
	     "when no certificate was seen).");
	for (size_t i = 0; i < res->nendpoints; i++)
		if (res->endpoints[i].not_after > 0)
			probe_endpoint(out,
				       "certificate_expiry_timestamp_seconds",
				       &res->endpoints[i],
				       (long long)res->endpoints[i].not_after);
}
