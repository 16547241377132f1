// SPDX-License-Identifier: GPL-2.0
/*
 * bow-restore library, the log format one header or entry at a time:
 * every field checked against dm-bow-format.h and the rules in
 * Documentation/dm-bow-format.rst, with a message that names the log block, the
 * entry, the offset and what was expected.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <endian.h>
#include <inttypes.h>
#include <string.h>
#include <isa-l/crc.h>

uint32_t bow_crc32(uint32_t crc, const void *buf, size_t len)
{
	/*
	 * ISA-L's crc32_gzip_refl() is zlib's CRC: the same reflected
	 * 0xEDB88320 CRC with the register inverted before and after; the
	 * kernel's crc32_le() is without: undo both inversions.  It folds
	 * with carry-less multiplies where the CPU has them, several times
	 * faster than zlib, and the replay's speed is this CRC's.
	 */
	return ~crc32_gzip_refl(~crc, buf, len);
}

/*
 * Put the commit mark after the @header_size bytes of header in @sector
 * (with count 0 already): see dm-bow-format.h.
 */
void br_put_commit_mark(unsigned char *sector, uint32_t header_size)
{
	struct bow_commit_mark mark = { .magic = htole32(BOW_COMMIT_MAGIC) };

	memcpy(sector + header_size, &mark.magic, sizeof(mark.magic));
	mark.checksum = htole32(bow_crc32(BOW_COMMIT_MAGIC, sector,
					  header_size + sizeof(mark.magic)));
	memcpy(sector + header_size, &mark, sizeof(mark));
}

/*
 * Block 0 holds a header with count 0: a commit has begun, if the commit
 * mark follows (see dm-bow-format.h).  Without it, this is a damaged log
 * (one flipped bit in count) or a commit begun by a dm-bow that wrote no
 * mark: either way, finishing a commit would destroy the rollback, so
 * only an explicit roll forward does.
 */
static int check_commit_mark(struct ctx *c, const unsigned char *blk,
			     uint32_t header_size)
{
	unsigned char want[BOW_SECTOR_SIZE];

	if (header_size + sizeof(struct bow_commit_mark) <= BOW_SECTOR_SIZE) {
		memcpy(want, blk, header_size);
		br_put_commit_mark(want, header_size);
		if (!memcmp(blk + header_size, want + header_size,
			    sizeof(struct bow_commit_mark)))
			return 0;
	}
	br_say(c, "%s: block 0 holds a dm-bow header with count 0 at offset 12 "
	       "but no valid commit mark at offset %" PRIu32 ": a damaged log, "
	       "or a commit begun by an older dm-bow; nothing written.  If the "
	       "new data is to be kept, --roll-forward finishes the commit\n",
	       c->path, header_size);
	return BOW_INVALID;
}

/*
 * Check a log block's header.  @first: the newest, read from block 0 of
 * the device, which fixes the block size.  Otherwise @expect_sequence
 * and the block size must match.
 */
int br_check_header(struct ctx *c, const unsigned char *blk, bool first,
		    uint32_t expect_sequence, uint32_t *count,
		    uint32_t *sequence, uint32_t *header_size)
{
	struct bow_log_header h;
	char where[64];

	memcpy(&h, blk, sizeof(h));
	if (first && le32toh(h.magic) == BOW_VOLD_PARTIAL_MAGIC)
		c->vold_partial = true;
	/* vold marks block 0 only: the copies of log blocks keep BOW. */
	if (le32toh(h.magic) != BOW_MAGIC && !(first && c->vold_partial)) {
		if (first) {
			/* Not an error: the common case at boot. */
			fprintf(c->out, "%s: no checkpoint found: block 0 "
				"holds no dm-bow log (magic 0x%08" PRIx32
				", expected 0x%08x)\n", c->path,
				le32toh(h.magic), BOW_MAGIC);
			return BOW_NO_LOG;
		}
		br_say(c, "%s: log block sequence %" PRIu32 " (restored into "
		       "block 0) has magic 0x%08" PRIx32 ", expected 0x%08x\n",
		       c->path, expect_sequence, le32toh(h.magic), BOW_MAGIC);
		return BOW_INVALID;
	}
	*sequence = le32toh(h.sequence);
	snprintf(where, sizeof(where), "log block sequence %" PRIu32,
		 *sequence);
	if (le16toh(h.header_version) != BOW_HEADER_VERSION) {
		br_say(c, "%s: %s: header_version 0x%04x at offset 4, expected "
		       "0x%04x\n", c->path, where, le16toh(h.header_version),
		       BOW_HEADER_VERSION);
		return BOW_INVALID;
	}
	if (le32toh(h.block_size) != c->block_size) {
		br_say(c, "%s: %s: block_size %" PRIu32 " at offset 8, "
		       "expected %" PRIu32 "\n", c->path, where,
		       le32toh(h.block_size), c->block_size);
		return BOW_INVALID;
	}
	*header_size = le16toh(h.header_size);
	if (*header_size < BOW_HEADER_SIZE || *header_size > c->block_size) {
		br_say(c, "%s: %s: header_size %" PRIu32 " at offset 6, "
		       "expected %d to %" PRIu32 "\n", c->path, where,
		       *header_size, BOW_HEADER_SIZE, c->block_size);
		return BOW_INVALID;
	}
	if (le64toh(h.sector0) % (c->block_size / BOW_SECTOR_SIZE)) {
		br_say(c, "%s: %s: sector0 %" PRIu64 " at offset 20 is not "
		       "block aligned\n", c->path, where,
		       (uint64_t)le64toh(h.sector0));
		return BOW_INVALID;
	}
	if (!le64toh(h.sector0)) {
		br_say(c, "%s: %s: sector0 0 at offset 20: the live block 0 is "
		       "never block 0 itself\n", c->path, where);
		return BOW_INVALID;
	}
	if (le64toh(h.sector0) / (c->block_size / BOW_SECTOR_SIZE) >=
	    c->dev_blocks) {
		br_say(c, "%s: %s: sector0 %" PRIu64 " at offset 20 is past "
		       "the end of the device (%" PRIu64 " sectors): truncated "
		       "device or corrupt log\n", c->path, where,
		       (uint64_t)le64toh(h.sector0), c->size / BOW_SECTOR_SIZE);
		return BOW_TRUNCATED;
	}
	if (first) {
		c->newest = h;
		c->newest_sector0 = le64toh(h.sector0);
	}
	*count = le32toh(h.count);
	if (first && *count == 0 && !c->vold_partial)
		return check_commit_mark(c, blk, *header_size);
	if (*count < 1 || *count > bow_log_capacity(c->block_size,
						    *header_size)) {
		br_say(c, "%s: %s: count %" PRIu32 " at offset 12, expected 1 "
		       "to %" PRIu32 "\n", c->path, where, *count,
		       bow_log_capacity(c->block_size, *header_size));
		return BOW_INVALID;
	}
	if (!first && *sequence != expect_sequence) {
		br_say(c, "%s: %s at offset 16, expected sequence %" PRIu32
		       " (the chain must count down by one)\n", c->path, where,
		       expect_sequence);
		return BOW_INVALID;
	}
	return 0;
}

/* Convert and check entry @i of a log block; see the format rules. */
int br_check_entry(struct ctx *c, const unsigned char *blk,
		   uint32_t header_size, uint32_t sequence, uint32_t i,
		   struct entry *e)
{
	uint64_t bs_sectors = c->block_size / BOW_SECTOR_SIZE;
	uint64_t off = header_size + (uint64_t)i * sizeof(struct bow_log_entry);
	struct bow_log_entry raw;
	uint64_t source, dest;
	uint32_t size;

	memcpy(&raw, blk + off, sizeof(raw));
	source = le64toh(raw.source);
	dest = le64toh(raw.dest);
	size = le32toh(raw.size);
	e->checksum = le32toh(raw.checksum);

	if (source % bs_sectors || dest % bs_sectors || !size ||
	    size % c->block_size) {
		br_say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
		       " (offset %" PRIu64 "): source %" PRIu64 ", dest %"
		       PRIu64 ", size %" PRIu32 " are not whole %" PRIu32
		       "-byte blocks\n", c->path, sequence, i, off, source,
		       dest, size, c->block_size);
		return BOW_INVALID;
	}
	e->source = source / bs_sectors;
	e->dest = dest / bs_sectors;
	e->blocks = size / c->block_size;
	if ((i == 0) != (e->source == 0) || (i == 0 && e->blocks != 1) ||
	    e->dest == 0) {
		br_say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
		       " (offset %" PRIu64 "): source %" PRIu64 ", dest %"
		       PRIu64 ", size %" PRIu32 ": block 0 is the source of "
		       "entry 0, "
		       "one block, and of no other entry, and never a dest\n",
		       c->path, sequence, i, off, source, dest, size);
		return BOW_INVALID;
	}
	if (e->source + e->blocks > c->dev_blocks ||
	    e->dest + e->blocks > c->dev_blocks ||
	    e->source + e->blocks < e->source ||
	    e->dest + e->blocks < e->dest) {
		br_say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
		       ": sectors %" PRIu64 "+%" PRIu32 " -> %" PRIu64 "+%"
		       PRIu32 " reach past the end of the device (%" PRIu64
		       " sectors): truncated device or corrupt log\n", c->path,
		       sequence, i, dest, size / BOW_SECTOR_SIZE, source, size /
		       BOW_SECTOR_SIZE, c->size / BOW_SECTOR_SIZE);
		return BOW_TRUNCATED;
	}
	if (e->source < e->dest + e->blocks &&
	    e->dest < e->source + e->blocks) {
		br_say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
		       ": source %" PRIu64 " and dest %" PRIu64 " overlap\n",
		       c->path, sequence, i, source, dest);
		return BOW_INVALID;
	}
	return 0;
}

/* @crc is that of @e's data: is it the one the log says? */
int br_check_checksum(struct ctx *c, const struct entry *e,
		      uint32_t sequence, uint32_t i, uint32_t crc)
{
	uint64_t bs_sectors = c->block_size / BOW_SECTOR_SIZE;

	/*
	 * Android's dm-bow logs each move of the live block 0 as a one-block
	 * entry with checksum 0 (the block changes after the copy), and its
	 * readers skip the check for checksum 0: so does this one, for
	 * one-block entries.  What such an entry copies lands on a block
	 * that was free at the checkpoint (the old live copy); a damaged
	 * checksum that reads 0 goes unnoticed, 1 in 2^32 of them.
	 */
	if (crc == e->checksum || (!e->checksum && e->blocks == 1))
		return 0;
	br_say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
	       ": checksum of sectors %" PRIu64 "+%" PRIu64 " (backup of "
	       "sector %" PRIu64 ") is 0x%08" PRIx32 ", log says 0x%08"
	       PRIx32 "\n", c->path, sequence, i, e->dest * bs_sectors,
	       e->blocks * bs_sectors, e->source * bs_sectors, crc,
	       e->checksum);
	return BOW_BAD_CHECKSUM;
}
