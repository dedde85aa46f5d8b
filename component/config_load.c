/* SPDX-License-Identifier: GPL-3.0-or-later */
/* config_load.c - the configuration file read from disk: its secret file,
 * what needs the whole file, and warnings about modes and [ct]. */
#include "component/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static int
read_file(const char *path, char **out, size_t *outlen, size_t max, char *err,
	  size_t errlen)
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
			   ? 0
			   : -1;
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
		if (read_file(cfg->secret_file, &s, &sl,
			      sizeof(cfg->secret) - 1, why, sizeof(why)) < 0)
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
