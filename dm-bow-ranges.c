// SPDX-License-Identifier: GPL-2.0
/*
 * dm-bow's range map: see dm-bow-ranges.h.
 *
 * tests/ranges compiles this file as it is on the host, against the
 * kernel's tools/include and a few stand-ins (tests/ranges/include), so
 * it includes only what both provide.
 */
#include <linux/bug.h>
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/rbtree.h>
#include <linux/sched.h>
#include <linux/types.h>

#include "dm-bow-ranges.h"

struct bow_range *bow_range_next(struct bow_range *r)
{
	struct rb_node *n = rb_next(&r->node);

	return n ? rb_entry(n, struct bow_range, node) : NULL;
}

static struct bow_range *bow_range_prev(struct bow_range *r)
{
	struct rb_node *n = rb_prev(&r->node);

	return n ? rb_entry(n, struct bow_range, node) : NULL;
}

/* The range containing @sector; the map always covers [0, nr_sectors]. */
struct bow_range *bow_range_find(struct bow_map *map, sector_t sector)
{
	struct rb_node *n = map->ranges.rb_node;
	struct bow_range *found = NULL;

	while (n) {
		struct bow_range *r = rb_entry(n, struct bow_range, node);

		if (r->sector <= sector) {
			found = r;
			n = n->rb_right;
		} else {
			n = n->rb_left;
		}
	}
	return found;
}

sector_t bow_range_end(struct bow_range *r)
{
	struct bow_range *next = bow_range_next(r);

	return next ? next->sector : r->sector;
}

static bool bow_range_less(struct rb_node *a, const struct rb_node *b)
{
	return rb_entry(a, struct bow_range, node)->sector <
	       rb_entry(b, struct bow_range, node)->sector;
}

static bool bow_free_less(struct rb_node *a, const struct rb_node *b)
{
	return rb_entry(a, struct bow_range, free_node)->sector <
	       rb_entry(b, struct bow_range, free_node)->sector;
}

static void bow_free_insert(struct bow_map *map, struct bow_range *new)
{
	rb_add(&new->free_node, &map->free, bow_free_less);
	map->free_ranges++;
}

static void bow_free_erase(struct bow_map *map, struct bow_range *r)
{
	rb_erase(&r->free_node, &map->free);
	map->free_ranges--;
}

void bow_range_insert(struct bow_map *map, struct bow_range *new)
{
	rb_add(&new->node, &map->ranges, bow_range_less);
	if (new->type == BOW_FREE)
		bow_free_insert(map, new);
}

static void bow_range_erase(struct bow_map *map, struct bow_range *r)
{
	if (r->type == BOW_FREE)
		bow_free_erase(map, r);
	rb_erase(&r->node, &map->ranges);
	bow_range_node_free(r);
}

static void bow_range_set_type(struct bow_map *map, struct bow_range *r,
			       enum bow_range_type type)
{
	sector_t len = bow_range_end(r) - r->sector;

	if (r->type == BOW_FREE) {
		bow_free_erase(map, r);
		map->free_sectors -= len;
	}
	r->type = type;
	if (type == BOW_FREE) {
		bow_free_insert(map, r);
		map->free_sectors += len;
	}
}

/* Split @r at @sector, inside it; returns the range starting at @sector. */
static struct bow_range *bow_range_split(struct bow_map *map,
					 struct bow_range *r, sector_t sector,
					 struct bow_prealloc *pa)
{
	struct bow_range *new;

	if (r->sector == sector)
		return r;
	new = pa->node[0] ? pa->node[0] : pa->node[1];
	if (WARN_ON_ONCE(!new))
		return NULL;
	if (new == pa->node[0])
		pa->node[0] = NULL;
	else
		pa->node[1] = NULL;
	new->sector = sector;
	new->type = r->type;
	bow_range_insert(map, new);
	return new;
}

/* Merge equal neighbours from the range before @start to the one at @end. */
static void bow_range_merge(struct bow_map *map, sector_t start, sector_t end)
{
	struct bow_range *r = bow_range_find(map, start);
	struct bow_range *prev = bow_range_prev(r);

	if (prev)
		r = prev;
	while (r->type != BOW_TOP) {
		struct bow_range *next = bow_range_next(r);

		if (next->type == r->type && r->type != BOW_BLOCK0) {
			bow_range_erase(map, next);
			continue;
		}
		if (next->sector > end)
			break;
		r = next;
	}
}

/*
 * Give every part of [start, end) whose type is in @from the type @to.
 * Needs at most two preallocated nodes: splits happen only at start and
 * at end.  Returns 0 or -ENOMEM (never with a half-done change).
 */
int bow_convert(struct bow_map *map, sector_t start, sector_t end,
		unsigned int from, enum bow_range_type to,
		struct bow_prealloc *pa)
{
	struct bow_range *r = bow_range_find(map, start);

	while (r->sector < end && r->type != BOW_TOP) {
		if (from & BOW_TYPE(r->type)) {
			if (r->sector < start)
				r = bow_range_split(map, r, start, pa);
			if (r && bow_range_end(r) > end &&
			    !bow_range_split(map, r, end, pa))
				r = NULL;
			if (!r)
				return -ENOMEM;
			bow_range_set_type(map, r, to);
		}
		r = bow_range_next(r);
	}
	bow_range_merge(map, start, end);
	return 0;
}

/* True if every part of [start, end) has a type in @types. */
bool bow_range_all(struct bow_map *map, sector_t start, sector_t end,
		   unsigned int types)
{
	struct bow_range *r = bow_range_find(map, start);

	for (; r->sector < end; r = bow_range_next(r))
		if (!(types & BOW_TYPE(r->type)))
			return false;
	return true;
}

/*
 * Take up to @max_sectors of free space as @type.  Returns the number of
 * sectors taken at *@dest, 0 if none is left.  Free ranges are block
 * aligned, so asking for a whole block gets a whole block or nothing.
 *
 * Space is taken from the top of the highest free range: file systems
 * allocate from low addresses first, so backups placed high are the
 * last to be in the way of new data (every write into a backup moves
 * it).  Within the top BOW_ALLOC_RUN_SECTORS of it, though, space is
 * taken upwards: a sequential writer's one-block backups then follow
 * each other on disk, in the order of their sources, and the log's
 * index (and a read through the view) keeps them as one extent.  A
 * taking of a whole run or more still comes from the very top.
 *
 * @lowest takes the lowest free space instead, the naive policy the
 * benchmark compares against.
 */
sector_t bow_alloc_free(struct bow_map *map, sector_t max_sectors,
			enum bow_range_type type, sector_t *dest,
			struct bow_prealloc *pa, bool lowest)
{
	struct rb_node *n = lowest ? rb_first(&map->free) : rb_last(&map->free);
	struct bow_range *r;
	sector_t len, end, size;

	if (!n)
		return 0;
	r = rb_entry(n, struct bow_range, free_node);
	end = bow_range_end(r);
	size = end - r->sector;
	len = min(size, max_sectors);
	if (lowest || size <= BOW_ALLOC_RUN_SECTORS)
		*dest = r->sector;
	else if (len >= BOW_ALLOC_RUN_SECTORS)
		*dest = end - len;
	else
		*dest = end - BOW_ALLOC_RUN_SECTORS;
	if (bow_convert(map, *dest, *dest + len, BOW_TYPE(BOW_FREE), type, pa))
		return 0;
	return len;
}

/* Free a whole map, taken out of use: it may reschedule, take no lock. */
void bow_map_destroy(struct rb_root *ranges)
{
	struct bow_range *r, *tmp;

	rbtree_postorder_for_each_entry_safe(r, tmp, ranges, node) {
		bow_range_node_free(r);
		cond_resched();
	}
	*ranges = RB_ROOT;
}
