/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * log.h - one line per event on stderr (journald adds the time), at the
 * level of [log] level.  Only component/ logs: the libraries return errors
 * and the edge decides what to tell a person.  Never log a secret.
 */
#ifndef CERTWATCH_LOG_H
#define CERTWATCH_LOG_H

#include "component/config.h"

void log_set_level(enum log_level level);
enum log_level log_get_level(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Before the event loop only: logs and exits with `code`. */
void fatal(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

#endif
