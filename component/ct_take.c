/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ct_take.c - spooled CT events judged, recorded and alerted (ct_take.h). */
#include "component/ct_take.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "component/ct_state.h"
#include "component/log.h"
#include "component/report.h"
#include "ct/judge.h"
#include "ct/spool.h"

#define CT_SCAN_MAX 100000	/* spool files listed per look */
#define CT_DOMAINS_PER_EVENT 64 /* watched domains one event is judged for */
#define CT_WRITE_WAIT 30 /* seconds before a wait for the stream is logged */

struct ix { /* a watched name -> its domain */
	char *name, *domain;
	char *full; /* by parent: the name itself */
};

struct alert_item { /* a recorded event whose alert is due */
	char domain[DNS_NAME_MAX + 1];
	char tbs[65];
	char spool[64];
};

struct ct_take {
	struct event_base *base;
	const struct config *cfg;
	struct store *st;
	struct watch *watch;
	struct metrics *metrics;
	struct clock clk;
	char dir[1200]; /* STORE/ct/spool */
	struct event *timer, *kick;
	char (*names)[64]; /* this look's files, sorted (by time) */
	size_t nnames, next;
	struct ix *byname, *byparent; /* the watched names, sorted */
	size_t nix;
	char (*slice)[64]; /* the files of the slice in flight */
	size_t nslice;
	struct alert_item *alerts;
	size_t nalerts;
	int busy;				    /* a slice is in flight */
	enum { STAGE_ONLINE, STAGE_WRITTEN } stage; /* of its alerts */
	unsigned waited; /* tenths of a second waited */
	struct event *wait;
	int closing; /* freed when that commit completes */
	struct ct_tbs_set *tbs;
	struct ct_event *ev;
	struct ct_state *cs;
	unsigned long done;
};

#define CT_TAKE_BUDGET_US 5000 /* of the loop's time a slice may take */

/* The loop's time a slice spent (a measure of work, in µs, like the
 * matcher's CPU bound: not a schedule, so not the injected clock's). */
static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- the watched names ----------------------------------------------- */

static int
ix_cmp(const void *a, const void *b)
{
	return strcasecmp(((const struct ix *)a)->name,
			  ((const struct ix *)b)->name);
}

static void
ix_free(struct ct_take *t)
{
	for (size_t i = 0; i < t->nix; i++) {
		free(t->byname[i].name);
		free(t->byname[i].domain);
		free(t->byparent[i].name);
		free(t->byparent[i].domain);
		free(t->byparent[i].full);
	}
	free(t->byname);
	free(t->byparent);
	t->byname = t->byparent = NULL;
	t->nix = 0;
}

static void
ix_put(struct ct_take *t, size_t *cap, const char *name, const char *domain)
{
	const char *dot = strchr(name, '.');

	if (t->nix == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		t->byname = xrealloc(t->byname, *cap * sizeof(struct ix));
		t->byparent = xrealloc(t->byparent, *cap * sizeof(struct ix));
	}
	t->byname[t->nix] = (struct ix){xstrdup(name), xstrdup(domain), NULL};
	/* By parent, for a wildcard "*.PARENT" (one label more). */
	t->byparent[t->nix] = (struct ix){xstrdup(dot ? dot + 1 : ""),
					  xstrdup(domain), xstrdup(name)};
	t->nix++;
}

/* Every watched domain and its endpoints' hosts (its SRV targets), as
 * certspotter's watch list has them (ct_watch.c). */
static void
ix_build(struct ct_take *t)
{
	const struct store_domain *d;
	size_t cur = 0, cap = 0;

	ix_free(t);
	while ((d = store_domain_next(t->st, &cur)) != NULL) {
		ix_put(t, &cap, d->name, d->name);
		for (size_t i = 0; i < d->n_endpoints; i++) {
			struct store_endpoint ep;
			store_domain_endpoint(d, i, &ep);
			if (ep.host && *ep.host && strcasecmp(ep.host, d->name))
				ix_put(t, &cap, ep.host, d->name);
		}
	}
	if (t->nix) {
		qsort(t->byname, t->nix, sizeof(struct ix), ix_cmp);
		qsort(t->byparent, t->nix, sizeof(struct ix), ix_cmp);
	}
}

static void
add_domain(char (*out)[DNS_NAME_MAX + 1], size_t *n, const char *d)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(out[i], d))
			return;
	if (*n < CT_DOMAINS_PER_EVENT)
		snprintf(out[(*n)++], DNS_NAME_MAX + 1, "%s", d);
}

/* The domains whose own name or SRV target `name` covers (RFC 6125
 * §6.4.3: "*.P" covers a name of one label more than P). */
static void
ix_lookup(const struct ct_take *t, const char *name,
	  char (*out)[DNS_NAME_MAX + 1], size_t *n)
{
	int wild = name[0] == '*' && name[1] == '.';
	const struct ix *arr = wild ? t->byparent : t->byname;
	struct ix key = {(char *)(wild ? name + 2 : name), NULL, NULL};
	size_t lo = 0, hi = t->nix;

	if (t->nix == 0)
		return;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (ix_cmp(&arr[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < t->nix && !ix_cmp(&arr[lo], &key); lo++) {
		if (wild && !ct_name_covers(name, arr[lo].full))
			continue;
		add_domain(out, n, arr[lo].domain);
	}
}

/* ---- reading the spool ------------------------------------------------ */

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Lists the complete spool files (NAME.ct; temp files start with '.'). */
static void
scan(struct ct_take *t)
{
	DIR *dir = opendir(t->dir);
	struct dirent *de;
	size_t cap = 0;

	t->nnames = t->next = 0;
	if (dir == NULL) {
		if (errno != ENOENT)
			log_warn("CT spool %s: %s", t->dir, strerror(errno));
		return;
	}
	while ((de = readdir(dir)) != NULL && t->nnames < CT_SCAN_MAX) {
		size_t len = strlen(de->d_name), sl = strlen(CT_SPOOL_SUFFIX);
		if (de->d_name[0] == '.' || len <= sl || len >= 64 ||
		    strcmp(de->d_name + len - sl, CT_SPOOL_SUFFIX))
			continue;
		if (t->nnames == cap) {
			cap = cap ? cap * 2 : 256;
			t->names = xrealloc(t->names, cap * sizeof(*t->names));
		}
		memcpy(t->names[t->nnames++], de->d_name, len + 1);
	}
	closedir(dir);
	qsort(t->names, t->nnames, sizeof(*t->names), name_cmp);
}

/* Reads one spool file (a regular file, not followed through a link, at
 * most CT_SPOOL_MAX bytes) and parses it into t->ev: 0, -2 when it is
 * gone, or -1 with why. */
static int
read_event(struct ct_take *t, const char *name, char *why, size_t len)
{
	char path[1300];
	struct stat sb;
	char *text;
	ssize_t n;
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", t->dir, name);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, len, "%s", strerror(errno));
		return errno == ENOENT ? -2 : -1;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > CT_SPOOL_MAX) {
		close(fd);
		snprintf(why, len, "not a regular file of at most %d bytes",
			 CT_SPOOL_MAX);
		return -1;
	}
	text = xcalloc(1, CT_SPOOL_MAX + 1);
	n = read(fd, text, CT_SPOOL_MAX + 1);
	close(fd);
	if (n < 0) {
		snprintf(why, len, "%s", strerror(errno));
		free(text);
		return -1;
	}
	r = ct_spool_parse(text, (size_t)n, t->ev, why, len);
	free(text);
	return r;
}

/* A file that is not an event is kept for a human as NAME.bad (never
 * taken again), and said in the log. */
static void
set_aside(struct ct_take *t, const char *name, const char *why)
{
	char from[1300], to[1310];

	snprintf(from, sizeof(from), "%s/%s", t->dir, name);
	snprintf(to, sizeof(to), "%s.bad", from);
	log_warn("CT spool file %s is not an event (%s): kept as %s.bad", name,
		 why, name);
	if (rename(from, to) < 0)
		log_error("CT spool: cannot rename %s: %s", name,
			  strerror(errno));
}

/* ---- one event --------------------------------------------------------- */

static void
alert_due(struct ct_take *t, const char *domain, const char *tbs,
	  const char *spool)
{
	for (size_t i = 0; i < t->nalerts; i++)
		if (!strcmp(t->alerts[i].domain, domain) &&
		    !strcmp(t->alerts[i].tbs, tbs) &&
		    (tbs[0] || !strcmp(t->alerts[i].spool, spool)))
			return;
	t->alerts = xrealloc(t->alerts, (t->nalerts + 1) * sizeof(*t->alerts));
	struct alert_item *a = &t->alerts[t->nalerts++];
	snprintf(a->domain, sizeof(a->domain), "%s", domain);
	snprintf(a->tbs, sizeof(a->tbs), "%s", tbs);
	snprintf(a->spool, sizeof(a->spool), "%s", spool);
}

static void
fill_record(const struct ct_event *ev, const char *name, const char *spool,
	    const struct ct_judgement *j, time_t now, struct ct_record *r)
{
	memset(r, 0, sizeof(*r));
	r->status = j->alarm || j->info ? CT_PENDING : CT_SENT;
	r->judged = j->judged;
	r->alarm = j->alarm;
	r->info = j->info;
	r->warnings = j->warnings;
	r->taken = now;
	snprintf(r->tbs, sizeof(r->tbs), "%s", ev->tbs_sha256);
	if (ev->cert_state == CT_CERT_OK)
		snprintf(r->spki, sizeof(r->spki), "%s", ev->spki_sha256);
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->issuer, sizeof(r->issuer), "%s", ev->issuer_dn);
	snprintf(r->serial, sizeof(r->serial), "%s", ev->serial);
	snprintf(r->log, sizeof(r->log), "%s", ev->log_uri);
	snprintf(r->spool, sizeof(r->spool), "%s", spool);
	r->not_before = ev->has_not_before ? ev->not_before : 0;
	r->not_after = ev->has_not_after ? ev->not_after : 0;
	r->entry = ev->has_entry_index && ev->entry_index <= INT64_MAX
		       ? (int64_t)ev->entry_index
		       : -1;
}

/* Judges t->ev (from spool file `spool`) for each domain it covers and
 * records it; the alerts due go to t->alerts. */
static void
take_event(struct ct_take *t, const char *spool)
{
	const struct ct_event *ev = t->ev;
	static char names[CT_NAMES_MAX][CT_NAME_LEN];
	char(*doms)[DNS_NAME_MAX + 1] =
	    xcalloc(CT_DOMAINS_PER_EVENT, sizeof(*doms));
	char(*via)[CT_NAME_LEN] = xcalloc(CT_DOMAINS_PER_EVENT, sizeof(*via));
	size_t nd = 0;
	int nn = -1;

	if (ev->cert_state == CT_CERT_OK)
		nn = ct_cert_names(ev->cert_der, ev->cert_len, names,
				   CT_NAMES_MAX);
	if (nn <= 0) {
		/* No certificate to read names from: the watch item. */
		const char *w = ev->watch_item[0] == '.' ? ev->watch_item + 1
							 : ev->watch_item;
		nn = 0;
		if (*w && strlen(w) < CT_NAME_LEN)
			snprintf(names[nn++], CT_NAME_LEN, "%s", w);
	}
	for (int i = 0; i < nn; i++) {
		size_t before = nd;
		ix_lookup(t, names[i], doms, &nd);
		for (size_t k = before; k < nd; k++)
			snprintf(via[k], CT_NAME_LEN, "%s", names[i]);
	}
	if (nd == 0)
		log_info("CT: %s (%s, %s) covers no watched domain", spool,
			 ev->event, nn ? names[0] : "no name");
	int dup = ct_tbs_seen(t->tbs, ev->tbs_sha256);
	time_t now = t->clk.now();
	for (size_t k = 0; k < nd; k++) {
		const struct store_domain *sd =
		    store_domain_get(t->st, doms[k]);
		struct ct_record *old, rec;
		struct ct_judgement j;
		struct dns_tlsa recs[CT_KEEP_TLSA];
		struct ct_domain_view v;

		if (sd == NULL)
			continue;
		if (ct_state_load(sd, t->cs) > 0)
			log_warn("%s: stored CT state: lines skipped", doms[k]);
		old = ct_state_find(t->cs, ev->tbs_sha256, spool);
		if (old) {
			/* Taken before: a precertificate's certificate, or
			 * recorded before a stop. */
			if (old->status == CT_PENDING)
				alert_due(t, doms[k], old->tbs, old->spool);
			continue;
		}
		if (dup)
			continue;
		ct_state_view(t->cs, doms[k], recs, &v);
		ct_judge(ev, &v, &j);
		fill_record(ev, via[k], spool, &j, now, &rec);
		ct_state_add(t->cs, &rec);
		int r = ct_state_save(t->st, doms[k], t->cs);
		if (r < 0) {
			log_error("%s: cannot record the CT event: %s", doms[k],
				  strerror(-r));
			continue;
		}
		metrics_ct_event(t->metrics, (int)j.judged);
		log_info("%s: CT: certificate for %s, key %s: %s%s", doms[k],
			 via[k], rec.spki[0] ? rec.spki : "-",
			 ct_judged_word(j.judged),
			 j.alarm  ? " (alarm)"
			 : j.info ? " (info)"
				  : "");
		if (rec.status == CT_PENDING)
			alert_due(t, doms[k], rec.tbs, rec.spool);
	}
	free(doms);
	free(via);
}

/* ---- a slice: recorded -> alerted -> sent -> removed ------------------ */

static void slice_next(struct ct_take *t);
static void take_free(struct ct_take *t);

/* A commit completed after ct_take_free: only free. */
static int
closed(struct ct_take *t)
{
	if (!t->closing)
		return 0;
	take_free(t);
	return 1;
}

/* Tests stop the daemon at a step with CERTWATCH_CT_TEST_STOP (docs/ct.md)
 * to show a crash there alerts once. */
static void
test_stop(const char *step)
{
	const char *s = getenv("CERTWATCH_CT_TEST_STOP");

	if (s && !strcmp(s, step)) {
		log_warn("CERTWATCH_CT_TEST_STOP=%s: killing myself", step);
		raise(SIGKILL);
	}
}

static void
slice_sent(void *arg, int result)
{
	struct ct_take *t = arg;
	int dfd;

	if (closed(t))
		return;
	if (result < 0) {
		log_error("CT: cannot write the state (%s); the spool files "
			  "stay",
			  strerror(-result));
		t->busy = 0;
		t->nslice = 0;
		return;
	}
	test_stop("sent");
	for (size_t i = 0; i < t->nslice; i++) {
		char path[1300];
		snprintf(path, sizeof(path), "%s/%s", t->dir, t->slice[i]);
		if (unlink(path) < 0 && errno != ENOENT)
			log_error("CT spool: cannot remove %s: %s", path,
				  strerror(errno));
		else
			t->done++;
	}
	if ((dfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	t->nslice = 0;
	t->busy = 0;
	if (t->next < t->nnames)
		event_active(t->kick, EV_TIMEOUT, 0);
}

/*
 * The alerts of a slice: sent once the stream is up, then marked sent
 * once they are written to the server's socket (as long as it takes;
 * logged after CT_WRITE_WAIT seconds), then committed.  A crash before the mark
 * sends them again at the next start: at least once, and once in the
 * normal case.
 */
/* The pending record of an alert due, in t->cs (loaded), or NULL. */
static struct ct_record *
pending_record(struct ct_take *t, const struct alert_item *a)
{
	const struct store_domain *sd = store_domain_get(t->st, a->domain);
	struct ct_record *r;

	if (sd == NULL)
		return NULL;
	(void)ct_state_load(sd, t->cs);
	r = ct_state_find(t->cs, a->tbs, a->spool);
	return r && r->status == CT_PENDING ? r : NULL;
}

static void
wait_more(struct ct_take *t)
{
	struct timeval tv = {0, 100 * 1000};

	/* Never marked sent unsent: the events wait (and the spool with
	 * them) until the stream is back. */
	if (++t->waited == CT_WRITE_WAIT * 10)
		log_warn("CT: %zu alerts wait for the XMPP server", t->nalerts);
	evtimer_add(t->wait, &tv);
}

static void
slice_alert(struct ct_take *t)
{
	if (t->stage == STAGE_ONLINE) {
		if (t->nalerts && !watch_ct_written(t->watch)) {
			wait_more(t);
			return;
		}
		for (size_t i = 0; i < t->nalerts; i++) {
			const struct alert_item *a = &t->alerts[i];
			struct ct_record *r = pending_record(t, a);
			struct buf b = BUF_INIT;

			if (r == NULL)
				continue;
			if (r->alarm || r->info) {
				report_ct_alert(&b, a->domain, r);
				watch_ct_alert(
				    t->watch, a->domain,
				    r->alarm ? ALERT_ALARM : ALERT_INFO, b.s);
			}
			buf_free(&b);
			if (r->judged == CT_UNPUBLISHED)
				watch_check_now(t->watch, a->domain);
		}
		t->stage = STAGE_WRITTEN;
	}
	if (t->nalerts && !watch_ct_written(t->watch)) {
		wait_more(t);
		return;
	}
	t->waited = 0;
	for (size_t i = 0; i < t->nalerts; i++) {
		const struct alert_item *a = &t->alerts[i];
		struct ct_record *r = pending_record(t, a);

		if (r == NULL)
			continue;
		r->status = CT_SENT;
		(void)ct_state_save(t->st, a->domain, t->cs);
	}
	t->nalerts = 0;
	if (store_commit(t->st, slice_sent, t) < 0) {
		t->busy = 0;
		t->nslice = 0;
	}
}

static void
on_wait(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	slice_alert(arg);
}

static void
slice_recorded(void *arg, int result)
{
	struct ct_take *t = arg;

	if (closed(t))
		return;
	if (result < 0) {
		log_error("CT: cannot record events (%s); taken again later",
			  strerror(-result));
		t->busy = 0;
		t->nslice = 0;
		t->nalerts = 0;
		return;
	}
	test_stop("recorded");
	t->stage = STAGE_ONLINE;
	t->waited = 0;
	slice_alert(t);
}

/* Takes the next slice of the files listed. */
static void
slice_next(struct ct_take *t)
{
	int64_t t0 = mono_us(), t1;

	if (t->busy)
		return;
	if (t->next >= t->nnames) {
		scan(t);
		if (t->nnames == 0)
			return;
		ix_build(t);
		t1 = mono_us();
		if (t1 - t0 > 20000)
			log_debug("CT: listing %zu spool files took %lld ms",
				  t->nnames, (long long)(t1 - t0) / 1000);
		t0 = t1;
	}
	t->nslice = 0;
	t->nalerts = 0;
	/* A slice ends after CT_TAKE_SLICE files or CT_TAKE_BUDGET_US, so a
	 * slow machine (or a sanitizer build) keeps chat responsive. */
	while (t->next < t->nnames && t->nslice < CT_TAKE_SLICE &&
	       (t->nslice == 0 || mono_us() - t0 < CT_TAKE_BUDGET_US)) {
		const char *name = t->names[t->next++];
		char why[256];

		int r = read_event(t, name, why, sizeof(why));
		if (r < 0) {
			if (r == -1)
				set_aside(t, name, why);
			continue;
		}
		if (!strcmp(t->ev->event, "error"))
			log_warn("certspotter reports an error: %s",
				 t->ev->summary);
		take_event(t, name);
		memcpy(t->slice[t->nslice++], name, 64);
	}
	if (t->nslice == 0) {
		if (t->next < t->nnames)
			event_active(t->kick, EV_TIMEOUT, 0);
		return;
	}
	t1 = mono_us();
	if (t1 - t0 > 20000)
		log_debug("CT: a slice of %zu files took %lld ms", t->nslice,
			  (long long)(t1 - t0) / 1000);
	t->busy = 1;
	if (store_commit(t->st, slice_recorded, t) < 0) {
		t->busy = 0;
		t->nslice = 0;
	}
}

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	slice_next(arg);
}

struct ct_take *
ct_take_new(struct event_base *base, const struct config *cfg, struct store *st,
	    struct watch *watch, struct metrics *metrics,
	    const struct clock *clk)
{
	struct ct_take *t;
	struct timeval every = {CT_TAKE_EVERY, 0};

	if (cfg->ct_certspotter[0] == '\0')
		return NULL;
	t = xcalloc(1, sizeof(*t));
	t->base = base;
	t->cfg = cfg;
	t->st = st;
	t->watch = watch;
	t->metrics = metrics;
	t->clk = clock_or_system(clk);
	snprintf(t->dir, sizeof(t->dir), "%s/ct/spool", cfg->store_dir);
	t->tbs = xcalloc(1, sizeof(*t->tbs));
	t->ev = xcalloc(1, sizeof(*t->ev));
	t->cs = xcalloc(1, sizeof(*t->cs));
	t->slice = xcalloc(CT_TAKE_SLICE, sizeof(*t->slice));
	t->timer = event_new(base, -1, EV_PERSIST, on_kick, t);
	t->kick = event_new(base, -1, 0, on_kick, t);
	t->wait = evtimer_new(base, on_wait, t);
	event_add(t->timer, &every);
	event_active(t->kick, EV_TIMEOUT, 0);
	return t;
}

void
ct_take_free(struct ct_take *t)
{
	if (t == NULL)
		return;
	event_del(t->timer);
	event_del(t->kick);
	t->closing = 1;
	/* Waiting for the stream, no commit is in flight: free now. */
	if (!t->busy || evtimer_pending(t->wait, NULL))
		take_free(t);
}

static void
take_free(struct ct_take *t)
{
	event_free(t->timer);
	event_free(t->kick);
	event_free(t->wait);
	ix_free(t);
	free(t->names);
	free(t->slice);
	free(t->alerts);
	free(t->tbs);
	free(t->ev);
	free(t->cs);
	free(t);
}

unsigned long
ct_take_done(const struct ct_take *t)
{
	return t ? t->done : 0;
}

int
ct_take_round(struct store *st, const char *domain,
	      const struct check_result *r, int alarm_open)
{
	const struct store_domain *sd = store_domain_get(st, domain);
	struct ct_state *cs;
	int changed = 0;

	if (sd == NULL)
		return 0;
	cs = xcalloc(1, sizeof(*cs));
	(void)ct_state_load(sd, cs);
	if (ct_state_round(cs, r, alarm_open))
		changed = ct_state_save(st, domain, cs) == 0;
	free(cs);
	return changed;
}
