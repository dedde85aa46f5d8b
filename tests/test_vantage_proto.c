/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_vantage_proto.c - urn:xmpp:certwatch:probe:0 (docs/vantages.md):
 * requests and answers round-trip, and hostile ones are refused within
 * their bounds (component/vantage_proto.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "component/vantage_proto.h"
#include "util/buf.h"

static xmpp_ctx_t *ctx;

static int
setup(void **state)
{
	(void)state;
	xmpp_initialize();
	ctx = xmpp_ctx_new(NULL, NULL);
	return ctx ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
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

/* Through text and back, as the stream carries it. */
static xmpp_stanza_t *
reparse(xmpp_stanza_t *s)
{
	char *buf;
	size_t len;
	xmpp_stanza_t *back;

	assert_int_equal(xmpp_stanza_to_text(s, &buf, &len), XMPP_EOK);
	back = from_xml(buf);
	xmpp_free(ctx, buf);
	xmpp_stanza_release(s);
	return back;
}

static void
req_round_trip(void **state)
{
	struct probe_addr a = {AF_INET6, {0}};
	struct probe_req req = {
	    .host = "xmpp.example.org",
	    .port = 5269,
	    .stream_to = "bücher.example",
	    .sni = "xn--bcher-kva.example",
	    .server = 1,
	    .tls = PROBE_DIRECT,
	    .keys = PROBE_KEYS_RSA,
	    .addrs = &a,
	    .naddrs = 1,
	};
	struct vantage_req vr;
	char why[160];
	xmpp_stanza_t *p;

	(void)state;
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::5", a.addr), 1);
	p = reparse(vantage_req_build(ctx, &req));
	assert_int_equal(vantage_req_parse(p, &vr, why, sizeof(why)), 0);
	assert_true(vr.server);
	assert_int_equal(vr.tls, PROBE_DIRECT);
	assert_string_equal(vr.host, "xmpp.example.org");
	assert_int_equal(vr.port, 5269);
	assert_string_equal(vr.to, "bücher.example");
	assert_string_equal(vr.sni, "xn--bcher-kva.example");
	assert_string_equal(vr.address, "2001:db8::5");
	assert_int_equal(vr.addr.family, AF_INET6);
	assert_memory_equal(vr.addr.addr, a.addr, 16);
	assert_int_equal(vr.keys, PROBE_KEYS_RSA);
	assert_string_equal(xmpp_stanza_get_attribute(p, "service"),
			    "xmpps-server");
	xmpp_stanza_release(p);
}

#define PROBE_OPEN "<probe xmlns='urn:xmpp:certwatch:probe:0' "
#define GOOD_ATTRS                                                             \
	"service='xmpp-client' tls='starttls' host='xmpp.good.test' "          \
	"port='5222' to='good.test' address='192.0.2.1'"

static void
req_hostile(void **state)
{
	static const char *const bad[] = {
	    "<probe xmlns='urn:xmpp:other' " GOOD_ATTRS "/>",
	    "<query xmlns='urn:xmpp:certwatch:probe:0' " GOOD_ATTRS "/>",
	    PROBE_OPEN "tls='starttls' host='a.test' port='5222' to='a.test' "
		       "address='192.0.2.1'/>",
	    PROBE_OPEN "service='xmpp-clients' tls='starttls' host='a.test' "
		       "port='5222' to='a.test' address='192.0.2.1'/>",
	    /* tls must agree with the service */
	    PROBE_OPEN "service='xmpps-client' tls='starttls' host='a.test' "
		       "port='5222' to='a.test' address='192.0.2.1'/>",
	    PROBE_OPEN "service='xmpp-client' tls='starttls' host='a.test' "
		       "port='0' to='a.test' address='192.0.2.1'/>",
	    PROBE_OPEN "service='xmpp-client' tls='starttls' host='a.test' "
		       "port='65536' to='a.test' address='192.0.2.1'/>",
	    PROBE_OPEN "service='xmpp-client' tls='starttls' host='a.test' "
		       "port='+5222' to='a.test' address='192.0.2.1'/>",
	    PROBE_OPEN "service='xmpp-client' tls='starttls' host='a.test' "
		       "port='00000000000005222' to='a.test' "
		       "address='192.0.2.1'/>",
	    PROBE_OPEN "service='xmpp-client' tls='starttls' host='a b.test' "
		       "port='5222' to='a.test' address='192.0.2.1'/>",
	    PROBE_OPEN "service='xmpp-client' tls='starttls' "
		       "host='192.0.2.1' port='5222' to='a.test' "
		       "address='192.0.2.1'/>",
	    PROBE_OPEN "service='xmpp-client' tls='starttls' host='a.test' "
		       "port='5222' to='a.test&#10;x' address='192.0.2.1'/>",
	    PROBE_OPEN "service='xmpp-client' tls='starttls' host='a.test' "
		       "port='5222' to='a.test' address='192.0.2'/>",
	    PROBE_OPEN "service='xmpp-client' tls='starttls' host='a.test' "
		       "port='5222' to='a.test' address='192.0.2.1%eth0'/>",
	    PROBE_OPEN "service='xmpp-client' tls='starttls' host='a.test' "
		       "port='5222' to='a.test'/>",
	    PROBE_OPEN GOOD_ATTRS " key-type='dsa'/>",
	    PROBE_OPEN GOOD_ATTRS " sni=''/>",
	};
	struct vantage_req vr;
	char why[160];

	(void)state;
	{
		xmpp_stanza_t *p = from_xml(PROBE_OPEN GOOD_ATTRS "/>");
		assert_int_equal(vantage_req_parse(p, &vr, why, sizeof(why)),
				 0);
		assert_string_equal(vr.sni, "");
		assert_int_equal(vr.keys, PROBE_KEYS_ANY);
		xmpp_stanza_release(p);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		xmpp_stanza_t *p = from_xml(bad[i]);
		why[0] = '\0';
		if (vantage_req_parse(p, &vr, why, sizeof(why)) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_true(why[0] != '\0');
		xmpp_stanza_release(p);
	}
}

/* Bytes standing for a certificate (the reader hashes, never parses). */
static struct probe_result *
fake_result(size_t ncerts, size_t len)
{
	struct probe_result *r = calloc(1, sizeof(*r));

	r->ok = 1;
	r->chain = calloc(ncerts, sizeof(*r->chain));
	for (size_t i = 0; i < ncerts; i++) {
		r->chain[i].der = malloc(len);
		for (size_t j = 0; j < len; j++)
			r->chain[i].der[j] = (uint8_t)(i * 31 + j * 7);
		r->chain[i].len = len;
	}
	r->nchain = ncerts;
	r->elapsed_ms = 420;
	strcpy(r->tls_version, "TLS1.3");
	return r;
}

static void
ans_round_trip(void **state)
{
	char why[160];
	/* Lengths 1 to 3 mod 3 exercise each padding. */
	for (size_t len = 1000; len < 1003; len++) {
		struct probe_result *in = fake_result(3, len), *out;
		xmpp_stanza_t *s =
		    reparse(vantage_ans_build(ctx, in, time(NULL)));
		out = vantage_ans_parse(s, why, sizeof(why));
		if (out == NULL)
			fail_msg("refused: %s", why);
		assert_true(out->ok);
		assert_int_equal(out->nchain, 3);
		for (size_t i = 0; i < 3; i++) {
			assert_int_equal(out->chain[i].len, len);
			assert_memory_equal(out->chain[i].der, in->chain[i].der,
					    len);
		}
		assert_int_equal(out->elapsed_ms, 420);
		assert_string_equal(out->tls_version, "TLS1.3");
		probe_result_free(in);
		probe_result_free(out);
		xmpp_stanza_release(s);
	}
	(void)state;
}

static void
ans_failure(void **state)
{
	struct probe_result in = {0}, *out;
	char why[160];
	xmpp_stanza_t *s;

	(void)state;
	in.fail_step = PROBE_STEP_STARTTLS;
	in.tls_refused = 1;
	snprintf(in.reason, sizeof(in.reason), "no <starttls/> offered");
	s = reparse(vantage_ans_build(ctx, &in, time(NULL)));
	out = vantage_ans_parse(s, why, sizeof(why));
	assert_non_null(out);
	assert_false(out->ok);
	assert_int_equal(out->fail_step, PROBE_STEP_STARTTLS);
	assert_true(out->tls_refused);
	assert_string_equal(out->reason, "no <starttls/> offered");
	probe_result_free(out);
	xmpp_stanza_release(s);
}

/* The builder cuts a chain over the bounds and says so. */
static void
ans_build_cuts(void **state)
{
	struct probe_result *in = fake_result(12, 100), *out;
	char why[160];
	xmpp_stanza_t *s;

	(void)state;
	s = reparse(vantage_ans_build(ctx, in, time(NULL)));
	out = vantage_ans_parse(s, why, sizeof(why));
	assert_non_null(out);
	assert_int_equal(out->nchain, VANTAGE_MAX_CERTS);
	probe_result_free(in);
	probe_result_free(out);
	xmpp_stanza_release(s);
	in = fake_result(1, VANTAGE_MAX_CERT + 1);
	s = vantage_ans_build(ctx, in, time(NULL));
	assert_string_equal(xmpp_stanza_get_attribute(s, "chain-cut"), "true");
	probe_result_free(in);
	xmpp_stanza_release(s);
}

#define RES_OPEN                                                               \
	"<result xmlns='urn:xmpp:certwatch:probe:0' elapsed-ms='5' at='1' "
/* SHA-256 of the bytes "abc" (base64 YWJj). */
#define ABC_SHA                                                                \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/* A cert element of n bytes of 'A' (base64 "QUFB..."), right hash. */
static void
cert_of(struct buf *b, size_t n)
{
	uint8_t *der = malloc(n);
	struct probe_result r = {0};
	struct probe_cert c = {der, n};
	xmpp_stanza_t *s;
	char *txt;
	size_t len;

	memset(der, 'A', n);
	r.ok = 1;
	r.chain = &c;
	r.nchain = 1;
	s = vantage_ans_build(ctx, &r, time(NULL));
	/* Only its <cert/>: the child. */
	for (xmpp_stanza_t *e = xmpp_stanza_get_children(s); e;
	     e = xmpp_stanza_get_next(e))
		if (!strcmp(xmpp_stanza_get_name(e), "cert")) {
			assert_int_equal(xmpp_stanza_to_text(e, &txt, &len),
					 XMPP_EOK);
			buf_puts(b, txt);
			xmpp_free(ctx, txt);
		}
	xmpp_stanza_release(s);
	free(der);
}

static void
ans_hostile(void **state)
{
	static const char *const bad[] = {
	    "<result xmlns='urn:xmpp:other' outcome='chain' elapsed-ms='5' "
	    "at='1'><cert sha256='" ABC_SHA "'>YWJj</cert></result>",
	    RES_OPEN "><cert sha256='" ABC_SHA "'>YWJj</cert></result>",
	    RES_OPEN "outcome='ok'><cert sha256='" ABC_SHA
		     "'>YWJj</cert></result>",
	    /* a chain with no certificate */
	    RES_OPEN "outcome='chain'/>",
	    /* the hash is not the bytes' */
	    RES_OPEN "outcome='chain'><cert sha256='" ABC_SHA
		     "'>YWJk</cert></result>",
	    RES_OPEN "outcome='chain'><cert>YWJj</cert></result>",
	    /* not base64 */
	    RES_OPEN "outcome='chain'><cert sha256='" ABC_SHA
		     "'>YW*j</cert></result>",
	    RES_OPEN "outcome='chain'><cert sha256='" ABC_SHA
		     "'>YWJ</cert></result>",
	    RES_OPEN "outcome='chain'><cert sha256='" ABC_SHA
		     "'>YQ==YWJj</cert></result>",
	    RES_OPEN "outcome='chain'><cert sha256='" ABC_SHA
		     "'>====</cert></result>",
	    RES_OPEN "outcome='chain'><cert sha256='" ABC_SHA
		     "'></cert></result>",
	    /* an element inside a certificate, an unknown element */
	    RES_OPEN "outcome='chain'><cert sha256='" ABC_SHA
		     "'>YW<b/>Jj</cert></result>",
	    RES_OPEN "outcome='chain'><cert sha256='" ABC_SHA
		     "'>YWJj</cert><verdict>ok</verdict></result>",
	    /* a failure: its step from a closed list, no certificate */
	    RES_OPEN "outcome='failed'/>",
	    RES_OPEN "outcome='failed' step='vantage'/>",
	    RES_OPEN "outcome='failed' step='dns'/>",
	    RES_OPEN "outcome='failed' step='tcp'><cert sha256='" ABC_SHA
		     "'>YWJj</cert></result>",
	    RES_OPEN "outcome='chain' step='tcp'><cert sha256='" ABC_SHA
		     "'>YWJj</cert></result>",
	    /* numbers and words */
	    "<result xmlns='urn:xmpp:certwatch:probe:0' outcome='failed' "
	    "step='tcp' at='1'/>",
	    "<result xmlns='urn:xmpp:certwatch:probe:0' outcome='failed' "
	    "step='tcp' elapsed-ms='3600001' at='1'/>",
	    "<result xmlns='urn:xmpp:certwatch:probe:0' outcome='failed' "
	    "step='tcp' elapsed-ms='-1' at='1'/>",
	    "<result xmlns='urn:xmpp:certwatch:probe:0' outcome='failed' "
	    "step='tcp' elapsed-ms='1'/>",
	    RES_OPEN "outcome='failed' step='tcp' tls-refused='yes'/>",
	    RES_OPEN
	    "outcome='chain' tls-version='SSL3.0'><cert sha256='" ABC_SHA
	    "'>YWJj</cert></result>",
	    RES_OPEN
	    "outcome='chain' tls-version='TLS1.3x'><cert sha256='" ABC_SHA
	    "'>YWJj</cert></result>",
	    RES_OPEN "outcome='failed' step='tcp'><reason>a<b/></reason>"
		     "</result>",
	};
	char why[160];

	(void)state;
	{
		xmpp_stanza_t *s =
		    from_xml(RES_OPEN "outcome='chain'><cert "
				      "sha256='" ABC_SHA "'>\n YW\r\nJj "
				      "</cert></result>");
		struct probe_result *r = vantage_ans_parse(s, why, sizeof(why));
		if (r == NULL)
			fail_msg("refused: %s", why);
		assert_int_equal(r->chain[0].len, 3);
		probe_result_free(r);
		xmpp_stanza_release(s);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		xmpp_stanza_t *s = from_xml(bad[i]);
		why[0] = '\0';
		if (vantage_ans_parse(s, why, sizeof(why)) != NULL)
			fail_msg("accepted: %s", bad[i]);
		assert_true(why[0] != '\0');
		xmpp_stanza_release(s);
	}
}

/* Over the bounds: certificates, bytes of one, bytes of all, words. */
static void
ans_huge(void **state)
{
	char why[160];
	struct {
		size_t n, len;
		int ok;
	} cases[] = {
	    {VANTAGE_MAX_CERTS, 100, 1},
	    {VANTAGE_MAX_CERTS + 1, 100, 0},
	    {1, VANTAGE_MAX_CERT, 1},
	    {1, VANTAGE_MAX_CERT + 1, 0},
	    {VANTAGE_MAX_CHAIN / VANTAGE_MAX_CERT, VANTAGE_MAX_CERT, 1},
	    {VANTAGE_MAX_CHAIN / VANTAGE_MAX_CERT + 1, VANTAGE_MAX_CERT, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b = BUF_INIT;
		buf_puts(&b, RES_OPEN "outcome='chain'>");
		for (size_t j = 0; j < cases[i].n; j++)
			cert_of(&b, cases[i].len);
		buf_puts(&b, "</result>");
		xmpp_stanza_t *s = from_xml(b.s);
		struct probe_result *r = vantage_ans_parse(s, why, sizeof(why));
		if ((r != NULL) != cases[i].ok)
			fail_msg("case %zu: %s", i, r ? "accepted" : why);
		probe_result_free(r);
		xmpp_stanza_release(s);
		buf_free(&b);
	}
	{
		struct buf b = BUF_INIT;
		buf_puts(&b, RES_OPEN "outcome='failed' step='tcp'><reason>");
		for (int i = 0; i < VANTAGE_MAX_REASON + 1; i++)
			buf_putc(&b, 'x');
		buf_puts(&b, "</reason></result>");
		xmpp_stanza_t *s = from_xml(b.s);
		assert_null(vantage_ans_parse(s, why, sizeof(why)));
		xmpp_stanza_release(s);
		buf_free(&b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(req_round_trip), cmocka_unit_test(req_hostile),
	    cmocka_unit_test(ans_round_trip), cmocka_unit_test(ans_failure),
	    cmocka_unit_test(ans_build_cuts), cmocka_unit_test(ans_hostile),
	    cmocka_unit_test(ans_huge),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
