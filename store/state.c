/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * state.c - the store's in-memory model: domains and JIDs in hash tables,
 * their subscriptions linked both ways, words interned; every change marks
 * the shard that holds the changed record.  No I/O.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

#define CONTAINER(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

/* FNV-1a: small, stable across versions and platforms (the shard of a
 * record is part of the on-disk layout, docs/store.md). */
uint32_t
store_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
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
static int
grow(void *pp, uint32_t *cap, size_t need, size_t size)
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

static struct hnode *
htab_find(const struct htab *t, const char *key, uint32_t h)
{
	struct hnode *n;

	if (t->b == NULL)
		return NULL;
	for (n = t->b[h & t->mask]; n != NULL; n = n->next)
		if (n->hash == h && strcmp(n->key, key) == 0)
			return n;
	return NULL;
}

static int
htab_insert(struct htab *t, struct hnode *n)
{
	size_t i;

	if (t->n + 1 > t->cap_vec) {
		size_t ncap = t->cap_vec ? t->cap_vec * 2 : 64;
		struct hnode **nv = realloc(t->vec, ncap * sizeof(*nv));

		if (nv == NULL)
			return -ENOMEM;
		t->vec = nv;
		t->cap_vec = ncap;
	}
	if (t->b == NULL || t->n + 1 > t->mask + 1) {
		size_t nb = t->b ? (t->mask + 1) * 2 : 64;
		struct hnode **b = calloc(nb, sizeof(*b));

		if (b == NULL)
			return -ENOMEM;
		for (i = 0; t->b && i <= t->mask; i++) {
			struct hnode *c = t->b[i], *next;

			for (; c; c = next) {
				next = c->next;
				c->next = b[c->hash & (nb - 1)];
				b[c->hash & (nb - 1)] = c;
			}
		}
		free(t->b);
		t->b = b;
		t->mask = nb - 1;
	}
	n->next = t->b[n->hash & t->mask];
	t->b[n->hash & t->mask] = n;
	n->idx = (uint32_t)t->n;
	t->vec[t->n++] = n;
	return 0;
}

static void
htab_remove(struct htab *t, struct hnode *n)
{
	struct hnode **pp = &t->b[n->hash & t->mask];

	while (*pp != n)
		pp = &(*pp)->next;
	*pp = n->next;
	t->vec[n->idx] = t->vec[--t->n];
	t->vec[n->idx]->idx = n->idx;
}

static void
shard_link(struct store *st, struct hnode *n)
{
	struct shard *s = &st->shards[n->shard];

	n->snext = s->head;
	s->head = n;
}

static void
shard_unlink(struct store *st, struct hnode *n)
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
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '+'))
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
static size_t
text_len(const char *s)
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

static char *
text_dup(const char *s, int *err)
{
	size_t n = text_len(s);
	char *p;

	*err = 0;
	if (n == 0)
		return NULL;
	if ((p = malloc(n + 1)) == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* ---- records ---- */

int
store_state_init(struct store *st)
{
	st->shards = calloc(STORE_NSHARDS, sizeof(*st->shards));
	return st->shards ? 0 : -ENOMEM;
}

struct dom *
store_dom_find(const struct store *st, const char *name)
{
	struct hnode *n = htab_find(&st->doms, name, store_hash(name));

	return n ? CONTAINER(n, struct dom, h) : NULL;
}

struct jid *
store_jid_find(const struct store *st, const char *name)
{
	struct hnode *n = htab_find(&st->jids, name, store_hash(name));

	return n ? CONTAINER(n, struct jid, h) : NULL;
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
	d->h.key = d->name;
	d->h.hash = store_hash(name);
	d->h.shard = (uint16_t)(d->h.hash % STORE_NSHARDS);
	d->h.kind = NODE_DOMAIN;
	if (htab_insert(&st->doms, &d->h) < 0) {
		free(d);
		return -ENOMEM;
	}
	shard_link(st, &d->h);
	store_mark(st, d->h.shard);
	*out = d;
	return 0;
}

static int
jid_get(struct store *st, const char *name, struct jid **out)
{
	size_t len;
	struct jid *j;

	if ((*out = store_jid_find(st, name)) != NULL)
		return 0;
	len = strlen(name);
	if ((j = calloc(1, sizeof(*j) + len + 1)) == NULL)
		return -ENOMEM;
	memcpy(j->name, name, len + 1);
	j->pub.jid = j->name;
	j->h.key = j->name;
	j->h.hash = store_hash(name);
	j->h.shard = (uint16_t)(j->h.hash % STORE_NSHARDS);
	j->h.kind = NODE_JID;
	if (htab_insert(&st->jids, &j->h) < 0) {
		free(j);
		return -ENOMEM;
	}
	shard_link(st, &j->h);
	*out = j;
	return 0;
}

/* Frees a JID record that holds nothing any more. */
static void
jid_release(struct store *st, struct jid *j)
{
	if (j->pub.n_domains || j->pub.n_pubsub || j->pub.presence || j->pub.flags)
		return;
	htab_remove(&st->jids, &j->h);
	shard_unlink(st, &j->h);
	free((void *)j->pub.domains);
	free((void *)j->pub.pubsub);
	free(j);
}

static struct jid *
jid_of_name(const char *name)
{
	return CONTAINER(name, struct jid, name);
}

/* Removes d from one of a JID's arrays of domains, keeping the order. */
static void
ptr_remove(const struct store_domain **arr, size_t *n, const struct store_domain *d)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (arr[i] == d) {
			memmove(&arr[i], &arr[i + 1], (*n - i - 1) * sizeof(*arr));
			(*n)--;
			return;
		}
}

void
store_dom_destroy(struct store *st, struct dom *d)
{
	size_t i;

	for (i = 0; i < d->pub.n_chat; i++) {
		struct jid *j = jid_of_name(d->pub.chat[i]);

		ptr_remove((const struct store_domain **)j->pub.domains, &j->pub.n_domains, &d->pub);
		jid_release(st, j);
	}
	st->n_chat -= d->pub.n_chat;
	for (i = 0; i < d->pub.n_pubsub; i++) {
		struct jid *j = jid_of_name(d->pub.pubsub[i].jid);

		ptr_remove((const struct store_domain **)j->pub.pubsub, &j->pub.n_pubsub, &d->pub);
		free((void *)d->pub.pubsub[i].subid);
		jid_release(st, j);
	}
	st->n_pubsub -= d->pub.n_pubsub;
	for (i = 0; i < d->pub.n_keys; i++)
		free((void *)d->pub.keys[i].spki);
	for (i = 0; i < d->pub.n_history; i++)
		free((void *)d->pub.history[i].note);
	store_mark(st, d->h.shard);
	htab_remove(&st->doms, &d->h);
	shard_unlink(st, &d->h);
	free((void *)d->pub.endpoints);
	free((void *)d->pub.keys);
	free((void *)d->pub.history);
	free((void *)d->pub.chat);
	free((void *)d->pub.pubsub);
	free(d);
}

/* Finds s among the strings already copied into an endpoint block. */
static const char *
block_find(const struct store_endpoint *eps, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (eps[i].host && strcmp(eps[i].host, s) == 0)
			return eps[i].host;
		if (eps[i].spki && strcmp(eps[i].spki, s) == 0)
			return eps[i].spki;
		if (eps[i].error && strcmp(eps[i].error, s) == 0)
			return eps[i].error;
	}
	return NULL;
}

static const char *
block_put(struct store_endpoint *eps, size_t done, char **pos, const char *s, size_t len)
{
	const char *old;
	char *p;

	if (s == NULL || len == 0)
		return NULL;
	if ((old = block_find(eps, done, s)) != NULL && strlen(old) == len)
		return old;
	p = *pos;
	memcpy(p, s, len);
	p[len] = '\0';
	*pos += len + 1;
	return p;
}

/* Validates endpoints and interns their words into svc[] and ver[]. */
static int
endpoints_check(struct store *st, const struct store_endpoint *eps, size_t n,
		const char **svc, const char **ver)
{
	size_t i;
	int err;

	if (n > STORE_ENDPOINTS_MAX || (n > 0 && eps == NULL))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		svc[i] = store_word(st, eps[i].service, &err);
		if (err || svc[i] == NULL)
			return err ? err : -EINVAL;
		ver[i] = store_word(st, eps[i].verdict, &err);
		if (err)
			return err;
		if (!store_valid_name(eps[i].host, STORE_NAME_MAX) || eps[i].port > 65535)
			return -EINVAL;
		if (eps[i].spki && strlen(eps[i].spki) > STORE_NAME_MAX)
			return -EINVAL;
	}
	return 0;
}

/* Replaces the endpoints with copies of eps in one allocation: the
 * structs, then each distinct string once (the four endpoints of a domain
 * usually share one host and one key). */
int
store_set_endpoints(struct store *st, struct dom *d, const struct store_endpoint *eps, size_t n)
{
	const char *svc[STORE_ENDPOINTS_MAX], *ver[STORE_ENDPOINTS_MAX];
	struct store_endpoint *blk = NULL;
	size_t i, bytes = 0;
	char *pos;
	int err;

	if ((err = endpoints_check(st, eps, n, svc, ver)) < 0)
		return err;
	for (i = 0; i < n; i++) {
		bytes += strlen(eps[i].host) + 1 + text_len(eps[i].error) + 1;
		bytes += eps[i].spki ? strlen(eps[i].spki) + 1 : 0;
	}
	if (n > 0) {
		if ((blk = malloc(n * sizeof(*blk) + bytes)) == NULL)
			return -ENOMEM;
		pos = (char *)(blk + n);
		for (i = 0; i < n; i++) {
			const char *spki = eps[i].spki;

			blk[i].service = svc[i];
			blk[i].verdict = ver[i];
			blk[i].port = eps[i].port;
			blk[i].host = block_put(blk, i, &pos, eps[i].host, strlen(eps[i].host));
			blk[i].spki = block_put(blk, i, &pos, spki, spki ? strlen(spki) : 0);
			blk[i].error = block_put(blk, i, &pos, eps[i].error, text_len(eps[i].error));
		}
	}
	free((void *)d->pub.endpoints);
	d->pub.endpoints = blk;
	d->pub.n_endpoints = n;
	store_mark(st, d->h.shard);
	return 0;
}

/* Records a key seen; past STORE_KEYS_MAX the least recently seen goes. */
int
store_key_put(struct dom *d, const char *spki, int64_t first, int64_t last)
{
	struct store_key *k = (struct store_key *)d->pub.keys;
	size_t i, n = d->pub.n_keys, old = 0;
	char *s;

	for (i = 0; i < n; i++)
		if (strcmp(k[i].spki, spki) == 0) {
			if (last > k[i].last_seen)
				k[i].last_seen = last;
			if (first < k[i].first_seen)
				k[i].first_seen = first;
			return 0;
		}
	if ((s = strdup(spki)) == NULL)
		return -ENOMEM;
	if (n == STORE_KEYS_MAX) {
		for (i = 1; i < n; i++)
			if (k[i].last_seen < k[old].last_seen)
				old = i;
		free((void *)k[old].spki);
		memmove(&k[old], &k[old + 1], (n - old - 1) * sizeof(*k));
		n--;
	} else if (grow(&k, &d->cap_keys, n + 1, sizeof(*k)) < 0) {
		free(s);
		return -ENOMEM;
	}
	k[n].spki = s;
	k[n].first_seen = first;
	k[n].last_seen = last;
	d->pub.keys = k;
	d->pub.n_keys = n + 1;
	return 0;
}

/* Appends a history entry; past STORE_HISTORY_MAX the oldest goes. */
int
store_history_put(struct store *st, struct dom *d, const struct store_change *c)
{
	struct store_change *h = (struct store_change *)d->pub.history;
	size_t n = d->pub.n_history;
	const char *from, *to;
	char *note;
	int err;

	from = store_word(st, c->from, &err);
	if (err)
		return err;
	to = store_word(st, c->to, &err);
	if (err)
		return err;
	note = text_dup(c->note, &err);
	if (err)
		return err;
	if (n == STORE_HISTORY_MAX) {
		free((void *)h[0].note);
		memmove(&h[0], &h[1], (n - 1) * sizeof(*h));
		n--;
	} else if (grow(&h, &d->cap_hist, n + 1, sizeof(*h)) < 0) {
		free(note);
		return -ENOMEM;
	}
	h[n].time = c->time;
	h[n].from = from;
	h[n].to = to;
	h[n].note = note;
	d->pub.history = h;
	d->pub.n_history = n + 1;
	return 0;
}

/* Sets a JID's presence word and flags (internal: already validated). */
int
store_jid_set(struct store *st, const char *name, const char *presence, unsigned flags)
{
	struct jid *j;
	int r;

	if ((r = jid_get(st, name, &j)) < 0)
		return r;
	if ((j->pub.presence != NULL) != (presence != NULL))
		st->n_presence += presence ? 1 : (size_t)-1;
	if (j->pub.presence != presence || j->pub.flags != flags)
		store_mark(st, j->h.shard);
	j->pub.presence = presence;
	j->pub.flags = flags;
	jid_release(st, j);
	return 0;
}

void
store_state_free(struct store *st)
{
	size_t i;

	st->loading = 1;
	while (st->doms.n > 0)
		store_dom_destroy(st, CONTAINER(st->doms.vec[st->doms.n - 1], struct dom, h));
	while (st->jids.n > 0) {
		struct jid *j = CONTAINER(st->jids.vec[st->jids.n - 1], struct jid, h);

		j->pub.presence = NULL;
		j->pub.flags = 0;
		jid_release(st, j);
	}
	free(st->doms.b);
	free(st->doms.vec);
	free(st->jids.b);
	free(st->jids.vec);
	for (i = 0; i < st->n_words; i++)
		free(st->words[i]);
	free(st->shards);
}

/* ---- the public functions on the model ---- */

const struct store_domain *
store_domain_get(const struct store *st, const char *name)
{
	struct dom *d = name ? store_dom_find(st, name) : NULL;

	return d ? &d->pub : NULL;
}

static int
dom_get(struct store *st, const char *name, struct dom **out)
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

	return dom_get(st, name, &d);
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
store_domain_record(struct store *st, const char *name, const struct store_update *u)
{
	const char *svc[STORE_ENDPOINTS_MAX], *ver[STORE_ENDPOINTS_MAX];
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
	if ((r = endpoints_check(st, u->endpoints, u->n_endpoints, svc, ver)) < 0)
		return r;
	if ((r = dom_get(st, name, &d)) < 0)
		return r;
	/* Room for every new key first, so that nothing fails half-way. */
	if (grow(&d->pub.keys, &d->cap_keys, d->pub.n_keys + u->n_endpoints, sizeof(struct store_key)) < 0)
		return -ENOMEM;
	if ((r = store_set_endpoints(st, d, u->endpoints, u->n_endpoints)) < 0)
		return r;
	if (u->change && (r = store_history_put(st, d, u->change)) < 0)
		return r;
	for (i = 0; i < u->n_endpoints; i++)
		if (u->endpoints[i].spki && *u->endpoints[i].spki &&
		    (r = store_key_put(d, u->endpoints[i].spki, u->checked, u->checked)) < 0)
			return r;
	d->pub.verdict = verdict;
	d->pub.alert = alert;
	d->pub.unreachable_rounds = u->unreachable_rounds;
	d->pub.last_check = u->checked;
	d->pub.next_due = u->next_due;
	if (u->change)
		d->pub.last_change = u->change->time;
	store_mark(st, d->h.shard);
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

const struct store_domain *
store_domain_next(const struct store *st, size_t *cursor)
{
	if (*cursor >= st->doms.n)
		return NULL;
	return &CONTAINER(st->doms.vec[(*cursor)++], struct dom, h)->pub;
}

static int chat_link(struct store *st, struct dom *d, struct jid *j);

int
store_sub_add(struct store *st, const char *domain, const char *jid)
{
	struct dom *d;
	struct jid *j;
	size_t i;
	int r;

	if (!store_valid_name(jid, STORE_JID_MAX))
		return -EINVAL;
	if ((r = dom_get(st, domain, &d)) < 0)
		return r;
	if ((r = jid_get(st, jid, &j)) < 0)
		return r;
	/* Scan the shorter of the two lists: a popular domain has many
	 * subscribers, a JID few domains. */
	if (j->pub.n_domains < d->pub.n_chat) {
		for (i = 0; i < j->pub.n_domains; i++)
			if (j->pub.domains[i] == &d->pub)
				return 0;
	} else {
		for (i = 0; i < d->pub.n_chat; i++)
			if (d->pub.chat[i] == j->name)
				return 0;
	}
	return chat_link(st, d, j);
}

/* Links a subscription known to be new. */
static int
chat_link(struct store *st, struct dom *d, struct jid *j)
{
	if (grow(&d->pub.chat, &d->cap_chat, d->pub.n_chat + 1, sizeof(char *)) < 0 ||
	    grow(&j->pub.domains, &j->cap_dom, j->pub.n_domains + 1, sizeof(void *)) < 0) {
		jid_release(st, j);
		return -ENOMEM;
	}
	((const char **)d->pub.chat)[d->pub.n_chat++] = j->name;
	((const struct store_domain **)j->pub.domains)[j->pub.n_domains++] = &d->pub;
	st->n_chat++;
	store_mark(st, d->h.shard);
	return 1;
}

static void
chat_unlink(struct store *st, struct dom *d, struct jid *j)
{
	const char **c = (const char **)d->pub.chat;
	size_t i;

	for (i = 0; i < d->pub.n_chat; i++)
		if (c[i] == j->name) {
			memmove(&c[i], &c[i + 1], (d->pub.n_chat - i - 1) * sizeof(*c));
			d->pub.n_chat--;
			st->n_chat--;
			store_mark(st, d->h.shard);
			return;
		}
}

int
store_sub_remove(struct store *st, const char *domain, const char *jid)
{
	struct dom *d = domain ? store_dom_find(st, domain) : NULL;
	struct jid *j = jid ? store_jid_find(st, jid) : NULL;
	size_t before;

	if (d == NULL || j == NULL)
		return 0;
	before = d->pub.n_chat;
	chat_unlink(st, d, j);
	if (before == d->pub.n_chat)
		return 0;
	ptr_remove((const struct store_domain **)j->pub.domains, &j->pub.n_domains, &d->pub);
	jid_release(st, j);
	return 1;
}

size_t
store_sub_remove_all(struct store *st, const char *jid)
{
	struct jid *j = jid ? store_jid_find(st, jid) : NULL;
	size_t i, n;

	if (j == NULL)
		return 0;
	n = j->pub.n_domains;
	for (i = 0; i < n; i++)
		chat_unlink(st, CONTAINER(j->pub.domains[i], struct dom, pub), j);
	j->pub.n_domains = 0;
	jid_release(st, j);
	return n;
}

static int
same_subid(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static int pubsub_link(struct store *st, struct dom *d, struct jid *j, const char *subid, int has);

int
store_pubsub_add(struct store *st, const char *domain, const char *jid, const char *subid)
{
	struct store_pubsub *ps;
	struct dom *d;
	struct jid *j;
	size_t i;
	int r, has = 0;

	if (!store_valid_name(jid, STORE_JID_MAX))
		return -EINVAL;
	if (subid && *subid == '\0')
		subid = NULL;
	if (subid && strlen(subid) > STORE_NAME_MAX)
		return -EINVAL;
	if ((r = dom_get(st, domain, &d)) < 0)
		return r;
	if ((r = jid_get(st, jid, &j)) < 0)
		return r;
	ps = (struct store_pubsub *)d->pub.pubsub;
	for (i = 0; i < d->pub.n_pubsub; i++)
		if (ps[i].jid == j->name) {
			if (same_subid(ps[i].subid, subid))
				return 0;
			has = 1;
		}
	return pubsub_link(st, d, j, subid, has);
}

/* Links a pubsub subscription known to be new; has: the JID has another
 * one on this node already. */
static int
pubsub_link(struct store *st, struct dom *d, struct jid *j, const char *subid, int has)
{
	struct store_pubsub *ps = (struct store_pubsub *)d->pub.pubsub;
	char *sid = NULL;

	if ((subid && (sid = strdup(subid)) == NULL) ||
	    grow(&ps, &d->cap_ps, d->pub.n_pubsub + 1, sizeof(*ps)) < 0 ||
	    (!has && grow(&j->pub.pubsub, &j->cap_ps, j->pub.n_pubsub + 1, sizeof(void *)) < 0)) {
		free(sid);
		jid_release(st, j);
		return -ENOMEM;
	}
	d->pub.pubsub = ps;
	ps[d->pub.n_pubsub].jid = j->name;
	ps[d->pub.n_pubsub].subid = sid;
	d->pub.n_pubsub++;
	if (!has)
		((const struct store_domain **)j->pub.pubsub)[j->pub.n_pubsub++] = &d->pub;
	st->n_pubsub++;
	store_mark(st, d->h.shard);
	return 1;
}

size_t
store_pubsub_remove(struct store *st, const char *domain, const char *jid, const char *subid)
{
	struct dom *d = domain ? store_dom_find(st, domain) : NULL;
	struct jid *j = jid ? store_jid_find(st, jid) : NULL;
	struct store_pubsub *ps;
	size_t i = 0, removed = 0, left = 0;

	if (d == NULL || j == NULL)
		return 0;
	ps = (struct store_pubsub *)d->pub.pubsub;
	while (i < d->pub.n_pubsub) {
		if (ps[i].jid == j->name && (subid == NULL || same_subid(ps[i].subid, subid))) {
			free((void *)ps[i].subid);
			memmove(&ps[i], &ps[i + 1], (d->pub.n_pubsub - i - 1) * sizeof(*ps));
			d->pub.n_pubsub--;
			removed++;
		} else {
			left += ps[i].jid == j->name;
			i++;
		}
	}
	if (removed == 0)
		return 0;
	st->n_pubsub -= removed;
	store_mark(st, d->h.shard);
	if (left == 0) {
		ptr_remove((const struct store_domain **)j->pub.pubsub, &j->pub.n_pubsub, &d->pub);
		jid_release(st, j);
	}
	return removed;
}

const struct store_jid *
store_jid_get(const struct store *st, const char *jid)
{
	struct jid *j = jid ? store_jid_find(st, jid) : NULL;

	return j ? &j->pub : NULL;
}

int
store_presence_set(struct store *st, const char *jid, const char *presence)
{
	const struct store_jid *j;
	const char *w;
	int err;

	if (!store_valid_name(jid, STORE_JID_MAX))
		return -EINVAL;
	w = store_word(st, presence, &err);
	if (err)
		return err;
	j = store_jid_get(st, jid);
	if (j == NULL && w == NULL)
		return 0;
	return store_jid_set(st, jid, w, j ? j->flags : 0);
}

int
store_jid_flags(struct store *st, const char *jid, unsigned flags, int on)
{
	const struct store_jid *j;
	unsigned now;

	if (!store_valid_name(jid, STORE_JID_MAX) || (flags & ~STORE_FLAG_TOLD_UNSUB_ALL))
		return -EINVAL;
	j = store_jid_get(st, jid);
	now = j ? j->flags : 0;
	now = on ? now | flags : now & ~flags;
	if (j == NULL && now == 0)
		return 0;
	return store_jid_set(st, jid, j ? j->presence : NULL, now);
}

const struct store_jid *
store_jid_next(const struct store *st, size_t *cursor)
{
	if (*cursor >= st->jids.n)
		return NULL;
	return &CONTAINER(st->jids.vec[(*cursor)++], struct jid, h)->pub;
}

void
store_stats(const struct store *st, struct store_stats *out)
{
	out->domains = st->doms.n;
	out->jids = st->jids.n;
	out->chat_subs = st->n_chat;
	out->pubsub_subs = st->n_pubsub;
	out->presence = st->n_presence;
	out->dirty_shards = st->n_dirty;
}

/* While loading: the subscriptions of the domain being read.  Its record
 * is read in one go, so a JID already subscribed to it has it last in its
 * list: duplicates cost O(1) to detect, whatever the number of lines. */
int
store_load_chat(struct store *st, struct dom *d, const char *jid)
{
	struct jid *j;
	int r;

	if ((r = jid_get(st, jid, &j)) < 0)
		return r;
	if (j->pub.n_domains && j->pub.domains[j->pub.n_domains - 1] == &d->pub)
		return 0;
	return chat_link(st, d, j) < 0 ? -ENOMEM : 0;
}

/* Pubsub duplicates are not looked for at load (the writer never writes
 * any); a duplicate would only double an event. */
int
store_load_pubsub(struct store *st, struct dom *d, const char *jid, const char *subid)
{
	struct jid *j;
	int r;

	if ((r = jid_get(st, jid, &j)) < 0)
		return r;
	r = j->pub.n_pubsub && j->pub.pubsub[j->pub.n_pubsub - 1] == &d->pub;
	return pubsub_link(st, d, j, subid, r) < 0 ? -ENOMEM : 0;
}
