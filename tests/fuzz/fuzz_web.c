/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * fuzz_web.c - what a stranger sends the web page (docs/web.md): the query
 * string of /check and /api/check, read with libevent's
 * evhttp_parse_query_str as component/webcheck.c does, its `domain`
 * normalised and shown back in the form; and X-Forwarded-For values read
 * by webaddr_client (component/webaddr.h) behind a trusted proxy.
 *
 * Input: a control byte (which peer: a trusted IPv4 proxy, a trusted IPv6
 * proxy, or a stranger), the query string up to the first LF, then one
 * X-Forwarded-For value per line (the last 16 kept, as webcheck.c does).
 * The query string is also read as a hostile `trusted_proxies` list.
 *
 * Checked: a normalised domain is LDH and at most 253 bytes; the form
 * page that echoes the typed value and the refusal has as many `<`, `>`
 * and `"` as the same page with a plain value (nothing typed opens a tag
 * or leaves an attribute); the client of a stranger is the stranger
 * itself, and behind a trusted proxy it is the peer or one of the
 * addresses sent; every message is terminated.
 */
#include "fuzz.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>

#include "component/html.h"
#include "component/names.h"
#include "component/webaddr.h"
#include "util/buf.h"

#define XFF_KEPT 16

static struct webaddr_proxies trusted;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[128];

	(void)argc;
	(void)argv;
	if (webaddr_proxies_parse("127.0.0.1 10.0.0.0/8, 2001:db8::/32",
				  &trusted, err, sizeof(err)) < 0)
		abort();
	return 0;
}

static void
count_marks(const struct buf *b, size_t n[3])
{
	n[0] = n[1] = n[2] = 0;
	for (size_t i = 0; i < b->len; i++) {
		n[0] += b->s[i] == '<';
		n[1] += b->s[i] == '>';
		n[2] += b->s[i] == '"';
	}
}

/* The form shown back with the typed value and why it was refused, as
 * webcheck.c does for an invalid domain. */
static void
form_echo(const char *value, const char *why)
{
	struct html_ctx c = {"https://example.org/cw", "certwatch.example.org",
			     0};
	struct buf hostile = BUF_INIT, plain = BUF_INIT;
	char msg[300];
	size_t a[3], b[3];

	snprintf(msg, sizeof(msg), "Not a domain name: %s", why);
	html_index(&hostile, &c, strlen(value) <= 253 ? value : "", msg);
	html_index(&plain, &c, "x", "Not a domain name: y");
	count_marks(&hostile, a);
	count_marks(&plain, b);
	FUZZ_CHECK(a[0] == b[0] && a[1] == b[1] && a[2] == b[2]);
	buf_free(&hostile);
	buf_free(&plain);
}

static void
query(const char *q)
{
	struct evkeyvalq kv;
	const char *v;
	struct domain_name d;
	char why[256];

	TAILQ_INIT(&kv);
	if (evhttp_parse_query_str(q, &kv) == 0 &&
	    (v = evhttp_find_header(&kv, "domain")) != NULL) {
		why[0] = '\0';
		if (names_domain(v, strlen(v), &d, why, sizeof(why)) == 0) {
			size_t n = strlen(d.a);
			FUZZ_CHECK(n > 0 && n <= 253);
			for (size_t i = 0; i < n; i++)
				FUZZ_CHECK((d.a[i] >= 'a' && d.a[i] <= 'z') ||
					   (d.a[i] >= '0' && d.a[i] <= '9') ||
					   d.a[i] == '-' || d.a[i] == '.');
		} else {
			FUZZ_CHECK(fuzz_terminated(why, sizeof(why)));
			form_echo(v, why);
		}
	}
	evhttp_clear_headers(&kv);
}

static void
forwarded(uint8_t which, char *lines)
{
	static const char *const peers[] = {"127.0.0.1", "2001:db8::7",
					    "192.0.2.1"};
	const char *xff[XFF_KEPT];
	size_t n = 0;
	struct webaddr peer, out, sent;
	char text[64], tiny[4];
	const char *p = peers[which % 3];
	int matched = 0;

	FUZZ_CHECK(webaddr_parse(p, strlen(p), &peer) == 0);
	for (char *line = lines, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (n == XFF_KEPT) /* keep the last, as webcheck.c does */
			memmove(xff, xff + 1, --n * sizeof(xff[0]));
		xff[n++] = line;
	}
	webaddr_client(&peer, &trusted, xff, n, &out);
	if (!webaddr_proxies_match(&trusted, &peer)) {
		FUZZ_CHECK(memcmp(&out, &peer, sizeof(out)) == 0);
	} else {
		matched = memcmp(&out, &peer, sizeof(out)) == 0;
		/* Otherwise it is one of the addresses sent. */
		for (size_t i = 0; i < n && !matched; i++) {
			const char *s = xff[i];
			while (*s && !matched) {
				size_t len = strcspn(s, ",");
				if (webaddr_parse(s, len, &sent) == 0 &&
				    memcmp(&sent, &out, sizeof(out)) == 0)
					matched = 1;
				s += len;
				if (*s == ',')
					s++;
			}
		}
		FUZZ_CHECK(matched);
	}
	webaddr_format(&out, text, sizeof(text));
	FUZZ_CHECK(fuzz_terminated(text, sizeof(text)));
	webaddr_format(&out, tiny, sizeof(tiny));
	FUZZ_CHECK(fuzz_terminated(tiny, sizeof(tiny)));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct webaddr_proxies hostile;
	char err[128];
	char *text, *rest;

	if (size < 1)
		return 0;
	text = fuzz_strdup(data + 1, size - 1);
	rest = strchr(text, '\n');
	if (rest)
		*rest++ = '\0';
	query(text);
	err[0] = '\0';
	if (webaddr_proxies_parse(text, &hostile, err, sizeof(err)) < 0)
		FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) && err[0]);
	else
		FUZZ_CHECK(hostile.n <= WEBADDR_MAX_PROXIES);
	if (rest)
		forwarded(data[0], rest);
	free(text);
	return 0;
}
