/* SPDX-License-Identifier: GPL-3.0-or-later */
/* config_vantage.c - [probe] vantages = xmpp:JID and [vantage] allow. */
#include "component/config_vantage.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "component/config.h"

/* A bare JID (local@domain) or a domain JID, lower-cased in its domain
 * part, into out; -1 when it is neither or longer than max. */
static int
jid_norm(const char *s, size_t n, char *out, size_t max)
{
	const char *at = memchr(s, '@', n);
	size_t dom = at ? (size_t)(at - s) + 1 : 0;

	if (n == 0 || n > max || memchr(s, '/', n) ||
	    (at && (at == s || dom == n || memchr(at + 1, '@', n - dom))))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch <= ' ' || ch == ',' || ch == '"' || ch == '\'' ||
		    ch == '<' || ch == '>' || ch == '&')
			return -1;
		out[i] = (char)(i >= dom ? tolower(ch) : ch);
	}
	out[n] = '\0';
	/* The domain part: labels of letters, digits, '-' and dots, or
	 * UTF-8; no empty label. */
	return (out[dom] == '.' || out[n - 1] == '.' || strstr(out + dom, ".."))
		   ? -1
		   : 0;
}

int
config_vantage_xmpp(const char *tok, struct check_vantage *v, char *why,
		    size_t whylen)
{
	char jid[CONFIG_VANTAGE_JID_MAX + 1];
	const char *j = tok + 5;

	if (jid_norm(j, strlen(j), jid, CONFIG_VANTAGE_JID_MAX) < 0) {
		snprintf(why, whylen,
			 "\"%.80s\" is not xmpp: and a bare or "
			 "domain JID of at most %d bytes",
			 tok, CONFIG_VANTAGE_JID_MAX);
		return -1;
	}
	memset(v, 0, sizeof(*v));
	v->remote = 1;
	snprintf(v->name, sizeof(v->name), "xmpp:%s", jid);
	return 0;
}

int
config_vantage_allow(struct config *cfg, const char *val, char *why,
		     size_t whylen)
{
	const char *s = val;

	config_vantage_free(cfg);
	while (*s) {
		char jid[COMP_VANTAGE_ALLOW_LEN];
		size_t n;
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (!*s)
			break;
		n = strcspn(s, " \t,");
		if (cfg->nvantage_allow == CONFIG_MAX_ADMINS) {
			snprintf(why, whylen, "more than %d JIDs",
				 CONFIG_MAX_ADMINS);
			return -1;
		}
		if (jid_norm(s, n, jid, sizeof(jid) - 1) < 0) {
			snprintf(why, whylen,
				 "\"%.*s\" is not a bare or domain JID",
				 (int)(n > 80 ? 80 : n), s);
			return -1;
		}
		cfg->vantage_allow[cfg->nvantage_allow] = strdup(jid);
		if (cfg->vantage_allow[cfg->nvantage_allow] == NULL) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		cfg->nvantage_allow++;
		s += n;
	}
	return 0;
}

int
config_vantage_check(const struct config *cfg, char *why, size_t whylen)
{
	size_t remote = 0;

	for (size_t i = 0; i < cfg->nvantages; i++)
		remote += cfg->vantages[i].remote != 0;
	if (remote > 0 && remote == cfg->nvantages) {
		snprintf(why, whylen,
			 "[probe] vantages: an xmpp: vantage "
			 "needs a local one beside it (tor, direct or "
			 "socks5://): a remote vantage never decides an "
			 "endpoint alone (docs/vantages.md)");
		return -1;
	}
	return 0;
}

int
config_vantage_allowed(const struct config *cfg, const char *jid)
{
	char norm[COMP_VANTAGE_ALLOW_LEN];

	if (jid == NULL ||
	    jid_norm(jid, strlen(jid), norm, sizeof(norm) - 1) < 0)
		return 0;
	for (size_t i = 0; i < cfg->nvantage_allow; i++)
		if (!strcmp(cfg->vantage_allow[i], norm))
			return 1;
	return 0;
}

void
config_vantage_describe(const struct config *cfg, char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	if (cfg->nvantages > 0) {
		n += (size_t)snprintf(out, len, "vantages:");
		for (size_t i = 0; i < cfg->nvantages && n < len; i++)
			n += (size_t)snprintf(
			    out + n, len - n, " %s%s", cfg->vantages[i].name,
			    cfg->vantages[i].remote ? " (remote, asked over "
						      "XMPP)"
						    : "");
		if (n < len)
			n += (size_t)snprintf(out + n, len - n, "\n");
	}
	if (n < len)
		n +=
		    (size_t)snprintf(out + n, len - n, "vantage for others: %s",
				     cfg->nvantage_allow ? "answers" : "off");
	for (size_t i = 0; i < cfg->nvantage_allow && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, " %s",
				      cfg->vantage_allow[i]);
	if (n < len)
		snprintf(out + n, len - n, "\n");
}

void
config_vantage_free(struct config *cfg)
{
	for (size_t i = 0; i < cfg->nvantage_allow; i++)
		free(cfg->vantage_allow[i]);
	cfg->nvantage_allow = 0;
}

void
config_vantage_take(struct config *to, struct config *from)
{
	config_vantage_free(to);
	memcpy(to->vantage_allow, from->vantage_allow,
	       sizeof(to->vantage_allow));
	to->nvantage_allow = from->nvantage_allow;
	from->nvantage_allow = 0;
}
