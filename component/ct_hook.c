/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ct_hook.c - `certwatch ct-hook`: one certspotter event into the spool. */
#include "component/ct_hook.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "component/config.h"
#include "probe/dane.h"
#include "util/buf.h"
#include "util/err.h"

#define CT_HOOK_CONFIG_MAX (1024 * 1024) /* as config.c reads */

/* Reads at most max bytes of a regular file.  0, or -1 with err (errno's
 * words, or "over N bytes"). */
static int
read_bounded(const char *path, size_t max, char **out, size_t *outlen,
	     char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	char *b;
	size_t n = 0;

	if (fd < 0) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		errf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	b = xcalloc(1, max + 2);
	for (;;) {
		ssize_t r = read(fd, b + n, max + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			errf(err, errlen, "%s: %s", path, strerror(errno));
			free(b);
			close(fd);
			return -1;
		}
		n += (size_t)r;
		if (r == 0 || n > max)
			break;
	}
	close(fd);
	if (n > max) {
		errf(err, errlen, "%s: over %zu bytes", path, max);
		free(b);
		return -1;
	}
	*out = b;
	*outlen = n;
	return 0;
}

/*
 * [store] of the config alone: every line outside it is emptied (keeping
 * line numbers for messages) before config_parse sees the text, so a
 * broken or missing other section cannot stop the hook.
 */
static int
load_store_dir(const char *path, char *dir, size_t dirlen, char *err,
	       size_t errlen)
{
	struct config cfg;
	struct buf kept = BUF_INIT;
	char *text;
	size_t len;
	int in_store = 0, rc;

	if (read_bounded(path, CT_HOOK_CONFIG_MAX, &text, &len, err, errlen) <
	    0)
		return -1;
	for (size_t i = 0; i < len;) {
		size_t e = i, s = i;
		while (e < len && text[e] != '\n')
			e++;
		while (s < e && (text[s] == ' ' || text[s] == '\t'))
			s++;
		if (s < e && text[s] == '[') {
			const char *close = memchr(text + s, ']', e - s);
			size_t a = s + 1,
			       b = close ? (size_t)(close - text) : s + 1;
			while (a < b && (text[a] == ' ' || text[a] == '\t'))
				a++;
			while (b > a &&
			       (text[b - 1] == ' ' || text[b - 1] == '\t'))
				b--;
			in_store = close && b - a == 5 &&
				   !memcmp(text + a, "store", 5);
		}
		if (in_store)
			buf_append(&kept, text + i, e - i);
		buf_putc(&kept, '\n');
		i = e + 1;
	}
	free(text);
	config_defaults(&cfg);
	rc = config_parse(&cfg, path, kept.s ? kept.s : "", kept.len, err,
			  errlen);
	buf_free(&kept);
	if (rc == 0)
		snprintf(dir, dirlen, "%s", cfg.store_dir);
	config_free(&cfg);
	return rc;
}

/* Copies at most size-1 bytes, cut before a UTF-8 continuation byte. */
static void
copy_cut(char *dst, size_t size, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

static void
copy_hex(char dst[65], const char *src)
{
	dst[0] = '\0';
	if (src == NULL || strlen(src) != 64)
		return;
	for (size_t i = 0; i < 64; i++) {
		if (!isxdigit((unsigned char)src[i])) {
			dst[0] = '\0';
			return;
		}
		dst[i] = (char)tolower((unsigned char)src[i]);
	}
	dst[64] = '\0';
}

static int
copy_num(const char *src, int64_t *out)
{
	char *end;
	long long v;

	if (src == NULL || !*src || isspace((unsigned char)*src))
		return 0;
	errno = 0;
	v = strtoll(src, &end, 10);
	/* INT64_MIN has no negation: the spool keeps ±INT64_MAX. */
	if (errno || *end || v < -INT64_MAX)
		return 0;
	*out = v;
	return 1;
}

/* The certificates after the first of a PEM file (its chain, for a
 * DANE-TA record): at most CT_CHAIN_MAX, CT_CHAIN_DER_MAX bytes in all;
 * the rest, or one that does not decode, is left out. */
static void
load_chain(struct ct_event *ev, const char *text, size_t len)
{
	static const char end[] = "-----END CERTIFICATE-----";
	const char *p = text, *stop = text + len;
	size_t off = 0;

	ev->nchain = 0;
	p = memmem(p, (size_t)(stop - p), end, sizeof(end) - 1);
	while (p && ev->nchain < CT_CHAIN_MAX) {
		gnutls_datum_t pem, der = {NULL, 0};

		p += sizeof(end) - 1;
		if (memmem(p, (size_t)(stop - p), "-----BEGIN", 10) == NULL)
			break;
		pem.data = (unsigned char *)p;
		pem.size = (unsigned)(stop - p);
		if (gnutls_pem_base64_decode2("CERTIFICATE", &pem, &der) < 0)
			break;
		if (der.size == 0 || der.size > CT_CHAIN_DER_MAX - off) {
			gnutls_free(der.data);
			break;
		}
		memcpy(ev->chain_der + off, der.data, der.size);
		ev->chain_len[ev->nchain++] = der.size;
		off += der.size;
		gnutls_free(der.data);
		p = memmem(p, (size_t)(stop - p), end, sizeof(end) - 1);
	}
}

static void
load_cert(struct ct_event *ev, const char *file)
{
	gnutls_datum_t pem, der = {NULL, 0};
	uint8_t spki[32];
	char *text;
	size_t len;
	int r, ok = 0;

	if (file == NULL || !*file) {
		ev->cert_state = CT_CERT_ABSENT;
		snprintf(ev->cert_error, sizeof(ev->cert_error),
			 "no CERT_FILENAME");
		return;
	}
	if (read_bounded(file, CT_CERT_PEM_MAX, &text, &len, ev->cert_error,
			 sizeof(ev->cert_error)) < 0) {
		ev->cert_state = CT_CERT_UNREADABLE;
		return;
	}
	ev->cert_state = CT_CERT_MALFORMED;
	pem.data = (unsigned char *)text;
	pem.size = (unsigned)len;
	/* The file may hold the chain after the leaf: the first block is
	 * the logged certificate (certspotter-script(8)). */
	r = gnutls_pem_base64_decode2("CERTIFICATE", &pem, &der);
	if (r >= 0)
		load_chain(ev, text, len);
	free(text);
	if (r < 0) {
		snprintf(ev->cert_error, sizeof(ev->cert_error),
			 "not a PEM certificate: %s", gnutls_strerror(r));
		return;
	}
	if (der.size > CT_CERT_DER_MAX) {
		snprintf(ev->cert_error, sizeof(ev->cert_error),
			 "certificate over %d bytes", CT_CERT_DER_MAX);
	} else if (dane_spki_sha256(der.data, der.size, spki) < 0) {
		snprintf(ev->cert_error, sizeof(ev->cert_error),
			 "GnuTLS cannot read the certificate");
	} else {
		memcpy(ev->cert_der, der.data, der.size);
		ev->cert_len = der.size;
		ok = 1;
		dane_hex(spki, sizeof(spki), ev->spki_sha256);
		ev->cert_state = CT_CERT_OK;
		ev->cert_error[0] = '\0';
	}
	gnutls_free(der.data);
	if (!ok)
		ev->nchain = 0;
}

void
ct_hook_event(struct ct_event *ev, const char *(*get)(const char *name))
{
	int64_t v;

	ct_event_init(ev);
	copy_cut(ev->event, sizeof(ev->event), get("EVENT"));
	copy_cut(ev->summary, sizeof(ev->summary), get("SUMMARY"));
	copy_cut(ev->watch_item, sizeof(ev->watch_item), get("WATCH_ITEM"));
	copy_hex(ev->tbs_sha256, get("TBS_SHA256"));
	copy_hex(ev->cert_sha256, get("CERT_SHA256"));
	copy_cut(ev->issuer_dn, sizeof(ev->issuer_dn), get("ISSUER_DN"));
	copy_cut(ev->subject_dn, sizeof(ev->subject_dn), get("SUBJECT_DN"));
	copy_cut(ev->serial, sizeof(ev->serial), get("SERIAL"));
	copy_cut(ev->log_uri, sizeof(ev->log_uri), get("LOG_URI"));
	ev->has_not_before =
	    copy_num(get("NOT_BEFORE_UNIXTIME"), &ev->not_before);
	ev->has_not_after = copy_num(get("NOT_AFTER_UNIXTIME"), &ev->not_after);
	if (copy_num(get("ENTRY_INDEX"), &v) && v >= 0) {
		ev->entry_index = (uint64_t)v;
		ev->has_entry_index = 1;
	}
	load_cert(ev, get("CERT_FILENAME"));
}

static int
mkdir_0700(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
ct_hook_spool(const struct ct_event *ev, const char *spool_dir, char *path,
	      size_t pathlen, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	char parent[1100], tmp[1200], final[1200];
	struct timespec ts;
	const char *slash;
	int fd, dfd, rc = -1;

	/* STORE/ct, then STORE/ct/spool; STORE itself is the daemon's. */
	slash = strrchr(spool_dir, '/');
	if (slash && slash != spool_dir) {
		snprintf(parent, sizeof(parent), "%.*s",
			 (int)(slash - spool_dir), spool_dir);
		if (mkdir_0700(parent, err, errlen) < 0)
			return -1;
	}
	if (mkdir_0700(spool_dir, err, errlen) < 0)
		return -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	/* Names sort by time; the pid keeps two hooks of one nanosecond
	 * apart.  A dot hides the temp file from the daemon's scan. */
	snprintf(final, sizeof(final), "%s/%020" PRId64 "%09ld-%ld%s",
		 spool_dir, (int64_t)ts.tv_sec, ts.tv_nsec, (long)getpid(),
		 CT_SPOOL_SUFFIX);
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%ld", spool_dir, (long)getpid());
	ct_spool_format(ev, &b);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		errf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (write_all(fd, b.s, b.len) < 0 || fsync(fd) < 0) {
		errf(err, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) < 0 || rename(tmp, final) < 0) {
		errf(err, errlen, "%s: %s", final, strerror(errno));
		unlink(tmp);
		goto out;
	}
	/* The rename is durable only once the directory is synced. */
	dfd = open(spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		errf(err, errlen, "%s: %s", spool_dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		goto out;
	}
	close(dfd);
	if (path)
		snprintf(path, pathlen, "%s", final);
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

static const char *
env_get(const char *name)
{
	return getenv(name);
}

int
ct_hook_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *cfg_path = NULL;
	char store[1024], spool[1100], err[1400];
	struct ct_event *ev;
	int ch;

	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		if (ch == 'c') {
			cfg_path = optarg;
		} else if (ch == 'h') {
			puts("usage: certwatch ct-hook -c FILE\n"
			     "certspotter's hook (certspotter-script(8)): "
			     "spools one event for the daemon (docs/ct.md)");
			return 0;
		} else {
			return 2;
		}
	}
	if (cfg_path == NULL || optind != argc) {
		fputs("usage: certwatch ct-hook -c FILE\n", stderr);
		return 2;
	}
	if (load_store_dir(cfg_path, store, sizeof(store), err, sizeof(err)) <
	    0) {
		fprintf(stderr, "certwatch ct-hook: %s\n", err);
		return 78;
	}
	snprintf(spool, sizeof(spool), "%s/ct/spool", store);
	ev = xcalloc(1, sizeof(*ev));
	ct_hook_event(ev, env_get);
	if (ct_hook_spool(ev, spool, NULL, 0, err, sizeof(err)) < 0) {
		fprintf(stderr,
			"certwatch ct-hook: cannot spool the %s event: "
			"%s\n",
			ev->event[0] ? ev->event : "(no EVENT)", err);
		free(ev);
		return 1;
	}
	/* certspotter passes a hook's stderr on to its own, which certwatch
	 * logs: an error it reports is seen even before the daemon judges. */
	if (!strcmp(ev->event, "error"))
		fprintf(stderr,
			"certwatch ct-hook: certspotter reported an "
			"error: %s\n",
			ev->summary);
	free(ev);
	return 0;
}
