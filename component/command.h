/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * command.h - the chat command parser: a message body in, one command out.
 * Pure and bounded (it reads at most `len` bytes and looks at three words),
 * so it is tested on hostile input and fuzzable.
 */
#ifndef CERTWATCH_COMMAND_H
#define CERTWATCH_COMMAND_H

#include <stddef.h>

#include "component/names.h"

enum comp_cmd_kind {
	COMP_CMD_EMPTY = 0, /* only white space: no reply */
	COMP_CMD_HELP,
	COMP_CMD_CHECK,	      /* domain */
	COMP_CMD_SUBSCRIBE,   /* domain */
	COMP_CMD_UNSUBSCRIBE, /* domain, or all */
	COMP_CMD_STATUS,      /* optional domain */
	COMP_CMD_STATS,	      /* admins only */
	COMP_CMD_RECHECK,     /* admins only; domain */
	COMP_CMD_UNKNOWN,     /* anything else: the caller answers with help */
};

struct comp_cmd {
	enum comp_cmd_kind kind;
	int has_domain;
	int all;		   /* `unsubscribe all` */
	struct domain_name domain; /* when has_domain */
	char error[320];	   /* set when comp_cmd_parse returns -1 */
};

/*
 * Parses a chat body: a verb (any case, an optional leading '/' or '!'),
 * then its argument, separated by white space (ASCII or U+00A0).  A domain
 * is normalised with names_domain().  Returns 0, or -1 with a reply for the
 * user in out->error (a missing or extra argument, an invalid domain
 * naming the reason); out->kind is still the command recognised.
 */
int comp_cmd_parse(const char *body, size_t len, struct comp_cmd *out);

/* The verb of a command ("check"); NULL for EMPTY and UNKNOWN. */
const char *comp_cmd_name(enum comp_cmd_kind kind);

/* True for commands only admins may give. */
int comp_cmd_admin_only(enum comp_cmd_kind kind);

/* Usage text (several lines, ends with a newline); `admin` adds the
 * admin-only commands. */
const char *comp_cmd_help(int admin);

/*
 * Length of the next piece of `s` (len bytes) to send as one body of at
 * most `max` bytes: up to and including the last line end that fits; a
 * line longer than max is cut at a UTF-8 character boundary.  Returns len
 * when everything fits, and at least 1 when len > 0.
 */
size_t comp_cmd_split(const char *s, size_t len, size_t max);

#endif
