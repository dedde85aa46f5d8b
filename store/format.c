/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * format.c - writing a shard's records in the text format of
 * docs/store.md (parse.c reads it back).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

#include "util/container.h"

/* Flag words, in bit order. */
const char *const store_flag_words[STORE_N_FLAG_WORDS] = {
    "told-unsubscribe-all"};
/* An endpoint's flag words (STORE_EP_*), in bit order. */
const char *const store_ep_flag_words[STORE_N_EP_FLAG_WORDS] = {"alerted"};

/* ---- writing ---- */

struct out {
	char *p;
	size_t len, cap;
	int oom;
};

static void
out_reserve(struct out *o, size_t n)
{
	size_t cap;
	char *p;

	if (o->oom || o->len + n <= o->cap)
		return;
	cap = o->cap ? o->cap : 4096;
	while (cap < o->len + n)
		cap *= 2;
	if ((p = realloc(o->p, cap)) == NULL) {
		o->oom = 1;
		return;
	}
	o->p = p;
	o->cap = cap;
}

static void
out_raw(struct out *o, const char *s, size_t n)
{
	out_reserve(o, n);
	if (o->oom)
		return;
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void
out_str(struct out *o, const char *s)
{
	out_raw(o, s, strlen(s));
}

static void
out_int(struct out *o, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), " %lld", (long long)v);

	out_raw(o, tmp, (size_t)n);
}

/* " " then s escaped: a token (text = 0) escapes spaces too, a text (the
 * last field of a line) keeps them.  NULL or "" is "-", and "-" itself is
 * "%2D". */
static void
out_field(struct out *o, const char *s, int text)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	char *w;

	if (s == NULL || *s == '\0') {
		out_raw(o, " -", 2);
		return;
	}
	if (strcmp(s, "-") == 0) {
		out_raw(o, " %2D", 4);
		return;
	}
	out_reserve(o, 1 + 3 * strlen(s));
	if (o->oom)
		return;
	w = o->p + o->len;
	*w++ = ' ';
	for (; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '%' ||
		    (*p == ' ' && !text)) {
			*w++ = '%';
			*w++ = hex[*p >> 4];
			*w++ = hex[*p & 15];
		} else {
			*w++ = (char)*p;
		}
	}
	o->len = (size_t)(w - o->p);
}

/* Key continuity (version 3): one `seen` line per key, then `split`
 * when a split was seen lately or its alarm is open. */
static void
out_continuity(struct out *o, const struct store_domain *d)
{
	struct store_continuity c;

	store_domain_continuity(d, &c);
	for (size_t i = 0; i < c.n_seen; i++) {
		const struct store_seen *s = &c.seen[i];

		out_str(o, "seen");
		out_field(o, s->service, 0);
		out_field(o, s->host, 0);
		out_int(o, s->port);
		out_field(o, s->key_type, 0);
		out_field(o, s->spki, 0);
		out_int(o, s->first_seen);
		out_int(o, s->last_seen);
		out_int(o, s->rounds);
		out_field(o, s->vantages, 0);
		out_field(o, s->addresses, 0);
		out_raw(o, "\n", 1);
	}
	if (c.split_rounds == 0 && c.flags == 0)
		return;
	out_str(o, "split");
	out_int(o, (int64_t)(c.split_rounds & INT64_MAX));
	if (c.flags & STORE_CONT_ALARM)
		out_str(o, " alarm");
	out_raw(o, "\n", 1);
}

/* A `ct` line (version 3): opaque text, store/ct.c. */
static void
out_ct(void *arg, const char *line)
{
	struct out *o = arg;

	out_str(o, "ct");
	out_field(o, line, 1);
	out_raw(o, "\n", 1);
}

static void
out_domain(struct out *o, const struct store_domain *d)
{
	size_t i;

	out_str(o, "domain");
	out_field(o, d->name, 0);
	out_str(o, "\nstate");
	out_field(o, d->verdict, 0);
	out_field(o, d->alert, 0);
	out_int(o, d->unreachable_rounds);
	out_int(o, d->last_check);
	out_int(o, d->last_change);
	out_int(o, d->next_due);
	out_raw(o, "\n", 1);
	for (i = 0; i < d->n_endpoints; i++) {
		struct store_endpoint e;

		store_domain_endpoint(d, i, &e);

		out_str(o, "endpoint");
		out_field(o, e.service, 0);
		out_field(o, e.host, 0);
		out_int(o, e.port);
		out_field(o, e.verdict, 0);
		out_field(o, e.spki, 0);
		out_field(o, e.error, 1);
		out_raw(o, "\n", 1);
		if (e.fail_rounds == 0 && e.flags == 0)
			continue;
		out_str(o, "trouble");
		out_int(o, e.fail_rounds);
		for (unsigned b = 0; b < STORE_N_EP_FLAG_WORDS; b++)
			if (e.flags & (1u << b))
				out_field(o, store_ep_flag_words[b], 0);
		out_raw(o, "\n", 1);
	}
	if (d->defence) {
		/* Version 3: the defences kept between rounds. */
		out_str(o, "defence");
		out_field(o, d->defence, 1);
		out_raw(o, "\n", 1);
	}
	for (i = 0; i < d->n_keys; i++) {
		out_str(o, "key");
		out_field(o, d->keys[i].spki, 0);
		out_int(o, d->keys[i].first_seen);
		out_int(o, d->keys[i].last_seen);
		out_raw(o, "\n", 1);
	}
	out_continuity(o, d);
	for (i = 0; i < d->n_history; i++) {
		struct store_change c;

		store_domain_change(d, i, &c);

		out_str(o, "change");
		out_int(o, c.time);
		out_field(o, c.from, 0);
		out_field(o, c.to, 0);
		out_field(o, c.note, 1);
		out_raw(o, "\n", 1);
	}
	store_ct_each(d, out_ct, o);
	for (i = 0; i < d->n_chat; i++) {
		out_str(o, "chat");
		out_field(o, d->chat[i], 0);
		out_raw(o, "\n", 1);
	}
	for (i = 0; i < d->n_pubsub; i++) {
		out_str(o, "pubsub");
		out_field(o, d->pubsub[i].jid, 0);
		out_field(o, d->pubsub[i].subid, 0);
		out_raw(o, "\n", 1);
	}
	out_str(o, "end\n");
}

static void
out_jid(struct out *o, const struct store_jid *j)
{
	size_t i;

	out_str(o, "jid");
	out_field(o, j->jid, 0);
	out_raw(o, "\n", 1);
	if (j->presence) {
		out_str(o, "presence");
		out_field(o, j->presence, 0);
		out_raw(o, "\n", 1);
	}
	if (j->flags) {
		out_str(o, "flags");
		for (i = 0; i < STORE_N_FLAG_WORDS; i++)
			if (j->flags & (1u << i))
				out_field(o, store_flag_words[i], 0);
		out_raw(o, "\n", 1);
	}
	out_str(o, "end\n");
}

static int
node_cmp(const void *a, const void *b)
{
	const struct hnode *x = *(const struct hnode *const *)a;
	const struct hnode *y = *(const struct hnode *const *)b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(store_node_key(x), store_node_key(y));
}

/* A JID is written only for what belongs to it alone: its subscriptions
 * are in the domains' records. */
static int
jid_persistent(const struct hnode *n)
{
	const struct jid *j = CONTAINER(n, struct jid, h);

	return j->pub.presence != NULL || j->pub.flags != 0;
}

/*
 * The bytes of shard `shard`, records sorted (domains, then JIDs, by
 * key) so that the same state always gives the same file.  *out is NULL
 * when the shard holds nothing (its file is to be removed); else the
 * caller frees it.  0 or -ENOMEM.
 */
int
store_format_shard(const struct store *st, unsigned shard, uint64_t gen,
		   char **out, size_t *len)
{
	struct out o = {NULL, 0, 0, 0};
	struct hnode **nodes = NULL, *n;
	size_t count = 0, i;
	char head[64];

	*out = NULL;
	*len = 0;
	for (n = st->shards[shard].head; n; n = n->snext)
		count += n->kind == NODE_DOMAIN || jid_persistent(n);
	if (count == 0)
		return 0;
	if ((nodes = malloc(count * sizeof(*nodes))) == NULL)
		return -ENOMEM;
	i = 0;
	for (n = st->shards[shard].head; n; n = n->snext)
		if (n->kind == NODE_DOMAIN || jid_persistent(n))
			nodes[i++] = n;
	qsort(nodes, count, sizeof(*nodes), node_cmp);
	snprintf(head, sizeof(head), "%s %d\ncommit %llu\n", STORE_MAGIC,
		 STORE_FORMAT_VERSION, (unsigned long long)gen);
	out_str(&o, head);
	for (i = 0; i < count; i++) {
		if (nodes[i]->kind == NODE_DOMAIN)
			out_domain(&o,
				   &CONTAINER(nodes[i], struct dom, h)->pub);
		else
			out_jid(&o, &CONTAINER(nodes[i], struct jid, h)->pub);
	}
	snprintf(head, sizeof(head), "records %zu\n", count);
	out_str(&o, head);
	free(nodes);
	if (o.oom) {
		free(o.p);
		return -ENOMEM;
	}
	*out = o.p;
	*len = o.len;
	return 0;
}
