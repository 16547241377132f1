/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-bow's replay rules, one code for every reader of a log.
 *
 * Documentation/dm-bow-format.rst says what a valid log is.  The checks
 * here are those rules, field by field, written once: dm-bow.ko (resume,
 * rollback, the view's index) and bow-restore's library compile this very
 * file (dm-bow-rules.c), as they share dm-bow-format.h.  They read only
 * the bytes they are given and touch no device: each caller reads the
 * blocks its own way, says in its own words what a verdict means, and
 * keeps what it needs of the facts returned.
 *
 * A check returns the first rule the bytes break, in the order the
 * documentation lists them, so that a log breaking several gets the same
 * verdict everywhere.
 */
#ifndef DM_BOW_RULES_H
#define DM_BOW_RULES_H

#include "dm-bow-format.h"

#ifndef __KERNEL__
#include <stdbool.h>
#endif

/* What a reader knows of the device when it checks a log. */
struct bow_geometry {
	__u32 block_size;	/* bytes: a power of two, 512 to 4096 */
	__u64 dev_blocks;	/* the device's size, in blocks */
};

/* The rule a log block, an entry or a chain breaks; 0: none. */
enum bow_rule {
	BOW_RULE_OK = 0,
	/* The header. */
	BOW_RULE_MAGIC,		/* not BOW_MAGIC (nor an allowed vold mark) */
	BOW_RULE_VERSION,	/* header_version */
	BOW_RULE_BLOCK_SIZE,	/* not the chain's block size */
	BOW_RULE_HEADER_SIZE,	/* under BOW_HEADER_SIZE or over block_size */
	BOW_RULE_SECTOR0_ALIGN,	/* sector0 not a block's first sector */
	BOW_RULE_SECTOR0_ZERO,	/* sector0 is block 0 itself */
	BOW_RULE_SECTOR0_END,	/* sector0 past the end of the device */
	BOW_RULE_COUNT_ZERO,	/* newest block, count 0: a commit begun */
	BOW_RULE_COUNT,		/* count 0 or more than a block holds */
	BOW_RULE_SEQUENCE,	/* not one less than the newer block's */
	/* An entry. */
	BOW_RULE_ENTRY_BLOCKS,	/* source, dest, size not whole blocks */
	BOW_RULE_ENTRY_BLOCK0,	/* block 0: entry 0's one-block source only */
	BOW_RULE_ENTRY_END,	/* reaches past the end of the device */
	BOW_RULE_ENTRY_OVERLAP,	/* source and dest overlap */
	BOW_RULE_BUDGET,	/* the chain backs up more than the device */
};

/* A log block's header, in host order, as far as it was checked. */
struct bow_header_facts {
	__u32 magic;
	bool vold_partial;	/* the newest block carries vold's mark */
	__u32 sequence;
	__u16 header_version;
	__u32 header_size;
	__u32 block_size;
	__u64 sector0;
	__u32 count;
};

/*
 * Check the header of the log block @blk.  @first: the newest, read from
 * block 0 itself, whose count may be 0 (a commit begun) and which may
 * carry vold's partial-restore mark where @vold_partial_ok; otherwise its
 * sequence must be @expect.  @blk holds at least a header.
 */
enum bow_rule bow_check_header(const void *blk, const struct bow_geometry *g,
			       bool first, bool vold_partial_ok, __u32 expect,
			       struct bow_header_facts *h);

/* An entry, in host order: on disk (sectors, bytes), then in blocks. */
struct bow_entry_facts {
	__u64 source_sector;
	__u64 dest_sector;
	__u32 size;
	__u32 checksum;
	__u64 source;
	__u64 dest;
	__u64 blocks;
};

/*
 * Check entry @i of the log block @blk, whose header is @header_size
 * bytes and counts more than @i entries, and take its blocks from
 * *@budget: no chain backs up more blocks than the device holds, since
 * every backup goes to space free at the checkpoint and never freed
 * again (this bounds what a crafted log costs).  @budget may be NULL.
 */
enum bow_rule bow_check_entry(const void *blk, const struct bow_geometry *g,
			      __u32 header_size, __u32 i, __u64 *budget,
			      struct bow_entry_facts *e);

/*
 * Android's dm-bow logs each move of the live block 0 as a one-block
 * entry with checksum 0 (the block changes after the copy), and its
 * readers skip the check then: so do these rules, for one-block entries.
 */
static inline bool bow_checksum_unchecked(__u32 checksum, __u64 blocks)
{
	return !checksum && blocks == 1;
}

/*
 * Whether @crc, crc32_le of an entry's backup seeded with its source
 * block, is the @checksum the entry of @blocks blocks says.
 */
static inline bool bow_checksum_matches(__u32 crc, __u32 checksum,
					__u64 blocks)
{
	return crc == checksum || bow_checksum_unchecked(checksum, blocks);
}

#endif /* DM_BOW_RULES_H */
