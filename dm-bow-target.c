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
 * See Documentation/dm-bow.rst.
 */

#include <linux/bitmap.h>
#include <linux/blkdev.h>
#include <linux/crc32.h>
#include <linux/delay.h>
#include <linux/device-mapper.h>
#include <linux/dm-io.h>
#include <linux/kobject.h>
#include <linux/list_sort.h>
#include <linux/llist.h>
#include <linux/mempool.h>
#include <linux/module.h>
#include <linux/random.h>
#include <linux/rbtree.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/sysfs.h>
#include <linux/vmalloc.h>
#include <linux/wait_bit.h>
#include <linux/workqueue.h>

#include "dm-bow-format.h"
#include "dm-bow-ranges.h"

#define DM_MSG_PREFIX "bow"

/* Largest piece of data copied for one log entry. */
#define BOW_COPY_SECTORS	((256 * 1024) >> SECTOR_SHIFT)
/*
 * The copy buffer holds the data of every backup copy in flight; a copy
 * takes whole units of it.  512 units of 4 KiB: 2 MiB, room for 512
 * single-block copies or eight of the largest.
 */
#define BOW_COPY_UNIT		BOW_MAX_BLOCK_SIZE
#define BOW_COPY_UNITS		512
/*
 * A commit costs two flushes however many writes it covers, so it waits
 * for every copy in flight, but for no more than this many ready writes:
 * a steady stream of writers must not hold it back.
 */
#define BOW_COMMIT_GROUP	32

enum bow_state {
	BOW_STATE_TRIM = 0,
	BOW_STATE_CHECKPOINT = 1,
	BOW_STATE_COMMITTED = 2,
};

/* Per-bio flags, kept in the per-bio data. */
#define BOW_BIO_INFLIGHT	BIT(0)	/* counted in bow_dev.inflight */
#define BOW_BIO_SECTOR0		BIT(1)	/* counted in bow_dev.sector0_io */
#define BOW_BIO_EPOCH		BIT(2)	/* counted in bow_dev.epoch_writes[] */
#define BOW_BIO_EPOCH1		BIT(3)	/* ... in [1], else in [0] */

struct bow_bio {
	unsigned int flags;
	int error;		/* of a slow-path write, until it is sent */
	u64 horizon;		/* it waits for the copies planned before this */
	u64 failures;		/* bow_dev.copy_failures when it was planned */
};

/*
 * One backup copy: @len sectors read from @source, checksummed, written
 * to @dest, then logged.  It lives in the slot of bow_dev.copies that
 * matches the first unit of the copy buffer it holds.
 */
struct bow_copy {
	struct llist_node event;	/* on bow_dev.copy_events when I/O ends */
	struct list_head list;		/* on bow_dev.copying, in plan order */
	struct list_head read_done;	/* its write waits to be sent */
	struct bow_dev *bd;
	struct bio *bio;		/* the write it protects */
	sector_t source;
	sector_t dest;
	sector_t len;
	enum bow_range_type type;	/* of source before the copy */
	u64 seq;			/* plan order */
	void *buf;			/* its units of bow_dev.copy_buf */
	unsigned int units;
	bool writing;			/* read done: the write is in flight */
	bool done;			/* its I/O is over: it can be logged */
	u32 crc;
	int error;			/* set by the end of its I/O */
};

/* The writes of one log commit, each sent when the one before ended. */
enum bow_commit_stage {
	BOW_COMMIT_NONE,	/* no commit in flight */
	BOW_COMMIT_FIRST,	/* a new log block's header, counting unit 0 */
	BOW_COMMIT_ENTRIES,	/* the units holding new entries */
	BOW_COMMIT_HEADER,	/* the header that counts them */
};

/* Bits of bow_dev.events. */
#define BOW_EVENT_COMMIT	0	/* a commit write ended */

/*
 * The state of one dm-bow device.  It is shared by every table loaded
 * for the same mapped device and lower device, so that a table reload
 * keeps the checkpoint (as dm-thin shares its pool).
 */
struct bow_dev {
	struct list_head list;		/* on bow_devs, under bow_devs_lock */
	/*
	 * Under bow_devs_lock: refs counts the tables using it, dm-bow's and
	 * bow-checkpoint's, tables dm-bow's alone.  md is NULL once tables
	 * is 0: the mapped device may be gone (a view does not pin it).
	 */
	unsigned int refs;
	unsigned int tables;
	dev_t lower_dev;
	struct mapped_device *md;
	struct block_device *bdev;	/* held open by every referencing table */

	unsigned int block_size;	/* bytes */
	unsigned int block_sectors;	/* a power of two ... */
	unsigned int block_shift;	/* ... 1 << block_shift */
	sector_t nr_sectors;		/* device size, a multiple of block_sectors */

	/*
	 * lock protects the range map, the state fields, the bio lists and
	 * the statistics below.  It is never held across I/O nor taken in
	 * interrupt context.  The state only changes with state_mutex held
	 * too, so map() may read it without the lock where a stale value is
	 * harmless (state 2 is final).
	 */
	spinlock_t lock;
	struct bow_map map;
	enum bow_state state;
	bool transition;		/* a state change is draining I/O */
	bool failed;			/* a log write failed: writes get -EIO */
	bool rollback_begun;		/* one did not end: every bio fails */
	sector_t sector0_live;		/* valid in state 1 */
	bool sector0_moving;		/* block 0 reads wait for the worker */
	bool sector0_written;		/* block 0 written since the checkpoint */
	struct bio_list deferred;	/* for the worker */
	struct bio_list held;		/* arrived during a transition */
	u64 backup_sectors;		/* statistics for status and sysfs */
	u64 moved_sectors;		/* backups copied again: written over */
	u64 log_entries;
	u32 log_blocks;
	u64 log_commits;
	u64 enospc_writes;		/* writes failed for want of space */
	u64 low_water;			/* bytes; 0: no event */
	bool low_water_raised;		/* the event fired for this checkpoint */
	struct dm_target *live_ti;	/* the resumed table, for events */

	/*
	 * Only the worker, or a transition once the worker is idle, touches
	 * the log, the copies and the commit: no lock needed.  The end of an
	 * I/O only sets an error and queues an event for the worker.
	 */
	struct workqueue_struct *wq;
	struct work_struct work;
	struct dm_io_client *io_client;
	void *log;			/* block 0 as it should be on disk */
	unsigned int header_size;	/* of the log blocks it writes */
	bool log_dirty;
	u32 disk_sequence;		/* the log block now in block 0 ... */
	u32 disk_count;			/* ... and its entries known durable */
	unsigned int log_unit;		/* bytes the device writes atomically */
	void *copy_buf;			/* BOW_COPY_UNITS of copy data */
	unsigned long *copy_map;	/* its units in use */
	struct bow_copy *copies;	/* a slot per unit */
	struct list_head copying;	/* copies not yet logged, plan order */
	u64 copy_seq;			/* the next copy's number */
	u64 copy_failures;		/* copies that failed, ever */
	struct bio_list waiting;	/* slow writes, plan order */
	struct bio_list committing;	/* the writes the commit protects */
	void *commit_buf;		/* the log block being committed */
	u32 commit_count;		/* its entries */
	enum bow_commit_stage commit_stage;
	int commit_error;		/* of the stage's write */

	/* From the end of an I/O to the worker. */
	struct llist_head copy_events;	/* copies whose I/O ended */
	unsigned long events;		/* BOW_EVENT_* */
	wait_queue_head_t event_wait;	/* the worker waiting for I/O */
	atomic_t io_pending;		/* async I/O whose end is not over */
	atomic_t pipeline_bios;		/* slow writes not yet sent or failed */

	atomic_t inflight;		/* counted remapped bios, see bow_remap() */
	atomic_t sector0_io;		/* of those, I/O to the live block 0 */
	/*
	 * Writes sent down, by epoch: a discard that frees WRITTEN blocks
	 * starts a new epoch, under lock, and the worker waits for the
	 * writes of the one before (bow_epoch_enter(), BOW_ROUTE_DRAIN).
	 */
	unsigned int epoch;		/* 0 or 1; changed under lock */
	atomic_t epoch_writes[2];
	wait_queue_head_t inflight_wait;

	/*
	 * Serialises state changes; held across their I/O, never taken on
	 * the I/O path.
	 */
	struct mutex state_mutex;
	/*
	 * The live table is suspended (presuspend to resume), under
	 * state_mutex: a state change, whose I/O a suspended device must not
	 * see, is refused then, and a suspend waits for one under way.
	 */
	bool suspended;

	/*
	 * The free-space map at the checkpoint, as written on disk (state 1,
	 * header_size BOW_HEADER_SIZE_EXT; else empty), and its chain's
	 * blocks.  Only state changes and the worker touch them.
	 */
	struct bow_freemap_range *freemap;
	u32 freemap_ranges;
	sector_t *freemap_chain;
	u32 freemap_blocks;		/* 0: no map on disk */
	/*
	 * The chains of maps moved since the last commit, BACKING until a
	 * commit prepared after the move (freemap_old_committing) is
	 * durable, then free again (bow_freemap_old_release()).
	 */
	sector_t *freemap_old;
	u32 freemap_old_blocks;
	bool freemap_old_committing;
	u64 checkpoint_id;

	struct work_struct event_work;	/* raises the low-water event */

	/*
	 * For the bow-checkpoint devices over this one (ckpt_users, changed
	 * under state_mutex and lock): where each block's data of the
	 * checkpoint is now, as the log says (ckpt_index, bow_vext nodes
	 * keyed by an entry's source, built from the log on disk when the
	 * first one is created, then kept up by bow_log_append()), and their
	 * reads in flight, by epoch (see bow_ckpt_sync()).  Under lock.
	 */
	unsigned int ckpt_users;
	struct rb_root ckpt_index;
	bool ckpt_broken;		/* an update of it failed: reads fail */
	unsigned int ckpt_epoch;
	atomic_t ckpt_reads[2];

	struct kobject kobj;		/* /sys/block/dm-N/bow */
	bool kobj_added;		/* under bow_devs_lock */
	struct completion kobj_released;
};

/* Feature arguments of a table line. */
struct bow_features {
	unsigned int block_size;	/* 0: the device's logical block size */
	u64 low_water;			/* bytes; 0: none */
	bool resume;			/* take up a live log in block 0 */
};

/* One table's view: its own reference on the lower device. */
struct bow_target {
	struct dm_dev *dev;
	struct bow_dev *bd;
	struct bow_features features;
};

static LIST_HEAD(bow_devs);
static DEFINE_MUTEX(bow_devs_lock);
static struct kmem_cache *bow_range_cache;
/*
 * Range nodes for the worker and state changes: they wait for the reserve
 * rather than fail, so that writes make progress when reclaim writes
 * through dm-bow.  map() never waits: it leaves a bio to the worker when
 * the slab has no node for it.
 */
#define BOW_RANGE_RESERVE	64
static mempool_t *bow_range_pool;

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
 */
static bool debug_skip_flush;
static bool debug_alloc_lowest;
static unsigned int debug_fail_alloc;
static unsigned int debug_rollback_stop;
static unsigned int debug_ckpt_read_delay;
static unsigned int debug_resume_mem_kb;
static unsigned int debug_ckpt_ctr_delay;
static unsigned int debug_ctr_read_delay;
#ifdef DM_BOW_TESTING
module_param(debug_skip_flush, bool, 0644);
MODULE_PARM_DESC(debug_skip_flush, "Tests only: break crash consistency");
module_param(debug_alloc_lowest, bool, 0644);
MODULE_PARM_DESC(debug_alloc_lowest, "Tests only: backups to the lowest free space");
module_param(debug_fail_alloc, uint, 0644);
MODULE_PARM_DESC(debug_fail_alloc, "Tests only: fail every Nth range node allocation");
module_param(debug_rollback_stop, uint, 0644);
MODULE_PARM_DESC(debug_rollback_stop, "Tests only: stop a rollback before its Nth write");
module_param(debug_ckpt_read_delay, uint, 0644);
MODULE_PARM_DESC(debug_ckpt_read_delay, "Tests only: delay bow-checkpoint reads (ms)");
module_param(debug_resume_mem_kb, uint, 0644);
MODULE_PARM_DESC(debug_resume_mem_kb, "Tests only: memory limit of a log walk (KiB)");
module_param(debug_ckpt_ctr_delay, uint, 0644);
MODULE_PARM_DESC(debug_ckpt_ctr_delay, "Tests only: delay bow-checkpoint's hold (ms)");
module_param(debug_ctr_read_delay, uint, 0644);
MODULE_PARM_DESC(debug_ctr_read_delay, "Tests only: delay a constructor's read of block 0 (ms)");
#endif

/* A test build's hold of an open window (the debug_*_delay parameters). */
static void bow_debug_delay(const unsigned int *ms)
{
	unsigned int delay = READ_ONCE(*ms);

	if (delay)
		msleep(delay);
}

/*
 * Allocations of a state change: test builds check that they cannot
 * reclaim by I/O (see bow_transition_begin()).
 */
static void bow_assert_noio(void)
{
#ifdef DM_BOW_TESTING
	WARN_ON_ONCE(!(current->flags & PF_MEMALLOC_NOIO));
#endif
}

static struct bow_range *bow_range_slab_alloc(gfp_t gfp)
{
	static atomic_t count = ATOMIC_INIT(0);
	unsigned int every = READ_ONCE(debug_fail_alloc);

	if (every && !(atomic_inc_return(&count) % every))
		return NULL;
	return kmem_cache_alloc(bow_range_cache, gfp);
}

static void *bow_range_pool_alloc(gfp_t gfp, void *data)
{
	return bow_range_slab_alloc(gfp);
}

static void bow_range_pool_free(void *node, void *data)
{
	kmem_cache_free(bow_range_cache, node);
}

void bow_range_node_free(struct bow_range *r)
{
	mempool_free(r, bow_range_pool);
}

/*
 * When free space falls below the table's low_water during a checkpoint,
 * raise a device-mapper event (dmsetup wait, udev) so that a daemon can
 * commit or give up in time.  Once: until discards give enough back (in
 * state 1 only blocks written since the checkpoint, mostly after a
 * resume, which starts with nothing free), and free space falls again.
 */
static void bow_low_water_check(struct bow_dev *bd)
{
	if (bd->state != BOW_STATE_CHECKPOINT || !bd->low_water)
		return;
	if (((u64)bd->map.free_sectors << SECTOR_SHIFT) >= bd->low_water) {
		bd->low_water_raised = false;
	} else if (!bd->low_water_raised) {
		bd->low_water_raised = true;
		queue_work(system_wq, &bd->event_work);
	}
}

/*
 * Nodes for one range-map update: from the slab only, and it may fail, if
 * !@may_wait (map()); else from the reserve too, waiting for it, so that
 * it never fails.
 */
static int bow_prealloc_fill(struct bow_prealloc *pa, bool may_wait)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(pa->node); i++) {
		if (pa->node[i])
			continue;
		pa->node[i] = may_wait ?
			mempool_alloc(bow_range_pool, GFP_NOIO) :
			bow_range_slab_alloc(GFP_NOWAIT | __GFP_NOWARN);
		if (!pa->node[i])
			return -ENOMEM;
	}
	return 0;
}

static void bow_prealloc_free(struct bow_prealloc *pa)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(pa->node); i++) {
		if (pa->node[i])
			bow_range_node_free(pa->node[i]);
		pa->node[i] = NULL;
	}
}

/*
 * Convert under the lock, from the worker or a state change: the nodes it
 * needs come first, waiting for the reserve if need be, so it never fails.
 */
static void bow_convert_locked(struct bow_dev *bd, sector_t start,
			       sector_t end, unsigned int from,
			       enum bow_range_type to)
{
	struct bow_prealloc pa = {};

	bow_prealloc_fill(&pa, true);
	spin_lock(&bd->lock);
	WARN_ON_ONCE(bow_convert(&bd->map, start, end, from, to, &pa));
	bow_low_water_check(bd);
	spin_unlock(&bd->lock);
	bow_prealloc_free(&pa);
}

/* Allocate free space as @type: 0 and *@len > 0, or -ENOSPC. */
static int bow_alloc(struct bow_dev *bd, sector_t max_sectors,
		     enum bow_range_type type, sector_t *dest, sector_t *len)
{
	struct bow_prealloc pa = {};

	bow_prealloc_fill(&pa, true);
	spin_lock(&bd->lock);
	*len = bow_alloc_free(&bd->map, max_sectors, type, dest, &pa,
			      READ_ONCE(debug_alloc_lowest));
	bow_low_water_check(bd);
	spin_unlock(&bd->lock);
	bow_prealloc_free(&pa);
	return *len ? 0 : -ENOSPC;
}

/* Give back space taken by bow_alloc() and not used after all. */
static void bow_unalloc(struct bow_dev *bd, sector_t dest, sector_t len,
			enum bow_range_type type)
{
	bow_convert_locked(bd, dest, dest + len, BOW_TYPE(type), BOW_FREE);
}

static int bow_ranges_init(struct bow_dev *bd)
{
	static const struct {
		enum bow_range_type type;
		bool at_end;
	} layout[] = {
		{ BOW_SECTOR0, false }, { BOW_UNCHANGED, false }, { BOW_TOP, true },
	};
	int i;

	for (i = 0; i < ARRAY_SIZE(layout); i++) {
		struct bow_range *r = bow_range_slab_alloc(GFP_KERNEL);

		if (!r) {
			bow_map_destroy(&bd->map.ranges);
			return -ENOMEM;
		}
		r->type = layout[i].type;
		r->sector = layout[i].at_end ? bd->nr_sectors :
			    i * bd->block_sectors;
		bow_range_insert(&bd->map, r);
	}
	return 0;
}

/* ---------------------------------------------------------------------
 * Synchronous I/O to the lower device, from the worker or a transition.
 */

/*
 * I/O of @count sectors at @sector from or to @buf (vmalloc'ed): waits for
 * it if @fn is NULL, else returns at once and @fn(error, @context) is
 * called when it is done.  Kbuild says whether this tree's dm_io() takes
 * an I/O priority (BOW_DM_IO_IOPRIO).
 */
static int bow_io_notify(struct bow_dev *bd, blk_opf_t opf, sector_t sector,
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

#ifdef BOW_DM_IO_IOPRIO
	return dm_io(&req, 1, &region, NULL, IOPRIO_DEFAULT);
#else
	return dm_io(&req, 1, &region, NULL);
#endif
}

static int bow_io(struct bow_dev *bd, blk_opf_t opf, sector_t sector,
		  sector_t count, void *buf)
{
	return bow_io_notify(bd, opf, sector, count, buf, NULL, NULL);
}

/* Copy @count sectors from @from to @to through the copy buffer. */
static int bow_copy_sync(struct bow_dev *bd, sector_t from, sector_t to,
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

static struct bow_log_header *bow_log_header(struct bow_dev *bd)
{
	return bd->log;
}

static struct bow_log_entry *bow_log_entry(struct bow_dev *bd, u32 i)
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
static void bow_log_set_ext(struct bow_dev *bd)
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
static void bow_log_start(struct bow_dev *bd, u32 sequence, sector_t dest,
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
	h->sector0 = cpu_to_le64(bd->sector0_live);
	bow_log_set_entry(bd, 0, 0, dest, bd->block_size, checksum);
	bd->log_dirty = true;
}

static blk_opf_t bow_durable(void)
{
	return READ_ONCE(debug_skip_flush) ? 0 : REQ_FUA;
}

static blk_opf_t bow_preflush(void)
{
	return READ_ONCE(debug_skip_flush) ? 0 : REQ_PREFLUSH;
}

/*
 * Write units [first, first + count) of block 0 from @buf; asynchronously
 * if @fn is given (see bow_io_notify()).
 */
static int bow_write_units(struct bow_dev *bd, unsigned int first,
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
static int bow_write_block0(struct bow_dev *bd, void *buf)
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
	DMERR_LIMIT("log write failed (%d): further writes fail", r);
	spin_lock(&bd->lock);
	bd->failed = true;
	spin_unlock(&bd->lock);
}

/*
 * Make the log durable, so that a power cut at any instant leaves a valid
 * log in block 0.  The device writes bd->log_unit bytes atomically (its
 * logical block size), so the log is written unit by unit, and only the
 * units that changed: first the units holding new entries, which no
 * header counts yet, then the unit holding the header, the only one that
 * says how many entries count.  The header write carries a PREFLUSH,
 * which makes the new entries and every backup they point at durable
 * before it, and FUA, which makes it durable before the writes it
 * protects are sent: two flushes a commit, however many entries.
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
	blk_opf_t durable = bow_preflush() | bow_durable();
	unsigned int first, last;

	switch (stage) {
	case BOW_COMMIT_FIRST:
		h->count = cpu_to_le32(min(bd->commit_count,
					   bow_log_capacity(bd->log_unit,
							    bd->header_size)));
		return bow_write_units(bd, 0, 1, bd->commit_buf, durable, fn);
	case BOW_COMMIT_ENTRIES:
		bow_commit_entry_units(bd, &first, &last);
		return bow_write_units(bd, first, last - first + 1,
				       bd->commit_buf, 0, fn);
	case BOW_COMMIT_HEADER:
		h->count = cpu_to_le32(bd->commit_count);
		return bow_write_units(bd, 0, 1, bd->commit_buf, durable, fn);
	case BOW_COMMIT_NONE:
		break;
	}
	return -EINVAL;
}

static void bow_freemap_old_release(struct bow_dev *bd);

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
static int bow_log_commit(struct bow_dev *bd)
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
static void bow_ckpt_add(struct bow_dev *bd, sector_t source, sector_t dest,
			 sector_t count);

static int bow_log_append(struct bow_dev *bd, sector_t source, sector_t dest,
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
		r = bow_io(bd, REQ_OP_WRITE, log_copy, bd->block_sectors,
			   bd->log);
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
	bow_ckpt_add(bd, source, dest, count);
	spin_lock(&bd->lock);
	bd->log_entries++;
	bd->backup_sectors += count;
	spin_unlock(&bd->lock);
	return 0;
}

static sector_t bow_bio_end(struct bio *bio, sector_t sector)
{
	return sector + bio_sectors(bio);
}

/*
 * Count a write that is about to be sent down in the current epoch.  A
 * discard in state 1 makes WRITTEN blocks free space for backups again;
 * a write routed to them before must end before a backup may go there.
 * So the discard, in one hold of the lock, frees them and starts a new
 * epoch, and the worker (the only one that allocates) waits for the
 * writes of the old one.  Blocks become WRITTEN only in bow_route(),
 * which counts the write in the same hold of the lock.  A slow write,
 * which the worker sends only after a commit (bow_write_finish()), is
 * counted in no epoch while it waits: bow_prepare_write() makes its
 * blocks CHANGED, WRITTEN ones too, which no discard frees.  A write
 * counted as the epoch changes is counted again in the new one: it was
 * routed after the discard.
 */
static void bow_epoch_enter(struct bow_dev *bd, struct bow_bio *pb)
{
	unsigned int e;

	for (;;) {
		e = READ_ONCE(bd->epoch);
		atomic_inc(&bd->epoch_writes[e]);
		/* Pairs with smp_mb() in bow_route(): see the epoch or wait. */
		smp_mb__after_atomic();
		if (READ_ONCE(bd->epoch) == e)
			break;
		if (atomic_dec_and_test(&bd->epoch_writes[e]))
			wake_up_all(&bd->inflight_wait);
	}
	pb->flags |= BOW_BIO_EPOCH | (e ? BOW_BIO_EPOCH1 : 0);
}

/*
 * Point @bio at @sector of the lower device.  @flags says which in-flight
 * counts it joins: a state change waits for every write and every read of
 * block 0 sent down in states 0 and 1 (BOW_BIO_INFLIGHT), and moving the
 * live block 0 waits for the reads and writes sent to it
 * (BOW_BIO_SECTOR0).
 */
static void bow_remap(struct bow_dev *bd, struct bio *bio, sector_t sector,
		      unsigned int flags)
{
	struct bow_bio *pb = dm_per_bio_data(bio, sizeof(struct bow_bio));

	if ((flags & BOW_BIO_INFLIGHT) && op_is_write(bio_op(bio)) &&
	    !(pb->flags & BOW_BIO_EPOCH))
		bow_epoch_enter(bd, pb);
	pb->flags |= flags;
	if (flags & BOW_BIO_INFLIGHT)
		atomic_inc(&bd->inflight);
	if (flags & BOW_BIO_SECTOR0)
		atomic_inc(&bd->sector0_io);
	bio_set_dev(bio, bd->bdev);
	bio->bi_iter.bi_sector = sector;
}

enum bow_route {
	BOW_ROUTE_REMAPPED,	/* send it down */
	BOW_ROUTE_SLOW,		/* the worker must protect old data first */
	BOW_ROUTE_DEFER,	/* map() cannot route it now: the worker will */
	BOW_ROUTE_HELD,		/* queued until a state change is over */
	BOW_ROUTE_DONE,		/* completed here */
	BOW_ROUTE_DRAIN,	/* a discard: end it once the old epoch has */
};

/* State 2, and reads that need no redirection: straight down. */
static enum bow_route bow_route_passthrough(struct bow_dev *bd,
					    struct bio *bio, sector_t sector)
{
	if (bio_op(bio) == REQ_OP_DISCARD &&
	    !bdev_max_discard_sectors(bd->bdev)) {
		bio_endio(bio);
		return BOW_ROUTE_DONE;
	}
	bow_remap(bd, bio, sector, 0);
	return BOW_ROUTE_REMAPPED;
}

/*
 * Decide what to do with a bio, and do it when that needs no I/O.  Runs
 * from map() and, for bios that had to wait, from the worker (@worker),
 * which may wait for memory where map() leaves the bio to the worker.
 */
static enum bow_route bow_route(struct bow_dev *bd, struct bio *bio,
				sector_t sector, bool worker)
{
	struct bow_prealloc pa = {};
	enum bow_route route;
	sector_t end = bow_bio_end(bio, sector);
	sector_t bs = bd->block_sectors;
	sector_t start_blk, end_blk;
	bool is_write = op_is_write(bio_op(bio));
	bool in_sector0 = sector < bs;
	bool have_nodes = false;
	int r;

	/* Half rolled back: nothing on the device is what it claims. */
	if (unlikely(READ_ONCE(bd->rollback_begun))) {
		bio_io_error(bio);
		return BOW_ROUTE_DONE;
	}
	/*
	 * Reads away from block 0 need nothing from the range map, and
	 * state 2 is final: neither takes the lock, but during a state
	 * change, which holds them (a rollback rewrites the device).
	 */
	if (!READ_ONCE(bd->transition) &&
	    ((!is_write && !in_sector0) ||
	     READ_ONCE(bd->state) == BOW_STATE_COMMITTED))
		return bow_route_passthrough(bd, bio, sector);

again:
	route = BOW_ROUTE_REMAPPED;
	if (bio_op(bio) == REQ_OP_DISCARD) {
		/* A discard covers whole blocks only, never block 0. */
		start_blk = max(round_up(sector, bs), bs);
		end_blk = round_down(end, bs);
	} else {
		start_blk = round_down(sector, bs);
		end_blk = round_up(end, bs);
	}
	r = 0;
	spin_lock(&bd->lock);
	if (bd->transition) {
		bio_list_add(&bd->held, bio);
		route = BOW_ROUTE_HELD;
		goto unlock;
	}

	/*
	 * A range map update needs nodes, allocated without the lock: when
	 * one turns out to be needed, they are, and the bio routed again.
	 * Most writes change no range (rewrites of blocks already changed
	 * in state 1, of blocks in use in state 0) and allocate nothing.
	 */
	switch (bd->state) {
	case BOW_STATE_TRIM:
		if (bio_op(bio) == REQ_OP_DISCARD) {
			route = BOW_ROUTE_DONE;
			if (start_blk < end_blk) {
				if (!have_nodes)
					goto fill;
				r = bow_convert(&bd->map, start_blk, end_blk,
						BOW_TYPE(BOW_UNCHANGED),
						BOW_FREE, &pa);
			}
		} else if (is_write && !in_sector0 &&
			   !bow_range_all(&bd->map, start_blk, end_blk,
					  BOW_TYPE(BOW_UNCHANGED))) {
			if (!have_nodes)
				goto fill;
			r = bow_convert(&bd->map, start_blk, end_blk,
					BOW_TYPE(BOW_FREE), BOW_UNCHANGED, &pa);
		}
		if (route == BOW_ROUTE_REMAPPED && !r)
			bow_remap(bd, bio, sector, BOW_BIO_INFLIGHT);
		break;

	case BOW_STATE_CHECKPOINT:
		if (!is_write && !in_sector0) {
			/* Held by a state change, then let go. */
			bow_remap(bd, bio, sector, 0);
		} else if (bio_op(bio) == REQ_OP_DISCARD) {
			/*
			 * Never passed down: discarded blocks may hold backups.
			 * Blocks free at the checkpoint and written since, in
			 * no entry, are free space for backups again; only the
			 * worker frees them (bow_epoch_enter()).  Not a source
			 * (CHANGED): see "Discards" in the documentation.
			 */
			route = BOW_ROUTE_DONE;
			if (start_blk >= end_blk || bd->failed ||
			    bow_range_all(&bd->map, start_blk, end_blk,
					  ~BOW_TYPE(BOW_WRITTEN)))
				break;
			if (!worker) {
				route = BOW_ROUTE_DEFER;
				break;
			}
			if (!have_nodes)
				goto fill;
			r = bow_convert(&bd->map, start_blk, end_blk,
					BOW_TYPE(BOW_WRITTEN), BOW_FREE, &pa);
			bow_low_water_check(bd);
			if (!r) {
				WRITE_ONCE(bd->epoch, !bd->epoch);
				/* Pairs with bow_epoch_enter(). */
				smp_mb();
				route = BOW_ROUTE_DRAIN;
			}
		} else if (in_sector0) {
			if (is_write)
				route = BOW_ROUTE_SLOW;
			else if (bd->sector0_moving)
				route = BOW_ROUTE_DEFER;
			else
				bow_remap(bd, bio, bd->sector0_live + sector,
					  BOW_BIO_INFLIGHT | BOW_BIO_SECTOR0);
		} else if (bd->failed) {
			r = -EIO;
		} else if (bow_range_all(&bd->map, start_blk, end_blk,
					 BOW_TYPE(BOW_CHANGED) |
					 BOW_TYPE(BOW_WRITTEN))) {
			bow_remap(bd, bio, sector, BOW_BIO_INFLIGHT);
		} else if (bow_range_all(&bd->map, start_blk, end_blk,
					 BOW_TYPE(BOW_CHANGED) |
					 BOW_TYPE(BOW_WRITTEN) |
					 BOW_TYPE(BOW_FREE))) {
			if (!have_nodes)
				goto fill;
			r = bow_convert(&bd->map, start_blk, end_blk,
					BOW_TYPE(BOW_FREE), BOW_WRITTEN, &pa);
			bow_low_water_check(bd);
			if (!r)
				bow_remap(bd, bio, sector, BOW_BIO_INFLIGHT);
		} else {
			route = BOW_ROUTE_SLOW;
		}
		break;

	case BOW_STATE_COMMITTED:
		/* Committed since the unlocked look above. */
		spin_unlock(&bd->lock);
		bow_prealloc_free(&pa);
		return bow_route_passthrough(bd, bio, sector);
	}
unlock:
	spin_unlock(&bd->lock);
	bow_prealloc_free(&pa);
	if (r) {
		bio->bi_status = errno_to_blk_status(r);
		route = BOW_ROUTE_DONE;
	}
	if (route == BOW_ROUTE_DONE)
		bio_endio(bio);
	return route;

fill:
	spin_unlock(&bd->lock);
	if (bow_prealloc_fill(&pa, worker)) {
		bow_prealloc_free(&pa);
		return BOW_ROUTE_DEFER;
	}
	have_nodes = true;
	goto again;
}

/* The block-rounded extent of a deferred write (bi_sector not remapped). */
static void bow_bio_blocks(struct bow_dev *bd, struct bio *bio,
			   sector_t *start, sector_t *end)
{
	sector_t sector = bio->bi_iter.bi_sector;

	*start = round_down(sector, bd->block_sectors);
	*end = round_up(bow_bio_end(bio, sector), bd->block_sectors);
}

static void bow_defer(struct bow_dev *bd, struct bio *bio)
{
	spin_lock(&bd->lock);
	bio_list_add(&bd->deferred, bio);
	spin_unlock(&bd->lock);
	queue_work(bd->wq, &bd->work);
}

/*
 * Send a slow-path write down once the log that protects it is durable
 * (@r is 0), or fail it.
 *
 * Its blocks are then CHANGED or BACKING, and BACKING blocks are those of
 * copies logged before it, durable now, unless a copy failed since it was
 * planned: a failed copy puts its blocks back as they were, and may be a
 * copy this write waited for, or a later one over blocks that an earlier
 * failure put back.  Such a write is planned again instead.  A failed one
 * leaves its blocks BACKING: the next write to them waits for a commit
 * and changes them, where changing them here might change the blocks of
 * a copy in flight.
 */
static void bow_write_finish(struct bow_dev *bd, struct bio *bio, int r)
{
	struct bow_bio *pb = dm_per_bio_data(bio, sizeof(*pb));
	sector_t sector = bio->bi_iter.bi_sector, start, end;
	unsigned int flags = BOW_BIO_INFLIGHT;

	if (!r)
		r = pb->error;
	if (!r && sector >= bd->block_sectors) {
		if (pb->failures != bd->copy_failures) {
			bow_defer(bd, bio);
			return;
		}
		bow_bio_blocks(bd, bio, &start, &end);
		bow_convert_locked(bd, start, end, BOW_TYPE(BOW_BACKING),
				   BOW_CHANGED);
	}
	if (r) {
		if (r == -ENOSPC) {
			spin_lock(&bd->lock);
			bd->enospc_writes++;
			spin_unlock(&bd->lock);
		}
		bio->bi_status = errno_to_blk_status(r);
		bio_endio(bio);
		return;
	}
	if (sector < bd->block_sectors) {
		spin_lock(&bd->lock);
		sector += bd->sector0_live;
		bd->sector0_written = true;
		spin_unlock(&bd->lock);
		flags |= BOW_BIO_SECTOR0;
	}
	bow_remap(bd, bio, sector, flags);
	dm_submit_bio_remap(bio, NULL);
}

/* Send the writes of @bios down (@r is 0) or fail them. */
static void bow_ckpt_sync(struct bow_dev *bd);

static void bow_release(struct bow_dev *bd, struct bio_list *bios, int r)
{
	struct bio *bio;

	/* They overwrite old data: no checkpoint device may be reading it. */
	if (!r && !bio_list_empty(bios))
		bow_ckpt_sync(bd);

	while ((bio = bio_list_pop(bios))) {
		bow_write_finish(bd, bio, r);
		if (atomic_dec_and_test(&bd->pipeline_bios))
			wake_up_all(&bd->inflight_wait);
	}
}

/* ---------------------------------------------------------------------
 * The state 1 write path, run by the worker.
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

/* Wake the worker: from the end of an I/O, or for an event of its own. */
static void bow_kick(struct bow_dev *bd)
{
	queue_work(bd->wq, &bd->work);
	wake_up(&bd->event_wait);
}

/* The last touch of @bd by the end of an async I/O (see bow_dev_free()). */
static void bow_io_end(struct bow_dev *bd)
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
	llist_add(&c->event, &bd->copy_events);
	bow_kick(bd);
	bow_io_end(bd);
}

/* Send the read of @c, or its write once the read is done. */
static void bow_copy_submit(struct bow_dev *bd, struct bow_copy *c)
{
	enum req_op op = c->writing ? REQ_OP_WRITE : REQ_OP_READ;

	atomic_inc(&bd->io_pending);
	if (bow_io_notify(bd, op, c->writing ? c->dest : c->source, c->len,
			  c->buf, bow_copy_endio, c)) {
		atomic_dec(&bd->io_pending);
		c->error = -EIO;
		llist_add(&c->event, &bd->copy_events);
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
		bow_convert_locked(bd, c->source, c->source + c->len,
				   BOW_TYPE(BOW_BACKING), c->type);
		bow_unalloc(bd, c->dest, c->len, BOW_BACKUP);
		bd->copy_failures++;
		if (!pb->error)
			pb->error = r;
	}
	list_del(&c->list);
	bow_copy_buf_put(bd, c - bd->copies, c->units);
}

static void bow_commit_endio(unsigned long error, void *context)
{
	struct bow_dev *bd = context;

	if (error)
		bd->commit_error = -EIO;
	/* The worker's test_and_clear_bit() pairs with this. */
	smp_mb__before_atomic();
	set_bit(BOW_EVENT_COMMIT, &bd->events);
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
static void bow_commit_step(struct bow_dev *bd)
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
static void bow_commit_maybe(struct bow_dev *bd)
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
	r = bd->failed ? -EIO : 0;
	spin_unlock(&bd->lock);
	if (r || !bd->log_dirty) {
		bow_release(bd, &bd->committing, r);
		return;
	}
	bow_commit_prepare(bd);
	bow_commit_advance(bd, bow_commit_next(bd, BOW_COMMIT_NONE), 0);
}

static bool bow_has_events(struct bow_dev *bd)
{
	return !llist_empty(&bd->copy_events) ||
	       test_bit(BOW_EVENT_COMMIT, &bd->events);
}

static int bow_copy_cmp_dest(void *priv, const struct list_head *a,
			     const struct list_head *b)
{
	sector_t da = list_entry(a, struct bow_copy, read_done)->dest;
	sector_t db = list_entry(b, struct bow_copy, read_done)->dest;

	return da < db ? -1 : da > db;
}

/* Handle every I/O that has ended, then start a commit if one is due. */
static void bow_events(struct bow_dev *bd)
{
	struct llist_node *ended = llist_del_all(&bd->copy_events);
	struct bow_copy *c, *next;
	LIST_HEAD(read_done);

	/* In the order the I/O ended. */
	llist_for_each_entry_safe(c, next, llist_reverse_order(ended), event) {
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
	if (test_and_clear_bit(BOW_EVENT_COMMIT, &bd->events))
		bow_commit_step(bd);
	bow_commit_maybe(bd);
}

/* Wait for some I/O to end, and handle it. */
static void bow_wait_events(struct bow_dev *bd)
{
	io_wait_event(bd->event_wait, bow_has_events(bd));
	bow_events(bd);
}

/* Wait until every copy planned so far is logged. */
static void bow_drain_copies(struct bow_dev *bd)
{
	while (!list_empty(&bd->copying))
		bow_wait_events(bd);
}

/*
 * Wait until every copy planned so far is logged and no commit is in
 * flight: the writes a commit protects are sent when it ends, those to
 * block 0 to the live block 0 of that moment.
 */
static void bow_drain_commits(struct bow_dev *bd)
{
	while (!list_empty(&bd->copying) ||
	       bd->commit_stage != BOW_COMMIT_NONE)
		bow_wait_events(bd);
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
		bow_wait_events(bd);
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
static int bow_backup(struct bow_dev *bd, struct bio *bio, sector_t start,
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
		bow_convert_locked(bd, start, start + len, BOW_TYPE(type),
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

static void bow_freemap_free(struct bow_dev *bd)
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
	u32 nr = 0, i = 0;

	/*
	 * A transition: bios are held and the worker is idle, so nothing
	 * but this state change touches the map, and it is walked without
	 * the lock (a long walk must not hold a spinlock).
	 */
	for (n = rb_first(&bd->map.free); n; n = rb_next(n))
		nr++;
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
		bow_convert_locked(bd, chain[i], chain[i] + bd->block_sectors,
				   BOW_TYPE(BOW_FREEMAP), to);
}

/*
 * Write the map into new blocks of free space, through the copy buffer
 * (free: no copy is in flight).  Not durable yet: the log commit that
 * makes the header point at it flushes it first.  On success the chain
 * is bd->freemap_chain (the caller lets the old one go); on failure
 * nothing changed.
 */
static int bow_freemap_write(struct bow_dev *bd)
{
	u32 cap = bow_freemap_capacity(bd->block_size), i, first, count;
	u32 blocks = DIV_ROUND_UP(bd->freemap_ranges, cap);
	unsigned int noio;
	sector_t *chain, len;
	int r = 0;

	/* From the worker too: no I/O to reclaim this memory. */
	noio = memalloc_noio_save();
	chain = kvmalloc_array(max(blocks, 1u), sizeof(*chain), GFP_KERNEL);
	memalloc_noio_restore(noio);
	if (!chain)
		return -ENOMEM;
	for (i = 0; i < blocks && !r; i++) {
		r = bow_alloc(bd, bd->block_sectors, BOW_FREEMAP, &chain[i],
			      &len);
		if (r)
			blocks = i;
	}
	for (i = 0; i < blocks && !r; i++) {
		struct bow_freemap_header *h = bd->copy_buf;

		first = i * cap;
		count = min(cap, bd->freemap_ranges - first);
		memset(bd->copy_buf, 0, bd->block_size);
		h->magic = cpu_to_le32(BOW_FREEMAP_MAGIC);
		h->checkpoint_id = cpu_to_le64(bd->checkpoint_id);
		h->index = cpu_to_le32(i);
		h->count = cpu_to_le32(count);
		h->next = cpu_to_le64(i + 1 < blocks ? chain[i + 1] : 0);
		memcpy(h + 1, bd->freemap + first, count * sizeof(*bd->freemap));
		h->checksum = cpu_to_le32(crc32(BOW_FREEMAP_MAGIC, bd->copy_buf,
						bd->block_size));
		r = bow_io(bd, REQ_OP_WRITE, chain[i], bd->block_sectors,
			   bd->copy_buf);
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
static int bow_move_freemap(struct bow_dev *bd)
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
static void bow_freemap_old_release(struct bow_dev *bd)
{
	u32 i;

	for (i = 0; i < bd->freemap_old_blocks; i++) {
		sector_t b = bd->freemap_old[i];

		if (!bow_bios_write(bd, &bd->waiting, b) &&
		    !bow_bios_write(bd, &bd->committing, b))
			bow_convert_locked(bd, b, b + bd->block_sectors,
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
static int bow_move_sector0(struct bow_dev *bd)
{
	struct bow_prealloc pa = {};
	sector_t old = bd->sector0_live, new, len;
	int r;

	bow_drain_commits(bd);
	r = bow_alloc(bd, bd->block_sectors, BOW_SECTOR0_LIVE, &new, &len);
	if (r)
		return r;
	/* For the conversion of the old place, which must not wait. */
	bow_prealloc_fill(&pa, true);
	spin_lock(&bd->lock);
	bd->sector0_moving = true;
	spin_unlock(&bd->lock);
	wait_event(bd->inflight_wait, !atomic_read(&bd->sector0_io));
	r = bow_copy_sync(bd, old, new, len, NULL, 0);
	spin_lock(&bd->lock);
	if (!r) {
		bd->sector0_live = new;
		WARN_ON_ONCE(bow_convert(&bd->map, old, old + len,
					 BOW_TYPE(BOW_SECTOR0_LIVE),
					 BOW_BACKING, &pa));
	}
	bd->sector0_moving = false;
	spin_unlock(&bd->lock);
	bow_prealloc_free(&pa);
	if (r) {
		bow_unalloc(bd, new, len, BOW_SECTOR0_LIVE);
		return r;
	}
	bow_log_header(bd)->sector0 = cpu_to_le64(new);
	bd->log_dirty = true;
	return 0;
}

/* Plan what protects the checkpoint's data in [start, end) from @bio. */
static int bow_prepare_write(struct bow_dev *bd, struct bio *bio,
			     sector_t start, sector_t end)
{
	sector_t pos = start;
	int r = 0;

	/*
	 * Free space under the write is not needed: never back up into it.
	 * Its blocks free at the checkpoint, free or written since, become
	 * CHANGED, not WRITTEN: the write is sent later, not counted in an
	 * epoch meanwhile, so a discard must not make them free space for a
	 * backup that the write would then destroy (see bow_epoch_enter()).
	 */
	bow_convert_locked(bd, start, end,
			   BOW_TYPE(BOW_FREE) | BOW_TYPE(BOW_WRITTEN),
			   BOW_CHANGED);
	while (!r && pos < end) {
		struct bow_range *range;
		enum bow_range_type type;
		sector_t next;

		spin_lock(&bd->lock);
		range = bow_range_find(&bd->map, pos);
		type = range->type;
		next = min(bow_range_end(range), end);
		spin_unlock(&bd->lock);

		switch (type) {
		case BOW_CHANGED:
		case BOW_BACKING:
			break;
		case BOW_FREE:
			/* The destination of a copy that failed, given back. */
			bow_convert_locked(bd, pos, next, BOW_TYPE(BOW_FREE),
					   BOW_CHANGED);
			break;
		case BOW_BACKUP:
			/*
			 * It may be the destination of a copy in flight: let
			 * those end, then look again (a failed one gives its
			 * destination back).
			 */
			if (!list_empty(&bd->copying)) {
				bow_drain_copies(bd);
				continue;
			}
			fallthrough;
		case BOW_UNCHANGED:
			r = bow_backup(bd, bio, pos, next, type);
			if (!r && type == BOW_BACKUP) {
				/* The file system took space a backup was in. */
				spin_lock(&bd->lock);
				bd->moved_sectors += next - pos;
				spin_unlock(&bd->lock);
			}
			break;
		case BOW_SECTOR0_LIVE:
			r = bow_move_sector0(bd);
			break;
		case BOW_FREEMAP:
			r = bow_move_freemap(bd);
			break;
		default:
			WARN_ON_ONCE(1);
			r = -EIO;
		}
		pos = next;
	}
	return r;
}

/* Route a batch: send down what needs nothing, plan the slow writes. */
static void bow_batch_prepare(struct bow_dev *bd, struct bio_list *batch)
{
	atomic_t *old_epoch;
	struct bio *bio;
	int r;

	while ((bio = bio_list_pop(batch))) {
		struct bow_bio *pb = dm_per_bio_data(bio, sizeof(*pb));
		sector_t start, end;

		switch (bow_route(bd, bio, bio->bi_iter.bi_sector, true)) {
		case BOW_ROUTE_REMAPPED:
			dm_submit_bio_remap(bio, NULL);
			break;
		case BOW_ROUTE_DEFER:
			/* Only map() defers: the worker waits for memory. */
			WARN_ON_ONCE(1);
			bow_defer(bd, bio);
			break;
		case BOW_ROUTE_SLOW:
			atomic_inc(&bd->pipeline_bios);
			/* A copy that fails sets pb->error too. */
			pb->error = 0;
			pb->failures = bd->copy_failures;
			bow_bio_blocks(bd, bio, &start, &end);
			r = bio->bi_iter.bi_sector < bd->block_sectors ? 0 :
			    bow_prepare_write(bd, bio, start, end);
			if (r && !pb->error)
				pb->error = r;
			pb->horizon = bd->copy_seq;
			bio_list_add(&bd->waiting, bio);
			break;
		case BOW_ROUTE_DRAIN:
			/* No backup goes to the blocks freed before this. */
			old_epoch = &bd->epoch_writes[!READ_ONCE(bd->epoch)];
			wait_event(bd->inflight_wait, !atomic_read(old_epoch));
			bio_endio(bio);
			break;
		case BOW_ROUTE_HELD:
		case BOW_ROUTE_DONE:
			break;
		}
		cond_resched();
	}
}

/*
 * Runs whenever I/O of the write path ends or writes are deferred, and
 * returns once it has handled all of it: it never waits for a commit.
 */
static void bow_worker(struct work_struct *work)
{
	struct bow_dev *bd = container_of(work, struct bow_dev, work);
	struct blk_plug plug;

	/* Send the reads, writes and released writes of a run together. */
	blk_start_plug(&plug);
	for (;;) {
		struct bio_list batch;

		bow_events(bd);
		spin_lock(&bd->lock);
		batch = bd->deferred;
		bio_list_init(&bd->deferred);
		spin_unlock(&bd->lock);
		if (bio_list_empty(&batch))
			break;
		bow_batch_prepare(bd, &batch);
	}
	blk_finish_plug(&plug);
}

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
	r = bow_alloc(bd, bd->block_sectors, BOW_SECTOR0_LIVE, &live,
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
	bd->sector0_live = live;
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
	bd->sector0_written = false;
	spin_unlock(&bd->lock);
	return 0;

put_block0:
	/* copy_buf still holds the file system's block 0. */
	if (bow_write_block0(bd, bd->copy_buf))
		DMERR("cannot restore block 0 after a failed log write");
	spin_lock(&bd->lock);
	bd->failed = false;
	spin_unlock(&bd->lock);
free_live:
	bow_freemap_chain_convert(bd, bd->freemap_chain, bd->freemap_blocks,
				  BOW_FREE);
	bow_unalloc(bd, live, live_len, BOW_SECTOR0_LIVE);
free_backup:
	bow_unalloc(bd, backup, backup_len, BOW_BACKUP);
free_map:
	bow_freemap_free(bd);
	return r;
}

/* The log is gone from block 0: forget the checkpoint, for state 2. */
static void bow_drop_checkpoint(struct bow_dev *bd)
{
	struct rb_root ranges;

	spin_lock(&bd->lock);
	/* A failed log write no longer matters: there is no log. */
	bd->failed = false;
	bd->rollback_begun = false;
	ranges = bd->map.ranges;
	bd->map.ranges = RB_ROOT;
	bd->map.free = RB_ROOT;
	bd->map.free_sectors = 0;
	bd->backup_sectors = 0;
	bd->moved_sectors = 0;
	bd->log_entries = 0;
	bd->log_blocks = 0;
	bd->log_commits = 0;
	bd->enospc_writes = 0;
	spin_unlock(&bd->lock);
	/* State 2 needs no map; a big one is freed outside the lock. */
	bow_map_destroy(&ranges);
	bow_freemap_free(bd);
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

	r = bow_io(bd, REQ_OP_READ, bd->sector0_live, bd->block_sectors,
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
		bd->failed = true;
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
static unsigned int bow_transition_begin(struct bow_dev *bd)
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
	wait_event(bd->inflight_wait, !atomic_read(&bd->ckpt_reads[0]) &&
		   !atomic_read(&bd->ckpt_reads[1]));
	return noio;
}

/*
 * Enter @new_state unless the change failed (@r), and let bios go; @noio
 * is what bow_transition_begin() returned.
 */
static void bow_transition_end(struct bow_dev *bd, int r,
			       enum bow_state new_state, unsigned int noio)
{
	struct bio_list held;

	spin_lock(&bd->lock);
	if (!r && new_state != bd->state) {
		WRITE_ONCE(bd->state, new_state);
		bow_low_water_check(bd);
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

static int bow_set_state(struct bow_dev *bd, unsigned int new_state)
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
		   new_state <= BOW_STATE_COMMITTED && !bd->rollback_begun) {
		noio = bow_transition_begin(bd);
		r = new_state == BOW_STATE_CHECKPOINT ? bow_checkpoint(bd) :
							bow_commit(bd);
		bow_transition_end(bd, r, new_state, noio);
	}
	mutex_unlock(&bd->state_mutex);
	return r;
}

static void bow_event_work(struct work_struct *work)
{
	struct bow_dev *bd = container_of(work, struct bow_dev, event_work);
	struct dm_target *ti;

	/* A table's destructor waits for this work before it goes. */
	spin_lock(&bd->lock);
	ti = bd->live_ti;
	spin_unlock(&bd->lock);
	if (ti) {
		DMINFO("%pg: free space below low_water", bd->bdev);
		dm_table_event(ti->table);
	}
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

static struct kobj_type bow_ktype = {
	.sysfs_ops = &bow_sysfs_ops,
	.default_groups = bow_groups,
	.release = bow_kobj_release,
};

/* ---------------------------------------------------------------------
 * Resuming a live log: the "resume" feature.
 *
 * The log is checked as bow-restore checks it, by the rules of
 * Documentation/dm-bow.rst, "Replay": the chain is walked newest first,
 * every field checked, and its replay simulated without writing a byte.
 * The simulation keeps, for each block the replay would write, the block
 * that holds now what it would receive; every backup is read through it
 * and checksummed.  Then the free-space map is read, and the range map
 * rebuilt from both (bow_resume_rebuild()): nothing is free until a
 * discard frees WRITTEN blocks.
 */

/* Blocks [start, start + len) of the simulated device show [phys, ...). */
struct bow_vext {
	struct rb_node node;
	u64 start;
	u64 len;
	u64 phys;
};

/* One entry, in blocks, and where it is in the chain. */
struct bow_resume_entry {
	u64 source;
	u64 dest;
	u64 blocks;
	u32 checksum;
	u32 sequence;		/* of its log block */
	u32 index;		/* in its log block */
};

struct bow_resume {
	struct bow_dev *bd;
	const char *what;	/* "cannot resume", "cannot roll back" */
	unsigned int flags;	/* BOW_WALK_* */
	u64 dev_blocks;
	u64 budget;		/* blocks the chain may still back up */
	struct rb_root map;	/* the simulated device: where its bytes are */
	struct rb_root read;	/* backups the replay has read (phys unused) */
	struct bow_resume_entry *entries;	/* newest first */
	u64 nr_entries;
	u64 cap_entries;
	u32 nr_logs;
	void *block;		/* the log block being checked */
	u64 freemap;		/* the extension's: first block of the map */
	u32 freemap_blocks;
	u64 backed_up;		/* blocks, all entries */
	u64 vext_nodes;		/* in map and read: see bow_resume_charge() */
	u64 map_ranges;		/* of the free-space map, read so far */
	u64 map_cap;		/* bd->freemap's room, in ranges */
	u64 mem_max;		/* bytes: see bow_resume_charge() */
};

/* Flags of bow_log_walk(). */
#define BOW_WALK_NO_DATA	BIT(0)	/* walk the chain, read no backup */
#define BOW_WALK_RESTORING	BIT(1)	/* block 0 may hold a restore begun */

#define BOW_RESUME_GFP	(GFP_KERNEL | __GFP_NOWARN | __GFP_RETRY_MAYFAIL)

/* A log that does not validate: say why, in the kernel log. */
#define bow_resume_bad(rs, fmt, ...)					\
	({								\
		const struct bow_resume *rs_ = (rs);			\
									\
		DMERR("%pg: %s: " fmt, rs_->bd->bdev, rs_->what,	\
		      ##__VA_ARGS__);					\
		-EINVAL;						\
	})

/*
 * The memory a disk decides.  A log and a free-space map are bounded by
 * the device's size alone: a crafted or damaged one (one-block ranges
 * over a large device, entries whose backups need not even be read)
 * would ask the constructor, at boot, for more than the machine has.
 * What a walk holds (the entries, the simulated device's extents, the
 * map) and what the range map, or bow-checkpoint's index, will take for
 * them (two nodes a range or a chain block, four an entry, two extents
 * of the index an entry) stay under
 * an eighth of RAM: past it the walk is refused, before it takes the
 * memory, and the device is restored offline (bow-restore does not read
 * the map).  @extra: bytes about to be allocated beside what is held.
 */
#define BOW_RESUME_RAM_SHIFT	3

static int bow_resume_charge(struct bow_resume *rs, u64 extra)
{
	u64 nodes = 4 * rs->nr_entries + 2 * rs->map_ranges +
		    2 * (u64)rs->freemap_blocks + 2;
	u64 need = extra +
		   rs->cap_entries * sizeof(struct bow_resume_entry) +
		   (rs->vext_nodes + 2 * rs->nr_entries) *
		   sizeof(struct bow_vext) +
		   rs->map_cap * sizeof(struct bow_freemap_range) +
		   nodes * sizeof(struct bow_range);

	if (need <= rs->mem_max)
		return 0;
	bow_resume_bad(rs,
		       "%llu entries and %llu free ranges read so far need more than %llu KiB, the limit (an eighth of RAM): restore the device offline",
		       rs->nr_entries, rs->map_ranges, rs->mem_max >> 10);
	return -E2BIG;
}

static u64 bow_resume_mem_max(void)
{
	u64 kib = READ_ONCE(debug_resume_mem_kb);

	if (kib)
		return kib << 10;
	return ((u64)totalram_pages() << PAGE_SHIFT) >> BOW_RESUME_RAM_SHIFT;
}

static bool bow_vext_less(struct rb_node *a, const struct rb_node *b)
{
	return rb_entry(a, struct bow_vext, node)->start <
	       rb_entry(b, struct bow_vext, node)->start;
}

/* The extent holding block @b, or else the first after it, or NULL. */
static struct bow_vext *bow_vext_find(struct rb_root *root, u64 b)
{
	struct rb_node *n = root->rb_node;
	struct bow_vext *after = NULL;

	while (n) {
		struct bow_vext *e = rb_entry(n, struct bow_vext, node);

		if (b < e->start) {
			after = e;
			n = n->rb_left;
		} else if (b - e->start >= e->len) {
			n = n->rb_right;
		} else {
			return e;
		}
	}
	return after;
}

static struct bow_vext *bow_vext_next(struct bow_vext *e)
{
	struct rb_node *n = rb_next(&e->node);

	return n ? rb_entry(n, struct bow_vext, node) : NULL;
}

/* Where block @b's bytes are, and for how many blocks on (*@run) alike. */
static u64 bow_vext_lookup(struct rb_root *root, u64 b, u64 *run)
{
	struct bow_vext *e = bow_vext_find(root, b);

	if (e && e->start <= b) {
		*run = e->len - (b - e->start);
		return e->phys + (b - e->start);
	}
	*run = e ? e->start - b : U64_MAX - b;
	return b;
}

/* True if any of [start, start + len) is in @root. */
static bool bow_vext_overlaps(struct rb_root *root, u64 start, u64 len)
{
	struct bow_vext *e = bow_vext_find(root, start);

	return e && e->start < start + len;
}

/*
 * Make blocks [start, start + len) show [phys, phys + len); *@nodes
 * counts the extents of @root.
 */
static int bow_vext_assign(struct rb_root *root, u64 start, u64 len, u64 phys,
			   u64 *nodes)
{
	struct bow_vext *e = bow_vext_find(root, start), *prev, *new;
	u64 end = start + len;

	new = kmalloc(sizeof(*new), BOW_RESUME_GFP);
	if (!new)
		return -ENOMEM;
	(*nodes)++;
	/* One extent across the whole range: its tail becomes @new's. */
	if (e && e->start < start && e->start + e->len > end) {
		struct bow_vext *tail = kmalloc(sizeof(*tail), BOW_RESUME_GFP);

		if (!tail) {
			kfree(new);
			(*nodes)--;
			return -ENOMEM;
		}
		(*nodes)++;
		tail->start = end;
		tail->len = e->start + e->len - end;
		tail->phys = e->phys + (end - e->start);
		e->len = start - e->start;
		rb_add(&tail->node, root, bow_vext_less);
		e = tail;
	}
	while (e && e->start < end) {
		struct bow_vext *next = bow_vext_next(e);
		u64 e_end = e->start + e->len;

		if (e->start < start) {
			e->len = start - e->start;
		} else if (e_end > end) {
			e->phys += end - e->start;
			e->len = e_end - end;
			e->start = end;
		} else {
			rb_erase(&e->node, root);
			kfree(e);
			(*nodes)--;
		}
		e = next;
	}
	new->start = start;
	new->len = len;
	new->phys = phys;
	rb_add(&new->node, root, bow_vext_less);
	/* Backups are allocated next to each other: keep the tree small. */
	prev = rb_prev(&new->node) ?
	       rb_entry(rb_prev(&new->node), struct bow_vext, node) : NULL;
	if (prev && prev->start + prev->len == start &&
	    prev->phys + prev->len == phys) {
		prev->len += len;
		rb_erase(&new->node, root);
		kfree(new);
		(*nodes)--;
	}
	return 0;
}

static void bow_vext_destroy(struct rb_root *root)
{
	struct bow_vext *e, *tmp;

	rbtree_postorder_for_each_entry_safe(e, tmp, root, node) {
		kfree(e);
		cond_resched();
	}
	*root = RB_ROOT;
}

/* Read @n blocks of the simulated device from block @b into @buf. */
static int bow_resume_read(struct bow_resume *rs, u64 b, u64 n, void *buf)
{
	struct bow_dev *bd = rs->bd;
	unsigned int shift = bd->block_shift;

	while (n) {
		u64 run, phys = bow_vext_lookup(&rs->map, b, &run);
		int r;

		run = min(run, n);
		r = bow_io(bd, REQ_OP_READ, phys << shift, run << shift, buf);
		if (r) {
			DMERR("%pg: %s: read error at sector %llu",
			      bd->bdev, rs->what, phys << shift);
			return r;
		}
		buf += run << (shift + SECTOR_SHIFT);
		b += run;
		n -= run;
	}
	return 0;
}

/*
 * Check the header of the log block in rs->block: the newest (@first,
 * from block 0 itself) or the one with sequence @expect.
 */
static int bow_resume_header(struct bow_resume *rs, bool first, u32 expect,
			     u32 *count, u32 *sequence, u32 *header_size)
{
	struct bow_log_header *h = rs->block;
	struct bow_dev *bd = rs->bd;
	u64 sector0 = le64_to_cpu(h->sector0);

	/* A rollback finishes one begun before: block 0 is marked so. */
	if (le32_to_cpu(h->magic) != BOW_MAGIC &&
	    !(first && (rs->flags & BOW_WALK_RESTORING) &&
	      le32_to_cpu(h->magic) == BOW_VOLD_PARTIAL_MAGIC))
		return bow_resume_bad(rs, "log block sequence %u has magic 0x%08x, expected 0x%08x",
				      expect, le32_to_cpu(h->magic), BOW_MAGIC);
	*sequence = le32_to_cpu(h->sequence);
	if (le16_to_cpu(h->header_version) != BOW_HEADER_VERSION)
		return bow_resume_bad(rs,
				      "log block sequence %u: header_version 0x%04x, expected 0x%04x",
				      *sequence, le16_to_cpu(h->header_version),
				      BOW_HEADER_VERSION);
	if (le32_to_cpu(h->block_size) != bd->block_size)
		return bow_resume_bad(rs, "log block sequence %u: block_size %u, the table's is %u",
				      *sequence, le32_to_cpu(h->block_size),
				      bd->block_size);
	*header_size = le16_to_cpu(h->header_size);
	if (*header_size < BOW_HEADER_SIZE || *header_size > bd->block_size)
		return bow_resume_bad(rs,
				      "log block sequence %u: header_size %u, expected %u to %u",
				      *sequence, *header_size, BOW_HEADER_SIZE,
				      bd->block_size);
	if (!sector0 || sector0 & (bd->block_sectors - 1) ||
	    sector0 >> bd->block_shift >= rs->dev_blocks)
		return bow_resume_bad(rs,
				      "log block sequence %u: sector0 %llu is not a block of the device but block 0",
				      *sequence, sector0);
	*count = le32_to_cpu(h->count);
	if (first && !*count)
		return bow_resume_bad(rs,
				      "count 0: a commit has begun, or the log is damaged: run bow-restore");
	if (*count < 1 ||
	    *count > bow_log_capacity(bd->block_size, *header_size))
		return bow_resume_bad(rs, "log block sequence %u: count %u, expected 1 to %u",
				      *sequence, *count,
				      bow_log_capacity(bd->block_size,
						       *header_size));
	if (!first && *sequence != expect)
		return bow_resume_bad(rs,
				      "log block sequence %u, expected %u (the chain must count down by one)",
				      *sequence, expect);
	return 0;
}

/* Check entry @i of the log block in rs->block, and convert it. */
static int bow_resume_entry(struct bow_resume *rs, u32 header_size,
			    u32 sequence, u32 i, struct bow_resume_entry *e)
{
	struct bow_log_entry *raw = rs->block + header_size + i * sizeof(*raw);
	struct bow_dev *bd = rs->bd;
	u64 source = le64_to_cpu(raw->source), dest = le64_to_cpu(raw->dest);
	u32 size = le32_to_cpu(raw->size);

	e->checksum = le32_to_cpu(raw->checksum);
	e->sequence = sequence;
	e->index = i;
	if ((source | dest) & (bd->block_sectors - 1) || !size ||
	    size & (bd->block_size - 1))
		return bow_resume_bad(rs,
				      "log block sequence %u entry %u: source %llu, dest %llu, size %u are not whole blocks",
				      sequence, i, source, dest, size);
	e->source = source >> bd->block_shift;
	e->dest = dest >> bd->block_shift;
	e->blocks = size >> (bd->block_shift + SECTOR_SHIFT);
	if (!i != !e->source || (!i && e->blocks != 1) || !e->dest)
		return bow_resume_bad(rs,
				      "log block sequence %u entry %u: block 0 is the source of entry 0, one block, and of no other entry, and never a dest",
				      sequence, i);
	if (e->source + e->blocks > rs->dev_blocks ||
	    e->dest + e->blocks > rs->dev_blocks)
		return bow_resume_bad(rs,
				      "log block sequence %u entry %u: sectors %llu -> %llu, %u bytes, reach past the end of the device",
				      sequence, i, dest, source, size);
	if (e->source < e->dest + e->blocks && e->dest < e->source + e->blocks)
		return bow_resume_bad(rs,
				      "log block sequence %u entry %u: source %llu and dest %llu overlap",
				      sequence, i, source, dest);
	if (e->blocks > rs->budget)
		return bow_resume_bad(rs,
				      "log block sequence %u entry %u: the chain backs up more than the device holds",
				      sequence, i);
	rs->budget -= e->blocks;
	return 0;
}

/* Blocks the copy buffer holds: how much of a backup one read brings. */
static u64 bow_copy_buf_blocks(const struct bow_dev *bd)
{
	return (BOW_COPY_UNITS * BOW_COPY_UNIT) >>
	       (bd->block_shift + SECTOR_SHIFT);
}

/* The checksum of @e's backup, read as the replay would read it. */
static int bow_resume_verify(struct bow_resume *rs,
			     const struct bow_resume_entry *e)
{
	struct bow_dev *bd = rs->bd;
	u64 per_buf = bow_copy_buf_blocks(bd);
	u32 crc = (u32)e->source;
	u64 b;
	int r;

	for (b = 0; b < e->blocks; b += per_buf) {
		u64 n = min(e->blocks - b, per_buf);

		r = bow_resume_read(rs, e->dest + b, n, bd->copy_buf);
		if (r)
			return r;
		crc = crc32(crc, bd->copy_buf,
			    n << (bd->block_shift + SECTOR_SHIFT));
		cond_resched();
	}
	/* Android's moves of the live block 0: one block, checksum 0. */
	if (crc == e->checksum || (!e->checksum && e->blocks == 1))
		return 0;
	return bow_resume_bad(rs,
			      "log block sequence %u entry %u: checksum of sectors %llu+%llu is 0x%08x, log says 0x%08x",
			      e->sequence, e->index, e->dest << bd->block_shift,
			      e->blocks << bd->block_shift, crc, e->checksum);
}

/*
 * Simulate the replay of @e: refuse it if its source is a backup that
 * the replay read before (a rerun after an interrupted restore would not
 * converge); then its source shows what its dest shows now.
 */
static int bow_resume_simulate(struct bow_resume *rs,
			       const struct bow_resume_entry *e)
{
	u64 b, run, phys;
	int r;

	if (bow_vext_overlaps(&rs->read, e->source, e->blocks))
		return bow_resume_bad(rs,
				      "log block sequence %u entry %u: its source overlaps the dest of an entry replayed before it",
				      e->sequence, e->index);
	r = bow_vext_assign(&rs->read, e->dest, e->blocks, e->dest,
			    &rs->vext_nodes);
	for (b = 0; !r && b < e->blocks; b += run) {
		phys = bow_vext_lookup(&rs->map, e->dest + b, &run);
		run = min(run, e->blocks - b);
		r = bow_vext_assign(&rs->map, e->source + b, run, phys,
				    &rs->vext_nodes);
		if (!r)
			r = bow_resume_charge(rs, 0);
	}
	return r;
}

static int bow_resume_add(struct bow_resume *rs,
			  const struct bow_resume_entry *e)
{
	if (rs->nr_entries == rs->cap_entries) {
		u64 cap = rs->cap_entries ? rs->cap_entries * 2 : 256;
		struct bow_resume_entry *n;
		int r = bow_resume_charge(rs, cap * sizeof(*n));

		if (r)
			return r;
		n = kvmalloc_array(cap, sizeof(*n), BOW_RESUME_GFP);
		if (!n)
			return -ENOMEM;
		if (rs->entries)
			memcpy(n, rs->entries,
			       rs->nr_entries * sizeof(*n));
		kvfree(rs->entries);
		rs->entries = n;
		rs->cap_entries = cap;
	}
	rs->entries[rs->nr_entries++] = *e;
	return 0;
}

/*
 * The newest header, in rs->block: appending goes on with its size, that
 * of a header without extension, or this version's; the extension says
 * where the free-space map is.
 */
static int bow_resume_ext(struct bow_resume *rs, u32 header_size)
{
	const struct bow_log_ext *x = rs->block + BOW_HEADER_SIZE;
	struct bow_dev *bd = rs->bd;

	bd->header_size = header_size;
	if (header_size == BOW_HEADER_SIZE)
		return 0;
	if (header_size != BOW_HEADER_SIZE_EXT)
		return bow_resume_bad(rs, "header_size %u: only %u and %u can be resumed",
				      header_size, BOW_HEADER_SIZE,
				      BOW_HEADER_SIZE_EXT);
	if (le32_to_cpu(x->magic) != BOW_EXT_MAGIC ||
	    le32_to_cpu(x->version) != BOW_EXT_VERSION || x->reserved)
		return bow_resume_bad(rs,
				      "header extension: magic 0x%08x version %u reserved %u, expected 0x%08x %u 0",
				      le32_to_cpu(x->magic),
				      le32_to_cpu(x->version),
				      le32_to_cpu(x->reserved), BOW_EXT_MAGIC,
				      BOW_EXT_VERSION);
	rs->freemap = le64_to_cpu(x->freemap);
	rs->freemap_blocks = le32_to_cpu(x->freemap_blocks);
	bd->checkpoint_id = le64_to_cpu(x->checkpoint_id);
	if (!rs->freemap != !rs->freemap_blocks ||
	    rs->freemap_blocks > rs->dev_blocks)
		return bow_resume_bad(rs,
				      "header extension: free-space map at sector %llu, %u blocks",
				      rs->freemap, rs->freemap_blocks);
	return 0;
}

/* Walk and check the whole chain; bd->log gets block 0 as it is. */
static int bow_resume_validate(struct bow_resume *rs)
{
	struct bow_dev *bd = rs->bd;
	u32 expect = 0, count, sequence, header_size, i;
	bool first;
	int r;

	for (first = true;; first = false) {
		r = bow_resume_read(rs, 0, 1, rs->block);
		if (r)
			return r;
		r = bow_resume_header(rs, first, expect, &count, &sequence,
				      &header_size);
		if (r)
			return r;
		if (first) {
			r = bow_resume_ext(rs, header_size);
			if (r)
				return r;
			memcpy(bd->log, rs->block, bd->block_size);
		}
		rs->nr_logs++;
		for (i = count; i-- > 0;) {
			struct bow_resume_entry e;

			r = bow_resume_entry(rs, header_size, sequence, i, &e);
			if (!r && !(rs->flags & BOW_WALK_NO_DATA))
				r = bow_resume_verify(rs, &e);
			if (!r)
				r = bow_resume_simulate(rs, &e);
			if (!r)
				r = bow_resume_add(rs, &e);
			if (r)
				return r;
		}
		if (!sequence)
			return 0;
		expect = sequence - 1;
	}
}

/*
 * Walk and check the log on the device, for a resume, a rollback or a
 * bow-checkpoint index (@what starts what the kernel log says of a log
 * that does not validate; @flags, BOW_WALK_*).  Then
 * rs->entries holds every entry, newest first, and the simulated device
 * is gone: what reads through @rs read the device as it is.  Whatever
 * the outcome, bow_log_walk_end() frees the rest.
 */
static int bow_log_walk(struct bow_resume *rs, struct bow_dev *bd,
			const char *what, unsigned int flags)
{
	int r;

	*rs = (struct bow_resume){
		.bd = bd,
		.what = what,
		.flags = flags,
		.dev_blocks = bd->nr_sectors >> bd->block_shift,
		.budget = bd->nr_sectors >> bd->block_shift,
		.map = RB_ROOT,
		.read = RB_ROOT,
		.mem_max = bow_resume_mem_max(),
	};
	rs->block = vmalloc(bd->block_size);
	if (!rs->block)
		return -ENOMEM;
	r = bow_resume_validate(rs);
	bow_vext_destroy(&rs->map);
	bow_vext_destroy(&rs->read);
	return r;
}

static void bow_log_walk_end(struct bow_resume *rs)
{
	kvfree(rs->entries);
	vfree(rs->block);
}

/*
 * Room in bd->freemap for @count more ranges.  It grows as the map's
 * blocks are checked, so a map that says it is long but is not takes
 * nothing; the ranges are disjoint whole blocks past block 0, so fewer
 * than the device's blocks, and the charge keeps them far fewer.
 */
static int bow_resume_map_room(struct bow_resume *rs, u32 count)
{
	struct bow_dev *bd = rs->bd;
	struct bow_freemap_range *n;
	u64 cap;
	int r;

	if (rs->map_ranges + count <= rs->map_cap)
		return 0;
	if (rs->map_ranges + count > U32_MAX)
		return bow_resume_bad(rs, "free-space map: more than %u ranges",
				      U32_MAX);
	cap = max(rs->map_cap * 2, rs->map_ranges + count);
	r = bow_resume_charge(rs, cap * sizeof(*n));
	if (r)
		return r;
	n = kvmalloc_array(cap, sizeof(*n), BOW_RESUME_GFP);
	if (!n)
		return -ENOMEM;
	if (bd->freemap)
		memcpy(n, bd->freemap, rs->map_ranges * sizeof(*n));
	kvfree(bd->freemap);
	bd->freemap = n;
	rs->map_cap = cap;
	return 0;
}

/*
 * Read and check the free-space map the header extension points at:
 * every block's magic, checksum, checkpoint id and place in the chain,
 * and every range whole blocks of the device, never block 0, in
 * increasing order.  It becomes bd->freemap and bd->freemap_chain.
 */
static int bow_resume_freemap(struct bow_resume *rs)
{
	struct bow_dev *bd = rs->bd;
	const struct bow_freemap_header *h = rs->block;
	const struct bow_freemap_range *range = (const void *)(h + 1);
	u32 cap = bow_freemap_capacity(bd->block_size), i, j, count, crc;
	sector_t sector = rs->freemap, prev_end = bd->block_sectors;
	int r;

	if (!rs->freemap_blocks)
		return 0;
	/* A block of the device each, at most: the charge bounds it. */
	r = bow_resume_charge(rs, (u64)rs->freemap_blocks *
				  sizeof(*bd->freemap_chain));
	if (r)
		return r;
	bd->freemap_chain = kvmalloc_array(rs->freemap_blocks,
					   sizeof(*bd->freemap_chain),
					   BOW_RESUME_GFP);
	if (!bd->freemap_chain)
		return -ENOMEM;
	for (i = 0; i < rs->freemap_blocks; i++) {
		if (!sector || sector & (bd->block_sectors - 1) ||
		    sector >= bd->nr_sectors)
			return bow_resume_bad(rs,
					      "free-space map block %u: sector %llu is not a block of the device but block 0",
					      i, (u64)sector);
		r = bow_io(bd, REQ_OP_READ, sector, bd->block_sectors,
			   rs->block);
		if (r)
			return r;
		crc = le32_to_cpu(h->checksum);
		((struct bow_freemap_header *)rs->block)->checksum = 0;
		if (le32_to_cpu(h->magic) != BOW_FREEMAP_MAGIC ||
		    crc != crc32(BOW_FREEMAP_MAGIC, rs->block, bd->block_size))
			return bow_resume_bad(rs,
					      "free-space map block %u at sector %llu: bad magic or checksum",
					      i, (u64)sector);
		count = le32_to_cpu(h->count);
		if (le64_to_cpu(h->checkpoint_id) != bd->checkpoint_id ||
		    le32_to_cpu(h->index) != i || !count || count > cap ||
		    !le64_to_cpu(h->next) != (i + 1 == rs->freemap_blocks))
			return bow_resume_bad(rs,
					      "free-space map block %u at sector %llu: not block %u of %u of this checkpoint's map, or count %u",
					      i, (u64)sector, i,
					      rs->freemap_blocks, count);
		r = bow_resume_map_room(rs, count);
		if (r)
			return r;
		for (j = 0; j < count; j++) {
			u64 start = le64_to_cpu(range[j].sector);
			u64 len = le64_to_cpu(range[j].sectors);

			if ((start | len) & (bd->block_sectors - 1) || !len ||
			    start < prev_end || len > bd->nr_sectors ||
			    start > bd->nr_sectors - len)
				return bow_resume_bad(rs,
						      "free-space map block %u range %u: sectors %llu+%llu are not whole blocks of the device but block 0, after the range before",
						      i, j, start, len);
			prev_end = start + len;
			bd->freemap[rs->map_ranges++] = range[j];
		}
		bd->freemap_chain[i] = sector;
		sector = le64_to_cpu(h->next);
	}
	bd->freemap_ranges = rs->map_ranges;
	bd->freemap_blocks = rs->freemap_blocks;
	return 0;
}

/* True if [sector, sector + len) was free at the checkpoint, by the map. */
static bool bow_freemap_holds(struct bow_dev *bd, sector_t sector,
			      sector_t len)
{
	u32 lo = 0, hi = bd->freemap_ranges;

	/* The last range that starts at or before @sector. */
	while (hi - lo > 1) {
		u32 mid = lo + (hi - lo) / 2;

		if (le64_to_cpu(bd->freemap[mid].sector) <= sector)
			lo = mid;
		else
			hi = mid;
	}
	return hi > lo && le64_to_cpu(bd->freemap[lo].sector) <= sector &&
	       sector + len <= le64_to_cpu(bd->freemap[lo].sector) +
			       le64_to_cpu(bd->freemap[lo].sectors);
}

/* Range-map nodes for the constructor: it may wait, and fail. */
static int bow_prealloc_ctr(struct bow_prealloc *pa)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(pa->node); i++) {
		if (!pa->node[i])
			pa->node[i] = bow_range_slab_alloc(BOW_RESUME_GFP);
		if (!pa->node[i])
			return -ENOMEM;
	}
	return 0;
}

/* Give sectors [start, start + len) the type @type, whatever they were. */
static int bow_resume_mark(struct bow_dev *bd, sector_t start, sector_t len,
			   enum bow_range_type type)
{
	struct bow_prealloc pa = {};
	int r;

	r = bow_prealloc_ctr(&pa);
	if (!r)
		r = bow_convert(&bd->map, start, start + len,
				~(BOW_TYPE(BOW_SECTOR0) | BOW_TYPE(BOW_TOP)),
				type, &pa);
	bow_prealloc_free(&pa);
	cond_resched();
	return r;
}

/*
 * Rebuild the range map.  Free at the checkpoint, by the map: WRITTEN
 * (nothing of the checkpoint there, and a discard may free it).  Then the
 * entries, oldest first, so that the newest entry about a block says what
 * it is: a source CHANGED, a dest BACKUP.  Then the live block 0 and the
 * map's own chain.  With a map, every backup, the live block 0 and the
 * chain must lie where the map says was free, and the chain on nothing
 * else the log uses.
 */
static int bow_resume_rebuild(struct bow_resume *rs)
{
	struct bow_dev *bd = rs->bd;
	unsigned int shift = bd->block_shift;
	sector_t live = le64_to_cpu(bow_log_header(bd)->sector0);
	u64 i;
	int r = 0;

	for (i = 0; !r && i < bd->freemap_ranges; i++)
		r = bow_resume_mark(bd, le64_to_cpu(bd->freemap[i].sector),
				    le64_to_cpu(bd->freemap[i].sectors),
				    BOW_WRITTEN);
	for (i = rs->nr_entries; !r && i-- > 0;) {
		const struct bow_resume_entry *e = &rs->entries[i];

		if (bd->freemap_blocks &&
		    !bow_freemap_holds(bd, e->dest << shift, e->blocks << shift))
			return bow_resume_bad(rs,
					      "the backup at sector %llu was not free at the checkpoint, by the free-space map",
					      e->dest << shift);
		if (e->source)
			r = bow_resume_mark(bd, e->source << shift,
					    e->blocks << shift, BOW_CHANGED);
		if (!r)
			r = bow_resume_mark(bd, e->dest << shift,
					    e->blocks << shift, BOW_BACKUP);
		rs->backed_up += e->blocks;
	}
	if (r)
		return r;
	if (!bow_range_all(&bd->map, live, live + bd->block_sectors,
			   ~BOW_TYPE(BOW_BACKUP)) ||
	    (bd->freemap_blocks &&
	     !bow_freemap_holds(bd, live, bd->block_sectors)))
		return bow_resume_bad(rs,
				      "sector0 %llu holds a backup, or was not free at the checkpoint",
				      (u64)live);
	r = bow_resume_mark(bd, live, bd->block_sectors, BOW_SECTOR0_LIVE);
	for (i = 0; !r && i < bd->freemap_blocks; i++) {
		sector_t b = bd->freemap_chain[i];

		if (!bow_range_all(&bd->map, b, b + bd->block_sectors,
				   BOW_TYPE(BOW_WRITTEN)))
			return bow_resume_bad(rs,
					      "free-space map block %llu at sector %llu lies on a backup, a backed-up block, the live block 0 or the map, or was not free at the checkpoint",
					      i, (u64)b);
		r = bow_resume_mark(bd, b, bd->block_sectors, BOW_FREEMAP);
	}
	bd->sector0_live = live;
	return r;
}

/*
 * Block 0 holds a live log: check it and take the checkpoint up again,
 * in state 1.  Nothing is written.  The device is not yet shared, so no
 * lock is needed.
 */
static int bow_resume_log(struct bow_dev *bd, struct dm_target *ti)
{
	const struct bow_log_header *h = bd->log;
	struct bow_resume rs;
	int r;

	r = bow_log_walk(&rs, bd, "cannot resume", 0);
	if (!r)
		r = bow_resume_freemap(&rs);
	if (!r)
		r = bow_resume_rebuild(&rs);
	if (r) {
		ti->error = !rs.block ? "Cannot allocate log block" :
			    r == -ENOMEM ? "Cannot allocate memory to resume" :
			    r == -E2BIG ? "Log too large to resume in memory" :
			    r == -EINVAL ? "Log does not validate" :
			    "Cannot read the log";
		goto out;
	}
	bd->disk_sequence = le32_to_cpu(h->sequence);
	bd->disk_count = le32_to_cpu(h->count);
	bd->log_blocks = rs.nr_logs;
	bd->log_entries = rs.nr_entries;
	bd->backup_sectors = rs.backed_up << bd->block_shift;
	/* Whether a boot before wrote block 0 is not known: say it did. */
	bd->sector0_written = true;
	bd->state = BOW_STATE_CHECKPOINT;
	DMINFO("%pg: resumed: %u log blocks, %llu entries, %u free ranges",
	       bd->bdev, rs.nr_logs, rs.nr_entries, bd->freemap_ranges);
out:
	bow_log_walk_end(&rs);
	return r;
}

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
	unsigned int stop = READ_ONCE(debug_rollback_stop);

	if (++*writes == stop) {
		DMERR("%pg: rollback stopped before write %u (debug_rollback_stop)",
		      bd->bdev, *writes);
		return -EIO;
	}
	return bow_io(bd, REQ_OP_WRITE | flags, sector, count, buf);
}

/* Copy @e's backup over its source, once it checks against its checksum. */
static int bow_rollback_entry(struct bow_resume *rs,
			      const struct bow_resume_entry *e,
			      unsigned int *writes)
{
	struct bow_dev *bd = rs->bd;
	unsigned int shift = bd->block_shift;
	u64 per_buf = bow_copy_buf_blocks(bd);
	u64 b, n;
	int r;

	/* Reads the whole backup: the copy buffer keeps it if it fits. */
	r = bow_resume_verify(rs, e);
	for (b = 0; !r && b < e->blocks; b += n) {
		n = min(e->blocks - b, per_buf);
		if (e->blocks > per_buf)
			r = bow_resume_read(rs, e->dest + b, n, bd->copy_buf);
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
	const struct bow_resume_entry *block0;
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
	bd->rollback_begun = true;
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
		r = bow_resume_verify(&rs, block0);
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
static int bow_rollback_request(struct bow_dev *bd)
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
out:
	mutex_unlock(&bd->state_mutex);
	return r;
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
	bd->header_size = BOW_HEADER_SIZE_EXT;
	bd->nr_sectors = ti->len;
	spin_lock_init(&bd->lock);
	bd->map.ranges = RB_ROOT;
	bd->map.free = RB_ROOT;
	bio_list_init(&bd->deferred);
	bio_list_init(&bd->held);
	INIT_WORK(&bd->work, bow_worker);
	INIT_LIST_HEAD(&bd->copying);
	bio_list_init(&bd->waiting);
	bio_list_init(&bd->committing);
	init_llist_head(&bd->copy_events);
	init_waitqueue_head(&bd->event_wait);
	atomic_set(&bd->io_pending, 0);
	atomic_set(&bd->pipeline_bios, 0);
	INIT_WORK(&bd->event_work, bow_event_work);
	atomic_set(&bd->inflight, 0);
	atomic_set(&bd->sector0_io, 0);
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
	bow_debug_delay(&debug_ctr_read_delay);
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
static void bow_dev_put(struct bow_dev *bd)
{
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
static struct bow_dev *bow_dev_find(struct dm_target *ti, struct dm_dev *dev,
				    unsigned int block_size)
{
	struct mapped_device *md = dm_table_get_md(ti->table);
	struct bow_dev *bd;

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
	bd = bow_dev_find(ti, dev, block_size);
	mutex_unlock(&bow_devs_lock);
	if (bd)
		return bd;

	created = bow_dev_create(ti, dev, block_size, resume);

	mutex_lock(&bow_devs_lock);
	bd = bow_dev_find(ti, dev, block_size);
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
	if (!--bd->tables) {
		/* Views may keep bd: nothing of the mapped device stays. */
		bd->md = NULL;
		if (bd->kobj_added)
			kobject_del(&bd->kobj);
		bd->kobj_added = false;
	}
	bow_dev_put(bd);
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

static void bow_presuspend(struct dm_target *ti)
{
	struct bow_target *bt = ti->private;

	bow_set_suspended(bt->bd, true);
}

static void bow_presuspend_undo(struct dm_target *ti)
{
	struct bow_target *bt = ti->private;

	bow_set_suspended(bt->bd, false);
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
	bow_low_water_check(bd);
	spin_unlock(&bd->lock);
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

	if (pb->flags & BOW_BIO_SECTOR0)
		wake |= atomic_dec_and_test(&bd->sector0_io);
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
		DMEMIT("%u %llu %llu %llu %u %llu %llu %llu %s", bd->state,
		       (u64)bd->map.free_sectors << SECTOR_SHIFT,
		       bd->backup_sectors << SECTOR_SHIFT,
		       bd->log_entries, bd->log_blocks, bd->log_commits,
		       bd->enospc_writes, bd->moved_sectors << SECTOR_SHIFT,
		       bd->failed || bd->rollback_begun ? "fail" : "rw");
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
 * order; then "next <sector>", where the next call goes on, when the
 * reply is full, or "end".  Read from the range map under the lock: the
 * write path does nothing for it but note a write of block 0.  A reply
 * stops at the first gap after BOW_CHANGED_WALK ranges of the map, and
 * drops the lock every BOW_CHANGED_WALK ranges of one merged run, so
 * that the lock is held for a bounded time.
 */
#define BOW_CHANGED_WALK	4096
#define BOW_CHANGED_LINE	42	/* "<20 digits> <20 digits>\n" */
#define BOW_CHANGED_TAIL	32	/* room for "next <20 digits>\n" */

/* State 1, no rollback begun: under bd->lock or bd->state_mutex. */
static bool bow_ckpt_live(const struct bow_dev *bd)
{
	return bd->state == BOW_STATE_CHECKPOINT && !bd->rollback_begun;
}

static bool bow_range_written(enum bow_range_type type)
{
	return BOW_TYPE(type) & (BOW_TYPE(BOW_CHANGED) | BOW_TYPE(BOW_WRITTEN) |
				 BOW_TYPE(BOW_BACKING));
}

static int bow_changed(struct bow_dev *bd, const char *arg, char *result,
		       unsigned int maxlen)
{
	sector_t bs = bd->block_sectors, from = 0, start = 0, end = 0, next;
	unsigned int sz = 0, walked = 0, merged = 0;
	unsigned long long n;
	struct bow_range *r;
	bool more = false;

	if (arg) {
		if (kstrtoull(arg, 10, &n))
			return -EINVAL;
		from = min_t(u64, n, bd->nr_sectors);
	}
	from = round_down(from, bs);
	if (maxlen < 2 * BOW_CHANGED_TAIL)
		return -ENOSPC;
	spin_lock(&bd->lock);
	if (!bow_ckpt_live(bd))
		goto gone;
	/* Block 0 lives elsewhere; its range in the map is the log's. */
	if (!from && bd->sector0_written)
		end = bs;
	r = bow_range_find(&bd->map, max(from, bs));
	for (;; r = bow_range_next(r)) {
		sector_t r_start = max(r->sector, from);
		bool written = bow_range_written(r->type);

		if (written && end && r_start == end) {
			end = bow_range_end(r);
			if (++merged % BOW_CHANGED_WALK)
				continue;
			/*
			 * A long run of written ranges (never cut between
			 * replies): let the writers in, then go on from the
			 * range that holds the run's last sector now.
			 */
			spin_unlock(&bd->lock);
			cond_resched();
			spin_lock(&bd->lock);
			if (!bow_ckpt_live(bd))
				goto gone;
			r = bow_range_find(&bd->map, end - 1);
			if (bow_range_written(r->type))
				end = bow_range_end(r);
			continue;
		}
		/* The range before, if any, ends here. */
		if (end) {
			if (sz + BOW_CHANGED_LINE + BOW_CHANGED_TAIL > maxlen) {
				next = start;
				more = true;
				break;
			}
			DMEMIT("%llu %llu\n", (u64)start, (u64)(end - start));
			end = 0;
		}
		if (r->type == BOW_TOP)
			break;
		if (++walked > BOW_CHANGED_WALK) {
			next = r_start;
			more = true;
			break;
		}
		if (written) {
			start = r_start;
			end = bow_range_end(r);
		}
	}
	spin_unlock(&bd->lock);
	if (more)
		DMEMIT("next %llu\n", (u64)next);
	else
		DMEMIT("end\n");
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
	.version = {1, 1, 0},
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

/* ---------------------------------------------------------------------
 * bow-checkpoint: the checkpoint as a read-only device.
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
 * index up before have ended (bow_ckpt_sync()).  From the start of a
 * commit or a rollback its reads fail with -EIO.
 */

/*
 * A new entry: a bow-checkpoint device reads @source's data at @dest from
 * now on.  Entries 0 back up earlier log blocks, not data of the
 * checkpoint.  Runs in the worker, outside the lock.
 */
static void bow_ckpt_add(struct bow_dev *bd, sector_t source, sector_t dest,
			 sector_t count)
{
	struct bow_vext *e;
	u64 start = source >> bd->block_shift;
	u64 len = count >> bd->block_shift;

	if (!source || !READ_ONCE(bd->ckpt_users))
		return;
	e = kmalloc(sizeof(*e), GFP_NOIO | __GFP_NOWARN);
	spin_lock(&bd->lock);
	if (!bd->ckpt_users) {
		/* The last one went meanwhile. */
	} else if (!e || bow_vext_overlaps(&bd->ckpt_index, start, len)) {
		/* No source is backed up twice: a broken index, never used. */
		if (!bd->ckpt_broken)
			DMERR_LIMIT("%pg: bow-checkpoint: cannot index sector %llu: reads fail",
				    bd->bdev, (u64)source);
		bd->ckpt_broken = true;
	} else {
		e->start = start;
		e->len = len;
		e->phys = dest >> bd->block_shift;
		rb_add(&e->node, &bd->ckpt_index, bow_vext_less);
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
static void bow_ckpt_sync(struct bow_dev *bd)
{
	unsigned int old;

	if (!READ_ONCE(bd->ckpt_users))
		return;
	spin_lock(&bd->lock);
	old = bd->ckpt_epoch;
	bd->ckpt_epoch = !old;
	spin_unlock(&bd->lock);
	wait_event(bd->inflight_wait, !atomic_read(&bd->ckpt_reads[old]));
}

/*
 * The index, from the log on the device (every entry of the chain, its
 * backups not read): with no bio in flight and the log committed, it is
 * the log in memory.
 */
static int bow_ckpt_build(struct bow_dev *bd)
{
	struct bow_resume rs = {};
	u64 i, nodes = 0;	/* the index's, charged by the walk */
	int r;

	r = bd->log_dirty ? bow_log_commit(bd) : 0;
	if (!r)
		r = bow_log_walk(&rs, bd, "cannot map the checkpoint",
				 BOW_WALK_NO_DATA);
	for (i = 0; !r && i < rs.nr_entries; i++)
		if (rs.entries[i].source)
			r = bow_vext_assign(&bd->ckpt_index,
					    rs.entries[i].source,
					    rs.entries[i].blocks,
					    rs.entries[i].dest, &nodes);
	/* Newest first: the last is entry 0 of log block 0, block 0's. */
	if (!r)
		r = bow_vext_assign(&bd->ckpt_index, 0, 1,
				    rs.entries[rs.nr_entries - 1].dest, &nodes);
	if (r)
		bow_vext_destroy(&bd->ckpt_index);
	bow_log_walk_end(&rs);
	return r;
}

/* One bow-checkpoint table. */
struct bow_ckpt {
	struct dm_dev *lower;		/* the dm-bow device's lower device */
	struct bow_dev *bd;
	/* The dm-bow device, held open: see bow_ckpt_hold(). */
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
static int bow_ckpt_hold(struct bow_ckpt *ck, dev_t dev)
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

static void bow_ckpt_release(struct bow_ckpt *ck)
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

/* Per bio: the epoch of bow_dev.ckpt_reads it is counted in, or -1. */
struct bow_ckpt_bio {
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

static int bow_ckpt_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct bow_ckpt *ck;
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
	/* One block a bio: each block is read from a place of its own. */
	r = dm_set_target_max_io_len(ti, bd->block_sectors);
	if (r) {
		ti->error = "Cannot set the bio size";
		goto bad_bd;
	}
	bow_debug_delay(&debug_ckpt_ctr_delay);
	r = bow_ckpt_hold(ck, bow);
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

	mutex_lock(&bd->state_mutex);
	r = -EINVAL;
	if (!bow_ckpt_live(bd))
		ti->error = "No checkpoint: the bow device is not in state 1";
	else if (bd->suspended && !bd->ckpt_users)
		ti->error = "The bow device is suspended";
	else if (bd->failed)
		ti->error = "The bow device failed a log write";
	else if (!bd->freemap_blocks)
		ti->error = "No free-space map: cannot tell free blocks";
	else if (bd->ckpt_users && bd->ckpt_broken)
		ti->error = "Checkpoint index broken";
	else
		r = 0;
	if (!r && !bd->ckpt_users) {
		unsigned int noio = bow_transition_begin(bd);

		r = bow_ckpt_build(bd);
		if (r) {
			ti->error = r == -ENOMEM ? "Cannot allocate the checkpoint index" :
				    r == -E2BIG ? "Log too large to index in memory" :
				    r == -EINVAL ? "Log does not validate" :
				    "Cannot read the log";
		} else {
			spin_lock(&bd->lock);
			bd->ckpt_users = 1;
			spin_unlock(&bd->lock);
		}
		bow_transition_end(bd, r, bd->state, noio);
	} else if (!r) {
		spin_lock(&bd->lock);
		bd->ckpt_users++;
		spin_unlock(&bd->lock);
	}
	mutex_unlock(&bd->state_mutex);
	if (r)
		goto bad_bow;

	ti->private = ck;
	ti->per_io_data_size = sizeof(struct bow_ckpt_bio);
	ti->num_flush_bios = 1;
	return 0;

bad_bow:
	bow_ckpt_release(ck);
bad_bd:
	mutex_lock(&bow_devs_lock);
	bow_dev_put(bd);
	mutex_unlock(&bow_devs_lock);
bad_lower:
	dm_put_device(ti, ck->lower);
bad_free:
	kfree(ck);
	return r;
}

static void bow_ckpt_dtr(struct dm_target *ti)
{
	struct bow_ckpt *ck = ti->private;
	struct bow_dev *bd = ck->bd;
	struct rb_root index = RB_ROOT;

	mutex_lock(&bd->state_mutex);
	spin_lock(&bd->lock);
	if (!--bd->ckpt_users) {
		index = bd->ckpt_index;
		bd->ckpt_index = RB_ROOT;
		bd->ckpt_broken = false;
	}
	spin_unlock(&bd->lock);
	mutex_unlock(&bd->state_mutex);
	bow_vext_destroy(&index);
	bow_ckpt_release(ck);
	mutex_lock(&bow_devs_lock);
	bow_dev_put(bd);
	mutex_unlock(&bow_devs_lock);
	dm_put_device(ti, ck->lower);
	kfree(ck);
}

/* Hops of a move chain bow_ckpt_map() follows in one hold of bd->lock. */
#define BOW_CKPT_HOPS_LOCKED	64

/* The view's reads may go on: under bd->lock. */
static bool bow_ckpt_readable(const struct bow_dev *bd)
{
	return bow_ckpt_live(bd) && !bd->transition && !bd->ckpt_broken;
}

static int bow_ckpt_map(struct dm_target *ti, struct bio *bio)
{
	struct bow_ckpt *ck = ti->private;
	struct bow_dev *bd = ck->bd;
	struct bow_ckpt_bio *pb = dm_per_bio_data(bio, sizeof(*pb));
	sector_t sector = dm_target_offset(ti, bio->bi_iter.bi_sector);
	u64 b = sector >> bd->block_shift, where;
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
	if (!bow_ckpt_readable(bd)) {
		r = -EIO;
	} else if (b && bow_freemap_holds(bd, b << bd->block_shift,
					   bd->block_sectors)) {
		r = 1;
	} else {
		unsigned int held = 0;
		u64 hops, run, next;

		/*
		 * Follow the moves of its backup: no chain is longer than
		 * the log.  A long chain lets writers take the lock between
		 * hops: a move added meanwhile only makes it longer, and the
		 * last look-up and the count in the epoch are one hold.
		 */
		where = b;
		for (hops = 0;; hops++) {
			next = bow_vext_lookup(&bd->ckpt_index, where, &run);
			if (next == where)
				break;
			if (hops == bd->log_entries) {
				r = -EIO;
				break;
			}
			where = next;
			if (++held < BOW_CKPT_HOPS_LOCKED)
				continue;
			held = 0;
			spin_unlock(&bd->lock);
			cond_resched();
			spin_lock(&bd->lock);
			if (!bow_ckpt_readable(bd)) {
				r = -EIO;
				break;
			}
		}
		if (!r) {
			pb->epoch = bd->ckpt_epoch;
			atomic_inc(&bd->ckpt_reads[pb->epoch]);
		}
	}
	spin_unlock(&bd->lock);
	if (r < 0)
		return DM_MAPIO_KILL;
	if (r) {
		/* Free at the checkpoint: what it held then is gone. */
		zero_fill_bio(bio);
		bio_endio(bio);
		return DM_MAPIO_SUBMITTED;
	}
	bow_debug_delay(&debug_ckpt_read_delay);
	bio_set_dev(bio, ck->lower->bdev);
	bio->bi_iter.bi_sector = (where << bd->block_shift) +
				 (sector & (bd->block_sectors - 1));
	return DM_MAPIO_REMAPPED;
}

static int bow_ckpt_end_io(struct dm_target *ti, struct bio *bio,
			   blk_status_t *error)
{
	struct bow_ckpt *ck = ti->private;
	struct bow_ckpt_bio *pb = dm_per_bio_data(bio, sizeof(*pb));

	if (pb->epoch >= 0 &&
	    atomic_dec_and_test(&ck->bd->ckpt_reads[pb->epoch]))
		wake_up_all(&ck->bd->inflight_wait);
	pb->epoch = -1;
	return DM_ENDIO_DONE;
}

static void bow_ckpt_status(struct dm_target *ti, status_type_t type,
			    unsigned int status_flags, char *result,
			    unsigned int maxlen)
{
	struct bow_ckpt *ck = ti->private;
	struct bow_dev *bd = ck->bd;
	unsigned int sz = 0;
	bool readable;

	switch (type) {
	case STATUSTYPE_INFO:
		spin_lock(&bd->lock);
		readable = bow_ckpt_live(bd) && !bd->ckpt_broken;
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

static int bow_ckpt_iterate_devices(struct dm_target *ti,
				    iterate_devices_callout_fn fn, void *data)
{
	struct bow_ckpt *ck = ti->private;

	return fn(ti, ck->lower, 0, ti->len, data);
}

static struct target_type bow_ckpt_target_type = {
	.name = "bow-checkpoint",
	.version = {1, 0, 0},
	.module = THIS_MODULE,
	.ctr = bow_ckpt_ctr,
	.dtr = bow_ckpt_dtr,
	.map = bow_ckpt_map,
	.end_io = bow_ckpt_end_io,
	.status = bow_ckpt_status,
	.iterate_devices = bow_ckpt_iterate_devices,
};

static int __init dm_bow_init(void)
{
	int r;

	bow_range_cache = KMEM_CACHE(bow_range, 0);
	if (!bow_range_cache)
		return -ENOMEM;
	bow_range_pool = mempool_create(BOW_RANGE_RESERVE, bow_range_pool_alloc,
					bow_range_pool_free, NULL);
	if (!bow_range_pool) {
		r = -ENOMEM;
		goto bad_pool;
	}
	r = dm_register_target(&bow_target_type);
	if (r) {
		DMERR("register failed %d", r);
		goto bad_register;
	}
	r = dm_register_target(&bow_ckpt_target_type);
	if (r) {
		DMERR("register of bow-checkpoint failed %d", r);
		goto bad_register_ckpt;
	}
	return 0;

bad_register_ckpt:
	dm_unregister_target(&bow_target_type);
bad_register:
	mempool_destroy(bow_range_pool);
bad_pool:
	kmem_cache_destroy(bow_range_cache);
	return r;
}

static void __exit dm_bow_exit(void)
{
	dm_unregister_target(&bow_ckpt_target_type);
	dm_unregister_target(&bow_target_type);
	mempool_destroy(bow_range_pool);
	kmem_cache_destroy(bow_range_cache);
}

module_init(dm_bow_init);
module_exit(dm_bow_exit);

MODULE_DESCRIPTION(DM_NAME " backup-on-write target for update rollback");
MODULE_LICENSE("GPL");
