/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_webaddr.c - client addresses behind trusted proxies (hostile
 * X-Forwarded-For values) and the per-client token buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "component/webaddr.h"

static void
addr(const char *s, struct webaddr *a)
{
	assert_int_equal(webaddr_parse(s, strlen(s), a), 0);
}

static const char *
fmt(const struct webaddr *a)
{
	static char buf[64];
	webaddr_format(a, buf, sizeof(buf));
	return buf;
}

static void
t_parse(void **state)
{
	struct webaddr a;
	static const char *const bad[] = {
	    "",		  " ",
	    "1.2.3",	  "1.2.3.4.5",
	    "::g",	  "[::1",
	    "1.2.3.4:80", "example.org",
	    "1.2.3.4 5",  "256.1.1.1",
	    "[]",	  "1111:2222:3333:4444:5555:6666:7777:8888:9999",
	};

	addr(" 192.0.2.1 ", &a);
	assert_string_equal(fmt(&a), "192.0.2.1");
	addr("[2001:db8::1]", &a);
	assert_string_equal(fmt(&a), "2001:db8::1");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(webaddr_parse(bad[i], strlen(bad[i]), &a), -1);
	/* A NUL inside the bytes is not an address. */
	assert_int_equal(webaddr_parse("1.2.3.4\0", 8, &a), -1);
	/* Long junk is refused without overflow. */
	char big[5000];
	memset(big, '1', sizeof(big));
	assert_int_equal(webaddr_parse(big, sizeof(big), &a), -1);
}

static void
t_proxies(void **state)
{
	struct webaddr_proxies p;
	struct webaddr a;
	char err[128];

	assert_int_equal(webaddr_proxies_parse("", &p, err, sizeof(err)), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(
	    webaddr_proxies_parse("127.0.0.1, 10.0.0.0/8 2001:db8::/32,,", &p,
				  err, sizeof(err)),
	    0);
	assert_int_equal(p.n, 3);
	addr("10.200.1.1", &a);
	assert_true(webaddr_proxies_match(&p, &a));
	addr("11.0.0.1", &a);
	assert_false(webaddr_proxies_match(&p, &a));
	addr("2001:db8:ffff::1", &a);
	assert_true(webaddr_proxies_match(&p, &a));
	addr("2001:db9::1", &a);
	assert_false(webaddr_proxies_match(&p, &a));
	addr("127.0.0.2", &a);
	assert_false(webaddr_proxies_match(&p, &a));

	assert_int_equal(
	    webaddr_proxies_parse("10.0.0.0/33", &p, err, sizeof(err)), -1);
	assert_int_equal(
	    webaddr_proxies_parse("10.0.0.0/", &p, err, sizeof(err)), -1);
	assert_int_equal(
	    webaddr_proxies_parse("10.0.0.0/1x", &p, err, sizeof(err)), -1);
	assert_int_equal(
	    webaddr_proxies_parse("proxy.example", &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "proxy.example"));
	assert_int_equal(webaddr_proxies_parse("::/0", &p, err, sizeof(err)),
			 0);
	addr("192.0.2.1", &a);
	assert_true(webaddr_proxies_match(&p, &a));
}

static void
t_client(void **state)
{
	struct webaddr_proxies p;
	struct webaddr peer, out;
	char err[128];

	assert_int_equal(
	    webaddr_proxies_parse("127.0.0.1 10.0.0.0/8", &p, err, sizeof(err)),
	    0);
	/* An untrusted peer: its header is ignored. */
	addr("198.51.100.7", &peer);
	const char *h1[] = {"203.0.113.9"};
	webaddr_client(&peer, &p, h1, 1, &out);
	assert_string_equal(fmt(&out), "198.51.100.7");

	/* A trusted peer: the rightmost untrusted address. */
	addr("127.0.0.1", &peer);
	const char *h2[] = {"203.0.113.9, 198.51.100.1, 10.1.1.1"};
	webaddr_client(&peer, &p, h2, 1, &out);
	assert_string_equal(fmt(&out), "198.51.100.1");

	/* Several headers count as one list, in order. */
	const char *h3[] = {"203.0.113.9", "10.2.2.2"};
	webaddr_client(&peer, &p, h3, 2, &out);
	assert_string_equal(fmt(&out), "203.0.113.9");

	/* Junk stops the walk: the last trusted hop is the client. */
	const char *h4[] = {"<script>, 10.3.3.3"};
	webaddr_client(&peer, &p, h4, 1, &out);
	assert_string_equal(fmt(&out), "10.3.3.3");
	const char *h5[] = {"", " ,,", "unknown"};
	webaddr_client(&peer, &p, h5, 3, &out);
	assert_string_equal(fmt(&out), "127.0.0.1");

	/* Only trusted hops: the first of them. */
	const char *h6[] = {"10.9.9.9, 10.8.8.8"};
	webaddr_client(&peer, &p, h6, 1, &out);
	assert_string_equal(fmt(&out), "10.9.9.9");

	/* No header. */
	webaddr_client(&peer, &p, NULL, 0, &out);
	assert_string_equal(fmt(&out), "127.0.0.1");

	/* IPv6 in brackets. */
	const char *h7[] = {"[2001:db8::5]"};
	webaddr_client(&peer, &p, h7, 1, &out);
	assert_string_equal(fmt(&out), "2001:db8::5");
}

static void
t_rate(void **state)
{
	struct webaddr_rate *r = malloc(sizeof(*r));
	struct webaddr a, b, c6, d6;

	webaddr_rate_init(r, 3);
	addr("192.0.2.1", &a);
	addr("192.0.2.2", &b);
	for (int i = 0; i < 3; i++)
		assert_int_equal(webaddr_rate_take(r, &a, 100.0), 0);
	unsigned wait = webaddr_rate_take(r, &a, 100.0);
	assert_true(wait >= 1 && wait <= 20); /* one token per 20 s */
	assert_int_equal(webaddr_rate_take(r, &b, 100.0), 0);
	/* Tokens come back with time. */
	assert_true(webaddr_rate_take(r, &a, 110.0) > 0);
	assert_int_equal(webaddr_rate_take(r, &a, 121.0), 0);
	/* One IPv6 /64 is one client. */
	addr("2001:db8:1:2::1", &c6);
	addr("2001:db8:1:2:ffff::9", &d6);
	for (int i = 0; i < 3; i++)
		assert_int_equal(webaddr_rate_take(r, &c6, 200.0), 0);
	assert_true(webaddr_rate_take(r, &d6, 200.0) > 0);
	/* Many clients: the table stays bounded and keeps working. */
	for (unsigned i = 0; i < 3 * WEBADDR_RATE_SLOTS; i++) {
		struct webaddr x;
		memset(&x, 0, sizeof(x));
		memcpy(x.a, &i, sizeof(i));
		assert_int_equal(webaddr_rate_take(r, &x, 300.0), 0);
	}
	/* 0 means no limit. */
	webaddr_rate_init(r, 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(webaddr_rate_take(r, &a, 1.0), 0);
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_parse),
	    cmocka_unit_test(t_proxies),
	    cmocka_unit_test(t_client),
	    cmocka_unit_test(t_rate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
