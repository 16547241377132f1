/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel's tools/include has no sector_t nor U64_MAX (linux/limits.h
 * in the kernel): the kernel's own definitions.
 */
#ifndef BOW_HOST_LINUX_TYPES_H
#define BOW_HOST_LINUX_TYPES_H
#include_next <linux/types.h>
typedef u64 sector_t;
#ifndef U64_MAX
#define U64_MAX	((u64)~0ULL)
#endif
#endif
