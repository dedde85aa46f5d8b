/* SPDX-License-Identifier: GPL-3.0-or-later */
/* log.c - leveled one-line logging to stderr. */
#include "component/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static enum log_level current = LOG_LEVEL_INFO;

void
log_set_level(enum log_level level)
{
	current = level;
}

enum log_level
log_get_level(void)
{
	return current;
}

static void
vlog(enum log_level level, const char *fmt, va_list ap)
{
	/* The <N> prefixes are sd-daemon(3) priorities: journald files each
	 * line at its level; on a terminal they are still readable. */
	static const char *const prefix[] = {
	    "<3>error: ", "<4>warning: ", "<6>", "<7>debug: "};
	char line[2048];
	int n;

	if (level > current)
		return;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	/* One event, one line: a newline from remote text would forge one. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	fprintf(stderr, "%s%s\n", isatty(2) ? prefix[level] + 3 : prefix[level],
		line);
}

#define LOG_FN(name, level)                                                    \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		vlog(level, fmt, ap);                                          \
		va_end(ap);                                                    \
	}

LOG_FN(log_error, LOG_LEVEL_ERROR)
LOG_FN(log_warn, LOG_LEVEL_WARN)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_debug, LOG_LEVEL_DEBUG)

void
fatal(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(code);
}
