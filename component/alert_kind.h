/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * alert_kind.h - the kinds of alert a watched domain's round may send
 * (docs/usage.md "Alerts") and their words (the store's and the users').
 */
#ifndef CERTWATCH_ALERT_KIND_H
#define CERTWATCH_ALERT_KIND_H

enum alert_kind {
	ALERT_NONE = 0,
	ALERT_ALARM,	 /* to mismatch or bogus: sent at once, always */
	ALERT_REMOVED,	 /* ok → insecure / no-tlsa */
	ALERT_DOWN,	 /* down_after rounds with every endpoint
			  * unreachable */
	ALERT_RECOVERED, /* back after an alarm, a removal or down */
	ALERT_INFO,	 /* any other change; a key rollover */
};

/* "alarm", "removed", "down", "recovered", "info", or "none". */
const char *alert_kind_name(enum alert_kind k);
/* The kind of a word; ALERT_NONE for any other. */
enum alert_kind alert_kind_parse(const char *word);

#endif
