/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * container.h - the object that holds a member: CONTAINER(p, type, member)
 * turns a pointer to `member` back into its `type *` (the kernel's
 * container_of), for intrusive lists (<sys/queue.h>) and util/hmap.h.
 */
#ifndef CERTWATCH_CONTAINER_H
#define CERTWATCH_CONTAINER_H

#include <stddef.h>

#define CONTAINER(p, type, member)                                             \
	((type *)(void *)((char *)(p)-offsetof(type, member)))

#endif
