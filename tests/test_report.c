/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_report.c - rendering: status line, text, JSON, escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "component/report.h"
#include "util/buf.h"

static struct check_result *
make(enum verdict v)
{
	struct check_result *r = xcalloc(1, sizeof(*r));
	struct check_endpoint *e;

	strcpy(r->domain, "xn--bcher-kva.example");
	strcpy(r->domain_u, "bücher.example");
	r->verdict = v;
	r->services[SVC_XMPP_CLIENT] = SVC_STATE_SRV;
	r->services[SVC_XMPPS_CLIENT] = SVC_STATE_NOT_OFFERED;
	r->nendpoints = 2;
	r->endpoints = xcalloc(2, sizeof(*r->endpoints));
	e = &r->endpoints[0];
	e->service = SVC_XMPP_CLIENT;
	strcpy(e->host, "xmpp.example");
	e->port = 5222;
	e->dnssec_srv = e->dnssec_addr = e->dnssec_tlsa = DNS_SEC_SECURE;
	e->verdict = v;
	e->have_key = 1;
	memset(e->spki_sha256, 'a', 64);
	e->ntlsa = 1;
	e->tlsa = xcalloc(1, sizeof(char *));
	e->tlsa[0] = xstrdup("3 1 1 bbbb");
	e->nwarnings = 1;
	e->warnings = xcalloc(1, sizeof(*e->warnings));
	strcpy(e->warnings[0].code, "stale-record");
	strcpy(e->warnings[0].text, "a \"quoted\" <b>text</b>\n");
	e = &r->endpoints[1];
	e->service = SVC_XMPP_SERVER;
	strcpy(e->host, "xmpp.example");
	e->port = 5269;
	e->verdict = VERDICT_UNREACHABLE;
	e->err_step = PROBE_STEP_TCP;
	strcpy(e->err_reason, "connection refused");
	return r;
}

static void
test_status_line(void **state)
{
	static const struct {
		enum verdict v;
		const char *want;
	} cases[] = {
	    {VERDICT_OK, "CERTWATCH OK - bücher.example: ok"},
	    {VERDICT_NO_TLSA, "CERTWATCH WARNING - bücher.example: no-tlsa"},
	    {VERDICT_INSECURE, "CERTWATCH WARNING - bücher.example: insecure"},
	    {VERDICT_MISMATCH, "CERTWATCH CRITICAL - bücher.example: mismatch"},
	    {VERDICT_BOGUS, "CERTWATCH CRITICAL - bücher.example: bogus"},
	    {VERDICT_UNREACHABLE,
	     "CERTWATCH UNKNOWN - bücher.example: unreachable"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct check_result *r = make(cases[i].v);
		struct buf b = BUF_INIT;
		report_status_line(r, &b);
		if (strncmp(b.s, cases[i].want, strlen(cases[i].want)))
			fail_msg("got \"%s\", want \"%s\"", b.s, cases[i].want);
		assert_non_null(
		    strstr(b.s, cases[i].v == VERDICT_UNREACHABLE
				    ? "all 2 endpoints unreachable"
				    : "1 of 2 endpoints unreachable"));
		buf_free(&b);
		check_result_free(r);
	}
}

static void
test_invalid(void **state)
{
	struct check_result *r =
	    check_result_invalid("bad..name", "empty label");
	struct buf b = BUF_INIT;

	report_status_line(r, &b);
	assert_string_equal(b.s,
			    "CERTWATCH UNKNOWN - invalid domain: empty label");
	buf_reset(&b);
	report_json(r, &b);
	assert_non_null(strstr(b.s, "\"verdict\":null"));
	assert_non_null(strstr(b.s, "\"error\":{\"step\":\"input\""));
	buf_free(&b);
	check_result_free(r);
}

static void
test_text_and_json(void **state)
{
	struct check_result *r = make(VERDICT_MISMATCH);
	struct buf b = BUF_INIT;

	report_text(r, &b);
	assert_non_null(strstr(b.s, "POSSIBLE MAN IN THE MIDDLE"));
	assert_non_null(strstr(b.s, "expected: 3 1 1 bbbb"));
	assert_non_null(strstr(
	    b.s, "xmpp-server xmpp.example:5269 (STARTTLS): unreachable"));
	assert_non_null(strstr(b.s, "connection refused"));
	buf_reset(&b);
	report_json(r, &b);
	assert_non_null(strstr(b.s, "{\"domain\":\"xn--bcher-kva.example\""));
	assert_non_null(strstr(b.s, "\"verdict\":\"mismatch\""));
	assert_non_null(strstr(
	    b.s, "{\"service\":\"xmpps-client\",\"state\":\"not-offered\"}"));
	assert_non_null(strstr(
	    b.s,
	    "\"tls\":\"starttls\",\"host\":\"xmpp.example\",\"port\":5222"));
	assert_non_null(
	    strstr(b.s, "\"dnssec\":\"secure\",\"dnssec_srv\":\"secure\""));
	assert_non_null(strstr(b.s, "\"matched\":null"));
	assert_non_null(
	    strstr(b.s, "\"text\":\"a \\\"quoted\\\" <b>text</b>\\n\""));
	assert_non_null(strstr(
	    b.s,
	    "\"error\":{\"step\":\"tcp\",\"reason\":\"connection refused\"}"));
	assert_non_null(strstr(b.s, "\"dnssec_srv\":null"));
	assert_non_null(strstr(b.s, "\"setup\":[]"));
	buf_free(&b);
	check_result_free(r);
}

/* Probes that agree add nothing to the text (as short as with one probe);
 * probes that differ get a line each; a key-split reaches the summary. */
static void
test_probe_lines(void **state)
{
	struct check_result *r = make(VERDICT_OK);
	struct check_endpoint *e = &r->endpoints[0];
	struct buf one = BUF_INIT, b = BUF_INIT;
	const char *addr[3] = {"192.0.2.1", "2001:db8::1", "192.0.2.1"};
	const char *via[3] = {"tor", "tor", "direct"};

	report_text(r, &one);
	e->nprobes = 3;
	e->probes = xcalloc(3, sizeof(*e->probes));
	for (int i = 0; i < 3; i++) {
		struct check_probe *p = &e->probes[i];
		strcpy(p->address, addr[i]);
		strcpy(p->vantage, via[i]);
		strcpy(p->key_type, "ecdsa");
		p->have_key = 1;
		memset(p->spki_sha256, 'a', 64);
		p->verdict = VERDICT_OK;
	}
	report_text(r, &b);
	assert_string_equal(b.s, one.s);
	assert_int_equal(report_probes_differ(e), 0);

	/* The direct vantage sees another key; the second address fails. */
	memset(e->probes[2].spki_sha256, 'c', 64);
	e->probes[1].have_key = 0;
	e->probes[1].verdict = VERDICT_UNREACHABLE;
	e->probes[1].err_step = PROBE_STEP_TOR;
	strcpy(e->probes[1].err_reason, "cannot reach the SOCKS proxy");
	e->probes[1].key_type[0] = '\0';
	buf_reset(&b);
	report_text(r, &b);
	assert_int_equal(report_probes_differ(e), 1);
	assert_non_null(strstr(b.s, "  probe 192.0.2.1 via tor: ok, key aaaa"));
	assert_non_null(strstr(b.s, "  probe 2001:db8::1 via tor: unreachable, "
				    "tor: cannot reach the SOCKS proxy\n"));
	assert_non_null(strstr(b.s, "  probe 192.0.2.1 via direct: ok, key "
				    "cccc"));
	assert_non_null(strstr(b.s, "cc (ecdsa)\n"));
	/* The tor vantage's proxy is down, the endpoint decided by the other:
	 * said once, up front, as the service's fault. */
	assert_non_null(strstr(b.s, "\nThe vantage tor of the certwatch "
				    "service does not work (cannot reach the "
				    "SOCKS proxy);"));
	assert_true(strstr(b.s, "The vantage tor") <
		    strstr(b.s, "\nxmpp-client "));
	size_t lines = 0;
	for (const char *q = b.s; (q = strstr(q, "  probe ")) != NULL; q++)
		lines++;
	assert_int_equal(lines, 3);

	/* The split: in the summary (the first line) and as a warning. */
	r->nwarnings = 1;
	r->warnings = xcalloc(1, sizeof(*r->warnings));
	strcpy(r->warnings[0].code, "key-split");
	strcpy(r->warnings[0].text,
	       "keys differ between probes (aaaa vs cccc)");
	buf_reset(&b);
	report_text(r, &b);
	assert_non_null(strstr(b.s, "; keys differ between probes (aaaa vs "
				    "cccc)\n"));
	assert_true(strstr(b.s, "keys differ") < strchr(b.s, '\n'));
	assert_non_null(strstr(b.s, "\nwarning (key-split): keys differ"));
	/* Every probe ok, keys split: exit 1, and the status word says so. */
	buf_reset(&b);
	report_status_line(r, &b);
	assert_int_equal(strncmp(b.s, "CERTWATCH WARNING - ", 20), 0);
	assert_int_equal(report_exit_code(r), 1);
	r->nwarnings = 0;
	assert_int_equal(report_exit_code(r), 0);
	r->nwarnings = 1;
	assert_null(strstr(b.s, "No TLSA records are offered"));
	/* no-tlsa with a split: no lines to publish, and why. */
	r->verdict = VERDICT_NO_TLSA;
	buf_reset(&b);
	report_text(r, &b);
	assert_non_null(strstr(b.s, "\nNo TLSA records are offered while keys "
				    "differ between probes"));
	/* Two dead vantages, one of them twice: a line each. */
	e->probes[2].have_key = 0;
	e->probes[2].err_step = PROBE_STEP_TOR;
	strcpy(e->probes[2].vantage, "socks5://192.0.2.9:1080");
	strcpy(e->probes[2].err_reason, "cannot reach the SOCKS proxy");
	e->probes[0] = e->probes[1];
	buf_reset(&b);
	report_text(r, &b);
	size_t dead = 0;
	for (const char *q = b.s; (q = strstr(q, "The vantage ")) != NULL; q++)
		dead++;
	assert_int_equal(dead, 2);
	assert_non_null(strstr(b.s, "The vantage socks5://192.0.2.9:1080 of"));
	buf_free(&one);
	buf_free(&b);
	check_result_free(r);
}

/* The first hour (docs/running.md): a dead Tor proxy is the service's
 * fault, said once and up front; every failure names its step; an RCODE
 * is explained; insecure names its zone; no endpoint still says why. */
static void
test_first_hour(void **state)
{
	struct check_result *r = make(VERDICT_UNREACHABLE);
	struct buf b = BUF_INIT;
	const char *p;

	r->endpoints[0].verdict = VERDICT_UNREACHABLE;
	r->endpoints[0].err_step = PROBE_STEP_TOR;
	strcpy(
	    r->endpoints[0].err_reason,
	    "cannot reach the SOCKS proxy 127.0.0.1:9050: connection refused");
	report_text(r, &b);
	p = strstr(b.s, "\nThis is a fault of the certwatch service");
	assert_non_null(p);
	assert_true(p < strstr(b.s, "xmpp-client xmpp.example"));
	assert_null(strstr(p + 2, "This is a fault"));
	assert_non_null(strstr(b.s, "failed at: cannot reach the SOCKS proxy "
				    "127.0.0.1:9050: connection refused (step "
				    "tor)"));
	assert_non_null(
	    strstr(b.s, "failed at: connection refused (step tcp)"));
	buf_reset(&b);
	/* Refused by Tor at CONNECT: the circuit's or the server's. */
	strcpy(r->endpoints[0].err_reason, "host unreachable");
	report_text(r, &b);
	assert_null(strstr(b.s, "fault of the certwatch service"));
	buf_reset(&b);
	strcpy(r->endpoints[0].err_reason,
	       "the SOCKS proxy closed the connection during the SOCKS "
	       "connection to the server");
	report_text(r, &b);
	assert_null(strstr(b.s, "fault of the certwatch service"));
	buf_reset(&b);

	r->endpoints[0].err_step = PROBE_STEP_DNS;
	strcpy(r->endpoints[0].err_reason,
	       "address look-up of xmpp.example failed: resolution failed "
	       "(RCODE 2)");
	report_text(r, &b);
	assert_non_null(strstr(b.s, "(RCODE 2) (SERVFAIL: the resolver got no "
				    "answer it could use"));
	buf_reset(&b);

	r->verdict = r->endpoints[0].verdict = VERDICT_INSECURE;
	r->endpoints[0].err_step = PROBE_STEP_NONE;
	strcpy(r->endpoints[0].unsigned_zone, "example");
	report_text(r, &b);
	assert_non_null(strstr(b.s, "  unsigned zone: example (sign it"));
	buf_reset(&b);
	report_json(r, &b);
	assert_non_null(strstr(b.s, ",\"unsigned_zone\":\"example\""));
	assert_non_null(strstr(report_advice(VERDICT_INSECURE),
			       "computed on the server itself"));
	buf_reset(&b);

	r->verdict = VERDICT_UNREACHABLE;
	r->nendpoints = 0;
	r->err_step = PROBE_STEP_DNS;
	strcpy(r->err_reason, "no XMPP service");
	r->services[SVC_XMPP_CLIENT] = r->services[SVC_XMPP_SERVER] =
	    SVC_STATE_NOT_OFFERED;
	strcpy(r->service_detail[SVC_XMPP_CLIENT], "no SRV records");
	strcpy(r->service_detail[SVC_XMPP_SERVER], "no SRV records");
	report_text(r, &b);
	assert_non_null(strstr(b.s,
			       "\nfailed at: no XMPP service (step dns)\n"
			       "xmpp-client, xmpp-server: no SRV records\n"));
	r->nendpoints = 2;
	buf_free(&b);
	check_result_free(r);
}

static void
test_escapes(void **state)
{
	struct buf b = BUF_INIT;

	buf_json_str(&b, "\x01\xff\xc3\xa9\"");
	assert_string_equal(b.s, "\"\\u0001\\ufffdé\\\"\"");
	buf_reset(&b);
	buf_html(&b, "<script>alert('x')</script>&\xff");
	assert_string_equal(
	    b.s,
	    "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;\xef\xbf\xbd");
	buf_free(&b);
}

/* A record of `bytes` bytes of data, as check_tlsa_line() writes it. */
static char *
big_record(size_t bytes)
{
	char *s = xcalloc(1, 16 + 2 * bytes);

	strcpy(s, "3 0 0 ");
	for (size_t i = 0; i < 2 * bytes; i++)
		s[6 + i] = "3082"[i % 4];
	return s;
}

/* A record too long for a chat line is cut with a marker, never printed
 * empty or as if whole; JSON has it whole. */
static void
test_long_records(void **state)
{
	struct check_result *r = make(VERDICT_MISMATCH);
	struct check_endpoint *e = &r->endpoints[0];
	struct buf b = BUF_INIT;
	char *whole = big_record(10000), *fits = big_record(4096), want[160];

	(void)state;
	e->tlsa = xrealloc(e->tlsa, 2 * sizeof(char *));
	e->tlsa[0] = (free(e->tlsa[0]), xstrdup(whole));
	e->tlsa[1] = xstrdup(fits);
	e->ntlsa = 2;
	report_text(r, &b);
	snprintf(want, sizeof(want),
		 "  expected: %.70s… [cut: the record "
		 "holds 10000 bytes; the JSON report has it whole]\n",
		 whole);
	if (strstr(b.s, want) == NULL)
		fail_msg("no cut record line in:\n%.400s", b.s);
	assert_non_null(strstr(b.s, fits)); /* 4,096 bytes: whole */
	assert_null(strstr(b.s, "  expected: \n"));
	buf_free(&b);
	report_json(r, &b);
	assert_non_null(strstr(b.s, whole));
	buf_free(&b);
	free(whole);
	free(fits);
	check_result_free(r);
}

/* Defences from one result: expiry against the warning line, TLSA
 * strength, a 3 1 1 record of no key seen (the next key), channel
 * binding per c2s endpoint and summed up. */
static void
test_defences(void **state)
{
	struct check_result *r = make(VERDICT_OK);
	struct check_endpoint *e = &r->endpoints[0];
	struct buf b = BUF_INIT;

	(void)state;
	r->started = 1700000000;
	e->not_after = r->started + 3 * 86400 + 3600;
	e->matched = xstrdup("3 1 1 aaaa");
	e->features.state = PROBE_FEAT_READ;
	strcpy(e->features.sasl.mechs[0], "SCRAM-SHA-1");
	strcpy(e->features.sasl.mechs[1], "PLAIN");
	e->features.sasl.nmechs = 2;
	strcpy(e->tls_version, "TLS1.3");
	report_json(r, &b);
	assert_non_null(strstr(b.s, "\"expiry\":{\"days\":3,"));
	assert_non_null(strstr(b.s, "\"code\":\"expires-soon\""));
	assert_non_null(strstr(b.s, "\"tlsa_quality\":\"strong\""));
	assert_non_null(strstr(b.s, "\"next_key\":\"3 1 1 bbbb\""));
	assert_non_null(strstr(b.s,
			       "\"channel_binding\":{\"state\":\"none\","
			       "\"mechanisms\":[\"SCRAM-SHA-1\",\"PLAIN\"]"));
	assert_non_null(strstr(b.s, "\"code\":\"no-channel-binding\""));
	/* s2s endpoints have none */
	assert_non_null(strstr(b.s, "\"channel_binding\":null"));
	buf_free(&b);

	r->expiry_warn_days = 2;
	strcpy(e->features.sasl.mechs[1], "SCRAM-SHA-1-PLUS");
	report_text(r, &b);
	assert_non_null(strstr(b.s, "  Expiry: 3 days (xmpp.example)\n"));
	assert_null(strstr(b.s, "expires-soon"));
	assert_non_null(strstr(b.s, "Channel binding (XEP-0440): offered"));
	assert_null(strstr(b.s, "no-channel-binding"));
	assert_non_null(strstr(b.s, "Next key prepared: 3 1 1 bbbb"));
	buf_free(&b);
	check_result_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_line),
	    cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_text_and_json),
	    cmocka_unit_test(test_probe_lines),
	    cmocka_unit_test(test_escapes),
	    cmocka_unit_test(test_long_records),
	    cmocka_unit_test(test_first_hour),
	    cmocka_unit_test(test_defences),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
