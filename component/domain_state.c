/* SPDX-License-Identifier: GPL-3.0-or-later */
/* domain_state.c - a watched domain's typed state and its store words. */
#include "component/domain_state.h"

#include <stdio.h>
#include <string.h>

enum probe_step
domain_state_step_parse(const char *word)
{
	for (int s = PROBE_STEP_INPUT; word && s <= PROBE_STEP_VANTAGE; s++)
		if (!strcmp(word, probe_step_name((enum probe_step)s)))
			return (enum probe_step)s;
	return PROBE_STEP_NONE;
}

enum probe_step
domain_state_error_step(const char *error)
{
	char word[16];
	size_t n = error ? strcspn(error, ":") : 0;

	if (n == 0 || n >= sizeof(word))
		return PROBE_STEP_NONE;
	memcpy(word, error, n);
	word[n] = '\0';
	return domain_state_step_parse(word);
}

int
domain_state_service_parse(const char *word, enum check_service *out)
{
	for (int s = 0; word && s < SVC_COUNT; s++)
		if (!strcmp(word, check_service_name((enum check_service)s))) {
			*out = (enum check_service)s;
			return 0;
		}
	return -1;
}

/* A stored verdict word: NULL or "" is none; an unknown word is none and
 * an error. */
static int
verdict_word(const char *word, enum verdict *out)
{
	*out = VERDICT_NONE;
	if (word == NULL || *word == '\0')
		return 0;
	*out = verdict_parse(word);
	return *out == VERDICT_NONE ? -1 : 0;
}

enum verdict
domain_state_verdict(const struct store_domain *sd)
{
	enum verdict v = VERDICT_NONE;

	if (sd)
		(void)verdict_word(sd->verdict, &v);
	return v;
}

int
domain_state_add_endpoint(struct domain_state *ds,
			  const struct store_endpoint *se, char *err,
			  size_t errlen)
{
	struct endpoint_state *e;
	enum check_service svc;
	const char *host = se->host ? se->host : "";
	const char *spki = se->spki ? se->spki : "";

	if (ds->n >= STORE_ENDPOINTS_MAX) {
		snprintf(err, errlen, "more than %d endpoints",
			 STORE_ENDPOINTS_MAX);
		return -1;
	}
	if (domain_state_service_parse(se->service, &svc) < 0) {
		snprintf(err, errlen,
			 "endpoint of an unknown service \"%.32s\"",
			 se->service ? se->service : "");
		return -1;
	}
	if (*host == '\0' || strlen(host) > DNS_NAME_MAX || se->port == 0 ||
	    se->port > 65535) {
		snprintf(err, errlen, "endpoint with a bad host or port");
		return -1;
	}
	e = &ds->ep[ds->n];
	memset(e, 0, sizeof(*e));
	e->service = svc;
	e->port = (uint16_t)se->port;
	snprintf(e->host, sizeof(e->host), "%s", host);
	/* A key that is not a SHA-256 in hex is no key (compared with none). */
	if (strlen(spki) == sizeof(e->spki) - 1)
		memcpy(e->spki, spki, sizeof(e->spki));
	snprintf(e->error, sizeof(e->error), "%s", se->error ? se->error : "");
	e->err_step = domain_state_error_step(se->error);
	e->fail_rounds = se->fail_rounds;
	e->trouble_alerted = (se->flags & STORE_EP_ALERTED) != 0;
	ds->n++;
	if (verdict_word(se->verdict, &e->verdict) < 0) {
		snprintf(err, errlen, "%s:%u has an unknown verdict \"%.32s\"",
			 e->host, e->port, se->verdict);
		return -1;
	}
	return 0;
}

int
domain_state_load(const struct store_domain *sd, struct domain_state *ds,
		  char *err, size_t errlen)
{
	int rc = 0;

	ds->alert = (struct watch_state){VERDICT_NONE, ALERT_NONE, 0};
	ds->n = 0;
	(void)defence_parse(NULL, &ds->def);
	if (err && errlen)
		err[0] = '\0';
	if (sd == NULL)
		return 0;
	if (verdict_word(sd->verdict, &ds->alert.verdict) < 0) {
		snprintf(err, errlen, "unknown verdict \"%.32s\"", sd->verdict);
		rc = -1;
	}
	ds->alert.last = alert_kind_parse(sd->alert);
	if (ds->alert.last == ALERT_NONE && sd->alert && *sd->alert &&
	    strcmp(sd->alert, alert_kind_name(ALERT_NONE))) {
		snprintf(err, errlen, "unknown alert state \"%.32s\"",
			 sd->alert);
		rc = -1;
	}
	ds->alert.unreachable_rounds = sd->unreachable_rounds;
	if (defence_parse(sd->defence, &ds->def) < 0) {
		snprintf(err, errlen, "a defence line that does not parse");
		rc = -1;
	}
	for (size_t i = 0; i < sd->n_endpoints; i++) {
		struct store_endpoint se;
		char why[128];
		store_domain_endpoint(sd, i, &se);
		if (domain_state_add_endpoint(ds, &se, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s", why);
			rc = -1;
		}
	}
	return rc;
}

const struct endpoint_state *
domain_state_find(const struct domain_state *ds, enum check_service service,
		  const char *host, unsigned port)
{
	for (size_t i = 0; ds && i < ds->n; i++) {
		const struct endpoint_state *e = &ds->ep[i];
		if (e->service == service && e->port == port &&
		    !strcmp(e->host, host))
			return e;
	}
	return NULL;
}

void
domain_state_round(struct domain_state *next, const struct domain_state *last,
		   const struct check_result *r)
{
	next->n = 0;
	for (size_t i = 0; i < r->nendpoints && next->n < STORE_ENDPOINTS_MAX;
	     i++) {
		const struct check_endpoint *ce = &r->endpoints[i];
		struct endpoint_state *e = &next->ep[next->n++];
		memset(e, 0, sizeof(*e));
		e->service = ce->service;
		e->port = ce->port;
		snprintf(e->host, sizeof(e->host), "%s", ce->host);
		if (ce->have_key)
			snprintf(e->spki, sizeof(e->spki), "%s",
				 ce->spki_sha256);
		e->err_step = ce->err_step;
		if (ce->err_step != PROBE_STEP_NONE)
			snprintf(e->error, sizeof(e->error), "%s: %s",
				 probe_step_name(ce->err_step), ce->err_reason);
		e->verdict = ce->verdict;
		if (ce->verdict == VERDICT_UNREACHABLE) {
			enum verdict was = transition_last_verdict(ce, last);
			if (was != VERDICT_NONE)
				e->verdict = was;
		}
	}
}

void
domain_state_to_update(const struct domain_state *ds, struct store_update *u,
		       struct store_endpoint *eps)
{
	u->verdict = verdict_name(ds->alert.verdict);
	u->alert = alert_kind_name(ds->alert.last);
	u->unreachable_rounds = ds->alert.unreachable_rounds;
	for (size_t i = 0; i < ds->n; i++) {
		const struct endpoint_state *e = &ds->ep[i];
		eps[i] = (struct store_endpoint){
		    .service = check_service_name(e->service),
		    .host = e->host,
		    .port = e->port,
		    .verdict = verdict_name(e->verdict),
		    .spki = e->spki[0] ? e->spki : NULL,
		    .error = e->error[0] ? e->error : NULL,
		    .fail_rounds = e->fail_rounds,
		    .flags = e->trouble_alerted ? STORE_EP_ALERTED : 0,
		};
	}
	u->endpoints = eps;
	u->n_endpoints = ds->n;
}

/* ---- key continuity: the `seen` and `split` lines (keys.h) ---- */

int
domain_state_keys_load(const struct store_domain *sd, struct keys_state *ks,
		       char *err, size_t errlen)
{
	struct store_continuity c = {0, 0, NULL, 0};
	int rc = 0;

	if (sd)
		store_domain_continuity(sd, &c);
	ks->split_rounds = c.split_rounds;
	ks->alarm = (c.flags & STORE_CONT_ALARM) != 0;
	ks->n = 0;
	for (size_t i = 0; i < c.n_seen && ks->n < KEYS_SEEN_MAX; i++) {
		const struct store_seen *s = &c.seen[i];
		struct seen_key *k = &ks->k[ks->n];
		enum check_service svc;
		size_t hl = s->host ? strlen(s->host) : 0;
		size_t kl = s->key_type ? strlen(s->key_type) : 0;

		if (domain_state_service_parse(s->service, &svc) < 0 ||
		    hl == 0 || hl > DNS_NAME_MAX || s->port == 0 ||
		    s->port > 65535 || !s->spki || strlen(s->spki) != 64 ||
		    kl >= sizeof(k->key_type)) {
			snprintf(err, errlen,
				 "a seen key of an unknown service "
				 "or with a bad host, port, key or key type");
			rc = -1;
			continue;
		}
		memset(k, 0, sizeof(*k));
		k->service = svc;
		k->port = (uint16_t)s->port;
		memcpy(k->host, s->host, hl + 1);
		memcpy(k->key_type, s->key_type ? s->key_type : "", kl + 1);
		memcpy(k->spki, s->spki, 65);
		k->first_seen = s->first_seen;
		k->last_seen = s->last_seen;
		k->rounds =
		    s->rounds > KEYS_ESTABLISHED ? KEYS_ESTABLISHED : s->rounds;
		snprintf(k->vantages, sizeof(k->vantages), "%s",
			 s->vantages ? s->vantages : "");
		snprintf(k->addresses, sizeof(k->addresses), "%s",
			 s->addresses ? s->addresses : "");
		ks->n++;
	}
	return rc;
}

int
domain_state_split_alarm(const struct store_domain *sd)
{
	struct store_continuity c = {0, 0, NULL, 0};

	if (sd)
		store_domain_continuity(sd, &c);
	return (c.flags & STORE_CONT_ALARM) != 0;
}

void
domain_state_keys_to_store(const struct keys_state *ks,
			   struct store_continuity *c, struct store_seen *buf)
{
	for (size_t i = 0; i < ks->n; i++) {
		const struct seen_key *k = &ks->k[i];
		buf[i] = (struct store_seen){
		    .service = check_service_name(k->service),
		    .host = k->host,
		    .port = k->port,
		    .key_type = k->key_type[0] ? k->key_type : NULL,
		    .spki = k->spki,
		    .first_seen = k->first_seen,
		    .last_seen = k->last_seen,
		    .rounds = k->rounds,
		    .vantages = k->vantages[0] ? k->vantages : NULL,
		    .addresses = k->addresses[0] ? k->addresses : NULL,
		};
	}
	c->split_rounds = ks->split_rounds;
	c->flags = ks->alarm ? STORE_CONT_ALARM : 0;
	c->seen = buf;
	c->n_seen = ks->n;
}
