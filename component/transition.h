/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * transition.h - which alert, if any, a round of a watched domain sends
 * (docs/usage.md "Alerts"), in pure functions tested on tables of cases.
 */
#ifndef CERTWATCH_TRANSITION_H
#define CERTWATCH_TRANSITION_H

#include <stddef.h>
#include <stdint.h>

#include "component/alert_kind.h"
#include "probe/check.h"
#include "probe/probe.h"
#include "probe/verdict.h"
#include "store/store.h"

struct domain_state;

/* The alert state kept between rounds (in domain_state.h). */
struct watch_state {
	enum verdict verdict; /* the alert verdict of the last round;
			       * VERDICT_NONE before the first */
	enum alert_kind last; /* the last alert that changed the state:
			       * ALARM, REMOVED, DOWN or NONE */
	unsigned unreachable_rounds;
};

struct round_facts {
	/* The domain's verdict with each unreachable endpoint counted at
	 * its last verdict; UNREACHABLE when nothing is known at all. */
	enum verdict verdict;
	int all_unreachable; /* every endpoint unreachable this round */
	int key_rolled;	     /* a key changed and still matches a record */
};

/*
 * Decides the alert of a round and updates *st.  The first round of a
 * domain (st->verdict == VERDICT_NONE) sets the baseline and sends none.
 */
enum alert_kind transition_decide(struct watch_state *st,
				  const struct round_facts *now,
				  unsigned down_after);

/*
 * Endpoint trouble (docs/usage.md "Alerts"): one endpoint that fails
 * after TCP could be tried, while the domain's other probes answer, is
 * where an interceptor can hide, since an unreachable endpoint counts at
 * its last verdict.  Kept per endpoint (service, host, port; per address
 * and vantage once a check probes each), in the store.
 */
struct trouble_state {
	unsigned fail_rounds; /* consecutive rounds failing at tcp, stream,
			       * starttls or tls */
	int answered;	      /* it answered in some round before */
	int alerted;	      /* the trouble alert went out, its recovery
			       * not yet */
};

/* What one round's probe of the endpoint gave. */
enum trouble_probe {
	TROUBLE_OTHER = 0, /* says nothing of the endpoint: not probed,
			    * a DNS or Tor failure, a bad input */
	TROUBLE_ANSWERED,  /* a verdict came (ok, mismatch, ...) */
	TROUBLE_FAILED,	   /* unreachable at tcp, stream, starttls or tls */
};

/* The probe class of an endpoint's round: its verdict and failed step. */
enum trouble_probe transition_trouble_classify(enum verdict v,
					       enum probe_step step);

/*
 * Decides an endpoint's trouble alert of a round and updates *st: ALERT_INFO
 * once after down_after failed rounds in a row of an endpoint that
 * answered before, while others_answer (another probe of the domain
 * answered this round: a whole domain down is the "down" alert's);
 * ALERT_RECOVERED the first round it answers after that; else ALERT_NONE.
 * A round of TROUBLE_OTHER changes nothing, and failed rounds of an
 * endpoint that never answered are not counted.
 */
enum alert_kind transition_trouble_decide(struct trouble_state *st,
					  enum trouble_probe now,
					  int others_answer,
					  unsigned down_after);

/*
 * The facts of a round, from its result and the state the last round
 * left (`last`, NULL for none; domain_state.h): the verdict for alerts,
 * in which an unreachable endpoint counts at its last verdict (so a
 * MITM'd endpoint that turns unreachable hides nothing, while the others
 * are checked), and whether a key rolled over.  Folded by verdict_domain()
 * like the check's own verdict.
 */
enum verdict transition_alert_verdict(const struct check_result *r,
				      const struct domain_state *last);
/* An endpoint's last verdict other than unreachable, or VERDICT_NONE when
 * it has none. */
enum verdict transition_last_verdict(const struct check_endpoint *e,
				     const struct domain_state *last);
/* A key changed on an endpoint while the domain is ok: every endpoint still
 * matches a record (a planned rollover). */
int transition_key_rolled(const struct check_result *r,
			  const struct domain_state *last);

/*
 * [watch] flap_limit (docs/usage.md "Alerts").  Beyond `limit` changes in
 * the last hour, and for the rest of the hour that starts then, every
 * alert but an alarm is held; at the hour's end one summary says how many
 * were.  The caller keeps the state and the clock, so that the rule is
 * tested on a table (tests/test_transition.c).
 */
struct flap_state {
	int64_t until; /* end of the hour of holding; 0: none */
	unsigned held; /* alerts held in it */
};

/* Whether an alert of kind k decided at `now` is held; `changes`: the
 * domain's changes in the hour before now, this one included.  0: send
 * it; 1: held; 2: held, and an hour of holding starts (its summary is due
 * at f->until). */
int transition_flap_hold(struct flap_state *f, enum alert_kind k, int64_t now,
			 unsigned changes, unsigned limit);
/* The hour's end: the number of alerts held (0: no summary to send); the
 * state starts over. */
unsigned transition_flap_summary(struct flap_state *f);

#endif
