/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The lifecycle state of one protected device, kept in <state>/<name>.state
 * (bowctl(8)): replaced atomically, checked by a CRC when read.
 */
#ifndef BOW_STATE_H
#define BOW_STATE_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "bootloader.h"

enum bow_lifecycle {
	BOW_LC_IDLE,		/* nothing armed */
	BOW_LC_ARMED,		/* the next boot checkpoints */
	BOW_LC_CHECKPOINT,	/* this boot's checkpoint is live */
	BOW_LC_COMMITTED,	/* the last update was kept */
	BOW_LC_ROLLED_BACK,	/* the last update was undone */
	BOW_LC_FAILED,		/* see the reason; nothing armed */
};

struct bow_state {
	enum bow_lifecycle lifecycle;
	unsigned int attempts;	/* checkpointed boots left */
	unsigned int retries;	/* what the arming gave */
	char event[32];		/* the last thing done, e.g. "restored" */
	char reason[512];	/* why, for people */
	int64_t time;		/* of the event, seconds since the epoch */
	char boot_id[40];	/* the boot that counted the last attempt */
	char lower[PATH_MAX];	/* the lower device last set up */
	/* Boot loader entries (bootloader.h), "" where none is known: */
	char entry_from[BOW_ENTRY_MAX];	/* booted when bowctl start armed */
	char entry_to[BOW_ENTRY_MAX];	/* the update's */
};

/* Results of bow_state_read(). */
enum {
	BOW_STATE_OK = 0,
	BOW_STATE_MISSING = 1,	/* never written: idle */
	BOW_STATE_DAMAGED = 2,	/* torn or edited: said why on err */
};

const char *bow_lifecycle_name(enum bow_lifecycle lc);

/* Armed for the next boots, or a checkpoint of theirs live. */
static inline bool bow_state_armed(const struct bow_state *s)
{
	return s->lifecycle == BOW_LC_ARMED ||
	       s->lifecycle == BOW_LC_CHECKPOINT;
}

/*
 * Read @dir/@name.state into @s.  Missing: @s is idle.  Damaged (torn,
 * edited, unreadable): @s is failed with the reason, and the message on
 * @err (after @prefix) names the file, the line and what was expected.
 */
int bow_state_read(const char *dir, const char *name, struct bow_state *s,
		   const char *prefix, FILE *err);

/*
 * Replace @dir/@name.state with @s: a temporary file, fsync, rename,
 * fsync of the directory, all through the directory opened once; no
 * symbolic link in it is followed.  Refuses a directory that
 * bow_state_dir_check() would.  Returns 0, or -1 after a message on @err.
 */
int bow_state_write(const char *dir, const char *name,
		    const struct bow_state *s, const char *prefix, FILE *err);

/*
 * Whether @dir may hold state files: it (or, while it does not exist,
 * the directory it will be made in) and every directory above it owned
 * by root (or by who runs bowctl), and writable by nobody else, above it
 * only if sticky.  Whoever can write there can forge a state (an abort,
 * a lower device) or have root write through a link.  Returns 0, or -1
 * with the reason in @why.
 */
int bow_state_dir_check(const char *dir, char *why, size_t len);

/* Record an event now, with a reason (printf format). */
void bow_state_event(struct bow_state *s, const char *event,
		     const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* BOW_STATE_H */
