/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_forms.c - XEP-0004 forms: what the bot builds, and reading what
 * clients submit, including hostile forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "component/forms.h"

static xmpp_ctx_t *ctx;

static int
setup(void **state)
{
	xmpp_initialize();
	ctx = xmpp_ctx_new(NULL, NULL);
	return ctx ? 0 : -1;
}

static int
teardown(void **state)
{
	xmpp_ctx_free(ctx);
	xmpp_shutdown();
	return 0;
}

static xmpp_stanza_t *
from_xml(const char *xml)
{
	xmpp_stanza_t *s = xmpp_stanza_new_from_string(ctx, xml);

	assert_non_null(s);
	return s;
}

static char *
to_xml(xmpp_stanza_t *s)
{
	char *buf;
	size_t len;

	assert_int_equal(xmpp_stanza_to_text(s, &buf, &len), XMPP_EOK);
	return buf;
}

/* The value the reader finds in `xml` (a <command/>) for "domain". */
static int
read_domain(const char *xml, char *out, size_t outlen)
{
	xmpp_stanza_t *cmd = from_xml(xml);
	xmpp_stanza_t *x = comp_form_find(cmd);
	int rc;

	if (outlen > 0)
		out[0] = '\0';
	rc = x ? comp_form_value(x, "domain", out, outlen) : -2;

	xmpp_stanza_release(cmd);
	return rc;
}

#define CMD_OPEN                                                               \
	"<command xmlns='http://jabber.org/protocol/commands' "                \
	"node='check'>"
#define X_OPEN "<x xmlns='jabber:x:data' type='submit'>"

static void
test_ask_form(void **state)
{
	xmpp_stanza_t *x =
	    comp_form_ask_domain(ctx, "Check a domain", "Which one?", NULL, 0);
	char *xml = to_xml(x);

	assert_non_null(strstr(xml, "xmlns=\"jabber:x:data\""));
	assert_non_null(strstr(xml, "type=\"form\""));
	assert_non_null(strstr(xml, "<title>Check a domain</title>"));
	assert_non_null(strstr(xml, "var=\"domain\""));
	assert_non_null(strstr(xml, "type=\"text-single\""));
	assert_non_null(strstr(xml, "<required/>"));
	xmpp_free(ctx, xml);
	xmpp_stanza_release(x);

	/* Optional (status), pre-filled, with markup in the value escaped. */
	x = comp_form_ask_domain(ctx, "t", NULL, "a<b>&c", 1);
	xml = to_xml(x);
	assert_null(strstr(xml, "<required/>"));
	assert_null(strstr(xml, "<instructions"));
	assert_non_null(strstr(xml, "a&lt;b&gt;&amp;c"));
	xmpp_free(ctx, xml);
	xmpp_stanza_release(x);
}

static void
test_text_multi(void **state)
{
	xmpp_stanza_t *x =
	    comp_form_text_result(ctx, "Status", "one\n\nthree\n");
	char *xml = to_xml(x);

	assert_non_null(strstr(xml, "type=\"result\""));
	assert_non_null(strstr(xml, "<value>one</value><value/>"
				    "<value>three</value></field>"));
	xmpp_free(ctx, xml);
	xmpp_stanza_release(x);
}

static void
test_check_result(void **state)
{
	struct check_endpoint ep[2];
	struct check_result r;
	xmpp_stanza_t *x;
	char *xml;
	char v[512];

	memset(&r, 0, sizeof(r));
	memset(ep, 0, sizeof(ep));
	strcpy(r.domain, "good.test");
	strcpy(r.domain_u, "good.test");
	r.verdict = VERDICT_OK;
	r.endpoints = ep;
	r.nendpoints = 2;
	ep[0].service = SVC_XMPP_CLIENT;
	strcpy(ep[0].host, "xmpp.good.test");
	ep[0].port = 5222;
	ep[0].verdict = VERDICT_OK;
	ep[0].have_key = 1;
	strcpy(ep[0].spki_sha256, "00ff");
	ep[1].service = SVC_XMPPS_SERVER;
	strcpy(ep[1].host, "s2s.good.test");
	ep[1].port = 5270;
	ep[1].verdict = VERDICT_UNREACHABLE;

	x = comp_form_check_result(ctx, &r, "good.test: ok\nsecond line\n");
	xml = to_xml(x);
	assert_non_null(strstr(xml, "type=\"result\""));
	xmpp_free(ctx, xml);

	assert_int_equal(comp_form_value(x, "verdict", v, sizeof(v)), 1);
	assert_string_equal(v, "ok");
	assert_int_equal(comp_form_value(x, "endpoint.1", v, sizeof(v)), 1);
	assert_string_equal(v, "xmpp-client xmpp.good.test:5222 ok 00ff");
	assert_int_equal(comp_form_value(x, "endpoint.2", v, sizeof(v)), 1);
	assert_string_equal(v, "xmpps-server s2s.good.test:5270 unreachable -");
	assert_int_equal(comp_form_value(x, "endpoint.3", v, sizeof(v)), 0);
	/* text-multi has several values: the single-value reader refuses. */
	assert_int_equal(comp_form_value(x, "report", v, sizeof(v)), -1);
	assert_int_equal(comp_form_value(x, "endpoint.1.probe.1", v, sizeof(v)),
			 0);
	xmpp_stanza_release(x);

	/* Two probes that agree: the form as with one. */
	struct check_probe pr[2];
	memset(pr, 0, sizeof(pr));
	for (int i = 0; i < 2; i++) {
		strcpy(pr[i].address, i ? "192.0.2.2" : "192.0.2.1");
		strcpy(pr[i].vantage, "tor");
		strcpy(pr[i].key_type, "ecdsa");
		strcpy(pr[i].spki_sha256, "00ff");
		pr[i].have_key = 1;
		pr[i].verdict = VERDICT_OK;
	}
	ep[0].probes = pr;
	ep[0].nprobes = 2;
	x = comp_form_check_result(ctx, &r, "good.test: ok\n");
	assert_int_equal(comp_form_value(x, "endpoint.1.probe.1", v, sizeof(v)),
			 0);
	xmpp_stanza_release(x);
	/* They differ: a field each, after the endpoint's. */
	strcpy(pr[1].spki_sha256, "ee11");
	pr[1].verdict = VERDICT_MISMATCH;
	x = comp_form_check_result(ctx, &r, "good.test: mismatch\n");
	assert_int_equal(comp_form_value(x, "endpoint.1.probe.1", v, sizeof(v)),
			 1);
	assert_string_equal(v, "probe 192.0.2.1 via tor: ok, key 00ff (ecdsa)");
	assert_int_equal(comp_form_value(x, "endpoint.1.probe.2", v, sizeof(v)),
			 1);
	assert_string_equal(
	    v, "probe 192.0.2.2 via tor: mismatch, key ee11 (ecdsa)");
	assert_int_equal(comp_form_value(x, "endpoint.1.probe.3", v, sizeof(v)),
			 0);
	assert_int_equal(comp_form_value(x, "endpoint.2.probe.1", v, sizeof(v)),
			 0);
	assert_int_equal(comp_form_value(x, "endpoint.2", v, sizeof(v)), 1);
	xmpp_stanza_release(x);
	/* 40 probes that differ: 16 fields (the report has them all). */
	struct check_probe many[40];
	for (int i = 0; i < 40; i++) {
		many[i] = pr[i % 2];
		snprintf(many[i].address, sizeof(many[i].address), "192.0.2.%d",
			 i);
	}
	ep[0].probes = many;
	ep[0].nprobes = 40;
	x = comp_form_check_result(ctx, &r, "good.test: mismatch\n");
	assert_int_equal(
	    comp_form_value(x, "endpoint.1.probe.16", v, sizeof(v)), 1);
	assert_int_equal(
	    comp_form_value(x, "endpoint.1.probe.17", v, sizeof(v)), 0);
	xmpp_stanza_release(x);
}

static void
test_read_ok(void **state)
{
	char v[COMP_FORM_VALUE_MAX + 1];

	assert_int_equal(read_domain(CMD_OPEN X_OPEN
				     "<field var='domain'>"
				     "<value>good.test</value></field></x>"
				     "</command>",
				     v, sizeof(v)),
			 1);
	assert_string_equal(v, "good.test");

	/* Fields in any order, other fields ignored, type omitted. */
	assert_int_equal(read_domain(CMD_OPEN X_OPEN
				     "<field var='FORM_TYPE' "
				     "type='hidden'><value>x</value></field>"
				     "<field var='domain' type='text-single'>"
				     "<value>Example.ORG</value></field></x>"
				     "</command>",
				     v, sizeof(v)),
			 1);
	assert_string_equal(v, "Example.ORG");

	/* Entities decoded. */
	assert_int_equal(read_domain(CMD_OPEN X_OPEN
				     "<field var='domain'>"
				     "<value>a&amp;b</value></field></x>"
				     "</command>",
				     v, sizeof(v)),
			 1);
	assert_string_equal(v, "a&b");
}

static void
test_read_missing(void **state)
{
	char v[64];

	/* No field, a field with no value, an empty value. */
	assert_int_equal(
	    read_domain(CMD_OPEN X_OPEN "</x></command>", v, sizeof(v)), 0);
	assert_int_equal(read_domain(CMD_OPEN X_OPEN "<field var='domain'/>"
						     "</x></command>",
				     v, sizeof(v)),
			 0);
	assert_int_equal(read_domain(CMD_OPEN X_OPEN
				     "<field var='domain'>"
				     "<value/></field></x></command>",
				     v, sizeof(v)),
			 0);
	assert_string_equal(v, "");
	/* No form at all, or one in another namespace. */
	assert_int_equal(read_domain(CMD_OPEN "</command>", v, sizeof(v)), -2);
	assert_int_equal(read_domain(CMD_OPEN
				     "<x xmlns='urn:other'>"
				     "<field var='domain'><value>a.b</value>"
				     "</field></x></command>",
				     v, sizeof(v)),
			 -2);
	/* A field without var. */
	assert_int_equal(read_domain(CMD_OPEN X_OPEN
				     "<field><value>a.b"
				     "</value></field></x></command>",
				     v, sizeof(v)),
			 0);
}

static void
test_read_hostile(void **state)
{
	char v[64];
	struct {
		const char *what, *xml;
	} cases[] = {
	    {"two forms", CMD_OPEN X_OPEN "</x>" X_OPEN "</x></command>"},
	    {"field twice", CMD_OPEN X_OPEN
	     "<field var='domain'><value>"
	     "a.b</value></field><field var='domain'><value>c.d</value>"
	     "</field></x></command>"},
	    {"two values", CMD_OPEN X_OPEN
	     "<field var='domain'><value>a.b"
	     "</value><value>c.d</value></field></x></command>"},
	    {"markup in value",
	     CMD_OPEN X_OPEN "<field var='domain'>"
			     "<value>a<b/>c</value></field></x></command>"},
	    {"too long for out", CMD_OPEN X_OPEN
	     "<field var='domain'>"
	     "<value>aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaaaaaaaaaaaaaaaaaaa.example</value></field></x></command>"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = read_domain(cases[i].xml, v, sizeof(v));
		if (rc != -1 && rc != -2)
			fail_msg("%s: got %d", cases[i].what, rc);
		assert_string_equal(v, "");
	}

	/* A value over COMP_FORM_VALUE_MAX, even with a big buffer. */
	size_t n = 70000;
	char *xml = malloc(n + 200), *big = malloc(n + 1);
	memset(big, 'a', n);
	big[n] = '\0';
	snprintf(xml, n + 200,
		 CMD_OPEN X_OPEN "<field var='domain'><value>"
				 "%s</value></field></x></command>",
		 big);
	char *out = malloc(n + 1);
	assert_int_equal(read_domain(xml, out, n + 1), -1);
	assert_int_equal(read_domain(xml, out, 0), -1);
	free(out);
	free(xml);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ask_form),
	    cmocka_unit_test(test_text_multi),
	    cmocka_unit_test(test_check_result),
	    cmocka_unit_test(test_read_ok),
	    cmocka_unit_test(test_read_missing),
	    cmocka_unit_test(test_read_hostile),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
