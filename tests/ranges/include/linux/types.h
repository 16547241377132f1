/* SPDX-License-Identifier: GPL-2.0 */
/* The kernel's tools/include has no sector_t: the kernel's own type. */
#ifndef BOW_HOST_LINUX_TYPES_H
#define BOW_HOST_LINUX_TYPES_H
#include_next <linux/types.h>
typedef u64 sector_t;
#endif
