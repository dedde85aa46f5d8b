/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * check_caa.c - the CAA defence of a check: RFC 8659 §3's walk from the
 * domain up to its TLD (the root is not asked), one DNSSEC-validated
 * look-up at a time, and the judgement of the first CAA RRset found
 * (RFC 8657: is every issue property bound to an ACME account?).
 *
 * The resolver follows a CNAME at a name it is asked; the walk climbs the
 * names above the domain, never above the alias target, as RFC 8659 §3
 * asks.  Nothing here changes a DANE verdict.
 */
#include "probe/check_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/caa.h"
#include "util/buf.h"

#define CAA_MAX_STEPS 128  /* a 253-character name has at most 127 labels */
#define CAA_MAX_RECORDS 64 /* listed; the rest are judged, not listed */

static void caa_ask(struct caa_walk *w);

/* "FLAGS TAG \"VALUE\"" as in a zone file, other bytes as \DDD. */
static char *
caa_line(const struct dns_caa *p)
{
	char *s = xcalloc(1, 32 + 4 * p->value_len + 1);
	size_t n = (size_t)sprintf(s, "%u %s \"", p->flags, p->tag);

	for (size_t i = 0; i < p->value_len; i++) {
		unsigned char b = (unsigned char)p->value[i];
		if (b < 0x20 || b > 0x7e || b == '"' || b == '\\')
			n += (size_t)sprintf(s + n, "\\%03u", b);
		else
			s[n++] = (char)b;
	}
	strcpy(s + n, "\"");
	return s;
}

static void
add_methods(struct check_caa *r, const char *list)
{
	char buf[DNS_CAA_VALUE_MAX + 1], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *m = strtok_r(buf, ",", &save); m;
	     m = strtok_r(NULL, ",", &save)) {
		size_t have = strlen(r->validationmethods), ml = strlen(m);
		char pad[sizeof(r->validationmethods) + 2];

		snprintf(pad, sizeof(pad), ",%s,", r->validationmethods);
		char key[DNS_CAA_VALUE_MAX + 3];
		snprintf(key, sizeof(key), ",%s,", m);
		if (strstr(pad, key) != NULL)
			continue;
		if (have + ml + 2 > sizeof(r->validationmethods))
			return; /* bounded: the rest is not listed */
		if (have)
			strcat(r->validationmethods, ",");
		strcat(r->validationmethods, m);
	}
}

/* Judges the RRset found at `owner` (RFC 8659 §4.2, RFC 8657 §3). */
static void
caa_judge(struct check_caa *r, const struct dns_answer *a, const char *owner)
{
	size_t issues = 0, bound = 0;

	snprintf(r->found_at, sizeof(r->found_at), "%s", owner);
	r->records = xcalloc(a->n < CAA_MAX_RECORDS ? a->n : CAA_MAX_RECORDS,
			     sizeof(*r->records));
	for (size_t i = 0; i < a->n; i++) {
		struct dns_caa p;
		struct dns_caa_issue v;
		char err[128];
		char *line;
		int parsed = dns_caa_parse(a->rdata[i].data, a->rdata[i].len,
					   &p, err, sizeof(err)) == 0;

		if (!parsed) {
			line = xcalloc(1, sizeof(err) + 16);
			snprintf(line, sizeof(err) + 16, "malformed: %s", err);
		} else {
			line = caa_line(&p);
		}
		if (r->nrecords < CAA_MAX_RECORDS)
			r->records[r->nrecords++] = line;
		else
			free(line);
		/* Malformed RDATA: its tag is unknown, and RFC 8659 §4.1
		 * says an unknown property does not authorise anyone. */
		if (!parsed)
			continue;
		if (p.kind != DNS_CAA_ISSUE && p.kind != DNS_CAA_ISSUEWILD)
			continue;
		/* A malformed issue value counts as an issue that is not
		 * bound: never quieter than what a CA would do with it. */
		int ok = dns_caa_issue_parse(p.value, p.value_len, &v, err,
					     sizeof(err)) == 0;
		if (ok && v.has_validationmethods)
			add_methods(r, v.validationmethods);
		if (p.kind != DNS_CAA_ISSUE)
			continue; /* issuewild: listed, not judged */
		issues++;
		if (ok && (v.forbids || v.has_accounturi))
			bound++;
	}
	r->state =
	    issues > 0 && bound == issues ? CAA_STATE_BOUND : CAA_STATE_ISSUERS;
}

static void
caa_cb(struct dns_answer *a, void *arg)
{
	struct caa_walk *w = arg;
	struct check_caa *r = w->out;
	const char *dot;

	w->qcaa = NULL;
	r->sec =
	    r->sec == DNS_SEC_NONE ? a->sec : check_sec_worse(r->sec, a->sec);
	if (a->sec == DNS_SEC_BOGUS) {
		r->state = CAA_STATE_UNKNOWN;
		snprintf(r->why, sizeof(r->why),
			 "CAA at %s fails DNSSEC "
			 "validation: %s",
			 w->q, a->why_bogus);
	} else if (check_answer_failed(a)) {
		r->state = CAA_STATE_UNKNOWN;
		snprintf(r->why, sizeof(r->why), "CAA look-up at %s failed: %s",
			 w->q,
			 a->error[0] ? a->error : dns_status_name(a->status));
	} else if (a->status == DNS_ANSWER && a->n > 0) {
		caa_judge(r, a, w->q);
	} else if ((dot = strchr(w->q, '.')) == NULL ||
		   w->step >= CAA_MAX_STEPS) {
		r->state = CAA_STATE_NONE; /* the TLD answered: none */
	} else {
		memmove(w->q, dot + 1, strlen(dot + 1) + 1);
		dns_answer_free(a);
		caa_ask(w);
		return;
	}
	dns_answer_free(a);
	check_unref(w->c);
}

static void
caa_ask(struct caa_walk *w)
{
	unsigned step = ++w->step;
	struct dns_query *q = NULL;

	if (dns_lookup(w->c->env->cfg.dns, w->q, DNS_T_CAA, caa_cb, w, &q) <
	    0) {
		caa_cb(check_failed_answer(w->q, DNS_T_CAA, "invalid name"), w);
		return;
	}
	/* A cached answer ran caa_cb already, which may have asked again. */
	if (w->step == step && q != NULL)
		w->qcaa = q;
}

static void
caa_walk_start(struct check *c, const char *name, struct check_caa *out)
{
	struct caa_walk *w = &c->caa[c->ncaa++];

	w->c = c;
	w->out = out;
	snprintf(w->q, sizeof(w->q), "%s", name);
	check_ref(c);
	caa_ask(w);
}

void
check_caa_start(struct check *c)
{
	caa_walk_start(c, c->res->domain, &c->res->caa);
}

void
check_caa_target(struct check *c, const char *name)
{
	struct check_result *r = c->res;

	for (size_t i = 0; i < r->ncaa_targets; i++)
		if (!strcmp(r->caa_targets[i].name, name))
			return;
	if (r->ncaa_targets >= CHECK_MAX_CAA_TARGETS)
		return;
	/* Allocated once: the walks keep pointers into it. */
	if (r->caa_targets == NULL)
		r->caa_targets =
		    xcalloc(CHECK_MAX_CAA_TARGETS, sizeof(*r->caa_targets));
	struct check_caa_target *t = &r->caa_targets[r->ncaa_targets++];
	snprintf(t->name, sizeof(t->name), "%s", name);
	caa_walk_start(c, name, &t->caa);
}

void
check_caa_cancel(struct check *c)
{
	for (size_t i = 0; i < c->ncaa; i++) {
		if (c->caa[i].qcaa)
			dns_cancel(c->caa[i].qcaa);
		c->caa[i].qcaa = NULL;
	}
}

const char *
check_caa_state_name(enum check_caa_state s)
{
	static const char *const names[] = {"unknown", "bound", "issuers",
					    "none"};
	return (unsigned)s < 4 ? names[s] : "unknown";
}
