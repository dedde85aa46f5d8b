/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_iqtab.c - the bot's IQ handler table (component/iqtab.h): dispatch
 * by namespace, element name and type; unknown and wrong-type payloads
 * left to <service-unavailable/>; duplicates refused; bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "component/iqtab.h"

static int
count_a(void *ud, void *call)
{
	(void)call;
	(*(int *)ud) += 1;
	return 1;
}

static int
count_b(void *ud, void *call)
{
	(void)call;
	(*(int *)ud) += 100;
	return 1;
}

/* A handler that declines: the caller answers service-unavailable. */
static int
decline(void *ud, void *call)
{
	(void)ud;
	(void)call;
	return 0;
}

static void
test_dispatch(void **state)
{
	struct iqtab t;
	int a = 0, b = 0, token = 7;

	(void)state;
	iqtab_init(&t);
	assert_int_equal(
	    iqtab_add(&t, count_a, "urn:xmpp:ping", "ping", IQTAB_GET, &a), 0);
	assert_int_equal(iqtab_add(&t, count_b, "jabber:iq:version", "query",
				   IQTAB_GET | IQTAB_SET, &b),
			 0);
	assert_int_equal(
	    iqtab_dispatch(&t, "urn:xmpp:ping", "ping", IQTAB_GET, &token), 1);
	assert_int_equal(a, 1);
	assert_int_equal(b, 0);
	assert_int_equal(
	    iqtab_dispatch(&t, "jabber:iq:version", "query", IQTAB_SET, NULL),
	    1);
	assert_int_equal(b, 100);
	assert_int_equal(a, 1);
}

static void
test_unknown_and_wrong_type(void **state)
{
	struct iqtab t;
	int a = 0;

	(void)state;
	iqtab_init(&t);
	assert_int_equal(
	    iqtab_add(&t, count_a, "urn:xmpp:ping", "ping", IQTAB_GET, &a), 0);
	/* unknown namespace, same name */
	assert_int_equal(
	    iqtab_dispatch(&t, "urn:xmpp:pong", "ping", IQTAB_GET, NULL), 0);
	/* right namespace, other element */
	assert_int_equal(
	    iqtab_dispatch(&t, "urn:xmpp:ping", "query", IQTAB_GET, NULL), 0);
	/* a set where only get is registered */
	assert_int_equal(
	    iqtab_dispatch(&t, "urn:xmpp:ping", "ping", IQTAB_SET, NULL), 0);
	/* not a get or set (results and errors are never dispatched) */
	assert_int_equal(iqtab_dispatch(&t, "urn:xmpp:ping", "ping", 0, NULL),
			 0);
	assert_int_equal(iqtab_dispatch(&t, "urn:xmpp:ping", "ping",
					IQTAB_GET | IQTAB_SET, NULL),
			 0);
	assert_int_equal(iqtab_dispatch(&t, NULL, "ping", IQTAB_GET, NULL), 0);
	assert_int_equal(
	    iqtab_dispatch(&t, "urn:xmpp:ping", NULL, IQTAB_GET, NULL), 0);
	/* a prefix or a longer namespace is another namespace */
	assert_int_equal(
	    iqtab_dispatch(&t, "urn:xmpp:pin", "ping", IQTAB_GET, NULL), 0);
	assert_int_equal(
	    iqtab_dispatch(&t, "urn:xmpp:ping#x", "ping", IQTAB_GET, NULL), 0);
	assert_int_equal(a, 0);
	/* a handler that declines leaves the iq to service-unavailable */
	assert_int_equal(iqtab_add(&t, decline, "urn:x", "q", IQTAB_SET, NULL),
			 0);
	assert_int_equal(iqtab_dispatch(&t, "urn:x", "q", IQTAB_SET, NULL), 0);
}

static void
test_duplicates_refused(void **state)
{
	struct iqtab t;
	int a = 0, b = 0;

	(void)state;
	iqtab_init(&t);
	assert_int_equal(iqtab_add(&t, count_a, "urn:x", "q", IQTAB_GET, &a),
			 0);
	/* the same (ns, name, type) twice, by anyone */
	assert_int_equal(iqtab_add(&t, count_b, "urn:x", "q", IQTAB_GET, &b),
			 -1);
	assert_int_equal(
	    iqtab_add(&t, count_b, "urn:x", "q", IQTAB_GET | IQTAB_SET, &b),
	    -1);
	/* the other type of the same payload is a new row */
	assert_int_equal(iqtab_add(&t, count_b, "urn:x", "q", IQTAB_SET, &b),
			 0);
	assert_int_equal(t.n, 2);
	assert_int_equal(iqtab_dispatch(&t, "urn:x", "q", IQTAB_GET, NULL), 1);
	assert_int_equal(iqtab_dispatch(&t, "urn:x", "q", IQTAB_SET, NULL), 1);
	assert_int_equal(a, 1);
	assert_int_equal(b, 100);
	/* bad arguments */
	assert_int_equal(iqtab_add(&t, NULL, "urn:y", "q", IQTAB_GET, NULL),
			 -1);
	assert_int_equal(iqtab_add(&t, count_a, NULL, "q", IQTAB_GET, NULL),
			 -1);
	assert_int_equal(iqtab_add(&t, count_a, "", "q", IQTAB_GET, NULL), -1);
	assert_int_equal(iqtab_add(&t, count_a, "urn:y", "", IQTAB_GET, NULL),
			 -1);
	assert_int_equal(iqtab_add(&t, count_a, "urn:y", "q", 0, NULL), -1);
	assert_int_equal(iqtab_add(&t, count_a, "urn:y", "q", 4, NULL), -1);
	assert_int_equal(t.n, 2);
	/* removed, it can be registered again */
	assert_int_equal(iqtab_remove(&t, count_a, "urn:x", "q"), 1);
	assert_int_equal(iqtab_dispatch(&t, "urn:x", "q", IQTAB_GET, NULL), 0);
	assert_int_equal(iqtab_add(&t, count_a, "urn:x", "q", IQTAB_GET, &a),
			 0);
}

static void
test_bounded(void **state)
{
	static char ns[IQTAB_MAX + 1][32];
	struct iqtab t;
	int a = 0;

	(void)state;
	iqtab_init(&t);
	for (int i = 0; i <= IQTAB_MAX; i++)
		snprintf(ns[i], sizeof(ns[i]), "urn:n:%d", i);
	for (int i = 0; i < IQTAB_MAX; i++)
		assert_int_equal(
		    iqtab_add(&t, count_a, ns[i], "q", IQTAB_GET, &a), 0);
	assert_int_equal(
	    iqtab_add(&t, count_a, ns[IQTAB_MAX], "q", IQTAB_GET, &a), -1);
	assert_int_equal(t.n, IQTAB_MAX);
	assert_int_equal(
	    iqtab_dispatch(&t, ns[IQTAB_MAX - 1], "q", IQTAB_GET, NULL), 1);
	assert_int_equal(
	    iqtab_dispatch(&t, ns[IQTAB_MAX], "q", IQTAB_GET, NULL), 0);
	assert_int_equal(a, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dispatch),
	    cmocka_unit_test(test_unknown_and_wrong_type),
	    cmocka_unit_test(test_duplicates_refused),
	    cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
