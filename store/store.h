/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * store.h - certwatch's durable state: watched domains with their last
 * results, keys seen and history, their chat and pubsub subscribers, and
 * per-JID presence and flags, kept in memory and written to sharded text
 * files (format: docs/store.md).
 *
 * The store knows nothing of the network or of XMPP: domains, JIDs, hosts,
 * verdicts and the like are opaque strings.  It never logs and never exits;
 * errors are negative errno values (and a message in a caller's buffer
 * where one is given).  All functions must be called from one thread (the
 * event loop's); the store's own writer thread touches only its private
 * copies of the bytes to write.
 *
 * Changes are made in memory at once and become durable with
 * store_commit() (asynchronous, its callback runs when every change made
 * before the call is on disk) or store_commit_sync().
 */
#ifndef CERTWATCH_STORE_H
#define CERTWATCH_STORE_H

#include <stddef.h>
#include <stdint.h>

/* Bounds.  Longer strings are refused with -EINVAL, except free text
 * (endpoint errors, history notes), which is cut at STORE_TEXT_MAX bytes. */
#define STORE_NAME_MAX 1023 /* domain, host, JID, subid */
#define STORE_JID_MAX 3071
#define STORE_TEXT_MAX 1000
#define STORE_WORD_MAX 32      /* verdict, alert, service, presence words */
#define STORE_ENDPOINTS_MAX 64 /* per domain */
#define STORE_KEYS_MAX                                                         \
	32 /* keys seen per domain; the least recently seen go                 \
	    */
#define STORE_HISTORY_MAX                                                      \
	50 /* verdict changes kept per domain; the oldest go */

struct store;

/* ---- Read-only views.  A pointer obtained from the store (a view, an
 * array, a string in it) stays valid until the next call that changes the
 * store or closes it; the store owns all of them. ---- */

struct store_endpoint {
	const char *service; /* word, e.g. "xmpp-client" */
	const char *host;
	unsigned port;
	const char *verdict; /* word, e.g. "ok", "unreachable" */
	const char *spki;    /* hex SPKI SHA-256 of the key seen, or NULL */
	const char *error;   /* free text, or NULL */
	/* Endpoint trouble (docs/store.md, the `trouble` line): consecutive
	 * rounds it failed after TCP could be tried, and STORE_EP_* flags;
	 * 0 and 0 for most. */
	unsigned fail_rounds;
	unsigned flags;
};

#define STORE_EP_ALERTED                                                       \
	0x1u /* its trouble alert went out, its                                \
	      * recovery not yet */

struct store_key {
	const char *spki;   /* hex SPKI SHA-256 */
	int64_t first_seen; /* times are seconds since the epoch */
	int64_t last_seen;
};

struct store_change {
	int64_t time;
	const char *from; /* word or NULL (first verdict) */
	const char *to;	  /* word or NULL */
	const char *note; /* free text or NULL */
};

struct store_pubsub {
	const char *jid;   /* bare or full JID, as given */
	const char *subid; /* NULL when none was given */
};

struct store_domain {
	const char *name;    /* the key: the domain's A-label */
	const char *verdict; /* domain verdict of the last check, or NULL */
	const char *alert;   /* alert state word, or NULL */
	int64_t last_check;  /* 0 when never */
	int64_t last_change;
	int64_t next_due;
	unsigned unreachable_rounds; /* consecutive rounds all unreachable */
	/* Endpoints (in the order given) and history (oldest first) are kept
	 * packed: read them with store_domain_endpoint() and
	 * store_domain_change(). */
	uint32_t n_endpoints;
	uint32_t n_history;
	/* Counts are 32 bits (and in this order) to keep the struct, one
	 * per domain, at 96 bytes. */
	uint32_t n_keys;
	const struct store_key *keys;	   /* in the order first seen */
	const char *const *chat;	   /* subscribed bare JIDs */
	const struct store_pubsub *pubsub; /* pubsub subscriptions */
	uint32_t n_chat;
	uint32_t n_pubsub;
	/* The defences kept between rounds (docs/store.md, the `defence`
	 * line): text the store keeps as it is (at most STORE_TEXT_MAX
	 * bytes), read by component/domain_state.c; NULL for none. */
	const char *defence;
};

/* Per-JID flags. */
#define STORE_FLAG_TOLD_UNSUB_ALL                                              \
	0x1u /* told once that `unsubscribe all` stops alerts */

struct store_jid {
	const char *jid;
	const char *presence; /* presence subscription word, or NULL */
	unsigned flags;	      /* STORE_FLAG_* */
	size_t n_domains;
	const struct store_domain *const *domains; /* chat subscriptions */
	size_t n_pubsub;
	/* The nodes this exact JID has pubsub subscriptions on, each once
	 * (its subids are in the node's pubsub array). */
	const struct store_domain *const *pubsub;
};

/* ---- Opening and closing ---- */

/*
 * Opens (creating it if missing, mode 0700) the state directory `dir`,
 * locks it and loads every shard file.  A file that does not parse is kept
 * under NAME.corrupt-TIME, the records of it that parsed are loaded and
 * rewritten, and a line saying so is added to the warnings
 * (store_warnings()).  Fails (-1, message in err) when the directory is
 * locked by another process ("state directory in use by another certwatch
 * (pid N)"), cannot be read, or holds a file of a newer format version.
 * `dir` NULL gives a store in memory only, for tests: commits write
 * nothing and complete with 0 (their callbacks still come through
 * store_process_completions()).  On success *out is the store, to be
 * closed with store_close().
 */
int store_open(const char *dir, struct store **out, char *err, size_t errlen);

/* Writes what is not yet written (as store_commit_sync), stops the writer,
 * completes any callback, unlocks and frees everything.  NULL is a no-op. */
void store_close(struct store *st);

/* The warnings of store_open() (set-aside files), for the caller to log;
 * *lines is valid until store_close(). */
size_t store_warnings(const struct store *st, const char *const **lines);

/* ---- Durability ---- */

/* result: 0, or a negative errno (e.g. -ENOSPC) when a write failed; the
 * files on disk then still hold their previous contents, the changes stay
 * in memory and the next commit tries again. */
typedef void (*store_done_fn)(void *arg, int result);

/*
 * Makes every change made so far durable, in the background: the changed
 * shards are written by the writer thread (temp file, fdatasync, rename,
 * then one fsync of the directory per batch; commits made while a batch is
 * being written are grouped into the next one).  `done` (may be NULL) is
 * called later from store_process_completions(), never from inside
 * store_commit().  Returns 0, or -ENOMEM (done is then not called).
 */
int store_commit(struct store *st, store_done_fn done, void *arg);

/* A descriptor (an eventfd, valid until store_close) that becomes
 * readable when a commit finishes: watch it for reading and then call
 * store_process_completions().  A memory store has one too. */
int store_notify_fd(const struct store *st);

/* Calls the callbacks of the commits that finished, in the order the
 * commits were made.  Callbacks may change the store and commit again. */
void store_process_completions(struct store *st);

/* Writes every change now, in the caller's thread, after the batch in
 * flight; completes every waiting callback.  Returns 0 or -errno.  For the
 * CLI, tests and shutdown. */
int store_commit_sync(struct store *st);

/* ---- Domains ---- */

/* The domain, or NULL when it is not stored. */
const struct store_domain *store_domain_get(const struct store *st,
					    const char *name);

/*
 * Fill *out with endpoint i (< d->n_endpoints) of d, and with change i
 * (< d->n_history, 0 the oldest) of its history.  d must be a view from
 * this store (not a copy of one).  The strings put in *out (words, host,
 * key, free text) are the store's, valid like every view pointer: until
 * the next call that changes the store or closes it.  *out itself is the
 * caller's; nothing is to be freed.
 */
void store_domain_endpoint(const struct store_domain *d, size_t i,
			   struct store_endpoint *out);
void store_domain_change(const struct store_domain *d, size_t i,
			 struct store_change *out);

/* Adds a domain (no subscriber yet).  1 added, 0 already there, -EINVAL,
 * -ENOMEM. */
int store_domain_add(struct store *st, const char *name);

/* Removes a domain with its subscriptions.  1 removed, 0 not there. */
int store_domain_remove(struct store *st, const char *name);

/* What one check of a domain changes. */
struct store_update {
	const char *verdict; /* domain verdict (word or NULL) */
	const char *alert;   /* alert state (word or NULL) */
	unsigned unreachable_rounds;
	int64_t checked; /* time of the check: last_check, and last_seen of its
			    keys */
	int64_t next_due;
	const struct store_endpoint *endpoints; /* replaces all endpoints */
	size_t n_endpoints;
	/* A verdict change to append to the history (and to set last_change
	 * from), or NULL. */
	const struct store_change *change;
};

/* Records a check: every field of the update, and each endpoint's spki in
 * the keys seen (first_seen = last_seen = checked for a new key).  The
 * domain is added if missing.  0, -EINVAL (a bad word, too long a name,
 * too many endpoints), -ENOMEM; on error nothing changed. */
int store_domain_record(struct store *st, const char *name,
			const struct store_update *u);

/* Sets the text of a domain's `defence` line (docs/store.md; NULL or ""
 * removes it), marking its shard only when the text changed.  Longer text
 * than STORE_TEXT_MAX is refused.  1 changed, 0 the same text, -EINVAL
 * (not stored, too long), -ENOMEM (nothing changed). */
int store_domain_set_defence(struct store *st, const char *name,
			     const char *text);

/* Sets the next due time only (and marks the domain's shard to be
 * written: see docs/store.md on spreading a schedule).  0, or -EINVAL when
 * the domain is not stored. */
int store_domain_set_due(struct store *st, const char *name, int64_t next_due);

/*
 * Records a check that changed nothing but times: sets last_check =
 * checked and next_due, and raises last_seen to checked for each of the n
 * keys in spkis (NULL or empty entries are skipped), in memory only,
 * WITHOUT marking the domain's shard to be written.  These values reach
 * disk with the shard's next write for any other reason; a crash (or a
 * stop: store_close() writes only changed shards) loses only them, so a
 * restarted certwatch sees older last_check/next_due/last_seen times.
 * For rounds whose verdicts, endpoints and history are unchanged, so that
 * they cost no shard write.  0; -EINVAL when the domain is not stored;
 * -ENOENT when a key is not among the domain's keys (use
 * store_domain_record); on error nothing changed.
 */
int store_domain_touch(struct store *st, const char *name, int64_t checked,
		       int64_t next_due, const char *const *spkis, size_t n);

/* Iteration over every domain, in no particular order:
 *   size_t cur = 0; const struct store_domain *d;
 *   while ((d = store_domain_next(st, &cur)) != NULL) ...
 * The store must not change during the iteration. */
const struct store_domain *store_domain_next(const struct store *st,
					     size_t *cursor);

/* ---- Key continuity (docs/store.md: the `seen` and `split` lines) ----
 * Per endpoint and key type, the keys seen; the rounds that showed a
 * split and whether its alarm is open.  What they mean is the caller's
 * (component/domain_state.c); the store keeps words and strings. */

#define STORE_SEEN_MAX 128	/* seen keys per domain */
#define STORE_SEEN_LIST_MAX 480 /* a comma-separated list, bytes */

struct store_seen {
	const char *service; /* word, e.g. "xmpp-client" */
	const char *host;
	unsigned port;
	const char *key_type; /* word ("ecdsa", "rsa"...) or NULL */
	const char *spki;     /* hex SPKI SHA-256 */
	int64_t first_seen;
	int64_t last_seen;
	unsigned rounds;       /* rounds it counted in (the caller's rule) */
	const char *vantages;  /* comma-separated names, or NULL */
	const char *addresses; /* comma-separated addresses, or NULL */
};

struct store_continuity {
	uint64_t split_rounds; /* bit i: the round i rounds ago was split */
	unsigned flags;	       /* STORE_CONT_* */
	const struct store_seen *seen;
	size_t n_seen;
};

#define STORE_CONT_ALARM                                                       \
	0x1u /* the split alarm went out, its                                  \
	      * recovery not yet */

/* The continuity of d (a view of this store); all zero when none. */
void store_domain_continuity(const struct store_domain *d,
			     struct store_continuity *out);

/* Replaces the continuity of a stored domain.  The shard is marked to be
 * written only when something other than a last_seen time changed (so a
 * round that only saw the same keys again costs no write, like
 * store_domain_touch()).  1 marked, 0 kept in memory only; -EINVAL (not
 * stored, a bad word or name, a space in a list, too many), -ENOMEM; on
 * error nothing changed. */
int store_domain_set_continuity(struct store *st, const char *name,
				const struct store_continuity *c);

/* ---- Certificate Transparency state (docs/store.md, the `ct` line) ----
 * Lines the store keeps for a domain without reading them: their meaning
 * is component/ct_state.c's.  At most STORE_CT_LINES of at most
 * STORE_CT_LINE_MAX bytes, none holding a newline. */
#define STORE_CT_LINES 64
#define STORE_CT_LINE_MAX 4000

/* The domain's `ct` lines joined by '\n' (no final one), or NULL for
 * none; valid like every view pointer. */
const char *store_domain_ct(const struct store_domain *d);

/* Calls put for each of the domain's `ct` lines, in order. */
void store_ct_each(const struct store_domain *d,
		   void (*put)(void *arg, const char *line), void *arg);

/* Replaces the domain's `ct` lines with `text` (lines joined by '\n';
 * NULL or "" for none) and marks its shard when they changed.  0;
 * -EINVAL when the domain is not stored or the text breaks the bounds;
 * -ENOMEM.  On error nothing changed. */
int store_domain_set_ct(struct store *st, const char *name, const char *text);

/* ---- Chat subscriptions ---- */

/* Subscribes a bare JID to a domain (added if missing).  1 added, 0
 * already subscribed, -EINVAL, -ENOMEM. */
int store_sub_add(struct store *st, const char *domain, const char *jid);
/* 1 removed, 0 was not subscribed.  The domain stays (store_domain_remove
 * it when it has no subscriber left). */
int store_sub_remove(struct store *st, const char *domain, const char *jid);
/* Removes every chat subscription of jid; returns how many. */
size_t store_sub_remove_all(struct store *st, const char *jid);

/* ---- Pubsub subscriptions (node = domain) ---- */

/* 1 added, 0 that (jid, subid) was there, -EINVAL, -ENOMEM.  subid may be
 * NULL.  The domain is added if missing. */
int store_pubsub_add(struct store *st, const char *domain, const char *jid,
		     const char *subid);
/* Removes the (jid, subid) subscription, or every one of jid on that node
 * when subid is NULL; returns how many. */
size_t store_pubsub_remove(struct store *st, const char *domain,
			   const char *jid, const char *subid);

/* ---- JIDs: subscriptions, presence, flags ---- */

/* What the store knows of a JID, or NULL when nothing. */
const struct store_jid *store_jid_get(const struct store *st, const char *jid);

/* Sets the presence subscription word of jid (e.g. "from", "both"); NULL
 * removes it.  0, -EINVAL, -ENOMEM. */
int store_presence_set(struct store *st, const char *jid, const char *presence);

/* Sets (on != 0) or clears flag bits of jid.  0, -EINVAL, -ENOMEM. */
int store_jid_flags(struct store *st, const char *jid, unsigned flags, int on);

/* Iteration over every JID known (subscribers, presence, flags), like
 * store_domain_next(). */
const struct store_jid *store_jid_next(const struct store *st, size_t *cursor);

/* Chat and pubsub subscriptions of a bare JID and of every full JID of it
 * ("BARE/resource"), names compared ignoring ASCII case: what
 * subscriptions_per_jid counts, so that subscribing under a new resource
 * (pubsub keeps the `jid` given) does not pass it.  Walks every JID. */
size_t store_subs_of_bare(const struct store *st, const char *bare);

/* ---- Counts and I/O statistics ---- */

struct store_stats {
	size_t domains;
	size_t jids;	     /* JIDs known */
	size_t chat_subs;    /* (domain, JID) chat subscriptions */
	size_t pubsub_subs;  /* pubsub subscriptions */
	size_t presence;     /* JIDs with a presence subscription */
	size_t dirty_shards; /* shards changed and not yet written */
};
void store_stats(const struct store *st, struct store_stats *out);

struct store_io_stats {
	uint64_t batches; /* commits written (groups of store_commit) */
	uint64_t files_written;
	uint64_t files_removed; /* shards that became empty */
	uint64_t bytes_written;
	uint64_t fsyncs; /* fdatasync of files + fsync of the directory */
	uint64_t errors; /* failed batches */
};
void store_io_stats(const struct store *st, struct store_io_stats *out);

/* ---- The file format, for tests and fuzzing ---- */

/*
 * Parses the bytes of one shard file into st (a pure function of the
 * bytes and st: no I/O).  Every record that parses is loaded, even when
 * others do not.  Returns 0 when the whole file is valid, -1 when it is
 * not (message with the line number in err), -2 when its version line
 * names a newer format.
 */
int store_parse_shard(struct store *st, const char *buf, size_t len, char *err,
		      size_t errlen);

/* For tests: makes the writer's next `count` file writes (-1: all) fail
 * with errnum after writing half of the bytes, as a full disk would; 0
 * stops it. */
void store_debug_fail_writes(struct store *st, int errnum, int count);

#endif
