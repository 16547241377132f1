/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-bow's extent maps: which block each block of a range stands for,
 * kept as disjoint extents in a red-black tree ordered by start.  A block
 * no extent covers stands for itself.
 *
 * The walk of a log (dm-bow-metadata.c) keeps two: the simulated device
 * (each block the replay writes -> the block holding its bytes now) and
 * the backups read so far; bow-checkpoint's index is a third.  Memory
 * follows the number of extents, which callers count (*@nodes) and
 * charge: a crafted log decides it.
 *
 * dm-bow-vext.c is linked into dm-bow.ko, and the chain fuzzer
 * (tests/fuzz/fuzz-chain.c) builds the very same file on the host.
 */
#ifndef DM_BOW_VEXT_H
#define DM_BOW_VEXT_H

#include <linux/rbtree.h>
#include <linux/types.h>

/* Blocks [start, start + len) of the simulated device show [phys, ...). */
struct bow_vext {
	struct rb_node node;
	u64 start;
	u64 len;
	u64 phys;
};

bool bow_vext_less(struct rb_node *a, const struct rb_node *b);
/* Where block @b's bytes are, and for how many blocks on (*@run) alike. */
u64 bow_vext_lookup(struct rb_root *root, u64 b, u64 *run);
/* True if any of [start, start + len) is in @root. */
bool bow_vext_overlaps(struct rb_root *root, u64 start, u64 len);
/*
 * Make blocks [start, start + len) show [phys, phys + len); *@nodes
 * counts the extents of @root.  -ENOMEM leaves @root as it was.
 */
int bow_vext_assign(struct rb_root *root, u64 start, u64 len, u64 phys,
		    u64 *nodes);
/*
 * Add @new, which overlaps nothing in @root, joined with the extents it
 * goes on from or into (which may free it): no allocation, so it may be
 * called under a spinlock.  *@nodes counts the extents.
 */
void bow_vext_insert(struct rb_root *root, struct bow_vext *new, u64 *nodes);
void bow_vext_destroy(struct rb_root *root);

#endif /* DM_BOW_VEXT_H */
