/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * check_int.h - what check.c (the check's life: SRV look-ups, the probe
 * queue, deciding, reporting) and check_ep.c (one endpoint: addresses,
 * TLSA, probes, matching, its verdict) share.  Private to probe/.
 */
#ifndef CERTWATCH_CHECK_INT_H
#define CERTWATCH_CHECK_INT_H

#include <sys/queue.h>
#include <sys/time.h>
#include <time.h>

#include "probe/check.h"
#include "probe/dane.h"
#include "probe/verdict.h"

#define CHECK_MAX_ENDPOINTS 32 /* SRV RRsets larger than this are cut */

struct check_env {
	struct check_config cfg;
	struct clock clk; /* cfg.clock, every member set */
	size_t in_flight;
	TAILQ_HEAD(, ep) queue; /* endpoints waiting for a probe slot */
	size_t queued;
	/* probes_per_minute: a token bucket refilled continuously. */
	double tokens;
	int64_t last_refill_ms; /* monotonic */
	struct event *drain;
	LIST_HEAD(, check) checks; /* every live check, for env_free */
	int freeing;		   /* check_env_free: no more draining */
};

enum ep_phase { EP_ADDR, EP_MAIN, EP_KEYS, EP_SNI, EP_DONE };

/* One probe of an endpoint at one address (probe/check_probes.c). */
struct ep_probe {
	struct ep *e;
	struct probe_addr addr;
	char addr_s[46];      /* the address as text */
	size_t vantage;	      /* index into cfg.vantages */
	enum probe_keys keys; /* the other family's probe */
	int matched_done;     /* m and m_ok are set */
	struct probe *probe;
	void *remote; /* an xmpp: vantage's request */
	struct probe_result *res;
	struct dane_match m;
	int m_ok;
};

struct ep {
	struct check *c;
	struct check_endpoint *row; /* in c->res->endpoints */
	int server;
	int fallback;
	enum ep_phase phase;

	struct dns_query *qa, *qaaaa, *qtlsa;
	struct dns_answer *a, *aaaa, *tlsa, *tlsa_orig;
	int tlsa_second; /* looking up at the original name */
	int srv_secure;

	struct probe_addr addrs[32];
	size_t naddrs;
	size_t naddrs_private; /* skipped: private, loopback... */

	/* The SNI = domain probes, one per address (max_addresses). */
	struct ep_probe *ap;
	size_t nap, ap_next;
	size_t nplan;	/* probes to start: nap, or nap + 1
			 * for the other key family's */
	int keys_done;	/* that probe was made or skipped */
	size_t decider; /* the probe whose verdict is the
			 * endpoint's */

	struct probe *probe; /* the SNI = target probe */
	int probe_waiting;   /* in the env's queue */
	TAILQ_ENTRY(ep) qlink;
	struct probe_result *pres;     /* the deciding SNI = domain probe
					* (in ap[], not owned) */
	struct probe_result *pres_sni; /* the SNI = target probe */
	struct dane_match m, m_sni;
	int m_ok, m_sni_ok;
};

/* One CAA walk (check_caa.c). */
struct caa_walk {
	struct check *c;
	struct check_caa *out;
	char q[DNS_NAME_MAX + 1]; /* the name asked now */
	struct dns_query *qcaa;
	unsigned step; /* look-ups started, <= 128 */
};

struct srvq {
	struct check *c;
	enum check_service s;
};

struct check {
	struct check_env *env;
	struct srvq sq[SVC_COUNT];
	LIST_ENTRY(check) link; /* in env->checks */
	struct check_result *res;
	check_cb cb;
	void *arg;

	struct dns_query *qsrv[SVC_COUNT];
	struct dns_answer *srv[SVC_COUNT];
	int srv_done[SVC_COUNT];
	struct ep *eps[CHECK_MAX_ENDPOINTS];
	size_t neps;
	unsigned pending;
	int finishing;
	struct event *done_ev;
	int64_t t0_ms;			/* monotonic, for elapsed_ms */
	struct dane_budget dane_budget; /* every match of this check */

	/* check_zone.c: the unsigned zone of each insecure endpoint. */
	size_t zone_ep;		       /* the endpoint asked about */
	char zone_q[DNS_NAME_MAX + 1]; /* the name asked for its SOA */
	struct dns_query *qzone;
	struct event *zone_timer; /* the walk's deadline */
	int zone_in_lookup, zone_answered;

	/* check_caa.c: the CAA walks up from the domain and each SRV
	 * target (walk 0: the domain). */
	struct caa_walk caa[1 + CHECK_MAX_CAA_TARGETS];
	size_t ncaa;
};

/* check.c */
time_t check_now(const struct check_env *env);
void check_unref(struct check *c);
void check_env_enqueue(struct ep *e);
void check_env_drain(struct check_env *env);
void check_free_strv(char **v, size_t n);

/* check_ep.c */
void check_ref(struct check *c);
int check_answer_failed(const struct dns_answer *a);
/* An answer for a look-up dns_lookup() refused (a bad name), so that it
 * takes the path of every other failure; the callee frees it. */
struct dns_answer *check_failed_answer(const char *qname, uint16_t qtype,
				       const char *why);
enum dns_sec check_sec_worse(enum dns_sec a, enum dns_sec b);
struct ep *check_ep_new(struct check *c, enum check_service svc,
			const char *host, uint16_t port, enum dns_sec srv_sec,
			int fallback);
void check_ep_start(struct ep *e);
void check_ep_probe_start(struct ep *e);
int check_ep_match(struct ep *e);
void check_ep_decide(struct ep *e);
/* A TLSA record as "U S M HEX", whole whatever its size; the caller
 * frees it. */
char *check_tlsa_line(const struct dns_tlsa *t);
/* Removes the addresses probe_addr_is_private() refuses from addrs[0..*n),
 * keeping the order of the others; returns how many it removed, the first
 * of them in *first (may be NULL). */
size_t check_addrs_drop_private(struct probe_addr *addrs, size_t *n,
				struct probe_addr *first);

/* check_probes.c */
/* The addresses to probe: IPv4 and IPv6 in turn, in DNS order, at most
 * max_addresses, from e->addrs. */
void check_ep_plan(struct ep *e);
/* The request of probe p (its address) with that SNI. */
void check_ep_req(const struct ep *e, const struct ep_probe *p, const char *sni,
		  struct probe_req *req);
/* The options of probe p: its vantage's. */
void check_ep_opts(const struct ep *e, const struct ep_probe *p,
		   struct probe_opts *o);
/* Starts the next address's probe; returns 1 while more remain. */
int check_ep_probe_next(struct ep *e);
/* Matches every probe, then picks the one that decides (the worst). */
/* dane_match of one of e's probe results, or a copy of the match of an
 * earlier probe of e that was shown the same chain. */
void check_ep_dane_match(struct ep *e, const struct dns_answer *t,
			 const struct dane_names *names, time_t now,
			 const struct probe_result *res,
			 struct dane_match *out);
void check_ep_match_all(struct ep *e, const struct dns_answer *t,
			const struct dane_names *names, time_t now);
/* Fills row->probes with each probe's verdict from the endpoint's DNS
 * state `base`. */
void check_ep_probes_report(struct ep *e, const struct verdict_input *base);
/* Once per endpoint, after the first handshakes: one more offering only
 * the other signature family (RSA vs ECDSA), at the deciding probe's
 * address and vantage; returns 1 when started.  check_ep_keys_end() keeps
 * it as a probe when its handshake completed (a refused one is ignored:
 * most servers hold one key). */
int check_ep_keys_start(struct ep *e);
void check_ep_keys_end(struct ep *e);
/* The key-split warnings of the whole check, from the rows' probes
 * (after every decide). */
void check_split(struct check_result *r);
void check_ep_probes_free(struct ep *e, struct check_env *env);

/* check_caa.c: starts the CAA walk (RFC 8659 §3), holding a reference
 * until it ends; check_caa_cancel() stops it. */
void check_caa_start(struct check *c);
void check_caa_cancel(struct check *c);
/* Starts the walk of an SRV target (once per name, at most
 * CHECK_MAX_CAA_TARGETS). */
void check_caa_target(struct check *c, const char *name);

/* check_zone.c: names the unsigned zone of every insecure endpoint, then
 * activates done_ev.  After check_decide(). */
void check_zone_start(struct check *c);

#endif
