// SPDX-License-Identifier: GPL-2.0
/*
 * dm-bow: synchronous I/O to the lower device, the log in block 0, and the
 * stages of a log commit.
 */

#include <linux/crc32.h>

#include "dm-bow.h"

/* ---------------------------------------------------------------------
 * Synchronous I/O to the lower device, from the worker or a transition.
 */

/*
 * I/O of @count sectors at @sector from or to @buf (vmalloc'ed): waits for
 * it if @fn is NULL, else returns at once and @fn(error, @context) is
 * called when it is done.  Kbuild says whether this tree's dm_io() takes
 * an I/O priority (BOW_DM_IO_IOPRIO).
 */
int bow_io_notify(struct bow_dev *bd, blk_opf_t opf, sector_t sector,
		  sector_t count, void *buf, io_notify_fn fn,
		  void *context)
{
	struct dm_io_region region = {
		.bdev = bd->bdev,
		.sector = sector,
		.count = count,
	};
	struct dm_io_request req = {
		.bi_opf = opf,
		.mem.type = DM_IO_VMA,
		.mem.ptr.vma = buf,
		.notify.fn = fn,
		.notify.context = context,
		.client = bd->io_client,
	};

	/* The next commit's header must flush it: see bow_commit_prepare(). */
	if (op_is_write(opf) && !(opf & REQ_FUA))
		bd->flush_owed = true;
#ifdef BOW_DM_IO_IOPRIO
	return dm_io(&req, 1, &region, NULL, IOPRIO_DEFAULT);
#else
	return dm_io(&req, 1, &region, NULL);
#endif
}

int bow_io(struct bow_dev *bd, blk_opf_t opf, sector_t sector,
	   sector_t count, void *buf)
{
	return bow_io_notify(bd, opf, sector, count, buf, NULL, NULL);
}

static void bow_batch_end(unsigned long error, void *context)
{
	struct bow_batch *b = context;

	if (error)
		WRITE_ONCE(b->error, -EIO);
	if (atomic_dec_and_test(&b->pending))
		complete(&b->done);
}

void bow_batch_init(struct bow_batch *b)
{
	atomic_set(&b->pending, 1);
	b->error = 0;
	init_completion(&b->done);
}

/*
 * Send bow_io()'s I/O without waiting for it: bow_batch_wait() waits for
 * all of a batch.  @buf must stay until then.
 */
int bow_batch_io(struct bow_dev *bd, struct bow_batch *b, blk_opf_t opf,
		 sector_t sector, sector_t count, void *buf)
{
	int r;

	atomic_inc(&b->pending);
	r = bow_io_notify(bd, opf, sector, count, buf, bow_batch_end, b);
	if (r)
		atomic_dec(&b->pending);
	return r;
}

/* Wait for a batch's I/O: 0, or -EIO if any failed. */
int bow_batch_wait(struct bow_batch *b)
{
	if (!atomic_dec_and_test(&b->pending))
		wait_for_completion_io(&b->done);
	return READ_ONCE(b->error);
}

/* Copy @count sectors from @from to @to through the copy buffer. */
int bow_copy_sync(struct bow_dev *bd, sector_t from, sector_t to,
		  sector_t count, u32 *crc, u32 seed)
{
	int r;

	r = bow_io(bd, REQ_OP_READ, from, count, bd->copy_buf);
	if (r)
		return r;
	if (crc)
		*crc = crc32(seed, bd->copy_buf, count << SECTOR_SHIFT);
	return bow_io(bd, REQ_OP_WRITE, to, count, bd->copy_buf);
}

/* ---------------------------------------------------------------------
 * The log in block 0.
 */

struct bow_log_header *bow_log_header(struct bow_dev *bd)
{
	return bd->log;
}

struct bow_log_entry *bow_log_entry(struct bow_dev *bd, u32 i)
{
	return bd->log + bd->header_size + i * sizeof(struct bow_log_entry);
}

static void bow_log_set_entry(struct bow_dev *bd, u32 i, sector_t source,
			      sector_t dest, u32 size, u32 checksum)
{
	struct bow_log_entry *e = bow_log_entry(bd, i);

	e->source = cpu_to_le64(source);
	e->dest = cpu_to_le64(dest);
	e->size = cpu_to_le32(size);
	e->checksum = cpu_to_le32(checksum);
}

/* The header extension of the log block in memory: where the map is. */
void bow_log_set_ext(struct bow_dev *bd)
{
	struct bow_log_ext *x = bd->log + BOW_HEADER_SIZE;

	if (bd->header_size != BOW_HEADER_SIZE_EXT)
		return;
	x->magic = cpu_to_le32(BOW_EXT_MAGIC);
	x->version = cpu_to_le32(BOW_EXT_VERSION);
	x->checkpoint_id = cpu_to_le64(bd->checkpoint_id);
	x->freemap = cpu_to_le64(bd->freemap_blocks ? bd->freemap_chain[0] : 0);
	x->freemap_blocks = cpu_to_le32(bd->freemap_blocks);
	x->reserved = 0;
}

/* Start log block @sequence whose entry 0 says @dest holds old block 0. */
void bow_log_start(struct bow_dev *bd, u32 sequence, sector_t dest,
		   u32 checksum)
{
	struct bow_log_header *h = bow_log_header(bd);

	memset(bd->log, 0, bd->block_size);
	h->magic = cpu_to_le32(BOW_MAGIC);
	h->header_version = cpu_to_le16(BOW_HEADER_VERSION);
	h->header_size = cpu_to_le16(bd->header_size);
	bow_log_set_ext(bd);
	h->block_size = cpu_to_le32(bd->block_size);
	h->count = cpu_to_le32(1);
	h->sequence = cpu_to_le32(sequence);
	h->sector0 = cpu_to_le64(bd->block0_live);
	bow_log_set_entry(bd, 0, 0, dest, bd->block_size, checksum);
	bd->log_dirty = true;
}

blk_opf_t bow_durable(void)
{
	return READ_ONCE(bow_debug_skip_flush) ? 0 : REQ_FUA;
}

blk_opf_t bow_preflush(void)
{
	return READ_ONCE(bow_debug_skip_flush) ? 0 : REQ_PREFLUSH;
}

/*
 * The flags of a write that the log's next header depends on: a backup
 * (the copy an entry points at) or the units of new entries.  Where the
 * device has FUA the write is durable when it ends, and the header needs
 * no flush before it; elsewhere it goes to the device's cache, and the
 * header's PREFLUSH makes it durable.
 */
blk_opf_t bow_dep_flags(struct bow_dev *bd)
{
	return bd->fua ? bow_durable() : 0;
}

/*
 * Write units [first, first + count) of block 0 from @buf; asynchronously
 * if @fn is given (see bow_io_notify()).
 */
int bow_write_units(struct bow_dev *bd, unsigned int first,
		    unsigned int count, void *buf, blk_opf_t flags,
		    io_notify_fn fn)
{
	sector_t unit_sectors = bd->log_unit >> SECTOR_SHIFT;

	return bow_io_notify(bd, REQ_OP_WRITE | flags, first * unit_sectors,
			     count * unit_sectors, buf + first * bd->log_unit,
			     fn, bd);
}

/*
 * Write @buf over block 0, its header unit last: until that write ends,
 * block 0 stays the log it was (the log counts nothing outside the header
 * unit once it is being put back, see bow_commit()).
 */
int bow_write_block0(struct bow_dev *bd, void *buf)
{
	unsigned int units = bd->block_size / bd->log_unit;
	int r = 0;

	if (units > 1)
		r = bow_write_units(bd, 1, units - 1, buf, bow_durable(), NULL);
	if (!r)
		r = bow_write_units(bd, 0, 1, buf, bow_durable(), NULL);
	return r;
}

static void bow_log_failed(struct bow_dev *bd, int r)
{
	bool first;

	spin_lock(&bd->lock);
	first = __bow_set_mode(bd, BOW_MODE_FAIL_WRITES);
	spin_unlock(&bd->lock);
	if (first)
		DMERR("log write failed (%d): further writes fail", r);
}

/*
 * Make the log durable, so that a power cut at any instant leaves a valid
 * log in block 0.  The device writes bd->log_unit bytes atomically (its
 * logical block size), so the log is written unit by unit, and only the
 * units that changed: first the units holding new entries, which no
 * header counts yet, then the unit holding the header, the only one that
 * says how many entries count.  The header write carries FUA, which makes
 * it durable before the writes it protects are sent.  The new entries and
 * every backup they point at must be durable before it: where the device
 * has FUA, they were written with it (bow_dep_flags()), and the header
 * needs no flush unless some other write it depends on was sent without
 * FUA (flush_owed: moves of block 0 and of the free-space map); elsewhere
 * the header also carries a PREFLUSH.  So a
 * commit costs no flush on a device with FUA, and two (the PREFLUSH, and
 * the flush the block layer puts after the header for FUA) on one
 * without, however many entries.
 *
 * A new log block (after a roll-over) first gets a header counting only
 * the entries in the header unit: until then block 0 still holds the
 * previous log block, whose entries must not be overwritten while its
 * header counts them.
 *
 * A commit writes a copy of the log taken when it starts (commit_buf), so
 * that entries appended meanwhile change nothing it writes.  Each stage's
 * write is sent once the one before it has ended: by bow_log_commit(),
 * which waits, or by the worker as the writes end (bow_commit_step()).
 */
static void bow_commit_prepare(struct bow_dev *bd)
{
	/* Its header no longer points at the chains of moved maps. */
	bd->freemap_old_committing = bd->freemap_old_blocks;
	memcpy(bd->commit_buf, bd->log, bd->block_size);
	bd->commit_count = le32_to_cpu(bow_log_header(bd)->count);
	bd->log_dirty = false;
	/*
	 * Every write an entry of this commit depends on was sent before
	 * now, and flush_owed set for any without FUA: those sent from now
	 * on are for later entries, which a later commit counts.
	 */
	bd->commit_preflush = !bd->fua || bd->flush_owed;
	bd->flush_owed = false;
}

/* The units [*first, *last] of new entries; false if there are none. */
static bool bow_commit_entry_units(struct bow_dev *bd, unsigned int *first,
				   unsigned int *last)
{
	*first = max(1u, (unsigned int)(bd->header_size + bd->disk_count *
					sizeof(struct bow_log_entry)) /
		     bd->log_unit);
	*last = (bd->header_size + bd->commit_count *
		 sizeof(struct bow_log_entry) - 1) / bd->log_unit;
	return bd->commit_count > bd->disk_count && *first <= *last;
}

/* The stage after @stage has been written: BOW_COMMIT_NONE when done. */
static enum bow_commit_stage bow_commit_next(struct bow_dev *bd,
					     enum bow_commit_stage stage)
{
	struct bow_log_header *h = bd->commit_buf;
	unsigned int first, last;

	switch (stage) {
	case BOW_COMMIT_NONE:
		if (le32_to_cpu(h->sequence) != bd->disk_sequence)
			return BOW_COMMIT_FIRST;
		fallthrough;
	case BOW_COMMIT_FIRST:
		if (bow_commit_entry_units(bd, &first, &last))
			return BOW_COMMIT_ENTRIES;
		fallthrough;
	case BOW_COMMIT_ENTRIES:
		return BOW_COMMIT_HEADER;
	case BOW_COMMIT_HEADER:
		break;
	}
	return BOW_COMMIT_NONE;
}

/* Send the write of @stage; see bow_io_notify() for @fn. */
static int bow_commit_write(struct bow_dev *bd, enum bow_commit_stage stage,
			    io_notify_fn fn)
{
	struct bow_log_header *h = bd->commit_buf;
	blk_opf_t durable = bow_durable();
	unsigned int first, last;

	if (bd->commit_preflush)
		durable |= bow_preflush();
	switch (stage) {
	case BOW_COMMIT_FIRST:
		/* Entry 0 points at the full block's backup: a dependency. */
		h->count = cpu_to_le32(min(bd->commit_count,
					   bow_log_capacity(bd->log_unit,
							    bd->header_size)));
		return bow_write_units(bd, 0, 1, bd->commit_buf, durable, fn);
	case BOW_COMMIT_ENTRIES:
		bow_commit_entry_units(bd, &first, &last);
		return bow_write_units(bd, first, last - first + 1,
				       bd->commit_buf, bow_dep_flags(bd), fn);
	case BOW_COMMIT_HEADER:
		h->count = cpu_to_le32(bd->commit_count);
		return bow_write_units(bd, 0, 1, bd->commit_buf, durable, fn);
	case BOW_COMMIT_NONE:
		break;
	}
	return -EINVAL;
}

/* The write of @stage ended well: what block 0 holds now. */
static void bow_commit_written(struct bow_dev *bd, enum bow_commit_stage stage)
{
	struct bow_log_header *h = bd->commit_buf;

	if (stage == BOW_COMMIT_FIRST) {
		bd->disk_sequence = le32_to_cpu(h->sequence);
		bd->disk_count = le32_to_cpu(h->count);
	} else if (stage == BOW_COMMIT_HEADER) {
		bd->disk_count = bd->commit_count;
		spin_lock(&bd->lock);
		bd->log_commits++;
		spin_unlock(&bd->lock);
		if (bd->freemap_old_committing)
			bow_freemap_old_release(bd);
	}
}

/* Commit the log and wait; no commit may be in flight. */
int bow_log_commit(struct bow_dev *bd)
{
	enum bow_commit_stage stage = BOW_COMMIT_NONE;
	int r;

	bow_commit_prepare(bd);
	while ((stage = bow_commit_next(bd, stage)) != BOW_COMMIT_NONE) {
		r = bow_commit_write(bd, stage, NULL);
		if (r) {
			bow_log_failed(bd, r);
			return r;
		}
		bow_commit_written(bd, stage);
	}
	return 0;
}

/*
 * Append an entry in memory.  A full log block is first backed up to
 * free space, and the next log block starts with an entry 0 for it.
 */

int bow_log_append(struct bow_dev *bd, sector_t source, sector_t dest,
		   sector_t count, u32 checksum)
{
	struct bow_log_header *h = bow_log_header(bd);
	u32 n = le32_to_cpu(h->count);

	if (n == bow_log_capacity(bd->block_size, bd->header_size)) {
		sector_t log_copy, len;
		int r;

		r = bow_alloc(bd, bd->block_sectors, BOW_BACKUP, &log_copy,
			      &len);
		if (r)
			return r;
		r = bow_io(bd, REQ_OP_WRITE | bow_dep_flags(bd), log_copy,
			   bd->block_sectors, bd->log);
		if (r) {
			bow_unalloc(bd, log_copy, len, BOW_BACKUP);
			return r;
		}
		bow_log_start(bd, le32_to_cpu(h->sequence) + 1, log_copy,
			      crc32(0, bd->log, bd->block_size));
		spin_lock(&bd->lock);
		bd->log_blocks++;
		bd->log_entries++;
		bd->backup_sectors += bd->block_sectors;
		spin_unlock(&bd->lock);
		n = 1;
	}
	bow_log_set_entry(bd, n, source, dest, count << SECTOR_SHIFT, checksum);
	h->count = cpu_to_le32(n + 1);
	bd->log_dirty = true;
	bow_view_add(bd, source, dest, count);
	spin_lock(&bd->lock);
	bd->log_entries++;
	bd->backup_sectors += count;
	spin_unlock(&bd->lock);
	return 0;
}

static void bow_commit_endio(unsigned long error, void *context)
{
	struct bow_dev *bd = context;

	if (error)
		bd->commit_error = -EIO;
	/* The worker's test_and_clear_bit() pairs with this. */
	smp_mb__before_atomic();
	set_bit(BOW_ENDED_COMMIT, &bd->ended);
	bow_kick(bd);
	bow_io_end(bd);
}

/* Send the write of the commit's current stage. */
static int bow_commit_submit(struct bow_dev *bd)
{
	int r;

	bd->commit_error = 0;
	atomic_inc(&bd->io_pending);
	r = bow_commit_write(bd, bd->commit_stage, bow_commit_endio);
	if (r)
		atomic_dec(&bd->io_pending);
	return r;
}

/*
 * Go on to @stage of the commit and send its write; once the commit is
 * over (BOW_COMMIT_NONE) or a write of it failed (@r), send or fail the
 * writes it protects.
 */
static void bow_commit_advance(struct bow_dev *bd,
			       enum bow_commit_stage stage, int r)
{
	if (!r && stage != BOW_COMMIT_NONE) {
		bd->commit_stage = stage;
		r = bow_commit_submit(bd);
		if (!r)
			return;
	}
	bd->commit_stage = BOW_COMMIT_NONE;
	if (r)
		bow_log_failed(bd, r);
	bow_release(bd, &bd->committing, r);
}

/* The commit's current write ended: send the next, or finish. */
void bow_commit_step(struct bow_dev *bd)
{
	int r = bd->commit_error;

	if (!r)
		bow_commit_written(bd, bd->commit_stage);
	bow_commit_advance(bd, r ? BOW_COMMIT_NONE :
			   bow_commit_next(bd, bd->commit_stage), r);
}

/* The plan number of the oldest copy not yet logged. */
static u64 bow_oldest_copy(struct bow_dev *bd)
{
	if (list_empty(&bd->copying))
		return bd->copy_seq;
	return list_first_entry(&bd->copying, struct bow_copy, list)->seq;
}

/*
 * A waiting write is ready for a commit once every copy planned before it
 * is logged: its own, and those of a write before it that made its
 * blocks BOW_BACKING.
 */
static bool bow_bio_ready(struct bio *bio, u64 oldest_copy)
{
	struct bow_bio *pb = dm_per_bio_data(bio, sizeof(*pb));

	return pb->horizon <= oldest_copy;
}

/*
 * Start a commit if none is in flight and writes are ready for it: once
 * no copy is in flight, or once BOW_COMMIT_GROUP are ready.  If the log
 * has nothing new, they are sent at once: no commit is in flight, so
 * every entry logged so far is durable.
 */
void bow_commit_maybe(struct bow_dev *bd)
{
	u64 oldest = bow_oldest_copy(bd);
	unsigned int ready = 0;
	struct bio *bio;
	int r;

	if (bd->commit_stage != BOW_COMMIT_NONE)
		return;
	bio_list_for_each(bio, &bd->waiting) {
		if (!bow_bio_ready(bio, oldest) || ++ready == BOW_COMMIT_GROUP)
			break;
	}
	if (!ready || (ready < BOW_COMMIT_GROUP && !list_empty(&bd->copying)))
		return;
	while ((bio = bio_list_peek(&bd->waiting)) && bow_bio_ready(bio, oldest))
		bio_list_add(&bd->committing, bio_list_pop(&bd->waiting));

	/* After a failed log write the log on disk is not ours to extend. */
	spin_lock(&bd->lock);
	r = bd->mode != BOW_MODE_RW ? -EIO : 0;
	spin_unlock(&bd->lock);
	if (r || !bd->log_dirty) {
		bow_release(bd, &bd->committing, r);
		return;
	}
	bow_commit_prepare(bd);
	bow_commit_advance(bd, bow_commit_next(bd, BOW_COMMIT_NONE), 0);
}
