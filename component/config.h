/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * config.h - the INI configuration file (docs/running.md, "Configuration
 * reference").
 *
 * Our own small parser rather than Debian's libinih: that build never tells
 * its handler the line of a key, and every error must name file, line and
 * key.  The parser is a pure function over bytes (fuzzable).
 */
#ifndef CERTWATCH_CONFIG_H
#define CERTWATCH_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "probe/check.h"

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};

#define CONFIG_MAX_ADMINS 64
#define CONFIG_MAX_BYTES (1024 * 1024)

struct config {
	/* [component] */
	char jid[256];
	char host[256];
	uint16_t port;
	char secret[512]; /* from `secret` or read from `secret_file` */
	char secret_file[1024];
	unsigned secret_file_line; /* its line in the file, for messages */
	char *admins[CONFIG_MAX_ADMINS]; /* bare JIDs, owned */
	size_t nadmins;

	/* [probe] */
	int via_tor; /* default 1 */
	char tor_socks_host[64];
	uint16_t tor_socks_port;
	unsigned timeout; /* seconds */
	unsigned concurrency;
	unsigned max_addresses; /* probed per endpoint */
	/* [probe] vantages; none: `via` alone. */
	struct check_vantage vantages[CHECK_MAX_VANTAGES];
	size_t nvantages;
	int allow_private;

	/* [dns] */
	char trust_anchor[1024];
	char forward[1024];
	char unbound_conf[1024];

	/* [watch] */
	unsigned interval, jitter, down_after, flap_limit;
	unsigned expiry_warn_days; /* defences: expires-soon under it */
	unsigned split_rounds;	   /* [watch] split_rounds (keys.h) */

	/* [limits] */
	unsigned commands_per_minute, checks_in_flight, probes_per_minute;
	unsigned subscriptions_per_jid, max_message, adhoc_session_timeout;

	/* [store] */
	char store_dir[1024];

	/* [http] */
	char http_listen[256];
	char http_base_url[512];
	unsigned http_checks_per_minute;
	char http_trusted_proxies[1024];
	int http_metrics_per_domain; /* per-domain series in /metrics */

	/* [log] */
	enum log_level log_level;

	/* [ct] (docs/ct.md): certspotter to supervise, empty: no CT */
	char ct_certspotter[1024]; /* absolute path or a name in PATH */
	char ct_logs[1024];	   /* its -logs: a file or an http(s) URL */

	/* [vantage] (docs/vantages.md, component/config_vantage.h): the
	 * bare or domain JIDs whose probe requests this instance answers;
	 * none: it answers none. */
#define COMP_VANTAGE_ALLOW_LEN 256
	char *vantage_allow[CONFIG_MAX_ADMINS]; /* owned, lower-case domain */
	size_t nvantage_allow;

	/* Where it came from, for messages. */
	char path[1024];
	int have_component; /* a [component] jid was given */
};

/*
 * The key table: every key of the file once, with where it lives in
 * struct config, its bounds, its default and whether SIGHUP applies it.
 * It drives the parser, the defaults, config_describe and config_reload;
 * a new key is one row here (and one field of struct config).
 */
enum config_type {
	CONFIG_STR,	 /* char[size] */
	CONFIG_UINT,	 /* unsigned (or uint16_t when size is 2), min..max */
	CONFIG_BOOL,	 /* int: yes/no, true/false, on/off, 1/0 */
	CONFIG_WORD,	 /* int: the index of its word in words */
	CONFIG_HOSTPORT, /* "ADDR:PORT": char[size] at off, uint16_t at off2 */
	CONFIG_ADMINS,	 /* admins, nadmins */
	CONFIG_VANTAGES, /* vantages, nvantages */
	CONFIG_VANTAGE_ALLOW, /* vantage_allow, nvantage_allow */
};

struct cparse; /* the parser's state, private */

struct config_key {
	const char *section, *name;
	enum config_type type;
	size_t off, size;	  /* the field in struct config */
	size_t off2;		  /* CONFIG_HOSTPORT: the port's field */
	unsigned min, max;	  /* CONFIG_UINT */
	const char *const *words; /* CONFIG_WORD, NULL-terminated */
	const char *def;	  /* the default as the file would say it; NULL:
				   * empty or 0 */
	int reload; /* SIGHUP applies it; else it needs a restart */
	int secret; /* described as "(set)", never its value */
	/* A rule beyond the type, checked first: 0, or -1 with the error. */
	int (*check)(struct cparse *p, const char *key, const char *val);
};

extern const struct config_key config_keys[];
extern const size_t config_nkeys;

/* Fills *cfg with the defaults of docs/running.md (the table's). */
void config_defaults(struct config *cfg);

/*
 * Parses `len` bytes of INI text named `path` (for messages) into *cfg,
 * which holds the defaults.  On error returns -1 and writes
 * "PATH:LINE: [section] key: what is wrong" into err.  Does not read
 * secret_file (see config_load).
 */
int config_parse(struct config *cfg, const char *path, const char *text,
		 size_t len, char *err, size_t errlen);

/*
 * Reads and parses the file, then reads secret_file if set, and checks
 * what needs the whole file (a daemon needs jid and a secret).  `for_run`:
 * the daemon's requirements apply.  Returns 0 or -1 with err.  Warnings
 * (a file readable by others that holds a secret) go to `warn` (may be
 * empty), one per line.
 */
int config_load(struct config *cfg, const char *path, int for_run, char *err,
		size_t errlen, char *warn, size_t warnlen);

/*
 * Where `[ct] certspotter` is: itself when it holds a '/', else the first
 * executable of that name in PATH (or /usr/bin:/bin).  0 with the path in
 * out, or -1 when no executable file is found.
 */
int config_find_exec(const char *name, char *out, size_t len);

/* Frees what config_parse allocated (admins). */
void config_free(struct config *cfg);

/* True when `bare_jid` is listed in admins (case-insensitive domain). */
int config_is_admin(const struct config *cfg, const char *bare_jid);

/* Writes "config PATH is valid" and a "[section] key = value" line per
 * key (for `run -n`); never the secret. */
void config_describe(const struct config *cfg, char *out, size_t len);

/*
 * SIGHUP: copies every reloadable key that differs from `fresh` into
 * `live` (admins are swapped, so config_free(fresh) frees the old ones),
 * and names the others that differ in `restart` ("[probe] timeout, ...").
 * Returns how many need a restart.
 */
size_t config_reload(struct config *live, struct config *fresh, char *restart,
		     size_t len);

#endif
