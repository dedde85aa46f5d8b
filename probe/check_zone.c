/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * check_zone.c - the zone to sign for an `insecure` endpoint: the closest
 * enclosing zone of its unsigned record set.  The owner name and then each
 * ancestor is asked for its SOA record; the first name that has one is the
 * zone's apex (RFC 1034 §4.2.1, RFC 1035 §5.2).  Runs after the verdicts,
 * before the result is delivered; the look-ups are cached by libunbound,
 * and one failed look-up only moves on to the next name.  Endpoints with
 * the same record set share the answer, and the whole walk has a deadline
 * (a zone left unnamed then), so that name servers that do not answer
 * cannot hold the result back.
 */
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "probe/check_int.h"

#define CHECK_T_SOA 6 /* RFC 1035 §3.2.2 */
#define CHECK_ZONE_DEADLINE_S 5

/* The unsigned record set of an insecure endpoint, as its owner name: the
 * SRV records (or their denial) first, since with those unsigned the
 * target is not DNSSEC-backed at all (RFC 7673 §3.1), then the target's
 * addresses, then its TLSA records.  NULL when none is insecure. */
static const char *
insecure_owner(const struct check *c, const struct check_endpoint *row,
	       char *buf, size_t len)
{
	if (row->verdict != VERDICT_INSECURE)
		return NULL;
	if (row->dnssec_srv == DNS_SEC_INSECURE) {
		snprintf(buf, len, "_%s._tcp.%s",
			 check_service_name(row->service), c->res->domain);
		return buf;
	}
	if (row->dnssec_addr == DNS_SEC_INSECURE)
		return row->host;
	if (row->dnssec_tlsa == DNS_SEC_INSECURE && row->tlsa_name[0])
		return row->tlsa_name;
	return NULL;
}

static void zone_next(struct check *c);

/* The walk is over: the result goes out. */
static void
zone_finish(struct check *c)
{
	if (c->qzone) {
		dns_cancel(c->qzone);
		c->qzone = NULL;
	}
	/* Freed with the check (check.c), not here: this may run inside
	 * the timer's own callback. */
	if (c->zone_timer)
		evtimer_del(c->zone_timer);
	event_active(c->done_ev, EV_TIMEOUT, 0);
}

static void
zone_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	zone_finish(arg);
}

/* True when an endpoint before `i` had the same unsigned record set; its
 * zone (named or not) is copied. */
static int
zone_shared(struct check *c, size_t i, const char *owner)
{
	char buf[DNS_NAME_MAX + 32];

	for (size_t j = 0; j < i; j++) {
		const struct check_endpoint *prev = &c->res->endpoints[j];
		const char *o = insecure_owner(c, prev, buf, sizeof(buf));
		if (o != NULL && !strcmp(o, owner)) {
			memcpy(c->res->endpoints[i].unsigned_zone,
			       prev->unsigned_zone,
			       sizeof(prev->unsigned_zone));
			return 1;
		}
	}
	return 0;
}

static void
zone_cb(struct dns_answer *a, void *arg)
{
	struct check *c = arg;
	struct check_endpoint *row = &c->res->endpoints[c->zone_ep];

	c->qzone = NULL;
	c->zone_answered = 1;
	if (a->status == DNS_ANSWER && a->n > 0 && !a->aliased) {
		snprintf(row->unsigned_zone, sizeof(row->unsigned_zone), "%s",
			 c->zone_q);
		c->zone_q[0] = '\0';
		c->zone_ep++;
	} else {
		char *dot = strchr(c->zone_q, '.');
		if (dot != NULL) {
			memmove(c->zone_q, dot + 1, strlen(dot + 1) + 1);
		} else {
			/* Not even the top-level name has a SOA: leave it
			 * unnamed rather than guess. */
			c->zone_q[0] = '\0';
			c->zone_ep++;
		}
	}
	dns_answer_free(a);
	if (!c->zone_in_lookup)
		zone_next(c);
}

/* Asks for the next SOA, or delivers the result when every insecure
 * endpoint has its zone.  A cached answer arrives inside dns_lookup(), so
 * this loops instead of recursing. */
static void
zone_next(struct check *c)
{
	char buf[DNS_NAME_MAX + 32];

	for (;;) {
		const char *owner = NULL;

		while (
		    c->zone_ep < c->res->nendpoints &&
		    ((owner = insecure_owner(c, &c->res->endpoints[c->zone_ep],
					     buf, sizeof(buf))) == NULL ||
		     (c->zone_q[0] == '\0' &&
		      zone_shared(c, c->zone_ep, owner))))
			c->zone_ep++;
		if (c->zone_ep >= c->res->nendpoints) {
			zone_finish(c);
			return;
		}
		if (c->zone_q[0] == '\0')
			snprintf(c->zone_q, sizeof(c->zone_q), "%s", owner);
		c->zone_answered = 0;
		c->zone_in_lookup = 1;
		int rc = dns_lookup(c->env->cfg.dns, c->zone_q, CHECK_T_SOA,
				    zone_cb, c, &c->qzone);
		c->zone_in_lookup = 0;
		if (rc < 0) {
			c->zone_q[0] = '\0';
			c->zone_ep++;
			continue;
		}
		if (!c->zone_answered)
			return; /* zone_cb goes on */
	}
}

void
check_zone_start(struct check *c)
{
	struct timeval tv = {CHECK_ZONE_DEADLINE_S, 0};

	c->zone_ep = 0;
	c->zone_q[0] = '\0';
	c->zone_timer = evtimer_new(c->env->cfg.base, zone_deadline, c);
	if (c->zone_timer)
		evtimer_add(c->zone_timer, &tv);
	zone_next(c);
}
