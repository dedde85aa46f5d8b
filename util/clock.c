/* SPDX-License-Identifier: GPL-3.0-or-later */
/* clock.c - the system's clock (clock.h). */
#include "util/clock.h"

#include <stdlib.h>

time_t
clock_wall(void)
{
	return time(NULL);
}

uint32_t
clock_rand32(void)
{
	return (uint32_t)random();
}

int64_t
clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const struct clock clock_system = {clock_wall, clock_rand32, clock_mono_ms};

struct clock
clock_or_system(const struct clock *c)
{
	struct clock r = clock_system;

	if (c != NULL) {
		if (c->now)
			r.now = c->now;
		if (c->rand32)
			r.rand32 = c->rand32;
		if (c->mono_ms)
			r.mono_ms = c->mono_ms;
	}
	return r;
}
