// SPDX-License-Identifier: GPL-2.0
/*
 * dm-bow: the backup check, which reads a resumed checkpoint's backups
 * once the device is live.
 *
 * A resume checks the log's structure and simulates its replay (a walk
 * without data, dm-bow-metadata.c), but reads no backup: a boot after an
 * update that backed up gigabytes would otherwise wait for all of them.
 * It keeps the entries and, for each, the blocks its backup lay in at the
 * resume.  Once the table is resumed, this work reads those blocks, with
 * bios flowing, and checks each backup against its checksum.
 *
 * A backup written over since the resume was moved first (a new entry
 * copies it elsewhere), so a mismatch may be a race, not a corruption.
 * Each entry that does not match is checked again in one walk with I/O
 * held, through the log as it is then: only a mismatch there is a
 * corrupted backup.  A backup is never restored unchecked either way: a
 * rollback, bow-restore and a bow-checkpoint device built before the
 * check ended read every backup themselves.
 *
 * The verdict is field 10 of the status line; a corrupted backup, or a
 * check that could not end, raises a dm event and is logged.
 */

#include <linux/crc32.h>
#include <linux/delay.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "dm-bow.h"

/* Bytes the check reads at a time. */
#define BOW_SCRUB_BUF	SZ_1M

/* What the resume walked: the check's, from the resume to its end. */
struct bow_scrub {
	struct bow_chain_entry *entries;	/* newest first */
	u64 nr_entries;
	/* Where backups moved before the resume lie: by entry, in order. */
	struct bow_scrub_run *runs;
	u64 nr_runs;
	unsigned long *suspect;		/* entries that did not match */
	void *buf;			/* BOW_SCRUB_BUF */
};

static const char *const bow_scrub_words[] = {
	[BOW_SCRUB_NONE] = "-",
	[BOW_SCRUB_PENDING] = "checking",
	[BOW_SCRUB_CHECKING] = "checking",
	[BOW_SCRUB_VERIFIED] = "verified",
	[BOW_SCRUB_CORRUPT] = "corrupt",
	[BOW_SCRUB_UNCHECKED] = "unchecked",
};

const char *bow_scrub_word(enum bow_scrub_state state)
{
	return bow_scrub_words[state];
}

void bow_scrub_free(struct bow_dev *bd)
{
	struct bow_scrub *sc = bd->scrub;

	bd->scrub = NULL;
	if (!sc)
		return;
	kvfree(sc->entries);
	kvfree(sc->runs);
	kvfree(sc->suspect);
	vfree(sc->buf);
	kfree(sc);
}

/* The resume is over: keep what its walk read, for the check. */
int bow_scrub_prepare(struct bow_dev *bd, struct bow_resume *rs)
{
	struct bow_scrub *sc = kzalloc(sizeof(*sc), GFP_KERNEL);

	if (!sc)
		return -ENOMEM;
	sc->entries = rs->entries;
	sc->nr_entries = rs->nr_entries;
	sc->runs = rs->runs;
	sc->nr_runs = rs->nr_runs;
	rs->entries = NULL;
	rs->runs = NULL;
	bd->scrub = sc;
	bd->scrub_state = BOW_SCRUB_PENDING;
	return 0;
}

/* The table is live: start the check if one waits. */
void bow_scrub_start(struct bow_dev *bd)
{
	bool start;

	spin_lock(&bd->lock);
	start = bd->scrub_state == BOW_SCRUB_PENDING;
	if (start)
		bd->scrub_state = BOW_SCRUB_CHECKING;
	spin_unlock(&bd->lock);
	if (start)
		queue_work(system_long_wq, &bd->scrub_work);
}

/*
 * Stop the check before a state change that ends the checkpoint (it
 * would read blocks being rewritten), a suspend (a suspended device sees
 * no I/O of the target's own) or the last table's destruction.  A check
 * stopped waits to start again, from its first entry (bow_scrub_start(),
 * bow_scrub_settle()).  Never waits for state_mutex, which the caller
 * may hold: the check only tries it.
 */
void bow_scrub_stop(struct bow_dev *bd)
{
	WRITE_ONCE(bd->scrub_stop, true);
	cancel_work_sync(&bd->scrub_work);
	WRITE_ONCE(bd->scrub_stop, false);
	spin_lock(&bd->lock);
	if (bd->scrub_state == BOW_SCRUB_CHECKING)
		bd->scrub_state = BOW_SCRUB_PENDING;
	spin_unlock(&bd->lock);
}

/*
 * After a commit or a rollback, under state_mutex: a checkpoint kept
 * (the change failed before it wrote) is checked on.  With the
 * checkpoint gone, or half rolled back (only a rollback ends that, and
 * it reads every backup), there is nothing to check.
 */
void bow_scrub_settle(struct bow_dev *bd)
{
	bool gone;

	lockdep_assert_held(&bd->state_mutex);
	spin_lock(&bd->lock);
	gone = !bow_checkpoint_live(bd);
	if (gone)
		bd->scrub_state = BOW_SCRUB_NONE;
	spin_unlock(&bd->lock);
	if (gone)
		bow_scrub_free(bd);
	else
		bow_scrub_start(bd);
}

/* Go on with a checksum over one run of a backup.  -EINTR: stopped. */
static int bow_scrub_read(struct bow_dev *bd, struct bow_scrub *sc,
			  const struct bow_scrub_run *run, u32 *crc)
{
	unsigned int shift = bd->block_shift;
	u64 buf_blocks = BOW_SCRUB_BUF >> (shift + SECTOR_SHIFT);
	u64 b, n;
	int r;

	for (b = 0; b < run->blocks; b += n) {
		if (READ_ONCE(bd->scrub_stop))
			return -EINTR;
		n = min(run->blocks - b, buf_blocks);
		r = bow_io(bd, REQ_OP_READ, (run->phys + b) << shift,
			   n << shift, sc->buf);
		if (r)
			return r;
		*crc = crc32(*crc, sc->buf, n << (shift + SECTOR_SHIFT));
		cond_resched();
	}
	return 0;
}

/*
 * Read every backup where it lay at the resume, with bios flowing, and
 * mark the entries that do not match, or could not be read (the check
 * with I/O held says which it was).  -EINTR: stopped.
 */
static int bow_scrub_pass(struct bow_dev *bd, struct bow_scrub *sc,
			  u64 *suspects)
{
	u64 i, k = 0;
	int r;

	for (i = 0; i < sc->nr_entries; i++) {
		const struct bow_chain_entry *e = &sc->entries[i];
		struct bow_scrub_run at_dest = {
			.phys = e->dest,
			.blocks = e->blocks,
		};
		u32 crc = (u32)e->source;

		bow_debug_delay(&bow_debug_scrub_delay);
		r = 0;
		if (k == sc->nr_runs || sc->runs[k].entry != i)
			r = bow_scrub_read(bd, sc, &at_dest, &crc);
		for (; !r && k < sc->nr_runs && sc->runs[k].entry == i; k++)
			r = bow_scrub_read(bd, sc, &sc->runs[k], &crc);
		if (r == -EINTR)
			return r;
		while (k < sc->nr_runs && sc->runs[k].entry == i)
			k++;
		if (r || !bow_checksum_matches(crc, e->checksum, e->blocks)) {
			set_bit(i, sc->suspect);
			++*suspects;
		}
	}
	return 0;
}

/*
 * Check the marked entries again with I/O held, through the log as it
 * is now (the walk's own data check).  -EINTR: stopped.
 */
static int bow_scrub_confirm(struct bow_dev *bd, struct bow_scrub *sc)
{
	struct bow_resume rs;
	unsigned int noio;
	int r;

	/* A state change stops this work while it holds the mutex. */
	for (;;) {
		if (READ_ONCE(bd->scrub_stop))
			return -EINTR;
		if (mutex_trylock(&bd->state_mutex)) {
			if (!bd->suspended)
				break;
			mutex_unlock(&bd->state_mutex);
		}
		msleep(20);
	}
	if (!bow_checkpoint_live(bd) || bd->mode != BOW_MODE_RW) {
		DMERR("%pg: backup check: the log failed a write", bd->bdev);
		r = -EIO;
		goto out;
	}
	noio = bow_transition_begin(bd);
	/* The walk reads the log on the device: all of it. */
	r = bd->log_dirty ? bow_log_commit(bd) : 0;
	if (!r) {
		r = bow_log_walk_confirm(&rs, bd, sc->entries, sc->nr_entries,
					 sc->suspect);
		bow_log_walk_end(&rs);
	}
	bow_transition_end(bd, 0, bd->state, noio);
out:
	mutex_unlock(&bd->state_mutex);
	return r;
}

void bow_scrub_work(struct work_struct *work)
{
	struct bow_dev *bd = container_of(work, struct bow_dev, scrub_work);
	struct bow_scrub *sc = bd->scrub;
	enum bow_scrub_state verdict;
	u64 suspects = 0;
	int r = -ENOMEM;

	if (!sc->buf)
		sc->buf = vmalloc(BOW_SCRUB_BUF);
	if (!sc->suspect)
		sc->suspect = kvcalloc(BITS_TO_LONGS(sc->nr_entries),
				       sizeof(long), GFP_KERNEL);
	if (sc->buf && sc->suspect) {
		bitmap_zero(sc->suspect, sc->nr_entries);
		r = bow_scrub_pass(bd, sc, &suspects);
	}
	if (!r && suspects)
		r = bow_scrub_confirm(bd, sc);
	if (r == -EINTR)
		return;		/* bow_scrub_stop() says what comes next */

	if (!r) {
		verdict = BOW_SCRUB_VERIFIED;
		DMINFO("%pg: backups verified: %llu entries, %llu checked again with I/O held",
		       bd->bdev, sc->nr_entries, suspects);
	} else if (r == -EINVAL) {
		verdict = BOW_SCRUB_CORRUPT;
		DMERR("%pg: a backup does not match its checksum: no rollback",
		      bd->bdev);
	} else {
		verdict = BOW_SCRUB_UNCHECKED;
		DMERR("%pg: backup check failed (%d): backups not verified",
		      bd->bdev, r);
	}
	spin_lock(&bd->lock);
	bd->scrub_state = verdict;
	if (verdict != BOW_SCRUB_VERIFIED)
		queue_work(system_wq, &bd->event_work);
	spin_unlock(&bd->lock);
	/*
	 * What the check kept is no longer needed.  Only this work and
	 * those that stop it first touch bd->scrub.
	 */
	bow_scrub_free(bd);
}
