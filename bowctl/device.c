// SPDX-License-Identifier: GPL-2.0
/*
 * bowctl: the device being worked on: its bowtab line, state file, lock and
 * messages, shared by every command.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bowctl.h"

const char *bowtab_path = BOWTAB_PATH;
const char *fstab_path = "/etc/fstab";
/*
 * --root: the system's root file system is mounted here (the initramfs's
 * /root): its bowtab, fstab and state directories are read under it.
 */
char root_dir[PATH_MAX];

#ifdef BOWCTL_TESTING
/* bowctl-test --test-cut-after-restore: a power cut once the log is gone. */
bool test_cut_after_restore;
#endif

void say(const struct dev *d, const char *fmt, ...)
{
	va_list ap;

	fputs(d->prefix, stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

void read_boot_id(char *id, size_t len)
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
bool state_dir_protected(const struct dev *d, char *why, size_t len)
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
void dev_state_dir(struct dev *d)
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
int state_fs_mounted(struct dev *d)
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
int dev_open(struct dev *d, const char *name, bool untrusted_ok)
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

void dev_close(struct dev *d)
{
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	d->lock_fd = -1;
}

/* Reboot through systemd, the lock released; returns only on failure. */
int reboot_now(struct dev *d)
{
	dev_close(d);
	execlp("systemctl", "systemctl", "reboot", (char *)NULL);
	say(d, "cannot run systemctl reboot: %s\n", strerror(errno));
	return EXIT_SYSTEM;
}

int save(struct dev *d)
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

void boot_warning(struct dev *d, const char *fmt, ...)
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
void boot_warning_read(const char *name, char *text, size_t len)
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

int info(struct dev *d, struct bow_dm_info *di)
{
	if (bow_dm_info(d->e.name, di)) {
		say(d, "cannot query device-mapper\n");
		return EXIT_SYSTEM;
	}
	return EXIT_DONE;
}
