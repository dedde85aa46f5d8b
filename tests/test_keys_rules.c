/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_keys_rules.c - key continuity (component/keys.h, docs/usage.md
 * "Keys seen and splits") on tables of rounds: the split alarm after
 * split_rounds of the last 2 x split_rounds rounds, its recovery, a split
 * since the first round as the normal state, the new key on every
 * endpoint (info, never an alarm), unreachable probes at their last key,
 * the bounds; and the state through the store and back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "component/domain_state.h"
#include "component/keys.h"
#include "component/report_keys.h"

#define A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define R "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"
#define X NULL /* unreachable */

/* One probe: endpoint port (service from it), address, vantage, key
 * type, key (NULL: unreachable), TLSA allows it. */
struct pr {
	unsigned port;
	const char *addr, *vantage, *kt, *key;
	int allowed;
};

#define MAXP 16

/* A round: its probes, the alert expected. */
struct round {
	struct pr p[MAXP];
	enum alert_kind want;
};

static enum check_service
svc_of(unsigned port)
{
	return port == 5222   ? SVC_XMPP_CLIENT
	       : port == 5223 ? SVC_XMPPS_CLIENT
	       : port == 5269 ? SVC_XMPP_SERVER
			      : SVC_XMPPS_SERVER;
}

/* Builds the result of a round: one endpoint per port, in order seen. */
static void
build(struct check_result *r, struct check_endpoint *eps,
      struct check_probe *probes, const struct pr *in)
{
	memset(r, 0, sizeof(*r));
	memset(eps, 0, 4 * sizeof(*eps));
	memset(probes, 0, MAXP * sizeof(*probes));
	r->endpoints = eps;
	for (size_t i = 0; i < MAXP && in[i].port; i++) {
		struct check_endpoint *e = NULL;
		for (size_t j = 0; j < r->nendpoints; j++)
			if (eps[j].port == in[i].port)
				e = &eps[j];
		if (e == NULL) {
			e = &eps[r->nendpoints++];
			e->service = svc_of(in[i].port);
			e->port = (uint16_t)in[i].port;
			snprintf(e->host, sizeof(e->host), "xmpp.example.org");
			e->probes = &probes[i];
		}
		struct check_probe *p = &probes[i];
		e->nprobes = (size_t)(p - e->probes) + 1;
		snprintf(p->address, sizeof(p->address), "%s", in[i].addr);
		snprintf(p->vantage, sizeof(p->vantage), "%s", in[i].vantage);
		snprintf(p->key_type, sizeof(p->key_type), "%s",
			 in[i].kt ? in[i].kt : "ecdsa");
		if (in[i].key) {
			p->have_key = 1;
			snprintf(p->spki_sha256, sizeof(p->spki_sha256), "%s",
				 in[i].key);
			snprintf(p->issuer, sizeof(p->issuer), "CN=Lab CA");
			p->not_before = 1700000000;
			p->not_after = 1800000000;
			p->verdict = VERDICT_NO_TLSA;
		} else {
			p->key_type[0] = '\0';
			p->verdict = VERDICT_UNREACHABLE;
			p->err_step = PROBE_STEP_TCP;
		}
		p->allowed = in[i].allowed > 0;
		if (in[i].key && in[i].allowed < 0)
			p->verdict = VERDICT_MISMATCH; /* DANE rejects it */
	}
}

/* Plays rounds (one minute apart) from the empty state; each round's
 * alert must be the one expected.  The state goes through the store
 * (domain_state_keys_to_store/_load) between rounds, as in the watcher.
 * Returns the last alert's text in text (when given). */
static void
play(const struct round *rounds, size_t n, unsigned split_rounds,
     struct keys_state *out, struct buf *text)
{
	struct keys_state *st = calloc(2, sizeof(*st));
	struct check_result r;
	struct check_endpoint eps[4];
	struct check_probe probes[MAXP];
	struct store *s;
	char err[200];

	assert_non_null(st);
	assert_int_equal(store_open(NULL, &s, err, sizeof(err)), 0);
	assert_int_equal(store_domain_add(s, "example.org"), 1);
	for (size_t i = 0; i < n; i++) {
		struct keys_alert a;
		struct store_seen seen[KEYS_SEEN_MAX];
		struct store_continuity c;

		build(&r, eps, probes, rounds[i].p);
		enum alert_kind k =
		    keys_round(&st[0], &r, 1700000000 + 60 * (int64_t)i,
			       split_rounds, &st[1], &a);
		if (k != rounds[i].want)
			fail_msg("round %zu: alert %s, expected %s", i,
				 alert_kind_name(k),
				 alert_kind_name(rounds[i].want));
		if (text && k != ALERT_NONE) {
			buf_reset(text);
			report_keys_alert(text, "example.org", &a);
		}
		domain_state_keys_to_store(&st[1], &c, seen);
		assert_true(store_domain_set_continuity(s, "example.org", &c) >=
			    0);
		memset(&st[0], 0xa5, sizeof(st[0]));
		assert_int_equal(
		    domain_state_keys_load(store_domain_get(s, "example.org"),
					   &st[0], err, sizeof(err)),
		    0);
	}
	if (out)
		*out = st[0];
	store_close(s);
	free(st);
}

#define N(x) (sizeof(x) / sizeof((x)[0]))
#define P(port, key)                                                           \
	{                                                                      \
		port, "192.0.2.1", "tor", "ecdsa", key, 0                      \
	}
#define ALL3(a, b, c) P(5222, a), P(5223, b), P(5269, c)

/* The 2023 case: 5222 alone redirected, no DANE. */
static const struct round jabber_ru[] = {
    {{ALL3(A, A, A)}, ALERT_NONE}, /* baseline */
    {{ALL3(A, A, A)}, ALERT_NONE},
    {{ALL3(B, A, A)}, ALERT_NONE},  /* one split round */
    {{ALL3(B, A, A)}, ALERT_ALARM}, /* the second: alarm */
    {{ALL3(B, A, A)}, ALERT_NONE},  /* never repeated */
    {{ALL3(B, X, A)}, ALERT_NONE},  /* unreachable: at its last key */
    {{ALL3(X, A, A)}, ALERT_NONE},  /* the MITM'd port down: no recovery */
    {{ALL3(X, X, X)}, ALERT_NONE},  /* nothing seen proves nothing */
    {{ALL3(A, A, A)}, ALERT_RECOVERED},
    {{ALL3(A, A, A)}, ALERT_NONE},
    {{ALL3(B, A, A)}, ALERT_NONE}, /* back: B still not established */
    {{ALL3(B, A, A)}, ALERT_ALARM},
};

static void
t_jabber_ru(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	play(jabber_ru, N(jabber_ru), 2, NULL, &b);
	assert_non_null(
	    strstr(b.s, "ALARM: example.org: possible man in the middle"));
	assert_non_null(strstr(b.s, "new key " B " ecdsa, never established"));
	assert_non_null(strstr(
	    b.s, "xmpp-client xmpp.example.org:5222 at 192.0.2.1 via tor"));
	assert_non_null(strstr(b.s, "key " A ", seen since"));
	assert_non_null(strstr(b.s, "publish TLSA (3 1 1) for each key"));
	buf_free(&b);
}

/* Intermittent: 2 of the last 4 rounds; split_rounds 3 needs 3 of 6. */
static const struct round flicker2[] = {
    {{ALL3(A, A, A)}, ALERT_NONE},
    {{ALL3(B, A, A)}, ALERT_NONE},
    {{ALL3(A, A, A)}, ALERT_NONE},
    {{ALL3(B, A, A)}, ALERT_ALARM},
};
static const struct round flicker3[] = {
    {{ALL3(A, A, A)}, ALERT_NONE}, {{ALL3(B, A, A)}, ALERT_NONE},
    {{ALL3(A, A, A)}, ALERT_NONE}, {{ALL3(B, A, A)}, ALERT_NONE},
    {{ALL3(A, A, A)}, ALERT_NONE}, {{ALL3(B, A, A)}, ALERT_ALARM},
};
/* 1 of 4 only: never. */
static const struct round rare[] = {
    {{ALL3(A, A, A)}, ALERT_NONE}, {{ALL3(B, A, A)}, ALERT_NONE},
    {{ALL3(A, A, A)}, ALERT_NONE}, {{ALL3(A, A, A)}, ALERT_NONE},
    {{ALL3(A, A, A)}, ALERT_NONE}, {{ALL3(C, A, A)}, ALERT_NONE},
    {{ALL3(A, A, A)}, ALERT_NONE},
};

static void
t_window(void **state)
{
	(void)state;
	play(flicker2, N(flicker2), 2, NULL, NULL);
	play(flicker3, N(flicker3), 3, NULL, NULL);
	play(rare, N(rare), 2, NULL, NULL);
}

/* A different key on 5269 since the first round (or on one address): the
 * domain's normal state, never an alarm. */
static const struct round normal_split[] = {
    {{ALL3(A, A, C)}, ALERT_NONE},
    {{ALL3(A, A, C)}, ALERT_NONE},
    {{ALL3(A, A, C)}, ALERT_NONE},
    {{ALL3(A, A, C)}, ALERT_NONE},
};
static const struct round two_addrs[] = {
    {{P(5222, A), {5222, "192.0.2.2", "tor", "ecdsa", C, 0}}, ALERT_NONE},
    {{P(5222, A), {5222, "192.0.2.2", "tor", "ecdsa", C, 0}}, ALERT_NONE},
    {{P(5222, A), {5222, "192.0.2.2", "tor", "ecdsa", C, 0}}, ALERT_NONE},
};
/* An ECDSA and an RSA key: compared within their type only. */
static const struct round two_types[] = {
    {{P(5222, A), {5222, "192.0.2.1", "tor", "rsa", R, 0}}, ALERT_NONE},
    {{P(5222, A), {5222, "192.0.2.1", "tor", "rsa", R, 0}}, ALERT_NONE},
    {{P(5222, A), {5222, "192.0.2.1", "tor", "rsa", R, 0}}, ALERT_NONE},
};
/* Another address showing another key, later: a split of one endpoint. */
static const struct round new_addr[] = {
    {{P(5222, A)}, ALERT_NONE},
    {{P(5222, A), {5222, "192.0.2.2", "tor", "ecdsa", B, 0}}, ALERT_NONE},
    {{P(5222, A), {5222, "192.0.2.2", "tor", "ecdsa", B, 0}}, ALERT_ALARM},
};
/* Across vantages: the same. */
static const struct round vantage[] = {
    {{P(5222, A), {5222, "192.0.2.1", "direct", "ecdsa", A, 0}}, ALERT_NONE},
    {{P(5222, A), {5222, "192.0.2.1", "direct", "ecdsa", B, 0}}, ALERT_NONE},
    {{P(5222, A), {5222, "192.0.2.1", "direct", "ecdsa", B, 0}}, ALERT_ALARM},
};
/* ...but a remote vantage alone is never more than its warning. */
static const struct round remote[] = {
    {{P(5222, A), {5222, "192.0.2.1", "xmpp:v@example.net", "ecdsa", A, 0}},
     ALERT_NONE},
    {{P(5222, A), {5222, "192.0.2.1", "xmpp:v@example.net", "ecdsa", B, 0}},
     ALERT_NONE},
    {{P(5222, A), {5222, "192.0.2.1", "xmpp:v@example.net", "ecdsa", B, 0}},
     ALERT_NONE},
};
/* A key that secure TLSA allows is established at once. */
static const struct round tlsa_allowed[] = {
    {{ALL3(A, A, A)}, ALERT_NONE},
    {{{5222, "192.0.2.1", "tor", "ecdsa", B, 1}, P(5223, A), P(5269, A)},
     ALERT_NONE},
    {{{5222, "192.0.2.1", "tor", "ecdsa", B, 1}, P(5223, A), P(5269, A)},
     ALERT_NONE},
    {{{5222, "192.0.2.1", "tor", "ecdsa", B, 1}, P(5223, A), P(5269, A)},
     ALERT_NONE},
};

/* DANE rejects the new key: the verdict's alarm (mismatch) speaks, at
 * once; neither a split alarm nor a new-key info as well (one port, then
 * every port). */
#define MM(port, key)                                                          \
	{                                                                      \
		port, "192.0.2.1", "tor", "ecdsa", key, -1                     \
	}
static const struct round dane_mismatch[] = {
    {{{5222, "192.0.2.1", "tor", "ecdsa", A, 1},
      {5223, "192.0.2.1", "tor", "ecdsa", A, 1}},
     ALERT_NONE},
    {{MM(5222, B), {5223, "192.0.2.1", "tor", "ecdsa", A, 1}}, ALERT_NONE},
    {{MM(5222, B), {5223, "192.0.2.1", "tor", "ecdsa", A, 1}}, ALERT_NONE},
    {{MM(5222, B), {5223, "192.0.2.1", "tor", "ecdsa", A, 1}}, ALERT_NONE},
    {{MM(5222, B), MM(5223, B)}, ALERT_NONE},
    {{MM(5222, C), MM(5223, C)}, ALERT_NONE},
    {{MM(5222, C), MM(5223, C)}, ALERT_NONE},
};

static void
t_not_alarms(void **state)
{
	(void)state;
	play(normal_split, N(normal_split), 2, NULL, NULL);
	play(two_addrs, N(two_addrs), 2, NULL, NULL);
	play(two_types, N(two_types), 2, NULL, NULL);
	play(remote, N(remote), 2, NULL, NULL);
	play(tlsa_allowed, N(tlsa_allowed), 2, NULL, NULL);
	play(new_addr, N(new_addr), 2, NULL, NULL);
	play(vantage, N(vantage), 2, NULL, NULL);
	play(dane_mismatch, N(dane_mismatch), 2, NULL, NULL);
}

/* Every port moves to one new key: info once, never an alarm; also after
 * the same key was a split's new key before. */
static const struct round moved[] = {
    {{ALL3(A, A, A)}, ALERT_NONE},
    {{ALL3(A, A, A)}, ALERT_NONE},
    {{ALL3(B, B, B)}, ALERT_INFO},
    {{ALL3(B, B, B)}, ALERT_NONE},
    {{ALL3(B, B, B)}, ALERT_NONE},
    {{ALL3(A, A, A)}, ALERT_NONE}, /* back to a known key */
};
static const struct round split_then_moved[] = {
    {{ALL3(A, A, A)}, ALERT_NONE},  {{ALL3(B, A, A)}, ALERT_NONE},
    {{ALL3(B, A, A)}, ALERT_ALARM}, {{ALL3(A, A, A)}, ALERT_RECOVERED},
    {{ALL3(B, B, B)}, ALERT_INFO},  {{ALL3(B, B, B)}, ALERT_NONE},
    {{ALL3(B, X, B)}, ALERT_NONE},
};
/* TLSA allows the new key everywhere: the verdict's own rollover info. */
static const struct round rollover[] = {
    {{ALL3(A, A, A)}, ALERT_NONE},
    {{{5222, "192.0.2.1", "tor", "ecdsa", B, 1},
      {5223, "192.0.2.1", "tor", "ecdsa", B, 1},
      {5269, "192.0.2.1", "tor", "ecdsa", B, 1}},
     ALERT_NONE},
};

/* This instance's own probes move, a remote vantage still shows the old
 * key: the info all the same (a remote never holds an alert back), with
 * a line naming the remote. */
#define RV(key)                                                                \
	{                                                                      \
		5222, "192.0.2.1", "xmpp:v@example.net", "ecdsa", key, 0       \
	}
static const struct round moved_here_only[] = {
    {{P(5222, A), RV(A)}, ALERT_NONE},
    {{P(5222, A), RV(A)}, ALERT_NONE},
    {{P(5222, B), RV(A)}, ALERT_INFO},
};
static const struct round moved_there_too[] = {
    {{P(5222, A), RV(A)}, ALERT_NONE},
    {{P(5222, A), RV(A)}, ALERT_NONE},
    {{P(5222, B), RV(B)}, ALERT_INFO},
};

static void
t_new_key_everywhere(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	play(moved, N(moved), 2, NULL, &b);
	assert_non_null(strstr(b.s,
			       "example.org: new key on every endpoint of "
			       "xmpp.example.org: " B " ecdsa, issued by "
			       "CN=Lab CA, valid 2023-11-14 to 2027-01-15"));
	assert_non_null(strstr(
	    b.s, "If you did not just renew, every port is intercepted."));
	assert_non_null(strstr(b.s, "3 1 1 " B));
	assert_null(strstr(b.s, "remote vantage"));
	play(moved_here_only, N(moved_here_only), 2, NULL, &b);
	assert_non_null(strstr(b.s, "new key on every endpoint"));
	assert_non_null(strstr(
	    b.s, "Still another key through the remote vantage "
		 "xmpp:v@example.net: if that certwatch tells the truth, "
		 "only this instance's network is intercepted"));
	play(moved_there_too, N(moved_there_too), 2, NULL, &b);
	assert_non_null(strstr(b.s, "new key on every endpoint"));
	assert_null(strstr(b.s, "remote vantage"));
	play(split_then_moved, N(split_then_moved), 2, NULL, NULL);
	play(rollover, N(rollover), 2, NULL, NULL);
	buf_free(&b);
}

/* Bounds: 40 keys on one endpoint keep the newest 16; the lists stay
 * within their size; the store keeps what the state says. */
static void
t_bounds(void **state)
{
	struct round *rs = calloc(41, sizeof(*rs));
	static char keys[40][65];
	struct keys_state *ks = calloc(1, sizeof(*ks));

	(void)state;
	rs[0] = (struct round){{P(5222, A)}, ALERT_NONE};
	for (int i = 0; i < 40; i++) {
		snprintf(keys[i], sizeof(keys[i]), "%064x", i + 1);
		rs[i + 1] = (struct round){
		    {{5222, "192.0.2.1", "tor", "ecdsa", keys[i], 0}},
		    ALERT_NONE};
	}
	/* Each round is a move of the only endpoint to a new key: info. */
	for (int i = 0; i < 40; i++)
		rs[i + 1].want = ALERT_INFO;
	play(rs, 41, 2, ks, NULL);
	assert_int_equal(ks->n, KEYS_PER_ENDPOINT);
	assert_string_equal(ks->k[ks->n - 1].spki, keys[39]);
	free(rs);
	free(ks);
}

/* The JSON of GET /api/domain and the text of status. */
static void
t_render(void **state)
{
	struct keys_state *ks = calloc(1, sizeof(*ks));
	struct buf b = BUF_INIT;

	(void)state;
	play(jabber_ru, 5, 2, ks, NULL);
	report_keys_json(&b, ks);
	assert_non_null(strstr(b.s, "{\"split_alarm\":true,"));
	assert_non_null(strstr(
	    b.s, "\"spki_sha256\":\"" B "\",\"first_seen\":1700000120,"
		 "\"last_seen\":1700000240,\"established\":false,"
		 "\"vantages\":[\"tor\"],\"addresses\":[\"192.0.2.1\"]}"));
	buf_reset(&b);
	report_keys_text(&b, ks, 2);
	assert_non_null(strstr(b.s, "Keys seen (split alarm open):\n"));
	assert_non_null(strstr(b.s, "… and 2 more\n"));
	buf_free(&b);
	free(ks);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_jabber_ru),
	    cmocka_unit_test(t_window),
	    cmocka_unit_test(t_not_alarms),
	    cmocka_unit_test(t_new_key_everywhere),
	    cmocka_unit_test(t_bounds),
	    cmocka_unit_test(t_render),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
