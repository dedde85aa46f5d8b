/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * fuzz_defence.c - the store's `defence` line as domain_state reads it
 * (component/defence_watch.h defence_parse), on hostile text: what parses
 * is within its bounds, writes back as text that parses to the same, and
 * gives metric states within the label lists.
 */
#include "fuzz.h"

#include "component/defence_watch.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct defence_state st, back;
	struct buf a = BUF_INIT, b = BUF_INIT;
	int idx[DEFENCE_METRIC_DEFS];

	FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	if (defence_parse(text, &st) == 0) {
		FUZZ_CHECK(st.ncb <= DEFENCE_CB_MAX);
		defence_metric_states(&st, idx);
		for (int d = 0; d < DEFENCE_METRIC_DEFS; d++)
			FUZZ_CHECK(idx[d] < 0 ||
				   defence_metric_word(d, idx[d]) != NULL);
		defence_format(&st, &a);
		FUZZ_CHECK(a.len <= 1000);
		FUZZ_CHECK(defence_parse(a.s, &back) == 0);
		defence_format(&back, &b);
		FUZZ_CHECK(a.len == b.len &&
			   (a.len == 0 || memcmp(a.s, b.s, a.len) == 0));
	} else {
		FUZZ_CHECK(!st.have && st.ncb <= DEFENCE_CB_MAX);
	}
	buf_free(&a);
	buf_free(&b);
	free(text);
	return 0;
}
