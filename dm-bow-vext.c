// SPDX-License-Identifier: GPL-2.0
/*
 * dm-bow's extent maps: see dm-bow-vext.h.
 *
 * tests/fuzz compiles this file as it is on the host, as tests/ranges
 * does dm-bow-ranges.c (the kernel's tools/include, tests/ranges/include),
 * so it includes only what both provide.
 */
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/rbtree.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/types.h>

#include "dm-bow-vext.h"

/* A disk decides how many: fail rather than push the machine. */
#define BOW_VEXT_GFP	(GFP_KERNEL | __GFP_NOWARN | __GFP_RETRY_MAYFAIL)

bool bow_vext_less(struct rb_node *a, const struct rb_node *b)
{
	return rb_entry(a, struct bow_vext, node)->start <
	       rb_entry(b, struct bow_vext, node)->start;
}

/* The extent holding block @b, or else the first after it, or NULL. */
static struct bow_vext *bow_vext_find(struct rb_root *root, u64 b)
{
	struct rb_node *n = root->rb_node;
	struct bow_vext *after = NULL;

	while (n) {
		struct bow_vext *e = rb_entry(n, struct bow_vext, node);

		if (b < e->start) {
			after = e;
			n = n->rb_left;
		} else if (b - e->start >= e->len) {
			n = n->rb_right;
		} else {
			return e;
		}
	}
	return after;
}

static struct bow_vext *bow_vext_next(struct bow_vext *e)
{
	struct rb_node *n = rb_next(&e->node);

	return n ? rb_entry(n, struct bow_vext, node) : NULL;
}

u64 bow_vext_lookup(struct rb_root *root, u64 b, u64 *run)
{
	struct bow_vext *e = bow_vext_find(root, b);

	if (e && e->start <= b) {
		*run = e->len - (b - e->start);
		return e->phys + (b - e->start);
	}
	*run = e ? e->start - b : U64_MAX - b;
	return b;
}

bool bow_vext_overlaps(struct rb_root *root, u64 start, u64 len)
{
	struct bow_vext *e = bow_vext_find(root, start);

	return e && e->start < start + len;
}

int bow_vext_assign(struct rb_root *root, u64 start, u64 len, u64 phys,
		    u64 *nodes)
{
	struct bow_vext *e = bow_vext_find(root, start), *new;
	u64 end = start + len;

	new = kmalloc(sizeof(*new), BOW_VEXT_GFP);
	if (!new)
		return -ENOMEM;
	(*nodes)++;
	/* One extent across the whole range: its tail becomes @new's. */
	if (e && e->start < start && e->start + e->len > end) {
		struct bow_vext *tail = kmalloc(sizeof(*tail), BOW_VEXT_GFP);

		if (!tail) {
			kfree(new);
			(*nodes)--;
			return -ENOMEM;
		}
		(*nodes)++;
		tail->start = end;
		tail->len = e->start + e->len - end;
		tail->phys = e->phys + (end - e->start);
		e->len = start - e->start;
		rb_add(&tail->node, root, bow_vext_less);
		e = tail;
	}
	while (e && e->start < end) {
		struct bow_vext *next = bow_vext_next(e);
		u64 e_end = e->start + e->len;

		if (e->start < start) {
			e->len = start - e->start;
		} else if (e_end > end) {
			e->phys += end - e->start;
			e->len = e_end - end;
			e->start = end;
		} else {
			rb_erase(&e->node, root);
			kfree(e);
			(*nodes)--;
		}
		e = next;
	}
	new->start = start;
	new->len = len;
	new->phys = phys;
	bow_vext_insert(root, new, nodes);
	return 0;
}

void bow_vext_insert(struct rb_root *root, struct bow_vext *new, u64 *nodes)
{
	struct bow_vext *prev, *next;

	rb_add(&new->node, root, bow_vext_less);
	/*
	 * Backups are allocated next to each other: join an extent that
	 * goes on where the other ends, on both sides (a walk of the log
	 * assigns newest first, so the later blocks come first), to keep
	 * the tree small and a read through the view one request.
	 */
	next = bow_vext_next(new);
	if (next && next->start == new->start + new->len &&
	    next->phys == new->phys + new->len) {
		new->len += next->len;
		rb_erase(&next->node, root);
		kfree(next);
		(*nodes)--;
	}
	prev = rb_prev(&new->node) ?
	       rb_entry(rb_prev(&new->node), struct bow_vext, node) : NULL;
	if (prev && prev->start + prev->len == new->start &&
	    prev->phys + prev->len == new->phys) {
		prev->len += new->len;
		rb_erase(&new->node, root);
		kfree(new);
		(*nodes)--;
	}
}

void bow_vext_destroy(struct rb_root *root)
{
	struct bow_vext *e, *tmp;

	rbtree_postorder_for_each_entry_safe(e, tmp, root, node) {
		kfree(e);
		cond_resched();
	}
	*root = RB_ROOT;
}
