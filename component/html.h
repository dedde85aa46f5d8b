/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * html.h - the web page's HTML, rendered in one place from the same
 * check_result the bot and the CLI use, and from the store's view of a
 * watched domain.  Pure functions: every string that reaches the page is
 * escaped here (domains typed by strangers, certificate-derived text,
 * stream errors and unbound's reasons are attacker-controlled).
 */
#ifndef CERTWATCH_HTML_H
#define CERTWATCH_HTML_H

#include <stddef.h>
#include <time.h>

#include "component/names.h"
#include "probe/check.h"
#include "store/store.h"
#include "util/buf.h"

struct html_ctx {
	const char *base; /* prefix of every link: "" (root-relative)
			   * or "https://host/path" without a final / */
	const char *jid;  /* the component's JID, for xmpp: links */
	time_t now;	  /* for "3 minutes ago" */
};

/* The stylesheet served as /style.css (no inline styles anywhere: the
 * Content-Security-Policy allows only 'self'). */
extern const char html_stylesheet[];

/* GET /: what certwatch is and the form.  `value` pre-fills the field and
 * `error` (may be NULL) says why the last input was refused. */
void html_index(struct buf *out, const struct html_ctx *c, const char *value,
		const char *error);

/* The page that reloads itself while a check runs. */
void html_checking(struct buf *out, const struct html_ctx *c,
		   const struct domain_name *d, unsigned seconds);

/* The report of a check as a page. */
void html_result(struct buf *out, const struct html_ctx *c,
		 const struct check_result *r);

/* GET /d/DOMAIN: a watched domain's status at wall time `now` (its
 * defences' dates are judged then); next_round_s < 0: unknown. */
void html_domain(struct buf *out, const struct html_ctx *c,
		 const struct store_domain *d, time_t now, long next_round_s);

/* GET /d/DOMAIN for a domain nobody watches (answered with 404). */
void html_not_watched(struct buf *out, const struct html_ctx *c,
		      const struct domain_name *d);

/* Any other answer (400, 404, 405, 429, 503...): a title and a sentence. */
void html_error(struct buf *out, const struct html_ctx *c, const char *title,
		const char *text);

/* The two subscribe links (RFC 5122 URIs; XEP-0147 pubsub action), not
 * escaped for HTML: only unreserved bytes and %XX remain in the parts. */
void html_xmpp_chat_uri(struct buf *out, const char *jid, const char *domain);
void html_xmpp_pubsub_uri(struct buf *out, const char *jid, const char *domain);

#endif
