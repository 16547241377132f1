/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bow-restore: roll a device back to its dm-bow checkpoint.
 *
 * The library half of the tool, shared by the command, the unit tests and
 * the fuzz target.  It reads and writes the device through a file
 * descriptor only, so tests can hand it image files.
 */
#ifndef BOW_RESTORE_H
#define BOW_RESTORE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses; documented in bow-restore(8) and --help. */
enum bow_exit {
	BOW_EXIT_RESTORED = 0,	/* restored (or, with --dry-run, restorable) */
	BOW_EXIT_NO_LOG = 1,	/* no checkpoint found: nothing to do */
	BOW_EXIT_USAGE = 2,	/* bad command line */
	BOW_EXIT_IO = 3,	/* cannot open, size or read the device */
	BOW_EXIT_INVALID = 4,	/* the log is malformed */
	BOW_EXIT_CHECKSUM = 5,	/* a backup does not match its checksum */
	BOW_EXIT_TRUNCATED = 6,	/* the log points past the end of the device */
	BOW_EXIT_WRITE = 7,	/* the replay stopped part-way: run again */
	BOW_EXIT_COMMITTED = 8,	/* a commit was interrupted; it was finished */
};

struct bow_restore_opts {
	bool dry_run;		/* validate and report, write nothing */
	bool verbose;		/* one line per entry replayed */
	/* Test hook: stop after this many writes (0: never)... */
	unsigned long stop_after_writes;
	/* ... and tear the next one: write its first half of sectors. */
	bool tear;
	/* Test hook: read with pread() only, as where mmap() fails. */
	bool no_map;
	/*
	 * Test hook: told of every write the replay makes (@len bytes of
	 * @buf at @off) and every fsync (@buf NULL), once they succeed.
	 */
	void (*trace)(void *arg, const void *buf, size_t len, uint64_t off);
	void *trace_arg;
};

/* What validation found; filled in even when the log is rejected. */
struct bow_restore_summary {
	uint32_t block_size;
	uint64_t log_blocks;	/* in the chain, newest to sequence 0 */
	uint64_t entries;
	uint64_t bytes;		/* bytes the replay copies */
	uint64_t writes;	/* writes the replay issued */
	bool mapped;		/* the device was read through a mapping */
};

/*
 * Validate the whole log chain on the device open at @fd (of @size bytes,
 * named @path in messages) and, unless opts->dry_run, replay it.  Nothing
 * is written unless the whole chain validates.  Messages go to @err,
 * the report to @out.  Returns an enum bow_exit.
 */
int bow_restore(int fd, uint64_t size, const char *path,
		const struct bow_restore_opts *opts,
		struct bow_restore_summary *summary, FILE *out, FILE *err);

/* crc32_le as the kernel computes it: reflected 0xEDB88320, no inversion. */
uint32_t bow_crc32(uint32_t crc, const void *buf, size_t len);

#endif /* BOW_RESTORE_H */
