// SPDX-License-Identifier: GPL-2.0
/*
 * crashcheck: replay a recorded write stream into every state a power cut
 * could leave the disk in, roll each back with bow-restore, and check
 * every block that was in use at the checkpoint.
 *
 * The stream is in the dm-log-writes format (as QEMU's blklogwrites
 * driver writes it): a superblock sector {magic u64, version u64,
 * nr_entries u64, sectorsize u32}, then per entry one sector {sector u64,
 * nr_sectors u64, flags u64, data_len u64} followed by the data, except
 * for discards.  Flags: FLUSH 1, FUA 2, DISCARD 4, MARK 8, METADATA 16
 * (the kernel's dm-log-writes: a write the file system marked as its
 * metadata, a write like any other here).  Entries come
 * in completion order; entries after the last flush may be missing from
 * nr_entries, so the stream is read until an empty entry.
 *
 * Crash states, from the write that puts the first dm-bow log into
 * block 0 on:
 *   prefixes  every write applied in order up to each write;
 *   subsets   the state at the last completed flush plus a random subset
 *             of the writes completed since (the volatile cache may keep
 *             or lose each), --subsets of them at each write, seeded;
 *             one in four kept multi-sector writes is torn (each of its
 *             sectors kept or lost: only a sector is atomic).  A FUA
 *             write is on the medium once it completed: always kept,
 *             never torn.
 * The kernel's dm-log-writes records a write without FUA only at the
 * next flush (or at its end), a FUA write as it completes: where both
 * are in flight the stream may put the FUA write first, a state the
 * device could be left in too.
 * For each, bow_restore() must succeed (or find no checkpoint) and every
 * block in use at the checkpoint must equal the checkpoint copy.
 *
 *   crashcheck --base IMG --log LOG --ckpt IMG --free RANGES
 *              [--block-size N] [--subsets N] [--seed N] [--name S]
 *              [--expect-bad]
 *
 * RANGES lists the file system's free blocks at the checkpoint, one
 * "first-last" or "block" a line (dumpe2fs's notation).  --expect-bad
 * inverts the verdict: the stream came from a target with its ordering
 * broken on purpose, and some state must fail.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../bow-restore/lib/restore.h"
#include "../../dm-bow-format.h"
#include "../rng.h"

#define LOG_MAGIC	0x6a736677736872ull
#define LOG_FLUSH	1
#define LOG_FUA		2
#define LOG_DISCARD	4
#define LOG_MARK	8

struct write_entry {
	uint64_t sector, nr_sectors, flags;
	const unsigned char *data;	/* NULL for discards */
};

struct stream {
	struct write_entry *e;
	size_t n;
};

static void die(const char *fmt, const char *what)
{
	fprintf(stderr, "crashcheck: ");
	fprintf(stderr, fmt, what);
	fprintf(stderr, "\n");
	exit(2);
}

static unsigned char *load(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st))
		die("cannot open %s", path);
	*len = (size_t)st.st_size;
	buf = malloc(*len ? *len : 1);
	if (!buf || (*len && pread(fd, buf, *len, 0) != (ssize_t)*len))
		die("cannot read %s", path);
	close(fd);
	return buf;
}

static uint64_t le64_at(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static struct stream parse(const unsigned char *log, size_t len,
			   uint64_t disk_sectors, const char *path)
{
	struct stream s = { 0 };
	size_t off = 512, cap = 0;

	if (len < 512 || le64_at(log) != LOG_MAGIC || le64_at(log + 8) != 1 ||
	    (le64_at(log + 24) & 0xffffffff) != 512)
		die("%s: not a dm-log-writes stream of 512-byte sectors", path);
	while (off + 512 <= len) {
		struct write_entry e = {
			.sector = le64_at(log + off),
			.nr_sectors = le64_at(log + off + 8),
			.flags = le64_at(log + off + 16),
		};

		if (!e.nr_sectors && !e.flags)
			break;
		if (e.flags & ~31ull || e.sector + e.nr_sectors > disk_sectors)
			die("%s: bad entry", path);
		off += 512;
		if (e.nr_sectors && !(e.flags & LOG_DISCARD)) {
			if (off + e.nr_sectors * 512 > len)
				break;	/* cut short by the power cut */
			e.data = log + off;
			off += e.nr_sectors * 512;
		}
		if (s.n == cap) {
			cap = cap ? 2 * cap : 1024;
			s.e = realloc(s.e, cap * sizeof(*s.e));
			if (!s.e)
				die("out of memory%s", "");
		}
		s.e[s.n++] = e;
	}
	return s;
}

static void apply(unsigned char *img, const struct write_entry *e)
{
	if (!e->nr_sectors || (e->flags & LOG_MARK))
		return;
	if (e->data)
		memcpy(img + e->sector * 512, e->data, e->nr_sectors * 512);
	else
		memset(img + e->sector * 512, 0, e->nr_sectors * 512);
}

/* A write torn by the power cut: each of its sectors kept or lost. */
static void apply_torn(unsigned char *img, const struct write_entry *e,
		       uint64_t (*coin)(void))
{
	for (uint64_t i = 0; i < e->nr_sectors; i++) {
		if (!(coin() & 1))
			continue;
		if (e->data)
			memcpy(img + (e->sector + i) * 512, e->data + i * 512,
			       512);
		else
			memset(img + (e->sector + i) * 512, 0, 512);
	}
}

static bool is_write(const struct write_entry *e)
{
	return e->nr_sectors && !(e->flags & (LOG_FLUSH | LOG_MARK));
}

/* The run that checks states: one scratch device for bow_restore(). */
struct checker {
	int fd;
	unsigned char *dev;	/* the scratch device, mapped */
	size_t size;
	const unsigned char *ckpt;
	const bool *in_use;	/* per block */
	uint32_t bs;
	uint64_t states, bad, no_log;
	char first_bad[512];
	FILE *devnull;
};

/* Roll back the state built in k->dev and compare; true if it is fine. */
static bool check_state(struct checker *k, const char *what)
{
	struct bow_restore_opts opts = { 0 };
	struct bow_restore_summary sum;
	uint64_t b, blocks = k->size / k->bs;
	int r;

	r = bow_restore(k->fd, k->size, "state", &opts, &sum, k->devnull,
			k->devnull);
	k->states++;
	if (r == BOW_NO_LOG)
		k->no_log++;
	for (b = 0; b < blocks; b++)
		if (k->in_use[b] && memcmp(k->dev + b * k->bs,
					   k->ckpt + b * k->bs, k->bs))
			break;
	if ((r == BOW_RESTORED || r == BOW_NO_LOG) && b == blocks)
		return true;
	if (!k->bad++)
		snprintf(k->first_bad, sizeof(k->first_bad),
			 "%s: bow-restore exit %d, first block in use that "
			 "differs: %" PRIu64 " (of %" PRIu64 ")", what, r, b,
			 blocks);
	return false;
}

static bool *read_in_use(const char *path, uint64_t blocks)
{
	bool *in_use = malloc(blocks * sizeof(*in_use));
	FILE *f = fopen(path, "r");
	unsigned long long a, z;
	char line[128];

	if (!in_use || !f)
		die("cannot read %s", path);
	for (uint64_t b = 0; b < blocks; b++)
		in_use[b] = true;
	while (fgets(line, sizeof(line), f)) {
		int n = sscanf(line, "%llu-%llu", &a, &z);

		if (n < 1)
			continue;
		if (n == 1)
			z = a;
		for (unsigned long long b = a; b <= z && b < blocks; b++)
			in_use[b] = false;
	}
	fclose(f);
	return in_use;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "base", required_argument, NULL, 'b' },
		{ "log", required_argument, NULL, 'l' },
		{ "ckpt", required_argument, NULL, 'c' },
		{ "free", required_argument, NULL, 'f' },
		{ "block-size", required_argument, NULL, 'B' },
		{ "subsets", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "name", required_argument, NULL, 'n' },
		{ "expect-bad", no_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 },
	};
	const char *base_path = NULL, *log_path = NULL, *ckpt_path = NULL;
	const char *free_path = NULL, *name = "crash";
	unsigned long subsets = 4, seed = 1;
	bool expect_bad = false;
	struct checker k = { .bs = 4096 };
	unsigned char *base, *log, *ckpt, *cur, *durable;
	size_t base_len, log_len, ckpt_len, *pending, npending = 0;
	uint64_t prefixes = 0, subset_states = 0, writes = 0, flushes = 0;
	uint64_t torn = 0;
	struct stream s;
	size_t i, start;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': base_path = optarg; break;
		case 'l': log_path = optarg; break;
		case 'c': ckpt_path = optarg; break;
		case 'f': free_path = optarg; break;
		case 'B': k.bs = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 's': subsets = strtoul(optarg, NULL, 0); break;
		case 'S': seed = strtoul(optarg, NULL, 0); break;
		case 'n': name = optarg; break;
		case 'x': expect_bad = true; break;
		default: return 2;
		}
	}
	if (!base_path || !log_path || !ckpt_path || !free_path || !k.bs ||
	    k.bs % 512)
		die("usage: see the comment at the top of %s", __FILE__);
	rng_seed(seed);

	base = load(base_path, &base_len);
	log = load(log_path, &log_len);
	ckpt = load(ckpt_path, &ckpt_len);
	if (base_len != ckpt_len || base_len % k.bs)
		die("%s and the checkpoint copy differ in size", base_path);
	k.size = base_len;
	k.ckpt = ckpt;
	k.in_use = read_in_use(free_path, k.size / k.bs);
	s = parse(log, log_len, k.size / 512, log_path);

	k.devnull = fopen("/dev/null", "w");
	k.fd = memfd_create("crashcheck", 0);
	if (k.fd < 0 || ftruncate(k.fd, (off_t)k.size))
		die("memfd: %s", strerror(errno));
	k.dev = mmap(NULL, k.size, PROT_READ | PROT_WRITE, MAP_SHARED, k.fd,
		     0);
	cur = malloc(k.size);
	durable = malloc(k.size);
	pending = malloc((s.n + 1) * sizeof(*pending));
	if (k.dev == MAP_FAILED || !cur || !durable || !pending)
		die("out of memory%s", "");
	memcpy(cur, base, k.size);
	memcpy(durable, base, k.size);

	/* The first write that puts a dm-bow log header into block 0. */
	for (start = 0; start < s.n; start++) {
		const struct write_entry *e = &s.e[start];
		uint32_t magic;

		if (is_write(e) && e->sector == 0) {
			memcpy(&magic, e->data, 4);
			if (le32toh(magic) == BOW_MAGIC)
				break;
		}
	}
	if (start == s.n)
		die("%s: no write puts a dm-bow log into block 0", log_path);

	for (i = 0; i < s.n; i++) {
		const struct write_entry *e = &s.e[i];
		char what[128];

		if (e->flags & LOG_FLUSH) {
			/* What completed before the flush is durable. */
			memcpy(durable, cur, k.size);
			npending = 0;
			flushes++;
		}
		if (!is_write(e))
			continue;
		apply(cur, e);
		pending[npending++] = i;
		writes++;
		if (i < start)
			continue;

		/* A broken target is shown broken by its first bad state. */
		if (expect_bad && k.bad)
			break;
		snprintf(what, sizeof(what), "prefix up to entry %zu", i);
		memcpy(k.dev, cur, k.size);
		check_state(&k, what);
		prefixes++;
		for (unsigned long t = 0; t < subsets; t++) {
			uint64_t kept = 0;

			memcpy(k.dev, durable, k.size);
			for (size_t p = 0; p < npending; p++) {
				const struct write_entry *w = &s.e[pending[p]];

				/* on the medium: it completed with FUA */
				if (w->flags & LOG_FUA) {
					apply(k.dev, w);
					continue;
				}
				/* the first sample keeps no other */
				if (!t || !(rnd() & 1))
					continue;
				kept++;
				/* one in four kept writes is torn */
				if (w->nr_sectors > 1 && !(rnd() & 3)) {
					apply_torn(k.dev, w, rnd);
					torn++;
				} else {
					apply(k.dev, w);
				}
			}
			snprintf(what, sizeof(what), "entry %zu: last flush + "
				 "%" PRIu64 " of %zu later writes (seed %lu)",
				 i, kept, npending, seed);
			check_state(&k, what);
			subset_states++;
		}
	}

	/* A broken target's replay stops early: say how far it went. */
	printf("# %s: %zu entries recorded, %" PRIu64 " writes and %" PRIu64
	       " flushes replayed; %" PRIu64 " crash states checked (%" PRIu64
	       " prefixes, %" PRIu64 " flush+subset with %" PRIu64 " torn "
	       "writes, seed %lu), %" PRIu64 " before the log was durable, %"
	       PRIu64 " bad\n", name, s.n, writes, flushes, k.states,
	       prefixes, subset_states, torn, seed, k.no_log, k.bad);
	if (expect_bad)
		printf("%s - %s: the broken ordering is caught (%" PRIu64
		       " of %" PRIu64 " crash states bad)\n",
		       k.bad ? "ok" : "not ok", name, k.bad, k.states);
	else
		printf("%s - %s: every crash state restores exactly (%" PRIu64
		       " states)%s%s\n", k.bad ? "not ok" : "ok", name,
		       k.states, k.bad ? ": first bad: " : "", k.first_bad);
	return 0;
}
