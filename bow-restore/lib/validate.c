// SPDX-License-Identifier: GPL-2.0
/*
 * bow-restore library, validation: walk the chain newest first, checking
 * every field and every checksum by simulating the replay.  The
 * simulation never copies data.  It keeps a map from each block the
 * replay would write to the block on the device that holds, right now,
 * the bytes that block would receive; checksums are computed by reading
 * through that map, so the whole chain, data included, is checked before
 * a single byte is written.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int add_entry(struct ctx *c, const struct bow_chain_entry *e)
{
	if (c->nr_entries == c->cap_entries) {
		uint64_t cap = c->cap_entries ? c->cap_entries * 2 : 256;
		struct bow_chain_entry *n = realloc(c->entries,
						    cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->entries = n;
		c->cap_entries = cap;
	}
	c->entries[c->nr_entries++] = *e;
	return 0;
}

static int add_log(struct ctx *c, uint32_t sequence, uint32_t count,
		   uint64_t first)
{
	/* Up to 2^32 log blocks: size_t, so that the count cannot wrap. */
	if (c->nr_logs == c->cap_logs) {
		size_t cap = c->cap_logs ? c->cap_logs * 2 : 16;
		struct log_block *n;

		if (cap > SIZE_MAX / sizeof(*n))
			return -ENOMEM;
		n = realloc(c->logs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->logs = n;
		c->cap_logs = cap;
	}
	c->logs[c->nr_logs++] = (struct log_block){ sequence, count, first };
	return 0;
}

/*
 * The walk's operations (dm-bow-rules.h): the chain is walked by the
 * kernel's code, reading through this library's window and extent maps.
 */
static struct ctx *chain_ctx(struct bow_chain *ch)
{
	return ch->priv;
}

static int chain_read(struct bow_chain *ch, uint64_t phys, uint64_t blocks,
		      void *buf, const void **data)
{
	struct ctx *c = chain_ctx(ch);
	const unsigned char *at;
	int r;

	r = br_read_at(c, buf, blocks * c->block_size, phys * c->block_size,
		       data ? &at : NULL);
	if (!r && data)
		*data = at;
	return r;
}

static struct extmap *chain_map(struct bow_chain *ch, enum bow_chain_map m)
{
	struct ctx *c = chain_ctx(ch);

	return m == BOW_CHAIN_MAP ? &c->map : &c->read;
}

static uint64_t chain_lookup(struct bow_chain *ch, enum bow_chain_map m,
			     uint64_t block, uint64_t *run)
{
	return extmap_lookup(chain_map(ch, m), block, run);
}

static int chain_assign(struct bow_chain *ch, enum bow_chain_map m,
			uint64_t start, uint64_t len, uint64_t to)
{
	if (extmap_assign(chain_map(ch, m), start, len, to))
		return br_no_memory(chain_ctx(ch));
	return 0;
}

static bool chain_overlaps(struct bow_chain *ch, enum bow_chain_map m,
			   uint64_t start, uint64_t len)
{
	return extmap_overlaps(chain_map(ch, m), start, len);
}

static int chain_header(struct bow_chain *ch,
			const struct bow_header_facts *h, bool first)
{
	struct ctx *c = chain_ctx(ch);

	br_header_checked(c, ch->block, h, first);
	if (add_log(c, h->sequence, h->count, c->nr_entries))
		return br_no_memory(c);
	if (first)
		memcpy(c->newest_entry0,
		       (const unsigned char *)ch->block + h->header_size,
		       sizeof(c->newest_entry0));
	c->summary->log_blocks = c->nr_logs;
	return 0;
}

static int chain_entry(struct bow_chain *ch, const struct bow_chain_entry *e)
{
	struct ctx *c = chain_ctx(ch);
	uint64_t bs_sectors = c->block_size / BOW_SECTOR_SIZE;

	if (add_entry(c, e))
		return br_no_memory(c);
	if (c->opts->verbose)
		fprintf(c->out, "sequence %" PRIu32 " entry %" PRIu32
			": source %" PRIu64 " dest %" PRIu64 " sectors %"
			PRIu64 "\n", e->sequence, e->index,
			e->source * bs_sectors, e->dest * bs_sectors,
			e->blocks * bs_sectors);
	c->summary->entries++;
	c->summary->bytes += e->blocks * c->block_size;
	if (bow_checksum_unchecked(e->checksum, e->blocks))
		c->summary->unchecked++;
	return 0;
}

static int chain_block_done(struct bow_chain *ch,
			    const struct bow_header_facts *h)
{
	struct ctx *c = chain_ctx(ch);

	(void)h;
	br_progress(c, 1, c->nr_logs, le32toh(c->newest.sequence) + 1ull);
	return 0;
}

static int chain_broken(struct bow_chain *ch,
			const struct bow_chain_verdict *v)
{
	struct ctx *c = chain_ctx(ch);
	uint64_t bs_sectors = c->block_size / BOW_SECTOR_SIZE;

	switch (v->rule) {
	case BOW_RULE_CHECKSUM:
		return br_check_checksum(c, v->e, v->crc);
	case BOW_RULE_CONVERGE:
		/* See "Replay" in the documentation. */
		br_say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
		       ": source %" PRIu64 "+%" PRIu64 " overlaps the dest of "
		       "an entry replayed before it: a rerun after an "
		       "interrupted restore would not converge\n", c->path,
		       v->e->sequence, v->e->index,
		       v->e->source * bs_sectors, v->e->blocks * bs_sectors);
		return BOW_INVALID;
	default:
		if (v->rule < BOW_RULE_ENTRY_BLOCKS)
			return br_header_broken(c, ch->block, v);
		return br_entry_broken(c, v);
	}
}

static const struct bow_chain_ops chain_ops = {
	.read = chain_read,
	.lookup = chain_lookup,
	.assign = chain_assign,
	.overlaps = chain_overlaps,
	.header = chain_header,
	.entry = chain_entry,
	.block_done = chain_block_done,
	.broken = chain_broken,
};

/*
 * Read @blocks blocks of the simulated device starting at @block; *data
 * points to them afterwards: into the window if they are one run on the
 * real device and there, else into c->chunk, where runs that are
 * contiguous on the real device are read together.
 */
int br_read_virtual(struct ctx *c, uint64_t block, uint64_t blocks,
		    const unsigned char **data)
{
	const void *at;
	int r = bow_chain_read(&c->chain, block, blocks, &at);

	*data = at;
	return r;
}

/*
 * Checksum @e's data as it would be read at replay time, in c->map.  If
 * @e is one chunk or less, *data points to its data afterwards.
 */
int br_verify_entry(struct ctx *c, const struct bow_chain_entry *e,
		    const unsigned char **data)
{
	const void *at;
	int r = bow_chain_verify(&c->chain, e, &at);

	*data = at;
	return r;
}

/*
 * Walk the chain newest first, checking every field and every checksum,
 * simulating the replay in c->map.  Fills c->entries (in replay order)
 * and c->logs.  Writes nothing.
 */
int br_validate(struct ctx *c, struct bow_restore_summary *s)
{
	bool is_log;
	struct bow_log_header h;
	int r;

	/* The first sector fixes the block size. */
	if (c->size < BOW_SECTOR_SIZE) {
		br_say(c, "%s: device of %" PRIu64 " bytes is too small to "
		       "hold a dm-bow log\n", c->path, c->size);
		return BOW_TRUNCATED;
	}
	r = br_read_at(c, &h, sizeof(h), 0, NULL);
	if (r)
		return r;
	c->block_size = le32toh(h.block_size);
	is_log = le32toh(h.magic) == BOW_MAGIC ||
		 le32toh(h.magic) == BOW_VOLD_PARTIAL_MAGIC;
	if (is_log &&
	    (c->block_size < BOW_MIN_BLOCK_SIZE ||
	     c->block_size > BOW_MAX_BLOCK_SIZE ||
	     (c->block_size & (c->block_size - 1)))) {
		br_say(c, "%s: block_size %" PRIu32 " at offset 8 is not a "
		       "power of two from %d to %d\n", c->path, c->block_size,
		       BOW_MIN_BLOCK_SIZE, BOW_MAX_BLOCK_SIZE);
		return BOW_INVALID;
	}
	if (!is_log)
		c->block_size = BOW_SECTOR_SIZE;
	s->block_size = c->block_size;
	c->dev_blocks = c->size / c->block_size;
	if (c->dev_blocks < 2 && is_log) {
		br_say(c, "%s: device of %" PRIu64 " bytes is smaller than two "
		       "%" PRIu32 "-byte blocks: truncated\n", c->path, c->size,
		       c->block_size);
		return BOW_TRUNCATED;
	}
	c->block = malloc(c->block_size);
	if (!c->block)
		return br_no_memory(c);
	c->summary = s;
	/*
	 * Every backup goes to space that was free at the checkpoint and is
	 * never freed again, so the chain cannot copy more than the device
	 * holds: this bounds the work and memory a crafted log can cause.
	 */
	c->chain = (struct bow_chain){
		.ops = &chain_ops,
		.priv = c,
		.g = { .block_size = c->block_size,
		       .dev_blocks = c->dev_blocks },
		.vold_partial_ok = true,
		.check_data = true,
		.budget = c->dev_blocks,
		.block = c->block,
		.buf = c->chunk,
		.buf_blocks = CHUNK_BYTES / c->block_size,
	};
	return bow_chain_walk(&c->chain);
}
