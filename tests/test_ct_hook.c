/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_ct_hook.c - component/ct_hook.h: certspotter's variables into an
 * event, and the spool file written to disk read back by the daemon's
 * reader (ct_spool_parse). */
#include <fcntl.h>
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

#include "component/ct_hook.h"

/* The environment of one test: NAME=VALUE strings. */
static const char *const *vars;

static const char *
get(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; vars[i]; i++)
		if (!strncmp(vars[i], name, n) && vars[i][n] == '=')
			return vars[i] + n + 1;
	return NULL;
}

static void
test_event_values(void **state)
{
	static char summary[1100];
	static char summary_var[1200];
	const char *const env[] = {
	    "EVENT=discovered_cert",
	    "TBS_SHA256="
	    "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB",
	    "CERT_SHA256=abc",
	    "NOT_BEFORE_UNIXTIME=-100",
	    "NOT_AFTER_UNIXTIME=-9223372036854775808",
	    "ENTRY_INDEX=-1",
	    "SERIAL= 7",
	    summary_var,
	    NULL,
	};
	struct ct_event *ev = calloc(1, sizeof(*ev));

	/* "ab" then é (2 bytes) repeated: a cut at 1023 bytes lands inside
	 * an é and must back off to before it. */
	summary[0] = 'a';
	summary[1] = 'b';
	for (size_t i = 2; i + 1 < sizeof(summary) - 1; i += 2)
		memcpy(summary + i, "\xc3\xa9", 2);
	snprintf(summary_var, sizeof(summary_var), "SUMMARY=%s", summary);
	vars = env;
	ct_hook_event(ev, get);
	assert_string_equal(ev->event, "discovered_cert");
	assert_string_equal(ev->tbs_sha256, "abababababababababababababababab"
					    "abababababababababababababababab");
	assert_string_equal(ev->cert_sha256, "");
	assert_true(ev->has_not_before && ev->not_before == -100);
	assert_false(ev->has_not_after);
	assert_false(ev->has_entry_index);
	assert_string_equal(ev->serial, " 7");
	assert_int_equal(strlen(ev->summary), 1022); /* 2 + 510 * 2 */
	assert_int_equal(ev->cert_state, CT_CERT_ABSENT);
	free(ev);
}

static void
test_spool_read_back(void **state)
{
	char dir[] = "/tmp/test_ct_hook.XXXXXX", spool[64], path[256], err[256],
	     text[CT_SPOOL_MAX + 1];
	const char *const env[] = {"EVENT=error", "SUMMARY=a\nb%", NULL};
	struct ct_event *ev = calloc(1, sizeof(*ev)),
			*back = calloc(1, sizeof(*back));
	struct stat st;
	ssize_t n;
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(spool, sizeof(spool), "%s/ct/spool", dir);
	vars = env;
	ct_hook_event(ev, get);
	assert_int_equal(
	    ct_hook_spool(ev, spool, path, sizeof(path), err, sizeof(err)), 0);
	assert_int_equal(stat(spool, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(strlen(path) > 3 &&
		    !strcmp(path + strlen(path) - 3, CT_SPOOL_SUFFIX));
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, text, sizeof(text));
	close(fd);
	assert_true(n > 0);
	assert_int_equal(
	    ct_spool_parse(text, (size_t)n, back, err, sizeof(err)), 0);
	assert_string_equal(back->event, "error");
	assert_string_equal(back->summary, "a\nb%");
	assert_int_equal(back->cert_state, CT_CERT_ABSENT);
	assert_string_equal(back->cert_error, "no CERT_FILENAME");
	/* A spool whose parent cannot be made: -1 with the path. */
	assert_int_equal(ct_hook_spool(ev, "/nonexistent/ct/spool", NULL, 0,
				       err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "/nonexistent/ct"));
	unlink(path);
	rmdir(spool);
	snprintf(spool, sizeof(spool), "%s/ct", dir);
	rmdir(spool);
	rmdir(dir);
	free(ev);
	free(back);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_event_values),
	    cmocka_unit_test(test_spool_read_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
