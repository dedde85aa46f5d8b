/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_split_remote.c - key-split with remote vantages (docs/vantages.md):
 * a split only one remote vantage sees is a warning naming it, never an
 * alarm; seen by this instance's own probes or by two vantages, it is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "probe/check_int.h"

#define K1 "1111111111111111111111111111111111111111111111111111111111111111"
#define K2 "2222222222222222222222222222222222222222222222222222222222222222"

/* One endpoint of xmpp.a.test whose probes are (vantage, key). */
static struct check_result *
result(const char *const (*pv)[2], size_t n)
{
	struct check_result *r = calloc(1, sizeof(*r));
	struct check_endpoint *e = calloc(1, sizeof(*e));

	snprintf(e->host, sizeof(e->host), "xmpp.a.test");
	e->port = 5222;
	e->probes = calloc(n, sizeof(*e->probes));
	e->nprobes = n;
	for (size_t i = 0; i < n; i++) {
		struct check_probe *p = &e->probes[i];
		snprintf(p->vantage, sizeof(p->vantage), "%s", pv[i][0]);
		snprintf(p->address, sizeof(p->address), "192.0.2.1");
		snprintf(p->key_type, sizeof(p->key_type), "ecdsa");
		snprintf(p->spki_sha256, sizeof(p->spki_sha256), "%s",
			 pv[i][1]);
		p->have_key = 1;
		p->remote = !strncmp(pv[i][0], "xmpp:", 5);
	}
	r->endpoints = e;
	r->nendpoints = 1;
	check_split(r);
	return r;
}

static void
done(struct check_result *r)
{
	free(r->endpoints[0].probes);
	free(r->endpoints);
	free(r->warnings);
	free(r);
}

static void
one_remote_is_a_warning(void **state)
{
	static const char *const pv[][2] = {
	    {"direct", K1}, {"xmpp:b.test", K2}, {"tor", K1}};
	struct check_result *r = result(pv, 3);

	(void)state;
	assert_int_equal(r->nwarnings, 1);
	assert_string_equal(r->warnings[0].code, "key-split");
	assert_non_null(strstr(r->warnings[0].text,
			       "seen only through the remote vantage "
			       "xmpp:b.test"));
	assert_false(r->split_alarm);
	done(r);
}

static void
two_remotes_alarm(void **state)
{
	static const char *const pv[][2] = {
	    {"direct", K1}, {"xmpp:b.test", K2}, {"xmpp:c.test", K2}};
	struct check_result *r = result(pv, 3);

	(void)state;
	assert_int_equal(r->nwarnings, 1);
	assert_null(strstr(r->warnings[0].text, "seen only through"));
	assert_true(r->split_alarm);
	done(r);
}

static void
own_probes_alarm(void **state)
{
	static const char *const pv[][2] = {
	    {"xmpp:b.test", K1}, {"direct", K1}, {"tor", K2}};
	struct check_result *r = result(pv, 3);

	(void)state;
	assert_int_equal(r->nwarnings, 1);
	assert_non_null(strstr(r->warnings[0].text, "via direct vs"));
	assert_non_null(strstr(r->warnings[0].text, "via tor"));
	assert_true(r->split_alarm);
	done(r);
}

static void
agreeing_remote_nothing(void **state)
{
	static const char *const pv[][2] = {{"direct", K1},
					    {"xmpp:b.test", K1}};
	struct check_result *r = result(pv, 2);

	(void)state;
	assert_int_equal(r->nwarnings, 0);
	assert_false(r->split_alarm);
	done(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(one_remote_is_a_warning),
	    cmocka_unit_test(two_remotes_alarm),
	    cmocka_unit_test(own_probes_alarm),
	    cmocka_unit_test(agreeing_remote_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
