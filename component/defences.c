/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * defences.c - the defences of a check_result (docs/usage.md,
 * "Defences"): CAA (RFC 8659, RFC 8657), channel binding (XEP-0440,
 * RFC 9266), expiry, TLSA strength and a prepared next key.
 */
#include "component/defences.h"

#include "component/report.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

struct dwarn {
	const char *code, *text;
};

static void
json_warnings(const struct dwarn *w, size_t n, struct buf *out)
{
	buf_puts(out, ",\"warnings\":[");
	for (size_t i = 0; i < n; i++) {
		buf_printf(out, "%s{\"code\":", i ? "," : "");
		buf_json_str(out, w[i].code);
		buf_puts(out, ",\"text\":");
		buf_json_str(out, w[i].text);
		buf_putc(out, '}');
	}
	buf_putc(out, ']');
}

static void
text_warnings(const struct dwarn *w, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++)
		buf_printf(out, "  warning (%s): %s\n", w[i].code, w[i].text);
}

/* ---- CAA ------------------------------------------------------------ */

/* The CAA warnings of a result, into w (room for 4); returns how many. */
static size_t
caa_warnings(const struct check_caa *c, struct dwarn *w)
{
	size_t n = 0;

	if (c->sec == DNS_SEC_BOGUS)
		w[n++] = (struct dwarn){
		    "caa-bogus",
		    "the CAA look-up fails DNSSEC validation: a CA "
		    "may still issue"};
	else if (c->sec == DNS_SEC_INSECURE)
		w[n++] = (struct dwarn){
		    "caa-insecure",
		    "the CAA answers are not DNSSEC-signed: whoever "
		    "controls the path to a CA can hide them"};
	if (c->state == CAA_STATE_NONE)
		w[n++] = (struct dwarn){
		    "caa-none", "no CAA record up to the TLD: any CA may issue "
				"for this domain"};
	else if (c->state == CAA_STATE_ISSUERS)
		w[n++] = (struct dwarn){
		    "caa-no-accounturi",
		    "an issue property names no accounturi: anyone who "
		    "passes that CA's validation can get a certificate"};
	return n;
}

static void
text_caa(const struct check_result *r, struct buf *out)
{
	const struct check_caa *c = &r->caa;
	struct dwarn w[4];
	size_t nw = caa_warnings(c, w);

	buf_printf(out, "  CAA: %s", check_caa_state_name(c->state));
	if (c->found_at[0])
		buf_printf(out, " (records at %s", c->found_at);
	else
		buf_puts(out, " (");
	buf_printf(out, "%sDNSSEC %s)\n", c->found_at[0] ? ", " : "",
		   report_sec_word(c->sec));
	for (size_t i = 0; i < c->nrecords; i++)
		buf_printf(out, "    %s\n", c->records[i]);
	if (c->state == CAA_STATE_UNKNOWN && c->why[0])
		buf_printf(out, "    %s\n", c->why);
	text_warnings(w, nw, out);
	if (c->state == CAA_STATE_NONE || c->state == CAA_STATE_ISSUERS)
		buf_printf(
		    out,
		    "  To let only your ACME account get certificates "
		    "(RFC 8657), %s:\n"
		    "    %s. IN CAA 0 issue \"letsencrypt.org; "
		    "accounturi=https://acme-v02.api.letsencrypt.org/"
		    "acme/acct/<your account id>\"\n"
		    "  <your account id> is the number at the end of "
		    "your ACME account's URL (certbot: \"uri\" in "
		    "/etc/letsencrypt/accounts/*/directory/*/regr.json); "
		    "use your CA's name and account URL if it is not "
		    "Let's Encrypt.\n",
		    c->state == CAA_STATE_NONE
			? "add"
			: "give every issue record an accounturi, "
			  "e.g.",
		    c->found_at[0] ? c->found_at : r->domain);
	for (size_t i = 0; i < r->ncaa_targets; i++) {
		const struct check_caa *t = &r->caa_targets[i].caa;
		buf_printf(
		    out, "  CAA of SRV target %s: %s (%s%s%sDNSSEC %s)\n",
		    r->caa_targets[i].name, check_caa_state_name(t->state),
		    t->found_at[0] ? "records at " : "", t->found_at,
		    t->found_at[0] ? ", " : "", report_sec_word(t->sec));
	}
}

/* The fields of one CAA judgement, after an opening brace. */
static void
json_caa(const struct check_caa *c, struct buf *out)
{
	struct dwarn w[4];
	size_t nw = caa_warnings(c, w);

	buf_puts(out, "\"state\":");
	buf_json_str(out, check_caa_state_name(c->state));
	buf_puts(out, ",\"found_at\":");
	buf_json_str(out, c->found_at[0] ? c->found_at : NULL);
	buf_puts(out, ",\"dnssec\":");
	buf_json_str(out, dns_sec_name(c->sec));
	report_json_strv(out, "records", c->records, c->nrecords);
	buf_puts(out, ",\"validationmethods\":");
	buf_json_str(out,
		     c->validationmethods[0] ? c->validationmethods : NULL);
	if (c->why[0]) {
		buf_puts(out, ",\"detail\":");
		buf_json_str(out, c->why);
	}
	json_warnings(w, nw, out);
}

/* ---- channel binding (XEP-0440) ------------------------------------ */

#define CB_MAX_NAMES (XMLSTREAM_MAX_MECHS * 2)

struct cb_sum {
	enum probe_cb state; /* PROBE_CB_NA: no c2s endpoint */
	int usable;	     /* -1: null */
	int sasl2;
	const char *mechs[CB_MAX_NAMES], *types[CB_MAX_NAMES];
	size_t nmechs, ntypes;
};

static int
is_c2s(const struct check_endpoint *e)
{
	return (e->service == SVC_XMPP_CLIENT ||
		e->service == SVC_XMPPS_CLIENT) &&
	       e->verdict != VERDICT_NONE;
}

static void
add_name(const char **v, size_t *n, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(v[i], s))
			return;
	if (*n < CB_MAX_NAMES)
		v[(*n)++] = s;
}

/* Offered only when every c2s endpoint that answered offers it; the
 * names are the union (pointers into r). */
static void
cb_sum(const struct check_result *r, struct cb_sum *s)
{
	size_t c2s = 0, answered = 0, none = 0, u_no = 0, u_yes = 0;

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < r->nendpoints; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		const struct xmlstream_sasl *sa = &e->features.sasl;
		enum probe_cb st = probe_cb_state(&e->features);

		if (!is_c2s(e))
			continue;
		c2s++;
		if (st != PROBE_CB_OFFERED && st != PROBE_CB_NONE)
			continue;
		answered++;
		none += st == PROBE_CB_NONE;
		s->sasl2 |= sa->sasl2;
		for (size_t j = 0; j < sa->nmechs; j++)
			add_name(s->mechs, &s->nmechs, sa->mechs[j]);
		for (size_t j = 0; j < sa->ntypes; j++)
			add_name(s->types, &s->ntypes, sa->types[j]);
		if (st == PROBE_CB_OFFERED) {
			int u = probe_cb_usable(&e->features, e->tls_version);
			u_no += u == 0;
			u_yes += u == 1;
		}
	}
	s->state = c2s == 0	   ? PROBE_CB_NA
		   : answered == 0 ? PROBE_CB_UNKNOWN
		   : none	   ? PROBE_CB_NONE
				   : PROBE_CB_OFFERED;
	s->usable = u_no ? 0 : (u_yes && u_yes == answered - none) ? 1 : -1;
}

static const char cb_todo[] =
    "offer SCRAM-SHA-*-PLUS (XEP-0440) so that clients detect an "
    "interceptor themselves (certwatch's docs/setup-dane.md, \"Channel "
    "binding\"): ejabberd 23 offers it as installed; Prosody 0.12 only "
    "with tls-unique, which TLS 1.3 lacks: upgrade to a release with "
    "tls-exporter or tls-server-end-point";

/* Its warnings, into w (room for 2). */
static size_t
cb_warnings(const struct cb_sum *s, struct dwarn *w)
{
	if (s->state == PROBE_CB_NONE)
		w[0] = (struct dwarn){
		    "no-channel-binding",
		    "a client endpoint offers no SCRAM-*-PLUS mechanism: "
		    "clients cannot detect an interceptor that holds a "
		    "valid certificate (XEP-0440)"};
	else if (s->state == PROBE_CB_OFFERED && s->usable == 0)
		w[0] = (struct dwarn){
		    "no-channel-binding",
		    "-PLUS is offered, but only with tls-unique, which "
		    "TLS 1.3 does not define (RFC 9266): clients cannot "
		    "bind to this TLS session"};
	else
		return 0;
	return 1;
}

static void
json_names(struct buf *out, const char *key, const char *const *v, size_t n)
{
	if (key != NULL)
		buf_printf(out, ",\"%s\":", key);
	buf_putc(out, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_putc(out, ',');
		buf_json_str(out, v[i]);
	}
	buf_putc(out, ']');
}

static void
json_usable(struct buf *out, int u)
{
	buf_printf(out, ",\"usable\":%s",
		   u < 0 ? "null"
		   : u	 ? "true"
			 : "false");
}

void
defences_endpoint_json(const struct check_endpoint *e, struct buf *out)
{
	const struct probe_features *f = &e->features;
	const char *m[XMLSTREAM_MAX_MECHS], *t[XMLSTREAM_MAX_CB_TYPES];
	enum probe_cb st = probe_cb_state(f);

	buf_puts(out, ",\"channel_binding\":");
	if (!is_c2s(e)) {
		buf_puts(out, "null");
		return;
	}
	buf_puts(out, "{\"state\":");
	buf_json_str(out, st == PROBE_CB_NA ? "unknown" : probe_cb_name(st));
	for (size_t i = 0; i < f->sasl.nmechs; i++)
		m[i] = f->sasl.mechs[i];
	for (size_t i = 0; i < f->sasl.ntypes; i++)
		t[i] = f->sasl.types[i];
	json_names(out, "mechanisms", m, f->sasl.nmechs);
	buf_puts(out, ",\"types\":");
	if (f->sasl.cb_list)
		json_names(out, NULL, t, f->sasl.ntypes);
	else
		buf_puts(out, "null");
	buf_printf(out, ",\"sasl2\":%s", f->sasl.sasl2 ? "true" : "false");
	buf_puts(out, ",\"tls_version\":");
	buf_json_str(out, e->tls_version[0] ? e->tls_version : NULL);
	json_usable(out, probe_cb_usable(f, e->tls_version));
	if (st != PROBE_CB_OFFERED && st != PROBE_CB_NONE) {
		buf_puts(out, ",\"detail\":");
		buf_json_str(out, st == PROBE_CB_NA ? "no completed TLS "
						      "handshake"
						    : f->reason);
	}
	if (f->sasl.dropped)
		buf_printf(out, ",\"dropped\":%zu", f->sasl.dropped);
	buf_putc(out, '}');
}

static void
json_cb(const struct check_result *r, struct buf *out)
{
	struct cb_sum s;
	struct dwarn w[2];
	size_t nw;

	cb_sum(r, &s);
	nw = cb_warnings(&s, w);
	buf_puts(out, ",\"channel_binding\":{\"state\":");
	buf_json_str(out, probe_cb_name(s.state));
	json_names(out, "mechanisms", s.mechs, s.nmechs);
	json_names(out, "types", s.types, s.ntypes);
	buf_printf(out, ",\"sasl2\":%s", s.sasl2 ? "true" : "false");
	json_usable(out, s.usable);
	json_warnings(w, nw, out);
	buf_putc(out, '}');
}

static void
text_cb(const struct check_result *r, struct buf *out)
{
	struct cb_sum s;
	struct dwarn w[2];
	size_t nw;

	cb_sum(r, &s);
	if (s.state == PROBE_CB_NA)
		return;
	nw = cb_warnings(&s, w);
	buf_printf(out, "  Channel binding (XEP-0440): %s",
		   probe_cb_name(s.state));
	for (size_t i = 0; i < s.nmechs; i++)
		buf_printf(out, "%s%s", i ? " " : " (mechanisms: ", s.mechs[i]);
	if (s.nmechs)
		buf_putc(out, ')');
	for (size_t i = 0; i < s.ntypes; i++)
		buf_printf(out, "%s%s", i ? " " : " (types: ", s.types[i]);
	if (s.ntypes)
		buf_putc(out, ')');
	buf_putc(out, '\n');
	for (size_t i = 0; i < r->nendpoints; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		if (is_c2s(e) &&
		    probe_cb_state(&e->features) == PROBE_CB_UNKNOWN)
			buf_printf(out, "    %s:%u: unknown: %s\n", e->host,
				   e->port, e->features.reason);
	}
	text_warnings(w, nw, out);
	if (nw)
		buf_printf(out, "  To do: %s.\n", cb_todo);
}

/* ---- expiry, TLSA strength, a prepared next key ---------------------- */

#define EXPIRY_WARN_DAYS 14

/* The earliest leaf expiry seen; 0 when none was seen. */
static int64_t
expiry_first(const struct check_result *r, const struct check_endpoint **at)
{
	int64_t first = 0;

	*at = NULL;
	for (size_t i = 0; i < r->nendpoints; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		if (e->not_after && (first == 0 || e->not_after < first)) {
			first = e->not_after;
			*at = e;
		}
	}
	return first;
}

static int
expiry_days(const struct check_result *r, int64_t na)
{
	int64_t d = na - r->started;

	/* Whole days left, rounded down (an expired leaf is negative). */
	return (int)(d >= 0 ? d / 86400 : -((-d + 86399) / 86400));
}

static int
warn_days(const struct check_result *r)
{
	return r->expiry_warn_days > 0 ? r->expiry_warn_days : EXPIRY_WARN_DAYS;
}

static int
has_warning(const struct check_endpoint *e, const char *code)
{
	for (size_t j = 0; j < e->nwarnings; j++)
		if (!strcmp(e->warnings[j].code, code))
			return 1;
	return 0;
}

enum tlsa_quality { TQ_NONE, TQ_WEAK, TQ_STRONG };

/* strong: every endpoint that matched did by DANE-EE (3 x x) or its own
 * CA; weak: a DANE-TA record names a public CA (weak-ta); none: no TLSA
 * record at all. */
static enum tlsa_quality
tlsa_quality(const struct check_result *r)
{
	int any = 0;

	for (size_t i = 0; i < r->nendpoints; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		if (e->ntlsa == 0 || e->verdict == VERDICT_NONE)
			continue;
		any = 1;
		if (has_warning(e, "weak-ta"))
			return TQ_WEAK;
	}
	return any ? TQ_STRONG : TQ_NONE;
}

static const char *
tlsa_quality_name(enum tlsa_quality q)
{
	return q == TQ_STRONG ? "strong" : q == TQ_WEAK ? "weak" : "none";
}

/* A 3 1 1 record of an endpoint that matched, naming no key seen at any
 * endpoint: a prepared rollover.  NULL when there is none. */
static const char *
next_key(const struct check_result *r)
{
	for (size_t i = 0; i < r->nendpoints; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		if (!e->matched)
			continue;
		for (size_t j = 0; j < e->ntlsa; j++) {
			const char *rec = e->tlsa[j];
			int seen = 0;
			if (strncmp(rec, "3 1 1 ", 6) != 0)
				continue;
			for (size_t k = 0; k < r->nendpoints; k++)
				if (r->endpoints[k].have_key &&
				    !strcasecmp(rec + 6,
						r->endpoints[k].spki_sha256))
					seen = 1;
			if (!seen)
				return rec;
		}
	}
	return NULL;
}

static const char expiry_todo[] =
    "renew now; certbot renew --reuse-key keeps the key, so 3 1 1 "
    "records stay valid across the renewal";
static const char weak_todo[] =
    "publish a 3 1 1 record of your own key (the \"TLSA records to add\" "
    "line of a check) instead of a 2 x x record naming a public CA: "
    "anyone that CA issues to passes it";
static const char next_key_todo[] =
    "make the next key now and publish its 3 1 1 record beside the "
    "current one (certbot: --reuse-key until you switch), so that a "
    "rollover never waits for DNS caches";

static void
json_more(const struct check_result *r, struct buf *out)
{
	const struct check_endpoint *at;
	int64_t na = expiry_first(r, &at);
	const char *nk = next_key(r);

	buf_puts(out, ",\"expiry\":{\"days\":");
	if (na) {
		int days = expiry_days(r, na);
		buf_printf(out, "%d,\"not_after\":%lld,\"host\":", days,
			   (long long)na);
		buf_json_str(out, at->host);
		if (days < warn_days(r)) {
			struct dwarn w = {
			    "expires-soon",
			    "the certificate expires within the warning "
			    "line ([watch] expiry_warn_days)"};
			json_warnings(&w, 1, out);
		} else {
			json_warnings(NULL, 0, out);
		}
	} else {
		buf_puts(out, "null,\"not_after\":null,\"host\":null");
		json_warnings(NULL, 0, out);
	}
	buf_puts(out, "},\"tlsa_quality\":");
	buf_json_str(out, tlsa_quality_name(tlsa_quality(r)));
	buf_puts(out, ",\"next_key\":");
	buf_json_str(out, nk);
}

static void
text_more(const struct check_result *r, struct buf *out)
{
	const struct check_endpoint *at;
	int64_t na = expiry_first(r, &at);
	enum tlsa_quality q = tlsa_quality(r);
	const char *nk = next_key(r);

	if (na) {
		int days = expiry_days(r, na);
		buf_printf(out, "  Expiry: %d days (%s)\n", days, at->host);
		if (days < warn_days(r))
			buf_printf(out,
				   "  warning (expires-soon): under %d "
				   "days. To do: %s.\n",
				   warn_days(r), expiry_todo);
	}
	buf_printf(out, "  TLSA records: %s\n", tlsa_quality_name(q));
	if (q == TQ_WEAK)
		buf_printf(out, "  To do: %s.\n", weak_todo);
	if (nk)
		buf_printf(out, "  Next key prepared: %s\n", nk);
	else if (q != TQ_NONE)
		buf_printf(out, "  Next key: none prepared. To do: %s.\n",
			   next_key_todo);
}

void
defences_text(const struct check_result *r, struct buf *out)
{
	buf_puts(out, "\nDefences:\n");
	text_caa(r, out);
	text_cb(r, out);
	text_more(r, out);
}

void
defences_json(const struct check_result *r, struct buf *out)
{
	buf_puts(out, ",\"defences\":{\"caa\":{");
	json_caa(&r->caa, out);
	buf_puts(out, ",\"targets\":[");
	for (size_t i = 0; i < r->ncaa_targets; i++) {
		buf_printf(out, "%s{\"name\":", i ? "," : "");
		buf_json_str(out, r->caa_targets[i].name);
		buf_putc(out, ',');
		json_caa(&r->caa_targets[i].caa, out);
		buf_putc(out, '}');
	}
	buf_puts(out, "]}");
	json_cb(r, out);
	json_more(r, out);
	buf_putc(out, '}');
}

void
defences_summary(const struct check_result *r, struct defences_summary *s)
{
	const struct check_endpoint *at;
	struct cb_sum cs;

	memset(s, 0, sizeof(*s));
	s->caa = r->caa.state;
	cb_sum(r, &cs);
	s->cb = cs.state;
	s->cb_usable = cs.usable;
	s->not_after = expiry_first(r, &at);
	if (s->not_after) {
		s->expiry_ep = (size_t)(at - r->endpoints);
		s->expiry_days = expiry_days(r, s->not_after);
		s->expiry_soon = s->expiry_days < warn_days(r);
	}
	s->tlsa = (enum defences_tlsa)tlsa_quality(r);
	s->next_key = next_key(r) != NULL;
}

const char *
defences_tlsa_name(enum defences_tlsa q)
{
	return tlsa_quality_name((enum tlsa_quality)q);
}

static const char caa_todo[] =
    "add CAA 0 issue \"<your CA's CAA domain>; accounturi=<your ACME "
    "account URL>\" (RFC 8657); certbot keeps the account URL as \"uri\" "
    "in /etc/letsencrypt/accounts/*/directory/*/regr.json";
static const char tlsa_todo[] =
    "publish 3 1 1 records of your key (\"Records to add\")";

static const char reuse_todo[] =
    "keep the key across renewals (certbot renew --reuse-key), so that "
    "3 1 1 records stay valid and a new key is a signal";

size_t
defences_checklist_of(const struct defences_summary *s, struct defence_line *l)
{
	size_t n = 0;

	l[n] = (struct defence_line){.name = "CAA bound to your ACME account",
				     .good = s->caa == CAA_STATE_BOUND	   ? 1
					     : s->caa == CAA_STATE_UNKNOWN ? -1
									   : 0};
	snprintf(l[n].state, sizeof(l[n].state), "%s",
		 check_caa_state_name(s->caa));
	l[n].todo = l[n].good == 0 ? caa_todo : "";
	n++;
	if (s->cb != PROBE_CB_NA) {
		l[n] = (struct defence_line){
		    .name = "Channel binding",
		    .good =
			s->cb == PROBE_CB_UNKNOWN
			    ? -1
			    : s->cb == PROBE_CB_OFFERED && s->cb_usable != 0};
		snprintf(l[n].state, sizeof(l[n].state), "%s",
			 probe_cb_name(s->cb));
		l[n].todo = l[n].good == 0 ? cb_todo : "";
		n++;
	}
	if (s->not_after) {
		l[n] = (struct defence_line){.name = "Expiry",
					     .good = !s->expiry_soon};
		snprintf(l[n].state, sizeof(l[n].state), "%d days",
			 s->expiry_days);
		l[n].todo = l[n].good ? "" : expiry_todo;
		n++;
	}
	l[n] = (struct defence_line){
	    .name = "TLSA records",
	    .good = s->tlsa == DEFENCES_TLSA_STRONG,
	    .todo = s->tlsa == DEFENCES_TLSA_WEAK   ? weak_todo
		    : s->tlsa == DEFENCES_TLSA_NONE ? tlsa_todo
						    : ""};
	snprintf(l[n].state, sizeof(l[n].state), "%s",
		 defences_tlsa_name(s->tlsa));
	n++;
	if (s->tlsa != DEFENCES_TLSA_NONE) {
		l[n] = (struct defence_line){
		    .name = "Next key prepared",
		    .good = s->next_key,
		    .todo = s->next_key ? "" : next_key_todo};
		snprintf(l[n].state, sizeof(l[n].state), "%s",
			 s->next_key ? "yes" : "none");
		n++;
	}
	if (s->key_reuse) {
		l[n] = (struct defence_line){
		    .name = "Key kept across renewals",
		    .good = s->key_reuse == 1,
		    .todo = s->key_reuse == 1 ? "" : reuse_todo};
		snprintf(l[n].state, sizeof(l[n].state), "%s",
			 s->key_reuse == 1 ? "kept" : "new");
		n++;
	}
	return n;
}

size_t
defences_checklist(const struct check_result *r, struct defence_line *l)
{
	struct defences_summary s;

	defences_summary(r, &s);
	return defences_checklist_of(&s, l);
}
