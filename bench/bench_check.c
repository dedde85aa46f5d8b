/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * bench_check.c - checks per second, probes per second, CPU per probe and
 * memory per probe in flight, for one domain, on one event loop.
 *
 *   bench_check ANCHOR UNBOUND_CONF DOMAIN CHECKS CONCURRENCY [VANTAGES]
 *
 * Direct mode with private targets allowed (the lab).  VANTAGES = k sets
 * [probe] vantages to k direct vantages (each address probed k times, as
 * from k places; docs/performance.md); without it, the one vantage of
 * `via`, as before issue 14.  Prints one line of
 * key=value figures; bench/bench_check.py runs it beside a loop of
 * `openssl s_client -dane_tlsa_rrdata` and writes the table.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>

#include "dns/dns.h"
#include "probe/check.h"

struct bench {
	struct check_env *env;
	const char *domain;
	int left, running, done, bad;
	unsigned probes;
	size_t max_in_flight;
	struct event_base *base;
};

static void start_one(struct bench *b);

static long
rss_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			v = atol(line + strlen(field));
	fclose(f);
	return v;
}

static void
done_cb(struct check_result *r, void *arg)
{
	struct bench *b = arg;

	b->running--;
	b->done++;
	b->probes += r->probes;
	if (r->verdict != VERDICT_OK)
		b->bad++;
	check_result_free(r);
	if (b->left > 0)
		start_one(b);
	else if (b->running == 0)
		event_base_loopbreak(b->base);
}

static void
start_one(struct bench *b)
{
	b->left--;
	b->running++;
	if (check_start(b->env, b->domain, b->domain, done_cb, b) == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	size_t f = check_env_probes_in_flight(b->env);
	if (f > b->max_in_flight)
		b->max_in_flight = f;
}

static double
tv_s(struct timeval t)
{
	return (double)t.tv_sec + t.tv_usec / 1e6;
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct dns_ctx *dns;
	char err[512];
	struct bench b = {0};
	struct timeval t0, t1;
	struct rusage u0, u1;

	if (argc != 6 && argc != 7) {
		fprintf(stderr, "usage: bench_check ANCHOR UNBOUND_CONF DOMAIN "
				"CHECKS CONCURRENCY [VANTAGES]\n");
		return 2;
	}
	base = event_base_new();
	struct dns_config dc = {argv[1], "", argv[2], 5000};
	dns = dns_new(base, &dc, err, sizeof(err));
	if (dns == NULL) {
		fprintf(stderr, "dns: %s\n", err);
		return 1;
	}
	struct check_config cc = {
	    .base = base,
	    .dns = dns,
	    .probe = {.via_socks = 0, .timeout_ms = 10000, .allow_private = 1},
	    .max_probes = 64,
	};
	int k = argc == 7 ? atoi(argv[6]) : 0;
	if (k < 0 || k > CHECK_MAX_VANTAGES) {
		fprintf(stderr, "VANTAGES: 0 to %d\n", CHECK_MAX_VANTAGES);
		return 2;
	}
	for (int i = 0; i < k; i++)
		snprintf(cc.vantages[i].name, sizeof(cc.vantages[i].name),
			 i ? "direct%d" : "direct", i + 1);
	cc.nvantages = (size_t)k;
	b.env = check_env_new(&cc);
	b.base = base;
	b.domain = argv[3];
	int checks = atoi(argv[4]), conc = atoi(argv[5]);

	/* One warm-up check fills libunbound's cache, as a running daemon's
	 * would be. */
	b.left = 1;
	start_one(&b);
	event_base_dispatch(base);
	b.done = b.bad = 0;
	b.probes = 0;
	b.max_in_flight = 0;

	long rss0 = rss_kb("VmRSS:");
	gettimeofday(&t0, NULL);
	getrusage(RUSAGE_SELF, &u0);
	b.left = checks;
	for (int i = 0; i < conc && b.left > 0; i++)
		start_one(&b);
	event_base_dispatch(base);
	gettimeofday(&t1, NULL);
	getrusage(RUSAGE_SELF, &u1);
	long hwm = rss_kb("VmHWM:");

	double wall = tv_s(t1) - tv_s(t0);
	double cpu = tv_s(u1.ru_utime) - tv_s(u0.ru_utime) + tv_s(u1.ru_stime) -
		     tv_s(u0.ru_stime);
	printf("vantages=%d checks=%d bad=%d probes=%u wall_s=%.3f cpu_s=%.3f "
	       "checks_per_s=%.1f probes_per_s=%.1f cpu_ms_per_probe=%.3f "
	       "rss_start_kb=%ld rss_peak_kb=%ld max_probes_in_flight=%zu "
	       "kb_per_probe_in_flight=%.1f\n",
	       k, b.done, b.bad, b.probes, wall, cpu, b.done / wall,
	       b.probes / wall, b.probes ? cpu * 1000 / b.probes : 0.0, rss0,
	       hwm, b.max_in_flight,
	       b.max_in_flight ? (double)(hwm - rss0) / b.max_in_flight : 0.0);
	check_env_free(b.env);
	dns_free(dns);
	event_base_free(base);
	return b.bad ? 1 : 0;
}
