/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * watch_int.h - what watch.c (the schedule, rounds, the public API),
 * watch_alert.c (a round's result in the store, alerts, presence
 * summaries) and watch_cmd.c (the bot's hooks) share.  Not a public API.
 */
#ifndef CERTWATCH_WATCH_INT_H
#define CERTWATCH_WATCH_INT_H

#include <sys/queue.h>

#include "component/watch.h"
#include "util/hmap.h"

#define HEAP_NONE UINT32_MAX

/* [watch] flap_limit: alerts other than alarms held this hour; only for
 * the few domains that flapped. */
struct wflap {
	struct flap_state st;
	struct event *timer;
};

/* One watched domain: kept small, there may be 100,000. */
struct wdom {
	struct watch *w;
	struct hmap_node hm;	 /* in w->doms, by name */
	TAILQ_ENTRY(wdom) ready; /* in w->ready while `waiting` */
	struct check *check;
	struct wflap *flap;
	time_t due;	   /* wall clock, for status and the store */
	uint32_t heap_idx; /* its place in w->heap, HEAP_NONE: not scheduled */
	uint32_t waiting;  /* in the ready queue */
	char name[];
};

struct watch {
	struct event_base *base;
	const struct config *cfg;
	struct store *st;
	struct comp *comp;
	struct check_env *checks;
	struct clock clk; /* every member set */
	struct watch_publisher pub;
	struct hmap doms;	  /* every struct wdom, by name */
	TAILQ_HEAD(, wdom) ready; /* due, waiting for a concurrency slot */
	struct hent *heap;	  /* min-heap by key: the scheduled domains */
	size_t nscheduled, capheap, running, waiting;
	struct event *tick; /* fires at the heap's earliest key */
	int64_t tick_key;   /* the key it is armed for, -1: not armed */
	uint64_t rounds;
	uint64_t alerts[ALERT_INFO + 1];
	LIST_HEAD(, pending_req) reqs; /* subscribe/unsubscribe in flight */
	TAILQ_HEAD(, sub_check)
	subchecks; /* checks that follow a subscribe,
		    * oldest first */
	int closing;
};

/* The check after a subscribe: its report goes to that subscriber only;
 * for a new domain it is the baseline. */
struct sub_check {
	struct watch *w;
	struct check *check; /* NULL: waiting for a checks_in_flight slot */
	TAILQ_ENTRY(sub_check) link; /* in w->subchecks */
	char jid[STORE_JID_MAX + 1];
	char domain[DNS_NAME_MAX + 1];
	char domain_u[DNS_NAME_MAX * 4 + 1]; /* U-label, for the report */
	int is_new;
	int admin; /* not bound by [limits] */
	int slot;  /* holds one of the JID's slots */
};

/* watch.c */
/* Wall-clock seconds, by the injected clock if there is one. */
time_t watch_now(const struct watch *w);
/* A store_commit() callback that only logs a failure (the store retries). */
void watch_commit_done_log(void *arg, int result);
/* The watcher's entry for a domain (the watcher owns it): NULL when there
 * is none / made when there is none. */
struct wdom *watch_wdom_find(const struct watch *w, const char *name);
struct wdom *watch_wdom_get(struct watch *w, const char *name);
/* Schedules the next round `delay` seconds from now. */
void watch_wdom_schedule(struct wdom *d, long delay);
/* [watch] interval with its jitter, in seconds (at least 1). */
long watch_next_delay(const struct watch *w);
/* The schedule's timer: starts every round whose time has come by the
 * watcher's monotonic clock, earliest first, and re-arms the timer
 * (tests call it after moving an injected clock). */
void watch_tick(struct watch *w);
/* A round of d is due now: it starts or waits for a slot; a domain nobody
 * subscribes to any more is forgotten instead (d is freed). */
void watch_round_due(struct wdom *d);
/* Forgets a domain nobody subscribes to any more, with its timer; the
 * caller commits. */
void watch_drop_if_unwatched(struct watch *w, const char *name);

/* watch_alert.c */
/* Records a round's result in the store and alerts the domain's
 * subscribers if its state changed; with baseline_only a first verdict
 * alerts nobody.  r stays the caller's. */
void watch_alert_record(struct wdom *d, struct check_result *r,
			int baseline_only);
/* The status line of the bot's presence to jid, and whether to show dnd;
 * 0 when the JID has nothing stored. */
int watch_alert_presence_summary(struct watch *w, const char *jid, int *dnd,
				 char *line, size_t len);
/* Sends jid the bot's presence with that summary, if jid has the bot as a
 * contact. */
void watch_alert_send_presence(struct watch *w, const char *jid);

/* watch_keys.c */
/* Key continuity of a round (keys.h): updates the domain's keys seen in
 * the store and returns its alert (ALERT_NONE, or ALARM, RECOVERED,
 * INFO with its words appended to text) for the caller to deliver. */
enum alert_kind watch_keys_round(struct watch *w, const char *name,
				 const struct check_result *r, time_t now,
				 struct buf *text);

/* watch_cmd.c */
/* Installs the bot's hooks (subscribe, status, ...) for watch_start(). */
void watch_cmd_set_hooks(struct watch *w);

#endif
