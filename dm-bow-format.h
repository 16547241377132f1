/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-bow on-disk log format.
 *
 * This header is the single definition of the format: the kernel target,
 * bow-restore and the tests all include it unchanged.  Every multi-byte
 * field is little-endian on disk whatever the host; convert explicitly
 * (le32_to_cpu() in the kernel, le32toh() in userspace).
 *
 * See Documentation/dm-bow-format.rst for the byte-by-byte description
 * and the replay rules.
 */
#ifndef DM_BOW_FORMAT_H
#define DM_BOW_FORMAT_H

#include <linux/types.h>
#ifdef __KERNEL__
#include <linux/build_bug.h>
#else
#include <assert.h>
/* The kernel's spelling, for userspace (checkpatch: PREFER_DEFINED_ATTRIBUTE_MACRO). */
#ifndef __packed
#define __packed __attribute__((__packed__))
#endif
#endif

/* "BOW\0" when the first four bytes are read as a little-endian u32. */
#define BOW_MAGIC		0x00574f42
#define BOW_HEADER_VERSION	0x0100
/*
 * Android's vold, restoring a log, marks block 0 with this magic ("WOB")
 * once it has begun to write, and a rerun of vold goes on from there
 * without validating again.  bow-restore finishes such a restore.
 */
#define BOW_VOLD_PARTIAL_MAGIC	0x00424f57
/* header_size written by this version; readers accept larger headers. */
#define BOW_HEADER_SIZE		28

#define BOW_SECTOR_SHIFT	9
#define BOW_SECTOR_SIZE		512
#define BOW_MIN_BLOCK_SIZE	512
#define BOW_MAX_BLOCK_SIZE	4096

/*
 * Header at byte 0 of block 0 while a checkpoint is live.
 *
 * sector0 is the 512-byte sector where the file system's own block 0
 * currently lives (it is redirected there while block 0 holds the log).
 */
struct bow_log_header {
	__le32 magic;
	__le16 header_version;
	__le16 header_size;
	__le32 block_size;
	__le32 count;		/* number of entries that follow the header */
	__le32 sequence;	/* 0 for the first log block, +1 per roll-over */
	__le64 sector0;
} __packed;

/*
 * One backup: size bytes at sector dest hold what sector source held.
 * Replaying an entry copies dest back to source.  checksum is crc32_le
 * (no pre- or post-inversion) of those bytes, seeded with the block index
 * of source: source / (block_size / 512), truncated to 32 bits.
 */
struct bow_log_entry {
	__le64 source;
	__le64 dest;
	__le32 size;
	__le32 checksum;
} __packed;

/*
 * A commit that has begun: block 0 holds the last header with count 0,
 * followed at header_size by this mark, in the first sector.  checksum
 * is crc32_le (as for entries) of the header_size bytes of the header
 * and the mark's magic, seeded with BOW_COMMIT_MAGIC.  A live log always
 * has count >= 1 and entry 0 at header_size, whose source (there, where
 * the mark's magic goes) is 0: no damage short of rewriting these bytes
 * turns a live log into a commit.  Android's readers reject count 0 and
 * roll forward, which finishes the commit too.
 */
#define BOW_COMMIT_MAGIC	0x54494d43	/* "CMIT" */

struct bow_commit_mark {
	__le32 magic;
	__le32 checksum;
} __packed;

/*
 * The header extension (header_version 0x0100 still): dm-bow writes
 * header_size BOW_HEADER_SIZE_EXT, and this follows the header in every
 * log block it writes.  Readers that know only the header skip it, as
 * header_size tells them.  It points at the free-space map written at the
 * checkpoint, which a target resuming the checkpoint after a reboot reads
 * (Documentation/dm-bow-format.rst, "The free-space map").  A restore
 * never needs it.
 */
#define BOW_EXT_MAGIC		0x58574f42	/* "BOWX" */
#define BOW_EXT_VERSION		1

struct bow_log_ext {
	__le32 magic;		/* BOW_EXT_MAGIC */
	__le32 version;		/* BOW_EXT_VERSION */
	__le64 checkpoint_id;	/* random, the same in every free-map block */
	__le64 freemap;		/* sector of the map's first block; 0: no map */
	__le32 freemap_blocks;	/* blocks in the map's chain */
	__le32 reserved;	/* 0 */
} __packed;

#define BOW_HEADER_SIZE_EXT	(BOW_HEADER_SIZE + 32)

/*
 * One block of the free-space map: the free ranges of the device when
 * the checkpoint was taken, in increasing order, in a chain of blocks
 * that were themselves free then.  checksum is crc32_le (as for entries)
 * of the whole block with the checksum field read as 0, seeded with
 * BOW_FREEMAP_MAGIC.
 */
#define BOW_FREEMAP_MAGIC	0x46574f42	/* "BOWF" */

struct bow_freemap_header {
	__le32 magic;		/* BOW_FREEMAP_MAGIC */
	__le32 checksum;
	__le64 checkpoint_id;	/* the header extension's */
	__le32 index;		/* 0 for the first block of the chain */
	__le32 count;		/* ranges in this block */
	__le64 next;		/* sector of the next block; 0: the last */
} __packed;

struct bow_freemap_range {
	__le64 sector;		/* block aligned, never block 0 */
	__le64 sectors;		/* whole blocks, at least one */
} __packed;

static_assert(sizeof(struct bow_log_header) == BOW_HEADER_SIZE, "header");
static_assert(sizeof(struct bow_log_ext) == BOW_HEADER_SIZE_EXT -
	      BOW_HEADER_SIZE, "header extension");
static_assert(sizeof(struct bow_freemap_header) == 32, "free-map header");
static_assert(sizeof(struct bow_freemap_range) == 16, "free-map range");
static_assert(sizeof(struct bow_commit_mark) == 8, "commit mark");
static_assert(sizeof(struct bow_log_entry) == 24, "entry");

/* How many entries fit in one log block after a header of header_size. */
static inline __u32 bow_log_capacity(__u32 block_size, __u32 header_size)
{
	if (header_size > block_size)
		return 0;
	return (block_size - header_size) / sizeof(struct bow_log_entry);
}

/* How many ranges fit in one block of the free-space map. */
static inline __u32 bow_freemap_capacity(__u32 block_size)
{
	return (block_size - sizeof(struct bow_freemap_header)) /
	       sizeof(struct bow_freemap_range);
}

#endif /* DM_BOW_FORMAT_H */
