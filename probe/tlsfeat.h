/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * tlsfeat.h - the second stream of a c2s probe: the stream opened again
 * over a completed TLS session, read up to its features (probe.h,
 * struct probe_features).  Private to probe/.
 *
 * It borrows the session and the socket of its probe, never closes them,
 * and ends with exactly one callback (out filled in), unless stopped.
 */
#ifndef CERTWATCH_TLSFEAT_H
#define CERTWATCH_TLSFEAT_H

#include <gnutls/gnutls.h>

#include "probe/probe.h"

struct event_base;
struct tlsfeat;

typedef void (*tlsfeat_cb)(void *arg);

/*
 * Sends the stream header for `to` (jabber:client) over `session` and
 * reads the features into *out, for at most `budget_ms`.  NULL on
 * out-of-memory (out then says so).  The callback may call
 * tlsfeat_stop() but not tlsfeat_free().
 */
struct tlsfeat *tlsfeat_start(struct event_base *base, gnutls_session_t session,
			      int fd, const char *to, int budget_ms,
			      struct probe_features *out, tlsfeat_cb cb,
			      void *arg);

/* No more events and no callback; the session and socket may then go.
 * Ends a running read as failed with `why` (may be NULL). */
void tlsfeat_stop(struct tlsfeat *t, const char *why);

void tlsfeat_free(struct tlsfeat *t);

#endif
