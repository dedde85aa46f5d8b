/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * ct.c - the `ct` lines of a domain record (docs/store.md): Certificate
 * Transparency state the store keeps as opaque lines for
 * component/ct_state.c, apart from the packed blob a round rewrites.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

#define DOM_OF(p)                                                              \
	((struct dom *)(void *)((char *)(p)-offsetof(struct dom, pub)))

int
store_ct_collect(char **buf, size_t *n, const char *line)
{
	size_t len = strlen(line), old = *buf ? strlen(*buf) : 0;
	char *nb;

	if (*n >= STORE_CT_LINES || len == 0 || len > STORE_CT_LINE_MAX ||
	    memchr(line, '\n', len) != NULL)
		return -EINVAL;
	if ((nb = realloc(*buf, old + len + 2)) == NULL)
		return -ENOMEM;
	if (old)
		nb[old++] = '\n';
	memcpy(nb + old, line, len + 1);
	*buf = nb;
	(*n)++;
	return 0;
}

void
store_ct_each(const struct store_domain *v,
	      void (*put)(void *arg, const char *line), void *arg)
{
	const char *s = DOM_OF(v)->ct;
	char line[STORE_CT_LINE_MAX + 1];

	while (s && *s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);

		if (len > 0 && len <= STORE_CT_LINE_MAX) {
			memcpy(line, s, len);
			line[len] = '\0';
			put(arg, line);
		}
		s += len + (nl != NULL);
	}
}

const char *
store_domain_ct(const struct store_domain *v)
{
	return DOM_OF(v)->ct;
}

int
store_domain_set_ct(struct store *st, const char *name, const char *text)
{
	struct dom *d = name ? store_dom_find(st, name) : NULL;
	char *copy = NULL;
	size_t n = 0;

	if (d == NULL)
		return -EINVAL;
	if (text && *text) {
		/* Checked line by line, as a file's `ct` lines are read. */
		const char *s = text;
		char line[STORE_CT_LINE_MAX + 1];

		while (*s) {
			const char *nl = strchr(s, '\n');
			size_t len = nl ? (size_t)(nl - s) : strlen(s);

			if (len == 0 || len > STORE_CT_LINE_MAX) {
				free(copy);
				return -EINVAL;
			}
			memcpy(line, s, len);
			line[len] = '\0';
			int r = store_ct_collect(&copy, &n, line);

			if (r < 0) {
				free(copy);
				return r;
			}
			s += len + (nl != NULL);
		}
	}
	if ((copy == NULL && d->ct == NULL) ||
	    (copy && d->ct && strcmp(copy, d->ct) == 0)) {
		free(copy);
		return 0;
	}
	free(d->ct);
	d->ct = copy;
	store_mark(st, d->h.shard);
	return 0;
}
