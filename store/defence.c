/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * defence.c - a domain's `defence` line (docs/store.md, version 3): text
 * the store keeps as it is, in the domain's one allocation (state.c
 * places it), read and written by component/defence_watch.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

int
store_domain_set_defence(struct store *st, const char *name, const char *text)
{
	struct dom *d = name ? store_dom_find(st, name) : NULL;
	struct store_unpacked *old;
	struct store_content c;
	int r;

	if (text && *text == '\0')
		text = NULL;
	if (d == NULL || (text && strlen(text) > STORE_TEXT_MAX))
		return -EINVAL;
	if (text == NULL ? d->pub.defence == NULL
			 : d->pub.defence && strcmp(d->pub.defence, text) == 0)
		return 0;
	if ((old = malloc(sizeof(*old))) == NULL)
		return -ENOMEM;
	store_dom_content(d, &c, old);
	c.defence = text;
	r = store_dom_pack(st, d, &c);
	free(old);
	return r < 0 ? r : 1;
}
