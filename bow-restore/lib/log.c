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

/* A count no log block can have: 0, or more entries than fit. */
static int bad_count(struct ctx *c, const char *where,
		     const struct bow_header_facts *h)
{
	br_say(c, "%s: %s: count %" PRIu32 " at offset 12, expected 1 to %"
	       PRIu32 "\n", c->path, where, h->count,
	       bow_log_capacity(c->block_size, h->header_size));
	return BOW_INVALID;
}

/*
 * A log block's header that the walk (dm-bow-rules.c, the kernel's too)
 * read from @blk: block 0's, if @first, is what a restore goes on from.
 */
void br_header_checked(struct ctx *c, const unsigned char *blk,
		       const struct bow_header_facts *h, bool first)
{
	if (h->vold_partial)
		c->vold_partial = true;
	if (first) {
		memcpy(&c->newest, blk, sizeof(c->newest));
		c->newest_sector0 = h->sector0;
	}
}

/*
 * The header of the log block @blk breaks rule v->rule.  A commit begun
 * (count 0 with the commit mark in block 0) is no error: 0.
 */
int br_header_broken(struct ctx *c, const unsigned char *blk,
		     const struct bow_chain_verdict *v)
{
	const struct bow_header_facts *h = v->h;
	char where[64];

	if (h->vold_partial)
		c->vold_partial = true;
	snprintf(where, sizeof(where), "log block sequence %" PRIu32,
		 h->sequence);
	switch (v->rule) {
	case BOW_RULE_MAGIC:
		if (v->first) {
			/* Not an error: the common case at boot. */
			fprintf(c->out, "%s: no checkpoint found: block 0 "
				"holds no dm-bow log (magic 0x%08" PRIx32
				", expected 0x%08x)\n", c->path, h->magic,
				BOW_MAGIC);
			return BOW_NO_LOG;
		}
		br_say(c, "%s: log block sequence %" PRIu32 " (restored into "
		       "block 0) has magic 0x%08" PRIx32 ", expected 0x%08x\n",
		       c->path, v->expect, h->magic, BOW_MAGIC);
		return BOW_INVALID;
	case BOW_RULE_VERSION:
		br_say(c, "%s: %s: header_version 0x%04x at offset 4, expected "
		       "0x%04x\n", c->path, where, h->header_version,
		       BOW_HEADER_VERSION);
		return BOW_INVALID;
	case BOW_RULE_BLOCK_SIZE:
		br_say(c, "%s: %s: block_size %" PRIu32 " at offset 8, "
		       "expected %" PRIu32 "\n", c->path, where,
		       h->block_size, c->block_size);
		return BOW_INVALID;
	case BOW_RULE_HEADER_SIZE:
		br_say(c, "%s: %s: header_size %" PRIu32 " at offset 6, "
		       "expected %d to %" PRIu32 "\n", c->path, where,
		       h->header_size, BOW_HEADER_SIZE, c->block_size);
		return BOW_INVALID;
	case BOW_RULE_SECTOR0_ALIGN:
		br_say(c, "%s: %s: sector0 %" PRIu64 " at offset 20 is not "
		       "block aligned\n", c->path, where, (uint64_t)h->sector0);
		return BOW_INVALID;
	case BOW_RULE_SECTOR0_ZERO:
		br_say(c, "%s: %s: sector0 0 at offset 20: the live block 0 is "
		       "never block 0 itself\n", c->path, where);
		return BOW_INVALID;
	case BOW_RULE_SECTOR0_END:
		br_say(c, "%s: %s: sector0 %" PRIu64 " at offset 20 is past "
		       "the end of the device (%" PRIu64 " sectors): truncated "
		       "device or corrupt log\n", c->path, where,
		       (uint64_t)h->sector0, c->size / BOW_SECTOR_SIZE);
		return BOW_TRUNCATED;
	default:
		break;
	}
	br_header_checked(c, blk, h, v->first);
	switch (v->rule) {
	case BOW_RULE_COUNT_ZERO:
		/* vold's restore begun: its count 0 is no commit. */
		if (!c->vold_partial) {
			int r = check_commit_mark(c, blk, h->header_size);

			if (!r)
				c->committing = true;
			return r;
		}
		return bad_count(c, where, h);
	case BOW_RULE_COUNT:
		return bad_count(c, where, h);
	case BOW_RULE_SEQUENCE:
		br_say(c, "%s: %s at offset 16, expected sequence %" PRIu32
		       " (the chain must count down by one)\n", c->path, where,
		       v->expect);
		return BOW_INVALID;
	default:
		br_say(c, "%s: %s: rule %d broken\n", c->path, where, v->rule);
		return BOW_INVALID;
	}
}

/* An entry of a log block breaks rule v->rule (one of the entry rules). */
int br_entry_broken(struct ctx *c, const struct bow_chain_verdict *v)
{
	const struct bow_entry_facts *f = v->f;
	const struct bow_chain_entry *e = v->e;
	uint32_t sequence = e->sequence, i = e->index;
	uint64_t off = v->h->header_size +
		       (uint64_t)i * sizeof(struct bow_log_entry);

	switch (v->rule) {
	case BOW_RULE_ENTRY_BLOCKS:
		br_say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
		       " (offset %" PRIu64 "): source %" PRIu64 ", dest %"
		       PRIu64 ", size %" PRIu32 " are not whole %" PRIu32
		       "-byte blocks\n", c->path, sequence, i, off,
		       (uint64_t)f->source_sector, (uint64_t)f->dest_sector,
		       f->size, c->block_size);
		return BOW_INVALID;
	case BOW_RULE_ENTRY_BLOCK0:
		br_say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
		       " (offset %" PRIu64 "): source %" PRIu64 ", dest %"
		       PRIu64 ", size %" PRIu32 ": block 0 is the source of "
		       "entry 0, "
		       "one block, and of no other entry, and never a dest\n",
		       c->path, sequence, i, off, (uint64_t)f->source_sector,
		       (uint64_t)f->dest_sector, f->size);
		return BOW_INVALID;
	case BOW_RULE_ENTRY_END:
		br_say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
		       ": sectors %" PRIu64 "+%" PRIu32 " -> %" PRIu64 "+%"
		       PRIu32 " reach past the end of the device (%" PRIu64
		       " sectors): truncated device or corrupt log\n", c->path,
		       sequence, i, (uint64_t)f->dest_sector,
		       f->size / BOW_SECTOR_SIZE, (uint64_t)f->source_sector,
		       f->size / BOW_SECTOR_SIZE, c->size / BOW_SECTOR_SIZE);
		return BOW_TRUNCATED;
	case BOW_RULE_ENTRY_OVERLAP:
		br_say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
		       ": source %" PRIu64 " and dest %" PRIu64 " overlap\n",
		       c->path, sequence, i, (uint64_t)f->source_sector,
		       (uint64_t)f->dest_sector);
		return BOW_INVALID;
	case BOW_RULE_BUDGET:
		br_say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
		       ": the chain backs up more than the device holds\n",
		       c->path, sequence, i);
		return BOW_INVALID;
	default:
		br_say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
		       ": rule %d broken\n", c->path, sequence, i, v->rule);
		return BOW_INVALID;
	}
}

/* @crc is that of @e's data: is it the one the log says? */
int br_check_checksum(struct ctx *c, const struct bow_chain_entry *e,
		      uint32_t crc)
{
	uint64_t bs_sectors = c->block_size / BOW_SECTOR_SIZE;

	/*
	 * Android's one-block entries with checksum 0 are not checked
	 * (bow_checksum_unchecked()).  What such an entry copies lands on a
	 * block that was free at the checkpoint (the old live copy); a
	 * damaged checksum that reads 0 goes unnoticed, 1 in 2^32 of them.
	 */
	if (bow_checksum_matches(crc, e->checksum, e->blocks))
		return 0;
	br_say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
	       ": checksum of sectors %" PRIu64 "+%" PRIu64 " (backup of "
	       "sector %" PRIu64 ") is 0x%08" PRIx32 ", log says 0x%08"
	       PRIx32 "\n", c->path, e->sequence, e->index,
	       e->dest * bs_sectors,
	       e->blocks * bs_sectors, e->source * bs_sectors, crc,
	       e->checksum);
	return BOW_BAD_CHECKSUM;
}
