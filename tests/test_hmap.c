/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_hmap.c - util/hmap.h: find, growth, colliding keys, removal while
 * walking, and the FNV-1a values the store's shards depend on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/container.h"
#include "util/hmap.h"

struct item {
	struct hmap_node h;
	unsigned key;
	int seen;
};

static uint32_t
hash_of(const struct hmap_node *n)
{
	unsigned k = CONTAINER(n, struct item, h)->key;

	return hmap_hash(&k, sizeof(k));
}

/* Hostile keys: every one under the same hash. */
static uint32_t
hash_42(const struct hmap_node *n)
{
	return 42;
}

static uint32_t
hash_97(const struct hmap_node *n)
{
	return CONTAINER(n, struct item, h)->key % 97;
}

static int
eq(const struct hmap_node *n, const void *key)
{
	return CONTAINER(n, struct item, h)->key == *(const unsigned *)key;
}

static struct item *
find(const struct hmap *m, unsigned key, uint32_t hash)
{
	struct hmap_node *n = hmap_find(m, hash, eq, &key);

	return n ? CONTAINER(n, struct item, h) : NULL;
}

/* The published FNV-1a 32-bit values: the store's shard of a record is
 * hash % STORE_NSHARDS, part of the on-disk layout (docs/store.md). */
static void
test_fnv(void **state)
{
	assert_int_equal(hmap_hash_str(""), 0x811c9dc5u);
	assert_int_equal(hmap_hash_str("a"), 0xe40c292cu);
	assert_int_equal(hmap_hash_str("foobar"), 0xbf9cf968u);
	assert_int_equal(hmap_hash("foobar", 6), 0xbf9cf968u);
	assert_int_equal(hmap_hash("a\0b", 3), hmap_hash("a\0b", 3));
	assert_int_not_equal(hmap_hash("a\0b", 3), hmap_hash("a\0c", 3));
}

static void
test_empty(void **state)
{
	struct hmap m = HMAP_INIT(hash_of);
	struct hmap_iter it;
	unsigned k = 1;

	assert_null(hmap_find(&m, 1, eq, &k));
	assert_null(hmap_first(&m, &it));
	assert_null(hmap_next(&it));
	hmap_clear(&m);
}

/* 100,000 nodes: the buckets double, every node stays findable, the walk
 * meets each once; then half are removed and the rest still found. */
static void
test_growth(void **state)
{
	enum { N = 100000 };
	struct item *it = calloc(N, sizeof(*it));
	struct hmap m = HMAP_INIT(hash_of);
	struct hmap_iter i;
	size_t walked = 0;

	assert_non_null(it);
	for (unsigned k = 0; k < N; k++) {
		it[k].key = k;
		assert_int_equal(
		    hmap_insert(&m, &it[k].h, hmap_hash(&k, sizeof(k))), 0);
	}
	assert_int_equal(m.n, N);
	assert_true(m.mask + 1 >= N); /* it grew */
	assert_true(((m.mask + 1) & m.mask) == 0);
	for (unsigned k = 0; k < N; k++)
		assert_ptr_equal(find(&m, k, hmap_hash(&k, sizeof(k))), &it[k]);
	unsigned absent = N + 7;
	assert_null(find(&m, absent, hmap_hash(&absent, sizeof(absent))));
	for (struct hmap_node *n = hmap_first(&m, &i); n; n = hmap_next(&i)) {
		struct item *x = CONTAINER(n, struct item, h);
		assert_int_equal(x->seen, 0);
		x->seen = 1;
		walked++;
	}
	assert_int_equal(walked, N);
	for (unsigned k = 0; k < N; k += 2)
		hmap_remove(&m, &it[k].h);
	assert_int_equal(m.n, N / 2);
	for (unsigned k = 0; k < N; k++)
		assert_ptr_equal(find(&m, k, hmap_hash(&k, sizeof(k))),
				 k % 2 ? &it[k] : NULL);
	hmap_clear(&m);
	free(it);
}

/* Hostile keys: every node under one hash (a chain as long as the map)
 * stays correct: found, removed from the middle, walked. */
static void
test_collisions(void **state)
{
	enum { N = 2000 };
	static struct item it[N];
	struct hmap m = HMAP_INIT(hash_42);
	struct hmap_iter i;
	size_t walked = 0;

	for (unsigned k = 0; k < N; k++) {
		it[k].key = k;
		it[k].seen = 0;
		assert_int_equal(hmap_insert(&m, &it[k].h, 42), 0);
	}
	for (unsigned k = 0; k < N; k++)
		assert_ptr_equal(find(&m, k, 42), &it[k]);
	hmap_remove(&m, &it[N / 2].h);
	hmap_remove(&m, &it[0].h);
	hmap_remove(&m, &it[N - 1].h);
	assert_null(find(&m, N / 2, 42));
	assert_ptr_equal(find(&m, N / 2 + 1, 42), &it[N / 2 + 1]);
	for (struct hmap_node *n = hmap_first(&m, &i); n; n = hmap_next(&i))
		walked++;
	assert_int_equal(walked, N - 3);
	hmap_clear(&m);
}

/* Removing (and freeing) the node just returned while walking, as an
 * owner freeing every object does; every node is visited once. */
static void
test_remove_while_walking(void **state)
{
	enum { N = 5000 };
	struct hmap m = HMAP_INIT(hash_97);
	struct hmap_iter i;
	size_t freed = 0, kept = 0;

	for (unsigned k = 0; k < N; k++) {
		struct item *x = calloc(1, sizeof(*x));
		assert_non_null(x);
		x->key = k;
		/* Few distinct hashes: chains of several nodes. */
		assert_int_equal(hmap_insert(&m, &x->h, k % 97), 0);
	}
	for (struct hmap_node *n = hmap_first(&m, &i); n; n = hmap_next(&i)) {
		struct item *x = CONTAINER(n, struct item, h);
		if (x->key % 3 == 0) {
			hmap_remove(&m, n);
			memset(x, 0xa5, sizeof(*x));
			free(x);
			freed++;
		}
	}
	assert_int_equal(m.n, N - freed);
	for (struct hmap_node *n = hmap_first(&m, &i); n; n = hmap_next(&i)) {
		struct item *x = CONTAINER(n, struct item, h);
		assert_int_not_equal(x->key % 3, 0);
		hmap_remove(&m, n);
		free(x);
		kept++;
	}
	assert_int_equal(freed + kept, N);
	assert_int_equal(m.n, 0);
	hmap_clear(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fnv),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_growth),
	    cmocka_unit_test(test_collisions),
	    cmocka_unit_test(test_remove_while_walking),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
