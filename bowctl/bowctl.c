// SPDX-License-Identifier: GPL-2.0
/*
 * bowctl: the update lifecycle around dm-bow (bowctl(8)).  Arms a
 * checkpoint for the next boot, and at boot restores a checkpoint that
 * was not committed, sets dm-bow up, checkpoints after the mount, watches
 * free space and commits after a healthy boot.  A device updated in place
 * (bowtab resume) is checkpointed at once by start, and its checkpoint
 * resumed by the boots that try the update.  Every step reads and writes
 * the device's state file (state.c) and is safe to run again after a
 * power cut at any point.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../bow-restore/lib/restore.h"
#include "../dm-bow-format.h"
#include "bootloader.h"
#include "bowtab.h"
#include "dm.h"
#include "state.h"

#ifndef BOW_VERSION
#define BOW_VERSION "unknown"
#endif

/* Exit statuses, bowctl(8). */
enum {
	EXIT_DONE = 0,		/* done, or nothing to do */
	EXIT_USAGE = 2,		/* bad command line, bowtab line or name */
	EXIT_SYSTEM = 3,	/* I/O, device-mapper or state file error */
	EXIT_REFUSED = 4,	/* refused: see the message (nothing done) */
	EXIT_NOT_RESTORABLE = 5,	/* abort, rollback: nothing to restore */
};

#define LOCK_DIR "/run/bowctl"

static const char *bowtab_path = BOWTAB_PATH;
static const char *fstab_path = "/etc/fstab";
/*
 * --root: the system's root file system is mounted here (the initramfs's
 * /root): its bowtab, fstab and state directories are read under it.
 */
static char root_dir[PATH_MAX];

#ifdef BOWCTL_TESTING
/* bowctl-test --test-cut-after-restore: a power cut once the log is gone. */
static bool test_cut_after_restore;
#endif

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

static void say(const struct dev *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(const struct dev *d, const char *fmt, ...)
{
	va_list ap;

	fputs(d->prefix, stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static void read_boot_id(char *id, size_t len)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	id[0] = 0;
	if (f && fgets(id, (int)len, f))
		id[strcspn(id, "\n")] = 0;
	if (f)
		fclose(f);
}

/*
 * The state must outlive a rollback of the device it describes: refuse a
 * state directory on the protected file system (by path, as fstab mounts
 * it, so that it is seen before the mount too) or on the lower device.
 */
static bool state_dir_protected(const struct dev *d, char *why, size_t len)
{
	char mp[PATH_MAX], lower[PATH_MAX];
	struct stat sd, sl;

	if (bowtab_state_on_device(&d->e, fstab_path, mp, sizeof(mp))) {
		snprintf(why, len, "state directory %s is on the protected "
			 "file system (%s)", d->e.state_dir, mp);
		return true;
	}
	bowtab_lower_path(&d->e, lower, sizeof(lower));
	if (!stat(d->state_dir, &sd) && !stat(lower, &sl) &&
	    S_ISBLK(sl.st_mode) && sd.st_dev == sl.st_rdev) {
		snprintf(why, len, "state directory %s is on the lower "
			 "device %s", d->e.state_dir, lower);
		return true;
	}
	return false;
}

/* Where @d's state lives: bowtab's state= directory, under --root. */
static void dev_state_dir(struct dev *d)
{
	snprintf(d->state_dir, sizeof(d->state_dir), "%s%s", root_dir,
		 d->e.state_dir);
}

/*
 * A state directory on a file system of its own (by fstab) is only there
 * once that is mounted.  Before, the same path names a directory of the
 * file system below, and state written there would be hidden, and stale,
 * once the right one is mounted: so nothing is read or written until it
 * is.  (A state directory on the protected device is refused elsewhere.)
 */
static int state_fs_mounted(struct dev *d)
{
	char mp[PATH_MAX], path[PATH_MAX * 2], up[PATH_MAX * 2 + 4];
	struct stat sm, su;

	bowtab_fstab_holder(fstab_path, d->e.state_dir, mp, sizeof(mp));
	if (!strcmp(mp, "/") ||
	    bowtab_state_on_device(&d->e, fstab_path, path, sizeof(path)))
		return EXIT_DONE;
	snprintf(path, sizeof(path), "%s%s", root_dir, mp);
	snprintf(up, sizeof(up), "%s/..", path);
	/* A mount point is on another device than its parent. */
	if (!stat(path, &sm) && !stat(up, &su) && sm.st_dev != su.st_dev)
		return EXIT_DONE;
	say(d, "the state directory %s is on %s (%s), which is not mounted\n",
	    d->state_dir, path, fstab_path);
	return EXIT_SYSTEM;
}

/*
 * Find @name in bowtab, lock its state (one bowctl at a time changes it)
 * and read it.  A state directory others could write to is refused
 * (bow_state_dir_check()); with @untrusted_ok (boot-setup, which must
 * still restore and map the device) its state is read as damaged.
 * Returns an exit status.
 */
static int dev_open(struct dev *d, const char *name, bool untrusted_ok)
{
	char path[PATH_MAX + 80], why[PATH_MAX + 100];

	memset(d, 0, sizeof(*d));
	d->lock_fd = -1;
	snprintf(d->prefix, sizeof(d->prefix), "bowctl: %.63s: ", name);
	if (bowtab_find(bowtab_path, name, &d->e, stderr))
		return EXIT_USAGE;
	dev_state_dir(d);
	if (state_fs_mounted(d))
		return EXIT_SYSTEM;
	/* The lock need not outlive the boot: /run, there from the start. */
	if (mkdir(LOCK_DIR, 0755) && errno != EEXIST) {
		say(d, "cannot create %s: %s\n", LOCK_DIR, strerror(errno));
		return EXIT_SYSTEM;
	}
	snprintf(path, sizeof(path), LOCK_DIR "/%s.lock", name);
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (d->lock_fd < 0 || flock(d->lock_fd, LOCK_EX)) {
		say(d, "cannot lock %s: %s\n", path, strerror(errno));
		return EXIT_SYSTEM;
	}
	if (bow_state_dir_check(d->state_dir, why, sizeof(why))) {
		say(d, "unsafe state directory: %s\n", why);
		if (!untrusted_ok)
			return EXIT_REFUSED;
		d->unsafe = true;
		d->state_read = BOW_STATE_DAMAGED;
		d->st.lifecycle = BOW_LC_FAILED;
		bow_state_event(&d->st, "damaged", "unsafe state directory: %s",
				why);
		return EXIT_DONE;
	}
	d->state_read = bow_state_read(d->state_dir, name, &d->st,
				       d->prefix, stderr);
	return EXIT_DONE;
}

static void dev_close(struct dev *d)
{
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	d->lock_fd = -1;
}

/* Reboot through systemd, the lock released; returns only on failure. */
static int reboot_now(struct dev *d)
{
	dev_close(d);
	execlp("systemctl", "systemctl", "reboot", (char *)NULL);
	say(d, "cannot run systemctl reboot: %s\n", strerror(errno));
	return EXIT_SYSTEM;
}

static int save(struct dev *d)
{
	if (d->unsafe) {
		say(d, "not writing the state: its directory is unsafe\n");
		return EXIT_SYSTEM;
	}
	if (mkdir(d->state_dir, 0755) && errno != EEXIST) {
		say(d, "cannot create the state directory %s: %s\n",
		    d->state_dir, strerror(errno));
		return EXIT_SYSTEM;
	}
	return bow_state_write(d->state_dir, d->e.name, &d->st, d->prefix,
			       stderr) ? EXIT_SYSTEM : EXIT_DONE;
}

/*
 * What this boot must not keep quiet about, in /run (there from the
 * initramfs on, gone at the next boot): a boot that was to be
 * checkpointed and is not, or an outcome the state file could not
 * record.  bow-checkpoint@ fails on it (boot-complete.target requires
 * it: no commit, no bootloader blessing) and status shows it.
 */
static void boot_warning_path(const char *name, char *path, size_t len)
{
	snprintf(path, len, LOCK_DIR "/%s.warning", name);
}

static void boot_warning(struct dev *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void boot_warning(struct dev *d, const char *fmt, ...)
{
	char path[PATH_MAX], text[600];
	va_list ap;
	int fd;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	say(d, "%s\n", text);
	boot_warning_path(d->e.name, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0644);
	if (fd < 0 || dprintf(fd, "%s\n", text) < 0)
		say(d, "cannot write %s: %s\n", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* This boot's warning for @name, in @text (empty if none). */
static void boot_warning_read(const char *name, char *text, size_t len)
{
	char path[PATH_MAX];
	int fd;
	ssize_t n = 0;

	boot_warning_path(name, path, sizeof(path));
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		n = read(fd, text, len - 1);
	if (fd >= 0)
		close(fd);
	text[n > 0 ? n : 0] = 0;
	text[strcspn(text, "\n")] = 0;
}

static int info(struct dev *d, struct bow_dm_info *di)
{
	if (bow_dm_info(d->e.name, di)) {
		say(d, "cannot query device-mapper\n");
		return EXIT_SYSTEM;
	}
	return EXIT_DONE;
}

/* ---- arming, committing, aborting: what people and update tools run */

/* bowctl start of a device updated in place (bowtab resume). */
static int start_live(struct dev *d, unsigned int retries);

/* Whether an abort was decided (bowctl abort, on_full=abort): no commit. */
static bool abort_pending(const struct bow_state *st)
{
	return !strcmp(st->event, "abort") || !strcmp(st->event, "low-space");
}

/*
 * Why nothing can be restored any more, for abort and rollback with no
 * live checkpoint: the update's data was committed (or never had a
 * checkpoint).  Returns EXIT_NOT_RESTORABLE after saying so, or EXIT_DONE
 * when that is not the case.  An update tool must hear it: its own
 * rollback would put the old system on the new data.
 */
static int not_restorable(struct dev *d, const struct bow_dm_info *di)
{
	if (d->st.lifecycle == BOW_LC_COMMITTED) {
		say(d, "nothing to restore: the update's data was committed "
		    "already (%s at %" PRId64 ": %s)\n", d->st.event,
		    d->st.time, d->st.reason);
		return EXIT_NOT_RESTORABLE;
	}
	/* Committed, and the state file not yet told (a power cut). */
	if (di->mapping == BOW_MAP_BOW && di->state == 2 &&
	    d->st.lifecycle != BOW_LC_ROLLED_BACK) {
		say(d, "nothing to restore: the update's data was committed "
		    "already (dm-bow is in state 2)\n");
		return EXIT_NOT_RESTORABLE;
	}
	if (d->st.lifecycle == BOW_LC_FAILED) {
		say(d, "nothing to restore: %s (%s at %" PRId64 ")\n",
		    d->st.reason, d->st.event, d->st.time);
		return EXIT_NOT_RESTORABLE;
	}
	return EXIT_DONE;
}

/* nftw(): whether a file under it is dm-bow's module. */
static int is_bow_module(const char *path, const struct stat *sb, int type,
			 struct FTW *ftw)
{
	const char *base = path + ftw->base;

	(void)sb;
	return type == FTW_F && (!strncmp(base, "dm-bow.ko", 9) ||
				 !strncmp(base, "dm_bow.ko", 9));
}

/*
 * The installed kernels (/boot/vmlinuz-<release>) with no dm-bow module
 * in /lib/modules/<release> (a file, or built in), listed in @list; the
 * system is under $BOW_MODULES_ROOT (for tests) or --root.  A boot into
 * one of them could not checkpoint.
 */
static void kernels_without_module(char *list, size_t len)
{
	const char *sys = getenv("BOW_MODULES_ROOT") ?
			  getenv("BOW_MODULES_ROOT") : root_dir;
	char path[PATH_MAX * 2], line[PATH_MAX];
	struct dirent *de;
	bool found;
	FILE *f;
	DIR *dir;

	list[0] = 0;
	snprintf(path, sizeof(path), "%s/boot", sys);
	dir = opendir(path);
	while (dir && (de = readdir(dir))) {
		const char *rel = de->d_name + 8;

		if (strncmp(de->d_name, "vmlinuz-", 8) || !*rel)
			continue;
		snprintf(path, sizeof(path), "%s/lib/modules/%s", sys, rel);
		found = nftw(path, is_bow_module, 16, FTW_PHYS) == 1;
		snprintf(path, sizeof(path), "%s/lib/modules/%s/"
			 "modules.builtin", sys, rel);
		f = fopen(path, "re");
		while (!found && f && fgets(line, sizeof(line), f))
			found = strstr(line, "/dm-bow.ko") ||
				strstr(line, "/dm_bow.ko");
		if (f)
			fclose(f);
		if (!found && strlen(list) + strlen(rel) + 2 < len)
			snprintf(list + strlen(list), len - strlen(list),
				 "%s%s", list[0] ? " " : "", rel);
	}
	if (dir)
		closedir(dir);
}

/* bowctl start --entry: the boot loader entry the update boots. */
static const char *opt_entry;

static int cmd_start(struct dev *d, unsigned int retries)
{
	char why[PATH_MAX * 2 + 80];
	struct bow_dm_info di;
	int r;

	if (state_dir_protected(d, why, sizeof(why))) {
		say(d, "refusing to arm: %s; a rollback would undo the state "
		    "that asks for it (bowtab line %u)\n", why, d->e.line);
		return EXIT_REFUSED;
	}
	/*
	 * An update tool must hear it now, while it can still install the
	 * module: at the boot it would run unprotected.
	 */
	kernels_without_module(why, sizeof(why));
	if (why[0]) {
		bool many = strchr(why, ' ');

		say(d, "refusing to arm: no dm-bow.ko for the installed "
		    "kernel%s %s: a boot into %s could not checkpoint (install "
		    "dm-bow-dkms and linux-headers for %s, or remove %s)\n",
		    many ? "s" : "", why, many ? "one of them" : "it",
		    many ? "each" : "it", many ? "them" : "it");
		return EXIT_REFUSED;
	}
	if (d->e.resume)
		return start_live(d, retries ? retries : d->e.retries);
	/*
	 * This boot's checkpoint is not decided yet: its commit (or its
	 * restore) must not take the next update's arming with it.
	 */
	if ((r = info(d, &di)))
		return r;
	if (di.mapping == BOW_MAP_BOW && di.state == 1) {
		say(d, "a checkpoint is live (%s): bowctl commit or abort it "
		    "before arming the next update\n", d->st.reason);
		return EXIT_REFUSED;
	}
	d->st.lifecycle = BOW_LC_ARMED;
	d->st.retries = retries ? retries : d->e.retries;
	d->st.attempts = d->st.retries;
	d->st.boot_id[0] = 0;
	/*
	 * Where the boot loader will come back to if the update fails
	 * (cmd_boot_setup()), and the update's own entry where the tool
	 * says (otherwise the first other entry an armed boot comes from).
	 */
	if (!bow_boot_entry(d->st.entry_from, sizeof(d->st.entry_from)))
		d->st.entry_from[0] = 0;
	snprintf(d->st.entry_to, sizeof(d->st.entry_to), "%s",
		 opt_entry ? opt_entry : "");
	bow_entry_normalize(d->st.entry_to);
	bow_state_event(&d->st, "start", "armed for %u boot attempt%s%s%s%s%s",
			d->st.attempts, d->st.attempts == 1 ? "" : "s",
			d->st.entry_from[0] ? " from boot entry " : "",
			d->st.entry_from, d->st.entry_to[0] ? " to " : "",
			d->st.entry_to);
	return save(d);
}

/*
 * ---- groups: the devices one update changes (bowtab group=), committed
 * and aborted together.  A commit records "committing" on every member
 * before dm-bow commits any: a member whose own commit then fails (or a
 * power cut) keeps that record over its live log, and its next boot
 * finishes the commit (cmd_boot_setup()), so that no group ends half
 * committed and half restored.
 */

struct group {
	struct dev *dev;	/* the members, locked, in bowtab order */
	unsigned int n;
	const char *group;	/* while reading bowtab */
	const char *self;	/* the member the command named */
	bool incomplete;	/* a member could not be added */
};

static void group_add(const struct bowtab_entry *e, void *arg)
{
	struct group *g = arg;
	struct dev *more;

	if (strcmp(e->group, g->group))
		return;
	more = realloc(g->dev, (g->n + 1) * sizeof(*g->dev));
	if (!more) {
		g->incomplete = true;
		return;
	}
	g->dev = more;
	memset(&g->dev[g->n], 0, sizeof(g->dev[g->n]));
	g->dev[g->n].e = *e;
	g->dev[g->n].lock_fd = -1;
	g->n++;
}

/*
 * bowtab_each() for a device's group, after bowtab_find() found it: the
 * bad lines were said then, not again.  Returns bowtab_each()'s result.
 */
static int quiet_bowtab_each(void (*fn)(const struct bowtab_entry *e,
					void *arg), void *arg)
{
	FILE *quiet = fopen("/dev/null", "we");
	int r;

	if (!quiet)
		return -1;
	r = bowtab_each(bowtab_path, quiet, fn, NULL, arg);
	fclose(quiet);
	return r;
}

static void group_close(struct group *g)
{
	for (unsigned int i = 0; i < g->n; i++)
		dev_close(&g->dev[i]);
	free(g->dev);
	g->dev = NULL;
	g->n = 0;
}

/*
 * Lock and read every member of @d's group, in bowtab order, so that two
 * group commands never wait for each other in a circle: @d's own lock is
 * let go first, and @d is read again as a member.  A member that cannot
 * be opened (its state unsafe or unmounted) stops the command: the
 * group is decided whole or not at all.  Returns an exit status.
 */
static int group_open(struct dev *d, struct group *g)
{
	char name[BOWTAB_NAME_MAX];
	int r;

	memset(g, 0, sizeof(*g));
	g->group = d->e.group;
	g->self = d->e.name;
	r = quiet_bowtab_each(group_add, g);
	if (r < 0 || g->incomplete || !g->n) {
		say(d, "cannot read the group %s from %s\n", d->e.group,
		    bowtab_path);
		group_close(g);
		return EXIT_SYSTEM;
	}
	dev_close(d);
	for (unsigned int i = 0; i < g->n; i++) {
		snprintf(name, sizeof(name), "%s", g->dev[i].e.name);
		r = dev_open(&g->dev[i], name, false);
		if (r) {
			say(&g->dev[i], "the group %s is left as it was\n",
			    g->dev[i].e.group);
			group_close(g);
			return r;
		}
	}
	return EXIT_DONE;
}

/* What a commit does to a device. */
enum commit_step {
	COMMIT_NOTHING,
	COMMIT_LIVE,		/* a live checkpoint: dm-bow commits it */
	COMMIT_RECORD,		/* dm-bow committed, the state not told yet */
	COMMIT_DISARM,		/* an arming no boot has taken: cancelled */
};

/*
 * What committing @d (@di) means, in @step; with @disarm (bowctl commit:
 * an update tool that changed its mind before any boot) an arming is
 * cancelled.  Or a refusal, said: an abort is decided, or the checkpoint
 * was rolled back.
 */
static int commit_step(struct dev *d, const struct bow_dm_info *di,
		       bool disarm, enum commit_step *step)
{
	bool bow = di->mapping == BOW_MAP_BOW;

	*step = COMMIT_NOTHING;
	if (bow && di->state == 2 && d->st.lifecycle == BOW_LC_COMMITTED)
		return EXIT_DONE;	/* committed already: keep its reason */
	/* Decided: the next boot restores (an abort, on_full=abort). */
	if (bow && di->state == 1 && abort_pending(&d->st)) {
		say(d, "not committing: an abort is pending (%s); the next "
		    "boot restores the checkpoint\n", d->st.reason);
		return EXIT_REFUSED;
	}
	/* dm-bow's state 2 after a rollback is no commit. */
	if (d->st.lifecycle == BOW_LC_ROLLED_BACK) {
		say(d, "nothing to commit: the checkpoint was rolled back "
		    "(%s)\n", d->st.reason);
		return EXIT_REFUSED;
	}
	if (bow && di->state == 1)
		*step = COMMIT_LIVE;
	else if (bow && di->state == 2)
		*step = COMMIT_RECORD;
	else if (d->st.lifecycle == BOW_LC_ARMED && disarm)
		*step = COMMIT_DISARM;
	return EXIT_DONE;
}

/* Do @step to @d, its "committing" recorded already for a live one. */
static int commit_apply(struct dev *d, enum commit_step step,
			const char *event, const char *why)
{
	if (step == COMMIT_LIVE && bow_dm_message(d->e.name, "commit")) {
		say(d, "dm-bow refused the commit; \"committing\" stays "
		    "recorded over the live checkpoint, and its next boot "
		    "finishes the commit\n");
		return EXIT_SYSTEM;
	}
	if (step == COMMIT_LIVE || step == COMMIT_RECORD) {
		d->st.attempts = 0;
		d->st.lifecycle = BOW_LC_COMMITTED;
		bow_state_event(&d->st, event, "%s", why);
	} else if (step == COMMIT_DISARM) {
		d->st.attempts = 0;
		d->st.lifecycle = BOW_LC_IDLE;
		bow_state_event(&d->st, event, "%s; no checkpoint was live: "
				"disarmed", why);
	} else {
		return EXIT_DONE;
	}
	return save(d);
}

/*
 * Commit @d's group (for @why; @disarm as commit_step()).  With @only
 * (the boot's commit), a member is committed only if @only says so:
 * another's checkpoint, or an arming, is not this boot's to decide.
 */
static int group_commit(struct dev *d, const char *event, const char *why,
			bool disarm, bool (*only)(struct dev *m))
{
	char because[sizeof(d->st.reason)];
	enum commit_step *step;
	struct bow_state *prev;
	struct group g;
	int r, ret = EXIT_DONE;

	if ((r = group_open(d, &g)))
		return r;
	step = calloc(g.n, sizeof(*step));
	prev = calloc(g.n, sizeof(*prev));
	if (!step || !prev) {
		say(d, "out of memory\n");
		ret = EXIT_SYSTEM;
		goto out;
	}
	for (unsigned int i = 0; i < g.n && !ret; i++) {
		struct dev *m = &g.dev[i];
		struct bow_dm_info di;

		prev[i] = m->st;
		if (only && !only(m))
			continue;
		if (!(r = info(m, &di)))
			r = commit_step(m, &di, disarm, &step[i]);
		if (r && strcmp(m->e.name, g.self))
			say(m, "so the group %s is not committed\n",
			    m->e.group);
		ret = r;
	}
	/* Every member's decision on record before any device changes. */
	for (unsigned int i = 0; i < g.n && !ret; i++) {
		if (step[i] != COMMIT_LIVE)
			continue;
		bow_state_event(&g.dev[i].st, "committing", "%s", why);
		if (save(&g.dev[i])) {
			say(&g.dev[i], "not committing the group %s: the "
			    "state file cannot record the commit\n",
			    g.dev[i].e.group);
			ret = EXIT_SYSTEM;
			for (unsigned int j = 0; j <= i; j++) {
				g.dev[j].st = prev[j];
				if (step[j] == COMMIT_LIVE && j < i)
					save(&g.dev[j]);
			}
		}
	}
	if (!ret) {
		for (unsigned int i = 0; i < g.n; i++) {
			struct dev *m = &g.dev[i];

			if (strcmp(m->e.name, g.self))
				snprintf(because, sizeof(because), "%s (with "
					 "its group %s)", why, m->e.group);
			else
				snprintf(because, sizeof(because), "%s", why);
			r = commit_apply(m, step[i], event, because);
			if (r && !ret)
				ret = r;
		}
	}
out:
	free(step);
	free(prev);
	group_close(&g);
	return ret;
}

/*
 * Decide @d's group to be restored at the next boot (@event, @why: bowctl
 * abort, on_full=abort): every live checkpoint marked, every arming no
 * boot has taken cancelled.  A member that cannot be restored (committed
 * already, its checkpoint failed) is said, and makes the status 5; if
 * nothing could be, nothing is written.
 */
static int group_abort(struct dev *d, const char *event, const char *why)
{
	struct group g;
	bool acted = false;
	int r, ret = EXIT_DONE;

	if ((r = group_open(d, &g)))
		return r;
	for (unsigned int i = 0; i < g.n; i++) {
		struct dev *m = &g.dev[i];
		struct bow_dm_info di;

		if ((r = info(m, &di))) {
			ret = r;
			continue;
		}
		if (di.mapping == BOW_MAP_BOW && di.state == 1) {
			m->st.attempts = 0;
			m->st.lifecycle = BOW_LC_CHECKPOINT;
			bow_state_event(&m->st, event, "%s", why);
		} else if (m->st.lifecycle == BOW_LC_ARMED) {
			/* No boot has tried the update: it never began. */
			m->st.attempts = 0;
			m->st.lifecycle = BOW_LC_IDLE;
			bow_state_event(&m->st, event, "%s: no checkpoint was "
					"live; disarmed", why);
		} else {
			if ((r = not_restorable(m, &di)) && !ret)
				ret = r;
			else if (!r && !strcmp(m->e.name, g.self))
				say(m, "nothing to abort: %s\n",
				    bow_lifecycle_name(m->st.lifecycle));
			continue;
		}
		acted = true;
		if ((r = save(m)))
			ret = r;
	}
	if (acted && ret == EXIT_NOT_RESTORABLE)
		say(d, "the group %s is partly committed: what could be is "
		    "restored at the next boot\n", d->e.group);
	group_close(&g);
	return ret;
}

static int cmd_abort(struct dev *d, bool reboot)
{
	int r = group_abort(d, "abort", "bowctl abort");

	return !r && reboot ? reboot_now(d) : r;
}

/* ---- boot: before the mount */

/*
 * Before the first write to the lower device: say in the state file what
 * the writes do.  A power cut after the last of them and before the state
 * file records the outcome leaves no log; this tells the next boot that
 * the device was rolled back (or forward), not committed.  A state file
 * that cannot be written does not stop the restore: the message says so.
 */
static int record_intent(void *arg, enum bow_status what)
{
	struct dev *d = arg;
	struct bow_state keep = d->st;

	/* A damaged file stays as it is: the next boot says so again. */
	if (d->state_read == BOW_STATE_DAMAGED)
		return 0;
	if (what == BOW_RESTORED)
		bow_state_event(&d->st, "restoring", "restoring the "
				"checkpoint");
	else if (what == BOW_ROLLED_FORWARD)
		bow_state_event(&d->st, "rolling-forward", "rolling forward "
				"over the log");
	else
		return 0;	/* a commit: no log afterwards says it all */
	if (save(d))
		say(d, "going on without a record of the restore\n");
	d->st = keep;
	return 0;
}

/*
 * Restore a live log on @lower, as the bowtab line says; or, with
 * @commit (a commit was decided and recorded, and did not reach the
 * device), finish that commit: roll forward.  Sets @did.
 */
static int restore_lower(struct dev *d, const char *lower, uint64_t *size,
			 bool commit, const char **did)
{
	struct bow_restore_opts ro = {
		.prefix = d->prefix,
		/* "committing" says what a roll forward does already. */
		.before_write = commit ? NULL : record_intent,
		.before_write_arg = d,
		.roll_forward = commit,
	};
	struct bow_restore_summary sum;
	int fd, status, r = EXIT_DONE;

	*did = NULL;
	fd = bow_open_device(lower, &(struct bow_open_opts){
		.writing = true, .prefix = d->prefix, .err = stderr,
	}, size);
	if (fd < 0)
		return EXIT_SYSTEM;
	status = bow_restore(fd, *size, lower, &ro, &sum, stdout, stderr);
	switch (status) {
	case BOW_NO_LOG:
		break;
	case BOW_RESTORED:
		*did = "restored";
		break;
	case BOW_COMMITTED:
		*did = "commit-finished";
		break;
	case BOW_ROLLED_FORWARD:
		if (commit) {
			*did = "commit-finished";
			break;
		}
		r = EXIT_SYSTEM;
		break;
	case BOW_INVALID:
	case BOW_BAD_CHECKSUM:
	case BOW_TRUNCATED:
		if (d->e.on_invalid == BOWTAB_ON_INVALID_FAIL) {
			*did = "invalid-log";
			r = EXIT_REFUSED;
			break;
		}
		ro.roll_forward = true;
		status = bow_restore(fd, *size, lower, &ro, &sum, stdout,
				     stderr);
		if (status == BOW_ROLLED_FORWARD)
			*did = "rolled-forward";
		else
			r = EXIT_SYSTEM;
		break;
	default:	/* I/O error or a partial replay: the next run goes on */
		r = EXIT_SYSTEM;
		break;
	}
	if (close(fd) && r == EXIT_DONE && *did) {
		say(d, "%s: close failed: %s\n", lower, strerror(errno));
		r = EXIT_SYSTEM;
	}
	return r;
}

/* What boot-setup maps: a pass-through, dm-bow, or dm-bow resuming. */
enum mapping_kind { MAP_LINEAR, MAP_BOW, MAP_BOW_RESUME };

/*
 * The table of @d over @lower (@size bytes): its length in @sectors, its
 * target and parameters.
 */
static const char *table(const struct dev *d, const char *lower,
			 uint64_t size, enum mapping_kind kind,
			 uint64_t *sectors, char *params, size_t len)
{
	/*
	 * 4 KiB by default, the block of the file systems it carries: 168
	 * log entries a block where 512 bytes hold 18.  The table ends at a
	 * whole block; a file system never uses a part.  A device updated in
	 * place has the same length under both targets, so that one can
	 * replace the other under its mounted file system.
	 */
	uint32_t bs = d->e.block_size ? d->e.block_size : 4096;

	if (kind != MAP_LINEAR || d->e.resume)
		size -= size % bs;
	*sectors = size >> 9;
	if (kind == MAP_LINEAR) {
		snprintf(params, len, "%s 0", lower);
		return "linear";
	}
	snprintf(params, len, "%s %d block_size:%" PRIu32 " low_water:%"
		 PRIu64 "%s", lower, kind == MAP_BOW_RESUME ? 3 : 2, bs,
		 d->e.low_water, kind == MAP_BOW_RESUME ? " resume" : "");
	return "bow";
}

static int create_mapping(struct dev *d, const char *lower, uint64_t size,
			  enum mapping_kind kind)
{
	char params[PATH_MAX + 100];
	const char *target;
	uint64_t sectors;

	target = table(d, lower, size, kind, &sectors, params, sizeof(params));
	if (bow_dm_create(d->e.name, sectors, target, params)) {
		say(d, "cannot create /dev/mapper/%s (%s %s)\n", d->e.name,
		    target, params);
		return EXIT_SYSTEM;
	}
	return EXIT_DONE;
}

/*
 * The lower device's path.  UUID= names the file system, which a live log
 * hides (it lies over block 0): then the path recorded at the last boot.
 */
static int find_lower(struct dev *d, char lower[PATH_MAX])
{
	char path[PATH_MAX];

	bowtab_lower_path(&d->e, path, sizeof(path));
	if (realpath(path, lower))
		return EXIT_DONE;
	if (!strncmp(d->e.lower, "UUID=", 5) && d->st.lower[0] &&
	    realpath(d->st.lower, lower)) {
		say(d, "%s not found (a live log hides the file system); "
		    "using %s, where it was at the last boot\n", path,
		    d->st.lower);
		return EXIT_DONE;
	}
	say(d, "lower device %s: %s\n", path, strerror(errno));
	return EXIT_SYSTEM;
}

/*
 * A name of the device @dev that does not depend on probe order: its
 * /dev/disk/by-partuuid link if it has one, else @dev itself.
 */
static void stable_name(const char *dev, char *name, size_t len)
{
	const char *dir = "/dev/disk/by-partuuid";
	char link[PATH_MAX + 300], target[PATH_MAX];
	DIR *d = opendir(dir);
	struct dirent *de;

	snprintf(name, len, "%s", dev);
	while (d && (de = readdir(d))) {
		snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
		if (de->d_name[0] != '.' && strlen(link) < len &&
		    realpath(link, target) && !strcmp(target, dev)) {
			memcpy(name, link, strlen(link) + 1);
			break;
		}
	}
	if (d)
		closedir(d);
}

static bool armed(const struct bow_state *st)
{
	return st->lifecycle == BOW_LC_ARMED ||
	       st->lifecycle == BOW_LC_CHECKPOINT;
}

/*
 * Whether block 0 of @lower holds a dm-bow log, in @log; the device's
 * size in @size.  Read with the device's cache dropped.
 */
static int lower_has_log(struct dev *d, const char *lower, uint64_t *size,
			 bool *log)
{
	uint32_t magic;
	int fd;

	fd = bow_open_device(lower, &(struct bow_open_opts){
		.prefix = d->prefix, .err = stderr,
	}, size);
	if (fd < 0)
		return EXIT_SYSTEM;
	if (pread(fd, &magic, sizeof(magic), 0) != sizeof(magic)) {
		say(d, "%s: cannot read block 0: %s\n", lower,
		    strerror(errno));
		close(fd);
		return EXIT_SYSTEM;
	}
	close(fd);
	*log = le32toh(magic) == BOW_MAGIC;
	return EXIT_DONE;
}

/* ext2/3/4's superblock: where it is and the fields read here. */
#define EXT_SB_OFFSET		1024
#define EXT_SB_MAGIC		0x38	/* le16 0xef53 */
#define EXT_SB_STATE		0x3a	/* le16, bit 0: cleanly unmounted */
#define EXT_SB_INCOMPAT		0x60	/* le32, 0x4: the journal needs replay */

/*
 * Whether the file system on /dev/mapper/<name> was cleanly unmounted:
 * 1 yes, 0 no (@why says what it is), -1 it cannot be read.  A resumed
 * checkpoint has nowhere to put a backup until its file system is
 * mounted and trimmed; what mounting an unclean one writes first (a
 * journal replay, a check's repairs) could need one, and fail.  Only
 * ext2/3/4 are known here: of anything else bowctl cannot tell.
 */
static int fs_clean(struct dev *d, char *why, size_t len)
{
	unsigned char sb[EXT_SB_INCOMPAT + 4];
	char path[BOWTAB_NAME_MAX + 16];
	uint16_t magic, state;
	uint32_t incompat;
	int fd;

	snprintf(path, sizeof(path), "/dev/mapper/%s", d->e.name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, sb, sizeof(sb), EXT_SB_OFFSET) != sizeof(sb)) {
		say(d, "%s: cannot read the superblock: %s\n", path,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	memcpy(&magic, sb + EXT_SB_MAGIC, 2);
	memcpy(&state, sb + EXT_SB_STATE, 2);
	memcpy(&incompat, sb + EXT_SB_INCOMPAT, 4);
	if (le16toh(magic) != 0xef53)
		snprintf(why, len, "it holds no ext2/3/4 file system, the "
			 "only kind bowctl can tell was cleanly unmounted");
	else if (le32toh(incompat) & 0x4)
		snprintf(why, len, "its journal needs a replay (the boot "
			 "before did not unmount it)");
	else if (!(le16toh(state) & 1))
		snprintf(why, len, "it was not cleanly unmounted");
	else
		return 1;
	return 0;
}

/*
 * FITRIM the file system of a resumed device before anything can write
 * to it: mounted read-only (which writes nothing to a clean ext2/3/4) in
 * a directory of bowctl's own, trimmed, unmounted.  Until then nothing is
 * free, and the first write that needs a backup (the journal's, once the
 * file system is writable) would fail.  Returns 0, or -1 with @why.
 */
static int trim_unmounted(struct dev *d, char *why, size_t len)
{
	struct fstrim_range range = { .len = UINT64_MAX };
	char dev[BOWTAB_NAME_MAX + 16], dir[BOWTAB_NAME_MAX + 32];
	int fd, r = -1;

	snprintf(dev, sizeof(dev), "/dev/mapper/%s", d->e.name);
	snprintf(dir, sizeof(dir), LOCK_DIR "/%s.trim", d->e.name);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		snprintf(why, len, "cannot create %s to trim it: %s", dir,
			 strerror(errno));
		return -1;
	}
	if (mount(dev, dir, "ext4", MS_RDONLY | MS_NODEV | MS_NOEXEC |
		  MS_NOSUID, NULL)) {
		snprintf(why, len, "cannot mount it read-only to trim it: %s",
			 strerror(errno));
		rmdir(dir);
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && !ioctl(fd, FITRIM, &range))
		r = 0;
	else
		snprintf(why, len, "FITRIM failed: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
	if (umount2(dir, 0) && !r) {
		snprintf(why, len, "cannot unmount it after its trim: %s",
			 strerror(errno));
		r = -1;
	}
	rmdir(dir);
	return r;
}

/*
 * Why a dm-bow table did not load (@what: "take the table", "resume
 * it"), in @why: the kernel has no dm-bow target (its module is missing
 * for this kernel: an update brought a kernel DKMS did not build for), or
 * dm-bow refused it.  The two need different people.
 */
static void bow_table_failed(const char *what, char *why, size_t len)
{
	struct utsname u;

	if (bow_dm_has_target("bow")) {
		snprintf(why, len, "dm-bow refused to %s (the kernel log "
			 "says why)", what);
		return;
	}
	if (uname(&u))
		snprintf(u.release, sizeof(u.release), "?");
	snprintf(why, len, "this kernel (%s) has no dm-bow target: dm-bow.ko "
		 "is missing for it (dm-bow-dkms and linux-headers-%s "
		 "build it)", u.release, u.release);
}

/*
 * A device updated in place (bowtab resume), its checkpoint live and an
 * attempt left: count this boot's attempt and map dm-bow resuming the
 * log.  Returns EXIT_DONE with *@resumed set; or EXIT_DONE with
 * *@resumed clear and the lower device free, @why saying why not when
 * there was a log (the caller restores it) and empty when there was none
 * (a commit finished before a power cut); or an error status.
 */
static int resume_checkpoint(struct dev *d, const char *lower,
			     bool *resumed, char *why, size_t len)
{
	struct bow_dm_info di;
	char boot[40];
	uint64_t size;
	bool log;
	int r;

	*resumed = false;
	why[0] = 0;
	if ((r = lower_has_log(d, lower, &size, &log)) || !log)
		return r;
	/* Counted before the mapping: a boot that ends anywhere counts. */
	read_boot_id(boot, sizeof(boot));
	if (strcmp(d->st.boot_id, boot)) {
		d->st.attempts--;
		snprintf(d->st.boot_id, sizeof(d->st.boot_id), "%s", boot);
	}
	bow_state_event(&d->st, "attempt", "boot attempt %u of %u, the "
			"checkpoint resumed", d->st.retries - d->st.attempts,
			d->st.retries);
	/* An attempt that cannot be counted could be tried for ever. */
	if (save(d)) {
		snprintf(why, len, "the state file cannot count this boot's "
			 "attempt");
		return EXIT_DONE;
	}
	if (create_mapping(d, lower, size, MAP_BOW_RESUME)) {
		bow_table_failed("resume it", why, len);
		return EXIT_DONE;
	}
	if ((r = info(d, &di)))
		return r;
	if (di.mapping != BOW_MAP_BOW || di.state != 1) {
		snprintf(why, len, "dm-bow found no checkpoint to resume");
	} else {
		r = fs_clean(d, why, len);
		if (r > 0 && trim_unmounted(d, why, len))
			r = 0;
		if (r > 0) {
			*resumed = true;
			printf("%s%s: dm-bow resumed\n", d->prefix,
			       d->st.reason);
			return EXIT_DONE;
		}
		if (r < 0)
			snprintf(why, len, "its file system cannot be read");
	}
	if (bow_dm_remove(d->e.name)) {
		say(d, "cannot remove /dev/mapper/%s\n", d->e.name);
		return EXIT_SYSTEM;
	}
	return EXIT_DONE;
}

static int cmd_boot_setup(struct dev *d)
{
	char lower[PATH_MAX], why[PATH_MAX * 2 + 80], boot[40];
	char not_resumed[400] = "", entry[BOW_ENTRY_MAX] = "";
	char attempt[BOW_ENTRY_MAX + 120];
	enum bow_entry_verdict where = BOW_ENTRY_UNKNOWN;
	bool trying = false, fell_back;
	enum bow_lifecycle before = d->st.lifecycle;
	struct bow_state prev = d->st;
	struct bow_dm_info di;
	const char *did;
	bool checkpoint = false, finish_commit, trying_past = false;
	uint64_t size;
	int r;

	if ((r = info(d, &di)))
		return r;
	/*
	 * Another target under the name: not bowctl's to replace, and its
	 * file system would be mounted past dm-bow.  An armed boot on it
	 * runs unprotected, and must say so.
	 */
	if (di.mapping == BOW_MAP_OTHER) {
		if (armed(&d->st))
			boot_warning(d, "/dev/mapper/%s exists and is no "
				     "mapping of bowctl's (neither dm-bow nor "
				     "a pass-through): not touching it; this "
				     "armed boot runs unprotected", d->e.name);
		else
			say(d, "/dev/mapper/%s exists and is no mapping of "
			    "bowctl's (neither dm-bow nor a pass-through): not "
			    "touching it\n", d->e.name);
		return EXIT_REFUSED;
	}
	if (di.mapping != BOW_MAP_NONE)
		return EXIT_DONE;	/* set up already, this boot */
	/* Marked for the initramfs, whose script did not set it up. */
	if (d->e.initramfs && !root_dir[0])
		say(d, "setting up after the root switch: the initramfs did "
		    "not (see its messages above; or its image is older than "
		    "the bowtab line: update-initramfs -u)\n");
	if ((r = find_lower(d, lower)))
		return r;
	/*
	 * A commit decided and recorded, which did not reach the device (a
	 * power cut, a group member whose own commit failed): finished, not
	 * restored (group_commit()).
	 */
	finish_commit = d->state_read == BOW_STATE_OK &&
			d->st.lifecycle == BOW_LC_CHECKPOINT &&
			!strcmp(d->st.event, "committing");
	/*
	 * Never a log a restore began on: until its end the log in block 0
	 * still validates, over a device half rolled back.
	 */
	if (d->e.resume && d->state_read == BOW_STATE_OK &&
	    d->st.lifecycle == BOW_LC_CHECKPOINT && d->st.attempts &&
	    !finish_commit && strcmp(d->st.event, "restoring") &&
	    strcmp(d->st.event, "rolling-forward")) {
		bool resumed;

		r = resume_checkpoint(d, lower, &resumed, not_resumed,
				      sizeof(not_resumed));
		if (r || resumed)
			return r;
		if (not_resumed[0])
			say(d, "not resuming the checkpoint: %s; restoring "
			    "it\n", not_resumed);
	}
	/*
	 * Past here a checkpoint of a device updated in place has no boot
	 * left: its restore's record (record_intent()) says so too.
	 */
	if (d->e.resume)
		d->st.attempts = 0;
	r = restore_lower(d, lower, &size, finish_commit, &did);
	if (r == EXIT_REFUSED) {
		d->st.lifecycle = BOW_LC_FAILED;
		d->st.attempts = 0;
		bow_state_event(&d->st, did, "the log on %s does not validate; "
				"left untouched for inspection "
				"(on_invalid=fail): bow-restore -n %s says "
				"why", lower, lower);
		say(d, "%s\n", d->st.reason);
		save(d);
		return r;
	}
	if (r)
		return r;
#ifdef BOWCTL_TESTING
	if (did && test_cut_after_restore)
		_exit(99);
#endif
	/* A restore that ended before it was recorded (record_intent()). */
	if (!did && !strcmp(prev.event, "restoring"))
		did = "restored";
	else if (!did && !strcmp(prev.event, "rolling-forward"))
		did = "rolled-forward";
	read_boot_id(boot, sizeof(boot));
	/*
	 * Where the boot loader booted, against the update's entries: back
	 * on the entry armed from after the update's, it fell back, and the
	 * update is over; on the update's entry while the boot loader still
	 * counts its tries (not marked good), each try is protected, past
	 * retries too: the boot loader bounds them.
	 */
	if (armed(&prev) && !d->e.resume && d->state_read == BOW_STATE_OK &&
	    bow_boot_entry(entry, sizeof(entry))) {
		where = bow_entry_verdict(d->st.entry_from, d->st.entry_to,
					  entry);
		if (where == BOW_ENTRY_UPDATE && !d->st.entry_to[0])
			snprintf(d->st.entry_to, sizeof(d->st.entry_to), "%s",
				 entry);
		trying = where == BOW_ENTRY_UPDATE && bow_boot_counted();
	}
	fell_back = where == BOW_ENTRY_FELL_BACK;
	if (d->state_read == BOW_STATE_DAMAGED) {
		/* Nobody can account for a checkpoint: do not take one. */
		say(d, "not checkpointing this boot: the state file is "
		    "damaged\n");
		if (did)
			snprintf(d->st.reason + strlen(d->st.reason),
				 sizeof(d->st.reason) - strlen(d->st.reason),
				 "; %s the checkpoint", did);
	} else if (did && !strcmp(did, "rolled-forward")) {
		d->st.lifecycle = BOW_LC_FAILED;
		d->st.attempts = 0;
		bow_state_event(&d->st, did, "the log on %s did not validate: "
				"kept the data written since the checkpoint "
				"(on_invalid=roll-forward)", lower);
	} else if (did && !strcmp(did, "restored")) {
		/* Only bowctl start checkpoints a device updated in place. */
		bool left = armed(&d->st) && (d->st.attempts || trying) &&
			    !d->e.resume && !fell_back;
		char back[BOW_ENTRY_MAX * 2 + 80];

		snprintf(back, sizeof(back), "the boot loader went back to "
			 "entry %s (%s did not become good)", entry,
			 d->st.entry_to);
		d->st.lifecycle = left ? BOW_LC_ARMED : BOW_LC_ROLLED_BACK;
		d->st.attempts = left ? d->st.attempts : 0;
		bow_state_event(&d->st, did, "restored the checkpoint: %s%s",
				not_resumed[0] ? "could not resume it: " : "",
				not_resumed[0] ? not_resumed :
				!strcmp(prev.event, "abort") ||
				!strcmp(prev.event, "low-space") ?
				prev.reason : fell_back ? back :
				before == BOW_LC_ARMED &&
				d->e.resume ? "bowctl start did not finish" :
				left ? "the boot did not commit; trying again" :
				"the boot did not commit and no attempt is "
				"left");
	} else if (did || finish_commit) {
		/*
		 * No log: a commit finished now, or before a power cut let
		 * the state file say so.
		 */
		d->st.lifecycle = BOW_LC_COMMITTED;
		d->st.attempts = 0;
		bow_state_event(&d->st, "commit", "the checkpoint was "
				"committed (%s)", did ? "finished at this boot" :
				"before a restart, not yet recorded");
	} else if (before == BOW_LC_CHECKPOINT) {
		/*
		 * No log, and no commit recorded before it (group_commit()): a
		 * restore whose records could not be written, or a log
		 * removed by hand.  Never read as a commit.
		 */
		d->st.lifecycle = BOW_LC_FAILED;
		d->st.attempts = 0;
		bow_state_event(&d->st, "log-gone", "the checkpoint's log is "
				"gone and no commit was recorded (a restore "
				"the state file could not record?): whether "
				"the data is the checkpoint's or the update's "
				"is not known");
		say(d, "%s\n", d->st.reason);
	}
	if (armed(&d->st) && d->e.resume) {
		/* Armed, no log: bowctl start stopped before its checkpoint. */
		d->st.lifecycle = BOW_LC_IDLE;
		d->st.attempts = 0;
		bow_state_event(&d->st, "disarmed", "bowctl start did not "
				"finish: no checkpoint was taken");
	} else if (armed(&d->st) && fell_back) {
		/* Back before a checkpoint of the update's boots was live. */
		d->st.lifecycle = BOW_LC_IDLE;
		d->st.attempts = 0;
		bow_state_event(&d->st, "fell-back", "the boot loader went back "
				"to entry %s before %s took a checkpoint: "
				"nothing to restore; disarmed", entry,
				d->st.entry_to);
	} else if (armed(&d->st) && (d->st.attempts || trying)) {
		if (state_dir_protected(d, why, sizeof(why))) {
			boot_warning(d, "not checkpointing: %s; this armed "
				     "boot runs unprotected", why);
		} else {
			checkpoint = true;
			/* Count each boot once, however often this runs. */
			if (strcmp(d->st.boot_id, boot)) {
				if (d->st.attempts)
					d->st.attempts--;
				else
					trying_past = true;
				snprintf(d->st.boot_id, sizeof(d->st.boot_id),
					 "%s", boot);
			}
			d->st.lifecycle = BOW_LC_ARMED;
			if (trying_past)
				snprintf(attempt, sizeof(attempt), "boot "
					 "attempt past the %u retries (the "
					 "boot loader still counts the tries "
					 "of entry %s, not marked good)",
					 d->st.retries, entry);
			else
				snprintf(attempt, sizeof(attempt), "boot "
					 "attempt %u of %u",
					 d->st.retries - d->st.attempts,
					 d->st.retries);
			bow_state_event(&d->st, "attempt", "%s", attempt);
		}
	} else if (armed(&d->st)) {
		/* Nothing was restored: the last attempt took no checkpoint. */
		d->st.lifecycle = BOW_LC_FAILED;
		bow_state_event(&d->st, "no-checkpoint", "no boot attempt left, "
				"and the last one took no checkpoint (see its "
				"bow-checkpoint@%s): nothing was restored",
				d->e.name);
	}
	/* Where UUID= pointed, for a boot that cannot see it (find_lower). */
	if (!strncmp(d->e.lower, "UUID=", 5))
		stable_name(lower, d->st.lower, sizeof(d->st.lower));
	if ((d->state_read != BOW_STATE_MISSING || armed(&prev) || did) &&
	    save(d)) {
		/*
		 * A restore needs no state file: it is done, and the device
		 * is mapped all the same.  A checkpoint does: an attempt
		 * that cannot be counted is never taken.
		 */
		if (checkpoint)
			boot_warning(d, "not checkpointing: the state file "
				     "cannot count this boot's attempt; this "
				     "armed boot runs unprotected");
		else if (did)
			boot_warning(d, "the state file cannot record what "
				     "this boot did (%s): it still says %s",
				     did, bow_lifecycle_name(prev.lifecycle));
		checkpoint = false;
	}
	if (checkpoint && create_mapping(d, lower, size, MAP_BOW)) {
		/*
		 * No log is live (restored above): a pass-through loses
		 * nothing, and the device still boots.  The attempt stays
		 * counted, the next boot tries again (DKMS may have built
		 * the module meanwhile).
		 */
		bow_table_failed("take the table", why, sizeof(why));
		bow_state_event(&d->st, "no-dm-bow", "%s: %s runs "
				"unprotected", why, attempt);
		save(d);
		boot_warning(d, "not checkpointing: %s; this armed boot runs "
			     "unprotected, on a pass-through", why);
		checkpoint = false;
	} else if (checkpoint) {
		printf("%s%s: dm-bow set up\n", d->prefix, d->st.event);
		return EXIT_DONE;
	}
	if (did)
		printf("%s%s\n", d->prefix, did);
	return create_mapping(d, lower, size, MAP_LINEAR);
}

/* ---- boot: after the mount */

/* Where /dev/mapper/<name> (@major:@minor) is mounted, in @mp. */
static bool mount_point(uint32_t major, uint32_t minor, char *mp, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	unsigned int ma, mi;
	char *line = NULL, dir[PATH_MAX];
	size_t cap = 0;
	bool found = false;

	while (f && !found && getline(&line, &cap, f) > 0)
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &ma, &mi,
			   dir) == 3 && ma == major && mi == minor) {
			/* mountinfo escapes spaces and the like as \ooo */
			size_t n = 0;

			for (char *s = dir; *s && n + 1 < len; n++)
				if (s[0] == '\\' && strspn(s + 1, "01234567")
				    >= 3) {
					mp[n] = (char)strtol((char[]){ s[1],
						s[2], s[3], 0 }, NULL, 8);
					s += 4;
				} else {
					mp[n] = *s++;
				}
			mp[n] = 0;
			found = true;
		}
	free(line);
	if (f)
		fclose(f);
	return found;
}

/*
 * The checkpoint of the file system mounted on /dev/mapper/<name> (dm-bow
 * in state 0): FITRIM first, which tells dm-bow where the free space is.
 * With @freeze, the file system is frozen for the checkpoint: freezing
 * writes back what is dirty and leaves it clean on the device (its
 * journal empty), so that a rollback gives a file system that needs no
 * recovery.  One that cannot be frozen is checkpointed as it is, as after
 * a power cut: its journal makes it whole at the next mount.  On failure
 * @why says what failed.
 */
static int checkpoint_mounted(struct dev *d, const struct bow_dm_info *di,
			      bool freeze, char *why, size_t len)
{
	struct fstrim_range range = { .len = UINT64_MAX };
	char mp[PATH_MAX];
	bool frozen = false;
	int fd, r = EXIT_DONE;

	if (!mount_point(di->major, di->minor, mp, sizeof(mp))) {
		snprintf(why, len, "/dev/mapper/%s is not mounted: no free "
			 "space to borrow", d->e.name);
		return EXIT_SYSTEM;
	}
	fd = open(mp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, FITRIM, &range)) {
		snprintf(why, len, "FITRIM on %s failed: %s", mp,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_SYSTEM;
	}
	if (freeze && !ioctl(fd, FIFREEZE, 0))
		frozen = true;
	else if (freeze)
		say(d, "cannot freeze the file system (%s): checkpointing it "
		    "unfrozen\n", strerror(errno));
	if (bow_dm_message(d->e.name, "checkpoint")) {
		snprintf(why, len, "dm-bow refused the checkpoint (the kernel "
			 "log says why)");
		r = EXIT_SYSTEM;
	}
	/* The checkpoint is taken: a file system left frozen is no reason. */
	if (frozen && ioctl(fd, FITHAW, 0)) {
		say(d, "cannot thaw %s: %s\n", mp, strerror(errno));
		if (!r) {
			snprintf(why, len, "cannot thaw %s: %s", mp,
				 strerror(errno));
			r = EXIT_SYSTEM;
		}
	}
	close(fd);
	return r;
}

/*
 * After the mount: take the checkpoint boot-setup armed dm-bow for.  One
 * that fails is recorded as failed, and fails the unit, which
 * boot-complete.target requires (bow-generator): this boot runs
 * unprotected, and it must neither be committed nor counted as a boot
 * that a restore undoes.  So does a boot-setup that left a warning
 * (boot_warning()): an armed boot it could not checkpoint.
 */
static int cmd_boot_checkpoint(struct dev *d)
{
	char why[PATH_MAX + 100], attempt[sizeof(d->st.reason)];
	struct bow_dm_info di;
	int r;

	boot_warning_read(d->e.name, why, sizeof(why));
	if (why[0]) {
		say(d, "%s\n", why);
		return EXIT_SYSTEM;
	}
	if ((r = info(d, &di)))
		return r;
	if (di.mapping != BOW_MAP_BOW || di.state == 2)
		return EXIT_DONE;	/* this boot does not checkpoint */
	/* Which attempt, as boot-setup counted it (past retries, say). */
	if (!d->e.resume && !strcmp(d->st.event, "attempt"))
		snprintf(attempt, sizeof(attempt), "%s", d->st.reason);
	else
		snprintf(attempt, sizeof(attempt), "boot attempt %u of %u",
			 d->st.retries - d->st.attempts, d->st.retries);
	if (di.state == 0 &&
	    checkpoint_mounted(d, &di, false, why, sizeof(why))) {
		bow_state_event(&d->st, "checkpoint-failed", "%s: %s runs "
				"unprotected and is not committed", why,
				attempt);
		d->st.lifecycle = BOW_LC_FAILED;
		d->st.attempts = 0;
		say(d, "no checkpoint: %s\n", d->st.reason);
		save(d);
		return EXIT_SYSTEM;
	}
	/* Taken now: read back its free space; resumed: as it is. */
	if (di.state == 0 && (r = info(d, &di)))
		return r;
	/* Resumed (bowtab resume): boot-setup trimmed it before the mount. */
	d->st.lifecycle = BOW_LC_CHECKPOINT;
	bow_state_event(&d->st, "checkpoint", "%s%s; %" PRIu64 " bytes free",
			attempt, d->e.resume ? ", resumed" : "", di.free_bytes);
	printf("%scheckpoint live%s, %" PRIu64 " bytes free\n", d->prefix,
	       d->e.resume ? " (resumed)" : "", di.free_bytes);
	return save(d);
}

/* Act on low space: commit, or disarm and reboot (on_full=). */
static int low_space(struct dev *d, uint64_t free_bytes)
{
	char why[160];
	int r;

	snprintf(why, sizeof(why), "%" PRIu64 " bytes free, under min_free "
		 "%" PRIu64, free_bytes, d->e.min_free);
	if (d->e.on_full == BOWTAB_ON_FULL_COMMIT) {
		strncat(why, ": committed (on_full=commit)",
			sizeof(why) - strlen(why) - 1);
		say(d, "%s\n", why);
		return group_commit(d, "low-space", why, false, NULL);
	}
	strncat(why, ": rebooting to restore the checkpoint (on_full=abort)",
		sizeof(why) - strlen(why) - 1);
	say(d, "%s\n", why);
	r = group_abort(d, "low-space", why);
	return r ? r : reboot_now(d);
}

static int cmd_boot_watch(struct dev *d)
{
	char name[BOWTAB_NAME_MAX];
	struct bow_dm_info di;
	int r;

	/* Wait unlocked: commit and abort must not wait for the watcher. */
	snprintf(name, sizeof(name), "%s", d->e.name);
	dev_close(d);
	for (;;) {
		if ((r = info(d, &di)))
			return r;
		if (di.mapping != BOW_MAP_BOW || di.state != 1)
			return EXIT_DONE;	/* nothing (more) to watch */
		if (di.free_bytes < d->e.min_free) {
			/*
			 * Decide under the lock, on a fresh state and device:
			 * a commit or abort may have come meanwhile.
			 */
			if ((r = dev_open(d, name, false)) ||
			    (r = info(d, &di)))
				return r;
			if (di.mapping != BOW_MAP_BOW || di.state != 1 ||
			    !strcmp(d->st.event, "abort"))
				return EXIT_DONE;
			return low_space(d, di.free_bytes);
		}
		/*
		 * dm-bow raises its event once free space is under low_water
		 * (bowtab makes it at least min_free); below it, poll.
		 */
		if (di.free_bytes < d->e.low_water)
			sleep(2);
		else if (bow_dm_wait_event(d->e.name, di.event_nr))
			sleep(2);
	}
}

/*
 * Whether the boot's commit may commit @m: a checkpoint this boot took or
 * resumed, with commit=boot-complete and no abort decided.  An arming for
 * the next boot, or a checkpoint some other boot left, is not this
 * boot's to decide.  Says why not.
 */
static bool boot_commit_wanted(struct dev *m)
{
	struct bow_dm_info di;
	char boot[40];

	if (m->e.commit == BOWTAB_COMMIT_MANUAL) {
		say(m, "not committing: the update tool commits "
		    "(commit=manual)\n");
		return false;
	}
	if (abort_pending(&m->st)) {
		say(m, "not committing: %s\n", m->st.reason);
		return false;
	}
	/*
	 * An in-place update checkpointed by bowctl start in this boot,
	 * before boot-complete.target: every boot into it counts an attempt,
	 * and none has yet.
	 */
	if (m->e.resume && m->st.lifecycle == BOW_LC_CHECKPOINT &&
	    m->st.attempts == m->st.retries) {
		say(m, "not committing: no boot has tried the update yet\n");
		return false;
	}
	read_boot_id(boot, sizeof(boot));
	if (info(m, &di) || di.mapping != BOW_MAP_BOW || di.state != 1 ||
	    m->st.lifecycle != BOW_LC_CHECKPOINT ||
	    strcmp(m->st.boot_id, boot)) {
		printf("%snothing to commit: this boot took no checkpoint "
		       "(%s)\n", m->prefix,
		       bow_lifecycle_name(m->st.lifecycle));
		return false;
	}
	return true;
}

/*
 * After a healthy boot (bow-commit@, commit=boot-complete): commit the
 * checkpoints of its group that this boot took or resumed, and nothing
 * else.
 */
static int cmd_boot_commit(struct dev *d)
{
	char blessed[80];

	if (!boot_commit_wanted(d))
		return EXIT_DONE;
	/*
	 * A boot the boot loader counts as a try: it may still fall back
	 * to the other entry, which must find the old data.  Its mark
	 * (systemd-bless-boot.service, ordered before) comes first, as vold
	 * sets state 2 after the boot loader's.
	 */
	if (bow_boot_counted() && !bow_boot_blessed(blessed, sizeof(blessed))) {
		say(d, "not committing: the boot loader's entry is not marked "
		    "good (systemd-bless-boot status: %s); the checkpoint "
		    "stays live\n", blessed);
		return EXIT_REFUSED;
	}
	return group_commit(d, "commit", "the boot completed", false,
			    boot_commit_wanted);
}

/* ---- in-place updates: the checkpoint taken while running */

/* Run a command (@argv, by PATH); true if it exited 0. */
static bool run_command(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (!pid) {
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid > 0 && waitpid(pid, &status, 0) == pid &&
	       WIFEXITED(status) && !WEXITSTATUS(status);
}

/* Start the low-space watcher of a checkpoint taken while running. */
static void start_watcher(struct dev *d)
{
	char unit[BOWTAB_NAME_MAX + 32];

	snprintf(unit, sizeof(unit), "bow-watch@%s.service", d->e.name);
	if (!run_command((char *[]){ "systemctl", "start", "--no-block",
				     unit, NULL }))
		say(d, "cannot start %s: nothing watches free space (start "
		    "it by hand)\n", unit);
}

/*
 * A device updated in place (bowtab resume): the checkpoint is taken now,
 * under its mounted file system, before the update writes, and the boots
 * that follow resume it.  The pass-through it runs on is replaced with
 * dm-bow, trimmed and checkpointed; the state says so first, so that a
 * power cut on the way leaves a state the next boot reads right
 * (cmd_boot_setup(): armed without a log, or with one).
 */
static int start_live(struct dev *d, unsigned int retries)
{
	char lower[PATH_MAX], params[PATH_MAX + 100], boot[40];
	char why[PATH_MAX + 100];
	struct bow_dm_info di;
	const char *target;
	uint64_t size, sectors;
	int fd, r;

	if ((r = info(d, &di)))
		return r;
	if (di.mapping == BOW_MAP_BOW && di.state == 1) {
		say(d, "a checkpoint is live already: bowctl commit or abort "
		    "it first\n");
		return EXIT_REFUSED;
	}
	if (di.mapping == BOW_MAP_NONE || di.mapping == BOW_MAP_OTHER) {
		say(d, "/dev/mapper/%s is not set up by bowctl: the "
		    "checkpoint of an in-place update (resume) is taken "
		    "under its mounted file system\n", d->e.name);
		return EXIT_REFUSED;
	}
	if ((r = find_lower(d, lower)))
		return r;
	/* Held by the mapping: not exclusively, just for its size. */
	fd = open(lower, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size)) {
		say(d, "%s: cannot get the size: %s\n", lower,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_SYSTEM;
	}
	close(fd);
	d->st.lifecycle = BOW_LC_ARMED;
	d->st.retries = retries;
	d->st.attempts = retries;
	/* This boot writes the update: it is not an attempt of it. */
	read_boot_id(boot, sizeof(boot));
	snprintf(d->st.boot_id, sizeof(d->st.boot_id), "%s", boot);
	bow_state_event(&d->st, "start", "checkpointing now, for %u boot "
			"attempt%s", retries, retries == 1 ? "" : "s");
	if ((r = save(d)))
		return r;
	if (di.mapping != BOW_MAP_BOW || di.state != 0) {
		target = table(d, lower, size, MAP_BOW, &sectors, params,
			       sizeof(params));
		if (bow_dm_reload(d->e.name, sectors, target, params)) {
			say(d, "cannot replace the table of /dev/mapper/%s "
			    "with %s %s\n", d->e.name, target, params);
			return EXIT_SYSTEM;
		}
		if ((r = info(d, &di)))
			return r;
	}
	if ((r = checkpoint_mounted(d, &di, true, why, sizeof(why)))) {
		say(d, "no checkpoint: %s\n", why);
		return r;
	}
	if ((r = info(d, &di)))
		return r;
	d->st.lifecycle = BOW_LC_CHECKPOINT;
	bow_state_event(&d->st, "checkpoint", "taken while running, for %u "
			"boot attempt%s; %" PRIu64 " bytes free", retries,
			retries == 1 ? "" : "s", di.free_bytes);
	printf("%scheckpoint live, %" PRIu64 " bytes free\n", d->prefix,
	       di.free_bytes);
	if ((r = save(d)))
		return r;
	start_watcher(d);
	return EXIT_DONE;
}

/* ---- rolling back now, without a reboot */

/* The other members of a group with a live checkpoint, for rollback. */
struct live_others {
	const struct bowtab_entry *self;
	char names[200];
};

static void live_other(const struct bowtab_entry *e, void *arg)
{
	struct live_others *lo = arg;
	struct bow_dm_info di;
	size_t n = strlen(lo->names);

	if (!strcmp(e->group, lo->self->group) &&
	    strcmp(e->name, lo->self->name) && !bow_dm_info(e->name, &di) &&
	    di.mapping == BOW_MAP_BOW && di.state == 1)
		snprintf(lo->names + n, sizeof(lo->names) - n, "%s%s",
			 n ? ", " : "", e->name);
}

/*
 * bowctl rollback: roll a live checkpoint back at once, in the kernel
 * (dm-bow's message rollback), unmounting its file system for it and
 * mounting it again (by fstab) after.  The state says "restoring" before
 * the device changes: a power cut in the rollback leaves a log that the
 * next boot restores and never resumes (cmd_boot_setup()).
 */
static int cmd_rollback(struct dev *d)
{
	struct live_others others = { .self = &d->e };
	struct bow_state prev = d->st;
	struct bow_dm_info di;
	char mp[PATH_MAX];
	bool mounted;
	int r, err;

	if ((r = info(d, &di)))
		return r;
	if (di.mapping != BOW_MAP_BOW || di.state != 1) {
		if ((r = not_restorable(d, &di)))
			return r;
		say(d, "no live checkpoint to roll back\n");
		return EXIT_REFUSED;
	}
	/* One device of an update rolled back alone would split it. */
	if (quiet_bowtab_each(live_other, &others) < 0 || others.names[0]) {
		say(d, "the group %s has other live checkpoints (%s): they "
		    "are restored together at a reboot (bowctl abort "
		    "--reboot)\n", d->e.group, others.names[0] ?
		    others.names : "bowtab cannot be read");
		return EXIT_REFUSED;
	}
	mounted = mount_point(di.major, di.minor, mp, sizeof(mp));
	if (mounted && umount2(mp, 0)) {
		say(d, "cannot unmount %s: %s; stop what uses it, or restore "
		    "the checkpoint at a reboot (bowctl abort --reboot)\n",
		    mp, strerror(errno));
		return EXIT_REFUSED;
	}
	d->st.attempts = 0;
	bow_state_event(&d->st, "restoring", "rolling back in the kernel "
			"(bowctl rollback)");
	r = save(d);
	err = r ? 0 : bow_dm_message(d->e.name, "rollback");
	if (!r && !err) {
		d->st.lifecycle = BOW_LC_ROLLED_BACK;
		bow_state_event(&d->st, "rolled-back", "bowctl rollback: "
				"rolled back in the kernel");
		r = save(d);
		printf("%srolled back\n", d->prefix);
	} else if (err && (info(d, &di) || di.state != 1 || di.failed)) {
		/* Begun: the device fails all I/O, nothing to mount. */
		say(d, "the rollback stopped half way (%s): /dev/mapper/%s "
		    "fails all I/O until bowctl rollback runs again, or a "
		    "reboot restores it\n", strerror(-err), d->e.name);
		return EXIT_SYSTEM;
	} else if (err) {
		/* Nothing written: the checkpoint goes on as it was. */
		say(d, "dm-bow refused the rollback: %s (the kernel log says "
		    "why)\n", strerror(-err));
		d->st = prev;
		r = save(d);
		if (!r)
			r = err == -EBUSY ? EXIT_REFUSED : EXIT_SYSTEM;
	}
	if (mounted && !run_command((char *[]){ "mount", mp, NULL })) {
		say(d, "cannot mount %s again (mount %s): mount it by hand\n",
		    mp, mp);
		if (!r)
			r = EXIT_SYSTEM;
	}
	return r;
}

/* ---- status */

/*
 * The length of the UTF-8 sequence at @s, or 0 if it is not a valid one
 * (overlong, a surrogate, past U+10FFFF, cut short).
 */
static size_t utf8_len(const unsigned char *s)
{
	uint32_t c;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, c = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (n == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return n;
}

/* A JSON string: valid UTF-8 whatever @s holds (U+FFFD for a bad byte). */
static void json_string(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	putchar('"');
	while (*p) {
		n = utf8_len(p);
		if (!n) {
			fputs("\\ufffd", stdout);
			p++;
		} else if (*p == '"' || *p == '\\') {
			printf("\\%c", *p++);
		} else if (*p < 0x20 || *p == 0x7f) {
			printf("\\u%04x", *p++);
		} else {
			fwrite(p, 1, n, stdout);
			p += n;
		}
	}
	putchar('"');
}

static const char *const mapping_names[] = {
	[BOW_MAP_NONE] = "none", [BOW_MAP_BOW] = "bow",
	[BOW_MAP_LINEAR] = "linear", [BOW_MAP_OTHER] = "other",
};

struct status_walk {
	bool json;
	bool health;	/* bowtab_health_check() of the system, read once */
	int count;
	const char *only;
	int r;
};

static void json_string_or_null(const char *s)
{
	if (s[0])
		json_string(s);
	else
		printf("null");
}

/* A bad bowtab line: in the JSON, an entry that says so. */
static void status_bad_line(const char *name, unsigned int line,
			    const char *message, void *arg)
{
	struct status_walk *w = arg;

	if (!w->json || (w->only && strcmp(w->only, name)))
		return;
	printf("%s\n    {\"name\": ", w->count++ ? "," : "");
	json_string(name);
	printf(", \"bowtab_line\": %u, \"error\": ", line);
	json_string(message);
	putchar('}');
}

static void status_one(const struct bowtab_entry *e, void *arg)
{
	struct status_walk *w = arg;
	struct bow_dm_info di = { 0 };
	char why[PATH_MAX + 100];
	char warning[600];
	struct dev d;
	const char *state_file;

	if (w->only && strcmp(w->only, e->name))
		return;
	boot_warning_read(e->name, warning, sizeof(warning));
	if (warning[0])
		w->r = EXIT_SYSTEM;
	memset(&d, 0, sizeof(d));
	d.e = *e;
	snprintf(d.prefix, sizeof(d.prefix), "bowctl: %s: ", e->name);
	dev_state_dir(&d);
	if (state_fs_mounted(&d)) {
		/* Unknown until it is mounted: someone must look. */
		d.st.lifecycle = BOW_LC_FAILED;
		state_file = "unmounted";
		w->r = EXIT_SYSTEM;
	} else if (bow_state_dir_check(d.state_dir, why, sizeof(why))) {
		say(&d, "unsafe state directory: %s\n", why);
		d.st.lifecycle = BOW_LC_FAILED;
		state_file = "unsafe";
		w->r = EXIT_SYSTEM;
	} else {
		d.state_read = bow_state_read(d.state_dir, e->name, &d.st,
					      d.prefix, stderr);
		state_file = d.state_read == BOW_STATE_OK ? "ok" :
			     d.state_read == BOW_STATE_MISSING ? "missing" :
			     "damaged";
	}
	if (bow_dm_info(e->name, &di)) {
		say(&d, "cannot query device-mapper\n");
		w->r = EXIT_SYSTEM;
	}
	if (!w->json) {
		printf("%s%s: %s, %u of %u boot attempts left\n",
		       w->count++ ? "\n" : "", e->name,
		       bow_lifecycle_name(d.st.lifecycle), d.st.attempts,
		       d.st.retries);
		printf("  device: /dev/mapper/%s, %s", e->name,
		       mapping_names[di.mapping]);
		if (di.mapping == BOW_MAP_BOW)
			printf(", state %u, %" PRIu64 " bytes free, %" PRIu64
			       " backed up%s", di.state, di.free_bytes,
			       di.backup_bytes, di.failed ? ", FAILED" : "");
		printf("\n  lower: %s\n  group: %s\n", e->lower, e->group);
		if (e->commit == BOWTAB_COMMIT_MANUAL)
			printf("  commit: by the update tool (commit=manual)\n");
		else
			printf("  commit: after a healthy boot%s\n", w->health ?
			       "" : "; WARNING: no health check guards it "
			       "(nothing is required by boot-complete.target)");
		if (d.st.entry_from[0] || d.st.entry_to[0])
			printf("  boot loader entries: from %s to %s\n",
			       d.st.entry_from[0] ? d.st.entry_from : "(unknown)",
			       d.st.entry_to[0] ? d.st.entry_to :
			       "(the first other one booted)");
		if (d.st.event[0])
			printf("  last event: %s at %" PRId64 ": %s\n",
			       d.st.event, d.st.time, d.st.reason);
		if (warning[0])
			printf("  WARNING (this boot): %s\n", warning);
		printf("  state file: %s/%s.state (%s)\n", d.state_dir,
		       e->name, state_file);
		return;
	}
	printf("%s\n    {\"name\": ", w->count++ ? "," : "");
	json_string(e->name);
	printf(", \"lower\": ");
	json_string(e->lower);
	printf(", \"group\": ");
	json_string(e->group);
	printf(", \"lifecycle\": \"%s\", \"attempts_left\": %u, "
	       "\"retries\": %u,\n     \"commit\": \"%s\", "
	       "\"health_check\": %s, \"mapping\": \"%s\", ",
	       bow_lifecycle_name(d.st.lifecycle), d.st.attempts,
	       d.st.retries, e->commit == BOWTAB_COMMIT_MANUAL ? "manual" :
	       "boot-complete", e->commit == BOWTAB_COMMIT_MANUAL ? "null" :
	       w->health ? "true" : "false", mapping_names[di.mapping]);
	if (di.mapping == BOW_MAP_BOW)
		printf("\"dm_state\": %u, \"free_bytes\": %" PRIu64
		       ", \"backup_bytes\": %" PRIu64 ", \"failed\": %s,\n",
		       di.state, di.free_bytes, di.backup_bytes,
		       di.failed ? "true" : "false");
	else
		printf("\"dm_state\": null, \"free_bytes\": null, "
		       "\"backup_bytes\": null, \"failed\": false,\n");
	printf("     \"entry_from\": ");
	json_string_or_null(d.st.entry_from);
	printf(", \"entry_to\": ");
	json_string_or_null(d.st.entry_to);
	printf(",\n     \"state_file\": \"%s\", \"boot_warning\": ", state_file);
	if (warning[0])
		json_string(warning);
	else
		printf("null");
	printf(", \"last_event\": ");
	if (d.st.event[0]) {
		printf("{\"event\": ");
		json_string(d.st.event);
		printf(", \"time\": %" PRId64 ", \"reason\": ", d.st.time);
		json_string(d.st.reason);
		printf("}}");
	} else {
		printf("null}");
	}
}

static int cmd_status(const char *only, bool json)
{
	struct status_walk w = {
		.json = json, .only = only,
		.health = bowtab_health_check(root_dir),
	};
	int nbad;

	if (json)
		printf("{\"version\": 1, \"devices\": [");
	nbad = bowtab_each(bowtab_path, stderr, status_one, status_bad_line,
			   &w);
	if (json)
		printf("%s]}\n", w.count ? "\n  " : "");
	if (only && !w.count) {
		fprintf(stderr, "bowctl: %s: no valid entry in %s\n", only,
			bowtab_path);
		return EXIT_USAGE;
	}
	if (nbad < 0)
		return EXIT_SYSTEM;
	return nbad && !only ? EXIT_USAGE : w.r;
}

/* ---- the initramfs */

static void initramfs_one(const struct bowtab_entry *e, void *arg)
{
	char mp[PATH_MAX], at[PATH_MAX];

	(void)arg;
	if (!e->initramfs)
		return;
	bowtab_fstab_holder(fstab_path, e->state_dir, mp, sizeof(mp));
	/* The root file system's device must be there before its mount. */
	printf("%s %s %s\n", e->name, mp,
	       bowtab_fstab_mount_point(fstab_path, e->name, at, sizeof(at)) &&
	       !strcmp(at, "/") ? "local-top" : "local-bottom");
}

/*
 * The devices the initramfs sets up, a line each: the name, the fstab
 * mount point of the file system that holds its state directory (which
 * the boot scripts make writable for boot-setup), and the initramfs-tools
 * phase that sets it up: local-top for the root file system's device,
 * before the root is mounted, local-bottom for the others.
 */
static int cmd_initramfs_devices(void)
{
	int nbad = bowtab_each(bowtab_path, stderr, initramfs_one, NULL,
			       NULL);

	return nbad < 0 ? EXIT_SYSTEM : nbad ? EXIT_USAGE : EXIT_DONE;
}

/* ---- command line */

static void usage(FILE *f)
{
	fputs("Usage: bowctl [--root DIR] [--bowtab FILE] <command> [<name>] "
	      "[options]\n"
	      "The dm-bow update lifecycle, for the devices in /etc/bowtab.\n"
	      "\n"
	      "  start <name> [--retries N] [--entry ID]\n"
	      "                              checkpoint the next N boots "
	      "until one commits\n"
	      "                              (those of boot loader entry ID)\n"
	      "  commit <name>               keep the update; disarm\n"
	      "  abort <name> [--reboot]     restore the checkpoint at the "
	      "next boot; disarm\n"
	      "  rollback <name>             restore the checkpoint now "
	      "(unmounts it)\n"
	      "  status [<name>] [--json]    lifecycle, device and last "
	      "event\n"
	      "\n"
	      "Run by the boot units (bowctl(8)), each safe to run again:\n"
	      "  boot-setup <name>       before the mount: restore, count "
	      "an attempt, map\n"
	      "  boot-checkpoint <name>  after the mount: FITRIM, "
	      "checkpoint\n"
	      "  boot-watch <name>       commit or abort on low free "
	      "space\n"
	      "  boot-commit <name>      after a healthy boot: commit\n"
	      "  initramfs-devices       the devices the initramfs sets "
	      "up\n"
	      "\n"
	      "Exit status: 0 done or nothing to do, 2 usage or bowtab "
	      "error,\n"
	      "3 system error (I/O, device-mapper, state file), 4 "
	      "refused,\n"
	      "5 nothing to restore (abort, rollback: the data was "
	      "committed).\n", f);
}

static unsigned int opt_retries;
static bool opt_reboot;

static int cmd_user_commit(struct dev *d)
{
	return group_commit(d, "commit", "bowctl commit", true, NULL);
}

static int cmd_user_start(struct dev *d)
{
	return cmd_start(d, opt_retries);
}

static int cmd_user_abort(struct dev *d)
{
	return cmd_abort(d, opt_reboot);
}

static bool opt_json;

static int cmd_user_status(const char *name)
{
	return cmd_status(name, opt_json);
}

static int cmd_user_initramfs_devices(const char *name)
{
	(void)name;
	return cmd_initramfs_devices();
}

/*
 * Every command: whether it takes a device's name, which options
 * (--retries and --entry, --reboot, --json), and what runs it.  A command
 * on one device runs under its lock (dev_open()), one on the bowtab
 * without.
 */
enum name_arg { NAME_NONE, NAME_OPTIONAL, NAME_REQUIRED };

static const struct command {
	const char *name;
	enum name_arg name_arg;
	bool retries, reboot, json;
	bool untrusted_ok;		/* dev_open(): see there */
	int (*on_device)(struct dev *d);
	int (*on_bowtab)(const char *name);
} commands[] = {
	{ "start", NAME_REQUIRED, .retries = true, .on_device = cmd_user_start },
	{ "commit", NAME_REQUIRED, .on_device = cmd_user_commit },
	{ "abort", NAME_REQUIRED, .reboot = true, .on_device = cmd_user_abort },
	{ "rollback", NAME_REQUIRED, .on_device = cmd_rollback },
	{ "status", NAME_OPTIONAL, .json = true, .on_bowtab = cmd_user_status },
	{ "boot-setup", NAME_REQUIRED, .untrusted_ok = true,
	  .on_device = cmd_boot_setup },
	{ "boot-checkpoint", NAME_REQUIRED, .on_device = cmd_boot_checkpoint },
	{ "boot-watch", NAME_REQUIRED, .on_device = cmd_boot_watch },
	{ "boot-commit", NAME_REQUIRED, .on_device = cmd_boot_commit },
	{ "initramfs-devices", NAME_NONE,
	  .on_bowtab = cmd_user_initramfs_devices },
};

static int run(const struct command *cmd, const char *name)
{
	struct dev d;
	int r;

	if (cmd->on_bowtab)
		return cmd->on_bowtab(name);
	r = dev_open(&d, name, cmd->untrusted_ok);
	if (!r)
		r = cmd->on_device(&d);
	dev_close(&d);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "bowtab", required_argument, NULL, 't' },
		{ "fstab", required_argument, NULL, 'F' },
		{ "root", required_argument, NULL, 'o' },
		{ "retries", required_argument, NULL, 'r' },
		{ "entry", required_argument, NULL, 'e' },
		{ "reboot", no_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
#ifdef BOWCTL_TESTING
		{ "test-cut-after-restore", no_argument, NULL, 'C' },
#endif
		{ NULL, 0, NULL, 0 },
	};
	static char root_bowtab[PATH_MAX + 16], root_fstab[PATH_MAX + 16];
	bool bad, bowtab_set = false, fstab_set = false;
	const struct command *cmd;
	unsigned long retries = 0;
	const char *name;
	unsigned int i;
	char *end;
	int c, r;

	while ((c = getopt_long(argc, argv, "Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			bowtab_path = optarg;
			bowtab_set = true;
			break;
		case 'F':
			fstab_path = optarg;
			fstab_set = true;
			break;
		case 'o':
			if (optarg[0] != '/' ||
			    strlen(optarg) >= sizeof(root_dir)) {
				fprintf(stderr, "bowctl: bad --root '%s': "
					"expected an absolute directory path\n",
					optarg);
				return EXIT_USAGE;
			}
			strcpy(root_dir, optarg);
			/* "/" and "/root/" name the same roots as "" and "/root" */
			for (size_t n = strlen(root_dir);
			     n && root_dir[n - 1] == '/'; n--)
				root_dir[n - 1] = 0;
			break;
		case 'r':
			errno = 0;
			retries = strtoul(optarg, &end, 10);
			if (errno || *end || !retries || retries > 100) {
				fprintf(stderr, "bowctl: bad --retries '%s': "
					"expected 1 to 100\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'e':
			if (!optarg[0] || strlen(optarg) >= BOW_ENTRY_MAX ||
			    strspn(optarg, "abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				   "-_.+@:") != strlen(optarg)) {
				fprintf(stderr, "bowctl: bad --entry '%s': "
					"expected a boot loader entry id (a "
					"file name such as debian-b.conf, "
					"under %d characters)\n", optarg,
					BOW_ENTRY_MAX);
				return EXIT_USAGE;
			}
			opt_entry = optarg;
			break;
		case 'R':
			opt_reboot = true;
			break;
		case 'j':
			opt_json = true;
			break;
#ifdef BOWCTL_TESTING
		case 'C':
			test_cut_after_restore = true;
			break;
#endif
		case 'V':
			printf("bowctl " BOW_VERSION "\n");
			return EXIT_DONE;
		case 'h':
			usage(stdout);
			return EXIT_DONE;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!bowtab_set) {
		snprintf(root_bowtab, sizeof(root_bowtab), "%s%s", root_dir,
			 BOWTAB_PATH);
		bowtab_path = root_bowtab;
	}
	if (!fstab_set) {
		snprintf(root_fstab, sizeof(root_fstab), "%s/etc/fstab",
			 root_dir);
		fstab_path = root_fstab;
	}
	for (i = 0; optind < argc && i < sizeof(commands) / sizeof(*commands);
	     i++)
		if (!strcmp(argv[optind], commands[i].name))
			break;
	if (optind >= argc || i == sizeof(commands) / sizeof(*commands)) {
		if (optind < argc)
			fprintf(stderr, "bowctl: unknown command '%s'\n",
				argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = &commands[i];
	opt_retries = (unsigned int)retries;
	name = optind + 1 < argc ? argv[optind + 1] : NULL;
	bad = argc - optind > 2 ||
	      (cmd->name_arg == NAME_REQUIRED && !name) ||
	      (cmd->name_arg == NAME_NONE && name) ||
	      ((retries || opt_entry) && !cmd->retries) ||
	      (opt_reboot && !cmd->reboot) || (opt_json && !cmd->json);
	if (bad) {
		fprintf(stderr, "bowctl: %s: wrong arguments or options\n",
			cmd->name);
		usage(stderr);
		return EXIT_USAGE;
	}
	r = run(cmd, name);
	if (fflush(stdout) && !r) {
		fprintf(stderr, "bowctl: cannot write to standard output: "
			"%s\n", strerror(errno));
		r = EXIT_SYSTEM;
	}
	return r;
}
