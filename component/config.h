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

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO,
		 LOG_LEVEL_DEBUG };

#define CONFIG_MAX_ADMINS 64

struct config {
	/* [component] */
	char jid[256];
	char host[256];
	uint16_t port;
	char secret[512];	/* from `secret` or read from `secret_file` */
	char secret_file[1024];
	unsigned secret_file_line;	/* its line in the file, for messages */
	char *admins[CONFIG_MAX_ADMINS];	/* bare JIDs, owned */
	size_t nadmins;

	/* [probe] */
	int via_tor;		/* default 1 */
	char tor_socks_host[64];
	uint16_t tor_socks_port;
	unsigned timeout;	/* seconds */
	unsigned concurrency;
	unsigned max_addresses;		/* probed per endpoint */
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
	unsigned expiry_warn_days;	/* defences: expires-soon under it */
	unsigned split_rounds;		/* rounds before a withdrawn channel
					 * binding's alarm */

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
	int http_metrics_per_domain;	/* per-domain series in /metrics */

	/* [log] */
	enum log_level log_level;

	/* [ct] (docs/ct.md): certspotter to supervise, empty: no CT */
	char ct_certspotter[1024];	/* absolute path or a name in PATH */
	char ct_logs[1024];	/* its -logs: a file or an http(s) URL */

	/* Where it came from, for messages. */
	char path[1024];
	int have_component;	/* a [component] jid was given */
};

/* Fills *cfg with the defaults of docs/running.md. */
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
int config_load(struct config *cfg, const char *path, int for_run,
		char *err, size_t errlen, char *warn, size_t warnlen);

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

/* Writes what the daemon would do with this config (for `run -n`); never
 * the secret. */
void config_describe(const struct config *cfg, char *out, size_t len);

#endif
