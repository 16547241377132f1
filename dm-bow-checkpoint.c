// SPDX-License-Identifier: GPL-2.0
/*
 * dm-bow: bow-checkpoint, the checkpoint as a read-only device.
 *
 * Its table names the lower device of a dm-bow device in state 1, and it
 * reads that device as it was at the checkpoint: a block the log backed
 * up from its backup (following the entries that moved the backup since),
 * block 0 from the backup entry 0 of log block 0 points at, a block free
 * at the checkpoint (by the free-space map) as zeroes, any other block
 * from its place.  It holds the dm-bow device open, so that the device is
 * neither removed nor rolled back under it.
 *
 * Exact while dm-bow works on: a write that overwrites data of the
 * checkpoint (its first overwrite, or a write over a backup) is sent only
 * once its entry is in the index and the checkpoint reads that looked the
 * index up before have ended (bow_view_sync()).  From the start of a
 * commit or a rollback its reads fail with -EIO.
 */

#include <linux/slab.h>

#include "dm-bow.h"

/*
 * A new entry: a bow-checkpoint device reads @source's data at @dest from
 * now on.  Entries 0 back up earlier log blocks, not data of the
 * checkpoint.  Runs in the worker, outside the lock.
 */
void bow_view_add(struct bow_dev *bd, sector_t source, sector_t dest,
		  sector_t count)
{
	struct bow_vext *e;
	u64 start = source >> bd->block_shift;
	u64 len = count >> bd->block_shift;
	u64 nodes = 0;	/* not counted: the walk's charge covers the build */

	if (!source || !READ_ONCE(bd->view_users))
		return;
	e = kmalloc(sizeof(*e), GFP_NOIO | __GFP_NOWARN);
	spin_lock(&bd->lock);
	if (!bd->view_users) {
		/* The last one went meanwhile. */
	} else if (!e || bow_vext_overlaps(&bd->view_index, start, len)) {
		/* No source is backed up twice: a broken index, never used. */
		if (!bd->view_broken)
			DMERR_LIMIT("%pg: bow-checkpoint: cannot index sector %llu: reads fail",
				    bd->bdev, (u64)source);
		bd->view_broken = true;
	} else {
		e->start = start;
		e->len = len;
		e->phys = dest >> bd->block_shift;
		bow_vext_insert(&bd->view_index, e, &nodes);
		e = NULL;
	}
	spin_unlock(&bd->lock);
	kfree(e);
}

/*
 * Writes are about to overwrite data of the checkpoint that the index
 * sends no new read to: wait for the bow-checkpoint reads that may still
 * be reading it, those that looked the index up before now.
 */
void bow_view_sync(struct bow_dev *bd)
{
	unsigned int old;

	if (!READ_ONCE(bd->view_users))
		return;
	spin_lock(&bd->lock);
	old = bd->view_epoch;
	bd->view_epoch = !old;
	spin_unlock(&bd->lock);
	wait_event(bd->inflight_wait, !atomic_read(&bd->view_reads[old]));
}

/*
 * The index, from the log on the device (every entry of the chain): with
 * no bio in flight and the log committed, it is the log in memory.  The
 * backups are read and checked too unless the backup check verified
 * them (or they were written since the checkpoint, this boot).
 */
static int bow_view_build(struct bow_dev *bd)
{
	struct bow_resume rs = {};
	u64 i, nodes = 0;	/* the index's, charged by the walk */
	bool checked;
	int r;

	spin_lock(&bd->lock);
	checked = bd->scrub_state == BOW_SCRUB_NONE ||
		  bd->scrub_state == BOW_SCRUB_VERIFIED;
	spin_unlock(&bd->lock);
	r = bd->log_dirty ? bow_log_commit(bd) : 0;
	if (!r)
		r = bow_log_walk(&rs, bd, "cannot map the checkpoint",
				 checked ? BOW_WALK_NO_DATA : 0);
	for (i = 0; !r && i < rs.nr_entries; i++)
		if (rs.entries[i].source)
			r = bow_vext_assign(&bd->view_index,
					    rs.entries[i].source,
					    rs.entries[i].blocks,
					    rs.entries[i].dest, &nodes);
	/* Newest first: the last is entry 0 of log block 0, block 0's. */
	if (!r)
		r = bow_vext_assign(&bd->view_index, 0, 1,
				    rs.entries[rs.nr_entries - 1].dest, &nodes);
	if (r)
		bow_vext_destroy(&bd->view_index);
	bow_log_walk_end(&rs);
	return r;
}

/* One bow-checkpoint table. */
struct bow_view {
	struct dm_dev *lower;		/* the dm-bow device's lower device */
	struct bow_dev *bd;
	/* The dm-bow device, held open: see bow_view_hold(). */
#if defined(BOW_BDEV_FILE)
	struct file *bow;
#elif defined(BOW_BDEV_HANDLE)
	struct bdev_handle *bow;
#else
	struct block_device *bow;
#endif
};

/*
 * Hold the dm-bow device open: device-mapper removes no device that is
 * open, and a rollback refuses one.  Not exclusively, nor through
 * dm_get_device(): the file system mounted on it holds it exclusively.
 */
static int bow_view_hold(struct bow_view *ck, dev_t dev)
{
#if defined(BOW_BDEV_FILE)
	ck->bow = bdev_file_open_by_dev(dev, BLK_OPEN_READ, NULL, NULL);
#elif defined(BOW_BDEV_HANDLE)
	ck->bow = bdev_open_by_dev(dev, BLK_OPEN_READ, NULL, NULL);
#elif defined(BOW_BDEV_BLK_OPEN)
	ck->bow = blkdev_get_by_dev(dev, BLK_OPEN_READ, NULL, NULL);
#else
	ck->bow = blkdev_get_by_dev(dev, FMODE_READ, NULL);
#endif
	return PTR_ERR_OR_ZERO(ck->bow);
}

static void bow_view_release(struct bow_view *ck)
{
#if defined(BOW_BDEV_FILE)
	fput(ck->bow);
#elif defined(BOW_BDEV_HANDLE)
	bdev_release(ck->bow);
#elif defined(BOW_BDEV_BLK_OPEN)
	blkdev_put(ck->bow, NULL);
#else
	blkdev_put(ck->bow, FMODE_READ);
#endif
}

/* Per bio: the epoch of bow_dev.view_reads it is counted in, or -1. */
struct bow_view_bio {
	int epoch;
};

static struct bow_dev *bow_dev_of_lower(dev_t lower)
{
	struct bow_dev *bd;

	list_for_each_entry(bd, &bow_devs, list)
		if (bd->lower_dev == lower)
			return bd;
	return NULL;
}

static int bow_view_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct bow_view *ck;
	struct bow_dev *bd;
	dev_t bow;
	int r;

	if (argc != 1) {
		ti->error = "One device expected";
		return -EINVAL;
	}
	if (dm_table_get_mode(ti->table) & FMODE_WRITE) {
		ti->error = "Read-only table expected (dmsetup --readonly)";
		return -EINVAL;
	}
	ck = kzalloc(sizeof(*ck), GFP_KERNEL);
	if (!ck) {
		ti->error = "Cannot allocate target";
		return -ENOMEM;
	}
	r = dm_get_device(ti, argv[0], FMODE_READ, &ck->lower);
	if (r) {
		ti->error = "Device lookup failed";
		goto bad_free;
	}
	mutex_lock(&bow_devs_lock);
	bd = bow_dev_of_lower(ck->lower->bdev->bd_dev);
	if (bd && bd->md) {
		bd->refs++;
		/* Alive while a dm-bow table is: we hold bow_devs_lock. */
		bow = disk_devt(dm_disk(bd->md));
	} else {
		bd = NULL;
	}
	mutex_unlock(&bow_devs_lock);
	if (!bd) {
		ti->error = "No bow device on it";
		r = -ENODEV;
		goto bad_lower;
	}
	ck->bd = bd;
	if (ti->len != bd->nr_sectors) {
		ti->error = "Length is not the bow device's";
		r = -EINVAL;
		goto bad_bd;
	}
	bow_debug_delay(&bow_debug_view_ctr_delay);
	r = bow_view_hold(ck, bow);
	if (r) {
		ti->error = "Cannot hold the bow device";
		goto bad_bd;
	}
	/*
	 * Held open, the mapped device stays; but it may have gone before,
	 * and another taken its number: then bd has no table any more.
	 */
	mutex_lock(&bow_devs_lock);
	if (!bd->md || disk_devt(dm_disk(bd->md)) != bow)
		r = -ENODEV;
	mutex_unlock(&bow_devs_lock);
	if (r) {
		ti->error = "No bow device on it";
		goto bad_bow;
	}

	/* Let a backup check under way end: then the index needs no data. */
	flush_work(&bd->scrub_work);
	mutex_lock(&bd->state_mutex);
	r = -EINVAL;
	if (!bow_checkpoint_live(bd))
		ti->error = "No checkpoint: the bow device is not in state 1";
	else if (bd->suspended && !bd->view_users)
		ti->error = "The bow device is suspended";
	else if (bd->mode != BOW_MODE_RW)
		ti->error = "The bow device failed a log write";
	else if (!bd->freemap_blocks)
		ti->error = "No free-space map: cannot tell free blocks";
	else if (bd->view_users && bd->view_broken)
		ti->error = "Checkpoint index broken";
	else
		r = 0;
	if (!r && !bd->view_users) {
		unsigned int noio = bow_transition_begin(bd);

		r = bow_view_build(bd);
		if (r) {
			ti->error = r == -ENOMEM ? "Cannot allocate the checkpoint index" :
				    r == -E2BIG ? "Log too large to index in memory" :
				    r == -EINVAL ? "Log does not validate" :
				    "Cannot read the log";
		} else {
			spin_lock(&bd->lock);
			bd->view_users = 1;
			spin_unlock(&bd->lock);
		}
		bow_transition_end(bd, r, bd->state, noio);
	} else if (!r) {
		spin_lock(&bd->lock);
		bd->view_users++;
		spin_unlock(&bd->lock);
	}
	mutex_unlock(&bd->state_mutex);
	if (r)
		goto bad_bow;

	ti->private = ck;
	ti->per_io_data_size = sizeof(struct bow_view_bio);
	ti->num_flush_bios = 1;
	return 0;

bad_bow:
	bow_view_release(ck);
bad_bd:
	mutex_lock(&bow_devs_lock);
	__bow_dev_put(bd);
	mutex_unlock(&bow_devs_lock);
bad_lower:
	dm_put_device(ti, ck->lower);
bad_free:
	kfree(ck);
	return r;
}

static void bow_view_dtr(struct dm_target *ti)
{
	struct bow_view *ck = ti->private;
	struct bow_dev *bd = ck->bd;
	struct rb_root index = RB_ROOT;

	mutex_lock(&bd->state_mutex);
	spin_lock(&bd->lock);
	if (!--bd->view_users) {
		index = bd->view_index;
		bd->view_index = RB_ROOT;
		bd->view_broken = false;
	}
	spin_unlock(&bd->lock);
	mutex_unlock(&bd->state_mutex);
	bow_vext_destroy(&index);
	bow_view_release(ck);
	mutex_lock(&bow_devs_lock);
	__bow_dev_put(bd);
	mutex_unlock(&bow_devs_lock);
	dm_put_device(ti, ck->lower);
	kfree(ck);
}

/* Hops of a move chain bow_view_map() follows in one hold of bd->lock. */
#define BOW_VIEW_HOPS_LOCKED	64

/* The view's reads may go on: under bd->lock. */
static bool __bow_view_readable(const struct bow_dev *bd)
{
	lockdep_assert_held(&bd->lock);
	return bow_checkpoint_live(bd) && !bd->transition && !bd->view_broken;
}

/*
 * A read is cut where its blocks stop resolving to one contiguous place:
 * at the end of a run of blocks free at the checkpoint (read as zeroes),
 * of blocks read in place, or of one extent of backups, whichever the
 * moves it follows make shortest.  The rest comes back as a bio of its
 * own (dm_accept_partial_bio()).
 */
static int bow_view_map(struct dm_target *ti, struct bio *bio)
{
	struct bow_view *ck = ti->private;
	struct bow_dev *bd = ck->bd;
	struct bow_view_bio *pb = dm_per_bio_data(bio, sizeof(*pb));
	sector_t sector = dm_target_offset(ti, bio->bi_iter.bi_sector);
	sector_t offset = sector & (bd->block_sectors - 1), sectors;
	u64 b = sector >> bd->block_shift, where, run, blocks;
	int r = 0;

	pb->epoch = -1;
	if (!bio_sectors(bio)) {
		/* A flush: nothing is ever written here. */
		bio_endio(bio);
		return DM_MAPIO_SUBMITTED;
	}
	if (bio_op(bio) != REQ_OP_READ)
		return DM_MAPIO_KILL;
	spin_lock(&bd->lock);
	if (!__bow_view_readable(bd)) {
		r = -EIO;
	/* Free at the checkpoint; never block 0, which the map never holds. */
	} else if (bow_freemap_run(bd, sector - offset, &sectors) && b) {
		r = 1;
		blocks = sectors >> bd->block_shift;
	} else {
		unsigned int held = 0;
		u64 hops, next;

		/*
		 * Follow the moves of its backup: no chain is longer than
		 * the log.  A long chain lets writers take the lock between
		 * hops: a move added meanwhile only makes it longer, and the
		 * last look-up and the count in the epoch are one hold.
		 */
		blocks = sectors >> bd->block_shift;
		where = b;
		for (hops = 0;; hops++) {
			next = bow_vext_lookup(&bd->view_index, where, &run);
			blocks = min(blocks, run);
			if (next == where)
				break;
			if (hops == bd->log_entries) {
				r = -EIO;
				break;
			}
			where = next;
			if (++held < BOW_VIEW_HOPS_LOCKED)
				continue;
			held = 0;
			spin_unlock(&bd->lock);
			cond_resched();
			spin_lock(&bd->lock);
			if (!__bow_view_readable(bd)) {
				r = -EIO;
				break;
			}
		}
		if (!r) {
			pb->epoch = bd->view_epoch;
			atomic_inc(&bd->view_reads[pb->epoch]);
		}
	}
	spin_unlock(&bd->lock);
	if (r < 0)
		return DM_MAPIO_KILL;
	/* Whole blocks (the length is a multiple of them): never 0. */
	sectors = (blocks << bd->block_shift) - offset;
	if (sectors < bio_sectors(bio))
		dm_accept_partial_bio(bio, sectors);
	if (r) {
		/* Free at the checkpoint: what it held then is gone. */
		zero_fill_bio(bio);
		bio_endio(bio);
		return DM_MAPIO_SUBMITTED;
	}
	bow_debug_delay(&bow_debug_view_read_delay);
	bio_set_dev(bio, ck->lower->bdev);
	bio->bi_iter.bi_sector = (where << bd->block_shift) + offset;
	return DM_MAPIO_REMAPPED;
}

static int bow_view_end_io(struct dm_target *ti, struct bio *bio,
			   blk_status_t *error)
{
	struct bow_view *ck = ti->private;
	struct bow_view_bio *pb = dm_per_bio_data(bio, sizeof(*pb));

	if (pb->epoch >= 0 &&
	    atomic_dec_and_test(&ck->bd->view_reads[pb->epoch]))
		wake_up_all(&ck->bd->inflight_wait);
	pb->epoch = -1;
	return DM_ENDIO_DONE;
}

static void bow_view_status(struct dm_target *ti, status_type_t type,
			    unsigned int status_flags, char *result,
			    unsigned int maxlen)
{
	struct bow_view *ck = ti->private;
	struct bow_dev *bd = ck->bd;
	unsigned int sz = 0;
	bool readable;

	switch (type) {
	case STATUSTYPE_INFO:
		spin_lock(&bd->lock);
		readable = bow_checkpoint_live(bd) && !bd->view_broken;
		spin_unlock(&bd->lock);
		DMEMIT("%s", readable ? "ok" : "gone");
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s", ck->lower->name);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",device_name=%s;", ck->lower->name);
		break;
	}
}

static int bow_view_iterate_devices(struct dm_target *ti,
				    iterate_devices_callout_fn fn, void *data)
{
	struct bow_view *ck = ti->private;

	return fn(ti, ck->lower, 0, ti->len, data);
}

struct target_type bow_view_target_type = {
	.name = "bow-checkpoint",
	.version = {1, 0, 0},
	.module = THIS_MODULE,
	.ctr = bow_view_ctr,
	.dtr = bow_view_dtr,
	.map = bow_view_map,
	.end_io = bow_view_end_io,
	.status = bow_view_status,
	.iterate_devices = bow_view_iterate_devices,
};
