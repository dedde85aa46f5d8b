/* SPDX-License-Identifier: GPL-3.0-or-later */
/* config.c - the INI configuration file: defaults, parser, checks. */
#include "component/config.h"
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

#define CONFIG_MAX_BYTES (1024 * 1024)
#define CONFIG_MAX_LINE 4096

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->host, sizeof(cfg->host), "127.0.0.1");
	cfg->port = 5347;
	cfg->via_tor = 1;
	snprintf(cfg->tor_socks_host, sizeof(cfg->tor_socks_host), "127.0.0.1");
	cfg->tor_socks_port = 9050;
	cfg->timeout = 60;
	cfg->concurrency = 32;
	cfg->max_addresses = 8;
	snprintf(cfg->trust_anchor, sizeof(cfg->trust_anchor),
		 "/usr/share/dns/root.key");
	cfg->interval = 3600;
	cfg->jitter = 900;
	cfg->down_after = 3;
	cfg->expiry_warn_days = 14;
	cfg->flap_limit = 4;
	cfg->split_rounds = 2;	/* defences, key splits (docs/usage.md) */
	cfg->commands_per_minute = 30;
	cfg->checks_in_flight = 2;
	cfg->probes_per_minute = 600;
	cfg->subscriptions_per_jid = 50;
	cfg->max_message = 4096;
	cfg->adhoc_session_timeout = 300;
	snprintf(cfg->store_dir, sizeof(cfg->store_dir), "/var/lib/certwatch");
	cfg->http_checks_per_minute = 30;
	cfg->http_metrics_per_domain = 1;
	cfg->log_level = LOG_LEVEL_INFO;
}

void
config_free(struct config *cfg)
{
	for (size_t i = 0; i < cfg->nadmins; i++)
		free(cfg->admins[i]);
	cfg->nadmins = 0;
	explicit_bzero(cfg->secret, sizeof(cfg->secret));
}

/* The parser's state: where we are, for messages. */
struct cparse {
	struct config *cfg;
	const char *path;
	unsigned line;
	char section[32];
	char *err;
	size_t errlen;
};

static int
cerr(struct cparse *p, const char *key, const char *fmt, ...)
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
		} else {
			return cerr(p, key, "expected tor, direct or "
				    "socks5://ADDRESS:PORT, got \"%s\"", t);
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

static int
set_level(struct cparse *p, const char *key, const char *val)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};

	for (int i = 0; i < 4; i++)
		if (!strcasecmp(val, names[i])) {
			p->cfg->log_level = (enum log_level)i;
			return 0;
		}
	return cerr(p, key, "expected error, warn, info or debug, got \"%s\"",
		    val);
}

#define IS(s, k) (!strcmp(p->section, s) && !strcmp(key, k))

static int
set_key(struct cparse *p, const char *key, const char *val)
{
	struct config *c = p->cfg;
	unsigned u;

	if (IS("component", "jid")) {
		if (strchr(val, '@') || strchr(val, '/') || !*val)
			return cerr(p, key, "expected a domain JID such as "
					    "certwatch.example.org");
		c->have_component = 1;
		return set_str(p, key, val, c->jid, sizeof(c->jid));
	}
	if (IS("component", "host"))
		return set_str(p, key, val, c->host, sizeof(c->host));
	if (IS("component", "port")) {
		if (set_uint(p, key, val, 1, 65535, &u) < 0)
			return -1;
		c->port = (uint16_t)u;
		return 0;
	}
	if (IS("component", "secret"))
		return set_str(p, key, val, c->secret, sizeof(c->secret));
	if (IS("component", "secret_file")) {
		c->secret_file_line = p->line;
		return set_str(p, key, val, c->secret_file,
			       sizeof(c->secret_file));
	}
	if (IS("component", "admins"))
		return set_admins(p, key, val);

	if (IS("probe", "via")) {
		if (!strcmp(val, "tor"))
			c->via_tor = 1;
		else if (!strcmp(val, "direct"))
			c->via_tor = 0;
		else
			return cerr(p, key, "expected tor or direct, got \"%s\"",
				    val);
		return 0;
	}
	if (IS("probe", "tor_socks"))
		return set_hostport(p, key, val, c->tor_socks_host,
				    sizeof(c->tor_socks_host),
				    &c->tor_socks_port);
	if (IS("probe", "timeout"))
		return set_uint(p, key, val, 1, 3600, &c->timeout);
	if (IS("probe", "concurrency"))
		return set_uint(p, key, val, 1, 10000, &c->concurrency);
	if (IS("probe", "vantages"))
		return set_vantages(p, key, val);
	if (IS("probe", "max_addresses"))
		return set_uint(p, key, val, 1, 32, &c->max_addresses);
	if (IS("probe", "allow_private"))
		return set_bool(p, key, val, &c->allow_private);

	if (IS("dns", "trust_anchor"))
		return set_str(p, key, val, c->trust_anchor,
			       sizeof(c->trust_anchor));
	if (IS("dns", "forward"))
		return set_str(p, key, val, c->forward, sizeof(c->forward));
	if (IS("dns", "unbound_conf"))
		return set_str(p, key, val, c->unbound_conf,
			       sizeof(c->unbound_conf));

	if (IS("watch", "interval"))
		return set_uint(p, key, val, 10, 31 * 86400, &c->interval);
	if (IS("watch", "jitter"))
		return set_uint(p, key, val, 0, 31 * 86400, &c->jitter);
	if (IS("watch", "down_after"))
		return set_uint(p, key, val, 1, 1000, &c->down_after);
	if (IS("watch", "expiry_warn_days"))
		return set_uint(p, key, val, 1, 3650, &c->expiry_warn_days);
	if (IS("watch", "flap_limit"))
		return set_uint(p, key, val, 1, 1000, &c->flap_limit);
	/* Rounds a withdrawn channel binding (and a key split) must show
	 * before their alarm (docs/usage.md, "Alerts"). */
	if (IS("watch", "split_rounds"))
		return set_uint(p, key, val, 1, 100, &c->split_rounds);

	if (IS("limits", "commands_per_minute"))
		return set_uint(p, key, val, 0, 1000000, &c->commands_per_minute);
	if (IS("limits", "checks_in_flight"))
		return set_uint(p, key, val, 0, 10000, &c->checks_in_flight);
	if (IS("limits", "probes_per_minute"))
		return set_uint(p, key, val, 0, 10000000, &c->probes_per_minute);
	if (IS("limits", "subscriptions_per_jid"))
		return set_uint(p, key, val, 0, 1000000,
				&c->subscriptions_per_jid);
	if (IS("limits", "max_message"))
		return set_uint(p, key, val, 64, 1024 * 1024, &c->max_message);
	if (IS("limits", "adhoc_session_timeout"))
		return set_uint(p, key, val, 10, 86400,
				&c->adhoc_session_timeout);

	if (IS("store", "dir")) {
		if (!*val)
			return cerr(p, key, "must not be empty");
		return set_str(p, key, val, c->store_dir, sizeof(c->store_dir));
	}

	if (IS("http", "listen")) {
		if (!*val) {
			c->http_listen[0] = '\0';
			return 0;
		}
		char h[64];
		uint16_t port;
		if (set_hostport(p, key, val, h, sizeof(h), &port) < 0)
			return -1;
		/* The listener reads "A:B::C:8080" as an IPv6 address on a
		 * port of the kernel's choosing; say so here, not at start. */
		if (strchr(h, ':') && val[0] != '[')
			return cerr(p, key, "write an IPv6 address in brackets: "
					    "[%s]:%u", h, port);
		return set_str(p, key, val, c->http_listen,
			       sizeof(c->http_listen));
	}
	if (IS("http", "base_url")) {
		if (*val && strncmp(val, "http://", 7) && strncmp(val, "https://", 8))
			return cerr(p, key, "expected an http:// or https:// URL");
		return set_str(p, key, val, c->http_base_url,
			       sizeof(c->http_base_url));
	}
	if (IS("http", "checks_per_minute"))
		return set_uint(p, key, val, 0, 1000000,
				&c->http_checks_per_minute);
	if (IS("http", "trusted_proxies")) {
		struct webaddr_proxies wp;
		char why[256];
		if (webaddr_proxies_parse(val, &wp, why, sizeof(why)) < 0)
			return cerr(p, key, "%s", why);
		return set_str(p, key, val, c->http_trusted_proxies,
			       sizeof(c->http_trusted_proxies));
	}
	if (IS("http", "metrics_per_domain"))
		return set_bool(p, key, val, &c->http_metrics_per_domain);

	if (IS("log", "level"))
		return set_level(p, key, val);

	if (IS("ct", "certspotter")) {
		if (*val && strchr(val, '/') && val[0] != '/')
			return cerr(p, key, "expected an absolute path or a "
					    "name to look up in PATH");
		return set_str(p, key, val, c->ct_certspotter,
			       sizeof(c->ct_certspotter));
	}
	if (IS("ct", "logs")) {
		if (*val && val[0] != '/' && strncmp(val, "https://", 8) &&
		    strncmp(val, "http://", 7))
			return cerr(p, key, "expected an absolute path or an "
					    "http:// or https:// URL");
		return set_str(p, key, val, c->ct_logs, sizeof(c->ct_logs));
	}

	if (!strcmp(p->section, ""))
		return cerr(p, key, "key outside of any [section]");
	return cerr(p, key, "unknown key");
}

static int
known_section(const char *s)
{
	static const char *const names[] = {"component", "probe", "dns",
					    "watch", "limits", "store",
					    "http", "log", "ct"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i]))
			return 1;
	return 0;
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
config_parse(struct config *cfg, const char *path, const char *text,
	     size_t len, char *err, size_t errlen)
{
	struct cparse p = {.cfg = cfg, .path = path, .err = err,
			   .errlen = errlen};
	char line[CONFIG_MAX_LINE + 1];
	size_t i = 0;

	snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	if (len > CONFIG_MAX_BYTES) {
		snprintf(err, errlen, "%s: file too large (over %d bytes)", path,
			 CONFIG_MAX_BYTES);
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
		i++;	/* the newline */
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
	return 0;
}

static int
read_file(const char *path, char **out, size_t *outlen, size_t max,
	  char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	size_t n = 0;

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if ((size_t)st.st_size > max) {
		snprintf(err, errlen, "%s: file too large (over %zu bytes)",
			 path, max);
		close(fd);
		return -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		if (r == 0 || (n += (size_t)r) == (size_t)st.st_size)
			break;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

static void
warn_mode(const char *path, const char *what, char *warn, size_t warnlen)
{
	struct stat st;
	size_t used = strlen(warn);

	if (stat(path, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) &&
	    (st.st_mode & S_IROTH) && used < warnlen)
		snprintf(warn + used, warnlen - used,
			 "%s: readable by other users but holds %s; "
			 "chmod 600 or 640 it\n",
			 path, what);
}

/*
 * "PATH:LINE: [component] secret_file: WHY", and for a systemd credential
 * path read outside its unit the reason it is missing: systemd mounts
 * /run/credentials/UNIT/ only for the unit's own processes
 * (systemd.exec(5), LoadCredential=).  Returns -1.
 */
static int
secret_file_error(const struct config *cfg, const char *why, char *err,
		  size_t errlen)
{
	int cred = !strncmp(cfg->secret_file, "/run/credentials/", 17) &&
		   getenv("CREDENTIALS_DIRECTORY") == NULL;

	snprintf(err, errlen, "%s:%u: [component] secret_file: %s%s", cfg->path,
		 cfg->secret_file_line, why,
		 cred ? " (/run/credentials/... exists only for the systemd "
			"unit's own processes; to run by hand, point "
			"secret_file at a copy your user can read, see "
			"docs/running.md)"
		      : "");
	return -1;
}

int
config_find_exec(const char *name, char *out, size_t len)
{
	struct stat st;

	if (!*name)
		return -1;
	if (strchr(name, '/')) {
		snprintf(out, len, "%s", name);
		return stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
			       access(out, X_OK) == 0
			   ? 0 : -1;
	}
	const char *path = getenv("PATH");
	if (path == NULL || !*path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		int w = snprintf(out, len, "%.*s/%s", (int)n, path, name);
		if (n && w > 0 && (size_t)w < len && stat(out, &st) == 0 &&
		    S_ISREG(st.st_mode) && access(out, X_OK) == 0)
			return 0;
		path += n + (path[n] == ':');
	}
	return -1;
}

/* A missing certspotter or log list is a warning: the daemon runs, says
 * so in /metrics (certwatch_ct_certspotter_up 0) and in the log. */
static void
warn_ct(const struct config *cfg, char *warn, size_t warnlen)
{
	char where[1024];
	size_t used = strlen(warn);

	if (cfg->ct_certspotter[0] && used < warnlen &&
	    config_find_exec(cfg->ct_certspotter, where, sizeof(where)) < 0)
		snprintf(warn + used, warnlen - used,
			 "%s: [ct] certspotter: no executable \"%s\" (apt "
			 "install certspotter); Certificate Transparency is "
			 "not watched\n",
			 cfg->path, cfg->ct_certspotter);
	used = strlen(warn);
	if (cfg->ct_certspotter[0] && cfg->ct_logs[0] == '/' &&
	    used < warnlen && access(cfg->ct_logs, R_OK) < 0)
		snprintf(warn + used, warnlen - used,
			 "%s: [ct] logs: cannot read %s; certspotter will "
			 "not start\n",
			 cfg->path, cfg->ct_logs);
}

int
config_load(struct config *cfg, const char *path, int for_run, char *err,
	    size_t errlen, char *warn, size_t warnlen)
{
	char *text;
	size_t len;
	int rc;

	if (warnlen)
		warn[0] = '\0';
	if (read_file(path, &text, &len, CONFIG_MAX_BYTES, err, errlen) < 0)
		return -1;
	rc = config_parse(cfg, path, text, len, err, errlen);
	free(text);
	if (rc < 0)
		return -1;
	if (cfg->secret[0] && cfg->secret_file[0]) {
		snprintf(err, errlen,
			 "%s: [component] secret and secret_file are both set",
			 path);
		return -1;
	}
	if (cfg->secret[0])
		warn_mode(path, "the component secret", warn, warnlen);
	if (cfg->secret_file[0]) {
		char *s;
		size_t sl;
		char why[1100];
		if (read_file(cfg->secret_file, &s, &sl, sizeof(cfg->secret) - 1,
			      why, sizeof(why)) < 0)
			return secret_file_error(cfg, why, err, errlen);
		while (sl > 0 && (s[sl - 1] == '\n' || s[sl - 1] == '\r'))
			s[--sl] = '\0';
		if (sl == 0 || memchr(s, '\n', sl) || memchr(s, '\0', sl)) {
			snprintf(why, sizeof(why),
				 "%s: the secret must be one non-empty line",
				 cfg->secret_file);
			explicit_bzero(s, sl);
			free(s);
			return secret_file_error(cfg, why, err, errlen);
		}
		memcpy(cfg->secret, s, sl + 1);
		explicit_bzero(s, sl);
		free(s);
		warn_mode(cfg->secret_file, "the component secret", warn,
			  warnlen);
	}
	if (warnlen)
		warn_ct(cfg, warn, warnlen);
	if (for_run) {
		if (!cfg->jid[0]) {
			snprintf(err, errlen, "%s: [component] jid is required",
				 path);
			return -1;
		}
		if (!cfg->secret[0]) {
			snprintf(err, errlen,
				 "%s: [component] secret or secret_file is "
				 "required",
				 path);
			return -1;
		}
	}
	if (cfg->jitter * 2 >= cfg->interval && cfg->jitter) {
		snprintf(err, errlen,
			 "%s: [watch] jitter (%u) must be less than half of "
			 "interval (%u)",
			 path, cfg->jitter, cfg->interval);
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
		if ((size_t)(aat - a) == local &&
		    !memcmp(a, bare_jid, local) && !strcasecmp(aat, at))
			return 1;
	}
	return 0;
}

void
config_describe(const struct config *c, char *out, size_t len)
{
	static const char *const lv[] = {"error", "warn", "info", "debug"};
	int n;

	n = snprintf(out, len,
		     "config %s is valid\n"
		     "component: %s, connecting to %s:%u (secret: %s), "
		     "%zu admin(s)\n"
		     "probes: %s, timeout %u s, %u at once, private targets %s\n"
		     "dns: trust anchor %s; %s%s%s%s\n"
		     "watch: every %u s (± %u s), down after %u rounds, "
		     "flap limit %u/h\n"
		     "limits: %u commands/min, %u checks in flight, "
		     "%u probes/min, %u subscriptions per JID\n"
		     "state: %s\n"
		     "web: %s\n"
		     "log level: %s\n",
		     c->path, c->jid[0] ? c->jid : "(none)", c->host, c->port,
		     c->secret[0] ? "set" : "missing", c->nadmins,
		     c->via_tor ? "through Tor" : "direct (labs and tests only)",
		     c->timeout, c->concurrency,
		     c->allow_private ? "allowed" : "refused", c->trust_anchor,
		     c->forward[0] ? "forwarding to " : "full recursion",
		     c->forward, c->unbound_conf[0] ? "; unbound config " : "",
		     c->unbound_conf, c->interval, c->jitter, c->down_after,
		     c->flap_limit, c->commands_per_minute, c->checks_in_flight,
		     c->probes_per_minute, c->subscriptions_per_jid,
		     c->store_dir, c->http_listen[0] ? c->http_listen : "off",
		     lv[c->log_level]);
	if (c->via_tor && n > 0 && (size_t)n < len)
		n += snprintf(out + n, len - (size_t)n,
			      "tor: SOCKS5 at %s:%u\n", c->tor_socks_host,
			      c->tor_socks_port);
	if (n > 0 && (size_t)n < len)
		snprintf(out + n, len - (size_t)n, "ct: %s%s%s%s\n",
			 c->ct_certspotter[0] ? "certspotter " : "off",
			 c->ct_certspotter, c->ct_logs[0] ? ", logs " : "",
			 c->ct_logs);
}
