/* SPDX-License-Identifier: GPL-3.0-or-later */
/* iqtab.c - the bot's IQ handler table (see iqtab.h). */
#include "component/iqtab.h"

#include <string.h>

#define IQTAB_ALL (IQTAB_GET | IQTAB_SET)

void
iqtab_init(struct iqtab *t)
{
	memset(t, 0, sizeof(*t));
}

static const struct iqtab_row *
find(const struct iqtab *t, const char *ns, const char *name, unsigned type)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct iqtab_row *r = &t->rows[i];
		if ((r->types & type) != 0 && strcmp(r->ns, ns) == 0 &&
		    strcmp(r->name, name) == 0)
			return r;
	}
	return NULL;
}

int
iqtab_add(struct iqtab *t, iqtab_fn fn, const char *ns, const char *name,
	  unsigned types, void *userdata)
{
	struct iqtab_row *r;

	if (fn == NULL || ns == NULL || name == NULL || *ns == '\0' ||
	    *name == '\0' || types == 0 || (types & ~IQTAB_ALL) != 0)
		return -1;
	if (t->n >= IQTAB_MAX || find(t, ns, name, types) != NULL)
		return -1;
	r = &t->rows[t->n++];
	r->ns = ns;
	r->name = name;
	r->types = types;
	r->fn = fn;
	r->userdata = userdata;
	return 0;
}

size_t
iqtab_remove(struct iqtab *t, iqtab_fn fn, const char *ns, const char *name)
{
	size_t i = 0, gone = 0;

	while (i < t->n) {
		struct iqtab_row *r = &t->rows[i];
		if (r->fn == fn && strcmp(r->ns, ns) == 0 &&
		    strcmp(r->name, name) == 0) {
			memmove(r, r + 1, (t->n - i - 1) * sizeof(*r));
			t->n--;
			gone++;
		} else {
			i++;
		}
	}
	return gone;
}

int
iqtab_dispatch(const struct iqtab *t, const char *ns, const char *name,
	       unsigned type, void *call)
{
	const struct iqtab_row *r;

	if (ns == NULL || name == NULL ||
	    (type != IQTAB_GET && type != IQTAB_SET))
		return 0;
	r = find(t, ns, name, type);
	return r != NULL ? r->fn(r->userdata, call) : 0;
}
