/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-bow's range map: the type of every block of the device.
 *
 * A red-black tree of ranges, each running from its sector to the next
 * range's; neighbours of the same type are merged, boundaries are block
 * aligned, and a BOW_TOP range marks the end of the device.  The free
 * ranges are also in a tree of their own, so that free space at either
 * end of the device is found in O(log n) without a walk.
 *
 * It is a header of static functions so that dm-bow.c stays one unit
 * (dm-bow.ko) while tests/ranges builds the very same code on the host,
 * against the kernel's tools/include, and checks it against a per-block
 * model.  The includer defines bow_range_node_free().  Nothing here
 * allocates, nor sleeps but bow_map_destroy(); callers serialise access
 * (dm-bow: bd->lock) and hand in preallocated nodes.
 */
#ifndef DM_BOW_RANGES_H
#define DM_BOW_RANGES_H

/*
 * What a range of the device holds.  Boundaries are always block aligned.
 * Neighbouring ranges of the same type are merged.
 */
enum bow_range_type {
	BOW_SECTOR0,		/* block 0: the log while a checkpoint is live */
	BOW_SECTOR0_LIVE,	/* where the file system's block 0 lives now */
	BOW_UNCHANGED,		/* data as at the checkpoint, no backup yet */
	BOW_FREE,		/* discarded before the checkpoint, unused */
	BOW_CHANGED,		/* rewritten since the checkpoint: ours to lose */
	BOW_WRITTEN,		/* free at the checkpoint, written since */
	BOW_BACKUP,		/* holds a backup that the log points at */
	BOW_BACKING,		/* backed up, waiting for its log entry to land */
	BOW_FREEMAP,		/* a block of the free-space map's chain */
	BOW_TOP,		/* sentinel: the end of the device */
};

#define BOW_TYPE(t)	(1u << (t))

struct bow_range {
	struct rb_node node;
	struct rb_node free_node;	/* in bow_map.free if BOW_FREE */
	sector_t sector;		/* first sector; ends at the next range */
	enum bow_range_type type;
};

/* Nodes allocated outside the spinlock for one range-map update. */
struct bow_prealloc {
	struct bow_range *node[2];
};

struct bow_map {
	struct rb_root ranges;
	struct rb_root free;		/* the BOW_FREE ranges, by sector */
	sector_t free_sectors;		/* their total length */
};

static void bow_range_node_free(struct bow_range *r);

static struct bow_range *bow_range_next(struct bow_range *r)
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
static struct bow_range *bow_range_find(struct bow_map *map, sector_t sector)
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

static sector_t bow_range_end(struct bow_range *r)
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
}

static void bow_range_insert(struct bow_map *map, struct bow_range *new)
{
	rb_add(&new->node, &map->ranges, bow_range_less);
	if (new->type == BOW_FREE)
		bow_free_insert(map, new);
}

static void bow_range_erase(struct bow_map *map, struct bow_range *r)
{
	if (r->type == BOW_FREE)
		rb_erase(&r->free_node, &map->free);
	rb_erase(&r->node, &map->ranges);
	bow_range_node_free(r);
}

static void bow_range_set_type(struct bow_map *map, struct bow_range *r,
			       enum bow_range_type type)
{
	sector_t len = bow_range_end(r) - r->sector;

	if (r->type == BOW_FREE) {
		rb_erase(&r->free_node, &map->free);
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

		if (next->type == r->type && r->type != BOW_SECTOR0) {
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
static int bow_convert(struct bow_map *map, sector_t start, sector_t end,
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
static bool bow_range_all(struct bow_map *map, sector_t start, sector_t end,
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
 * Space is taken from the end of the highest free range: file systems
 * allocate from low addresses first, so backups placed high are the
 * last to be in the way of new data (every write into a backup moves
 * it).  @lowest takes the lowest free space instead, the naive policy
 * the benchmark compares against.
 */
static sector_t bow_alloc_free(struct bow_map *map, sector_t max_sectors,
			       enum bow_range_type type, sector_t *dest,
			       struct bow_prealloc *pa, bool lowest)
{
	struct rb_node *n = lowest ? rb_first(&map->free) : rb_last(&map->free);
	struct bow_range *r;
	sector_t len, end;

	if (!n)
		return 0;
	r = rb_entry(n, struct bow_range, free_node);
	end = bow_range_end(r);
	len = min(end - r->sector, max_sectors);
	*dest = lowest ? r->sector : end - len;
	if (bow_convert(map, *dest, *dest + len, BOW_TYPE(BOW_FREE), type, pa))
		return 0;
	return len;
}

/* Free a whole map, taken out of use: it may reschedule, take no lock. */
static void bow_map_destroy(struct rb_root *ranges)
{
	struct bow_range *r, *tmp;

	rbtree_postorder_for_each_entry_safe(r, tmp, ranges, node) {
		bow_range_node_free(r);
		cond_resched();
	}
	*ranges = RB_ROOT;
}

#endif /* DM_BOW_RANGES_H */
