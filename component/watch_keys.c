/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * watch_keys.c - key continuity of a watched domain in a round: the last
 * state from the store, keys_round()'s decision (keys.h), the next state
 * back into the store, and the alert's words; watch_alert.c delivers it.
 */
#include "component/watch_int.h"

#include <stdlib.h>
#include <string.h>

#include "component/domain_state.h"
#include "component/keys.h"
#include "component/log.h"
#include "component/report_keys.h"

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
	}
	free(seen);
	free(last);
	return k;
}
