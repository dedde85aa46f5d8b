/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_store.c - the store: every field round-trips through the files,
 * commits are durable when acknowledged (SIGKILL at random instants), a
 * corrupt shard is set aside while the rest loads, hostile bytes never
 * crash the parser, the lock refuses a second open, and a full disk
 * (injected, and a real 64 KB tmpfs where one can be mounted) keeps the old
 * files and reports the error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/cw_skip.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"

static char *
mktemp_dir(void)
{
	char *d = strdup("/tmp/test_store.XXXXXX");

	assert_non_null(mkdtemp(d));
	return d;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
rm_dir(char *d)
{
	nftw(d, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(d);
}

static struct store *
open_ok(const char *dir)
{
	struct store *st;
	char err[512];

	if (store_open(dir, &st, err, sizeof(err)) < 0)
		fail_msg("store_open: %s", err);
	return st;
}

static size_t
n_warnings(struct store *st)
{
	const char *const *w;

	return store_warnings(st, &w);
}

/* Waits for the notify fd and processes completions until *flag is set. */
static void
wait_flag(struct store *st, volatile int *flag)
{
	struct pollfd p = {store_notify_fd(st), POLLIN, 0};
	int rounds = 0;

	while (!*flag && rounds++ < 1000) {
		poll(&p, 1, 100);
		store_process_completions(st);
	}
	assert_true(*flag);
}

struct done {
	int called;
	int result;
	int order;
};

static int done_seq;

static void
on_done(void *arg, int result)
{
	struct done *d = arg;

	d->called++;
	d->result = result;
	d->order = ++done_seq;
}

static char *
slurp(const char *dir, const char *name, size_t *len)
{
	char path[512], *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

/* The name of the only file of dir whose name starts with prefix and
 * contains `has`, or NULL; count set to how many match. */
static char *
find_file(const char *dir, const char *has, int *count)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char *found = NULL;

	*count = 0;
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, has)) {
			(*count)++;
			free(found);
			found = strdup(de->d_name);
		}
	closedir(d);
	return found;
}

/* ---- round trip ---- */

static struct store_endpoint
ep_at(const struct store_domain *d, size_t i)
{
	struct store_endpoint e;

	store_domain_endpoint(d, i, &e);
	return e;
}

static struct store_change
change_at(const struct store_domain *d, size_t i)
{
	struct store_change c;

	store_domain_change(d, i, &c);
	return c;
}

static const char *spki_a =
    "6a5f9b3c1d2e4f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff";
static const char *spki_b =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static void
fill(struct store *st)
{
	struct store_endpoint eps[4] = {
	    {"xmpp-client", "xmpp.example.org", 5222, "ok", spki_a, NULL, 0, 0},
	    {"xmpps-client", "xmpp.example.org", 5223, "mismatch", spki_b,
	     "key differs: 100% sure\nline two - with spaces  ", 3,
	     STORE_EP_ALERTED},
	    {"xmpp-server", "s2s.example.org", 5269, "unreachable", NULL, "-",
	     4294967295u, 0},
	    {"xmpps-server", "s2s.example.org", 0, NULL, NULL, "", 0,
	     STORE_EP_ALERTED},
	};
	struct store_change ch = {1700000100, "ok", "mismatch",
				  "key changed to 0011…"};
	struct store_change ch0 = {1700000000, NULL, "ok", NULL};
	struct store_update u = {"mismatch", "alarm", 2, 1700000100,
				 1700003700, eps,     4, &ch};
	struct store_update u0 = {"ok",	      NULL, 0, 1700000000,
				  1700003600, eps,  1, &ch0};

	assert_int_equal(store_domain_record(st, "example.org", &u0), 0);
	assert_int_equal(store_domain_record(st, "example.org", &u), 0);
	assert_int_equal(store_sub_add(st, "example.org", "alice@example.net"),
			 1);
	assert_int_equal(store_sub_add(st, "example.org", "bob@example.com"),
			 1);
	assert_int_equal(
	    store_sub_add(st, "other.example", "alice@example.net"), 1);
	assert_int_equal(store_pubsub_add(st, "example.org",
					  "carol@example.com/phone 2", "sub-1"),
			 1);
	assert_int_equal(store_pubsub_add(st, "example.org",
					  "carol@example.com/phone 2", NULL),
			 1);
	assert_int_equal(store_pubsub_add(st, "-", "dave@example.com", "%x y"),
			 1);
	assert_int_equal(store_presence_set(st, "alice@example.net", "both"),
			 0);
	assert_int_equal(store_presence_set(st, "erin@example.org", "from"), 0);
	assert_int_equal(store_jid_flags(st, "frank@example.org",
					 STORE_FLAG_TOLD_UNSUB_ALL, 1),
			 0);
	assert_int_equal(store_domain_add(st, "bare.example"), 1);
}

static void
check_filled(struct store *st)
{
	const struct store_domain *d = store_domain_get(st, "example.org"), *o;
	const struct store_jid *j;
	struct store_stats s;

	assert_non_null(d);
	assert_string_equal(d->verdict, "mismatch");
	assert_string_equal(d->alert, "alarm");
	assert_int_equal(d->unreachable_rounds, 2);
	assert_int_equal(d->last_check, 1700000100);
	assert_int_equal(d->last_change, 1700000100);
	assert_int_equal(d->next_due, 1700003700);
	assert_int_equal(d->n_endpoints, 4);
	assert_string_equal(ep_at(d, 0).service, "xmpp-client");
	assert_string_equal(ep_at(d, 0).host, "xmpp.example.org");
	assert_int_equal(ep_at(d, 0).port, 5222);
	assert_string_equal(ep_at(d, 0).verdict, "ok");
	assert_string_equal(ep_at(d, 0).spki, spki_a);
	assert_null(ep_at(d, 0).error);
	assert_string_equal(ep_at(d, 1).error,
			    "key differs: 100% sure\nline two - with spaces  ");
	assert_string_equal(ep_at(d, 1).spki, spki_b);
	assert_null(ep_at(d, 2).spki);
	assert_string_equal(ep_at(d, 2).error, "-");
	assert_int_equal(ep_at(d, 3).port, 0);
	assert_null(ep_at(d, 3).verdict);
	assert_null(ep_at(d, 3).error);
	/* Endpoint trouble: the count (to its 32-bit limit) and the flag. */
	assert_int_equal(ep_at(d, 0).fail_rounds, 0);
	assert_int_equal(ep_at(d, 0).flags, 0);
	assert_int_equal(ep_at(d, 1).fail_rounds, 3);
	assert_int_equal(ep_at(d, 1).flags, STORE_EP_ALERTED);
	assert_int_equal(ep_at(d, 2).fail_rounds, 4294967295u);
	assert_int_equal(ep_at(d, 2).flags, 0);
	assert_int_equal(ep_at(d, 3).fail_rounds, 0);
	assert_int_equal(ep_at(d, 3).flags, STORE_EP_ALERTED);
	assert_int_equal(d->n_keys, 2);
	assert_string_equal(d->keys[0].spki, spki_a);
	assert_int_equal(d->keys[0].first_seen, 1700000000);
	assert_int_equal(d->keys[0].last_seen, 1700000100);
	assert_string_equal(d->keys[1].spki, spki_b);
	assert_int_equal(d->keys[1].first_seen, 1700000100);
	assert_int_equal(d->n_history, 2);
	assert_null(change_at(d, 0).from);
	assert_string_equal(change_at(d, 0).to, "ok");
	assert_null(change_at(d, 0).note);
	assert_int_equal(change_at(d, 1).time, 1700000100);
	assert_string_equal(change_at(d, 1).from, "ok");
	assert_string_equal(change_at(d, 1).to, "mismatch");
	assert_string_equal(change_at(d, 1).note, "key changed to 0011…");
	assert_int_equal(d->n_chat, 2);
	assert_string_equal(d->chat[0], "alice@example.net");
	assert_string_equal(d->chat[1], "bob@example.com");
	assert_int_equal(d->n_pubsub, 2);
	assert_string_equal(d->pubsub[0].jid, "carol@example.com/phone 2");
	assert_string_equal(d->pubsub[0].subid, "sub-1");
	assert_null(d->pubsub[1].subid);
	assert_non_null(o = store_domain_get(st, "-"));
	assert_string_equal(o->pubsub[0].subid, "%x y");
	assert_non_null(o = store_domain_get(st, "bare.example"));
	assert_null(o->verdict);
	assert_int_equal(o->n_chat + o->n_pubsub + o->n_endpoints, 0);

	assert_non_null(j = store_jid_get(st, "alice@example.net"));
	assert_string_equal(j->presence, "both");
	assert_int_equal(j->n_domains, 2);
	assert_non_null(j = store_jid_get(st, "carol@example.com/phone 2"));
	assert_int_equal(j->n_pubsub, 1); /* the node once, for two subids */
	assert_string_equal(j->pubsub[0]->name, "example.org");
	assert_non_null(j = store_jid_get(st, "erin@example.org"));
	assert_string_equal(j->presence, "from");
	assert_int_equal(j->n_domains, 0);
	assert_non_null(j = store_jid_get(st, "frank@example.org"));
	assert_int_equal(j->flags, STORE_FLAG_TOLD_UNSUB_ALL);
	assert_null(j->presence);

	store_stats(st, &s);
	assert_int_equal(s.domains, 4);
	assert_int_equal(s.chat_subs, 3);
	assert_int_equal(s.pubsub_subs, 3);
	assert_int_equal(s.presence, 2);
	assert_int_equal(s.jids, 6);
}

static void
test_round_trip(void **state)
{
	char *dir = mktemp_dir();
	struct store *st = open_ok(dir);
	struct store_io_stats io;

	fill(st);
	check_filled(st);
	assert_int_equal(store_commit_sync(st), 0);
	store_close(st);

	st = open_ok(dir);
	assert_int_equal(n_warnings(st), 0);
	check_filled(st);
	/* Nothing changed: nothing to write. */
	store_stats(st, &(struct store_stats){0});
	assert_int_equal(store_commit_sync(st), 0);
	store_io_stats(st, &io);
	assert_int_equal(io.files_written, 0);
	store_close(st);

	/* A memory store behaves the same, minus the files. */
	assert_int_equal(store_open(NULL, &st, NULL, 0), 0);
	fill(st);
	check_filled(st);
	assert_int_equal(store_commit_sync(st), 0);
	store_close(st);
	rm_dir(dir);
}

/* ---- the API's bookkeeping ---- */

/* subscriptions_per_jid counts every subscription of a bare JID: chat
 * (kept under the bare JID) and pubsub under any of its full JIDs. */
static void
test_subs_of_bare(void **state)
{
	struct store *st;

	(void)state;
	assert_int_equal(store_open(NULL, &st, NULL, 0), 0);
	assert_int_equal(store_subs_of_bare(st, "u@x.example"), 0);
	assert_int_equal(store_sub_add(st, "a.example", "u@x.example"), 1);
	assert_int_equal(
	    store_pubsub_add(st, "b.example", "u@x.example/r1", "cw1"), 1);
	assert_int_equal(
	    store_pubsub_add(st, "c.example", "u@x.example/r2", "cw1"), 1);
	assert_int_equal(
	    store_pubsub_add(st, "d.example", "u@X.Example/r3", "cw1"), 1);
	assert_int_equal(
	    store_pubsub_add(st, "e.example", "u@x.example", "cw1"), 1);
	/* Other JIDs that share a prefix. */
	assert_int_equal(store_sub_add(st, "a.example", "u@x.example.org"), 1);
	assert_int_equal(
	    store_pubsub_add(st, "a.example", "u@x.exampleq/r", "cw1"), 1);
	assert_int_equal(store_sub_add(st, "a.example", "uu@x.example"), 1);
	assert_int_equal(store_subs_of_bare(st, "u@x.example"), 5);
	assert_int_equal(
	    store_pubsub_remove(st, "c.example", "u@x.example/r2", NULL), 1);
	assert_int_equal(store_subs_of_bare(st, "u@x.example"), 4);
	store_close(st);
}

static void
test_subscriptions(void **state)
{
	struct store *st;
	const struct store_domain *d;
	const struct store_jid *j;
	struct store_stats s;
	size_t cur = 0, n = 0;
	char name[64];
	int i;

	assert_int_equal(store_open(NULL, &st, NULL, 0), 0);
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "d%d.example", i);
		assert_int_equal(store_sub_add(st, name, "a@x"), 1);
		assert_int_equal(store_sub_add(st, name, "a@x"), 0);
		if (i % 3 == 0)
			assert_int_equal(store_sub_add(st, name, "b@x"), 1);
	}
	assert_non_null(j = store_jid_get(st, "a@x"));
	assert_int_equal(j->n_domains, 300);
	assert_string_equal(j->domains[7]->name, "d7.example");
	while ((d = store_domain_next(st, &cur)) != NULL)
		n++;
	assert_int_equal(n, 300);
	assert_int_equal(store_sub_remove(st, "d3.example", "b@x"), 1);
	assert_int_equal(store_sub_remove(st, "d3.example", "b@x"), 0);
	assert_int_equal(store_sub_remove_all(st, "a@x"), 300);
	assert_null(store_jid_get(st, "a@x"));
	assert_non_null(j = store_jid_get(st, "b@x"));
	assert_int_equal(j->n_domains, 99);
	assert_int_equal(store_domain_remove(st, "d0.example"), 1);
	assert_int_equal(store_domain_remove(st, "d0.example"), 0);
	assert_int_equal(store_jid_get(st, "b@x")->n_domains, 98);
	store_stats(st, &s);
	assert_int_equal(s.domains, 299);
	assert_int_equal(s.chat_subs, 98);
	assert_int_equal(s.jids, 1);

	/* pubsub: several subids, removal of one and of all */
	assert_int_equal(store_pubsub_add(st, "p.example", "c@x/r", "1"), 1);
	assert_int_equal(store_pubsub_add(st, "p.example", "c@x/r", "2"), 1);
	assert_int_equal(store_pubsub_add(st, "p.example", "c@x/r", "2"), 0);
	assert_int_equal(store_pubsub_add(st, "p.example", "d@x", NULL), 1);
	assert_int_equal(store_jid_get(st, "c@x/r")->n_pubsub, 1);
	assert_int_equal(store_pubsub_remove(st, "p.example", "c@x/r", "1"), 1);
	assert_non_null(store_jid_get(st, "c@x/r"));
	assert_int_equal(store_pubsub_remove(st, "p.example", "c@x/r", NULL),
			 1);
	assert_null(store_jid_get(st, "c@x/r"));
	assert_int_equal(store_domain_get(st, "p.example")->n_pubsub, 1);
	assert_int_equal(store_domain_remove(st, "p.example"), 1);
	assert_null(store_jid_get(st, "d@x"));

	/* presence and flags alone keep a JID; clearing them frees it */
	assert_int_equal(store_presence_set(st, "e@x", "both"), 0);
	assert_int_equal(
	    store_jid_flags(st, "e@x", STORE_FLAG_TOLD_UNSUB_ALL, 1), 0);
	assert_int_equal(store_presence_set(st, "e@x", NULL), 0);
	assert_non_null(store_jid_get(st, "e@x"));
	assert_int_equal(
	    store_jid_flags(st, "e@x", STORE_FLAG_TOLD_UNSUB_ALL, 0), 0);
	assert_null(store_jid_get(st, "e@x"));

	/* bad arguments change nothing */
	assert_int_equal(store_sub_add(st, "", "a@x"), -EINVAL);
	assert_int_equal(store_sub_add(st, "x.example", ""), -EINVAL);
	assert_int_equal(store_presence_set(st, "a@x", "two words"), -EINVAL);
	assert_int_equal(store_jid_flags(st, "a@x", 0x100, 1), -EINVAL);
	{
		struct store_endpoint ep = {"bad service", "h",	 1, "ok",
					    NULL,	   NULL, 0, 0};
		struct store_update u = {"ok", NULL, 0, 1, 2, &ep, 1, NULL};

		assert_int_equal(store_domain_record(st, "new.example", &u),
				 -EINVAL);
		assert_null(store_domain_get(st, "new.example"));
		u.endpoints = NULL;
		u.n_endpoints = 0;
		u.verdict = "no tlsa";
		assert_int_equal(store_domain_record(st, "new.example", &u),
				 -EINVAL);
		assert_null(store_domain_get(st, "new.example"));
	}
	store_close(st);
}

static void
test_bounds(void **state)
{
	struct store *st;
	const struct store_domain *d;
	char spki[80], note[3000];
	int i;

	assert_int_equal(store_open(NULL, &st, NULL, 0), 0);
	for (i = 0; i < 80; i++) {
		struct store_endpoint ep = {
		    "xmpp-client", "h.example", 5222, "ok", spki, NULL, 0, 0};
		struct store_change ch = {i, "ok", "ok", note};
		struct store_update u = {"ok", NULL, 0, 1000 + i,
					 0,    &ep,  1, &ch};

		snprintf(spki, sizeof(spki), "%064d", i);
		snprintf(note, sizeof(note), "change %d", i);
		assert_int_equal(store_domain_record(st, "b.example", &u), 0);
	}
	d = store_domain_get(st, "b.example");
	assert_int_equal(d->n_keys, STORE_KEYS_MAX);
	assert_int_equal(d->keys[0].first_seen, 1000 + 80 - STORE_KEYS_MAX);
	assert_int_equal(d->n_history, STORE_HISTORY_MAX);
	assert_string_equal(change_at(d, 0).note, "change 30");
	assert_string_equal(change_at(d, STORE_HISTORY_MAX - 1).note,
			    "change 79");

	/* free text is cut, not inside a UTF-8 sequence */
	memset(note, 'a', sizeof(note));
	note[STORE_TEXT_MAX - 1] = (char)0xc3;
	note[STORE_TEXT_MAX] = (char)0xa9;
	note[sizeof(note) - 1] = '\0';
	{
		struct store_change ch = {1, NULL, NULL, note};
		struct store_update u = {NULL, NULL, 0, 0, 0, NULL, 0, &ch};

		assert_int_equal(store_domain_record(st, "b.example", &u), 0);
	}
	d = store_domain_get(st, "b.example");
	assert_int_equal(strlen(change_at(d, STORE_HISTORY_MAX - 1).note),
			 STORE_TEXT_MAX - 1);
	store_close(st);
}

/* ---- endpoints and history kept packed ---- */

/*
 * A domain with every field of STORE_ENDPOINTS_MAX endpoints and
 * STORE_HISTORY_MAX changes set (NULLs, empty strings, bounds, text cut),
 * using the last of the STORE_WORDS_MAX (255) words the store can hold,
 * read back through the accessors, then again after a reload from disk.
 */
#define PK_CHANGES 60
/* Services, verdicts (none for every fourth endpoint), each change's `to`. */
#define PK_WORDS_USED                                                          \
	(STORE_ENDPOINTS_MAX + STORE_ENDPOINTS_MAX * 3 / 4 + PK_CHANGES)
#define PK_WORDS_MAX 255 /* STORE_WORDS_MAX, store_int.h */

static char pk_long[1500];

/* Endpoint i as written; *want_error is what must come back. */
static void
pk_endpoint(int i, struct store_endpoint *e, char *svc, char *ver, char *host,
	    char *spki, char *err, const char **want_error)
{
	sprintf(svc, "svc%d", i);
	sprintf(ver, "ver%d", i);
	if (i == 5) {
		memset(host, 'h', STORE_NAME_MAX);
		host[STORE_NAME_MAX] = '\0';
	} else {
		sprintf(host, "host%d.example", i % 3);
	}
	sprintf(spki, "%064d", i % 48);
	sprintf(err, "error %d:\n%%20 \t%s", i, i % 2 ? "x" : "");
	e->service = svc;
	e->host = host;
	e->port = i == 0			 ? 0
		  : i == STORE_ENDPOINTS_MAX - 1 ? 65535
						 : (unsigned)i * 1000 + 1;
	e->verdict = i % 4 == 0 ? NULL : ver;
	e->spki = i % 4 == 1 ? NULL : spki;
	e->error = i % 3 == 0 ? NULL : i % 3 == 1 ? "" : i == 2 ? pk_long : err;
	*want_error = e->error && *e->error ? e->error : NULL;
}

/* Change j as written. */
static void
pk_change(int j, struct store_change *c, char *from, char *to, char *note)
{
	sprintf(from, "to%d", j - 1);
	sprintf(to, "to%d", j);
	sprintf(note, "note %d", j);
	c->time = j == PK_CHANGES - 1 ? INT64_MAX
		  : j == 10	      ? INT64_MIN
				      : (int64_t)j * 100 - 3000;
	c->from = j == 0 ? NULL : from;
	c->to = to;
	c->note = j % 3 == 0 ? NULL : j % 3 == 1 ? note : pk_long;
}

static void
pk_str(const char *got, const char *want, size_t max)
{
	if (want == NULL) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_int_equal(strlen(got), strlen(want) < max ? strlen(want) : max);
	assert_memory_equal(got, want, strlen(got));
}

static void
pk_check(struct store *st)
{
	const struct store_domain *d = store_domain_get(st, "packed.example");
	char svc[32], ver[32], host[STORE_NAME_MAX + 1], spki[80], err[80],
	    from[32], to[32], note[32];
	struct store_endpoint got, want;
	struct store_change gc, wc;
	const char *want_error;
	int i;

	assert_non_null(d);
	assert_int_equal(d->n_endpoints, STORE_ENDPOINTS_MAX);
	assert_int_equal(d->n_history, STORE_HISTORY_MAX);
	assert_int_equal(d->n_keys, STORE_KEYS_MAX);
	for (i = 0; i < STORE_ENDPOINTS_MAX; i++) {
		pk_endpoint(i, &want, svc, ver, host, spki, err, &want_error);
		store_domain_endpoint(d, (size_t)i, &got);
		assert_string_equal(got.service, want.service);
		pk_str(got.host, want.host, STORE_NAME_MAX);
		assert_int_equal(got.port, want.port);
		pk_str(got.verdict, want.verdict, STORE_WORD_MAX);
		pk_str(got.spki, want.spki, STORE_NAME_MAX);
		pk_str(got.error, want_error, STORE_TEXT_MAX);
	}
	for (i = 0; i < STORE_HISTORY_MAX; i++) {
		pk_change(PK_CHANGES - STORE_HISTORY_MAX + i, &wc, from, to,
			  note);
		store_domain_change(d, (size_t)i, &gc);
		assert_true(gc.time == wc.time);
		pk_str(gc.from, wc.from, STORE_WORD_MAX);
		pk_str(gc.to, wc.to, STORE_WORD_MAX);
		pk_str(gc.note, wc.note, STORE_TEXT_MAX);
	}
	assert_string_equal(d->verdict, "to59");
	assert_true(d->last_change == INT64_MAX);
	/* Past the end: all empty. */
	store_domain_endpoint(d, STORE_ENDPOINTS_MAX, &got);
	assert_null(got.service);
	assert_null(got.host);
	assert_int_equal(got.port, 0);
	store_domain_change(d, STORE_HISTORY_MAX, &gc);
	assert_null(gc.to);
	assert_true(gc.time == 0);
}

static void
test_packed(void **state)
{
	static struct store_endpoint eps[STORE_ENDPOINTS_MAX];
	static char svc[STORE_ENDPOINTS_MAX][32], ver[STORE_ENDPOINTS_MAX][32],
	    spki[STORE_ENDPOINTS_MAX][80], err[STORE_ENDPOINTS_MAX][80],
	    host[STORE_ENDPOINTS_MAX][STORE_NAME_MAX + 1];
	char *dir = mktemp_dir(), jid[64], word[32], from[32], to[32], note[32];
	struct store *st = open_ok(dir);
	const struct store_domain *d;
	const char *want_error;
	int i, j;

	memset(pk_long, 'n', sizeof(pk_long) - 1);
	/* Fill the words so that the domain's take the last indexes; the
	 * last change's `to` is the 255th and last word. */
	for (i = 0; i < PK_WORDS_MAX - PK_WORDS_USED; i++) {
		sprintf(jid, "p%d@example.org", i);
		sprintf(word, "pres%d", i);
		assert_int_equal(store_presence_set(st, jid, word), 0);
	}
	for (i = 0; i < STORE_ENDPOINTS_MAX; i++)
		pk_endpoint(i, &eps[i], svc[i], ver[i], host[i], spki[i],
			    err[i], &want_error);
	for (j = 0; j < PK_CHANGES; j++) {
		struct store_change c;
		struct store_update u = {NULL,
					 NULL,
					 7,
					 1700000000 + j,
					 1700003600,
					 eps,
					 STORE_ENDPOINTS_MAX,
					 &c};

		pk_change(j, &c, from, to, note);
		u.verdict = c.to;
		assert_int_equal(store_domain_record(st, "packed.example", &u),
				 0);
	}
	pk_check(st);

	/* No 256th word; a record with one changes nothing. */
	assert_int_equal(
	    store_presence_set(st, "one@example.org", "one-too-many"), -EINVAL);
	{
		struct store_change c = {1, "to59", "one-too-many", NULL};
		struct store_update u = {"to59", NULL, 0, 1, 2, eps, 1, &c};

		assert_int_equal(store_domain_record(st, "packed.example", &u),
				 -EINVAL);
	}
	pk_check(st);

	/* Subscriptions repack the blob: the rest is carried over. */
	assert_int_equal(store_sub_add(st, "packed.example", "a@example.org"),
			 1);
	assert_int_equal(
	    store_pubsub_add(st, "packed.example", "b@example.org", "s"), 1);
	pk_check(st);

	assert_int_equal(store_commit_sync(st), 0);
	store_close(st);
	st = open_ok(dir);
	assert_int_equal(n_warnings(st), 0);
	pk_check(st);
	d = store_domain_get(st, "packed.example");
	assert_int_equal(d->n_chat, 1);
	assert_int_equal(d->n_pubsub, 1);
	store_close(st);
	rm_dir(dir);
}

/* ---- asynchronous commits and their cost ---- */

static void
test_async_commit(void **state)
{
	char *dir = mktemp_dir();
	struct store *st = open_ok(dir);
	struct done a = {0}, b = {0}, c = {0};
	struct store_io_stats io0, io1;
	struct store_endpoint ep = {"xmpp-client", "x.example", 5222, "ok",
				    spki_a,	   NULL,	0,    0};
	struct store_update u = {"ok", NULL, 0, 1, 2, &ep, 1, NULL};
	char name[64];
	int i;

	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "d%d.example", i);
		assert_int_equal(store_sub_add(st, name, "a@x"), 1);
	}
	assert_int_equal(store_commit(st, on_done, &a), 0);
	assert_int_equal(a.called, 0); /* never from inside store_commit */
	store_sub_add(st, "late.example", "a@x");
	assert_int_equal(store_commit(st, on_done, &b), 0);
	assert_int_equal(store_commit(st, on_done, &c), 0);
	wait_flag(st, &c.called);
	assert_int_equal(a.result, 0);
	assert_int_equal(b.result, 0);
	assert_true(a.order < b.order && b.order < c.order);

	/* One verdict change: one shard file and two fsyncs. */
	store_io_stats(st, &io0);
	memset(&a, 0, sizeof(a));
	ep.verdict = "mismatch";
	assert_int_equal(store_domain_record(st, "d7.example", &u), 0);
	assert_int_equal(store_commit(st, on_done, &a), 0);
	wait_flag(st, &a.called);
	store_io_stats(st, &io1);
	assert_int_equal(io1.files_written - io0.files_written, 1);
	assert_int_equal(io1.fsyncs - io0.fsyncs, 2);
	assert_true(io1.bytes_written - io0.bytes_written < 2000);
	store_close(st);

	st = open_ok(dir);
	assert_string_equal(
	    ep_at(store_domain_get(st, "d7.example"), 0).verdict, "mismatch");
	assert_non_null(store_domain_get(st, "late.example"));
	store_close(st);
	rm_dir(dir);
}

/* A round that changed nothing: store_domain_touch() updates the times
 * and keys' last_seen in memory, dirties no shard, writes nothing; the
 * values reach disk with the shard's next real write. */
static void
test_touch(void **state)
{
	char *dir = mktemp_dir();
	struct store *st = open_ok(dir);
	struct store_endpoint ep = {"xmpp-client", "x.example", 5222, "ok",
				    spki_a,	   NULL,	0,    0};
	struct store_update u = {"ok", NULL, 0, 100, 200, &ep, 1, NULL};
	const char *spkis[] = {spki_a, NULL, ""};
	const char *unknown[] = {spki_a, spki_b};
	const struct store_domain *d;
	struct store_stats ss;
	struct store_io_stats io0, io1;

	assert_int_equal(store_sub_add(st, "t.example", "a@x"), 1);
	assert_int_equal(store_domain_record(st, "t.example", &u), 0);
	assert_int_equal(store_commit_sync(st), 0);
	store_io_stats(st, &io0);

	assert_int_equal(
	    store_domain_touch(st, "t.example", 300, 400, spkis, 3), 0);
	store_stats(st, &ss);
	assert_int_equal(ss.dirty_shards, 0);
	d = store_domain_get(st, "t.example");
	assert_int_equal(d->last_check, 300);
	assert_int_equal(d->next_due, 400);
	assert_int_equal(d->keys[0].first_seen, 100);
	assert_int_equal(d->keys[0].last_seen, 300);
	/* An older time does not lower last_seen. */
	assert_int_equal(
	    store_domain_touch(st, "t.example", 250, 450, spkis, 1), 0);
	assert_int_equal(d->keys[0].last_seen, 300);
	assert_int_equal(d->last_check, 250);
	assert_int_equal(
	    store_domain_touch(st, "t.example", 300, 400, spkis, 1), 0);
	assert_int_equal(store_commit_sync(st), 0);
	store_io_stats(st, &io1);
	assert_int_equal(io1.files_written, io0.files_written);
	assert_int_equal(io1.fsyncs, io0.fsyncs);

	/* Misses change nothing. */
	assert_int_equal(store_domain_touch(st, "none.example", 1, 2, NULL, 0),
			 -EINVAL);
	assert_int_equal(store_domain_touch(st, NULL, 1, 2, NULL, 0), -EINVAL);
	assert_int_equal(
	    store_domain_touch(st, "t.example", 900, 901, unknown, 2), -ENOENT);
	assert_int_equal(d->last_check, 300);
	assert_int_equal(d->keys[0].last_seen, 300);

	/* Not written by itself: a reopen sees the last real write. */
	store_close(st);
	st = open_ok(dir);
	d = store_domain_get(st, "t.example");
	assert_int_equal(d->last_check, 100);
	assert_int_equal(d->next_due, 200);
	assert_int_equal(d->keys[0].last_seen, 100);

	/* Touched values ride with the shard's next real write. */
	assert_int_equal(
	    store_domain_touch(st, "t.example", 500, 600, spkis, 1), 0);
	assert_int_equal(store_sub_add(st, "t.example", "b@x"), 1);
	assert_int_equal(store_commit_sync(st), 0);
	store_close(st);
	st = open_ok(dir);
	d = store_domain_get(st, "t.example");
	assert_int_equal(d->last_check, 500);
	assert_int_equal(d->next_due, 600);
	assert_int_equal(d->keys[0].first_seen, 100);
	assert_int_equal(d->keys[0].last_seen, 500);
	assert_int_equal(d->n_chat, 2);
	store_close(st);
	rm_dir(dir);
}

/* ---- crash safety ---- */

struct ack_ctx {
	int fd;
	int n;
};

static void
on_ack(void *arg, int result)
{
	struct ack_ctx *a = arg;
	char line[32];
	int n;

	if (result != 0)
		_exit(3);
	n = snprintf(line, sizeof(line), "%d\n", a->n);
	if (write(a->fd, line, (size_t)n) != n)
		_exit(4);
	free(a);
}

/* The child: subscribes and records checks as fast as it can, each commit
 * acknowledged on the pipe once its callback ran. */
static void
crash_child(const char *dir, int fd, int base)
{
	struct store *st;
	char err[256], name[64], jid[64];
	int i;

	if (store_open(dir, &st, err, sizeof(err)) < 0)
		_exit(2);
	for (i = base;; i++) {
		struct store_endpoint ep = {
		    "xmpp-client", "x.example", 5222, "ok", spki_a, NULL, 0, 0};
		struct store_change ch = {i, "ok", "mismatch", "note"};
		struct store_update u = {"mismatch", "alarm", 0, i,
					 i + 60,     &ep,     1, &ch};
		struct ack_ctx *a = malloc(sizeof(*a));
		struct pollfd p = {store_notify_fd(st), POLLIN, 0};

		snprintf(name, sizeof(name), "c%d.example", i);
		snprintf(jid, sizeof(jid), "u%d@x", i % 97);
		if (store_sub_add(st, name, jid) != 1 ||
		    store_domain_record(st, name, &u) != 0)
			_exit(5);
		a->fd = fd;
		a->n = i;
		if (store_commit(st, on_ack, a) < 0)
			_exit(6);
		/* Let completions in; at most 32 commits outstanding. */
		poll(&p, 1, i % 8 == 0 ? 1 : 0);
		store_process_completions(st);
	}
}

static void
test_crash_safety(void **state)
{
	char *dir = mktemp_dir();
	static char acked[1 << 20];
	int round, base = 0, total = 0;
	const char *env = getenv("CERTWATCH_SEED");
	unsigned seed = env != NULL ? (unsigned)strtoul(env, NULL, 10)
				    : (unsigned)time(NULL);

	/* The kill instants come from rand(): the seed replays a failure. */
	fprintf(stderr,
		"crash safety: seed %u (CERTWATCH_SEED=%u replays it)\n", seed,
		seed);
	srand(seed);
	for (round = 0; round < 12; round++) {
		int fds[2], status;
		pid_t pid;
		char buf[4096], line[32];
		size_t ll = 0;
		ssize_t n;
		struct timespec ts;
		struct store *st;
		int max = base - 1, i;

		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			crash_child(dir, fds[1], base);
		}
		close(fds[1]);
		ts.tv_sec = 0;
		ts.tv_nsec = (10 + rand() % 150) * 1000000L;
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		assert_true(WIFSIGNALED(status));
		while ((n = read(fds[0], buf, sizeof(buf))) > 0) {
			ssize_t k;

			for (k = 0; k < n; k++) {
				if (buf[k] != '\n') {
					if (ll < sizeof(line) - 1)
						line[ll++] = buf[k];
					continue;
				}
				line[ll] = '\0';
				ll = 0;
				i = atoi(line);
				assert_true(i >= base &&
					    i < (int)sizeof(acked));
				acked[i] = 1;
				if (i > max)
					max = i;
			}
		}
		close(fds[0]);

		st = open_ok(dir);
		assert_int_equal(n_warnings(st), 0);
		for (i = 0; i <= max; i++) {
			char name[64];
			const struct store_domain *d;

			if (!acked[i])
				continue;
			snprintf(name, sizeof(name), "c%d.example", i);
			d = store_domain_get(st, name);
			if (d == NULL)
				fail_msg(
				    "round %d: acknowledged commit %d lost",
				    round, i);
			assert_int_equal(d->n_chat, 1);
			assert_int_equal(d->last_check, i);
			total++;
		}
		store_close(st);
		base = max + 1000;
		if (base > (int)sizeof(acked) - 100000)
			break;
	}
	print_message(
	    "crash safety: %d acknowledged commits checked over 12 kills\n",
	    total);
	assert_true(total > 0);
	rm_dir(dir);
}

/* ---- corrupt and hostile files ---- */

static void
test_corrupt_shard(void **state)
{
	char *dir = mktemp_dir(), name[64], path[600], *bytes, *shard, *aside;
	struct store *st = open_ok(dir);
	const struct store_domain *d;
	const char *const *w;
	size_t cur = 0, n = 0, len;
	int i, count;
	FILE *f;

	for (i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), "d%d.example", i);
		assert_int_equal(store_sub_add(st, name, "a@x"), 1);
	}
	assert_int_equal(store_commit_sync(st), 0);
	/* Find the shard of d1.example with another domain in it. */
	store_close(st);

	/* Damage the first record of one shard file that holds several. */
	{
		DIR *dd = opendir(dir);
		struct dirent *de;

		shard = NULL;
		while ((de = readdir(dd)) != NULL && shard == NULL) {
			if (strncmp(de->d_name, "shard-", 6))
				continue;
			bytes = slurp(dir, de->d_name, &len);
			if (strstr(bytes, "end\ndomain ") != NULL)
				shard = strdup(de->d_name);
			free(bytes);
		}
		closedir(dd);
	}
	assert_non_null(shard);
	bytes = slurp(dir, shard, &len);
	{
		char *st1 = strstr(bytes, "state ");

		memcpy(st1, "stat% ", 6);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, shard);
	f = fopen(path, "wb");
	fwrite(bytes, 1, len, f);
	fclose(f);

	st = open_ok(dir);
	assert_int_equal(store_warnings(st, &w), 1);
	assert_non_null(strstr(w[0], shard));
	assert_non_null(strstr(w[0], "set aside as"));
	while ((d = store_domain_next(st, &cur)) != NULL)
		n++;
	assert_int_equal(n, 499); /* only the damaged record is missing */
	store_close(st);
	aside = find_file(dir, ".corrupt-", &count);
	assert_int_equal(count, 1);
	assert_non_null(strstr(aside, shard));
	{
		char *kept = slurp(dir, aside, NULL);

		assert_string_equal(kept, bytes); /* byte for byte */
		free(kept);
	}
	/* The shard was rewritten clean: the next open has nothing to say. */
	st = open_ok(dir);
	assert_int_equal(n_warnings(st), 0);
	store_close(st);

	/* A file of a newer format stops the open, with a clear message. */
	f = fopen(path, "wb");
	fputs("certwatch-store 4\ncommit 1\nrecords 0\n", f);
	fclose(f);
	{
		char err[512];

		assert_int_equal(store_open(dir, &st, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "version 4"));
	}
	/* Junk is set aside; the rest still loads. */
	f = fopen(path, "wb");
	fputs("\x7f"
	      "ELF\x01\x02 junk",
	      f);
	fclose(f);
	st = open_ok(dir);
	assert_int_equal(n_warnings(st), 1);
	store_close(st);
	free(aside);
	free(bytes);
	free(shard);
	rm_dir(dir);
}

static void
parse_expect(const char *bytes, int expect)
{
	struct store *st;
	char err[256] = "";

	assert_int_equal(store_open(NULL, &st, NULL, 0), 0);
	if (store_parse_shard(st, bytes, strlen(bytes), err, sizeof(err)) !=
	    expect)
		fail_msg("parse of \"%.60s\" did not give %d (%s)", bytes,
			 expect, err);
	store_close(st);
}

static void
test_hostile(void **state)
{
	struct store *st, *mem;
	char *dir = mktemp_dir(), *good, err[256];
	size_t len, i, cut;
	unsigned seed = 12345;
	char *junk;

	/* A valid file to cut and damage. */
	st = open_ok(dir);
	fill(st);
	assert_int_equal(store_commit_sync(st), 0);
	store_close(st);
	{
		int count;
		char *name;
		const struct store_domain *d;

		/* the shard of example.org */
		name = NULL;
		for (i = 0; i < 4096 && name == NULL; i++) {
			char n[32];

			snprintf(n, sizeof(n), "shard-%03zx", i);
			good = slurp(dir, n, &len);
			if (good && strstr(good, "domain example.org\n"))
				name = strdup(n);
			else
				free(good);
		}
		assert_non_null(name);
		free(name);
		(void)count;
		assert_int_equal(store_open(NULL, &mem, NULL, 0), 0);
		assert_int_equal(
		    store_parse_shard(mem, good, len, err, sizeof(err)), 0);
		assert_non_null(d = store_domain_get(mem, "example.org"));
		assert_int_equal(d->n_endpoints, 4);
		store_close(mem);
	}

	/* Every truncation is noticed (but the final newline's), and never
	 * crashes. */
	for (cut = 0; cut < len - 1; cut++) {
		assert_int_equal(store_open(NULL, &mem, NULL, 0), 0);
		assert_int_equal(
		    store_parse_shard(mem, good, cut, err, sizeof(err)), -1);
		store_close(mem);
	}
	/* Every single-byte change parses or fails cleanly. */
	for (i = 0; i < len; i++) {
		char saved = good[i];
		int v;

		for (v = 0; v < 256; v += 37) {
			good[i] = (char)v;
			assert_int_equal(store_open(NULL, &mem, NULL, 0), 0);
			(void)store_parse_shard(mem, good, len, err,
						sizeof(err));
			store_close(mem);
		}
		good[i] = saved;
	}
	/* Random junk, with and without a valid header. */
	junk = malloc(1 << 16);
	for (i = 0; i < 300; i++) {
		size_t n = (size_t)(rand_r(&seed) % (1 << 16)), k, off = 0;

		if (i % 2) {
			memcpy(junk, "certwatch-store 1\ncommit 5\n", 27);
			off = 27;
		}
		for (k = off; k < n; k++) {
			int r = rand_r(&seed);

			/* mostly printable and newlines, sometimes anything */
			junk[k] = (char)(r % 10 == 0   ? '\n'
					 : r % 50 == 0 ? r >> 8
						       : ' ' + (r >> 8) % 95);
		}
		assert_int_equal(store_open(NULL, &mem, NULL, 0), 0);
		(void)store_parse_shard(mem, junk, n > off ? n : off, err,
					sizeof(err));
		store_close(mem);
	}
	/* A huge line. */
	memset(junk, 'a', 1 << 16);
	memcpy(junk, "certwatch-store 1\ncommit 5\ndomain ", 34);
	assert_int_equal(store_open(NULL, &mem, NULL, 0), 0);
	assert_int_equal(
	    store_parse_shard(mem, junk, 1 << 16, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer"));
	store_close(mem);
	free(junk);

	parse_expect("", -1);
	parse_expect("certwatch-store 4\ncommit 1\nrecords 0\n", -2);
	parse_expect("certwatch-store 3\ncommit 1\nrecords 0\n", 0);
	parse_expect("certwatch-store 2\ncommit 1\nrecords 0\n", 0);
	parse_expect("certwatch-store 0\ncommit 1\nrecords 0\n", -1);
	parse_expect("certwatch-store 1\ncommit 1\nrecords 0\n", 0);
	parse_expect("certwatch-store 1\ncommit 1\nrecords 0", 0);
	parse_expect("certwatch-store 1\ncommit 1\nrecords 1\n", -1);
	parse_expect("certwatch-store 1\ncommit 1\nrecords 0\nx\n", -1);
	parse_expect("certwatch-store 1\r\ncommit 1\nrecords 0\n", -1);
	parse_expect("certwatch-store 1\ncommit 1\ndomain a%00b\nstate - - 0 0 "
		     "0 0\nend\nrecords 1\n",
		     -1);
	parse_expect("certwatch-store 1\ncommit 1\ndomain a%4\nstate - - 0 0 0 "
		     "0\nend\nrecords 1\n",
		     -1);
	parse_expect("certwatch-store 1\ncommit 1\ndomain a\nstate - - 0 0 0 "
		     "0\nend\nrecords 1\n",
		     0);
	parse_expect("certwatch-store 1\ncommit 1\ndomain a\nstate - - 0 0 0 0 "
		     "\nend\nrecords 1\n",
		     -1);
	parse_expect("certwatch-store 1\ncommit 1\ndomain a\nstate - - -1 0 0 "
		     "0\nend\nrecords 1\n",
		     -1);
	parse_expect("certwatch-store 1\ncommit 1\ndomain a\nstate - - 0 "
		     "99999999999999999999 0 0\nend\nrecords 1\n",
		     -1);
	parse_expect("certwatch-store 1\ncommit 1\ndomain a\nend\nrecords 1\n",
		     -1);
	parse_expect("certwatch-store 1\ncommit 1\ndomain a\nstate - - 0 0 0 "
		     "0\nendpoint x h 70000 ok - -\nend\nrecords 1\n",
		     -1);
	parse_expect("certwatch-store 1\ncommit 1\njid a\nflags "
		     "told-unsubscribe-all future-flag\nend\nrecords 1\n",
		     0);
	/* a record that lost its end costs only itself */
	{
		const char *two =
		    "certwatch-store 1\ncommit 1\ndomain a\nstate - - 0 0 0 0\n"
		    "domain b\nstate - - 0 0 0 0\nend\nrecords 2\n";

		assert_int_equal(store_open(NULL, &mem, NULL, 0), 0);
		assert_int_equal(
		    store_parse_shard(mem, two, strlen(two), err, sizeof(err)),
		    -1);
		assert_null(store_domain_get(mem, "a"));
		assert_non_null(store_domain_get(mem, "b"));
		store_close(mem);
	}
	/* too many endpoints */
	{
		char *big = malloc(70 * 64 + 200), *p = big;
		int k;

		p += sprintf(p, "certwatch-store 1\ncommit 1\ndomain a\nstate "
				"- - 0 0 0 0\n");
		for (k = 0; k < 70; k++)
			p += sprintf(p, "endpoint xmpp-client h%d 1 ok - -\n",
				     k);
		sprintf(p, "end\nrecords 1\n");
		parse_expect(big, -1);
		free(big);
	}
	free(good);
	rm_dir(dir);
}

/* Endpoint trouble (format version 2): the `trouble` line after its
 * endpoint, written only when there is something to say; version 1 files
 * still load, with no trouble. */
static void
test_trouble_lines(void **state)
{
	static const char v1[] =
	    "certwatch-store 1\ncommit 7\ndomain a.example\nstate ok - 0 1 1 "
	    "2\n"
	    "endpoint xmpp-client h.example 5222 ok - -\n"
	    "endpoint xmpp-server h.example 5269 ok - stream: closed\n"
	    "end\nrecords 1\n";
	static const char v2[] =
	    "certwatch-store 2\ncommit 7\ndomain a.example\nstate ok - 0 1 1 "
	    "2\n"
	    "endpoint xmpp-client h.example 5222 ok - -\n"
	    "endpoint xmpp-server h.example 5269 ok - stream: closed\n"
	    "trouble 3 alerted a-later-flag\n"
	    "end\nrecords 1\n";
	const char *head =
	    "certwatch-store 2\ncommit 1\ndomain a\nstate - - 0 0 0 0\n";
	static const char *bad[] = {
	    "trouble 1\nendpoint x h 1 ok - -\n", /* before any endpoint */
	    "endpoint x h 1 ok - -\ntrouble 1\ntrouble 2\n", /* twice */
	    "endpoint x h 1 ok - -\ntrouble -1\n",
	    "endpoint x h 1 ok - -\ntrouble 4294967296\n",
	    "endpoint x h 1 ok - -\ntrouble\n",
	    "endpoint x h 1 ok - -\ntrouble 1 -\n",
	    "endpoint x h 1 ok - -\ntrouble 1 bad%20word\n",
	    "endpoint x h 1 ok - -\ntrouble 1 alerted \n",
	};
	char *dir = mktemp_dir(), *name, *bytes, buf[512], err[256];
	const struct store_domain *d;
	struct store *st;
	int count;

	for (int v = 0; v < 2; v++) {
		const char *text = v ? v2 : v1;

		assert_int_equal(store_open(NULL, &st, NULL, 0), 0);
		assert_int_equal(
		    store_parse_shard(st, text, strlen(text), err, sizeof(err)),
		    0);
		assert_non_null(d = store_domain_get(st, "a.example"));
		assert_int_equal(d->n_endpoints, 2);
		assert_int_equal(ep_at(d, 0).fail_rounds, 0);
		assert_int_equal(ep_at(d, 0).flags, 0);
		assert_int_equal(ep_at(d, 1).fail_rounds, v ? 3 : 0);
		assert_int_equal(ep_at(d, 1).flags, v ? STORE_EP_ALERTED : 0);
		store_close(st);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "%s%send\nrecords 1\n", head,
			 bad[i]);
		parse_expect(buf, -1);
	}

	/* A version 1 file is read and written back as version 3: the
	 * healthy endpoint gets no trouble line, the other its count. */
	st = open_ok(dir);
	assert_int_equal(
	    store_parse_shard(st, v1, strlen(v1), err, sizeof(err)), 0);
	{
		struct store_endpoint eps[2];
		struct store_update u = {"ok", NULL, 0, 5, 6, eps, 2, NULL};

		d = store_domain_get(st, "a.example");
		store_domain_endpoint(d, 0, &eps[0]);
		store_domain_endpoint(d, 1, &eps[1]);
		eps[1].fail_rounds = 2;
		assert_int_equal(store_domain_record(st, "a.example", &u), 0);
	}
	assert_int_equal(store_commit_sync(st), 0);
	store_close(st);
	name = find_file(dir, "shard-", &count);
	assert_int_equal(count, 1);
	bytes = slurp(dir, name, NULL);
	assert_non_null(strstr(bytes, "certwatch-store 3\n"));
	assert_non_null(strstr(bytes, "5222 ok - -\nendpoint "));
	assert_non_null(strstr(bytes, "stream: closed\ntrouble 2\nend\n"));
	free(bytes);
	free(name);
	st = open_ok(dir);
	assert_non_null(d = store_domain_get(st, "a.example"));
	assert_int_equal(ep_at(d, 1).fail_rounds, 2);
	assert_int_equal(ep_at(d, 1).flags, 0);
	store_close(st);
	rm_dir(dir);
}

/* Key continuity (format version 3): `seen` lines and the `split` line
 * round-trip through a file byte for byte, a version 2 file loads with
 * none, a change of last_seen alone marks nothing, and bad lines make
 * the record invalid. */
#define KEY_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define KEY_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void
test_seen_lines(void **state)
{
	static const char v3[] =
	    "certwatch-store 3\ncommit 7\ndomain a.example\nstate ok - 0 1 1 "
	    "2\n"
	    "endpoint xmpp-client h.example 5222 ok - -\n"
	    "seen xmpp-client h.example 5222 ecdsa " KEY_A
	    " 100 200 2 tor,direct 192.0.2.1,2001:db8::1\n"
	    "seen xmpp-client h.example 5222 - " KEY_B " 150 150 0 - -\n"
	    "split 3 alarm a-later-flag\n"
	    "end\nrecords 1\n";
	const char *head =
	    "certwatch-store 3\ncommit 1\ndomain a\nstate - - 0 0 0 0\n";
	static const char *bad[] = {
	    "seen xmpp-client h 5222 ecdsa k 1 2\n",	     /* short */
	    "seen xmpp-client h 5222 ecdsa k 1 2 3 - - x\n", /* long */
	    "seen xmpp-client h 65536 ecdsa k 1 2 3 - -\n",
	    "seen - h 5222 ecdsa k 1 2 3 - -\n",
	    "seen xmpp-client h 5222 bad%20word k 1 2 3 - -\n",
	    "seen xmpp-client h 5222 ecdsa - 1 2 3 - -\n",
	    "seen xmpp-client h 5222 ecdsa k 1 2 -3 - -\n",
	    "seen xmpp-client h 5222 ecdsa k 1 2 3 a%20b -\n",
	    "split 1\nsplit 2\n",
	    "split -1\n",
	    "split\n",
	};
	char *dir = mktemp_dir(), *name, *bytes, buf[1024], err[256];
	const struct store_domain *d;
	struct store_continuity c;
	struct store *st;
	int count;

	/* Version 2: none. */
	parse_expect("certwatch-store 2\ncommit 1\ndomain a\nstate - - 0 0 0 "
		     "0\nend\nrecords 1\n",
		     0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "%s%send\nrecords 1\n", head,
			 bad[i]);
		parse_expect(buf, -1);
	}
	/* Too many seen lines. */
	{
		struct buf_s {
			char *p;
			size_t n;
		} big = {calloc(1, 200000), 0};
		big.n = (size_t)sprintf(big.p, "%s", head);
		for (int i = 0; i <= STORE_SEEN_MAX; i++)
			big.n += (size_t)sprintf(
			    big.p + big.n, "seen x h 1 - k%d 1 2 3 - -\n", i);
		sprintf(big.p + big.n, "end\nrecords 1\n");
		parse_expect(big.p, -1);
		free(big.p);
	}

	st = open_ok(dir);
	assert_int_equal(
	    store_parse_shard(st, v3, strlen(v3), err, sizeof(err)), 0);
	assert_non_null(d = store_domain_get(st, "a.example"));
	store_domain_continuity(d, &c);
	assert_int_equal(c.n_seen, 2);
	assert_int_equal(c.split_rounds, 3);
	assert_int_equal(c.flags, STORE_CONT_ALARM);
	assert_string_equal(c.seen[0].key_type, "ecdsa");
	assert_string_equal(c.seen[0].addresses, "192.0.2.1,2001:db8::1");
	assert_int_equal(c.seen[0].rounds, 2);
	assert_null(c.seen[1].key_type);
	assert_null(c.seen[1].vantages);
	/* The same again but a later last_seen: kept in memory only. */
	{
		struct store_seen s2[2] = {c.seen[0], c.seen[1]};
		struct store_continuity c2 = c;
		/* The views die with the first change: the caller's copies. */
		char str[2][4][300];

		for (int i = 0; i < 2; i++) {
			const char **f[4] = {&s2[i].host, &s2[i].spki,
					     &s2[i].vantages, &s2[i].addresses};
			for (int j = 0; j < 4; j++)
				if (*f[j]) {
					snprintf(str[i][j], sizeof(str[i][j]),
						 "%s", *f[j]);
					*f[j] = str[i][j];
				}
		}
		s2[0].last_seen = 300;
		c2.seen = s2;
		store_commit_sync(st);
		assert_int_equal(
		    store_domain_set_continuity(st, "a.example", &c2), 0);
		s2[1].rounds = 1;
		assert_int_equal(
		    store_domain_set_continuity(st, "a.example", &c2), 1);
		s2[1].rounds = 0;
		assert_int_equal(
		    store_domain_set_continuity(st, "a.example", &c2), 1);
		s2[0].vantages = "a b";
		assert_int_equal(
		    store_domain_set_continuity(st, "a.example", &c2), -EINVAL);
		assert_int_equal(
		    store_domain_set_continuity(st, "nowhere", &c2), -EINVAL);
	}
	assert_int_equal(store_commit_sync(st), 0);
	store_close(st);
	name = find_file(dir, "shard-", &count);
	assert_int_equal(count, 1);
	bytes = slurp(dir, name, NULL);
	assert_non_null(strstr(bytes, "certwatch-store 3\n"));
	assert_non_null(strstr(bytes,
			       "seen xmpp-client h.example 5222 ecdsa " KEY_A
			       " 100 300 2 tor,direct 192.0.2.1,2001:db8::1\n"
			       "seen xmpp-client h.example 5222 - " KEY_B
			       " 150 150 0 - -\nsplit 3 alarm\n"));
	free(bytes);
	free(name);
	st = open_ok(dir);
	assert_non_null(d = store_domain_get(st, "a.example"));
	store_domain_continuity(d, &c);
	assert_int_equal(c.n_seen, 2);
	assert_int_equal(c.seen[0].last_seen, 300);
	/* None at all: no line, nothing kept. */
	{
		struct store_continuity none = {0, 0, NULL, 0};
		assert_int_equal(
		    store_domain_set_continuity(st, "a.example", &none), 1);
	}
	assert_int_equal(store_commit_sync(st), 0);
	store_close(st);
	bytes = slurp(dir, name = find_file(dir, "shard-", &count), NULL);
	assert_null(strstr(bytes, "seen "));
	assert_null(strstr(bytes, "split "));
	free(bytes);
	free(name);
	rm_dir(dir);
}

/* A record in another shard's file (moved by hand, or a future shard
 * count) moves home; of two copies the one with the higher commit wins. */
static void
test_misplaced(void **state)
{
	char *dir = mktemp_dir(), *home, *bytes, *p, path[600];
	struct store_endpoint ep = {"xmpp-client", "x.example", 5222, "ok",
				    spki_a,	   NULL,	0,    0};
	struct store_update u = {"ok", NULL, 0, 1, 2, &ep, 1, NULL};
	struct store *st = open_ok(dir);
	int count;
	FILE *f;

	assert_int_equal(store_domain_record(st, "moved.example", &u), 0);
	assert_int_equal(store_commit_sync(st), 0);
	assert_int_equal(store_commit_sync(st), 0);
	store_close(st);
	home = find_file(dir, "shard-", &count);
	assert_int_equal(count, 1);
	bytes = slurp(dir, home, NULL);
	/* an older copy (commit 0) with another verdict, in a foreign file */
	p = strstr(bytes, "commit ");
	p[7] = '0';
	p = strstr(bytes, "state ok");
	memcpy(p, "state no", 8);
	p = strstr(bytes, "\nendpoint");
	memmove(p + 1,
		"endpoint xmpp-client x.example 5222 ok - -\nend\nrecords 1\n",
		strlen("endpoint xmpp-client x.example 5222 ok - "
		       "-\nend\nrecords 1\n") +
		    1);
	snprintf(path, sizeof(path), "%s/%s", dir,
		 strcmp(home, "shard-fff") ? "shard-fff" : "shard-ffe");
	f = fopen(path, "wb");
	fputs(bytes, f);
	fclose(f);

	st = open_ok(dir);
	assert_int_equal(n_warnings(st), 0);
	assert_string_equal(store_domain_get(st, "moved.example")->verdict,
			    "ok");
	store_close(st);
	/* the foreign copy is gone, the home file kept */
	free(find_file(dir, "shard-", &count));
	assert_int_equal(count, 1);

	/* Alone in a foreign file, a record moves home. */
	{
		char from[600], to[600];

		snprintf(from, sizeof(from), "%s/%s", dir, home);
		snprintf(to, sizeof(to), "%s/shard-%03x", dir,
			 strcmp(home, "shard-001") ? 1 : 2);
		assert_int_equal(rename(from, to), 0);
	}
	st = open_ok(dir);
	assert_non_null(store_domain_get(st, "moved.example"));
	store_close(st);
	{
		char *only = find_file(dir, "shard-", &count);

		assert_int_equal(count, 1);
		assert_string_equal(only, home);
		free(only);
	}
	free(bytes);
	free(home);
	rm_dir(dir);
}

/* ---- lock ---- */

static void
test_lock(void **state)
{
	char *dir = mktemp_dir(), err[512], pid[32];
	struct store *st = open_ok(dir), *st2;
	int status;
	pid_t child;

	assert_int_equal(store_open(dir, &st2, err, sizeof(err)), -1);
	snprintf(pid, sizeof(pid), "(pid %ld)", (long)getpid());
	assert_non_null(
	    strstr(err, "state directory in use by another certwatch"));
	assert_non_null(strstr(err, pid));
	/* another process too */
	child = fork();
	if (child == 0)
		_exit(store_open(dir, &st2, err, sizeof(err)) == -1 ? 0 : 1);
	waitpid(child, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	store_close(st);
	st = open_ok(dir);
	store_close(st);
	rm_dir(dir);
}

/* ---- a full disk ---- */

static void
test_enospc_injected(void **state)
{
	char *dir = mktemp_dir(), *before, *after, *shard, name[64];
	struct store *st = open_ok(dir);
	struct done a = {0};
	int count;
	size_t lb, la;

	assert_int_equal(store_sub_add(st, "full.example", "a@x"), 1);
	assert_int_equal(store_commit_sync(st), 0);
	shard = find_file(dir, "shard-", &count);
	assert_int_equal(count, 1);
	before = slurp(dir, shard, &lb);

	store_debug_fail_writes(st, ENOSPC, -1);
	assert_int_equal(store_sub_add(st, "full.example", "b@x"), 1);
	assert_int_equal(store_commit(st, on_done, &a), 0);
	wait_flag(st, &a.called);
	assert_int_equal(a.result, -ENOSPC);
	assert_int_equal(store_commit_sync(st), -ENOSPC);
	after = slurp(dir, shard, &la);
	assert_int_equal(la, lb);
	assert_memory_equal(before, after, lb);
	free(after);
	free(find_file(dir, ".tmp", &count));
	assert_int_equal(count, 0);

	/* Space again: the change still in memory is written. */
	store_debug_fail_writes(st, 0, 0);
	memset(&a, 0, sizeof(a));
	assert_int_equal(store_commit(st, on_done, &a), 0);
	wait_flag(st, &a.called);
	assert_int_equal(a.result, 0);
	store_close(st);
	st = open_ok(dir);
	assert_int_equal(store_domain_get(st, "full.example")->n_chat, 2);
	store_close(st);
	snprintf(name, sizeof(name), "%s", shard);
	free(shard);
	free(before);
	rm_dir(dir);
}

/* In a child with its own mount namespace: a 64 KB tmpfs fills up. */
static int
tmpfs_child(const char *dir)
{
	struct store *st;
	char err[256], name[64], jid[600];
	int i, last_ok = -1, r = 0;

	if (unshare(CLONE_NEWNS) < 0) {
		uid_t uid = getuid();
		gid_t gid = getgid();
		char map[64];
		int fd;

		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
			return 77;
		fd = open("/proc/self/setgroups", O_WRONLY);
		if (fd >= 0 && (write(fd, "deny", 4) < 0 || close(fd) < 0))
			return 77;
		snprintf(map, sizeof(map), "0 %u 1", uid);
		fd = open("/proc/self/uid_map", O_WRONLY);
		if (fd < 0 || write(fd, map, strlen(map)) < 0 || close(fd) < 0)
			return 77;
		snprintf(map, sizeof(map), "0 %u 1", gid);
		fd = open("/proc/self/gid_map", O_WRONLY);
		if (fd < 0 || write(fd, map, strlen(map)) < 0 || close(fd) < 0)
			return 77;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700") < 0)
		return 77;
	if (store_open(dir, &st, err, sizeof(err)) < 0)
		return 10;
	memset(jid, 'j', 500);
	for (i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "d%d.example", i);
		snprintf(jid + 500, 50, "%d@x", i);
		if (store_sub_add(st, name, jid) != 1)
			return 11;
		if ((r = store_commit_sync(st)) < 0)
			break;
		last_ok = i;
	}
	if (r != -ENOSPC || last_ok < 10)
		return 12;
	store_close(st);
	/* Reopen: everything acknowledged is there and parses. */
	if (store_open(dir, &st, err, sizeof(err)) < 0)
		return 13;
	{
		const char *const *w;

		if (store_warnings(st, &w) != 0)
			return 14;
	}
	for (i = 0; i <= last_ok; i++) {
		snprintf(name, sizeof(name), "d%d.example", i);
		if (store_domain_get(st, name) == NULL)
			return 15;
	}
	store_close(st);
	umount(dir);
	return 0;
}

static void
test_enospc_tmpfs(void **state)
{
	char *dir = mktemp_dir();
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(tmpfs_child(dir));
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		rm_dir(dir);
		cw_skip_unprivileged(
		    "no tmpfs mount (needs root or a user namespace)");
	}
	assert_int_equal(WEXITSTATUS(status), 0);
	rm_dir(dir);
}

/* Version 3: a domain's `ct` lines (store/ct.c) are kept as given, in
 * order, written back byte for byte, survive a round's record, and are
 * bounded; a hostile line fails its record, never the others. */
static void
test_ct_lines(void **state)
{
	static const char v3[] =
	    "certwatch-store 3\ncommit 7\ndomain a.example\nstate ok - 0 1 1 "
	    "2\n"
	    "endpoint xmpp-client h.example 5222 ok - -\n"
	    "ct tlsa 3 1 1 00ff\n"
	    "ct event sent known 0 0 0 5 - - x%25y - - 0 0 - -1 f.ct\n"
	    "end\ndomain b.example\nstate ok - 0 1 1 2\nct a%0Ab\nend\nrecords "
	    "2\n";
	char *dir = mktemp_dir(), *name, *bytes, err[256];
	const struct store_domain *d;
	struct store *st;
	int count;

	(void)state;
	assert_int_equal(store_open(NULL, &st, NULL, 0), 0);
	assert_int_equal(
	    store_parse_shard(st, v3, strlen(v3), err, sizeof(err)), -1);
	assert_non_null(d = store_domain_get(st, "a.example"));
	assert_null(store_domain_get(st, "b.example")); /* newline: refused */
	assert_string_equal(
	    store_domain_ct(d),
	    "tlsa 3 1 1 00ff\n"
	    "event sent known 0 0 0 5 - - x%y - - 0 0 - -1 f.ct");
	store_close(st);

	st = open_ok(dir);
	assert_int_equal(store_domain_add(st, "c.example"), 1);
	assert_int_equal(store_domain_set_ct(st, "c.example", "one\ntwo %"), 0);
	assert_int_equal(store_domain_set_ct(st, "nowhere.example", "x"),
			 -EINVAL);
	assert_int_equal(store_domain_set_ct(st, "c.example", "a\n\nb"),
			 -EINVAL);
	{
		char many[STORE_CT_LINES * 2 + 8] = "";
		for (int i = 0; i <= STORE_CT_LINES; i++)
			strcat(many, i ? "\nx" : "x");
		assert_int_equal(store_domain_set_ct(st, "c.example", many),
				 -EINVAL);
	}
	{
		struct store_update u = {"ok", NULL, 0, 5, 6, NULL, 0, NULL};
		assert_int_equal(store_domain_record(st, "c.example", &u), 0);
	}
	assert_int_equal(store_commit_sync(st), 0);
	store_close(st);
	name = find_file(dir, "shard-", &count);
	assert_int_equal(count, 1);
	bytes = slurp(dir, name, NULL);
	assert_non_null(strstr(bytes, "certwatch-store 3\n"));
	assert_non_null(strstr(bytes, "\nct one\nct two %25\n"));
	free(bytes);
	free(name);
	st = open_ok(dir);
	assert_non_null(d = store_domain_get(st, "c.example"));
	assert_string_equal(store_domain_ct(d), "one\ntwo %");
	assert_int_equal(store_domain_set_ct(st, "c.example", NULL), 0);
	assert_null(store_domain_ct(d));
	store_close(st);
	rm_dir(dir);
}

/* The `defence` line (version 3): opaque text kept as it is, written only
 * when it changed, read back; a version 2 file has none; a bad line makes
 * the record invalid. */
static void
test_defence_line(void **state)
{
	static const char v2[] =
	    "certwatch-store 2\ncommit 7\ndomain a.example\nstate ok - 0 1 1 "
	    "2\n"
	    "endpoint xmpp-client h.example 5222 ok - -\nend\nrecords 1\n";
	static const char *bad[] = {
	    "defence\n", "defence caa=bound\ndefence caa=none\n", /* twice */
	};
	const char *head =
	    "certwatch-store 3\ncommit 1\ndomain a\nstate - - 0 0 0 0\n";
	const char *text =
	    "caa=bound cb=offered cb_ep=0/5222/1/13/0badf00d/0/0 100%";
	char *dir = mktemp_dir(), *name, *bytes, buf[512], err[256],
	     big[STORE_TEXT_MAX + 2];
	const struct store_domain *d;
	struct store_io_stats io0, io1;
	struct store *st;
	int count;

	(void)state;
	assert_int_equal(store_open(NULL, &st, NULL, 0), 0);
	assert_int_equal(
	    store_parse_shard(st, v2, strlen(v2), err, sizeof(err)), 0);
	assert_non_null(d = store_domain_get(st, "a.example"));
	assert_null(d->defence);
	store_close(st);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "%s%send\nrecords 1\n", head,
			 bad[i]);
		parse_expect(buf, -1);
	}

	st = open_ok(dir);
	assert_int_equal(store_domain_set_defence(st, "nowhere.example", text),
			 -EINVAL);
	assert_int_equal(store_sub_add(st, "a.example", "alice@example.net"),
			 1);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(store_domain_set_defence(st, "a.example", big),
			 -EINVAL);
	assert_int_equal(store_domain_set_defence(st, "a.example", text), 1);
	/* Kept through the record's other changes. */
	assert_int_equal(store_sub_add(st, "a.example", "bob@example.net"), 1);
	assert_int_equal(store_commit_sync(st), 0);
	store_io_stats(st, &io0);
	assert_int_equal(store_domain_set_defence(st, "a.example", text), 0);
	assert_int_equal(store_commit_sync(st), 0);
	store_io_stats(st, &io1);
	assert_int_equal(io1.files_written, io0.files_written);
	store_close(st);
	name = find_file(dir, "shard-", &count);
	assert_int_equal(count, 1);
	bytes = slurp(dir, name, NULL);
	assert_non_null(strstr(bytes, "certwatch-store 3\n"));
	assert_non_null(strstr(bytes,
			       "\ndefence caa=bound cb=offered "
			       "cb_ep=0/5222/1/13/0badf00d/0/0 100%25\n"));
	free(bytes);
	free(name);
	st = open_ok(dir);
	assert_non_null(d = store_domain_get(st, "a.example"));
	assert_string_equal(d->defence, text);
	assert_int_equal(d->n_chat, 2);
	assert_int_equal(store_domain_set_defence(st, "a.example", NULL), 1);
	assert_null(store_domain_get(st, "a.example")->defence);
	store_close(st);
	rm_dir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_subscriptions),
	    cmocka_unit_test(test_subs_of_bare),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_packed),
	    cmocka_unit_test(test_async_commit),
	    cmocka_unit_test(test_touch),
	    cmocka_unit_test(test_crash_safety),
	    cmocka_unit_test(test_corrupt_shard),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_trouble_lines),
	    cmocka_unit_test(test_seen_lines),
	    cmocka_unit_test(test_defence_line),
	    cmocka_unit_test(test_misplaced),
	    cmocka_unit_test(test_ct_lines),
	    cmocka_unit_test(test_lock),
	    cmocka_unit_test(test_enospc_injected),
	    cmocka_unit_test(test_enospc_tmpfs),
	};

	return cw_skip_status(cmocka_run_group_tests(tests, NULL, NULL));
}
