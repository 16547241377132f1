// SPDX-License-Identifier: GPL-2.0
/*
 * dm-bow: every bio's way through the target: routing by state, epochs,
 * remapping and release, the range nodes and free space that writes
 * take, and the worker that runs slow writes in batches.
 */

#include <linux/mempool.h>
#include <linux/slab.h>

#include "dm-bow.h"

static struct kmem_cache *bow_range_cache;
/*
 * Range nodes for the worker and state changes: they wait for the reserve
 * rather than fail, so that writes make progress when reclaim writes
 * through dm-bow.  map() never waits: it leaves a bio to the worker when
 * the slab has no node for it.
 */
#define BOW_RANGE_RESERVE	64
static mempool_t *bow_range_pool;

struct bow_range *bow_range_slab_alloc(gfp_t gfp)
{
	static atomic_t count = ATOMIC_INIT(0);
	unsigned int every = READ_ONCE(bow_debug_fail_alloc);

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
void __bow_low_water_check(struct bow_dev *bd)
{
	lockdep_assert_held(&bd->lock);
	if (bd->state != BOW_STATE_CHECKPOINT || !bd->low_water)
		return;
	if (((u64)bd->map.free_sectors << SECTOR_SHIFT) >= bd->low_water) {
		bd->low_water_raised = false;
	} else if (!bd->low_water_raised) {
		bd->low_water_raised = true;
		DMINFO("%pg: free space below low_water", bd->bdev);
		queue_work(system_wq, &bd->event_work);
	}
}

/*
 * Nodes for one range-map update: from the slab only, and it may fail, if
 * !@may_wait (map()); else from the reserve too, waiting for it, so that
 * it never fails.
 */
int bow_prealloc_fill(struct bow_prealloc *pa, bool may_wait)
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

void bow_prealloc_free(struct bow_prealloc *pa)
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
void bow_convert_range(struct bow_dev *bd, sector_t start,
		       sector_t end, unsigned int from,
		       enum bow_range_type to)
{
	struct bow_prealloc pa = {};

	bow_prealloc_fill(&pa, true);
	spin_lock(&bd->lock);
	WARN_ON_ONCE(bow_convert(&bd->map, start, end, from, to, &pa));
	__bow_low_water_check(bd);
	spin_unlock(&bd->lock);
	bow_prealloc_free(&pa);
}

/* Allocate free space as @type: 0 and *@len > 0, or -ENOSPC. */
int bow_alloc(struct bow_dev *bd, sector_t max_sectors,
	      enum bow_range_type type, sector_t *dest, sector_t *len)
{
	struct bow_prealloc pa = {};

	bow_prealloc_fill(&pa, true);
	spin_lock(&bd->lock);
	*len = bow_alloc_free(&bd->map, max_sectors, type, dest, &pa,
			      READ_ONCE(bow_debug_alloc_lowest));
	__bow_low_water_check(bd);
	spin_unlock(&bd->lock);
	bow_prealloc_free(&pa);
	return *len ? 0 : -ENOSPC;
}

/* Give back space taken by bow_alloc() and not used after all. */
void bow_unalloc(struct bow_dev *bd, sector_t dest, sector_t len,
		 enum bow_range_type type)
{
	bow_convert_range(bd, dest, dest + len, BOW_TYPE(type), BOW_FREE);
}

int bow_ranges_init(struct bow_dev *bd)
{
	static const struct {
		enum bow_range_type type;
		bool at_end;
	} layout[] = {
		{ BOW_BLOCK0, false }, { BOW_UNCHANGED, false }, { BOW_TOP, true },
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

sector_t bow_bio_end(struct bio *bio, sector_t sector)
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
 * (BOW_BIO_BLOCK0).
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
	if (flags & BOW_BIO_BLOCK0)
		atomic_inc(&bd->block0_io);
	bio_set_dev(bio, bd->bdev);
	bio->bi_iter.bi_sector = sector;
}

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

/* What routing one bio under bd->lock needs to know. */
struct bow_route_ctx {
	struct bow_dev *bd;
	struct bio *bio;
	sector_t sector;	/* of the bio on the dm-bow device */
	sector_t start_blk;	/* the blocks it touches: whole ones for */
	sector_t end_blk;	/* a discard, all it touches otherwise */
	bool is_write;
	bool in_block0;
	bool worker;		/* the worker routes it: it may wait */
	struct bow_prealloc *pa;	/* nodes, if have_nodes */
	bool have_nodes;
	int error;		/* the bio ends with it (BOW_ROUTE_DONE) */
};

/*
 * A range map update needs nodes, allocated without the lock: when one
 * turns out to be needed, routing says so (BOW_ROUTE_NODES) and is done
 * again with them.  Most writes change no range (rewrites of blocks
 * already changed in state 1, of blocks in use in state 0) and allocate
 * nothing.
 */
#define BOW_ROUTE_NODES		(-1)

/* State 0: a discard frees unchanged blocks, a write takes free ones. */
static int __bow_route_trim(struct bow_route_ctx *rc)
{
	struct bow_dev *bd = rc->bd;
	struct bio *bio = rc->bio;

	lockdep_assert_held(&bd->lock);
	if (bio_op(bio) == REQ_OP_DISCARD) {
		if (rc->start_blk < rc->end_blk) {
			if (!rc->have_nodes)
				return BOW_ROUTE_NODES;
			rc->error = bow_convert(&bd->map, rc->start_blk,
						rc->end_blk,
						BOW_TYPE(BOW_UNCHANGED),
						BOW_FREE, rc->pa);
		}
		return BOW_ROUTE_DONE;
	}
	if (rc->is_write && !rc->in_block0 &&
	    !bow_range_all(&bd->map, rc->start_blk, rc->end_blk,
			   BOW_TYPE(BOW_UNCHANGED))) {
		if (!rc->have_nodes)
			return BOW_ROUTE_NODES;
		rc->error = bow_convert(&bd->map, rc->start_blk, rc->end_blk,
					BOW_TYPE(BOW_FREE), BOW_UNCHANGED,
					rc->pa);
		if (rc->error)
			return BOW_ROUTE_DONE;
	}
	bow_remap(bd, bio, rc->sector, BOW_BIO_INFLIGHT);
	return BOW_ROUTE_REMAPPED;
}

/*
 * State 1, a discard: never passed down, since discarded blocks may hold
 * backups.  Blocks free at the checkpoint and written since, in no entry,
 * are free space for backups again; only the worker frees them
 * (bow_epoch_enter()).  Not a source (CHANGED): see "Discards" in
 * Documentation/dm-bow-design.rst.
 */
static int __bow_route_discard(struct bow_route_ctx *rc)
{
	struct bow_dev *bd = rc->bd;

	if (rc->start_blk >= rc->end_blk || bd->mode != BOW_MODE_RW ||
	    bow_range_all(&bd->map, rc->start_blk, rc->end_blk,
			  ~BOW_TYPE(BOW_WRITTEN)))
		return BOW_ROUTE_DONE;
	if (!rc->worker)
		return BOW_ROUTE_DEFER;
	if (!rc->have_nodes)
		return BOW_ROUTE_NODES;
	rc->error = bow_convert(&bd->map, rc->start_blk, rc->end_blk,
				BOW_TYPE(BOW_WRITTEN), BOW_FREE, rc->pa);
	__bow_low_water_check(bd);
	if (rc->error)
		return BOW_ROUTE_DONE;
	WRITE_ONCE(bd->epoch, !bd->epoch);
	/* Pairs with bow_epoch_enter(). */
	smp_mb();
	return BOW_ROUTE_DRAIN;
}

/*
 * State 1: block 0 goes to where it lives now, a write over data of the
 * checkpoint to the worker (a slow write), one into free space takes it.
 */
static int __bow_route_checkpoint(struct bow_route_ctx *rc)
{
	struct bow_dev *bd = rc->bd;
	struct bio *bio = rc->bio;

	lockdep_assert_held(&bd->lock);
	if (!rc->is_write && !rc->in_block0) {
		/* Held by a state change, then let go. */
		bow_remap(bd, bio, rc->sector, 0);
		return BOW_ROUTE_REMAPPED;
	}
	if (bio_op(bio) == REQ_OP_DISCARD)
		return __bow_route_discard(rc);
	if (rc->in_block0) {
		if (rc->is_write)
			return BOW_ROUTE_SLOW;
		if (bd->block0_moving)
			return BOW_ROUTE_DEFER;
		bow_remap(bd, bio, bd->block0_live + rc->sector,
			  BOW_BIO_INFLIGHT | BOW_BIO_BLOCK0);
		return BOW_ROUTE_REMAPPED;
	}
	if (bd->mode != BOW_MODE_RW) {
		rc->error = -EIO;
		return BOW_ROUTE_DONE;
	}
	if (bow_range_all(&bd->map, rc->start_blk, rc->end_blk,
			  BOW_TYPE(BOW_CHANGED) | BOW_TYPE(BOW_WRITTEN))) {
		bow_remap(bd, bio, rc->sector, BOW_BIO_INFLIGHT);
		return BOW_ROUTE_REMAPPED;
	}
	if (!bow_range_all(&bd->map, rc->start_blk, rc->end_blk,
			   BOW_TYPE(BOW_CHANGED) | BOW_TYPE(BOW_WRITTEN) |
			   BOW_TYPE(BOW_FREE)))
		return BOW_ROUTE_SLOW;
	if (!rc->have_nodes)
		return BOW_ROUTE_NODES;
	rc->error = bow_convert(&bd->map, rc->start_blk, rc->end_blk,
				BOW_TYPE(BOW_FREE), BOW_WRITTEN, rc->pa);
	__bow_low_water_check(bd);
	if (rc->error)
		return BOW_ROUTE_DONE;
	bow_remap(bd, bio, rc->sector, BOW_BIO_INFLIGHT);
	return BOW_ROUTE_REMAPPED;
}

/*
 * Decide what to do with a bio, and do it when that needs no I/O.  Runs
 * from map() and, for bios that had to wait, from the worker (@worker),
 * which may wait for memory where map() leaves the bio to the worker.
 */
enum bow_route bow_route(struct bow_dev *bd, struct bio *bio,
			 sector_t sector, bool worker)
{
	struct bow_prealloc pa = {};
	sector_t end = bow_bio_end(bio, sector);
	sector_t bs = bd->block_sectors;
	struct bow_route_ctx rc = {
		.bd = bd,
		.bio = bio,
		.sector = sector,
		.is_write = op_is_write(bio_op(bio)),
		.in_block0 = sector < bs,
		.worker = worker,
		.pa = &pa,
	};
	int route;

	/* Half rolled back: nothing on the device is what it claims. */
	if (unlikely(READ_ONCE(bd->mode) == BOW_MODE_FAIL_ALL)) {
		bio_io_error(bio);
		return BOW_ROUTE_DONE;
	}
	/*
	 * Reads away from block 0 need nothing from the range map, and
	 * state 2 is final: neither takes the lock, but during a state
	 * change, which holds them (a rollback rewrites the device).
	 */
	if (!READ_ONCE(bd->transition) &&
	    ((!rc.is_write && !rc.in_block0) ||
	     READ_ONCE(bd->state) == BOW_STATE_COMMITTED))
		return bow_route_passthrough(bd, bio, sector);

	if (bio_op(bio) == REQ_OP_DISCARD) {
		/* A discard covers whole blocks only, never block 0. */
		rc.start_blk = max(round_up(sector, bs), bs);
		rc.end_blk = round_down(end, bs);
	} else {
		rc.start_blk = round_down(sector, bs);
		rc.end_blk = round_up(end, bs);
	}
	for (;;) {
		spin_lock(&bd->lock);
		if (bd->transition) {
			bio_list_add(&bd->held, bio);
			route = BOW_ROUTE_HELD;
		} else if (bd->state == BOW_STATE_TRIM) {
			route = __bow_route_trim(&rc);
		} else if (bd->state == BOW_STATE_CHECKPOINT) {
			route = __bow_route_checkpoint(&rc);
		} else {
			/* Committed since the unlocked look above. */
			spin_unlock(&bd->lock);
			bow_prealloc_free(&pa);
			return bow_route_passthrough(bd, bio, sector);
		}
		spin_unlock(&bd->lock);
		if (route != BOW_ROUTE_NODES)
			break;
		if (bow_prealloc_fill(&pa, worker)) {
			bow_prealloc_free(&pa);
			return BOW_ROUTE_DEFER;
		}
		rc.have_nodes = true;
	}
	bow_prealloc_free(&pa);
	if (rc.error) {
		bio->bi_status = errno_to_blk_status(rc.error);
		route = BOW_ROUTE_DONE;
	}
	if (route == BOW_ROUTE_DONE)
		bio_endio(bio);
	return route;
}

/* The block-rounded extent of a deferred write (bi_sector not remapped). */
void bow_bio_blocks(struct bow_dev *bd, struct bio *bio,
		    sector_t *start, sector_t *end)
{
	sector_t sector = bio->bi_iter.bi_sector;

	*start = round_down(sector, bd->block_sectors);
	*end = round_up(bow_bio_end(bio, sector), bd->block_sectors);
}

void bow_defer(struct bow_dev *bd, struct bio *bio)
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
		bow_convert_range(bd, start, end, BOW_TYPE(BOW_BACKING),
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
		sector += bd->block0_live;
		bd->block0_written = true;
		spin_unlock(&bd->lock);
		flags |= BOW_BIO_BLOCK0;
	}
	bow_remap(bd, bio, sector, flags);
	dm_submit_bio_remap(bio, NULL);
}

/* Send the writes of @bios down (@r is 0) or fail them. */

void bow_release(struct bow_dev *bd, struct bio_list *bios, int r)
{
	struct bio *bio;

	/* They overwrite old data: no checkpoint device may be reading it. */
	if (!r && !bio_list_empty(bios))
		bow_view_sync(bd);

	while ((bio = bio_list_pop(bios))) {
		bow_write_finish(bd, bio, r);
		if (atomic_dec_and_test(&bd->pipeline_bios))
			wake_up_all(&bd->inflight_wait);
	}
}

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
	bow_convert_range(bd, start, end,
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
			bow_convert_range(bd, pos, next, BOW_TYPE(BOW_FREE),
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
		case BOW_BLOCK0_LIVE:
			r = bow_move_block0(bd);
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
void bow_worker(struct work_struct *work)
{
	struct bow_dev *bd = container_of(work, struct bow_dev, work);
	struct blk_plug plug;

	/* Send the reads, writes and released writes of a run together. */
	blk_start_plug(&plug);
	for (;;) {
		struct bio_list batch;

		bow_handle_ended(bd);
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

/* The slab and the reserve of range nodes: at module init and exit. */
int bow_range_nodes_create(void)
{
	bow_range_cache = KMEM_CACHE(bow_range, 0);
	if (!bow_range_cache)
		return -ENOMEM;
	bow_range_pool = mempool_create(BOW_RANGE_RESERVE, bow_range_pool_alloc,
					bow_range_pool_free, NULL);
	if (!bow_range_pool) {
		kmem_cache_destroy(bow_range_cache);
		return -ENOMEM;
	}
	return 0;
}

void bow_range_nodes_destroy(void)
{
	mempool_destroy(bow_range_pool);
	kmem_cache_destroy(bow_range_cache);
}
