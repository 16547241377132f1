// SPDX-License-Identifier: GPL-2.0
/*
 * dm-bow: the walk of a live log, and resuming one (the "resume" feature).
 *
 * The log is checked as bow-restore checks it, by the rules of
 * Documentation/dm-bow-format.rst, "Replay": the chain is walked newest first,
 * every field checked, and its replay simulated without writing a byte.
 * The simulation keeps, for each block the replay would write, the block
 * that holds now what it would receive; every backup is read through it
 * and checksummed (a resume reads only those of entries 0, the log's
 * own blocks and block 0: for the rest it keeps where each lies, for the
 * backup check of dm-bow-scrub.c).  Then the free-space map is read, and
 * the range map rebuilt from both (bow_resume_rebuild()): nothing is free
 * until a discard frees WRITTEN blocks.
 */

#include <linux/crc32.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "dm-bow.h"

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
		   rs->cap_entries * sizeof(struct bow_chain_entry) +
		   (rs->vext_nodes + 2 * rs->nr_entries) *
		   sizeof(struct bow_vext) +
		   rs->map_cap * sizeof(struct bow_freemap_range) +
		   rs->cap_runs * sizeof(struct bow_scrub_run) +
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
	u64 kib = READ_ONCE(bow_debug_resume_mem_kb);

	if (kib)
		return kib << 10;
	return ((u64)totalram_pages() << PAGE_SHIFT) >> BOW_RESUME_RAM_SHIFT;
}

static struct bow_resume *bow_chain_resume(struct bow_chain *ch)
{
	return container_of(ch, struct bow_resume, chain);
}

static int bow_chain_read_dev(struct bow_chain *ch, u64 phys, u64 blocks,
			      void *buf, const void **data)
{
	struct bow_resume *rs = bow_chain_resume(ch);
	struct bow_dev *bd = rs->bd;
	unsigned int shift = bd->block_shift;
	int r;

	r = bow_io(bd, REQ_OP_READ, phys << shift, blocks << shift, buf);
	if (r)
		DMERR("%pg: %s: read error at sector %llu",
		      bd->bdev, rs->what, phys << shift);
	return r;
}

static struct rb_root *bow_chain_root(struct bow_chain *ch,
				      enum bow_chain_map m)
{
	struct bow_resume *rs = bow_chain_resume(ch);

	return m == BOW_CHAIN_MAP ? &rs->map : &rs->read;
}

static u64 bow_chain_lookup(struct bow_chain *ch, enum bow_chain_map m,
			    u64 block, u64 *run)
{
	return bow_vext_lookup(bow_chain_root(ch, m), block, run);
}

static bool bow_chain_overlaps(struct bow_chain *ch, enum bow_chain_map m,
			       u64 start, u64 len)
{
	return bow_vext_overlaps(bow_chain_root(ch, m), start, len);
}

/* The simulated device's extents are charged as they are made. */
static int bow_chain_assign(struct bow_chain *ch, enum bow_chain_map m,
			    u64 start, u64 len, u64 to)
{
	struct bow_resume *rs = bow_chain_resume(ch);
	int r;

	r = bow_vext_assign(bow_chain_root(ch, m), start, len, to,
			    &rs->vext_nodes);
	if (!r && m == BOW_CHAIN_MAP)
		r = bow_resume_charge(rs, 0);
	return r;
}

/*
 * A broken rule, in the kernel log's words (bow-restore says the same
 * of the same log in its own).
 */
static int bow_chain_broken(struct bow_chain *ch,
			    const struct bow_chain_verdict *v)
{
	struct bow_resume *rs = bow_chain_resume(ch);
	struct bow_dev *bd = rs->bd;
	const struct bow_header_facts *h = v->h;
	const struct bow_entry_facts *f = v->f;
	const struct bow_chain_entry *e = v->e;

	switch (v->rule) {
	case BOW_RULE_MAGIC:
		return bow_resume_bad(rs, "log block sequence %u has magic 0x%08x, expected 0x%08x",
				      v->expect, h->magic, BOW_MAGIC);
	case BOW_RULE_VERSION:
		return bow_resume_bad(rs,
				      "log block sequence %u: header_version 0x%04x, expected 0x%04x",
				      h->sequence, h->header_version,
				      BOW_HEADER_VERSION);
	case BOW_RULE_BLOCK_SIZE:
		return bow_resume_bad(rs, "log block sequence %u: block_size %u, the table's is %u",
				      h->sequence, h->block_size, bd->block_size);
	case BOW_RULE_HEADER_SIZE:
		return bow_resume_bad(rs,
				      "log block sequence %u: header_size %u, expected %u to %u",
				      h->sequence, h->header_size,
				      BOW_HEADER_SIZE, bd->block_size);
	case BOW_RULE_SECTOR0_ALIGN:
	case BOW_RULE_SECTOR0_ZERO:
	case BOW_RULE_SECTOR0_END:
		return bow_resume_bad(rs,
				      "log block sequence %u: sector0 %llu is not a block of the device but block 0",
				      h->sequence, h->sector0);
	case BOW_RULE_COUNT_ZERO:
		return bow_resume_bad(rs,
				      "count 0: a commit has begun, or the log is damaged: run bow-restore");
	case BOW_RULE_COUNT:
		return bow_resume_bad(rs, "log block sequence %u: count %u, expected 1 to %u",
				      h->sequence, h->count,
				      bow_log_capacity(bd->block_size,
						       h->header_size));
	case BOW_RULE_SEQUENCE:
		return bow_resume_bad(rs,
				      "log block sequence %u, expected %u (the chain must count down by one)",
				      h->sequence, v->expect);
	case BOW_RULE_ENTRY_BLOCKS:
		return bow_resume_bad(rs,
				      "log block sequence %u entry %u: source %llu, dest %llu, size %u are not whole blocks",
				      e->sequence, e->index, f->source_sector,
				      f->dest_sector, f->size);
	case BOW_RULE_ENTRY_BLOCK0:
		return bow_resume_bad(rs,
				      "log block sequence %u entry %u: block 0 is the source of entry 0, one block, and of no other entry, and never a dest",
				      e->sequence, e->index);
	case BOW_RULE_ENTRY_END:
		return bow_resume_bad(rs,
				      "log block sequence %u entry %u: sectors %llu -> %llu, %u bytes, reach past the end of the device",
				      e->sequence, e->index, f->dest_sector,
				      f->source_sector, f->size);
	case BOW_RULE_ENTRY_OVERLAP:
		return bow_resume_bad(rs,
				      "log block sequence %u entry %u: source %llu and dest %llu overlap",
				      e->sequence, e->index, f->source_sector,
				      f->dest_sector);
	case BOW_RULE_BUDGET:
		return bow_resume_bad(rs,
				      "log block sequence %u entry %u: the chain backs up more than the device holds",
				      e->sequence, e->index);
	case BOW_RULE_CHECKSUM:
		return bow_resume_bad(rs,
				      "log block sequence %u entry %u: checksum of sectors %llu+%llu is 0x%08x, log says 0x%08x",
				      e->sequence, e->index,
				      e->dest << bd->block_shift,
				      e->blocks << bd->block_shift, v->crc,
				      e->checksum);
	case BOW_RULE_CONVERGE:
		return bow_resume_bad(rs,
				      "log block sequence %u entry %u: its source overlaps the dest of an entry replayed before it",
				      e->sequence, e->index);
	default:
		return bow_resume_bad(rs, "rule %d", v->rule);
	}
}

/*
 * Room in *@array (@nr elements of @size bytes, room for *@cap) for one
 * more: it doubles, from 256, under the charge.
 */
static int bow_resume_grow(struct bow_resume *rs, void **array, size_t size,
			   u64 nr, u64 *cap)
{
	u64 more = *cap ? *cap * 2 : 256;
	void *n;
	int r;

	if (nr < *cap)
		return 0;
	r = bow_resume_charge(rs, more * size);
	if (r)
		return r;
	n = kvmalloc_array(more, size, BOW_RESUME_GFP);
	if (!n)
		return -ENOMEM;
	if (*array)
		memcpy(n, *array, nr * size);
	kvfree(*array);
	*array = n;
	*cap = more;
	return 0;
}

/*
 * Where @e's backup lies on the device now, as runs of blocks, for the
 * backup check (dm-bow-scrub.c), if not all at its dest: a backup moved
 * since (in pieces, maybe).  The replay of @e, simulated already,
 * changed where its source stands, not its dest.
 */
static int bow_resume_runs(struct bow_resume *rs,
			   const struct bow_chain_entry *e)
{
	u64 b, run, phys;
	int r;

	for (b = 0; b < e->blocks; b += run) {
		phys = bow_vext_lookup(&rs->map, e->dest + b, &run);
		if (!b && phys == e->dest && run >= e->blocks)
			return 0;	/* where the entry says: nothing to keep */
		if (run > e->blocks - b)
			run = e->blocks - b;
		r = bow_resume_grow(rs, (void **)&rs->runs, sizeof(*rs->runs),
				    rs->nr_runs, &rs->cap_runs);
		if (r)
			return r;
		rs->runs[rs->nr_runs++] = (struct bow_scrub_run){
			.phys = phys,
			.blocks = run,
			.entry = rs->nr_entries,
		};
	}
	return 0;
}

/*
 * The backup check's walk: an entry it marked is read again, through the
 * log as it is now.  Entries keep their log block and index, and a walk
 * meets them in the same order, after those appended since.
 */
static int bow_chain_entry_confirm(struct bow_resume *rs,
				   const struct bow_chain_entry *e)
{
	const struct bow_chain_entry *want;
	const void *data;

	if (rs->confirm_next >= rs->confirm_nr)
		return 0;
	want = &rs->confirm[rs->confirm_next];
	if (want->sequence != e->sequence || want->index != e->index)
		return 0;
	rs->confirm_next = find_next_bit(rs->confirm_suspect, rs->confirm_nr,
					 rs->confirm_next + 1);
	return bow_chain_verify(&rs->chain, e, &data);
}

static int bow_chain_entry_add(struct bow_chain *ch,
			       const struct bow_chain_entry *e)
{
	struct bow_resume *rs = bow_chain_resume(ch);
	int r;

	if (rs->confirm)
		return bow_chain_entry_confirm(rs, e);
	if (rs->record_runs) {
		r = bow_resume_runs(rs, e);
		if (r)
			return r;
	}
	r = bow_resume_grow(rs, (void **)&rs->entries, sizeof(*rs->entries),
			    rs->nr_entries, &rs->cap_entries);
	if (r)
		return r;
	rs->entries[rs->nr_entries++] = *e;
	return 0;
}

/*
 * The newest header, in rs->chain.block: appending goes on with its size, that
 * of a header without extension, or this version's; the extension says
 * where the free-space map is.
 */
static int bow_resume_ext(struct bow_resume *rs, u32 header_size)
{
	const struct bow_log_ext *x = rs->chain.block + BOW_HEADER_SIZE;
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
	    rs->freemap_blocks > rs->chain.g.dev_blocks)
		return bow_resume_bad(rs,
				      "header extension: free-space map at sector %llu, %u blocks",
				      rs->freemap, rs->freemap_blocks);
	return 0;
}

/* A header checked: the newest says how to go on; bd->log keeps it. */
static int bow_chain_header(struct bow_chain *ch,
			    const struct bow_header_facts *h, bool first)
{
	struct bow_resume *rs = bow_chain_resume(ch);
	int r;

	rs->nr_logs++;
	if (!first)
		return 0;
	r = bow_resume_ext(rs, h->header_size);
	if (!r)
		memcpy(rs->bd->log, ch->block, rs->bd->block_size);
	return r;
}

static const struct bow_chain_ops bow_chain_ops = {
	.read = bow_chain_read_dev,
	.lookup = bow_chain_lookup,
	.assign = bow_chain_assign,
	.overlaps = bow_chain_overlaps,
	.header = bow_chain_header,
	.entry = bow_chain_entry_add,
	.broken = bow_chain_broken,
};

static void bow_log_walk_init(struct bow_resume *rs, struct bow_dev *bd,
			      const char *what, unsigned int flags)
{
	u64 dev_blocks = bd->nr_sectors >> bd->block_shift;

	*rs = (struct bow_resume){
		.bd = bd,
		.what = what,
		.map = RB_ROOT,
		.read = RB_ROOT,
		.mem_max = bow_resume_mem_max(),
		.record_runs = flags & BOW_WALK_RUNS,
		.chain = {
			.ops = &bow_chain_ops,
			.g = {
				.block_size = bd->block_size,
				.dev_blocks = dev_blocks,
			},
			.vold_partial_ok = flags & BOW_WALK_RESTORING,
			.check_data = !(flags & BOW_WALK_NO_DATA),
			.check_log = flags & BOW_WALK_LOG,
			.budget = dev_blocks,
			.buf = bd->copy_buf,
			.buf_blocks = bow_copy_buf_blocks(bd),
		},
	};
}

static int bow_log_walk_run(struct bow_resume *rs)
{
	int r;

	rs->chain.block = vmalloc(rs->bd->block_size);
	if (!rs->chain.block)
		return -ENOMEM;
	r = bow_chain_walk(&rs->chain);
	bow_vext_destroy(&rs->map);
	bow_vext_destroy(&rs->read);
	return r;
}

/*
 * Walk and check the log on the device, for a resume, a rollback or a
 * bow-checkpoint index (@what starts what the kernel log says of a log
 * that does not validate; @flags, BOW_WALK_*).  Then
 * rs->entries holds every entry, newest first, and the simulated device
 * is gone: what reads through @rs read the device as it is.  Whatever
 * the outcome, bow_log_walk_end() frees the rest.
 */
int bow_log_walk(struct bow_resume *rs, struct bow_dev *bd,
		 const char *what, unsigned int flags)
{
	bow_log_walk_init(rs, bd, what, flags);
	return bow_log_walk_run(rs);
}

/*
 * The backup check's walk, with no bio in flight: of @entries (@nr, as
 * a walk with BOW_WALK_RUNS left them), those set in @suspect are read
 * and checked again; the others and those appended since are not read.
 * -EINVAL if one does not match; bow_log_walk_end() as above.
 */
int bow_log_walk_confirm(struct bow_resume *rs, struct bow_dev *bd,
			 const struct bow_chain_entry *entries, u64 nr,
			 const unsigned long *suspect)
{
	int r;

	bow_log_walk_init(rs, bd, "backup check", BOW_WALK_NO_DATA);
	rs->confirm = entries;
	rs->confirm_nr = nr;
	rs->confirm_suspect = suspect;
	rs->confirm_next = find_first_bit(suspect, nr);
	r = bow_log_walk_run(rs);
	if (!r && rs->confirm_next < nr) {
		DMERR("%pg: backup check: log block sequence %u entry %u is not in the log",
		      bd->bdev, entries[rs->confirm_next].sequence,
		      entries[rs->confirm_next].index);
		r = -EIO;
	}
	return r;
}

void bow_log_walk_end(struct bow_resume *rs)
{
	kvfree(rs->entries);
	kvfree(rs->runs);
	vfree(rs->chain.block);
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

static int bow_freemap_read(struct bow_freemap_walk *fw, u64 sector)
{
	struct bow_resume *rs = fw->priv;

	return bow_io(rs->bd, REQ_OP_READ, sector, rs->bd->block_sectors,
		      fw->block);
}

static int bow_freemap_ranges(struct bow_freemap_walk *fw, u32 index,
			      u64 sector,
			      const struct bow_freemap_range *range,
			      u32 count)
{
	struct bow_resume *rs = fw->priv;
	struct bow_dev *bd = rs->bd;
	int r;

	r = bow_resume_map_room(rs, count);
	if (r)
		return r;
	memcpy(bd->freemap + rs->map_ranges, range, count * sizeof(*range));
	rs->map_ranges += count;
	bd->freemap_chain[index] = sector;
	return 0;
}

static int bow_freemap_broken(struct bow_freemap_walk *fw,
			      const struct bow_freemap_verdict *v)
{
	struct bow_resume *rs = fw->priv;

	switch (v->rule) {
	case BOW_RULE_FREEMAP_PLACE:
		return bow_resume_bad(rs,
				      "free-space map block %u: sector %llu is not a block of the device but block 0",
				      v->index, v->sector);
	case BOW_RULE_FREEMAP_SEAL:
		return bow_resume_bad(rs,
				      "free-space map block %u at sector %llu: bad magic or checksum",
				      v->index, v->sector);
	case BOW_RULE_FREEMAP_CHAIN:
		return bow_resume_bad(rs,
				      "free-space map block %u at sector %llu: not block %u of %u of this checkpoint's map, or count %u",
				      v->index, v->sector, v->index,
				      fw->blocks, v->count);
	case BOW_RULE_FREEMAP_RANGE:
		return bow_resume_bad(rs,
				      "free-space map block %u range %u: sectors %llu+%llu are not whole blocks of the device but block 0, after the range before",
				      v->index, v->range, v->start, v->len);
	default:
		return bow_resume_bad(rs, "free-space map: rule %d", v->rule);
	}
}

/*
 * Read and check the free-space map the header extension points at, by
 * the rules of dm-bow-rules.c: every block's place, magic, checksum,
 * checkpoint id and place in the chain, and every range.  It becomes
 * bd->freemap and bd->freemap_chain.
 */
static int bow_resume_freemap(struct bow_resume *rs)
{
	struct bow_dev *bd = rs->bd;
	struct bow_freemap_walk fw = {
		.g = rs->chain.g,
		.checkpoint_id = bd->checkpoint_id,
		.first = rs->freemap,
		.blocks = rs->freemap_blocks,
		.block = rs->chain.block,
		.priv = rs,
		.read = bow_freemap_read,
		.ranges = bow_freemap_ranges,
		.broken = bow_freemap_broken,
	};
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
	r = bow_freemap_walk(&fw);
	if (r)
		return r;
	bd->freemap_ranges = rs->map_ranges;
	bd->freemap_blocks = rs->freemap_blocks;
	return 0;
}

bool bow_freemap_run(struct bow_dev *bd, sector_t sector, sector_t *run)
{
	u32 lo = 0, hi = bd->freemap_ranges;
	sector_t start, end;

	/* The last range that starts at or before @sector, or the first. */
	while (hi - lo > 1) {
		u32 mid = lo + (hi - lo) / 2;

		if (le64_to_cpu(bd->freemap[mid].sector) <= sector)
			lo = mid;
		else
			hi = mid;
	}
	*run = bd->nr_sectors - sector;
	if (!bd->freemap_ranges)
		return false;
	start = le64_to_cpu(bd->freemap[lo].sector);
	end = start + le64_to_cpu(bd->freemap[lo].sectors);
	if (start > sector) {
		*run = start - sector;
		return false;
	}
	if (sector < end) {
		*run = end - sector;
		return true;
	}
	if (lo + 1 < bd->freemap_ranges)
		*run = le64_to_cpu(bd->freemap[lo + 1].sector) - sector;
	return false;
}

/* True if [sector, sector + len) was free at the checkpoint, by the map. */
bool bow_freemap_holds(struct bow_dev *bd, sector_t sector, sector_t len)
{
	sector_t run;

	return bow_freemap_run(bd, sector, &run) && len <= run;
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
				~(BOW_TYPE(BOW_BLOCK0) | BOW_TYPE(BOW_TOP)),
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
		const struct bow_chain_entry *e = &rs->entries[i];

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
	r = bow_resume_mark(bd, live, bd->block_sectors, BOW_BLOCK0_LIVE);
	for (i = 0; !r && i < bd->freemap_blocks; i++) {
		sector_t b = bd->freemap_chain[i];

		if (!bow_range_all(&bd->map, b, b + bd->block_sectors,
				   BOW_TYPE(BOW_WRITTEN)))
			return bow_resume_bad(rs,
					      "free-space map block %llu at sector %llu lies on a backup, a backed-up block, the live block 0 or the map, or was not free at the checkpoint",
					      i, (u64)b);
		r = bow_resume_mark(bd, b, bd->block_sectors, BOW_FREEMAP);
	}
	bd->block0_live = live;
	return r;
}

/*
 * Block 0 holds a live log: check it and take the checkpoint up again,
 * in state 1.  Nothing is written.  The device is not yet shared, so no
 * lock is needed.
 */
int bow_resume_log(struct bow_dev *bd, struct dm_target *ti)
{
	const struct bow_log_header *h = bd->log;
	struct bow_resume rs;
	int r;

	/*
	 * Of the backups, only the log's own blocks and block 0 are read:
	 * the rest once the device is live, bow_scrub_work().
	 */
	r = bow_log_walk(&rs, bd, "cannot resume",
			 BOW_WALK_NO_DATA | BOW_WALK_LOG | BOW_WALK_RUNS);
	if (!r)
		r = bow_resume_freemap(&rs);
	if (!r)
		r = bow_resume_rebuild(&rs);
	if (!r)
		r = bow_scrub_prepare(bd, &rs);
	if (r) {
		ti->error = !rs.chain.block ? "Cannot allocate log block" :
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
	bd->block0_written = true;
	bd->state = BOW_STATE_CHECKPOINT;
	DMINFO("%pg: resumed: %u log blocks, %llu entries, %u free ranges",
	       bd->bdev, rs.nr_logs, rs.nr_entries, bd->freemap_ranges);
out:
	bow_log_walk_end(&rs);
	return r;
}
