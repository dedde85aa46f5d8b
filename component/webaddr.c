/* SPDX-License-Identifier: GPL-3.0-or-later */
/* webaddr.c - client addresses behind trusted proxies, and per-client
 * token buckets. */
#include "component/webaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "util/hmap.h"

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

int
webaddr_parse(const char *s, size_t len, struct webaddr *out)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	struct in_addr a4;

	while (len > 0 && is_blank(*s)) {
		s++;
		len--;
	}
	while (len > 0 && is_blank(s[len - 1]))
		len--;
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(tmp) || memchr(s, '\0', len))
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (inet_pton(AF_INET, tmp, &a4) == 1) {
		memcpy(out->a, v4mapped, 12);
		memcpy(out->a + 12, &a4, 4);
		return 0;
	}
	return inet_pton(AF_INET6, tmp, out->a) == 1 ? 0 : -1;
}

int
webaddr_from_sockaddr(const struct sockaddr *sa, struct webaddr *out)
{
	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		memcpy(out->a, v4mapped, 12);
		memcpy(out->a + 12, &s4->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		memcpy(out->a, &s6->sin6_addr, 16);
		return 0;
	}
	return -1;
}

static int
is_v4(const struct webaddr *a)
{
	return memcmp(a->a, v4mapped, 12) == 0;
}

int
webaddr_proxies_parse(const char *text, struct webaddr_proxies *out, char *err,
		      size_t errlen)
{
	const char *p = text;

	out->n = 0;
	for (;;) {
		while (*p == ',' || is_blank(*p))
			p++;
		if (*p == '\0')
			return 0;
		const char *end = p;
		while (*end && *end != ',' && !is_blank(*end))
			end++;
		const char *slash = memchr(p, '/', (size_t)(end - p));
		struct webaddr_net net;
		size_t alen = (size_t)((slash ? slash : end) - p);
		if (webaddr_parse(p, alen, &net.addr) < 0) {
			snprintf(err, errlen,
				 "\"%.*s\" is not a numeric IP "
				 "address",
				 (int)(end - p > 64 ? 64 : end - p), p);
			return -1;
		}
		unsigned max = is_v4(&net.addr) ? 32 : 128;
		net.prefix = max;
		if (slash) {
			unsigned v = 0;
			const char *d = slash + 1;
			if (d == end || end - d > 3) {
				snprintf(err, errlen,
					 "bad prefix length in "
					 "\"%.*s\"",
					 (int)(end - p), p);
				return -1;
			}
			for (; d < end; d++) {
				if (*d < '0' || *d > '9') {
					snprintf(err, errlen,
						 "bad prefix "
						 "length in \"%.*s\"",
						 (int)(end - p), p);
					return -1;
				}
				v = v * 10 + (unsigned)(*d - '0');
			}
			if (v > max) {
				snprintf(err, errlen, "prefix /%u too long", v);
				return -1;
			}
			net.prefix = v;
		}
		if (max == 32) /* over the mapped form */
			net.prefix += 96;
		if (out->n == WEBADDR_MAX_PROXIES) {
			snprintf(err, errlen, "more than %d trusted proxies",
				 WEBADDR_MAX_PROXIES);
			return -1;
		}
		out->nets[out->n++] = net;
		p = end;
	}
}

static int
in_net(const struct webaddr_net *n, const struct webaddr *a)
{
	unsigned full = n->prefix / 8, rest = n->prefix % 8;

	if (memcmp(n->addr.a, a->a, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (n->addr.a[full] & mask) == (a->a[full] & mask);
}

int
webaddr_proxies_match(const struct webaddr_proxies *p, const struct webaddr *a)
{
	for (size_t i = 0; i < p->n; i++)
		if (in_net(&p->nets[i], a))
			return 1;
	return 0;
}

void
webaddr_client(const struct webaddr *peer,
	       const struct webaddr_proxies *trusted, const char *const *xff,
	       size_t n, struct webaddr *out)
{
	*out = *peer;
	if (!webaddr_proxies_match(trusted, peer))
		return;
	/* Right to left over every item of every header. */
	for (size_t h = n; h-- > 0;) {
		const char *v = xff[h];
		size_t end = strlen(v);
		for (;;) {
			size_t start = end;
			while (start > 0 && v[start - 1] != ',')
				start--;
			struct webaddr a;
			if (webaddr_parse(v + start, end - start, &a) < 0)
				return; /* garbage: trust nothing further */
			*out = a;
			if (!webaddr_proxies_match(trusted, &a))
				return;
			if (start == 0)
				break;
			end = start - 1;
		}
	}
}

void
webaddr_format(const struct webaddr *a, char *out, size_t len)
{
	const char *ok;

	if (len == 0)
		return;
	if (is_v4(a))
		ok = inet_ntop(AF_INET, a->a + 12, out, (socklen_t)len);
	else
		ok = inet_ntop(AF_INET6, a->a, out, (socklen_t)len);
	/* inet_ntop leaves out untouched when it does not fit. */
	if (ok == NULL)
		out[0] = '\0';
}

/* ---- token buckets ---- */

void
webaddr_rate_init(struct webaddr_rate *r, unsigned per_minute)
{
	memset(r, 0, sizeof(*r));
	r->per_minute = per_minute;
}

#define PROBES 8

unsigned
webaddr_rate_take(struct webaddr_rate *r, const struct webaddr *a, double now)
{
	struct webaddr key = *a;
	struct webaddr_rate_slot *s = NULL, *victim = NULL;
	double rate, cap = r->per_minute;

	if (r->per_minute == 0)
		return 0;
	if (!is_v4(&key))
		memset(key.a + 8, 0, 8); /* per /64 */
	if (now <= 0)
		now = 1e-9; /* 0 marks a free slot */
	uint32_t h = hmap_hash(key.a, sizeof(key.a));
	for (unsigned i = 0; i < PROBES; i++) {
		struct webaddr_rate_slot *c =
		    &r->slot[(h + i) % WEBADDR_RATE_SLOTS];
		if (c->last != 0 && !memcmp(&c->key, &key, sizeof(key))) {
			s = c;
			break;
		}
		if (victim == NULL || c->last < victim->last)
			victim = c;
	}
	if (s == NULL) {
		s = victim;
		s->key = key;
		s->tokens = cap;
		s->last = now;
	}
	rate = cap / 60.0; /* tokens per second */
	if (now > s->last)
		s->tokens += (now - s->last) * rate;
	if (s->tokens > cap)
		s->tokens = cap;
	s->last = now;
	if (s->tokens >= 1.0) {
		s->tokens -= 1.0;
		return 0;
	}
	double wait = (1.0 - s->tokens) / rate;
	return wait < 1.0 ? 1u : (unsigned)(wait + 0.999);
}
