/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * iqtab.h - the bot's IQ handler table: (namespace, element name, IQ type)
 * -> function, in the shape of libstrophe's xmpp_handler_add().  Each
 * peer (disco#info, disco#items, version, ping, ad-hoc commands, pubsub)
 * registers its own rows; the bot looks up the payload of an iq get/set
 * (RFC 6120 §8.2.3) and answers <service-unavailable/> when no row fits
 * (RFC 6120 §8.3.3.19).  The table is bounded and refuses duplicates.
 */
#ifndef CERTWATCH_IQTAB_H
#define CERTWATCH_IQTAB_H

#include <stddef.h>

#define IQTAB_MAX 16 /* rows; registrations beyond are refused */

/* IQ types a row answers (a bit mask). */
enum iqtab_type {
	IQTAB_GET = 1,
	IQTAB_SET = 2,
};

/*
 * A handler: `userdata` as registered, `call` as given to
 * iqtab_dispatch() (the bot passes its struct comp_iq_call).  Returns 1
 * when it answered the iq (now or later), 0 to leave it unanswered so
 * the caller sends <service-unavailable/>.
 */
typedef int (*iqtab_fn)(void *userdata, void *call);

struct iqtab_row {
	const char *ns; /* not copied: must outlive the table */
	const char *name;
	unsigned types; /* IQTAB_GET | IQTAB_SET */
	iqtab_fn fn;
	void *userdata;
};

struct iqtab {
	struct iqtab_row rows[IQTAB_MAX];
	size_t n;
};

void iqtab_init(struct iqtab *t);

/*
 * Adds a row.  -1 when the table is full, an argument is NULL or empty,
 * `types` is not a non-empty subset of IQTAB_GET|IQTAB_SET, or a row
 * already answers one of those types for the same (ns, name).
 */
int iqtab_add(struct iqtab *t, iqtab_fn fn, const char *ns, const char *name,
	      unsigned types, void *userdata);

/* Removes the rows of (ns, name) registered with fn; how many. */
size_t iqtab_remove(struct iqtab *t, iqtab_fn fn, const char *ns,
		    const char *name);

/*
 * Calls the handler for (ns, name, type) with `call` and returns its
 * result; 0 when no row fits (type is IQTAB_GET or IQTAB_SET).
 */
int iqtab_dispatch(const struct iqtab *t, const char *ns, const char *name,
		   unsigned type, void *call);

#endif
