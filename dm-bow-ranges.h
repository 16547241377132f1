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
 * dm-bow-ranges.c is linked into dm-bow.ko, and tests/ranges builds the
 * very same file on the host and checks it against a per-block model.
 * The user of the map defines bow_range_node_free().  Nothing here
 * allocates, nor sleeps but bow_map_destroy(); callers serialise access
 * (dm-bow: bd->lock) and hand in preallocated nodes.
 */
#ifndef DM_BOW_RANGES_H
#define DM_BOW_RANGES_H

#include <linux/rbtree.h>
#include <linux/types.h>

/*
 * What a range of the device holds.  Boundaries are always block aligned.
 * Neighbouring ranges of the same type are merged.
 */
enum bow_range_type {
	BOW_BLOCK0,		/* block 0: the log while a checkpoint is live */
	BOW_BLOCK0_LIVE,	/* where the file system's block 0 lives now */
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
	u64 free_ranges;		/* and how many there are */
};

/* Frees a node the map no longer uses: defined by the map's user. */
void bow_range_node_free(struct bow_range *r);

struct bow_range *bow_range_next(struct bow_range *r);
struct bow_range *bow_range_find(struct bow_map *map, sector_t sector);
sector_t bow_range_end(struct bow_range *r);
void bow_range_insert(struct bow_map *map, struct bow_range *new);
int bow_convert(struct bow_map *map, sector_t start, sector_t end,
		unsigned int from, enum bow_range_type to,
		struct bow_prealloc *pa);
bool bow_range_all(struct bow_map *map, sector_t start, sector_t end,
		   unsigned int types);
/*
 * Free space is taken upwards within this much of the top of the highest
 * free range (4 MiB, a multiple of every block size): see bow_alloc_free().
 */
#define BOW_ALLOC_RUN_SECTORS	8192

sector_t bow_alloc_free(struct bow_map *map, sector_t max_sectors,
			enum bow_range_type type, sector_t *dest,
			struct bow_prealloc *pa, bool lowest);
void bow_map_destroy(struct rb_root *ranges);

#endif /* DM_BOW_RANGES_H */
