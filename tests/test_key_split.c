/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_key_split.c - the key-split rule of one check (docs/usage.md,
 * "key-split"): which probes' keys must agree, every key named, the
 * number of warnings bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "probe/check_int.h"

/* A probe that saw key `k` (64 times the letter), of type `type`. */
static void
probe_key(struct check_probe *p, char k, const char *type, int allowed)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->address, sizeof(p->address), "192.0.2.%d", k);
	snprintf(p->vantage, sizeof(p->vantage), "tor");
	snprintf(p->key_type, sizeof(p->key_type), "%s", type);
	memset(p->spki_sha256, k, 64);
	p->have_key = 1;
	p->allowed = allowed;
}

static void
endpoint(struct check_endpoint *e, const char *host, uint16_t port,
	 struct check_probe *p, size_t n)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->host, sizeof(e->host), "%s", host);
	e->port = port;
	e->probes = p;
	e->nprobes = n;
}

static size_t
splits(struct check_endpoint *e, size_t n)
{
	struct check_result r;

	memset(&r, 0, sizeof(r));
	r.endpoints = e;
	r.nendpoints = n;
	check_split(&r);
	for (size_t i = 0; i < r.nwarnings; i++)
		assert_string_equal(r.warnings[i].code, "key-split");
	size_t got = r.nwarnings;
	free(r.warnings);
	return got;
}

/* Three keys at three addresses of one endpoint: each named. */
static void
test_every_key_named(void **state)
{
	struct check_probe p[3];
	struct check_endpoint e;
	struct check_result r;
	char k[17];

	(void)state;
	probe_key(&p[0], 'a', "ecdsa", 0);
	probe_key(&p[1], 'b', "ecdsa", 0);
	probe_key(&p[2], 'c', "ecdsa", 0);
	endpoint(&e, "xmpp.example", 5222, p, 3);
	memset(&r, 0, sizeof(r));
	r.endpoints = &e;
	r.nendpoints = 1;
	r.nsetup = 1;
	r.setup = calloc(1, sizeof(char *));
	assert_non_null(r.setup);
	r.setup[0] = strdup("_5222._tcp.xmpp.example. IN TLSA 3 1 1 aaaa");
	check_split(&r);
	assert_int_equal(r.nwarnings, 2);
	/* No TLSA line to publish while keys differ. */
	assert_int_equal(r.nsetup, 0);
	assert_null(r.setup);
	for (char c = 'a'; c <= 'c'; c++) {
		memset(k, c, 16);
		k[16] = '\0';
		assert_true(strstr(r.warnings[0].text, k) ||
			    strstr(r.warnings[1].text, k));
	}
	assert_non_null(strstr(r.warnings[0].text, "port 5222, 192.0.2.97 "
						   "via tor vs "));
	free(r.warnings);
}

/* Keys that may differ: other key types, both allowed by TLSA, a probe
 * without a key, another host. */
static void
test_no_split(void **state)
{
	struct check_probe p[2], q[1];
	struct check_endpoint e[2];

	(void)state;
	probe_key(&p[0], 'a', "ecdsa", 0);
	probe_key(&p[1], 'b', "rsa", 0);
	endpoint(&e[0], "xmpp.example", 5222, p, 2);
	assert_int_equal(splits(e, 1), 0);
	probe_key(&p[1], 'b', "ecdsa", 1);
	p[0].allowed = 1;
	assert_int_equal(splits(e, 1), 0);
	p[0].allowed = 0; /* one allowed, one not: a split */
	assert_int_equal(splits(e, 1), 1);
	p[1].have_key = 0; /* unreachable: nothing to compare */
	assert_int_equal(splits(e, 1), 0);
	probe_key(&q[0], 'c', "ecdsa", 0);
	endpoint(&e[0], "xmpp.example", 5222, p, 1);
	endpoint(&e[1], "other.example", 5222, q, 1);
	assert_int_equal(splits(e, 2), 0);
}

/* Port 5222 alone shows another key: a split with each other port. */
static void
test_ports(void **state)
{
	struct check_probe p[4];
	struct check_endpoint e[4];
	static const uint16_t port[4] = {5222, 5223, 5269, 5270};

	(void)state;
	for (int i = 0; i < 4; i++) {
		probe_key(&p[i], i ? 'g' : 'm', "ecdsa", 0);
		endpoint(&e[i], "xmpp.example", port[i], &p[i], 1);
	}
	assert_int_equal(splits(e, 4), 3);
	memset(p[0].spki_sha256, 'g', 64);
	assert_int_equal(splits(e, 4), 0);
}

/* An unsigned zone may give 32 addresses with 32 keys: the warnings stay
 * bounded. */
static void
test_bounded(void **state)
{
	struct check_probe p[64];
	struct check_endpoint e;

	(void)state;
	for (int i = 0; i < 64; i++)
		probe_key(&p[i], (char)('0' + i), "ecdsa", 0);
	endpoint(&e, "xmpp.example", 5222, p, 64);
	assert_int_equal(splits(&e, 1), 16);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_key_named),
	    cmocka_unit_test(test_no_split),
	    cmocka_unit_test(test_ports),
	    cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
