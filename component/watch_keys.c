/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * watch_keys.c - key continuity of a watched domain in a round: the last
 * state from the store, keys_round()'s decision (keys.h), the next state
 * back into the store, and the alert's words; watch_alert.c delivers it.
 */
#include "component/watch_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component/domain_state.h"
#include "component/keys.h"
#include "component/log.h"
#include "component/report_keys.h"

/*
 * A round's continuity alert as an entry of the domain's history (the
 * `change` lines, docs/store.md): the verdict stays (FROM = TO), the note
 * says what happened, so `status DOMAIN`, /d/DOMAIN and [watch]
 * flap_limit (which counts the entries of the last hour) see it like
 * any alert.  The round is already recorded: this records the stored
 * state again with the entry added.
 */
static void
keys_history(struct watch *w, const char *name, enum alert_kind k,
	     const struct keys_alert *a, time_t now)
{
	const struct store_domain *sd = store_domain_get(w->st, name);
	struct store_endpoint eps[STORE_ENDPOINTS_MAX];
	struct domain_state *ds;
	struct store_change ch;
	char note[300], why[200];
	int rc;

	if (sd == NULL)
		return;
	ds = xcalloc(1, sizeof(*ds));
	(void)domain_state_load(sd, ds, why, sizeof(why)); /* warned */
	struct store_update u = {
	    .checked = sd->last_check,
	    .next_due = sd->next_due,
	};
	domain_state_to_update(ds, &u, eps);
	snprintf(note, sizeof(note), "%s: %s %s", alert_kind_name(k),
		 k == ALERT_ALARM	? "keys differ between probes of"
		 : k == ALERT_RECOVERED ? "one key again on every probe of"
					: "new key on every endpoint of",
		 a->host);
	ch.time = now;
	ch.from = ch.to = verdict_name(ds->alert.verdict);
	ch.note = note;
	u.change = &ch;
	rc = store_domain_record(w->st, name, &u);
	if (rc < 0)
		log_error("%s: cannot record the keys alert in the history: "
			  "%s",
			  name, strerror(-rc));
	else
		store_commit(w->st, watch_commit_done_log, NULL);
	free(ds);
}

enum alert_kind
watch_keys_round(struct watch *w, const char *name,
		 const struct check_result *r, time_t now, struct buf *text)
{
	const struct store_domain *sd = store_domain_get(w->st, name);
	struct keys_state *last, *next;
	struct store_seen *seen;
	struct store_continuity c;
	struct keys_alert a;
	enum alert_kind k;
	char why[200];
	int rc;

	if (sd == NULL)
		return ALERT_NONE;
	last = xcalloc(2, sizeof(*last));
	next = last + 1;
	if (domain_state_keys_load(sd, last, why, sizeof(why)) < 0)
		log_warn("%s: stored keys: %s (the rest is used)", name, why);
	k = keys_round(last, r, (int64_t)now, w->cfg->split_rounds, next, &a);
	seen = xcalloc(KEYS_SEEN_MAX, sizeof(*seen));
	domain_state_keys_to_store(next, &c, seen);
	rc = store_domain_set_continuity(w->st, name, &c);
	if (rc < 0)
		log_error("%s: cannot record the keys seen: %s", name,
			  strerror(-rc));
	else if (rc > 0)
		store_commit(w->st, watch_commit_done_log, NULL);
	log_debug("%s: keys: %zu seen, split in %u of the last %u rounds%s",
		  name, next->n, a.split_seen, a.window,
		  next->alarm ? ", alarm open" : "");
	if (k != ALERT_NONE) {
		log_info("%s: keys: %s (%s on %s)", name, alert_kind_name(k),
			 a.new_spki, a.host);
		report_keys_alert(text, name, &a);
		keys_history(w, name, k, &a, now);
	}
	free(seen);
	free(last);
	return k;
}
