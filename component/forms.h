/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * forms.h - XEP-0004 data forms: building the forms the ad-hoc commands
 * show, and reading what a client submits.  No I/O; stanzas are
 * libstrophe's (build on any xmpp_ctx_t).  The readers are bounded and
 * refuse anything ambiguous (two forms, two values, oversized values).
 */
#ifndef CERTWATCH_FORMS_H
#define CERTWATCH_FORMS_H

#include <stddef.h>
#include <strophe.h>

#include "probe/check.h"

#define COMP_NS_DATA "jabber:x:data"

/* Longest field value a reader accepts (bytes). */
#define COMP_FORM_VALUE_MAX 1024

/*
 * A new <x xmlns='jabber:x:data' type=TYPE/> with an optional <title/> and
 * <instructions/> (NULL: none).  The caller owns the reference.
 */
xmpp_stanza_t *comp_form_new(xmpp_ctx_t *ctx, const char *type,
			     const char *title, const char *instructions);

/*
 * Adds a <field/> (var may be NULL for `fixed`; label, value may be NULL).
 * A text-multi value is split into one <value/> per line.
 */
void comp_form_add_field(xmpp_stanza_t *form, const char *var, const char *type,
			 const char *label, const char *value, int required);

/*
 * The form of a command that asks for a domain: one text-single field
 * `domain`, pre-filled with `value` (may be NULL), required unless
 * `optional`.
 */
xmpp_stanza_t *comp_form_ask_domain(xmpp_ctx_t *ctx, const char *title,
				    const char *instructions, const char *value,
				    int optional);

/*
 * The result of a check as a `result` form: the domain, its verdict, one
 * field per endpoint (var "endpoint.N", label "SERVICE HOST:PORT", value
 * "SERVICE HOST:PORT VERDICT KEY", KEY the SPKI SHA-256 hex or "-"), and
 * the full report as a text-multi field `report`.
 */
xmpp_stanza_t *comp_form_check_result(xmpp_ctx_t *ctx,
				      const struct check_result *r,
				      const char *report);

/* A `result` form with one text-multi field `result` holding `text`. */
xmpp_stanza_t *comp_form_text_result(xmpp_ctx_t *ctx, const char *title,
				     const char *text);

/*
 * The one jabber:x:data child of `parent` (a <command/>).  Returns NULL
 * when there is none or more than one.
 */
xmpp_stanza_t *comp_form_find(xmpp_stanza_t *parent);

/*
 * Reads the single value of field `var` of `form` into out (NUL-terminated,
 * outlen bytes).  Returns 1 when found, 0 when the field is absent or has
 * no value (out = ""), -1 when the form is ambiguous or hostile: the field
 * given twice, several values for a single-value field, a value longer
 * than COMP_FORM_VALUE_MAX or outlen - 1, or a NUL byte.
 */
int comp_form_value(xmpp_stanza_t *form, const char *var, char *out,
		    size_t outlen);

#endif
