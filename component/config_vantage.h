/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * config_vantage.h - the configuration of remote vantages
 * (docs/vantages.md): `xmpp:JID` in [probe] vantages, and [vantage]
 * allow, the JIDs whose probe requests this instance answers.  Kept out
 * of config.c, which calls these.
 */
#ifndef CERTWATCH_CONFIG_VANTAGE_H
#define CERTWATCH_CONFIG_VANTAGE_H

#include <stddef.h>

#include "probe/check.h"

struct config;

/* The longest JID of an xmpp: vantage (its name is "xmpp:JID"). */
#define CONFIG_VANTAGE_JID_MAX 74

/* "xmpp:JID" into *v (name, remote); -1 with `why` when the JID is not
 * a bare or domain JID of at most CONFIG_VANTAGE_JID_MAX bytes. */
int config_vantage_xmpp(const char *tok, struct check_vantage *v, char *why,
			size_t whylen);

/* [vantage] allow: a list of bare or domain JIDs, replacing any before. */
int config_vantage_allow(struct config *cfg, const char *val, char *why,
			 size_t whylen);

/* After the whole file: xmpp: vantages need a local one beside them (a
 * remote vantage never decides an endpoint alone). */
int config_vantage_check(const struct config *cfg, char *why, size_t whylen);

/* True when the bare JID (or domain JID) `jid` is in [vantage] allow;
 * the domain part compares case-insensitively. */
int config_vantage_allowed(const struct config *cfg, const char *jid);

/* The `run -n` lines: the vantages by name and who may ask this one. */
void config_vantage_describe(const struct config *cfg, char *out, size_t len);

/* SIGHUP: `from`'s [vantage] allow replaces `to`'s (from keeps none). */
void config_vantage_take(struct config *to, struct config *from);

void config_vantage_free(struct config *cfg);

#endif
