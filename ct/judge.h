/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * judge.h - judging one logged certificate (a spooled struct ct_event) for
 * one watched domain: known, unpublished (alarm or info), new, malformed
 * (docs/ct.md, "What each judgement means").  Pure: no I/O, no clock, no
 * allocation for the caller; GnuTLS reads the certificate and
 * probe/dane.c matches it against the domain's TLSA records.
 */
#ifndef CERTWATCH_CT_JUDGE_H
#define CERTWATCH_CT_JUDGE_H

#include <stddef.h>
#include <stdint.h>

#include "ct/spool.h"
#include "dns/dns.h"

enum ct_judged {
	CT_KNOWN = 0,	/* a secure TLSA record or a seen key allows it */
	CT_UNPUBLISHED, /* secure TLSA, and they do not allow it */
	CT_NEW,		/* no secure TLSA and a key never seen */
	CT_MALFORMED,	/* no certificate certwatch could read */
	CT_JUDGED_COUNT
};

/* The JSON and metric word: "known", "unpublished", "new", "malformed". */
const char *ct_judged_word(enum ct_judged j);

/*
 * What the judge needs to know of one watched domain, from its state.
 * `tlsa` are its TLSA records as last seen secure (ntlsa 0: none, or
 * never secure).  `seen` are the SPKI SHA-256 of the keys seen on its
 * endpoints in rounds with no open alarm.  `kept_key` is set when its
 * last certificate change kept the key (a domain that renews without a
 * new key, so one it did not publish is not a renewal).
 */
struct ct_domain_view {
	const char *domain; /* A-label, lower case */
	const struct dns_tlsa *tlsa;
	size_t ntlsa;
	const uint8_t (*seen)[32];
	size_t nseen;
	int kept_key;
};

struct ct_judgement {
	enum ct_judged judged;
	int alarm;	     /* unpublished on a domain that publishes keys
			      * ahead, with selector 1 records only */
	int info;	     /* an info alert: new, or unpublished without
			      * the alarm */
	int publishes_ahead; /* a selector 1 record matches no seen key,
			      * or kept_key */
	int matched;	     /* TLSA record that allowed it, -1: none */
	uint32_t warnings;   /* enum dane_warning bits (weak-ta) */
};

/*
 * Judges *ev for *d.  A precertificate is judged as its certificate: the
 * key and names are the same.  Record usages 1 and 0 are matched as 3
 * and 2 (the CA that logged it is what a PKIX check would ask about; the
 * question here is the key), with the leaf's own validity as the time.
 */
void ct_judge(const struct ct_event *ev, const struct ct_domain_view *d,
	      struct ct_judgement *out);

/*
 * RFC 6125 §6.4.3: whether the DNS-ID `id` of a certificate covers the
 * reference name `name` (both A-labels, any case).  A wildcard only as
 * the whole left-most label of an id of three labels or more, matching
 * exactly one label; no partial wildcards ("w*.example.org").
 */
int ct_name_covers(const char *id, const char *name);

#define CT_NAMES_MAX 100
#define CT_NAME_LEN 254

/*
 * The DNS-IDs of a DER certificate (subjectAltName dNSName, or the
 * subject's CN when it has none, RFC 6125 §6.4.4), lower case, at most
 * `max`.  Names with bytes outside LDH, '.' and a leading "*." are
 * skipped.  Returns how many, or -1 when GnuTLS cannot read it.
 */
int ct_cert_names(const uint8_t *der, size_t len, char (*names)[CT_NAME_LEN],
		  size_t max);

/*
 * A certificate and its precertificate share TBS_SHA256 (RFC 6962 §3.2):
 * the daemon remembers the last CT_TBS_REMEMBER of them, beyond the events
 * kept for display, so the second is not a second event.
 */
#define CT_TBS_REMEMBER 4096
struct ct_tbs_set {
	char h[CT_TBS_REMEMBER][65];
	size_t next, n;
};

/* 1 when `tbs` (64 hex digits) was remembered before; else remembers it
 * (the oldest is forgotten) and returns 0.  An empty or malformed `tbs`
 * is never a duplicate and not remembered. */
int ct_tbs_seen(struct ct_tbs_set *s, const char *tbs);

#endif
