// SPDX-License-Identifier: GPL-2.0
/*
 * dm-bow's replay rules (dm-bow-rules.h), compiled into dm-bow.ko and
 * into bow-restore's library alike: they need only the format header,
 * conversions from little-endian and crc32_le, the kernel's or libc's
 * and the library's.
 */
#ifdef __KERNEL__
#include <linux/crc32.h>
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/string.h>
#define bow_le16(x)	le16_to_cpu(x)
#define bow_le32(x)	le32_to_cpu(x)
#define bow_le64(x)	le64_to_cpu(x)
#define bow_rules_crc32(crc, p, len)	crc32(crc, p, len)
#define bow_rules_yield()		cond_resched()
#else
#define _DEFAULT_SOURCE
#include <endian.h>
#include <string.h>
#include "bow-restore/lib/restore.h"	/* bow_crc32() */
#define bow_le16(x)	le16toh(x)
#define bow_le32(x)	le32toh(x)
#define bow_le64(x)	le64toh(x)
#define bow_rules_crc32(crc, p, len)	bow_crc32(crc, p, len)
#define bow_rules_yield()		do { } while (0)
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
			      __u32 header_size, __u32 i, bow_u64 *budget,
			      struct bow_entry_facts *e)
{
	unsigned int shift = bow_block_shift(g);
	struct bow_log_entry raw;

	memcpy(&raw, (const unsigned char *)blk + header_size +
	       (bow_u64)i * sizeof(raw), sizeof(raw));
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

/*
 * The walk of a chain: both readers, the module and bow-restore, take its
 * verdicts and its entries from here, in this order.
 */

int bow_chain_read(struct bow_chain *ch, bow_u64 block, bow_u64 blocks,
		   const void **data)
{
	const struct bow_chain_ops *ops = ch->ops;
	unsigned char *buf = ch->buf;
	bow_u64 i, run, phys;
	int r;

	for (i = 0; i < blocks; i += run) {
		phys = ops->lookup(ch, BOW_CHAIN_MAP, block + i, &run);
		if (run > blocks - i)
			run = blocks - i;
		/* All in one place: the reader may point at it. */
		if (run == blocks) {
			*data = buf;
			return ops->read(ch, phys, run, buf, data);
		}
		r = ops->read(ch, phys, run, buf + i * ch->g.block_size, NULL);
		if (r)
			return r;
	}
	*data = buf;
	return 0;
}

int bow_chain_verify(struct bow_chain *ch, const struct bow_chain_entry *e,
		     const void **data)
{
	struct bow_chain_verdict v = { .rule = BOW_RULE_CHECKSUM, .e = e };
	bow_u64 b, n;
	int r;

	v.crc = (__u32)e->source;
	for (b = 0; b < e->blocks; b += n) {
		n = e->blocks - b < ch->buf_blocks ? e->blocks - b :
						     ch->buf_blocks;
		r = bow_chain_read(ch, e->dest + b, n, data);
		if (r)
			return r;
		v.crc = bow_rules_crc32(v.crc, *data, n * ch->g.block_size);
		bow_rules_yield();
	}
	if (bow_checksum_matches(v.crc, e->checksum, e->blocks))
		return 0;
	return ch->ops->broken(ch, &v);
}

/*
 * Simulate the replay of @e: refuse it if its source is a backup the
 * replay read before it (a rerun after an interrupted restore would then
 * read what this entry wrote, and not converge); then note its dest as
 * read, and make its source show what its dest shows now.
 */
static int bow_chain_simulate(struct bow_chain *ch,
			      const struct bow_chain_entry *e,
			      struct bow_chain_verdict *v)
{
	const struct bow_chain_ops *ops = ch->ops;
	bow_u64 b, run, phys;
	int r;

	if (ops->overlaps(ch, BOW_CHAIN_READ, e->source, e->blocks)) {
		v->rule = BOW_RULE_CONVERGE;
		return ops->broken(ch, v);
	}
	r = ops->assign(ch, BOW_CHAIN_READ, e->dest, e->blocks, e->dest);
	for (b = 0; !r && b < e->blocks; b += run) {
		phys = ops->lookup(ch, BOW_CHAIN_MAP, e->dest + b, &run);
		if (run > e->blocks - b)
			run = e->blocks - b;
		r = ops->assign(ch, BOW_CHAIN_MAP, e->source + b, run, phys);
	}
	return r;
}

/* Entry @i of the log block in ch->block, whose header is @h. */
static int bow_chain_entry(struct bow_chain *ch,
			   const struct bow_header_facts *h, __u32 i)
{
	struct bow_entry_facts f;
	struct bow_chain_entry e;
	struct bow_chain_verdict v = { .h = h, .f = &f, .e = &e };
	const void *data;
	int r;

	v.rule = bow_check_entry(ch->block, &ch->g, h->header_size, i,
				 &ch->budget, &f);
	e = (struct bow_chain_entry){
		.source = f.source,
		.dest = f.dest,
		.blocks = f.blocks,
		.checksum = f.checksum,
		.sequence = h->sequence,
		.index = i,
	};
	if (v.rule)
		return ch->ops->broken(ch, &v);
	if (ch->check_data || (ch->check_log && !i)) {
		r = bow_chain_verify(ch, &e, &data);
		if (r)
			return r;
	}
	r = bow_chain_simulate(ch, &e, &v);
	return r ? r : ch->ops->entry(ch, &e);
}

int bow_chain_walk(struct bow_chain *ch)
{
	const struct bow_chain_ops *ops = ch->ops;
	struct bow_header_facts h;
	struct bow_chain_verdict v = { .h = &h };
	const void *data;
	__u32 expect = 0, i;
	bool first;
	int r;

	for (first = true;; first = false) {
		r = bow_chain_read(ch, 0, 1, &data);
		if (r)
			return r;
		memcpy(ch->block, data, ch->g.block_size);
		v.rule = bow_check_header(ch->block, &ch->g, first,
					  ch->vold_partial_ok, expect, &h);
		if (v.rule) {
			v.first = first;
			v.expect = expect;
			return ops->broken(ch, &v);
		}
		r = ops->header(ch, &h, first);
		for (i = h.count; !r && i-- > 0;)
			r = bow_chain_entry(ch, &h, i);
		if (!r && ops->block_done)
			r = ops->block_done(ch, &h);
		if (r || !h.sequence)
			return r;
		expect = h.sequence - 1;
	}
}

/* Block @v->index of the map, in @fw->block: its header and ranges. */
static enum bow_rule bow_freemap_block(struct bow_freemap_walk *fw,
				       struct bow_freemap_verdict *v,
				       bow_u64 *prev_end, bow_u64 *next)
{
	struct bow_freemap_header h;
	struct bow_freemap_range r;
	const unsigned char *blk = fw->block;
	unsigned int shift = bow_block_shift(&fw->g);
	bow_u64 nr_sectors = fw->g.dev_blocks << shift;
	bow_u64 block_mask = (1ULL << shift) - 1;
	__u32 crc, j;

	/* The checksum covers the block with its own field 0. */
	memcpy(&h, blk, sizeof(h));
	crc = bow_le32(h.checksum);
	h.checksum = 0;
	if (bow_le32(h.magic) != BOW_FREEMAP_MAGIC ||
	    crc != bow_rules_crc32(bow_rules_crc32(BOW_FREEMAP_MAGIC, &h,
						   sizeof(h)),
				   blk + sizeof(h),
				   fw->g.block_size - sizeof(h)))
		return BOW_RULE_FREEMAP_SEAL;
	v->count = bow_le32(h.count);
	*next = bow_le64(h.next);
	if (bow_le64(h.checkpoint_id) != fw->checkpoint_id ||
	    bow_le32(h.index) != v->index || !v->count ||
	    v->count > bow_freemap_capacity(fw->g.block_size) ||
	    !*next != (v->index + 1 == fw->blocks))
		return BOW_RULE_FREEMAP_CHAIN;
	for (j = 0; j < v->count; j++) {
		memcpy(&r, blk + sizeof(h) + (size_t)j * sizeof(r), sizeof(r));
		v->range = j;
		v->start = bow_le64(r.sector);
		v->len = bow_le64(r.sectors);
		if ((v->start | v->len) & block_mask || !v->len ||
		    v->start < *prev_end || v->len > nr_sectors ||
		    v->start > nr_sectors - v->len)
			return BOW_RULE_FREEMAP_RANGE;
		*prev_end = v->start + v->len;
	}
	return BOW_RULE_OK;
}

int bow_freemap_walk(struct bow_freemap_walk *fw)
{
	unsigned int shift = bow_block_shift(&fw->g);
	bow_u64 prev_end = 1ULL << shift, next;	/* never block 0 */
	struct bow_freemap_verdict v = { .sector = fw->first };
	int r;

	for (v.index = 0; v.index < fw->blocks; v.index++) {
		if (!v.sector || v.sector & ((1ULL << shift) - 1) ||
		    v.sector >> shift >= fw->g.dev_blocks) {
			v.rule = BOW_RULE_FREEMAP_PLACE;
			return fw->broken(fw, &v);
		}
		r = fw->read(fw, v.sector);
		if (r)
			return r;
		v.rule = bow_freemap_block(fw, &v, &prev_end, &next);
		if (v.rule)
			return fw->broken(fw, &v);
		r = fw->ranges(fw, v.index, v.sector,
			       (const void *)((const unsigned char *)fw->block +
					      sizeof(struct bow_freemap_header)),
			       v.count);
		if (r)
			return r;
		v.sector = next;
	}
	return 0;
}
