/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_socks5.c - the SOCKS5 codec on hand-made and hostile replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "probe/socks5.h"

static void
test_greeting(void **state)
{
	uint8_t b[8];

	(void)state;
	assert_int_equal(socks5_greeting(b, sizeof(b), 1), 3);
	assert_memory_equal(b, "\x05\x01\x02", 3);
	assert_int_equal(socks5_greeting(b, sizeof(b), 0), 3);
	assert_memory_equal(b, "\x05\x01\x00", 3);
	assert_int_equal(socks5_greeting(b, 2, 1), -1);
	/* Both methods, username/password first (a SOCKS vantage that may
	 * not be Tor). */
	assert_int_equal(socks5_greeting(b, sizeof(b), SOCKS5_AUTH_EITHER), 4);
	assert_memory_equal(b, "\x05\x02\x02\x00", 4);
	assert_int_equal(socks5_greeting(b, 3, SOCKS5_AUTH_EITHER), -1);
}

static void
test_auth_request(void **state)
{
	uint8_t b[SOCKS5_MSG_MAX];
	char err[128], big[300];

	(void)state;
	assert_int_equal(
	    socks5_auth_request(b, sizeof(b), "ab", "xyz", err, sizeof(err)),
	    8);
	assert_memory_equal(b,
			    "\x01\x02"
			    "ab"
			    "\x03"
			    "xyz",
			    8);

	assert_int_equal(
	    socks5_auth_request(b, sizeof(b), "", "x", err, sizeof(err)), -1);
	assert_int_equal(
	    socks5_auth_request(b, sizeof(b), "x", "", err, sizeof(err)), -1);
	memset(big, 'a', 256);
	big[256] = '\0';
	assert_int_equal(
	    socks5_auth_request(b, sizeof(b), big, "x", err, sizeof(err)), -1);
	big[255] = '\0';
	assert_int_equal(
	    socks5_auth_request(b, sizeof(b), big, big, err, sizeof(err)),
	    SOCKS5_MSG_MAX);
	assert_int_equal(socks5_auth_request(b, SOCKS5_MSG_MAX - 1, big, big,
					     err, sizeof(err)),
			 -1);

	assert_int_equal(socks5_auth_request(b, sizeof(b), "<torS0X>0abc", "x",
					     err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "<torS0X>"));
	/* The prefix only matters at the start. */
	assert_int_equal(
	    socks5_auth_request(b, sizeof(b), "a<torS0X>", "x", NULL, 0), 13);
}

static void
test_connect_request(void **state)
{
	uint8_t b[SOCKS5_MSG_MAX];
	char err[128], big[300];

	(void)state;
	assert_int_equal(socks5_connect_request(b, sizeof(b), "xmpp.example",
						5222, err, sizeof(err)),
			 7 + 12);
	assert_memory_equal(b,
			    "\x05\x01\x00\x03\x0c"
			    "xmpp.example"
			    "\x14\x66",
			    19);
	/* Address literals go as ATYP 1 and 4 (RFC 1928 §5). */
	assert_int_equal(socks5_connect_request(b, sizeof(b), "192.0.2.7", 5222,
						err, sizeof(err)),
			 10);
	assert_memory_equal(b, "\x05\x01\x00\x01\xc0\x00\x02\x07\x14\x66", 10);
	assert_int_equal(socks5_connect_request(b, sizeof(b), "2001:db8::1",
						5269, err, sizeof(err)),
			 22);
	assert_memory_equal(b, "\x05\x01\x00\x04\x20\x01\x0d\xb8", 8);
	assert_memory_equal(b + 19, "\x01\x14\x95", 3);
	assert_int_equal(
	    socks5_connect_request(b, sizeof(b), "", 1, err, sizeof(err)), -1);
	memset(big, 'a', 256);
	big[256] = '\0';
	assert_int_equal(
	    socks5_connect_request(b, sizeof(b), big, 1, err, sizeof(err)), -1);
	big[255] = '\0';
	assert_int_equal(
	    socks5_connect_request(b, sizeof(b), big, 1, err, sizeof(err)),
	    262);
	assert_int_equal(
	    socks5_connect_request(b, 261, big, 1, err, sizeof(err)), -1);
}

static void
test_parse_method(void **state)
{
	size_t used = 99;
	char err[128];

	(void)state;
	assert_int_equal(socks5_parse_method((const uint8_t *)"", 0, 1, &used,
					     err, sizeof(err)),
			 SOCKS5_NEED_MORE);
	assert_int_equal(socks5_parse_method((const uint8_t *)"\x05", 1, 1,
					     &used, err, sizeof(err)),
			 SOCKS5_NEED_MORE);
	assert_int_equal(socks5_parse_method((const uint8_t *)"\x05\x02", 2, 1,
					     &used, err, sizeof(err)),
			 SOCKS5_DONE);
	assert_int_equal(used, 2);
	assert_int_equal(socks5_parse_method((const uint8_t *)"\x05\x00", 2, 0,
					     &used, err, sizeof(err)),
			 SOCKS5_DONE);
	/* A proxy that skips the authentication we asked for. */
	assert_int_equal(socks5_parse_method((const uint8_t *)"\x05\x00", 2, 1,
					     &used, err, sizeof(err)),
			 SOCKS5_ERROR);
	assert_int_equal(socks5_parse_method((const uint8_t *)"\x05\xff", 2, 1,
					     &used, err, sizeof(err)),
			 SOCKS5_ERROR);
	assert_non_null(strstr(err, "none"));
	/* An HTTP proxy answering. */
	assert_int_equal(socks5_parse_method((const uint8_t *)"HTTP/1.0", 8, 1,
					     &used, err, sizeof(err)),
			 SOCKS5_ERROR);
	assert_int_equal(
	    socks5_parse_method((const uint8_t *)"\x04", 1, 1, &used, NULL, 0),
	    SOCKS5_ERROR);
	/* Both offered: either answer is taken, and told apart; anything
	 * else is still refused. */
	assert_int_equal(socks5_parse_method((const uint8_t *)"\x05\x00", 2,
					     SOCKS5_AUTH_EITHER, &used, err,
					     sizeof(err)),
			 SOCKS5_DONE);
	assert_int_equal(socks5_method_is_auth((const uint8_t *)"\x05\x00"), 0);
	assert_int_equal(socks5_parse_method((const uint8_t *)"\x05\x02", 2,
					     SOCKS5_AUTH_EITHER, &used, err,
					     sizeof(err)),
			 SOCKS5_DONE);
	assert_int_equal(socks5_method_is_auth((const uint8_t *)"\x05\x02"), 1);
	assert_int_equal(socks5_parse_method((const uint8_t *)"\x05\x01", 2,
					     SOCKS5_AUTH_EITHER, &used, err,
					     sizeof(err)),
			 SOCKS5_ERROR);
	assert_int_equal(socks5_parse_method((const uint8_t *)"\x05\xff", 2,
					     SOCKS5_AUTH_EITHER, &used, err,
					     sizeof(err)),
			 SOCKS5_ERROR);
}

static void
test_parse_auth(void **state)
{
	size_t used = 0;
	char err[128];

	(void)state;
	assert_int_equal(socks5_parse_auth((const uint8_t *)"\x01", 1, &used,
					   err, sizeof(err)),
			 SOCKS5_NEED_MORE);
	assert_int_equal(socks5_parse_auth((const uint8_t *)"\x01\x00", 2,
					   &used, err, sizeof(err)),
			 SOCKS5_DONE);
	assert_int_equal(used, 2);
	assert_int_equal(socks5_parse_auth((const uint8_t *)"\x01\x01", 2,
					   &used, err, sizeof(err)),
			 SOCKS5_ERROR);
	assert_non_null(strstr(err, "refused"));
	assert_int_equal(socks5_parse_auth((const uint8_t *)"\x07\x00", 2,
					   &used, err, sizeof(err)),
			 SOCKS5_ERROR);
}

/* Every prefix of a complete reply needs more; the whole is done. */
static void
check_truncations(const uint8_t *msg, size_t len)
{
	size_t i, used;
	uint8_t rep;
	char err[128];

	for (i = 0; i < len; i++)
		assert_int_equal(
		    socks5_parse_connect(msg, i, &used, &rep, err, sizeof(err)),
		    SOCKS5_NEED_MORE);
	used = 0;
	assert_int_equal(
	    socks5_parse_connect(msg, len, &used, &rep, err, sizeof(err)),
	    SOCKS5_DONE);
	assert_int_equal(used, len);
	assert_int_equal(rep, 0);
}

static void
test_parse_connect_ok(void **state)
{
	static const uint8_t v4[] = {5, 0, 0, 1, 127, 0, 0, 1, 0x14, 0x66};
	static const uint8_t v6[] = {5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0,
				     0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80};
	static const uint8_t name[] = {5, 0, 0, 3, 3, 'a', 'b', 'c', 0, 80};
	static const uint8_t name0[] = {5, 0, 0, 3, 0, 0, 80};
	uint8_t more[sizeof(v4) + 5];
	size_t used;
	uint8_t rep;
	char err[128];

	(void)state;
	check_truncations(v4, sizeof(v4));
	check_truncations(v6, sizeof(v6));
	check_truncations(name, sizeof(name));
	check_truncations(name0, sizeof(name0));

	/* Bytes after the reply are not taken. */
	memcpy(more, v4, sizeof(v4));
	memcpy(more + sizeof(v4), "<?xml", 5);
	assert_int_equal(socks5_parse_connect(more, sizeof(more), &used, &rep,
					      err, sizeof(err)),
			 SOCKS5_DONE);
	assert_int_equal(used, sizeof(v4));
}

static void
test_parse_connect_errors(void **state)
{
	/* Tor's failure replies carry address type 0. */
	static const uint8_t tor[] = {5, 4, 0, 0, 0, 0, 0, 0, 0, 0};
	static const uint8_t refused[] = {5, 5, 0, 1, 0, 0, 0, 0, 0, 0};
	static const uint8_t onion[] = {5, 0xf6, 0, 0, 0, 0, 0, 0, 0, 0};
	/* Captured from Debian's tor 0.4.9 (ExtendedErrors) for a CONNECT to
	 * "aaaa.onion". */
	static const uint8_t tor_onion[] = {5, 0xf6, 0, 1, 0, 0, 0, 0, 0, 0};
	static const uint8_t odd[] = {5, 0x42};
	static const uint8_t atyp0_ok[] = {5, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	static const uint8_t atyp9_ok[] = {5, 0, 0, 9, 0, 0, 0, 0, 0, 0};
	static const uint8_t rsv[] = {5, 0, 7, 1, 0, 0, 0, 0, 0, 0};
	static const uint8_t v4[] = {4, 0x5a, 0, 0, 0, 0, 0, 0};
	size_t i, used;
	uint8_t rep = 0;
	char err[128];

	(void)state;
	/* A failure is known from its second byte, whatever follows. */
	for (i = 2; i <= sizeof(tor); i++) {
		rep = 0;
		assert_int_equal(
		    socks5_parse_connect(tor, i, &used, &rep, err, sizeof(err)),
		    SOCKS5_ERROR);
		assert_int_equal(rep, 4);
		assert_string_equal(err, "host unreachable");
	}
	assert_int_equal(
	    socks5_parse_connect(tor, 1, &used, &rep, err, sizeof(err)),
	    SOCKS5_NEED_MORE);
	assert_int_equal(socks5_parse_connect(refused, sizeof(refused), &used,
					      &rep, err, sizeof(err)),
			 SOCKS5_ERROR);
	assert_string_equal(err, "connection refused");
	assert_int_equal(socks5_parse_connect(onion, sizeof(onion), &used, &rep,
					      err, sizeof(err)),
			 SOCKS5_ERROR);
	assert_string_equal(err, "invalid onion service address");
	assert_int_equal(socks5_parse_connect(tor_onion, sizeof(tor_onion),
					      &used, &rep, err, sizeof(err)),
			 SOCKS5_ERROR);
	assert_int_equal(rep, 0xf6);
	assert_string_equal(err, "invalid onion service address");
	assert_int_equal(socks5_parse_connect(odd, sizeof(odd), &used, &rep,
					      err, sizeof(err)),
			 SOCKS5_ERROR);
	assert_string_equal(err, "unknown SOCKS reply 0x42");
	/* A success needs a defined address type. */
	assert_int_equal(socks5_parse_connect(atyp0_ok, sizeof(atyp0_ok), &used,
					      &rep, err, sizeof(err)),
			 SOCKS5_ERROR);
	assert_int_equal(socks5_parse_connect(atyp9_ok, sizeof(atyp9_ok), &used,
					      &rep, err, sizeof(err)),
			 SOCKS5_ERROR);
	assert_int_equal(socks5_parse_connect(rsv, sizeof(rsv), &used, &rep,
					      err, sizeof(err)),
			 SOCKS5_ERROR);
	/* A SOCKS4 reply. */
	assert_int_equal(
	    socks5_parse_connect(v4, sizeof(v4), &used, &rep, err, sizeof(err)),
	    SOCKS5_ERROR);
}

static void
test_reply_words(void **state)
{
	char buf[40];
	unsigned c;

	(void)state;
	assert_string_equal(socks5_reply_str(0, buf, sizeof(buf)), "succeeded");
	assert_string_equal(socks5_reply_str(1, buf, sizeof(buf)),
			    "general SOCKS server failure");
	assert_string_equal(socks5_reply_str(2, buf, sizeof(buf)),
			    "connection not allowed by ruleset");
	assert_string_equal(socks5_reply_str(3, buf, sizeof(buf)),
			    "network unreachable");
	assert_string_equal(socks5_reply_str(6, buf, sizeof(buf)),
			    "TTL expired");
	assert_string_equal(socks5_reply_str(7, buf, sizeof(buf)),
			    "command not supported");
	assert_string_equal(socks5_reply_str(8, buf, sizeof(buf)),
			    "address type not supported");
	assert_string_equal(socks5_reply_str(9, buf, sizeof(buf)),
			    "unknown SOCKS reply 0x09");
	assert_string_equal(socks5_reply_str(0xf0, buf, sizeof(buf)),
			    "onion service descriptor not found");
	assert_string_equal(socks5_reply_str(0xf7, buf, sizeof(buf)),
			    "onion service introduction timed out");
	assert_string_equal(socks5_reply_str(0xf8, buf, sizeof(buf)),
			    "unknown SOCKS reply 0xf8");
	assert_string_equal(socks5_reply_str(0xff, buf, sizeof(buf)),
			    "unknown SOCKS reply 0xff");
	for (c = 0; c < 256; c++) {
		const char *w = socks5_reply_str((uint8_t)c, buf, sizeof(buf));
		assert_non_null(w);
		assert_true(strlen(w) > 0);
	}
}

/* Every 1- and 2-byte input and a sweep of 4-byte headers: no crash, and
 * DONE never claims more bytes than given. */
static void
test_parse_exhaustive(void **state)
{
	uint8_t b[300];
	size_t used, len;
	uint8_t rep;
	unsigned a, c, t;

	(void)state;
	memset(b, 0, sizeof(b));
	for (a = 0; a < 256; a++)
		for (c = 0; c < 256; c++) {
			b[0] = (uint8_t)a;
			b[1] = (uint8_t)c;
			for (len = 0; len <= 2; len++) {
				used = 0;
				if (socks5_parse_method(b, len, 1, &used, NULL,
							0) == SOCKS5_DONE)
					assert_true(used <= len);
				if (socks5_parse_auth(b, len, &used, NULL, 0) ==
				    SOCKS5_DONE)
					assert_true(used <= len);
			}
		}
	b[0] = 5;
	b[1] = 0;
	b[2] = 0;
	for (t = 0; t < 256; t++)
		for (c = 0; c < 256; c++) {
			b[3] = (uint8_t)t;
			b[4] = (uint8_t)c;
			for (len = 0; len < sizeof(b); len += 7) {
				used = 0;
				if (socks5_parse_connect(b, len, &used, &rep,
							 NULL,
							 0) == SOCKS5_DONE)
					assert_true(used <= len && used >= 7);
			}
		}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_greeting),
	    cmocka_unit_test(test_auth_request),
	    cmocka_unit_test(test_connect_request),
	    cmocka_unit_test(test_parse_method),
	    cmocka_unit_test(test_parse_auth),
	    cmocka_unit_test(test_parse_connect_ok),
	    cmocka_unit_test(test_parse_connect_errors),
	    cmocka_unit_test(test_reply_words),
	    cmocka_unit_test(test_parse_exhaustive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
