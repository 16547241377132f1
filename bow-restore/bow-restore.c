// SPDX-License-Identifier: GPL-2.0
/*
 * bow-restore: roll a device back to its dm-bow checkpoint, offline.
 * The command line around restore.c; see bow-restore(8).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/restore.h"

static void usage(FILE *f)
{
	fputs("Usage: bow-restore [options] <device-or-image>\n"
	      "Roll a device back to its dm-bow checkpoint by replaying the\n"
	      "log in its block 0.  The whole log is checked before anything\n"
	      "is written.  Run it on the raw device, not the dm-bow device.\n"
	      "\n"
	      "  -n, --dry-run   check the log and report, write nothing\n"
	      "  -v, --verbose   list every entry, in replay order\n"
	      "  -f, --force     use a device that is in use (mounted): only\n"
	      "                  when you know nothing will write to it\n"
	      "  -h, --help      show this help\n"
	      "\n"
	      "Exit status:\n"
	      "  0  restored (with --dry-run: the log is valid)\n"
	      "  1  no checkpoint found: block 0 holds no dm-bow log\n"
	      "  2  usage error\n"
	      "  3  cannot open, size or read the device, or it is in use\n"
	      "  4  the log is malformed; nothing written\n"
	      "  5  a backup fails its checksum; nothing written\n"
	      "  6  the log points past the end of the device; nothing "
	      "written\n"
	      "  7  the replay stopped part-way; run bow-restore again\n"
	      "  8  a commit had been interrupted: it was finished, the\n"
	      "     device holds the committed file system (not rolled back)\n",
	      f);
}

static int device_size(int fd, const char *path, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st)) {
		fprintf(stderr, "%s: cannot stat: %s\n", path, strerror(errno));
		return -1;
	}
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size)) {
			fprintf(stderr, "%s: cannot get the size: %s\n", path,
				strerror(errno));
			return -1;
		}
		return 0;
	}
	fprintf(stderr, "%s: not a block device or regular file\n", path);
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		/* Test hooks, see bow-restore(8): simulate a power cut. */
		{ "test-stop-after-writes", required_argument, NULL, 'S' },
		{ "test-tear", no_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	struct bow_restore_opts opts = { 0 };
	struct bow_restore_summary summary;
	const char *path;
	bool force = false;
	uint64_t size;
	char *end;
	int fd, c, r;

	while ((c = getopt_long(argc, argv, "nvfh", longopts, NULL)) != -1) {
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
		case 'h':
			usage(stdout);
			return 0;
		case 'T':
			opts.tear = true;
			break;
		case 'S':
			errno = 0;
			opts.stop_after_writes = strtoul(optarg, &end, 10);
			if (errno || *end || !opts.stop_after_writes) {
				fprintf(stderr, "bow-restore: bad count '%s'\n",
					optarg);
				return 2;
			}
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	path = argv[optind];

	/* O_EXCL on a block device fails while it is mounted or claimed. */
	fd = open(path, (opts.dry_run ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd >= 0) {
		struct stat st;

		if (!force && !fstat(fd, &st) && S_ISBLK(st.st_mode)) {
			close(fd);
			fd = open(path, (opts.dry_run ? O_RDONLY : O_RDWR) |
				  O_CLOEXEC | O_EXCL);
			if (fd < 0 && errno == EBUSY) {
				fprintf(stderr, "%s: device is in use (mounted,"
					" or held by device-mapper such as a "
					"live dm-bow target); --force to use it "
					"anyway\n", path);
				return 3;
			}
		}
	}
	if (fd < 0) {
		fprintf(stderr, "%s: cannot open%s: %s\n", path,
			opts.dry_run ? "" : " for writing", strerror(errno));
		return 3;
	}
	if (device_size(fd, path, &size)) {
		close(fd);
		return 3;
	}
	r = bow_restore(fd, size, path, &opts, &summary, stdout, stderr);
	if (close(fd) && !r && !opts.dry_run) {
		fprintf(stderr, "%s: close failed: %s\n", path,
			strerror(errno));
		r = 7;
	}
	return r;
}
