/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * vantage.h - remote vantages over XMPP (docs/vantages.md): both sides of
 * urn:xmpp:certwatch:probe:0 in the daemon.
 *
 * Asking: a probe from an `xmpp:JID` vantage of [probe] vantages is an iq
 * get to that JID (installed as the check_env's struct check_remote).
 * The answer becomes a probe result like a local one; no answer in twice
 * [probe] timeout, an iq error or a malformed answer (vantage_proto.h)
 * is an unreachable result at step "vantage".
 *
 * Answering: an iq get from a JID of [vantage] allow is probed with this
 * instance's own settings (its first local vantage, its timeout, its
 * allow_private); others get <forbidden/>; over its limits (answers in
 * flight, [limits] probes_per_minute shared with its own checks) it
 * answers <resource-constraint/> at once.
 */
#ifndef CERTWATCH_VANTAGE_H
#define CERTWATCH_VANTAGE_H

#include <stddef.h>

struct comp;
struct check_env;
struct config;
struct clock;

/* Requests of the asking side waiting for an answer; more are refused
 * (the probe is unreachable at step "vantage"). */
#define VANTAGE_MAX_PENDING 1024
/* Probes the answering side runs at once for others. */
#define VANTAGE_MAX_ANSWERING 16

struct vantage;

/* Registers both sides with the bot and the checks; `clk` (util/clock.h;
 * NULL: the system's) dates the answers. */
struct vantage *vantage_new(struct comp *c, struct check_env *env,
			    const struct config *cfg, const struct clock *clk);

/* Answers the pending requests' probes with unreachable (never called
 * again after this: the checks may outlive it) and stops the answering
 * side's probes. */
void vantage_free(struct vantage *v);

#endif
