/* SPDX-License-Identifier: GPL-3.0-or-later */
/* hmap.c - the intrusive hash map of hmap.h. */
#include "util/hmap.h"

#include <stdlib.h>

#define HMAP_MIN_BUCKETS 16
/* Past this the table stops growing: chains get longer instead. */
#define HMAP_MAX_BUCKETS ((size_t)1 << 30)

uint32_t
hmap_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

uint32_t
hmap_hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

struct hmap_node *
hmap_find(const struct hmap *m, uint32_t hash, hmap_eq_fn eq, const void *key)
{
	if (m->b == NULL)
		return NULL;
	for (struct hmap_node *n = m->b[hash & m->mask]; n; n = n->next)
		if (eq(n, key))
			return n;
	return NULL;
}

/* Doubles the buckets; on failure leaves the map as it was. */
static void
grow(struct hmap *m)
{
	size_t nb = (m->mask + 1) * 2;
	struct hmap_node **b;

	if (nb > HMAP_MAX_BUCKETS || (b = calloc(nb, sizeof(*b))) == NULL)
		return;
	for (size_t i = 0; i <= m->mask; i++) {
		struct hmap_node *c = m->b[i], *next;
		for (; c != NULL; c = next) {
			size_t i2 = m->hash(c) & (nb - 1);
			next = c->next;
			c->next = b[i2];
			b[i2] = c;
		}
	}
	free(m->b);
	m->b = b;
	m->mask = nb - 1;
}

int
hmap_insert(struct hmap *m, struct hmap_node *n, uint32_t hash)
{
	if (m->b == NULL) {
		m->b = calloc(HMAP_MIN_BUCKETS, sizeof(*m->b));
		if (m->b == NULL)
			return -1;
		m->mask = HMAP_MIN_BUCKETS - 1;
	} else if (m->n >= m->mask + 1) {
		grow(m);
	}
	n->next = m->b[hash & m->mask];
	m->b[hash & m->mask] = n;
	m->n++;
	return 0;
}

void
hmap_remove(struct hmap *m, struct hmap_node *n)
{
	struct hmap_node **pp = &m->b[m->hash(n) & m->mask];

	while (*pp != n)
		pp = &(*pp)->next;
	*pp = n->next;
	n->next = NULL;
	m->n--;
}

void
hmap_clear(struct hmap *m)
{
	free(m->b);
	m->b = NULL;
	m->mask = 0;
	m->n = 0;
}

/* The first node from bucket i on, noting where the walk stands. */
static struct hmap_node *
from_bucket(struct hmap_iter *it, size_t i)
{
	const struct hmap *m = it->m;

	for (; m->b != NULL && i <= m->mask; i++)
		if (m->b[i] != NULL) {
			it->i = i;
			it->next = m->b[i]->next;
			return m->b[i];
		}
	it->i = i;
	it->next = NULL;
	return NULL;
}

struct hmap_node *
hmap_first(const struct hmap *m, struct hmap_iter *it)
{
	it->m = m;
	return from_bucket(it, 0);
}

struct hmap_node *
hmap_next(struct hmap_iter *it)
{
	struct hmap_node *n = it->next;

	if (n != NULL) {
		it->next = n->next;
		return n;
	}
	if (it->m->b == NULL || it->i > it->m->mask)
		return NULL;
	return from_bucket(it, it->i + 1);
}
