/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_check_match.c - a check's probes shown the same chain share one
 * DANE match (probe/check_probes.c check_ep_dane_match): a copy for the
 * same bytes, records and names, a match of its own for any other chain
 * (even one byte off), other records, c2s against s2s, another target;
 * and the addresses a check plans to probe (check_ep_plan): IPv4 and IPv6
 * in turn, max_addresses, every vantage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "probe/check_int.h"

static uint8_t leaf[] = {0x30, 0x03, 0x02, 0x01, 0x01};
static uint8_t ca[] = {0x30, 0x03, 0x02, 0x01, 0x02};

static void
result(struct probe_result *r, struct probe_cert *chain, uint8_t *l,
       size_t llen)
{
	memset(r, 0, sizeof(*r));
	chain[0].der = l;
	chain[0].len = llen;
	chain[1].der = ca;
	chain[1].len = sizeof(ca);
	r->ok = 1;
	r->chain = chain;
	r->nchain = 2;
}

static void
test_same_chain_shared(void **state)
{
	struct check_env env;
	struct check c;
	struct ep e;
	struct ep_probe ap;
	struct probe_result r0, r1, r2, r3;
	struct probe_cert ch0[2], ch1[2], ch2[2], ch3[2];
	uint8_t leaf1[sizeof(leaf)], leaf2[sizeof(leaf)];
	struct dane_names names = {.domain = "xmpp.test",
				   .domain_u = "xmpp.test"};
	struct dane_match out;

	memset(&env, 0, sizeof(env));
	memset(&c, 0, sizeof(c));
	memset(&e, 0, sizeof(e));
	memset(&ap, 0, sizeof(ap));
	c.env = &env;
	e.c = &c;
	/* The first probe's match, marked so that a copy shows. */
	result(&r0, ch0, leaf, sizeof(leaf));
	ap.e = &e;
	ap.res = &r0;
	ap.matched_done = 1;
	ap.m_ok = 1;
	ap.m.matched = 7;
	ap.m.verifications = 5;
	snprintf(ap.m.detail, sizeof(ap.m.detail), "the first probe's");
	e.ap = &ap;
	e.nap = 1;

	/* The same bytes in other buffers: the first match, copied, with no
	 * verification spent. */
	memcpy(leaf1, leaf, sizeof(leaf));
	result(&r1, ch1, leaf1, sizeof(leaf1));
	memset(&out, 0, sizeof(out));
	check_ep_dane_match(&e, NULL, &names, 0, &r1, &out);
	assert_int_equal(out.matched, 7);
	assert_string_equal(out.detail, "the first probe's");
	assert_int_equal(out.verifications, 0);

	/* One byte off: matched on its own (no records: no match). */
	memcpy(leaf2, leaf, sizeof(leaf));
	leaf2[sizeof(leaf2) - 1] ^= 1;
	result(&r2, ch2, leaf2, sizeof(leaf2));
	check_ep_dane_match(&e, NULL, &names, 0, &r2, &out);
	assert_int_equal(out.matched, -1);
	assert_string_not_equal(out.detail, "the first probe's");

	/* A shorter chain (the leaf alone): its own match too. */
	result(&r3, ch3, leaf1, sizeof(leaf1));
	r3.nchain = 1;
	check_ep_dane_match(&e, NULL, &names, 0, &r3, &out);
	assert_int_equal(out.matched, -1);

	/* A probe that failed is never copied from. */
	ap.m_ok = 0;
	check_ep_dane_match(&e, NULL, &names, 0, &r1, &out);
	assert_int_equal(out.matched, -1);
}

/* Across the endpoints of a check: the same chain shares a match only for
 * the same records and the same names (c2s or s2s, the SRV target). */
static void
test_across_endpoints(void **state)
{
	struct check_env env;
	struct check c;
	struct ep e, f;
	struct ep_probe ap;
	struct check_endpoint rowe, rowf;
	struct probe_result r0, r1;
	struct probe_cert ch0[2], ch1[2];
	uint8_t d1[32] = {1}, d2[32] = {2};
	struct dns_tlsa rec1 = {3, 1, 1, 32, d1}, rec2 = {3, 1, 1, 32, d2};
	struct dns_answer t1, t2;
	struct dane_names names = {.domain = "xmpp.test",
				   .domain_u = "xmpp.test"};
	struct dane_match out;

	memset(&env, 0, sizeof(env));
	memset(&c, 0, sizeof(c));
	memset(&e, 0, sizeof(e));
	memset(&f, 0, sizeof(f));
	memset(&ap, 0, sizeof(ap));
	memset(&rowe, 0, sizeof(rowe));
	memset(&rowf, 0, sizeof(rowf));
	memset(&t1, 0, sizeof(t1));
	memset(&t2, 0, sizeof(t2));
	t1.tlsa = &rec1;
	t1.n = 1;
	t2.tlsa = &rec2;
	t2.n = 1;
	c.env = &env;
	snprintf(rowe.host, sizeof(rowe.host), "xmpp.test");
	snprintf(rowf.host, sizeof(rowf.host), "xmpp.test");
	e.c = f.c = &c;
	e.row = &rowe;
	f.row = &rowf;
	e.srv_secure = f.srv_secure = 1;
	/* f (5223, say) matched already; e (5222) asks. */
	result(&r0, ch0, leaf, sizeof(leaf));
	ap.e = &f;
	ap.res = &r0;
	ap.matched_done = 1;
	ap.m_ok = 1;
	ap.m.matched = 0;
	snprintf(ap.m.detail, sizeof(ap.m.detail), "f's");
	f.ap = &ap;
	f.nap = 1;
	f.tlsa = &t1;
	c.eps[0] = &e;
	c.eps[1] = &f;
	c.neps = 2;
	result(&r1, ch1, leaf, sizeof(leaf));

	memset(&out, 0, sizeof(out));
	check_ep_dane_match(&e, &t1, &names, 0, &r1, &out);
	assert_string_equal(out.detail, "f's");

	/* Other records: its own match. */
	memset(&out, 0, sizeof(out));
	check_ep_dane_match(&e, &t2, &names, 0, &r1, &out);
	assert_string_not_equal(out.detail, "f's");

	/* s2s against c2s: its own match. */
	f.server = 1;
	memset(&out, 0, sizeof(out));
	check_ep_dane_match(&e, &t1, &names, 0, &r1, &out);
	assert_string_not_equal(out.detail, "f's");
	f.server = 0;

	/* Another SRV target: its own match. */
	snprintf(rowf.host, sizeof(rowf.host), "other.test");
	memset(&out, 0, sizeof(out));
	check_ep_dane_match(&e, &t1, &names, 0, &r1, &out);
	assert_string_not_equal(out.detail, "f's");
}

/* The addresses a check probes (check_ep_plan): IPv4 and IPv6 in turn,
 * each family in DNS order, at most max_addresses, the same list from
 * every vantage. */
static void
plan_of(const char *const *in, size_t nin, int max, size_t nv,
	const char *const *want, size_t nwant)
{
	struct check_env env;
	struct check c;
	struct ep e;

	memset(&env, 0, sizeof(env));
	memset(&c, 0, sizeof(c));
	memset(&e, 0, sizeof(e));
	env.cfg.max_addresses = max;
	env.cfg.nvantages = nv;
	c.env = &env;
	e.c = &c;
	for (size_t i = 0; i < nin; i++) {
		struct probe_addr *a = &e.addrs[e.naddrs++];
		a->family = strchr(in[i], ':') ? AF_INET6 : AF_INET;
		assert_int_equal(inet_pton(a->family, in[i], a->addr), 1);
	}
	check_ep_plan(&e);
	assert_int_equal(e.nap, nwant * (nv ? nv : 1));
	for (size_t i = 0; i < e.nap; i++) {
		assert_string_equal(e.ap[i].addr_s, want[i % nwant]);
		assert_int_equal(e.ap[i].vantage, i / nwant);
	}
	free(e.ap);
}

static void
test_plan(void **state)
{
	static const char *const mixed[] = {"192.0.2.1", "192.0.2.2",
					    "2001:db8::1", "192.0.2.3",
					    "2001:db8::2"};
	static const char *const turn[] = {"192.0.2.1", "2001:db8::1",
					   "192.0.2.2", "2001:db8::2",
					   "192.0.2.3"};
	static const char *const six_first[] = {"2001:db8::1", "192.0.2.1",
						"2001:db8::2"};
	static const char *const six_turn[] = {"192.0.2.1", "2001:db8::1",
					       "2001:db8::2"};

	(void)state;
	plan_of(mixed, 5, 8, 1, turn, 5);
	plan_of(mixed, 5, 3, 1, turn, 3); /* max_addresses */
	plan_of(mixed, 5, 2, 3, turn, 2); /* three vantages */
	/* AAAA answers first in the list: still IPv4 first, in turn. */
	plan_of(six_first, 3, 8, 1, six_turn, 3);
	/* One family only: in DNS order. */
	plan_of(mixed + 2, 1, 8, 0, mixed + 2, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_chain_shared),
	    cmocka_unit_test(test_across_endpoints),
	    cmocka_unit_test(test_plan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
