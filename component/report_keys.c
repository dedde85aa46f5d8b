/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * report_keys.c - the words of key continuity (docs/usage.md "Keys seen
 * and splits"): the split alarm, its recovery, the new key on every
 * endpoint, and the keys seen per endpoint for `status`, the web page
 * and GET /api/domain, from the typed state only (keys.h).
 */
#include "component/report_keys.h"

#include <stdio.h>
#include <string.h>

#include "component/report.h"

static void
when(int64_t t, char *buf, size_t len)
{
	report_time(t, REPORT_TIME_MINUTE, "this round", buf, len);
}

void
report_keys_alert(struct buf *b, const char *domain, const struct keys_alert *a)
{
	char t1[40], t2[40], nb[40], na[40];

	switch (a->kind) {
	case ALERT_ALARM:
		when(a->new_since, t1, sizeof(t1));
		when(a->old_since, t2, sizeof(t2));
		buf_printf(
		    b,
		    "ALARM: %s: possible man in the middle: keys differ "
		    "between probes of %s (%u of the last %u rounds)\n"
		    "  new key %s%s%s, never established, first seen %s, "
		    "on: %s\n"
		    "  key %s, seen since %s, on: %s\n"
		    "An interceptor of some ports or addresses only "
		    "shows the new key there (as on jabber.ru in 2023). "
		    "Benign causes: a deployment in progress (a new "
		    "certificate on some servers or ports first), or "
		    "different certificates on purpose: then publish "
		    "TLSA (3 1 1) for each key, and certwatch compares "
		    "each probe with them.\n",
		    domain, a->host, a->split_seen, a->window, a->new_spki,
		    a->key_type[0] ? " " : "", a->key_type, t1, a->new_where,
		    a->old_spki, t2, a->old_where);
		break;
	case ALERT_RECOVERED:
		buf_printf(b,
			   "%s recovered: every probe of %s shows one key "
			   "again (%s); the split alarm is over.\n",
			   domain, a->host, a->new_spki);
		break;
	case ALERT_INFO:
		report_time(a->not_before, REPORT_TIME_DAY, "?", nb,
			    sizeof(nb));
		report_time(a->not_after, REPORT_TIME_DAY, "?", na, sizeof(na));
		buf_printf(
		    b,
		    "%s: new key on every endpoint of %s: %s%s%s, issued "
		    "by %s, valid %s to %s\n"
		    "  on: %s\n"
		    "Keep the key across renewals and publish it as TLSA "
		    "\"3 1 1 %s\" (docs/setup-dane.md): then a changed "
		    "key is a mismatch, not a guess. If you did not just "
		    "renew, every port is intercepted.\n",
		    domain, a->host, a->new_spki, a->key_type[0] ? " " : "",
		    a->key_type, a->issuer[0] ? a->issuer : "(unknown)", nb, na,
		    a->new_where, a->new_spki);
		if (a->remote_other[0])
			buf_printf(b,
				   "Still another key through the remote "
				   "vantage %s: if that certwatch tells the "
				   "truth, only this instance's network is "
				   "intercepted (docs/vantages.md).\n",
				   a->remote_other);
		break;
	default:
		return;
	}
	buf_printf(b, "\nSend \"unsubscribe %s\" to stop these alerts.\n",
		   domain);
}

void
report_keys_text(struct buf *b, const struct keys_state *ks, size_t max)
{
	char t1[40], t2[40];
	size_t shown = 0;

	if (ks->n == 0)
		return;
	buf_printf(b, "Keys seen%s:\n", ks->alarm ? " (split alarm open)" : "");
	for (size_t i = 0; i < ks->n; i++) {
		const struct seen_key *k = &ks->k[i];
		if (shown == max) {
			buf_printf(b, "  … and %zu more\n", ks->n - shown);
			break;
		}
		report_time(k->first_seen, REPORT_TIME_MINUTE, "?", t1,
			    sizeof(t1));
		report_time(k->last_seen, REPORT_TIME_MINUTE, "?", t2,
			    sizeof(t2));
		buf_printf(
		    b, "  %s %s:%u %s%s%.16s… first %s, last %s%s%s%s%s%s\n",
		    check_service_name(k->service), k->host, k->port,
		    k->key_type, k->key_type[0] ? " " : "", k->spki, t1, t2,
		    k->vantages[0] ? ", via " : "", k->vantages,
		    k->addresses[0] ? ", at " : "", k->addresses,
		    k->rounds < KEYS_ESTABLISHED ? " (not established)" : "");
		shown++;
	}
}

/* A comma-separated list as a JSON array of strings. */
static void
json_list(struct buf *b, const char *list)
{
	char item[KEYS_LIST_MAX + 1];

	buf_putc(b, '[');
	for (const char *p = list; p && *p;) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		if (len >= sizeof(item))
			len = sizeof(item) - 1;
		memcpy(item, p, len);
		item[len] = '\0';
		if (p != list)
			buf_putc(b, ',');
		buf_json_str(b, item);
		p = c ? c + 1 : NULL;
	}
	buf_putc(b, ']');
}

void
report_keys_json(struct buf *b, const struct keys_state *ks)
{
	buf_printf(b,
		   "{\"split_alarm\":%s,\"recent_split_rounds\":%u,\"keys\":[",
		   ks->alarm ? "true" : "false",
		   __builtin_popcountll(ks->split_rounds));
	for (size_t i = 0; i < ks->n; i++) {
		const struct seen_key *k = &ks->k[i];
		buf_puts(b, i ? ",{\"service\":" : "{\"service\":");
		buf_json_str(b, check_service_name(k->service));
		buf_puts(b, ",\"host\":");
		buf_json_str(b, k->host);
		buf_printf(b, ",\"port\":%u,\"key_type\":", k->port);
		if (k->key_type[0])
			buf_json_str(b, k->key_type);
		else
			buf_puts(b, "null");
		buf_puts(b, ",\"spki_sha256\":");
		buf_json_str(b, k->spki);
		buf_printf(b,
			   ",\"first_seen\":%lld,\"last_seen\":%lld,"
			   "\"established\":%s,\"vantages\":",
			   (long long)k->first_seen, (long long)k->last_seen,
			   k->rounds >= KEYS_ESTABLISHED ? "true" : "false");
		json_list(b, k->vantages);
		buf_puts(b, ",\"addresses\":");
		json_list(b, k->addresses);
		buf_putc(b, '}');
	}
	buf_puts(b, "]}");
}

void
report_keys_html(struct buf *b, const struct keys_state *ks, size_t max)
{
	char t1[40], t2[40];

	if (ks->n == 0)
		return;
	buf_puts(b, "<h2>Keys per endpoint</h2>\n");
	if (ks->alarm)
		buf_puts(b, "<p id=\"split-alarm\">Split alarm open: keys "
			    "differ between probes of one host.</p>\n");
	buf_puts(b, "<table id=\"endpoint-keys\"><thead><tr><th>Endpoint</th>"
		    "<th>Key (SPKI SHA-256)</th><th>First seen</th>"
		    "<th>Last seen</th><th>Vantages</th><th>Addresses</th>"
		    "</tr></thead><tbody>\n");
	for (size_t i = 0; i < ks->n && i < max; i++) {
		const struct seen_key *k = &ks->k[i];
		char ep[DNS_NAME_MAX + 40];
		report_time(k->first_seen, REPORT_TIME_MINUTE, "?", t1,
			    sizeof(t1));
		report_time(k->last_seen, REPORT_TIME_MINUTE, "?", t2,
			    sizeof(t2));
		snprintf(ep, sizeof(ep), "%s %s:%u",
			 check_service_name(k->service), k->host, k->port);
		buf_puts(b, "<tr><td data-label=\"Endpoint\" class=\"wrap\">");
		buf_html(b, ep);
		buf_puts(b, "</td><td data-label=\"Key\" class=\"key\">");
		buf_html(b, k->key_type);
		buf_puts(b, k->key_type[0] ? " " : "");
		buf_html(b, k->spki);
		if (k->rounds < KEYS_ESTABLISHED)
			buf_puts(b, " (not established)");
		buf_puts(b, "</td><td data-label=\"First seen\">");
		buf_html(b, t1);
		buf_puts(b, "</td><td data-label=\"Last seen\">");
		buf_html(b, t2);
		buf_puts(b, "</td><td data-label=\"Vantages\">");
		buf_html(b, k->vantages);
		buf_puts(b,
			 "</td><td data-label=\"Addresses\" class=\"wrap\">");
		buf_html(b, k->addresses);
		buf_puts(b, "</td></tr>\n");
	}
	buf_puts(b, "</tbody></table>\n");
}
