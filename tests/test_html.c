/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_html.c - the web pages escape every string that comes from outside
 * (remote servers, DNS, the store, what a stranger typed), carry no script,
 * and build the xmpp: links of RFC 5122 / XEP-0147; the metrics text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "component/html.h"
#include "component/metrics.h"

#define EVIL "<script>alert(1)</script>\"'&<img src=x onerror=alert(2)>"

static const struct html_ctx ctx = {"", "certwatch.example.org", 0};

/* No raw markup from EVIL survived; its escaped form is there. */
static void
assert_clean(const char *page)
{
	assert_null(strstr(page, "<script"));
	assert_null(strstr(page, "<img"));
	assert_null(strstr(page, "onerror=alert(2)>"));
	assert_null(strstr(page, "style=")); /* no inline style (CSP) */
	assert_non_null(strstr(page, "&lt;script&gt;"));
}

static void
t_result_escaped(void **state)
{
	char *tlsa[] = {"3 1 1 " EVIL};
	char *unusable[] = {"3 1 3 " EVIL};
	char *setup[] = {"_5222._tcp.x. IN TLSA 3 1 1 " EVIL};
	struct check_warning warn = {"stale-record", EVIL};
	struct check_endpoint e;
	struct check_result r;
	struct buf b = BUF_INIT;

	memset(&e, 0, sizeof(e));
	memset(&r, 0, sizeof(r));
	e.service = SVC_XMPP_CLIENT;
	snprintf(e.host, sizeof(e.host), "%s", EVIL);
	e.port = 5222;
	e.verdict = VERDICT_MISMATCH;
	e.have_key = 1;
	snprintf(e.spki_sha256, sizeof(e.spki_sha256), "%s", EVIL);
	e.tlsa = tlsa;
	e.ntlsa = 1;
	e.unusable = unusable;
	e.nunusable = 1;
	e.matched = EVIL;
	snprintf(e.sni, sizeof(e.sni), "%s", EVIL);
	e.warnings = &warn;
	e.nwarnings = 1;
	e.err_step = PROBE_STEP_STREAM;
	snprintf(e.err_reason, sizeof(e.err_reason), "%s", EVIL);
	snprintf(e.match_detail, sizeof(e.match_detail), "%s", EVIL);
	snprintf(r.domain, sizeof(r.domain), "%s", EVIL);
	snprintf(r.domain_u, sizeof(r.domain_u), "%s", EVIL);
	r.verdict = VERDICT_MISMATCH;
	r.services[SVC_XMPP_SERVER] = SVC_STATE_BOGUS;
	snprintf(r.service_detail[SVC_XMPP_SERVER], 256, "%s", EVIL);
	r.endpoints = &e;
	r.nendpoints = 1;
	r.setup = setup;
	r.nsetup = 1;

	/* Two probes that differ: a line each, escaped. */
	struct check_probe pr[2];
	memset(pr, 0, sizeof(pr));
	for (int i = 0; i < 2; i++) {
		snprintf(pr[i].address, sizeof(pr[i].address), "%s", EVIL);
		snprintf(pr[i].vantage, sizeof(pr[i].vantage), "%s", EVIL);
		snprintf(pr[i].err_reason, sizeof(pr[i].err_reason), "%s",
			 EVIL);
		pr[i].err_step = PROBE_STEP_TCP;
		pr[i].verdict = i ? VERDICT_OK : VERDICT_MISMATCH;
	}
	/* Two that agree: no probe lines (as short as with one). */
	memcpy(&pr[1], &pr[0], sizeof(pr[0]));
	e.probes = pr;
	e.nprobes = 2;
	html_result(&b, &ctx, &r);
	assert_null(strstr(b.s, "class=\"probes\""));
	assert_null(strstr(b.s, "<ul id=\"warnings\">"));
	buf_reset(&b);
	pr[1].verdict = VERDICT_OK;
	/* The domain's key-split, in full and escaped. */
	struct check_warning split = {"key-split", EVIL};
	r.warnings = &split;
	r.nwarnings = 1;
	html_result(&b, &ctx, &r);
	r.warnings = NULL;
	r.nwarnings = 0;
	assert_clean(b.s);
	assert_non_null(strstr(b.s, "<pre class=\"probes\">  probe "));
	assert_non_null(strstr(b.s, "<ul id=\"warnings\">\n<li class=\"err\">"
				    "warning (key-split): &lt;script&gt;"));
	e.probes = NULL;
	e.nprobes = 0;
	/* The domain in the xmpp: links is percent-encoded. */
	assert_non_null(strstr(b.s, "body=subscribe%20%3Cscript%3E"));
	assert_non_null(strstr(b.s, "<pre id=\"setup\">"));
	/* The defences checklist, each missing line with what to do. */
	assert_non_null(strstr(b.s, "<ul id=\"defences\">"));
	assert_non_null(strstr(b.s, "<li class=\"unknown\">CAA bound to "
				    "your ACME account: <b>unknown</b></li>"));
	assert_non_null(strstr(b.s, "TLSA records: <b>strong</b></li>"));
	assert_non_null(strstr(b.s, "Next key prepared: <b>none</b> &mdash; "
				    "make the next key"));

	/* The same for bogus and insecure details (unbound's reasons). */
	buf_reset(&b);
	e.verdict = VERDICT_BOGUS;
	snprintf(e.dns_detail, sizeof(e.dns_detail), "%s", EVIL);
	html_result(&b, &ctx, &r);
	assert_clean(b.s);
	buf_free(&b);
}

/* A real (memory) store's domain: every string the store lets through
 * (names, hosts, keys, free text) is EVIL; words cannot be, the store
 * refuses them, so they are unknown words instead. */
static void
t_domain_escaped(void **state)
{
	struct store_endpoint ep = {"xmpp-client", EVIL, 5222, "not-a-verdict",
				    EVIL,	   EVIL, 0,    0};
	struct store_change ch = {3, "not-a-verdict", "ok", EVIL};
	struct store_update u = {
	    "not-a-verdict", NULL, 0, 1700000000, 0, &ep, 1, &ch};
	struct store *st;
	char err[256];
	struct buf b = BUF_INIT;

	assert_int_equal(store_open(NULL, &st, err, sizeof(err)), 0);
	assert_int_equal(store_domain_record(st, EVIL, &u), 0);
	html_domain(&b, &ctx, store_domain_get(st, EVIL), time(NULL), 125);
	assert_clean(b.s);
	/* An unknown verdict word never becomes a CSS class. */
	assert_non_null(strstr(b.s, "class=\"v v-unknown\""));
	assert_non_null(strstr(b.s, "next check in about 2 min"));
	buf_free(&b);
	store_close(st);
}

/* /d/DOMAIN's checklist from the domain's `defence` line; none before its
 * first round. */
static void
t_domain_defences(void **state)
{
	struct store_update u = {"ok", NULL, 0, 1700000000, 0, NULL, 0, NULL};
	struct store *st;
	char err[256], line[300];
	struct buf b = BUF_INIT;

	assert_int_equal(store_open(NULL, &st, err, sizeof(err)), 0);
	assert_int_equal(store_domain_record(st, "good.test", &u), 0);
	html_domain(&b, &ctx, store_domain_get(st, "good.test"), time(NULL),
		    -1);
	assert_null(strstr(b.s, "id=\"defences\""));
	snprintf(line, sizeof(line),
		 "caa=issuers cb=none expiry=soon tlsa=strong next_key=none "
		 "key_reuse=new not_after=%lld expiry_alerted=0",
		 (long long)time(NULL) + 3 * 86400 + 600);
	assert_int_equal(store_domain_set_defence(st, "good.test", line), 1);
	buf_reset(&b);
	html_domain(&b, &ctx, store_domain_get(st, "good.test"), time(NULL),
		    -1);
	assert_non_null(strstr(b.s, "<ul id=\"defences\">"));
	assert_non_null(strstr(b.s, "<li class=\"missing\">CAA bound to your "
				    "ACME account: <b>issuers</b> &mdash; add "
				    "CAA 0 issue"));
	assert_non_null(strstr(b.s, "<li class=\"missing\">Channel binding: "
				    "<b>none</b>"));
	assert_non_null(strstr(b.s, "<li class=\"missing\">Expiry: <b>3 days"
				    "</b> &mdash; renew now"));
	assert_non_null(strstr(b.s, "<li class=\"ok\">TLSA records: <b>strong"
				    "</b></li>"));
	assert_non_null(strstr(b.s, "<li class=\"missing\">Key kept across "
				    "renewals: <b>new</b> &mdash; keep the "
				    "key"));
	/* Judged at the `now` it is given (the web's clock): ten days
	 * later, the same line has expired */
	buf_reset(&b);
	html_domain(&b, &ctx, store_domain_get(st, "good.test"),
		    time(NULL) + 10 * 86400, -1);
	assert_null(strstr(b.s, "Expiry: <b>3 days"));
	assert_non_null(
	    strstr(b.s, "<li class=\"missing\">Expiry: <b>-7 days"));
	buf_free(&b);
	store_close(st);
}

static void
t_other_pages(void **state)
{
	struct buf b = BUF_INIT;
	struct domain_name dn;
	const struct html_ctx proxied = {"https://example.org/cw\"><script>",
					 "certwatch.example.org", 0};

	html_index(&b, &proxied, EVIL, EVIL);
	assert_clean(b.s);
	buf_reset(&b);
	snprintf(dn.a, sizeof(dn.a), "%s", EVIL);
	snprintf(dn.u, sizeof(dn.u), "%s", EVIL);
	html_checking(&b, &ctx, &dn, 3);
	assert_clean(b.s);
	assert_non_null(strstr(b.s, "<meta http-equiv=\"refresh\" "
				    "content=\"2\">"));
	buf_reset(&b);
	html_not_watched(&b, &ctx, &dn);
	assert_clean(b.s);
	buf_reset(&b);
	html_error(&b, &ctx, EVIL, EVIL);
	assert_clean(b.s);
	buf_free(&b);

	/* Links under base_url. */
	const struct html_ctx base = {"https://example.org/cw", "c.example", 0};
	html_index(&b, &base, NULL, NULL);
	assert_non_null(
	    strstr(b.s, "href=\"https://example.org/cw/style.css\""));
	assert_non_null(strstr(b.s, "action=\"https://example.org/cw/check\""));
	buf_free(&b);
}

static void
t_xmpp_uris(void **state)
{
	struct buf b = BUF_INIT;

	html_xmpp_chat_uri(&b, "certwatch.example.org", "example.org");
	assert_string_equal(b.s, "xmpp:certwatch.example.org?message;"
				 "body=subscribe%20example.org");
	buf_reset(&b);
	html_xmpp_pubsub_uri(&b, "certwatch.example.org",
			     "xn--bcher-kva.example");
	assert_string_equal(b.s, "xmpp:certwatch.example.org?pubsub;"
				 "action=subscribe;node=xn--bcher-kva.example");
	buf_reset(&b);
	html_xmpp_pubsub_uri(&b, "c.example", "a;b&c d\xc3\xa9");
	assert_string_equal(b.s, "xmpp:c.example?pubsub;action=subscribe;"
				 "node=a%3Bb%26c%20d%C3%A9");
	buf_free(&b);
}

static void
t_metrics(void **state)
{
	struct metrics *m = metrics_new();
	struct probe_result pr;
	struct check_result cr;
	struct buf b = BUF_INIT;

	memset(&pr, 0, sizeof(pr));
	memset(&cr, 0, sizeof(cr));
	pr.ok = 1;
	pr.elapsed_ms = 70;
	metrics_on_probe(m, &pr);
	pr.ok = 0;
	pr.fail_step = PROBE_STEP_TLS;
	pr.elapsed_ms = 3000;
	metrics_on_probe(m, &pr);
	pr.fail_step = PROBE_STEP_NONE; /* odd: counted as "other" */
	metrics_on_probe(m, &pr);
	cr.verdict = VERDICT_MISMATCH;
	cr.probes = 3;
	metrics_on_check(m, &cr);
	metrics_http_request(m, 200);
	metrics_http_request(m, 418);
	metrics_render(m, NULL, &b);
	assert_non_null(
	    strstr(b.s, "certwatch_checks_total{verdict=\"mismatch\"} 1\n"));
	assert_non_null(
	    strstr(b.s, "certwatch_checks_total{verdict=\"ok\"} 0\n"));
	assert_non_null(
	    strstr(b.s, "certwatch_probes_total{result=\"ok\"} 1\n"));
	assert_non_null(
	    strstr(b.s, "certwatch_probes_total{result=\"tls\"} 1\n"));
	assert_non_null(
	    strstr(b.s, "certwatch_probes_total{result=\"other\"} 1\n"));
	assert_non_null(strstr(
	    b.s, "certwatch_probe_duration_seconds_bucket{le=\"0.05\"} 0\n"));
	assert_non_null(strstr(
	    b.s, "certwatch_probe_duration_seconds_bucket{le=\"0.1\"} 1\n"));
	assert_non_null(strstr(
	    b.s, "certwatch_probe_duration_seconds_bucket{le=\"5\"} 3\n"));
	assert_non_null(strstr(
	    b.s, "certwatch_probe_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
	assert_non_null(
	    strstr(b.s, "certwatch_probe_duration_seconds_count 3\n"));
	assert_non_null(
	    strstr(b.s, "certwatch_probe_duration_seconds_sum 6.070\n"));
	assert_non_null(
	    strstr(b.s, "certwatch_http_requests_total{code=\"other\"} 1\n"));
	assert_non_null(strstr(b.s, "# TYPE certwatch_checks_total counter\n"));
	assert_non_null(strstr(b.s, "certwatch_build_info{version=\""));
	/* Without sources, no gauge that needs one. */
	assert_null(strstr(b.s, "certwatch_watched_domains"));
	assert_null(strstr(b.s, "certwatch_component_connected"));
	buf_reset(&b);
	struct metrics_sources src = {NULL, NULL, NULL, 1, 4, 0};
	metrics_render(m, &src, &b);
	assert_non_null(strstr(b.s, "certwatch_component_connected 1\n"));
	assert_non_null(
	    strstr(b.s, "certwatch_component_reconnects_total 4\n"));
	buf_free(&b);
	metrics_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_result_escaped),
	    cmocka_unit_test(t_domain_escaped),
	    cmocka_unit_test(t_domain_defences),
	    cmocka_unit_test(t_other_pages),
	    cmocka_unit_test(t_xmpp_uris),
	    cmocka_unit_test(t_metrics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
