/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * fuzz_store.c - the store's file parser (store/store.h store_parse_shard)
 * on hostile shard files, into a memory store (store_open(NULL, ...)).
 *
 * What was loaded is then read through every view (each string walked,
 * so ASan checks it), changed (a subscription added, a domain removed),
 * and written back with the writer's formatter (store_int.h): that output
 * must parse whole into a fresh store and give the same counts.
 */
#include "fuzz.h"

#include "store/store.h"
#include "store/store_int.h"

static size_t
slen(const char *s)
{
	return s ? strlen(s) : 0;
}

/* Reads every view; returns a number so the reads are not dropped. */
static size_t
walk(const struct store *st)
{
	const struct store_domain *d;
	const struct store_jid *j;
	size_t cur = 0, sum = 0;

	while ((d = store_domain_next(st, &cur)) != NULL) {
		FUZZ_CHECK(d->name != NULL);
		FUZZ_CHECK(store_domain_get(st, d->name) == d);
		sum += slen(d->name) + slen(d->verdict) + slen(d->alert);
		FUZZ_CHECK(d->n_endpoints <= STORE_ENDPOINTS_MAX);
		FUZZ_CHECK(d->n_keys <= STORE_KEYS_MAX);
		FUZZ_CHECK(d->n_history <= STORE_HISTORY_MAX);
		for (size_t i = 0; i < d->n_endpoints; i++) {
			struct store_endpoint e;

			store_domain_endpoint(d, i, &e);
			FUZZ_CHECK(e.service != NULL && e.host != NULL);
			sum += slen(e.service) + slen(e.host) +
			       slen(e.verdict) + slen(e.spki) + slen(e.error);
		}
		for (size_t i = 0; i < d->n_keys; i++)
			sum += slen(d->keys[i].spki);
		for (size_t i = 0; i < d->n_history; i++) {
			struct store_change h;

			store_domain_change(d, i, &h);
			sum += slen(h.from) + slen(h.to) + slen(h.note);
		}
		for (size_t i = 0; i < d->n_chat; i++) {
			FUZZ_CHECK(store_jid_get(st, d->chat[i]) != NULL);
			sum += slen(d->chat[i]);
		}
		for (size_t i = 0; i < d->n_pubsub; i++)
			sum +=
			    slen(d->pubsub[i].jid) + slen(d->pubsub[i].subid);
	}
	cur = 0;
	while ((j = store_jid_next(st, &cur)) != NULL) {
		FUZZ_CHECK(j->jid != NULL);
		sum += slen(j->jid) + slen(j->presence);
		for (size_t i = 0; i < j->n_domains; i++)
			sum += slen(j->domains[i]->name);
		for (size_t i = 0; i < j->n_pubsub; i++)
			sum += slen(j->pubsub[i]->name);
	}
	return sum;
}

/* Formats every shard of `st` and parses it into `into`. */
static void
write_back(const struct store *st, struct store *into)
{
	for (unsigned i = 0; i < STORE_NSHARDS; i++) {
		char err[256], *out = NULL;
		size_t len = 0;

		if (store_format_shard(st, i, 1, &out, &len) < 0 || out == NULL)
			continue;
		if (store_parse_shard(into, out, len, err, sizeof(err)) != 0) {
			fprintf(stderr, "own output of shard %03x: %s\n", i,
				err);
			abort();
		}
		free(out);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly `size` bytes: the parser takes a length. */
	char *buf = malloc(size ? size : 1);
	struct store *st, *again;
	struct store_stats s1, s2;
	char err[256];
	size_t cur = 0;
	const struct store_domain *d;
	int rc;

	FUZZ_CHECK(buf != NULL);
	memcpy(buf, data, size);
	FUZZ_CHECK(store_open(NULL, &st, err, sizeof(err)) == 0);
	memset(err, 'x', sizeof(err));
	rc = store_parse_shard(st, buf, size, err, sizeof(err));
	FUZZ_CHECK(rc >= -2 && rc <= 0);
	if (rc != 0)
		FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) && err[0] != '\0');
	(void)walk(st);

	/* What loaded writes back and reads back the same. */
	FUZZ_CHECK(store_open(NULL, &again, err, sizeof(err)) == 0);
	write_back(st, again);
	store_stats(st, &s1);
	store_stats(again, &s2);
	FUZZ_CHECK(s1.domains == s2.domains && s1.jids == s2.jids &&
		   s1.chat_subs == s2.chat_subs &&
		   s1.pubsub_subs == s2.pubsub_subs &&
		   s1.presence == s2.presence);
	store_close(again);

	/* The loaded state takes changes like any other. */
	if ((d = store_domain_next(st, &cur)) != NULL) {
		char name[STORE_NAME_MAX + 1];
		snprintf(name, sizeof(name), "%s", d->name);
		FUZZ_CHECK(store_sub_add(st, name, "fuzz@example.org") >= 0);
		(void)walk(st);
		FUZZ_CHECK(store_domain_remove(st, name) == 1);
		FUZZ_CHECK(store_domain_get(st, name) == NULL);
		(void)walk(st);
	}
	(void)store_sub_remove_all(st, "fuzz@example.org");
	FUZZ_CHECK(store_commit_sync(st) == 0);
	store_close(st);
	free(buf);
	return 0;
}
