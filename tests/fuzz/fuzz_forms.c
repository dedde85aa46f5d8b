/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * fuzz_forms.c - reading a submitted XEP-0004 data form
 * (component/forms.h) the way the ad-hoc commands do, on hostile XML.
 *
 * Input: XML text, an <iq/> holding a <command/> or the <command/> itself,
 * turned into a stanza by libstrophe's own parser
 * (xmpp_stanza_new_from_string, the same expat underneath as the stream).
 * The form is found, its `domain` read into a buffer that fits and one
 * that does not, the value normalised as a domain; a value that was read
 * is echoed back in a new form (as the bot does after a bad domain),
 * serialised, parsed again and must read back the same.
 */
#include "fuzz.h"

#include <strophe.h>

#include "component/forms.h"
#include "component/names.h"

static xmpp_ctx_t *ctx;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	xmpp_initialize();
	ctx = xmpp_ctx_new(NULL, NULL);
	if (ctx == NULL)
		abort();
	return 0;
}

/* The echoed form, serialised and read again, gives the value back. */
static void
round_trip(const char *value)
{
	xmpp_stanza_t *form, *back;
	char *text = NULL, again[COMP_FORM_VALUE_MAX + 1];
	size_t len = 0;

	form = comp_form_ask_domain(ctx, "Check", "Give a domain.", value, 0);
	FUZZ_CHECK(form != NULL);
	FUZZ_CHECK(xmpp_stanza_to_text(form, &text, &len) == XMPP_EOK);
	back = xmpp_stanza_new_from_string(ctx, text);
	FUZZ_CHECK(back != NULL);
	FUZZ_CHECK(comp_form_value(back, "domain", again, sizeof(again)) == 1);
	/* An XML reader turns a bare CR into LF: not a difference a user
	 * could notice in an echoed value. */
	if (strchr(value, '\r') == NULL)
		FUZZ_CHECK(strcmp(again, value) == 0);
	xmpp_stanza_release(back);
	xmpp_free(ctx, text);
	xmpp_stanza_release(form);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *xml = fuzz_strdup(data, size);
	char value[COMP_FORM_VALUE_MAX + 1], small[8];
	xmpp_stanza_t *root, *command, *form;
	struct domain_name d;
	char why[256];
	int rc;

	root = xmpp_stanza_new_from_string(ctx, xml);
	free(xml);
	if (root == NULL)
		return 0;
	command = xmpp_stanza_get_child_by_name(root, "command");
	if (command == NULL)
		command = root;
	form = comp_form_find(command);
	if (form != NULL) {
		rc = comp_form_value(form, "domain", value, sizeof(value));
		FUZZ_CHECK(rc >= -1 && rc <= 1);
		FUZZ_CHECK(strlen(value) <= COMP_FORM_VALUE_MAX);
		FUZZ_CHECK(rc == 1 || value[0] == '\0');
		if (rc == 1) {
			(void)names_domain(value, strlen(value), &d, why,
					   sizeof(why));
			round_trip(value);
		}
		rc = comp_form_value(form, "domain", small, sizeof(small));
		FUZZ_CHECK(rc >= -1 && rc <= 1);
		FUZZ_CHECK(strlen(small) < sizeof(small));
		(void)comp_form_value(form, "other", small, sizeof(small));
	}
	xmpp_stanza_release(root);
	return 0;
}
