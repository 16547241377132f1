// SPDX-License-Identifier: GPL-2.0
/*
 * Opening the device to restore: once, exclusively, locked as udev locks
 * it, with its page cache dropped.  Shared by bow-restore and bowctl.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "restore.h"

/* How long to wait for another program's lock on the device. */
#define LOCK_WAIT_MS 5000

static const char *pfx(const struct bow_open_opts *o)
{
	return o->prefix ? o->prefix : "";
}

/* What to tell the user who could go on anyway: the caller's option. */
static const char *hint(const struct bow_open_opts *o)
{
	return o->force_hint ? o->force_hint : "";
}

static int device_size(int fd, const struct stat *st, const char *path,
		       const struct bow_open_opts *o, uint64_t *size)
{
	if (S_ISREG(st->st_mode)) {
		*size = (uint64_t)st->st_size;
		return 0;
	}
	if (S_ISBLK(st->st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size)) {
			fprintf(o->err, "%s%s: cannot get the size: %s\n",
				pfx(o), path, strerror(errno));
			return -1;
		}
		return 0;
	}
	fprintf(o->err, "%s%s: not a block device or regular file\n", pfx(o),
		path);
	return -1;
}

/*
 * A regular file that backs a loop device in use (mounted, or held by
 * device-mapper) is as busy as that device: name the first such one in
 * @loop.  Loop devices are found through sysfs by the device and inode
 * of their backing file.
 */
static bool backs_busy_loop(const struct stat *st, char *loop, size_t len)
{
	DIR *d = opendir("/sys/block");
	struct dirent *de;
	bool busy = false;

	while (d && !busy && (de = readdir(d))) {
		char path[300], backing[4096];
		struct stat bst;
		ssize_t n;
		int fd;

		if (strncmp(de->d_name, "loop", 4))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file",
			 de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, backing, sizeof(backing) - 1);
		close(fd);
		if (n <= 0)
			continue;
		backing[n] = 0;
		backing[strcspn(backing, "\n")] = 0;
		if (stat(backing, &bst) || bst.st_dev != st->st_dev ||
		    bst.st_ino != st->st_ino)
			continue;
		snprintf(loop, len, "/dev/%s", de->d_name);
		fd = open(loop, O_RDONLY | O_CLOEXEC | O_EXCL);
		if (fd < 0 && errno == EBUSY)
			busy = true;
		if (fd >= 0)
			close(fd);
	}
	if (d)
		closedir(d);
	return busy;
}

/*
 * Take the BSD lock on the device that udev and systemd take while they
 * change a device (so that udev does not probe it mid-restore), waiting
 * a little for one held by another program.
 */
static int lock_device(int fd, const char *path,
		       const struct bow_open_opts *o)
{
	struct timespec pause = { 0, 100 * 1000 * 1000 };

	for (int waited = 0;; waited += 100) {
		if (!flock(fd, (o->writing ? LOCK_EX : LOCK_SH) | LOCK_NB))
			return 0;
		if (errno != EWOULDBLOCK || waited >= LOCK_WAIT_MS)
			break;
		nanosleep(&pause, NULL);
	}
	fprintf(o->err, "%s%s: cannot lock the device: %s (another program "
		"holds it%s)\n", pfx(o), path, strerror(errno), hint(o));
	return -1;
}

int bow_open_device(const char *path, const struct bow_open_opts *o,
		    uint64_t *size)
{
	int flags = (o->writing ? O_RDWR : O_RDONLY) | O_CLOEXEC;
	char loop[300];
	struct stat st;
	int fd;

	/*
	 * Opened once: a second open by name could reach another device, if
	 * the name were changed meanwhile.  O_EXCL on a block device fails
	 * while it is mounted or claimed.
	 */
	fd = open(path, flags | (o->force ? 0 : O_EXCL));
	if (fd < 0 && errno == EBUSY) {
		fprintf(o->err, "%s%s: device is in use (mounted, or held by "
			"device-mapper such as a live dm-bow target)%s\n",
			pfx(o), path, hint(o));
		return -1;
	}
	if (fd < 0) {
		fprintf(o->err, "%s%s: cannot open%s: %s\n", pfx(o), path,
			o->writing ? " for writing" : "", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st)) {
		fprintf(o->err, "%s%s: cannot stat: %s\n", pfx(o), path,
			strerror(errno));
		goto fail;
	}
	if (S_ISREG(st.st_mode) && !o->force &&
	    backs_busy_loop(&st, loop, sizeof(loop))) {
		fprintf(o->err, "%s%s: the file backs %s, which is in use "
			"(mounted, or held by device-mapper)%s\n", pfx(o), path,
			loop, hint(o));
		goto fail;
	}
	if (device_size(fd, &st, path, o, size))
		goto fail;
	if (!S_ISBLK(st.st_mode))
		return fd;
	if (!o->force && lock_device(fd, path, o))
		goto fail;
	/*
	 * The device's page cache may hold blocks read before dm-bow, whose
	 * writes bypass it, wrote them: a reader that still has the device
	 * open keeps them.  Write back and drop it, so that every read
	 * reaches the device.
	 */
	if (ioctl(fd, BLKFLSBUF, 0)) {
		fprintf(o->err, "%s%s: cannot drop the device's cache "
			"(BLKFLSBUF): %s%s%s\n", pfx(o), path, strerror(errno),
			o->force ? "; going on: what is read may be older "
			"than the device" : "", o->force ? "" : hint(o));
		if (!o->force)
			goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}
