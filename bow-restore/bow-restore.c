// SPDX-License-Identifier: GPL-2.0
/*
 * bow-restore: roll a device back to its dm-bow checkpoint, offline.
 * The command line around the restore library (lib/); see bow-restore(8).
 *
 * Built with -DBOW_RESTORE_TESTING (bow-restore-test, never installed),
 * it also takes the tests' --test-* options, which simulate a power cut.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
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

	fd = bow_open_device(path, &(struct bow_open_opts){
		.writing = !opts.dry_run, .force = force, .prefix = PROG ": ",
		.force_hint = "; --force to use it anyway", .err = stderr,
	}, &size);
	if (fd < 0)
		return EXIT_IO;
	r = exit_status(bow_restore(fd, size, path, &opts, &summary, stdout,
				    stderr));
	if (close(fd) && !opts.dry_run && summary.writes) {
		fprintf(stderr, PROG ": %s: close failed: %s; run " PROG
			" again\n", path, strerror(errno));
		r = EXIT_PARTIAL;
	}
	return flush_stdout(r);
}
