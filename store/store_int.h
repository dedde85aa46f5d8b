/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * store_int.h - what the store's files share: the in-memory model
 * (state.c), the file format (format.c) and the I/O and commits (store.c).
 */
#ifndef CERTWATCH_STORE_INT_H
#define CERTWATCH_STORE_INT_H

#include <pthread.h>
#include <stdint.h>

#include "store/store.h"
#include "util/hmap.h"

/* Records are spread over this many files by a hash of their key, so one
 * change rewrites 1/4096th of the state (docs/store.md says why). */
#define STORE_NSHARDS 4096u
/* Distinct words (verdicts, services...): a packed record holds a word as
 * a one-byte index, and 255 there means no word. */
#define STORE_WORDS_MAX 255
#define STORE_WORD_NONE 255
#define STORE_OFF_NONE UINT32_MAX	   /* a packed string offset: NULL */
#define STORE_LINE_MAX 16384		   /* longest line of a shard file */
#define STORE_FILE_MAX ((size_t)256 << 20) /* largest shard file read */
#define STORE_SUBS_MAX                                                         \
	1000000 /* subscribers of one domain read from a file                  \
		 */

#define STORE_MAGIC "certwatch-store"
/* Files of versions OLDEST..VERSION are read; VERSION is written. */
#define STORE_FORMAT_VERSION 3
#define STORE_FORMAT_OLDEST 1
#define STORE_N_FLAG_WORDS 1
extern const char
    *const store_flag_words[STORE_N_FLAG_WORDS]; /* in bit order */
#define STORE_N_EP_FLAG_WORDS 1
extern const char
    *const store_ep_flag_words[STORE_N_EP_FLAG_WORDS]; /* in bit order */

enum { NODE_DOMAIN = 1, NODE_JID = 2 };

/* What a domain and a JID record share: their place in the hash table, in
 * their shard's list and in the dense array used for iteration. */
struct hnode {
	struct hmap_node hm; /* in the htab, by store_hash() of its name */
	struct hnode *snext; /* shard list */
	uint32_t idx;	     /* index in the dense array */
	uint16_t shard;	     /* home shard: hash % STORE_NSHARDS */
	uint16_t origin;     /* while loading: the file it came from */
	uint8_t kind;
};

/*
 * An endpoint and a history entry as kept in a domain's blob: words as
 * their index in the store's words[] (stable: words are only added),
 * strings as their offset in the blob.  24 and 16 bytes instead of 56
 * and 32 for the views (store_domain_endpoint() fills those); a multiple
 * of 8, so that the arrays after them stay aligned.
 */
struct packed_endpoint {
	uint8_t service, verdict;
	uint16_t port;
	uint32_t host, spki, error;
	uint32_t fail_rounds;
	uint32_t flags;
};

struct packed_change {
	int64_t time;
	uint8_t from, to;
	uint32_t note;
};

struct dom {
	struct store_domain pub; /* its arrays point into blob */
	struct hnode h;
	/* One allocation: every array and string.  It starts with the keys,
	 * the packed history and the packed endpoints, in that order, so
	 * that where each starts follows from the counts. */
	void *blob;
	char *const *words; /* the store's words[], for the packed indexes */
	void *cont;	    /* key continuity (seen.c), NULL for none */
	/* Certificate Transparency: the `ct` lines (store/ct.c), joined by
	 * '\n', or NULL; kept apart from the blob, which a round rewrites. */
	char *ct;
	char name[];
};

struct jid {
	struct store_jid pub;
	struct hnode h;
	uint32_t cap_dom, cap_ps;
	char name[];
};

struct htab {
	struct hmap map;
	size_t n;
	struct hnode **vec; /* dense array of every node */
	size_t cap_vec;
};

struct shard {
	struct hnode *head;
	uint8_t dirty;
	uint8_t losing; /* while loading: records moved out of its file */
	uint64_t gen;	/* while loading: the file's commit number */
};

struct store_cb {
	store_done_fn fn;
	void *arg;
};

/* One shard's new bytes; buf NULL means the shard is empty: remove it. */
struct wjob {
	unsigned shard;
	char *buf;
	size_t len;
};

struct batch {
	struct wjob *jobs;
	size_t n_jobs;
	struct store_cb *cbs;
	size_t n_cbs;
	int result;
};

struct store {
	char *dir; /* NULL for a memory store */
	int dirfd, lockfd, efd;

	struct htab doms, jids;
	struct shard *shards; /* [STORE_NSHARDS] */
	size_t n_dirty;
	char *words[STORE_WORDS_MAX];
	size_t n_words;
	size_t n_chat, n_pubsub, n_presence;
	uint64_t gen; /* commit number of the last batch */
	int loading;  /* while loading: changes do not mark shards */

	char **warnings;
	size_t n_warnings;

	/* Commits: callbacks waiting for the next batch, the batch being
	 * written, and (under mu) the hand-over to and from the writer. */
	struct store_cb *pending;
	size_t n_pending, cap_pending;
	int in_flight;
	int syncing; /* inside store_commit_sync: no new batch */
	pthread_t thread;
	int have_thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;	    /* writer: work or stop */
	pthread_cond_t done_cv;	    /* main: a batch finished */
	struct batch *todo;	    /* under mu */
	struct batch *done;	    /* under mu */
	int stop;		    /* under mu */
	struct store_io_stats io;   /* under mu */
	int fail_errno, fail_count; /* under mu */
};

/* A domain's arrays, to be packed into its one allocation (endpoints and
 * history in their view form, their words the store's own). */
struct store_content {
	const struct store_endpoint *eps;
	size_t n_eps;
	const struct store_key *keys;
	size_t n_keys;
	const struct store_change *hist;
	size_t n_hist;
	const char *const *chat;
	size_t n_chat;
	const struct store_pubsub *ps;
	size_t n_ps;
	const char *defence; /* the `defence` line's text, or NULL */
};

/* state.c */
uint32_t store_hash(const char *s);
const char *store_node_key(const struct hnode *n);
void store_mark(struct store *st, unsigned shard);
int store_valid_name(const char *s, size_t max);
int store_grow(void *pp, uint32_t *cap, size_t need, size_t size);
struct hnode *store_htab_find(const struct htab *t, const char *key,
			      uint32_t h);
int store_htab_insert(struct htab *t, struct hnode *n, uint32_t hash);
void store_htab_remove(struct htab *t, struct hnode *n);
void store_shard_link(struct store *st, struct hnode *n);
void store_shard_unlink(struct store *st, struct hnode *n);
int store_word_ok(const char *w);
const char *store_word(struct store *st, const char *w, int *err);
size_t store_text_len(const char *s);
int store_state_init(struct store *st);
void store_state_free(struct store *st);
struct dom *store_dom_find(const struct store *st, const char *name);
int store_dom_get(struct store *st, const char *name, struct dom **out);
int store_dom_create(struct store *st, const char *name, struct dom **out);
void store_dom_destroy(struct store *st, struct dom *d);
int store_dom_pack(struct store *st, struct dom *d,
		   const struct store_content *c);
/* Room for a domain's endpoints and history taken out of its blob. */
struct store_unpacked {
	struct store_endpoint eps[STORE_ENDPOINTS_MAX];
	struct store_change hist[STORE_HISTORY_MAX];
};
void store_dom_content(const struct dom *d, struct store_content *c,
		       struct store_unpacked *u);
void store_key_merge(struct store_key *keys, size_t *n, const char *spki,
		     int64_t first, int64_t last);

/* seen.c: the continuity of d replaced by a copy of c (*changed: in more
 * than last_seen times), and freed. */
int store_cont_attach(struct store *st, struct dom *d,
		      const struct store_continuity *c, int *changed);
void store_cont_free(struct dom *d);

/* subs.c */
struct jid *store_jid_find(const struct store *st, const char *name);
struct jid *store_jid_of_name(const char *name);
int store_jid_ref(struct store *st, const char *name, struct jid **out);
void store_jid_unlink(struct store *st, struct jid *j,
		      const struct store_domain *d, int pubsub);
int store_jid_set(struct store *st, const char *name, const char *presence,
		  unsigned flags);
void store_jids_free(struct store *st);
void store_pubsub_unlink_all(struct store *st, const struct store_domain *d,
			     const struct store_pubsub *ps, size_t n);
int store_load_chat(struct store *st, struct dom *d, const char *jid,
		    const char **name);
int store_load_pubsub(struct store *st, struct dom *d, const char *jid,
		      const char **name);

/* format.c */
int store_format_shard(const struct store *st, unsigned shard, uint64_t gen,
		       char **out, size_t *len);

/* ct.c: the `ct` lines of a domain record (docs/store.md) */
/* Appends one decoded `ct` line to *buf (*n lines so far): 0, -EINVAL
 * when it is empty, too long, holds a newline or would be one too many,
 * -ENOMEM. */
int store_ct_collect(char **buf, size_t *n, const char *line);

/* parse.c */
int store_parse_file(struct store *st, const char *buf, size_t len,
		     unsigned origin, uint64_t *gen, size_t *kept, char *err,
		     size_t errlen);

#endif
