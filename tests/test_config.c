/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_config.c - the INI parser: defaults, every key, every kind of error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "component/config.h"
#include "component/config_vantage.h"

static int
parse(struct config *c, const char *text, char *err, size_t errlen)
{
	config_defaults(c);
	return config_parse(c, "t.conf", text, strlen(text), err, errlen);
}

static void
test_defaults(void **state)
{
	struct config c;

	config_defaults(&c);
	assert_int_equal(c.port, 5347);
	assert_int_equal(c.via_tor, 1);
	assert_int_equal(c.tor_socks_port, 9050);
	assert_int_equal(c.timeout, 60);
	assert_int_equal(c.concurrency, 32);
	assert_int_equal(c.interval, 3600);
	assert_int_equal(c.jitter, 900);
	assert_int_equal(c.down_after, 3);
	assert_int_equal(c.flap_limit, 4);
	assert_int_equal(c.commands_per_minute, 30);
	assert_int_equal(c.checks_in_flight, 2);
	assert_int_equal(c.probes_per_minute, 600);
	assert_int_equal(c.subscriptions_per_jid, 50);
	assert_int_equal(c.max_message, 4096);
	assert_int_equal(c.adhoc_session_timeout, 300);
	assert_string_equal(c.store_dir, "/var/lib/certwatch");
	assert_string_equal(c.trust_anchor, "/usr/share/dns/root.key");
	assert_int_equal(c.log_level, LOG_LEVEL_INFO);
	config_free(&c);
}

static const char full[] =
    "; a full file\n"
    "[component]\n"
    "jid = certwatch.example.org   ; the component's address\n"
    "host = 127.0.0.2\n"
    "port = 5348\n"
    "secret = s3cr3t;not-a-comment\n"
    "admins = admin@Example.ORG  other@example.net\n"
    "\n"
    "[probe]\n"
    "via = direct\n"
    "tor_socks = 127.0.0.1:9150\n"
    "timeout = 10\n"
    "concurrency = 4\n"
    "allow_private = yes\n"
    "# comment\n"
    "[dns]\n"
    "trust_anchor = /tmp/anchor.key\n"
    "forward = 127.0.0.53 ::1\n"
    "unbound_conf = /tmp/u.conf\n"
    "[watch]\n"
    "interval = 600\n"
    "jitter = 60\n"
    "down_after = 2\n"
    "flap_limit = 9\n"
    "[limits]\n"
    "commands_per_minute = 0\n"
    "checks_in_flight = 5\n"
    "probes_per_minute = 100\n"
    "subscriptions_per_jid = 7\n"
    "max_message = 2048\n"
    "adhoc_session_timeout = 60\n"
    "[store]\n"
    "dir = /tmp/state\n"
    "[http]\n"
    "listen = [::1]:8080\n"
    "base_url = https://certwatch.example.org/\n"
    "checks_per_minute = 3\n"
    "trusted_proxies = 127.0.0.1\n"
    "[log]\n"
    "level = debug\r\n";

static void
test_full(void **state)
{
	struct config c;
	char err[512] = "";

	assert_int_equal(parse(&c, full, err, sizeof(err)), 0);
	assert_string_equal(c.jid, "certwatch.example.org");
	assert_string_equal(c.host, "127.0.0.2");
	assert_int_equal(c.port, 5348);
	/* ';' inside a value is not a comment; only after a blank. */
	assert_string_equal(c.secret, "s3cr3t;not-a-comment");
	assert_int_equal(c.nadmins, 2);
	assert_string_equal(c.admins[0], "admin@example.org");
	assert_true(config_is_admin(&c, "admin@EXAMPLE.org"));
	assert_false(config_is_admin(&c, "Admin@example.org"));
	assert_false(config_is_admin(&c, "nobody@example.org"));
	assert_int_equal(c.via_tor, 0);
	assert_string_equal(c.tor_socks_host, "127.0.0.1");
	assert_int_equal(c.tor_socks_port, 9150);
	assert_int_equal(c.timeout, 10);
	assert_int_equal(c.concurrency, 4);
	assert_int_equal(c.allow_private, 1);
	assert_string_equal(c.forward, "127.0.0.53 ::1");
	assert_int_equal(c.interval, 600);
	assert_int_equal(c.commands_per_minute, 0);
	assert_int_equal(c.max_message, 2048);
	assert_string_equal(c.store_dir, "/tmp/state");
	assert_string_equal(c.http_listen, "[::1]:8080");
	assert_int_equal(c.http_checks_per_minute, 3);
	assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
	config_free(&c);
}

/* Each bad input must fail, and the message must name file, line and key. */
static void
test_errors(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
	    {"[component]\njid = a\nbogus = 1\n",
	     "t.conf:3: [component] bogus: unknown key"},
	    {"[nosuch]\n", "t.conf:1: unknown section [nosuch]"},
	    {"jid = x\n", "t.conf:1: [] jid: key outside of any [section]"},
	    {"[probe]\ntimeout = ten\n",
	     "t.conf:2: [probe] timeout: expected a number"},
	    {"[probe]\ntimeout = 0\n",
	     "t.conf:2: [probe] timeout: 0 is out of range"},
	    {"[probe]\ntimeout = -5\n",
	     "t.conf:2: [probe] timeout: expected a number"},
	    {"[probe]\ntimeout = 99999999999999999999\n",
	     "[probe] timeout: expected a number"},
	    {"[probe]\nvia = carrier-pigeon\n",
	     "t.conf:2: [probe] via: expected direct or tor"},
	    {"[probe]\nallow_private = maybe\n",
	     "[probe] allow_private: expected yes or no"},
	    {"[probe]\ntor_socks = localhost:9050\n",
	     "is not a numeric IP address"},
	    {"[probe]\ntor_socks = 127.0.0.1\n", "expected ADDRESS:PORT"},
	    {"[probe]\ntor_socks = 127.0.0.1:70000\n", "out of range"},
	    {"[component]\nport = 0\n",
	     "t.conf:2: [component] port: 0 is out of range"},
	    {"[component]\njid = user@example.org\n",
	     "[component] jid: expected a domain JID"},
	    {"[component]\nadmins = notajid\n",
	     "[component] admins: \"notajid\" is not a bare JID"},
	    {"[component]\nadmins = a@b/res\n", "is not a bare JID"},
	    {"[log]\nlevel = loud\n",
	     "t.conf:2: [log] level: expected error, warn, info or debug"},
	    {"[component\n", "t.conf:1: section header without ']'"},
	    {"[component] junk\n", "text after the section header"},
	    {"[component]\njust words\n", "t.conf:2: expected key = value"},
	    {"[component]\n= 5\n", "t.conf:2: empty key"},
	    {"[component]\nj d = 5\n", "invalid key name"},
	    {"[http]\nbase_url = ftp://x\n",
	     "[http] base_url: expected an http"},
	    {"[http]\nlisten = nowhere\n",
	     "[http] listen: expected ADDRESS:PORT"},
	    {"[store]\ndir =\n", "[store] dir: must not be empty"},
	    {"[http]\nlisten = ::1:8080\n",
	     "t.conf:2: [http] listen: write an IPv6 address in brackets: "
	     "[::1]:8080"},
	    {"[http]\ntrusted_proxies = 10.0.0.0/8 proxy\n",
	     "t.conf:2: [http] trusted_proxies: \"proxy\" is not a numeric IP "
	     "address"},
	    {"[limits]\nmax_message = 1\n",
	     "[limits] max_message: 1 is out of range"},
	    {"[component]\nsecret = a\x01"
	     "b\n",
	     "control character in value"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config c;
		char err[512] = "";
		int rc = parse(&c, cases[i].text, err, sizeof(err));
		if (rc != -1 || strstr(err, cases[i].want) == NULL)
			fail_msg("case %zu: rc %d, err \"%s\", want \"%s\"", i,
				 rc, err, cases[i].want);
		config_free(&c);
	}
}

static void
test_hostile(void **state)
{
	struct config c;
	char err[512];
	static char big[8192];

	/* A line longer than the limit. */
	memcpy(big, "[component]\nsecret = ", 21);
	memset(big + 21, 'x', 8000);
	big[8021] = '\0';
	assert_int_equal(parse(&c, big, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "line longer than"));
	config_free(&c);
	/* A NUL byte. */
	config_defaults(&c);
	assert_int_equal(config_parse(&c, "t.conf", "[log]\0level = x\n", 17,
				      err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "NUL byte"));
	config_free(&c);
	/* Random bytes never crash. */
	srand(1);
	for (int round = 0; round < 2000; round++) {
		size_t n = (size_t)(rand() % 200);
		for (size_t i = 0; i < n; i++)
			big[i] = "[]=;# \nabcjidportx0\t\r@.:"[rand() % 25];
		config_defaults(&c);
		(void)config_parse(&c, "t.conf", big, n, err, sizeof(err));
		config_free(&c);
	}
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

/* Writes `text` to `conf` and loads it for the daemon; the caller frees c. */
static int
load_run(struct config *c, const char *conf, const char *text, char *err,
	 size_t errlen)
{
	char warn[1024];

	write_file(conf, text, 0600);
	config_defaults(c);
	return config_load(c, conf, 1, err, errlen, warn, sizeof(warn));
}

static void
test_load(void **state)
{
	char dir[] = "/tmp/cwconfXXXXXX";
	char conf[256], secret[256], err[512], warn[1024];
	char text[600];
	struct config c;

	assert_non_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/c.conf", dir);
	snprintf(secret, sizeof(secret), "%s/secret", dir);

	/* A daemon needs a jid and a secret. */
	write_file(conf, "[component]\nhost = 127.0.0.1\n", 0600);
	config_defaults(&c);
	assert_int_equal(
	    config_load(&c, conf, 1, err, sizeof(err), warn, sizeof(warn)), -1);
	assert_non_null(strstr(err, "[component] jid is required"));
	config_free(&c);

	/* secret_file is read, its newline stripped; modes are warned of. */
	write_file(secret, "hunter2\n", 0644);
	snprintf(text, sizeof(text),
		 "[component]\njid = cw.example.org\nsecret_file = %s\n",
		 secret);
	write_file(conf, text, 0600);
	config_defaults(&c);
	assert_int_equal(
	    config_load(&c, conf, 1, err, sizeof(err), warn, sizeof(warn)), 0);
	assert_string_equal(c.secret, "hunter2");
	assert_non_null(strstr(warn, "readable by other users"));
	assert_null(strstr(warn, "hunter2"));
	config_free(&c);

	/* Both secret and secret_file: an error. */
	snprintf(text, sizeof(text),
		 "[component]\njid = cw.example.org\nsecret = a\n"
		 "secret_file = %s\n",
		 secret);
	write_file(conf, text, 0600);
	config_defaults(&c);
	assert_int_equal(
	    config_load(&c, conf, 1, err, sizeof(err), warn, sizeof(warn)), -1);
	assert_non_null(strstr(err, "both set"));
	config_free(&c);

	/* A secret_file that cannot be read: the config file, the line and
	 * the key; a systemd credential path says why it is missing. */
	snprintf(text, sizeof(text),
		 "[component]\njid = cw.example.org\n\nsecret_file = %s/none\n",
		 dir);
	assert_int_equal(load_run(&c, conf, text, err, sizeof(err)), -1);
	snprintf(text, sizeof(text),
		 "%s:4: [component] secret_file: %s/none: No such file", conf,
		 dir);
	if (strstr(err, text) == NULL)
		fail_msg("err \"%s\", want \"%s\"", err, text);
	assert_null(strstr(err, "systemd"));
	config_free(&c);
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(load_run(&c, conf,
				  "[component]\njid = cw.example.org\n"
				  "secret_file = /run/credentials/cw/none\n",
				  err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, ":3: [component] secret_file: "
				    "/run/credentials/cw/none: "));
	assert_non_null(strstr(err, "exists only for the systemd unit"));
	config_free(&c);
	/* An empty secret file: the same place named. */
	write_file(secret, "\n", 0600);
	snprintf(text, sizeof(text),
		 "[component]\njid = cw.example.org\nsecret_file = %s\n",
		 secret);
	assert_int_equal(load_run(&c, conf, text, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":3: [component] secret_file: "));
	assert_non_null(strstr(err, "one non-empty line"));
	config_free(&c);

	/* jitter must stay below half the interval. */
	write_file(conf, "[watch]\ninterval = 100\njitter = 50\n", 0600);
	config_defaults(&c);
	assert_int_equal(
	    config_load(&c, conf, 0, err, sizeof(err), warn, sizeof(warn)), -1);
	assert_non_null(strstr(err, "jitter"));
	config_free(&c);

	/* A missing file names the file. */
	config_defaults(&c);
	assert_int_equal(config_load(&c, "/nonexistent/x.conf", 0, err,
				     sizeof(err), warn, sizeof(warn)),
			 -1);
	assert_non_null(strstr(err, "/nonexistent/x.conf"));
	config_free(&c);

	unlink(conf);
	unlink(secret);
	rmdir(dir);
}

static void
test_describe(void **state)
{
	struct config c;
	char err[512], out[4096];

	assert_int_equal(parse(&c, full, err, sizeof(err)), 0);
	config_describe(&c, out, sizeof(out));
	assert_non_null(strstr(out, "certwatch.example.org"));
	assert_null(strstr(out, "s3cr3t"));
	config_free(&c);
}

/* Remote vantages (docs/vantages.md): xmpp:JID and [vantage] allow. */
static void
test_vantage(void **state)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
	    {"[probe]\nvantages = xmpp:certwatch.b.test\n",
	     "an xmpp: vantage needs a local one beside it"},
	    {"[probe]\nvantages = direct, xmpp:\n", "is not xmpp: and a bare"},
	    {"[probe]\nvantages = direct, xmpp:a@b/res\n", "is not xmpp:"},
	    {"[probe]\nvantages = direct, xmpp:a..b\n", "is not xmpp:"},
	    {"[probe]\nvantages = direct, xmpp:@b.test\n", "is not xmpp:"},
	    {"[probe]\nvantages = direct, xmpp:a<b.test\n", "is not xmpp:"},
	    {"[probe]\nvantages = direct, xmpp:"
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaaaaaaaaaaa.test\n",
	     "of at most 74 bytes"},
	    {"[probe]\nvantages = direct, jabber:a.test\n",
	     "expected tor, direct, socks5://ADDRESS:PORT or xmpp:JID"},
	    {"[vantage]\nallow = a@b@c\n",
	     "[vantage] allow: \"a@b@c\" is not a"},
	    {"[vantage]\nallow = a/b\n", "is not a bare or domain JID"},
	    {"[vantage]\nnope = 1\n", "[vantage] nope: unknown key"},
	};
	struct config c;
	char err[512] = "", desc[4096];

	(void)state;
	assert_int_equal(parse(&c,
			       "[probe]\nvantages = direct, "
			       "xmpp:CertWatch.B.test, tor\n"
			       "[vantage]\nallow = certwatch.a.test, "
			       "Ops@Example.ORG\n",
			       err, sizeof(err)),
			 0);
	assert_int_equal(c.nvantages, 3);
	assert_string_equal(c.vantages[1].name, "xmpp:certwatch.b.test");
	assert_true(c.vantages[1].remote);
	assert_false(c.vantages[0].remote || c.vantages[2].remote);
	assert_int_equal(c.nvantage_allow, 2);
	assert_true(config_vantage_allowed(&c, "certwatch.a.test"));
	assert_true(config_vantage_allowed(&c, "CERTWATCH.a.TEST"));
	assert_true(config_vantage_allowed(&c, "Ops@example.org"));
	assert_false(config_vantage_allowed(&c, "ops@example.org"));
	assert_false(config_vantage_allowed(&c, "certwatch.b.test"));
	assert_false(config_vantage_allowed(&c, NULL));
	config_describe(&c, desc, sizeof(desc));
	assert_non_null(strstr(desc, "vantages: direct xmpp:certwatch.b.test "
				     "(remote, asked over XMPP) tor\n"));
	assert_non_null(strstr(desc, "vantage for others: answers "
				     "certwatch.a.test Ops@example.org\n"));
	config_free(&c);
	assert_int_equal(c.nvantage_allow, 0);
	assert_int_equal(
	    parse(&c, "[component]\njid = a.test\n", err, sizeof(err)), 0);
	assert_false(config_vantage_allowed(&c, "a.test"));
	config_free(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(&c, bad[i].text, err, sizeof(err));
		if (rc != -1 || strstr(err, bad[i].want) == NULL)
			fail_msg("case %zu: rc %d, err \"%s\", want \"%s\"", i,
				 rc, err, bad[i].want);
		config_free(&c);
	}
}

/* A value each key accepts: its default, else one its own rule takes. */
static const char *
sample(const struct config_key *k)
{
	static const struct {
		const char *name, *val;
	} rules[] = {
	    {"listen", "127.0.0.1:8080"},
	    {"base_url", "https://certwatch.example.org/"},
	    {"trusted_proxies", "127.0.0.1"},
	    {"logs", "/etc/certwatch/logs.json"},
	    {"admins", "admin@example.org"},
	    {"allow", "certwatch.example.org"},
	    {"vantages", "direct"},
	};

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (!strcmp(k->name, rules[i].name))
			return rules[i].val;
	if (k->type == CONFIG_UINT)
		return k->min == 0 ? "1" : NULL; /* min + 1 below */
	return k->def ? k->def : "x.example";
}

static int
parse_key(struct config *c, const struct config_key *k, const char *val,
	  char *err, size_t errlen)
{
	char text[4096];

	snprintf(text, sizeof(text), "[%s]\n%s = %s\n", k->section, k->name,
		 val);
	return parse(c, text, err, errlen);
}

static void
described(const struct config *c, const struct config_key *k, const char *val)
{
	char out[8192], line[4200];

	config_describe(c, out, sizeof(out));
	snprintf(line, sizeof(line), "\n[%s] %s = %s\n", k->section, k->name,
		 val);
	if (strstr(out, line) == NULL)
		fail_msg("no line \"%s\" in:\n%s", line + 1, out);
}

/* Every row of the table: parses, keeps its bounds, names itself in its
 * errors, is described, has a default in bounds, and reloads or asks for a
 * restart as its row says. */
static void
test_every_key(void **state)
{
	char err[512], v[64], restart[4096], big[2048];

	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		struct config c, live;
		char name[80];
		const char *val = sample(k);

		snprintf(name, sizeof(name), "[%s] %s: ", k->section, k->name);
		if (val == NULL) {
			snprintf(v, sizeof(v), "%u", k->min + 1);
			val = v;
		}
		if (parse_key(&c, k, val, err, sizeof(err)) != 0)
			fail_msg("%s rejects %s: %s", name, val, err);
		described(&c, k, k->secret ? "(set)" : val);

		/* SIGHUP: applied, or named as needing a restart. */
		config_defaults(&live);
		size_t nr = config_reload(&live, &c, restart, sizeof(restart));
		if (k->reload) {
			assert_int_equal(nr, 0);
			described(&live, k, k->secret ? "(set)" : val);
		} else if (!k->def || strcmp(k->def, val)) {
			assert_int_equal(nr, 1);
			/* "[section] key" alone */
			assert_int_equal(strlen(restart) + 2, strlen(name));
			assert_memory_equal(restart, name, strlen(restart));
		}
		config_free(&live);
		config_free(&c);

		/* Its default is in its own bounds and is what run -n says. */
		config_defaults(&c);
		if (k->def) {
			assert_int_equal(
			    parse_key(&c, k, k->def, err, sizeof(err)), 0);
			described(&c, k, k->def);
		}
		config_free(&c);

		/* A wrong value is refused, and the error names the key. */
		switch (k->type) {
		case CONFIG_UINT:
			snprintf(v, sizeof(v), "%u", k->min);
			assert_int_equal(parse_key(&c, k, v, err, sizeof(err)),
					 0);
			described(&c, k, v);
			snprintf(v, sizeof(v), "%u", k->max);
			assert_int_equal(parse_key(&c, k, v, err, sizeof(err)),
					 0);
			described(&c, k, v);
			snprintf(v, sizeof(v), "%lu",
				 (unsigned long)k->max + 1);
			assert_int_equal(parse_key(&c, k, v, err, sizeof(err)),
					 -1);
			assert_non_null(strstr(err, "out of range"));
			if (k->min > 0) {
				snprintf(v, sizeof(v), "%u", k->min - 1);
				assert_int_equal(
				    parse_key(&c, k, v, err, sizeof(err)), -1);
			}
			val = "-1";
			break;
		case CONFIG_WORD:
			for (int w = 0; k->words[w]; w++) {
				assert_int_equal(parse_key(&c, k, k->words[w],
							   err, sizeof(err)),
						 0);
				described(&c, k, k->words[w]);
			}
			val = "bogus";
			break;
		case CONFIG_STR:
			memset(big, 'a', k->size);
			big[k->size] = '\0';
			val = big;
			break;
		default:
			val = "not/valid";
			break;
		}
		if (parse_key(&c, k, val, err, sizeof(err)) != -1)
			fail_msg("%s accepts %.40s", name, val);
		if (strstr(err, name) == NULL)
			fail_msg("%s: error \"%s\" does not name it", name,
				 err);
		config_free(&c);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults), cmocka_unit_test(test_full),
	    cmocka_unit_test(test_errors),   cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_load),     cmocka_unit_test(test_describe),
	    cmocka_unit_test(test_vantage),  cmocka_unit_test(test_every_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
