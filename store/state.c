/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * state.c - the store's in-memory model of domains: a hash table, one
 * allocation per domain for all its arrays and strings (packed, so that
 * 100,000 domains fit in well under 100 MB), interned words; every change
 * marks the shard that holds the changed record.  No I/O.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

#include "util/container.h"

/* FNV-1a: small, stable across versions and platforms (the shard of a
 * record is part of the on-disk layout, docs/store.md). */
uint32_t
store_hash(const char *s)
{
	return hmap_hash_str(s);
}

void
store_mark(struct store *st, unsigned shard)
{
	if (st->loading || st->shards[shard].dirty)
		return;
	st->shards[shard].dirty = 1;
	st->n_dirty++;
}

int
store_valid_name(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strlen(s);
	return n > 0 && n <= max;
}

/* Grows the array at *pp (a pointer to any object pointer; copied with
 * memcpy so that const-qualified view pointers can be grown too) of
 * `size`-byte elements to hold need, doubling. */
int
store_grow(void *pp, uint32_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap ? *cap : 2;
	void *p, *np;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	if (ncap > UINT32_MAX)
		return -ENOMEM;
	memcpy(&p, pp, sizeof(p));
	if ((np = realloc(p, ncap * size)) == NULL)
		return -ENOMEM;
	memcpy(pp, &np, sizeof(np));
	*cap = (uint32_t)ncap;
	return 0;
}

/* ---- hash tables with a dense array for iteration ---- */

/* A node's key: the name of its record (no pointer kept for it). */
const char *
store_node_key(const struct hnode *n)
{
	if (n->kind == NODE_DOMAIN)
		return CONTAINER(n, struct dom, h)->name;
	return CONTAINER(n, struct jid, h)->name;
}

static uint32_t
node_hash(const struct hmap_node *n)
{
	return store_hash(store_node_key(CONTAINER(n, struct hnode, hm)));
}

static int
node_eq(const struct hmap_node *n, const void *key)
{
	return strcmp(store_node_key(CONTAINER(n, struct hnode, hm)), key) == 0;
}

struct hnode *
store_htab_find(const struct htab *t, const char *key, uint32_t h)
{
	struct hmap_node *n = hmap_find(&t->map, h, node_eq, key);

	return n ? CONTAINER(n, struct hnode, hm) : NULL;
}

int
store_htab_insert(struct htab *t, struct hnode *n, uint32_t hash)
{
	t->map.hash = node_hash;
	if (t->n + 1 > t->cap_vec) {
		size_t ncap = t->cap_vec ? t->cap_vec * 2 : 64;
		struct hnode **nv = realloc(t->vec, ncap * sizeof(*nv));

		if (nv == NULL)
			return -ENOMEM;
		t->vec = nv;
		t->cap_vec = ncap;
	}
	if (hmap_insert(&t->map, &n->hm, hash) < 0)
		return -ENOMEM;
	n->idx = (uint32_t)t->n;
	t->vec[t->n++] = n;
	return 0;
}

void
store_htab_remove(struct htab *t, struct hnode *n)
{
	hmap_remove(&t->map, &n->hm);
	t->vec[n->idx] = t->vec[--t->n];
	t->vec[n->idx]->idx = n->idx;
}

void
store_shard_link(struct store *st, struct hnode *n)
{
	struct shard *s = &st->shards[n->shard];

	n->snext = s->head;
	s->head = n;
}

void
store_shard_unlink(struct store *st, struct hnode *n)
{
	struct hnode **pp = &st->shards[n->shard].head;

	while (*pp != n)
		pp = &(*pp)->snext;
	*pp = n->snext;
}

/* ---- words and text ---- */

/* A word: 1 to STORE_WORD_MAX letters, digits and "-_.+". */
int
store_word_ok(const char *w)
{
	size_t i;

	for (i = 0; w[i]; i++) {
		char c = w[i];

		if (i == STORE_WORD_MAX ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.' || c == '+'))
			return 0;
	}
	return i > 0;
}

const char *
store_word(struct store *st, const char *w, int *err)
{
	size_t i;

	*err = 0;
	if (w == NULL || *w == '\0')
		return NULL;
	if (!store_word_ok(w))
		goto bad;
	for (i = 0; i < st->n_words; i++)
		if (st->words[i][0] == w[0] && strcmp(st->words[i], w) == 0)
			return st->words[i];
	if (st->n_words == STORE_WORDS_MAX)
		goto bad;
	if ((st->words[st->n_words] = strdup(w)) == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	return st->words[st->n_words++];
bad:
	*err = -EINVAL;
	return NULL;
}

/* The length of s cut at STORE_TEXT_MAX bytes, not inside a UTF-8
 * sequence. */
size_t
store_text_len(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strnlen(s, STORE_TEXT_MAX + 1);
	if (n > STORE_TEXT_MAX) {
		n = STORE_TEXT_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	return n;
}

/* ---- domains ---- */

int
store_state_init(struct store *st)
{
	st->shards = calloc(STORE_NSHARDS, sizeof(*st->shards));
	return st->shards ? 0 : -ENOMEM;
}

struct dom *
store_dom_find(const struct store *st, const char *name)
{
	struct hnode *n = store_htab_find(&st->doms, name, store_hash(name));

	return n ? CONTAINER(n, struct dom, h) : NULL;
}

int
store_dom_create(struct store *st, const char *name, struct dom **out)
{
	size_t len = strlen(name);
	struct dom *d;

	if ((d = calloc(1, sizeof(*d) + len + 1)) == NULL)
		return -ENOMEM;
	memcpy(d->name, name, len + 1);
	d->pub.name = d->name;
	d->words = st->words;
	uint32_t hash = store_hash(name);
	d->h.shard = (uint16_t)(hash % STORE_NSHARDS);
	d->h.kind = NODE_DOMAIN;
	if (store_htab_insert(&st->doms, &d->h, hash) < 0) {
		free(d);
		return -ENOMEM;
	}
	store_shard_link(st, &d->h);
	store_mark(st, d->h.shard);
	*out = d;
	return 0;
}

void
store_dom_destroy(struct store *st, struct dom *d)
{
	size_t i;

	for (i = 0; i < d->pub.n_chat; i++)
		store_jid_unlink(st, store_jid_of_name(d->pub.chat[i]), &d->pub,
				 0);
	st->n_chat -= d->pub.n_chat;
	store_pubsub_unlink_all(st, &d->pub, d->pub.pubsub, d->pub.n_pubsub);
	st->n_pubsub -= d->pub.n_pubsub;
	store_mark(st, d->h.shard);
	store_htab_remove(&st->doms, &d->h);
	store_shard_unlink(st, &d->h);
	store_cont_free(d);
	free(d->blob);
	free(d->ct);
	free(d);
}

/* ---- packing a domain's arrays and strings into one allocation ---- */

/*
 * The blob: the keys (views, so that store_domain_touch() can refresh
 * them in place), the packed history and endpoints (store_int.h), the
 * pubsub subscriptions and chat JID names, then the strings.  Every array
 * has 8-byte aligned elements of a size that keeps the next one aligned.
 */
struct placer {
	const struct store *st;
	char *base; /* NULL: only measure */
	size_t off;
	int bad; /* a word that is not one of st's */
	struct {
		const char *in;
		uint32_t at;
	} seen[2 * STORE_ENDPOINTS_MAX + STORE_KEYS_MAX];
	size_t n_seen;
};

/* Copies s (len bytes, then a NUL) to the blob; its offset, or
 * STORE_OFF_NONE for no string (NULL or empty).  store_dom_pack() keeps
 * the blob under STORE_OFF_NONE bytes, so an offset never collides. */
static uint32_t
put(struct placer *p, const char *s, size_t len)
{
	uint32_t at = (uint32_t)p->off;

	if (s == NULL || len == 0)
		return STORE_OFF_NONE;
	if (p->base) {
		memcpy(p->base + p->off, s, len);
		p->base[p->off + len] = '\0';
	}
	p->off += len + 1;
	return at;
}

/* Hosts and keys repeat across a domain's endpoints and keys: one copy. */
static uint32_t
put_shared(struct placer *p, const char *s)
{
	uint32_t at;
	size_t i;

	if (s == NULL || *s == '\0')
		return STORE_OFF_NONE;
	for (i = 0; i < p->n_seen; i++)
		if (strcmp(p->seen[i].in, s) == 0)
			return p->seen[i].at;
	at = put(p, s, strlen(s));
	if (p->n_seen < sizeof(p->seen) / sizeof(p->seen[0])) {
		p->seen[p->n_seen].in = s;
		p->seen[p->n_seen++].at = at;
	}
	return at;
}

/* The string at offset off of a blob (put()'s result), or NULL. */
static const char *
str_at(const void *blob, uint32_t off)
{
	return off == STORE_OFF_NONE ? NULL : (const char *)blob + off;
}

static void *
put_array(struct placer *p, size_t n, size_t size)
{
	void *at = p->base && n ? p->base + p->off : NULL;

	p->off += n * size;
	return at;
}

/* The index of an interned word w in st->words, STORE_WORD_NONE for
 * NULL; a word that is not the store's own sets p->bad. */
static uint8_t
word_index(struct placer *p, const char *w)
{
	size_t i;

	if (w == NULL)
		return STORE_WORD_NONE;
	for (i = 0; i < p->st->n_words; i++)
		if (p->st->words[i] == w)
			return (uint8_t)i;
	p->bad = 1;
	return STORE_WORD_NONE;
}

/* Lays c out at p->base (or measures it); fills v when placing. */
static void
place(struct placer *p, const struct store_content *c, struct store_domain *v)
{
	struct store_key *k = put_array(p, c->n_keys, sizeof(*k));
	struct packed_change *h = put_array(p, c->n_hist, sizeof(*h));
	struct packed_endpoint *e = put_array(p, c->n_eps, sizeof(*e));
	struct store_pubsub *ps = put_array(p, c->n_ps, sizeof(*ps));
	const char **chat = put_array(p, c->n_chat, sizeof(*chat));
	size_t i;

	for (i = 0; i < c->n_eps; i++) {
		const struct store_endpoint *in = &c->eps[i];
		/* One statement each: the order of the strings in the blob
		 * must be the same when measuring and when placing. */
		uint32_t host = put_shared(p, in->host);
		uint32_t spki = put_shared(p, in->spki);
		uint32_t error = put(p, in->error, store_text_len(in->error));
		uint8_t service = word_index(p, in->service),
			verdict = word_index(p, in->verdict);

		if (e)
			e[i] = (struct packed_endpoint){
			    service, verdict, (uint16_t)in->port, host,
			    spki,    error,   in->fail_rounds,	  in->flags};
	}
	for (i = 0; i < c->n_keys; i++) {
		uint32_t spki = put_shared(p, c->keys[i].spki);

		if (k)
			k[i] = (struct store_key){str_at(p->base, spki),
						  c->keys[i].first_seen,
						  c->keys[i].last_seen};
	}
	for (i = 0; i < c->n_hist; i++) {
		const struct store_change *in = &c->hist[i];
		uint32_t note = put(p, in->note, store_text_len(in->note));
		uint8_t from = word_index(p, in->from),
			to = word_index(p, in->to);

		if (h)
			h[i] = (struct packed_change){in->time, from, to, note};
	}
	for (i = 0; i < c->n_ps; i++) {
		const char *sid = c->ps[i].subid;
		uint32_t at = put(p, sid, sid ? strlen(sid) : 0);

		if (ps)
			ps[i] = (struct store_pubsub){c->ps[i].jid,
						      str_at(p->base, at)};
	}
	if (chat && c->n_chat)
		memcpy(chat, c->chat, c->n_chat * sizeof(*chat));
	/* The `defence` line (version 3), after the rest. */
	uint32_t defence = put(p, c->defence, store_text_len(c->defence));
	if (v == NULL)
		return;
	v->defence = str_at(p->base, defence);
	v->n_endpoints = c->n_eps;
	v->keys = k;
	v->n_keys = c->n_keys;
	v->n_history = c->n_hist;
	v->pubsub = ps;
	v->n_pubsub = c->n_ps;
	v->chat = chat;
	v->n_chat = c->n_chat;
}

/*
 * Replaces every array of d by copies of c in one new allocation.  c may
 * point into d's current allocation (it is freed after the copy).  Words
 * and JID names in c must be the store's own (interned, JID records).
 * 0, -EINVAL (a word that is not the store's), -ENOMEM (d unchanged).
 */
int
store_dom_pack(struct store *st, struct dom *d, const struct store_content *c)
{
	struct placer *p = calloc(1, sizeof(*p));
	void *blob = NULL;
	size_t size;

	if (p == NULL)
		return -ENOMEM;
	p->st = st;
	place(p, c, NULL);
	size = p->off;
	if (p->bad || size >= STORE_OFF_NONE ||
	    (size > 0 && (blob = malloc(size)) == NULL)) {
		int r = p->bad ? -EINVAL : -ENOMEM;

		free(p);
		return r;
	}
	memset(p, 0, sizeof(*p));
	p->st = st;
	p->base = blob;
	place(p, c, &d->pub);
	free(p);
	free(d->blob);
	d->blob = blob;
	store_mark(st, d->h.shard);
	return 0;
}

/* ---- reading the packed endpoints and history ---- */

static const char *
blob_word(const struct dom *d, uint8_t i)
{
	return i == STORE_WORD_NONE ? NULL : d->words[i];
}

/* Where d's packed history and endpoints start (see place()); only for a
 * domain that has some, so d->blob is not NULL. */
static const struct packed_change *
dom_hist(const struct dom *d)
{
	return (const void *)((const char *)d->blob +
			      d->pub.n_keys * sizeof(struct store_key));
}

static const struct packed_endpoint *
dom_eps(const struct dom *d)
{
	return (const void *)(dom_hist(d) + d->pub.n_history);
}

static void
unpack_endpoint(const struct dom *d, const struct packed_endpoint *pe,
		struct store_endpoint *out)
{
	out->service = blob_word(d, pe->service);
	out->host = str_at(d->blob, pe->host);
	out->port = pe->port;
	out->verdict = blob_word(d, pe->verdict);
	out->spki = str_at(d->blob, pe->spki);
	out->error = str_at(d->blob, pe->error);
	out->fail_rounds = pe->fail_rounds;
	out->flags = pe->flags;
}

static void
unpack_change(const struct dom *d, const struct packed_change *pc,
	      struct store_change *out)
{
	out->time = pc->time;
	out->from = blob_word(d, pc->from);
	out->to = blob_word(d, pc->to);
	out->note = str_at(d->blob, pc->note);
}

void
store_domain_endpoint(const struct store_domain *v, size_t i,
		      struct store_endpoint *out)
{
	const struct dom *d = CONTAINER(v, struct dom, pub);

	if (i >= v->n_endpoints) {
		*out = (struct store_endpoint){0};
		return;
	}
	unpack_endpoint(d, &dom_eps(d)[i], out);
}

void
store_domain_change(const struct store_domain *v, size_t i,
		    struct store_change *out)
{
	const struct dom *d = CONTAINER(v, struct dom, pub);

	if (i >= v->n_history) {
		*out = (struct store_change){0};
		return;
	}
	unpack_change(d, &dom_hist(d)[i], out);
}

/* d's current arrays as a content (endpoints and history unpacked into
 * u), to be changed and packed again. */
void
store_dom_content(const struct dom *d, struct store_content *c,
		  struct store_unpacked *u)
{
	size_t i;

	for (i = 0; i < d->pub.n_endpoints; i++)
		unpack_endpoint(d, &dom_eps(d)[i], &u->eps[i]);
	for (i = 0; i < d->pub.n_history; i++)
		unpack_change(d, &dom_hist(d)[i], &u->hist[i]);
	c->eps = u->eps;
	c->n_eps = d->pub.n_endpoints;
	c->keys = d->pub.keys;
	c->n_keys = d->pub.n_keys;
	c->hist = u->hist;
	c->n_hist = d->pub.n_history;
	c->chat = d->pub.chat;
	c->n_chat = d->pub.n_chat;
	c->ps = d->pub.pubsub;
	c->n_ps = d->pub.n_pubsub;
	c->defence = d->pub.defence;
}

/* Validates endpoints and copies them into out with interned words. */
static int
endpoints_check(struct store *st, const struct store_endpoint *eps, size_t n,
		struct store_endpoint *out)
{
	size_t i;
	int err;

	if (n > STORE_ENDPOINTS_MAX || (n > 0 && eps == NULL))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		out[i] = eps[i];
		out[i].service = store_word(st, eps[i].service, &err);
		if (err || out[i].service == NULL)
			return err ? err : -EINVAL;
		out[i].verdict = store_word(st, eps[i].verdict, &err);
		if (err)
			return err;
		if (!store_valid_name(eps[i].host, STORE_NAME_MAX) ||
		    eps[i].port > 65535)
			return -EINVAL;
		if (eps[i].spki && strlen(eps[i].spki) > STORE_NAME_MAX)
			return -EINVAL;
	}
	return 0;
}

/* Adds (or refreshes) the key spki seen at `when` in keys[*n]; past
 * STORE_KEYS_MAX the least recently seen goes. */
void
store_key_merge(struct store_key *keys, size_t *n, const char *spki,
		int64_t first, int64_t last)
{
	size_t i, old = 0;

	for (i = 0; i < *n; i++)
		if (strcmp(keys[i].spki, spki) == 0) {
			if (last > keys[i].last_seen)
				keys[i].last_seen = last;
			if (first < keys[i].first_seen)
				keys[i].first_seen = first;
			return;
		}
	if (*n == STORE_KEYS_MAX) {
		for (i = 1; i < *n; i++)
			if (keys[i].last_seen < keys[old].last_seen)
				old = i;
		memmove(&keys[old], &keys[old + 1],
			(*n - old - 1) * sizeof(*keys));
		(*n)--;
	}
	keys[*n] = (struct store_key){spki, first, last};
	(*n)++;
}

/* ---- the public functions on domains ---- */

const struct store_domain *
store_domain_get(const struct store *st, const char *name)
{
	struct dom *d = name ? store_dom_find(st, name) : NULL;

	return d ? &d->pub : NULL;
}

/* The domain, created when missing: 1 created, 0 found, -errno. */
int
store_dom_get(struct store *st, const char *name, struct dom **out)
{
	if (!store_valid_name(name, STORE_NAME_MAX))
		return -EINVAL;
	if ((*out = store_dom_find(st, name)) != NULL)
		return 0;
	return store_dom_create(st, name, out) < 0 ? -ENOMEM : 1;
}

int
store_domain_add(struct store *st, const char *name)
{
	struct dom *d;

	return store_dom_get(st, name, &d);
}

int
store_domain_remove(struct store *st, const char *name)
{
	struct dom *d = name ? store_dom_find(st, name) : NULL;

	if (d == NULL)
		return 0;
	store_dom_destroy(st, d);
	return 1;
}

int
store_domain_record(struct store *st, const char *name,
		    const struct store_update *u)
{
	struct store_endpoint eps[STORE_ENDPOINTS_MAX];
	struct store_key keys[STORE_KEYS_MAX];
	struct store_change added;
	struct store_unpacked old;
	struct store_content c;
	const char *verdict, *alert;
	struct dom *d;
	size_t i;
	int r;

	verdict = store_word(st, u->verdict, &r);
	if (r)
		return r;
	alert = store_word(st, u->alert, &r);
	if (r)
		return r;
	if ((r = endpoints_check(st, u->endpoints, u->n_endpoints, eps)) < 0)
		return r;
	if (u->change) {
		added = *u->change;
		added.from = store_word(st, u->change->from, &r);
		if (r)
			return r;
		added.to = store_word(st, u->change->to, &r);
		if (r)
			return r;
	}
	if ((r = store_dom_get(st, name, &d)) < 0)
		return r;
	store_dom_content(d, &c, &old);
	c.eps = eps;
	c.n_eps = u->n_endpoints;
	if (c.n_keys)
		memcpy(keys, c.keys, c.n_keys * sizeof(*keys));
	for (i = 0; i < u->n_endpoints; i++)
		if (eps[i].spki && *eps[i].spki)
			store_key_merge(keys, &c.n_keys, eps[i].spki,
					u->checked, u->checked);
	c.keys = keys;
	if (u->change) {
		/* c.hist is old.hist: make room there, the oldest goes. */
		if (c.n_hist == STORE_HISTORY_MAX) {
			memmove(&old.hist[0], &old.hist[1],
				(c.n_hist - 1) * sizeof(old.hist[0]));
			c.n_hist--;
		}
		old.hist[c.n_hist++] = added;
	}
	if ((r = store_dom_pack(st, d, &c)) < 0)
		return r;
	d->pub.verdict = verdict;
	d->pub.alert = alert;
	d->pub.unreachable_rounds = u->unreachable_rounds;
	d->pub.last_check = u->checked;
	d->pub.next_due = u->next_due;
	if (u->change)
		d->pub.last_change = u->change->time;
	return 0;
}

int
store_domain_set_due(struct store *st, const char *name, int64_t next_due)
{
	struct dom *d = name ? store_dom_find(st, name) : NULL;

	if (d == NULL)
		return -EINVAL;
	if (d->pub.next_due != next_due) {
		d->pub.next_due = next_due;
		store_mark(st, d->h.shard);
	}
	return 0;
}

int
store_domain_touch(struct store *st, const char *name, int64_t checked,
		   int64_t next_due, const char *const *spkis, size_t n)
{
	struct dom *d = name ? store_dom_find(st, name) : NULL;
	struct store_key *keys;
	size_t i, j;

	if (d == NULL || (n > 0 && spkis == NULL))
		return -EINVAL;
	/* The keys live in d's blob, which the store owns and the writer
	 * never reads (it gets formatted copies), so they can be refreshed
	 * in place; all are looked up first so that a miss changes nothing. */
	keys = (struct store_key *)(uintptr_t)d->pub.keys;
	for (i = 0; i < n; i++) {
		if (spkis[i] == NULL || *spkis[i] == '\0')
			continue;
		for (j = 0; j < d->pub.n_keys; j++)
			if (strcmp(keys[j].spki, spkis[i]) == 0)
				break;
		if (j == d->pub.n_keys)
			return -ENOENT;
	}
	for (i = 0; i < n; i++) {
		if (spkis[i] == NULL || *spkis[i] == '\0')
			continue;
		for (j = 0; j < d->pub.n_keys; j++)
			if (strcmp(keys[j].spki, spkis[i]) == 0 &&
			    checked > keys[j].last_seen)
				keys[j].last_seen = checked;
	}
	d->pub.last_check = checked;
	d->pub.next_due = next_due;
	return 0;
}

const struct store_domain *
store_domain_next(const struct store *st, size_t *cursor)
{
	if (*cursor >= st->doms.n)
		return NULL;
	return &CONTAINER(st->doms.vec[(*cursor)++], struct dom, h)->pub;
}

void
store_state_free(struct store *st)
{
	size_t i;

	st->loading = 1;
	while (st->doms.n > 0)
		store_dom_destroy(
		    st, CONTAINER(st->doms.vec[st->doms.n - 1], struct dom, h));
	store_jids_free(st);
	hmap_clear(&st->doms.map);
	free(st->doms.vec);
	hmap_clear(&st->jids.map);
	free(st->jids.vec);
	for (i = 0; i < st->n_words; i++)
		free(st->words[i]);
	free(st->shards);
}
