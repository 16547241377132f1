// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the module's walk of a free-space map
 * (bow_freemap_walk() in dm-bow-rules.c, which only the module reads),
 * with a reader that does what dm-bow-metadata.c does: each block read
 * from the device (an image in memory), each checked block's ranges
 * appended to one array.
 *
 * The first bytes choose the block size, the device's size, the blocks
 * the header extension says the map has and where it starts, and
 * whether each block read is resealed (its magic, checksum, checkpoint
 * id and index made right, so that mutation reaches the ranges and the
 * chain); the rest is the device.  Or else they build a valid map, as
 * the module writes it, from the rest (lengths and gaps), flip at most
 * one bit of it, and may reseal it.  Oracles: no read outside the device
 * or of block 0, no more reads than the map has blocks, and a map that
 * is accepted holds ranges of whole blocks of the device, never block
 * 0, each after the one before.
 */
#define _DEFAULT_SOURCE
#include <endian.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bow-restore/lib/restore.h"
#include "../../dm-bow-rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECKPOINT_ID 0x1122334455667788ull

#define FAIL(...) do {						\
		fprintf(stderr, "fuzz-freemap: " __VA_ARGS__);	\
		abort();					\
	} while (0)

struct reader {
	unsigned char *img;
	bool reseal;
	uint32_t reads;
	uint64_t nr_ranges;
	struct bow_freemap_range *ranges;
};

static int read_block(struct bow_freemap_walk *fw, uint64_t sector)
{
	struct reader *r = fw->priv;
	uint32_t bs = fw->g.block_size;
	struct bow_freemap_header h;

	if (!sector || sector % (bs / BOW_SECTOR_SIZE) ||
	    sector / (bs / BOW_SECTOR_SIZE) >= fw->g.dev_blocks)
		FAIL("reads sector %" PRIu64 "\n", sector);
	if (++r->reads > fw->blocks)
		FAIL("%" PRIu32 " reads of a map of %" PRIu32 " blocks\n",
		     r->reads, fw->blocks);
	memcpy(fw->block, r->img + sector * BOW_SECTOR_SIZE, bs);
	if (r->reseal) {
		memcpy(&h, fw->block, sizeof(h));
		h.magic = htole32(BOW_FREEMAP_MAGIC);
		h.checkpoint_id = htole64(CHECKPOINT_ID);
		h.index = htole32(r->reads - 1);
		h.checksum = 0;
		memcpy(fw->block, &h, sizeof(h));
		h.checksum = htole32(bow_crc32(BOW_FREEMAP_MAGIC, fw->block,
					       bs));
		memcpy(fw->block, &h, sizeof(h));
	}
	return 0;
}

static int take_ranges(struct bow_freemap_walk *fw, uint32_t index,
		       uint64_t sector, const struct bow_freemap_range *range,
		       uint32_t count)
{
	struct reader *r = fw->priv;

	(void)index;
	(void)sector;
	r->ranges = realloc(r->ranges,
			    (r->nr_ranges + count) * sizeof(*r->ranges));
	if (!r->ranges)
		abort();
	memcpy(r->ranges + r->nr_ranges, range, count * sizeof(*range));
	r->nr_ranges += count;
	return 0;
}

static int broken(struct bow_freemap_walk *fw,
		  const struct bow_freemap_verdict *v)
{
	(void)fw;
	if (v->rule < BOW_RULE_FREEMAP_PLACE ||
	    v->rule > BOW_RULE_FREEMAP_RANGE)
		FAIL("rule %d from the map's walk\n", v->rule);
	return -1;
}

/*
 * A valid map of @fw->blocks blocks from block 1 on (the chain's order),
 * its ranges after it: for each block a byte of @in says how many, then
 * one byte a range its gap and length in blocks, as many as fit.  Returns the blocks it holds, or 0 if the
 * device is too small for one range a block.
 */
static uint32_t build_map(struct bow_freemap_walk *fw, unsigned char *img,
			  const uint8_t *in, size_t n)
{
	uint32_t bs = fw->g.block_size, spb = bs / BOW_SECTOR_SIZE;
	uint32_t cap = bow_freemap_capacity(bs);
	uint64_t at = 1 + fw->blocks;	/* the first block after the map */
	size_t k = 0;

	for (uint32_t i = 0; i < fw->blocks; i++) {
		unsigned char *blk = img + (uint64_t)(1 + i) * bs;
		struct bow_freemap_header h = { 0 };
		uint32_t count, want = 1 + (k < n ? in[k++] : 0) % cap;

		for (count = 0; count < want; count++) {
			uint8_t b = k < n ? in[k++] : 0;
			uint64_t gap = b >> 4, len = 1 + (b & 15);
			struct bow_freemap_range r;

			if (at + gap + len > fw->g.dev_blocks)
				break;
			r.sector = htole64((at + gap) * spb);
			r.sectors = htole64(len * spb);
			memcpy(blk + sizeof(h) + count * sizeof(r), &r,
			       sizeof(r));
			at += gap + len;
		}
		if (!count)
			return 0;
		h.magic = htole32(BOW_FREEMAP_MAGIC);
		h.checkpoint_id = htole64(CHECKPOINT_ID);
		h.index = htole32(i);
		h.count = htole32(count);
		h.next = htole64(i + 1 < fw->blocks ? (uint64_t)(2 + i) * spb :
				 0);
		memcpy(blk, &h, sizeof(h));
		h.checksum = htole32(bow_crc32(BOW_FREEMAP_MAGIC, blk, bs));
		memcpy(blk, &h, sizeof(h));
	}
	return fw->blocks;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { 0 };
	struct bow_freemap_walk fw = {
		.checkpoint_id = CHECKPOINT_ID,
		.priv = &r,
		.read = read_block,
		.ranges = take_ranges,
		.broken = broken,
	};
	uint32_t bs, spb;
	uint64_t prev_end, len;
	int status;

	if (size < 6)
		return 0;
	bs = 512u << (data[0] % 4);
	spb = bs / BOW_SECTOR_SIZE;
	fw.g.block_size = bs;
	fw.g.dev_blocks = 2 + (data[1] | data[2] << 8) % 64;
	fw.blocks = 1 + data[3] % 8;
	r.reseal = data[4] & 1;
	/* Usually a block of the device; sometimes any sector. */
	fw.first = data[4] & 2 ? data[5] : (uint64_t)(1 + data[5] %
				   (fw.g.dev_blocks - 1)) * spb;
	len = fw.g.dev_blocks * bs;
	r.img = calloc(1, len);
	fw.block = malloc(bs);
	if (!r.img || !fw.block)
		abort();
	if (data[4] & 4) {
		/* A valid map, and at most one bit of it flipped. */
		fw.first = spb;
		if (fw.blocks + 2 > fw.g.dev_blocks ||
		    !build_map(&fw, r.img, data + 6, size - 6))
			goto out;
		if (data[4] & 8)
			r.img[bs + (data[5] | data[0] << 8) %
			      ((size_t)fw.blocks * bs)] ^= 1u << (data[1] % 8);
		/* Resealed, the flip meets the rules behind the checksum. */
		r.reseal = data[4] & 16;
	} else {
		memcpy(r.img, data + 6, size - 6 < len ? size - 6 : len);
	}

	status = bow_freemap_walk(&fw);
	if (!status) {
		prev_end = spb;
		for (uint64_t i = 0; i < r.nr_ranges; i++) {
			uint64_t start = le64toh(r.ranges[i].sector);
			uint64_t n = le64toh(r.ranges[i].sectors);

			if (start % spb || n % spb || !n || start < prev_end ||
			    start + n > fw.g.dev_blocks * spb ||
			    start + n < start)
				FAIL("accepted range %" PRIu64 ": %" PRIu64
				     "+%" PRIu64 " after %" PRIu64 "\n", i,
				     start, n, prev_end);
			prev_end = start + n;
		}
		if (r.reads != fw.blocks)
			FAIL("accepted after %" PRIu32 " reads of %" PRIu32
			     " blocks\n", r.reads, fw.blocks);
	} else if ((data[4] & 12) == 4) {	/* built, not flipped */
		FAIL("a valid map of %" PRIu32 " blocks refused\n", fw.blocks);
	}
out:
	free(r.ranges);
	free(r.img);
	free(fw.block);
	return 0;
}
