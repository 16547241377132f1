/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-bow: what its parts share.
 *
 *   dm-bow-target.c      module init, the target's interface, device lifetime
 *   dm-bow-io.c          routing of every bio, epochs, free space, the worker
 *   dm-bow-copy.c        backup copies and the events of their I/O
 *   dm-bow-log.c         synchronous I/O, the log in block 0, log commits
 *   dm-bow-state.c       checkpoint, commit, rollback, sysfs
 *   dm-bow-metadata.c    the walk of a live log, resume
 *   dm-bow-checkpoint.c  bow-checkpoint, the checkpoint as a device
 *   dm-bow-ranges.c      the range map (also built on the host by the tests)
 *   dm-bow-rules.c       the replay rules and the walk of a chain, which
 *                        bow-restore's library compiles too
 *   dm-bow-vext.c        extent maps: the walk's simulated device, the
 *                        view's index (also built on the host: tests/fuzz)
 *
 * Words this code uses in a sense of its own:
 *
 * slow write	a write in state 1 over data of the checkpoint that has no
 *		backup yet: the worker copies that data away and logs the
 *		copy before the write may be sent (fast writes go straight
 *		down).
 * plan order	the order in which the worker planned the copies
 *		(bow_copy.seq); entries are logged, and slow writes sent,
 *		in that order.
 * epoch	the generation of writes sent to blocks WRITTEN since the
 *		checkpoint.  A discard that frees such blocks starts a new
 *		one, and no backup goes there until the writes of the old
 *		epoch have ended (bow_epoch_enter()).
 * backing	blocks whose backup is written but whose log entry is not
 *		durable yet (BOW_BACKING): neither free nor a backup.
 * live block 0	where the file system's block 0 lives in state 1, while
 *		block 0 holds the log (block0_live).  Identifiers say
 *		sector0, the documentation block 0: the same block.
 * roll-over	starting a new log block when block 0's is full: the full
 *		one is backed up like data and the new one's header names it.
 * commit mark	what a log commit writes first where entry 0 was, so that a
 *		commit cut short is told from a log (dm-bow-format.h).
 * view		a bow-checkpoint device: the checkpoint, read-only, while
 *		dm-bow works on (dm-bow-checkpoint.c, the view_* fields).
 */
#ifndef DM_BOW_H
#define DM_BOW_H

#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/dm-io.h>
#include <linux/kobject.h>
#include <linux/llist.h>
#include <linux/rbtree.h>
#include <linux/workqueue.h>

#include "dm-bow-format.h"
#include "dm-bow-ranges.h"
#include "dm-bow-rules.h"
#include "dm-bow-vext.h"

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

/*
 * What a device still does, whatever its state: set by __bow_set_mode()
 * only.  The status's last word is "rw" or "fail".
 */
enum bow_mode {
	BOW_MODE_RW,		/* as its state says */
	/* A log write or a commit failed: the log cannot vouch for more. */
	BOW_MODE_FAIL_WRITES,	/* writes that need it get -EIO */
	/* A rollback has begun and not ended: nothing is what it claims. */
	BOW_MODE_FAIL_ALL,	/* every bio gets -EIO */
};

/* Per-bio flags, kept in the per-bio data. */
#define BOW_BIO_INFLIGHT	BIT(0)	/* counted in bow_dev.inflight */
#define BOW_BIO_BLOCK0		BIT(1)	/* counted in bow_dev.block0_io */
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
	struct llist_node ended_node;	/* on bow_dev.copies_ended when I/O ends */
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

/*
 * The backup check of a resumed checkpoint, field 10 of the status line
 * (bow_scrub_word()).
 */
enum bow_scrub_state {
	BOW_SCRUB_NONE,		/* nothing to check: "-" */
	BOW_SCRUB_PENDING,	/* waits for the table to resume, or again */
	BOW_SCRUB_CHECKING,	/* the work is queued or reading */
	BOW_SCRUB_VERIFIED,	/* every backup matched its checksum */
	BOW_SCRUB_CORRUPT,	/* one did not, with I/O held */
	BOW_SCRUB_UNCHECKED,	/* the check could not end: see the log */
};

/* Asynchronous I/O, waited for together: bow_batch_init() and on. */
struct bow_batch {
	atomic_t pending;	/* I/O in flight, and one for the waiter */
	int error;
	struct completion done;
};

/* Where a backup lay at the resume: one run of blocks of entry @entry. */
struct bow_scrub_run {
	u64 phys;
	u64 blocks;
	u64 entry;		/* in the resume's entries, newest first */
};

struct bow_scrub;

/* The writes of one log commit, each sent when the one before ended. */
enum bow_commit_stage {
	BOW_COMMIT_NONE,	/* no commit in flight */
	BOW_COMMIT_FIRST,	/* a new log block's header, counting unit 0 */
	BOW_COMMIT_ENTRIES,	/* the units holding new entries */
	BOW_COMMIT_HEADER,	/* the header that counts them */
};

/* Bits of bow_dev.ended. */
#define BOW_ENDED_COMMIT	0	/* a commit write ended */

/*
 * The state of one dm-bow device.  It is shared by every table loaded
 * for the same mapped device and lower device, so that a table reload
 * keeps the checkpoint (as dm-thin shares its pool).
 *
 * Locking.  Each field is tagged with what protects it:
 *
 * I: set when the device is created (or its table loaded), then only
 *    read.
 * D: bow_devs_lock.
 * L: bow_dev.lock, a spinlock: never held across I/O nor taken in
 *    interrupt context.
 * S: bow_dev.state_mutex, which serialises state changes; held across
 *    their I/O, never taken on the I/O path.
 * LS: written with both S and L held, so read under either.  map() reads
 *    state without either where a stale value is harmless (state 2 is
 *    final).
 * W: the worker's alone, or a state change's once the worker is idle
 *    (bow_transition_begin()): no lock.
 * A: atomic, a lock-free list or bit operations: no lock.
 */
struct bow_dev {
	struct list_head list;		/* D: on bow_devs */
	/*
	 * D: refs counts the tables using it, dm-bow's and bow-checkpoint's,
	 * tables dm-bow's alone.  md is NULL once tables is 0: the mapped
	 * device may be gone (a view does not pin it).
	 */
	unsigned int refs;
	unsigned int tables;
	dev_t lower_dev;		/* I */
	struct mapped_device *md;
	struct block_device *bdev;	/* I: held open by every table */

	unsigned int block_size;	/* I: bytes */
	unsigned int block_sectors;	/* I: a power of two ... */
	unsigned int block_shift;	/* I: ... 1 << block_shift */
	sector_t nr_sectors;		/* I: a multiple of block_sectors */

	spinlock_t lock;		/* the L fields */
	struct bow_map map;		/* L */
	enum bow_state state;		/* LS */
	bool transition;		/* L: a state change is draining I/O */
	enum bow_mode mode;		/* L: see __bow_set_mode() */
	sector_t block0_live;		/* L: valid in state 1 */
	bool block0_moving;		/* L: block 0 reads wait for the worker */
	bool block0_written;		/* L: block 0 written since the checkpoint */
	struct bio_list deferred;	/* L: for the worker */
	struct bio_list held;		/* L: arrived during a transition */
	/* L: statistics for status and sysfs */
	u64 backup_sectors;
	u64 moved_sectors;		/* backups copied again: written over */
	u64 log_entries;
	u32 log_blocks;
	u64 log_commits;
	u64 enospc_writes;		/* writes failed for want of space */
	u64 low_water;			/* L: bytes; 0: no event */
	bool low_water_raised;		/* L: the event fired for this checkpoint */
	struct dm_target *live_ti;	/* L: the resumed table, for events */

	/*
	 * W: the log, the copies and the commit.  The end of an I/O only
	 * sets an error and queues an event for the worker.
	 */
	struct workqueue_struct *wq;	/* I */
	struct work_struct work;	/* I */
	struct dm_io_client *io_client;	/* I */
	void *log;			/* block 0 as it should be on disk */
	unsigned int header_size;	/* of the log blocks it writes */
	bool log_dirty;
	u32 disk_sequence;		/* the log block now in block 0 ... */
	u32 disk_count;			/* ... and its entries known durable */
	unsigned int log_unit;		/* I: bytes the device writes atomically */
	bool fua;			/* I: the device has FUA: bow_dep_flags() */
	bool flush_owed;		/* a write sent that needs a flush */
	bool commit_preflush;		/* the commit's header flushes first */
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

	/* A: from the end of an I/O to the worker. */
	struct llist_head copies_ended;	/* copies whose I/O ended */
	unsigned long ended;		/* BOW_ENDED_* */
	wait_queue_head_t ended_wait;	/* the worker waiting for I/O */
	atomic_t io_pending;		/* async I/O whose end is not over */
	atomic_t pipeline_bios;		/* slow writes not yet sent or failed */

	atomic_t inflight;		/* A: counted remapped bios, bow_remap() */
	atomic_t block0_io;		/* A: of those, I/O to the live block 0 */
	/*
	 * Writes sent down, by epoch: a discard that frees WRITTEN blocks
	 * starts a new epoch, under lock, and the worker waits for the
	 * writes of the one before (bow_epoch_enter(), BOW_ROUTE_DRAIN).
	 */
	unsigned int epoch;		/* L, read with READ_ONCE(): 0 or 1 */
	atomic_t epoch_writes[2];	/* A */
	wait_queue_head_t inflight_wait;

	struct mutex state_mutex;	/* the S fields, state changes */
	/*
	 * S: the live table is suspended (presuspend to resume): a state
	 * change, whose I/O a suspended device must not see, is refused
	 * then, and a suspend waits for one under way.
	 */
	bool suspended;
	/* S: the range map a commit or rollback dropped, freed after it. */
	struct rb_root map_dropped;

	/*
	 * W: the free-space map at the checkpoint, as written on disk (state
	 * 1, header_size BOW_HEADER_SIZE_EXT; else empty), and its chain's
	 * blocks.
	 */
	struct bow_freemap_range *freemap;
	u32 freemap_ranges;
	sector_t *freemap_chain;
	u32 freemap_blocks;		/* 0: no map on disk */
	/*
	 * W: the chains of maps moved since the last commit, BACKING until a
	 * commit prepared after the move (freemap_old_committing) is
	 * durable, then free again (bow_freemap_old_release()).
	 */
	sector_t *freemap_old;
	u32 freemap_old_blocks;
	bool freemap_old_committing;
	u64 checkpoint_id;		/* W */

	struct work_struct event_work;	/* I: raises a dm event */

	/*
	 * The backup check of a resumed checkpoint (dm-bow-scrub.c): what
	 * the resume's walk kept (scrub), the work's alone once queued and
	 * touched by others only once bow_scrub_stop() stopped it; its
	 * verdict (scrub_state, L), and the stop asked (scrub_stop, A).
	 */
	struct bow_scrub *scrub;
	enum bow_scrub_state scrub_state;
	bool scrub_stop;
	struct work_struct scrub_work;	/* I */

	/*
	 * For the views over this one (view_users, LS): where each block's
	 * data of the checkpoint is now, as the log says (view_index,
	 * bow_vext nodes keyed by an entry's source, built from the log on
	 * disk when the first view is created, then kept up by
	 * bow_log_append()), and their reads in flight, by epoch (see
	 * bow_view_sync()).
	 */
	unsigned int view_users;	/* LS */
	struct rb_root view_index;	/* L */
	bool view_broken;		/* L: an update failed: its reads fail */
	unsigned int view_epoch;	/* L */
	atomic_t view_reads[2];		/* A */

	struct kobject kobj;		/* /sys/block/dm-N/bow */
	bool kobj_added;		/* D */
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

/*
 * One walk of the log on a device (bow_log_walk()): the reader's side of
 * the walk, what it keeps, and what a resume reads after it.
 */
struct bow_resume {
	struct bow_chain chain;	/* the walk, its geometry and log block */
	struct bow_dev *bd;
	const char *what;	/* "cannot resume", "cannot roll back" */
	struct rb_root map;	/* the simulated device: where its bytes are */
	struct rb_root read;	/* backups the replay has read (phys unused) */
	struct bow_chain_entry *entries;	/* newest first */
	u64 nr_entries;
	u64 cap_entries;
	u32 nr_logs;
	u64 freemap;		/* the extension's: first block of the map */
	u32 freemap_blocks;
	u64 backed_up;		/* blocks, all entries */
	u64 vext_nodes;		/* in map and read: see bow_resume_charge() */
	u64 map_ranges;		/* of the free-space map, read so far */
	u64 map_cap;		/* bd->freemap's room, in ranges */
	u64 mem_max;		/* bytes: see bow_resume_charge() */
	/* BOW_WALK_RUNS: where moved backups lie, entry by entry. */
	bool record_runs;
	struct bow_scrub_run *runs;
	u64 nr_runs;
	u64 cap_runs;
	/* bow_log_walk_confirm(): the entries to check again, and the next. */
	const struct bow_chain_entry *confirm;
	u64 confirm_nr;
	const unsigned long *confirm_suspect;
	u64 confirm_next;
};

/* Flags of bow_log_walk(). */
#define BOW_WALK_NO_DATA	BIT(0)	/* walk the chain, read no backup */
#define BOW_WALK_RESTORING	BIT(1)	/* block 0 may hold a restore begun */
#define BOW_WALK_RUNS		BIT(2)	/* keep where moved backups lie */
#define BOW_WALK_LOG		BIT(3)	/* but check those of entries 0 */

/* Where bow_route() sends a bio. */
enum bow_route {
	BOW_ROUTE_REMAPPED,	/* send it down */
	BOW_ROUTE_SLOW,		/* the worker must protect old data first */
	BOW_ROUTE_DEFER,	/* map() cannot route it now: the worker will */
	BOW_ROUTE_HELD,		/* queued until a state change is over */
	BOW_ROUTE_DONE,		/* completed here */
	BOW_ROUTE_DRAIN,	/* a discard: end it once the old epoch has */
};

extern struct list_head bow_devs;
extern struct mutex bow_devs_lock;
extern struct target_type bow_view_target_type;
extern struct kobj_type bow_ktype;

/* The debug_* parameters of a test build: see dm-bow-target.c. */
extern bool bow_debug_skip_flush;
extern bool bow_debug_alloc_lowest;
extern unsigned int bow_debug_fail_alloc;
extern unsigned int bow_debug_rollback_stop;
extern unsigned int bow_debug_view_read_delay;
extern unsigned int bow_debug_resume_mem_kb;
extern unsigned int bow_debug_view_ctr_delay;
extern unsigned int bow_debug_ctr_read_delay;
extern unsigned int bow_debug_scrub_delay;
extern unsigned int bow_debug_changed_room;

/* State 1, no rollback begun: under bd->lock or bd->state_mutex. */
static inline bool bow_checkpoint_live(const struct bow_dev *bd)
{
	lockdep_assert(lockdep_is_held(&bd->lock) ||
		       lockdep_is_held(&bd->state_mutex));
	return bd->state == BOW_STATE_CHECKPOINT &&
	       bd->mode != BOW_MODE_FAIL_ALL;
}

/* Blocks the copy buffer holds: how much of a backup one read brings. */
static inline u64 bow_copy_buf_blocks(const struct bow_dev *bd)
{
	return (BOW_COPY_UNITS * BOW_COPY_UNIT) >>
	       (bd->block_shift + SECTOR_SHIFT);
}

/* dm-bow-target.c */
void bow_debug_delay(const unsigned int *ms);
void bow_assert_noio(void);
void __bow_dev_put(struct bow_dev *bd);

/* dm-bow-io.c */
struct bow_range *bow_range_slab_alloc(gfp_t gfp);
void __bow_low_water_check(struct bow_dev *bd);
int bow_prealloc_fill(struct bow_prealloc *pa, bool may_wait);
void bow_prealloc_free(struct bow_prealloc *pa);
void bow_convert_range(struct bow_dev *bd, sector_t start,
		       sector_t end, unsigned int from,
		       enum bow_range_type to);
int bow_alloc(struct bow_dev *bd, sector_t max_sectors,
	      enum bow_range_type type, sector_t *dest, sector_t *len);
void bow_unalloc(struct bow_dev *bd, sector_t dest, sector_t len,
		 enum bow_range_type type);
int bow_ranges_init(struct bow_dev *bd);
sector_t bow_bio_end(struct bio *bio, sector_t sector);
enum bow_route bow_route(struct bow_dev *bd, struct bio *bio,
			 sector_t sector, bool worker);
void bow_bio_blocks(struct bow_dev *bd, struct bio *bio,
		    sector_t *start, sector_t *end);
void bow_defer(struct bow_dev *bd, struct bio *bio);
void bow_release(struct bow_dev *bd, struct bio_list *bios, int r);
void bow_worker(struct work_struct *work);
int bow_range_nodes_create(void);
void bow_range_nodes_destroy(void);

/* dm-bow-copy.c */
void bow_kick(struct bow_dev *bd);
void bow_io_end(struct bow_dev *bd);
void bow_handle_ended(struct bow_dev *bd);
void bow_drain_copies(struct bow_dev *bd);
void bow_drain_commits(struct bow_dev *bd);
int bow_backup(struct bow_dev *bd, struct bio *bio, sector_t start,
	       sector_t end, enum bow_range_type type);

/* dm-bow-log.c */
int bow_io_notify(struct bow_dev *bd, blk_opf_t opf, sector_t sector,
		  sector_t count, void *buf, io_notify_fn fn,
		  void *context);
int bow_io(struct bow_dev *bd, blk_opf_t opf, sector_t sector,
	   sector_t count, void *buf);
void bow_batch_init(struct bow_batch *b);
int bow_batch_io(struct bow_dev *bd, struct bow_batch *b, blk_opf_t opf,
		 sector_t sector, sector_t count, void *buf);
int bow_batch_wait(struct bow_batch *b);
int bow_copy_sync(struct bow_dev *bd, sector_t from, sector_t to,
		  sector_t count, u32 *crc, u32 seed);
struct bow_log_header *bow_log_header(struct bow_dev *bd);
struct bow_log_entry *bow_log_entry(struct bow_dev *bd, u32 i);
void bow_log_set_ext(struct bow_dev *bd);
void bow_log_start(struct bow_dev *bd, u32 sequence, sector_t dest,
		   u32 checksum);
blk_opf_t bow_durable(void);
blk_opf_t bow_preflush(void);
blk_opf_t bow_dep_flags(struct bow_dev *bd);
int bow_write_units(struct bow_dev *bd, unsigned int first,
		    unsigned int count, void *buf, blk_opf_t flags,
		    io_notify_fn fn);
int bow_write_block0(struct bow_dev *bd, void *buf);
int bow_log_commit(struct bow_dev *bd);
int bow_log_append(struct bow_dev *bd, sector_t source, sector_t dest,
		   sector_t count, u32 checksum);
void bow_commit_step(struct bow_dev *bd);
void bow_commit_maybe(struct bow_dev *bd);

/* dm-bow-state.c */
void bow_freemap_free(struct bow_dev *bd);
int bow_move_freemap(struct bow_dev *bd);
void bow_freemap_old_release(struct bow_dev *bd);
int bow_move_block0(struct bow_dev *bd);
unsigned int bow_transition_begin(struct bow_dev *bd);
void bow_transition_end(struct bow_dev *bd, int r,
			enum bow_state new_state, unsigned int noio);
int bow_set_state(struct bow_dev *bd, unsigned int new_state);
void bow_event_work(struct work_struct *work);
bool __bow_set_mode(struct bow_dev *bd, enum bow_mode mode);
int bow_rollback_request(struct bow_dev *bd);

/* dm-bow-metadata.c */
int bow_log_walk(struct bow_resume *rs, struct bow_dev *bd,
		 const char *what, unsigned int flags);
int bow_log_walk_confirm(struct bow_resume *rs, struct bow_dev *bd,
			 const struct bow_chain_entry *entries, u64 nr,
			 const unsigned long *suspect);
void bow_log_walk_end(struct bow_resume *rs);
/*
 * Whether @sector was free at the checkpoint, by the free-space map, and
 * for how many sectors on (*@run) the answer stays the same.
 */
bool bow_freemap_run(struct bow_dev *bd, sector_t sector, sector_t *run);
bool bow_freemap_holds(struct bow_dev *bd, sector_t sector,
		       sector_t len);
int bow_resume_log(struct bow_dev *bd, struct dm_target *ti);

/* dm-bow-checkpoint.c */
void bow_view_add(struct bow_dev *bd, sector_t source, sector_t dest,
		  sector_t count);
void bow_view_sync(struct bow_dev *bd);

/* dm-bow-scrub.c */
const char *bow_scrub_word(enum bow_scrub_state state);
int bow_scrub_prepare(struct bow_dev *bd, struct bow_resume *rs);
void bow_scrub_start(struct bow_dev *bd);
void bow_scrub_stop(struct bow_dev *bd);
void bow_scrub_settle(struct bow_dev *bd);
void bow_scrub_free(struct bow_dev *bd);
void bow_scrub_work(struct work_struct *work);

#endif /* DM_BOW_H */
