/* SPDX-License-Identifier: GPL-3.0-or-later */
/* config.c - the INI configuration file: defaults, parser, checks. */
#include "component/config.h"
#include "component/config_vantage.h"
#include "component/webaddr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAX_LINE 4096

/* The parser's state: where we are, for messages. */
struct cparse {
	struct config *cfg;
	const char *path;
	unsigned line;
	char section[32];
	char *err;
	size_t errlen;
};

static int cerr(struct cparse *p, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
cerr(struct cparse *p, const char *key, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (key != NULL)
		snprintf(p->err, p->errlen, "%s:%u: [%s] %s: %s", p->path,
			 p->line, p->section, key, what);
	else
		snprintf(p->err, p->errlen, "%s:%u: %s", p->path, p->line,
			 what);
	return -1;
}

static int
set_str(struct cparse *p, const char *key, const char *val, char *dst,
	size_t dstlen)
{
	if (strlen(val) >= dstlen)
		return cerr(p, key, "value too long (at most %zu bytes)",
			    dstlen - 1);
	memcpy(dst, val, strlen(val) + 1);
	return 0;
}

static int
set_uint(struct cparse *p, const char *key, const char *val, unsigned min,
	 unsigned max, unsigned *dst)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)val[0]))
		return cerr(p, key, "expected a number, got \"%s\"", val);
	errno = 0;
	v = strtoul(val, &end, 10);
	if (errno || *end != '\0')
		return cerr(p, key, "expected a number, got \"%s\"", val);
	if (v < min || v > max)
		return cerr(p, key, "%lu is out of range (%u to %u)", v, min,
			    max);
	*dst = (unsigned)v;
	return 0;
}

static int
set_bool(struct cparse *p, const char *key, const char *val, int *dst)
{
	if (!strcasecmp(val, "yes") || !strcasecmp(val, "true") ||
	    !strcmp(val, "1") || !strcasecmp(val, "on"))
		*dst = 1;
	else if (!strcasecmp(val, "no") || !strcasecmp(val, "false") ||
		 !strcmp(val, "0") || !strcasecmp(val, "off"))
		*dst = 0;
	else
		return cerr(p, key, "expected yes or no, got \"%s\"", val);
	return 0;
}

/* "HOST:PORT" with a numeric address ("[v6]:port" for IPv6). */
static int
set_hostport(struct cparse *p, const char *key, const char *val, char *host,
	     size_t hostlen, uint16_t *port)
{
	const char *colon = strrchr(val, ':');
	char h[64];
	unsigned pt;
	unsigned char tmp[16];

	if (colon == NULL || colon == val)
		return cerr(p, key, "expected ADDRESS:PORT, got \"%s\"", val);
	size_t hl = (size_t)(colon - val);
	if (val[0] == '[' && hl > 2 && val[hl - 1] == ']') {
		val++;
		hl -= 2;
	}
	if (hl >= sizeof(h) || hl >= hostlen)
		return cerr(p, key, "address too long");
	memcpy(h, val, hl);
	h[hl] = '\0';
	if (inet_pton(AF_INET, h, tmp) != 1 && inet_pton(AF_INET6, h, tmp) != 1)
		return cerr(p, key, "\"%s\" is not a numeric IP address", h);
	if (set_uint(p, key, colon + 1, 1, 65535, &pt) < 0)
		return -1;
	memcpy(host, h, hl + 1);
	*port = (uint16_t)pt;
	return 0;
}

/* "tor, direct, socks5://HOST:PORT": tor is the tor_socks proxy with a
 * circuit of its own per probe (fresh SOCKS credentials, Tor's
 * IsolateSOCKSAuth); each more tor is named tor2, tor3, ... */
static int
set_vantages(struct cparse *p, const char *key, const char *val)
{
	struct config *c = p->cfg;
	char list[1024], *save = NULL;
	unsigned ntor = 0;

	if (set_str(p, key, val, list, sizeof(list)) < 0)
		return -1;
	c->nvantages = 0;
	for (char *t = strtok_r(list, ", \t", &save); t != NULL;
	     t = strtok_r(NULL, ", \t", &save)) {
		if (c->nvantages == CHECK_MAX_VANTAGES)
			return cerr(p, key, "at most %d vantages",
				    CHECK_MAX_VANTAGES);
		struct check_vantage *v = &c->vantages[c->nvantages];
		memset(v, 0, sizeof(*v));
		if (!strcmp(t, "tor")) {
			v->via_socks = 1;
			if (ntor++ == 0)
				snprintf(v->name, sizeof(v->name), "tor");
			else
				snprintf(v->name, sizeof(v->name), "tor%u",
					 ntor);
		} else if (!strcmp(t, "direct")) {
			snprintf(v->name, sizeof(v->name), "direct");
		} else if (!strncmp(t, "socks5://", 9)) {
			v->via_socks = 1;
			if (set_hostport(p, key, t + 9, v->socks_host,
					 sizeof(v->socks_host),
					 &v->socks_port) < 0)
				return -1;
			snprintf(v->name, sizeof(v->name), "%.70s", t);
		} else if (!strncmp(t, "xmpp:", 5)) {
			/* A remote vantage (config_vantage.c). */
			char why[256];
			if (config_vantage_xmpp(t, v, why, sizeof(why)) < 0)
				return cerr(p, key, "%s", why);
		} else {
			return cerr(p, key,
				    "expected tor, direct, "
				    "socks5://ADDRESS:PORT or xmpp:JID, got "
				    "\"%s\"",
				    t);
		}
		c->nvantages++;
	}
	if (c->nvantages == 0)
		return cerr(p, key, "no vantage given");
	return 0;
}

static int
set_admins(struct cparse *p, const char *key, const char *val)
{
	struct config *cfg = p->cfg;
	const char *s = val;

	for (size_t i = 0; i < cfg->nadmins; i++)
		free(cfg->admins[i]);
	cfg->nadmins = 0;
	while (*s) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (!*s)
			break;
		size_t n = strcspn(s, " \t,");
		if (cfg->nadmins == CONFIG_MAX_ADMINS)
			return cerr(p, key, "more than %d admins",
				    CONFIG_MAX_ADMINS);
		if (n > 3071 || memchr(s, '@', n) == NULL || memchr(s, '/', n))
			return cerr(p, key,
				    "\"%.*s\" is not a bare JID (user@domain)",
				    (int)(n > 80 ? 80 : n), s);
		char *jid = strndup(s, n);
		if (jid == NULL)
			return cerr(p, key, "out of memory");
		/* The domain part compares case-insensitively. */
		for (char *d = strchr(jid, '@'); *d; d++)
			*d = (char)tolower((unsigned char)*d);
		cfg->admins[cfg->nadmins++] = jid;
		s += n;
	}
	return 0;
}

/* Rules a key's value must follow beyond its type; they may also note
 * where the key was (jid, secret_file). */
static int
check_jid(struct cparse *p, const char *key, const char *val)
{
	if (strchr(val, '@') || strchr(val, '/') || !*val)
		return cerr(p, key,
			    "expected a domain JID such as "
			    "certwatch.example.org");
	p->cfg->have_component = 1;
	return 0;
}

static int
check_secret_file(struct cparse *p, const char *key, const char *val)
{
	(void)key;
	(void)val;
	p->cfg->secret_file_line = p->line;
	return 0;
}

static int
check_nonempty(struct cparse *p, const char *key, const char *val)
{
	return *val ? 0 : cerr(p, key, "must not be empty");
}

static int
check_listen(struct cparse *p, const char *key, const char *val)
{
	char h[64];
	uint16_t port;

	if (!*val)
		return 0;
	if (set_hostport(p, key, val, h, sizeof(h), &port) < 0)
		return -1;
	/* The listener reads "A:B::C:8080" as an IPv6 address on a port of
	 * the kernel's choosing; say so here, not at start. */
	if (strchr(h, ':') && val[0] != '[')
		return cerr(p, key,
			    "write an IPv6 address in brackets: [%s]:%u", h,
			    port);
	return 0;
}

static int
check_url(struct cparse *p, const char *key, const char *val)
{
	if (*val && strncmp(val, "http://", 7) && strncmp(val, "https://", 8))
		return cerr(p, key, "expected an http:// or https:// URL");
	return 0;
}

static int
check_proxies(struct cparse *p, const char *key, const char *val)
{
	struct webaddr_proxies wp;
	char why[256];

	if (webaddr_proxies_parse(val, &wp, why, sizeof(why)) < 0)
		return cerr(p, key, "%s", why);
	return 0;
}

static int
check_exec(struct cparse *p, const char *key, const char *val)
{
	if (*val && strchr(val, '/') && val[0] != '/')
		return cerr(p, key,
			    "expected an absolute path or a name to "
			    "look up in PATH");
	return 0;
}

static int
check_logs(struct cparse *p, const char *key, const char *val)
{
	if (*val && val[0] != '/' && strncmp(val, "https://", 8) &&
	    strncmp(val, "http://", 7))
		return cerr(p, key,
			    "expected an absolute path or an http:// or "
			    "https:// URL");
	return 0;
}

static const char *const via_words[] = {"direct", "tor", NULL};
static const char *const level_words[] = {"error", "warn", "info", "debug",
					  NULL};

#define F(field)                                                               \
	offsetof(struct config, field), sizeof(((struct config *)0)->field)
#define STR(s, n, field, def, rl, chk)                                         \
	{                                                                      \
		s, n, CONFIG_STR, F(field), 0, 0, 0, NULL, def, rl, 0, chk     \
	}
#define UINT(s, n, field, lo, hi, def, rl)                                     \
	{                                                                      \
		s, n, CONFIG_UINT, F(field), 0, lo, hi, NULL, def, rl, 0, NULL \
	}
#define BOOL(s, n, field, def, rl)                                             \
	{                                                                      \
		s, n, CONFIG_BOOL, F(field), 0, 0, 1, NULL, def, rl, 0, NULL   \
	}

/* Every key of docs/running.md "Configuration reference", in its order. */
const struct config_key config_keys[] = {
    STR("component", "jid", jid, NULL, 0, check_jid),
    STR("component", "host", host, "127.0.0.1", 0, NULL),
    UINT("component", "port", port, 1, 65535, "5347", 0),
    {"component", "secret", CONFIG_STR, F(secret), 0, 0, 0, NULL, NULL, 0, 1,
     NULL},
    STR("component", "secret_file", secret_file, NULL, 0, check_secret_file),
    {"component", "admins", CONFIG_ADMINS, F(admins), 0, 0, 0, NULL, NULL, 1, 0,
     NULL},
    {"probe", "via", CONFIG_WORD, F(via_tor), 0, 0, 0, via_words, "tor", 0, 0,
     NULL},
    {"probe", "tor_socks", CONFIG_HOSTPORT, F(tor_socks_host),
     offsetof(struct config, tor_socks_port), 0, 0, NULL, "127.0.0.1:9050", 0,
     0, NULL},
    UINT("probe", "timeout", timeout, 1, 3600, "60", 0),
    UINT("probe", "concurrency", concurrency, 1, 10000, "32", 0),
    {"probe", "vantages", CONFIG_VANTAGES, F(vantages), 0, 0, 0, NULL, NULL, 0,
     0, NULL},
    UINT("probe", "max_addresses", max_addresses, 1, 32, "8", 0),
    BOOL("probe", "allow_private", allow_private, "no", 0),
    STR("dns", "trust_anchor", trust_anchor, "/usr/share/dns/root.key", 0,
	NULL),
    STR("dns", "forward", forward, NULL, 0, NULL),
    STR("dns", "unbound_conf", unbound_conf, NULL, 0, NULL),
    UINT("watch", "interval", interval, 10, 31 * 86400, "3600", 1),
    UINT("watch", "jitter", jitter, 0, 31 * 86400, "900", 1),
    UINT("watch", "down_after", down_after, 1, 1000, "3", 1),
    UINT("watch", "expiry_warn_days", expiry_warn_days, 1, 3650, "14", 0),
    UINT("watch", "flap_limit", flap_limit, 1, 1000, "4", 1),
    /* Key continuity: rounds of the last 2 x split_rounds that must show
     * a split before its alarm (keys.h keeps a 64-bit window). */
    UINT("watch", "split_rounds", split_rounds, 1, 16, "2", 1),
    UINT("limits", "commands_per_minute", commands_per_minute, 0, 1000000, "30",
	 1),
    UINT("limits", "checks_in_flight", checks_in_flight, 0, 10000, "2", 1),
    UINT("limits", "probes_per_minute", probes_per_minute, 0, 10000000, "600",
	 0),
    UINT("limits", "subscriptions_per_jid", subscriptions_per_jid, 0, 1000000,
	 "50", 1),
    UINT("limits", "max_message", max_message, 64, 1024 * 1024, "4096", 1),
    UINT("limits", "adhoc_session_timeout", adhoc_session_timeout, 10, 86400,
	 "300", 1),
    STR("store", "dir", store_dir, "/var/lib/certwatch", 0, check_nonempty),
    STR("http", "listen", http_listen, NULL, 0, check_listen),
    STR("http", "base_url", http_base_url, NULL, 0, check_url),
    UINT("http", "checks_per_minute", http_checks_per_minute, 0, 1000000, "30",
	 1),
    STR("http", "trusted_proxies", http_trusted_proxies, NULL, 0,
	check_proxies),
    BOOL("http", "metrics_per_domain", http_metrics_per_domain, "yes", 1),
    {"log", "level", CONFIG_WORD, F(log_level), 0, 0, 0, level_words, "info", 1,
     0, NULL},
    STR("ct", "certspotter", ct_certspotter, NULL, 0, check_exec),
    STR("ct", "logs", ct_logs, NULL, 0, check_logs),
    {"vantage", "allow", CONFIG_VANTAGE_ALLOW, F(vantage_allow), 0, 0, 0, NULL,
     NULL, 1, 0, NULL},
};
const size_t config_nkeys = sizeof(config_keys) / sizeof(config_keys[0]);

static const struct config_key *
find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < config_nkeys; i++)
		if (!strcmp(config_keys[i].section, section) &&
		    !strcmp(config_keys[i].name, name))
			return &config_keys[i];
	return NULL;
}

static int
known_section(const char *s)
{
	for (size_t i = 0; i < config_nkeys; i++)
		if (!strcmp(config_keys[i].section, s))
			return 1;
	return 0;
}

/* "a, b or c" */
static const char *
word_list(const char *const *w, char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	for (int i = 0; w[i] && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, "%s%s",
				      i == 0	 ? ""
				      : w[i + 1] ? ", "
						 : " or ",
				      w[i]);
	return out;
}

#define AT(c, off, type) ((type *)(void *)((char *)(c) + (off)))

/* Sets one key from its text: the table's bounds, then its own rule. */
static int
set_value(struct cparse *p, const struct config_key *k, const char *val)
{
	struct config *c = p->cfg;
	const char *key = k->name;
	char list[128];
	unsigned u;
	int b = 0;

	if (k->check && k->check(p, key, val) < 0)
		return -1;
	switch (k->type) {
	case CONFIG_STR:
		return set_str(p, key, val, AT(c, k->off, char), k->size);
	case CONFIG_UINT:
		if (set_uint(p, key, val, k->min, k->max, &u) < 0)
			return -1;
		if (k->size == sizeof(uint16_t))
			*AT(c, k->off, uint16_t) = (uint16_t)u;
		else
			*AT(c, k->off, unsigned) = u;
		return 0;
	case CONFIG_BOOL:
		if (set_bool(p, key, val, &b) < 0)
			return -1;
		*AT(c, k->off, int) = b;
		return 0;
	case CONFIG_WORD:
		for (int i = 0; k->words[i]; i++)
			if (!strcasecmp(val, k->words[i])) {
				*AT(c, k->off, int) = i;
				return 0;
			}
		return cerr(p, key, "expected %s, got \"%s\"",
			    word_list(k->words, list, sizeof(list)), val);
	case CONFIG_HOSTPORT:
		return set_hostport(p, key, val, AT(c, k->off, char), k->size,
				    AT(c, k->off2, uint16_t));
	case CONFIG_ADMINS:
		return set_admins(p, key, val);
	case CONFIG_VANTAGES:
		return set_vantages(p, key, val);
	case CONFIG_VANTAGE_ALLOW: {
		char why[256];
		if (config_vantage_allow(c, val, why, sizeof(why)) < 0)
			return cerr(p, key, "%s", why);
		return 0;
	}
	}
	return cerr(p, key, "unknown key");
}

static int
set_key(struct cparse *p, const char *key, const char *val)
{
	const struct config_key *k = find_key(p->section, key);

	if (k != NULL)
		return set_value(p, k, val);
	if (!strcmp(p->section, ""))
		return cerr(p, key, "key outside of any [section]");
	return cerr(p, key, "unknown key");
}

void
config_defaults(struct config *cfg)
{
	char err[256];
	struct cparse p = {.cfg = cfg,
			   .path = "(defaults)",
			   .err = err,
			   .errlen = sizeof(err)};

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < config_nkeys; i++)
		if (config_keys[i].def != NULL)
			(void)set_value(&p, &config_keys[i],
					config_keys[i].def);
}

void
config_free(struct config *cfg)
{
	for (size_t i = 0; i < cfg->nadmins; i++)
		free(cfg->admins[i]);
	cfg->nadmins = 0;
	config_vantage_free(cfg);
	explicit_bzero(cfg->secret, sizeof(cfg->secret));
}
static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Strips a comment: `;` or `#` at the start of the line or after blanks. */
static void
strip_comment(char *s)
{
	for (char *q = s; *q; q++)
		if ((*q == ';' || *q == '#') &&
		    (q == s || q[-1] == ' ' || q[-1] == '\t')) {
			*q = '\0';
			return;
		}
}

static int
parse_line(struct cparse *p, char *line)
{
	char *s = trim(line);

	if (*s == '\0' || *s == ';' || *s == '#')
		return 0;
	if (*s == '[') {
		char *end = strchr(s, ']');
		if (end == NULL)
			return cerr(p, NULL, "section header without ']'");
		*end = '\0';
		char *rest = end + 1;
		strip_comment(rest);
		if (*trim(rest) != '\0')
			return cerr(p, NULL, "text after the section header");
		char *name = trim(s + 1);
		if (!known_section(name))
			return cerr(p, NULL, "unknown section [%.40s]", name);
		snprintf(p->section, sizeof(p->section), "%s", name);
		return 0;
	}
	char *eq = strchr(s, '=');
	if (eq == NULL)
		return cerr(p, NULL, "expected key = value");
	*eq = '\0';
	char *key = trim(s);
	char *val = eq + 1;
	strip_comment(val);
	val = trim(val);
	if (*key == '\0')
		return cerr(p, NULL, "empty key");
	for (char *k = key; *k; k++)
		if (!isalnum((unsigned char)*k) && *k != '_')
			return cerr(p, NULL, "invalid key name \"%.40s\"", key);
	if (strlen(key) > 40)
		return cerr(p, NULL, "unknown key \"%.40s...\"", key);
	for (unsigned char *v = (unsigned char *)val; *v; v++)
		if (*v < 0x20 && *v != '\t')
			return cerr(p, key, "control character in value");
	return set_key(p, key, val);
}

int
config_parse(struct config *cfg, const char *path, const char *text, size_t len,
	     char *err, size_t errlen)
{
	struct cparse p = {
	    .cfg = cfg, .path = path, .err = err, .errlen = errlen};
	char line[CONFIG_MAX_LINE + 1];
	size_t i = 0;

	snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	if (len > CONFIG_MAX_BYTES) {
		snprintf(err, errlen, "%s: file too large (over %d bytes)",
			 path, CONFIG_MAX_BYTES);
		return -1;
	}
	while (i < len) {
		size_t n = 0;

		p.line++;
		while (i < len && text[i] != '\n') {
			if (text[i] == '\0')
				return cerr(&p, NULL, "NUL byte in file");
			if (n == CONFIG_MAX_LINE)
				return cerr(&p, NULL,
					    "line longer than %d bytes",
					    CONFIG_MAX_LINE);
			line[n++] = text[i++];
		}
		line[n] = '\0';
		i++; /* the newline */
		if (parse_line(&p, line) < 0)
			return -1;
	}
	/* The tor vantages use tor_socks, wherever it came in the file. */
	for (size_t v = 0; v < cfg->nvantages; v++)
		if (!strncmp(cfg->vantages[v].name, "tor", 3)) {
			snprintf(cfg->vantages[v].socks_host,
				 sizeof(cfg->vantages[v].socks_host), "%s",
				 cfg->tor_socks_host);
			cfg->vantages[v].socks_port = cfg->tor_socks_port;
		}
	char why[256];
	if (config_vantage_check(cfg, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	return 0;
}

int
config_is_admin(const struct config *cfg, const char *bare_jid)
{
	const char *at = strchr(bare_jid, '@');

	if (at == NULL)
		return 0;
	for (size_t i = 0; i < cfg->nadmins; i++) {
		const char *a = cfg->admins[i];
		const char *aat = strchr(a, '@');
		size_t local = (size_t)(at - bare_jid);
		if ((size_t)(aat - a) == local && !memcmp(a, bare_jid, local) &&
		    !strcasecmp(aat, at))
			return 1;
	}
	return 0;
}

/* One key's value as the file would say it; the secret as "(set)". */
static void
key_text(const struct config *c, const struct config_key *k, char *out,
	 size_t len)
{
	const char *sep = "";
	size_t n = 0;

	out[0] = '\0';
	switch (k->type) {
	case CONFIG_STR:
		if (k->secret)
			snprintf(out, len, "%s",
				 *AT(c, k->off, char) ? "(set)" : "");
		else
			snprintf(out, len, "%s", AT(c, k->off, char));
		break;
	case CONFIG_UINT:
		snprintf(out, len, "%u",
			 k->size == sizeof(uint16_t)
			     ? *AT(c, k->off, uint16_t)
			     : *AT(c, k->off, unsigned));
		break;
	case CONFIG_BOOL:
		snprintf(out, len, "%s", *AT(c, k->off, int) ? "yes" : "no");
		break;
	case CONFIG_WORD:
		snprintf(out, len, "%s", k->words[*AT(c, k->off, int)]);
		break;
	case CONFIG_HOSTPORT: {
		const char *h = AT(c, k->off, char);
		int v6 = strchr(h, ':') != NULL;
		snprintf(out, len, "%s%s%s:%u", v6 ? "[" : "", h, v6 ? "]" : "",
			 *AT(c, k->off2, uint16_t));
		break;
	}
	case CONFIG_ADMINS:
		for (size_t i = 0; i < c->nadmins && n < len; i++, sep = " ")
			n += (size_t)snprintf(out + n, len - n, "%s%s", sep,
					      c->admins[i]);
		break;
	case CONFIG_VANTAGES:
		for (size_t i = 0; i < c->nvantages && n < len; i++, sep = ", ")
			n += (size_t)snprintf(out + n, len - n, "%s%s", sep,
					      c->vantages[i].name);
		break;
	case CONFIG_VANTAGE_ALLOW:
		for (size_t i = 0; i < c->nvantage_allow && n < len;
		     i++, sep = " ")
			n += (size_t)snprintf(out + n, len - n, "%s%s", sep,
					      c->vantage_allow[i]);
		break;
	}
}

void
config_describe(const struct config *c, char *out, size_t len)
{
	char v[2048];
	size_t n;

	n = (size_t)snprintf(out, len, "config %s is valid\n", c->path);
	for (size_t i = 0; i < config_nkeys && n < len; i++) {
		key_text(c, &config_keys[i], v, sizeof(v));
		n += (size_t)snprintf(out + n, len - n, "[%s] %s = %s\n",
				      config_keys[i].section,
				      config_keys[i].name, v);
	}
	if (n < len) /* the vantages by name, who may ask this one */
		config_vantage_describe(c, out + n, len - n);
}

static int
key_differs(const struct config *a, const struct config *b,
	    const struct config_key *k)
{
	switch (k->type) {
	case CONFIG_STR:
		return strcmp(AT(a, k->off, char), AT(b, k->off, char)) != 0;
	case CONFIG_HOSTPORT:
		return strcmp(AT(a, k->off, char), AT(b, k->off, char)) ||
		       *AT(a, k->off2, uint16_t) != *AT(b, k->off2, uint16_t);
	case CONFIG_ADMINS:
		if (a->nadmins != b->nadmins)
			return 1;
		for (size_t i = 0; i < a->nadmins; i++)
			if (strcmp(a->admins[i], b->admins[i]))
				return 1;
		return 0;
	case CONFIG_VANTAGES:
		return a->nvantages != b->nvantages ||
		       memcmp(a->vantages, b->vantages, sizeof(a->vantages));
	case CONFIG_VANTAGE_ALLOW:
		if (a->nvantage_allow != b->nvantage_allow)
			return 1;
		for (size_t i = 0; i < a->nvantage_allow; i++)
			if (strcmp(a->vantage_allow[i], b->vantage_allow[i]))
				return 1;
		return 0;
	default:
		return memcmp(AT(a, k->off, char), AT(b, k->off, char),
			      k->size) != 0;
	}
}

size_t
config_reload(struct config *live, struct config *fresh, char *restart,
	      size_t len)
{
	size_t nrestart = 0, n = 0;

	if (len)
		restart[0] = '\0';
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		if (!key_differs(live, fresh, k))
			continue;
		if (!k->reload) {
			if (n < len)
				n += (size_t)snprintf(
				    restart + n, len - n, "%s[%s] %s",
				    nrestart ? ", " : "", k->section, k->name);
			nrestart++;
		} else if (k->type == CONFIG_ADMINS) {
			/* Swapped: config_free(fresh) frees the old ones. */
			char *tmp[CONFIG_MAX_ADMINS];
			size_t tn = live->nadmins;
			memcpy(tmp, live->admins, sizeof(tmp));
			memcpy(live->admins, fresh->admins, sizeof(tmp));
			memcpy(fresh->admins, tmp, sizeof(tmp));
			live->nadmins = fresh->nadmins;
			fresh->nadmins = tn;
		} else if (k->type == CONFIG_VANTAGE_ALLOW) {
			config_vantage_take(live, fresh);
		} else {
			memcpy(AT(live, k->off, char), AT(fresh, k->off, char),
			       k->size);
		}
	}
	return nrestart;
}
