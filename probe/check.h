/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * check.h - one check of one domain: every SRV, address and TLSA look-up
 * and every probe, joined into one check_result.  The one result type that
 * the CLI prints, the bot replies with, the store keeps and the watcher
 * compares.  Nothing re-derives a verdict from text.
 */
#ifndef CERTWATCH_CHECK_H
#define CERTWATCH_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dns/dns.h"
#include "probe/probe.h"
#include "probe/verdict.h"
#include "util/clock.h"

enum check_service {
	SVC_XMPP_CLIENT = 0, /* "xmpp-client"  STARTTLS */
	SVC_XMPPS_CLIENT,    /* "xmpps-client" direct TLS (XEP-0368) */
	SVC_XMPP_SERVER,     /* "xmpp-server" */
	SVC_XMPPS_SERVER,    /* "xmpps-server" */
	SVC_COUNT
};

enum check_svc_state {
	SVC_STATE_NONE = 0,
	SVC_STATE_SRV,	       /* "srv" */
	SVC_STATE_FALLBACK,    /* "fallback" */
	SVC_STATE_NOT_OFFERED, /* "not-offered" */
	SVC_STATE_BOGUS,       /* "bogus" */
	SVC_STATE_FAILED,      /* "failed" */
};

struct check_warning {
	char code[24]; /* "stale-record", ... */
	char text[256];
};

/* One probe of an endpoint: one (address, vantage, key type). */
struct check_probe {
	char address[46]; /* the IP address, as text */
	char vantage[80]; /* "direct", "tor", ... */
	char key_type[8]; /* "ecdsa", "rsa", "ed25519", "" */
	int have_key;
	char spki_sha256[65];
	char cert_sha256[65];	       /* of the leaf */
	int64_t not_before, not_after; /* 0: unknown */
	char issuer[256];	       /* the leaf's issuer DN, cut */
	int allowed;		       /* a secure TLSA record matched it */
	int remote;		       /* from an xmpp: vantage: it never
					* decides the endpoint, and a split
					* it alone sees is a warning only */
	enum verdict verdict;
	enum probe_step err_step; /* PROBE_STEP_NONE: JSON null */
	char err_reason[256];
};

struct check_endpoint {
	enum check_service service;
	enum probe_tls tls;
	char host[DNS_NAME_MAX + 1]; /* A-label */
	uint16_t port;
	enum dns_sec dnssec_srv; /* DNS_SEC_NONE: JSON null */
	enum dns_sec dnssec_addr;
	enum dns_sec dnssec_tlsa;
	enum verdict verdict;
	int have_key;
	char spki_sha256[65]; /* hex of the key seen */
	char **tlsa;	      /* "U S M hex", every record */
	size_t ntlsa;
	char **unusable; /* the records certwatch cannot use */
	size_t nunusable;
	char *matched;		    /* NULL: nothing matched */
	char sni[DNS_NAME_MAX + 1]; /* of the deciding handshake */
	struct check_warning *warnings;
	size_t nwarnings;
	enum probe_step err_step; /* PROBE_STEP_NONE: JSON null */
	char err_reason[256];
	int64_t not_after;		  /* leaf expiry, 0 unknown */
	char tlsa_name[DNS_NAME_MAX + 1]; /* where TLSA was looked up */
	char dns_detail[256];	/* which record set is unsigned or bogus,
				 * and unbound's reason */
	char match_detail[256]; /* why nothing matched, or the TA matched */
	char address[64];	/* "ADDR:PORT" ("[ADDR]:PORT" for IPv6) the
				 * deciding probe connected to last; "" when
				 * unknown, and through SOCKS (the proxy
				 * resolves the name) */
	char unsigned_zone[DNS_NAME_MAX + 1]; /* insecure: the zone to sign,
					       * "" when not found */
	/* Defences: the deciding probe's TLS version ("" without a
	 * handshake) and, c2s, the features of its stream after TLS. */
	char tls_version[16];
	struct probe_features features;
	struct check_probe *probes; /* every probe, in the order made */
	size_t nprobes;
};

/* The CAA defence (RFC 8659 tree climbing, RFC 8657 account binding). */
enum check_caa_state {
	CAA_STATE_UNKNOWN = 0, /* a look-up failed or was bogus */
	CAA_STATE_BOUND,       /* every issue names an accounturi or is ";" */
	CAA_STATE_ISSUERS,     /* CAs named, not all bound */
	CAA_STATE_NONE,	       /* no CAA up to the TLD */
};

struct check_caa {
	enum check_caa_state state;
	char found_at[DNS_NAME_MAX + 1]; /* "" unless records found */
	enum dns_sec sec;		 /* the worst of the walk's answers */
	char **records;			 /* "FLAGS TAG \"VALUE\"" */
	size_t nrecords;
	char validationmethods[256]; /* the union, comma-separated */
	char why[256];		     /* for unknown: what failed */
};

#define CHECK_MAX_CAA_TARGETS 8 /* SRV targets judged; the rest are not */

struct check_caa_target {
	char name[DNS_NAME_MAX + 1];
	struct check_caa caa;
};

struct check_result {
	char domain[DNS_NAME_MAX + 1];	     /* A-label */
	char domain_u[DNS_NAME_MAX * 4 + 1]; /* U-label (UTF-8) */
	enum verdict verdict; /* VERDICT_NONE for an invalid input */
	enum check_svc_state services[SVC_COUNT];
	char service_detail[SVC_COUNT][256];
	struct check_endpoint *endpoints;
	size_t nendpoints;
	char **setup; /* zone-file lines to add */
	size_t nsetup;
	enum probe_step err_step; /* domain-level error ("input", "dns") */
	char err_reason[256];
	int64_t started; /* seconds since the epoch */
	uint32_t elapsed_ms;
	unsigned probes;		      /* probes made */
	struct check_caa caa;		      /* defences: the domain's CAA */
	struct check_caa_target *caa_targets; /* each SRV target's */
	size_t ncaa_targets;
	int expiry_warn_days; /* expires-soon under it; 0: 14 */
	/* Domain-level warnings: key-split (keys differ between probes). */
	struct check_warning *warnings;
	size_t nwarnings;
	/* A key-split seen by this instance's own probes or by two
	 * vantages: alarm-worthy.  0 with key-split warnings: each is seen
	 * only through one remote vantage (xmpp:), a warning naming it. */
	int split_alarm;
};

/* A vantage: where probes start from ([probe] vantages). */
#define CHECK_MAX_VANTAGES 8
struct check_vantage {
	char name[80]; /* "tor", "tor2", "direct",
			* "socks5://HOST:PORT" */
	int via_socks;
	char socks_host[64]; /* numeric */
	uint16_t socks_port;
	/* "xmpp:JID": another certwatch probes for us (docs/vantages.md);
	 * the JID is name + 5. */
	int remote;
};

/*
 * Remote vantages: a probe from an xmpp: vantage is started through these
 * (the bot's IQ, component/vantage.h); probe/ knows no XMPP.  start()
 * returns a handle or NULL when it cannot ask (then the probe is
 * unreachable at step "vantage"); it ends with exactly one call of cb,
 * never before start() returned, unless cancelled.  A time-out, an error
 * or a malformed answer is a result with fail_step PROBE_STEP_VANTAGE.
 */
struct check_remote {
	void *(*start)(void *arg, const struct check_vantage *v,
		       const struct probe_req *req, probe_cb cb, void *cbarg);
	void (*cancel)(void *arg, void *handle);
	void *arg;
};

struct check_config {
	struct event_base *base;
	struct dns_ctx *dns;
	struct probe_opts probe; /* via, proxy, timeout, allow_private */
	int max_probes;		 /* in flight across all checks; 0: 32 */
	int probes_per_minute;	 /* started across all checks; 0: no
				  * limit (the rest wait in a queue) */
	int max_addresses;	 /* probed per endpoint; 0: 8 */
	/* Every address is probed from each; none: the one of `probe`
	 * ("tor" or "direct"). */
	struct check_vantage vantages[CHECK_MAX_VANTAGES];
	size_t nvantages;
	/* Wall time for results, monotonic time for durations and the
	 * probes_per_minute bucket (NULL, or NULL members: the system's). */
	const struct clock *clock;
	/* Observers for metrics (may be NULL): every probe that ended, with
	 * its duration in the result, and every check that ended. */
	void (*on_probe)(void *arg, const struct probe_result *res);
	void (*on_check)(void *arg, const struct check_result *res);
	void *observer_arg;
	int expiry_warn_days; /* copied into each result */
	/* xmpp: vantages; NULL start: each of their probes is unreachable
	 * at step "vantage" (set by check_env_set_remote()). */
	struct check_remote remote;
};

struct check_env;
struct check;

/* The callee owns `res` (free with check_result_free). */
typedef void (*check_cb)(struct check_result *res, void *arg);

struct check_env *check_env_new(const struct check_config *cfg);
void check_env_free(struct check_env *env); /* cancels every check */

/* Remote vantages (the daemon's bot), once it exists. */
void check_env_set_remote(struct check_env *env,
			  const struct check_remote *remote);
/* Takes one token of probes_per_minute for a probe made for another
 * certwatch (docs/vantages.md); 0 when there is none now. */
int check_env_take_token(struct check_env *env);

/* Probes running now, and waiting for a slot. */
size_t check_env_probes_in_flight(const struct check_env *env);
size_t check_env_probes_queued(const struct check_env *env);

/*
 * Starts a check of a domain given in both forms (already normalised: see
 * component/names.h).  The callback runs once, never before check_start()
 * returns.  Returns NULL only on out-of-memory.
 */
struct check *check_start(struct check_env *env, const char *domain_a,
			  const char *domain_u, check_cb cb, void *arg);

/* Stops a check; its callback is never called. */
void check_cancel(struct check *c);

void check_result_free(struct check_result *res);

/* A result for an input that is not a domain: verdict NONE, step input. */
struct check_result *check_result_invalid(const char *input,
					  const char *reason);

const char *check_service_name(enum check_service s);
const char *check_svc_state_name(enum check_svc_state s);
/* "unknown", "bound", "issuers", "none" (probe/check_caa.c). */
const char *check_caa_state_name(enum check_caa_state s);

#endif
