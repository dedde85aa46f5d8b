/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_xmlstream.c - the pre-TLS XMPP stream reader on captured-style and
 * hostile bytes, whole and byte by byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "probe/xmlstream.h"

#define HEADER                                                                 \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "           \
	"xmlns:stream='http://etherx.jabber.org/streams' id='abc-123' "        \
	"version='1.0' from='example.org' xml:lang='en'>"

/* What Prosody 0.12 sends to a client before TLS (shape as captured). */
static const char prosody[] = HEADER
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
    "<required/></starttls><mechanisms "
    "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
    "</mechanisms></stream:features>"
    "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";

struct rec {
	int n;
	enum xmlstream_event_type type[16];
	char s1[16][80];  /* id or condition or error */
	char s2[16][600]; /* version or text */
	char from[16][80];
	size_t idlen[16];
	int starttls[16], required[16];
	int bound[16];
	int stop_on; /* stop when this type arrives; -1: never */
};

static int
record(const struct xmlstream_event *ev, void *arg)
{
	struct rec *r = arg;
	int i = r->n;

	assert_true(i < 16);
	r->type[i] = ev->type;
	r->s1[i][0] = r->s2[i][0] = r->from[i][0] = '\0';
	switch (ev->type) {
	case XMLSTREAM_HEADER:
		snprintf(r->s1[i], sizeof(r->s1[i]), "%s", ev->id);
		r->idlen[i] = strlen(ev->id);
		snprintf(r->s2[i], sizeof(r->s2[i]), "%s", ev->version);
		snprintf(r->from[i], sizeof(r->from[i]), "%s", ev->from);
		break;
	case XMLSTREAM_FEATURES:
		r->starttls[i] = ev->starttls;
		r->required[i] = ev->starttls_required;
		break;
	case XMLSTREAM_STREAM_ERROR:
		snprintf(r->s1[i], sizeof(r->s1[i]), "%s", ev->condition);
		snprintf(r->s2[i], sizeof(r->s2[i]), "%s", ev->text);
		break;
	case XMLSTREAM_ERROR:
		snprintf(r->s1[i], sizeof(r->s1[i]), "%s", ev->error);
		r->bound[i] = ev->bound;
		r->starttls[i] = ev->starttls;
		break;
	default:
		break;
	}
	r->n++;
	return (int)ev->type == r->stop_on;
}

/* Feeds s in pieces of `step` bytes (0: at once); returns the last
 * result of xmlstream_feed. */
static int
feed(struct rec *r, const char *s, size_t len, size_t step)
{
	struct xmlstream *xs = xmlstream_new(record, r);
	size_t off = 0, n;
	int rc = 0;

	assert_non_null(xs);
	if (step == 0)
		step = len ? len : 1;
	while (off < len) {
		n = len - off < step ? len - off : step;
		rc = xmlstream_feed(xs, s + off, n);
		off += n;
		if (rc != 0)
			break;
	}
	/* After a stop or an error, nothing more is taken or reported. */
	if (rc != 0) {
		int before = r->n;
		assert_int_equal(xmlstream_feed(xs, "<x/>", 4), rc);
		assert_int_equal(r->n, before);
	}
	xmlstream_free(xs);
	return rc;
}

static void
rec_init(struct rec *r, int stop_on)
{
	memset(r, 0, sizeof(*r));
	r->stop_on = stop_on;
}

static void
test_prosody_flow(void **state)
{
	size_t steps[] = {0, 1, 2, 3, 7, 64};
	size_t i;
	struct rec r;

	(void)state;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		rec_init(&r, XMLSTREAM_PROCEED);
		assert_int_equal(feed(&r, prosody, strlen(prosody), steps[i]),
				 1);
		assert_int_equal(r.n, 3);
		assert_int_equal(r.type[0], XMLSTREAM_HEADER);
		assert_string_equal(r.s1[0], "abc-123");
		assert_string_equal(r.s2[0], "1.0");
		assert_string_equal(r.from[0], "example.org");
		assert_int_equal(r.type[1], XMLSTREAM_FEATURES);
		assert_int_equal(r.starttls[1], 1);
		assert_int_equal(r.required[1], 1);
		assert_int_equal(r.type[2], XMLSTREAM_PROCEED);
	}
}

/* Every prefix of a valid stream is read without error, and reports a
 * prefix of the events of the whole. */
static void
test_truncation(void **state)
{
	size_t len = strlen(prosody), i;
	struct rec r;

	(void)state;
	for (i = 0; i < len; i++) {
		rec_init(&r, -1);
		assert_int_equal(feed(&r, prosody, i, 0), 0);
		assert_true(r.n <= 3);
		if (r.n >= 1)
			assert_int_equal(r.type[0], XMLSTREAM_HEADER);
		if (r.n >= 2)
			assert_int_equal(r.type[1], XMLSTREAM_FEATURES);
	}
}

static void
test_features_variants(void **state)
{
	static const char no_tls[] =
	    HEADER "<stream:features><mechanisms "
		   "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
		   "</stream:features>";
	/* starttls in a foreign namespace is not an offer. */
	static const char fake[] =
	    HEADER "<stream:features><starttls xmlns='urn:x'><required/>"
		   "</starttls></stream:features>";
	static const char optional[] =
	    HEADER "<stream:features><starttls "
		   "xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
		   "</stream:features>";
	/* Other prefixes are the same elements. */
	static const char prefixes[] =
	    "<s:stream xmlns:s='http://etherx.jabber.org/streams' "
	    "xmlns='jabber:server' version='1.0'>\n  <s:features>"
	    "<t:starttls xmlns:t='urn:ietf:params:xml:ns:xmpp-tls'>"
	    "<t:required/></t:starttls></s:features>";
	struct rec r;

	(void)state;
	rec_init(&r, -1);
	assert_int_equal(feed(&r, no_tls, strlen(no_tls), 0), 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.type[1], XMLSTREAM_FEATURES);
	assert_int_equal(r.starttls[1], 0);

	rec_init(&r, -1);
	assert_int_equal(feed(&r, fake, strlen(fake), 0), 0);
	assert_int_equal(r.starttls[1], 0);
	assert_int_equal(r.required[1], 0);

	rec_init(&r, -1);
	assert_int_equal(feed(&r, optional, strlen(optional), 1), 0);
	assert_int_equal(r.starttls[1], 1);
	assert_int_equal(r.required[1], 0);

	rec_init(&r, -1);
	assert_int_equal(feed(&r, prefixes, strlen(prefixes), 0), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.s1[0], "");
	assert_string_equal(r.from[0], "");
	assert_int_equal(r.starttls[1], 1);
	assert_int_equal(r.required[1], 1);
}

static void
test_failure_and_end(void **state)
{
	static const char s[] =
	    HEADER "<stream:features><starttls "
		   "xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
		   "</stream:features>"
		   "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
		   "</stream:stream>";
	struct rec r;

	(void)state;
	rec_init(&r, -1);
	assert_int_equal(feed(&r, s, strlen(s), 5), 0);
	assert_int_equal(r.n, 4);
	assert_int_equal(r.type[2], XMLSTREAM_FAILURE);
	assert_int_equal(r.type[3], XMLSTREAM_END);
	/* Junk after the end of the stream is an error. */
	{
		char junk[sizeof(s) + 8];
		snprintf(junk, sizeof(junk), "%s<x/>", s);
		rec_init(&r, -1);
		assert_int_equal(feed(&r, junk, strlen(junk), 0), -1);
		assert_int_equal(r.type[r.n - 1], XMLSTREAM_ERROR);
	}
}

static void
test_stream_error(void **state)
{
	static const char with_text[] =
	    HEADER "<stream:error><host-unknown "
		   "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text "
		   "xmlns='urn:ietf:params:xml:ns:xmpp-streams'>No such "
		   "&amp; host</text></stream:error></stream:stream>";
	static const char bare[] =
	    HEADER "<stream:error><text "
		   "xmlns='urn:ietf:params:xml:ns:xmpp-streams'>x</text>"
		   "<policy-violation "
		   "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
		   "</stream:error>";
	static const char empty[] = HEADER "<stream:error/>";
	char *big;
	size_t i, off;
	struct rec r;

	(void)state;
	rec_init(&r, XMLSTREAM_STREAM_ERROR);
	assert_int_equal(feed(&r, with_text, strlen(with_text), 1), 1);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.type[1], XMLSTREAM_STREAM_ERROR);
	assert_string_equal(r.s1[1], "host-unknown");
	assert_string_equal(r.s2[1], "No such & host");

	rec_init(&r, -1);
	assert_int_equal(feed(&r, bare, strlen(bare), 0), 0);
	assert_string_equal(r.s1[1], "policy-violation");
	assert_string_equal(r.s2[1], "x");

	rec_init(&r, -1);
	assert_int_equal(feed(&r, empty, strlen(empty), 0), 0);
	assert_int_equal(r.type[1], XMLSTREAM_STREAM_ERROR);
	assert_string_equal(r.s1[1], "");

	/* A long text is cut, never at a UTF-8 continuation byte. */
	big = malloc(8000);
	assert_non_null(big);
	off = (size_t)sprintf(big, "%s<stream:error><text xmlns='%s'>a", HEADER,
			      XMLSTREAM_NS_ERRORS);
	for (i = 0; i < 1000; i++)
		off += (size_t)sprintf(big + off, "\xc3\xa9");
	off += (size_t)sprintf(big + off, "</text></stream:error>");
	rec_init(&r, -1);
	assert_int_equal(feed(&r, big, off, 3), 0);
	assert_int_equal(r.type[1], XMLSTREAM_STREAM_ERROR);
	assert_int_equal(strlen(r.s2[1]), XMLSTREAM_MAX_TEXT - 1);
	assert_true(((unsigned char)r.s2[1][XMLSTREAM_MAX_TEXT - 2] & 0xc0) ==
		    0x80);
	free(big);
}

/* The error s gives, fed in pieces of `step`: its words, and whether it
 * is one of the reader's bounds (`bound`) reached after a <starttls/>
 * (`starttls`). */
static void
expect_error_of(const char *s, size_t len, size_t step, const char *words,
		int bound, int starttls)
{
	struct rec r;

	rec_init(&r, -1);
	assert_int_equal(feed(&r, s, len, step), -1);
	assert_true(r.n >= 1);
	assert_int_equal(r.type[r.n - 1], XMLSTREAM_ERROR);
	if (words != NULL && strstr(r.s1[r.n - 1], words) == NULL)
		fail_msg("error '%s' lacks '%s'", r.s1[r.n - 1], words);
	if (r.bound[r.n - 1] != bound)
		fail_msg("error '%s': bound %d, want %d", r.s1[r.n - 1],
			 r.bound[r.n - 1], bound);
	assert_int_equal(r.starttls[r.n - 1], starttls);
}

/* Malformed or forbidden XML: not a bound. */
static void
expect_error(const char *s, size_t len, size_t step, const char *words)
{
	expect_error_of(s, len, step, words, 0, 0);
}

static void
test_hostile(void **state)
{
	static const char laughs[] =
	    "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
	    "<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
	    "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>"
	    "<!ENTITY lol4 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>"
	    "]><stream:stream xmlns:stream='"
	    "http://etherx.jabber.org/streams'>&lol4;";
	static const char external[] =
	    "<!DOCTYPE x SYSTEM 'file:///etc/passwd'><x/>";
	static const char bad_utf8_attr[] =
	    "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
	    "from='\xc3\x28'>";
	static const char bad_utf8_text[] =
	    HEADER "<stream:error><text xmlns='" XMLSTREAM_NS_ERRORS
		   "'>\xff\xfe</text></stream:error>";
	/* Overlong encoding of '<'. */
	static const char overlong[] = HEADER "<x a='\xc0\xbc'/>";
	/* The declaration cannot switch away from UTF-8. */
	static const char latin1[] =
	    "<?xml version='1.0' encoding='ISO-8859-1'?>"
	    "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'"
	    " from='caf\xe9'>";
	static const char not_stream[] = "<html><body>hello</body></html>";
	static const char wrong_ns[] =
	    "<stream:stream xmlns:stream='jabber:client'>";
	static const char unbound_prefix[] = "<stream:stream>";
	static const char http[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
	static const char nul[] = HEADER "<a>\0</a>";
	char *deep, *huge, *longattr;
	size_t off, i;

	(void)state;
	expect_error(laughs, strlen(laughs), 0, "DTD");
	expect_error(laughs, strlen(laughs), 1, "DTD");
	expect_error(external, strlen(external), 0, "DTD");
	expect_error(bad_utf8_attr, strlen(bad_utf8_attr), 0, "invalid XML");
	expect_error(bad_utf8_text, strlen(bad_utf8_text), 1, "invalid XML");
	expect_error(overlong, strlen(overlong), 0, "invalid XML");
	expect_error(latin1, strlen(latin1), 0, NULL);
	expect_error(not_stream, strlen(not_stream), 0, "not an XMPP stream");
	expect_error(wrong_ns, strlen(wrong_ns), 0, "not an XMPP stream");
	expect_error(unbound_prefix, strlen(unbound_prefix), 0, NULL);
	expect_error(http, strlen(http), 0, "invalid XML");
	expect_error(nul, sizeof(nul) - 1, 0, "invalid XML");

	/* Nesting: the limit counts the stream itself. */
	deep = malloc(3 * XMLSTREAM_MAX_DEPTH + 200);
	assert_non_null(deep);
	off = (size_t)sprintf(deep, "%s", HEADER);
	for (i = 1; i < XMLSTREAM_MAX_DEPTH; i++)
		off += (size_t)sprintf(deep + off, "<a>");
	{
		struct rec r;
		rec_init(&r, -1);
		assert_int_equal(feed(&r, deep, off, 0), 0);
	}
	off += (size_t)sprintf(deep + off, "<a>");
	expect_error_of(deep, off, 0, "nested", 1, 0);
	expect_error_of(deep, off, 4096, "nested", 1, 0);
	free(deep);

	/* Huge features: over the byte limit, in one piece or many. */
	huge = malloc(XMLSTREAM_MAX_BYTES + 200);
	assert_non_null(huge);
	off = (size_t)sprintf(huge, "%s<stream:features>", HEADER);
	while (off < XMLSTREAM_MAX_BYTES + 100)
		off += (size_t)sprintf(huge + off, "<x/>");
	expect_error_of(huge, off, 0, "bytes of XML", 1, 0);
	expect_error_of(huge, off, 1000, "bytes of XML", 1, 0);
	free(huge);

	/* A long attribute value. */
	longattr = malloc(XMLSTREAM_MAX_ATTR + 200);
	assert_non_null(longattr);
	off = (size_t)sprintf(longattr, "%s<a b='", HEADER);
	memset(longattr + off, 'x', XMLSTREAM_MAX_ATTR + 1);
	off += XMLSTREAM_MAX_ATTR + 1;
	off += (size_t)sprintf(longattr + off, "'/>");
	expect_error_of(longattr, off, 0, "attribute", 1, 0);
	free(longattr);
}

/*
 * What clients read on past, and the old bounds (64 KiB, depth 16, 1 KiB
 * attributes) refused: each is read, and past the new bounds refused as a
 * bound, saying whether <starttls/> came first (issue 13, item 2).
 */
static void
test_bounds(void **state)
{
	static const char tls[] =
	    "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
	static const char proceed[] =
	    "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
	size_t cap = XMLSTREAM_MAX_BYTES + 256 * 1024, off, i;
	char *b = malloc(cap);
	struct rec r;

	(void)state;
	if (b == NULL)
		abort(); /* noreturn, unlike fail(): GCC's checks */

	/* A 1,500-byte id. */
	off = (size_t)sprintf(b, "<?xml version='1.0'?><stream:stream "
				 "xmlns:stream='" XMLSTREAM_NS_STREAMS "' "
				 "version='1.0' id='");
	memset(b + off, 'i', 1500);
	off += 1500;
	off += (size_t)sprintf(b + off,
			       "'><stream:features>%s"
			       "</stream:features>%s",
			       tls, proceed);
	rec_init(&r, XMLSTREAM_PROCEED);
	assert_int_equal(feed(&r, b, off, 0), 1);
	assert_int_equal(r.type[0], XMLSTREAM_HEADER);
	assert_int_equal(r.idlen[0], 1500);
	assert_int_equal(r.starttls[1], 1);
	rec_init(&r, XMLSTREAM_PROCEED);
	assert_int_equal(feed(&r, b, off, 7), 1);
	assert_int_equal(r.idlen[0], 1500);

	/* An unknown feature nested 40 deep, after <starttls/>. */
	off = (size_t)sprintf(b, "%s<stream:features>%s", HEADER, tls);
	for (i = 0; i < 40; i++)
		off += (size_t)sprintf(b + off, "<f xmlns='urn:example:f'>");
	for (i = 0; i < 40; i++)
		off += (size_t)sprintf(b + off, "</f>");
	off += (size_t)sprintf(b + off, "</stream:features>%s", proceed);
	rec_init(&r, XMLSTREAM_PROCEED);
	assert_int_equal(feed(&r, b, off, 1), 1);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.type[1], XMLSTREAM_FEATURES);
	assert_int_equal(r.starttls[1], 1);

	/* 200 KiB of unknown features, <starttls/> last. */
	off = (size_t)sprintf(b, "%s<stream:features>", HEADER);
	while (off < 200 * 1024)
		off += (size_t)sprintf(b + off, "<x xmlns='urn:example:junk'>"
						"junk</x>");
	off += (size_t)sprintf(b + off, "%s</stream:features>%s", tls, proceed);
	rec_init(&r, XMLSTREAM_PROCEED);
	assert_int_equal(feed(&r, b, off, 1500), 1);
	assert_int_equal(r.type[1], XMLSTREAM_FEATURES);
	assert_int_equal(r.starttls[1], 1);
	assert_int_equal(r.type[2], XMLSTREAM_PROCEED);

	/* Past the byte bound after <starttls/>: still a bound, and the
	 * reader says <starttls/> was seen (the features are not over). */
	off = (size_t)sprintf(b, "%s<stream:features>%s", HEADER, tls);
	while (off < XMLSTREAM_MAX_BYTES + 10)
		off += (size_t)sprintf(b + off, "<x/>");
	expect_error_of(b, off, 0, "bytes of XML", 1, 1);
	expect_error_of(b, off, 65536, "bytes of XML", 1, 1);

	/* Exactly the byte bound is read; one more byte is not. */
	off = (size_t)sprintf(b, "%s", HEADER);
	memset(b + off, ' ', XMLSTREAM_MAX_BYTES - off);
	rec_init(&r, -1);
	assert_int_equal(feed(&r, b, XMLSTREAM_MAX_BYTES, 0), 0);
	b[XMLSTREAM_MAX_BYTES] = ' ';
	expect_error_of(b, XMLSTREAM_MAX_BYTES + 1, 0, "bytes of XML", 1, 0);

	/* An attribute of exactly the bound is read. */
	off = (size_t)sprintf(b, "%s<a b='", HEADER);
	memset(b + off, 'x', XMLSTREAM_MAX_ATTR);
	off += XMLSTREAM_MAX_ATTR;
	off += (size_t)sprintf(b + off, "'/>");
	rec_init(&r, -1);
	assert_int_equal(feed(&r, b, off, 0), 0);

	/* A <proceed/> inside the bytes that fit counts: the rest is TLS. */
	off = (size_t)sprintf(b, "%s<stream:features>%s</stream:features>%s",
			      HEADER, tls, proceed);
	memset(b + off, 0x16, XMLSTREAM_MAX_BYTES);
	rec_init(&r, XMLSTREAM_PROCEED);
	assert_int_equal(feed(&r, b, XMLSTREAM_MAX_BYTES + 1, 0), 1);
	free(b);
}

static void
test_header_writer(void **state)
{
	char b[512];
	int n;

	(void)state;
	n = xmlstream_header(b, sizeof(b), "example.org", 0);
	assert_string_equal(
	    b, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
	       "xmlns:stream='http://etherx.jabber.org/streams' "
	       "to='example.org' version='1.0'>");
	assert_int_equal(n, (int)strlen(b));
	assert_null(strstr(b, "from="));

	n = xmlstream_header(b, sizeof(b), "a'b<c>&\"d", 1);
	assert_true(n > 0);
	assert_non_null(strstr(b, "xmlns='jabber:server'"));
	assert_non_null(strstr(b, "to='a&apos;b&lt;c&gt;&amp;&quot;d'"));

	/* U-labels pass as UTF-8. */
	n = xmlstream_header(b, sizeof(b), "\xc3\xa9x.example", 0);
	assert_non_null(strstr(b, "to='\xc3\xa9x.example'"));

	assert_int_equal(xmlstream_header(b, sizeof(b), "", 0), -1);
	assert_int_equal(xmlstream_header(b, sizeof(b), NULL, 0), -1);
	assert_int_equal(xmlstream_header(b, sizeof(b), "a\nb", 0), -1);
	n = xmlstream_header(b, sizeof(b), "example.org", 0);
	assert_int_equal(xmlstream_header(b, (size_t)n, "example.org", 0), -1);
	assert_int_equal(xmlstream_header(b, (size_t)n + 1, "example.org", 0),
			 n);

	/* What we write reads back as a stream header. */
	{
		struct rec r;
		rec_init(&r, -1);
		n = xmlstream_header(b, sizeof(b), "a'b<c>&\"d", 0);
		assert_int_equal(feed(&r, b, (size_t)n, 0), 0);
		assert_int_equal(r.n, 1);
		assert_int_equal(r.type[0], XMLSTREAM_HEADER);
	}
	assert_string_equal(
	    XMLSTREAM_STARTTLS,
	    "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prosody_flow),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_features_variants),
	    cmocka_unit_test(test_failure_and_end),
	    cmocka_unit_test(test_stream_error),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_header_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
