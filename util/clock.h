/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * clock.h - time and chance as the daemon's modules get them.  main.c owns
 * one `struct clock` (the system's) and hands it to every module that
 * keeps a schedule or a rate or dates what it keeps (docs/architecture.md
 * "The composition root"); a test hands them its own and drives them
 * without sleeping.  clock_mono_ms() is the one monotonic "now" helper,
 * read directly only by what measures work (a probe's duration).
 */
#ifndef CERTWATCH_CLOCK_H
#define CERTWATCH_CLOCK_H

#include <stdint.h>
#include <time.h>

struct clock {
	time_t (*now)(void);	  /* wall seconds: what is stored, shown */
	uint32_t (*rand32)(void); /* jitter */
	int64_t (*mono_ms)(void); /* monotonic milliseconds: schedules,
				   * ages, rates (a step of the wall
				   * clock moves none of them) */
};

/* The system's: time(), random(), CLOCK_MONOTONIC. */
extern const struct clock clock_system;

time_t clock_wall(void);
uint32_t clock_rand32(void);
int64_t clock_mono_ms(void);

/* *c with every NULL member taken from clock_system (c may be NULL). */
struct clock clock_or_system(const struct clock *c);

#endif
