/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * torwatch.h - telling the operator when Tor is the problem: a SOCKS5
 * greeting to [probe] tor_socks at start, and a rate-limited warning while
 * probes fail at step `tor` (docs/running.md, "Troubleshooting").  Without
 * it a dead Tor showed only in users' reports and, rounds later, in "down"
 * alerts.
 *
 * It sits between the checks and the metrics: its observers count every
 * probe and check in the metrics as before, then look at the step.
 */
#ifndef CERTWATCH_TORWATCH_H
#define CERTWATCH_TORWATCH_H

#include <event2/event.h>

#include "component/config.h"
#include "component/metrics.h"
#include "util/clock.h"

struct torwatch;

/* Never fails (allocation failure aborts).  `cfg` and `m` must outlive it;
 * `clk` (util/clock.h; NULL: the system's) times its warnings.  Logs
 * nothing until torwatch_start(). */
struct torwatch *torwatch_new(struct event_base *base, const struct config *cfg,
			      struct metrics *m, const struct clock *clk);
void torwatch_free(struct torwatch *tw); /* NULL: no-op */

/* Starts logging, and with via = tor the start-up greeting of the proxy
 * (its result is logged once, within [probe] timeout). */
void torwatch_start(struct torwatch *tw);

/* The check observers: check_config.on_probe / on_check, observer_arg =
 * the torwatch. */
void torwatch_on_probe(void *arg, const struct probe_result *res);
void torwatch_on_check(void *arg, const struct check_result *res);

/* Seconds between two warnings about failures at step `tor`. */
#define TORWATCH_WARN_EVERY 600

#endif
