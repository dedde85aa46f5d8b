/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * subs.c - who is subscribed to what: JID records (presence word, flags,
 * the domains they follow) and the chat and pubsub subscriptions, linked
 * both ways between a domain's packed arrays and its JIDs' lists.  No I/O.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/store_int.h"

#include "util/container.h"

struct jid *
store_jid_find(const struct store *st, const char *name)
{
	struct hnode *n = store_htab_find(&st->jids, name, store_hash(name));

	return n ? CONTAINER(n, struct jid, h) : NULL;
}

/* A JID's name in a domain's arrays is the one inside its record. */
struct jid *
store_jid_of_name(const char *name)
{
	return CONTAINER(name, struct jid, name);
}

/* The JID record of name, created when missing. */
int
store_jid_ref(struct store *st, const char *name, struct jid **out)
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
	uint32_t hash = store_hash(name);
	j->h.shard = (uint16_t)(hash % STORE_NSHARDS);
	j->h.kind = NODE_JID;
	if (store_htab_insert(&st->jids, &j->h, hash) < 0) {
		free(j);
		return -ENOMEM;
	}
	store_shard_link(st, &j->h);
	*out = j;
	return 0;
}

/* Frees a JID record that holds nothing any more. */
static void
jid_release(struct store *st, struct jid *j)
{
	if (j->pub.n_domains || j->pub.n_pubsub || j->pub.presence ||
	    j->pub.flags)
		return;
	store_htab_remove(&st->jids, &j->h);
	store_shard_unlink(st, &j->h);
	free((void *)j->pub.domains);
	free((void *)j->pub.pubsub);
	free(j);
}

/* Removes one d from a JID's list, keeping the order; 1 when found. */
static int
ptr_remove(const struct store_domain *const *list, size_t *n,
	   const struct store_domain *d)
{
	const struct store_domain **arr = (const struct store_domain **)list;
	size_t i;

	for (i = *n; i-- > 0;)
		if (arr[i] == d) {
			memmove(&arr[i], &arr[i + 1],
				(*n - i - 1) * sizeof(*arr));
			(*n)--;
			return 1;
		}
	return 0;
}

/* Drops one link of j to d (a chat subscription, or one pubsub
 * subscription), freeing j when nothing is left. */
void
store_jid_unlink(struct store *st, struct jid *j, const struct store_domain *d,
		 int pubsub)
{
	if (pubsub)
		ptr_remove(j->pub.pubsub, &j->pub.n_pubsub, d);
	else
		ptr_remove(j->pub.domains, &j->pub.n_domains, d);
	jid_release(st, j);
}

/*
 * Drops the links of every JID of ps[] (d's pubsub subscriptions) to d.
 * A JID's list holds d once however many subids it has, so each JID is
 * unlinked at its last entry: the entries after it are still alive when
 * compared, whatever the unlink frees.
 */
void
store_pubsub_unlink_all(struct store *st, const struct store_domain *d,
			const struct store_pubsub *ps, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		for (k = i + 1; k < n && ps[k].jid != ps[i].jid; k++)
			;
		if (k == n)
			store_jid_unlink(st, store_jid_of_name(ps[i].jid), d,
					 1);
	}
}

static int
jid_link(struct jid *j, const struct store_domain *d, int pubsub)
{
	if (pubsub) {
		if (store_grow(&j->pub.pubsub, &j->cap_ps, j->pub.n_pubsub + 1,
			       sizeof(void *)) < 0)
			return -ENOMEM;
		((const struct store_domain **)
		     j->pub.pubsub)[j->pub.n_pubsub++] = d;
	} else {
		if (store_grow(&j->pub.domains, &j->cap_dom,
			       j->pub.n_domains + 1, sizeof(void *)) < 0)
			return -ENOMEM;
		((const struct store_domain **)
		     j->pub.domains)[j->pub.n_domains++] = d;
	}
	return 0;
}

/* Sets a JID's presence word and flags (already validated). */
int
store_jid_set(struct store *st, const char *name, const char *presence,
	      unsigned flags)
{
	struct jid *j;
	int r;

	if ((r = store_jid_ref(st, name, &j)) < 0)
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
store_jids_free(struct store *st)
{
	while (st->jids.n > 0) {
		struct jid *j =
		    CONTAINER(st->jids.vec[st->jids.n - 1], struct jid, h);

		j->pub.presence = NULL;
		j->pub.flags = 0;
		j->pub.n_domains = j->pub.n_pubsub = 0;
		jid_release(st, j);
	}
}

/* ---- chat subscriptions ---- */

int
store_sub_add(struct store *st, const char *domain, const char *jid)
{
	const char *chat[1];
	struct store_unpacked old;
	struct store_content c;
	struct dom *d;
	struct jid *j;
	const char **all;
	size_t i;
	int r;

	if (!store_valid_name(jid, STORE_JID_MAX))
		return -EINVAL;
	if ((r = store_dom_get(st, domain, &d)) < 0)
		return r;
	if ((r = store_jid_ref(st, jid, &j)) < 0)
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
	store_dom_content(d, &c, &old);
	all = d->pub.n_chat ? malloc((d->pub.n_chat + 1) * sizeof(*all))
			    : (const char **)chat;
	if (all == NULL || jid_link(j, &d->pub, 0) < 0) {
		if (all != chat)
			free(all);
		jid_release(st, j);
		return -ENOMEM;
	}
	if (d->pub.n_chat)
		memcpy(all, d->pub.chat, d->pub.n_chat * sizeof(*all));
	all[c.n_chat++] = j->name;
	c.chat = all;
	r = store_dom_pack(st, d, &c);
	if (all != chat)
		free(all);
	if (r < 0) {
		store_jid_unlink(st, j, &d->pub, 0);
		return r;
	}
	st->n_chat++;
	return 1;
}

/* Removes j from d's chat array in place (its packed array shrinks). */
static int
chat_drop(struct store *st, struct dom *d, struct jid *j)
{
	const char **c = (const char **)d->pub.chat;
	size_t i;

	for (i = 0; i < d->pub.n_chat; i++)
		if (c[i] == j->name) {
			memmove(&c[i], &c[i + 1],
				(d->pub.n_chat - i - 1) * sizeof(*c));
			d->pub.n_chat--;
			st->n_chat--;
			store_mark(st, d->h.shard);
			return 1;
		}
	return 0;
}

int
store_sub_remove(struct store *st, const char *domain, const char *jid)
{
	struct dom *d = domain ? store_dom_find(st, domain) : NULL;
	struct jid *j = jid ? store_jid_find(st, jid) : NULL;

	if (d == NULL || j == NULL || !chat_drop(st, d, j))
		return 0;
	store_jid_unlink(st, j, &d->pub, 0);
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
		chat_drop(st, CONTAINER(j->pub.domains[i], struct dom, pub), j);
	j->pub.n_domains = 0;
	jid_release(st, j);
	return n;
}

/* ---- pubsub subscriptions ---- */

static int
same_subid(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

int
store_pubsub_add(struct store *st, const char *domain, const char *jid,
		 const char *subid)
{
	struct store_unpacked old;
	struct store_content c;
	struct store_pubsub *all;
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
	if ((r = store_dom_get(st, domain, &d)) < 0)
		return r;
	if ((r = store_jid_ref(st, jid, &j)) < 0)
		return r;
	for (i = 0; i < d->pub.n_pubsub; i++)
		if (d->pub.pubsub[i].jid == j->name) {
			if (same_subid(d->pub.pubsub[i].subid, subid))
				return 0;
			has = 1;
		}
	store_dom_content(d, &c, &old);
	if ((all = malloc((c.n_ps + 1) * sizeof(*all))) == NULL ||
	    (!has && jid_link(j, &d->pub, 1) < 0)) {
		free(all);
		jid_release(st, j);
		return -ENOMEM;
	}
	if (c.n_ps)
		memcpy(all, c.ps, c.n_ps * sizeof(*all));
	all[c.n_ps].jid = j->name;
	all[c.n_ps++].subid = subid;
	c.ps = all;
	r = store_dom_pack(st, d, &c);
	free(all);
	if (r < 0) {
		if (!has)
			store_jid_unlink(st, j, &d->pub, 1);
		return r;
	}
	st->n_pubsub++;
	return 1;
}

size_t
store_pubsub_remove(struct store *st, const char *domain, const char *jid,
		    const char *subid)
{
	struct dom *d = domain ? store_dom_find(st, domain) : NULL;
	struct jid *j = jid ? store_jid_find(st, jid) : NULL;
	struct store_pubsub *ps;
	size_t i = 0, removed = 0, left = 0;

	if (d == NULL || j == NULL)
		return 0;
	ps = (struct store_pubsub *)d->pub.pubsub;
	while (i < d->pub.n_pubsub) {
		if (ps[i].jid == j->name &&
		    (subid == NULL || same_subid(ps[i].subid, subid))) {
			memmove(&ps[i], &ps[i + 1],
				(d->pub.n_pubsub - i - 1) * sizeof(*ps));
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
	if (left == 0)
		store_jid_unlink(st, j, &d->pub, 1);
	return removed;
}

/* ---- JIDs ---- */

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

	if (!store_valid_name(jid, STORE_JID_MAX) ||
	    (flags & ~STORE_FLAG_TOLD_UNSUB_ALL))
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

size_t
store_subs_of_bare(const struct store *st, const char *bare)
{
	size_t len = strlen(bare), n = 0, cur = 0;
	const struct store_jid *j;

	while ((j = store_jid_next(st, &cur)) != NULL)
		if (j->n_domains + j->n_pubsub > 0 &&
		    strncasecmp(j->jid, bare, len) == 0 &&
		    (j->jid[len] == '\0' || j->jid[len] == '/'))
			n += j->n_domains + j->n_pubsub;
	return n;
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

/* ---- loading ---- */

/*
 * While loading the record of d: links jid as a chat subscriber of d and
 * returns its name for d's array in *name (NULL for a duplicate line).
 * The record is read in one go, so a JID already subscribed to d has it
 * last in its list: duplicates cost O(1) however many lines there are.
 */
int
store_load_chat(struct store *st, struct dom *d, const char *jid,
		const char **name)
{
	struct jid *j;
	int r;

	*name = NULL;
	if ((r = store_jid_ref(st, jid, &j)) < 0)
		return r;
	if (j->pub.n_domains && j->pub.domains[j->pub.n_domains - 1] == &d->pub)
		return 0;
	if (jid_link(j, &d->pub, 0) < 0) {
		jid_release(st, j);
		return -ENOMEM;
	}
	*name = j->name;
	st->n_chat++;
	return 0;
}

/* The same for a pubsub subscription; d goes once into the JID's list
 * whatever the number of its subids.  Duplicate lines are not looked for
 * (the writer never writes any, and one would only double an event). */
int
store_load_pubsub(struct store *st, struct dom *d, const char *jid,
		  const char **name)
{
	struct jid *j;
	int r;

	if ((r = store_jid_ref(st, jid, &j)) < 0)
		return r;
	/* Linked already when d is the last node in its list (see above). */
	if (j->pub.n_pubsub && j->pub.pubsub[j->pub.n_pubsub - 1] == &d->pub) {
		*name = j->name;
		st->n_pubsub++;
		return 0;
	}
	if (jid_link(j, &d->pub, 1) < 0) {
		jid_release(st, j);
		return -ENOMEM;
	}
	*name = j->name;
	st->n_pubsub++;
	return 0;
}
