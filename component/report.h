/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * report.h - rendering a check_result, in one place: the text the bot and
 * the terminal show, the monitoring-plugin first line, and the JSON of
 * `certwatch check --json`.  Pure functions.
 */
#ifndef CERTWATCH_REPORT_H
#define CERTWATCH_REPORT_H

#include "probe/check.h"
#include "util/buf.h"

/* "CERTWATCH OK - good.test: ok (4 endpoints)" without a newline. */
void report_status_line(const struct check_result *r, struct buf *out);

/* The full human report (several lines, ends with a newline): verdict,
 * endpoints, keys, what to do.  The bot and the CLI send the same text. */
void report_text(const struct check_result *r, struct buf *out);

/* One short line for lists ("good.test: ok"). */
void report_summary(const struct check_result *r, struct buf *out);

/* The JSON object of SPEC.md ("check --json"), one line plus newline. */
void report_json(const struct check_result *r, struct buf *out);

/* What the operator should do about the domain's verdict, one paragraph. */
const char *report_advice(enum verdict v);

#endif
