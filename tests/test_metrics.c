/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_metrics.c - the per-domain series of /metrics (docs/web.md): watched
 * domains by verdict, each domain's verdict, last check and endpoints' key
 * match, label values escaped, [http] metrics_per_domain, the cut above
 * METRICS_MAX_DOMAINS.  The page is rendered from a real store in a
 * temporary directory and handed to `promtool check metrics` (Debian's
 * prometheus package), which parses it as Prometheus does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "component/metrics.h"
#include "store/store.h"

static char dir[64];
static struct store *st;

static int
setup(void **state)
{
	char err[256];

	snprintf(dir, sizeof(dir), "/tmp/test_metrics.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	return store_open(dir, &st, err, sizeof(err)) < 0 ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
record(const char *name, const char *verdict, int64_t checked,
       const struct store_endpoint *eps, size_t n)
{
	struct store_update u = {
	    .verdict = verdict,
	    .checked = checked,
	    .next_due = checked + 3600,
	    .endpoints = eps,
	    .n_endpoints = n,
	};
	assert_int_equal(store_domain_record(st, name, &u), 0);
}

/* promtool's verdict on the page: 0 when it parses cleanly. */
static int
promtool(const struct buf *b)
{
	FILE *p = popen("promtool check metrics >/dev/null 2>&1", "w");

	assert_non_null(p);
	fwrite(b->s, 1, b->len, p);
	return pclose(p);
}

static size_t
count(const char *s, const char *needle)
{
	size_t n = 0;

	for (; (s = strstr(s, needle)) != NULL; s++)
		n++;
	return n;
}

static void
t_per_domain(void **state)
{
	struct store_endpoint good[2] = {
	    {.service = "xmpp-client",
	     .host = "xmpp.good.test",
	     .port = 5222,
	     .verdict = "ok",
	     .spki = NULL},
	    {.service = "xmpp-server",
	     .host = "xmpp.good.test",
	     .port = 5269,
	     .verdict = "ok"},
	};
	/* One endpoint intercepted, one unreachable (no key compared), one
	 * whose host carries what a label value must escape. */
	struct store_endpoint bad[3] = {
	    {.service = "xmpp-client",
	     .host = "mitm.bad.test",
	     .port = 5222,
	     .verdict = "mismatch"},
	    {.service = "xmpps-client",
	     .host = "down.bad.test",
	     .port = 5223,
	     .verdict = "unreachable",
	     .error = "connection refused"},
	    {.service = "xmpp-server",
	     .host = "q\"uote\\back.bad.test",
	     .port = 5269,
	     .verdict = "ok"},
	};
	struct metrics_sources src = {.connected = -1, .reconnects = -1};
	struct metrics *m = metrics_new();
	struct buf b = BUF_INIT;

	record("good.test", "ok", 1700000000, good, 2);
	record("bad.test", "mismatch", 1700000100, bad, 3);
	assert_int_equal(store_domain_add(st, "new.test"), 1);
	src.store = st;
	metrics_render(m, &src, &b);

	assert_non_null(strstr(b.s, "# TYPE certwatch_domains gauge\n"));
	assert_non_null(strstr(b.s, "certwatch_domains{verdict=\"ok\"} 1\n"));
	assert_non_null(
	    strstr(b.s, "certwatch_domains{verdict=\"mismatch\"} 1\n"));
	assert_non_null(strstr(b.s, "certwatch_domains{verdict=\"none\"} 1\n"));
	assert_non_null(
	    strstr(b.s, "certwatch_domains{verdict=\"bogus\"} 0\n"));
	assert_non_null(strstr(b.s, "certwatch_domain_verdict{domain=\"bad."
				    "test\",verdict=\"mismatch\"} "
				    "1\n"));
	assert_non_null(strstr(
	    b.s,
	    "certwatch_domain_verdict{domain=\"good.test\",verdict=\"ok\"} "
	    "1\n"));
	assert_non_null(strstr(b.s, "certwatch_domain_verdict{domain=\"new."
				    "test\",verdict=\"none\"} 1\n"));
	assert_int_equal(count(b.s, "certwatch_domain_verdict{"), 3);
	assert_non_null(strstr(b.s,
			       "certwatch_domain_last_check_timestamp_"
			       "seconds{domain=\"bad.test\"} 1700000100\n"));
	/* Never checked: no timestamp. */
	assert_null(strstr(b.s, "certwatch_domain_last_check_timestamp_seconds{"
				"domain=\"new.test\""));
	assert_non_null(strstr(
	    b.s, "certwatch_endpoint_key_match{domain=\"bad.test\",service="
		 "\"xmpp-client\",host=\"mitm.bad.test\",port=\"5222\"} 0\n"));
	assert_non_null(strstr(
	    b.s, "certwatch_endpoint_key_match{domain=\"good.test\",service="
		 "\"xmpp-server\",host=\"xmpp.good.test\",port=\"5269\"} 1\n"));
	assert_non_null(strstr(
	    b.s, "certwatch_endpoint_key_match{domain=\"bad.test\",service="
		 "\"xmpp-server\",host=\"q\\\"uote\\\\back.bad.test\","
		 "port=\"5269\"} 1\n"));
	assert_null(strstr(b.s, "down.bad.test"));
	assert_int_equal(count(b.s, "certwatch_endpoint_key_match{"), 4);
	assert_int_equal(promtool(&b), 0);

	/* [http] metrics_per_domain = no: the counts only. */
	buf_reset(&b);
	metrics_set_per_domain(m, 0);
	metrics_render(m, &src, &b);
	assert_non_null(strstr(b.s, "certwatch_domains{verdict=\"ok\"} 1\n"));
	assert_null(strstr(b.s, "domain=\""));
	assert_int_equal(promtool(&b), 0);

	buf_free(&b);
	metrics_free(m);
}

/* certwatch_domains_defence{defence,state}: watched domains counted from
 * their `defence` lines; every label value from a fixed list, whatever a
 * line holds; a domain not checked yet is counted nowhere. */
static void
t_defences(void **state)
{
	struct metrics_sources src = {.connected = -1, .reconnects = -1};
	struct metrics *m = metrics_new();
	struct buf b = BUF_INIT;
	const char *p;

	record("a.test", "ok", 1700000000, NULL, 0);
	record("b.test", "ok", 1700000000, NULL, 0);
	record("c.test", "ok", 1700000000, NULL, 0);
	assert_int_equal(store_domain_add(st, "new.test"), 1);
	assert_int_equal(
	    store_domain_set_defence(
		st, "a.test",
		"caa=bound cb=offered expiry=ok tlsa=strong next_key=yes "
		"key_reuse=kept not_after=1 expiry_alerted=0"),
	    1);
	assert_int_equal(
	    store_domain_set_defence(
		st, "b.test",
		"caa=none cb=na expiry=soon tlsa=weak next_key=none "
		"key_reuse=new not_after=1 expiry_alerted=1 evil=\"x\\\"}"),
	    1);
	/* A line that does not parse: counted nowhere. */
	assert_int_equal(
	    store_domain_set_defence(st, "c.test", "caa=bound cb=sometimes"),
	    1);
	src.store = st;
	metrics_render(m, &src, &b);
	assert_non_null(
	    strstr(b.s, "# TYPE certwatch_domains_defence gauge\n"));
	static const char *const want[] = {
	    "{defence=\"caa\",state=\"bound\"} 1\n",
	    "{defence=\"caa\",state=\"none\"} 1\n",
	    "{defence=\"caa\",state=\"unknown\"} 0\n",
	    "{defence=\"channel_binding\",state=\"offered\"} 1\n",
	    "{defence=\"channel_binding\",state=\"none\"} 0\n",
	    "{defence=\"expiry\",state=\"ok\"} 1\n",
	    "{defence=\"expiry\",state=\"soon\"} 1\n",
	    "{defence=\"expiry\",state=\"expired\"} 0\n",
	    "{defence=\"tlsa_quality\",state=\"strong\"} 1\n",
	    "{defence=\"tlsa_quality\",state=\"weak\"} 1\n",
	    "{defence=\"next_key\",state=\"yes\"} 1\n",
	    "{defence=\"next_key\",state=\"none\"} 1\n",
	    "{defence=\"key_reuse\",state=\"kept\"} 1\n",
	    "{defence=\"key_reuse\",state=\"new\"} 1\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char line[160];
		snprintf(line, sizeof(line), "certwatch_domains_defence%s",
			 want[i]);
		if (strstr(b.s, line) == NULL)
			fail_msg("no %s", line);
	}
	/* 4 + 3 + 4 + 3 + 2 + 3 series, never a "na" state. */
	assert_int_equal(count(b.s, "certwatch_domains_defence{"), 19);
	assert_null(strstr(b.s, "state=\"na\""));
	for (p = b.s; (p = strstr(p, "certwatch_domains_defence{")); p++)
		assert_null(memchr(p, '\\', strcspn(p, "\n")));
	assert_int_equal(promtool(&b), 0);
	buf_free(&b);
	metrics_free(m);
}

/* A broken escape is what promtool must catch: the check above would pass
 * a page it cannot parse otherwise. */
static void
t_promtool_catches(void **state)
{
	struct buf b = BUF_INIT;

	buf_puts(&b, "# TYPE certwatch_x gauge\n"
		     "certwatch_x{host=\"q\"uote\"} 1\n");
	assert_int_not_equal(promtool(&b), 0);
	buf_free(&b);
}

/* Above METRICS_MAX_DOMAINS watched domains, counts only. */
static void
t_cut(void **state)
{
	struct metrics_sources src = {
	    .store = st, .connected = -1, .reconnects = -1};
	struct metrics *m = metrics_new();
	struct buf b = BUF_INIT;
	char name[32];
	struct store_stats ss;

	store_stats(st, &ss);
	for (size_t i = ss.domains; i <= METRICS_MAX_DOMAINS; i++) {
		snprintf(name, sizeof(name), "d%zu.test", i);
		assert_true(store_domain_add(st, name) >= 0);
	}
	metrics_render(m, &src, &b);
	assert_null(strstr(b.s, "certwatch_domain_verdict"));
	assert_non_null(strstr(b.s, "certwatch_domains{verdict=\"none\"} "));
	assert_int_equal(promtool(&b), 0);

	/* One fewer: the series come back. */
	assert_int_equal(store_domain_remove(st, name), 1);
	buf_reset(&b);
	metrics_render(m, &src, &b);
	assert_int_equal(count(b.s, "certwatch_domain_verdict{"),
			 METRICS_MAX_DOMAINS);
	assert_int_equal(promtool(&b), 0);
	buf_free(&b);
	metrics_free(m);
}

/* The value of certwatch_domains_split on the page m renders now (-1:
 * absent); the page must pass promtool. */
static long
split_gauge(struct metrics *m, const struct metrics_sources *src)
{
	static const char name[] = "\ncertwatch_domains_split ";
	struct buf b = BUF_INIT;
	const char *p;
	long v = -1;

	metrics_render(m, src, &b);
	if ((p = strstr(b.s, name)) != NULL)
		v = strtol(p + sizeof(name) - 1, NULL, 10);
	assert_non_null(strstr(b.s, "# TYPE certwatch_domains_split gauge\n"));
	assert_int_equal(promtool(&b), 0);
	buf_free(&b);
	return v;
}

/* certwatch_domains_split: the watched domains whose split alarm is open
 * (the flag of their `split` line), per_domain or not. */
static void
t_split(void **state)
{
	struct store_continuity open = {.split_rounds = 3,
					.flags = STORE_CONT_ALARM};
	struct store_continuity past = {.split_rounds = 1};
	struct metrics_sources src = {
	    .connected = -1, .reconnects = -1, .store = st};
	struct metrics *m = metrics_new();

	record("a.test", "no-tlsa", 1700000000, NULL, 0);
	record("b.test", "ok", 1700000000, NULL, 0);
	assert_int_equal(store_domain_add(st, "c.test"), 1);
	assert_int_equal(split_gauge(m, &src), 0);
	/* One open, one with past split rounds only. */
	assert_true(store_domain_set_continuity(st, "a.test", &open) >= 0);
	assert_true(store_domain_set_continuity(st, "b.test", &past) >= 0);
	assert_int_equal(split_gauge(m, &src), 1);
	metrics_set_per_domain(m, 0);
	assert_true(store_domain_set_continuity(st, "b.test", &open) >= 0);
	assert_int_equal(split_gauge(m, &src), 2);
	metrics_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(t_per_domain, setup, teardown),
	    cmocka_unit_test(t_promtool_catches),
	    cmocka_unit_test_setup_teardown(t_defences, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_cut, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_split, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
