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

/*
 * Checksum @e's data as it would be read at replay time, in c->map.  If
 * @e is one chunk or less, *data points to its data afterwards.
 */
int br_verify_entry(struct ctx *c, const struct entry *e,
		    uint32_t sequence, uint32_t i,
		    const unsigned char **data)
{
	uint64_t per_chunk = CHUNK_BYTES / c->block_size;
	uint32_t crc = (uint32_t)e->source;

	for (uint64_t b = 0; b < e->blocks; b += per_chunk) {
		uint64_t n = e->blocks - b < per_chunk ? e->blocks - b :
							 per_chunk;
		int r = br_read_virtual(c, e->dest + b, n, data);

		if (r)
			return r;
		crc = bow_crc32(crc, *data, n * c->block_size);
	}
	return br_check_checksum(c, e, sequence, i, crc);
}

static int add_entry(struct ctx *c, const struct entry *e)
{
	if (c->nr_entries == c->cap_entries) {
		uint64_t cap = c->cap_entries ? c->cap_entries * 2 : 256;
		struct entry *n = realloc(c->entries, cap * sizeof(*n));

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
 * After @e (entry @i of log block @sequence) has been checked: refuse it
 * if it writes a backup the replay read before it (see "Replay" in the
 * documentation: a rerun would then read what this entry wrote, and an
 * interrupted restore would not converge); then note its dest as read
 * and make its source, in the simulated device, show what its dest
 * shows now.
 */
static int simulate_entry(struct ctx *c, const struct entry *e,
			  uint32_t sequence, uint32_t i)
{
	uint64_t bs_sectors = c->block_size / BOW_SECTOR_SIZE;

	if (extmap_overlaps(&c->read, e->source, e->blocks)) {
		br_say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
		       ": source %" PRIu64 "+%" PRIu64 " overlaps the dest of "
		       "an entry replayed before it: a rerun after an "
		       "interrupted restore would not converge\n", c->path,
		       sequence, i,
		       e->source * bs_sectors, e->blocks * bs_sectors);
		return BOW_INVALID;
	}
	if (extmap_assign(&c->read, e->dest, e->blocks, e->dest))
		return br_no_memory(c);
	for (uint64_t b = 0; b < e->blocks;) {
		uint64_t run, phys = extmap_lookup(&c->map, e->dest + b, &run);

		if (run > e->blocks - b)
			run = e->blocks - b;
		if (extmap_assign(&c->map, e->source + b, run, phys))
			return br_no_memory(c);
		b += run;
	}
	return 0;
}

/*
 * Walk the chain newest first, checking every field and every checksum,
 * simulating the replay in c->map.  Fills c->entries (in replay order)
 * and c->logs.  Writes nothing.
 */
int br_validate(struct ctx *c, struct bow_restore_summary *s)
{
	uint64_t bs_sectors;
	bool is_log;
	struct bow_log_header h;
	__u64 budget;		/* the rules' type: dm-bow-rules.h */
	uint32_t expect = 0;
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
	bs_sectors = c->block_size / BOW_SECTOR_SIZE;
	c->block = malloc(c->block_size);
	if (!c->block)
		return br_no_memory(c);

	/*
	 * Every backup goes to space that was free at the checkpoint and is
	 * never freed again, so the chain cannot copy more than the device
	 * holds: this bounds the work and memory a crafted log can cause.
	 */
	budget = c->dev_blocks;
	for (bool first = true;; first = false) {
		uint32_t count, sequence, header_size;
		uint64_t first_entry = c->nr_entries;
		const unsigned char *data;

		r = br_read_virtual(c, 0, 1, &data);
		if (r)
			return r;
		memcpy(c->block, data, c->block_size);
		r = br_check_header(c, c->block, first, expect, &count,
				    &sequence, &header_size);
		if (r)
			return r;
		if (!count) {
			c->committing = true;
			return 0;
		}
		if (add_log(c, sequence, count, first_entry))
			return br_no_memory(c);
		if (first)
			memcpy(c->newest_entry0, c->block + header_size,
			       sizeof(c->newest_entry0));
		s->log_blocks = c->nr_logs;
		for (uint32_t i = count; i-- > 0;) {
			struct entry e;

			r = br_check_entry(c, c->block, header_size,
					   sequence, i, &budget, &e);
			if (r)
				return r;
			r = br_verify_entry(c, &e, sequence, i, &data);
			if (r)
				return r;
			r = simulate_entry(c, &e, sequence, i);
			if (r)
				return r;
			if (add_entry(c, &e))
				return br_no_memory(c);
			if (c->opts->verbose)
				fprintf(c->out, "sequence %" PRIu32 " entry %"
					PRIu32 ": source %" PRIu64 " dest %"
					PRIu64 " sectors %" PRIu64 "\n",
					sequence, i, e.source * bs_sectors,
					e.dest * bs_sectors,
					e.blocks * bs_sectors);
			s->entries++;
			s->bytes += e.blocks * c->block_size;
			if (bow_checksum_unchecked(e.checksum, e.blocks))
				s->unchecked++;
		}
		br_progress(c, 1, c->nr_logs,
			    le32toh(c->newest.sequence) + 1ull);
		if (sequence == 0)
			return 0;
		expect = sequence - 1;
	}
}
