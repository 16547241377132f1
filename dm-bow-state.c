// SPDX-License-Identifier: GPL-2.0
/*
 * dm-bow: state changes: checkpoint, commit, rollback, the free-space map's
 * write and move, the move of block 0, and the sysfs attributes that
 * drive them.
 */

#include <linux/crc32.h>
#include <linux/random.h>
#include <linux/sched/mm.h>
#include <linux/sysfs.h>
#include <linux/vmalloc.h>

#include "dm-bow.h"

void bow_freemap_free(struct bow_dev *bd)
{
	kvfree(bd->freemap);
	kvfree(bd->freemap_chain);
	kvfree(bd->freemap_old);
	bd->freemap = NULL;
	bd->freemap_chain = NULL;
	bd->freemap_old = NULL;
	bd->freemap_ranges = 0;
	bd->freemap_blocks = 0;
	bd->freemap_old_blocks = 0;
	bd->freemap_old_committing = false;
}

/* Record the free ranges now, at the checkpoint, before any is taken. */
static int bow_freemap_take(struct bow_dev *bd)
{
	struct bow_freemap_range *map;
	struct rb_node *n;
	u32 nr, i = 0;

	/*
	 * A transition: bios are held and the worker is idle, so nothing
	 * but this state change touches the map, and it is walked without
	 * the lock (a long walk must not hold a spinlock), once: it holds
	 * all I/O.
	 */
	nr = min_t(u64, bd->map.free_ranges, U32_MAX);
	bow_assert_noio();
	map = kvmalloc_array(max(nr, 1u), sizeof(*map), GFP_KERNEL);
	if (!map)
		return -ENOMEM;
	for (n = rb_first(&bd->map.free); n && i < nr; n = rb_next(n), i++) {
		struct bow_range *r = rb_entry(n, struct bow_range, free_node);

		map[i].sector = cpu_to_le64(r->sector);
		map[i].sectors = cpu_to_le64(bow_range_end(r) - r->sector);
		cond_resched();
	}
	bd->freemap = map;
	bd->freemap_ranges = i;
	return 0;
}

/* Give the chain's blocks the type @to: freed, or left behind. */
static void bow_freemap_chain_convert(struct bow_dev *bd, sector_t *chain,
				      u32 blocks, enum bow_range_type to)
{
	u32 i;

	for (i = 0; i < blocks; i++)
		bow_convert_range(bd, chain[i], chain[i] + bd->block_sectors,
				  BOW_TYPE(BOW_FREEMAP), to);
}

/* Block @i of the map, made in @buf; the next is at @next (0: none). */
static void bow_freemap_block(struct bow_dev *bd, void *buf, u32 i,
			      sector_t next)
{
	u32 cap = bow_freemap_capacity(bd->block_size);
	u32 first = i * cap, count = min(cap, bd->freemap_ranges - first);
	struct bow_freemap_header *h = buf;

	memset(buf, 0, bd->block_size);
	h->magic = cpu_to_le32(BOW_FREEMAP_MAGIC);
	h->checkpoint_id = cpu_to_le64(bd->checkpoint_id);
	h->index = cpu_to_le32(i);
	h->count = cpu_to_le32(count);
	h->next = cpu_to_le64(next);
	memcpy(h + 1, bd->freemap + first, count * sizeof(*bd->freemap));
	h->checksum = cpu_to_le32(crc32(BOW_FREEMAP_MAGIC, buf,
					bd->block_size));
}

/* How many of @max blocks from @chain on lie one after the other. */
static u32 bow_chain_run(const sector_t *chain, u32 max, unsigned int shift)
{
	u32 n = 1;

	while (n < max && chain[n] == chain[0] + ((sector_t)n << shift))
		n++;
	return n;
}

/*
 * Write the map into new blocks of free space, through the copy buffer
 * (free: no copy is in flight).  Not durable yet: the log commit that
 * makes the header point at it flushes it first.  On success the chain
 * is bd->freemap_chain (the caller lets the old one go); on failure
 * nothing changed.  The chain takes free space in as few extents as it
 * has, each extent one write, and a buffer's writes are in flight
 * together: a map of 10^6 free ranges is some 4,000 blocks, maybe as
 * many extents, and a checkpoint holds all I/O while it writes them.
 */
static int bow_freemap_write(struct bow_dev *bd)
{
	u32 cap = bow_freemap_capacity(bd->block_size);
	u32 blocks = DIV_ROUND_UP(bd->freemap_ranges, cap);
	u64 per_buf = bow_copy_buf_blocks(bd);
	unsigned int shift = bd->block_shift;
	unsigned int noio;
	sector_t *chain, dest, len;
	u32 i, j, k, n;
	int r = 0;

	/* From the worker too: no I/O to reclaim this memory. */
	noio = memalloc_noio_save();
	chain = kvmalloc_array(max(blocks, 1u), sizeof(*chain), GFP_KERNEL);
	memalloc_noio_restore(noio);
	if (!chain)
		return -ENOMEM;
	for (i = 0; i < blocks; i += len >> shift) {
		r = bow_alloc(bd, (sector_t)(blocks - i) << shift, BOW_FREEMAP,
			      &dest, &len);
		if (r) {
			blocks = i;
			break;
		}
		for (k = 0; k < len >> shift; k++)
			chain[i + k] = dest + ((sector_t)k << shift);
	}
	/* A buffer's blocks at a time, in flight together. */
	for (i = 0; i < blocks && !r; i += k) {
		struct bow_batch batch;
		u32 in_buf = min_t(u64, blocks - i, per_buf);

		bow_batch_init(&batch);
		for (k = 0; k < in_buf && !r; k += n) {
			void *buf = bd->copy_buf +
				    ((size_t)k << (shift + SECTOR_SHIFT));

			n = bow_chain_run(chain + i + k, in_buf - k, shift);
			for (j = 0; j < n; j++)
				bow_freemap_block(bd, buf + ((size_t)j <<
						  (shift + SECTOR_SHIFT)),
						  i + k + j,
						  i + k + j + 1 < blocks ?
						  chain[i + k + j + 1] : 0);
			r = bow_batch_io(bd, &batch, REQ_OP_WRITE,
					 chain[i + k], (sector_t)n << shift,
					 buf);
			cond_resched();
		}
		r = bow_batch_wait(&batch) ?: r;
	}
	if (r) {
		bow_freemap_chain_convert(bd, chain, blocks, BOW_FREE);
		kvfree(chain);
		return r;
	}
	bd->freemap_chain = chain;
	bd->freemap_blocks = blocks;
	return 0;
}

/*
 * The file system is about to write over a block of the map's chain (to
 * it, free space): write the map elsewhere and point the header there;
 * the write waits for the commit that makes that durable.  Without space
 * for it the header says there is no map: a resume after a reboot then
 * frees nothing, but this write goes on.  The old chain's blocks stay
 * BACKING: the log on disk points at them until that commit, after which
 * bow_freemap_old_release() frees those no write is waiting to write.
 * No commit may be in flight meanwhile: it could end having written a
 * header that still points at the old chain.
 */
int bow_move_freemap(struct bow_dev *bd)
{
	sector_t *old = bd->freemap_chain, *stale;
	u32 old_blocks = bd->freemap_blocks;
	unsigned int noio;
	int r;

	bow_drain_commits(bd);
	r = bow_freemap_write(bd);
	if (r) {
		DMWARN("%pg: no space to move the free-space map (%d): dropped",
		       bd->bdev, r);
		bd->freemap_chain = NULL;
		bd->freemap_blocks = 0;
	}
	bow_freemap_chain_convert(bd, old, old_blocks, BOW_BACKING);
	/* Kept with the chains of moves not yet committed, if there are. */
	noio = memalloc_noio_save();
	stale = kvmalloc_array(bd->freemap_old_blocks + old_blocks,
			       sizeof(*stale), GFP_KERNEL);
	memalloc_noio_restore(noio);
	if (stale) {
		memcpy(stale, bd->freemap_old,
		       bd->freemap_old_blocks * sizeof(*stale));
		memcpy(stale + bd->freemap_old_blocks, old,
		       old_blocks * sizeof(*stale));
		kvfree(bd->freemap_old);
		bd->freemap_old = stale;
		bd->freemap_old_blocks += old_blocks;
	}
	/* Else they stay BACKING: free space lost until the commit. */
	kvfree(old);
	bow_log_set_ext(bd);
	bd->log_dirty = true;
	return 0;
}

/* True if a write of @bios writes to the block at @sector. */
static bool bow_bios_write(struct bow_dev *bd, struct bio_list *bios,
			   sector_t sector)
{
	sector_t start, end;
	struct bio *bio;

	bio_list_for_each(bio, bios) {
		bow_bio_blocks(bd, bio, &start, &end);
		if (start <= sector && sector < end)
			return true;
	}
	return false;
}

/*
 * A commit whose header no longer points at the chains of moved maps is
 * durable: their blocks are free again, those that a write waiting for a
 * commit is to write excepted (its end makes them CHANGED, see
 * bow_write_finish()): a backup there would be written over.
 */
void bow_freemap_old_release(struct bow_dev *bd)
{
	u32 i;

	for (i = 0; i < bd->freemap_old_blocks; i++) {
		sector_t b = bd->freemap_old[i];

		if (!bow_bios_write(bd, &bd->waiting, b) &&
		    !bow_bios_write(bd, &bd->committing, b))
			bow_convert_range(bd, b, b + bd->block_sectors,
					  BOW_TYPE(BOW_BACKING), BOW_FREE);
	}
	kvfree(bd->freemap_old);
	bd->freemap_old = NULL;
	bd->freemap_old_blocks = 0;
	bd->freemap_old_committing = false;
}

/*
 * The file system is about to write over the block where its block 0
 * lives (to the file system that block is free space): move it.
 *
 * Reads of block 0 are held back for the worker meanwhile, and every
 * read or write sent to the old place ends before the copy: the write
 * that moves it must overtake neither.  Only the worker sends writes to
 * block 0, and it is busy here.
 *
 * A commit in flight writes a header that names the old place, and
 * sends the block-0 writes it protects when it ends: they must go to
 * the old place, before the copy, since the header naming the new one
 * is durable only with a later commit.  So no commit may be in flight.
 * The copy below uses the copy buffer too: no copy may be either.
 */
int bow_move_block0(struct bow_dev *bd)
{
	struct bow_prealloc pa = {};
	sector_t old = bd->block0_live, new, len;
	int r;

	bow_drain_commits(bd);
	r = bow_alloc(bd, bd->block_sectors, BOW_BLOCK0_LIVE, &new, &len);
	if (r)
		return r;
	/* For the conversion of the old place, which must not wait. */
	bow_prealloc_fill(&pa, true);
	spin_lock(&bd->lock);
	bd->block0_moving = true;
	spin_unlock(&bd->lock);
	wait_event(bd->inflight_wait, !atomic_read(&bd->block0_io));
	r = bow_copy_sync(bd, old, new, len, NULL, 0);
	spin_lock(&bd->lock);
	if (!r) {
		bd->block0_live = new;
		WARN_ON_ONCE(bow_convert(&bd->map, old, old + len,
					 BOW_TYPE(BOW_BLOCK0_LIVE),
					 BOW_BACKING, &pa));
	}
	bd->block0_moving = false;
	spin_unlock(&bd->lock);
	bow_prealloc_free(&pa);
	if (r) {
		bow_unalloc(bd, new, len, BOW_BLOCK0_LIVE);
		return r;
	}
	bow_log_header(bd)->sector0 = cpu_to_le64(new);
	bd->log_dirty = true;
	return 0;
}

/* Plan what protects the checkpoint's data in [start, end) from @bio. */

/* ---------------------------------------------------------------------
 * State changes.
 */

/*
 * State 0 -> 1.  Block 0 is copied twice: once as the backup that entry 0
 * of the first log block points at, once as the live block 0 that the
 * file system now reads and writes.  Then the log goes into block 0.
 */
static int bow_checkpoint(struct bow_dev *bd)
{
	unsigned int units = bd->block_size / bd->log_unit;
	sector_t backup, backup_len, live, live_len;
	u32 crc;
	int r;

	/* What is free now is what holds nothing of the checkpoint. */
	bd->checkpoint_id = get_random_u64();
	r = bow_freemap_take(bd);
	if (r)
		return r;
	r = bow_alloc(bd, bd->block_sectors, BOW_BACKUP, &backup, &backup_len);
	if (r)
		goto free_map;
	r = bow_alloc(bd, bd->block_sectors, BOW_BLOCK0_LIVE, &live,
		      &live_len);
	if (r)
		goto free_backup;
	/* Without room for the map, a checkpoint still: resumed, it frees nothing. */
	r = bow_freemap_write(bd);
	if (r)
		DMWARN("%pg: no free-space map (%d): a resumed checkpoint frees nothing",
		       bd->bdev, r);
	r = bow_copy_sync(bd, 0, backup, bd->block_sectors, &crc, 0);
	if (!r)
		r = bow_io(bd, REQ_OP_WRITE, live, bd->block_sectors,
			   bd->copy_buf);
	if (r)
		goto free_live;

	/*
	 * The log goes into block 0 in two writes.  First its header unit,
	 * which makes block 0 a log whose entry 0 restores the file system's
	 * block 0: a power cut during it leaves the old block 0 or a log.
	 * Then the rest of the block, zeroed, which the log does not count:
	 * nothing that probes the raw device finds the file system of the
	 * checkpoint there (ext4 keeps its superblock in block 0) and mounts
	 * it without its blocks from the checkpoint.
	 */
	bd->block0_live = live;
	bd->disk_sequence = 0;
	bd->disk_count = 0;
	bow_log_start(bd, 0, backup, crc);
	r = bow_log_commit(bd);
	if (r)
		goto put_block0;
	if (units > 1) {
		r = bow_write_units(bd, 1, units - 1, bd->log, bow_durable(),
				    NULL);
		if (r)
			goto put_block0;
	}
	spin_lock(&bd->lock);
	bd->log_blocks = 1;
	bd->log_entries = 1;
	bd->backup_sectors = bd->block_sectors;
	bd->block0_written = false;
	spin_unlock(&bd->lock);
	return 0;

put_block0:
	/* copy_buf still holds the file system's block 0. */
	if (bow_write_block0(bd, bd->copy_buf))
		DMERR("cannot restore block 0 after a failed log write");
	spin_lock(&bd->lock);
	__bow_set_mode(bd, BOW_MODE_RW);	/* no checkpoint to fail */
	spin_unlock(&bd->lock);
free_live:
	bow_freemap_chain_convert(bd, bd->freemap_chain, bd->freemap_blocks,
				  BOW_FREE);
	bow_unalloc(bd, live, live_len, BOW_BLOCK0_LIVE);
free_backup:
	bow_unalloc(bd, backup, backup_len, BOW_BACKUP);
free_map:
	bow_freemap_free(bd);
	return r;
}

/* The log is gone from block 0: forget the checkpoint, for state 2. */
static void bow_drop_checkpoint(struct bow_dev *bd)
{
	spin_lock(&bd->lock);
	/* A failed log write no longer matters: there is no log. */
	__bow_set_mode(bd, BOW_MODE_RW);
	/*
	 * State 2 needs no map.  A big one takes long to free (2 nodes a
	 * free range): bow_free_dropped() does it once bios flow again.
	 */
	bd->map_dropped = bd->map.ranges;
	bd->map.ranges = RB_ROOT;
	bd->map.free = RB_ROOT;
	bd->map.free_sectors = 0;
	bd->map.free_ranges = 0;
	bd->backup_sectors = 0;
	bd->moved_sectors = 0;
	bd->log_entries = 0;
	bd->log_blocks = 0;
	bd->log_commits = 0;
	bd->enospc_writes = 0;
	spin_unlock(&bd->lock);
	bow_freemap_free(bd);
}

/* After a state change: free the map it dropped, with bios flowing. */
static void bow_free_dropped(struct bow_dev *bd)
{
	lockdep_assert_held(&bd->state_mutex);
	bow_map_destroy(&bd->map_dropped);
}

/*
 * State 1 -> 2: put the file system's block 0 back over the log.
 *
 * First the header unit is rewritten with count 0 and the commit mark
 * (dm-bow-format.h) over entry 0, which marks the commit as begun: from
 * that instant bow-restore completes the commit instead of rolling back,
 * and the entries may be overwritten.  Then the file system's block 0 is
 * written, its header unit last, so that a power cut leaves either the
 * marked log or the committed block 0.
 */
static int bow_commit(struct bow_dev *bd)
{
	struct bow_log_header *h = bow_log_header(bd);
	struct bow_commit_mark *mark = (void *)bow_log_entry(bd, 0);
	struct bow_commit_mark entry0_start = *mark;
	__le32 count = h->count;
	int r;

	r = bow_io(bd, REQ_OP_READ, bd->block0_live, bd->block_sectors,
		   bd->copy_buf);
	if (r)
		return r;
	h->count = 0;
	mark->magic = cpu_to_le32(BOW_COMMIT_MAGIC);
	mark->checksum = cpu_to_le32(crc32(BOW_COMMIT_MAGIC, bd->log,
					   bd->header_size +
					   sizeof(mark->magic)));
	r = bow_write_units(bd, 0, 1, bd->log,
			    bow_preflush() | bow_durable(), NULL);
	if (r) {
		h->count = count;
		*mark = entry0_start;
		return r;
	}
	r = bow_write_block0(bd, bd->copy_buf);
	if (r) {
		DMERR("commit interrupted (%d): run bow-restore to finish it",
		      r);
		spin_lock(&bd->lock);
		__bow_set_mode(bd, BOW_MODE_FAIL_WRITES);
		spin_unlock(&bd->lock);
		return r;
	}

	bow_drop_checkpoint(bd);
	return 0;
}

/*
 * A state change runs with new bios held, the worker's finished and none
 * in flight; the caller holds state_mutex.  Until bow_transition_end(),
 * which takes what this returns, no allocation may reclaim by I/O: it
 * could wait for writeback through this device (a mounted file system
 * not frozen, a swap file on it), whose bios are held.
 */
unsigned int bow_transition_begin(struct bow_dev *bd)
{
	unsigned int noio = memalloc_noio_save();

	spin_lock(&bd->lock);
	bd->transition = true;
	spin_unlock(&bd->lock);
	/* map() sees it or, for a rollback, counts as an opener. */
	smp_mb();
	flush_workqueue(bd->wq);
	wait_event(bd->inflight_wait, !atomic_read(&bd->pipeline_bios));
	wait_event(bd->inflight_wait, !atomic_read(&bd->inflight));
	/* bow-checkpoint reads fail from now on; these ended before. */
	wait_event(bd->inflight_wait, !atomic_read(&bd->view_reads[0]) &&
		   !atomic_read(&bd->view_reads[1]));
	return noio;
}

/*
 * Enter @new_state unless the change failed (@r), and let bios go; @noio
 * is what bow_transition_begin() returned.
 */
void bow_transition_end(struct bow_dev *bd, int r,
			enum bow_state new_state, unsigned int noio)
{
	struct bio_list held;

	spin_lock(&bd->lock);
	if (!r && new_state != bd->state) {
		WRITE_ONCE(bd->state, new_state);
		__bow_low_water_check(bd);
		DMINFO("%pg: state %u", bd->bdev, new_state);
	}
	bd->transition = false;
	held = bd->held;
	bio_list_init(&bd->held);
	bio_list_merge(&bd->deferred, &held);
	spin_unlock(&bd->lock);
	queue_work(bd->wq, &bd->work);
	memalloc_noio_restore(noio);
}

int bow_set_state(struct bow_dev *bd, unsigned int new_state)
{
	unsigned int noio;
	int r = -EINVAL;

	mutex_lock(&bd->state_mutex);
	if (bd->suspended) {
		DMERR("%pg: cannot go to state %u: the device is suspended",
		      bd->bdev, new_state);
		r = -EBUSY;
	/* After a rollback that did not end, only another rollback. */
	} else if (new_state == bd->state + 1 &&
		   new_state <= BOW_STATE_COMMITTED &&
		   bd->mode != BOW_MODE_FAIL_ALL) {
		/* The commit rewrites what the backup check may read. */
		if (new_state == BOW_STATE_COMMITTED)
			bow_scrub_stop(bd);
		noio = bow_transition_begin(bd);
		r = new_state == BOW_STATE_CHECKPOINT ? bow_checkpoint(bd) :
							bow_commit(bd);
		bow_transition_end(bd, r, new_state, noio);
		bow_free_dropped(bd);
		bow_scrub_settle(bd);
	}
	mutex_unlock(&bd->state_mutex);
	return r;
}

void bow_event_work(struct work_struct *work)
{
	struct bow_dev *bd = container_of(work, struct bow_dev, event_work);
	struct dm_target *ti;

	/* A table's destructor waits for this work before it goes. */
	spin_lock(&bd->lock);
	ti = bd->live_ti;
	spin_unlock(&bd->lock);
	if (ti)
		dm_table_event(ti->table);
}

/*
 * The one place bd->mode changes.  Any change raises a dm event (dmsetup
 * wait, udev), so that protection never lapses, nor comes back, unseen;
 * the caller, which knows why, logs it when this returns true: once.
 */
bool __bow_set_mode(struct bow_dev *bd, enum bow_mode mode)
{
	lockdep_assert_held(&bd->lock);
	if (bd->mode == mode)
		return false;
	bd->mode = mode;
	queue_work(system_wq, &bd->event_work);
	return true;
}

/* ---------------------------------------------------------------------
 * sysfs: /sys/block/dm-N/bow/{state,free}
 */

struct bow_attr {
	struct attribute attr;
	ssize_t (*show)(struct bow_dev *bd, char *buf);
	ssize_t (*store)(struct bow_dev *bd, const char *buf, size_t len);
};

static ssize_t state_show(struct bow_dev *bd, char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(bd->state));
}

static ssize_t state_store(struct bow_dev *bd, const char *buf, size_t len)
{
	unsigned int state;
	int r;

	r = kstrtouint(buf, 10, &state);
	if (!r)
		r = bow_set_state(bd, state);
	return r ? r : len;
}

static ssize_t free_show(struct bow_dev *bd, char *buf)
{
	u64 free;

	spin_lock(&bd->lock);
	free = (u64)bd->map.free_sectors << SECTOR_SHIFT;
	spin_unlock(&bd->lock);
	return sysfs_emit(buf, "%llu\n", free);
}

static struct bow_attr bow_attr_state = __ATTR_RW(state);
static struct bow_attr bow_attr_free = __ATTR_RO(free);

static struct attribute *bow_attrs[] = {
	&bow_attr_state.attr,
	&bow_attr_free.attr,
	NULL,
};
ATTRIBUTE_GROUPS(bow);

static ssize_t bow_attr_show(struct kobject *kobj, struct attribute *attr,
			     char *buf)
{
	struct bow_attr *a = container_of(attr, struct bow_attr, attr);

	return a->show(container_of(kobj, struct bow_dev, kobj), buf);
}

static ssize_t bow_attr_store(struct kobject *kobj, struct attribute *attr,
			      const char *buf, size_t len)
{
	struct bow_attr *a = container_of(attr, struct bow_attr, attr);

	if (!a->store)
		return -EIO;
	return a->store(container_of(kobj, struct bow_dev, kobj), buf, len);
}

static const struct sysfs_ops bow_sysfs_ops = {
	.show = bow_attr_show,
	.store = bow_attr_store,
};

static void bow_kobj_release(struct kobject *kobj)
{
	struct bow_dev *bd = container_of(kobj, struct bow_dev, kobj);

	complete(&bd->kobj_released);
}

struct kobj_type bow_ktype = {
	.sysfs_ops = &bow_sysfs_ops,
	.default_groups = bow_groups,
	.release = bow_kobj_release,
};

/* ---------------------------------------------------------------------
 * Rollback in the kernel: bow-restore's replay, on the live device.
 *
 * The log is read back from the device and checked as a resume checks it
 * (bow_resume_validate(): the rules bow-restore checks by).  Then block 0
 * is marked as a restore begun, with the magic Android's vold marks its
 * own with (BOW_VOLD_PARTIAL_MAGIC): from then on no target resumes the
 * device, which is neither the checkpoint nor what was written since,
 * and bow-restore or another rollback finishes it.  Then every entry is
 * replayed, newest first, each checked against its checksum before it is
 * written, and block 0 is put back last, as bow-restore puts it back:
 * until that write, block 0 holds a marked log whose replay gives the
 * same bytes, so a power cut at any point leaves a device that
 * bow-restore, or another rollback, finishes.
 */

/* A write of the rollback; debug_rollback_stop ends it before the Nth. */
static int bow_rollback_write(struct bow_dev *bd, unsigned int *writes,
			      blk_opf_t flags, sector_t sector, sector_t count,
			      void *buf)
{
	unsigned int stop = READ_ONCE(bow_debug_rollback_stop);

	if (++*writes == stop) {
		DMERR("%pg: rollback stopped before write %u (debug_rollback_stop)",
		      bd->bdev, *writes);
		return -EIO;
	}
	return bow_io(bd, REQ_OP_WRITE | flags, sector, count, buf);
}

/* Copy @e's backup over its source, once it checks against its checksum. */
static int bow_rollback_entry(struct bow_resume *rs,
			      const struct bow_chain_entry *e,
			      unsigned int *writes)
{
	struct bow_dev *bd = rs->bd;
	unsigned int shift = bd->block_shift;
	u64 per_buf = rs->chain.buf_blocks;
	const void *data;
	u64 b, n;
	int r;

	/*
	 * Reads the whole backup: the copy buffer (the walk's buffer, where
	 * the kernel's reads land) keeps it if it fits.
	 */
	r = bow_chain_verify(&rs->chain, e, &data);
	for (b = 0; !r && b < e->blocks; b += n) {
		n = min(e->blocks - b, per_buf);
		if (e->blocks > per_buf)
			r = bow_chain_read(&rs->chain, e->dest + b, n, &data);
		if (!r)
			r = bow_rollback_write(bd, writes, 0,
					       (e->source + b) << shift,
					       n << shift, bd->copy_buf);
		cond_resched();
	}
	return r;
}

/*
 * Put the file system's block 0 (in the copy buffer) back.  A block of
 * several atomic units is not written at once, and a torn one must still
 * be a log: so first unit 0 alone becomes a log block of its own, the
 * newest header counting only its entry 0, with no extension (the other
 * entries are replayed and durable by then, and a replay needs nothing an
 * extended header holds), still marked as a restore begun; then every
 * unit but the first is written, then the first.  bow-restore writes the
 * same sectors in the same order.
 */
static int bow_rollback_block0(struct bow_dev *bd, unsigned int *writes)
{
	unsigned int units = bd->block_size / bd->log_unit;
	unsigned int unit_sectors = bd->log_unit >> SECTOR_SHIFT;
	struct bow_log_header *compact = bd->commit_buf;
	int r;

	if (units == 1)
		return bow_rollback_write(bd, writes,
					  bow_preflush() | bow_durable(), 0,
					  bd->block_sectors, bd->copy_buf);
	memset(compact, 0, bd->log_unit);
	memcpy(compact, bow_log_header(bd), BOW_HEADER_SIZE);
	compact->magic = cpu_to_le32(BOW_VOLD_PARTIAL_MAGIC);
	compact->count = cpu_to_le32(1);
	compact->header_size = cpu_to_le16(BOW_HEADER_SIZE);
	memcpy((void *)compact + BOW_HEADER_SIZE, bow_log_entry(bd, 0),
	       sizeof(struct bow_log_entry));
	r = bow_rollback_write(bd, writes, bow_preflush() | bow_durable(), 0,
			       unit_sectors, compact);
	if (!r)
		r = bow_rollback_write(bd, writes, bow_durable(), unit_sectors,
				       bd->block_sectors - unit_sectors,
				       bd->copy_buf + bd->log_unit);
	if (!r)
		r = bow_rollback_write(bd, writes, bow_durable(), 0,
				       unit_sectors, bd->copy_buf);
	return r;
}

/*
 * State 1 -> 2 the other way: roll the device back to the checkpoint.
 * Runs as a transition, with no bio in flight.  A log that does not
 * validate leaves the checkpoint as it was; a rollback that fails once
 * it has written fails every bio after it, until a rollback ends.
 */
static int bow_rollback(struct bow_dev *bd)
{
	const struct bow_chain_entry *block0;
	const void *data;
	unsigned int writes = 0;
	struct bow_resume rs;
	u64 i;
	int r;

	/* From here on the replay reads the device as it is written. */
	r = bow_log_walk(&rs, bd, "cannot roll back", BOW_WALK_RESTORING);
	if (r == -E2BIG)	/* the memory limit: ENOMEM to the caller */
		r = -ENOMEM;
	if (r)
		goto out;
	spin_lock(&bd->lock);
	__bow_set_mode(bd, BOW_MODE_FAIL_ALL);
	spin_unlock(&bd->lock);
	/* bd->log is block 0 as the walk read it: mark it, durably. */
	bow_log_header(bd)->magic = cpu_to_le32(BOW_VOLD_PARTIAL_MAGIC);
	r = bow_rollback_write(bd, &writes, bow_durable(), 0,
			       bd->log_unit >> SECTOR_SHIFT, bd->log);
	/*
	 * Entry 0 of each log block backs up the block 0 before it: the
	 * chain, walked in memory.  The last, of log block 0, is the file
	 * system's block 0, written last.
	 */
	for (i = 0; !r && i + 1 < rs.nr_entries; i++)
		if (rs.entries[i].source)
			r = bow_rollback_entry(&rs, &rs.entries[i], &writes);
	block0 = &rs.entries[rs.nr_entries - 1];
	if (!r)
		r = bow_chain_verify(&rs.chain, block0, &data);
	if (!r)
		r = bow_rollback_block0(bd, &writes);
	if (r) {
		DMERR("%pg: rollback interrupted (%d): all I/O fails; roll back again",
		      bd->bdev, r);
		goto out;
	}
	DMINFO("%pg: rolled back: %llu entries replayed, %u writes",
	       bd->bdev, rs.nr_entries, writes);
	bow_drop_checkpoint(bd);
out:
	bow_log_walk_end(&rs);
	return r;
}

/*
 * The message rollback: only while nothing has the mapped device open.
 * Whoever opens it once the transition began finds its bios held, reads
 * too (map() looks at bd->transition first), until the rollback ends.
 */
int bow_rollback_request(struct bow_dev *bd)
{
	unsigned int openers, noio;
	int r = -EINVAL;

	mutex_lock(&bd->state_mutex);
	if (bd->suspended) {
		DMERR("%pg: cannot roll back: the device is suspended",
		      bd->bdev);
		r = -EBUSY;
		goto out;
	}
	if (bd->state != BOW_STATE_CHECKPOINT) {
		DMERR("%pg: cannot roll back in state %u: no checkpoint",
		      bd->bdev, bd->state);
		goto out;
	}
	/* The rollback reads every backup itself, and rewrites them. */
	bow_scrub_stop(bd);
	noio = bow_transition_begin(bd);
	openers = disk_openers(dm_disk(bd->md));
	if (openers) {
		DMERR("%pg: cannot roll back: the device is open (%u openers): unmount it first",
		      bd->bdev, openers);
		r = -EBUSY;
	} else {
		r = bow_rollback(bd);
	}
	bow_transition_end(bd, r, BOW_STATE_COMMITTED, noio);
	bow_free_dropped(bd);
	bow_scrub_settle(bd);
out:
	mutex_unlock(&bd->state_mutex);
	return r;
}
