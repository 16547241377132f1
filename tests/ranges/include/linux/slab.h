/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Stand-in for the host build of dm-bow-vext.c (tests/fuzz): kmalloc()
 * is malloc(); the flags, which say how hard the kernel may try, do not
 * matter here.
 */
#ifndef BOW_HOST_LINUX_SLAB_H
#define BOW_HOST_LINUX_SLAB_H
#include <stdlib.h>
#define GFP_KERNEL		0
#define __GFP_NOWARN		0
#define __GFP_RETRY_MAYFAIL	0
#define kmalloc(size, gfp)	malloc(size)
#define kfree(p)		free(p)
#endif
