// SPDX-License-Identifier: GPL-2.0
/*
 * bowio: the block workload generator of the benchmark and the VM tests,
 * run in the test VM.
 *
 *   bowio [-r [-v]|-d] [-e] [-R] [-b bytes] [-u bytes] [-k step] [-q depth]
 *         [-s seed] [-g gen] [-l] <dev> <offset> <length>
 *   bowio -t
 *
 * Reads (-r) or writes every block of [offset, offset + length) of <dev>
 * exactly once, with O_DIRECT and Linux native AIO at a fixed queue depth,
 * in ascending order or (-R) in a random order seeded by -s.  Each write
 * carries data that differs per block and per generation (-g), so that a
 * second pass writes new bytes.  Prints "<requests> <bytes> <nanoseconds>".
 * -k sends a request every <step> bytes instead (a step larger than the
 * block leaves gaps); -d discards each block (BLKDISCARD, one at a time)
 * instead of writing it.  -e goes on past a failed request and prints a
 * fourth number, the requests that failed.  -v checks that each block
 * read holds what a write of generation -g put there, and prints one more
 * number, the blocks that did not.  The data is made, and checked, in
 * units of -u bytes (default: the request's -b), so that reads of many
 * blocks check data written block by block.  -l prints three more
 * numbers, the median, the 99th percentile and the maximum of the
 * requests' completion latency in nanoseconds (from io_submit() to the
 * io_getevents() that returned it: exact at queue depth 1).  -t prints
 * the monotonic clock in nanoseconds (busybox date has no %N).
 *
 * With -q at least the number of requests, every request goes to the
 * kernel in one io_submit(): the VM tests use that to race writes.
 *
 * A tool of ours rather than fio: it is small enough to link statically
 * into the test VM's initramfs, and every run sends exactly the requests
 * the I/O counts are compared against.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rng.h"

#define MAX_DEPTH 256

static void usage(void)
{
	fprintf(stderr,
		"usage: bowio [-r [-v]|-d] [-e] [-R] [-b bytes] [-u bytes] [-k step] [-q depth] [-s seed] [-g gen] [-l] <dev> <offset> <length>\n"
		"       bowio -t\n");
	exit(2);
}

static void die(const char *what, const char *dev)
{
	fprintf(stderr, "bowio: %s: %s: %s\n", dev, what, strerror(errno));
	exit(1);
}

static uint64_t parse_u64(const char *s)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		usage();
	return v;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Block data: unique per block and generation, cheap to make. */
static void fill(unsigned char *buf, size_t bytes, uint64_t block, uint64_t gen)
{
	uint64_t *w = (uint64_t *)buf;
	size_t i;

	rng_seed(block * 0x10001 + gen);
	for (i = 0; i < bytes / sizeof(*w); i++)
		w[i] = rnd();
}

/* Data for @bytes at @offset: fill() of each @unit in it. */
static void fill_units(unsigned char *buf, size_t bytes, uint64_t offset,
		       uint64_t unit, uint64_t gen)
{
	size_t o;

	for (o = 0; o < bytes; o += unit)
		fill(buf + o, unit, (offset + o) / unit, gen);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	uint64_t block_bytes = 4096, step = 0, depth = 1, seed = 1, gen = 1;
	uint64_t offset, length, nr, next = 0, done = 0, failed = 0, start, *order;
	uint64_t wrong = 0, unit_bytes = 0, *latency = NULL;
	uint64_t sent[MAX_DEPTH];
	static struct iocb iocb[MAX_DEPTH];
	struct iocb *iocbp[MAX_DEPTH];
	struct io_event events[MAX_DEPTH];
	bool is_read = false, is_discard = false, random_order = false;
	bool go_on = false, verify = false, latencies = false;
	aio_context_t ctx = 0;
	unsigned char *buf, *expect = NULL;
	const char *dev;
	int opt, fd;
	uint64_t i;

	while ((opt = getopt(argc, argv, "rdeRvlb:u:k:q:s:g:t")) != -1) {
		switch (opt) {
		case 't':
			printf("%" PRIu64 "\n", now_ns());
			return 0;
		case 'r': is_read = true; break;
		case 'd': is_discard = true; break;
		case 'e': go_on = true; break;
		case 'v': verify = true; break;
		case 'l': latencies = true; break;
		case 'u': unit_bytes = parse_u64(optarg); break;
		case 'k': step = parse_u64(optarg); break;
		case 'R': random_order = true; break;
		case 'b': block_bytes = parse_u64(optarg); break;
		case 'q': depth = parse_u64(optarg); break;
		case 's': seed = parse_u64(optarg); break;
		case 'g': gen = parse_u64(optarg); break;
		default: usage();
		}
	}
	if (argc - optind != 3 || !depth || depth > MAX_DEPTH ||
	    !block_bytes || block_bytes % 512)
		usage();
	dev = argv[optind];
	offset = parse_u64(argv[optind + 1]);
	length = parse_u64(argv[optind + 2]);
	if (!step)
		step = block_bytes;
	if (!unit_bytes)
		unit_bytes = block_bytes;
	if (block_bytes % unit_bytes || unit_bytes % 8 || step % unit_bytes ||
	    offset % block_bytes || length % step || !length ||
	    step < block_bytes || (is_read && is_discard) ||
	    (verify && !is_read))
		usage();
	nr = length / step;

	order = malloc(nr * sizeof(*order));
	buf = aligned_alloc(4096, depth * block_bytes);
	if (verify)
		expect = malloc(block_bytes);
	if (latencies)
		latency = malloc(nr * sizeof(*latency));
	if (!order || !buf || (verify && !expect) || (latencies && !latency))
		die("out of memory", dev);
	for (i = 0; i < nr; i++)
		order[i] = i;
	if (random_order) {
		rng_seed(seed);
		for (i = nr - 1; i > 0; i--) {
			uint64_t j = rnd() % (i + 1), t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
	}

	fd = open(dev, (is_read ? O_RDONLY : O_WRONLY) | O_DIRECT);
	if (fd < 0)
		die("open", dev);
	if (syscall(SYS_io_setup, depth, &ctx))
		die("io_setup", dev);

	start = now_ns();
	for (i = 0; is_discard && i < nr; i++) {
		uint64_t range[2] = { offset + order[i] * step, block_bytes };

		if (ioctl(fd, BLKDISCARD, range))
			die("discard", dev);
		done++;
	}
	while (done < nr) {
		long n = 0, got;

		/* Keep depth requests in flight: refill every free slot. */
		for (i = 0; i < depth && next < nr; i++) {
			struct iocb *cb = &iocb[i];

			if (cb->aio_data)	/* slot i in flight */
				continue;
			memset(cb, 0, sizeof(*cb));
			cb->aio_data = next + 1;
			cb->aio_fildes = fd;
			cb->aio_lio_opcode = is_read ? IOCB_CMD_PREAD :
						       IOCB_CMD_PWRITE;
			cb->aio_buf = (uintptr_t)(buf + i * block_bytes);
			cb->aio_nbytes = block_bytes;
			cb->aio_offset = offset + order[next] * step;
			if (!is_read)
				fill_units(buf + i * block_bytes, block_bytes,
					   cb->aio_offset, unit_bytes, gen);
			iocbp[n++] = cb;
			next++;
		}
		if (n) {
			uint64_t t = now_ns();

			for (i = 0; i < (uint64_t)n; i++)
				sent[iocbp[i] - iocb] = t;
			if (syscall(SYS_io_submit, ctx, n, iocbp) != n)
				die("io_submit", dev);
		}
		got = syscall(SYS_io_getevents, ctx, 1, depth, events, NULL);
		if (got < 0)
			die("io_getevents", dev);
		for (i = 0; i < (uint64_t)got; i++) {
			struct iocb *cb = (struct iocb *)(uintptr_t)events[i].obj;

			if (events[i].res != (int64_t)block_bytes) {
				errno = events[i].res < 0 ? -events[i].res : EIO;
				if (!go_on)
					die(is_read ? "read" : "write", dev);
				failed++;
			} else if (verify) {
				unsigned char *got = buf + (cb - iocb) * block_bytes;
				uint64_t o;

				fill_units(expect, block_bytes, cb->aio_offset,
					   unit_bytes, gen);
				for (o = 0; o < block_bytes; o += unit_bytes)
					wrong += !!memcmp(got + o, expect + o,
							  unit_bytes);
			}
			if (latencies)
				latency[done] = now_ns() - sent[cb - iocb];
			cb->aio_data = 0;
			done++;
		}
	}
	printf("%" PRIu64 " %" PRIu64 " %" PRIu64, nr, nr * block_bytes,
	       now_ns() - start);
	if (go_on)
		printf(" %" PRIu64, failed);
	if (verify)
		printf(" %" PRIu64, wrong);
	if (latencies) {
		qsort(latency, nr, sizeof(*latency), cmp_u64);
		printf(" %" PRIu64 " %" PRIu64 " %" PRIu64, latency[(nr - 1) / 2],
		       latency[(nr * 99 + 99) / 100 - 1], latency[nr - 1]);
	}
	printf("\n");
	return 0;
}
