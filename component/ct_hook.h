/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * ct_hook.h - `certwatch ct-hook -c FILE`: certspotter's hook
 * (certspotter-script(8)).  It reads only [store] of the config, takes no
 * lock and spools one event file into STORE/ct/spool/ (ct/spool.h,
 * docs/ct.md); the daemon need not be running.
 */
#ifndef CERTWATCH_CT_HOOK_H
#define CERTWATCH_CT_HOOK_H

#include "ct/spool.h"

/* Exit codes: 0 spooled (any EVENT, unknown ones and unreadable
 * certificates included); 1 nothing could be spooled; 2 usage; 78 the
 * config's [store] could not be read. */
int ct_hook_main(int argc, char **argv);

/*
 * Fills *ev from certspotter's variables through `get` (getenv in the
 * command; a table in tests) and the certificate file CERT_FILENAME names
 * (PEM, at most CT_CERT_PEM_MAX bytes; its first certificate).  Over-long
 * values are cut to the fields' sizes; a hash that is not 64 hex digits
 * or a time that is not a number is left out.  Never fails: a certificate
 * it cannot read or parse leaves cert_state and cert_error saying why.
 */
void ct_hook_event(struct ct_event *ev, const char *(*get)(const char *name));

/*
 * Writes *ev durably as a new file in `spool_dir` (created with mode 0700,
 * as is its parent, when missing): a temp file, fsync, rename to a unique
 * NAME CT_SPOOL_SUFFIX, fsync of the directory.  0, or -1 with err.
 * The new file's path goes to path (may be NULL).
 */
int ct_hook_spool(const struct ct_event *ev, const char *spool_dir, char *path,
		  size_t pathlen, char *err, size_t errlen);

#endif
