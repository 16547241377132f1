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
 *
 * The chain itself is walked here too (bow_chain_walk()): the order in
 * which blocks and entries are checked, each backup's checksum read as
 * the replay would read it, and the simulation of the replay.  The walk
 * reads and remembers through a reader's operations (struct
 * bow_chain_ops): the kernel's bio and rbtree, the tool's mapping and
 * treap, or a test's.
 */
#ifndef DM_BOW_RULES_H
#define DM_BOW_RULES_H

#include "dm-bow-format.h"

/*
 * 64-bit values: each side's own type (the kernel's u64, libc's
 * uint64_t), which each prints its own way (%llu, PRIu64).
 */
#ifdef __KERNEL__
#define bow_u64	u64
#else
#include <stdbool.h>
#include <stddef.h>
#define bow_u64	__UINT64_TYPE__
#endif

/* What a reader knows of the device when it checks a log. */
struct bow_geometry {
	__u32 block_size;	/* bytes: a power of two, 512 to 4096 */
	bow_u64 dev_blocks;	/* the device's size, in blocks */
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
	/* The chain, as its replay is simulated. */
	BOW_RULE_CHECKSUM,	/* a backup does not match its checksum */
	BOW_RULE_CONVERGE,	/* a source overlaps a backup read before */
	/* The free-space map (the module's alone: bow-restore needs none). */
	BOW_RULE_FREEMAP_PLACE,	/* a map block not a block of the device */
	BOW_RULE_FREEMAP_SEAL,	/* bad magic or checksum */
	BOW_RULE_FREEMAP_CHAIN,	/* not block i of n of this map, or count */
	BOW_RULE_FREEMAP_RANGE,	/* a range not whole blocks after the last */
};

/* A log block's header, in host order, as far as it was checked. */
struct bow_header_facts {
	__u32 magic;
	bool vold_partial;	/* the newest block carries vold's mark */
	__u32 sequence;
	__u16 header_version;
	__u32 header_size;
	__u32 block_size;
	bow_u64 sector0;
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
	bow_u64 source_sector;
	bow_u64 dest_sector;
	__u32 size;
	__u32 checksum;
	bow_u64 source;
	bow_u64 dest;
	bow_u64 blocks;
};

/*
 * Check entry @i of the log block @blk, whose header is @header_size
 * bytes and counts more than @i entries, and take its blocks from
 * *@budget: no chain backs up more blocks than the device holds, since
 * every backup goes to space free at the checkpoint and never freed
 * again (this bounds what a crafted log costs).  @budget may be NULL.
 */
enum bow_rule bow_check_entry(const void *blk, const struct bow_geometry *g,
			      __u32 header_size, __u32 i, bow_u64 *budget,
			      struct bow_entry_facts *e);

/*
 * Android's dm-bow logs each move of the live block 0 as a one-block
 * entry with checksum 0 (the block changes after the copy), and its
 * readers skip the check then: so do these rules, for one-block entries.
 */
static inline bool bow_checksum_unchecked(__u32 checksum, bow_u64 blocks)
{
	return !checksum && blocks == 1;
}

/*
 * Whether @crc, crc32_le of an entry's backup seeded with its source
 * block, is the @checksum the entry of @blocks blocks says.
 */
static inline bool bow_checksum_matches(__u32 crc, __u32 checksum,
					bow_u64 blocks)
{
	return crc == checksum || bow_checksum_unchecked(checksum, blocks);
}

/* One entry of a chain, checked: in host order and in blocks. */
struct bow_chain_entry {
	bow_u64 source;
	bow_u64 dest;
	bow_u64 blocks;
	__u32 checksum;
	__u32 sequence;		/* of its log block */
	__u32 index;		/* in its log block */
};

/*
 * A walk simulates the replay in two extent maps, which the reader keeps
 * (a block no extent covers stands for itself).
 */
enum bow_chain_map {
	/* Each block the replay writes -> the block holding its bytes now. */
	BOW_CHAIN_MAP,
	/* The backups the replay has read so far (each maps to itself). */
	BOW_CHAIN_READ,
};

/* A rule a walk found broken, and where, for the reader to say. */
struct bow_chain_verdict {
	enum bow_rule rule;
	bool first;		/* in the newest log block */
	__u32 expect;		/* the sequence an older block must have */
	const struct bow_header_facts *h;	/* the log block's header */
	const struct bow_entry_facts *f;	/* entry rules: as on disk */
	const struct bow_chain_entry *e;	/* entry rules and after */
	__u32 crc;		/* BOW_RULE_CHECKSUM: the backup's */
};

struct bow_chain;

/*
 * What a reader gives a walk.  Every operation but lookup() and
 * overlaps() returns 0 or the reader's error, which ends the walk and is
 * what the walk returns.
 */
struct bow_chain_ops {
	/*
	 * Read @blocks blocks of the device, as it is now, from block
	 * @phys into @buf; where @data is not NULL, the reader may point
	 * *@data at the bytes instead (it points at @buf on entry).
	 */
	int (*read)(struct bow_chain *ch, bow_u64 phys, bow_u64 blocks,
		    void *buf, const void **data);
	/* What @block stands for in @m, and for how many blocks (*@run). */
	bow_u64 (*lookup)(struct bow_chain *ch, enum bow_chain_map m,
			  bow_u64 block, bow_u64 *run);
	/* Make [start, start + len) stand for [to, to + len) in @m. */
	int (*assign)(struct bow_chain *ch, enum bow_chain_map m,
		      bow_u64 start, bow_u64 len, bow_u64 to);
	/* Whether any of [start, start + len) is in @m. */
	bool (*overlaps)(struct bow_chain *ch, enum bow_chain_map m,
			 bow_u64 start, bow_u64 len);
	/* A log block's header, checked, before its entries (in ch->block). */
	int (*header)(struct bow_chain *ch, const struct bow_header_facts *h,
		      bool first);
	/* An entry, checked, its backup too, and its replay simulated. */
	int (*entry)(struct bow_chain *ch, const struct bow_chain_entry *e);
	/* After the last entry of a log block; may be NULL. */
	int (*block_done)(struct bow_chain *ch,
			  const struct bow_header_facts *h);
	/*
	 * A rule is broken: say so.  What it returns the walk returns; 0
	 * for BOW_RULE_COUNT_ZERO (a commit begun, which a reader may
	 * finish) ends the walk there, with no entry.
	 */
	int (*broken)(struct bow_chain *ch, const struct bow_chain_verdict *v);
};

/* One walk of a chain, or one reader's reads through its maps. */
struct bow_chain {
	const struct bow_chain_ops *ops;
	void *priv;			/* the reader's */
	struct bow_geometry g;
	bool vold_partial_ok;		/* block 0 may hold a restore begun */
	bool check_data;		/* read and checksum every backup */
	/*
	 * Or only those of entries 0: the log blocks and block 0, which
	 * the walk reads anyway.
	 */
	bool check_log;
	bow_u64 budget;			/* blocks the chain may still back up */
	void *block;			/* one block: the log block checked */
	void *buf;			/* buf_blocks blocks, for backups */
	bow_u64 buf_blocks;
};

/*
 * Walk the chain in block 0 newest first, by the rules of
 * Documentation/dm-bow-format.rst, "Replay": every header and entry
 * checked, every backup's checksum too (@ch->check_data; @ch->check_log,
 * those of entries 0), read through
 * BOW_CHAIN_MAP, which the walk keeps as the replay would leave the
 * device.  Nothing is written.  @ch->budget starts at the device's
 * blocks.
 */
int bow_chain_walk(struct bow_chain *ch);

/*
 * Read @blocks blocks (at most @ch->buf_blocks) of the device as the
 * replay so far would leave it, from @block: *@data points at them.
 */
int bow_chain_read(struct bow_chain *ch, bow_u64 block, bow_u64 blocks,
		   const void **data);

/*
 * Check @e's backup against its checksum, read through BOW_CHAIN_MAP.
 * If the backup fits in @ch->buf, *@data points at it afterwards.
 */
int bow_chain_verify(struct bow_chain *ch, const struct bow_chain_entry *e,
		     const void **data);

/* What a walk of the free-space map found wrong, and where. */
struct bow_freemap_verdict {
	enum bow_rule rule;
	__u32 index;		/* of the map's block */
	bow_u64 sector;		/* where that block is */
	__u32 count;		/* BOW_RULE_FREEMAP_CHAIN: the block's */
	__u32 range;		/* BOW_RULE_FREEMAP_RANGE: which, and ... */
	bow_u64 start;		/* ... its sectors */
	bow_u64 len;
};

/*
 * One walk of the free-space map, whose first block the header extension
 * names.  Its operations return 0 or the reader's error, which ends the
 * walk and is what the walk returns.
 */
struct bow_freemap_walk {
	struct bow_geometry g;
	bow_u64 checkpoint_id;	/* the header extension's */
	bow_u64 first;		/* sector of the map's first block */
	__u32 blocks;		/* blocks in its chain */
	void *block;		/* one block */
	void *priv;		/* the reader's */
	/* Read the block at @sector into @fw->block. */
	int (*read)(struct bow_freemap_walk *fw, bow_u64 sector);
	/*
	 * Block @index of the map, at @sector, checked: its @count
	 * ranges (as on disk) are whole blocks of the device but block 0,
	 * each after the one before, across the whole chain.
	 */
	int (*ranges)(struct bow_freemap_walk *fw, __u32 index,
		      bow_u64 sector, const struct bow_freemap_range *range,
		      __u32 count);
	/* A rule is broken: say so; what it returns the walk returns. */
	int (*broken)(struct bow_freemap_walk *fw,
		      const struct bow_freemap_verdict *v);
};

/*
 * Walk the map: every block's place, magic, checksum, checkpoint id and
 * place in the chain, and every range.  Reads each block once, in the
 * order of the chain; no more than @fw->blocks of them.
 */
int bow_freemap_walk(struct bow_freemap_walk *fw);

#endif /* DM_BOW_RULES_H */
