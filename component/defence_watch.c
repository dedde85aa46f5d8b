/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * defence_watch.c - a watched domain's defences between rounds: the rules
 * of docs/usage.md "Alerts" for channel binding (XEP-0440), CAA (RFC
 * 8657) and expiry, and the store's `defence` line (docs/store.md).
 */
#include "component/defence_watch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component/domain_state.h"
#include "component/transition.h"

/* ---- the rules ---------------------------------------------------------- */

int
defence_cb_decide(struct defence_cb *st, int known, enum probe_cb obs,
		  uint8_t tls, uint32_t others, unsigned split_rounds)
{
	unsigned need = split_rounds ? split_rounds : 1;
	int ev = 0, was_unread;

	if (obs != PROBE_CB_OFFERED && obs != PROBE_CB_NONE) {
		/* The stream after TLS failed: no withdrawn round (a failing
		 * round between two withdrawn ones keeps their count), but
		 * an endpoint that offered -PLUS and is no longer read for
		 * split_rounds rounds is said once: a server could break the
		 * stream for certwatch's probe alone. */
		if (!known || obs != PROBE_CB_UNKNOWN || !st->plus ||
		    (st->alerted & DEFENCE_CB_ALARMED))
			return 0;
		if (st->unread < DEFENCE_ROUNDS_MAX)
			st->unread++;
		if (st->unread < need || (st->alerted & DEFENCE_CB_UNREAD))
			return 0;
		st->alerted |= DEFENCE_CB_UNREAD;
		return DEV_CB_UNREAD;
	}
	was_unread = (st->alerted & DEFENCE_CB_UNREAD) != 0;
	st->alerted &= (uint8_t)~DEFENCE_CB_UNREAD;
	st->unread = 0;
	if (!known) {
		*st = (struct defence_cb){.ep = st->ep,
					  .port = st->port,
					  .plus = obs == PROBE_CB_OFFERED,
					  .tls = tls,
					  .others = others};
		return 0;
	}
	if (obs == PROBE_CB_OFFERED) {
		ev = st->alerted || was_unread ? DEV_CB_BACK
		     : st->plus		       ? 0
					       : DEV_CB_OFFERED;
		st->plus = 1;
		st->alerted = 0;
		st->rounds = 0;
	} else if (!st->plus || st->alerted) {
		/* Still none, or withdrawn and alarmed once already. */
		return 0;
	} else if (tls == st->tls && others == st->others) {
		/* The same endpoint at the same TLS version, every -PLUS
		 * gone and the rest kept: what an interceptor that holds a
		 * valid certificate shows (it cannot bind). */
		if (st->rounds < DEFENCE_ROUNDS_MAX)
			st->rounds++;
		if (st->rounds < need)
			return 0;
		st->alerted = DEFENCE_CB_ALARMED;
		return DEV_CB_WITHDRAWN;
	} else {
		/* Withdrawn with other changes: new settings, a new server. */
		st->plus = 0;
		st->rounds = 0;
		ev = DEV_CB_CHANGED;
	}
	st->tls = tls;
	st->others = others;
	return ev;
}

int
defence_caa_decide(enum check_caa_state prev, enum check_caa_state now)
{
	return prev == CAA_STATE_BOUND && now != CAA_STATE_BOUND
		   ? DEV_CAA_REMOVED
		   : 0;
}

int
defence_expiry_decide(struct defence_state *st, int64_t not_after, int soon,
		      int *second)
{
	int ev = 0;

	*second = 0;
	if (not_after == 0)
		return 0;
	if (st->not_after && not_after <= st->not_after - 86400)
		ev = DEV_SHORTER_LEAF;
	if (soon && st->expiry_alerted != not_after) {
		st->expiry_alerted = not_after;
		if (ev)
			*second = DEV_EXPIRY_LINE;
		else
			ev = DEV_EXPIRY_LINE;
	}
	st->not_after = not_after;
	return ev;
}

/* ---- a round ------------------------------------------------------------ */

static uint8_t
tls_code(const char *v)
{
	/* "TLS1.3" -> 13; anything else 0. */
	if (strncmp(v, "TLS1.", 5) == 0 && v[5] >= '0' && v[5] <= '9' &&
	    v[6] == '\0')
		return (uint8_t)(10 + (v[5] - '0'));
	return 0;
}

static uint32_t
fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* The mechanisms other than -PLUS, each once, in any order. */
static uint32_t
others_hash(const struct xmlstream_sasl *sa)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < sa->nmechs; i++) {
		size_t len = strlen(sa->mechs[i]);
		int dup = 0;
		if (len >= 5 && !strcmp(sa->mechs[i] + len - 5, "-PLUS"))
			continue;
		for (size_t j = 0; j < i; j++)
			dup |= !strcmp(sa->mechs[i], sa->mechs[j]);
		if (!dup)
			sum += fnv1a(sa->mechs[i]);
	}
	return sum;
}

static int
is_c2s(const struct check_endpoint *e)
{
	return e->service == SVC_XMPP_CLIENT || e->service == SVC_XMPPS_CLIENT;
}

/* last's channel-binding state of r's endpoint e, or NULL. */
static const struct defence_cb *
cb_last(const struct domain_state *last, const struct check_endpoint *e)
{
	const struct endpoint_state *le =
	    domain_state_find(last, e->service, e->host, e->port);
	size_t k;

	if (le == NULL)
		return NULL;
	k = (size_t)(le - last->ep);
	for (size_t i = 0; i < last->def.ncb; i++)
		if (last->def.cb_ep[i].ep == k &&
		    last->def.cb_ep[i].port == e->port)
			return &last->def.cb_ep[i];
	return NULL;
}

static void
cb_round(struct defence_state *nd, const struct domain_state *last,
	 const struct check_result *r, unsigned split_rounds,
	 struct defence_event *ev, size_t *nev)
{
	nd->ncb = 0;
	for (size_t i = 0; i < r->nendpoints && i < STORE_ENDPOINTS_MAX &&
			   nd->ncb < DEFENCE_CB_MAX;
	     i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		const struct defence_cb *old;
		struct defence_cb c = {.ep = (uint8_t)i, .port = e->port};
		enum probe_cb obs = probe_cb_state(&e->features);
		int known, k;

		if (!is_c2s(e))
			continue;
		old = last->def.have ? cb_last(last, e) : NULL;
		known = old != NULL;
		if (old) {
			c = *old;
			c.ep = (uint8_t)i;
		}
		k = defence_cb_decide(&c, known, obs, tls_code(e->tls_version),
				      others_hash(&e->features.sasl),
				      split_rounds);
		/* Nothing known yet and nothing seen: nothing to keep. */
		if (!known && obs != PROBE_CB_OFFERED && obs != PROBE_CB_NONE)
			continue;
		nd->cb_ep[nd->ncb++] = c;
		if (k)
			ev[(*nev)++] = (struct defence_event){
			    .kind = (enum defence_event_kind)k,
			    .ep = i,
			    .rounds = k == DEV_CB_UNREAD ? c.unread : c.rounds};
	}
}

static enum defence_expiry
expiry_of(const struct defences_summary *s)
{
	return s->not_after == 0    ? DEF_EXPIRY_UNKNOWN
	       : s->expiry_days < 0 ? DEF_EXPIRY_EXPIRED
	       : s->expiry_soon	    ? DEF_EXPIRY_SOON
				    : DEF_EXPIRY_OK;
}

/* A new leaf (its notAfter changed): did it keep the endpoint's key? */
static enum defence_key_reuse
key_reuse(const struct domain_state *last, const struct check_result *r,
	  const struct defences_summary *s, enum defence_key_reuse was)
{
	const struct check_endpoint *e;
	const struct endpoint_state *le;

	/* No leaf this round (no endpoint at all when DNS fails): e would
	 * be none of r's endpoints. */
	if (s->not_after == 0 || !last->def.have || last->def.not_after == 0 ||
	    s->not_after == last->def.not_after)
		return was;
	e = &r->endpoints[s->expiry_ep];
	if (!e->have_key)
		return was;
	le = domain_state_find(last, e->service, e->host, e->port);
	if (le == NULL || le->spki[0] == '\0')
		return was;
	return strcmp(le->spki, e->spki_sha256) ? DEF_REUSE_NEW
						: DEF_REUSE_KEPT;
}

size_t
defence_round(struct domain_state *next, const struct domain_state *last,
	      const struct check_result *r, unsigned split_rounds,
	      struct defence_event *ev)
{
	struct defence_state *nd = &next->def;
	const struct defence_state *ld = &last->def;
	struct defences_summary s;
	size_t nev = 0;
	int k, k2;

	defences_summary(r, &s);
	*nd = *ld;
	nd->key_reuse = key_reuse(last, r, &s, ld->key_reuse);
	cb_round(nd, last, r, split_rounds, ev, &nev);
	if (!ld->have)
		nev = 0; /* the baseline */
	if (ld->have && defence_caa_decide(ld->caa, s.caa))
		ev[nev++] = (struct defence_event){.kind = DEV_CAA_REMOVED,
						   .caa_to = s.caa};
	nd->caa = s.caa;
	if (s.cb != PROBE_CB_UNKNOWN || !ld->have)
		nd->cb = s.cb;
	k = defence_expiry_decide(nd, s.not_after, s.expiry_soon, &k2);
	for (int j = 0; ld->have && j < 2; j++) {
		int kj = j ? k2 : k;
		if (kj)
			ev[nev++] = (struct defence_event){
			    .kind = (enum defence_event_kind)kj,
			    .ep = s.expiry_ep,
			    .not_after = s.not_after,
			    .prev_not_after = ld->not_after,
			    .days = s.expiry_days};
	}
	if (s.not_after || !ld->have)
		nd->expiry = expiry_of(&s);
	nd->tlsa = s.tlsa;
	nd->next_key = s.next_key;
	nd->have = 1;
	return nev;
}

int
defence_alert_kind(const struct defence_event *ev, size_t n)
{
	int info = 0;

	for (size_t i = 0; i < n; i++) {
		if (ev[i].kind == DEV_CB_WITHDRAWN)
			return ALERT_ALARM;
		info |= ev[i].kind != DEV_CB_BACK;
	}
	return n == 0 ? ALERT_NONE : info ? ALERT_INFO : ALERT_RECOVERED;
}

/* ---- the store's line -----------------------------------------------------
 */

static const char *const expiry_names[] = {"unknown", "ok", "soon", "expired"};
static const char *const reuse_names[] = {"unknown", "kept", "new"};
static const char *const cb_names[] = {"na", "offered", "none", "unknown"};
static const char *const tlsa_names[] = {"none", "weak", "strong"};
static const char *const next_names[] = {"none", "yes"};

#define NWORDS(a) (sizeof(a) / sizeof((a)[0]))

const char *
defence_expiry_name(enum defence_expiry e)
{
	return (unsigned)e < NWORDS(expiry_names) ? expiry_names[e] : "unknown";
}

const char *
defence_key_reuse_name(enum defence_key_reuse k)
{
	return (unsigned)k < NWORDS(reuse_names) ? reuse_names[k] : "unknown";
}

void
defence_format(const struct defence_state *st, struct buf *out)
{
	if (!st->have)
		return;
	buf_printf(out,
		   "caa=%s cb=%s expiry=%s tlsa=%s next_key=%s "
		   "key_reuse=%s not_after=%" PRId64 " expiry_alerted=%" PRId64,
		   check_caa_state_name(st->caa), cb_names[st->cb],
		   defence_expiry_name(st->expiry), tlsa_names[st->tlsa],
		   next_names[st->next_key != 0],
		   defence_key_reuse_name(st->key_reuse), st->not_after,
		   st->expiry_alerted);
	for (size_t i = 0; i < st->ncb && i < DEFENCE_CB_MAX; i++) {
		const struct defence_cb *c = &st->cb_ep[i];
		char w[80];
		int n =
		    snprintf(w, sizeof(w), " cb_ep=%u/%u/%u/%u/%08x/%u/%u/%u",
			     c->ep, c->port, c->plus, c->tls, c->others,
			     c->rounds, c->alerted, c->unread);
		/* The store keeps at most DEFENCE_TEXT_MAX bytes: an endpoint
		 * that does not fit is not kept (its next round is its
		 * baseline), never the line refused. */
		if (n < 0 || (size_t)n >= sizeof(w) ||
		    out->len + (size_t)n > DEFENCE_TEXT_MAX)
			break;
		buf_puts(out, w);
	}
}

/* The index of word w (len bytes) in names, or -1. */
static int
word_of(const char *const *names, size_t n, const char *w, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) == len && !strncmp(names[i], w, len))
			return (int)i;
	return -1;
}

static int
parse_num(const char *v, size_t len, int64_t min, int64_t max, int64_t *out)
{
	char tmp[24], *end;
	long long x;

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, v, len);
	tmp[len] = '\0';
	errno = 0;
	x = strtoll(tmp, &end, 10);
	if (*end || errno || x < min || x > max)
		return -1;
	*out = x;
	return 0;
}

static int
parse_cb_ep(const char *v, size_t len, struct defence_cb *c)
{
	char tmp[80];
	unsigned ep, port, plus, tls, rounds, alerted, others, unread;
	int n = 0;

	/* Digits, hex digits and slashes only: no sign or space that
	 * sscanf would take. */
	if (len >= sizeof(tmp) || strspn(v, "0123456789abcdefABCDEF/") < len)
		return -1;
	memcpy(tmp, v, len);
	tmp[len] = '\0';
	if (sscanf(tmp, "%3u/%5u/%1u/%2u/%8x/%10u/%1u/%10u%n", &ep, &port,
		   &plus, &tls, &others, &rounds, &alerted, &unread, &n) != 8 ||
	    (size_t)n != len || ep >= STORE_ENDPOINTS_MAX || port > 65535 ||
	    plus > 1 || alerted > 3)
		return -1;
	*c = (struct defence_cb){
	    (uint8_t)ep,      (uint16_t)port, (uint8_t)plus, (uint8_t)tls,
	    (uint8_t)alerted, others,	      rounds,	     unread};
	return 0;
}

/* One key=value word into st: 0, or -1 when its value does not parse
 * (an unknown key is ignored). */
static int
parse_word(struct defence_state *st, const char *w, size_t len)
{
	const char *eq = memchr(w, '=', len);
	const char *v;
	size_t klen, vlen;
	int64_t x;
	int i;

	if (eq == NULL || eq == w)
		return -1;
	klen = (size_t)(eq - w);
	v = eq + 1;
	vlen = len - klen - 1;
#define KEY(s) (klen == sizeof(s) - 1 && !strncmp(w, s, klen))
	if (KEY("caa")) {
		const char *names[CAA_STATE_NONE + 1];
		for (i = 0; i <= CAA_STATE_NONE; i++)
			names[i] =
			    check_caa_state_name((enum check_caa_state)i);
		if ((i = word_of(names, NWORDS(names), v, vlen)) < 0)
			return -1;
		st->caa = (enum check_caa_state)i;
	} else if (KEY("cb")) {
		if ((i = word_of(cb_names, NWORDS(cb_names), v, vlen)) < 0)
			return -1;
		st->cb = (enum probe_cb)i;
	} else if (KEY("expiry")) {
		if ((i = word_of(expiry_names, NWORDS(expiry_names), v, vlen)) <
		    0)
			return -1;
		st->expiry = (enum defence_expiry)i;
	} else if (KEY("tlsa")) {
		if ((i = word_of(tlsa_names, NWORDS(tlsa_names), v, vlen)) < 0)
			return -1;
		st->tlsa = (enum defences_tlsa)i;
	} else if (KEY("next_key")) {
		if ((i = word_of(next_names, NWORDS(next_names), v, vlen)) < 0)
			return -1;
		st->next_key = i;
	} else if (KEY("key_reuse")) {
		if ((i = word_of(reuse_names, NWORDS(reuse_names), v, vlen)) <
		    0)
			return -1;
		st->key_reuse = (enum defence_key_reuse)i;
	} else if (KEY("not_after")) {
		/* Any time a certificate can hold, before 1970 too. */
		if (parse_num(v, vlen, INT64_MIN, INT64_MAX, &x) < 0)
			return -1;
		st->not_after = x;
	} else if (KEY("expiry_alerted")) {
		if (parse_num(v, vlen, INT64_MIN, INT64_MAX, &x) < 0)
			return -1;
		st->expiry_alerted = x;
	} else if (KEY("cb_ep")) {
		if (st->ncb >= DEFENCE_CB_MAX ||
		    parse_cb_ep(v, vlen, &st->cb_ep[st->ncb]) < 0)
			return -1;
		st->ncb++;
	}
#undef KEY
	return 0;
}

int
defence_parse(const char *text, struct defence_state *st)
{
	const char *p = text;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	st->cb = PROBE_CB_NA;
	if (text == NULL || *text == '\0')
		return 0;
	while (*p) {
		size_t len = strcspn(p, " ");
		if (len && parse_word(st, p, len) < 0)
			rc = -1;
		p += len;
		p += *p == ' ';
	}
	/* A line that does not parse is no baseline: the next round is. */
	st->have = rc == 0;
	return rc;
}

/* ---- the metric ------------------------------------------------------------
 */

static const char
    *const metric_words[DEFENCE_METRIC_DEFS][DEFENCE_METRIC_STATES + 1] = {
	{"caa", "unknown", "bound", "issuers", "none"},
	{"channel_binding", "na", "offered", "none", "unknown"},
	{"expiry", "unknown", "ok", "soon", "expired"},
	{"tlsa_quality", "none", "weak", "strong", NULL},
	{"next_key", "none", "yes", NULL, NULL},
	{"key_reuse", "unknown", "kept", "new", NULL},
};

const char *
defence_metric_word(int d, int s)
{
	if (d < 0 || d >= DEFENCE_METRIC_DEFS || s >= DEFENCE_METRIC_STATES)
		return NULL;
	/* channel_binding's "na" is no state: not counted. */
	if (d == 1 && s == 0)
		return NULL;
	return metric_words[d][s < 0 ? 0 : s + 1];
}

void
defence_metric_states(const struct defence_state *st,
		      int idx[DEFENCE_METRIC_DEFS])
{
	for (int d = 0; d < DEFENCE_METRIC_DEFS; d++)
		idx[d] = -1;
	if (!st->have)
		return;
	idx[0] = (int)st->caa;
	idx[1] = st->cb == PROBE_CB_NA ? -1 : (int)st->cb;
	idx[2] = st->expiry == DEF_EXPIRY_UNKNOWN ? -1 : (int)st->expiry;
	idx[3] = (int)st->tlsa;
	idx[4] = st->next_key != 0;
	idx[5] = (int)st->key_reuse;
}

void
defence_state_json(const struct defence_state *st, struct buf *out)
{
	static const char *const keys[DEFENCE_METRIC_DEFS] = {
	    "caa",	    "channel_binding", "expiry",
	    "tlsa_quality", "next_key",	       "key_reuse"};
	int idx[DEFENCE_METRIC_DEFS];

	if (!st->have) {
		buf_puts(out, "null");
		return;
	}
	defence_metric_states(st, idx);
	for (int d = 0; d < DEFENCE_METRIC_DEFS; d++) {
		const char *w =
		    idx[d] < 0 ? NULL : defence_metric_word(d, idx[d]);
		buf_printf(out, "%s\"%s\":", d ? "," : "{", keys[d]);
		if (w)
			buf_json_str(out, w);
		else
			buf_puts(out, "null");
		if (d == 2) /* expiry: the earliest leaf's notAfter */
			buf_printf(out, ",\"not_after\":%" PRId64,
				   st->not_after);
	}
	buf_putc(out, '}');
}

/* ---- the checklist of a watched domain ---------------------------------- */

int
defence_state_summary(const struct defence_state *st, int64_t now,
		      struct defences_summary *s)
{
	int64_t d;

	if (!st->have)
		return 0;
	memset(s, 0, sizeof(*s));
	s->caa = st->caa;
	s->cb = st->cb;
	s->cb_usable = -1;
	s->not_after = st->expiry != DEF_EXPIRY_UNKNOWN ? st->not_after : 0;
	d = s->not_after - now;
	s->expiry_days = (int)(d >= 0 ? d / 86400 : -((-d + 86399) / 86400));
	s->expiry_soon =
	    st->expiry == DEF_EXPIRY_SOON || st->expiry == DEF_EXPIRY_EXPIRED;
	s->tlsa = st->tlsa;
	s->next_key = st->next_key;
	s->key_reuse = (int)st->key_reuse;
	return 1;
}

void
defence_state_line(const struct defence_state *st, int64_t now, struct buf *out)
{
	struct defence_line l[DEFENCES_LINES];
	struct defences_summary s;
	size_t n;

	if (!defence_state_summary(st, now, &s))
		return;
	n = defences_checklist_of(&s, l);
	buf_puts(out, "  defences:");
	for (size_t i = 0; i < n; i++)
		buf_printf(out, "%s %s: %s", i ? ";" : "", l[i].name,
			   l[i].state);
	buf_putc(out, '\n');
}

int
defence_alarm_open(const char *text)
{
	struct defence_state st;

	if (text == NULL || defence_parse(text, &st) < 0)
		return 0;
	for (size_t i = 0; i < st.ncb; i++)
		if (st.cb_ep[i].alerted & DEFENCE_CB_ALARMED)
			return 1;
	return 0;
}
