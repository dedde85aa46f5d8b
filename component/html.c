/* SPDX-License-Identifier: GPL-3.0-or-later */
/* html.c - the pages of the web face, escaped, without script or inline
 * style. */
#include "component/html.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "version.h"
#include "component/ct_state.h"
#include "component/domain_state.h"
#include "component/report_keys.h"
#include "component/defences.h"
#include "component/report.h"

const char html_stylesheet[] =
    ":root{--fg:#1d232a;--bg:#fdfdfc;--mute:#5b6570;--line:#d8dde2;"
    "--ok:#1f7a3a;--warn:#9a6200;--bad:#b3261e;--un:#5b6570}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',"
    "Roboto,sans-serif;color:var(--fg);background:var(--bg)}\n"
    "header,main,footer{max-width:72rem;margin:0 auto;padding:.75rem 1rem}\n"
    "header{border-bottom:1px solid var(--line)}\n"
    "header a{font-weight:700;color:var(--fg);text-decoration:none}\n"
    "footer{color:var(--mute);font-size:.85rem;"
    "border-top:1px solid var(--line);margin-top:2rem}\n"
    "h1{font-size:1.5rem;margin:.5rem 0;overflow-wrap:anywhere}\n"
    "h2{font-size:1.15rem;margin:1.5rem 0 .5rem}\n"
    "a{color:#0b57a4}\n"
    "form{display:flex;flex-wrap:wrap;gap:.5rem;margin:1rem 0}\n"
    "label{width:100%;font-weight:600}\n"
    "input[type=text]{flex:1 1 14rem;font-size:1rem;padding:.5rem;"
    "border:1px solid var(--mute);border-radius:4px}\n"
    "button{font-size:1rem;padding:.5rem 1.25rem;border:0;border-radius:4px;"
    "background:#0b57a4;color:#fff}\n"
    ".err{color:var(--bad);font-weight:600}\n"
    ".muted{color:var(--mute)}\n"
    ".v{display:inline-block;padding:0 .5rem;border-radius:4px;color:#fff;"
    "font-weight:700;background:var(--un)}\n"
    ".v-ok{background:var(--ok)}.v-no-tlsa,.v-insecure{background:var(--warn)}"
    ".v-mismatch,.v-bogus{background:var(--bad)}\n"
    ".headline{font-size:1.1rem}\n"
    "table{border-collapse:collapse;width:100%;font-size:.9rem}\n"
    "th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;"
    "border-bottom:1px solid var(--line)}\n"
    "code,pre,.key{font-family:ui-monospace,Menlo,Consolas,monospace;"
    "font-size:.85rem}\n"
    ".key,.wrap{overflow-wrap:anywhere;word-break:break-all}\n"
    ".host{overflow-wrap:anywhere}\n"
    "pre{background:#f1f3f5;padding:.75rem;overflow-x:auto;"
    "white-space:pre;border-radius:4px}\n"
    "pre.wrap{white-space:pre-wrap}\n"
    "ul.links li{margin:.4rem 0;overflow-wrap:anywhere}\n"
    ".note{font-size:.85rem;color:var(--mute);margin:.2rem 0 0;"
    "overflow-wrap:anywhere}\n"
    "tr.notes td{border-bottom:1px solid var(--line);padding-top:0}\n"
    "tr.endpoint td{border-bottom:0}\n"
    "td.key{min-width:9em}\n"
    "@media (max-width:40rem){thead{display:none}"
    "table,tbody,tr,td{display:block;width:100%}"
    "tr{border-bottom:2px solid var(--line);padding:.25rem 0}"
    "td{border:0;padding:.15rem 0}"
    "td[data-label]::before{content:attr(data-label) \": \";font-weight:600;"
    "color:var(--mute)}}\n";

/* ---- small pieces ---- */

static void
esc(struct buf *out, const char *s)
{
	buf_html(out, s ? s : "");
}

/* The probes of an endpoint, one line each, only when they differ
 * (docs/usage.md, "Probes"). */
static void
html_probe_lines(struct buf *out, const struct check_endpoint *e)
{
	struct buf t = BUF_INIT;

	report_text_probes(e, &t);
	if (t.len > 0) {
		buf_puts(out, "<pre class=\"probes\">");
		esc(out, t.s);
		buf_puts(out, "</pre>");
	}
	buf_free(&t);
}

/* "warning (CODE): TEXT", escaped, between open and close. */
static void
html_warning(struct buf *out, const char *open, const struct check_warning *w,
	     const char *close)
{
	buf_puts(out, open);
	buf_puts(out, "warning (");
	esc(out, w->code);
	buf_puts(out, "): ");
	esc(out, w->text);
	buf_puts(out, close);
}

/* The domain's own warnings (key-split: keys differ between probes,
 * docs/usage.md), each in full: the headline names only the first. */
static void
html_domain_warnings(struct buf *out, const struct check_result *r)
{
	if (r->nwarnings == 0)
		return;
	buf_puts(out, "<ul id=\"warnings\">\n");
	for (size_t i = 0; i < r->nwarnings; i++)
		html_warning(out, "<li class=\"err\">", &r->warnings[i],
			     "</li>\n");
	buf_puts(out, "</ul>\n");
}

/* Percent-encoding for a URI part: only RFC 3986 unreserved bytes stay. */
static void
uri_part(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
			buf_putc(out, (char)*p);
		} else {
			buf_putc(out, '%');
			buf_putc(out, hex[*p >> 4]);
			buf_putc(out, hex[*p & 15]);
		}
	}
}

void
html_xmpp_chat_uri(struct buf *out, const char *jid, const char *domain)
{
	buf_puts(out, "xmpp:");
	uri_part(out, jid);
	buf_puts(out, "?message;body=subscribe%20");
	uri_part(out, domain);
}

void
html_xmpp_pubsub_uri(struct buf *out, const char *jid, const char *domain)
{
	buf_puts(out, "xmpp:");
	uri_part(out, jid);
	buf_puts(out, "?pubsub;action=subscribe;node=");
	uri_part(out, domain);
}

/* Only the words certwatch itself uses become a CSS class. */
static const char *
verdict_class(const char *w)
{
	static const char *const known[] = {
	    "ok", "mismatch", "no-tlsa", "insecure", "bogus", "unreachable"};

	for (size_t i = 0; w && i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(w, known[i]))
			return known[i];
	return "unknown";
}

static void
badge(struct buf *out, const char *word)
{
	buf_printf(out, "<span class=\"v v-%s\">", verdict_class(word));
	esc(out, word ? word : "none");
	buf_puts(out, "</span>");
}

static void
fmt_time(struct buf *out, int64_t t)
{
	char s[64];

	report_time(t, REPORT_TIME_SECOND, "never", s, sizeof(s));
	buf_puts(out, s);
}

static void
fmt_span(struct buf *out, long s)
{
	if (s < 90)
		buf_printf(out, "%ld s", s);
	else if (s < 90 * 60)
		buf_printf(out, "%ld min", (s + 30) / 60);
	else
		buf_printf(out, "%.1f h", s / 3600.0);
}

static void
page_start(struct buf *out, const struct html_ctx *c, const char *title,
	   int refresh)
{
	buf_puts(out, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
		      "<meta charset=\"utf-8\">\n"
		      "<meta name=\"viewport\" content=\"width=device-width, "
		      "initial-scale=1\">\n");
	if (refresh > 0)
		buf_printf(out,
			   "<meta http-equiv=\"refresh\" content=\"%d\">\n",
			   refresh);
	buf_puts(out, "<title>");
	esc(out, title);
	buf_puts(out, " - certwatch</title>\n<link rel=\"stylesheet\" href=\"");
	esc(out, c->base);
	buf_puts(out, "/style.css\">\n</head>\n<body>\n<header><a href=\"");
	esc(out, c->base);
	buf_puts(out, "/\">certwatch</a> <span class=\"muted\">DANE "
		      "monitoring for XMPP</span></header>\n<main>\n");
}

static void
page_end(struct buf *out, const struct html_ctx *c)
{
	buf_puts(out, "</main>\n<footer>certwatch " CERTWATCH_VERSION
		      " &middot; chat with <code>");
	esc(out, c->jid);
	buf_puts(out, "</code> from any XMPP client &middot; <a href=\"");
	esc(out, c->base);
	buf_puts(out, "/api/check?domain=example.org\">JSON API</a>"
		      "</footer>\n</body></html>\n");
}

static void
form(struct buf *out, const struct html_ctx *c, const char *value)
{
	buf_puts(out, "<form action=\"");
	esc(out, c->base);
	buf_puts(out, "/check\" method=\"get\">\n<label for=\"domain\">Domain "
		      "to check</label>\n<input type=\"text\" id=\"domain\" "
		      "name=\"domain\" required maxlength=\"253\" "
		      "autocapitalize=\"none\" autocorrect=\"off\" "
		      "spellcheck=\"false\" inputmode=\"url\" "
		      "placeholder=\"example.org\" value=\"");
	esc(out, value);
	buf_puts(out, "\">\n<button type=\"submit\">Check</button>\n</form>\n");
}

static void
subscribe_links(struct buf *out, const struct html_ctx *c, const char *domain,
		const char *shown)
{
	buf_puts(out, "<h2>Get alerts</h2>\n<p>certwatch can watch ");
	esc(out, shown);
	buf_puts(out, " and tell you when its keys or records change, from "
		      "your own XMPP client:</p>\n<ul class=\"links\">\n"
		      "<li><a class=\"subscribe-chat\" href=\"");
	struct buf u = BUF_INIT;
	html_xmpp_chat_uri(&u, c->jid, domain);
	esc(out, u.s);
	buf_puts(out, "\">Subscribe by chat</a>: sends <code>subscribe ");
	esc(out, domain);
	buf_puts(out, "</code> to <code>");
	esc(out, c->jid);
	buf_puts(out, "</code></li>\n<li><a class=\"subscribe-pubsub\" "
		      "href=\"");
	buf_reset(&u);
	html_xmpp_pubsub_uri(&u, c->jid, domain);
	esc(out, u.s);
	buf_puts(out,
		 "\">Subscribe to the pubsub node</a> <code class=\"wrap\">");
	esc(out, u.s);
	buf_puts(out, "</code></li>\n</ul>\n");
	buf_free(&u);
}

/* ---- pages ---- */

void
html_index(struct buf *out, const struct html_ctx *c, const char *value,
	   const char *error)
{
	page_start(out, c, "Check a domain", 0);
	buf_puts(
	    out,
	    "<h1>Is your XMPP server showing its own key?</h1>\n"
	    "<p>certwatch connects to a domain's XMPP services the way a "
	    "client does, through Tor, and compares the key each server "
	    "presents with the domain's DNSSEC-signed DANE (TLSA) records. "
	    "A machine in the middle holding a valid certificate, as in "
	    "the jabber.ru interception of 2023, shows a key the records "
	    "do not allow.</p>\n");
	if (error) {
		buf_puts(out, "<p class=\"err\">");
		esc(out, error);
		buf_puts(out, "</p>\n");
	}
	form(out, c, value ? value : "");
	buf_puts(out, "<p class=\"muted\">The check takes from a few seconds "
		      "to a minute; the result page shows the records to "
		      "publish when there are none.</p>\n");
	page_end(out, c);
}

void
html_checking(struct buf *out, const struct html_ctx *c,
	      const struct domain_name *d, unsigned seconds)
{
	page_start(out, c, d->u, 2);
	buf_puts(out, "<h1 id=\"checking\">Checking ");
	esc(out, d->u);
	buf_puts(out, "&hellip;</h1>\n<p>Looking up its SRV, address and TLSA "
		      "records and connecting to every endpoint. This page "
		      "reloads itself every 2 seconds until the result is "
		      "there");
	if (seconds > 0)
		buf_printf(out, " (started %u s ago)", seconds);
	buf_puts(out, ".</p>\n");
	page_end(out, c);
}

static const char *
sec_word(enum dns_sec s)
{
	const char *w = dns_sec_name(s);
	return w ? w : "-";
}

static int
has_notes(const struct check_endpoint *e)
{
	return (e->dns_detail[0] && (e->verdict == VERDICT_INSECURE ||
				     e->verdict == VERDICT_BOGUS)) ||
	       e->verdict == VERDICT_MISMATCH || e->nunusable > 0 ||
	       e->nwarnings > 0 || e->unsigned_zone[0];
}

static void
endpoint_row(struct buf *out, const struct check_endpoint *e)
{
	buf_puts(out, "<tr class=\"endpoint\"><td data-label=\"Service\">");
	esc(out, check_service_name(e->service));
	buf_printf(out,
		   " <span class=\"muted\">(%s)</span></td>"
		   "<td data-label=\"Endpoint\" class=\"host\">",
		   e->tls == PROBE_DIRECT ? "direct TLS" : "STARTTLS");
	esc(out, e->host);
	buf_printf(out, ":%u</td><td data-label=\"DNSSEC\">", e->port);
	if (e->dnssec_srv == e->dnssec_addr && e->dnssec_addr == e->dnssec_tlsa)
		buf_puts(out, sec_word(e->dnssec_srv));
	else
		buf_printf(out, "SRV %s, addresses %s, TLSA %s",
			   sec_word(e->dnssec_srv), sec_word(e->dnssec_addr),
			   sec_word(e->dnssec_tlsa));
	buf_puts(out, "</td><td data-label=\"Verdict\">");
	badge(out, verdict_name(e->verdict));
	buf_puts(out, "</td><td data-label=\"Key seen\" class=\"key\">");
	if (e->have_key)
		esc(out, e->spki_sha256);
	else
		buf_puts(out, "-");
	html_probe_lines(out, e);
	buf_puts(out, "</td><td data-label=\"Matched\" class=\"key\">");
	if (e->matched) {
		esc(out, e->matched);
		buf_puts(out, " <span class=\"muted\">(SNI ");
		esc(out, e->sni);
		buf_puts(out, ")</span>");
	} else {
		buf_puts(out, "-");
	}
	buf_puts(out, "</td><td data-label=\"Failed step\">");
	if (e->err_step != PROBE_STEP_NONE) {
		buf_puts(out, "<strong>");
		esc(out, probe_step_name(e->err_step));
		buf_puts(out, "</strong>: ");
		struct buf why = BUF_INIT;
		buf_puts(&why, e->err_reason);
		report_dns_words(e->err_reason, &why);
		if (report_service_fault(e->err_step, e->err_reason))
			buf_puts(&why, ". " REPORT_SERVICE_FAULT);
		esc(out, why.s);
		buf_free(&why);
	} else {
		buf_puts(out, "-");
	}
	buf_puts(out, "</td></tr>\n");
	if (!has_notes(e))
		return;
	buf_puts(out, "<tr class=\"notes\"><td colspan=\"7\">");
	/* The details the text report gives, as notes under the row. */
	if (e->dns_detail[0] &&
	    (e->verdict == VERDICT_INSECURE || e->verdict == VERDICT_BOGUS)) {
		buf_puts(out, "<p class=\"note\">");
		esc(out, e->dns_detail);
		buf_puts(out, "</p>");
	}
	if (e->unsigned_zone[0]) {
		buf_puts(out, "<p class=\"note\">unsigned zone: <strong>");
		esc(out, e->unsigned_zone);
		buf_puts(out, "</strong> (sign it, then publish its DS record "
			      "in the parent zone)</p>");
	}
	if (e->verdict == VERDICT_MISMATCH) {
		for (size_t j = 0; j < e->ntlsa; j++) {
			buf_puts(out, "<p class=\"note key\">expected: ");
			esc(out, e->tlsa[j]);
			buf_puts(out, "</p>");
		}
		if (e->match_detail[0]) {
			buf_puts(out, "<p class=\"note\">why: ");
			esc(out, e->match_detail);
			buf_puts(out, "</p>");
		}
	}
	for (size_t j = 0; j < e->nunusable; j++) {
		buf_puts(out,
			 "<p class=\"note key\">unusable record (ignored): ");
		esc(out, e->unusable[j]);
		buf_puts(out, "</p>");
	}
	for (size_t j = 0; j < e->nwarnings; j++)
		html_warning(out, "<p class=\"note\">", &e->warnings[j],
			     "</p>");
	buf_puts(out, "</td></tr>\n");
}

/* The checklist of docs/usage.md, "Defences": one line each, with what
 * to do. */
static void
defences_html_lines(struct buf *out, const struct defence_line *l, size_t n)
{
	buf_puts(out, "<h2>Defences</h2>\n<ul id=\"defences\">\n");
	for (size_t i = 0; i < n; i++) {
		buf_printf(out, "<li class=\"%s\">",
			   l[i].good > 0   ? "ok"
			   : l[i].good < 0 ? "unknown"
					   : "missing");
		esc(out, l[i].name);
		buf_puts(out, ": <b>");
		esc(out, l[i].state);
		buf_puts(out, "</b>");
		if (l[i].todo[0]) {
			buf_puts(out, " &mdash; ");
			esc(out, l[i].todo);
		}
		buf_puts(out, "</li>\n");
	}
	buf_puts(out, "</ul>\n");
}

static void
defences_html(struct buf *out, const struct check_result *r)
{
	struct defence_line l[DEFENCES_LINES];

	defences_html_lines(out, l, defences_checklist(r, l));
}

/* A watched domain's checklist, from what its last rounds showed
 * (defence_watch.h); nothing before its first round. */
static void
defences_html_state(struct buf *out, const struct domain_state *ds, time_t now)
{
	struct defence_line l[DEFENCES_LINES];
	struct defences_summary s;

	if (defence_state_summary(&ds->def, (int64_t)now, &s))
		defences_html_lines(out, l, defences_checklist_of(&s, l));
}

void
html_result(struct buf *out, const struct html_ctx *c,
	    const struct check_result *r)
{
	struct buf t = BUF_INIT;

	page_start(out, c, r->domain_u, 0);
	buf_puts(out, "<h1>");
	esc(out, r->domain_u);
	buf_puts(out, " <span id=\"verdict\">");
	badge(out, verdict_name(r->verdict));
	buf_puts(out, "</span></h1>\n<p class=\"headline\">");
	report_summary(r, &t);
	esc(out, t.s);
	buf_puts(out, "</p>\n<p class=\"muted\">Checked ");
	fmt_time(out, r->started);
	buf_printf(out, " in %.1f s, %u probe%s.</p>\n", r->elapsed_ms / 1000.0,
		   r->probes, r->probes == 1 ? "" : "s");
	html_domain_warnings(out, r);

	for (int s = 0; s < SVC_COUNT; s++) {
		if (r->services[s] != SVC_STATE_BOGUS &&
		    r->services[s] != SVC_STATE_FAILED)
			continue;
		buf_puts(out, "<p class=\"err\">");
		esc(out, check_service_name((enum check_service)s));
		buf_puts(out, ": ");
		esc(out, check_svc_state_name(r->services[s]));
		buf_puts(out, " - ");
		buf_reset(&t);
		buf_puts(&t, r->service_detail[s]);
		report_dns_words(r->service_detail[s], &t);
		esc(out, t.s);
		buf_puts(out, "</p>\n");
	}
	if (r->nendpoints > 0) {
		buf_puts(out, "<h2>Endpoints</h2>\n<table id=\"endpoints\">"
			      "<thead><tr><th>Service</th><th>Endpoint</th>"
			      "<th>DNSSEC</th><th>Verdict</th><th>Key seen "
			      "(SPKI SHA-256)</th><th>Matched record</th>"
			      "<th>Failed step</th></tr></thead><tbody>\n");
		for (size_t i = 0; i < r->nendpoints; i++)
			endpoint_row(out, &r->endpoints[i]);
		buf_puts(out, "</tbody></table>\n");
	} else if (r->err_reason[0]) {
		buf_reset(&t);
		report_no_endpoint(r, &t);
		buf_puts(out, "<pre class=\"wrap\" id=\"failure\">");
		esc(out, t.s);
		buf_puts(out, "</pre>\n");
	}
	if (r->nsetup > 0) {
		buf_printf(out,
			   "<h2>Records to add</h2>\n<p>%sCompare the hash "
			   "with the one computed on the server itself first: "
			   "the key seen here could be an attacker's.</p>\n"
			   "<pre id=\"setup\">",
			   r->verdict == VERDICT_INSECURE
			       ? "Publish these once the zone is signed. "
			       : "");
		for (size_t i = 0; i < r->nsetup; i++) {
			esc(out, r->setup[i]);
			buf_putc(out, '\n');
		}
		buf_puts(out, "</pre>\n");
	}
	defences_html(out, r);
	buf_puts(out, "<h2>What to do next</h2>\n<p id=\"advice\">");
	esc(out, report_advice(r->verdict));
	buf_puts(out, "</p>\n");
	subscribe_links(out, c, r->domain, r->domain_u);

	buf_reset(&t);
	report_text(r, &t);
	buf_puts(out, "<details><summary>The report as the bot sends it"
		      "</summary><pre class=\"wrap\">");
	esc(out, t.s);
	buf_puts(out, "</pre></details>\n");
	buf_free(&t);
	form(out, c, "");
	page_end(out, c);
}

void
html_domain(struct buf *out, const struct html_ctx *c,
	    const struct store_domain *d, time_t now, long next_round_s)
{
	struct domain_state *ds = xcalloc(1, sizeof(*ds));

	(void)domain_state_load(d, ds, NULL, 0);
	page_start(out, c, d->name, 0);
	buf_puts(out, "<h1>");
	esc(out, d->name);
	buf_puts(out, " <span id=\"verdict\">");
	badge(out, verdict_name(ds->alert.verdict));
	buf_puts(out, "</span></h1>\n<p>Watched by certwatch. Last checked ");
	fmt_time(out, d->last_check);
	if (d->last_change > 0) {
		buf_puts(out, "; last change ");
		fmt_time(out, d->last_change);
	}
	if (next_round_s >= 0) {
		buf_puts(out, "; next check in about ");
		fmt_span(out, next_round_s);
	}
	buf_puts(out, ".</p>\n");

	if (ds->n > 0) {
		buf_puts(out, "<h2>Endpoints</h2>\n<table id=\"endpoints\">"
			      "<thead><tr><th>Service</th><th>Endpoint</th>"
			      "<th>Verdict</th><th>Key seen (SPKI SHA-256)"
			      "</th><th>Error</th></tr></thead><tbody>\n");
		for (size_t i = 0; i < ds->n; i++) {
			const struct endpoint_state *e = &ds->ep[i];
			buf_puts(out, "<tr class=\"endpoint\"><td "
				      "data-label=\"Service\">");
			esc(out, check_service_name(e->service));
			buf_puts(out, "</td><td data-label=\"Endpoint\" "
				      "class=\"wrap\">");
			esc(out, e->host);
			buf_printf(out, ":%u</td><td data-label=\"Verdict\">",
				   e->port);
			badge(out, verdict_name(e->verdict));
			buf_puts(out, "</td><td data-label=\"Key seen\" "
				      "class=\"key\">");
			esc(out, e->spki[0] ? e->spki : "-");
			buf_puts(out, "</td><td data-label=\"Error\">");
			esc(out, e->error[0] ? e->error : "-");
			buf_puts(out, "</td></tr>\n");
		}
		buf_puts(out, "</tbody></table>\n");
	}
	defences_html_state(out, ds, now);
	free(ds);
	if (d->n_keys > 0) {
		buf_puts(out, "<h2>Keys seen</h2>\n<table id=\"keys\"><thead>"
			      "<tr><th>Key (SPKI SHA-256)</th><th>First seen"
			      "</th><th>Last seen</th></tr></thead><tbody>\n");
		for (size_t i = 0; i < d->n_keys; i++) {
			const struct store_key *k = &d->keys[i];
			buf_puts(out, "<tr><td data-label=\"Key\" "
				      "class=\"key\">");
			esc(out, k->spki);
			buf_puts(out, "</td><td data-label=\"First seen\">");
			fmt_time(out, k->first_seen);
			buf_puts(out, "</td><td data-label=\"Last seen\">");
			fmt_time(out, k->last_seen);
			buf_puts(out, "</td></tr>\n");
		}
		buf_puts(out, "</tbody></table>\n");
	}
	/* Key continuity (keys.h): the keys seen per endpoint. */
	{
		struct keys_state *ks = xcalloc(1, sizeof(*ks));
		(void)domain_state_keys_load(d, ks, NULL, 0);
		report_keys_html(out, ks, KEYS_SEEN_MAX);
		free(ks);
	}
	buf_puts(out, "<h2>History</h2>\n");
	if (d->n_history == 0) {
		buf_puts(out, "<p class=\"muted\">No change of verdict "
			      "recorded yet.</p>\n");
	} else {
		buf_puts(out, "<table id=\"history\"><thead><tr><th>When</th>"
			      "<th>Change</th><th>Note</th></tr></thead>"
			      "<tbody>\n");
		for (size_t i = d->n_history; i-- > 0;) { /* newest first */
			struct store_change h;
			store_domain_change(d, i, &h);
			buf_puts(out, "<tr><td data-label=\"When\">");
			fmt_time(out, h.time);
			buf_puts(out, "</td><td data-label=\"Change\">");
			badge(out, h.from);
			buf_puts(out, " &rarr; ");
			badge(out, h.to);
			buf_puts(out, "</td><td data-label=\"Note\">");
			esc(out, h.note ? h.note : "");
			buf_puts(out, "</td></tr>\n");
		}
		buf_puts(out, "</tbody></table>\n");
	}
	/* Certificate Transparency: the certificates logged (docs/ct.md). */
	ct_state_html(d, out);
	subscribe_links(out, c, d->name, d->name);
	buf_puts(out, "<p><a href=\"");
	esc(out, c->base);
	buf_puts(out, "/check?domain=");
	{
		struct buf u = BUF_INIT;
		uri_part(&u, d->name);
		esc(out, u.s);
		buf_free(&u);
	}
	buf_puts(out, "\">Run a check now</a></p>\n");
	page_end(out, c);
}

void
html_not_watched(struct buf *out, const struct html_ctx *c,
		 const struct domain_name *d)
{
	page_start(out, c, "Not watched", 0);
	buf_puts(out, "<h1>");
	esc(out, d->u);
	buf_puts(out, " is not watched</h1>\n<p>Nobody has subscribed to this "
		      "domain, so certwatch keeps no status for it. You can "
		      "check it now, or subscribe to have it watched.</p>\n");
	form(out, c, d->u);
	subscribe_links(out, c, d->a, d->u);
	page_end(out, c);
}

void
html_error(struct buf *out, const struct html_ctx *c, const char *title,
	   const char *text)
{
	page_start(out, c, title, 0);
	buf_puts(out, "<h1>");
	esc(out, title);
	buf_puts(out, "</h1>\n<p>");
	esc(out, text);
	buf_puts(out, "</p>\n<p><a href=\"");
	esc(out, c->base);
	buf_puts(out, "/\">Back to the check form</a></p>\n");
	page_end(out, c);
}
