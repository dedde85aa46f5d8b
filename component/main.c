/* SPDX-License-Identifier: GPL-3.0-or-later */
/* main.c - the certwatch command line: run (the daemon) and check. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "version.h"
#include "component/comp.h"
#include "component/config.h"
#include "component/config_vantage.h"
#include "component/ct_hook.h"
#include "component/ct_take.h"
#include "component/ct_watch.h"
#include "component/log.h"
#include "component/names.h"
#include "component/pubsub.h"
#include "component/report.h"
#include "component/metrics.h"
#include "component/torwatch.h"
#include "component/vantage.h"
#include "component/watch.h"
#include "component/web.h"
#include "dns/dns.h"
#include "probe/check.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"

#define EXIT_CONFIG 78 /* EX_CONFIG of sysexits.h */

static void
usage(FILE *f)
{
	fputs(
	    "usage: certwatch run -c FILE [-n] [-v]\n"
	    "       certwatch check [-c FILE] [--json] DOMAIN\n"
	    "       certwatch ct-hook -c FILE\n"
	    "       certwatch --help | --version\n"
	    "\n"
	    "  run     the XMPP component daemon (XEP-0114)\n"
	    "          -n  check the configuration, print what it would do, "
	    "exit\n"
	    "              (0 valid, 78 invalid)\n"
	    "          -v  debug logging\n"
	    "  check   check one domain's DANE set-up and print the report;\n"
	    "          the first line and the exit code follow the "
	    "monitoring-plugin\n"
	    "          convention (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)\n"
	    "          --json  print the JSON object instead\n"
	    "  ct-hook certspotter's hook (certspotter-script(8)): spool one\n"
	    "          event into STORE/ct/spool/ (0 spooled, 1 could not)\n"
	    "\n"
	    "See certwatch(8) and certwatch.conf(5).\n",
	    f);
}

/* Everything a check or the daemon needs, built from the config. */
struct runtime {
	/* The one clock (wall, monotonic, random) every module that keeps
	 * a schedule or a rate, or dates what it keeps, is given
	 * (docs/architecture.md "The composition root"). */
	const struct clock *clock;
	struct event_base *base;
	struct dns_ctx *dns;
	struct check_env *checks;
	struct metrics *metrics;
	struct torwatch *tor; /* between the checks and the metrics */
};

static int
runtime_open(struct runtime *rt, const struct config *cfg, char *err,
	     size_t errlen)
{
	struct dns_config dc = {
	    .trust_anchor = cfg->trust_anchor[0] ? cfg->trust_anchor : NULL,
	    .forward = cfg->forward,
	    .unbound_conf = cfg->unbound_conf[0] ? cfg->unbound_conf : NULL,
	    .timeout_ms = 15000,
	};
	struct check_config cc = {0};

	memset(rt, 0, sizeof(*rt));
	rt->clock = &clock_system;
	{
		/* Three priorities: the web's connections take the lowest, and
		 * after 8 of their callbacks (or 1 ms) the loop looks for
		 * chat, DNS and probe events again (docs/web.md). */
		struct event_config *ec = event_config_new();
		struct timeval tick = {0, 1000};
		if (ec)
			event_config_set_max_dispatch_interval(ec, &tick, 8, 2);
		rt->base = ec ? event_base_new_with_config(ec) : NULL;
		if (ec)
			event_config_free(ec);
		if (rt->base)
			event_base_priority_init(rt->base, 3);
	}
	if (rt->base == NULL) {
		snprintf(err, errlen, "cannot create the event loop");
		return -1;
	}
	rt->dns = dns_new(rt->base, &dc, err, errlen);
	if (rt->dns == NULL) {
		char why[1024];
		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "%s: [dns] %s", cfg->path, why);
		return -1;
	}
	cc.base = rt->base;
	cc.clock = rt->clock;
	cc.dns = rt->dns;
	cc.probe.via_socks = cfg->via_tor;
	cc.probe.socks_host = cfg->tor_socks_host;
	cc.probe.socks_port = cfg->tor_socks_port;
	cc.probe.timeout_ms = (int)cfg->timeout * 1000;
	cc.probe.allow_private = cfg->allow_private;
	cc.max_probes = (int)cfg->concurrency;
	cc.max_addresses = (int)cfg->max_addresses;
	memcpy(cc.vantages, cfg->vantages, sizeof(cc.vantages));
	cc.nvantages = cfg->nvantages;
	cc.probes_per_minute = (int)cfg->probes_per_minute;
	cc.expiry_warn_days = (int)cfg->expiry_warn_days;
	rt->metrics = metrics_new();
	rt->tor = torwatch_new(rt->base, cfg, rt->metrics, rt->clock);
	cc.on_probe = torwatch_on_probe;
	cc.on_check = torwatch_on_check;
	cc.observer_arg = rt->tor;
	rt->checks = check_env_new(&cc);
	if (rt->checks == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static void
runtime_close(struct runtime *rt)
{
	check_env_free(rt->checks);
	torwatch_free(rt->tor);
	if (rt->dns)
		dns_free(rt->dns);
	if (rt->base)
		event_base_free(rt->base);
	metrics_free(rt->metrics);
}

/* ---- certwatch check ---------------------------------------------------- */

struct cli_check {
	struct check_result *res;
	struct event_base *base;
};

static void
cli_check_done(struct check_result *res, void *arg)
{
	struct cli_check *cc = arg;

	cc->res = res;
	event_base_loopbreak(cc->base);
}

static int
print_result(const struct check_result *r, int json)
{
	struct buf out = BUF_INIT;

	if (json) {
		report_json(r, &out);
	} else {
		report_status_line(r, &out);
		buf_putc(&out, '\n');
		if (r->verdict != VERDICT_NONE) {
			/* The report's own first line repeats the summary. */
			struct buf rep = BUF_INIT;
			report_text(r, &rep);
			const char *rest = strchr(rep.s, '\n');
			buf_puts(&out, rest ? rest + 1 : rep.s);
			buf_free(&rep);
		}
	}
	fputs(out.s, stdout);
	buf_free(&out);
	/* keys differ between probes (key-split): at least 1. */
	return report_exit_code(r);
}

/* The CLI has no XMPP link: an xmpp: vantage is left out, with a note
 * (docs/vantages.md: the daemon asks them, for chat check and watches). */
static void
cli_drop_remote_vantages(struct config *cfg)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->nvantages; i++) {
		if (!cfg->vantages[i].remote) {
			cfg->vantages[n++] = cfg->vantages[i];
			continue;
		}
		fprintf(stderr,
			"certwatch: note: vantage %s skipped: "
			"certwatch check has no XMPP link; the daemon asks it "
			"(chat check, watched domains)\n",
			cfg->vantages[i].name);
	}
	cfg->nvantages = n;
}

static int
cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	int json = 0, ch;
	struct config cfg;
	char err[1024], warn[1024];
	struct domain_name dn;
	struct runtime rt;
	struct cli_check cc = {0};
	int rc;

	while ((ch = getopt_long(argc, argv, "c:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			printf("CERTWATCH UNKNOWN - bad arguments\n");
			usage(stderr);
			return 3;
		}
	}
	if (optind != argc - 1) {
		printf(
		    "CERTWATCH UNKNOWN - bad arguments: expected one DOMAIN\n");
		usage(stderr);
		return 3;
	}
	config_defaults(&cfg);
	if (path && config_load(&cfg, path, 0, err, sizeof(err), warn,
				sizeof(warn)) < 0) {
		printf("CERTWATCH UNKNOWN - invalid config: %s\n", err);
		config_free(&cfg);
		return 3;
	}
	const char *input = argv[optind];
	if (names_domain(input, strlen(input), &dn, err, sizeof(err)) < 0) {
		struct check_result *r = check_result_invalid(input, err);
		rc = print_result(r, json);
		check_result_free(r);
		config_free(&cfg);
		return rc;
	}
	log_set_level(cfg.log_level);
	cli_drop_remote_vantages(&cfg);
	if (runtime_open(&rt, &cfg, err, sizeof(err)) < 0) {
		printf("CERTWATCH UNKNOWN - %s\n", err);
		runtime_close(&rt);
		config_free(&cfg);
		return 3;
	}
	cc.base = rt.base;
	if (check_start(rt.checks, dn.a, dn.u, cli_check_done, &cc) == NULL) {
		printf("CERTWATCH UNKNOWN - out of memory\n");
		runtime_close(&rt);
		config_free(&cfg);
		return 3;
	}
	event_base_dispatch(rt.base);
	rc = 3;
	if (cc.res) {
		rc = print_result(cc.res, json);
		check_result_free(cc.res);
	}
	runtime_close(&rt);
	config_free(&cfg);
	return rc;
}

/* ---- certwatch run ------------------------------------------------------- */

/*
 * The state directory can be made and written by this user: store_open()
 * makes only its last component, as mkdir(2) does, so the parent must
 * exist.  Checked without creating anything, for `run -n` too.
 */
static int
state_dir_usable(const struct config *cfg, char *err, size_t errlen)
{
	const char *dir = cfg->store_dir;
	char parent[sizeof(cfg->store_dir)]; /* dirname() writes in it */
	struct stat st;
	const char *what = dir;
	int e;

	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			goto fail;
		}
	} else if (errno == ENOENT) {
		snprintf(parent, sizeof(parent), "%s", dir);
		what = dirname(parent); /* "a/b/" -> "a", "b" -> "." */
		if (stat(what, &st) < 0)
			goto fail;
		if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			goto fail;
		}
	} else {
		goto fail;
	}
	if (faccessat(AT_FDCWD, what, W_OK | X_OK, AT_EACCESS) == 0)
		return 0;
fail:
	e = errno;
	if (what == dir)
		snprintf(err, errlen, "%s: [store] dir %s: %s", cfg->path, dir,
			 strerror(e));
	else
		snprintf(err, errlen,
			 "%s: [store] dir %s cannot be made in %s: %s",
			 cfg->path, dir, what, strerror(e));
	return -1;
}

static int
web_comp_connected(void *arg)
{
	return comp_online(arg);
}

static unsigned long
web_comp_reconnects(void *arg)
{
	return comp_reconnects(arg);
}

struct daemon {
	struct runtime rt;
	struct store *store;
	struct comp *comp;
	struct watch *watch;
	struct pubsub *pubsub;
	struct web *web;
	struct ct_watch *ct;	 /* certspotter, NULL without [ct] */
	struct ct_take *ct_take; /* its spooled events, NULL without */
	struct vantage *vantage; /* xmpp: vantages, both sides */
	struct event *sigterm, *sigint, *sighup;
	/* The store's completion event: commit callbacks (the watcher's,
	 * pubsub's) run from it, whoever committed. */
	struct event *store_ev;
	int stopping;
	struct config *cfg; /* the live config, read by the bot */
	int verbose;
};

/*
 * SIGHUP: re-reads the file and applies what can change while running —
 * log level, admins, [limits], [watch] — leaving the component's address,
 * the probes, DNS and the state directory as they are (those need a
 * restart, and the log says which changed).  A file that does not parse
 * changes nothing.
 */
static void
daemon_reload(struct daemon *d)
{
	struct config n, *c = d->cfg;
	char err[1024], warn[2048];

	config_defaults(&n);
	if (config_load(&n, c->path, 1, err, sizeof(err), warn, sizeof(warn)) <
	    0) {
		log_error("SIGHUP: %s; keeping the running configuration", err);
		config_free(&n);
		return;
	}
	char restart[1024];
	if (config_reload(c, &n, restart, sizeof(restart)) > 0)
		log_warn("SIGHUP: %s: changes need a restart", restart);
	metrics_set_per_domain(d->rt.metrics, n.http_metrics_per_domain);
	log_set_level(d->verbose ? LOG_LEVEL_DEBUG : n.log_level);
	if (warn[0])
		log_warn("%s", warn);
	log_info(
	    "SIGHUP: reloaded %s (log level, admins, [vantage] allow, "
	    "[limits] but probes_per_minute, [watch] but expiry_warn_days, "
	    "[http] checks_per_minute and metrics_per_domain)",
	    c->path);
	config_free(&n);
}

static void
store_ready(evutil_socket_t fd, short what, void *arg)
{
	store_process_completions(arg);
}

static void
daemon_stopped(void *arg)
{
	struct daemon *d = arg;

	event_base_loopexit(d->rt.base, NULL);
}

static void
daemon_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	if (sig == SIGHUP) {
		daemon_reload(d);
		return;
	}
	if (d->stopping) {
		log_warn("second signal: exiting at once");
		event_base_loopbreak(d->rt.base);
		return;
	}
	d->stopping = 1;
	log_info("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	comp_shutdown(d->comp, daemon_stopped, d);
}

static int
cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	int dry = 0, verbose = 0, ch;
	struct config cfg;
	char err[1024], warn[2048];
	struct daemon d;

	while ((ch = getopt_long(argc, argv, "c:nvh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			dry = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	config_defaults(&cfg);
	if (config_load(&cfg, path, 1, err, sizeof(err), warn, sizeof(warn)) <
	    0) {
		fprintf(stderr, "certwatch: %s\n", err);
		config_free(&cfg);
		return EXIT_CONFIG;
	}
	if (warn[0])
		fprintf(stderr, "certwatch: warning: %s", warn);
	/* `run -n` loads what `run` loads (the anchor, the unbound
	 * fragment) and checks the state directory, so that a config it
	 * passes does not fail at start; both exit 78 for a config that
	 * cannot work, which stops systemd's restarts (docs/running.md). */
	memset(&d, 0, sizeof(d));
	if (state_dir_usable(&cfg, err, sizeof(err)) < 0 ||
	    runtime_open(&d.rt, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "certwatch: %s\n", err);
		runtime_close(&d.rt);
		config_free(&cfg);
		return EXIT_CONFIG;
	}
	if (dry) {
		char desc[8192];
		config_describe(&cfg, desc, sizeof(desc));
		fputs(desc, stdout);
		runtime_close(&d.rt);
		config_free(&cfg);
		return 0;
	}
	log_set_level(verbose ? LOG_LEVEL_DEBUG : cfg.log_level);
	signal(SIGPIPE, SIG_IGN);

	d.cfg = &cfg;
	d.verbose = verbose;
	if (store_open(cfg.store_dir, &d.store, err, sizeof(err)) < 0)
		fatal(1, "state directory %s: %s", cfg.store_dir, err);
	const char *const *lines;
	size_t nwarn = store_warnings(d.store, &lines);
	for (size_t i = 0; i < nwarn; i++)
		log_warn("state: %s", lines[i]);
	d.store_ev = event_new(d.rt.base, store_notify_fd(d.store),
			       EV_READ | EV_PERSIST, store_ready, d.store);
	if (d.store_ev == NULL || event_add(d.store_ev, NULL) < 0)
		fatal(1, "cannot watch the store's completions");
	d.comp = comp_new(d.rt.base, &cfg, d.rt.checks, d.rt.clock, err,
			  sizeof(err));
	if (d.comp == NULL)
		fatal(1, "%s", err);
	d.vantage = vantage_new(d.comp, d.rt.checks, &cfg, d.rt.clock);
	d.watch = watch_new(d.rt.base, &cfg, d.store, d.comp, d.rt.checks,
			    d.rt.clock);
	d.pubsub = pubsub_new(d.comp, &cfg, d.store, d.watch);
	watch_start(d.watch);
	d.ct = ct_watch_new(d.rt.base, &cfg, d.store, d.rt.metrics, d.rt.clock);
	d.ct_take = ct_take_new(d.rt.base, &cfg, d.store, d.watch, d.rt.metrics,
				d.rt.clock);
	if (cfg.http_listen[0]) {
		struct web_hooks wh = {d.comp, web_comp_connected,
				       web_comp_reconnects};
		d.web =
		    web_new(d.rt.base, &cfg, d.rt.checks, d.store, d.watch,
			    d.rt.metrics, &wh, d.rt.clock, err, sizeof(err));
		if (d.web == NULL)
			fatal(1, "%s", err);
	}
	d.sigterm = evsignal_new(d.rt.base, SIGTERM, daemon_signal, &d);
	d.sigint = evsignal_new(d.rt.base, SIGINT, daemon_signal, &d);
	d.sighup = evsignal_new(d.rt.base, SIGHUP, daemon_signal, &d);
	evsignal_add(d.sigterm, NULL);
	evsignal_add(d.sigint, NULL);
	evsignal_add(d.sighup, NULL);
	log_info("certwatch %s starting as %s", CERTWATCH_VERSION, cfg.jid);
	/* Both are for labs; in production they show where probes come from
	 * or let users aim them at the service's own network. */
	if (!cfg.via_tor)
		log_warn("[probe] via = direct: probes leave from this host's "
			 "own address, not through Tor, so an interceptor can "
			 "tell them apart (labs and tests only; "
			 "docs/running.md)");
	if (cfg.allow_private)
		log_warn("[probe] allow_private = yes: users can make probes "
			 "reach private and loopback addresses of this host's "
			 "network (labs and tests only; docs/running.md)");
	torwatch_start(d.rt.tor);
	if (comp_start(d.comp) < 0)
		fatal(1, "cannot start the component");

	event_base_dispatch(d.rt.base);

	ct_watch_free(d.ct);
	ct_take_free(d.ct_take);
	web_free(d.web);
	watch_free(d.watch);
	pubsub_free(d.pubsub);
	vantage_free(d.vantage);
	comp_free(d.comp);
	event_free(d.store_ev);
	store_close(d.store);
	log_info("stopped");
	event_free(d.sigterm);
	event_free(d.sigint);
	event_free(d.sighup);
	runtime_close(&d.rt);
	config_free(&cfg);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("certwatch %s\n", CERTWATCH_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ct-hook"))
		return ct_hook_main(argc - 1, argv + 1);
	fprintf(stderr, "certwatch: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
