/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * domain_state.h - a watched domain between rounds, typed: its alert
 * state and each endpoint's last verdict, key, error step and trouble
 * count as enums and numbers.  The store keeps them as words
 * (docs/store.md); the two conversions, store record -> state and a
 * round's result -> the next state -> store update, are here and nowhere
 * else, so the alert rules (transition.h) never see a word.  Part 2 adds
 * fields here (a key per address, CT events, defences), with their words
 * in the same two conversions.
 */
#ifndef CERTWATCH_DOMAIN_STATE_H
#define CERTWATCH_DOMAIN_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "component/keys.h"
#include "component/defence_watch.h"
#include "component/transition.h"
#include "dns/dns.h"
#include "probe/check.h"
#include "probe/probe.h"
#include "probe/verdict.h"
#include "store/store.h"

#define DOMAIN_ERROR_MAX 300

struct endpoint_state {
	enum check_service service;
	uint16_t port;
	/* Its last verdict; VERDICT_UNREACHABLE when it never answered,
	 * VERDICT_NONE when the store held a word this version does not
	 * know. */
	enum verdict verdict;
	enum probe_step err_step; /* the step of its error, or NONE */
	unsigned fail_rounds;	  /* trouble_state.fail_rounds */
	int trouble_alerted;	  /* trouble_state.alerted */
	char spki[65];		  /* hex SPKI SHA-256, "" for none */
	char host[DNS_NAME_MAX + 1];
	char error[DOMAIN_ERROR_MAX]; /* "step: reason", "" for none */
};

struct domain_state {
	struct watch_state alert; /* verdict, last alert, down count */
	size_t n;
	struct endpoint_state ep[STORE_ENDPOINTS_MAX];
	/* Key continuity (keys.h: the keys seen per endpoint and key type,
	 * the split rounds and alarm; the store's `seen` and `split`
	 * lines) is a struct keys_state of its own, loaded with
	 * domain_state_keys_load() by the few that need it: at up to 128
	 * keys it is large, and presence, metrics and pages read every
	 * domain's state. */
	/*
	 * Defences (docs/usage.md "Defences", "Alerts"): what the last
	 * rounds showed of CAA, channel binding (per c2s endpoint, by its
	 * index in ep) and expiry.  The store's `defence` line
	 * (defence_parse / defence_format); a round's next value comes
	 * from defence_round().
	 */
	struct defence_state def;
};

/*
 * Store -> state.  sd NULL (a domain not stored yet) gives the empty state
 * (VERDICT_NONE: the next round is the baseline).  A word this version
 * does not know is no verdict (VERDICT_NONE, ALERT_NONE), an endpoint of
 * an unknown service or too long a host is left out; either way the rest
 * is loaded and -1 returned with what was wrong in err.  0 otherwise.
 */
int domain_state_load(const struct store_domain *sd, struct domain_state *ds,
		      char *err, size_t errlen);

/* One stored endpoint appended to ds (as domain_state_load): 0, or -1
 * with err when it is left out. */
int domain_state_add_endpoint(struct domain_state *ds,
			      const struct store_endpoint *se, char *err,
			      size_t errlen);

/* The endpoint (service, host, port) of ds, or NULL. */
const struct endpoint_state *domain_state_find(const struct domain_state *ds,
					       enum check_service service,
					       const char *host, unsigned port);

/* The domain verdict a stored record holds (VERDICT_NONE: none or an
 * unknown word), for readers of many domains (presence, metrics). */
enum verdict domain_state_verdict(const struct store_domain *sd);

/*
 * A round's result -> the next endpoints: each of r's endpoints (at most
 * STORE_ENDPOINTS_MAX) with its verdict, key and error; an unreachable
 * one keeps its last verdict from `last` (its error says it is
 * unreachable now).  Trouble counts start at 0 for the caller's rule.
 * next->alert is left as it is.
 */
void domain_state_round(struct domain_state *next,
			const struct domain_state *last,
			const struct check_result *r);

/*
 * State -> store update: fills u's words and endpoints (eps, room for
 * STORE_ENDPOINTS_MAX, pointing into ds, which must outlive u).  Times
 * and the history entry are the caller's.
 */
void domain_state_to_update(const struct domain_state *ds,
			    struct store_update *u, struct store_endpoint *eps);

/*
 * Key continuity, store -> state: the domain's `seen` and `split` lines
 * into ks (sd NULL: none, the baseline to come).  An entry of an unknown
 * service, a bad host or key is left out (-1 and err); 0 otherwise.
 */
int domain_state_keys_load(const struct store_domain *sd, struct keys_state *ks,
			   char *err, size_t errlen);
/* Whether a stored domain's split alarm is open (its `split` line's
 * flag `alarm`), for readers of many domains (presence, metrics) that
 * need no keys. */
int domain_state_split_alarm(const struct store_domain *sd);
/* State -> store: c for store_domain_set_continuity(), its entries in
 * buf (room for KEYS_SEEN_MAX), pointing into ks. */
void domain_state_keys_to_store(const struct keys_state *ks,
				struct store_continuity *c,
				struct store_seen *buf);

/* The word of a probe step and back (PROBE_STEP_NONE for an unknown or
 * empty word); the step an "step: reason" error starts with. */
enum probe_step domain_state_step_parse(const char *word);
enum probe_step domain_state_error_step(const char *error);
/* A service word back ("xmpp-client"...): 0 and *out, or -1. */
int domain_state_service_parse(const char *word, enum check_service *out);

#endif
