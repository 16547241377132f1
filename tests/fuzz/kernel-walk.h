/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The module's walk of a log, on the host: dm-bow-rules.c's walk with
 * the kernel's extent maps (dm-bow-vext.c, built as it is), reading an
 * image in memory as the module reads the device.  The fuzzers compare
 * its verdict and its entries with bow-restore's.
 */
#ifndef BOW_KERNEL_WALK_H
#define BOW_KERNEL_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kernel_walk {
	int rule;		/* enum bow_rule: 0 if the log is accepted */
	bool first;		/* the rule broken in the newest log block */
	uint64_t nr_entries;	/* accepted: the entries, newest first */
	uint64_t (*entries)[3];	/* source, dest, blocks */
};

/*
 * Walk the log in @img (@len bytes, @block_size-byte blocks) as a
 * rollback does (@restoring: vold's mark allowed) or a resume.
 */
void kernel_walk(const unsigned char *img, size_t len, uint32_t block_size,
		 bool restoring, struct kernel_walk *w);
void kernel_walk_free(struct kernel_walk *w);

/*
 * The differential check (differential.c): the module's walk of @img,
 * in the @block_size bow-restore read from it (its summary's; 0: none),
 * against bow-restore's verdict @status on the same bytes and, where it
 * restored and @restored is not NULL, against what it wrote.  Aborts,
 * saying why, where the two disagree.
 */
void kernel_walk_check(const unsigned char *img, size_t len,
		       uint32_t block_size, int status,
		       const unsigned char *restored);

#endif
