/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * fuzz_command.c - the chat command parser (component/command.h) and the
 * domain normaliser it uses (component/names.h) on hostile message bodies.
 *
 * Input: a chat body.  It is parsed as a command, normalised as a domain
 * (a normalised name must normalise to itself, from its A-label and from
 * its U-label), read as a JID, and cut for sending with comp_cmd_split()
 * at a limit taken from its first byte.
 */
#include "fuzz.h"

#include "component/command.h"
#include "component/names.h"

static void
check_domain(const struct domain_name *d)
{
	struct domain_name again;
	char err[128];
	size_t alen = strlen(d->a);

	FUZZ_CHECK(alen > 0 && alen <= DNS_NAME_MAX);
	FUZZ_CHECK(fuzz_terminated(d->u, sizeof(d->u)) && d->u[0] != '\0');
	for (size_t i = 0; i < alen; i++)
		FUZZ_CHECK(d->a[i] == '.' || d->a[i] == '-' ||
			   (d->a[i] >= 'a' && d->a[i] <= 'z') ||
			   (d->a[i] >= '0' && d->a[i] <= '9'));
	FUZZ_CHECK(names_domain(d->a, alen, &again, err, sizeof(err)) == 0);
	FUZZ_CHECK(strcmp(again.a, d->a) == 0);
	FUZZ_CHECK(strcmp(again.u, d->u) == 0);
	FUZZ_CHECK(names_domain(d->u, strlen(d->u), &again, err, sizeof(err)) ==
		   0);
	FUZZ_CHECK(strcmp(again.a, d->a) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly `size` bytes, no NUL after them: the parsers take a
	 * length and must not read past it. */
	char *body = malloc(size ? size : 1);
	struct comp_cmd cmd;
	struct domain_name d;
	char err[160], bare[512], *s;

	FUZZ_CHECK(body != NULL);
	memcpy(body, data, size);

	memset(&cmd, 0xA5, sizeof(cmd));
	if (comp_cmd_parse(body, size, &cmd) == 0) {
		FUZZ_CHECK(cmd.kind >= COMP_CMD_EMPTY &&
			   cmd.kind <= COMP_CMD_UNKNOWN);
		if (cmd.has_domain)
			check_domain(&cmd.domain);
	} else {
		FUZZ_CHECK(fuzz_terminated(cmd.error, sizeof(cmd.error)));
		FUZZ_CHECK(cmd.error[0] != '\0');
	}
	(void)comp_cmd_name(cmd.kind);
	(void)comp_cmd_admin_only(cmd.kind);

	memset(err, 'x', sizeof(err));
	if (names_domain(body, size, &d, err, sizeof(err)) == 0)
		check_domain(&d);
	else
		FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) && err[0] != '\0');

	if (size > 0) {
		size_t max = data[0] + 1, off = 0;
		while (off < size) {
			size_t n = comp_cmd_split(body + off, size - off, max);
			FUZZ_CHECK(n >= 1 && n <= size - off);
			FUZZ_CHECK(n <= max || n == size - off);
			off += n;
		}
	}

	s = fuzz_strdup(data, size);
	if (names_bare_jid(s, bare, sizeof(bare)) == 0)
		FUZZ_CHECK(strlen(bare) < sizeof(bare) &&
			   strchr(bare, '/') == NULL);
	free(s);
	free(body);
	return 0;
}
