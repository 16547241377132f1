/* SPDX-License-Identifier: GPL-2.0 */
/*
 * /etc/bowtab: the devices the dm-bow lifecycle protects, one a line,
 * "<name> <lower device> [<option>,...]" (bowtab(5)).  Shared by bowctl,
 * the systemd generator and the tests.
 */
#ifndef BOWTAB_H
#define BOWTAB_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define BOWTAB_PATH "/etc/bowtab"
#define BOWTAB_NAME_MAX 64

/* What to do when free space falls below min_free (on_full=). */
enum bowtab_on_full {
	BOWTAB_ON_FULL_COMMIT,	/* keep the update, stop protecting it */
	BOWTAB_ON_FULL_ABORT,	/* disarm and reboot: the next boot restores */
};

/* What to do with a live log that does not validate (on_invalid=). */
enum bowtab_on_invalid {
	BOWTAB_ON_INVALID_ROLL_FORWARD,	/* block 0 back, new data kept */
	BOWTAB_ON_INVALID_FAIL,		/* leave it untouched, fail the mount */
};

/* Who commits a checkpoint (commit=). */
enum bowtab_commit {
	BOWTAB_COMMIT_BOOT_COMPLETE,	/* bow-commit@, after a healthy boot */
	BOWTAB_COMMIT_MANUAL,		/* the update tool, with bowctl commit */
};

#define BOWTAB_DEFAULT_GROUP "all"

struct bowtab_entry {
	char name[BOWTAB_NAME_MAX];
	char lower[PATH_MAX];		/* as written: PARTLABEL=, ... or path */
	char state_dir[PATH_MAX];
	unsigned int retries;		/* boot attempts per checkpoint */
	uint32_t block_size;		/* 0: the target's default */
	uint64_t low_water;		/* bytes; the table's event threshold */
	uint64_t min_free;		/* bytes */
	enum bowtab_on_full on_full;
	enum bowtab_on_invalid on_invalid;
	enum bowtab_commit commit;
	/*
	 * The devices one update changes: committed and aborted together
	 * (bowctl(8), GROUPS).  By default all of bowtab's, as the update
	 * tools' hooks arm them all.
	 */
	char group[BOWTAB_NAME_MAX];
	bool initramfs;			/* set up before the root switch */
	bool resume;			/* in-place updates: bowctl(8) */
	unsigned int line;		/* where it was read */
};

/*
 * Parse one line (modified in place) of @file, number @lineno.  Returns
 * 1 for an entry in @e, 0 for a blank or comment line, -1 for a bad line
 * after saying on @err which file, line and field is wrong.
 */
int bowtab_parse_line(const char *file, unsigned int lineno, char *line,
		      struct bowtab_entry *e, FILE *err);

/*
 * Find the entry named @name in @file: its first line, as bowtab_each()
 * takes it.  Returns 0 with @e filled in, or -1 after a message on @err:
 * no such file, no such entry, or the line is bad (then nothing is done
 * for that device).  A later line of the same name is said on @err.
 */
int bowtab_find(const char *file, const char *name, struct bowtab_entry *e,
		FILE *err);

/*
 * Call @fn for every entry of @file, in order, going on past bad lines
 * (said on @err, and given to @bad_line if not NULL: the line's first
 * field, which may be empty or no valid name, and the message without
 * its newline).  A name already used on an earlier line makes a bad
 * line: the first one counts.  Returns the number of bad lines, or -1 if
 * the file cannot be read (a missing file has no entries: 0).
 */
int bowtab_each(const char *file, FILE *err,
		void (*fn)(const struct bowtab_entry *e, void *arg),
		void (*bad_line)(const char *name, unsigned int line,
				 const char *message, void *arg),
		void *arg);

/*
 * The path of the lower device: PARTLABEL=x is /dev/disk/by-partlabel/x,
 * PARTUUID=x /dev/disk/by-partuuid/x, UUID=x /dev/disk/by-uuid/x (with
 * udev's escaping of the value); a path stays as it is.
 */
void bowtab_lower_path(const struct bowtab_entry *e, char *path,
		       size_t len);

/*
 * The mount point @fstab gives /dev/mapper/@name, in @mp; false if it
 * gives none (or cannot be read).
 */
bool bowtab_fstab_mount_point(const char *fstab, const char *name, char *mp,
			      size_t len);

/*
 * The mount point in @fstab of the file system that holds @path (an
 * absolute path), in @mp: the longest mount point that is @path or one of
 * its parents, or "/" if none is.
 */
void bowtab_fstab_holder(const char *fstab, const char *path, char *mp,
			 size_t len);

/*
 * Whether @e's state directory is on its own protected file system, by
 * path: @fstab mounts /dev/mapper/<name> (at @mp) where the state
 * directory's file system is (bowtab_fstab_holder()).  Seen before the
 * mount too.
 */
bool bowtab_state_on_device(const struct bowtab_entry *e, const char *fstab,
			    char *mp, size_t len);

/*
 * Whether a health check guards boot-complete.target on the system under
 * @root ("" for this one): a unit that target requires, other than
 * dm-bow's own (a link in boot-complete.target.requires/ of a systemd
 * unit directory: what [Install] RequiredBy=boot-complete.target makes).
 * Without one, the target is reached right after sysinit.target.
 */
bool bowtab_health_check(const char *root);

#endif /* BOWTAB_H */
