/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cw_skip.h - skips a cmocka case in a way meson and scripts/test.sh see.
 *
 * cmocka's skip() leaves the binary's exit status at 0, so meson would
 * count a skipped case as passed.  A case skips through cw_skip_missing()
 * or cw_skip_unprivileged() instead, and main() returns
 * cw_skip_status(failed): 77, meson's "skipped", when a case skipped and
 * none failed.  With CERTWATCH_REQUIRE_ALL=1 (scripts/test.sh sets it) a
 * skip of what scripts/setup-debian.sh installs, or of what root may do
 * when running as root, fails instead: the full run proves every case.
 * Include after <cmocka.h>; one test file per binary.
 */
#ifndef CW_SKIP_H
#define CW_SKIP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cw_skipped;

static int
cw_require_all(void)
{
	const char *v = getenv("CERTWATCH_REQUIRE_ALL");

	return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

/* `what` (a program scripts/setup-debian.sh installs) is missing. */
#define cw_skip_missing(what)                                                  \
	do {                                                                   \
		if (cw_require_all())                                          \
			fail_msg("%s is missing (scripts/setup-debian.sh "     \
				 "installs it; "                               \
				 "CERTWATCH_REQUIRE_ALL is set)",              \
				 (what));                                      \
		fprintf(stderr, "SKIP: %s is missing\n", (what));              \
		cw_skipped++;                                                  \
		skip();                                                        \
	} while (0)

/* The case needs a privilege (a mount, a hard limit) this process lacks;
 * as root under CERTWATCH_REQUIRE_ALL that is a failure. */
#define cw_skip_unprivileged(why)                                              \
	do {                                                                   \
		if (cw_require_all() && geteuid() == 0)                        \
			fail_msg("%s, as root (CERTWATCH_REQUIRE_ALL is set)", \
				 (why));                                       \
		fprintf(stderr, "SKIP: %s\n", (why));                          \
		cw_skipped++;                                                  \
		skip();                                                        \
	} while (0)

/* main()'s status from cmocka_run_group_tests()'s count of failures. */
static inline int
cw_skip_status(int failed)
{
	if (failed != 0)
		return failed;
	return cw_skipped ? 77 : 0;
}

#endif
