/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * keys.c - the key continuity rules of a watched domain (keys.h,
 * docs/usage.md "Keys seen and splits"), pure functions of the last
 * state and a round's result.
 */
#include "component/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OBS_MAX 2048 /* probes looked at per round */

/* One probe of the round as the rules see it: the key it showed, or,
 * without one, the last key seen at its (address, vantage). */
struct obs {
	size_t ep; /* index in the result's endpoints */
	const char *address, *vantage;
	char key_type[8];
	char spki[65];
	int fresh;	 /* shown this round (else: counted at its last) */
	int allowed;	 /* a secure TLSA record allows it */
	int mismatch;	 /* secure TLSA records reject it: the
			  * verdict's own alarm speaks for it */
	int established; /* at its endpoint, before this round */
	int splitting;	 /* the never-established key of a split */
	const struct check_probe *p;
	size_t group; /* its (cluster, key type) group */
};

int
keys_list_has(const char *list, const char *item)
{
	size_t n = strlen(item);

	if (n == 0)
		return 0;
	for (const char *p = list; p && *p;) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		if (len == n && memcmp(p, item, n) == 0)
			return 1;
		p = c ? c + 1 : NULL;
	}
	return 0;
}

/* Adds item to the list unless it is there or does not fit (or holds a
 * comma or a space, which the list and the store cannot keep). */
static void
list_add(char *list, size_t size, const char *item)
{
	size_t n = strlen(list), m = strlen(item);

	if (m == 0 || strpbrk(item, ", ") || keys_list_has(list, item) ||
	    n + (n > 0) + m + 1 > size)
		return;
	snprintf(list + n, size - n, "%s%s", n > 0 ? "," : "", item);
}

static int
same_ep(const struct seen_key *k, const struct check_endpoint *e)
{
	return k->service == e->service && k->port == e->port &&
	       strcmp(k->host, e->host) == 0;
}

/* The entry of (endpoint, key type, key) in s, or -1. */
static long
find_key(const struct keys_state *s, const struct check_endpoint *e,
	 const char *kt, const char *spki)
{
	for (size_t i = 0; i < s->n; i++)
		if (same_ep(&s->k[i], e) && !strcmp(s->k[i].key_type, kt) &&
		    !strcmp(s->k[i].spki, spki))
			return (long)i;
	return -1;
}

/* The last key seen at (endpoint, address, vantage): the entry with the
 * latest last_seen that lists both, or -1. */
static long
last_key_at(const struct keys_state *s, const struct check_endpoint *e,
	    const char *address, const char *vantage)
{
	long best = -1;

	for (size_t i = 0; i < s->n; i++) {
		const struct seen_key *k = &s->k[i];
		if (same_ep(k, e) && keys_list_has(k->addresses, address) &&
		    keys_list_has(k->vantages, vantage) &&
		    (best < 0 || k->last_seen > s->k[best].last_seen))
			best = (long)i;
	}
	return best;
}

/* The latest key seen on an endpoint within a key type, or -1. */
static long
latest_key(const struct keys_state *s, const struct check_endpoint *e,
	   const char *kt)
{
	long best = -1;

	for (size_t i = 0; i < s->n; i++)
		if (same_ep(&s->k[i], e) && !strcmp(s->k[i].key_type, kt) &&
		    (best < 0 || s->k[i].last_seen > s->k[best].last_seen))
			best = (long)i;
	return best;
}

/* Whether a key is established anywhere in s (KEYS_ESTABLISHED rounds). */
static int
established_anywhere(const struct keys_state *s, const char *spki)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->k[i].rounds >= KEYS_ESTABLISHED &&
		    !strcmp(s->k[i].spki, spki))
			return 1;
	return 0;
}

/* The round's observations; how many. */
static size_t
observe(const struct keys_state *last, const struct check_result *r,
	struct obs *o, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nendpoints && i < STORE_ENDPOINTS_MAX; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		for (size_t j = 0; j < e->nprobes && n < max; j++) {
			const struct check_probe *p = &e->probes[j];
			struct obs *b = &o[n];
			/* A remote vantage (another certwatch) says what it
			 * saw, and a split through it alone is its check's
			 * key-split warning, never an alarm here. */
			if (strncmp(p->vantage, "xmpp:", 5) == 0)
				continue;
			memset(b, 0, sizeof(*b));
			b->ep = i;
			b->address = p->address;
			b->vantage = p->vantage;
			if (p->have_key && strlen(p->spki_sha256) == 64) {
				snprintf(b->key_type, sizeof(b->key_type), "%s",
					 p->key_type);
				memcpy(b->spki, p->spki_sha256, 65);
				b->fresh = 1;
				b->allowed = p->allowed;
				b->mismatch = p->verdict == VERDICT_MISMATCH;
				b->p = p;
				n++;
				continue;
			}
			long k = last_key_at(last, e, p->address, p->vantage);
			if (k < 0)
				continue;
			memcpy(b->key_type, last->k[k].key_type,
			       sizeof(b->key_type));
			memcpy(b->spki, last->k[k].spki, 65);
			n++;
		}
		/* A result without probes (none made): the endpoint's key. */
		if (e->nprobes == 0 && e->have_key && n < max &&
		    strlen(e->spki_sha256) == 64) {
			struct obs *b = &o[n++];
			memset(b, 0, sizeof(*b));
			b->ep = i;
			b->address = "";
			b->vantage = "";
			memcpy(b->spki, e->spki_sha256, 65);
			b->fresh = 1;
			b->allowed = e->verdict == VERDICT_OK;
		}
	}
	return n;
}

/* Union-find over endpoints: two ports of one host are compared when
 * they shared an established key before this round. */
static size_t
root(size_t *up, size_t i)
{
	while (up[i] != i)
		i = up[i] = up[up[i]];
	return i;
}

static void
link_endpoints(const struct keys_state *last, const struct check_result *r,
	       size_t *up, size_t nep)
{
	for (size_t i = 0; i < nep; i++)
		up[i] = i;
	for (size_t a = 0; a < last->n; a++) {
		const struct seen_key *ka = &last->k[a];
		if (ka->rounds < KEYS_ESTABLISHED)
			continue;
		for (size_t b = a + 1; b < last->n; b++) {
			const struct seen_key *kb = &last->k[b];
			if (kb->rounds < KEYS_ESTABLISHED ||
			    strcmp(ka->spki, kb->spki) ||
			    strcmp(ka->key_type, kb->key_type) ||
			    strcmp(ka->host, kb->host))
				continue;
			size_t ia = nep, ib = nep;
			for (size_t i = 0; i < nep; i++) {
				if (same_ep(ka, &r->endpoints[i]))
					ia = i;
				if (same_ep(kb, &r->endpoints[i]))
					ib = i;
			}
			if (ia < nep && ib < nep)
				up[root(up, ia)] = root(up, ib);
		}
	}
}

/* "xmpp-client :5222 at ADDR via VANTAGE" for each probe of group g with
 * key spki, joined; cut to fit. */
static void
where(const struct check_result *r, const struct obs *o, size_t n, size_t g,
      const char *spki, char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && len + 1 < size; i++) {
		if (o[i].group != g || strcmp(o[i].spki, spki))
			continue;
		const struct check_endpoint *e = &r->endpoints[o[i].ep];
		char one[300];
		snprintf(one, sizeof(one), "%s %s:%u%s%s%s%s%s",
			 check_service_name(e->service), e->host, e->port,
			 o[i].address[0] ? " at " : "", o[i].address,
			 o[i].vantage[0] ? " via " : "", o[i].vantage,
			 o[i].fresh ? "" : " (unreachable now: its last key)");
		if (strstr(out, one))
			continue;
		int w = snprintf(out + len, size - len, "%s%s", len ? "; " : "",
				 one);
		if (w < 0 || (size_t)w >= size - len) {
			out[len] = '\0';
			break;
		}
		len += (size_t)w;
	}
}

/* Records this round's keys in next; counts a round for each key seen
 * unless its round does not count (baseline: established at once). */
static void
record_keys(struct keys_state *next, const struct keys_state *last,
	    const struct check_result *r, const struct obs *o, size_t n,
	    int64_t now, int baseline)
{
	unsigned char counted[KEYS_SEEN_MAX] = {0};

	for (size_t i = 0; i < n; i++) {
		if (!o[i].fresh)
			continue;
		const struct check_endpoint *e = &r->endpoints[o[i].ep];
		long k = find_key(next, e, o[i].key_type, o[i].spki);
		if (k < 0) {
			size_t slot = next->n;
			if (slot == KEYS_SEEN_MAX) {
				/* Full: the least recently seen key of an
				 * earlier round goes. */
				long old = -1;
				for (size_t j = 0; j < next->n; j++)
					if (next->k[j].last_seen < now &&
					    (old < 0 ||
					     next->k[j].last_seen <
						 next->k[old].last_seen))
						old = (long)j;
				if (old < 0)
					continue;
				slot = (size_t)old;
				counted[slot] = 0;
			} else {
				next->n++;
			}
			struct seen_key *s = &next->k[slot];
			memset(s, 0, sizeof(*s));
			s->service = e->service;
			s->port = e->port;
			snprintf(s->host, sizeof(s->host), "%s", e->host);
			memcpy(s->key_type, o[i].key_type, sizeof(s->key_type));
			memcpy(s->spki, o[i].spki, sizeof(s->spki));
			s->first_seen = now;
			k = (long)slot;
		}
		struct seen_key *s = &next->k[k];
		s->last_seen = now;
		list_add(s->vantages, sizeof(s->vantages), o[i].vantage);
		list_add(s->addresses, sizeof(s->addresses), o[i].address);
		if (baseline) {
			s->rounds = KEYS_ESTABLISHED;
		} else if (!counted[k] && !last->alarm && !o[i].splitting &&
			   !o[i].mismatch && s->rounds < KEYS_ESTABLISHED) {
			s->rounds++;
		}
		counted[k] = 1;
	}
	/* The newest KEYS_PER_ENDPOINT per endpoint and key type. */
	for (size_t i = 0; i < next->n; i++) {
		size_t same = 0;
		long oldest = -1;
		for (size_t j = 0; j < next->n; j++) {
			const struct seen_key *a = &next->k[i],
					      *b = &next->k[j];
			if (a->service != b->service || a->port != b->port ||
			    strcmp(a->host, b->host) ||
			    strcmp(a->key_type, b->key_type))
				continue;
			same++;
			if (oldest < 0 ||
			    b->last_seen < next->k[oldest].last_seen)
				oldest = (long)j;
		}
		if (same > KEYS_PER_ENDPOINT) {
			memmove(&next->k[oldest], &next->k[oldest + 1],
				(next->n - (size_t)oldest - 1) *
				    sizeof(next->k[0]));
			next->n--;
			i = (size_t)-1; /* again from the start */
		}
	}
}

static unsigned
popcount64(uint64_t x)
{
	unsigned n = 0;

	for (; x; x &= x - 1)
		n++;
	return n;
}

/* Groups the observations by (cluster, key type): each gets the index of
 * its group's first observation.  Then marks each group's split: keys
 * that differ, one of them never established.  Returns the first split
 * group's first observation and fills the alarm's keys, or -1. */
static long
find_splits(const struct keys_state *last, const struct check_result *r,
	    struct obs *o, size_t n, size_t *up, int baseline,
	    struct keys_alert *out)
{
	long first = -1;

	for (size_t i = 0; i < n; i++) {
		const struct check_endpoint *e = &r->endpoints[o[i].ep];
		long k = find_key(last, e, o[i].key_type, o[i].spki);
		/* A key DANE rejects is the verdict's alarm (mismatch), at
		 * once: not a split as well. */
		o[i].established =
		    baseline || o[i].allowed || o[i].mismatch ||
		    (k >= 0 && last->k[k].rounds >= KEYS_ESTABLISHED);
		o[i].group = i;
		for (size_t j = 0; j < i; j++)
			if (root(up, o[j].ep) == root(up, o[i].ep) &&
			    !strcmp(o[j].key_type, o[i].key_type)) {
				o[i].group = o[j].group;
				break;
			}
	}
	for (size_t g = 0; g < n; g++) {
		long differ = -1, fresh_key = -1, other = -1;
		if (o[g].group != g)
			continue;
		for (size_t i = g; i < n; i++)
			if (o[i].group == g && strcmp(o[i].spki, o[g].spki))
				differ = (long)i;
		if (differ < 0)
			continue;
		for (size_t i = g; i < n; i++)
			if (o[i].group == g && !o[i].established) {
				fresh_key = (long)i;
				break;
			}
		if (fresh_key < 0)
			continue;
		for (size_t i = g; i < n; i++) {
			if (o[i].group != g)
				continue;
			if (!strcmp(o[i].spki, o[fresh_key].spki))
				o[i].splitting = !o[i].established;
			else if (other < 0 ||
				 (o[i].established && !o[other].established))
				other = (long)i;
		}
		if (first >= 0)
			continue;
		first = (long)g;
		const struct check_endpoint *e = &r->endpoints[o[fresh_key].ep];
		snprintf(out->host, sizeof(out->host), "%s", e->host);
		memcpy(out->key_type, o[g].key_type, sizeof(out->key_type));
		memcpy(out->new_spki, o[fresh_key].spki, 65);
		memcpy(out->old_spki, o[other].spki, 65);
		where(r, o, n, g, out->new_spki, out->new_where,
		      sizeof(out->new_where));
		where(r, o, n, g, out->old_spki, out->old_where,
		      sizeof(out->old_where));
		long kn =
		    find_key(last, e, o[fresh_key].key_type, out->new_spki);
		long ko = find_key(last, &r->endpoints[o[other].ep],
				   o[other].key_type, out->old_spki);
		out->new_since = kn >= 0 ? last->k[kn].first_seen : 0;
		out->old_since = ko >= 0 ? last->k[ko].first_seen : 0;
	}
	return first;
}

/* The remote vantages that showed a key other than spki on an endpoint
 * of group g this round (keys_alert.remote_other). */
static void
remote_others(const struct check_result *r, const struct obs *o, size_t n,
	      size_t g, const char *spki, char *out, size_t size)
{
	out[0] = '\0';
	for (size_t ep = 0; ep < r->nendpoints && ep < STORE_ENDPOINTS_MAX;
	     ep++) {
		int in_group = 0;
		for (size_t i = 0; i < n && !in_group; i++)
			in_group = o[i].group == g && o[i].ep == ep;
		if (!in_group)
			continue;
		const struct check_endpoint *e = &r->endpoints[ep];
		for (size_t j = 0; j < e->nprobes; j++) {
			const struct check_probe *p = &e->probes[j];
			if (strncmp(p->vantage, "xmpp:", 5) == 0 &&
			    p->have_key && strcmp(p->spki_sha256, spki))
				list_add(out, size, p->vantage);
		}
	}
}

/* A group whose every probe moved this round to one key never
 * established before: the first such group's first observation, or -1. */
static long
find_move(const struct keys_state *last, const struct check_result *r,
	  const struct obs *o, size_t n)
{
	for (size_t g = 0; g < n; g++) {
		int one = 1, moved = 0, all_dane = 1;
		if (o[g].group != g)
			continue;
		for (size_t i = g; i < n && one; i++) {
			if (o[i].group != g)
				continue;
			if (!o[i].fresh || strcmp(o[i].spki, o[g].spki))
				one = 0;
			all_dane &= o[i].allowed || o[i].mismatch;
			long k = latest_key(last, &r->endpoints[o[i].ep],
					    o[i].key_type);
			if (k >= 0 && strcmp(last->k[k].spki, o[g].spki))
				moved = 1;
		}
		/* TLSA judging it everywhere: a planned rollover or a
		 * mismatch, which the verdict's own alerts report. */
		if (one && moved && !all_dane &&
		    !established_anywhere(last, o[g].spki))
			return (long)g;
	}
	return -1;
}

enum alert_kind
keys_round(const struct keys_state *last, const struct check_result *r,
	   int64_t now, unsigned split_rounds, struct keys_state *next,
	   struct keys_alert *out)
{
	size_t up[STORE_ENDPOINTS_MAX];
	size_t nep = r->nendpoints < STORE_ENDPOINTS_MAX ? r->nendpoints
							 : STORE_ENDPOINTS_MAX;
	size_t cap = 0;
	struct obs *o;
	int baseline = last->n == 0;
	unsigned window;
	size_t n, fresh = 0;
	long split, move;

	memset(out, 0, sizeof(*out));
	if (split_rounds == 0)
		split_rounds = 2;
	if (split_rounds > 16)
		split_rounds = 16;
	window = 2 * split_rounds;
	memcpy(next, last, sizeof(*next));
	for (size_t i = 0; i < nep; i++)
		cap += r->endpoints[i].nprobes + 1;
	o = calloc(cap < OBS_MAX ? cap + 1 : OBS_MAX, sizeof(*o));
	if (o == NULL)
		return ALERT_NONE; /* the state stays as it was */
	n = observe(last, r, o, cap < OBS_MAX ? cap + 1 : OBS_MAX);
	for (size_t i = 0; i < n; i++)
		fresh += o[i].fresh;
	link_endpoints(last, r, up, nep);
	split = find_splits(last, r, o, n, up, baseline, out);
	record_keys(next, last, r, o, n, now, baseline && fresh > 0);
	if (baseline) {
		next->split_rounds = 0;
		next->alarm = 0;
		free(o);
		return ALERT_NONE;
	}
	next->split_rounds = ((last->split_rounds << 1) | (split >= 0)) &
			     ((UINT64_C(1) << window) - 1);
	out->window = window;
	out->split_seen = popcount64(next->split_rounds);
	if (!last->alarm && split >= 0 && out->split_seen >= split_rounds) {
		next->alarm = 1;
		out->kind = ALERT_ALARM;
	} else if (last->alarm && split < 0 && fresh > 0) {
		/* Every group shows one key again, seen this round (a round
		 * with nothing seen proves nothing). */
		next->alarm = 0;
		next->split_rounds = 0;
		out->kind = ALERT_RECOVERED;
		for (size_t i = 0; i < n; i++)
			if (o[i].fresh) {
				memcpy(out->new_spki, o[i].spki, 65);
				snprintf(out->host, sizeof(out->host), "%s",
					 r->endpoints[o[i].ep].host);
				break;
			}
	} else if ((move = find_move(last, r, o, n)) >= 0) {
		const struct obs *b = &o[move];
		out->kind = ALERT_INFO;
		snprintf(out->host, sizeof(out->host), "%s",
			 r->endpoints[b->ep].host);
		memcpy(out->key_type, b->key_type, sizeof(out->key_type));
		memcpy(out->new_spki, b->spki, 65);
		where(r, o, n, b->group, b->spki, out->new_where,
		      sizeof(out->new_where));
		remote_others(r, o, n, b->group, b->spki, out->remote_other,
			      sizeof(out->remote_other));
		if (b->p) {
			snprintf(out->issuer, sizeof(out->issuer), "%s",
				 b->p->issuer);
			out->not_before = b->p->not_before;
			out->not_after = b->p->not_after;
		}
		out->new_since = now;
	}
	free(o);
	return out->kind;
}
