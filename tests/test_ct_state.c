/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_ct_state.c - a domain's CT state and its `ct` lines
 * (component/ct_state.h): the round trip through the store, hostile lines
 * skipped without harm, which event goes when 16 are kept, the TLSA kept
 * only from secure answers, the keys only without an open alarm, and the
 * JSON member. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "component/ct_state.h"
#include "store/store.h"

static const char K1[] =
    "1111111111111111111111111111111111111111111111111111111111111111";
static const char K2[] =
    "2222222222222222222222222222222222222222222222222222222222222222";

static struct store *
mem_store(const char *domain)
{
	struct store *st;

	assert_int_equal(store_open(NULL, &st, NULL, 0), 0);
	assert_int_equal(store_domain_add(st, domain), 1);
	return st;
}

static void
test_round_trip(void **state)
{
	struct store *st = mem_store("a.example");
	struct ct_state *cs = calloc(2, sizeof(*cs)), *back = cs + 1;
	struct ct_record r = {0};
	struct buf b = BUF_INIT;

	(void)state;
	cs->ntlsa = 1;
	cs->tlsa[0] = (struct ct_tlsa_rec){3, 1, 1, 2, {0xab, 0xcd}};
	cs->nseen = 1;
	memset(cs->seen[0], 0x11, 32);
	snprintf(cs->leaf_spki, sizeof(cs->leaf_spki), "%s", K1);
	cs->leaf_not_after = 99;
	cs->kept_key = 1;
	r.status = CT_PENDING;
	r.judged = CT_UNPUBLISHED;
	r.alarm = 1;
	r.taken = 5;
	snprintf(r.tbs, sizeof(r.tbs), "%s", K2);
	snprintf(r.spki, sizeof(r.spki), "%s", K1);
	snprintf(r.name, sizeof(r.name), "xmpp.a.example");
	/* Spaces, '%', a lone '-', control bytes survive. */
	snprintf(r.issuer, sizeof(r.issuer), "CN=R3, O=Let's %%Encrypt\x01");
	snprintf(r.serial, sizeof(r.serial), "-");
	snprintf(r.log, sizeof(r.log), "https://log.example/ ");
	snprintf(r.spool, sizeof(r.spool), "1-2.ct");
	r.not_before = -3;
	r.not_after = 1700000000;
	r.entry = 42;
	ct_state_add(cs, &r);
	assert_int_equal(ct_state_save(st, "a.example", cs), 0);
	assert_int_equal(ct_state_load(store_domain_get(st, "a.example"), back),
			 0);
	assert_int_equal(back->ntlsa, 1);
	assert_int_equal(back->tlsa[0].len, 2);
	assert_int_equal(back->tlsa[0].data[1], 0xcd);
	assert_int_equal(back->nseen, 1);
	assert_int_equal(back->kept_key, 1);
	assert_int_equal(back->nev, 1);
	assert_memory_equal(&back->ev[0], &cs->ev[0], sizeof(r));
	assert_non_null(ct_state_find(back, K2, "x"));
	assert_null(ct_state_find(back, K1, "1-2.ct"));

	ct_state_json(store_domain_get(st, "a.example"), &b);
	assert_non_null(strstr(b.s, "\"ct\":[{\"spki_sha256\":\"1111"));
	assert_non_null(
	    strstr(b.s, "\"judged\":\"unpublished\",\"alert\":\"alarm\""));
	assert_non_null(strstr(b.s, "\"entry\":42"));
	assert_non_null(strstr(b.s, "\"serial\":\"-\""));
	assert_non_null(strstr(b.s, "\\u0001"));
	buf_free(&b);
	free(cs);
	store_close(st);
}

static void
test_hostile_lines(void **state)
{
	static const char *const bad[] = {
	    "event",
	    "event sent known",
	    "event sent known 0 0 0 x",
	    "event sent known 0 0 0 5 zz - - - - 0 0 - -1 f",
	    "event sent known 0 0 0 5 - - %00 - - 0 0 - -1 f",
	    "event sent known 0 0 0 5 - - %4 - - 0 0 - -1 f",
	    "tlsa 3 1 1 0g",
	    "tlsa 300 1 1 00",
	    "tlsa 3 1",
	    "seen 00",
	    "leaf",
	    "%%%",
	    "seen 11111111111111111111111111111111111111111111"
	    "111111111111111111111111111111111111111111111111"
	    "111111111111111111111111111111111111111111",
	};
	struct store *st = mem_store("a.example");
	struct ct_state *cs = calloc(1, sizeof(*cs));
	struct buf b = BUF_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&b);
		buf_printf(&b,
			   "future-kind whatever\n%s\nevent pending new 0 1 0 "
			   "7 - - n - - 0 0 - -1 s.ct",
			   bad[i]);
		assert_int_equal(store_domain_set_ct(st, "a.example", b.s), 0);
		/* The bad line skipped, the rest used. */
		assert_int_equal(
		    ct_state_load(store_domain_get(st, "a.example"), cs), 1);
		assert_int_equal(cs->nev, 1);
		assert_int_equal(cs->ev[0].status, CT_PENDING);
		assert_int_equal(cs->ev[0].judged, CT_NEW);
	}
	/* A status word of a later version is pending: alerted, not lost. */
	assert_int_equal(
	    store_domain_set_ct(
		st, "a.example",
		"event queued new 0 1 0 7 - - n - - 0 0 - -1 s.ct"),
	    0);
	assert_int_equal(ct_state_load(store_domain_get(st, "a.example"), cs),
			 0);
	assert_int_equal(cs->ev[0].status, CT_PENDING);
	buf_free(&b);
	free(cs);
	store_close(st);
}

static void
test_keep_16(void **state)
{
	struct ct_state *cs = calloc(1, sizeof(*cs));
	struct ct_record r = {0};

	(void)state;
	for (int i = 0; i < CT_KEEP_EVENTS; i++) {
		r.status = i == 0 ? CT_PENDING : CT_SENT;
		r.taken = i;
		ct_state_add(cs, &r);
	}
	r.taken = 100;
	ct_state_add(cs, &r);
	/* The oldest sent one went, not the pending one before it. */
	assert_int_equal(cs->nev, CT_KEEP_EVENTS);
	assert_int_equal(cs->ev[0].taken, 0);
	assert_int_equal(cs->ev[1].taken, 2);
	assert_int_equal(cs->ev[CT_KEEP_EVENTS - 1].taken, 100);
	free(cs);
}

static void
test_round(void **state)
{
	struct ct_state *cs = calloc(1, sizeof(*cs));
	char *tlsa_ok[] = {"3 1 1 00ff"}, *tlsa_evil[] = {"3 1 1 eeee"};
	struct check_endpoint ep[2];
	struct check_result r;

	(void)state;
	memset(ep, 0, sizeof(ep));
	memset(&r, 0, sizeof(r));
	r.endpoints = ep;
	r.nendpoints = 2;
	ep[0].dnssec_tlsa = DNS_SEC_SECURE;
	ep[0].tlsa = tlsa_ok;
	ep[0].ntlsa = 1;
	ep[0].have_key = 1;
	snprintf(ep[0].spki_sha256, 65, "%s", K1);
	ep[0].not_after = 10;
	/* An insecure answer's records are not kept. */
	ep[1].dnssec_tlsa = DNS_SEC_INSECURE;
	ep[1].tlsa = tlsa_evil;
	ep[1].ntlsa = 1;
	assert_int_equal(ct_state_round(cs, &r, 0), 1);
	assert_int_equal(cs->ntlsa, 1);
	assert_int_equal(cs->tlsa[0].data[1], 0xff);
	assert_int_equal(cs->nseen, 1);
	assert_int_equal(ct_state_round(cs, &r, 0), 0); /* unchanged */
	/* Renewed with the same key: kept_key. */
	ep[0].not_after = 20;
	assert_int_equal(ct_state_round(cs, &r, 0), 1);
	assert_int_equal(cs->kept_key, 1);
	/* A key seen during an open alarm is not trusted. */
	snprintf(ep[0].spki_sha256, 65, "%s", K2);
	assert_int_equal(ct_state_round(cs, &r, 1), 1);
	assert_int_equal(cs->nseen, 1);
	assert_int_equal(cs->kept_key, 0);
	/* No secure answer this round: the records last seen secure stay. */
	ep[0].dnssec_tlsa = DNS_SEC_BOGUS;
	(void)ct_state_round(cs, &r, 1);
	assert_int_equal(cs->ntlsa, 1);
	free(cs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_hostile_lines),
	    cmocka_unit_test(test_keep_16),
	    cmocka_unit_test(test_round),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
