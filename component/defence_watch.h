/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * defence_watch.h - a watched domain's defences between rounds
 * (docs/usage.md "Alerts", "Defences"): what each round's check showed
 * of CAA, channel binding and expiry, kept in the store's `defence` line
 * (docs/store.md), and the alerts when a defence goes away.  Pure
 * functions, tested on tables (tests/test_defence_watch.c).  Never
 * changes a verdict or the verdict's alerts.
 */
#ifndef CERTWATCH_DEFENCE_WATCH_H
#define CERTWATCH_DEFENCE_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "component/defences.h"
#include "probe/check.h"
#include "probe/probe.h"
#include "util/buf.h"

/* c2s endpoints of a domain whose channel binding is kept. */
#define DEFENCE_CB_MAX 16
/* Counts of rounds stop here (they matter up to [watch] split_rounds). */
#define DEFENCE_ROUNDS_MAX 1000000u
/* The longest text of the store's line (STORE_TEXT_MAX). */
#define DEFENCE_TEXT_MAX 1000

/* One c2s endpoint's channel binding as the rounds before showed it. */
struct defence_cb {
	uint8_t ep;	 /* its index in domain_state.ep */
	uint16_t port;	 /* that endpoint's port (checks the index) */
	uint8_t plus;	 /* it offered a -PLUS mechanism */
	uint8_t tls;	 /* at this TLS version: 13, 12..., 0 unknown */
	uint8_t alerted; /* DEFENCE_CB_* alerts that went out */
	uint32_t others; /* its mechanisms but the -PLUS ones, hashed */
	uint32_t rounds; /* rounds in a row it showed them withdrawn */
	uint32_t unread; /* rounds in a row its stream after TLS failed */
};

#define DEFENCE_CB_ALARMED 0x1u /* the "withdrawn" alarm */
#define DEFENCE_CB_UNREAD 0x2u	/* the "can no longer be read" info */

enum defence_expiry {
	DEF_EXPIRY_UNKNOWN,
	DEF_EXPIRY_OK,
	DEF_EXPIRY_SOON,
	DEF_EXPIRY_EXPIRED
};
enum defence_key_reuse { DEF_REUSE_UNKNOWN, DEF_REUSE_KEPT, DEF_REUSE_NEW };

struct defence_state {
	int have; /* a round was recorded: not the baseline */
	/* The summary of the last round that said something (metrics):
	 * PROBE_CB_NA for cb when the domain has no c2s endpoint. */
	enum check_caa_state caa;
	enum probe_cb cb;
	enum defence_expiry expiry;
	enum defences_tlsa tlsa;
	int next_key;
	enum defence_key_reuse key_reuse;
	/* Expiry: the earliest leaf's notAfter seen last, and the notAfter
	 * whose "expiry line passed" alert went out (0: none). */
	int64_t not_after;
	int64_t expiry_alerted;
	size_t ncb;
	struct defence_cb cb_ep[DEFENCE_CB_MAX];
};

/* What changed in a round, each one line of the alert. */
enum defence_event_kind {
	DEV_CB_WITHDRAWN = 1, /* alarm: -PLUS gone, the rest kept */
	DEV_CB_CHANGED,	      /* info: -PLUS gone with other changes */
	DEV_CB_OFFERED,	      /* info: -PLUS offered where it was not */
	DEV_CB_BACK,	      /* recovered: -PLUS back after the alarm or
			       * after DEV_CB_UNREAD */
	DEV_CB_UNREAD,	      /* info: offered -PLUS, then its stream
			       * after TLS fails for split_rounds rounds */
	DEV_CAA_REMOVED,      /* info: CAA bound -> other */
	DEV_EXPIRY_LINE,      /* info: under the warning line, once a leaf */
	DEV_SHORTER_LEAF,     /* info: a new leaf expiring before the last */
};

struct defence_event {
	enum defence_event_kind kind;
	size_t ep; /* the check's endpoint (channel binding,
		    * expiry) */
	enum check_caa_state caa_to;
	int64_t not_after, prev_not_after;
	int days;
	uint32_t rounds;
};

#define DEFENCE_EVENTS_MAX (DEFENCE_CB_MAX + 3)

struct domain_state;

/* ---- the rules, one defence each ------------------------------------- */

/* An endpoint's channel binding this round: obs OFFERED or NONE, or
 * UNKNOWN (the stream after TLS failed: counted apart, never a withdrawn
 * round); known 0 makes it the baseline.  Returns the event (0 for none)
 * and updates *st. */
int defence_cb_decide(struct defence_cb *st, int known, enum probe_cb obs,
		      uint8_t tls, uint32_t others, unsigned split_rounds);
/* CAA: DEV_CAA_REMOVED when it was bound and is not any more, else 0. */
int defence_caa_decide(enum check_caa_state prev, enum check_caa_state now);
/* Expiry of the earliest leaf (not_after 0: none seen, nothing changes):
 * DEV_EXPIRY_LINE once per leaf under the line, DEV_SHORTER_LEAF for a
 * new leaf that expires a day or more before the last one (0 for none;
 * both can be due: *second gets the other).  Updates *st. */
int defence_expiry_decide(struct defence_state *st, int64_t not_after, int soon,
			  int *second);

/* ---- a round ----------------------------------------------------------- */

/*
 * The defences of a round: next->def from last->def and r (next->ep must
 * already hold r's endpoints: domain_state_round), the events into ev
 * (room for DEFENCE_EVENTS_MAX); returns how many.  The first round of a
 * domain (or of a store without the line) is the baseline: no event.
 */
size_t defence_round(struct domain_state *next, const struct domain_state *last,
		     const struct check_result *r, unsigned split_rounds,
		     struct defence_event *ev);

/* The alert kind of a round's events: ALERT_ALARM when one is an alarm,
 * else ALERT_INFO, else ALERT_RECOVERED (transition.h's values). */
int defence_alert_kind(const struct defence_event *ev, size_t n);

/* ---- the store's `defence` line (docs/store.md) ---------------------- */

/* Its text; "" for the empty state. */
void defence_format(const struct defence_state *st, struct buf *out);
/* Parses the text (NULL: none) into *st: what does not parse is left at
 * the empty state, unknown words are a later version's and ignored.
 * Returns 0, -1 when something did not parse. */
int defence_parse(const char *text, struct defence_state *st);

/* The defences the last rounds showed, as a check's summary (for the
 * checklist of /d/DOMAIN), days counted to `now`; 0 when no round is
 * kept yet (s is then not filled). */
int defence_state_summary(const struct defence_state *st, int64_t now,
			  struct defences_summary *s);

/* The checklist of a watched domain in one line for `status DOMAIN`
 * ("  defences: CAA bound to your ACME account: bound; ...\n"); nothing
 * before its first round. */
void defence_state_line(const struct defence_state *st, int64_t now,
			struct buf *out);

/* Whether a stored defence line (NULL: none) holds an open channel
 * binding alarm (an endpoint's "withdrawn" alarm went out, -PLUS not
 * back yet): the bot's presence shows it like a verdict's alarm. */
int defence_alarm_open(const char *text);

/* ---- the metric certwatch_domains_defence{defence,state} ------------ */

#define DEFENCE_METRIC_DEFS 6
#define DEFENCE_METRIC_STATES 4
/* The label values: defence d's name (s < 0) or its state s's; NULL past
 * the end.  Bounded: these words only. */
const char *defence_metric_word(int d, int s);
/* Each defence's state index in st (-1: not counted: no round yet, no
 * c2s endpoint, no leaf seen). */
void defence_metric_states(const struct defence_state *st,
			   int idx[DEFENCE_METRIC_DEFS]);

/* Words of the metrics label `state` (docs/running.md). */
const char *defence_expiry_name(enum defence_expiry e);
const char *defence_key_reuse_name(enum defence_key_reuse k);

/* The state as the "defences" object of GET /api/domain (docs/web.md):
 * {"caa", "channel_binding", "expiry", "not_after", "tlsa_quality",
 * "next_key", "key_reuse"}, the words of the metric (null where not
 * known); null before a round was recorded. */
void defence_state_json(const struct defence_state *st, struct buf *out);

#endif
