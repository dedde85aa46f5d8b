/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * bench_store.c - the store's numbers: a state of N watched domains (each
 * with 4 endpoints, 1-2 keys, 3 history entries, 1-2 chat subscribers from
 * a pool of N/3 JIDs, a pubsub subscriber on every tenth), the time and
 * memory to open it in a fresh process, and what one verdict change costs
 * on disk.
 *
 *   bench_store [-n DOMAINS] [-d DIR] [-k] [-c]
 *
 * -k keeps DIR; -c empties the page cache before the open (root only), to
 * time a cold start.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) used by this process so far. */
static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* A line of /proc/self/status in kB, or -1. */
static long
status_kb(const char *key)
{
	char line[256];
	size_t kl = strlen(key);
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static void
die(const char *what, const char *err)
{
	fprintf(stderr, "bench_store: %s: %s\n", what, err);
	exit(1);
}

static void
hex64(char *out, unsigned long seed)
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 64; i++) {
		seed = seed * 6364136223846793005UL + 1442695040888963407UL;
		out[i] = hex[(seed >> 33) & 15];
	}
	out[64] = '\0';
}

static void
create(const char *dir, long n)
{
	static const char *const svc[4] = {"xmpp-client", "xmpps-client",
					   "xmpp-server", "xmpps-server"};
	static const unsigned port[4] = {5222, 5223, 5269, 5270};
	long jids = n / 3 > 0 ? n / 3 : 1, i;
	struct store *st;
	char err[512], name[64], host[80], jid[64], k1[65], k2[65];
	double t0, t1, t2;
	int r, e;

	if (store_open(dir, &st, err, sizeof(err)) < 0)
		die("open", err);
	t0 = now_s();
	for (i = 0; i < n; i++) {
		struct store_endpoint eps[4];
		struct store_change ch[3] = {
		    {1700000000, NULL, "no-tlsa", "first check"},
		    {1700100000, "no-tlsa", "ok", NULL},
		    {1700200000, "ok", "mismatch", "key changed"},
		};
		struct store_update u = {
		    "ok", NULL, 0, 0, 1700300000 + i % 3600, eps, 4, NULL};

		snprintf(name, sizeof(name), "domain%06ld.example", i);
		snprintf(host, sizeof(host), "xmpp.%s", name);
		hex64(k1, (unsigned long)i * 2 + 1);
		hex64(k2, (unsigned long)i * 2 + 2);
		for (e = 0; e < 4; e++) {
			eps[e].service = svc[e];
			eps[e].host = host;
			eps[e].port = port[e];
			eps[e].verdict = "ok";
			eps[e].spki = k1;
			eps[e].error = NULL;
			eps[e].fail_rounds = 0;
			eps[e].flags = 0;
		}
		/* three checks, three changes; every other domain rolled its
		 * key */
		u.checked = ch[0].time;
		u.change = &ch[0];
		if ((r = store_domain_record(st, name, &u)) < 0)
			die("record", strerror(-r));
		u.checked = ch[1].time;
		u.change = &ch[1];
		if (i % 2)
			for (e = 0; e < 4; e++)
				eps[e].spki = k2;
		store_domain_record(st, name, &u);
		u.checked = ch[2].time;
		u.change = &ch[2];
		store_domain_record(st, name, &u);
		snprintf(jid, sizeof(jid), "user%ld@example.net", i % jids);
		store_sub_add(st, name, jid);
		if (i % 2) {
			snprintf(jid, sizeof(jid), "user%ld@example.net",
				 (i * 7 + 1) % jids);
			store_sub_add(st, name, jid);
		}
		if (i % 10 == 0) {
			snprintf(jid, sizeof(jid),
				 "reader%ld@example.com/feeds", i);
			store_pubsub_add(st, name, jid, "s1");
		}
		if (i < jids && i % 3 == 0) {
			snprintf(jid, sizeof(jid), "user%ld@example.net", i);
			store_presence_set(st, jid, "both");
		}
	}
	t1 = now_s();
	if ((r = store_commit_sync(st)) < 0)
		die("commit", strerror(-r));
	t2 = now_s();
	printf("| build %ld domains in memory | %.2f s |\n", n, t1 - t0);
	printf("| first commit (every shard) | %.2f s |\n", t2 - t1);
	store_close(st);
}

static long long disk_bytes;
static long disk_files;

static int
count_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	if (flag == FTW_F && strstr(path, "/shard-")) {
		disk_bytes += sb->st_size;
		disk_files++;
	}
	return 0;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static volatile int done_flag;
static int done_result;

static void
on_done(void *arg, int result)
{
	done_flag = 1;
	done_result = result;
}

static void
wait_done(struct store *st)
{
	struct pollfd p = {store_notify_fd(st), POLLIN, 0};

	while (!done_flag) {
		poll(&p, 1, 1000);
		store_process_completions(st);
	}
	done_flag = 0;
	if (done_result < 0)
		die("commit", strerror(-done_result));
}

/* Run in a fresh process, so that its memory is the open's alone. */
static int
measure_open(const char *dir, long n)
{
	struct store_io_stats a, b;
	struct store_stats s;
	struct store *st;
	char err[512], name[64];
	double t0, t1, c0, c1, lat = 0;
	long rss0 = status_kb("VmRSS"), hwm, rss;
	int i, changes = 100;

	c0 = cpu_s();
	t0 = now_s();
	if (store_open(dir, &st, err, sizeof(err)) < 0)
		die("open", err);
	t1 = now_s();
	c1 = cpu_s();
	hwm = status_kb("VmHWM");
	rss = status_kb("VmRSS");
	store_stats(st, &s);
	if ((long)s.domains != n)
		die("open", "wrong number of domains");
	printf("| open (load every shard) | %.3f s (%.3f s of CPU) |\n",
	       t1 - t0, c1 - c0);
	printf("| resident memory after open (VmRSS) | %.1f MB (%.1f MB "
	       "before) |\n",
	       rss / 1024.0, rss0 / 1024.0);
	printf("| peak resident memory (VmHWM) | %.1f MB |\n", hwm / 1024.0);
	printf("| loaded | %zu domains, %zu JIDs, %zu chat + %zu pubsub "
	       "subscriptions |\n",
	       s.domains, s.jids, s.chat_subs, s.pubsub_subs);

	/* One verdict change at a time, each committed and waited for. */
	store_io_stats(st, &a);
	for (i = 0; i < changes; i++) {
		const struct store_domain *d;
		struct store_endpoint eps[4];
		struct store_change ch = {1700400000 + i, "ok", "mismatch",
					  "key changed"};
		struct store_update u;
		double s0;

		snprintf(name, sizeof(name), "domain%06ld.example",
			 (long)((i * 7919L) % n));
		d = store_domain_get(st, name);
		for (int e = 0; e < 4; e++)
			store_domain_endpoint(d, (size_t)e, &eps[e]);
		eps[0].verdict = "mismatch";
		u = (struct store_update){"mismatch",	  "alarm", 0, ch.time,
					  ch.time + 3600, eps,	   4, &ch};
		s0 = now_s();
		store_domain_record(st, name, &u);
		store_commit(st, on_done, NULL);
		wait_done(st);
		lat += now_s() - s0;
	}
	store_io_stats(st, &b);
	printf("| one verdict change, committed | %.0f bytes, %.2f files, %.2f "
	       "fsyncs, %.2f ms |\n",
	       (double)(b.bytes_written - a.bytes_written) / changes,
	       (double)(b.files_written - a.files_written) / changes,
	       (double)(b.fsyncs - a.fsyncs) / changes, lat * 1000 / changes);

	/* The same 100 changes grouped into one commit. */
	store_io_stats(st, &a);
	t0 = now_s();
	for (i = 0; i < changes; i++) {
		snprintf(name, sizeof(name), "domain%06ld.example",
			 (long)((i * 7919L) % n));
		store_sub_add(st, name, "newcomer@example.org");
	}
	store_commit(st, on_done, NULL);
	wait_done(st);
	t1 = now_s();
	store_io_stats(st, &b);
	printf("| %d subscriptions, one commit | %llu bytes, %llu files, %llu "
	       "fsyncs, %.1f ms |\n",
	       changes, (unsigned long long)(b.bytes_written - a.bytes_written),
	       (unsigned long long)(b.files_written - a.files_written),
	       (unsigned long long)(b.fsyncs - a.fsyncs), (t1 - t0) * 1000);
	t0 = now_s();
	store_close(st);
	printf("| close | %.3f s |\n", now_s() - t0);
	return 0;
}

int
main(int argc, char **argv)
{
	char tmpl[] = "/tmp/bench_store.XXXXXX", *dir = NULL, nbuf[32];
	long n = 100000;
	int opt, keep = 0, cold = 0, status;
	pid_t pid;

	while ((opt = getopt(argc, argv, "n:d:kco:")) != -1) {
		switch (opt) {
		case 'n':
			n = atol(optarg);
			break;
		case 'd':
			dir = optarg;
			break;
		case 'k':
			keep = 1;
			break;
		case 'c':
			cold = 1;
			break;
		case 'o': /* internal: the fresh process that opens */
			return measure_open(optarg, n);
		default:
			fprintf(stderr, "usage: bench_store [-n DOMAINS] [-d "
					"DIR] [-k] [-c]\n");
			return 2;
		}
	}
	if (n < 1)
		n = 1;
	if (dir == NULL && (dir = mkdtemp(tmpl)) == NULL)
		die("mkdtemp", strerror(errno));
	printf("| store, %ld domains | |\n|---|---|\n", n);
	fflush(stdout);
	create(dir, n);
	nftw(dir, count_one, 16, FTW_PHYS);
	printf("| on disk | %.1f MB in %ld shard files (%.0f bytes per domain) "
	       "|\n",
	       disk_bytes / 1048576.0, disk_files, (double)disk_bytes / n);
	fflush(stdout);
	snprintf(nbuf, sizeof(nbuf), "%ld", n);
	if (cold) {
		int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

		sync();
		if (fd < 0 || write(fd, "3", 1) != 1)
			fprintf(
			    stderr,
			    "bench_store: cannot empty the page cache: %s\n",
			    strerror(errno));
		else
			printf("| (page cache emptied before the open) | |\n");
		if (fd >= 0)
			close(fd);
		fflush(stdout);
	}
	if ((pid = fork()) == 0) {
		execl("/proc/self/exe", argv[0], "-n", nbuf, "-o", dir,
		      (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	if (!keep)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
