/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ct_state.c - a domain's CT state and its `ct` lines (ct_state.h). */
#include "component/ct_state.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component/report.h"
#include "probe/dane.h"
#include "util/buf.h"

static const char *const status_words[] = {"pending", "sent"};

/* ---- fields of a line ------------------------------------------------ */

/* A field: "-" for an empty string; bytes up to and including ' ', 0x7f
 * and '%' as %XX, so a field holds no space. */
static void
put_field(struct buf *b, const char *s)
{
	buf_putc(b, ' ');
	if (s == NULL || *s == '\0') {
		buf_putc(b, '-');
		return;
	}
	if (!strcmp(s, "-")) {
		buf_puts(b, "%2D");
		return;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p <= 0x20 || *p == 0x7f || *p == '%')
			buf_printf(b, "%%%02X", *p);
		else
			buf_putc(b, (char)*p);
	}
}

/* The next field of *cur into dst (size bytes): 0, or -1 when there is
 * none, it does not fit, or it holds a bad escape or an escaped NUL. */
static int
get_field(const char **cur, char *dst, size_t size)
{
	const char *s = *cur, *e;
	size_t o = 0;

	if (s == NULL || *s == '\0')
		return -1;
	e = strchr(s, ' ');
	if (e == NULL)
		e = s + strlen(s);
	*cur = *e ? e + 1 : e;
	if (e - s == 1 && *s == '-') {
		dst[0] = '\0';
		return 0;
	}
	for (; s < e; s++) {
		int c = (unsigned char)*s;
		if (c == '%') {
			int hi, lo;
			if (e - s < 3 || (hi = buf_hex_digit(s[1])) < 0 ||
			    (lo = buf_hex_digit(s[2])) < 0 || (hi | lo) == 0)
				return -1;
			c = hi << 4 | lo;
			s += 2;
		}
		if (o + 1 >= size)
			return -1;
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return 0;
}

static int
get_i64(const char **cur, int64_t *out)
{
	char f[24], *end;

	if (get_field(cur, f, sizeof(f)) < 0 || f[0] == '\0')
		return -1;
	long long v = strtoll(f, &end, 10);
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static int
is_hex64(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

static int
unhex(const char *s, uint8_t *out, size_t max, size_t *len)
{
	size_t n = strlen(s);

	if (n % 2 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = buf_hex_digit(s[2 * i]),
		    lo = buf_hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return 0;
}

static void
put_hex(struct buf *b, const uint8_t *d, size_t n)
{
	buf_putc(b, ' ');
	for (size_t i = 0; i < n; i++)
		buf_printf(b, "%02x", d[i]);
}

/* ---- lines -> state -------------------------------------------------- */

static int
parse_event(const char *s, struct ct_record *r)
{
	char st[16], j[16], a[4], i[4], w[12];
	int64_t x;

	memset(r, 0, sizeof(*r));
	if (get_field(&s, st, sizeof(st)) < 0 ||
	    get_field(&s, j, sizeof(j)) < 0 ||
	    get_field(&s, a, sizeof(a)) < 0 ||
	    get_field(&s, i, sizeof(i)) < 0 ||
	    get_field(&s, w, sizeof(w)) < 0 || get_i64(&s, &r->taken) < 0 ||
	    get_field(&s, r->tbs, sizeof(r->tbs)) < 0 ||
	    get_field(&s, r->spki, sizeof(r->spki)) < 0 ||
	    get_field(&s, r->name, sizeof(r->name)) < 0 ||
	    get_field(&s, r->issuer, sizeof(r->issuer)) < 0 ||
	    get_field(&s, r->serial, sizeof(r->serial)) < 0 ||
	    get_i64(&s, &r->not_before) < 0 || get_i64(&s, &r->not_after) < 0 ||
	    get_field(&s, r->log, sizeof(r->log)) < 0 ||
	    get_i64(&s, &r->entry) < 0 ||
	    get_field(&s, r->spool, sizeof(r->spool)) < 0)
		return -1;
	/* A status this version does not know is pending: its alert is
	 * sent (again) rather than never. */
	r->status = !strcmp(st, "sent") ? CT_SENT : CT_PENDING;
	r->judged = CT_MALFORMED;
	for (int k = 0; k < CT_JUDGED_COUNT; k++)
		if (!strcmp(j, ct_judged_word((enum ct_judged)k)))
			r->judged = (enum ct_judged)k;
	r->alarm = !strcmp(a, "1");
	r->info = !strcmp(i, "1");
	r->warnings = (uint32_t)strtoul(w, NULL, 10);
	if ((r->tbs[0] && !is_hex64(r->tbs)) ||
	    (r->spki[0] && !is_hex64(r->spki)))
		return -1;
	(void)x;
	return 0;
}

struct loader {
	struct ct_state *cs;
	int bad;
};

static void
load_line(void *arg, const char *line)
{
	struct loader *l = arg;
	struct ct_state *cs = l->cs;
	const char *s = line;
	char kw[16], f[2 * CT_TLSA_DATA_MAX + 1];
	int64_t u, sel, mt, x;

	if (get_field(&s, kw, sizeof(kw)) < 0) {
		l->bad++;
		return;
	}
	if (!strcmp(kw, "tlsa")) {
		struct ct_tlsa_rec *t = &cs->tlsa[cs->ntlsa];
		if (cs->ntlsa == CT_KEEP_TLSA || get_i64(&s, &u) < 0 ||
		    get_i64(&s, &sel) < 0 || get_i64(&s, &mt) < 0 || u < 0 ||
		    u > 255 || sel < 0 || sel > 255 || mt < 0 || mt > 255 ||
		    get_field(&s, f, sizeof(f)) < 0 ||
		    unhex(f, t->data, sizeof(t->data), &t->len) < 0) {
			l->bad++;
			return;
		}
		t->usage = (uint8_t)u;
		t->selector = (uint8_t)sel;
		t->mtype = (uint8_t)mt;
		cs->ntlsa++;
	} else if (!strcmp(kw, "seen")) {
		size_t len;
		if (cs->nseen == CT_KEEP_SEEN ||
		    get_field(&s, f, sizeof(f)) < 0 ||
		    unhex(f, cs->seen[cs->nseen], 32, &len) < 0 || len != 32) {
			l->bad++;
			return;
		}
		cs->nseen++;
	} else if (!strcmp(kw, "leaf")) {
		if (get_field(&s, cs->leaf_spki, sizeof(cs->leaf_spki)) < 0 ||
		    get_i64(&s, &cs->leaf_not_after) < 0 ||
		    get_i64(&s, &x) < 0) {
			l->bad++;
			return;
		}
		cs->kept_key = x == 1;
	} else if (!strcmp(kw, "event")) {
		if (cs->nev == CT_KEEP_EVENTS ||
		    parse_event(s, &cs->ev[cs->nev]) < 0) {
			l->bad++;
			return;
		}
		cs->nev++;
	}
	/* Other kinds are a later version's: skipped. */
}

int
ct_state_load(const struct store_domain *sd, struct ct_state *cs)
{
	struct loader l = {cs, 0};

	memset(cs, 0, sizeof(*cs));
	if (sd == NULL)
		return 0;
	store_ct_each(sd, load_line, &l);
	/* No `seen` line yet (a domain stored by an older certwatch): none
	 * is taken from the store's keys, which may hold an interceptor's
	 * seen during an alarm; the next round fills them. */
	return l.bad;
}

/* ---- state -> lines -------------------------------------------------- */

void
ct_state_format(const struct ct_state *cs, struct buf *out)
{
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < cs->ntlsa; i++) {
		const struct ct_tlsa_rec *t = &cs->tlsa[i];
		buf_printf(&b, "tlsa %u %u %u", t->usage, t->selector,
			   t->mtype);
		put_hex(&b, t->data, t->len);
		buf_putc(&b, '\n');
	}
	for (size_t i = 0; i < cs->nseen; i++) {
		buf_puts(&b, "seen");
		put_hex(&b, cs->seen[i], 32);
		buf_putc(&b, '\n');
	}
	if (cs->leaf_spki[0]) {
		buf_puts(&b, "leaf");
		put_field(&b, cs->leaf_spki);
		buf_printf(&b, " %" PRId64 " %d\n", cs->leaf_not_after,
			   cs->kept_key);
	}
	for (size_t i = 0; i < cs->nev; i++) {
		const struct ct_record *r = &cs->ev[i];
		buf_printf(&b, "event %s %s %d %d %u %" PRId64,
			   status_words[r->status == CT_SENT],
			   ct_judged_word(r->judged), r->alarm ? 1 : 0,
			   r->info ? 1 : 0, (unsigned)r->warnings, r->taken);
		put_field(&b, r->tbs);
		put_field(&b, r->spki);
		put_field(&b, r->name);
		put_field(&b, r->issuer);
		put_field(&b, r->serial);
		buf_printf(&b, " %" PRId64 " %" PRId64, r->not_before,
			   r->not_after);
		put_field(&b, r->log);
		buf_printf(&b, " %" PRId64, r->entry);
		put_field(&b, r->spool);
		buf_putc(&b, '\n');
	}
	if (b.len)
		buf_append(out, b.s, b.len - 1); /* no final newline */
	buf_free(&b);
}

int
ct_state_save(struct store *st, const char *domain, const struct ct_state *cs)
{
	struct buf b = BUF_INIT;
	int r;

	ct_state_format(cs, &b);
	r = store_domain_set_ct(st, domain, b.len ? b.s : NULL);
	buf_free(&b);
	return r;
}

void
ct_state_view(const struct ct_state *cs, const char *domain,
	      struct dns_tlsa *recs, struct ct_domain_view *v)
{
	for (size_t i = 0; i < cs->ntlsa; i++)
		recs[i] = (struct dns_tlsa){
		    cs->tlsa[i].usage, cs->tlsa[i].selector, cs->tlsa[i].mtype,
		    cs->tlsa[i].len, (uint8_t *)cs->tlsa[i].data};
	*v = (struct ct_domain_view){domain,	recs,
				     cs->ntlsa, (const uint8_t(*)[32])cs->seen,
				     cs->nseen, cs->kept_key};
}

struct ct_record *
ct_state_find(struct ct_state *cs, const char *tbs, const char *spool)
{
	for (size_t i = 0; i < cs->nev; i++) {
		struct ct_record *r = &cs->ev[i];
		if (tbs[0] ? !strcmp(r->tbs, tbs)
			   : (!r->tbs[0] && !strcmp(r->spool, spool)))
			return r;
	}
	return NULL;
}

void
ct_state_add(struct ct_state *cs, const struct ct_record *r)
{
	if (cs->nev == CT_KEEP_EVENTS) {
		size_t drop = 0;
		for (size_t i = 0; i < cs->nev; i++)
			if (cs->ev[i].status == CT_SENT) {
				drop = i;
				break;
			}
		memmove(&cs->ev[drop], &cs->ev[drop + 1],
			(cs->nev - drop - 1) * sizeof(cs->ev[0]));
		cs->nev--;
	}
	cs->ev[cs->nev++] = *r;
}

/* ---- a round --------------------------------------------------------- */

static int
parse_tlsa_text(const char *s, struct ct_tlsa_rec *t)
{
	unsigned u, sel, mt;
	char hex[2 * CT_TLSA_DATA_MAX + 2];

	if (sscanf(s, "%u %u %u %2049s", &u, &sel, &mt, hex) != 4 || u > 255 ||
	    sel > 255 || mt > 255)
		return -1;
	t->usage = (uint8_t)u;
	t->selector = (uint8_t)sel;
	t->mtype = (uint8_t)mt;
	return unhex(hex, t->data, sizeof(t->data), &t->len);
}

int
ct_state_round(struct ct_state *cs, const struct check_result *r,
	       int alarm_open)
{
	struct ct_tlsa_rec *t = xcalloc(CT_KEEP_TLSA, sizeof(*t));
	size_t nt = 0, secure = 0;
	int changed = 0;

	for (size_t i = 0; i < r->nendpoints; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		if (e->dnssec_tlsa != DNS_SEC_SECURE)
			continue;
		secure++;
		for (size_t k = 0; k < e->ntlsa && nt < CT_KEEP_TLSA; k++) {
			size_t j;
			if (parse_tlsa_text(e->tlsa[k], &t[nt]) < 0)
				continue;
			for (j = 0; j < nt; j++)
				if (t[j].usage == t[nt].usage &&
				    t[j].selector == t[nt].selector &&
				    t[j].mtype == t[nt].mtype &&
				    t[j].len == t[nt].len &&
				    !memcmp(t[j].data, t[nt].data, t[nt].len))
					break;
			if (j == nt)
				nt++;
		}
	}
	if (secure &&
	    (nt != cs->ntlsa || memcmp(t, cs->tlsa, nt * sizeof(*t)) != 0)) {
		memset(cs->tlsa, 0, sizeof(cs->tlsa));
		memcpy(cs->tlsa, t, nt * sizeof(*t));
		cs->ntlsa = nt;
		changed = 1;
	}
	free(t);
	for (size_t i = 0; i < r->nendpoints; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		uint8_t k[32];
		size_t len, j;
		if (!e->have_key || unhex(e->spki_sha256, k, 32, &len) < 0 ||
		    len != 32)
			continue;
		if (!alarm_open) {
			for (j = 0; j < cs->nseen; j++)
				if (!memcmp(cs->seen[j], k, 32))
					break;
			if (j == cs->nseen) {
				if (cs->nseen == CT_KEEP_SEEN) {
					memmove(cs->seen[0], cs->seen[1],
						(CT_KEEP_SEEN - 1) * 32);
					cs->nseen--;
				}
				memcpy(cs->seen[cs->nseen++], k, 32);
				changed = 1;
			}
		}
		if (e->not_after == 0 || i > 0)
			continue;
		/* The first endpoint's leaf: a new expiry with the same key is
		 * a renewal that kept it. */
		if (!strcmp(cs->leaf_spki, e->spki_sha256)) {
			if (cs->leaf_not_after != e->not_after) {
				cs->kept_key = 1;
				cs->leaf_not_after = e->not_after;
				changed = 1;
			}
		} else {
			if (cs->leaf_spki[0])
				cs->kept_key = 0;
			snprintf(cs->leaf_spki, sizeof(cs->leaf_spki), "%s",
				 e->spki_sha256);
			cs->leaf_not_after = e->not_after;
			changed = 1;
		}
	}
	return changed;
}

/* ---- outputs --------------------------------------------------------- */

static void
json_time(struct buf *b, const char *key, int64_t t)
{
	char s[40];

	report_time(t, REPORT_TIME_SECOND, "", s, sizeof(s));
	buf_printf(b, ",\"%s\":", key);
	if (s[0])
		buf_json_str(b, s);
	else
		buf_puts(b, "null");
}

void
ct_state_json(const struct store_domain *sd, struct buf *out)
{
	struct ct_state *cs = xcalloc(1, sizeof(*cs));

	(void)ct_state_load(sd, cs);
	buf_puts(out, "\"ct\":[");
	for (size_t n = 0; n < cs->nev; n++) {
		const struct ct_record *r = &cs->ev[cs->nev - 1 - n];
		int first = 1;
		if (n)
			buf_putc(out, ',');
		buf_puts(out, "{\"spki_sha256\":");
		if (r->spki[0])
			buf_json_str(out, r->spki);
		else
			buf_puts(out, "null");
		buf_puts(out, ",\"name\":");
		buf_json_str(out, r->name);
		buf_puts(out, ",\"issuer\":");
		buf_json_str(out, r->issuer);
		buf_puts(out, ",\"serial\":");
		buf_json_str(out, r->serial);
		json_time(out, "not_before", r->not_before);
		json_time(out, "not_after", r->not_after);
		buf_puts(out, ",\"log\":");
		buf_json_str(out, r->log);
		buf_puts(out, ",\"entry\":");
		if (r->entry >= 0)
			buf_printf(out, "%" PRId64, r->entry);
		else
			buf_puts(out, "null");
		buf_printf(out, ",\"judged\":\"%s\",\"alert\":\"%s\"",
			   ct_judged_word(r->judged),
			   r->alarm  ? "alarm"
			   : r->info ? "info"
				     : "none");
		buf_printf(out, ",\"weak_ta\":%s",
			   r->warnings & DANE_W_WEAK_TA ? "true" : "false");
		json_time(out, "taken", r->taken);
		buf_puts(out, ",\"seen_on\":[");
		for (size_t i = 0; sd && r->spki[0] && i < sd->n_endpoints;
		     i++) {
			struct store_endpoint ep;
			store_domain_endpoint(sd, i, &ep);
			if (ep.spki == NULL || strcmp(ep.spki, r->spki))
				continue;
			char hp[DNS_NAME_MAX + 16];
			snprintf(hp, sizeof(hp), "%s:%u",
				 ep.host ? ep.host : "", ep.port);
			if (!first)
				buf_putc(out, ',');
			first = 0;
			buf_json_str(out, hp);
		}
		buf_puts(out, "]}");
	}
	buf_putc(out, ']');
	free(cs);
}

void
ct_state_text(const struct store_domain *sd, struct buf *out)
{
	struct ct_state *cs = xcalloc(1, sizeof(*cs));

	(void)ct_state_load(sd, cs);
	if (cs->nev)
		buf_printf(out, "  Certificate Transparency, last %zu:\n",
			   cs->nev);
	for (size_t n = 0; n < cs->nev; n++) {
		const struct ct_record *r = &cs->ev[cs->nev - 1 - n];
		char when[40];
		report_time(r->taken, REPORT_TIME_MINUTE, "?", when,
			    sizeof(when));
		buf_printf(out, "    %s: %s %s%s, key %s, issuer %s\n", when,
			   r->name[0] ? r->name : "(no name)",
			   ct_judged_word(r->judged),
			   r->alarm  ? " (alarm)"
			   : r->info ? " (info)"
				     : "",
			   r->spki[0] ? r->spki : "-",
			   r->issuer[0] ? r->issuer : "-");
	}
	free(cs);
}

void
ct_state_html(const struct store_domain *sd, struct buf *out)
{
	struct ct_state *cs = xcalloc(1, sizeof(*cs));

	(void)ct_state_load(sd, cs);
	if (cs->nev)
		buf_puts(out, "<h2>Certificate Transparency</h2>\n<table "
			      "id=\"ct\"><thead><tr><th>Taken</th><th>Name"
			      "</th><th>Judged</th><th>Key (SPKI SHA-256)</th>"
			      "<th>Issuer</th><th>Log, entry</th></tr></thead>"
			      "<tbody>\n");
	for (size_t n = 0; n < cs->nev; n++) {
		const struct ct_record *r = &cs->ev[cs->nev - 1 - n];
		char when[40];

		report_time(r->taken, REPORT_TIME_MINUTE, "?", when,
			    sizeof(when));
		buf_puts(out,
			 "<tr class=\"ct-event\"><td data-label=\"Taken\">");
		buf_html(out, when);
		buf_puts(out, "</td><td data-label=\"Name\" class=\"wrap\">");
		buf_html(out, r->name);
		buf_printf(out, "</td><td data-label=\"Judged\">%s%s</td>",
			   ct_judged_word(r->judged),
			   r->alarm  ? " (alarm)"
			   : r->info ? " (info)"
				     : "");
		buf_puts(out, "<td data-label=\"Key\" class=\"key\">");
		buf_html(out, r->spki[0] ? r->spki : "-");
		buf_puts(out, "</td><td data-label=\"Issuer\" class=\"wrap\">");
		buf_html(out, r->issuer[0] ? r->issuer : "-");
		buf_puts(out, "</td><td data-label=\"Log\" class=\"wrap\">");
		buf_html(out, r->log[0] ? r->log : "-");
		if (r->entry >= 0)
			buf_printf(out, ", %lld", (long long)r->entry);
		buf_puts(out, "</td></tr>\n");
	}
	if (cs->nev)
		buf_puts(out, "</tbody></table>\n");
	free(cs);
}
