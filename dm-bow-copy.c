// SPDX-License-Identifier: GPL-2.0
/*
 * dm-bow: the state 1 write path, run by the worker: backup copies.
 *
 * A slow write is planned at once: bow_backup() takes free space for
 * each piece of old data it would overwrite, marks the piece BOW_BACKING
 * and sends the read of a copy.  Each copy then goes on by itself: when
 * its read ends, the worker checksums the data and sends the write; when
 * that ends, and every copy planned before it is logged, it appends the
 * log entry.  Writes wait in plan order (bow_dev.waiting) until every
 * copy planned before them is logged, then for a commit of the log; a
 * piece becomes CHANGED once the log that points at its backup is
 * durable.  One commit is in flight at a time, and it takes every write
 * that is ready, so the more writers wait, the fewer log writes each
 * backup costs.
 *
 * The end of an I/O runs in interrupt context: it only records the
 * outcome and queues an event for the worker, which does the rest, under
 * a plug so that what it sends in one run reaches the device together.
 */

#include <linux/bitmap.h>
#include <linux/crc32.h>
#include <linux/list_sort.h>

#include "dm-bow.h"

/* Wake the worker: from the end of an I/O, or for an event of its own. */
void bow_kick(struct bow_dev *bd)
{
	queue_work(bd->wq, &bd->work);
	wake_up(&bd->ended_wait);
}

/* The last touch of @bd by the end of an async I/O (see bow_dev_free()). */
void bow_io_end(struct bow_dev *bd)
{
	if (atomic_dec_and_test(&bd->io_pending))
		wake_up_var(&bd->io_pending);
}

static void bow_copy_endio(unsigned long error, void *context)
{
	struct bow_copy *c = context;
	struct bow_dev *bd = c->bd;

	if (error)
		c->error = -EIO;
	llist_add(&c->ended_node, &bd->copies_ended);
	bow_kick(bd);
	bow_io_end(bd);
}

/* Send the read of @c, or its write once the read is done. */
static void bow_copy_submit(struct bow_dev *bd, struct bow_copy *c)
{
	blk_opf_t op = c->writing ? REQ_OP_WRITE | bow_dep_flags(bd) :
				    REQ_OP_READ;

	atomic_inc(&bd->io_pending);
	if (bow_io_notify(bd, op, c->writing ? c->dest : c->source, c->len,
			  c->buf, bow_copy_endio, c)) {
		atomic_dec(&bd->io_pending);
		c->error = -EIO;
		llist_add(&c->ended_node, &bd->copies_ended);
		bow_kick(bd);
	}
}

/* Give @units of the copy buffer from @slot back. */
static void bow_copy_buf_put(struct bow_dev *bd, unsigned int slot,
			     unsigned int units)
{
	bitmap_clear(bd->copy_map, slot, units);
}

/*
 * The I/O of @c is over and every copy planned before it is logged: log
 * it, or undo it if it failed (its free space back, its source to its old
 * type, its write failed).
 */
static void bow_copy_log(struct bow_dev *bd, struct bow_copy *c)
{
	struct bow_bio *pb = dm_per_bio_data(c->bio, sizeof(*pb));
	int r = c->error;

	if (!r)
		r = bow_log_append(bd, c->source, c->dest, c->len, c->crc);
	if (r) {
		bow_convert_range(bd, c->source, c->source + c->len,
				  BOW_TYPE(BOW_BACKING), c->type);
		bow_unalloc(bd, c->dest, c->len, BOW_BACKUP);
		bd->copy_failures++;
		if (!pb->error)
			pb->error = r;
	}
	list_del(&c->list);
	bow_copy_buf_put(bd, c - bd->copies, c->units);
}

static bool bow_has_ended(struct bow_dev *bd)
{
	return !llist_empty(&bd->copies_ended) ||
	       test_bit(BOW_ENDED_COMMIT, &bd->ended);
}

static int bow_copy_cmp_dest(void *priv, const struct list_head *a,
			     const struct list_head *b)
{
	sector_t da = list_entry(a, struct bow_copy, read_done)->dest;
	sector_t db = list_entry(b, struct bow_copy, read_done)->dest;

	return da < db ? -1 : da > db;
}

/* Handle every I/O that has ended, then start a commit if one is due. */
void bow_handle_ended(struct bow_dev *bd)
{
	struct llist_node *ended = llist_del_all(&bd->copies_ended);
	struct bow_copy *c, *next;
	LIST_HEAD(read_done);

	/* In the order the I/O ended. */
	llist_for_each_entry_safe(c, next, llist_reverse_order(ended), ended_node) {
		if (c->error || c->writing) {
			c->done = true;
			continue;
		}
		c->crc = crc32((u32)(c->source >> bd->block_shift), c->buf,
			       c->len << SECTOR_SHIFT);
		c->writing = true;
		list_add_tail(&c->read_done, &read_done);
	}
	/*
	 * Backups are taken from the top of free space down, so copies
	 * planned together have adjacent destinations: sent in order under
	 * the worker's plug, their writes merge into fewer requests.
	 */
	list_sort(NULL, &read_done, bow_copy_cmp_dest);
	list_for_each_entry_safe(c, next, &read_done, read_done)
		bow_copy_submit(bd, c);
	/*
	 * Logged in plan order, so that the log lists backups as they were
	 * allocated: next to each other, which bow-restore reads ahead.
	 */
	while ((c = list_first_entry_or_null(&bd->copying, struct bow_copy,
					     list)) && c->done)
		bow_copy_log(bd, c);
	if (test_and_clear_bit(BOW_ENDED_COMMIT, &bd->ended))
		bow_commit_step(bd);
	bow_commit_maybe(bd);
}

/* Wait for some I/O to end, and handle it. */
static void bow_wait_ended(struct bow_dev *bd)
{
	io_wait_event(bd->ended_wait, bow_has_ended(bd));
	bow_handle_ended(bd);
}

/* Wait until every copy planned so far is logged. */
void bow_drain_copies(struct bow_dev *bd)
{
	while (!list_empty(&bd->copying))
		bow_wait_ended(bd);
}

/*
 * Wait until every copy planned so far is logged and no commit is in
 * flight: the writes a commit protects are sent when it ends, those to
 * block 0 to the live block 0 of that moment.
 */
void bow_drain_commits(struct bow_dev *bd)
{
	while (!list_empty(&bd->copying) ||
	       bd->commit_stage != BOW_COMMIT_NONE)
		bow_wait_ended(bd);
}

/* Units of the copy buffer for @len sectors, BOW_COPY_SECTORS at most. */
static unsigned int bow_copy_units(sector_t len)
{
	return DIV_ROUND_UP((unsigned int)len << SECTOR_SHIFT, BOW_COPY_UNIT);
}

/*
 * A slot for a copy of up to @len sectors, with its part of the copy
 * buffer; waits for copies in flight to give some back if need be.
 */
static struct bow_copy *bow_copy_get(struct bow_dev *bd, sector_t len)
{
	unsigned int units = bow_copy_units(len);
	unsigned long slot;
	struct bow_copy *c;

	for (;;) {
		slot = bitmap_find_next_zero_area(bd->copy_map, BOW_COPY_UNITS,
						  0, units, 0);
		if (slot < BOW_COPY_UNITS)
			break;
		bow_wait_ended(bd);
	}
	bitmap_set(bd->copy_map, slot, units);
	c = &bd->copies[slot];
	*c = (struct bow_copy) {
		.bd = bd,
		.buf = bd->copy_buf + slot * BOW_COPY_UNIT,
		.units = units,
	};
	return c;
}

/*
 * Plan the backup of [start, end), all of type @type (unchanged data, or
 * a backup the file system now writes over), for @bio, and send the reads.
 */
int bow_backup(struct bow_dev *bd, struct bio *bio, sector_t start,
	       sector_t end, enum bow_range_type type)
{
	while (start < end) {
		sector_t len = min_t(sector_t, end - start, BOW_COPY_SECTORS);
		struct bow_copy *c = bow_copy_get(bd, len);
		unsigned int units;
		sector_t dest;
		int r;

		r = bow_alloc(bd, len, BOW_BACKUP, &dest, &len);
		if (r) {
			bow_copy_buf_put(bd, c - bd->copies, c->units);
			return r;
		}
		bow_convert_range(bd, start, start + len, BOW_TYPE(type),
				  BOW_BACKING);
		/* The free range found may be shorter than asked for. */
		units = bow_copy_units(len);
		bow_copy_buf_put(bd, c - bd->copies + units, c->units - units);
		c->units = units;
		c->bio = bio;
		c->source = start;
		c->dest = dest;
		c->len = len;
		c->type = type;
		c->seq = bd->copy_seq++;
		list_add_tail(&c->list, &bd->copying);
		bow_copy_submit(bd, c);
		start += len;
	}
	return 0;
}

/*
 * The free-space map: the free ranges at the checkpoint, written once
 * into free space as a chain of blocks that the log header's extension
 * points at, so that a target resuming the checkpoint after a reboot
 * knows which blocks held nothing of it (see bow_resume_log()).
 */
