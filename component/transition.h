/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * transition.h - which alert, if any, a round of a watched domain sends
 * (SPEC.md "Alerts"), in one pure function tested on a table of cases.
 */
#ifndef CERTWATCH_TRANSITION_H
#define CERTWATCH_TRANSITION_H

#include "probe/verdict.h"

enum alert_kind {
	ALERT_NONE = 0,
	ALERT_ALARM,		/* to mismatch or bogus: sent at once, always */
	ALERT_REMOVED,		/* ok → insecure / no-tlsa */
	ALERT_DOWN,		/* down_after rounds with every endpoint
				 * unreachable */
	ALERT_RECOVERED,	/* back after an alarm, a removal or down */
	ALERT_INFO,		/* any other change; a key rollover */
};

/* The state kept between rounds (in the store as words). */
struct watch_state {
	enum verdict verdict;	/* the alert verdict of the last round;
				 * VERDICT_NONE before the first */
	enum alert_kind last;	/* the last alert that changed the state:
				 * ALARM, REMOVED, DOWN or NONE */
	unsigned unreachable_rounds;
};

struct round_facts {
	/* The domain's verdict with each unreachable endpoint counted at
	 * its last verdict; UNREACHABLE when nothing is known at all. */
	enum verdict verdict;
	int all_unreachable;	/* every endpoint unreachable this round */
	int key_rolled;		/* a key changed and still matches a record */
};

/*
 * Decides the alert of a round and updates *st.  The first round of a
 * domain (st->verdict == VERDICT_NONE) sets the baseline and sends none.
 */
enum alert_kind transition_decide(struct watch_state *st,
				  const struct round_facts *now,
				  unsigned down_after);

/* "alarm", "removed", "down", "recovered", "info", or "none". */
const char *alert_kind_name(enum alert_kind k);
enum alert_kind alert_kind_parse(const char *word);

#endif
