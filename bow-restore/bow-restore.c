// SPDX-License-Identifier: GPL-2.0
/*
 * bow-restore: roll a device back to its dm-bow checkpoint, offline.
 * The command line around the restore library (lib/); see bow-restore(8).
 *
 * Built with -DBOW_RESTORE_TESTING (bow-restore-test, never installed),
 * it also takes the tests' --test-* options, which simulate a power cut.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/restore.h"

#ifndef BOW_VERSION
#define BOW_VERSION "unknown"
#endif

#define PROG "bow-restore"

/* Exit statuses, bow-restore(8). */
enum {
	EXIT_DONE = 0,		/* restored, nothing to do, or finished */
	EXIT_USAGE = 2,
	EXIT_IO = 3,
	EXIT_INVALID = 4,
	EXIT_CHECKSUM = 5,
	EXIT_TRUNCATED = 6,
	EXIT_PARTIAL = 7,
};

/* How long to wait for another program's lock on the device. */
#define LOCK_WAIT_MS 5000

static void usage(FILE *f)
{
	fputs("Usage: " PROG " [options] <device-or-image>\n"
	      "Roll a device back to its dm-bow checkpoint by replaying the\n"
	      "log in its block 0.  The whole log is checked before anything\n"
	      "is written.  Run it on the raw device, not the dm-bow device.\n"
	      "\n"
	      "  -n, --dry-run       check the log and report, write nothing\n"
	      "  -v, --verbose       list every entry, in replay order\n"
	      "  -f, --force         use a device in use (mounted, locked):\n"
	      "                      only when nothing will write to it\n"
	      "      --roll-forward  do not roll back: put the file system's\n"
	      "                      block 0 back and keep the new data, as a\n"
	      "                      commit would, even if the log is invalid\n"
	      "  -C, --progress=FD   report progress on FD (0: on stderr)\n"
	      "  -V, --version       show the version\n"
	      "  -h, --help          show this help\n"
	      "\n"
	      "Exit status:\n"
	      "  0  done: restored, or no checkpoint (nothing to do), or an\n"
	      "     interrupted commit finished, or rolled forward; the\n"
	      "     last line on stdout says which\n"
	      "  2  usage error\n"
	      "  3  cannot open, size or read the device, it is in use, or\n"
	      "     stdout cannot be written\n"
	      "  4  the log is malformed; nothing written\n"
	      "  5  a backup fails its checksum; nothing written\n"
	      "  6  the log points past the end of the device; nothing "
	      "written\n"
	      "  7  the replay stopped part-way; run " PROG " again\n",
	      f);
}

static int exit_status(int status)
{
	switch (status) {
	case BOW_RESTORED:
	case BOW_NO_LOG:
	case BOW_COMMITTED:
	case BOW_ROLLED_FORWARD:
		return EXIT_DONE;
	case BOW_INVALID:
		return EXIT_INVALID;
	case BOW_BAD_CHECKSUM:
		return EXIT_CHECKSUM;
	case BOW_TRUNCATED:
		return EXIT_TRUNCATED;
	case BOW_PARTIAL:
		return EXIT_PARTIAL;
	default:
		return EXIT_IO;
	}
}

static int device_size(int fd, const struct stat *st, const char *path,
		       uint64_t *size)
{
	if (S_ISREG(st->st_mode)) {
		*size = (uint64_t)st->st_size;
		return 0;
	}
	if (S_ISBLK(st->st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size)) {
			fprintf(stderr, PROG ": %s: cannot get the size: %s\n",
				path, strerror(errno));
			return -1;
		}
		return 0;
	}
	fprintf(stderr, PROG ": %s: not a block device or regular file\n",
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
static int lock_device(int fd, bool exclusive, const char *path)
{
	struct timespec pause = { 0, 100 * 1000 * 1000 };

	for (int waited = 0;; waited += 100) {
		if (!flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB))
			return 0;
		if (errno != EWOULDBLOCK || waited >= LOCK_WAIT_MS)
			break;
		nanosleep(&pause, NULL);
	}
	fprintf(stderr, PROG ": %s: cannot lock the device: %s (another "
		"program holds it; --force to go on anyway)\n", path,
		strerror(errno));
	return -1;
}

/*
 * Open @path once (a second open by name could reach another device, if
 * the name were changed meanwhile), refuse it if it is in use, and make
 * sure that nothing is read from a page cache older than the device.
 */
static int open_device(const char *path, bool writing, bool force,
		       struct stat *st)
{
	int flags = (writing ? O_RDWR : O_RDONLY) | O_CLOEXEC;
	char loop[300];
	int fd;

	/* O_EXCL on a block device fails while it is mounted or claimed. */
	fd = open(path, flags | (force ? 0 : O_EXCL));
	if (fd < 0 && errno == EBUSY) {
		fprintf(stderr, PROG ": %s: device is in use (mounted, or held "
			"by device-mapper such as a live dm-bow target); "
			"--force to use it anyway\n", path);
		return -1;
	}
	if (fd < 0) {
		fprintf(stderr, PROG ": %s: cannot open%s: %s\n", path,
			writing ? " for writing" : "", strerror(errno));
		return -1;
	}
	if (fstat(fd, st)) {
		fprintf(stderr, PROG ": %s: cannot stat: %s\n", path,
			strerror(errno));
		goto fail;
	}
	if (S_ISREG(st->st_mode) && !force &&
	    backs_busy_loop(st, loop, sizeof(loop))) {
		fprintf(stderr, PROG ": %s: the file backs %s, which is in "
			"use (mounted, or held by device-mapper); --force to "
			"use it anyway\n", path, loop);
		goto fail;
	}
	if (!S_ISBLK(st->st_mode))
		return fd;
	if (!force && lock_device(fd, writing, path))
		goto fail;
	/*
	 * The device's page cache may hold blocks read before dm-bow, whose
	 * writes bypass it, wrote them: a reader that still has the device
	 * open keeps them.  Write back and drop it, so that every read
	 * reaches the device.
	 */
	if (ioctl(fd, BLKFLSBUF, 0)) {
		fprintf(stderr, PROG ": %s: cannot drop the device's cache "
			"(BLKFLSBUF): %s%s\n", path, strerror(errno), force ?
			"; going on (--force): what is read may be older than "
			"the device" : "; --force to read through it anyway");
		if (!force)
			goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

struct progress_out {
	int fd;			/* 0: a line on stderr, kept up to date */
	const char *path;
	int last_phase;
	int last_percent;
};

static void report_progress(void *arg, int phase, uint64_t done,
			    uint64_t total)
{
	struct progress_out *p = arg;
	int percent = total ? (int)(done * 100 / total) : 100;

	if (phase == p->last_phase && percent == p->last_percent)
		return;
	p->last_phase = phase;
	p->last_percent = percent;
	if (p->fd)
		dprintf(p->fd, "%d %" PRIu64 " %" PRIu64 " %s\n", phase, done,
			total, p->path);
	else
		fprintf(stderr, "\r%s: %s %3d%%%s", p->path,
			phase == 1 ? "checking" : "restoring", percent,
			phase == 2 && done == total ? "\n" : "");
}

/* Exit status @r, or 3 if what was said on stdout did not get out. */
static int flush_stdout(int r)
{
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, PROG ": cannot write to standard output: %s\n",
			errno ? strerror(errno) : "write error");
		if (r == EXIT_DONE)
			r = EXIT_IO;
	}
	return r;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "force", no_argument, NULL, 'f' },
		{ "roll-forward", no_argument, NULL, 'R' },
		{ "progress", required_argument, NULL, 'C' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
#ifdef BOW_RESTORE_TESTING
		{ "test-stop-after-writes", required_argument, NULL, 'S' },
		{ "test-tear", no_argument, NULL, 'T' },
#endif
		{ NULL, 0, NULL, 0 },
	};
	struct progress_out prog = { .last_phase = -1 };
	struct bow_restore_opts opts = { .prefix = PROG ": " };
	struct bow_restore_summary summary;
	bool force = false, show_progress = false;
	const char *path;
	struct stat st;
	uint64_t size;
	char *end;
	int fd, c, r;
	long n;

	while ((c = getopt_long(argc, argv, "nvfC:Vh", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'n':
			opts.dry_run = true;
			break;
		case 'v':
			opts.verbose = true;
			break;
		case 'f':
			force = true;
			break;
		case 'R':
			opts.roll_forward = true;
			break;
		case 'C':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno || *end || n < 0 || n > 65535) {
				fprintf(stderr, PROG ": bad file descriptor "
					"'%s'\n", optarg);
				return EXIT_USAGE;
			}
			prog.fd = (int)n;
			show_progress = true;
			break;
		case 'V':
			printf(PROG " " BOW_VERSION "\n");
			return flush_stdout(EXIT_DONE);
		case 'h':
			usage(stdout);
			return flush_stdout(EXIT_DONE);
#ifdef BOW_RESTORE_TESTING
		case 'T':
			opts.tear = true;
			break;
		case 'S':
			errno = 0;
			opts.stop_after_writes = strtoul(optarg, &end, 10);
			if (errno || *end || !opts.stop_after_writes) {
				fprintf(stderr, PROG ": bad count '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
#endif
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	path = argv[optind];
	if (show_progress) {
		prog.path = path;
		opts.progress = report_progress;
		opts.progress_arg = &prog;
	}

	fd = open_device(path, !opts.dry_run, force, &st);
	if (fd < 0)
		return EXIT_IO;
	if (device_size(fd, &st, path, &size)) {
		close(fd);
		return EXIT_IO;
	}
	r = exit_status(bow_restore(fd, size, path, &opts, &summary, stdout,
				    stderr));
	if (close(fd) && !opts.dry_run && summary.writes) {
		fprintf(stderr, PROG ": %s: close failed: %s; run " PROG
			" again\n", path, strerror(errno));
		r = EXIT_PARTIAL;
	}
	return flush_stdout(r);
}
