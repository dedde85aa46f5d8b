/* SPDX-License-Identifier: GPL-3.0-or-later */
/* command.c - the chat command parser (pure, bounded). */
#include "component/command.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_WORD 1024 /* longer words are refused before names_domain */

struct word {
	const char *p;
	size_t len;
};

static const struct {
	const char *name;
	enum comp_cmd_kind kind;
} verbs[] = {
    {"help", COMP_CMD_HELP},
    {"check", COMP_CMD_CHECK},
    {"subscribe", COMP_CMD_SUBSCRIBE},
    {"unsubscribe", COMP_CMD_UNSUBSCRIBE},
    {"status", COMP_CMD_STATUS},
    {"stats", COMP_CMD_STATS},
    {"recheck", COMP_CMD_RECHECK},
    /* Words people try first. */
    {"?", COMP_CMD_HELP},
    {"usage", COMP_CMD_HELP},
    {"watch", COMP_CMD_SUBSCRIBE},
    {"unwatch", COMP_CMD_UNSUBSCRIBE},
};

/* Length of the white space at p (ASCII blanks or a UTF-8 U+00A0). */
static size_t
space_at(const char *p, size_t left)
{
	unsigned char c = (unsigned char)p[0];

	if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	    c == '\f')
		return 1;
	if (left >= 2 && c == 0xc2 && (unsigned char)p[1] == 0xa0)
		return 2;
	return 0;
}

/* Splits up to `max` words; returns how many were found (max + 1 when
 * there are more). */
static size_t
split(const char *s, size_t len, struct word *w, size_t max)
{
	size_t i = 0, n = 0, sp;

	while (i < len) {
		while (i < len && (sp = space_at(s + i, len - i)) > 0)
			i += sp;
		if (i >= len)
			break;
		if (n == max)
			return max + 1;
		w[n].p = s + i;
		while (i < len && space_at(s + i, len - i) == 0)
			i++;
		w[n].len = (size_t)(s + i - w[n].p);
		n++;
	}
	return n;
}

static int
word_is(const struct word *w, const char *lit)
{
	return w->len == strlen(lit) && strncasecmp(w->p, lit, w->len) == 0;
}

const char *
comp_cmd_name(enum comp_cmd_kind kind)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].kind == kind)
			return verbs[i].name;
	return NULL;
}

int
comp_cmd_admin_only(enum comp_cmd_kind kind)
{
	return kind == COMP_CMD_STATS || kind == COMP_CMD_RECHECK;
}

const char *
comp_cmd_help(int admin)
{
	if (admin)
		return "certwatch checks that an XMPP service shows the key "
		       "its operator published in DNSSEC-signed DANE TLSA "
		       "records.\n"
		       "  check DOMAIN        one check now, report follows\n"
		       "  subscribe DOMAIN    watch DOMAIN, alert me on "
		       "changes\n"
		       "  unsubscribe DOMAIN  stop (or: unsubscribe all)\n"
		       "  status [DOMAIN]     my subscriptions / one domain\n"
		       "  help                this text\n"
		       "Admin:\n"
		       "  stats               counters of the service\n"
		       "  recheck DOMAIN      check a watched domain now\n";
	return "certwatch checks that an XMPP service shows the key its "
	       "operator published in DNSSEC-signed DANE TLSA records.\n"
	       "  check DOMAIN        one check now, report follows\n"
	       "  subscribe DOMAIN    watch DOMAIN, alert me on changes\n"
	       "  unsubscribe DOMAIN  stop (or: unsubscribe all)\n"
	       "  status [DOMAIN]     my subscriptions / one domain\n"
	       "  help                this text\n";
}

static int
fail(struct comp_cmd *out, const char *fmt, const char *a, const char *b)
{
	snprintf(out->error, sizeof(out->error), fmt, a, b ? b : "");
	return -1;
}

static int
parse_domain(struct comp_cmd *out, const struct word *w)
{
	char why[200];
	char shown[80];
	size_t n = w->len < 60 ? w->len : 60;

	/* Show what was typed, cut short, never more than 60 bytes; a cut
	 * in a UTF-8 sequence is harmless in a reply's body text. */
	memcpy(shown, w->p, n);
	shown[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)shown[i] < 0x20 || shown[i] == 0x7f)
			shown[i] = '?';
	if (w->len > 60)
		strcat(shown, "...");
	if (w->len > MAX_WORD)
		return fail(out, "invalid domain \"%s\": %s", shown,
			    "too long");
	if (names_domain(w->p, w->len, &out->domain, why, sizeof(why)) < 0)
		return fail(out, "invalid domain \"%s\": %s", shown, why);
	out->has_domain = 1;
	return 0;
}

int
comp_cmd_parse(const char *body, size_t len, struct comp_cmd *out)
{
	struct word w[2];
	struct word verb;
	size_t n;
	const char *name;

	memset(out, 0, sizeof(*out));
	n = split(body, len, w, 2);
	if (n == 0) {
		out->kind = COMP_CMD_EMPTY;
		return 0;
	}
	verb = w[0];
	if (verb.len > 1 && (verb.p[0] == '/' || verb.p[0] == '!'))
		verb.p++, verb.len--;
	out->kind = COMP_CMD_UNKNOWN;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (word_is(&verb, verbs[i].name))
			out->kind = verbs[i].kind;
	if (out->kind == COMP_CMD_UNKNOWN)
		return 0;
	name = comp_cmd_name(out->kind);

	switch (out->kind) {
	case COMP_CMD_HELP:
	case COMP_CMD_STATS:
		/* Extra words after help or stats do no harm. */
		return 0;
	case COMP_CMD_STATUS:
		if (n == 1)
			return 0;
		if (n > 2)
			return fail(out,
				    "%s takes at most one domain, as in: "
				    "%s example.org",
				    name, name);
		return parse_domain(out, &w[1]);
	case COMP_CMD_UNSUBSCRIBE:
		if (n == 2 && word_is(&w[1], "all")) {
			out->all = 1;
			return 0;
		}
		/* fall through */
	case COMP_CMD_CHECK:
	case COMP_CMD_SUBSCRIBE:
	case COMP_CMD_RECHECK:
		if (n == 1)
			return fail(out,
				    "%s needs a domain, as in: "
				    "%s example.org",
				    name, name);
		if (n > 2)
			return fail(out,
				    "%s takes one domain, as in: "
				    "%s example.org",
				    name, name);
		return parse_domain(out, &w[1]);
	default:
		return 0;
	}
}

size_t
comp_cmd_split(const char *s, size_t len, size_t max)
{
	size_t cut;

	if (max == 0)
		max = 1;
	if (len <= max)
		return len;
	for (cut = max; cut > 0; cut--)
		if (s[cut - 1] == '\n')
			return cut;
	/* One line longer than max: cut before a continuation byte. */
	cut = max;
	while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;
	return cut > 0 ? cut : max;
}
