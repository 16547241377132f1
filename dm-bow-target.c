// SPDX-License-Identifier: GPL-2.0
/*
 * dm-bow: backup on write.
 *
 * Lets a device take an update and roll it back without a second volume,
 * by borrowing the file system's own free space.  In state 0 (trim) the
 * target records every discard as a free range.  In state 1 (checkpoint)
 * the first overwrite of data that existed at the checkpoint first copies
 * the old data into a free range and logs the copy in block 0.  In state 2
 * (committed) the file system's block 0 is put back and the target passes
 * everything through.  bow-restore replays the log to roll back.
 *
 * This file: module init, the target's interface (constructor, map,
 * status, messages) and the device's lifetime; dm-bow.h says where
 * the rest is.  See Documentation/dm-bow.rst
 * (the interface), dm-bow-design.rst and dm-bow-format.rst.
 */

#include <linux/bitmap.h>
#include <linux/delay.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "dm-bow.h"

/* Every device's bow_dev: tables of the same device share one. */
LIST_HEAD(bow_devs);
/* Protects bow_devs and, in each bow_dev, refs, tables, md, kobj_added. */
DEFINE_MUTEX(bow_devs_lock);

/*
 * Parameters of test builds only (built with DM_BOW_TESTING defined, see
 * Kbuild); a production build has none and they stay 0.
 *
 * debug_skip_flush drops the flushes that order backups before the log
 * and the log before the overwrite: the crash tests use it to show that
 * they catch the bug they exist for.  debug_alloc_lowest is the naive
 * free-space policy the benchmark compares with.  debug_fail_alloc makes
 * every Nth allocation of a range node from the slab fail, as memory
 * pressure would.  debug_rollback_stop stops a rollback before its Nth
 * write, as a power cut would.  debug_ckpt_read_delay holds each read of
 * a bow-checkpoint device that many milliseconds between its look at the
 * index and its submission, the window in which a write may not land.
 * debug_resume_mem_kb replaces the memory limit of a walk of the log
 * (bow_resume_charge()), so that a small crafted log reaches it.
 * debug_ckpt_ctr_delay holds a bow-checkpoint constructor that many
 * milliseconds between its look-up of the dm-bow device and its open of
 * it, the window in which the device may go.  debug_ctr_read_delay holds
 * a dm-bow constructor that creates the device's state that long before
 * it reads block 0, while another constructor of the device may win.
 * debug_scrub_delay holds the backup check that long before it reads
 * each entry's backup, the window in which a write may move it.
 * debug_changed_room replaces the most a reply to "changed" holds
 * (BOW_CHANGED_ROOM), so that a small device's list takes several.
 */
bool bow_debug_skip_flush;
bool bow_debug_alloc_lowest;
unsigned int bow_debug_fail_alloc;
unsigned int bow_debug_rollback_stop;
unsigned int bow_debug_view_read_delay;
unsigned int bow_debug_resume_mem_kb;
unsigned int bow_debug_view_ctr_delay;
unsigned int bow_debug_ctr_read_delay;
unsigned int bow_debug_scrub_delay;
unsigned int bow_debug_changed_room;
#ifdef DM_BOW_TESTING
module_param_named(debug_skip_flush, bow_debug_skip_flush, bool, 0644);
MODULE_PARM_DESC(debug_skip_flush, "Tests only: break crash consistency");
module_param_named(debug_alloc_lowest, bow_debug_alloc_lowest, bool, 0644);
MODULE_PARM_DESC(debug_alloc_lowest, "Tests only: backups to the lowest free space");
module_param_named(debug_fail_alloc, bow_debug_fail_alloc, uint, 0644);
MODULE_PARM_DESC(debug_fail_alloc, "Tests only: fail every Nth range node allocation");
module_param_named(debug_rollback_stop, bow_debug_rollback_stop, uint, 0644);
MODULE_PARM_DESC(debug_rollback_stop, "Tests only: stop a rollback before its Nth write");
module_param_named(debug_ckpt_read_delay, bow_debug_view_read_delay, uint, 0644);
MODULE_PARM_DESC(debug_ckpt_read_delay, "Tests only: delay bow-checkpoint reads (ms)");
module_param_named(debug_resume_mem_kb, bow_debug_resume_mem_kb, uint, 0644);
MODULE_PARM_DESC(debug_resume_mem_kb, "Tests only: memory limit of a log walk (KiB)");
module_param_named(debug_ckpt_ctr_delay, bow_debug_view_ctr_delay, uint, 0644);
MODULE_PARM_DESC(debug_ckpt_ctr_delay, "Tests only: delay bow-checkpoint's hold (ms)");
module_param_named(debug_ctr_read_delay, bow_debug_ctr_read_delay, uint, 0644);
MODULE_PARM_DESC(debug_ctr_read_delay, "Tests only: delay a constructor's read of block 0 (ms)");
module_param_named(debug_scrub_delay, bow_debug_scrub_delay, uint, 0644);
MODULE_PARM_DESC(debug_scrub_delay, "Tests only: delay each read of the backup check (ms)");
module_param_named(debug_changed_room, bow_debug_changed_room, uint, 0644);
MODULE_PARM_DESC(debug_changed_room, "Tests only: the most a changed reply holds (bytes)");
#endif

/* A test build's hold of an open window (the debug_*_delay parameters). */
void bow_debug_delay(const unsigned int *ms)
{
	unsigned int delay = READ_ONCE(*ms);

	if (delay)
		msleep(delay);
}

/*
 * Allocations of a state change: test builds check that they cannot
 * reclaim by I/O (see bow_transition_begin()).
 */
void bow_assert_noio(void)
{
#ifdef DM_BOW_TESTING
	WARN_ON_ONCE(!(current->flags & PF_MEMALLOC_NOIO));
#endif
}

/* ---------------------------------------------------------------------
 * Device lifetime: one bow_dev per mapped device, shared across tables.
 */

static void bow_dev_free(struct bow_dev *bd)
{
	/* The end of an I/O may still be running after its last event. */
	wait_var_event(&bd->io_pending, !atomic_read(&bd->io_pending));
	if (bd->wq)
		destroy_workqueue(bd->wq);
	/*
	 * A state change through sysfs may have raised the low-water event
	 * after the last table's destructor flushed it; sysfs is gone now.
	 */
	cancel_work_sync(&bd->event_work);
	bow_scrub_stop(bd);
	bow_scrub_free(bd);
	if (bd->io_client)
		dm_io_client_destroy(bd->io_client);
	vfree(bd->log);
	vfree(bd->copy_buf);
	vfree(bd->commit_buf);
	bitmap_free(bd->copy_map);
	kvfree(bd->copies);
	bow_map_destroy(&bd->map.ranges);
	bow_freemap_free(bd);
	kfree(bd);
}

/* What block 0 of the device holds, by its magic. */
enum bow_block0 {
	BOW_BLOCK0_DATA,	/* the file system's: no checkpoint */
	BOW_BLOCK0_LOG,		/* a live log: bow-restore, or resume */
	BOW_BLOCK0_RESTORING,	/* a restore begun: only one finishes it */
};

static int bow_read_block0(struct bow_dev *bd, enum bow_block0 *block0)
{
	struct bow_log_header *h = bd->copy_buf;
	int r;

	r = bow_io(bd, REQ_OP_READ, 0, bd->block_sectors, bd->copy_buf);
	if (r)
		return r;
	switch (le32_to_cpu(h->magic)) {
	case BOW_MAGIC:
		*block0 = BOW_BLOCK0_LOG;
		break;
	case BOW_VOLD_PARTIAL_MAGIC:
		*block0 = BOW_BLOCK0_RESTORING;
		break;
	default:
		*block0 = BOW_BLOCK0_DATA;
	}
	return 0;
}

static struct bow_dev *bow_dev_create(struct dm_target *ti,
				      struct dm_dev *dev,
				      unsigned int block_size, bool resume)
{
	struct mapped_device *md = dm_table_get_md(ti->table);
	enum bow_block0 block0;
	struct bow_dev *bd;
	int r;

	bd = kzalloc(sizeof(*bd), GFP_KERNEL);
	if (!bd) {
		ti->error = "Cannot allocate device";
		return ERR_PTR(-ENOMEM);
	}
	bd->lower_dev = dev->bdev->bd_dev;
	bd->bdev = dev->bdev;
	bd->md = md;
	bd->block_size = block_size;
	bd->block_sectors = block_size >> SECTOR_SHIFT;
	bd->block_shift = ilog2(bd->block_sectors);
	bd->log_unit = bdev_logical_block_size(dev->bdev);
	/* Taken once: a device that gains FUA later is flushed as before. */
	bd->fua = bdev_fua(dev->bdev);
	bd->header_size = BOW_HEADER_SIZE_EXT;
	bd->nr_sectors = ti->len;
	spin_lock_init(&bd->lock);
	bd->map.ranges = RB_ROOT;
	bd->map.free = RB_ROOT;
	bd->map_dropped = RB_ROOT;
	bio_list_init(&bd->deferred);
	bio_list_init(&bd->held);
	INIT_WORK(&bd->work, bow_worker);
	INIT_LIST_HEAD(&bd->copying);
	bio_list_init(&bd->waiting);
	bio_list_init(&bd->committing);
	init_llist_head(&bd->copies_ended);
	init_waitqueue_head(&bd->ended_wait);
	atomic_set(&bd->io_pending, 0);
	atomic_set(&bd->pipeline_bios, 0);
	INIT_WORK(&bd->event_work, bow_event_work);
	INIT_WORK(&bd->scrub_work, bow_scrub_work);
	atomic_set(&bd->inflight, 0);
	atomic_set(&bd->block0_io, 0);
	atomic_set(&bd->epoch_writes[0], 0);
	atomic_set(&bd->epoch_writes[1], 0);
	init_waitqueue_head(&bd->inflight_wait);
	mutex_init(&bd->state_mutex);
	init_completion(&bd->kobj_released);

	bd->log = vzalloc(block_size);
	bd->commit_buf = vzalloc(block_size);
	bd->copy_buf = vmalloc(BOW_COPY_UNITS * BOW_COPY_UNIT);
	bd->copy_map = bitmap_zalloc(BOW_COPY_UNITS, GFP_KERNEL);
	bd->copies = kvcalloc(BOW_COPY_UNITS, sizeof(*bd->copies), GFP_KERNEL);
	bd->io_client = dm_io_client_create();
	if (!bd->log || !bd->commit_buf || !bd->copy_buf || !bd->copy_map ||
	    !bd->copies || IS_ERR(bd->io_client)) {
		if (IS_ERR(bd->io_client))
			bd->io_client = NULL;
		ti->error = "Cannot allocate buffers";
		r = -ENOMEM;
		goto bad;
	}
	bd->wq = alloc_workqueue("dm-" DM_MSG_PREFIX, WQ_MEM_RECLAIM, 1);
	if (!bd->wq) {
		ti->error = "Cannot allocate workqueue";
		r = -ENOMEM;
		goto bad;
	}
	r = bow_ranges_init(bd);
	if (r) {
		ti->error = "Cannot allocate range map";
		goto bad;
	}
	bow_debug_delay(&bow_debug_ctr_read_delay);
	r = bow_read_block0(bd, &block0);
	if (r) {
		ti->error = "Cannot read block 0";
		goto bad;
	}
	/*
	 * Half restored (by a rollback, bow-restore or Android's vold): the
	 * device is neither the checkpoint nor what was written since.
	 */
	if (block0 == BOW_BLOCK0_RESTORING) {
		ti->error = "Device holds an unfinished restore: run bow-restore";
		r = -EBUSY;
		goto bad;
	}
	if (block0 == BOW_BLOCK0_LOG && !resume) {
		ti->error = "Device holds a live bow log: run bow-restore";
		r = -EBUSY;
		goto bad;
	}
	if (block0 == BOW_BLOCK0_LOG) {
		r = bow_resume_log(bd, ti);
		if (r)
			goto bad;
	}
	return bd;

bad:
	bow_dev_free(bd);
	return ERR_PTR(r);
}

/* Called with bow_devs_lock held. */
void __bow_dev_put(struct bow_dev *bd)
{
	lockdep_assert_held(&bow_devs_lock);
	if (--bd->refs)
		return;
	list_del(&bd->list);
	/* The last dm-bow table's destructor took it out of sysfs. */
	kobject_put(&bd->kobj);
	wait_for_completion(&bd->kobj_released);
	bow_dev_free(bd);
}

/*
 * The bow_dev a loaded table of @ti's mapped device uses, with a reference
 * taken; NULL if there is none; an error if it does not match @ti or
 * another bow target uses @dev.  Called with bow_devs_lock held.
 */
static struct bow_dev *__bow_dev_find(struct dm_target *ti,
				      struct dm_dev *dev,
				      unsigned int block_size)
{
	struct mapped_device *md = dm_table_get_md(ti->table);
	struct bow_dev *bd;

	lockdep_assert_held(&bow_devs_lock);
	list_for_each_entry(bd, &bow_devs, list) {
		if (bd->md != md && bd->lower_dev != dev->bdev->bd_dev)
			continue;
		if (bd->md != md || bd->lower_dev != dev->bdev->bd_dev) {
			ti->error = "Device already used by another bow target";
			return ERR_PTR(-EBUSY);
		}
		if (bd->block_size != block_size || bd->nr_sectors != ti->len) {
			ti->error = "Reload cannot change size or block size";
			return ERR_PTR(-EINVAL);
		}
		bd->refs++;
		bd->tables++;
		return bd;
	}
	return NULL;
}

/*
 * The bow_dev for @ti: the one a loaded table uses, or a new one.  A new
 * one reads block 0, and on resume validates the whole log, without
 * bow_devs_lock: a long log must not hold up every other bow constructor
 * and destructor.  Whether another constructor added one for the same
 * device meanwhile is then checked again under the lock, whether ours
 * failed or not: the winner may have taken a checkpoint that ours read
 * as a live log.
 */
static struct bow_dev *bow_dev_get(struct dm_target *ti, struct dm_dev *dev,
				   unsigned int block_size, bool resume)
{
	struct bow_dev *bd, *created;

	mutex_lock(&bow_devs_lock);
	bd = __bow_dev_find(ti, dev, block_size);
	mutex_unlock(&bow_devs_lock);
	if (bd)
		return bd;

	created = bow_dev_create(ti, dev, block_size, resume);

	mutex_lock(&bow_devs_lock);
	bd = __bow_dev_find(ti, dev, block_size);
	if (!bd && !IS_ERR(created)) {
		/* Added to sysfs at the first resume: no disk yet. */
		kobject_init(&created->kobj, &bow_ktype);
		created->refs = 1;
		created->tables = 1;
		list_add(&created->list, &bow_devs);
		bd = created;
		created = NULL;
	}
	mutex_unlock(&bow_devs_lock);
	if (!bd)
		return created;
	if (!IS_ERR_OR_NULL(created))
		bow_dev_free(created);
	return bd;
}

/* ---------------------------------------------------------------------
 * Target interface.
 */

static int bow_parse_features(struct dm_target *ti, struct dm_arg_set *as,
			      struct bow_features *f)
{
	static const struct dm_arg feature_count = {
		0, 3, "Invalid number of feature args"
	};
	unsigned int count;
	int r;

	if (!as->argc)
		return 0;
	r = dm_read_arg_group(&feature_count, as, &count, &ti->error);
	if (r)
		return r;
	while (count--) {
		const char *arg = dm_shift_arg(as);
		unsigned int value;
		unsigned long long bytes;
		char dummy;

		if (sscanf(arg, "block_size:%u%c", &value, &dummy) == 1) {
			if (!is_power_of_2(value) ||
			    value < BOW_MIN_BLOCK_SIZE ||
			    value > BOW_MAX_BLOCK_SIZE) {
				ti->error = "Invalid block size";
				return -EINVAL;
			}
			f->block_size = value;
		} else if (!strcmp(arg, "resume")) {
			f->resume = true;
		} else if (sscanf(arg, "low_water:%llu%c", &bytes,
				  &dummy) == 1) {
			if (!bytes) {
				ti->error = "Invalid low_water";
				return -EINVAL;
			}
			f->low_water = bytes;
		} else {
			ti->error = "Unknown feature";
			return -EINVAL;
		}
	}
	if (as->argc) {
		ti->error = "Too many arguments";
		return -EINVAL;
	}
	return 0;
}

/*
 * Construct: <dev> [<#feature args> [block_size:<bytes>] [low_water:<bytes>]
 *                                   [resume]]
 */
static int bow_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct dm_arg_set as = { .argc = argc, .argv = argv };
	struct bow_target *bt;
	unsigned int block_size;
	sector_t block_sectors;
	int r;

	if (!argc) {
		ti->error = "No device given";
		return -EINVAL;
	}
	bt = kzalloc(sizeof(*bt), GFP_KERNEL);
	if (!bt) {
		ti->error = "Cannot allocate target";
		return -ENOMEM;
	}
	r = dm_get_device(ti, dm_shift_arg(&as), dm_table_get_mode(ti->table),
			  &bt->dev);
	if (r) {
		ti->error = "Device lookup failed";
		goto bad_free;
	}
	r = bow_parse_features(ti, &as, &bt->features);
	if (r)
		goto bad_put;
	block_size = bt->features.block_size;
	if (!block_size)
		block_size = max_t(unsigned int, BOW_MIN_BLOCK_SIZE,
				   bdev_logical_block_size(bt->dev->bdev));
	if (block_size < bdev_logical_block_size(bt->dev->bdev)) {
		ti->error = "Block size below the device's logical block size";
		r = -EINVAL;
		goto bad_put;
	}
	block_sectors = block_size >> SECTOR_SHIFT;
	if (ti->len & (block_sectors - 1)) {
		ti->error = "Length not a multiple of the block size";
		r = -EINVAL;
		goto bad_put;
	}
	if (ti->len < 2 * block_sectors ||
	    bdev_nr_sectors(bt->dev->bdev) < ti->len) {
		ti->error = "Device too small";
		r = -EINVAL;
		goto bad_put;
	}

	bt->bd = bow_dev_get(ti, bt->dev, block_size, bt->features.resume);
	if (IS_ERR(bt->bd)) {
		r = PTR_ERR(bt->bd);
		goto bad_put;
	}

	ti->private = bt;
	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->discards_supported = true;
	/* A write like any other; advertised if the device has it. */
	ti->num_write_zeroes_bios = 1;
	ti->per_io_data_size = sizeof(struct bow_bio);
	return 0;

bad_put:
	dm_put_device(ti, bt->dev);
bad_free:
	kfree(bt);
	return r;
}

static void bow_dtr(struct dm_target *ti)
{
	struct bow_target *bt = ti->private;
	struct bow_dev *bd = bt->bd;

	spin_lock(&bd->lock);
	if (bd->live_ti == ti)
		bd->live_ti = NULL;
	spin_unlock(&bd->lock);
	flush_work(&bd->event_work);

	mutex_lock(&bow_devs_lock);
	if (bd->tables == 1)
		/* It reads the lower device this table holds open. */
		bow_scrub_stop(bd);
	if (!--bd->tables) {
		/* Views may keep bd: nothing of the mapped device stays. */
		bd->md = NULL;
		if (bd->kobj_added)
			kobject_del(&bd->kobj);
		bd->kobj_added = false;
	}
	__bow_dev_put(bd);
	mutex_unlock(&bow_devs_lock);
	dm_put_device(ti, bt->dev);
	kfree(bt);
}

/* The mapped device's disk exists by now: add /sys/block/dm-N/bow. */
static int bow_preresume(struct dm_target *ti)
{
	struct bow_target *bt = ti->private;
	struct bow_dev *bd = bt->bd;
	int r = 0;

	mutex_lock(&bow_devs_lock);
	if (!bd->kobj_added) {
		r = kobject_add(&bd->kobj, &disk_to_dev(dm_disk(bd->md))->kobj,
				"%s", "bow");
		if (r)
			DMERR("cannot create sysfs node: %d", r);
		else
			bd->kobj_added = true;
	}
	mutex_unlock(&bow_devs_lock);
	return r;
}

/*
 * The device is about to be suspended: no state change from now until it
 * resumes, and one under way (a rollback may take minutes) ends first.
 */
static void bow_set_suspended(struct bow_dev *bd, bool suspended)
{
	mutex_lock(&bd->state_mutex);
	bd->suspended = suspended;
	mutex_unlock(&bd->state_mutex);
}

/* The backup check reads the lower device too: it starts again after. */
static void bow_presuspend(struct dm_target *ti)
{
	struct bow_target *bt = ti->private;

	bow_set_suspended(bt->bd, true);
	bow_scrub_stop(bt->bd);
}

static void bow_presuspend_undo(struct dm_target *ti)
{
	struct bow_target *bt = ti->private;

	bow_set_suspended(bt->bd, false);
	bow_scrub_start(bt->bd);
}

/* This table is live now: its low_water applies, its events are seen. */
static void bow_resume(struct dm_target *ti)
{
	struct bow_target *bt = ti->private;
	struct bow_dev *bd = bt->bd;

	bow_set_suspended(bd, false);
	spin_lock(&bd->lock);
	bd->live_ti = ti;
	bd->low_water = bt->features.low_water;
	__bow_low_water_check(bd);
	spin_unlock(&bd->lock);
	bow_scrub_start(bd);
}

static int bow_map(struct dm_target *ti, struct bio *bio)
{
	struct bow_target *bt = ti->private;
	struct bow_dev *bd = bt->bd;
	struct bow_bio *pb = dm_per_bio_data(bio, sizeof(struct bow_bio));
	sector_t sector = dm_target_offset(ti, bio->bi_iter.bi_sector);

	pb->flags = 0;
	if (!bio_sectors(bio)) {
		/* An empty flush keeps its meaning: pass it down. */
		bio_set_dev(bio, bd->bdev);
		return DM_MAPIO_REMAPPED;
	}
	switch (bio_op(bio)) {
	case REQ_OP_READ:
	case REQ_OP_WRITE:
	case REQ_OP_WRITE_ZEROES:
		/* Block 0 may live elsewhere: handle it apart from the rest. */
		if (sector < bd->block_sectors &&
		    bow_bio_end(bio, sector) > bd->block_sectors)
			dm_accept_partial_bio(bio, bd->block_sectors - sector);
		break;
	case REQ_OP_DISCARD:
		break;
	default:
		return DM_MAPIO_KILL;
	}
	/* Keep the target-relative sector in the bio until it is remapped. */
	bio->bi_iter.bi_sector = sector;

	switch (bow_route(bd, bio, sector, false)) {
	case BOW_ROUTE_REMAPPED:
		return DM_MAPIO_REMAPPED;
	case BOW_ROUTE_SLOW:
	case BOW_ROUTE_DEFER:
		bow_defer(bd, bio);
		return DM_MAPIO_SUBMITTED;
	case BOW_ROUTE_DRAIN:
		/* Only the worker frees. */
		WARN_ON_ONCE(1);
		fallthrough;
	case BOW_ROUTE_HELD:
	case BOW_ROUTE_DONE:
		break;
	}
	return DM_MAPIO_SUBMITTED;
}

static int bow_end_io(struct dm_target *ti, struct bio *bio,
		      blk_status_t *error)
{
	struct bow_target *bt = ti->private;
	struct bow_dev *bd = bt->bd;
	struct bow_bio *pb = dm_per_bio_data(bio, sizeof(struct bow_bio));
	bool wake = false;

	if (pb->flags & BOW_BIO_BLOCK0)
		wake |= atomic_dec_and_test(&bd->block0_io);
	if (pb->flags & BOW_BIO_EPOCH)
		wake |= atomic_dec_and_test(&bd->epoch_writes[!!(pb->flags &
							BOW_BIO_EPOCH1)]);
	if (pb->flags & BOW_BIO_INFLIGHT)
		wake |= atomic_dec_and_test(&bd->inflight);
	pb->flags = 0;
	if (wake)
		wake_up_all(&bd->inflight_wait);
	return DM_ENDIO_DONE;
}

static void bow_status(struct dm_target *ti, status_type_t type,
		       unsigned int status_flags, char *result,
		       unsigned int maxlen)
{
	struct bow_target *bt = ti->private;
	struct bow_dev *bd = bt->bd;
	unsigned int sz = 0;

	switch (type) {
	case STATUSTYPE_INFO:
		spin_lock(&bd->lock);
		DMEMIT("%u %llu %llu %llu %u %llu %llu %llu %s %s", bd->state,
		       (u64)bd->map.free_sectors << SECTOR_SHIFT,
		       bd->backup_sectors << SECTOR_SHIFT,
		       bd->log_entries, bd->log_blocks, bd->log_commits,
		       bd->enospc_writes, bd->moved_sectors << SECTOR_SHIFT,
		       bd->mode != BOW_MODE_RW ? "fail" : "rw",
		       bow_scrub_word(bd->scrub_state));
		spin_unlock(&bd->lock);
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s", bt->dev->name);
		if (bt->features.block_size || bt->features.low_water ||
		    bt->features.resume)
			DMEMIT(" %u", !!bt->features.block_size +
			       !!bt->features.low_water +
			       bt->features.resume);
		if (bt->features.block_size)
			DMEMIT(" block_size:%u", bt->features.block_size);
		if (bt->features.low_water)
			DMEMIT(" low_water:%llu", bt->features.low_water);
		if (bt->features.resume)
			DMEMIT(" resume");
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",device_name=%s,block_size=%u,low_water=%llu,resume=%c;",
		       bt->dev->name, bt->features.block_size,
		       bt->features.low_water, bt->features.resume ? 'y' : 'n');
		break;
	}
}

/*
 * The message "changed [<sector>]": the ranges written since the
 * checkpoint, from the block holding <sector> on.  One line
 * "<start> <sectors>" per range, adjacent ranges merged, in ascending
 * order; then "next <sector>", where the next call goes on, once the
 * reply holds BOW_CHANGED_ROOM bytes, or "end".  Read from the range map
 * under the lock: the write path does nothing for it but note a write of
 * block 0.  The walk lets the lock go every BOW_CHANGED_WALK ranges of
 * the map, so that writers wait a bounded time, and goes on from where
 * it stood.
 *
 * A result buffer smaller than BOW_CHANGED_ROOM is filled instead: dm
 * then reports it full (DM_BUFFER_FULL_FLAG) and libdevmapper asks again
 * with one twice as large, which it keeps for the rest of the process.
 * Its buffers double from 16 KiB; the room is what one of 1 MiB holds
 * after the ioctl's header, so that the reply fills the buffer (dm
 * copies all of it in, each time).  10^6 ranges take 10 replies, not
 * the 640 of 16 KiB, and a script runs dmsetup that many times.
 */
#define BOW_CHANGED_WALK	4096
#define BOW_CHANGED_ROOM	(1024 * 1024 - 4096)
#define BOW_CHANGED_LINE	42	/* "<20 digits> <20 digits>\n" */
#define BOW_CHANGED_TAIL	32	/* room for "next <20 digits>\n" */

static bool bow_range_written(enum bow_range_type type)
{
	return BOW_TYPE(type) & (BOW_TYPE(BOW_CHANGED) | BOW_TYPE(BOW_WRITTEN) |
				 BOW_TYPE(BOW_BACKING));
}

/*
 * @v in decimal at @p, then @sep; returns where it ends.  A line of the
 * reply costs less this way than through vsnprintf(), and the lines are
 * most of what "changed" costs.
 */
static char *bow_emit_u64(char *p, u64 v, char sep)
{
	char digits[20];
	int n = 0;

	do {
		digits[n++] = '0' + do_div(v, 10);
	} while (v);
	while (n)
		*p++ = digits[--n];
	*p++ = sep;
	return p;
}

static int bow_changed(struct bow_dev *bd, const char *arg, char *result,
		       unsigned int maxlen)
{
	unsigned int room = READ_ONCE(bow_debug_changed_room) ?: BOW_CHANGED_ROOM;
	sector_t bs = bd->block_sectors, from = 0, start = 0, end = 0, pos;
	unsigned int sz = 0, walked = 0;
	unsigned long long n;
	struct bow_range *r;
	char *p;

	if (arg) {
		if (kstrtoull(arg, 10, &n))
			return -EINVAL;
		from = min_t(u64, n, bd->nr_sectors);
	}
	from = round_down(from, bs);
	if (maxlen < 2 * BOW_CHANGED_TAIL || room < 2 * BOW_CHANGED_TAIL)
		return -ENOSPC;
	spin_lock(&bd->lock);
	if (!bow_checkpoint_live(bd))
		goto gone;
	if (maxlen < room) {
		spin_unlock(&bd->lock);
		memset(result, ' ', maxlen - 1);
		result[maxlen - 1] = '\0';
		return 1;
	}
	/* Block 0 lives elsewhere; its range in the map is the log's. */
	if (!from && bd->block0_written)
		end = bs;
	/* The walk has listed what lies before @pos. */
	pos = max(from, bs);
	r = bow_range_find(&bd->map, pos);
	for (;;) {
		sector_t r_start = max(r->sector, pos);
		bool written = bow_range_written(r->type);

		if (written && end == r_start) {
			end = bow_range_end(r);
		} else {
			/* The range before, if any, ends here. */
			if (end) {
				if (sz + BOW_CHANGED_LINE + BOW_CHANGED_TAIL >
				    room)
					goto full;
				p = bow_emit_u64(result + sz, start, ' ');
				p = bow_emit_u64(p, end - start, '\n');
				*p = '\0';
				sz = p - result;
				end = 0;
			}
			if (r->type == BOW_TOP)
				break;
			if (written) {
				start = r_start;
				end = bow_range_end(r);
			}
		}
		pos = bow_range_end(r);
		if (++walked % BOW_CHANGED_WALK) {
			r = bow_range_next(r);
			continue;
		}
		spin_unlock(&bd->lock);
		cond_resched();
		spin_lock(&bd->lock);
		if (!bow_checkpoint_live(bd))
			goto gone;
		r = bow_range_find(&bd->map, pos);
	}
	spin_unlock(&bd->lock);
	DMEMIT("end\n");
	return 1;

full:
	spin_unlock(&bd->lock);
	DMEMIT("next %llu\n", (u64)start);
	return 1;

gone:
	spin_unlock(&bd->lock);
	DMERR("%pg: changed: no checkpoint", bd->bdev);
	return -EINVAL;
}

static int bow_message(struct dm_target *ti, unsigned int argc, char **argv,
		       char *result, unsigned int maxlen)
{
	struct bow_target *bt = ti->private;

	if (argc >= 1 && !strcasecmp(argv[0], "changed") && argc <= 2)
		return bow_changed(bt->bd, argc == 2 ? argv[1] : NULL, result,
				   maxlen);
	if (argc != 1)
		return -EINVAL;
	if (!strcasecmp(argv[0], "checkpoint"))
		return bow_set_state(bt->bd, BOW_STATE_CHECKPOINT);
	if (!strcasecmp(argv[0], "commit"))
		return bow_set_state(bt->bd, BOW_STATE_COMMITTED);
	if (!strcasecmp(argv[0], "rollback"))
		return bow_rollback_request(bt->bd);
	DMWARN("unrecognised message: %s", argv[0]);
	return -EINVAL;
}

static int bow_iterate_devices(struct dm_target *ti,
			       iterate_devices_callout_fn fn, void *data)
{
	struct bow_target *bt = ti->private;

	return fn(ti, bt->dev, 0, ti->len, data);
}

/*
 * Ioctls the dm device does not handle itself go to the lower device only
 * in state 2: before, one that writes (SG_IO) would bypass the backups,
 * and one that reads would see the log in block 0.
 */
static int bow_prepare_ioctl(struct dm_target *ti, struct block_device **bdev)
{
	struct bow_target *bt = ti->private;

	if (READ_ONCE(bt->bd->state) != BOW_STATE_COMMITTED)
		return -ENOTTY;
	*bdev = bt->dev->bdev;
	/* Part of the device only: dm asks for CAP_SYS_RAWIO. */
	return ti->len != bdev_nr_sectors(bt->dev->bdev);
}

static void bow_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	struct bow_target *bt = ti->private;

	/* Discards are ours in state 0 whatever the device supports. */
	limits->discard_granularity = bt->bd->block_size;
	limits->max_discard_sectors = UINT_MAX >> SECTOR_SHIFT;
	limits->max_hw_discard_sectors = UINT_MAX >> SECTOR_SHIFT;
}

/*
 * Immutable: a table of another target type must not replace dm-bow
 * while block 0 holds the log, or the file system would read the log as
 * its block 0 (remove the device instead).  dm-bow passes inline
 * encryption contexts down unchanged: its copies move ciphertext as it
 * is on the disk, and a remapped block 0 keeps its data unit number.
 */
static struct target_type bow_target_type = {
	.name = "bow",
	.version = {1, 3, 0},
	.features = DM_TARGET_IMMUTABLE | DM_TARGET_PASSES_CRYPTO,
	.module = THIS_MODULE,
	.ctr = bow_ctr,
	.dtr = bow_dtr,
	.map = bow_map,
	.end_io = bow_end_io,
	.presuspend = bow_presuspend,
	.presuspend_undo = bow_presuspend_undo,
	.preresume = bow_preresume,
	.resume = bow_resume,
	.status = bow_status,
	.message = bow_message,
	.prepare_ioctl = bow_prepare_ioctl,
	.iterate_devices = bow_iterate_devices,
	.io_hints = bow_io_hints,
};

static int __init dm_bow_init(void)
{
	int r;

	r = bow_range_nodes_create();
	if (r)
		return r;
	r = dm_register_target(&bow_target_type);
	if (r) {
		DMERR("register failed %d", r);
		goto bad_register;
	}
	r = dm_register_target(&bow_view_target_type);
	if (r) {
		DMERR("register of bow-checkpoint failed %d", r);
		goto bad_register_view;
	}
	return 0;

bad_register_view:
	dm_unregister_target(&bow_target_type);
bad_register:
	bow_range_nodes_destroy();
	return r;
}

static void __exit dm_bow_exit(void)
{
	dm_unregister_target(&bow_view_target_type);
	dm_unregister_target(&bow_target_type);
	bow_range_nodes_destroy();
}

module_init(dm_bow_init);
module_exit(dm_bow_exit);

MODULE_DESCRIPTION(DM_NAME " backup-on-write target for update rollback");
MODULE_LICENSE("GPL");
