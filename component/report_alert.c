/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * report_alert.c - the words of a watched domain's alerts (docs/usage.md
 * "Alerts") and the one formatter of dates, beside report.c's rendering
 * of a check: what subscribers read, from typed values only.
 */
#include "component/report.h"

#include "component/ct_state.h"
#include "component/defence_watch.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void
report_time(int64_t t, enum report_time_form form, const char *none, char *buf,
	    size_t len)
{
	static const char *const fmt[] = {
	    [REPORT_TIME_DAY] = "%Y-%m-%d",
	    [REPORT_TIME_MINUTE] = "%Y-%m-%d %H:%M UTC",
	    [REPORT_TIME_SECOND] = "%Y-%m-%d %H:%M:%S UTC",
	};
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, fmt[form], &tm) == 0)
		snprintf(buf, len, "%s", none);
}

static const char *
word(enum verdict v)
{
	return verdict_name(v) ? verdict_name(v) : "none";
}

static void
alert_footer(struct buf *b, const char *domain)
{
	buf_printf(b, "\nSend \"unsubscribe %s\" to stop these alerts.\n",
		   domain);
}

void
report_alert(struct buf *b, enum alert_kind k, const char *domain,
	     enum verdict prev, const struct check_result *r, unsigned rounds,
	     const struct store_key *keys, size_t nkeys)
{
	switch (k) {
	case ALERT_ALARM:
		buf_printf(b, "ALARM: %s is now %s%s\n", domain,
			   word(r->verdict),
			   r->verdict == VERDICT_MISMATCH
			       ? ": POSSIBLE MAN IN THE MIDDLE"
			       : ": DNSSEC validation fails");
		break;
	case ALERT_REMOVED:
		buf_printf(b,
			   "%s: DNSSEC or its TLSA records were removed "
			   "(was %s, now %s)\n",
			   domain, word(prev), word(r->verdict));
		break;
	case ALERT_DOWN:
		buf_printf(b,
			   "%s is down: no endpoint could be checked in %u "
			   "rounds in a row (this is not a sign of "
			   "interception)\n",
			   domain, rounds);
		break;
	case ALERT_RECOVERED:
		buf_printf(b, "%s recovered: now %s\n", domain,
			   word(r->verdict));
		break;
	case ALERT_INFO:
		if (prev == r->verdict)
			buf_printf(b,
				   "%s: the key changed and still matches a "
				   "TLSA record (a planned rollover)\n",
				   domain);
		else
			buf_printf(b, "%s changed: %s → %s\n", domain,
				   word(prev), word(r->verdict));
		break;
	default:
		return;
	}
	buf_putc(b, '\n');
	report_text(r, b);
	if (k == ALERT_ALARM && nkeys > 0) {
		/* What this service presented before, to compare with. */
		buf_puts(b, "\nKeys seen before (SPKI SHA-256, first and last "
			    "seen):\n");
		for (size_t i = 0; i < nkeys; i++) {
			char f[32], l[32];
			report_time(keys[i].first_seen, REPORT_TIME_DAY, "?", f,
				    sizeof(f));
			report_time(keys[i].last_seen, REPORT_TIME_MINUTE, "?",
				    l, sizeof(l));
			buf_printf(b, "  %s (%s to %s)\n", keys[i].spki, f, l);
		}
	}
	alert_footer(b, domain);
}

/* The address an endpoint's probe connected to, without its port; the
 * host through Tor, where the proxy resolves the name. */
static void
endpoint_address(const struct check_endpoint *e, char *out, size_t len)
{
	const char *a = e->address;
	const char *colon = strrchr(a, ':');
	size_t n = colon ? (size_t)(colon - a) : strlen(a);

	if (n >= 2 && a[0] == '[' && a[n - 1] == ']') {
		a++;
		n -= 2;
	}
	if (n == 0 || n >= len)
		snprintf(out, len, "%s", e->host);
	else
		snprintf(out, len, "%.*s", (int)n, a);
}

void
report_endpoint_alert(struct buf *b, enum alert_kind k, const char *domain,
		      const struct check_result *r, size_t ep, const char *step,
		      unsigned rounds, enum verdict last, int via_tor)
{
	const struct check_endpoint *e = &r->endpoints[ep];
	const char *svc = check_service_name(e->service);
	const char *via = via_tor ? "tor" : "direct";
	char addr[DNS_NAME_MAX + 1];

	endpoint_address(e, addr, sizeof(addr));
	if (k == ALERT_INFO) {
		buf_printf(b,
			   "%s: %s %s:%u (%s via %s) fails at %s for %u "
			   "rounds (it answered before): an interceptor can "
			   "hide behind a failure\n",
			   domain, svc, e->host, e->port, addr, via, step,
			   rounds);
		buf_printf(b,
			   "\nNow: %s: %s. Until it answers, the domain's "
			   "verdict counts it at its last one (%s).\n",
			   probe_step_name(e->err_step), e->err_reason,
			   word(last));
	} else {
		buf_printf(b,
			   "%s: %s %s:%u (%s via %s) recovered: it answers "
			   "again (%s) after failing at %s for %u rounds\n",
			   domain, svc, e->host, e->port, addr, via,
			   word(e->verdict), step, rounds);
	}
	buf_putc(b, '\n');
	report_text(r, b);
	alert_footer(b, domain);
}

void
report_flap_summary(struct buf *b, const char *domain, unsigned held,
		    enum verdict now)
{
	buf_printf(b,
		   "%s changed state often in the last hour: %u alerts "
		   "were held. Now: %s.\n",
		   domain, held,
		   verdict_name(now) ? verdict_name(now) : "unknown");
}

/* ---- Certificate Transparency (docs/ct.md) ----------------------------- */

void
report_ct_alert(struct buf *b, const char *domain, const struct ct_record *r)
{
	char nb[32], na[32];
	const char *name = r->name[0] ? r->name : domain;

	if (r->judged == CT_NEW)
		buf_printf(b, "%s: a new certificate for %s was logged\n",
			   domain, name);
	else
		buf_printf(b,
			   "%s%s: a certificate for %s was issued with a "
			   "key its TLSA records do not allow\n",
			   r->alarm ? "ALARM: " : "", domain, name);
	report_time(r->not_before, REPORT_TIME_DAY, "?", nb, sizeof(nb));
	report_time(r->not_after, REPORT_TIME_DAY, "?", na, sizeof(na));
	buf_printf(b,
		   "\nKey (SPKI SHA-256): %s\nIssuer: %s\nSerial: %s\n"
		   "Valid: %s to %s\nLogged in: %s",
		   r->spki[0] ? r->spki : "?", r->issuer[0] ? r->issuer : "?",
		   r->serial[0] ? r->serial : "?", nb, na,
		   r->log[0] ? r->log : "?");
	if (r->entry >= 0)
		buf_printf(b, ", entry %lld", (long long)r->entry);
	buf_putc(b, '\n');
	if (r->alarm)
		buf_printf(b,
			   "\n%s publishes its keys in TLSA before it uses "
			   "them, and this one is not among them: someone "
			   "other than its operator may hold a certificate "
			   "for it. Ask the operator whether they asked for "
			   "it; if not, have the CA revoke it, restrict "
			   "issuance with CAA records bound to the "
			   "operator's account (RFC 8657), and watch the "
			   "endpoints: certwatch checks %s now.\n",
			   domain, domain);
	else if (r->judged == CT_UNPUBLISHED)
		buf_printf(b,
			   "\nNot an alarm: %s does not show that it "
			   "publishes its keys before using them, so this "
			   "may be a renewal that made a new key, or "
			   "another service (a web server) with a "
			   "certificate for the same name. certwatch "
			   "checks %s now; if the operator did not ask for "
			   "it, treat it as an alarm.\n",
			   domain, domain);
	else
		buf_printf(b,
			   "\n%s publishes no TLSA records, so certwatch "
			   "cannot tell whose key this is. If its "
			   "endpoints start showing this key on every one, "
			   "that is the renewal; on some only, certwatch "
			   "raises the split alarm.\n",
			   domain);
	alert_footer(b, domain);
}

/* ---- defence alerts (docs/usage.md "Alerts", defence_watch.h) --------- */

/* The mechanisms an endpoint offers now, as one line. */
static void
mechs_line(struct buf *b, const struct check_endpoint *e)
{
	const struct xmlstream_sasl *sa = &e->features.sasl;

	for (size_t i = 0; i < sa->nmechs; i++)
		buf_printf(b, "%s%s", i ? " " : "", sa->mechs[i]);
	if (sa->nmechs == 0)
		buf_puts(b, "none");
}

static void
defence_line(struct buf *b, const char *domain, const struct check_result *r,
	     const struct defence_event *ev)
{
	const struct check_endpoint *e =
	    ev->kind == DEV_CAA_REMOVED ? NULL : &r->endpoints[ev->ep];
	char d1[32], d2[32];

	switch (ev->kind) {
	case DEV_CB_WITHDRAWN:
		buf_printf(b,
			   "ALARM: %s: channel binding withdrawn at %s "
			   "%s:%u: it offered SCRAM-*-PLUS (XEP-0440) and "
			   "for %u rounds offers only ",
			   domain, check_service_name(e->service), e->host,
			   e->port, ev->rounds);
		mechs_line(b, e);
		buf_printf(b,
			   " at the same TLS version (%s). An interceptor "
			   "that holds a valid certificate cannot bind to "
			   "the server's TLS session, so it offers no "
			   "-PLUS: if you did not turn channel binding off, "
			   "this is a sign of interception, whatever the "
			   "DANE verdict (%s).\n",
			   e->tls_version[0] ? e->tls_version : "unknown",
			   verdict_name(r->verdict) ? verdict_name(r->verdict)
						    : "none");
		break;
	case DEV_CB_CHANGED:
		buf_printf(b,
			   "%s: channel binding no longer offered at %s "
			   "%s:%u, with its other mechanisms or TLS "
			   "version changed too (new settings or a new "
			   "server?); now: ",
			   domain, check_service_name(e->service), e->host,
			   e->port);
		mechs_line(b, e);
		buf_printf(b, " (%s)\n",
			   e->tls_version[0] ? e->tls_version : "no TLS");
		break;
	case DEV_CB_OFFERED:
		buf_printf(b,
			   "%s: channel binding (SCRAM-*-PLUS) now offered "
			   "at %s %s:%u\n",
			   domain, check_service_name(e->service), e->host,
			   e->port);
		break;
	case DEV_CB_BACK:
		buf_printf(b,
			   "%s recovered: channel binding offered again at "
			   "%s %s:%u\n",
			   domain, check_service_name(e->service), e->host,
			   e->port);
		break;
	case DEV_CB_UNREAD:
		buf_printf(b,
			   "%s: channel binding can no longer be read at %s "
			   "%s:%u: it offered SCRAM-*-PLUS, and for %u rounds "
			   "its stream after TLS fails (%s). A server that "
			   "breaks that stream for certwatch's probe alone "
			   "could hide an interceptor that cannot bind.\n",
			   domain, check_service_name(e->service), e->host,
			   e->port, ev->rounds, e->features.reason);
		break;
	case DEV_CAA_REMOVED:
		buf_printf(b,
			   "%s: the CAA binding to an ACME account was "
			   "removed (was bound, now %s): %s\n",
			   domain, check_caa_state_name(ev->caa_to),
			   ev->caa_to == CAA_STATE_UNKNOWN
			       ? "the CAA look-up fails, a CA may issue"
			       : "anyone who passes a CA's validation can "
				 "get a certificate for it (RFC 8657)");
		break;
	case DEV_EXPIRY_LINE:
		report_time(ev->not_after, REPORT_TIME_DAY, "?", d1,
			    sizeof(d1));
		buf_printf(b,
			   "%s: the certificate of %s expires in %d days "
			   "(%s), under the warning line ([watch] "
			   "expiry_warn_days): renew now (certbot renew "
			   "--reuse-key keeps the key and its 3 1 1 "
			   "records)\n",
			   domain, e->host, ev->days, d1);
		break;
	case DEV_SHORTER_LEAF:
		report_time(ev->not_after, REPORT_TIME_DAY, "?", d1,
			    sizeof(d1));
		report_time(ev->prev_not_after, REPORT_TIME_DAY, "?", d2,
			    sizeof(d2));
		buf_printf(b,
			   "%s: a new certificate at %s expires on %s, "
			   "before the one seen before it (%s): not the "
			   "operator's renewal? Compare its issuer and "
			   "key with what you deployed.\n",
			   domain, e->host, d1, d2);
		break;
	}
}

void
report_defence_alert(struct buf *b, const char *domain,
		     const struct check_result *r,
		     const struct defence_event *ev, size_t n)
{
	/* An alarm first: the line a reader sees. */
	for (int alarm = 1; alarm >= 0; alarm--)
		for (size_t i = 0; i < n; i++)
			if ((ev[i].kind == DEV_CB_WITHDRAWN) == alarm)
				defence_line(b, domain, r, &ev[i]);
	buf_putc(b, '\n');
	report_text(r, b);
	alert_footer(b, domain);
}

void
report_defence_note(const struct defence_event *ev,
		    const struct check_result *r, char *out, size_t len)
{
	static const char *const what[] = {
	    [DEV_CB_WITHDRAWN] = "channel binding withdrawn at",
	    [DEV_CB_CHANGED] = "channel binding no longer offered at",
	    [DEV_CB_OFFERED] = "channel binding offered at",
	    [DEV_CB_BACK] = "channel binding back at",
	    [DEV_CB_UNREAD] = "channel binding unread at",
	    [DEV_CAA_REMOVED] = "CAA binding removed",
	    [DEV_EXPIRY_LINE] = "expires soon:",
	    [DEV_SHORTER_LEAF] = "a new leaf expires sooner:",
	};
	const struct check_endpoint *e;

	if (ev->kind == DEV_CAA_REMOVED)
		snprintf(out, len, "%s (now %s)", what[ev->kind],
			 check_caa_state_name(ev->caa_to));
	else {
		e = &r->endpoints[ev->ep];
		snprintf(out, len, "%s %s:%u", what[ev->kind], e->host,
			 e->port);
	}
}
