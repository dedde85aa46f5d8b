/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * fuzz.h - what every libFuzzer harness of tests/fuzz/ shares: the entry
 * point's prototype (the project builds with -Wmissing-prototypes) and a
 * check that stops the run on a broken contract, so libFuzzer keeps the
 * input as a crash like any sanitizer report.
 */
#ifndef CERTWATCH_FUZZ_H
#define CERTWATCH_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A contract of the header under test did not hold. */
#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

/* True when buf (cap bytes) holds a NUL: messages written into a caller's
 * buffer must be terminated. */
static inline int
fuzz_terminated(const char *buf, size_t cap)
{
	return memchr(buf, '\0', cap) != NULL;
}

/* A NUL-terminated heap copy of the input, for APIs that take C strings
 * (the copy stops at the first NUL the input holds, like theirs). */
static inline char *
fuzz_strdup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
