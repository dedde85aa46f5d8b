/* SPDX-License-Identifier: GPL-3.0-or-later */
/* alert_kind.c - the words of the alert kinds (alert_kind.h). */
#include "component/alert_kind.h"

#include <string.h>

static const char *const names[] = {"none", "alarm",	 "removed",
				    "down", "recovered", "info"};

const char *
alert_kind_name(enum alert_kind k)
{
	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k]
							      : "none";
}

enum alert_kind
alert_kind_parse(const char *word)
{
	for (unsigned i = 0; word && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(word, names[i]))
			return (enum alert_kind)i;
	return ALERT_NONE;
}
