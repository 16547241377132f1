/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The restore library's parts, shared between its files and nothing
 * else (programs include restore.h):
 *
 *   log.c       the format: a header, an entry, a checksum, the commit mark
 *   device.c    reading and writing the device: window, mapping, pread
 *   validate.c  the whole chain checked by simulating its replay, with
 *               the walk of ../../dm-bow-rules.c (the kernel's)
 *   replay.c    the replay: in the order of sources, or newest first;
 *               block 0 last; a commit finished; a roll forward
 *   restore.c   bow_restore(): the steps, and SIGBUS
 *
 * Replaying an entry copies size bytes from dest to source.  The chain is
 * replayed newest first: the entries of the log block in block 0 from the
 * last to entry 0, whose copy puts the previous log block into block 0,
 * and so on down to sequence 0, whose entry 0 puts back the file system's
 * own block 0.  See Documentation/dm-bow-format.rst.
 *
 * Functions shared between the files are named br_*: the library is
 * linked into programs, whose own names must not meet these.
 */
#ifndef BOW_RESTORE_INTERNAL_H
#define BOW_RESTORE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "restore.h"
#include "extmap.h"
#include "../../dm-bow-format.h"
#include "../../dm-bow-rules.h"

/* Bytes read or copied at a time. */
#define CHUNK_BYTES (1024 * 1024)
/*
 * Reads that continue the previous one, or end where it began, are
 * served from a window read ahead of them (or behind): backups are
 * allocated next to each other, in the order of the log, and the check
 * reads the log newest first, so a log of small entries is read in a few
 * large reads, not one system call each.
 *
 * Where the device can be mapped, the window is a part of the mapping,
 * not a copy: validation and replay each read every backup, and through
 * the mapping neither copies it out of the page cache (the replay writes
 * straight from it).  MADV_POPULATE_READ reads the window's pages in and
 * reports a read error as an error, where touching an unread page would
 * raise SIGBUS.  Elsewhere (a kernel before 5.14, an address space too
 * small for the device) the window is a buffer filled by pread().
 */
#define WINDOW_BYTES (1024 * 1024)

/*
 * Backups whose sources follow each other are written back with one
 * pwritev() of up to this many buffers (see replay_sorted()).
 */
#define WRITE_IOVS 256
/*
 * ... and checked again, in the order of their backups, this many bytes
 * of them at a time before they are written: a restore of up to this
 * much is checked in one pass, and a larger one never so far ahead that
 * what was checked has likely left the page cache.
 */
#define RECHECK_BYTES (256 * 1024 * 1024)

/* Linux 5.14's value, for C libraries whose headers predate it. */
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif


/* One log block of the chain: where its entries start in ctx.entries. */
struct log_block {
	uint32_t sequence;
	uint32_t count;
	uint64_t first;
};

/* One restore: the device, what was read of the log, where it is. */
struct ctx {
	int fd;
	uint64_t size;		/* device bytes */
	const char *path;
	const struct bow_restore_opts *opts;
	FILE *out, *err;

	uint32_t block_size;
	uint64_t dev_blocks;
	unsigned char *chunk;	/* CHUNK_BYTES */
	unsigned char *block;	/* one block */
	const unsigned char *mapping;	/* the whole device, or NULL */
	unsigned char *window_buf;	/* WINDOW_BYTES, without a mapping */
	const unsigned char *window;	/* the device ... */
	uint64_t window_off;	/* ... from this offset ... */
	size_t window_len;	/* ... this many bytes (0: none) */
	uint64_t next_off;	/* where the last read ended */
	uint64_t last_off;	/* where it began */
	/* The mapping's pages populated last, and whether to keep them. */
	uint64_t populated_off, populated_len;
	uint64_t populated_total;	/* bytes populated in all */
	bool hold_pages;

	/* The walk of the chain, also the replay's reads (dm-bow-rules.h). */
	struct bow_chain chain;
	struct bow_restore_summary *summary;
	/* Where the bytes of each block, as the replay would leave it, are. */
	struct extmap map;
	/* The backups (dests) the replay has read so far. */
	struct extmap read;
	struct bow_chain_entry *entries;
	uint64_t nr_entries, cap_entries;
	struct log_block *logs;
	size_t nr_logs, cap_logs;
	uint64_t writes;
	uint64_t reads;		/* windows filled and reads outside them */
	uint64_t written, to_write;	/* bytes, for progress */
	/* The header in block 0; valid once newest_sector0 is not 0. */
	struct bow_log_header newest;
	uint64_t newest_sector0;
	bool vold_partial;	/* block 0 has vold's partial-restore magic */
	/* Entry 0 of the log block in block 0, as it is on disk. */
	unsigned char newest_entry0[sizeof(struct bow_log_entry)];
	bool committing;	/* block 0 says a commit was interrupted */
};

/* device.c */
void br_say(const struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void br_progress(struct ctx *c, int phase, uint64_t done, uint64_t total);
int br_before_write(struct ctx *c, enum bow_status what);
int br_no_memory(struct ctx *c);
void br_map_device(struct ctx *c);
void br_unmap_device(struct ctx *c);
void br_release_pages(struct ctx *c);
void br_release_checked(struct ctx *c);
int br_read_at(struct ctx *c, void *buf, size_t len, uint64_t off,
	       const unsigned char **data);
int br_map_in(struct ctx *c, uint64_t off, size_t len);
int br_write_vec_at(struct ctx *c, const struct iovec *iov, int cnt,
		    uint64_t off);
int br_write_at(struct ctx *c, const void *buf, size_t len, uint64_t off);
int br_sync_dev(struct ctx *c);

/* log.c: what the walk's verdicts mean, in this tool's words */
void br_header_checked(struct ctx *c, const unsigned char *blk,
		       const struct bow_header_facts *h, bool first);
int br_header_broken(struct ctx *c, const unsigned char *blk,
		     const struct bow_chain_verdict *v);
int br_entry_broken(struct ctx *c, const struct bow_chain_verdict *v);
int br_check_checksum(struct ctx *c, const struct bow_chain_entry *e,
		      uint32_t crc);
void br_put_commit_mark(unsigned char *sector, uint32_t header_size);

/* validate.c */
int br_read_virtual(struct ctx *c, uint64_t block, uint64_t blocks,
		    const unsigned char **data);
int br_verify_entry(struct ctx *c, const struct bow_chain_entry *e,
		    const unsigned char **data);
int br_validate(struct ctx *c, struct bow_restore_summary *s);

/* replay.c */
int br_finish_commit(struct ctx *c);
int br_roll_forward(struct ctx *c, int valid);
int br_replay(struct ctx *c);

#endif /* BOW_RESTORE_INTERNAL_H */
