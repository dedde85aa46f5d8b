/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * ct_watch.h - certspotter as a child of the event loop (docs/ct.md,
 * "Running certspotter"): started with the watch list of every watched
 * domain and SRV target, restarted when that list changed (at most once
 * a minute) and with backoff when it exits, its stderr in the log,
 * stopped with the daemon.
 */
#ifndef CERTWATCH_CT_WATCH_H
#define CERTWATCH_CT_WATCH_H

#include <event2/event.h>

#include "component/config.h"
#include "component/metrics.h"
#include "store/store.h"
#include "util/clock.h"

struct ct_watch;

/* NULL when [ct] certspotter is empty.  A binary that cannot be found is
 * logged (warning) and retried with backoff; ct_watch_up says 0.  `clk`
 * (util/clock.h; NULL: the system's) times the restarts. */
struct ct_watch *ct_watch_new(struct event_base *base, const struct config *cfg,
			      const struct store *store,
			      struct metrics *metrics, const struct clock *clk);

/* 1 while certspotter runs; 0 otherwise (also for NULL). */
int ct_watch_up(const struct ct_watch *w);

/* How many times it was started (for tests and logs). */
unsigned long ct_watch_starts(const struct ct_watch *w);

/* Sends SIGTERM to certspotter, waits for it (SIGKILL after 5 s) and
 * frees everything.  NULL: no-op. */
void ct_watch_free(struct ct_watch *w);

#endif
