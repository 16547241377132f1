// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests for bow-restore's parser, validation and replay.
 *
 * A small model of the kernel target writes dm-bow logs into image files:
 * a checkpoint, first overwrites backed up into free blocks, backups and
 * the live block 0 moved when "the file system" writes over them, log
 * blocks rolling over.  bow_restore() must bring back every block that was
 * not free at the checkpoint.  Crafted corruptions of such images must be
 * refused with the documented exit status and leave the image untouched.
 *
 * Prints one "ok - ..." or "not ok - ..." line per check.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../bow-restore/lib/restore.h"
#include "../../dm-bow-format.h"
#include "../rng.h"

static int failures;
/* Every restore reads with pread() only, as where mmap() fails. */
static bool read_with_pread;
/*
 * build() makes a workload that never writes over a backup: the chain
 * is then replayed in the order of its sources, not in log order.
 */
static bool in_place;

static void verdict(bool pass, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", pass ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("%s%s\n", in_place ? " (in place)" : "",
	       read_with_pread ? " (pread)" : "");
	if (!pass)
		failures++;
}

static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

/* ------------------------------------------------------------------
 * The model of the target.
 */

enum { UNCHANGED, FREE, CHANGED, BACKUP, LOG, LIVE };

struct model {
	unsigned char *img;	/* the device */
	unsigned char *ckpt;	/* the device at the checkpoint */
	unsigned char *was_free;	/* per block, at the checkpoint */
	unsigned char *type;	/* per block, now */
	uint32_t bs;
	uint64_t blocks;
	uint32_t header_size;
	uint32_t cap;
	uint64_t live;		/* block holding the live block 0 */
	unsigned char log[BOW_MAX_BLOCK_SIZE];
	uint64_t entries, moves, rollovers;
};

static unsigned char *blk(struct model *m, uint64_t b)
{
	return m->img + b * m->bs;
}

static uint64_t sectors(struct model *m, uint64_t b)
{
	return b * (m->bs / BOW_SECTOR_SIZE);
}

static struct bow_log_header *hdr(struct model *m)
{
	return (struct bow_log_header *)m->log;
}

static void put_le16(unsigned char *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static void put_le32(unsigned char *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put_le64(unsigned char *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint32_t get_le32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

/* First run of up to @max free blocks, lowest address first; 0 if none. */
static uint64_t alloc_run(struct model *m, uint64_t max, uint64_t *len)
{
	for (uint64_t b = 1; b < m->blocks; b++) {
		if (m->type[b] != FREE)
			continue;
		for (*len = 0; *len < max && b + *len < m->blocks &&
		     m->type[b + *len] == FREE; (*len)++)
			m->type[b + *len] = BACKUP;
		return b;
	}
	return 0;
}

static void log_write(struct model *m)
{
	memcpy(blk(m, 0), m->log, m->bs);
}

static void log_entry(struct model *m, uint32_t i, uint64_t src,
		      uint64_t dst, uint64_t n, uint32_t crc)
{
	struct bow_log_entry e = {
		.source = htole64(sectors(m, src)),
		.dest = htole64(sectors(m, dst)),
		.size = htole32((uint32_t)(n * m->bs)),
		.checksum = htole32(crc),
	};

	memcpy(m->log + m->header_size + i * sizeof(e), &e, sizeof(e));
}

static void log_start(struct model *m, uint32_t seq, uint64_t dst, uint32_t crc)
{
	memset(m->log, 0, m->bs);
	hdr(m)->magic = htole32(BOW_MAGIC);
	hdr(m)->header_version = htole16(BOW_HEADER_VERSION);
	hdr(m)->header_size = htole16((uint16_t)m->header_size);
	hdr(m)->block_size = htole32(m->bs);
	hdr(m)->count = htole32(1);
	hdr(m)->sequence = htole32(seq);
	hdr(m)->sector0 = htole64(sectors(m, m->live));
	log_entry(m, 0, 0, dst, 1, crc);
	m->entries++;
}

static int log_append(struct model *m, uint64_t src, uint64_t dst, uint64_t n,
		      uint32_t crc)
{
	uint32_t count = le32toh(hdr(m)->count);

	if (count == m->cap) {
		uint64_t copy, len;

		copy = alloc_run(m, 1, &len);
		if (!copy)
			return -1;
		memcpy(blk(m, copy), m->log, m->bs);
		log_start(m, le32toh(hdr(m)->sequence) + 1, copy,
			  bow_crc32(0, m->log, m->bs));
		m->rollovers++;
		count = 1;
	}
	log_entry(m, count, src, dst, n, crc);
	hdr(m)->count = htole32(count + 1);
	m->entries++;
	log_write(m);
	return 0;
}

static void model_init(struct model *m, uint32_t bs, uint64_t blocks,
		       uint32_t header_size)
{
	memset(m, 0, sizeof(*m));
	m->bs = bs;
	m->blocks = blocks;
	m->header_size = header_size;
	m->cap = bow_log_capacity(bs, header_size);
	m->img = malloc(bs * blocks);
	m->ckpt = malloc(bs * blocks);
	m->type = calloc(blocks, 1);
	m->was_free = calloc(blocks, 1);
	for (uint64_t i = 0; i < bs * blocks; i++)
		m->img[i] = (unsigned char)rnd();
}

static void model_free(struct model *m)
{
	free(m->img);
	free(m->ckpt);
	free(m->type);
	free(m->was_free);
}

/* Trim @n blocks at @b (state 0), never block 0. */
static void model_trim(struct model *m, uint64_t b, uint64_t n)
{
	for (uint64_t i = b; i < b + n && i < m->blocks; i++)
		if (i)
			m->type[i] = FREE;
}

static int model_checkpoint(struct model *m)
{
	uint64_t backup, len;

	memcpy(m->ckpt, m->img, m->bs * m->blocks);
	for (uint64_t b = 0; b < m->blocks; b++)
		m->was_free[b] = m->type[b] == FREE;
	backup = alloc_run(m, 1, &len);
	m->live = alloc_run(m, 1, &len);
	if (!backup || !m->live)
		return -1;
	memcpy(blk(m, backup), blk(m, 0), m->bs);
	memcpy(blk(m, m->live), blk(m, 0), m->bs);
	m->type[m->live] = LIVE;
	m->type[0] = LOG;
	log_start(m, 0, backup, bow_crc32(0, blk(m, 0), m->bs));
	log_write(m);
	return 0;
}

/* Back up the run of blocks at @b, @n long, all needing a backup. */
static int model_backup(struct model *m, uint64_t b, uint64_t n)
{
	while (n) {
		uint64_t len, dst = alloc_run(m, n, &len);
		uint32_t crc;

		if (!dst)
			return -1;
		for (uint64_t i = 0; i < len; i++)
			if (m->type[b + i] == BACKUP)
				m->moves++;
		memcpy(blk(m, dst), blk(m, b), len * m->bs);
		crc = bow_crc32((uint32_t)b, blk(m, b), len * m->bs);
		if (log_append(m, b, dst, len, crc))
			return -1;
		for (uint64_t i = 0; i < len; i++)
			m->type[b + i] = CHANGED;
		b += len;
		n -= len;
	}
	return 0;
}

/* The file system writes @n blocks at @b (state 1). */
static int model_write(struct model *m, uint64_t b, uint64_t n)
{
	for (uint64_t i = b; i < b + n; i++)
		if (m->type[i] == FREE)
			m->type[i] = CHANGED;
	for (uint64_t i = b; i < b + n;) {
		uint64_t run = 0;

		if (m->type[i] == LIVE) {
			uint64_t len, to = alloc_run(m, 1, &len);
			struct bow_log_header *h = hdr(m);

			if (!to)
				return -1;
			memcpy(blk(m, to), blk(m, m->live), m->bs);
			m->type[to] = LIVE;
			m->type[m->live] = CHANGED;
			m->live = to;
			h->sector0 = htole64(sectors(m, to));
			log_write(m);
			continue;
		}
		while (i + run < b + n && (m->type[i + run] == UNCHANGED ||
					   m->type[i + run] == BACKUP))
			run++;
		if (run && model_backup(m, i, run))
			return -1;
		i += run ? run : 1;
	}
	for (uint64_t i = b; i < b + n; i++)
		for (uint32_t k = 0; k < m->bs; k++)
			blk(m, i)[k] = (unsigned char)rnd();
	return 0;
}

/* The file system writes its block 0: it goes to the live copy. */
static void model_write_block0(struct model *m)
{
	for (uint32_t k = 0; k < m->bs; k++)
		blk(m, m->live)[k] = (unsigned char)rnd();
}

/* ------------------------------------------------------------------
 * Running bow_restore() on an image file.
 */

static char tmpdir[] = "/tmp/bow-unit-XXXXXX";

struct run {
	int status;
	char err[4096];
	char out[4096];
	struct bow_restore_summary summary;
};

static void save(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, buf, len) != (ssize_t)len || close(fd)) {
		perror(path);
		exit(2);
	}
}

static unsigned char *load(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0) {
		perror(path);
		exit(2);
	}
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		perror(path);
		exit(2);
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void restore_file(const char *path, struct bow_restore_opts opts,
			 struct run *r)
{
	int fd = open(path, opts.dry_run ? O_RDONLY : O_RDWR);
	FILE *out = fmemopen(r->out, sizeof(r->out) - 1, "w");
	FILE *err = fmemopen(r->err, sizeof(r->err) - 1, "w");
	off_t size = lseek(fd, 0, SEEK_END);

	memset(r->out, 0, sizeof(r->out));
	memset(r->err, 0, sizeof(r->err));
	opts.no_map = read_with_pread;
	r->status = bow_restore(fd, (uint64_t)size, path, &opts, &r->summary,
				out, err);
	fclose(out);
	fclose(err);
	close(fd);
}

/* Every block that was not free at the checkpoint is as it was then. */
static bool restored(struct model *m, const unsigned char *img)
{
	for (uint64_t b = 0; b < m->blocks; b++)
		if (!m->was_free[b] &&
		    memcmp(img + b * m->bs, m->ckpt + b * m->bs, m->bs))
			return false;
	return true;
}

/*
 * Build a checkpointed image with a random workload: with @in_place, the
 * upper half of the device is free and the file system writes over
 * single blocks of the lower half only (as an update rewriting files in
 * place does), so no backup is ever moved.
 */
static void build(struct model *m, uint32_t bs, uint64_t blocks,
		  uint32_t header_size, unsigned int writes)
{
	model_init(m, bs, blocks, header_size);
	if (in_place) {
		model_trim(m, blocks / 2, blocks - blocks / 2);
		if (model_checkpoint(m)) {
			fprintf(stderr, "model: no free space to checkpoint\n");
			exit(2);
		}
		for (unsigned int i = 0; i < writes; i++)
			if (model_write(m, 1 + rnd_below(blocks / 2 - 1), 1))
				break;
		return;
	}
	for (int i = 0; i < 12; i++)
		model_trim(m, rnd_below(blocks), 1 + rnd_below(blocks / 8));
	if (model_checkpoint(m)) {
		fprintf(stderr, "model: no free space to checkpoint\n");
		exit(2);
	}
	for (unsigned int i = 0; i < writes; i++) {
		uint64_t b = 1 + rnd_below(blocks - 1);
		uint64_t n = 1 + rnd_below(rnd_below(4) ? 2 : 16);

		if (rnd_below(10) == 0)
			model_write_block0(m);
		if (b + n > blocks)
			n = blocks - b;
		if (model_write(m, b, n))
			break;	/* out of free space, as the target would */
	}
}

/* ------------------------------------------------------------------ */

/* Trace hook: after the replay's first write, spoil the data backups. */
struct spoiler {
	const char *path;
	struct model *m;
	bool done;
};

static void spoil_backups(void *arg, const void *buf, size_t len,
			  uint64_t off)
{
	struct spoiler *sp = arg;
	unsigned char *b;
	int fd;

	(void)len;
	(void)off;
	if (sp->done || !buf)
		return;
	sp->done = true;
	fd = open(sp->path, O_RDWR);
	b = malloc(sp->m->bs);
	if (fd < 0 || !b)
		exit(2);
	/*
	 * Keep the chain whole (a log block's copy starts with its magic)
	 * and the backup of block 0, which is checked last: what must stop
	 * the replay is the check of the next backup it writes.
	 */
	for (uint64_t i = 1; i < sp->m->blocks; i++) {
		if (sp->m->type[i] != BACKUP)
			continue;
		if (pread(fd, b, sp->m->bs, (off_t)(i * sp->m->bs)) !=
		    (ssize_t)sp->m->bs)
			exit(2);
		if (((struct bow_log_header *)b)->magic ==
		    htole32(BOW_MAGIC) ||
		    !memcmp(b, sp->m->ckpt, sp->m->bs))
			continue;
		b[0] ^= 0xff;
		if (pwrite(fd, b, 1, (off_t)(i * sp->m->bs)) != 1)
			exit(2);
	}
	free(b);
	close(fd);
}

/*
 * The backups change under a replay that has begun (failing media, or a
 * writer despite --force): it stops with 7 (run again), and the rerun
 * refuses with 5 and writes nothing.
 */
static void test_changed_under_replay(uint64_t seed)
{
	struct bow_restore_opts opts = { 0 };
	struct spoiler sp = { 0 };
	struct model m;
	struct run r;
	char path[64];
	int first;

	rng_seed(seed);
	build(&m, 4096, 2048, BOW_HEADER_SIZE, 600);
	snprintf(path, sizeof(path), "%s/spoil.img", tmpdir);
	save(path, m.img, m.bs * m.blocks);
	sp.path = path;
	sp.m = &m;
	opts.trace = spoil_backups;
	opts.trace_arg = &sp;
	restore_file(path, opts, &r);
	first = r.status;
	verdict(first == BOW_EXIT_WRITE && r.summary.writes > 0 &&
		strstr(r.err, ": checksum of sectors ") &&
		strstr(r.err, "partly restored, run bow-restore again"),
		"seed %" PRIu64 ": backups spoiled after the replay's first "
		"write: exit %d (want %d)", seed, first, BOW_EXIT_WRITE);
	opts.trace = NULL;
	restore_file(path, opts, &r);
	verdict(r.status == BOW_EXIT_CHECKSUM && r.summary.writes == 0,
		"seed %" PRIu64 ": the rerun refuses with exit %d (want %d), "
		"%" PRIu64 " writes", seed, r.status, BOW_EXIT_CHECKSUM,
		r.summary.writes);
	model_free(&m);
}

/*
 * Backups of blocks next to each other are written back together: far
 * fewer writes than entries, and the same bytes as an entry-by-entry
 * replay would write.
 */
static void test_coalesced(uint32_t bs, uint64_t seed)
{
	struct bow_restore_opts opts = { 0 };
	unsigned char *img;
	struct model m;
	struct run r;
	char path[64];
	size_t len;

	rng_seed(seed);
	in_place = true;
	build(&m, bs, 2048, BOW_HEADER_SIZE, 3000);
	snprintf(path, sizeof(path), "%s/co.img", tmpdir);
	save(path, m.img, m.bs * m.blocks);
	restore_file(path, opts, &r);
	img = load(path, &len);
	verdict(r.status == BOW_EXIT_RESTORED && restored(&m, img) &&
		m.moves == 0 && r.summary.writes * 10 < m.entries,
		"bs %u seed %" PRIu64 ": %" PRIu64 " entries written back in "
		"%" PRIu64 " writes, restore exact", bs, seed, m.entries,
		r.summary.writes);
	free(img);
	model_free(&m);
	in_place = false;
}

static void test_crc(void)
{
	/* The standard CRC-32 is crc32_le with pre- and post-inversion. */
	verdict((bow_crc32(0xFFFFFFFFu, "123456789", 9) ^ 0xFFFFFFFFu) ==
		0xCBF43926u, "crc32_le matches the CRC-32 check value");
	verdict(bow_crc32(0, "", 0) == 0 && bow_crc32(7, "", 0) == 7,
		"crc32_le of nothing is the seed");
}

static void test_roundtrip(uint32_t bs, uint32_t header_size,
			   unsigned int writes, uint64_t seed)
{
	struct bow_restore_opts opts = { 0 };
	struct model m;
	struct run r;
	char path[64];
	unsigned char *img;
	size_t len;

	rng_seed(seed);
	build(&m, bs, 2048, header_size, writes);
	snprintf(path, sizeof(path), "%s/rt.img", tmpdir);
	save(path, m.img, m.bs * m.blocks);

	opts.dry_run = true;
	restore_file(path, opts, &r);
	img = load(path, &len);
	verdict(r.status == BOW_EXIT_RESTORED &&
		!memcmp(img, m.img, len) && r.summary.entries == m.entries,
		"bs %u header %u seed %" PRIu64 ": dry run validates %" PRIu64
		" entries, writes nothing", bs, header_size, seed, m.entries);
	free(img);

	opts.dry_run = false;
	restore_file(path, opts, &r);
	img = load(path, &len);
	verdict(r.status == BOW_EXIT_RESTORED && restored(&m, img) &&
		r.summary.mapped == !read_with_pread,
		"bs %u header %u seed %" PRIu64 ": restore exact (%" PRIu64
		" entries, %" PRIu64 " log roll-overs, %" PRIu64 " moves), "
		"read %s", bs, header_size, seed, m.entries, m.rollovers,
		m.moves, read_with_pread ? "with pread()" :
		"through a mapping");
	if (r.status)
		printf("# got exit %d: %s", r.status, r.err);
	free(img);

	restore_file(path, opts, &r);
	verdict(r.status == BOW_EXIT_NO_LOG,
		"bs %u seed %" PRIu64 ": a second run finds no checkpoint", bs,
		seed);
	model_free(&m);
}

/*
 * Stop the replay after k writes, for every k (and with the k+1st write
 * torn in half when @tear), then run it again.
 */
static void test_interrupted(uint32_t bs, uint32_t header_size, uint64_t seed,
			     bool tear, uint64_t blocks, unsigned int writes,
			     uint64_t samples)
{
	struct bow_restore_opts opts = { 0 };
	unsigned char *done, *img;
	uint64_t total, bad = 0, k;
	struct model m;
	struct run r;
	char path[64];
	size_t len;

	uint64_t step, tried = 0;

	rng_seed(seed);
	build(&m, bs, blocks, header_size, writes);
	snprintf(path, sizeof(path), "%s/int.img", tmpdir);
	save(path, m.img, m.bs * m.blocks);
	restore_file(path, opts, &r);
	total = r.summary.writes;
	/* Every k, or about @samples of them spread over the replay. */
	step = samples && total > samples ? total / samples : 1;
	done = load(path, &len);

	for (k = 1; k < total; k += step) {
		save(path, m.img, m.bs * m.blocks);
		opts.stop_after_writes = k;
		opts.tear = tear;
		restore_file(path, opts, &r);
		opts.stop_after_writes = 0;
		opts.tear = false;
		if (r.status != BOW_EXIT_WRITE) {
			bad++;
			continue;
		}
		restore_file(path, opts, &r);
		img = load(path, &len);
		if (r.status != BOW_EXIT_RESTORED || memcmp(img, done, len))
			bad++;
		free(img);
		tried++;
	}
	verdict(total > 20 && bad == 0,
		"bs %u header %u seed %" PRIu64 ": restore of %" PRIu64 " writes "
		"stopped after %s%" PRIu64 " different k%s, run again: all "
		"identical (%" PRIu64 " differ)", bs, header_size, seed, total,
		step > 1 ? "a sample of " : "each of ", tried,
		tear ? ", the next write torn" : "", bad);
	free(done);
	model_free(&m);
}

/* What a restore wrote and synced, in order (trace hook). */
struct restore_trace {
	struct traced {
		unsigned char *data;	/* NULL: an fsync */
		size_t len;
		uint64_t off;
	} *ev;
	size_t n, cap;
};

static void trace_record(void *arg, const void *buf, size_t len, uint64_t off)
{
	struct restore_trace *t = arg;

	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 256;
		t->ev = realloc(t->ev, t->cap * sizeof(*t->ev));
		if (!t->ev)
			exit(2);
	}
	t->ev[t->n] = (struct traced){ NULL, len, off };
	if (buf) {
		t->ev[t->n].data = malloc(len);
		if (!t->ev[t->n].data)
			exit(2);
		memcpy(t->ev[t->n].data, buf, len);
	}
	t->n++;
}

/* Apply the traced write @e to @img: whole, or each sector by chance. */
static void trace_apply(unsigned char *img, const struct traced *e, bool torn)
{
	for (size_t o = 0; o < e->len; o += BOW_SECTOR_SIZE)
		if (!torn || rnd_below(2))
			memcpy(img + e->off + o, e->data + o, BOW_SECTOR_SIZE);
}

/*
 * A power cut during a restore on a device with a volatile write cache:
 * what the restore wrote since its last fsync may each be lost, kept, or
 * kept in part (a sector is atomic, a write is not).  After each write k
 * of an uninterrupted restore, states are built from its trace: every
 * subset of the writes since the last fsync if there are at most four,
 * then @subsets more (the first keeps none, the second all, the rest at
 * random, some torn).  A rerun on each must end byte-identical to the
 * uninterrupted restore, or find no checkpoint where block 0 is already
 * the file system's.
 */
static void test_reordered(uint32_t bs, uint64_t seed, unsigned int subsets)
{
	struct bow_restore_opts opts = { 0 };
	struct restore_trace t = { 0 };
	uint64_t states = 0, bad = 0, lost = 0, writes = 0;
	unsigned char *done, *img;
	size_t len, synced = 0;
	struct model m;
	struct run r;
	char path[64];

	rng_seed(seed);
	build(&m, bs, 512, BOW_HEADER_SIZE, 200);
	snprintf(path, sizeof(path), "%s/reorder.img", tmpdir);
	save(path, m.img, m.bs * m.blocks);
	opts.trace = trace_record;
	opts.trace_arg = &t;
	restore_file(path, opts, &r);
	opts.trace = NULL;
	done = load(path, &len);
	img = malloc(len);
	if (!img)
		exit(2);

	for (size_t k = 0; k < t.n; k++) {
		if (!t.ev[k].data) {
			synced = k;
			continue;
		}
		writes++;
		/* Few writes since the last fsync: every subset of them too. */
		size_t pending = 0, exhaustive, samples;

		for (size_t j = synced; j <= k; j++)
			pending += t.ev[j].data != NULL;
		exhaustive = pending <= 4 ? (size_t)1 << pending : 0;
		samples = exhaustive + subsets;
		for (size_t sub = 0; sub < samples; sub++) {
			size_t rsub = sub - exhaustive, bit = 0;

			memcpy(img, m.img, len);
			for (size_t j = 0; j < synced; j++)
				if (t.ev[j].data)
					trace_apply(img, &t.ev[j], false);
			for (size_t j = synced; j <= k; j++) {
				bool keep;

				if (!t.ev[j].data)
					continue;
				if (sub < exhaustive)
					keep = sub >> bit++ & 1;
				else
					keep = rsub == 1 ||
					       (rsub > 1 && rnd_below(2));
				if (!keep) {
					lost++;
					continue;
				}
				trace_apply(img, &t.ev[j],
					    sub >= exhaustive && rsub > 1 &&
					    !rnd_below(4));
			}
			save(path, img, len);
			restore_file(path, opts, &r);
			free(img);
			img = load(path, &len);
			if ((r.status != BOW_EXIT_RESTORED &&
			     r.status != BOW_EXIT_NO_LOG) ||
			    memcmp(img, done, len))
				bad++;
			states++;
		}
	}
	verdict(writes > 20 && states > 100 && lost > 0 && bad == 0,
		"bs %u seed %" PRIu64 ": power cut after each of %" PRIu64
		" restore writes (%zu fsyncs), unsynced writes lost or torn (%"
		PRIu64 " states, %" PRIu64 " writes lost), run again: all "
		"identical (%" PRIu64 " differ)", bs, seed, writes, t.n - writes,
		states, lost, bad);
	for (size_t j = 0; j < t.n; j++)
		free(t.ev[j].data);
	free(t.ev);
	free(img);
	free(done);
	model_free(&m);
}

/*
 * The target marks a commit begun by a header with count 0, then writes
 * the file system's block 0 (from sector0) over block 0, first sector
 * last.  Whatever part of that reached the media, bow-restore finishes the
 * commit, even when it is itself stopped and run again.
 */
static void test_commit_interrupted(uint32_t bs)
{
	struct bow_restore_opts opts = { 0 };
	unsigned char *img, *want, *got;
	uint64_t bad = 0, cases = 0;
	struct model m;
	struct run r;
	char path[64];
	size_t len;

	rng_seed(21);
	build(&m, bs, 256, BOW_HEADER_SIZE, 60);
	len = m.bs * m.blocks;
	img = malloc(len);
	want = malloc(len);
	memcpy(want, m.img, len);
	memcpy(want, blk(&m, m.live), bs);
	snprintf(path, sizeof(path), "%s/commit.img", tmpdir);

	/* Power cut after 0 to all but one of the sectors after the first. */
	for (uint32_t done = 0; done < bs / BOW_SECTOR_SIZE; done++) {
		for (unsigned long stop = 0; stop < 3; stop++) {
			memcpy(img, m.img, len);
			put_le32(img + 12, 0);
			memcpy(img + BOW_SECTOR_SIZE,
			       blk(&m, m.live) + BOW_SECTOR_SIZE,
			       done * BOW_SECTOR_SIZE);
			save(path, img, len);
			opts.stop_after_writes = stop;
			restore_file(path, opts, &r);
			opts.stop_after_writes = 0;
			if (r.status == BOW_EXIT_WRITE)
				restore_file(path, opts, &r);
			got = load(path, &len);
			cases++;
			if (r.status != BOW_EXIT_COMMITTED ||
			    memcmp(got, want, len))
				bad++;
			free(got);
			restore_file(path, opts, &r);
			if (r.status != BOW_EXIT_NO_LOG)
				bad++;
		}
	}
	verdict(bad == 0, "bs %u: an interrupted commit is finished, exit 8, "
		"then no checkpoint (%" PRIu64 " cases, %" PRIu64 " wrong)",
		bs, cases, bad);
	free(img);
	free(want);
	model_free(&m);
}

/* A crafted image: the status and a word of the message, image untouched. */
static void expect_refused(const char *what, const unsigned char *img,
			   size_t len, int status, const char *needle)
{
	struct bow_restore_opts opts = { 0 };
	unsigned char *after;
	struct run r;
	char path[64];
	size_t after_len;

	snprintf(path, sizeof(path), "%s/bad.img", tmpdir);
	save(path, img, len);
	restore_file(path, opts, &r);
	after = load(path, &after_len);
	verdict(r.status == status && strstr(r.err, needle) &&
		after_len == len && !memcmp(after, img, len),
		"%s: exit %d, says '%s', image untouched", what, status,
		needle);
	if (r.status != status || !strstr(r.err, needle))
		printf("# got exit %d: %s", r.status, r.err);
	free(after);
}

static void test_crafted(void)
{
	const size_t e1 = BOW_HEADER_SIZE + 24;	/* entry 1 */
	struct model m;
	unsigned char *img;
	size_t len;
	uint64_t dest;

	rng_seed(42);
	build(&m, 4096, 256, BOW_HEADER_SIZE, 20);
	len = m.bs * m.blocks;
	img = malloc(len);

#define CASE(what, edit, status, needle) do {			\
		memcpy(img, m.img, len);			\
		edit;						\
		expect_refused(what, img, len, status, needle);	\
	} while (0)

	CASE("no log", memcpy(img, m.ckpt, len), BOW_EXIT_NO_LOG,
	     "no checkpoint found");
	CASE("magic", img[3] = 1, BOW_EXIT_NO_LOG, "no checkpoint found");
	CASE("header_version", put_le16(img + 4, 0x0200), BOW_EXIT_INVALID,
	     "header_version 0x0200");
	CASE("header_size too small", put_le16(img + 6, 27), BOW_EXIT_INVALID,
	     "header_size 27");
	CASE("header_size past the block", put_le16(img + 6, 4097),
	     BOW_EXIT_INVALID, "header_size 4097");
	CASE("block_size not a power of two", put_le32(img + 8, 1000),
	     BOW_EXIT_INVALID, "block_size 1000");
	CASE("block_size too large", put_le32(img + 8, 8192),
	     BOW_EXIT_INVALID, "block_size 8192");
	CASE("count past capacity", put_le32(img + 12, 170), BOW_EXIT_INVALID,
	     "count 170");
	CASE("sector0 unaligned", put_le64(img + 20, 9), BOW_EXIT_INVALID,
	     "sector0 9");
	CASE("sector0 past the end", put_le64(img + 20, 256 * 8),
	     BOW_EXIT_TRUNCATED, "sector0 2048");
	CASE("entry source unaligned", put_le64(img + e1, 12),
	     BOW_EXIT_INVALID, "not whole");
	CASE("entry size 0", put_le32(img + e1 + 16, 0), BOW_EXIT_INVALID,
	     "not whole");
	CASE("entry size not whole blocks", put_le32(img + e1 + 16, 4097),
	     BOW_EXIT_INVALID, "not whole");
	CASE("entry 1 restores block 0", put_le64(img + e1, 0),
	     BOW_EXIT_INVALID, "block 0");
	CASE("entry 0 restores another block", put_le64(img + 28, 8),
	     BOW_EXIT_INVALID, "block 0");
	CASE("entry dest is block 0", put_le64(img + e1 + 8, 0),
	     BOW_EXIT_INVALID, "block 0");
	CASE("entry dest past the end", put_le64(img + e1 + 8, 256 * 8),
	     BOW_EXIT_TRUNCATED, "past the end");
	CASE("entry source near 2^64", put_le64(img + e1, ~0ull << 3),
	     BOW_EXIT_TRUNCATED, "past the end");
	CASE("entry source overlaps dest",
	     put_le64(img + e1, get_le64(m.img + e1 + 8)),
	     BOW_EXIT_INVALID, "overlap");
	CASE("entry checksum", img[e1 + 20] ^= 1, BOW_EXIT_CHECKSUM,
	     "entry 1: checksum");
	/* Reported by the newest entry that reads it (a move, maybe). */
	dest = get_le64(m.img + e1 + 8) * 512;
	CASE("backup data flipped", img[dest + 100] ^= 0x40,
	     BOW_EXIT_CHECKSUM, ": checksum of sectors");
	expect_refused("device truncated to 64 blocks", m.img, 64 * 4096,
		       BOW_EXIT_TRUNCATED, "past the end");
	expect_refused("device of 100 bytes", m.img, 100, BOW_EXIT_TRUNCATED,
		       "too small");
	expect_refused("empty device", m.img, 0, BOW_EXIT_TRUNCATED,
		       "too small");
#undef CASE
	free(img);
	model_free(&m);
}

/* Crafted chains: wrong sequence, and more backups than the device holds. */
static void test_crafted_chain(void)
{
	struct model m;
	unsigned char *img;
	size_t len;
	uint64_t copy;

	/* 512-byte blocks: 20 entries a log block, so a chain forms. */
	rng_seed(7);
	build(&m, 512, 1024, BOW_HEADER_SIZE, 120);
	len = m.bs * m.blocks;
	img = malloc(len);
	memcpy(img, m.img, len);
	/* Entry 0 of the newest log: where the previous log block is kept. */
	copy = get_le64(img + BOW_HEADER_SIZE + 8) * 512;
	put_le32(img + copy + 16, get_le32(img + 16) + 5);
	put_le32(img + BOW_HEADER_SIZE + 20, bow_crc32(0, img + copy, 512));
	expect_refused("previous log block with the wrong sequence", img, len,
		       BOW_EXIT_INVALID, "expected sequence");
	model_free(&m);
	free(img);

	/*
	 * Three entries of 6 blocks each in a 16-block device, each with a
	 * right checksum, all copying blocks 10-15 to 4-9 (which converges):
	 * more than the device holds, refused before the replay.
	 */
	rng_seed(9);
	model_init(&m, 4096, 16, BOW_HEADER_SIZE);
	m.live = 1;
	log_start(&m, 0, 2, bow_crc32(0, blk(&m, 2), 4096));
	for (uint32_t i = 1; i <= 3; i++) {
		log_entry(&m, i, 4, 10, 6, bow_crc32(4, blk(&m, 10), 6 * 4096));
		hdr(&m)->count = htole32(i + 1);
	}
	log_write(&m);
	expect_refused("chain backs up more than the device", m.img,
		       16 * 4096, BOW_EXIT_INVALID, "more than the device");
	model_free(&m);
}

/*
 * A log the target never writes: entry 1 writes block 6, the backup that
 * entry 2, replayed before it, read.  Every checksum is right, but a rerun
 * after an interrupted restore would read 6 as entry 1 left it: refused
 * before anything is written.  The same log with entry 1 reading block 9
 * instead of writing 6 is restored.
 */
static void test_not_convergent(void)
{
	struct bow_restore_opts opts = { 0 };
	struct model m;
	struct run r;
	char path[64];

	rng_seed(10);
	model_init(&m, 4096, 16, BOW_HEADER_SIZE);
	m.live = 1;
	log_start(&m, 0, 2, bow_crc32(0, blk(&m, 2), 4096));
	/* Replayed second: 8 -> 6, reading block 8 as it is. */
	log_entry(&m, 1, 6, 8, 1, bow_crc32(6, blk(&m, 8), 4096));
	/* Replayed first: 6 -> 4. */
	log_entry(&m, 2, 4, 6, 1, bow_crc32(4, blk(&m, 6), 4096));
	hdr(&m)->count = htole32(3);
	log_write(&m);
	expect_refused("an entry writes a backup read before it", m.img,
		       16 * 4096, BOW_EXIT_INVALID,
		       "entry 1: source 48+8 overlaps the dest of an entry "
		       "replayed before it");
	log_entry(&m, 1, 9, 8, 1, bow_crc32(9, blk(&m, 8), 4096));
	log_write(&m);
	snprintf(path, sizeof(path), "%s/conv.img", tmpdir);
	save(path, m.img, 16 * 4096);
	restore_file(path, opts, &r);
	verdict(r.status == BOW_EXIT_RESTORED,
		"control: the same log with entry 1 writing block 9 is "
		"restored (exit %d)", r.status);
	model_free(&m);
}

/*
 * With BOW_SEED_DIR set, write small checkpointed images there instead of
 * testing: the fuzz corpus (tests/fuzz/corpus) starts from them.
 */
static int write_seeds(const char *dir)
{
	static const struct {
		uint32_t bs, header_size;
		uint64_t blocks;
		unsigned int writes;
	} seeds[] = {
		{ 512, BOW_HEADER_SIZE, 96, 80 },
		{ 1024, BOW_HEADER_SIZE, 64, 60 },
		{ 4096, BOW_HEADER_SIZE, 24, 12 },
		{ 512, 100, 96, 80 },
	};
	char path[512];
	struct model m;

	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		rng_seed(100 + i);
		build(&m, seeds[i].bs, seeds[i].blocks, seeds[i].header_size,
		      seeds[i].writes);
		snprintf(path, sizeof(path), "%s/model-bs%u-h%u.img", dir,
			 seeds[i].bs, seeds[i].header_size);
		save(path, m.img, m.bs * m.blocks);
		if (i == 0) {
			/* a commit that was interrupted */
			put_le32(m.img + 12, 0);
			snprintf(path, sizeof(path), "%s/model-commit.img", dir);
			save(path, m.img, m.bs * m.blocks);
		}
		model_free(&m);
	}
	return 0;
}

/*
 * BOW_UNIT_ONLY=<text> runs only the calls whose source text holds it,
 * e.g. BOW_UNIT_ONLY="test_interrupted(4096, 1000".
 */
#define RUN(call) do {							\
		const char *only = getenv("BOW_UNIT_ONLY");		\
									\
		if (!only || strstr(#call, only))			\
			call;						\
	} while (0)

int main(void)
{
	if (getenv("BOW_SEED_DIR"))
		return write_seeds(getenv("BOW_SEED_DIR"));
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	RUN(test_crc());
	RUN(test_roundtrip(4096, BOW_HEADER_SIZE, 600, 1));
	RUN(test_roundtrip(4096, BOW_HEADER_SIZE, 3000, 2));
	RUN(test_roundtrip(1024, BOW_HEADER_SIZE, 1500, 3));
	RUN(test_roundtrip(512, BOW_HEADER_SIZE, 1500, 4));
	RUN(test_roundtrip(4096, 64, 600, 5));
	RUN(test_roundtrip(512, 100, 800, 6));
	RUN(test_interrupted(4096, BOW_HEADER_SIZE, 11, false, 512, 200, 0));
	RUN(test_interrupted(4096, BOW_HEADER_SIZE, 11, true, 512, 200, 0));
	RUN(test_interrupted(512, BOW_HEADER_SIZE, 12, false, 512, 200, 0));
	RUN(test_interrupted(1024, BOW_HEADER_SIZE, 13, true, 512, 200, 0));
	RUN(test_interrupted(4096, BOW_HEADER_SIZE, 14, true, 16384, 6000, 60));
	/* Entry 0 outside the first sector: 512 - 24 < header_size. */
	RUN(test_interrupted(4096, 1000, 17, false, 512, 200, 0));
	RUN(test_interrupted(2048, 600, 18, true, 512, 200, 0));
	RUN(test_reordered(4096, 15, 4));
	RUN(test_reordered(512, 16, 4));
	RUN(test_commit_interrupted(4096));
	RUN(test_commit_interrupted(512));
	RUN(test_crafted());
	RUN(test_crafted_chain());
	RUN(test_not_convergent());
	RUN(test_coalesced(4096, 31));
	RUN(test_coalesced(512, 32));
	RUN(test_changed_under_replay(40));

	/* Again, with the chain replayed in the order of its sources. */
	in_place = true;
	RUN(test_roundtrip(4096, BOW_HEADER_SIZE, 600, 33));
	RUN(test_roundtrip(1024, BOW_HEADER_SIZE, 900, 34));
	RUN(test_interrupted(4096, BOW_HEADER_SIZE, 35, false, 512, 200, 0));
	RUN(test_interrupted(4096, BOW_HEADER_SIZE, 35, true, 512, 200, 0));
	RUN(test_interrupted(512, BOW_HEADER_SIZE, 36, true, 512, 200, 0));
	RUN(test_interrupted(4096, BOW_HEADER_SIZE, 37, true, 16384, 6000, 60));
	RUN(test_reordered(4096, 38, 4));
	RUN(test_reordered(512, 39, 4));
	RUN(test_changed_under_replay(41));
	in_place = false;

	/* Again, as where the device cannot be mapped. */
	read_with_pread = true;
	RUN(test_roundtrip(4096, BOW_HEADER_SIZE, 3000, 2));
	RUN(test_roundtrip(512, 100, 800, 6));
	RUN(test_interrupted(4096, BOW_HEADER_SIZE, 11, true, 512, 200, 0));
	RUN(test_interrupted(4096, BOW_HEADER_SIZE, 14, true, 16384, 6000, 60));
	RUN(test_commit_interrupted(4096));
	RUN(test_crafted());
	RUN(test_changed_under_replay(42));

	if (system("rm -rf /tmp/bow-unit-??????"))
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return failures ? 1 : 0;
}
