/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * store.c - the store's directory: the lock, loading the shards (setting
 * aside those that do not parse), and durable commits: changed shards
 * written to a temp file, fdatasync'd, renamed over the old one, then one
 * fsync of the directory, by a writer thread whose completions reach the
 * event loop through an eventfd.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store_int.h"

static int
failf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static void
warn(struct store *st, const char *fmt, ...)
{
	char line[512], **w;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if ((w = realloc(st->warnings, (st->n_warnings + 1) * sizeof(*w))) ==
	    NULL)
		return;
	st->warnings = w;
	if ((w[st->n_warnings] = strdup(line)) != NULL)
		st->n_warnings++;
}

static void
shard_name(char *buf, size_t len, unsigned shard, const char *suffix)
{
	snprintf(buf, len, "shard-%03x%s", shard, suffix);
}

/* ---- writing one shard ---- */

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* An injected failure (store_debug_fail_writes), or 0. */
static int
injected(struct store *st)
{
	int e = 0;

	pthread_mutex_lock(&st->mu);
	if (st->fail_count != 0 && st->fail_errno != 0) {
		e = st->fail_errno;
		if (st->fail_count > 0)
			st->fail_count--;
	}
	pthread_mutex_unlock(&st->mu);
	return e;
}

/* Replaces shard's file by buf (or removes it when buf is NULL); the
 * directory is not synced here.  On failure the old file is untouched. */
static int
write_shard(struct store *st, unsigned shard, const char *buf, size_t len)
{
	char name[32], tmp[40];
	int fd, r = 0, e;

	shard_name(name, sizeof(name), shard, "");
	shard_name(tmp, sizeof(tmp), shard, ".tmp");
	if (buf == NULL) {
		if (unlinkat(st->dirfd, name, 0) < 0 && errno != ENOENT)
			return -errno;
		pthread_mutex_lock(&st->mu);
		st->io.files_removed++;
		pthread_mutex_unlock(&st->mu);
		return 0;
	}
	fd = openat(st->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return -errno;
	if ((e = injected(st)) != 0) {
		r = write_all(fd, buf, len / 2);
		r = -e;
	} else {
		r = write_all(fd, buf, len);
	}
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(st->dirfd, tmp, st->dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(st->dirfd, tmp, 0);
		return r;
	}
	pthread_mutex_lock(&st->mu);
	st->io.files_written++;
	st->io.bytes_written += len;
	st->io.fsyncs++;
	pthread_mutex_unlock(&st->mu);
	return 0;
}

static int
sync_dir(struct store *st)
{
	if (fsync(st->dirfd) < 0)
		return -errno;
	pthread_mutex_lock(&st->mu);
	st->io.fsyncs++;
	pthread_mutex_unlock(&st->mu);
	return 0;
}

static int
batch_write(struct store *st, struct batch *b)
{
	size_t i;
	int r, first = 0;

	for (i = 0; i < b->n_jobs; i++)
		if ((r = write_shard(st, b->jobs[i].shard, b->jobs[i].buf,
				     b->jobs[i].len)) < 0 &&
		    !first)
			first = r;
	if (b->n_jobs > 0 && (r = sync_dir(st)) < 0 && !first)
		first = r;
	pthread_mutex_lock(&st->mu);
	st->io.batches++;
	st->io.errors += first != 0;
	pthread_mutex_unlock(&st->mu);
	return first;
}

/* Formats and writes the dirty shards one at a time, in the caller's
 * thread (memory stays at one shard's bytes).  skip_losing: leave shards
 * that records moved out of for a second pass, so that a record is on
 * disk in its new home before its old file forgets it. */
static int
write_dirty_now(struct store *st, int skip_losing)
{
	unsigned i;
	size_t n = 0;
	int r, first = 0;

	st->gen++;
	for (i = 0; i < STORE_NSHARDS && st->n_dirty > 0; i++) {
		struct shard *s = &st->shards[i];
		char *buf;
		size_t len;

		if (!s->dirty || (skip_losing && s->losing))
			continue;
		if ((r = store_format_shard(st, i, st->gen, &buf, &len)) == 0)
			r = write_shard(st, i, buf, len);
		free(buf);
		n++;
		if (r < 0) {
			first = first ? first : r;
			continue;
		}
		s->dirty = 0;
		s->losing = 0;
		st->n_dirty--;
	}
	if (n > 0 && (r = sync_dir(st)) < 0 && !first)
		first = r;
	pthread_mutex_lock(&st->mu);
	st->io.batches++;
	st->io.errors += first != 0;
	pthread_mutex_unlock(&st->mu);
	return first;
}

/* ---- the writer thread and commits ---- */

static void *
writer_main(void *arg)
{
	struct store *st = arg;
	uint64_t one = 1;
	struct batch *b;

	pthread_mutex_lock(&st->mu);
	for (;;) {
		while (st->todo == NULL && !st->stop)
			pthread_cond_wait(&st->cv, &st->mu);
		if (st->todo == NULL)
			break;
		b = st->todo;
		st->todo = NULL;
		pthread_mutex_unlock(&st->mu);
		b->result = batch_write(st, b);
		pthread_mutex_lock(&st->mu);
		st->done = b;
		pthread_cond_broadcast(&st->done_cv);
		pthread_mutex_unlock(&st->mu);
		while (write(st->efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
		pthread_mutex_lock(&st->mu);
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

static void
post_done(struct store *st, struct batch *b)
{
	uint64_t one = 1;

	pthread_mutex_lock(&st->mu);
	st->done = b;
	pthread_cond_broadcast(&st->done_cv);
	pthread_mutex_unlock(&st->mu);
	while (write(st->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void
clear_dirty(struct store *st)
{
	unsigned i;

	for (i = 0; i < STORE_NSHARDS; i++)
		st->shards[i].dirty = 0;
	st->n_dirty = 0;
}

/* Starts writing every dirty shard with the waiting callbacks.  The
 * shards are formatted here, in the caller's thread, so that the writer
 * never reads the live state. */
static void
start_batch(struct store *st)
{
	struct batch *b;
	unsigned i;
	int r = 0;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return; /* the callbacks stay pending: retried on the next
			   commit */
	b->cbs = st->pending;
	b->n_cbs = st->n_pending;
	st->pending = NULL;
	st->n_pending = st->cap_pending = 0;
	st->in_flight = 1;
	if (st->dir == NULL) {
		clear_dirty(st);
		post_done(st, b);
		return;
	}
	if (st->n_dirty > 0 &&
	    (b->jobs = calloc(st->n_dirty, sizeof(*b->jobs))) == NULL)
		r = -ENOMEM;
	st->gen++;
	for (i = 0; r == 0 && i < STORE_NSHARDS && b->n_jobs < st->n_dirty;
	     i++) {
		struct wjob *j = &b->jobs[b->n_jobs];

		if (!st->shards[i].dirty)
			continue;
		j->shard = i;
		if ((r = store_format_shard(st, i, st->gen, &j->buf, &j->len)) <
		    0)
			break;
		b->n_jobs++;
	}
	if (r < 0) {
		/* Nothing written: the shards stay dirty. */
		b->result = r;
		post_done(st, b);
		return;
	}
	for (i = 0; i < b->n_jobs; i++)
		st->shards[b->jobs[i].shard].dirty = 0;
	st->n_dirty -= b->n_jobs;
	pthread_mutex_lock(&st->mu);
	st->todo = b;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mu);
}

/* After a batch: a failed one leaves its shards dirty for the next. */
static void
settle_batch(struct store *st, struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n_jobs; i++) {
		if (b->result < 0)
			store_mark(st, b->jobs[i].shard);
		free(b->jobs[i].buf);
	}
	free(b->jobs);
	b->jobs = NULL;
	b->n_jobs = 0;
}

static void
run_callbacks(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n_cbs; i++)
		if (b->cbs[i].fn)
			b->cbs[i].fn(b->cbs[i].arg, b->result);
	free(b->cbs);
	free(b);
}

int
store_commit(struct store *st, store_done_fn done, void *arg)
{
	if (st->n_pending == st->cap_pending) {
		size_t cap = st->cap_pending ? st->cap_pending * 2 : 8;
		struct store_cb *p = realloc(st->pending, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		st->pending = p;
		st->cap_pending = cap;
	}
	st->pending[st->n_pending].fn = done;
	st->pending[st->n_pending].arg = arg;
	st->n_pending++;
	if (!st->in_flight && !st->syncing)
		start_batch(st);
	return 0;
}

int
store_notify_fd(const struct store *st)
{
	return st->efd;
}

static struct batch *
take_done(struct store *st, int wait)
{
	struct batch *b;

	pthread_mutex_lock(&st->mu);
	while (wait && st->done == NULL)
		pthread_cond_wait(&st->done_cv, &st->mu);
	b = st->done;
	st->done = NULL;
	pthread_mutex_unlock(&st->mu);
	if (b)
		st->in_flight = 0;
	return b;
}

void
store_process_completions(struct store *st)
{
	uint64_t v;
	struct batch *b;

	while (read(st->efd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	if ((b = take_done(st, 0)) == NULL)
		return;
	settle_batch(st, b);
	/* The next group starts writing while this one's callbacks run. */
	if (st->n_pending > 0)
		start_batch(st);
	run_callbacks(b);
	if (!st->in_flight && st->n_pending > 0)
		start_batch(st);
}

int
store_commit_sync(struct store *st)
{
	struct batch *b, now = {0};
	int r = 0;

	st->syncing++;
	if (st->in_flight && (b = take_done(st, 1)) != NULL) {
		settle_batch(st, b);
		run_callbacks(b);
	}
	if (st->dir == NULL) {
		clear_dirty(st);
	} else if (st->n_dirty > 0) {
		r = write_dirty_now(st, 0);
	}
	now.result = r;
	now.cbs = st->pending;
	now.n_cbs = st->n_pending;
	st->pending = NULL;
	st->n_pending = st->cap_pending = 0;
	st->syncing--;
	if (now.n_cbs > 0) {
		b = malloc(sizeof(*b));
		if (b) {
			*b = now;
			run_callbacks(b);
		}
	}
	if (!st->in_flight && !st->syncing && st->n_pending > 0)
		start_batch(st);
	return r;
}

/* ---- opening ---- */

static int
lock_dir(struct store *st, char *err, size_t errlen)
{
	char pid[32];
	ssize_t n;
	int len;

	st->lockfd =
	    openat(st->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lockfd < 0)
		return failf(err, errlen, "%s/lock: %s", st->dir,
			     strerror(errno));
	if (flock(st->lockfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			return failf(err, errlen, "%s/lock: %s", st->dir,
				     strerror(errno));
		n = pread(st->lockfd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		return failf(
		    err, errlen,
		    "%s: state directory in use by another certwatch (pid %s)",
		    st->dir, *pid ? pid : "unknown");
	}
	len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(st->lockfd, 0) < 0 ||
	    pwrite(st->lockfd, pid, (size_t)len, 0) != len)
		return failf(err, errlen, "%s/lock: %s", st->dir,
			     strerror(errno));
	return 0;
}

/* The shard number of a file named "shard-XXX" (+ suffix), or -1. */
static int
shard_of(const char *name, const char *suffix)
{
	unsigned v = 0;
	int i;

	if (strncmp(name, "shard-", 6) != 0)
		return -1;
	for (i = 6; i < 9; i++) {
		char c = name[i];

		if (c >= '0' && c <= '9')
			v = v * 16 + (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (unsigned)(c - 'a' + 10);
		else
			return -1;
	}
	if (strcmp(name + 9, suffix) != 0 || v >= STORE_NSHARDS)
		return -1;
	return (int)v;
}

/* Keeps the bytes of a file that did not parse under NAME.corrupt-TIME:
 * a hard link, so that the name still holds them until the shard is
 * rewritten; a rename where links do not work. */
static int
set_aside(struct store *st, const char *name, char *aside, size_t len)
{
	long t = (long)time(NULL);
	int i;

	for (i = 0; i < 100; i++) {
		if (i == 0)
			snprintf(aside, len, "%s.corrupt-%ld", name, t);
		else
			snprintf(aside, len, "%s.corrupt-%ld-%d", name, t, i);
		if (linkat(st->dirfd, name, st->dirfd, aside, 0) == 0)
			return 0;
		if (errno == EEXIST)
			continue;
		if (renameat(st->dirfd, name, st->dirfd, aside) == 0)
			return 0;
		return -errno;
	}
	return -EEXIST;
}

static int
read_file(struct store *st, const char *name, char **buf, size_t *len)
{
	struct stat sb;
	size_t got = 0;
	int fd, r = 0;

	*buf = NULL;
	if ((fd = openat(st->dirfd, name, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		r = -errno;
		goto out;
	}
	if ((size_t)sb.st_size > STORE_FILE_MAX) {
		r = -EFBIG;
		goto out;
	}
	if ((*buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, *buf + got, (size_t)sb.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*len = got;
out:
	close(fd);
	if (r < 0) {
		free(*buf);
		*buf = NULL;
	}
	return r;
}

static int
load_shard(struct store *st, unsigned shard, char *err, size_t errlen)
{
	char name[32], aside[64], msg[256];
	uint64_t gen = 0;
	size_t len = 0, kept = 0;
	char *buf;
	int r;

	shard_name(name, sizeof(name), shard, "");
	r = read_file(st, name, &buf, &len);
	if (r == -EFBIG) {
		snprintf(msg, sizeof(msg), "larger than %zu bytes",
			 STORE_FILE_MAX);
	} else if (r < 0) {
		return failf(err, errlen, "%s/%s: %s", st->dir, name,
			     strerror(-r));
	} else {
		r = store_parse_file(st, buf, len, shard, &gen, &kept, msg,
				     sizeof(msg));
		free(buf);
		if (gen > st->gen)
			st->gen = gen;
		if (r == -2)
			return failf(err, errlen, "%s/%s: %s", st->dir, name,
				     msg);
		if (r == 0)
			return 0;
	}
	if ((r = set_aside(st, name, aside, sizeof(aside))) < 0)
		return failf(
		    err, errlen,
		    "%s/%s does not parse (%s) and cannot be set aside: %s",
		    st->dir, name, msg, strerror(-r));
	warn(st, "%s/%s: %s; set aside as %s, %zu records kept", st->dir, name,
	     msg, aside, kept);
	/* Rewritten with what was kept (removed when nothing was). */
	if (!st->shards[shard].dirty) {
		st->shards[shard].dirty = 1;
		st->n_dirty++;
	}
	return 0;
}

static int
load_dir(struct store *st, char *err, size_t errlen)
{
	unsigned char *present;
	struct dirent *de;
	unsigned i;
	DIR *dir;
	int fd, s, r = 0;

	if ((fd = dup(st->dirfd)) < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return failf(err, errlen, "%s: %s", st->dir, strerror(errno));
	}
	if ((present = calloc(STORE_NSHARDS, 1)) == NULL) {
		closedir(dir);
		return failf(err, errlen, "out of memory");
	}
	while ((de = readdir(dir)) != NULL) {
		if ((s = shard_of(de->d_name, "")) >= 0)
			present[s] = 1;
		else if ((s = shard_of(de->d_name, ".tmp")) >= 0)
			/* A write that never reached its rename: never
			 * acknowledged. */
			unlinkat(st->dirfd, de->d_name, 0);
	}
	closedir(dir);
	/* Ask for every file at once: from a cold cache the disk then serves
	 * them in parallel while the first ones are parsed. */
	for (i = 0; i < STORE_NSHARDS; i++) {
		char name[32];

		if (!present[i])
			continue;
		shard_name(name, sizeof(name), i, "");
		if ((fd = openat(st->dirfd, name, O_RDONLY | O_CLOEXEC)) >= 0) {
			posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
			close(fd);
		}
	}
	for (i = 0; i < STORE_NSHARDS && r == 0; i++)
		if (present[i])
			r = load_shard(st, i, err, errlen);
	free(present);
	return r;
}

int
store_open(const char *dir, struct store **out, char *err, size_t errlen)
{
	struct store *st;
	int r;

	*out = NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return failf(err, errlen, "out of memory");
	st->dirfd = st->lockfd = -1;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	pthread_cond_init(&st->done_cv, NULL);
	st->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (st->efd < 0 || store_state_init(st) < 0) {
		failf(err, errlen, "cannot create the store: %s",
		      strerror(errno));
		goto fail;
	}
	if (dir == NULL) {
		*out = st;
		return 0;
	}
	if ((st->dir = strdup(dir)) == NULL) {
		failf(err, errlen, "out of memory");
		goto fail;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		failf(err, errlen, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	if ((st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		failf(err, errlen, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	if (lock_dir(st, err, errlen) < 0 || load_dir(st, err, errlen) < 0)
		goto fail;
	if (st->n_dirty > 0) {
		/* Set-aside or moved records: written back before anything
		 * else, new homes first. */
		if ((r = write_dirty_now(st, 1)) == 0)
			r = write_dirty_now(st, 0);
		if (r < 0)
			warn(st,
			     "%s: cannot rewrite the repaired shards yet: %s",
			     dir, strerror(-r));
	}
	if (pthread_create(&st->thread, NULL, writer_main, st) != 0) {
		failf(err, errlen, "cannot start the writer thread");
		goto fail;
	}
	st->have_thread = 1;
	*out = st;
	return 0;
fail:
	store_close(st);
	return -1;
}

void
store_close(struct store *st)
{
	size_t i;
	int rounds = 0;

	if (st == NULL)
		return;
	if (st->shards != NULL && (st->dir == NULL || st->have_thread))
		while (
		    (st->in_flight || st->n_pending > 0 || st->n_dirty > 0) &&
		    rounds++ < 10)
			store_commit_sync(st);
	if (st->have_thread) {
		pthread_mutex_lock(&st->mu);
		st->stop = 1;
		pthread_cond_signal(&st->cv);
		pthread_mutex_unlock(&st->mu);
		pthread_join(st->thread, NULL);
	}
	if (st->shards != NULL)
		store_state_free(st);
	for (i = 0; i < st->n_warnings; i++)
		free(st->warnings[i]);
	free(st->warnings);
	free(st->pending);
	if (st->efd >= 0)
		close(st->efd);
	if (st->lockfd >= 0)
		close(st->lockfd);
	if (st->dirfd >= 0)
		close(st->dirfd);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cv);
	pthread_cond_destroy(&st->done_cv);
	free(st->dir);
	free(st);
}

size_t
store_warnings(const struct store *st, const char *const **lines)
{
	*lines = (const char *const *)st->warnings;
	return st->n_warnings;
}

void
store_io_stats(const struct store *st, struct store_io_stats *out)
{
	struct store *m = (struct store *)st; /* the mutex only */

	pthread_mutex_lock(&m->mu);
	*out = st->io;
	pthread_mutex_unlock(&m->mu);
}

void
store_debug_fail_writes(struct store *st, int errnum, int count)
{
	pthread_mutex_lock(&st->mu);
	st->fail_errno = errnum;
	st->fail_count = errnum ? count : 0;
	pthread_mutex_unlock(&st->mu);
}
