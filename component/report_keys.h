/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * report_keys.h - the words of key continuity (keys.h; docs/usage.md
 * "Keys seen and splits"): its alerts, and the keys seen for `status`,
 * the web page and GET /api/domain.
 */
#ifndef CERTWATCH_REPORT_KEYS_H
#define CERTWATCH_REPORT_KEYS_H

#include <stddef.h>

#include "component/keys.h"
#include "util/buf.h"

/* A continuity alert (ALARM, RECOVERED or INFO; nothing for another). */
void report_keys_alert(struct buf *b, const char *domain,
		       const struct keys_alert *a);
/* "Keys seen:" and one line per key, at most max (then "… and N more");
 * nothing when none. */
void report_keys_text(struct buf *b, const struct keys_state *ks, size_t max);
/* The same as an HTML table (at most max rows). */
void report_keys_html(struct buf *b, const struct keys_state *ks, size_t max);
/* {"split_alarm", "recent_split_rounds", "keys": [{"service", "host",
 * "port", "key_type", "spki_sha256", "first_seen", "last_seen",
 * "established", "vantages", "addresses"}]} */
void report_keys_json(struct buf *b, const struct keys_state *ks);

#endif
