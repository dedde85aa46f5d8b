/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * fuzz_config.c - the configuration parser (component/config.h
 * config_parse) on hostile INI text, then what the daemon does with a
 * parsed config: describe it and look up an admin.
 */
#include "fuzz.h"

#include "component/config.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly `size` bytes: the parser takes a length. */
	char *text = malloc(size ? size : 1);
	struct config *cfg = malloc(sizeof(*cfg));
	char err[512], desc[4096];
	int rc;

	FUZZ_CHECK(text != NULL && cfg != NULL);
	memcpy(text, data, size);
	config_defaults(cfg);
	memset(err, 'x', sizeof(err));
	rc = config_parse(cfg, "fuzz.conf", text, size, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == -1) {
		FUZZ_CHECK(fuzz_terminated(err, sizeof(err)));
		FUZZ_CHECK(strncmp(err, "fuzz.conf:", 10) == 0);
	} else {
		FUZZ_CHECK(cfg->nadmins <= CONFIG_MAX_ADMINS);
		for (size_t i = 0; i < cfg->nadmins; i++)
			FUZZ_CHECK(cfg->admins[i] != NULL);
		FUZZ_CHECK(fuzz_terminated(cfg->jid, sizeof(cfg->jid)));
		FUZZ_CHECK(fuzz_terminated(cfg->secret, sizeof(cfg->secret)));
		/* The secret is never described: a marker no other field
		 * can hold stands for it. */
		if (cfg->secret[0] != '\0')
			strcpy(cfg->secret, "\x01secret\x02");
		config_describe(cfg, desc, sizeof(desc));
		FUZZ_CHECK(fuzz_terminated(desc, sizeof(desc)));
		FUZZ_CHECK(strstr(desc, "\x01secret\x02") == NULL);
		(void)config_is_admin(cfg, "admin@example.org");
		if (cfg->nadmins > 0)
			FUZZ_CHECK(config_is_admin(cfg, cfg->admins[0]));
	}
	config_free(cfg);
	free(cfg);
	free(text);
	return 0;
}
