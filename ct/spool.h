/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * spool.h - one Certificate Transparency event as `certwatch ct-hook`
 * spools it for the daemon: the struct, its text file format (docs/ct.md,
 * "The spool file") and a pure, bounded parser for reading it back.
 *
 * The hook writes one file per event into STORE/ct/spool/ (temp file,
 * fsync, rename to NAME CT_SPOOL_SUFFIX, fsync of the directory); the
 * daemon reads each whole file with ct_spool_parse.  Nothing here logs,
 * allocates for the caller or touches the file system.
 */
#ifndef CERTWATCH_CT_SPOOL_H
#define CERTWATCH_CT_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define CT_SPOOL_MAGIC "certwatch-ct 1"
#define CT_SPOOL_SUFFIX ".ct"  /* complete files; temp files start "." */
#define CT_SPOOL_MAX 131072    /* bytes of one spool file, at most */
#define CT_CERT_DER_MAX 32768  /* bytes of the logged certificate */
#define CT_CERT_PEM_MAX 65536  /* bytes of CERT_FILENAME the hook reads */
#define CT_CHAIN_MAX 4	       /* issuer certificates kept after the leaf */
#define CT_CHAIN_DER_MAX 32768 /* their bytes, together */

/* What the hook could make of CERT_FILENAME.  Anything but CT_CERT_OK is
 * judged `malformed` (docs/ct.md). */
enum ct_cert_state {
	CT_CERT_OK = 0,	    /* cert_der and spki_sha256 are set */
	CT_CERT_ABSENT,	    /* no CERT_FILENAME in the environment */
	CT_CERT_UNREADABLE, /* it could not be opened or read, or too big */
	CT_CERT_MALFORMED,  /* read, but not one PEM X.509 certificate */
};

/*
 * One event.  Strings are NUL-terminated and never hold a NUL; the hook
 * cuts longer environment values to these sizes.  Hashes are lower-case
 * hex, 64 digits, or empty when certspotter gave none (or garbage).
 */
struct ct_event {
	char event[64];	       /* EVENT: discovered_cert, malformed_cert,
				* error, or one certwatch does not know */
	char summary[1024];    /* SUMMARY */
	char watch_item[256];  /* WATCH_ITEM */
	char tbs_sha256[65];   /* TBS_SHA256: cert and precert share it */
	char cert_sha256[65];  /* CERT_SHA256 */
	char issuer_dn[1024];  /* ISSUER_DN */
	char subject_dn[1024]; /* SUBJECT_DN */
	char serial[256];      /* SERIAL */
	char log_uri[512];     /* LOG_URI */
	int has_not_before, has_not_after, has_entry_index;
	int64_t not_before;   /* NOT_BEFORE_UNIXTIME */
	int64_t not_after;    /* NOT_AFTER_UNIXTIME */
	uint64_t entry_index; /* ENTRY_INDEX */
	enum ct_cert_state cert_state;
	char cert_error[256]; /* why not CT_CERT_OK, for people */
	char spki_sha256[65]; /* of the certificate's key (GnuTLS) */
	uint8_t cert_der[CT_CERT_DER_MAX];
	size_t cert_len;
	/* The chain certspotter saved after the leaf (the issuers, for a
	 * DANE-TA record), back to back in chain_der; none without cert. */
	uint8_t chain_der[CT_CHAIN_DER_MAX];
	size_t chain_len[CT_CHAIN_MAX];
	size_t nchain;
};

/* Zeroes *ev: every string empty, cert_state CT_CERT_ABSENT. */
void ct_event_init(struct ct_event *ev);

/* The file format's word for a state ("ok", "absent", ...). */
const char *ct_cert_state_word(enum ct_cert_state s);

/*
 * Appends the spool file for *ev to out.  Values are escaped (docs/ct.md),
 * so any bytes in the strings give one line each; output is at most
 * CT_SPOOL_MAX bytes for any *ev that respects the sizes above.
 */
void ct_spool_format(const struct ct_event *ev, struct buf *out);

/*
 * Parses one spool file of `len` bytes (not NUL-terminated) into *ev.
 * Returns 0, or -1 with a one-line reason in err (owned by the caller,
 * may be NULL): over CT_SPOOL_MAX, no magic line, a malformed or over-long
 * line or value, a key given twice, a required key missing, or no final
 * "end" line (a torn file).  Unknown keys are skipped, for files of a
 * later version.  *ev is unspecified after -1.
 */
int ct_spool_parse(const char *text, size_t len, struct ct_event *ev, char *err,
		   size_t errlen);

#endif
