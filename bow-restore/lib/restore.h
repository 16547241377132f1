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

/*
 * What bow_restore() did.  bow-restore maps these to its exit status
 * (bow-restore(8)): the first four are successes.
 */
enum bow_status {
	BOW_RESTORED = 0,	/* rolled back (dry run: the log is valid) */
	BOW_NO_LOG = 1,		/* block 0 holds no dm-bow log: nothing done */
	BOW_IO_ERROR = 3,	/* cannot read the device, or no memory */
	BOW_INVALID = 4,	/* the log is malformed; nothing written */
	BOW_BAD_CHECKSUM = 5,	/* a backup fails its checksum */
	BOW_TRUNCATED = 6,	/* the log points past the device's end */
	BOW_PARTIAL = 7,	/* stopped after writing: run again */
	BOW_COMMITTED = 8,	/* an interrupted commit was finished */
	BOW_ROLLED_FORWARD = 9,	/* roll_forward: block 0 back, new data kept */
};

struct bow_restore_opts {
	bool dry_run;		/* validate and report, write nothing */
	/*
	 * Do not roll back: put the file system's block 0 (from the newest
	 * header's sector0) back over the log and keep everything written
	 * since the checkpoint, as a commit would, whether the log is valid
	 * or not.  For a log that cannot be restored and a policy that
	 * prefers the new data to an unusable device (Android's vold does
	 * this on its own whenever validation fails).
	 */
	bool roll_forward;
	bool verbose;		/* one line per entry replayed */
	/* Put before every message on err, e.g. "bow-restore: " (or NULL). */
	const char *prefix;
	/*
	 * Told of progress, if set: @phase 1 while the log is checked
	 * (@done of @total log blocks), 2 while it is replayed (@done of
	 * @total bytes written).
	 */
	void (*progress)(void *arg, int phase, uint64_t done, uint64_t total);
	void *progress_arg;
	/*
	 * Called once, if set, after the log validated and before the first
	 * write, with what the writes will do: BOW_RESTORED (a replay),
	 * BOW_COMMITTED (an interrupted commit finished) or
	 * BOW_ROLLED_FORWARD.  A caller that must know after a power cut
	 * what a device with no log went through records it here.  Nonzero:
	 * write nothing and return BOW_IO_ERROR.
	 */
	int (*before_write)(void *arg, enum bow_status what);
	void *before_write_arg;
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
	uint64_t reads;		/* reads of the device (a window is one) */
	uint64_t unchecked;	/* entries with checksum 0, not checked */
	bool vold_partial;	/* block 0 held vold's partial-restore magic */
	bool mapped;		/* the device was read through a mapping */
};

/*
 * Validate the whole log chain on the device open at @fd (of @size bytes,
 * named @path in messages) and, unless opts->dry_run, replay it.  Nothing
 * is written unless the whole chain validates.  Messages go to @err,
 * the report to @out.  Returns an enum bow_status.
 */
int bow_restore(int fd, uint64_t size, const char *path,
		const struct bow_restore_opts *opts,
		struct bow_restore_summary *summary, FILE *out, FILE *err);

/* How bow_open_device() opens a device or image. */
struct bow_open_opts {
	bool writing;		/* read-write, exclusive lock */
	/*
	 * Go on with a device in use (mounted, claimed, locked) or whose
	 * cache cannot be dropped: only when nothing will write to it.
	 */
	bool force;
	const char *prefix;	/* before every message, as above */
	/* After a refusal force would pass, e.g. "; --force to go on". */
	const char *force_hint;
	FILE *err;		/* where messages go */
};

/*
 * Open the device or image at @path for bow_restore(), once: exclusively
 * (refused while it is mounted or claimed, or, for an image, while it
 * backs a loop device in use), under the BSD lock udev honours (waiting
 * up to 5 s for another holder), with its page cache dropped so that
 * every read reaches the device.  Sets @size.  Returns the descriptor,
 * or -1 after saying why on opts->err.
 */
int bow_open_device(const char *path, const struct bow_open_opts *opts,
		    uint64_t *size);

/* crc32_le as the kernel computes it: reflected 0xEDB88320, no inversion. */
uint32_t bow_crc32(uint32_t crc, const void *buf, size_t len);

#endif /* BOW_RESTORE_H */
