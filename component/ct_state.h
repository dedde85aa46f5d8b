/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * ct_state.h - a watched domain's Certificate Transparency state, typed:
 * the TLSA records it last published securely, the keys seen on its
 * endpoints in rounds with no open alarm, whether its last certificate
 * change kept the key, and the last CT_KEEP_EVENTS events judged for it
 * (docs/ct.md).  The store keeps it as `ct` lines (docs/store.md); the two
 * conversions, lines -> state and state -> lines, are here and nowhere
 * else.  Beside component/domain_state.h, which holds the rest of a
 * domain's state, so a round does not load 16 events it does not need.
 */
#ifndef CERTWATCH_CT_STATE_H
#define CERTWATCH_CT_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "ct/judge.h"
#include "ct/spool.h"
#include "probe/check.h"
#include "store/store.h"
#include "util/buf.h"

#define CT_KEEP_EVENTS 16 /* shown in status, /d/DOMAIN and the JSON */
#define CT_KEEP_TLSA 16
#define CT_TLSA_DATA_MAX 1024 /* a longer (full) record is not kept */
#define CT_KEEP_SEEN 16

/* One event as judged for one domain.  Pending: recorded, its alert not
 * yet sent (taken again after a crash); sent: done with. */
enum ct_status { CT_PENDING = 0, CT_SENT };

struct ct_record {
	enum ct_status status;
	enum ct_judged judged;
	int alarm, info;	/* the alert it gets (judge.h) */
	uint32_t warnings;	/* enum dane_warning bits */
	int64_t taken;		/* when the daemon took it */
	char tbs[65];		/* TBS_SHA256, "" for none */
	char spki[65];		/* the certificate's key, "" for none */
	char name[CT_NAME_LEN]; /* its name that covers the domain */
	char issuer[256];
	char serial[128];
	char log[256];
	char spool[64];		       /* the spool file's name */
	int64_t not_before, not_after; /* 0: unknown */
	int64_t entry;		       /* -1: unknown */
};

struct ct_tlsa_rec {
	uint8_t usage, selector, mtype;
	size_t len;
	uint8_t data[CT_TLSA_DATA_MAX];
};

struct ct_state {
	struct ct_tlsa_rec tlsa[CT_KEEP_TLSA]; /* as last seen secure */
	size_t ntlsa;
	uint8_t seen[CT_KEEP_SEEN][32]; /* SPKI SHA-256, oldest first */
	size_t nseen;
	char leaf_spki[65];		     /* the key of the last round */
	int64_t leaf_not_after;		     /* and its certificate's expiry */
	int kept_key;			     /* the last certificate change kept
					      * the key */
	struct ct_record ev[CT_KEEP_EVENTS]; /* oldest first */
	size_t nev;
};

/*
 * Store -> state (sd may be NULL: the empty state).  A domain with no
 * `seen` line yet (stored by an older certwatch) has no key seen until
 * its next round: the store's keys seen may hold an interceptor's.  A
 * line that does not parse is skipped: returns how many were, 0 for a
 * clean record.
 */
int ct_state_load(const struct store_domain *sd, struct ct_state *cs);

/* State -> the store's `ct` lines (appended to out, joined by '\n'). */
void ct_state_format(const struct ct_state *cs, struct buf *out);

/* Writes cs as sd's `ct` lines: 0 or the store's -errno. */
int ct_state_save(struct store *st, const char *domain,
		  const struct ct_state *cs);

/* The judge's view of cs (its pointers point into cs and recs, room for
 * CT_KEEP_TLSA). */
void ct_state_view(const struct ct_state *cs, const char *domain,
		   struct dns_tlsa *recs, struct ct_domain_view *v);

/* The event of cs with this identity (TBS_SHA256, else the spool name),
 * or NULL. */
struct ct_record *ct_state_find(struct ct_state *cs, const char *tbs,
				const char *spool);

/* Appends r (the oldest sent event goes when full; when all are pending,
 * the oldest). */
void ct_state_add(struct ct_state *cs, const struct ct_record *r);

/*
 * A round's result into cs: the TLSA records of its endpoints whose TLSA
 * answer was secure (kept as they were when none is), its keys into
 * `seen` unless `alarm_open`, and the leaf's key and expiry (a new expiry
 * with the same key: kept_key).  Returns 1 when cs changed.
 */
int ct_state_round(struct ct_state *cs, const struct check_result *r,
		   int alarm_open);

/* The `ct` member of the JSON of a domain (docs/ct.md): `"ct":[...]`,
 * the events newest first, with the endpoints of sd whose key is the
 * event's in `seen_on`.  For status, /d/DOMAIN and /api/domain. */
void ct_state_json(const struct store_domain *sd, struct buf *out);

/* The events as the table of /d/DOMAIN (id "ct"; nothing when none). */
void ct_state_html(const struct store_domain *sd, struct buf *out);

/* The events as text lines for the bot's `status DOMAIN` ("" when none). */
void ct_state_text(const struct store_domain *sd, struct buf *out);

#endif
