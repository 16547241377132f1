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
#include <sys/wait.h>
#include <unistd.h>

#include "../model.h"

static int failures;
/* Every restore reads with pread() only, as where mmap() fails. */
static bool read_with_pread;
/*
 * build() makes a workload that never writes over a backup: the chain
 * is then replayed in the order of its sources, not in log order.
 */
static bool in_place;
/* build() makes images as Android's dm-bow writes them (model.h). */
static bool android;

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

static void build(struct model *m, uint32_t bs, uint64_t blocks,
		  uint32_t header_size, unsigned int writes)
{
	if (build_model(m, bs, blocks, header_size, writes, in_place,
			android)) {
		fprintf(stderr, "model: no free space to checkpoint\n");
		exit(2);
	}
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

/*
 * Written over in place, then cut to @len: the loops that save the same
 * image again and again then rewrite cached pages instead of freeing and
 * allocating the file's blocks each time.
 */
static void save(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0600);

	if (fd < 0 || pwrite(fd, buf, len, 0) != (ssize_t)len ||
	    ftruncate(fd, (off_t)len) || close(fd)) {
		perror(path);
		exit(2);
	}
}

/* The file at @path, @len bytes, into @buf (a buffer used again). */
static void load_into(const char *path, unsigned char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0 || pread(fd, buf, len, 0) != (ssize_t)len || close(fd)) {
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
	verdict(first == BOW_PARTIAL && r.summary.writes > 0 &&
		strstr(r.err, ": checksum of sectors ") &&
		strstr(r.err, "partly restored, run bow-restore again"),
		"seed %" PRIu64 ": backups spoiled after the replay's first "
		"write: status %d (want %d)", seed, first, BOW_PARTIAL);
	opts.trace = NULL;
	restore_file(path, opts, &r);
	verdict(r.status == BOW_BAD_CHECKSUM && r.summary.writes == 0,
		"seed %" PRIu64 ": the rerun refuses with status %d (want %d), "
		"%" PRIu64 " writes", seed, r.status, BOW_BAD_CHECKSUM,
		r.summary.writes);
	model_free(&m);
}

/*
 * Trace hook of test_checked_as_written(): once a write at @at_off has
 * been made, flip a byte at @flip_off of the image.
 */
struct flipper {
	const char *path;
	uint64_t at_off, flip_off;
	bool truncate;		/* truncate the image to @flip_off instead */
	bool done;
};

static void flip_after(void *arg, const void *buf, size_t len, uint64_t off)
{
	struct flipper *f = arg;
	unsigned char b;
	int fd;

	(void)len;
	if (f->done || !buf || off != f->at_off)
		return;
	f->done = true;
	fd = open(f->path, O_RDWR);
	if (fd < 0)
		exit(2);
	if (f->truncate) {
		if (ftruncate(fd, (off_t)f->flip_off))
			exit(2);
	} else if (pread(fd, &b, 1, (off_t)f->flip_off) != 1 ||
		   (b ^= 0x5a, pwrite(fd, &b, 1, (off_t)f->flip_off) != 1)) {
		exit(2);
	}
	close(fd);
}

/*
 * What the replay writes is what it checked: a backup larger than the
 * replay's 1 MiB chunks that changes while it is written back, and the
 * backup of block 0 changed after the first sector was rewritten, are
 * caught (the first) or never written (the second).  And a page of the
 * mapping truncated away under the replay is a read error, not a crash.
 */
static void test_checked_as_written(void)
{
	struct bow_restore_opts opts = { 0 };
	struct flipper f = { 0 };
	unsigned char *img;
	struct model m;
	struct run r;
	char path[64];
	size_t len;
	pid_t pid;
	int ws;

	rng_seed(12);
	model_init(&m, 4096, 1024, BOW_HEADER_SIZE);
	memcpy(m.ckpt, m.img, 4096 * 1024);
	m.live = 1;
	log_start(&m, 0, 2, bow_crc32(0, blk(&m, 0), 4096));
	memcpy(blk(&m, 2), blk(&m, 0), 4096);
	/* 300 blocks (1.2 MiB) of block 10 on backed up at 600. */
	memcpy(blk(&m, 600), blk(&m, 10), 300 * 4096);
	log_entry(&m, 1, 10, 600, 300, bow_crc32(10, blk(&m, 10), 300 * 4096));
	hdr(&m)->count = htole32(2);
	log_write(&m);
	memset(blk(&m, 10), 0xee, 300 * 4096);
	len = 4096 * 1024;
	snprintf(path, sizeof(path), "%s/checked.img", tmpdir);

	save(path, m.img, len);
	f.path = path;
	f.at_off = 10 * 4096;
	f.flip_off = (600 + 299) * 4096 + 7;
	opts.trace = flip_after;
	opts.trace_arg = &f;
	restore_file(path, opts, &r);
	verdict(f.done && r.status == BOW_PARTIAL &&
		strstr(r.err, "entry 1: checksum"),
		"a 1.2 MiB backup changed while it is written back: status %d "
		"(want %d), the checksum says so", r.status, BOW_PARTIAL);

	save(path, m.img, len);
	f = (struct flipper){ .path = path, .at_off = 0,
			      .flip_off = 2 * 4096 + 100 };
	restore_file(path, opts, &r);
	img = load(path, &len);
	verdict(f.done && r.status == BOW_RESTORED &&
		!memcmp(img, m.ckpt, 4096) &&
		!memcmp(img + 10 * 4096, m.ckpt + 10 * 4096, 300 * 4096),
		"block 0's backup changed after the first sector was rewritten: "
		"what was checked is written (status %d)", r.status);
	free(img);

	/* In a child: before, SIGBUS killed the process. */
	save(path, m.img, len);
	f = (struct flipper){ .path = path, .at_off = 10 * 4096,
			      .flip_off = 100 * 4096, .truncate = true };
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		restore_file(path, opts, &r);
		_exit(r.status == BOW_PARTIAL && strstr(r.err, "SIGBUS") ?
		      0 : 1);
	}
	verdict(pid > 0 && waitpid(pid, &ws, 0) == pid && WIFEXITED(ws) &&
		WEXITSTATUS(ws) == 0, "the image truncated under the replay: "
		"SIGBUS is a read error, the replay stops with status %d",
		BOW_PARTIAL);
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
	/*
	 * The backups lie in the order of the log, and the check reads the
	 * log newest first: backwards, through windows all the same.
	 */
	opts.dry_run = true;
	restore_file(path, opts, &r);
	verdict(r.status == BOW_RESTORED && r.summary.reads * 10 < m.entries,
		"bs %u seed %" PRIu64 ": %" PRIu64 " entries checked in %"
		PRIu64 " reads%s", bs, seed, m.entries, r.summary.reads,
		read_with_pread ? " (pread)" : "");
	opts.dry_run = false;
	restore_file(path, opts, &r);
	img = load(path, &len);
	verdict(r.status == BOW_RESTORED && restored(&m, img) &&
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
	verdict(r.status == BOW_RESTORED &&
		!memcmp(img, m.img, len) && r.summary.entries == m.entries &&
		r.summary.unchecked == m.unchecked,
		"bs %u header %u seed %" PRIu64 ": dry run validates %" PRIu64
		" entries (%" PRIu64 " with checksum 0, unchecked), writes "
		"nothing", bs, header_size, seed, m.entries, m.unchecked);
	free(img);

	opts.dry_run = false;
	restore_file(path, opts, &r);
	img = load(path, &len);
	verdict(r.status == BOW_RESTORED && restored(&m, img) &&
		r.summary.mapped == !read_with_pread,
		"bs %u header %u seed %" PRIu64 ": restore exact (%" PRIu64
		" entries, %" PRIu64 " log roll-overs, %" PRIu64 " moves), "
		"read %s", bs, header_size, seed, m.entries, m.rollovers,
		m.moves, read_with_pread ? "with pread()" :
		"through a mapping");
	if (r.status)
		printf("# got status %d: %s", r.status, r.err);
	free(img);

	restore_file(path, opts, &r);
	verdict(r.status == BOW_NO_LOG,
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
	img = malloc(len);
	if (!img)
		exit(2);

	for (k = 1; k < total; k += step) {
		save(path, m.img, m.bs * m.blocks);
		opts.stop_after_writes = k;
		opts.tear = tear;
		restore_file(path, opts, &r);
		opts.stop_after_writes = 0;
		opts.tear = false;
		if (r.status != BOW_PARTIAL) {
			bad++;
			continue;
		}
		restore_file(path, opts, &r);
		load_into(path, img, len);
		if (r.status != BOW_RESTORED || memcmp(img, done, len))
			bad++;
		tried++;
	}
	free(img);
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
			load_into(path, img, len);
			if ((r.status != BOW_RESTORED &&
			     r.status != BOW_NO_LOG) ||
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
			mark_commit(img);
			memcpy(img + BOW_SECTOR_SIZE,
			       blk(&m, m.live) + BOW_SECTOR_SIZE,
			       done * BOW_SECTOR_SIZE);
			save(path, img, len);
			opts.stop_after_writes = stop;
			restore_file(path, opts, &r);
			opts.stop_after_writes = 0;
			if (r.status == BOW_PARTIAL)
				restore_file(path, opts, &r);
			got = load(path, &len);
			cases++;
			if (r.status != BOW_COMMITTED ||
			    memcmp(got, want, len))
				bad++;
			free(got);
			restore_file(path, opts, &r);
			if (r.status != BOW_NO_LOG)
				bad++;
		}
	}
	verdict(bad == 0, "bs %u: an interrupted commit is finished, status 8, "
		"then no checkpoint (%" PRIu64 " cases, %" PRIu64 " wrong)",
		bs, cases, bad);
	free(img);
	free(want);
	model_free(&m);
}

/* What the before_write hook saw (test_before_write). */
struct intent {
	int calls, what, refuse;
	uint64_t writes;	/* writes traced so far */
	uint64_t writes_before;	/* ... when the hook was called */
};

static int intent_record(void *arg, enum bow_status what)
{
	struct intent *in = arg;

	in->calls++;
	in->what = (int)what;
	in->writes_before = in->writes;
	return in->refuse;
}

static void intent_trace(void *arg, const void *buf, size_t len,
			 uint64_t off)
{
	(void)buf;
	(void)len;
	(void)off;
	((struct intent *)arg)->writes++;
}

/*
 * before_write: once, after validation and before the first write, with
 * what the writes do (a replay, a commit finished, a roll forward);
 * never for a dry run; a refusal writes nothing.
 */
static void test_before_write(uint32_t bs)
{
	struct bow_restore_opts opts = { 0 };
	struct intent in = { 0 };
	unsigned char *img;
	struct model m;
	struct run r;
	char path[64];
	size_t len;
	static const struct {
		const char *what;
		bool commit, roll_forward, dry_run, refuse;
		int status, called_with;
	} cases[] = {
		{ "a replay", false, false, false, false, BOW_RESTORED,
		  BOW_RESTORED },
		{ "a commit finished", true, false, false, false,
		  BOW_COMMITTED, BOW_COMMITTED },
		{ "a roll forward", false, true, false, false,
		  BOW_ROLLED_FORWARD, BOW_ROLLED_FORWARD },
		{ "a dry run", false, false, true, false, BOW_RESTORED, -1 },
		{ "a refused replay", false, false, false, true, BOW_IO_ERROR,
		  BOW_RESTORED },
		{ "a refused roll forward", false, true, false, true,
		  BOW_IO_ERROR, BOW_ROLLED_FORWARD },
	};

	rng_seed(25);
	build(&m, bs, 256, BOW_HEADER_SIZE, 60);
	snprintf(path, sizeof(path), "%s/intent.img", tmpdir);
	opts.before_write = intent_record;
	opts.before_write_arg = &in;
	opts.trace = intent_trace;
	opts.trace_arg = &in;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		save(path, m.img, m.bs * m.blocks);
		if (cases[i].commit) {
			img = load(path, &len);
			mark_commit(img);
			save(path, img, len);
			free(img);
		}
		img = load(path, &len);
		in = (struct intent){ .refuse = cases[i].refuse ? -1 : 0,
				      .what = -1 };
		opts.roll_forward = cases[i].roll_forward;
		opts.dry_run = cases[i].dry_run;
		restore_file(path, opts, &r);
		verdict(r.status == cases[i].status &&
			in.calls == (cases[i].called_with >= 0) &&
			in.what == cases[i].called_with && !in.writes_before &&
			(cases[i].refuse || cases[i].dry_run ? !in.writes :
			 in.writes > 0),
			"bs %u: before_write for %s: %d call(s) with %d, status "
			"%d, %" PRIu64 " writes", bs, cases[i].what, in.calls,
			in.what, r.status, in.writes);
		if (cases[i].refuse) {
			unsigned char *after = load(path, &len);

			verdict(!memcmp(after, img, len) &&
				strstr(r.err, "stopped before writing: nothing "
				       "written"), "bs %u: %s: image untouched, "
				"said", bs, cases[i].what);
			free(after);
		}
		free(img);
	}
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
	bool said;

	snprintf(path, sizeof(path), "%s/bad.img", tmpdir);
	save(path, img, len);
	restore_file(path, opts, &r);
	after = load(path, &after_len);
	said = strstr(r.err, needle) || strstr(r.out, needle);
	verdict(r.status == status && said &&
		after_len == len && !memcmp(after, img, len),
		"%s: status %d, says '%s', image untouched", what, status,
		needle);
	if (r.status != status || !said)
		printf("# got status %d: %s", r.status, r.err);
	free(after);
}

/*
 * Count 0 commits only with the commit mark: a live log whose count
 * reads 0 (one flipped bit of count 1) is refused, not "committed"; the
 * explicit roll forward finishes it, and so does a rerun after a roll
 * forward stopped once its mark is written.
 */
static void test_commit_mark(void)
{
	struct bow_restore_opts opts = { 0 };
	unsigned char *img, *want, *got;
	struct model m;
	struct run r;
	char path[64];
	size_t len;
	bool same;

	rng_seed(22);
	build(&m, 4096, 256, BOW_HEADER_SIZE, 60);
	len = m.bs * m.blocks;
	img = malloc(len);
	want = malloc(len);
	/* Rolled forward: block 0 is the live one, the rest as it is now. */
	memcpy(want, m.img, len);
	memcpy(want, blk(&m, m.live), m.bs);
	snprintf(path, sizeof(path), "%s/mark.img", tmpdir);

	memcpy(img, m.img, len);
	put_le32(img + 12, 0);
	expect_refused("count 0 without the commit mark", img, len,
		       BOW_INVALID, "no valid commit mark at offset 28");
	memcpy(img, m.img, len);
	mark_commit(img);
	img[BOW_HEADER_SIZE + 4] ^= 1;
	expect_refused("commit mark with a wrong checksum", img, len,
		       BOW_INVALID, "no valid commit mark");

	memcpy(img, m.img, len);
	put_le32(img + 12, 0);
	save(path, img, len);
	opts.roll_forward = true;
	opts.dry_run = true;
	restore_file(path, opts, &r);
	got = load(path, &len);
	verdict(r.status == BOW_ROLLED_FORWARD && !memcmp(got, img, len) &&
		strstr(r.out, "would put it back"),
		"roll forward, dry run: status %d, nothing written", r.status);
	free(got);
	opts.dry_run = false;
	restore_file(path, opts, &r);
	got = load(path, &len);
	same = !memcmp(got, want, len);
	free(got);
	restore_file(path, opts, &r);
	verdict(same && r.status == BOW_NO_LOG,
		"roll forward over count 0: the live block 0 is back, the new "
		"data kept, then no checkpoint");

	/* Over a valid log, stopped after its mark: a plain rerun finishes. */
	save(path, m.img, len);
	opts.stop_after_writes = 1;
	restore_file(path, opts, &r);
	opts.stop_after_writes = 0;
	opts.roll_forward = false;
	verdict(r.status == BOW_PARTIAL, "roll forward stopped after its "
		"mark: status %d", r.status);
	restore_file(path, opts, &r);
	got = load(path, &len);
	verdict(r.status == BOW_COMMITTED && !memcmp(got, want, len),
		"... a rerun without --roll-forward finishes it as a commit "
		"(status %d)", r.status);
	free(got);

	/* Over a log that does not validate. */
	memcpy(img, m.img, len);
	img[BOW_HEADER_SIZE + 24 + 20] ^= 1;
	save(path, img, len);
	opts.roll_forward = true;
	restore_file(path, opts, &r);
	got = load(path, &len);
	memcpy(want + m.bs, img + m.bs, len - m.bs);
	verdict(r.status == BOW_ROLLED_FORWARD && !memcmp(got, want, len) &&
		strstr(r.err, "entry 1: checksum") &&
		strstr(r.out, "does not validate"),
		"roll forward over a log with a bad checksum: status %d, says "
		"why, keeps the new data", r.status);
	free(got);
	free(img);
	free(want);
	model_free(&m);
}

/*
 * Android's vold restores a log entry by entry, newest first; when it
 * has put a log block back and goes on to the previous one, block 0 holds
 * that one with the magic 0x00424f57, and an interrupted vold resumes
 * from there.  Stop such a restore after k entries, for every k, and
 * let bow-restore finish it: the result is a whole restore, exactly.
 * (model_replay() is vold's restore, as far as the format goes.)
 */
static void test_vold_partial(uint32_t bs, uint64_t seed)
{
	struct bow_restore_opts opts = { 0 };
	uint64_t bad = 0, partial = 0, k;
	unsigned char *img, *got;
	struct model m;
	struct run r;
	char path[64];
	size_t len;
	bool marked;

	rng_seed(seed);
	build(&m, bs, 1024, BOW_HEADER_SIZE, 300);
	len = m.bs * m.blocks;
	img = malloc(len);
	snprintf(path, sizeof(path), "%s/vold.img", tmpdir);
	for (k = 1; k < m.entries; k++) {
		memcpy(img, m.img, len);
		model_replay(img, bs, k, true);
		marked = get_le32(img) == BOW_VOLD_PARTIAL_MAGIC;
		partial += marked;
		save(path, img, len);
		restore_file(path, opts, &r);
		got = load(path, &len);
		if (r.summary.vold_partial != marked ||
		    ((r.status != BOW_RESTORED || !restored(&m, got)) &&
		     (r.status != BOW_NO_LOG || k < m.entries - 1))) {
			if (!bad)
				printf("# k %" PRIu64 ": status %d: %s", k,
				       r.status, r.err);
			bad++;
		}
		free(got);
	}
	verdict(bad == 0 && partial > 0 && m.rollovers > 2,
		"bs %u seed %" PRIu64 ": vold's restore stopped after each of %"
		PRIu64 " entries (%" PRIu64 " with its partial magic in block "
		"0), bow-restore finishes it exactly (%" PRIu64 " wrong)", bs,
		seed, m.entries - 1, partial, bad);
	free(img);
	model_free(&m);
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

	CASE("no log", memcpy(img, m.ckpt, len), BOW_NO_LOG,
	     "no checkpoint found");
	CASE("magic", img[3] = 1, BOW_NO_LOG, "no checkpoint found");
	CASE("header_version", put_le16(img + 4, 0x0200), BOW_INVALID,
	     "header_version 0x0200");
	CASE("header_size too small", put_le16(img + 6, 27), BOW_INVALID,
	     "header_size 27");
	CASE("header_size past the block", put_le16(img + 6, 4097),
	     BOW_INVALID, "header_size 4097");
	CASE("block_size not a power of two", put_le32(img + 8, 1000),
	     BOW_INVALID, "block_size 1000");
	CASE("block_size too large", put_le32(img + 8, 8192),
	     BOW_INVALID, "block_size 8192");
	CASE("count past capacity", put_le32(img + 12, 170), BOW_INVALID,
	     "count 170");
	CASE("sector0 unaligned", put_le64(img + 20, 9), BOW_INVALID,
	     "sector0 9");
	CASE("sector0 past the end", put_le64(img + 20, 256 * 8),
	     BOW_TRUNCATED, "sector0 2048");
	CASE("entry source unaligned", put_le64(img + e1, 12),
	     BOW_INVALID, "not whole");
	CASE("entry size 0", put_le32(img + e1 + 16, 0), BOW_INVALID,
	     "not whole");
	CASE("entry size not whole blocks", put_le32(img + e1 + 16, 4097),
	     BOW_INVALID, "not whole");
	CASE("entry 1 restores block 0", put_le64(img + e1, 0),
	     BOW_INVALID, "block 0");
	CASE("entry 0 restores another block", put_le64(img + 28, 8),
	     BOW_INVALID, "block 0");
	CASE("entry dest is block 0", put_le64(img + e1 + 8, 0),
	     BOW_INVALID, "block 0");
	CASE("entry dest past the end", put_le64(img + e1 + 8, 256 * 8),
	     BOW_TRUNCATED, "past the end");
	CASE("entry source near 2^64", put_le64(img + e1, ~0ull << 3),
	     BOW_TRUNCATED, "past the end");
	CASE("entry source overlaps dest",
	     put_le64(img + e1, get_le64(m.img + e1 + 8)),
	     BOW_INVALID, "overlap");
	CASE("entry checksum", img[e1 + 20] ^= 1, BOW_BAD_CHECKSUM,
	     "entry 1: checksum");
	/* Reported by the newest entry that reads it (a move, maybe). */
	dest = get_le64(m.img + e1 + 8) * 512;
	CASE("backup data flipped", img[dest + 100] ^= 0x40,
	     BOW_BAD_CHECKSUM, ": checksum of sectors");
	expect_refused("device truncated to 64 blocks", m.img, 64 * 4096,
		       BOW_TRUNCATED, "past the end");
	expect_refused("device of 100 bytes", m.img, 100, BOW_TRUNCATED,
		       "too small");
	expect_refused("empty device", m.img, 0, BOW_TRUNCATED,
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
		       BOW_INVALID, "expected sequence");
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
		       16 * 4096, BOW_INVALID, "more than the device");
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
		       16 * 4096, BOW_INVALID,
		       "entry 1: source 48+8 overlaps the dest of an entry "
		       "replayed before it");
	log_entry(&m, 1, 9, 8, 1, bow_crc32(9, blk(&m, 8), 4096));
	log_write(&m);
	snprintf(path, sizeof(path), "%s/conv.img", tmpdir);
	save(path, m.img, 16 * 4096);
	restore_file(path, opts, &r);
	verdict(r.status == BOW_RESTORED,
		"control: the same log with entry 1 writing block 9 is "
		"restored (status %d)", r.status);
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
			mark_commit(m.img);
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
	char cmd[64];

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
	RUN(test_commit_mark());
	RUN(test_before_write(4096));
	RUN(test_before_write(512));
	RUN(test_vold_partial(512, 23));
	RUN(test_vold_partial(1024, 24));
	RUN(test_crafted());
	RUN(test_crafted_chain());
	RUN(test_not_convergent());
	RUN(test_coalesced(4096, 31));
	RUN(test_coalesced(512, 32));
	RUN(test_changed_under_replay(40));
	RUN(test_checked_as_written());

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

	/* Again, on logs written as Android's dm-bow writes them. */
	android = true;
	RUN(test_roundtrip(4096, BOW_HEADER_SIZE, 600, 51));
	RUN(test_roundtrip(512, BOW_HEADER_SIZE, 800, 52));
	RUN(test_interrupted(4096, BOW_HEADER_SIZE, 53, true, 512, 200, 0));
	RUN(test_reordered(512, 54, 4));
	RUN(test_vold_partial(512, 55));
	android = false;

	/* Again, as where the device cannot be mapped. */
	read_with_pread = true;
	RUN(test_roundtrip(4096, BOW_HEADER_SIZE, 3000, 2));
	RUN(test_roundtrip(512, 100, 800, 6));
	RUN(test_interrupted(4096, BOW_HEADER_SIZE, 11, true, 512, 200, 0));
	RUN(test_interrupted(4096, BOW_HEADER_SIZE, 14, true, 16384, 6000, 60));
	RUN(test_commit_interrupted(4096));
	RUN(test_crafted());
	RUN(test_changed_under_replay(42));

	/* This run's directory only: another run may be going on. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return failures ? 1 : 0;
}
