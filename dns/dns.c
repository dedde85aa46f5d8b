/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * dns.c - validated look-ups with libunbound's event API on the caller's
 * libevent base: one pending dns_query per look-up, each with its own
 * time-out timer, ending in exactly one callback (or none if cancelled).
 */
#include "util/err.h"
#include "dns/dns.h"

#include <errno.h>
#include <stdarg.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>
#include <unbound.h>
#include <unbound-event.h>

#define DEFAULT_TIMEOUT_MS 15000

struct dns_ctx {
	struct event_base *base;
	struct ub_ctx *ub;
	int timeout_ms;
	LIST_HEAD(, dns_query) queries; /* pending look-ups */
	size_t pending;
};

struct dns_query {
	struct dns_ctx *ctx;
	LIST_ENTRY(dns_query) link; /* in ctx->queries */
	struct event *timer;
	int async_id; /* unbound's id, for ub_cancel() */
	int starting; /* inside ub_resolve_event() */
	int done;     /* answered while starting: the callback
		       * waits for the zero-delay timer */
	dns_cb cb;
	void *arg;
	/* allocated up front so that the answer can always be delivered */
	struct dns_answer *answer;
};

/*
 * Copies `name` lower-cased and without its trailing dot into out, if it
 * is a host or service name we are willing to ask for: at most 253
 * characters, labels of 1-63 letters, digits, '-' or '_'.  Escapes are
 * refused, so the length checks here are the real ones.
 */
static int
check_name(const char *name, char out[DNS_NAME_MAX + 1])
{
	size_t len, label = 0;

	if (name == NULL)
		return -1;
	len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '-' || c == '_') {
			if (++label > 63)
				return -1;
		} else {
			return -1;
		}
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	if (label == 0)
		return -1;
	out[len] = '\0';
	return 0;
}

static void
unlink_query(struct dns_query *q)
{
	struct dns_ctx *ctx = q->ctx;

	LIST_REMOVE(q, link);
	ctx->pending--;
}

static void
free_query(struct dns_query *q)
{
	if (q->timer != NULL)
		event_free(q->timer);
	dns_answer_free(q->answer);
	free(q);
}

/*
 * Ends q and calls its callback.  An answer that comes while dns_lookup()
 * is still inside ub_resolve_event() (libunbound's cache) is only marked
 * done: dns_lookup() then fires q's timer with no delay, and the callback
 * runs from the event loop, like probe_start()'s and check_start()'s, and
 * never before dns_lookup() has returned.  Nothing of q is touched after
 * the callback, which may start, cancel or forget other look-ups.
 */
static void
finish(struct dns_query *q)
{
	struct dns_answer *a = q->answer;
	dns_cb cb = q->cb;
	void *arg = q->arg;

	if (q->starting) {
		q->done = 1;
		return;
	}
	q->answer = NULL;
	unlink_query(q);
	free_query(q);
	cb(a, arg);
}

/* unbound's callback: rcode is the resolver's, the real one is in pkt */
static void
on_answer(void *data, int rcode, void *pkt, int len, int sec, char *why_bogus,
	  int ratelimited)
{
	struct dns_query *q = data;
	struct dns_answer *a = q->answer;
	char err[200];
	(void)ratelimited;

	if (rcode < 0) {
		/* not seen from the event API, but ub errors are negative */
		a->status = DNS_ERROR;
		snprintf(a->error, sizeof(a->error), "%s", ub_strerror(rcode));
	} else if (rcode > 0 || pkt == NULL || len < 0) {
		/* "do not inspect the packet if rcode != 0" */
		a->status = DNS_SERVFAIL;
		snprintf(a->error, sizeof(a->error),
			 "resolution failed (RCODE %d)", rcode);
	} else if (dns_parse_response(pkt, (size_t)len, a->qtype, a, err,
				      sizeof(err)) < 0) {
		a->status = DNS_ERROR;
		snprintf(a->error, sizeof(a->error), "bad answer: %s", err);
	}
	if (a->status == DNS_ANSWER || a->status == DNS_NXDOMAIN ||
	    a->status == DNS_NODATA) {
		if (sec == 2) {
			a->sec = DNS_SEC_SECURE;
		} else if (sec == 1) {
			/* the status stays what the packet says: the caller
			 * decides what a bogus answer is worth */
			a->sec = DNS_SEC_BOGUS;
		} else {
			a->sec = DNS_SEC_INSECURE;
		}
	} else {
		a->sec = DNS_SEC_NONE;
	}
	/* kept even when the status is a failure: it says why */
	if (sec == 1 && rcode == 0)
		snprintf(a->why_bogus, sizeof(a->why_bogus), "%s",
			 why_bogus != NULL ? why_bogus : "validation failed");
	finish(q);
}

static void
on_timeout(evutil_socket_t fd, short what, void *data)
{
	struct dns_query *q = data;
	struct dns_answer *a = q->answer;
	(void)fd;
	(void)what;

	if (q->done) {
		finish(q); /* the deferred answer (dns_lookup) */
		return;
	}
	/* unbound keeps resolving, but will not call back */
	(void)ub_cancel(q->ctx->ub, q->async_id);
	a->status = DNS_TIMEOUT;
	a->sec = DNS_SEC_NONE;
	snprintf(a->error, sizeof(a->error), "no answer within %d ms",
		 q->ctx->timeout_ms);
	finish(q);
}

/*
 * Runs fn(ub, arg) with file descriptor 2 pointed at a temporary file and
 * copies what was written there into msg: unbound's config parser prints
 * its syntax errors to stderr, and this module does not write to the
 * process's stderr.  Only used while setting up, before any event runs.
 */
static int
capture_stderr(int (*fn)(struct ub_ctx *, const char *), struct ub_ctx *ub,
	       const char *arg, char *msg, size_t msglen)
{
	FILE *tmp = tmpfile();
	int saved = -1, r;

	msg[0] = '\0';
	fflush(stderr);
	if (tmp != NULL && (saved = dup(2)) >= 0)
		dup2(fileno(tmp), 2);
	r = fn(ub, arg);
	if (saved >= 0) {
		size_t n;

		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		rewind(tmp);
		n = fread(msg, 1, msglen - 1, tmp);
		msg[n] = '\0';
		/* first line only, without its newline */
		msg[strcspn(msg, "\n")] = '\0';
	}
	if (tmp != NULL)
		fclose(tmp);
	return r;
}

/* The text after the first `tag` ("error: ") unbound logged, or "". */
static void
log_line(const char *log, const char *tag, char *out, size_t outlen)
{
	const char *p;

	out[0] = '\0';
	if (log == NULL || (p = strstr(log, tag)) == NULL)
		return;
	p += strlen(tag);
	snprintf(out, outlen, "%.*s", (int)strcspn(p, "\n"), p);
}

static void
ignore_answer(void *data, int rcode, void *pkt, int len, int sec,
	      char *why_bogus, int ratelimited)
{
	(void)data;
	(void)rcode;
	(void)pkt;
	(void)len;
	(void)sec;
	(void)why_bogus;
	(void)ratelimited;
}

/*
 * libunbound reads its trust anchors and the rest of its configuration
 * only on the first look-up.  One look-up of "localhost" (answered from
 * unbound's built-in local zone, so nothing goes out) makes a bad anchor
 * fail here, in dns_new(), rather than in the first real look-up.
 */
static int
finalize(struct ub_ctx *ub, char *msg, size_t msglen)
{
	int id = 0, r;

	r = ub_resolve_event(ub, "localhost.", DNS_T_A, 1, NULL, ignore_answer,
			     &id);
	if (r != 0) {
		snprintf(msg, msglen, "%s", ub_strerror(r));
		return -1;
	}
	if (id != 0)
		(void)ub_cancel(ub, id);
	return 0;
}

static int
add_forwarders(struct ub_ctx *ub, const char *list, char *err, size_t errlen)
{
	const char *p = list;

	while (p != NULL && *p != '\0') {
		char addr[128];
		size_t n;
		int r;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n == 0)
			break;
		if (n >= sizeof(addr)) {
			errf(err, errlen, "forward address too long");
			return -1;
		}
		memcpy(addr, p, n);
		addr[n] = '\0';
		p += n;
		if ((r = ub_ctx_set_fwd(ub, addr)) != 0) {
			errf(err, errlen, "forward address %s: %s", addr,
			     ub_strerror(r));
			return -1;
		}
	}
	return 0;
}

struct dns_ctx *
dns_new(struct event_base *base, const struct dns_config *cfg, char *err,
	size_t errlen)
{
	struct dns_ctx *ctx;
	char *log = NULL, *p, msg[256];
	size_t loglen = 0;
	FILE *logf;
	int r;

	if (base == NULL || cfg == NULL) {
		errf(err, errlen, "no event base or configuration");
		return NULL;
	}
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	ctx->base = base;
	ctx->timeout_ms =
	    cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	if ((ctx->ub = ub_ctx_create_event(base)) == NULL) {
		errf(err, errlen, "cannot create a libunbound context");
		free(ctx);
		return NULL;
	}
	/* unbound logs to stderr by default; keep its words for err during
	 * set-up, drop them afterwards */
	logf = open_memstream(&log, &loglen);
	ub_ctx_debugout(ctx->ub, logf);

	if (cfg->unbound_conf != NULL && *cfg->unbound_conf != '\0') {
		if (access(cfg->unbound_conf, R_OK) != 0) {
			errf(err, errlen, "unbound_conf %s: %s",
			     cfg->unbound_conf, strerror(errno));
			goto fail;
		}
		r = capture_stderr(ub_ctx_config, ctx->ub, cfg->unbound_conf,
				   msg, sizeof(msg));
		if (r != 0) {
			errf(err, errlen, "unbound_conf %s: %s",
			     cfg->unbound_conf,
			     msg[0] != '\0' ? msg : ub_strerror(r));
			goto fail;
		}
	}
	if (add_forwarders(ctx->ub, cfg->forward, err, errlen) < 0)
		goto fail;
	if (cfg->trust_anchor != NULL && *cfg->trust_anchor != '\0') {
		if (access(cfg->trust_anchor, R_OK) != 0) {
			errf(err, errlen, "trust anchor %s: %s",
			     cfg->trust_anchor, strerror(errno));
			goto fail;
		}
		if ((r = ub_ctx_add_ta_file(ctx->ub, cfg->trust_anchor)) != 0) {
			errf(err, errlen, "trust anchor %s: %s",
			     cfg->trust_anchor, ub_strerror(r));
			goto fail;
		}
	}
	r = finalize(ctx->ub, msg, sizeof(msg));
	if (logf != NULL)
		fflush(logf);
	if (r < 0) {
		char why[200];

		log_line(log, "error: ", why, sizeof(why));
		errf(err, errlen, "libunbound set-up failed: %s",
		     why[0] != '\0' ? why : msg);
		goto fail;
	}
	if (log != NULL && (p = strstr(log, "anchor is ignored")) != NULL) {
		char why[200];

		/* validation would silently be off: every answer insecure */
		while (p > log && p[-1] != '\n')
			p--;
		log_line(p, "warning: ", why, sizeof(why));
		errf(err, errlen, "trust anchor: %s", why);
		goto fail;
	}
	ub_ctx_debugout(ctx->ub, NULL);
	if (logf != NULL)
		fclose(logf);
	free(log);
	return ctx;
fail:
	ub_ctx_debugout(ctx->ub, NULL);
	ub_ctx_delete(ctx->ub);
	if (logf != NULL)
		fclose(logf);
	free(log);
	free(ctx);
	return NULL;
}

int
dns_lookup(struct dns_ctx *ctx, const char *name, uint16_t rrtype, dns_cb cb,
	   void *arg, struct dns_query **out)
{
	struct dns_query *q;
	struct timeval tv;
	int r;

	if (out != NULL)
		*out = NULL;
	if (ctx == NULL || cb == NULL)
		return -1;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return -1;
	if ((q->answer = calloc(1, sizeof(*q->answer))) == NULL ||
	    check_name(name, q->answer->qname) < 0)
		goto fail;
	q->answer->qtype = rrtype;
	q->answer->status = DNS_ERROR;
	q->timer = evtimer_new(ctx->base, on_timeout, q);
	if (q->timer == NULL)
		goto fail;
	q->ctx = ctx;
	q->cb = cb;
	q->arg = arg;
	q->starting = 1;

	/* a cached answer comes from inside ub_resolve_event(): on_answer()
	 * then only fills q->answer and marks q done (finish()) */
	LIST_INSERT_HEAD(&ctx->queries, q, link);
	ctx->pending++;
	if (out != NULL)
		*out = q;

	r = ub_resolve_event(ctx->ub, q->answer->qname, rrtype, 1, q, on_answer,
			     &q->async_id);
	q->starting = 0;
	if (q->done) {
		/* answered already: deliver from the loop, with no delay */
		tv.tv_sec = 0;
		tv.tv_usec = 0;
		evtimer_add(q->timer, &tv);
		return 0;
	}
	if (r != 0) {
		unlink_query(q);
		if (out != NULL)
			*out = NULL;
		goto fail;
	}
	tv.tv_sec = ctx->timeout_ms / 1000;
	tv.tv_usec = (ctx->timeout_ms % 1000) * 1000;
	evtimer_add(q->timer, &tv);
	return 0;
fail:
	free_query(q);
	return -1;
}

void
dns_cancel(struct dns_query *q)
{
	if (q == NULL)
		return;
	/* a deferred answer's id is unbound's no more (it may be reused) */
	if (!q->done)
		(void)ub_cancel(q->ctx->ub, q->async_id);
	unlink_query(q);
	free_query(q);
}

void
dns_free(struct dns_ctx *ctx)
{
	if (ctx == NULL)
		return;
	while (!LIST_EMPTY(&ctx->queries))
		dns_cancel(LIST_FIRST(&ctx->queries));
	/* cancelled queries still in unbound's mesh end here, silently */
	ub_ctx_delete(ctx->ub);
	free(ctx);
}

size_t
dns_pending(const struct dns_ctx *ctx)
{
	return ctx != NULL ? ctx->pending : 0;
}
