/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_domain_state.c - a watched domain's typed state and its store words
 * (component/domain_state.h): every verdict, alert kind, service and step
 * through a state directory and back, old and hostile records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "component/domain_state.h"

#define KEY "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_domain_state.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

/* Empties the state directory. */
static void
clean(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[512];

	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
}

static int
teardown(void **state)
{
	(void)state;
	clean();
	return rmdir(dir);
}

static struct store *
reopen(struct store *st)
{
	char err[256];

	store_close(st);
	assert_int_equal(store_open(dir, &st, err, sizeof(err)), 0);
	return st;
}

/* ds -> store words -> a file -> a new store -> state: the same ds. */
static void
round_trip(const struct domain_state *ds)
{
	struct store *st;
	struct store_update u = {.checked = 1700000000, .next_due = 1700000300};
	struct store_endpoint eps[STORE_ENDPOINTS_MAX];
	struct domain_state *back = calloc(1, sizeof(*back));
	char err[256];

	assert_int_equal(store_open(dir, &st, err, sizeof(err)), 0);
	domain_state_to_update(ds, &u, eps);
	assert_int_equal(store_domain_record(st, "rt.example", &u), 0);
	st = reopen(st);
	assert_int_equal(domain_state_load(store_domain_get(st, "rt.example"),
					   back, err, sizeof(err)),
			 0);
	assert_int_equal(back->alert.verdict, ds->alert.verdict);
	assert_int_equal(back->alert.last, ds->alert.last);
	assert_int_equal(back->alert.unreachable_rounds,
			 ds->alert.unreachable_rounds);
	assert_int_equal(back->n, ds->n);
	for (size_t i = 0; i < ds->n; i++) {
		const struct endpoint_state *a = &ds->ep[i], *b = &back->ep[i];
		assert_int_equal(b->service, a->service);
		assert_int_equal(b->port, a->port);
		assert_int_equal(b->verdict, a->verdict);
		assert_int_equal(b->err_step, a->err_step);
		assert_int_equal(b->fail_rounds, a->fail_rounds);
		assert_int_equal(b->trouble_alerted, a->trouble_alerted);
		assert_string_equal(b->spki, a->spki);
		assert_string_equal(b->host, a->host);
		assert_string_equal(b->error, a->error);
	}
	(void)store_domain_remove(st, "rt.example");
	store_close(st);
	free(back);
}

static void
every_word(void **state)
{
	struct domain_state *ds = calloc(1, sizeof(*ds));
	size_t n = 0;

	(void)state;
	/* One endpoint per verdict, step and service, each with its own
	 * trouble count; the domain takes every verdict and alert kind. */
	for (int v = VERDICT_OK; v <= VERDICT_UNREACHABLE; v++)
		for (int s = PROBE_STEP_NONE; s <= PROBE_STEP_TLS; s++) {
			struct endpoint_state *e = &ds->ep[n];
			e->service = (enum check_service)(n % SVC_COUNT);
			e->port = (uint16_t)(5000 + n);
			e->verdict = (enum verdict)v;
			e->err_step = (enum probe_step)s;
			if (s != PROBE_STEP_NONE)
				snprintf(e->error, sizeof(e->error),
					 "%s: it failed", probe_step_name(s));
			e->fail_rounds = (unsigned)n;
			e->trouble_alerted = (int)(n & 1);
			if (n & 2)
				memcpy(e->spki, KEY, sizeof(e->spki));
			snprintf(e->host, sizeof(e->host), "h%zu.example", n);
			n++;
		}
	assert_true(n <= STORE_ENDPOINTS_MAX);
	ds->n = n;
	for (int v = VERDICT_NONE; v <= VERDICT_UNREACHABLE; v++)
		for (int k = ALERT_NONE; k <= ALERT_INFO; k++) {
			ds->alert.verdict = (enum verdict)v;
			ds->alert.last = (enum alert_kind)k;
			ds->alert.unreachable_rounds = (unsigned)(v * 7 + k);
			round_trip(ds);
		}
	free(ds);
}

/* Writes a shard file by hand (docs/store.md) and opens the directory. */
static struct store *
open_file(int version, const char *body, unsigned records)
{
	char p[128], err[256];
	struct store *st;
	const char *const *warn;
	FILE *f;

	clean();
	snprintf(p, sizeof(p), "%s/shard-000", dir);
	f = fopen(p, "w");
	assert_non_null(f);
	fprintf(f, "certwatch-store %d\ncommit 1\n%srecords %u\n", version,
		body, records);
	fclose(f);
	assert_int_equal(store_open(dir, &st, err, sizeof(err)), 0);
	if (store_warnings(st, &warn) > 0)
		fail_msg("the store set the file aside: %s", warn[0]);
	return st;
}

static void
old_format(void **state)
{
	/* A version 1 file: no trouble line. */
	struct store *st = open_file(
	    1,
	    "domain old.example\n"
	    "state mismatch alarm 2 1700000100 1700000100 1700003700\n"
	    "endpoint xmpp-client xmpp.old.example 5222 ok " KEY " -\n"
	    "endpoint xmpps-client xmpp.old.example 5223 mismatch - tls: "
	    "handshake failed\n"
	    "end\n",
	    1);
	struct domain_state *ds = calloc(1, sizeof(*ds));
	char err[128];

	(void)state;
	assert_int_equal(domain_state_load(store_domain_get(st, "old.example"),
					   ds, err, sizeof(err)),
			 0);
	assert_int_equal(ds->alert.verdict, VERDICT_MISMATCH);
	assert_int_equal(ds->alert.last, ALERT_ALARM);
	assert_int_equal(ds->alert.unreachable_rounds, 2);
	assert_int_equal(ds->n, 2);
	assert_string_equal(ds->ep[0].spki, KEY);
	assert_int_equal(ds->ep[1].service, SVC_XMPPS_CLIENT);
	assert_int_equal(ds->ep[1].verdict, VERDICT_MISMATCH);
	assert_int_equal(ds->ep[1].err_step, PROBE_STEP_TLS);
	assert_int_equal(ds->ep[1].fail_rounds, 0);
	store_close(st);
	free(ds);
}

/* Words this version does not know (a later version's, or an edit by
 * hand): each is an error, bounded, and the rest of the record loads. */
static void
hostile_records(void **state)
{
	static const struct {
		const char *name, *state, *ep, *want_err;
	} cases[] = {
	    {"a later verdict", "state compromised alarm 1 0 0 0",
	     "xmpp-client x.example 5222 ok - -", "unknown verdict"},
	    {"a later alert state", "state ok panic 1 0 0 0",
	     "xmpp-client x.example 5222 ok - -", "unknown alert state"},
	    {"an endpoint of a later service", "state ok none 1 0 0 0",
	     "xmpp-websocket x.example 443 ok - -", "unknown service"},
	    {"an endpoint's later verdict", "state ok none 1 0 0 0",
	     "xmpp-client x.example 5222 compromised - -", "unknown verdict"},
	    {"a host longer than a DNS name", "state ok none 1 0 0 0",
	     "xmpp-client "
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example 5222 ok - -",
	     "bad host or port"},
	    {"a port of 0", "state ok none 1 0 0 0",
	     "xmpp-client x.example 0 ok - -", "bad host or port"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[2048], err[128], small[16];
		struct domain_state *ds = calloc(1, sizeof(*ds));
		snprintf(body, sizeof(body),
			 "domain h.example\n%s\n"
			 "endpoint xmpp-server good.example 5269 mismatch "
			 "%s tcp: refused\ntrouble 4 alerted\n"
			 "endpoint %s\nend\n",
			 cases[i].state, KEY, cases[i].ep);
		struct store *st = open_file(2, body, 1);
		const struct store_domain *sd =
		    store_domain_get(st, "h.example");
		if (sd == NULL)
			fail_msg("%s: the store refused the record",
				 cases[i].name);
		/* Bounded: cut to a small buffer, terminated. */
		memset(small, 'x', sizeof(small));
		assert_int_equal(
		    domain_state_load(sd, ds, small, sizeof(small)), -1);
		assert_int_equal(strlen(small), sizeof(small) - 1);
		if (domain_state_load(sd, ds, err, sizeof(err)) != -1)
			fail_msg("%s: loaded without an error", cases[i].name);
		if (strstr(err, cases[i].want_err) == NULL)
			fail_msg("%s: error \"%s\"", cases[i].name, err);
		/* Nothing else lost: the good endpoint and the counts. */
		assert_int_equal(ds->alert.unreachable_rounds, 1);
		assert_true(ds->n >= 1);
		assert_int_equal(ds->ep[0].service, SVC_XMPP_SERVER);
		assert_int_equal(ds->ep[0].verdict, VERDICT_MISMATCH);
		assert_int_equal(ds->ep[0].fail_rounds, 4);
		assert_int_equal(ds->ep[0].trouble_alerted, 1);
		assert_int_equal(ds->ep[0].err_step, PROBE_STEP_TCP);
		assert_string_equal(ds->ep[0].spki, KEY);
		store_close(st);
		free(ds);
	}
}

static void
hostile_direct(void **state)
{
	struct domain_state *ds = calloc(1, sizeof(*ds));
	struct store_endpoint se = {
	    "xmpp-client",	    "x.example", 5222, "ok", "short",
	    "bogus-step: no colon", 0,		 0};
	char err[64];

	(void)state;
	/* A key that is not a SHA-256 is no key; an unknown step no step. */
	assert_int_equal(domain_state_add_endpoint(ds, &se, err, sizeof(err)),
			 0);
	assert_string_equal(ds->ep[0].spki, "");
	assert_int_equal(ds->ep[0].err_step, PROBE_STEP_NONE);
	assert_string_equal(ds->ep[0].error, "bogus-step: no colon");
	/* NULL words are none, not a crash. */
	se.service = NULL;
	assert_int_equal(domain_state_add_endpoint(ds, &se, err, sizeof(err)),
			 -1);
	se.service = "xmpp-client";
	se.host = NULL;
	assert_int_equal(domain_state_add_endpoint(ds, &se, err, sizeof(err)),
			 -1);
	se.host = "x.example";
	se.verdict = NULL;
	assert_int_equal(domain_state_add_endpoint(ds, &se, err, sizeof(err)),
			 0);
	assert_int_equal(ds->ep[1].verdict, VERDICT_NONE);
	/* At most STORE_ENDPOINTS_MAX. */
	while (ds->n < STORE_ENDPOINTS_MAX)
		assert_int_equal(
		    domain_state_add_endpoint(ds, &se, err, sizeof(err)), 0);
	assert_int_equal(domain_state_add_endpoint(ds, &se, err, sizeof(err)),
			 -1);
	assert_int_equal(ds->n, STORE_ENDPOINTS_MAX);
	/* No record: the empty state, a baseline next. */
	assert_int_equal(domain_state_load(NULL, ds, err, sizeof(err)), 0);
	assert_int_equal(ds->n, 0);
	assert_int_equal(ds->alert.verdict, VERDICT_NONE);
	assert_int_equal(domain_state_verdict(NULL), VERDICT_NONE);
	free(ds);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(every_word, setup, teardown),
	    cmocka_unit_test_setup_teardown(old_format, setup, teardown),
	    cmocka_unit_test_setup_teardown(hostile_records, setup, teardown),
	    cmocka_unit_test(hostile_direct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
