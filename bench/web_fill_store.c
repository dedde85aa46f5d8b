/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * web_fill_store.c - fills a state directory with N watched domains (for
 * bench_web.sh and test_web.py), through the store's own API: each domain
 * gets four endpoints, two keys seen, a few verdict changes and one chat
 * subscriber.  With --hostile it also stores `evil.test`, whose endpoint
 * error and history note (free text from remote servers and DNS, in the
 * real daemon) carry HTML and script, for the escaping test.
 *
 * usage: web_fill_store DIR N [--hostile]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

static const char *const services[4] = {"xmpp-client", "xmpps-client",
					"xmpp-server", "xmpps-server"};
static const unsigned ports[4] = {5222, 5223, 5269, 5270};

static int
fill_one(struct store *st, const char *name, const char *error,
	 const char *note, int64_t now)
{
	char host[300], k1[65], k2[65];
	struct store_endpoint eps[4];
	struct store_change ch;
	struct store_update u;
	unsigned h = 0;
	int rc;

	for (const char *p = name; *p; p++)
		h = h * 31u + (unsigned char)*p;
	snprintf(host, sizeof(host), "xmpp.%s", name);
	for (int i = 0; i < 64; i++) {
		k1[i] = "0123456789abcdef"[(h >> (i % 28)) & 15];
		k2[i] = "fedcba9876543210"[(h >> (i % 27)) & 15];
	}
	k1[64] = k2[64] = '\0';
	/* Two rounds: the older key, then the current one, with changes. */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 4; i++) {
			eps[i] = (struct store_endpoint){
			    .service = services[i],
			    .host = host,
			    .port = ports[i],
			    .verdict = round ? "ok" : "no-tlsa",
			    .spki = round ? k1 : k2,
			    .error = i == 3 ? error : NULL,
			};
		}
		ch = (struct store_change){
		    .time = now - 86400 + round * 3600,
		    .from = round ? "no-tlsa" : NULL,
		    .to = round ? "ok" : "no-tlsa",
		    .note = note,
		};
		u = (struct store_update){
		    .verdict = round ? "ok" : "no-tlsa",
		    .checked = now - 86400 + round * 3600,
		    .next_due = now + 3600,
		    .endpoints = eps,
		    .n_endpoints = 4,
		    .change = &ch,
		};
		if ((rc = store_domain_record(st, name, &u)) < 0)
			return rc;
	}
	return store_sub_add(st, name, "watcher@example.org");
}

int
main(int argc, char **argv)
{
	struct store *st;
	char err[512], name[64];
	long n;
	int64_t now = (int64_t)time(NULL);

	if (argc < 3) {
		fprintf(stderr, "usage: web_fill_store DIR N [--hostile]\n");
		return 2;
	}
	n = strtol(argv[2], NULL, 10);
	if (store_open(argv[1], &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "web_fill_store: %s\n", err);
		return 1;
	}
	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "d%05ld.example", i);
		/* Defences kept (docs/store.md, the defence line): CAA
		 * bound on one domain in three, none on the others. */
		if (fill_one(st, name, i % 7 ? NULL : "tcp: connection refused",
			     NULL, now) < 0 ||
		    store_domain_set_defence(
			st, name,
			i % 3 ? "caa=none cb=none expiry=ok tlsa=strong "
				"next_key=none key_reuse=kept not_after=1 "
				"cb_ep=0/5222/0/13/0badf00d/0/0/0"
			      : "caa=bound cb=offered expiry=soon tlsa=strong "
				"next_key=yes key_reuse=kept not_after=1 "
				"cb_ep=0/5222/1/13/0badf00d/0/0/0") < 0) {
			fprintf(stderr, "web_fill_store: cannot store %s\n",
				name);
			return 1;
		}
	}
	if (argc > 3 && !strcmp(argv[3], "--hostile") &&
	    fill_one(
		st, "evil.test",
		"stream: <script>alert('error')</script>&amp;\"",
		"<script>alert('note')</script><img src=x onerror=alert(1)>",
		now) < 0) {
		fprintf(stderr, "web_fill_store: cannot store evil.test\n");
		return 1;
	}
	if (store_commit_sync(st) < 0) {
		fprintf(stderr, "web_fill_store: commit failed\n");
		return 1;
	}
	store_close(st);
	return 0;
}
