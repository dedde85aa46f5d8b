/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * ct_take.h - the daemon takes the events `certwatch ct-hook` spooled in
 * STORE/ct/spool/ (docs/ct.md, "What the daemon does with an event"):
 * at start and every CT_TAKE_EVERY seconds, in slices so the event loop
 * stays responsive.  Each is judged (ct/judge.h) for every watched domain
 * one of its names covers, recorded as pending in the domain's `ct` state,
 * alerted, marked sent, and only then its spool file removed: a crash in
 * between alerts once.  A certificate and its precertificate (the same
 * TBS_SHA256) are one event.
 */
#ifndef CERTWATCH_CT_TAKE_H
#define CERTWATCH_CT_TAKE_H

#include <event2/event.h>

#include "component/config.h"
#include "component/metrics.h"
#include "component/watch.h"
#include "store/store.h"
#include "util/clock.h"

#define CT_TAKE_EVERY 2	 /* seconds between looks at the spool */
#define CT_TAKE_SLICE 16 /* spool files taken per turn of the loop */

struct ct_take;

/* Starts taking events from STORE/ct/spool (a first look at once).  NULL
 * when [ct] certspotter is empty.  All pointers must outlive it; `clk`
 * (util/clock.h; NULL: the system's) dates what is recorded. */
struct ct_take *ct_take_new(struct event_base *base, const struct config *cfg,
			    struct store *st, struct watch *watch,
			    struct metrics *metrics, const struct clock *clk);

/* Stops; a slice in flight is left as it is (its files stay in the spool
 * and its pending records in the store: taken again at the next start).
 * NULL: no-op. */
void ct_take_free(struct ct_take *t);

/* How many spool files were taken (removed) and set aside, for tests. */
unsigned long ct_take_done(const struct ct_take *t);

/*
 * A round of `domain` into its CT state (ct_state_round): the TLSA
 * records as last seen secure, its keys when no alarm is open.  Called by
 * the watcher after it recorded the round; 1 when the state changed (the
 * caller commits), else 0.
 */
int ct_take_round(struct store *st, const char *domain,
		  const struct check_result *r, int alarm_open);

#endif
