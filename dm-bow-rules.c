// SPDX-License-Identifier: GPL-2.0
/*
 * dm-bow's replay rules (dm-bow-rules.h), compiled into dm-bow.ko and
 * into bow-restore's library alike: only the format header, and the
 * kernel's or libc's conversions from little-endian.
 */
#ifdef __KERNEL__
#include <linux/kernel.h>
#include <linux/string.h>
#define bow_le16(x)	le16_to_cpu(x)
#define bow_le32(x)	le32_to_cpu(x)
#define bow_le64(x)	le64_to_cpu(x)
#else
#define _DEFAULT_SOURCE
#include <endian.h>
#include <string.h>
#define bow_le16(x)	le16toh(x)
#define bow_le32(x)	le32toh(x)
#define bow_le64(x)	le64toh(x)
#endif

#include "dm-bow-rules.h"

/*
 * log2 of the sectors in a block: block sizes are powers of two, and the
 * module divides no 64-bit value (32-bit ARM links no such division).
 */
static unsigned int bow_block_shift(const struct bow_geometry *g)
{
	return __builtin_ctz(g->block_size >> BOW_SECTOR_SHIFT);
}

enum bow_rule bow_check_header(const void *blk, const struct bow_geometry *g,
			       bool first, bool vold_partial_ok, __u32 expect,
			       struct bow_header_facts *h)
{
	unsigned int shift = bow_block_shift(g);
	struct bow_log_header raw;

	memcpy(&raw, blk, sizeof(raw));
	h->magic = bow_le32(raw.magic);
	/* vold marks block 0 only: the copies of log blocks keep BOW. */
	h->vold_partial = first && vold_partial_ok &&
			  h->magic == BOW_VOLD_PARTIAL_MAGIC;
	if (h->magic != BOW_MAGIC && !h->vold_partial)
		return BOW_RULE_MAGIC;
	h->sequence = bow_le32(raw.sequence);
	h->header_version = bow_le16(raw.header_version);
	if (h->header_version != BOW_HEADER_VERSION)
		return BOW_RULE_VERSION;
	h->block_size = bow_le32(raw.block_size);
	if (h->block_size != g->block_size)
		return BOW_RULE_BLOCK_SIZE;
	h->header_size = bow_le16(raw.header_size);
	if (h->header_size < BOW_HEADER_SIZE || h->header_size > g->block_size)
		return BOW_RULE_HEADER_SIZE;
	h->sector0 = bow_le64(raw.sector0);
	if (h->sector0 & ((1ULL << shift) - 1))
		return BOW_RULE_SECTOR0_ALIGN;
	if (!h->sector0)
		return BOW_RULE_SECTOR0_ZERO;
	if (h->sector0 >> shift >= g->dev_blocks)
		return BOW_RULE_SECTOR0_END;
	h->count = bow_le32(raw.count);
	if (first && !h->count)
		return BOW_RULE_COUNT_ZERO;
	if (h->count < 1 ||
	    h->count > bow_log_capacity(g->block_size, h->header_size))
		return BOW_RULE_COUNT;
	if (!first && h->sequence != expect)
		return BOW_RULE_SEQUENCE;
	return BOW_RULE_OK;
}

enum bow_rule bow_check_entry(const void *blk, const struct bow_geometry *g,
			      __u32 header_size, __u32 i, __u64 *budget,
			      struct bow_entry_facts *e)
{
	unsigned int shift = bow_block_shift(g);
	struct bow_log_entry raw;

	memcpy(&raw, (const unsigned char *)blk + header_size +
	       (__u64)i * sizeof(raw), sizeof(raw));
	e->source_sector = bow_le64(raw.source);
	e->dest_sector = bow_le64(raw.dest);
	e->size = bow_le32(raw.size);
	e->checksum = bow_le32(raw.checksum);
	if ((e->source_sector | e->dest_sector) & ((1ULL << shift) - 1) ||
	    !e->size || e->size & (g->block_size - 1))
		return BOW_RULE_ENTRY_BLOCKS;
	e->source = e->source_sector >> shift;
	e->dest = e->dest_sector >> shift;
	e->blocks = e->size >> (shift + BOW_SECTOR_SHIFT);
	if (!i != !e->source || (!i && e->blocks != 1) || !e->dest)
		return BOW_RULE_ENTRY_BLOCK0;
	if (e->source + e->blocks > g->dev_blocks ||
	    e->dest + e->blocks > g->dev_blocks ||
	    e->source + e->blocks < e->source ||
	    e->dest + e->blocks < e->dest)
		return BOW_RULE_ENTRY_END;
	if (e->source < e->dest + e->blocks && e->dest < e->source + e->blocks)
		return BOW_RULE_ENTRY_OVERLAP;
	if (budget) {
		if (e->blocks > *budget)
			return BOW_RULE_BUDGET;
		*budget -= e->blocks;
	}
	return BOW_RULE_OK;
}
