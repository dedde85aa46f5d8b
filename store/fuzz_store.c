/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * fuzz_store.c - libFuzzer target for the shard parser: any bytes, into a
 * memory store, which is then written back and parsed again (what the
 * writer produces must always read back whole).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store *st, *again;
	char err[256], *out;
	size_t len;
	unsigned i;

	if (store_open(NULL, &st, NULL, 0) < 0)
		return 0;
	(void)store_parse_shard(st, (const char *)data, size, err, sizeof(err));
	if (store_open(NULL, &again, NULL, 0) == 0) {
		for (i = 0; i < STORE_NSHARDS; i++) {
			if (store_format_shard(st, i, 1, &out, &len) < 0 || out == NULL)
				continue;
			if (store_parse_shard(again, out, len, err, sizeof(err)) != 0)
				abort();	/* our own output must parse */
			free(out);
		}
		store_close(again);
	}
	store_close(st);
	return 0;
}
