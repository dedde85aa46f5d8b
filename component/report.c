/* SPDX-License-Identifier: GPL-3.0-or-later */
/* report.c - a check_result as text, monitoring-plugin line and JSON. */
#include "component/report.h"

#include "component/defences.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *
state_word(int exit_code)
{
	switch (exit_code) {
	case 0:
		return "OK";
	case 1:
		return "WARNING";
	case 2:
		return "CRITICAL";
	default:
		return "UNKNOWN";
	}
}

static size_t
count_unreachable(const struct check_result *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nendpoints; i++)
		if (r->endpoints[i].verdict == VERDICT_UNREACHABLE)
			n++;
	return n;
}

static const char *
verdict_headline(enum verdict v)
{
	switch (v) {
	case VERDICT_OK:
		return "DANE matches";
	case VERDICT_MISMATCH:
		return "POSSIBLE MAN IN THE MIDDLE";
	case VERDICT_NO_TLSA:
		return "no TLSA records";
	case VERDICT_INSECURE:
		return "DNSSEC not enabled, DANE does not apply";
	case VERDICT_BOGUS:
		return "DNSSEC validation failed";
	case VERDICT_UNREACHABLE:
		return "could not be checked";
	default:
		return "";
	}
}

void
report_summary(const struct check_result *r, struct buf *out)
{
	size_t un = count_unreachable(r);

	if (r->verdict == VERDICT_NONE) {
		buf_printf(out, "%s", r->err_reason);
		return;
	}
	buf_printf(out, "%s: %s (%s)", r->domain_u, verdict_name(r->verdict),
		   verdict_headline(r->verdict));
	if (r->nendpoints > 1 && un == r->nendpoints)
		buf_printf(out, ", all %zu endpoints unreachable", un);
	else if (r->nendpoints > 0 && un > 0)
		buf_printf(out, ", %zu of %zu endpoint%s unreachable", un,
			   r->nendpoints, r->nendpoints == 1 ? "" : "s");
	else if (r->verdict == VERDICT_UNREACHABLE && r->err_reason[0])
		buf_printf(out, ": %s", r->err_reason);
	report_summary_split(r, out);
}

void
report_status_line(const struct check_result *r, struct buf *out)
{
	buf_printf(out, "CERTWATCH %s - ", state_word(report_exit_code(r)));
	report_summary(r, out);
}

/* The same advice for no-tlsa and insecure: the key was seen from outside,
 * so it is compared with the server's own before it is published. */
#define COMPARE_FIRST                                                          \
	"after checking that the hash equals the one computed on the server "  \
	"itself (the key seen here could be an attacker's): openssl x509 -in " \
	"CERT.pem -noout -pubkey | openssl pkey -pubin -outform DER | "        \
	"openssl "                                                             \
	"dgst -sha256. Keep the key across renewals (certbot --reuse-key); "   \
	"records are additive, so several domains on one host each get their " \
	"own lines."

int
report_service_fault(enum probe_step step, const char *reason)
{
	/* The probe's words for a proxy that is down or is not one
	 * (probe/probe.c); a CONNECT refused by Tor is the circuit's or the
	 * server's and carries RFC 1928's words instead. */
	static const char *const words[] = {
	    "cannot reach the SOCKS proxy",
	    "the connection to the SOCKS "
	    "proxy",
	    "the SOCKS handshake",
	    "not a SOCKS5 proxy",
	    "SOCKS proxy accepts none",
	    "SOCKS proxy chose method",
	    "SOCKS authentication",
	};

	if (step != PROBE_STEP_TOR)
		return 0;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(reason, words[i]) != NULL)
			return 1;
	return 0;
}

void
report_dns_words(const char *reason, struct buf *out)
{
	if (strstr(reason, "(RCODE 2)") || strstr(reason, "(SERVFAIL)"))
		buf_puts(out, " (SERVFAIL: the resolver got no answer it "
			      "could use: the domain's name servers did not "
			      "answer, answered wrongly, or their answers "
			      "failed DNSSEC validation; dig +dnssec shows "
			      "which)");
	else if (strstr(reason, "(RCODE 5)") || strstr(reason, "(REFUSED)"))
		buf_puts(out, " (REFUSED: a name server refused to answer; "
			      "check the resolver's access rules or [dns] "
			      "forward)");
}

const char *
report_advice(enum verdict v)
{
	switch (v) {
	case VERDICT_OK:
		return "The key presented matches the domain's DNSSEC-signed "
		       "TLSA records. Keep the key across certificate renewals "
		       "(certbot --reuse-key), or publish the new key's record "
		       "before you deploy it.";
	case VERDICT_MISMATCH:
		return "POSSIBLE MAN IN THE MIDDLE: the key this server "
		       "presented is not one the domain's DNSSEC-signed TLSA "
		       "records allow. Compare the key seen with the key on "
		       "the server itself. The benign cause: a new key or "
		       "certificate was deployed before its TLSA record was "
		       "published (a renewal that made a new key). If the "
		       "server's own key matches the records, the connection "
		       "to it is being intercepted.";
	case VERDICT_NO_TLSA:
		return "DNSSEC is on, but there is no usable TLSA record. Add "
		       "the TLSA lines of this report to the "
		       "zone, " COMPARE_FIRST;
	case VERDICT_INSECURE:
		return "DANE does not apply because a record set on the way is "
		       "not signed. Enable DNSSEC for the unsigned zone named "
		       "above and publish its DS record in the parent zone; "
		       "once it is signed, add the TLSA lines of this "
		       "report, " COMPARE_FIRST;
	case VERDICT_BOGUS:
		return "DNSSEC validation failed: the DNS answers are broken "
		       "or "
		       "tampered with. Check the zone's signatures and its DS "
		       "record at the parent (e.g. with dig +dnssec or "
		       "dnsviz).";
	case VERDICT_UNREACHABLE:
		return "The service could not be checked; this is not a sign "
		       "of interception. Each \"failed at\" line above says "
		       "why and at which step (dns: the DNS look-ups; tor: "
		       "this service's Tor proxy or the circuit; tcp: the "
		       "connection; stream, starttls, tls: the XMPP server's "
		       "answers).";
	default:
		return "";
	}
}

const char *
report_sec_word(enum dns_sec s)
{
	const char *w = dns_sec_name(s);

	return w ? w : "-";
}

/* The longest record line the text report prints whole: 4,096 bytes of
 * data ("U S M " and 8,192 hex digits).  A longer one (a `3 0 0` record of
 * a huge certificate, up to 65,532 bytes) is cut with a marker that says
 * so, never shown as if whole or left empty; JSON has it whole. */
#define REPORT_RECORD_TEXT_MAX (8192 + 12)
#define REPORT_RECORD_TEXT_HEAD 64 /* hex digits kept of a cut one */

/* rec as the text report shows it: itself, or its cut form in *tmp. */
static const char *
record_shown(const char *rec, struct buf *tmp)
{
	size_t len = strlen(rec);

	if (len <= REPORT_RECORD_TEXT_MAX)
		return rec;
	/* "U S M " then hex: keep the fields and the data's start. */
	const char *hex = rec;
	for (int f = 0; f < 3 && strchr(hex, ' '); f++)
		hex = strchr(hex, ' ') + 1;
	size_t head = (size_t)(hex - rec), nhex = len - head;
	tmp->len = 0;
	buf_printf(tmp,
		   "%.*s%.*s… [cut: the record holds %zu bytes; the "
		   "JSON report has it whole]",
		   (int)head, rec, REPORT_RECORD_TEXT_HEAD, hex, nhex / 2);
	return tmp->s;
}

/* "failed at: WHY (step S)", with plain words for an RCODE. */
static void
text_step(const struct check_endpoint *e, struct buf *out)
{
	struct buf w = BUF_INIT;

	report_dns_words(e->err_reason, &w);
	if (e->verdict == VERDICT_UNREACHABLE)
		buf_printf(out, "  failed at: %s%s (step %s)\n", e->err_reason,
			   w.s ? w.s : "", probe_step_name(e->err_step));
	else
		buf_printf(out, "  note: %s%s (step %s)\n", e->err_reason,
			   w.s ? w.s : "", probe_step_name(e->err_step));
	buf_free(&w);
}

void
report_no_endpoint(const struct check_result *r, struct buf *out)
{
	int done[SVC_COUNT] = {0};
	struct buf w = BUF_INIT;

	report_dns_words(r->err_reason, &w);
	buf_printf(out, "failed at: %s%s (step %s)\n", r->err_reason,
		   w.s ? w.s : "", probe_step_name(r->err_step));
	buf_free(&w);
	for (int s = 0; s < SVC_COUNT; s++) {
		const char *d = r->service_detail[s];
		if (done[s] || r->services[s] != SVC_STATE_NOT_OFFERED || !d[0])
			continue;
		for (int t = s; t < SVC_COUNT; t++)
			if (r->services[t] == SVC_STATE_NOT_OFFERED &&
			    !strcmp(r->service_detail[t], d)) {
				buf_printf(out, "%s%s", t == s ? "" : ", ",
					   check_service_name(t));
				done[t] = 1;
			}
		buf_printf(out, ": %s\n", d);
	}
}

void
report_text(const struct check_result *r, struct buf *out)
{
	char when[64];
	struct buf cut = BUF_INIT;

	if (r->verdict == VERDICT_NONE) {
		buf_printf(out, "%s\n", r->err_reason);
		return;
	}
	report_summary(r, out);
	buf_puts(out, "\n");
	/* Up front, so that it is in a chat report's first message. */
	for (size_t i = 0; i < r->nendpoints; i++)
		if (report_service_fault(r->endpoints[i].err_step,
					 r->endpoints[i].err_reason)) {
			buf_puts(out, REPORT_SERVICE_FAULT "\n");
			break;
		}
	report_text_dead_vantages(r, out);
	for (int s = 0; s < SVC_COUNT; s++) {
		const char *st = check_svc_state_name(r->services[s]);
		if (r->services[s] == SVC_STATE_BOGUS ||
		    r->services[s] == SVC_STATE_FAILED) {
			buf_printf(out, "%s: %s - %s", check_service_name(s),
				   st, r->service_detail[s]);
			report_dns_words(r->service_detail[s], out);
			buf_putc(out, '\n');
		}
	}
	report_text_warnings(r, out);
	if (r->nendpoints == 0 && r->err_step != PROBE_STEP_NONE)
		report_no_endpoint(r, out);
	for (size_t i = 0; i < r->nendpoints; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		buf_printf(out, "\n%s %s:%u (%s): %s\n",
			   check_service_name(e->service), e->host, e->port,
			   e->tls == PROBE_DIRECT ? "direct TLS" : "STARTTLS",
			   verdict_name(e->verdict));
		buf_printf(out, "  DNSSEC: SRV %s, addresses %s, TLSA %s\n",
			   report_sec_word(e->dnssec_srv),
			   report_sec_word(e->dnssec_addr),
			   report_sec_word(e->dnssec_tlsa));
		if (e->dns_detail[0] && (e->verdict == VERDICT_INSECURE ||
					 e->verdict == VERDICT_BOGUS))
			buf_printf(out, "  %s\n", e->dns_detail);
		if (e->unsigned_zone[0])
			buf_printf(
			    out,
			    "  unsigned zone: %s (sign it, then "
			    "publish its DS record in the parent zone)\n",
			    e->unsigned_zone);
		if (e->have_key)
			buf_printf(out, "  key seen (SPKI SHA-256): %s\n",
				   e->spki_sha256);
		report_text_probes(e, out);
		if (e->matched)
			buf_printf(out, "  matched: %s (SNI %s)\n",
				   record_shown(e->matched, &cut), e->sni);
		if (e->verdict == VERDICT_MISMATCH) {
			for (size_t j = 0; j < e->ntlsa; j++)
				buf_printf(out, "  expected: %s\n",
					   record_shown(e->tlsa[j], &cut));
			if (e->match_detail[0])
				buf_printf(out, "  why: %s\n", e->match_detail);
		}
		for (size_t j = 0; j < e->nunusable; j++)
			buf_printf(out, "  unusable record (ignored): %s\n",
				   record_shown(e->unusable[j], &cut));
		if (e->not_after) {
			report_time(e->not_after, REPORT_TIME_MINUTE, "unknown",
				    when, sizeof(when));
			buf_printf(out, "  certificate expires: %s\n", when);
		}
		for (size_t j = 0; j < e->nwarnings; j++)
			buf_printf(out, "  warning (%s): %s\n",
				   e->warnings[j].code, e->warnings[j].text);
		if (e->err_step != PROBE_STEP_NONE)
			text_step(e, out);
	}
	report_text_split_setup(r, out);
	if (r->nsetup > 0) {
		buf_printf(out, "\nTLSA records to add%s:\n",
			   r->verdict == VERDICT_INSECURE
			       ? " once the zone is signed"
			       : "");
		for (size_t i = 0; i < r->nsetup; i++)
			buf_printf(out, "  %s\n", r->setup[i]);
	}
	buf_printf(out, "\n%s\n", report_advice(r->verdict));
	/* After the advice: a report split into several messages keeps what
	 * the verdict asks of the reader in its first one. */
	defences_text(r, out);
	buf_free(&cut);
}

static void
json_sec(struct buf *out, const char *key, enum dns_sec s)
{
	buf_printf(out, ",\"%s\":", key);
	buf_json_str(out, dns_sec_name(s));
}

void
report_json_strv(struct buf *out, const char *key, char **v, size_t n)
{
	buf_printf(out, ",\"%s\":[", key);
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_putc(out, ',');
		buf_json_str(out, v[i]);
	}
	buf_putc(out, ']');
}

static enum dns_sec
worst_sec(const struct check_endpoint *e)
{
	enum dns_sec v[3] = {e->dnssec_srv, e->dnssec_addr, e->dnssec_tlsa};
	int none = 0, insecure = 0;

	for (int i = 0; i < 3; i++) {
		if (v[i] == DNS_SEC_BOGUS)
			return DNS_SEC_BOGUS;
		if (v[i] == DNS_SEC_INSECURE)
			insecure = 1;
		if (v[i] == DNS_SEC_NONE)
			none = 1;
	}
	if (insecure)
		return DNS_SEC_INSECURE;
	return none ? DNS_SEC_NONE : DNS_SEC_SECURE;
}

static void
json_error(struct buf *out, enum probe_step step, const char *reason)
{
	buf_puts(out, ",\"error\":");
	if (step == PROBE_STEP_NONE) {
		buf_puts(out, "null");
		return;
	}
	buf_puts(out, "{\"step\":");
	buf_json_str(out, probe_step_name(step));
	buf_puts(out, ",\"reason\":");
	buf_json_str(out, reason);
	buf_putc(out, '}');
}

void
report_json(const struct check_result *r, struct buf *out)
{
	buf_puts(out, "{\"domain\":");
	buf_json_str(out, r->domain);
	buf_puts(out, ",\"domain_unicode\":");
	buf_json_str(out, r->domain_u);
	buf_puts(out, ",\"verdict\":");
	buf_json_str(out, verdict_name(r->verdict));
	buf_puts(out, ",\"services\":[");
	int first = 1;
	for (int s = 0; s < SVC_COUNT; s++) {
		const char *st = check_svc_state_name(r->services[s]);
		if (st == NULL)
			continue;
		if (!first)
			buf_putc(out, ',');
		first = 0;
		buf_puts(out, "{\"service\":");
		buf_json_str(out, check_service_name(s));
		buf_puts(out, ",\"state\":");
		buf_json_str(out, st);
		if (r->service_detail[s][0]) {
			buf_puts(out, ",\"detail\":");
			buf_json_str(out, r->service_detail[s]);
		}
		buf_putc(out, '}');
	}
	buf_puts(out, "],\"endpoints\":[");
	for (size_t i = 0; i < r->nendpoints; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		if (i)
			buf_putc(out, ',');
		buf_puts(out, "{\"service\":");
		buf_json_str(out, check_service_name(e->service));
		buf_printf(out, ",\"tls\":\"%s\",\"host\":",
			   e->tls == PROBE_DIRECT ? "direct" : "starttls");
		buf_json_str(out, e->host);
		buf_printf(out, ",\"port\":%u", e->port);
		json_sec(out, "dnssec", worst_sec(e));
		json_sec(out, "dnssec_srv", e->dnssec_srv);
		json_sec(out, "dnssec_addr", e->dnssec_addr);
		json_sec(out, "dnssec_tlsa", e->dnssec_tlsa);
		buf_puts(out, ",\"verdict\":");
		buf_json_str(out, verdict_name(e->verdict));
		buf_puts(out, ",\"spki_sha256\":");
		buf_json_str(out, e->have_key ? e->spki_sha256 : NULL);
		report_json_strv(out, "tlsa", e->tlsa, e->ntlsa);
		report_json_strv(out, "unusable", e->unusable, e->nunusable);
		buf_puts(out, ",\"matched\":");
		buf_json_str(out, e->matched);
		buf_puts(out, ",\"sni\":");
		buf_json_str(out, e->sni[0] ? e->sni : NULL);
		if (e->not_after)
			buf_printf(out, ",\"not_after\":%lld",
				   (long long)e->not_after);
		defences_endpoint_json(e, out);
		report_json_warning_list(e->warnings, e->nwarnings, out);
		if (e->dns_detail[0]) {
			buf_puts(out, ",\"dns_detail\":");
			buf_json_str(out, e->dns_detail);
		}
		if (e->match_detail[0]) {
			buf_puts(out, ",\"match_detail\":");
			buf_json_str(out, e->match_detail);
		}
		if (e->unsigned_zone[0]) {
			buf_puts(out, ",\"unsigned_zone\":");
			buf_json_str(out, e->unsigned_zone);
		}
		report_json_probes(e, out);
		json_error(out, e->err_step, e->err_reason);
		buf_putc(out, '}');
	}
	buf_putc(out, ']');
	report_json_warning_list(r->warnings, r->nwarnings, out);
	report_json_strv(out, "setup", r->setup, r->nsetup);
	if (r->verdict != VERDICT_NONE)
		defences_json(r, out);
	json_error(out, r->err_step, r->err_reason);
	buf_printf(out, ",\"started\":%lld,\"elapsed_ms\":%u,\"probes\":%u}\n",
		   (long long)r->started, r->elapsed_ms, r->probes);
}
