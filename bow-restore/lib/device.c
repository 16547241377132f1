// SPDX-License-Identifier: GPL-2.0
/*
 * bow-restore library, the device: reads through a window read ahead,
 * which is a part of a read-only mapping of the device where it can be
 * mapped and a buffer filled by pread() elsewhere; writes, with the test
 * hooks that stop them; messages and progress.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void br_say(const struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->opts->prefix)
		fputs(c->opts->prefix, c->err);
	va_start(ap, fmt);
	vfprintf(c->err, fmt, ap);
	va_end(ap);
}

void br_progress(struct ctx *c, int phase, uint64_t done,
		 uint64_t total)
{
	if (c->opts->progress)
		c->opts->progress(c->opts->progress_arg, phase,
				  done < total ? done : total, total);
}

int br_before_write(struct ctx *c, enum bow_status what)
{
	if (c->opts->before_write &&
	    c->opts->before_write(c->opts->before_write_arg, what)) {
		br_say(c, "%s: stopped before writing: nothing written\n",
		       c->path);
		return BOW_IO_ERROR;
	}
	return 0;
}

int br_no_memory(struct ctx *c)
{
	br_say(c, "%s: out of memory\n", c->path);
	return BOW_IO_ERROR;
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
			br_say(c, "%s: cannot read %zu bytes at offset %" PRIu64
			       ": %s\n", c->path, len - done, off + done,
			       n < 0 ? strerror(errno) :
			       "unexpected end of file");
			return BOW_IO_ERROR;
		}
		done += (size_t)n;
	}
	return 0;
}

/* Map the whole device read-only, if it can be; see WINDOW_BYTES. */
void br_map_device(struct ctx *c)
{
	void *m;

	if (c->opts->no_map || !c->size || c->size > SIZE_MAX)
		return;
	m = mmap(NULL, (size_t)c->size, PROT_READ, MAP_SHARED, c->fd, 0);
	if (m != MAP_FAILED)
		c->mapping = m;
}

void br_unmap_device(struct ctx *c)
{
	if (c->mapping)
		munmap((void *)c->mapping, (size_t)c->size);
	c->mapping = NULL;
}

/*
 * Take the pages populated last out of this process's page tables: they
 * stay in the page cache, and touching them again only faults them back
 * in, but the process does not keep the whole device it read mapped (its
 * resident set stays its own memory and at most RECHECK_BYTES of the
 * device, and the kernel reclaims unmapped cache more readily).
 */
void br_release_pages(struct ctx *c)
{
	if (c->mapping && c->populated_len)
		madvise((void *)(c->mapping + c->populated_off),
			c->populated_len, MADV_DONTNEED);
	c->populated_len = 0;
}

/*
 * Before the replay: if the check read more than RECHECK_BYTES, what it
 * left mapped is of no use to the replay, which reads in batches of its
 * own; take all of the device out of the page tables.
 */
void br_release_checked(struct ctx *c)
{
	if (c->mapping && c->populated_total > RECHECK_BYTES)
		madvise((void *)c->mapping, (size_t)c->size, MADV_DONTNEED);
	c->populated_len = 0;
}

/*
 * Make the window show @n bytes of the device from @off.  On failure the
 * caller reads without the window, which says what went wrong.
 */
static int fill_window(struct ctx *c, uint64_t off, size_t n)
{
	c->window_len = 0;
	c->reads++;
	if (c->mapping) {
		uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
		uint64_t start = off / page * page;

		/*
		 * The first RECHECK_BYTES read stay mapped: a restore of up to
		 * that much then writes from pages already mapped.
		 */
		if (!c->hold_pages && c->populated_total > RECHECK_BYTES)
			br_release_pages(c);
		if (!madvise((void *)(c->mapping + start), off + n - start,
			     MADV_POPULATE_READ)) {
			c->window = c->mapping + off;
			c->window_off = off;
			c->window_len = n;
			c->populated_off = start;
			c->populated_len = off + n - start;
			c->populated_total += c->populated_len;
			return 0;
		}
		/* Unknown to the kernel: read into the buffer from now on. */
		if (errno != EINVAL)
			return -1;
		br_unmap_device(c);
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
int br_read_at(struct ctx *c, void *buf, size_t len, uint64_t off,
	       const unsigned char **data)
{
	bool follows = off == c->next_off, precedes = off + len == c->last_off;
	const unsigned char *in_window = NULL;
	int r;

	c->next_off = off + len;
	c->last_off = off;
	if (c->window_len && off >= c->window_off &&
	    off + len <= c->window_off + c->window_len)
		in_window = c->window + (off - c->window_off);
	if (!in_window && follows && len < WINDOW_BYTES && off < c->size) {
		size_t n = c->size - off < WINDOW_BYTES ?
			   (size_t)(c->size - off) : WINDOW_BYTES;

		if (n >= len && !fill_window(c, off, n))
			in_window = c->window;
	} else if (!in_window && precedes && len < WINDOW_BYTES &&
		   off + len <= c->size) {
		/* Read backwards: the window ends where this read does. */
		uint64_t start = off + len > WINDOW_BYTES ?
				 off + len - WINDOW_BYTES : 0;

		if (!fill_window(c, start, (size_t)(off + len - start)))
			in_window = c->window + (off - start);
	}
	if (!in_window) {
		c->reads++;
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
 * device is not mapped or the read failed (br_read_at() says what failed).
 */
int br_map_in(struct ctx *c, uint64_t off, size_t len)
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
int br_write_vec_at(struct ctx *c, const struct iovec *iov, int cnt,
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
		br_say(c, "%s: stopping after %" PRIu64 " writes (test hook)\n",
		       c->path, c->writes);
		/* A power cut in the middle: the first half of its sectors. */
		if (c->opts->tear && len > BOW_SECTOR_SIZE &&
		    pwritev_limit(c->fd, iov, cnt, off, len / 2 /
				  BOW_SECTOR_SIZE * BOW_SECTOR_SIZE,
				  &done) < 0)
			br_say(c, "%s: torn write failed\n", c->path);
		return BOW_PARTIAL;
	}
	w = pwritev_limit(c->fd, iov, cnt, off, len, &done);
	if (w <= 0 || done < len) {
		br_say(c, "%s: cannot write %zu bytes at offset %" PRIu64
		       ": %s; the device is partly restored, run "
		       "bow-restore again\n", c->path, len - done, off + done,
		       w < 0 ? strerror(errno) : "no space");
		return BOW_PARTIAL;
	}
	c->writes++;
	c->written += len;
	br_progress(c, 2, c->written, c->to_write);
	for (int i = 0; c->opts->trace && i < cnt; i++) {
		c->opts->trace(c->opts->trace_arg, iov[i].iov_base,
			       iov[i].iov_len, off);
		off += iov[i].iov_len;
	}
	return 0;
}

int br_write_at(struct ctx *c, const void *buf, size_t len, uint64_t off)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	return br_write_vec_at(c, &iov, 1, off);
}

int br_sync_dev(struct ctx *c)
{
	if (fsync(c->fd)) {
		br_say(c, "%s: fsync failed: %s; run bow-restore again\n",
		       c->path, strerror(errno));
		return BOW_PARTIAL;
	}
	if (c->opts->trace)
		c->opts->trace(c->opts->trace_arg, NULL, 0, 0);
	return 0;
}
