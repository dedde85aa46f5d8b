/* SPDX-License-Identifier: GPL-3.0-or-later */
/* transition.c - the alert rules of docs/usage.md "Alerts". */
#include "component/transition.h"

#include "component/domain_state.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

static int
is_alarm(enum verdict v)
{
	return v == VERDICT_MISMATCH || v == VERDICT_BOGUS;
}

enum alert_kind
transition_decide(struct watch_state *st, const struct round_facts *now,
		  unsigned down_after)
{
	enum verdict prev = st->verdict;
	enum verdict v = now->verdict;

	if (now->all_unreachable) {
		st->unreachable_rounds++;
		if (prev == VERDICT_NONE)
			st->verdict = v;
		if (st->unreachable_rounds >= down_after &&
		    st->last != ALERT_DOWN) {
			st->last = ALERT_DOWN;
			return ALERT_DOWN;
		}
		return ALERT_NONE;
	}
	st->unreachable_rounds = 0;
	st->verdict = v;
	if (st->last == ALERT_DOWN) {
		/* The first round with any result after "down". */
		st->last = is_alarm(v) ? ALERT_ALARM : ALERT_NONE;
		return is_alarm(v) && v != prev ? ALERT_ALARM : ALERT_RECOVERED;
	}
	if (prev == VERDICT_NONE)
		return ALERT_NONE; /* the baseline */
	if (is_alarm(v) && v != prev) {
		st->last = ALERT_ALARM;
		return ALERT_ALARM;
	}
	if (v == VERDICT_OK && prev != VERDICT_OK &&
	    (st->last == ALERT_ALARM || st->last == ALERT_REMOVED)) {
		st->last = ALERT_NONE;
		return ALERT_RECOVERED;
	}
	if (prev == VERDICT_OK &&
	    (v == VERDICT_INSECURE || v == VERDICT_NO_TLSA)) {
		st->last = ALERT_REMOVED;
		return ALERT_REMOVED;
	}
	if (v != prev) {
		if (v == VERDICT_OK)
			st->last = ALERT_NONE;
		return ALERT_INFO;
	}
	if (now->key_rolled)
		return ALERT_INFO;
	return ALERT_NONE;
}

enum trouble_probe
transition_trouble_classify(enum verdict v, enum probe_step step)
{
	if (v != VERDICT_UNREACHABLE)
		return v == VERDICT_NONE ? TROUBLE_OTHER : TROUBLE_ANSWERED;
	switch (step) {
	case PROBE_STEP_TCP:
	case PROBE_STEP_STREAM:
	case PROBE_STEP_STARTTLS:
	case PROBE_STEP_TLS:
		return TROUBLE_FAILED;
	default:
		return TROUBLE_OTHER;
	}
}

enum alert_kind
transition_trouble_decide(struct trouble_state *st, enum trouble_probe now,
			  int others_answer, unsigned down_after)
{
	switch (now) {
	case TROUBLE_ANSWERED:
		st->fail_rounds = 0;
		st->answered = 1;
		if (st->alerted) {
			st->alerted = 0;
			return ALERT_RECOVERED;
		}
		return ALERT_NONE;
	case TROUBLE_FAILED:
		/* One that never answered hides nothing: not counted, so a
		 * dead backup endpoint costs no store write per round. */
		if (!st->answered)
			return ALERT_NONE;
		if (st->fail_rounds < UINT32_MAX)
			st->fail_rounds++;
		if (st->answered && !st->alerted && others_answer &&
		    st->fail_rounds >= down_after) {
			st->alerted = 1;
			return ALERT_INFO;
		}
		return ALERT_NONE;
	default:
		return ALERT_NONE;
	}
}

/* ---- the facts of a round ----------------------------------------------- */

enum verdict
transition_last_verdict(const struct check_endpoint *e,
			const struct domain_state *last)
{
	const struct endpoint_state *se =
	    domain_state_find(last, e->service, e->host, e->port);

	if (se == NULL || se->verdict == VERDICT_UNREACHABLE)
		return VERDICT_NONE;
	return se->verdict;
}

enum verdict
transition_alert_verdict(const struct check_result *r,
			 const struct domain_state *last)
{
	enum verdict *evs = xcalloc(r->nendpoints + 1, sizeof(*evs));
	size_t nbogus = 0;

	for (size_t i = 0; i < r->nendpoints; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		evs[i] = e->verdict;
		if (evs[i] == VERDICT_UNREACHABLE) {
			enum verdict was = transition_last_verdict(e, last);
			if (was != VERDICT_NONE)
				evs[i] = was;
		}
	}
	for (int s = 0; s < SVC_COUNT; s++)
		nbogus += r->services[s] == SVC_STATE_BOGUS;
	enum verdict v = verdict_domain(evs, r->nendpoints, nbogus);
	free(evs);
	return v;
}

int
transition_key_rolled(const struct check_result *r,
		      const struct domain_state *last)
{
	if (r->verdict != VERDICT_OK || last == NULL)
		return 0;
	for (size_t i = 0; i < r->nendpoints; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		if (!e->have_key)
			continue;
		for (size_t j = 0; j < last->n; j++)
			if (last->ep[j].port == e->port &&
			    !strcmp(last->ep[j].host, e->host) &&
			    last->ep[j].spki[0] &&
			    strcmp(last->ep[j].spki, e->spki_sha256))
				return 1;
	}
	return 0;
}

/* ---- [watch] flap_limit -------------------------------------------------- */

int
transition_flap_hold(struct flap_state *f, enum alert_kind k, int64_t now,
		     unsigned changes, unsigned limit)
{
	int starts = 0;

	if (k == ALERT_NONE || k == ALERT_ALARM)
		return 0;
	if (f->until <= now && changes <= limit)
		return 0;
	if (f->until <= now) {
		f->until = now + 3600;
		starts = 1;
	}
	f->held++;
	return starts ? 2 : 1;
}

unsigned
transition_flap_summary(struct flap_state *f)
{
	unsigned held = f->held;

	f->held = 0;
	f->until = 0;
	return held;
}
