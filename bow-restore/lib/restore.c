// SPDX-License-Identifier: GPL-2.0
/*
 * bow-restore: validate a dm-bow log chain by simulating its replay, then
 * replay it for real.  See Documentation/dm-bow.rst, "On-disk format".
 *
 * Replaying an entry copies size bytes from dest to source.  The chain is
 * replayed newest first: the entries of the log block in block 0 from the
 * last to entry 0, whose copy puts the previous log block into block 0,
 * and so on down to sequence 0, whose entry 0 puts back the file system's
 * own block 0.
 *
 * The simulation never copies data.  It keeps a map from each block the
 * replay would write to the block on the device that holds, right now,
 * the bytes that block would receive.  Checksums are computed by reading
 * through that map, so the whole chain, data included, is checked before
 * a single byte is written.
 */
#define _GNU_SOURCE
#include "restore.h"
#include "extmap.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>
#include <isa-l/crc.h>

#include "../../dm-bow-format.h"

/* Bytes read or copied at a time. */
#define CHUNK_BYTES (1024 * 1024)
/*
 * Reads that continue the previous one are served from a window read
 * ahead of them: backups are allocated next to each other, so a log of
 * small entries is read in a few large reads, not one system call each.
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

/* ------------------------------------------------------------------ */

uint32_t bow_crc32(uint32_t crc, const void *buf, size_t len)
{
	/*
	 * ISA-L's crc32_gzip_refl() is zlib's CRC: the same reflected
	 * 0xEDB88320 CRC with the register inverted before and after; the
	 * kernel's crc32_le() is without: undo both inversions.  It folds
	 * with carry-less multiplies where the CPU has them, several times
	 * faster than zlib, and the replay's speed is this CRC's.
	 */
	return ~crc32_gzip_refl(~crc, buf, len);
}

/* ------------------------------------------------------------------ */

/* One entry, converted to host order and to block units. */
struct entry {
	uint64_t source;	/* block */
	uint64_t dest;		/* block */
	uint64_t blocks;
	uint32_t checksum;
};

/* One log block of the chain: where its entries start in ctx.entries. */
struct log_block {
	uint32_t sequence;
	uint32_t count;
	uint64_t first;
};

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
	/* The mapping's pages populated last, and whether to keep them. */
	uint64_t populated_off, populated_len;
	bool hold_pages;

	/* Where the bytes of each block, as the replay would leave it, are. */
	struct extmap map;
	/* The backups (dests) the replay has read so far. */
	struct extmap read;
	struct entry *entries;
	uint64_t nr_entries, cap_entries;
	struct log_block *logs;
	size_t nr_logs, cap_logs;
	uint64_t writes;
	uint64_t written, to_write;	/* bytes, for progress */
	uint64_t sector0;	/* of the last header checked */
	/* The header in block 0; valid once newest_sector0 is not 0. */
	struct bow_log_header newest;
	uint64_t newest_sector0;
	bool vold_partial;	/* block 0 has vold's partial-restore magic */
	/* Entry 0 of the log block in block 0, as it is on disk. */
	unsigned char newest_entry0[sizeof(struct bow_log_entry)];
	bool committing;	/* block 0 says a commit was interrupted */
};

static void say(const struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(const struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->opts->prefix)
		fputs(c->opts->prefix, c->err);
	va_start(ap, fmt);
	vfprintf(c->err, fmt, ap);
	va_end(ap);
}

static void progress(struct ctx *c, int phase, uint64_t done,
		     uint64_t total)
{
	if (c->opts->progress)
		c->opts->progress(c->opts->progress_arg, phase,
				  done < total ? done : total, total);
}

static int pread_all(struct ctx *c, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(c->fd, (char *)buf + done, len - done,
				  (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			say(c, "%s: cannot read %zu bytes at offset %" PRIu64
			    ": %s\n", c->path, len - done, off + done,
			    n < 0 ? strerror(errno) : "unexpected end of file");
			return BOW_IO_ERROR;
		}
		done += (size_t)n;
	}
	return 0;
}

/* Map the whole device read-only, if it can be; see WINDOW_BYTES. */
static void map_device(struct ctx *c)
{
	void *m;

	if (c->opts->no_map || !c->size || c->size > SIZE_MAX)
		return;
	m = mmap(NULL, (size_t)c->size, PROT_READ, MAP_SHARED, c->fd, 0);
	if (m != MAP_FAILED)
		c->mapping = m;
}

static void unmap_device(struct ctx *c)
{
	if (c->mapping)
		munmap((void *)c->mapping, (size_t)c->size);
	c->mapping = NULL;
}

/*
 * Take the pages populated last out of this process's page tables: they
 * stay in the page cache, and touching them again only faults them back
 * in, but the process does not keep the whole device it read mapped (its
 * resident set stays its own memory, and the kernel reclaims unmapped
 * cache more readily).
 */
static void release_pages(struct ctx *c)
{
	if (c->mapping && c->populated_len)
		madvise((void *)(c->mapping + c->populated_off),
			c->populated_len, MADV_DONTNEED);
	c->populated_len = 0;
}

/*
 * Make the window show @n bytes of the device from @off.  On failure the
 * caller reads without the window, which says what went wrong.
 */
static int fill_window(struct ctx *c, uint64_t off, size_t n)
{
	c->window_len = 0;
	if (c->mapping) {
		uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
		uint64_t start = off / page * page;

		if (!c->hold_pages)
			release_pages(c);
		if (!madvise((void *)(c->mapping + start), off + n - start,
			     MADV_POPULATE_READ)) {
			c->window = c->mapping + off;
			c->window_off = off;
			c->window_len = n;
			c->populated_off = start;
			c->populated_len = off + n - start;
			return 0;
		}
		/* Unknown to the kernel: read into the buffer from now on. */
		if (errno != EINVAL)
			return -1;
		unmap_device(c);
	}
	/* Allocated on first use: a short log needs none. */
	if (!c->window_buf)
		c->window_buf = malloc(WINDOW_BYTES);
	if (!c->window_buf || pread_all(c, c->window_buf, n, off))
		return -1;
	c->window = c->window_buf;
	c->window_off = off;
	c->window_len = n;
	return 0;
}

/*
 * Read @len bytes at @off through the window (see WINDOW_BYTES).  With
 * @data, *data points to the bytes afterwards: into the window if they
 * are there, which spares a copy, else into @buf.  Without, they always
 * land in @buf.
 */
static int read_at(struct ctx *c, void *buf, size_t len, uint64_t off,
		   const unsigned char **data)
{
	bool follows = off == c->next_off;
	const unsigned char *in_window = NULL;
	int r;

	c->next_off = off + len;
	if (c->window_len && off >= c->window_off &&
	    off + len <= c->window_off + c->window_len)
		in_window = c->window + (off - c->window_off);
	if (!in_window && follows && len < WINDOW_BYTES && off < c->size) {
		size_t n = c->size - off < WINDOW_BYTES ?
			   (size_t)(c->size - off) : WINDOW_BYTES;

		if (n >= len && !fill_window(c, off, n))
			in_window = c->window;
	}
	if (!in_window) {
		r = pread_all(c, buf, len, off);
		if (!r && data)
			*data = buf;
		return r;
	}
	if (data)
		*data = in_window;
	else
		memcpy(buf, in_window, len);
	return 0;
}

/*
 * Read the @len bytes at @off of the mapping in, with the window (see
 * WINDOW_BYTES), so that touching them raises no SIGBUS.  -1 where the
 * device is not mapped or the read failed (read_at() says what failed).
 */
static int map_in(struct ctx *c, uint64_t off, size_t len)
{
	if (!c->mapping || len > WINDOW_BYTES || off > c->size ||
	    len > c->size - off)
		return -1;
	if (c->window_len && off >= c->window_off &&
	    off + len <= c->window_off + c->window_len)
		return 0;
	if (fill_window(c, off, c->size - off < WINDOW_BYTES ?
			(size_t)(c->size - off) : WINDOW_BYTES))
		return -1;
	return c->mapping ? 0 : -1;
}

/*
 * Write at most @limit bytes of the @cnt buffers of @iov, one after the
 * other from @off, going on after short writes; *@done says how many
 * were written.  Returns what the last pwritev() did.
 */
static ssize_t pwritev_limit(int fd, const struct iovec *iov, int cnt,
			     uint64_t off, size_t limit, size_t *done)
{
	struct iovec rest[WRITE_IOVS];

	*done = 0;
	while (*done < limit) {
		size_t at = 0, queued = 0;
		ssize_t w;
		int n = 0;

		/* What is left: from byte *done on, at most @limit in all. */
		for (int i = 0; i < cnt && *done + queued < limit; i++) {
			size_t len = iov[i].iov_len, from = 0;

			at += len;
			if (at <= *done)
				continue;
			if (at - len < *done)
				from = *done - (at - len);
			len -= from;
			if (len > limit - *done - queued)
				len = limit - *done - queued;
			rest[n].iov_base = (char *)iov[i].iov_base + from;
			rest[n++].iov_len = len;
			queued += len;
		}
		w = pwritev(fd, rest, n, (off_t)(off + *done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w;
		*done += (size_t)w;
	}
	return (ssize_t)*done;
}

/* Write the @cnt (at most WRITE_IOVS) buffers of @iov from @off on. */
static int write_vec_at(struct ctx *c, const struct iovec *iov, int cnt,
			uint64_t off)
{
	size_t len = 0, done;
	ssize_t w;

	for (int i = 0; i < cnt; i++)
		len += iov[i].iov_len;
	/* The window must never show what was there before. */
	if (c->window_len && off < c->window_off + c->window_len &&
	    off + len > c->window_off)
		c->window_len = 0;

	if (c->opts->stop_after_writes &&
	    c->writes >= c->opts->stop_after_writes) {
		say(c, "%s: stopping after %" PRIu64 " writes (test hook)\n",
		    c->path, c->writes);
		/* A power cut in the middle: the first half of its sectors. */
		if (c->opts->tear && len > BOW_SECTOR_SIZE &&
		    pwritev_limit(c->fd, iov, cnt, off, len / 2 /
				  BOW_SECTOR_SIZE * BOW_SECTOR_SIZE,
				  &done) < 0)
			say(c, "%s: torn write failed\n", c->path);
		return BOW_PARTIAL;
	}
	w = pwritev_limit(c->fd, iov, cnt, off, len, &done);
	if (w <= 0 || done < len) {
		say(c, "%s: cannot write %zu bytes at offset %" PRIu64
		    ": %s; the device is partly restored, run "
		    "bow-restore again\n", c->path, len - done, off + done,
		    w < 0 ? strerror(errno) : "no space");
		return BOW_PARTIAL;
	}
	c->writes++;
	c->written += len;
	progress(c, 2, c->written, c->to_write);
	for (int i = 0; c->opts->trace && i < cnt; i++) {
		c->opts->trace(c->opts->trace_arg, iov[i].iov_base,
			       iov[i].iov_len, off);
		off += iov[i].iov_len;
	}
	return 0;
}

static int write_at(struct ctx *c, const void *buf, size_t len, uint64_t off)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	return write_vec_at(c, &iov, 1, off);
}

static int sync_dev(struct ctx *c)
{
	if (fsync(c->fd)) {
		say(c, "%s: fsync failed: %s; run bow-restore again\n",
		    c->path, strerror(errno));
		return BOW_PARTIAL;
	}
	if (c->opts->trace)
		c->opts->trace(c->opts->trace_arg, NULL, 0, 0);
	return 0;
}

/*
 * Read @blocks blocks of the simulated device starting at @block; *data
 * points to them afterwards: into the window if they are one run on the
 * real device and there, else into c->chunk, where runs that are
 * contiguous on the real device are read together.
 */
static int read_virtual(struct ctx *c, uint64_t block, uint64_t blocks,
			const unsigned char **data)
{
	bool one_run = false;
	uint64_t i = 0;

	while (i < blocks) {
		uint64_t run, phys = extmap_lookup(&c->map, block + i, &run);
		int r;

		if (run > blocks - i)
			run = blocks - i;
		one_run = run == blocks;
		r = read_at(c, c->chunk + i * c->block_size,
			    run * c->block_size, phys * c->block_size,
			    one_run ? data : NULL);
		if (r)
			return r;
		i += run;
	}
	if (!one_run)
		*data = c->chunk;
	return 0;
}

/*
 * Block 0 holds a header with count 0: a commit has begun, if the commit
 * mark follows (see dm-bow-format.h).  Without it, this is a damaged log
 * (one flipped bit in count) or a commit begun by a dm-bow that wrote no
 * mark: either way, finishing a commit would destroy the rollback, so
 * only an explicit roll forward does.
 */
static int check_commit_mark(struct ctx *c, const unsigned char *blk,
			     uint32_t header_size)
{
	struct bow_commit_mark mark;

	if (header_size + sizeof(mark) <= BOW_SECTOR_SIZE) {
		memcpy(&mark, blk + header_size, sizeof(mark));
		if (le32toh(mark.magic) == BOW_COMMIT_MAGIC &&
		    le32toh(mark.checksum) ==
		    bow_crc32(BOW_COMMIT_MAGIC, blk,
			      header_size + sizeof(mark.magic)))
			return 0;
	}
	say(c, "%s: block 0 holds a dm-bow header with count 0 at offset 12 "
	    "but no valid commit mark at offset %" PRIu32 ": a damaged log, "
	    "or a commit begun by an older dm-bow; nothing written.  If the "
	    "new data is to be kept, --roll-forward finishes the commit\n",
	    c->path, header_size);
	return BOW_INVALID;
}

/*
 * Check a log block's header.  @first: the newest, read from block 0 of
 * the device, which fixes the block size.  Otherwise @expect_sequence
 * and the block size must match.
 */
static int check_header(struct ctx *c, const unsigned char *blk, bool first,
			uint32_t expect_sequence, uint32_t *count,
			uint32_t *sequence, uint32_t *header_size)
{
	struct bow_log_header h;
	char where[64];

	memcpy(&h, blk, sizeof(h));
	if (first && le32toh(h.magic) == BOW_VOLD_PARTIAL_MAGIC)
		c->vold_partial = true;
	/* vold marks block 0 only: the copies of log blocks keep BOW. */
	if (le32toh(h.magic) != BOW_MAGIC && !(first && c->vold_partial)) {
		if (first) {
			/* Not an error: the common case at boot. */
			fprintf(c->out, "%s: no checkpoint found: block 0 "
				"holds no dm-bow log (magic 0x%08" PRIx32
				", expected 0x%08x)\n", c->path,
				le32toh(h.magic), BOW_MAGIC);
			return BOW_NO_LOG;
		}
		say(c, "%s: log block sequence %" PRIu32 " (restored into "
		    "block 0) has magic 0x%08" PRIx32 ", expected 0x%08x\n",
		    c->path, expect_sequence, le32toh(h.magic), BOW_MAGIC);
		return BOW_INVALID;
	}
	*sequence = le32toh(h.sequence);
	snprintf(where, sizeof(where), "log block sequence %" PRIu32, *sequence);
	if (le16toh(h.header_version) != BOW_HEADER_VERSION) {
		say(c, "%s: %s: header_version 0x%04x at offset 4, expected "
		    "0x%04x\n", c->path, where, le16toh(h.header_version),
		    BOW_HEADER_VERSION);
		return BOW_INVALID;
	}
	if (le32toh(h.block_size) != c->block_size) {
		say(c, "%s: %s: block_size %" PRIu32 " at offset 8, expected "
		    "%" PRIu32 "\n", c->path, where, le32toh(h.block_size),
		    c->block_size);
		return BOW_INVALID;
	}
	*header_size = le16toh(h.header_size);
	if (*header_size < BOW_HEADER_SIZE || *header_size > c->block_size) {
		say(c, "%s: %s: header_size %" PRIu32 " at offset 6, expected "
		    "%d to %" PRIu32 "\n", c->path, where, *header_size,
		    BOW_HEADER_SIZE, c->block_size);
		return BOW_INVALID;
	}
	if (le64toh(h.sector0) % (c->block_size / BOW_SECTOR_SIZE)) {
		say(c, "%s: %s: sector0 %" PRIu64 " at offset 20 is not "
		    "block aligned\n", c->path, where,
		    (uint64_t)le64toh(h.sector0));
		return BOW_INVALID;
	}
	if (!le64toh(h.sector0)) {
		say(c, "%s: %s: sector0 0 at offset 20: the live block 0 is "
		    "never block 0 itself\n", c->path, where);
		return BOW_INVALID;
	}
	if (le64toh(h.sector0) / (c->block_size / BOW_SECTOR_SIZE) >=
	    c->dev_blocks) {
		say(c, "%s: %s: sector0 %" PRIu64 " at offset 20 is past the "
		    "end of the device (%" PRIu64 " sectors): truncated device "
		    "or corrupt log\n", c->path, where,
		    (uint64_t)le64toh(h.sector0), c->size / BOW_SECTOR_SIZE);
		return BOW_TRUNCATED;
	}
	c->sector0 = le64toh(h.sector0);
	if (first) {
		c->newest = h;
		c->newest_sector0 = c->sector0;
	}
	*count = le32toh(h.count);
	if (first && *count == 0 && !c->vold_partial)
		return check_commit_mark(c, blk, *header_size);
	if (*count < 1 || *count > bow_log_capacity(c->block_size,
						    *header_size)) {
		say(c, "%s: %s: count %" PRIu32 " at offset 12, expected 1 to "
		    "%" PRIu32 "\n", c->path, where, *count,
		    bow_log_capacity(c->block_size, *header_size));
		return BOW_INVALID;
	}
	if (!first && *sequence != expect_sequence) {
		say(c, "%s: %s at offset 16, expected sequence %" PRIu32
		    " (the chain must count down by one)\n", c->path, where,
		    expect_sequence);
		return BOW_INVALID;
	}
	return 0;
}

/* Convert and check entry @i of a log block; see the format rules. */
static int check_entry(struct ctx *c, const unsigned char *blk,
		       uint32_t header_size, uint32_t sequence, uint32_t i,
		       struct entry *e)
{
	uint64_t bs_sectors = c->block_size / BOW_SECTOR_SIZE;
	uint64_t off = header_size + (uint64_t)i * sizeof(struct bow_log_entry);
	struct bow_log_entry raw;
	uint64_t source, dest;
	uint32_t size;

	memcpy(&raw, blk + off, sizeof(raw));
	source = le64toh(raw.source);
	dest = le64toh(raw.dest);
	size = le32toh(raw.size);
	e->checksum = le32toh(raw.checksum);

	if (source % bs_sectors || dest % bs_sectors || !size ||
	    size % c->block_size) {
		say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
		    " (offset %" PRIu64 "): source %" PRIu64 ", dest %" PRIu64
		    ", size %" PRIu32 " are not whole %" PRIu32 "-byte blocks\n",
		    c->path, sequence, i, off, source, dest, size,
		    c->block_size);
		return BOW_INVALID;
	}
	e->source = source / bs_sectors;
	e->dest = dest / bs_sectors;
	e->blocks = size / c->block_size;
	if ((i == 0) != (e->source == 0) || (i == 0 && e->blocks != 1) ||
	    e->dest == 0) {
		say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
		    " (offset %" PRIu64 "): source %" PRIu64 ", dest %" PRIu64
		    ", size %" PRIu32 ": block 0 is the source of entry 0, "
		    "one block, and of no other entry, and never a dest\n",
		    c->path, sequence, i, off, source, dest, size);
		return BOW_INVALID;
	}
	if (e->source + e->blocks > c->dev_blocks ||
	    e->dest + e->blocks > c->dev_blocks ||
	    e->source + e->blocks < e->source ||
	    e->dest + e->blocks < e->dest) {
		say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
		    ": sectors %" PRIu64 "+%" PRIu32 " -> %" PRIu64 "+%" PRIu32
		    " reach past the end of the device (%" PRIu64 " sectors): "
		    "truncated device or corrupt log\n", c->path, sequence, i,
		    dest, size / BOW_SECTOR_SIZE, source,
		    size / BOW_SECTOR_SIZE, c->size / BOW_SECTOR_SIZE);
		return BOW_TRUNCATED;
	}
	if (e->source < e->dest + e->blocks && e->dest < e->source + e->blocks) {
		say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
		    ": source %" PRIu64 " and dest %" PRIu64 " overlap\n",
		    c->path, sequence, i, source, dest);
		return BOW_INVALID;
	}
	return 0;
}

/* @crc is that of @e's data: is it the one the log says? */
static int check_checksum(struct ctx *c, const struct entry *e,
			  uint32_t sequence, uint32_t i, uint32_t crc)
{
	uint64_t bs_sectors = c->block_size / BOW_SECTOR_SIZE;

	/*
	 * Android's dm-bow logs each move of the live block 0 as a one-block
	 * entry with checksum 0 (the block changes after the copy), and its
	 * readers skip the check for checksum 0: so does this one, for
	 * one-block entries.  What such an entry copies lands on a block
	 * that was free at the checkpoint (the old live copy); a damaged
	 * checksum that reads 0 goes unnoticed, 1 in 2^32 of them.
	 */
	if (crc == e->checksum || (!e->checksum && e->blocks == 1))
		return 0;
	say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
	    ": checksum of sectors %" PRIu64 "+%" PRIu64 " (backup of "
	    "sector %" PRIu64 ") is 0x%08" PRIx32 ", log says 0x%08"
	    PRIx32 "\n", c->path, sequence, i, e->dest * bs_sectors,
	    e->blocks * bs_sectors, e->source * bs_sectors, crc,
	    e->checksum);
	return BOW_BAD_CHECKSUM;
}

/*
 * Checksum @e's data as it would be read at replay time, in c->map.  If
 * @e is one chunk or less, *data points to its data afterwards.
 */
static int verify_entry(struct ctx *c, const struct entry *e,
			uint32_t sequence, uint32_t i,
			const unsigned char **data)
{
	uint64_t per_chunk = CHUNK_BYTES / c->block_size;
	uint32_t crc = (uint32_t)e->source;

	for (uint64_t b = 0; b < e->blocks; b += per_chunk) {
		uint64_t n = e->blocks - b < per_chunk ? e->blocks - b :
							 per_chunk;
		int r = read_virtual(c, e->dest + b, n, data);

		if (r)
			return r;
		crc = bow_crc32(crc, *data, n * c->block_size);
	}
	return check_checksum(c, e, sequence, i, crc);
}

static int add_entry(struct ctx *c, const struct entry *e)
{
	if (c->nr_entries == c->cap_entries) {
		uint64_t cap = c->cap_entries ? c->cap_entries * 2 : 256;
		struct entry *n = realloc(c->entries, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->entries = n;
		c->cap_entries = cap;
	}
	c->entries[c->nr_entries++] = *e;
	return 0;
}

static int add_log(struct ctx *c, uint32_t sequence, uint32_t count,
		   uint64_t first)
{
	/* Up to 2^32 log blocks: size_t, so that the count cannot wrap. */
	if (c->nr_logs == c->cap_logs) {
		size_t cap = c->cap_logs ? c->cap_logs * 2 : 16;
		struct log_block *n;

		if (cap > SIZE_MAX / sizeof(*n))
			return -ENOMEM;
		n = realloc(c->logs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->logs = n;
		c->cap_logs = cap;
	}
	c->logs[c->nr_logs++] = (struct log_block){ sequence, count, first };
	return 0;
}

static int no_memory(struct ctx *c)
{
	say(c, "%s: out of memory\n", c->path);
	return BOW_IO_ERROR;
}

/*
 * After @e (entry @i of log block @sequence) has been checked: refuse it
 * if it writes a backup the replay read before it (see "Replay" in the
 * documentation: a rerun would then read what this entry wrote, and an
 * interrupted restore would not converge); then note its dest as read
 * and make its source, in the simulated device, show what its dest
 * shows now.
 */
static int simulate_entry(struct ctx *c, const struct entry *e,
			  uint32_t sequence, uint32_t i)
{
	uint64_t bs_sectors = c->block_size / BOW_SECTOR_SIZE;

	if (extmap_overlaps(&c->read, e->source, e->blocks)) {
		say(c, "%s: log block sequence %" PRIu32 " entry %" PRIu32
		    ": source %" PRIu64 "+%" PRIu64 " overlaps the dest of an "
		    "entry replayed before it: a rerun after an interrupted "
		    "restore would not converge\n", c->path, sequence, i,
		    e->source * bs_sectors, e->blocks * bs_sectors);
		return BOW_INVALID;
	}
	if (extmap_assign(&c->read, e->dest, e->blocks, e->dest))
		return no_memory(c);
	for (uint64_t b = 0; b < e->blocks;) {
		uint64_t run, phys = extmap_lookup(&c->map, e->dest + b, &run);

		if (run > e->blocks - b)
			run = e->blocks - b;
		if (extmap_assign(&c->map, e->source + b, run, phys))
			return no_memory(c);
		b += run;
	}
	return 0;
}

/*
 * Walk the chain newest first, checking every field and every checksum,
 * simulating the replay in c->map.  Fills c->entries (in replay order)
 * and c->logs.  Writes nothing.
 */
static int validate(struct ctx *c, struct bow_restore_summary *s)
{
	uint64_t bs_sectors;
	bool is_log;
	struct bow_log_header h;
	uint64_t budget;
	uint32_t expect = 0;
	int r;

	/* The first sector fixes the block size. */
	if (c->size < BOW_SECTOR_SIZE) {
		say(c, "%s: device of %" PRIu64 " bytes is too small to hold "
		    "a dm-bow log\n", c->path, c->size);
		return BOW_TRUNCATED;
	}
	r = read_at(c, &h, sizeof(h), 0, NULL);
	if (r)
		return r;
	c->block_size = le32toh(h.block_size);
	is_log = le32toh(h.magic) == BOW_MAGIC ||
		 le32toh(h.magic) == BOW_VOLD_PARTIAL_MAGIC;
	if (is_log &&
	    (c->block_size < BOW_MIN_BLOCK_SIZE ||
	     c->block_size > BOW_MAX_BLOCK_SIZE ||
	     (c->block_size & (c->block_size - 1)))) {
		say(c, "%s: block_size %" PRIu32 " at offset 8 is not a power "
		    "of two from %d to %d\n", c->path, c->block_size,
		    BOW_MIN_BLOCK_SIZE, BOW_MAX_BLOCK_SIZE);
		return BOW_INVALID;
	}
	if (!is_log)
		c->block_size = BOW_SECTOR_SIZE;
	s->block_size = c->block_size;
	c->dev_blocks = c->size / c->block_size;
	if (c->dev_blocks < 2 && is_log) {
		say(c, "%s: device of %" PRIu64 " bytes is smaller than two "
		    "%" PRIu32 "-byte blocks: truncated\n", c->path, c->size,
		    c->block_size);
		return BOW_TRUNCATED;
	}
	bs_sectors = c->block_size / BOW_SECTOR_SIZE;
	c->block = malloc(c->block_size);
	if (!c->block)
		return no_memory(c);

	/*
	 * Every backup goes to space that was free at the checkpoint and is
	 * never freed again, so the chain cannot copy more than the device
	 * holds: this bounds the work and memory a crafted log can cause.
	 */
	budget = c->dev_blocks;
	for (bool first = true;; first = false) {
		uint32_t count, sequence, header_size;
		uint64_t first_entry = c->nr_entries;
		const unsigned char *data;

		r = read_virtual(c, 0, 1, &data);
		if (r)
			return r;
		memcpy(c->block, data, c->block_size);
		r = check_header(c, c->block, first, expect, &count, &sequence,
				 &header_size);
		if (r)
			return r;
		if (!count) {
			c->committing = true;
			return 0;
		}
		if (add_log(c, sequence, count, first_entry))
			return no_memory(c);
		if (first)
			memcpy(c->newest_entry0, c->block + header_size,
			       sizeof(c->newest_entry0));
		s->log_blocks = c->nr_logs;
		for (uint32_t i = count; i-- > 0;) {
			struct entry e;

			r = check_entry(c, c->block, header_size, sequence, i,
					&e);
			if (r)
				return r;
			if (e.blocks > budget) {
				say(c, "%s: log block sequence %" PRIu32
				    " entry %" PRIu32 ": the chain backs up "
				    "more than the device holds\n", c->path,
				    sequence, i);
				return BOW_INVALID;
			}
			budget -= e.blocks;
			r = verify_entry(c, &e, sequence, i, &data);
			if (r)
				return r;
			r = simulate_entry(c, &e, sequence, i);
			if (r)
				return r;
			if (add_entry(c, &e))
				return no_memory(c);
			if (c->opts->verbose)
				fprintf(c->out, "sequence %" PRIu32 " entry %"
					PRIu32 ": source %" PRIu64 " dest %"
					PRIu64 " sectors %" PRIu64 "\n",
					sequence, i, e.source * bs_sectors,
					e.dest * bs_sectors,
					e.blocks * bs_sectors);
			s->entries++;
			s->bytes += e.blocks * c->block_size;
			if (!e.checksum && e.blocks == 1)
				s->unchecked++;
		}
		progress(c, 1, c->nr_logs, le32toh(c->newest.sequence) + 1ull);
		if (sequence == 0)
			return 0;
		expect = sequence - 1;
	}
}

/*
 * Write @blk to block 0: every sector but the first, then the first,
 * which is what a rerun reads first.
 */
static int write_block0_last_sector_first(struct ctx *c,
					  const unsigned char *blk)
{
	int r = 0;

	if (c->block_size > BOW_SECTOR_SIZE) {
		r = write_at(c, blk + BOW_SECTOR_SIZE,
			     c->block_size - BOW_SECTOR_SIZE, BOW_SECTOR_SIZE);
		if (!r)
			r = sync_dev(c);
	}
	if (!r)
		r = write_at(c, blk, BOW_SECTOR_SIZE, 0);
	if (!r)
		r = sync_dev(c);
	return r;
}

/*
 * Replay @block0, entry 0 of log block @sequence 0: put the file system's
 * own block 0 back, so that a power cut at any point leaves block 0 a
 * valid log or the final block 0.  The device writes a sector
 * atomically, but entry 0 lies in the first sector only if header_size
 * is at most 488.  So: first the first sector is made a log block of its
 * own, the newest header counting its entry 0 alone, with header_size 28
 * and entry 0 right after it (the other entries are replayed and durable
 * by now, and no reader needs what an extended header holds to finish a
 * restore); then every sector but the first is written, then the first.
 * What is written is a copy, checked against the entry's checksum.
 */
static int rewrite_block0(struct ctx *c, const struct entry *block0,
			  uint32_t sequence)
{
	unsigned char sector[BOW_SECTOR_SIZE], compact[BOW_SECTOR_SIZE];
	const unsigned char *blk;
	struct bow_log_header h;
	int r;

	r = read_virtual(c, block0->dest, 1, &blk);
	if (r)
		return r;
	memcpy(c->block, blk, c->block_size);
	r = check_checksum(c, block0, sequence, 0,
			   bow_crc32(0, c->block, c->block_size));
	if (!r)
		r = read_at(c, sector, sizeof(sector), 0, NULL);
	if (r)
		return r;
	memcpy(&h, sector, sizeof(h));
	memset(compact, 0, sizeof(compact));
	memcpy(compact + BOW_HEADER_SIZE, c->newest_entry0,
	       sizeof(c->newest_entry0));
	h.count = htole32(1);
	h.header_size = htole16(BOW_HEADER_SIZE);
	memcpy(compact, &h, sizeof(h));
	if (memcmp(sector, compact, BOW_HEADER_SIZE +
		   sizeof(struct bow_log_entry))) {
		r = write_at(c, compact, sizeof(compact), 0);
		if (!r)
			r = sync_dev(c);
		if (r)
			return r;
	}
	return write_block0_last_sector_first(c, c->block);
}

/*
 * Finish a commit that was interrupted after the target marked it begun
 * (count 0): copy the file system's block 0 from sector0 into block 0.
 */
static int finish_commit(struct ctx *c)
{
	const unsigned char *blk;
	int r = read_at(c, c->chunk, c->block_size,
			c->newest_sector0 * BOW_SECTOR_SIZE, &blk);

	return r ? r : write_block0_last_sector_first(c, blk);
}

/*
 * Roll forward (opts->roll_forward), after validation said @valid: mark
 * block 0 as a commit begun, as the target does (so that any rerun
 * finishes it), then finish it.  The mark goes in a compact first sector
 * of its own, whatever header_size was.
 */
static int roll_forward(struct ctx *c, int valid)
{
	unsigned char sector[BOW_SECTOR_SIZE] = { 0 };
	struct bow_log_header h = c->newest;
	struct bow_commit_mark mark = {
		.magic = htole32(BOW_COMMIT_MAGIC),
	};
	int r;

	if (c->vold_partial) {
		say(c, "%s: cannot roll forward: Android's vold has begun to "
		    "restore this device (magic 0x%08x in block 0), so it holds "
		    "neither the new data nor the checkpoint; run bow-restore "
		    "without --roll-forward to finish the restore\n", c->path,
		    BOW_VOLD_PARTIAL_MAGIC);
		return BOW_INVALID;
	}
	fprintf(c->out, "%s: %s: the file system's block 0 is at sector %"
		PRIu64 "; %s it back and keeping what was written since the "
		"checkpoint (not rolled back)\n", c->path,
		c->committing ? "a commit was interrupted" :
		valid ? "rolling forward over a log that does not validate" :
		"rolling forward over a valid log", c->newest_sector0,
		c->opts->dry_run ? "would put" : "putting");
	if (c->opts->dry_run)
		return BOW_ROLLED_FORWARD;
	h.header_size = htole16(BOW_HEADER_SIZE);
	h.count = 0;
	memcpy(sector, &h, sizeof(h));
	memcpy(sector + BOW_HEADER_SIZE, &mark.magic, sizeof(mark.magic));
	mark.checksum = htole32(bow_crc32(BOW_COMMIT_MAGIC, sector,
					  BOW_HEADER_SIZE + sizeof(mark.magic)));
	memcpy(sector + BOW_HEADER_SIZE, &mark, sizeof(mark));
	r = c->committing ? 0 : write_at(c, sector, sizeof(sector), 0);
	if (!r && !c->committing)
		r = sync_dev(c);
	if (!r)
		r = finish_commit(c);
	return r ? r : BOW_ROLLED_FORWARD;
}

static int cmp_source(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a;
	const struct entry *y = *(const struct entry *const *)b;

	return x->source < y->source ? -1 : x->source > y->source;
}

static int cmp_dest(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a;
	const struct entry *y = *(const struct entry *const *)b;

	return x->dest < y->dest ? -1 : x->dest > y->dest;
}

/*
 * Whether the entries of @by_source (@n, every entry 0 left out) may be
 * replayed in any order: no two write the same block, and none writes a
 * block that any entry of @by_dest (all @m of them) reads.  Then each
 * reads what it would read in log order, and every block ends as it
 * would.  It holds unless the file system wrote over a backup (a move:
 * the new entry's source is the old entry's dest).  Sorts both arrays.
 */
static bool independent(const struct entry **by_source, uint64_t n,
			const struct entry **by_dest, uint64_t m)
{
	uint64_t i = 0, j = 0;

	qsort(by_source, n, sizeof(*by_source), cmp_source);
	qsort(by_dest, m, sizeof(*by_dest), cmp_dest);
	for (uint64_t k = 1; k < n; k++)
		if (by_source[k - 1]->source + by_source[k - 1]->blocks >
		    by_source[k]->source)
			return false;
	while (i < n && j < m) {
		const struct entry *s = by_source[i], *d = by_dest[j];

		if (s->source + s->blocks <= d->dest)
			i++;
		else if (d->dest + d->blocks <= s->source)
			j++;
		else
			return false;
	}
	return true;
}

/* The log block sequence and entry number of @e, for messages. */
static void entry_position(const struct ctx *c, const struct entry *e,
			   uint32_t *sequence, uint32_t *i)
{
	uint64_t at = (uint64_t)(e - c->entries);
	size_t l = 0, hi = c->nr_logs;

	/* The last log block whose entries start at or before @at. */
	while (hi - l > 1) {
		size_t mid = l + (hi - l) / 2;

		if (c->logs[mid].first <= at)
			l = mid;
		else
			hi = mid;
	}
	*sequence = c->logs[l].sequence;
	*i = c->logs[l].count - 1 - (uint32_t)(at - c->logs[l].first);
}

/* Check the data of @e again, in the mapping (read in by map_in()). */
static int recheck_mapped(struct ctx *c, const struct entry *e)
{
	size_t bytes = e->blocks * c->block_size;
	uint32_t sequence, i;

	entry_position(c, e, &sequence, &i);
	return check_checksum(c, e, sequence, i,
			      bow_crc32((uint32_t)e->source,
					c->mapping + e->dest * c->block_size,
					bytes));
}

/*
 * Replay every entry but the entries 0 in the order of their sources,
 * where that gives the same result (independent()): the backups of blocks
 * that lay together are then written back together, one pwritev() for a
 * run of them, and the device is written in one pass from its start.
 * Block 0 keeps the newest header until the end, so a rerun starts from
 * the top whatever part was written.  The backups are read in through the
 * mapping RECHECK_BYTES at a time, and each run of them is checked again
 * just before it is written from there.  *@sorted says whether it did so;
 * if not (the device is not mapped, a backup is larger than the window,
 * the order matters, a read failed), the caller replays in log order,
 * which writes what was written here again, the same bytes.
 */
static int replay_sorted(struct ctx *c, bool *sorted)
{
	uint64_t n = c->nr_entries - c->nr_logs, m = c->nr_entries;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	const struct entry **by_source, **by_dest;
	uint64_t batch_start, batch_end;
	uint64_t k = 0;
	int r = 0;

	*sorted = false;
	by_source = c->mapping && n ? malloc(n * sizeof(*by_source)) : NULL;
	by_dest = by_source ? malloc(m * sizeof(*by_dest)) : NULL;
	if (!by_dest)
		goto out;
	n = 0;
	for (size_t l = 0; l < c->nr_logs; l++) {
		const struct log_block *lb = &c->logs[l];

		for (uint32_t i = 0; i < lb->count; i++) {
			const struct entry *e = &c->entries[lb->first + i];

			if (e->blocks > WINDOW_BYTES / c->block_size)
				goto out;
			by_dest[lb->first + i] = e;
			/* In replay order, entry 0 is a log block's last. */
			if (i + 1 < lb->count)
				by_source[n++] = e;
		}
	}
	if (!independent(by_source, n, by_dest, m))
		goto out;
	while (k < n) {
		uint64_t end = k, bytes = 0;

		while (end < n && bytes < RECHECK_BYTES)
			bytes += by_source[end++]->blocks * c->block_size;
		/*
		 * Read in, in the order of their backups: a window at a time.
		 * The data is not touched yet.
		 */
		memcpy(by_dest, by_source + k, (end - k) * sizeof(*by_dest));
		qsort(by_dest, end - k, sizeof(*by_dest), cmp_dest);
		batch_start = by_dest[0]->dest * c->block_size;
		batch_end = (by_dest[end - k - 1]->dest +
			     by_dest[end - k - 1]->blocks) * c->block_size;
		c->hold_pages = true;
		for (uint64_t b = 0; b < end - k; b++) {
			r = map_in(c, by_dest[b]->dest * c->block_size,
				   by_dest[b]->blocks * c->block_size);
			if (r)
				goto out;
		}
		/* A run checked just before it is written, still in cache. */
		while (k < end) {
			uint64_t start = by_source[k]->source;
			struct iovec iov[WRITE_IOVS];
			int cnt = 0;

			do {
				const struct entry *e = by_source[k++];

				r = recheck_mapped(c, e);
				if (r)
					goto out;
				iov[cnt].iov_base = (void *)(c->mapping +
						e->dest * c->block_size);
				iov[cnt++].iov_len = e->blocks * c->block_size;
			} while (k < end && cnt < WRITE_IOVS &&
				 by_source[k]->source ==
				 by_source[k - 1]->source +
				 by_source[k - 1]->blocks);
			r = write_vec_at(c, iov, cnt, start * c->block_size);
			if (r)
				goto out;
		}
		/* Done with this batch's backups: see release_pages(). */
		c->hold_pages = false;
		c->populated_off = batch_start / page * page;
		c->populated_len = batch_end - c->populated_off;
		release_pages(c);
	}
	*sorted = true;
out:
	c->hold_pages = false;
	/* A checksum or write error is final; a failed read is retried. */
	if (r < 0)
		r = 0;
	free(by_source);
	free(by_dest);
	return r;
}

/*
 * Write back @e, larger than a chunk, a chunk at a time, just checked
 * whole by verify_entry().  Each chunk is read again to be written: the
 * checksum of what was written is computed too, and if the backup
 * changed in between (failing media, or a writer despite --force), the
 * replay stops there with the device partly restored, as a failed read
 * would stop it.
 */
static int write_large_entry(struct ctx *c, const struct entry *e,
			     uint32_t sequence, uint32_t i)
{
	uint64_t per_chunk = CHUNK_BYTES / c->block_size;
	uint32_t crc = (uint32_t)e->source;
	const unsigned char *data;
	int r;

	for (uint64_t b = 0; b < e->blocks; b += per_chunk) {
		uint64_t n = e->blocks - b < per_chunk ? e->blocks - b :
							 per_chunk;

		r = read_virtual(c, e->dest + b, n, &data);
		if (r)
			return r;
		crc = bow_crc32(crc, data, n * c->block_size);
		r = write_at(c, data, n * c->block_size,
			     (e->source + b) * c->block_size);
		if (r)
			return r;
	}
	return check_checksum(c, e, sequence, i, crc);
}

/*
 * Copy every entry, in the order of their sources (replay_sorted()) or
 * else in the order validated, checking each checksum again before any
 * of the entry is written; then put the file system's block 0 back.
 *
 * The entries 0 of log blocks after the first only put the previous log
 * block into block 0, so that the chain can be walked on: the replay
 * walks it in memory, and block 0 is written once, last, from entry 0 of
 * sequence 0.  Until then it keeps the newest header, and a rerun starts
 * from the top again: replaying an entry twice writes the same bytes
 * (see Documentation, "Why replay is safe to repeat").  So a restore
 * flushes a fixed number of times however long the chain.
 */
static int replay(struct ctx *c)
{
	uint64_t per_chunk = CHUNK_BYTES / c->block_size;
	const struct log_block *oldest = &c->logs[c->nr_logs - 1];
	const struct entry *block0 = &c->entries[oldest->first +
						 oldest->count - 1];
	const unsigned char *data;
	bool sorted;
	int r;

	/* From now on reads go to the real device as it is being written. */
	extmap_free(&c->map);
	extmap_free(&c->read);
	r = replay_sorted(c, &sorted);
	if (r)
		return r;
	for (size_t l = 0; !sorted && l < c->nr_logs; l++) {
		const struct log_block *lb = &c->logs[l];

		/* The last of a log block's entries in replay order is entry 0. */
		for (uint32_t k = 0; k + 1 < lb->count; k++) {
			const struct entry *e = &c->entries[lb->first + k];
			uint64_t bytes = e->blocks * c->block_size;
			uint32_t i = lb->count - 1 - k;

			r = verify_entry(c, e, lb->sequence, i, &data);
			if (r)
				return r;
			/* One chunk or less: verify_entry() read it all. */
			if (e->blocks <= per_chunk) {
				r = write_at(c, data, bytes,
					     e->source * c->block_size);
				if (r)
					return r;
				continue;
			}
			r = write_large_entry(c, e, lb->sequence, i);
			if (r)
				return r;
		}
	}
	/*
	 * Block 0 says where a rerun starts: everything before it must be
	 * durable.
	 */
	r = sync_dev(c);
	if (!r)
		r = rewrite_block0(c, block0, oldest->sequence);
	return r ? r : sync_dev(c);
}

/* bow_restore() on its context: the whole restore, but for cleaning up. */
static int restore(struct ctx *c, struct bow_restore_summary *summary)
{
	int r;

	r = validate(c, summary);
	summary->vold_partial = c->vold_partial;
	if (c->opts->roll_forward && r != BOW_NO_LOG && r != BOW_IO_ERROR &&
	    c->newest_sector0) {
		r = roll_forward(c, r);
		summary->writes = c->writes;
		return r;
	}
	if (r)
		return r;
	if (c->vold_partial)
		fprintf(c->out, "%s: block 0 holds a restore that Android's vold "
			"began and did not finish (magic 0x%08x): %s it\n",
			c->path, BOW_VOLD_PARTIAL_MAGIC,
			c->opts->dry_run ? "would finish" : "finishing");
	if (c->committing) {
		fprintf(c->out, "%s: a commit was interrupted: the file system's "
			"block 0 is at sector %" PRIu64 "; %s the commit (the "
			"device is not rolled back)\n", c->path, c->newest_sector0,
			c->opts->dry_run ? "would finish" : "finishing");
		if (!c->opts->dry_run)
			r = finish_commit(c);
		summary->writes = c->writes;
		if (!r)
			r = BOW_COMMITTED;
		return r;
	}
	fprintf(c->out, "%s: checkpoint found: %" PRIu64 " log block%s, %" PRIu64
		" entries, %" PRIu64 " bytes to restore, block size %" PRIu32
		"\n", c->path, summary->log_blocks,
		summary->log_blocks == 1 ? "" : "s", summary->entries,
		summary->bytes, summary->block_size);
	if (summary->unchecked)
		fprintf(c->out, "%s: %" PRIu64 " one-block entr%s with checksum 0, "
			"replayed unchecked as Android's readers do (Android's "
			"dm-bow logs moves of the live block 0 so)\n", c->path,
			summary->unchecked,
			summary->unchecked == 1 ? "y" : "ies");
	if (c->opts->dry_run) {
		fprintf(c->out, "%s: dry run: nothing written\n", c->path);
		return r;
	}
	/* Progress: the entries, and block 0 (put back twice). */
	c->to_write = summary->bytes + 2ull * c->block_size;
	r = replay(c);
	summary->writes = c->writes;
	if (!r) {
		/* The estimate counted the copies of log blocks: done. */
		progress(c, 2, c->to_write, c->to_write);
		fprintf(c->out, "%s: restored to the checkpoint\n", c->path);
	}
	/*
	 * A read that failed or a backup that changed after it was checked
	 * (the media failing, or a writer despite --force) can stop the
	 * replay after it has written: then, as for a failed write, the
	 * device is partly restored and a rerun starts again from the top.
	 */
	if (r && r != BOW_PARTIAL && c->writes) {
		say(c, "%s: stopped after %" PRIu64 " writes: the device is "
		    "partly restored, run bow-restore again\n", c->path,
		    c->writes);
		r = BOW_PARTIAL;
	}
	return r;
}

/*
 * A page of the mapping that cannot be read back when touched (evicted,
 * then a read error; or the file truncated under it) raises SIGBUS.  While
 * bow_restore() runs, the handler turns one inside the mapping into a
 * jump back to it, which reports a read error; any other SIGBUS is
 * raised again with the handler that was there before.  One restore at a
 * time per process: the state is global.
 */
static sigjmp_buf *sigbus_jump;
static const unsigned char *sigbus_lo, *sigbus_hi;
static struct sigaction sigbus_old;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	const unsigned char *at = si->si_addr;

	(void)uc;
	if (sigbus_jump && at >= sigbus_lo && at < sigbus_hi)
		siglongjmp(*sigbus_jump, 1);
	sigaction(sig, &sigbus_old, NULL);
	raise(sig);
}

int bow_restore(int fd, uint64_t size, const char *path,
		const struct bow_restore_opts *opts,
		struct bow_restore_summary *summary, FILE *out, FILE *err)
{
	struct sigaction sa = {
		.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO,
	};
	sigjmp_buf jump;
	/* On the heap: it must keep its values across the jump. */
	struct ctx *c = calloc(1, sizeof(*c));
	int r;

	memset(summary, 0, sizeof(*summary));
	if (!c) {
		fprintf(err, "%s%s: out of memory\n",
			opts->prefix ? opts->prefix : "", path);
		return BOW_IO_ERROR;
	}
	*c = (struct ctx){
		.fd = fd, .size = size, .path = path, .opts = opts,
		.out = out, .err = err, .next_off = UINT64_MAX,
	};
	extmap_init(&c->map);
	extmap_init(&c->read);
	c->chunk = malloc(CHUNK_BYTES);
	if (!c->chunk) {
		r = no_memory(c);
		goto out;
	}
	map_device(c);
	if (c->mapping) {
		sigemptyset(&sa.sa_mask);
		sigaction(SIGBUS, &sa, &sigbus_old);
		sigbus_lo = c->mapping;
		sigbus_hi = c->mapping + c->size;
		sigbus_jump = &jump;
		if (sigsetjmp(jump, 1)) {
			say(c, "%s: a page of the device could not be read "
			    "back through its mapping (SIGBUS: a read error, or "
			    "the file was truncated)%s\n", c->path, c->writes ?
			    "; the device is partly restored, run bow-restore "
			    "again" : "");
			r = c->writes ? BOW_PARTIAL : BOW_IO_ERROR;
			summary->writes = c->writes;
			goto out;
		}
	}
	r = restore(c, summary);
out:
	if (sigbus_jump) {
		sigbus_jump = NULL;
		sigaction(SIGBUS, &sigbus_old, NULL);
	}
	summary->mapped = c->mapping;
	extmap_free(&c->map);
	extmap_free(&c->read);
	free(c->entries);
	free(c->logs);
	free(c->block);
	free(c->chunk);
	free(c->window_buf);
	unmap_device(c);
	free(c);
	return r;
}
