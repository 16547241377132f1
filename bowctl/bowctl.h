/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bowctl: what its parts share.
 *
 *   bowctl.c     the command line
 *   device.c     the device worked on: bowtab line, state file, lock
 *   update.c     start, commit, abort (one device or a group)
 *   boot.c       the boot steps, before and after the mount
 *   inplace.c    checkpoints taken while running; rollback now
 *   status.c     status and initramfs-devices
 *   changed.c    changed: the ranges written since the checkpoint
 *   bowtab.c, state.c, dm.c, bootloader.c, generator.c: see their headers
 */
#ifndef BOWCTL_H
#define BOWCTL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../bow-restore/lib/restore.h"
#include "../dm-bow-format.h"
#include "bootloader.h"
#include "bowtab.h"
#include "decide.h"
#include "dm.h"
#include "state.h"

/* Exit statuses, bowctl(8). */
enum {
	EXIT_DONE = 0,		/* done, or nothing to do */
	EXIT_USAGE = 2,		/* bad command line, bowtab line or name */
	EXIT_SYSTEM = 3,	/* I/O, device-mapper or state file error */
	EXIT_REFUSED = 4,	/* refused: see the message (nothing done) */
	EXIT_NOT_RESTORABLE = 5,	/* abort, rollback: nothing to restore */
};

#define LOCK_DIR "/run/bowctl"

/* One device being worked on: its bowtab line, state and lock. */
struct dev {
	struct bowtab_entry e;
	struct bow_state st;
	int state_read;		/* BOW_STATE_OK, _MISSING or _DAMAGED */
	bool unsafe;		/* state directory refused: never written */
	int lock_fd;
	char prefix[BOWTAB_NAME_MAX + 16];	/* "bowctl: <name>: " */
	char state_dir[PATH_MAX * 2];	/* e.state_dir under root_dir */
};

extern const char *bowtab_path;
extern const char *fstab_path;
extern char root_dir[PATH_MAX];
#ifdef BOWCTL_TESTING
extern bool test_cut_after_restore;
#endif
extern const char *opt_entry;

/* What boot-setup maps: a pass-through, dm-bow, or dm-bow resuming. */
enum mapping_kind { MAP_LINEAR, MAP_BOW, MAP_BOW_RESUME };

/* device.c */
void say(const struct dev *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void read_boot_id(char *id, size_t len);
bool state_dir_protected(const struct dev *d, char *why, size_t len);
void dev_state_dir(struct dev *d);
int state_fs_mounted(struct dev *d);
int dev_open(struct dev *d, const char *name, bool untrusted_ok);
void dev_close(struct dev *d);
int reboot_now(struct dev *d);
int save(struct dev *d);
void boot_warning(struct dev *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void boot_warning_read(const char *name, char *text, size_t len);
int info(struct dev *d, struct bow_dm_info *di);

/* update.c */
bool abort_pending(const struct bow_state *st);
int not_restorable(struct dev *d, const struct bow_dm_info *di);
int cmd_start(struct dev *d, unsigned int retries);
int quiet_bowtab_each(void (*fn)(const struct bowtab_entry *e,
		      void *arg), void *arg);
int group_commit(struct dev *d, const char *event, const char *why,
		 bool disarm, bool (*only)(struct dev *m));
int group_abort(struct dev *d, const char *event, const char *why);
int cmd_abort(struct dev *d, bool reboot);

/* boot.c */
const char *table(const struct dev *d, const char *lower,
		  uint64_t size, enum mapping_kind kind,
		  uint64_t *sectors, char *params, size_t len);
int find_lower(struct dev *d, char lower[PATH_MAX]);
int cmd_boot_setup(struct dev *d);
bool mount_point(uint32_t major, uint32_t minor, char *mp, size_t len);
int checkpoint_mounted(struct dev *d, const struct bow_dm_info *di,
		       bool freeze, char *why, size_t len);
int cmd_boot_checkpoint(struct dev *d);
int cmd_boot_watch(struct dev *d);
int cmd_boot_commit(struct dev *d);

/* inplace.c */
int start_live(struct dev *d, unsigned int retries);
int cmd_rollback(struct dev *d);

/* status.c */
int cmd_status(const char *only, bool json);
int cmd_initramfs_devices(void);
void json_string(const char *s);

/* changed.c */
int cmd_changed(const char *name, bool json);

#endif /* BOWCTL_H */
