/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * seen.c - key continuity of a domain in the store: the keys seen per
 * endpoint and key type, the recent rounds that showed a split and the
 * split alarm's state (docs/store.md, the `seen` and `split` lines of
 * version 3).  Kept in one allocation of its own per domain, NULL for a
 * domain that has none, so the packed record of state.c is untouched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

#define CONTAINER(p, type, member)                                             \
	((type *)(void *)((char *)(p)-offsetof(type, member)))

/* One allocation: this header, the entries, then their strings. */
struct cont_blob {
	uint64_t split_rounds;
	unsigned flags;
	size_t n;
	struct store_seen e[];
};

static int
list_ok(const char *s)
{
	return s == NULL ||
	       (strlen(s) <= STORE_SEEN_LIST_MAX && strchr(s, ' ') == NULL);
}

static size_t
slen(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

static const char *
put(char **p, const char *s)
{
	size_t n;
	char *r;

	if (s == NULL || *s == '\0')
		return NULL;
	n = strlen(s) + 1;
	r = memcpy(*p, s, n);
	*p += n;
	return r;
}

static int
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Whether new differs from old in anything but last_seen (what is worth a
 * shard write). */
static int
cont_changed(const struct cont_blob *old, const struct cont_blob *nw)
{
	if (old == NULL)
		return nw != NULL;
	if (nw == NULL || old->split_rounds != nw->split_rounds ||
	    old->flags != nw->flags || old->n != nw->n)
		return 1;
	for (size_t i = 0; i < nw->n; i++) {
		const struct store_seen *a = &old->e[i], *b = &nw->e[i];
		if (a->port != b->port || a->first_seen != b->first_seen ||
		    a->rounds != b->rounds || !str_eq(a->service, b->service) ||
		    !str_eq(a->host, b->host) ||
		    !str_eq(a->key_type, b->key_type) ||
		    !str_eq(a->spki, b->spki) ||
		    !str_eq(a->vantages, b->vantages) ||
		    !str_eq(a->addresses, b->addresses))
			return 1;
	}
	return 0;
}

int
store_cont_attach(struct store *st, struct dom *d,
		  const struct store_continuity *c, int *changed)
{
	struct cont_blob *b = NULL;
	size_t size, i;
	int err;

	if (c->n_seen > STORE_SEEN_MAX || (c->n_seen > 0 && c->seen == NULL))
		return -EINVAL;
	size = sizeof(*b) + c->n_seen * sizeof(b->e[0]);
	for (i = 0; i < c->n_seen; i++) {
		const struct store_seen *s = &c->seen[i];
		if (!store_word_ok(s->service ? s->service : "") ||
		    (s->key_type && *s->key_type &&
		     !store_word_ok(s->key_type)) ||
		    !store_valid_name(s->host, STORE_NAME_MAX) ||
		    !store_valid_name(s->spki, STORE_NAME_MAX) ||
		    s->port > 65535 || !list_ok(s->vantages) ||
		    !list_ok(s->addresses))
			return -EINVAL;
		size += slen(s->host) + slen(s->spki) + slen(s->vantages) +
			slen(s->addresses);
	}
	if (c->n_seen > 0 || c->split_rounds != 0 || c->flags != 0) {
		char *p;

		if ((b = malloc(size)) == NULL)
			return -ENOMEM;
		b->split_rounds = c->split_rounds;
		b->flags = c->flags;
		b->n = c->n_seen;
		p = (char *)&b->e[c->n_seen];
		for (i = 0; i < c->n_seen; i++) {
			const struct store_seen *s = &c->seen[i];
			struct store_seen *o = &b->e[i];

			*o = *s;
			o->service = store_word(st, s->service, &err);
			if (err == 0)
				o->key_type = store_word(st, s->key_type, &err);
			if (err) {
				free(b);
				return err;
			}
			o->host = put(&p, s->host);
			o->spki = put(&p, s->spki);
			o->vantages = put(&p, s->vantages);
			o->addresses = put(&p, s->addresses);
		}
	}
	*changed = cont_changed(d->cont, b);
	free(d->cont);
	d->cont = b;
	return 0;
}

void
store_cont_free(struct dom *d)
{
	free(d->cont);
	d->cont = NULL;
}

void
store_domain_continuity(const struct store_domain *v,
			struct store_continuity *out)
{
	const struct dom *d = CONTAINER(v, struct dom, pub);
	const struct cont_blob *b = d->cont;

	memset(out, 0, sizeof(*out));
	if (b == NULL)
		return;
	out->split_rounds = b->split_rounds;
	out->flags = b->flags;
	out->seen = b->e;
	out->n_seen = b->n;
}

int
store_domain_set_continuity(struct store *st, const char *name,
			    const struct store_continuity *c)
{
	struct dom *d = name ? store_dom_find(st, name) : NULL;
	int changed = 0, r;

	if (d == NULL || c == NULL)
		return -EINVAL;
	if ((r = store_cont_attach(st, d, c, &changed)) < 0)
		return r;
	if (changed)
		store_mark(st, d->h.shard);
	return changed;
}
