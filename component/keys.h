/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * keys.h - key continuity of a watched domain (docs/usage.md "Keys seen
 * and splits"): per endpoint and key type the keys seen, with where and
 * since when; the split alarm after [watch] split_rounds rounds that
 * show a key never established on some probes of a host and not on
 * others; the info alert when every probe moves to one new key.  The
 * rules are pure functions of the last state and a round's result,
 * tested on tables (tests/test_keys_rules.c).  The store keeps the state
 * as `seen` and `split` lines (docs/store.md); domain_state.c converts.
 */
#ifndef CERTWATCH_KEYS_H
#define CERTWATCH_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "component/transition.h"
#include "dns/dns.h"
#include "probe/check.h"
#include "store/store.h"

#define KEYS_SEEN_MAX STORE_SEEN_MAX /* per domain */
#define KEYS_PER_ENDPOINT 16	     /* per endpoint and key type: the newest */
#define KEYS_LIST_MAX STORE_SEEN_LIST_MAX /* vantages, addresses */
#define KEYS_ESTABLISHED 2 /* rounds that make a key established */

/* One key seen on one endpoint, within one key type. */
struct seen_key {
	enum check_service service;
	uint16_t port;
	char host[DNS_NAME_MAX + 1];
	char key_type[8]; /* "ecdsa", "rsa", "ed25519", "" */
	char spki[65];	  /* hex SPKI SHA-256 */
	int64_t first_seen, last_seen;
	/* Rounds it was seen in with no split alarm open and not as the
	 * new key of a split, capped at KEYS_ESTABLISHED. */
	unsigned rounds;
	char vantages[KEYS_LIST_MAX + 1]; /* comma-separated */
	char addresses[KEYS_LIST_MAX + 1];
};

struct keys_state {
	uint64_t split_rounds; /* bit i: the round i rounds ago was split */
	int alarm;	       /* the split alarm is open */
	size_t n;
	struct seen_key k[KEYS_SEEN_MAX];
};

/* Where a key showed in a round, for an alert's text. */
#define KEYS_WHERE_MAX 600

/* A round's continuity alert (ALERT_NONE, ALARM, RECOVERED or INFO). */
struct keys_alert {
	enum alert_kind kind;
	char host[DNS_NAME_MAX + 1]; /* the host of the split */
	char key_type[8];
	/* ALARM: the key never established, and one other key of its
	 * host; RECOVERED: the one key all probes show (new_spki);
	 * INFO: the new key. */
	char new_spki[65], old_spki[65];
	int64_t new_since, old_since; /* first seen */
	char new_where[KEYS_WHERE_MAX], old_where[KEYS_WHERE_MAX];
	unsigned split_seen; /* ALARM: split rounds in the window */
	unsigned window;     /* 2 x split_rounds */
	/* INFO: the new certificate. */
	char issuer[256];
	int64_t not_before, not_after;
	int allowed; /* INFO: a secure TLSA record allows it */
	/* INFO: the remote vantages (xmpp:JID, comma-separated) that still
	 * showed another key on those endpoints this round: this
	 * instance's own network may be the one intercepted.  A remote
	 * only adds this line; it never removes the alert. */
	char remote_other[KEYS_WHERE_MAX];
};

/*
 * Decides a round's continuity alert and fills *next (which may not be
 * last).  last->n == 0 is the baseline: every key seen then is the
 * domain's normal state (established at once) and no alert goes out.
 * A probe without a key counts at the last key seen at its (address,
 * vantage).  split_rounds: [watch] split_rounds (1 to 16; 0 is 2).
 */
enum alert_kind keys_round(const struct keys_state *last,
			   const struct check_result *r, int64_t now,
			   unsigned split_rounds, struct keys_state *next,
			   struct keys_alert *out);

/* Whether the comma-separated list holds item. */
int keys_list_has(const char *list, const char *item);

#endif
