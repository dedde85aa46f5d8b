/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * parse.c - reading a shard file of docs/store.md: a bounded parser that
 * is a pure function of the bytes (no I/O, fuzzable), resynchronises after
 * a damaged record and keeps every record that parses.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/lex.h"
#include "store/store_int.h"
#include "util/buf.h"

static void
mark_dirty(struct store *st, unsigned shard)
{
	if (!st->shards[shard].dirty) {
		st->shards[shard].dirty = 1;
		st->n_dirty++;
	}
}

/* Whether kw starts a record (or the end of the file): inside a record it
 * means the record lost its "end"; that line is read again as the next
 * record so that one damaged record costs no other. */
static int
starts_record(struct pctx *c, const char *kw)
{
	if (strcmp(kw, "domain") && strcmp(kw, "jid") && strcmp(kw, "records"))
		return 0;
	lex_fail(c, "record not ended before this line");
	c->pos = c->line_start;
	c->lineno--;
	c->rewound = 1;
	return 1;
}

/* Interns a word of a line being applied (checked in the first pass). */
static const char *
iword(struct pctx *c, const char *w, int *r)
{
	int err;
	const char *iw = store_word(c->st, w, &err);

	if (err)
		*r = err;
	return iw;
}

static int
grow_list2(struct pctx *c, size_t n)
{
	void *p;

	if (n < c->list2_cap)
		return 0;
	p = realloc(c->list2, (c->list2_cap ? c->list2_cap * 2 : 16) *
				  sizeof(struct store_pubsub));
	if (p == NULL)
		return -ENOMEM;
	c->list2 = p;
	c->list2_cap = c->list2_cap ? c->list2_cap * 2 : 16;
	return 0;
}

static int
grow_list(struct pctx *c, size_t n, size_t size)
{
	void *p;

	if (n < c->list_cap)
		return 0;
	if ((p = realloc(c->list,
			 (c->list_cap ? c->list_cap * 2 : 16) * size)) == NULL)
		return -ENOMEM;
	c->list = p;
	c->list_cap = c->list_cap ? c->list_cap * 2 : 16;
	return 0;
}

/*
 * A `seen` or `split` line (version 3: key continuity) into *cont; with
 * apply, its strings kept in the arena and its entries in c->seen.
 * 0, or -1 for a syntax error (a second split line, too many seen).
 */
static int
continuity_line(struct pctx *c, const char *kw, int apply,
		struct store_continuity *cont)
{
	char *svc, *host, *kt, *spki, *van, *addr, *a;
	int64_t port, first, last, rounds, bits;

	if (strcmp(kw, "split") == 0) {
		unsigned flags = 0;

		if (c->had_split++ || lex_num(c, 0, INT64_MAX, &bits) < 0)
			return -1;
		while (c->cur) {
			if (lex_word(c, &a, 1) < 0)
				return -1;
			if (strcmp(a, "alarm") == 0)
				flags |= STORE_CONT_ALARM;
			/* Other words are a later version's: ignored. */
		}
		cont->split_rounds = (uint64_t)bits;
		cont->flags = flags;
		return 0;
	}
	if (lex_word(c, &svc, 1) < 0 ||
	    lex_name(c, &host, STORE_NAME_MAX) < 0 ||
	    lex_num(c, 0, 65535, &port) < 0 || lex_word(c, &kt, 0) < 0 ||
	    lex_name(c, &spki, STORE_NAME_MAX) < 0 ||
	    lex_num(c, INT64_MIN, INT64_MAX, &first) < 0 ||
	    lex_num(c, INT64_MIN, INT64_MAX, &last) < 0 ||
	    lex_num(c, 0, UINT32_MAX, &rounds) < 0 ||
	    lex_opt_name(c, &van, STORE_SEEN_LIST_MAX) < 0 ||
	    lex_opt_name(c, &addr, STORE_SEEN_LIST_MAX) < 0 ||
	    lex_done(c) < 0 || cont->n_seen == STORE_SEEN_MAX ||
	    (van && strchr(van, ' ')) || (addr && strchr(addr, ' ')))
		return -1;
	if (apply) {
		struct store_seen *e;

		if (c->seen == NULL &&
		    (c->seen = calloc(STORE_SEEN_MAX, sizeof(*c->seen))) ==
			NULL)
			return -1;
		e = &c->seen[cont->n_seen];
		e->service = lex_keep(c, svc);
		e->host = lex_keep(c, host);
		e->port = (unsigned)port;
		e->key_type = lex_keep(c, kt);
		e->spki = lex_keep(c, spki);
		e->first_seen = first;
		e->last_seen = last;
		e->rounds = (unsigned)rounds;
		e->vantages = lex_keep(c, van);
		e->addresses = lex_keep(c, addr);
		cont->seen = c->seen;
	}
	cont->n_seen++;
	return 0;
}

/*
 * Reads the body of a domain record (the lines after "domain NAME" up to
 * "end").  With d NULL it only checks; with d it collects every line and
 * then packs them into d at once.  Returns 0, -1 for a syntax error,
 * -ENOMEM or -EINVAL (too many distinct words) when applying.
 */
static int
domain_body(struct pctx *c, struct dom *d)
{
	struct store_endpoint eps[STORE_ENDPOINTS_MAX];
	struct store_key keys[STORE_KEYS_MAX];
	struct store_change hist[STORE_HISTORY_MAX];
	struct store_content ct;
	const char **chat = NULL;
	struct store_pubsub *ps = NULL;
	size_t n_eps = 0, n_keys = 0, n_hist = 0, n_chat = 0, n_ps = 0, i;
	size_t troubled = 0; /* endpoints up to here have had their line */
	struct store_continuity cont = {0, 0, NULL, 0};
	char *ctl = NULL; /* the `ct` lines (store/ct.c) */
	size_t n_ct = 0;
	int states = 0, r = 0, changed, defences = 0;
	const char *defence = NULL;

#define BAD(msg)                                                               \
	{                                                                      \
		r = lex_fail(c, msg);                                          \
		break;                                                         \
	}

	c->arena_len = 0;
	c->had_split = 0;
	for (;;) {
		char *kw, *a, *b, *e, *f;
		int64_t x, y, z, w;

		if ((r = lex_next_line(c)) <= 0) {
			r = r < 0 ? -1 : lex_fail(c, "record not ended");
			break;
		}
		r = 0;
		if (lex_field(c, &kw) < 0 || kw == NULL)
			BAD("empty line");
		if (starts_record(c, kw)) {
			r = -1;
			break;
		}
		if (strcmp(kw, "end") == 0) {
			if (lex_done(c) < 0)
				BAD("junk after end");
			break;
		} else if (strcmp(kw, "state") == 0) {
			if (lex_word(c, &a, 0) < 0 || lex_word(c, &b, 0) < 0 ||
			    lex_num(c, 0, UINT32_MAX, &w) < 0 ||
			    lex_num(c, INT64_MIN, INT64_MAX, &x) < 0 ||
			    lex_num(c, INT64_MIN, INT64_MAX, &y) < 0 ||
			    lex_num(c, INT64_MIN, INT64_MAX, &z) < 0 ||
			    lex_done(c) < 0 || states++)
				BAD("bad state line");
			if (d) {
				d->pub.verdict = iword(c, a, &r);
				d->pub.alert = iword(c, b, &r);
				d->pub.unreachable_rounds = (unsigned)w;
				d->pub.last_check = x;
				d->pub.last_change = y;
				d->pub.next_due = z;
			}
		} else if (strcmp(kw, "endpoint") == 0) {
			if (lex_word(c, &a, 1) < 0 ||
			    lex_name(c, &b, STORE_NAME_MAX) < 0 ||
			    lex_num(c, 0, 65535, &x) < 0 ||
			    lex_word(c, &e, 0) < 0 ||
			    lex_opt_name(c, &f, STORE_NAME_MAX) < 0 ||
			    lex_text(c, &kw) < 0 ||
			    (kw && strlen(kw) > STORE_TEXT_MAX) ||
			    n_eps == STORE_ENDPOINTS_MAX)
				BAD("bad endpoint line");
			if (d) {
				eps[n_eps].service = iword(c, a, &r);
				eps[n_eps].host = lex_keep(c, b);
				eps[n_eps].port = (unsigned)x;
				eps[n_eps].verdict = iword(c, e, &r);
				eps[n_eps].spki = lex_keep(c, f);
				eps[n_eps].error = lex_keep(c, kw);
				eps[n_eps].fail_rounds = 0;
				eps[n_eps].flags = 0;
			}
			n_eps++;
		} else if (strcmp(kw, "trouble") == 0) {
			unsigned flags = 0;

			/* Version 2: the endpoint line just before, once. */
			if (lex_num(c, 0, UINT32_MAX, &x) < 0 ||
			    troubled == n_eps)
				BAD("bad trouble line");
			while (c->cur && r == 0) {
				if (lex_word(c, &a, 1) < 0)
					r = -1;
				for (i = 0; r == 0 && i < STORE_N_EP_FLAG_WORDS;
				     i++)
					if (strcmp(a, store_ep_flag_words[i]) ==
					    0)
						flags |= 1u << i;
			}
			if (r < 0)
				BAD("bad trouble line");
			/* Unknown flag words are a later version's: ignored. */
			if (d) {
				eps[n_eps - 1].fail_rounds = (unsigned)x;
				eps[n_eps - 1].flags = flags;
			}
			troubled = n_eps;
		} else if (strcmp(kw, "defence") == 0) {
			/* Version 3: opaque text, once (domain_state.c reads
			 * it). */
			if (lex_text(c, &a) < 0 ||
			    (a && strlen(a) > STORE_TEXT_MAX) || defences++)
				BAD("bad defence line");
			if (d)
				defence = lex_keep(c, a);
		} else if (strcmp(kw, "key") == 0) {
			if (lex_name(c, &a, STORE_NAME_MAX) < 0 ||
			    lex_num(c, INT64_MIN, INT64_MAX, &x) < 0 ||
			    lex_num(c, INT64_MIN, INT64_MAX, &y) < 0 ||
			    lex_done(c) < 0 || n_keys == STORE_KEYS_MAX)
				BAD("bad key line");
			if (d)
				store_key_merge(keys, &n_keys, lex_keep(c, a),
						x, y);
			else
				n_keys++;
		} else if (strcmp(kw, "seen") == 0 ||
			   strcmp(kw, "split") == 0) {
			if (continuity_line(c, kw, d != NULL, &cont) < 0)
				BAD("bad seen or split line");
		} else if (strcmp(kw, "change") == 0) {
			if (lex_num(c, INT64_MIN, INT64_MAX, &x) < 0 ||
			    lex_word(c, &a, 0) < 0 || lex_word(c, &b, 0) < 0 ||
			    lex_text(c, &e) < 0 ||
			    (e && strlen(e) > STORE_TEXT_MAX))
				BAD("bad change line");
			if (d) {
				/* Only the last STORE_HISTORY_MAX are kept. */
				if (n_hist == STORE_HISTORY_MAX) {
					memmove(&hist[0], &hist[1],
						(n_hist - 1) * sizeof(*hist));
					n_hist--;
				}
				hist[n_hist].time = x;
				hist[n_hist].from = iword(c, a, &r);
				hist[n_hist].to = iword(c, b, &r);
				hist[n_hist++].note = lex_keep(c, e);
			}
		} else if (strcmp(kw, "ct") == 0) {
			/* Version 3: opaque text for component/ct_state.c. */
			if (lex_text(c, &a) < 0 || a == NULL ||
			    store_ct_collect(&ctl, &n_ct, a) < 0)
				BAD("bad ct line");
		} else if (strcmp(kw, "chat") == 0) {
			if (lex_name(c, &a, STORE_JID_MAX) < 0 ||
			    lex_done(c) < 0 || n_chat == STORE_SUBS_MAX)
				BAD("bad chat line");
			if (d) {
				const char *jn;

				if ((r = grow_list(c, n_chat, sizeof(*chat))) <
					0 ||
				    (r = store_load_chat(c->st, d, a, &jn)) < 0)
					break;
				chat = c->list;
				if (jn)
					chat[n_chat++] = jn;
			} else {
				n_chat++;
			}
		} else if (strcmp(kw, "pubsub") == 0) {
			if (lex_name(c, &a, STORE_JID_MAX) < 0 ||
			    lex_opt_name(c, &b, STORE_NAME_MAX) < 0 ||
			    lex_done(c) < 0 || n_ps == STORE_SUBS_MAX)
				BAD("bad pubsub line");
			if (d) {
				const char *jn;

				if ((r = grow_list2(c, n_ps)) < 0 ||
				    (r = store_load_pubsub(c->st, d, a, &jn)) <
					0)
					break;
				ps = c->list2;
				ps[n_ps].jid = jn;
				ps[n_ps++].subid = lex_keep(c, b);
			} else {
				n_ps++;
			}
		} else {
			r = lex_fail(c, "unknown line \"%.20s\"", kw);
		}
		if (r < 0)
			break;
	}
	if (!states && r == 0)
		r = lex_fail(c, "record without a state line");
	if (d == NULL) {
		free(ctl);
		return r;
	}
	ct = (struct store_content){eps,  n_eps,  keys, n_keys, hist, n_hist,
				    chat, n_chat, ps,	n_ps,	NULL};
	ct.defence = defence;
	if (r == 0 && (r = store_dom_pack(c->st, d, &ct)) == 0 &&
	    (r = store_cont_attach(c->st, d, &cont, &changed)) == 0) {
		free(d->ct);
		d->ct = ctl;
		return 0;
	}
	free(ctl);
	/* Undo the links made to JIDs: d is about to be dropped. */
	for (i = 0; i < n_chat; i++) {
		store_jid_unlink(c->st, store_jid_of_name(chat[i]), &d->pub, 0);
		c->st->n_chat--;
	}
	store_pubsub_unlink_all(c->st, &d->pub, ps, n_ps);
	c->st->n_pubsub -= n_ps;
	return r;
#undef BAD
}

static int
jid_body(struct pctx *c, const char **presence, unsigned *flags)
{
	int r, seen_p = 0, seen_f = 0;
	char *kw, *a;
	size_t i;

	*presence = NULL;
	*flags = 0;
	for (;;) {
		if ((r = lex_next_line(c)) <= 0)
			return r < 0 ? -1 : lex_fail(c, "record not ended");
		if (lex_field(c, &kw) < 0 || kw == NULL)
			return lex_fail(c, "empty line");
		if (starts_record(c, kw))
			return -1;
		if (strcmp(kw, "end") == 0)
			return lex_done(c) < 0 ? lex_fail(c, "junk after end")
					       : 0;
		if (strcmp(kw, "presence") == 0) {
			if (lex_word(c, &a, 1) < 0 || lex_done(c) < 0 ||
			    seen_p++)
				return lex_fail(c, "bad presence line");
			*presence = store_word(c->st, a, &r);
			if (r)
				return lex_fail(c, "too many distinct words");
		} else if (strcmp(kw, "flags") == 0) {
			if (seen_f++)
				return lex_fail(c, "two flags lines");
			while (c->cur) {
				if (lex_word(c, &a, 1) < 0)
					return lex_fail(c, "bad flags line");
				for (i = 0; i < STORE_N_FLAG_WORDS; i++)
					if (strcmp(a, store_flag_words[i]) == 0)
						*flags |= 1u << i;
			}
		} else {
			return lex_fail(c, "unknown line \"%.20s\"", kw);
		}
	}
}

/* Whether a record read from this file replaces one with the same key
 * read from another: the file written last (higher commit) wins. */
static int
newer_than(struct pctx *c, const struct hnode *old)
{
	mark_dirty(c->st, old->origin);
	mark_dirty(c->st, c->origin);
	return c->gen > c->st->shards[old->origin].gen;
}

static void
settle(struct pctx *c, struct hnode *n)
{
	n->origin = (uint16_t)c->origin;
	if (n->shard != c->origin) {
		/* Not in its home file (a manual move, another shard count):
		 * it moves home on the next write, home written first. */
		mark_dirty(c->st, n->shard);
		mark_dirty(c->st, c->origin);
		c->st->shards[c->origin].losing = 1;
	}
}

/* One record starting at the line in c->line ("domain X" / "jid X"). */
static int
record(struct pctx *c)
{
	size_t start = c->pos;
	unsigned lineno = c->lineno;
	char *kw, *key, keybuf[STORE_JID_MAX + 1];
	int r;

	c->records++;
	if (lex_field(c, &kw) < 0 || kw == NULL)
		return lex_fail(c, "empty line");
	if (strcmp(kw, "domain") == 0) {
		struct dom *d, *old;

		if (lex_name(c, &key, STORE_NAME_MAX) < 0 || lex_done(c) < 0)
			return lex_fail(c, "bad domain line");
		strcpy(keybuf, key);
		if ((old = store_dom_find(c->st, keybuf)) != NULL) {
			/* A duplicate: check it first, keep the newer. */
			if (domain_body(c, NULL) < 0)
				return -1;
			if (!newer_than(c, &old->h))
				return 0;
			store_dom_destroy(c->st, old);
			c->pos = start;
			c->lineno = lineno;
		}
		if (store_dom_create(c->st, keybuf, &d) < 0)
			return lex_fail(c, "out of memory");
		if ((r = domain_body(c, d)) < 0) {
			store_dom_destroy(c->st, d);
			if (r != -1)
				lex_fail(c, r == -ENOMEM
						? "out of memory"
						: "too many distinct words");
			return -1;
		}
		settle(c, &d->h);
	} else if (strcmp(kw, "jid") == 0) {
		const char *presence;
		unsigned flags;
		struct jid *j;

		if (lex_name(c, &key, STORE_JID_MAX) < 0 || lex_done(c) < 0)
			return lex_fail(c, "bad jid line");
		strcpy(keybuf, key);
		if (jid_body(c, &presence, &flags) < 0)
			return -1;
		j = store_jid_find(c->st, keybuf);
		if (j && (j->pub.presence || j->pub.flags) &&
		    !newer_than(c, &j->h))
			return 0;
		if (store_jid_set(c->st, keybuf, presence, flags) < 0)
			return lex_fail(c, "out of memory");
		if ((j = store_jid_find(c->st, keybuf)) != NULL)
			settle(c, &j->h);
	} else {
		return lex_fail(c, "expected a record, got \"%.20s\"", kw);
	}
	c->kept++;
	return 0;
}

/* After an error inside a record: skip to the next record's first line. */
static int
resync(struct pctx *c)
{
	int r;

	while ((r = lex_next_line(c)) != 0) {
		if (r < 0)
			continue;
		if (strncmp(c->line, "domain ", 7) == 0 ||
		    strncmp(c->line, "jid ", 4) == 0 ||
		    strncmp(c->line, "records ", 8) == 0)
			return 1;
	}
	return 0;
}

int
store_parse_file(struct store *st, const char *buf, size_t len, unsigned origin,
		 uint64_t *gen, size_t *kept, char *err, size_t errlen)
{
	struct pctx *c;
	int64_t v;
	int r, have, ret = 0;
	char *kw;

	*kept = 0;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->st = st;
	c->buf = buf;
	c->len = len;
	c->err = err;
	c->errlen = errlen;
	c->origin = origin;
	st->loading = 1;
	if (lex_next_line(c) <= 0 || lex_field(c, &kw) < 0 || kw == NULL ||
	    strcmp(kw, STORE_MAGIC) != 0 || lex_num(c, 0, INT32_MAX, &v) < 0 ||
	    lex_done(c) < 0) {
		ret = lex_fail(c, "not a certwatch-store file");
		goto out;
	}
	if (v < STORE_FORMAT_OLDEST || v > STORE_FORMAT_VERSION) {
		lex_fail(
		    c, "format version %lld, this certwatch reads %d to %d",
		    (long long)v, STORE_FORMAT_OLDEST, STORE_FORMAT_VERSION);
		ret = v > STORE_FORMAT_VERSION ? -2 : -1;
		goto out;
	}
	if (lex_next_line(c) <= 0 || lex_field(c, &kw) < 0 || kw == NULL ||
	    strcmp(kw, "commit") != 0 || lex_num(c, 0, INT64_MAX, &v) < 0 ||
	    lex_done(c) < 0) {
		ret = lex_fail(c, "bad commit line");
		goto out;
	}
	c->gen = (uint64_t)v;
	/* A record's strings are copies of its bytes: the file's size is
	 * always enough. */
	if ((c->arena = malloc(len + 1)) == NULL) {
		ret = lex_fail(c, "out of memory");
		goto out;
	}
	c->arena_cap = len + 1;
	if (gen)
		*gen = c->gen;
	if (origin < STORE_NSHARDS && st->shards[origin].gen < c->gen)
		st->shards[origin].gen = c->gen;
	have = lex_next_line(c);
	for (;;) {
		if (have < 0) {
			have = resync(c);
			continue;
		}
		if (have == 0) {
			ret = lex_fail(c, "truncated: no records line");
			break;
		}
		if (strncmp(c->line, "records ", 8) == 0) {
			c->cur = c->line + 8;
			if (lex_num(c, 0, INT64_MAX, &v) < 0 ||
			    lex_done(c) < 0 || (size_t)v != c->records)
				ret = lex_fail(
				    c, "records line says %.20s, %zu read",
				    c->line + 8, c->records);
			else if (c->pos != c->len)
				ret =
				    lex_fail(c, "data after the records line");
			break;
		}
		if ((r = record(c)) < 0) {
			if (c->rewound) {
				c->rewound = 0;
				have = lex_next_line(c);
			} else {
				have = resync(c);
			}
			continue;
		}
		have = lex_next_line(c);
	}
	if (c->failed && ret == 0)
		ret = -1;
out:
	st->loading = 0;
	*kept = c->kept;
	free(c->arena);
	free(c->list);
	free(c->list2);
	free(c->seen);
	free(c);
	return ret;
}

int
store_parse_shard(struct store *st, const char *buf, size_t len, char *err,
		  size_t errlen)
{
	size_t kept;

	if (err && errlen)
		*err = '\0';
	return store_parse_file(st, buf, len, 0, NULL, &kept, err, errlen);
}
