/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * watch.h - the watcher: subscriptions, the jittered schedule of rounds,
 * verdicts kept in the store, alerts to subscribers by chat and pubsub, and
 * the bot's presence summarising each subscriber's domains.
 *
 * It implements the bot's comp_watch_hooks (subscribe, unsubscribe,
 * status, recheck, stats, presence).  Time and randomness are injected so
 * the schedule is tested without sleeping.  The store's completion event
 * is the daemon's (main.c), not the watcher's.
 */
#ifndef CERTWATCH_WATCH_H
#define CERTWATCH_WATCH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "component/comp.h"
#include "component/config.h"
#include "component/transition.h"
#include "probe/check.h"
#include "store/store.h"
#include "util/clock.h"

struct event_base;
struct watch;

/* The watcher's only sources of time and chance are the struct clock it
 * is given (util/clock.h; NULL members: the system's): wall seconds for
 * what is stored and shown, monotonic milliseconds for the schedule, so
 * that a step of the wall clock moves no round. */

/*
 * Where alerts and state go besides chat: the pubsub service (pubsub.c)
 * publishes an item on the domain's node to its subscribers.  `text` is
 * the alert's words, `res` the round's result (NULL for a held summary).
 */
struct watch_publisher {
	void *arg;
	void (*publish)(void *arg, const char *domain, enum alert_kind kind,
			const char *text, const struct check_result *res);
};

/* cfg, st, comp and checks must outlive the watcher. */
struct watch *watch_new(struct event_base *base, const struct config *cfg,
			struct store *st, struct comp *comp,
			struct check_env *checks, const struct clock *clk);

/* Installs the bot's hooks and schedules every stored domain, spread over
 * one interval (a restart is not a burst). */
void watch_start(struct watch *w);

void watch_set_publisher(struct watch *w, const struct watch_publisher *p);

/*
 * A domain gained a subscriber by another way (pubsub): make sure it is
 * scheduled; a new domain gets its first round (the baseline) soon.
 */
void watch_domain_touched(struct watch *w, const char *domain);

/* A domain may have lost its last subscriber: stop polling it if so. */
void watch_domain_maybe_drop(struct watch *w, const char *domain);

struct watch_stats {
	size_t scheduled; /* domains with a timer */
	size_t running;	  /* rounds in flight */
	size_t waiting;	  /* rounds due, waiting for a slot */
	uint64_t rounds;
	uint64_t alerts[ALERT_INFO + 1]; /* by kind */
};
void watch_get_stats(const struct watch *w, struct watch_stats *out);

/* The seconds from now until a domain's next round (-1: not scheduled). */
long watch_next_round_in(const struct watch *w, const char *domain);

/* Cancels rounds and timers, uninstalls nothing (free the bot after). */
void watch_free(struct watch *w);

/* Certificate Transparency (component/ct_take.c, docs/ct.md). */
/* Sends `text` to the domain's chat subscribers and its pubsub node, as
 * an alert of kind k (counted with the others). */
void watch_ct_alert(struct watch *w, const char *domain, enum alert_kind k,
		    const char *text);
/* 1 when the stream to the server is up and every alert sent so far is
 * written to its socket (a crash now loses none of them). */
int watch_ct_written(const struct watch *w);
/* Starts a round of the domain now, unless one runs or waits. */
void watch_check_now(struct watch *w, const char *domain);

#endif
