// SPDX-License-Identifier: GPL-2.0
/*
 * bow-restore library, the replay, once the whole chain is valid: in the
 * order of the sources where that gives the same bytes, else newest
 * first; block 0 last, so that a rerun starts from the top; and the two
 * ways of not rolling back: finishing a commit, rolling forward.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Write @blk to block 0: every sector but the first, then the first,
 * which is what a rerun reads first.
 */
static int write_block0_last_sector_first(struct ctx *c,
					  const unsigned char *blk)
{
	int r = 0;

	if (c->block_size > BOW_SECTOR_SIZE) {
		r = br_write_at(c, blk + BOW_SECTOR_SIZE,
				c->block_size - BOW_SECTOR_SIZE,
				BOW_SECTOR_SIZE);
		if (!r)
			r = br_sync_dev(c);
	}
	if (!r)
		r = br_write_at(c, blk, BOW_SECTOR_SIZE, 0);
	if (!r)
		r = br_sync_dev(c);
	return r;
}

/*
 * Replay @block0, entry 0 of log block sequence 0: put the file system's
 * own block 0 back, so that a power cut at any point leaves block 0 a
 * valid log or the final block 0.  The device writes a sector
 * atomically, but entry 0 lies in the first sector only if header_size
 * is at most 488.  So: first the first sector is made a log block of its
 * own, the newest header counting its entry 0 alone, with header_size 28
 * and entry 0 right after it (the other entries are replayed and durable
 * by now, and no reader needs what an extended header holds to finish a
 * restore); then every sector but the first is written, then the first.
 * What is written is a copy, checked against the entry's checksum.
 */
static int rewrite_block0(struct ctx *c, const struct bow_chain_entry *block0)
{
	unsigned char sector[BOW_SECTOR_SIZE], compact[BOW_SECTOR_SIZE];
	const unsigned char *blk;
	struct bow_log_header h;
	int r;

	r = br_read_virtual(c, block0->dest, 1, &blk);
	if (r)
		return r;
	memcpy(c->block, blk, c->block_size);
	r = br_check_checksum(c, block0, bow_crc32(0, c->block, c->block_size));
	if (!r)
		r = br_read_at(c, sector, sizeof(sector), 0, NULL);
	if (r)
		return r;
	memcpy(&h, sector, sizeof(h));
	memset(compact, 0, sizeof(compact));
	memcpy(compact + BOW_HEADER_SIZE, c->newest_entry0,
	       sizeof(c->newest_entry0));
	h.count = htole32(1);
	h.header_size = htole16(BOW_HEADER_SIZE);
	memcpy(compact, &h, sizeof(h));
	if (memcmp(sector, compact, BOW_HEADER_SIZE +
		   sizeof(struct bow_log_entry))) {
		r = br_write_at(c, compact, sizeof(compact), 0);
		if (!r)
			r = br_sync_dev(c);
		if (r)
			return r;
	}
	return write_block0_last_sector_first(c, c->block);
}

/*
 * Finish a commit that was interrupted after the target marked it begun
 * (count 0): copy the file system's block 0 from sector0 into block 0.
 */
int br_finish_commit(struct ctx *c)
{
	const unsigned char *blk;
	int r = br_read_at(c, c->chunk, c->block_size,
			   c->newest_sector0 * BOW_SECTOR_SIZE, &blk);

	return r ? r : write_block0_last_sector_first(c, blk);
}

/*
 * Roll forward (opts->roll_forward), after validation said @valid: mark
 * block 0 as a commit begun, as the target does (so that any rerun
 * finishes it), then finish it.  The mark goes in a compact first sector
 * of its own, whatever header_size was.
 */
int br_roll_forward(struct ctx *c, int valid)
{
	unsigned char sector[BOW_SECTOR_SIZE] = { 0 };
	struct bow_log_header h = c->newest;
	int r;

	if (c->vold_partial) {
		br_say(c, "%s: cannot roll forward: Android's vold has begun "
		       "to restore this device (magic 0x%08x in block 0), so "
		       "it holds neither the new data nor the checkpoint; run "
		       "bow-restore without --roll-forward to finish the "
		       "restore\n", c->path, BOW_VOLD_PARTIAL_MAGIC);
		return BOW_INVALID;
	}
	fprintf(c->out, "%s: %s: the file system's block 0 is at sector %"
		PRIu64 "; %s it back and keeping what was written since the "
		"checkpoint (not rolled back)\n", c->path,
		c->committing ? "a commit was interrupted" :
		valid ? "rolling forward over a log that does not validate" :
		"rolling forward over a valid log", c->newest_sector0,
		c->opts->dry_run ? "would put" : "putting");
	if (c->opts->dry_run)
		return BOW_ROLLED_FORWARD;
	r = br_before_write(c, BOW_ROLLED_FORWARD);
	if (r)
		return r;
	h.header_size = htole16(BOW_HEADER_SIZE);
	h.count = 0;
	memcpy(sector, &h, sizeof(h));
	br_put_commit_mark(sector, BOW_HEADER_SIZE);
	r = c->committing ? 0 : br_write_at(c, sector, sizeof(sector), 0);
	if (!r && !c->committing)
		r = br_sync_dev(c);
	if (!r)
		r = br_finish_commit(c);
	return r ? r : BOW_ROLLED_FORWARD;
}

static int cmp_source(const void *a, const void *b)
{
	const struct bow_chain_entry *x = *(const struct bow_chain_entry *const *)a;
	const struct bow_chain_entry *y = *(const struct bow_chain_entry *const *)b;

	return x->source < y->source ? -1 : x->source > y->source;
}

static int cmp_dest(const void *a, const void *b)
{
	const struct bow_chain_entry *x = *(const struct bow_chain_entry *const *)a;
	const struct bow_chain_entry *y = *(const struct bow_chain_entry *const *)b;

	return x->dest < y->dest ? -1 : x->dest > y->dest;
}

/*
 * Whether the entries of @by_source (@n, every entry 0 left out) may be
 * replayed in any order: no two write the same block, and none writes a
 * block that any entry of @by_dest (all @m of them) reads.  Then each
 * reads what it would read in log order, and every block ends as it
 * would.  It holds unless the file system wrote over a backup (a move:
 * the new entry's source is the old entry's dest).  Sorts both arrays.
 */
static bool independent(const struct bow_chain_entry **by_source, uint64_t n,
			const struct bow_chain_entry **by_dest, uint64_t m)
{
	uint64_t i = 0, j = 0;

	qsort(by_source, n, sizeof(*by_source), cmp_source);
	qsort(by_dest, m, sizeof(*by_dest), cmp_dest);
	for (uint64_t k = 1; k < n; k++)
		if (by_source[k - 1]->source + by_source[k - 1]->blocks >
		    by_source[k]->source)
			return false;
	while (i < n && j < m) {
		const struct bow_chain_entry *s = by_source[i], *d = by_dest[j];

		if (s->source + s->blocks <= d->dest)
			i++;
		else if (d->dest + d->blocks <= s->source)
			j++;
		else
			return false;
	}
	return true;
}

/* Check the data of @e again, in the mapping (read in by br_map_in()). */
static int recheck_mapped(struct ctx *c, const struct bow_chain_entry *e)
{
	size_t bytes = e->blocks * c->block_size;

	return br_check_checksum(c, e,
				 bow_crc32((uint32_t)e->source,
					c->mapping + e->dest * c->block_size,
					bytes));
}

/*
 * Replay every entry but the entries 0 in the order of their sources,
 * where that gives the same result (independent()): the backups of blocks
 * that lay together are then written back together, one pwritev() for a
 * run of them, and the device is written in one pass from its start.
 * Block 0 keeps the newest header until the end, so a rerun starts from
 * the top whatever part was written.  The backups are read in through the
 * mapping RECHECK_BYTES at a time, and each run of them is checked again
 * just before it is written from there.  *@sorted says whether it did so;
 * if not (the device is not mapped, a backup is larger than the window,
 * the order matters, a read failed), the caller replays in log order,
 * which writes what was written here again, the same bytes.
 */
static int replay_sorted(struct ctx *c, bool *sorted)
{
	uint64_t n = c->nr_entries - c->nr_logs, m = c->nr_entries;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	const struct bow_chain_entry **by_source, **by_dest;
	uint64_t batch_start, batch_end;
	uint64_t k = 0;
	int r = 0;

	*sorted = false;
	by_source = c->mapping && n ? malloc(n * sizeof(*by_source)) : NULL;
	by_dest = by_source ? malloc(m * sizeof(*by_dest)) : NULL;
	if (!by_dest)
		goto out;
	n = 0;
	for (size_t l = 0; l < c->nr_logs; l++) {
		const struct log_block *lb = &c->logs[l];

		for (uint32_t i = 0; i < lb->count; i++) {
			const struct bow_chain_entry *e = &c->entries[lb->first + i];

			if (e->blocks > WINDOW_BYTES / c->block_size)
				goto out;
			by_dest[lb->first + i] = e;
			/* In replay order, entry 0 is a log block's last. */
			if (i + 1 < lb->count)
				by_source[n++] = e;
		}
	}
	if (!independent(by_source, n, by_dest, m))
		goto out;
	while (k < n) {
		uint64_t end = k, bytes = 0;

		while (end < n && bytes < RECHECK_BYTES)
			bytes += by_source[end++]->blocks * c->block_size;
		/*
		 * Read in, in the order of their backups: a window at a time.
		 * The data is not touched yet.
		 */
		memcpy(by_dest, by_source + k, (end - k) * sizeof(*by_dest));
		qsort(by_dest, end - k, sizeof(*by_dest), cmp_dest);
		batch_start = by_dest[0]->dest * c->block_size;
		batch_end = (by_dest[end - k - 1]->dest +
			     by_dest[end - k - 1]->blocks) * c->block_size;
		c->hold_pages = true;
		for (uint64_t b = 0; b < end - k; b++) {
			r = br_map_in(c, by_dest[b]->dest * c->block_size,
				      by_dest[b]->blocks * c->block_size);
			if (r)
				goto out;
		}
		/* A run checked just before it is written, still in cache. */
		while (k < end) {
			uint64_t start = by_source[k]->source;
			struct iovec iov[WRITE_IOVS];
			int cnt = 0;

			do {
				const struct bow_chain_entry *e = by_source[k++];

				r = recheck_mapped(c, e);
				if (r)
					goto out;
				iov[cnt].iov_base = (void *)(c->mapping +
						e->dest * c->block_size);
				iov[cnt++].iov_len = e->blocks * c->block_size;
			} while (k < end && cnt < WRITE_IOVS &&
				 by_source[k]->source ==
				 by_source[k - 1]->source +
				 by_source[k - 1]->blocks);
			r = br_write_vec_at(c, iov, cnt, start * c->block_size);
			if (r)
				goto out;
		}
		/* Done with this batch's backups: see br_release_pages(). */
		c->hold_pages = false;
		c->populated_off = batch_start / page * page;
		c->populated_len = batch_end - c->populated_off;
		br_release_pages(c);
	}
	*sorted = true;
out:
	c->hold_pages = false;
	/* A checksum or write error is final; a failed read is retried. */
	if (r < 0)
		r = 0;
	free(by_source);
	free(by_dest);
	return r;
}

/*
 * Write back @e, larger than a chunk, a chunk at a time, just checked
 * whole by br_verify_entry().  Each chunk is read again to be written: the
 * checksum of what was written is computed too, and if the backup
 * changed in between (failing media, or a writer despite --force), the
 * replay stops there with the device partly restored, as a failed read
 * would stop it.
 */
static int write_large_entry(struct ctx *c, const struct bow_chain_entry *e)
{
	uint64_t per_chunk = CHUNK_BYTES / c->block_size;
	uint32_t crc = (uint32_t)e->source;
	const unsigned char *data;
	int r;

	for (uint64_t b = 0; b < e->blocks; b += per_chunk) {
		uint64_t n = e->blocks - b < per_chunk ? e->blocks - b :
							 per_chunk;

		r = br_read_virtual(c, e->dest + b, n, &data);
		if (r)
			return r;
		crc = bow_crc32(crc, data, n * c->block_size);
		r = br_write_at(c, data, n * c->block_size,
				(e->source + b) * c->block_size);
		if (r)
			return r;
	}
	return br_check_checksum(c, e, crc);
}

/*
 * Copy every entry, in the order of their sources (replay_sorted()) or
 * else in the order validated, checking each checksum again before any
 * of the entry is written; then put the file system's block 0 back.
 *
 * The entries 0 of log blocks after the first only put the previous log
 * block into block 0, so that the chain can be walked on: the replay
 * walks it in memory, and block 0 is written once, last, from entry 0 of
 * sequence 0.  Until then it keeps the newest header, and a rerun starts
 * from the top again: replaying an entry twice writes the same bytes
 * (see Documentation, "Why replay is safe to repeat").  So a restore
 * flushes a fixed number of times however long the chain.
 */
int br_replay(struct ctx *c)
{
	uint64_t per_chunk = CHUNK_BYTES / c->block_size;
	const struct log_block *oldest = &c->logs[c->nr_logs - 1];
	const struct bow_chain_entry *block0 = &c->entries[oldest->first +
						 oldest->count - 1];
	const unsigned char *data;
	bool sorted;
	int r;

	/* From now on reads go to the real device as it is being written. */
	extmap_free(&c->map);
	extmap_free(&c->read);
	br_release_checked(c);
	r = replay_sorted(c, &sorted);
	if (r)
		return r;
	for (size_t l = 0; !sorted && l < c->nr_logs; l++) {
		const struct log_block *lb = &c->logs[l];

		/* In replay order, a log block's last entry is entry 0. */
		for (uint32_t k = 0; k + 1 < lb->count; k++) {
			const struct bow_chain_entry *e = &c->entries[lb->first + k];
			uint64_t bytes = e->blocks * c->block_size;

			r = br_verify_entry(c, e, &data);
			if (r)
				return r;
			/* One chunk or less: br_verify_entry() read it all. */
			if (e->blocks <= per_chunk) {
				r = br_write_at(c, data, bytes,
						e->source * c->block_size);
				if (r)
					return r;
				continue;
			}
			r = write_large_entry(c, e);
			if (r)
				return r;
		}
	}
	/*
	 * Block 0 says where a rerun starts: everything before it must be
	 * durable.
	 */
	r = br_sync_dev(c);
	if (!r)
		r = rewrite_block0(c, block0);
	return r ? r : br_sync_dev(c);
}
