/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * hmap.h - one intrusive hash map: chained buckets, a power of two of them,
 * doubled when the map holds as many nodes as buckets.  The caller embeds a
 * `struct hmap_node` in its object, owns the object's memory and the key,
 * and gets the object back with CONTAINER() (util/container.h).
 *
 * A node holds no hash (8 bytes less in each of the store's 100,000
 * records): the map asks its owner's `hash` function for a node's hash
 * when it grows or removes, and a look-up calls `eq` on each node of its
 * bucket (at most one node per bucket on average).
 *
 * The hash is FNV-1a (hmap_hash): small and stable across versions and
 * platforms, so the store can also use it for what is on disk.  It is not
 * keyed: a peer choosing keys can make chains long, so a map of keys from
 * the network must be bounded by its owner (the bot's per-JID limits are).
 */
#ifndef CERTWATCH_HMAP_H
#define CERTWATCH_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_node {
	struct hmap_node *next; /* chain; the map's own */
};

/* A node's hash, the one it was inserted with. */
typedef uint32_t (*hmap_hash_fn)(const struct hmap_node *n);

struct hmap {
	struct hmap_node **b; /* NULL until the first insert */
	size_t mask;	      /* buckets - 1 */
	size_t n;	      /* nodes */
	hmap_hash_fn hash;
};

#define HMAP_INIT(hash_fn)                                                     \
	{                                                                      \
		NULL, 0, 0, hash_fn                                            \
	}

/* FNV-1a over len bytes, and over a NUL-terminated string. */
uint32_t hmap_hash(const void *data, size_t len);
uint32_t hmap_hash_str(const char *s);

/* Whether node n holds `key` (the caller's kind of key). */
typedef int (*hmap_eq_fn)(const struct hmap_node *n, const void *key);

/* The first node in hash's bucket for which eq(node, key), or NULL. */
struct hmap_node *hmap_find(const struct hmap *m, uint32_t hash, hmap_eq_fn eq,
			    const void *key);

/*
 * Adds n (not in any map) under `hash` (what m->hash(n) will say);
 * duplicates are the caller's
 * business.  Grows the buckets when it can; if that allocation fails the
 * node still goes in (longer chains).  Returns 0, or -1 only when the map
 * has no buckets yet and none can be allocated (n is then not added).
 */
int hmap_insert(struct hmap *m, struct hmap_node *n, uint32_t hash);

/* Removes n, which must be in m.  Never shrinks or moves other nodes. */
void hmap_remove(struct hmap *m, struct hmap_node *n);

/* Frees the buckets (not the nodes: walk and free them first). */
void hmap_clear(struct hmap *m);

/*
 * Walking every node, in no particular order:
 *
 *	for (n = hmap_first(m, &it); n != NULL; n = hmap_next(&it))
 *
 * The node returned last may be removed (and freed) before hmap_next; no
 * node may be added during the walk (it may rehash).
 */
struct hmap_iter {
	const struct hmap *m;
	size_t i; /* the bucket of `next` */
	struct hmap_node *next;
};

struct hmap_node *hmap_first(const struct hmap *m, struct hmap_iter *it);
struct hmap_node *hmap_next(struct hmap_iter *it);

#endif
