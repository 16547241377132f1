/* SPDX-License-Identifier: GPL-2.0 */
/* Stand-in for the host build of dm-bow-ranges.c: nothing to yield to. */
#ifndef BOW_HOST_LINUX_SCHED_H
#define BOW_HOST_LINUX_SCHED_H
#define cond_resched() do { } while (0)
#endif
