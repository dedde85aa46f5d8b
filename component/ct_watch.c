/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ct_watch.c - certspotter supervised from the event loop (ct_watch.h). */
#include "component/ct_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "component/log.h"
#include "util/buf.h"

#ifndef CERTWATCH_CT_HOOK
#define CERTWATCH_CT_HOOK "/usr/libexec/certwatch-ct-hook"
#endif

#define CT_BACKOFF_MIN 1 /* seconds after a first exit */
#define CT_BACKOFF_MAX 300
#define CT_RESTART_EVERY 60 /* at most one restart a minute for the list */
#define CT_STABLE 600	    /* ran this long: the backoff starts again */
#define CT_LIST_POLL 10	    /* seconds between looks at the list */

struct ct_watch {
	struct event_base *base;
	const struct config *cfg;
	const struct store *store;
	struct metrics *metrics;
	struct clock clk;
	char dir[1100];	    /* STORE/ct */
	char cfgpath[4096]; /* absolute, for CERTWATCH_CONFIG */
	pid_t pid;
	int errfd;
	struct event *err_ev, *chld_ev, *timer, *poll;
	struct buf line;
	unsigned backoff;
	int64_t started_ms; /* monotonic */
	unsigned long starts;
	struct buf list; /* the watch list certspotter runs with */
};

static void ct_start(struct ct_watch *w);

/* The watch list: every watched domain and the host of each endpoint
 * (its SRV targets), one a line, sorted as the store keeps them. */
static void
make_list(const struct ct_watch *w, struct buf *out)
{
	const struct store_domain *d;
	size_t cur = 0;

	while ((d = store_domain_next(w->store, &cur)) != NULL) {
		buf_puts(out, d->name);
		buf_putc(out, '\n');
		for (size_t i = 0; i < d->n_endpoints; i++) {
			struct store_endpoint ep;
			store_domain_endpoint(d, i, &ep);
			if (ep.host && *ep.host && strcmp(ep.host, d->name) &&
			    !strchr(ep.host, ':')) {
				buf_puts(out, ep.host);
				buf_putc(out, '\n');
			}
		}
	}
}

static int
write_list(const struct ct_watch *w, const struct buf *b)
{
	char path[1200], tmp[1200];
	int fd;

	snprintf(path, sizeof(path), "%s/watchlist", w->dir);
	snprintf(tmp, sizeof(tmp), "%s/.watchlist.tmp", w->dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off < b->len) {
		ssize_t n = write(fd, b->s + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		return -1;
	return rename(tmp, path);
}

static void
on_stderr(evutil_socket_t fd, short what, void *arg)
{
	struct ct_watch *w = arg;
	char chunk[4096];
	ssize_t n = read(fd, chunk, sizeof(chunk));

	(void)what;
	if (n <= 0) {
		if (n < 0 && errno == EINTR)
			return;
		event_free(w->err_ev); /* safe in its own callback */
		w->err_ev = NULL;
		close(w->errfd);
		w->errfd = -1;
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (chunk[i] == '\n' || w->line.len >= 1024) {
			log_warn("certspotter: %.*s", (int)w->line.len,
				 w->line.s ? w->line.s : "");
			w->line.len = 0;
			if (chunk[i] == '\n')
				continue;
		}
		buf_putc(&w->line, chunk[i]);
	}
}

static void
schedule(struct ct_watch *w, unsigned secs)
{
	struct timeval tv = {(time_t)secs, 0};

	evtimer_add(w->timer, &tv);
}

static void
on_child(evutil_socket_t sig, short what, void *arg)
{
	struct ct_watch *w = arg;
	int st;

	(void)sig;
	(void)what;
	if (w->pid <= 0 || waitpid(w->pid, &st, WNOHANG) != w->pid)
		return;
	w->pid = 0;
	metrics_ct_up(w->metrics, 0);
	if (w->clk.mono_ms() - w->started_ms >= CT_STABLE * 1000)
		w->backoff = CT_BACKOFF_MIN;
	if (WIFEXITED(st))
		log_warn("certspotter exited with status %d; starting it "
			 "again in %u s",
			 WEXITSTATUS(st), w->backoff);
	else
		log_warn("certspotter killed by signal %d; starting it again "
			 "in %u s",
			 WIFSIGNALED(st) ? WTERMSIG(st) : 0, w->backoff);
	schedule(w, w->backoff);
	w->backoff =
	    w->backoff * 2 > CT_BACKOFF_MAX ? CT_BACKOFF_MAX : w->backoff * 2;
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct ct_watch *w = arg;

	(void)fd;
	(void)what;
	if (w->pid <= 0)
		ct_start(w);
}

/* Stops certspotter: SIGTERM, then SIGKILL after 5 s. */
static void
ct_stop(struct ct_watch *w)
{
	if (w->pid <= 0)
		return;
	kill(w->pid, SIGTERM);
	for (int i = 0; i < 50; i++) {
		if (waitpid(w->pid, NULL, WNOHANG) == w->pid) {
			w->pid = 0;
			return;
		}
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	kill(w->pid, SIGKILL);
	waitpid(w->pid, NULL, 0);
	w->pid = 0;
}

/* The list changed: a new certspotter, at most once a minute. */
static void
on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct ct_watch *w = arg;
	struct buf now = BUF_INIT;

	(void)fd;
	(void)what;
	make_list(w, &now);
	if (w->pid > 0 &&
	    (now.len != w->list.len ||
	     (now.len && memcmp(now.s, w->list.s, now.len))) &&
	    w->clk.mono_ms() - w->started_ms >= CT_RESTART_EVERY * 1000) {
		log_info("certspotter: the watch list changed; restarting it");
		ct_stop(w);
		ct_start(w);
	}
	buf_free(&now);
}

static void
ct_start(struct ct_watch *w)
{
	char exe[1024], list[1200], state[1200], env_dir[1200], env_cfg[4200];
	int pfd[2];

	w->list.len = 0;
	make_list(w, &w->list);
	if (config_find_exec(w->cfg->ct_certspotter, exe, sizeof(exe)) < 0 ||
	    write_list(w, &w->list) < 0 || pipe2(pfd, O_CLOEXEC) < 0) {
		log_warn("certspotter: cannot start %s (%s); trying again in "
			 "%u s",
			 w->cfg->ct_certspotter,
			 errno ? strerror(errno) : "not found", w->backoff);
		schedule(w, w->backoff);
		w->backoff = w->backoff * 2 > CT_BACKOFF_MAX ? CT_BACKOFF_MAX
							     : w->backoff * 2;
		return;
	}
	snprintf(list, sizeof(list), "%s/watchlist", w->dir);
	snprintf(state, sizeof(state), "%s/certspotter", w->dir);
	snprintf(env_dir, sizeof(env_dir), "CERTSPOTTER_CONFIG_DIR=%s", w->dir);
	snprintf(env_cfg, sizeof(env_cfg), "CERTWATCH_CONFIG=%s", w->cfgpath);
	(void)mkdir(state, 0700);
	const char *hook = getenv("CERTWATCH_CT_HOOK");
	char *argv[12];
	int a = 0;
	argv[a++] = exe;
	argv[a++] = (char *)"-start_at_end";
	argv[a++] = (char *)"-watchlist";
	argv[a++] = list;
	argv[a++] = (char *)"-state_dir";
	argv[a++] = state;
	argv[a++] = (char *)"-script";
	argv[a++] = (char *)(hook && *hook ? hook : CERTWATCH_CT_HOOK);
	if (w->cfg->ct_logs[0]) {
		argv[a++] = (char *)"-logs";
		argv[a++] = (char *)w->cfg->ct_logs;
	}
	argv[a] = NULL;
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		schedule(w, w->backoff);
		return;
	}
	if (pid == 0) {
		/* The child: stderr to the pipe, stdin and stdout /dev/null,
		 * default signals, its own environment entries. */
		int nul = open("/dev/null", O_RDWR);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		/* Nothing left running if certwatch dies without stopping
		 * it (prctl(2)). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == 1)
			_exit(127);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 ||
		    dup2(pfd[1], 2) < 0)
			_exit(127);
		putenv(env_dir);
		putenv(env_cfg);
		execv(exe, argv);
		_exit(127);
	}
	close(pfd[1]);
	w->pid = pid;
	metrics_ct_up(w->metrics, 1);
	w->started_ms = w->clk.mono_ms();
	w->starts++;
	/* The last certspotter's pipe: its event even when EOF closed the
	 * descriptor (on_stderr), or it leaks at every restart. */
	if (w->err_ev) {
		event_free(w->err_ev);
		w->err_ev = NULL;
	}
	if (w->errfd >= 0)
		close(w->errfd);
	w->errfd = pfd[0];
	w->err_ev =
	    event_new(w->base, w->errfd, EV_READ | EV_PERSIST, on_stderr, w);
	event_add(w->err_ev, NULL);
	log_info("certspotter started (pid %ld): %s", (long)pid, exe);
}

struct ct_watch *
ct_watch_new(struct event_base *base, const struct config *cfg,
	     const struct store *store, struct metrics *metrics,
	     const struct clock *clk)
{
	if (!cfg->ct_certspotter[0])
		return NULL;
	struct ct_watch *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->base = base;
	w->cfg = cfg;
	w->store = store;
	w->metrics = metrics;
	w->clk = clock_or_system(clk);
	metrics_ct_up(metrics, 0);
	w->errfd = -1;
	w->backoff = CT_BACKOFF_MIN;
	w->line = (struct buf)BUF_INIT;
	w->list = (struct buf)BUF_INIT;
	snprintf(w->dir, sizeof(w->dir), "%s/ct", cfg->store_dir);
	(void)mkdir(w->dir, 0700);
	if (cfg->path[0] == '/' ||
	    getcwd(w->cfgpath, sizeof(w->cfgpath)) == NULL)
		snprintf(w->cfgpath, sizeof(w->cfgpath), "%s", cfg->path);
	else {
		size_t l = strlen(w->cfgpath);
		snprintf(w->cfgpath + l, sizeof(w->cfgpath) - l, "/%s",
			 cfg->path);
	}
	w->chld_ev = evsignal_new(base, SIGCHLD, on_child, w);
	w->timer = evtimer_new(base, on_timer, w);
	w->poll = event_new(base, -1, EV_PERSIST, on_poll, w);
	struct timeval tv = {CT_LIST_POLL, 0};
	evsignal_add(w->chld_ev, NULL);
	event_add(w->poll, &tv);
	ct_start(w);
	return w;
}

int
ct_watch_up(const struct ct_watch *w)
{
	return w != NULL && w->pid > 0;
}

unsigned long
ct_watch_starts(const struct ct_watch *w)
{
	return w ? w->starts : 0;
}

void
ct_watch_free(struct ct_watch *w)
{
	if (w == NULL)
		return;
	ct_stop(w);
	if (w->err_ev)
		event_free(w->err_ev);
	if (w->errfd >= 0)
		close(w->errfd);
	event_free(w->chld_ev);
	event_free(w->timer);
	event_free(w->poll);
	buf_free(&w->line);
	buf_free(&w->list);
	free(w);
}
