/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * webdomain.c - GET /api/domain?domain=NAME (docs/web.md): the state
 * certwatch keeps of a watched domain as JSON: its verdict and alert
 * state, each endpoint's last result, the keys seen per endpoint
 * (keys.h), the logged certificates (ct_state.h) and the defences of the
 * last round (defence_watch.h).  Read from the store only, no check is
 * started.  Bounded: at most STORE_ENDPOINTS_MAX endpoints and
 * KEYS_SEEN_MAX keys.
 */
#include "component/web_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component/ct_state.h"
#include "component/defence_watch.h"
#include "component/domain_state.h"
#include "component/names.h"
#include "component/report_keys.h"
#include "component/watch.h"
#include "store/store.h"

static void
json_word(struct buf *b, const char *key, const char *w)
{
	buf_printf(b, ",\"%s\":", key);
	if (w && *w)
		buf_json_str(b, w);
	else
		buf_puts(b, "null");
}

static void
domain_json(struct buf *b, const struct store_domain *d,
	    const struct domain_name *dn, long next)
{
	struct domain_state *ds = xcalloc(1, sizeof(*ds));
	struct keys_state *ks = xcalloc(1, sizeof(*ks));

	(void)domain_state_load(d, ds, NULL, 0);
	(void)domain_state_keys_load(d, ks, NULL, 0);
	buf_puts(b, "{\"domain\":");
	buf_json_str(b, dn->a);
	buf_puts(b, ",\"domain_u\":");
	buf_json_str(b, dn->u);
	json_word(b, "verdict", verdict_name(ds->alert.verdict));
	json_word(b, "alert",
		  ds->alert.last != ALERT_NONE ? alert_kind_name(ds->alert.last)
					       : NULL);
	buf_printf(b,
		   ",\"last_check\":%lld,\"last_change\":%lld,"
		   "\"next_check_in\":",
		   (long long)d->last_check, (long long)d->last_change);
	if (next >= 0)
		buf_printf(b, "%ld", next);
	else
		buf_puts(b, "null");
	buf_puts(b, ",\"endpoints\":[");
	for (size_t i = 0; i < ds->n; i++) {
		const struct endpoint_state *e = &ds->ep[i];
		buf_puts(b, i ? ",{\"service\":" : "{\"service\":");
		buf_json_str(b, check_service_name(e->service));
		buf_puts(b, ",\"host\":");
		buf_json_str(b, e->host);
		buf_printf(b, ",\"port\":%u", e->port);
		json_word(b, "verdict", verdict_name(e->verdict));
		json_word(b, "spki_sha256", e->spki);
		json_word(b, "error", e->error);
		buf_putc(b, '}');
	}
	buf_puts(b, "],\"continuity\":");
	report_keys_json(b, ks);
	buf_putc(b, ',');
	ct_state_json(d, b); /* the logged certificates (docs/ct.md) */
	buf_puts(b, ",\"defences\":");
	defence_state_json(&ds->def, b); /* docs/usage.md "Defences" */
	buf_puts(b, "}\n");
	free(ks);
	free(ds);
}

void
webdomain_handle(struct web *web, struct evhttp_request *req)
{
	int bad;
	char *input = webcheck_query_domain(req, &bad);
	const struct store_domain *d = NULL;
	struct domain_name dn;
	char err[256];
	struct buf b = BUF_INIT;

	if (input == NULL || *input == '\0' ||
	    names_domain(input, strlen(input), &dn, err, sizeof(err)) < 0) {
		free(input);
		web_reply_json_error(web, req, 400,
				     bad ? "malformed query"
					 : "not a domain name (domain=NAME)",
				     0);
		return;
	}
	free(input);
	if (web->st)
		d = store_domain_get(web->st, dn.a);
	if (d == NULL || d->n_chat + d->n_pubsub == 0) {
		web_reply_json_error(web, req, 404, "not watched", 0);
		return;
	}
	domain_json(&b, d, &dn,
		    web->watch ? watch_next_round_in(web->watch, dn.a) : -1);
	web_reply(web, req, 200, "application/json", b.s, b.len, NULL);
	buf_free(&b);
}
