/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bowctl: boot-setup's decision, as a function of what it found.
 *
 * boot-setup (boot.c) first deals with the device's log: it resumes a
 * checkpoint of a device updated in place, or restores the log, or
 * finishes a commit.  What it found and did then decides, and nothing
 * else does, what the state file says next and whether this boot takes a
 * checkpoint: boot_decide() reads no file and writes none, so that every
 * row of the decision table (Documentation/dm-bow-lifecycle.rst, "How it
 * decides") is tested on the host (tests/unit/test-bowctl.c).
 */
#ifndef BOWCTL_DECIDE_H
#define BOWCTL_DECIDE_H

#include <stdbool.h>

#include "bootloader.h"
#include "state.h"

/* What boot-setup knows once the device's log is dealt with. */
struct boot_facts {
	int state_read;		/* BOW_STATE_OK, _MISSING or _DAMAGED */
	struct bow_state prev;	/* the state file as this boot read it */
	bool resume;		/* bowtab: the device is updated in place */
	/*
	 * What the restore did: NULL (no log), "restored", "rolled-forward"
	 * or "commit-finished".
	 */
	const char *did;
	bool finish_commit;	/* a commit was recorded, not finished */
	const char *not_resumed;	/* why a checkpoint was not resumed */
	/* The boot loader, where it was asked (armed, not resume). */
	enum bow_entry_verdict where;
	const char *entry;	/* the entry booted: "" if not known */
	bool counted;		/* it still counts that entry's tries */
	/* Why the state directory cannot count an attempt, or NULL. */
	const char *unprotected;
	const char *boot_id;	/* this boot's */
	const char *lower;	/* the lower device's path, for messages */
	const char *name;	/* the device's bowtab name */
};

/* What boot-setup says besides the state file: bits of notes. */
enum boot_note {
	BOOT_NOTE_DAMAGED = 1,	/* no checkpoint: the state file is damaged */
	BOOT_NOTE_LOG_GONE = 2,	/* the reason, on stderr */
	BOOT_NOTE_UNPROTECTED = 4,	/* the boot's warning: no checkpoint */
};

struct boot_decision {
	const char *did;	/* the restore's, counting one not recorded */
	bool checkpoint;	/* map dm-bow: this boot is an attempt */
	bool save;		/* write the state file */
	unsigned int notes;	/* enum boot_note */
	char attempt[BOW_ENTRY_MAX + 120];	/* "boot attempt 1 of 2" */
};

/*
 * Before the log is touched.  A commit decided and recorded, which did
 * not reach the device (a power cut, a group member whose own commit
 * failed): finished, not restored (group_commit()).
 */
bool boot_commit_pending(int state_read, const struct bow_state *st);

/*
 * Whether a device updated in place (@resume) resumes its live
 * checkpoint, which this boot then tries, rather than restoring it.
 */
bool boot_resume_wanted(int state_read, const struct bow_state *st,
			bool resume);

/*
 * The state after this boot-setup in *@st, which holds the state as read
 * (with no attempt left for a device updated in place, which only bowctl
 * start checkpoints), and the rest in *@out.
 */
void boot_decide(const struct boot_facts *f, struct bow_state *st,
		 struct boot_decision *out);

#endif /* BOWCTL_DECIDE_H */
