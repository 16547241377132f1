// SPDX-License-Identifier: GPL-2.0
/*
 * Write a sparse image holding a valid dm-bow log of <entries> one-block
 * backups, for the benchmark of bow-restore's memory and time at scale:
 *
 *   big-log <image> <entries> <block size>
 *
 * Layout, in blocks: 0 the log; 1..N the sources; N+1..2N their backups,
 * taken from the top down as the target takes free space (so that the
 * replay, newest first, reads them in ascending order); then the copies
 * of the full log blocks, the live block 0 and the backup of the
 * original block 0.  Every data block is zeros (the image stays sparse),
 * so each checksum is that of a zero block seeded with its source.  No
 * backup is written over: the replay is the sorted, one-pass one.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../bow-restore/lib/restore.h"
#include "../../dm-bow-format.h"

static void put_entry(unsigned char *log, uint32_t i, uint64_t src,
		      uint64_t dst, uint32_t bs, uint32_t crc)
{
	struct bow_log_entry e = {
		.source = htole64(src * (bs / BOW_SECTOR_SIZE)),
		.dest = htole64(dst * (bs / BOW_SECTOR_SIZE)),
		.size = htole32(bs),
		.checksum = htole32(crc),
	};

	memcpy(log + BOW_HEADER_SIZE + i * sizeof(e), &e, sizeof(e));
}

int main(int argc, char **argv)
{
	unsigned char log[BOW_MAX_BLOCK_SIZE], zero[BOW_MAX_BLOCK_SIZE] = { 0 };
	struct bow_log_header *h = (struct bow_log_header *)log;
	uint64_t n, copies, live, orig, next_copy;
	uint32_t bs, cap, count, seq = 0;
	int fd;

	if (argc != 4 || !(n = strtoull(argv[2], NULL, 10)) ||
	    (bs = (uint32_t)strtoul(argv[3], NULL, 10)) < BOW_MIN_BLOCK_SIZE ||
	    bs > BOW_MAX_BLOCK_SIZE || (bs & (bs - 1))) {
		fprintf(stderr, "usage: big-log <image> <entries> <block size>\n");
		return 2;
	}
	cap = bow_log_capacity(bs, BOW_HEADER_SIZE);
	copies = 2 * n + 1;
	live = copies + n / (cap - 1) + 2;
	orig = live + 1;
	next_copy = copies;
	fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)((orig + 1) * bs))) {
		perror(argv[1]);
		return 1;
	}

	memset(log, 0, bs);
	h->magic = htole32(BOW_MAGIC);
	h->header_version = htole16(BOW_HEADER_VERSION);
	h->header_size = htole16(BOW_HEADER_SIZE);
	h->block_size = htole32(bs);
	h->sector0 = htole64(live * (bs / BOW_SECTOR_SIZE));
	put_entry(log, 0, 0, orig, bs, bow_crc32(0, zero, bs));
	count = 1;
	for (uint64_t i = 1; i <= n; i++) {
		if (count == cap) {
			/* Roll over: the full block goes to a copy. */
			uint32_t crc;

			h->count = htole32(count);
			crc = bow_crc32(0, log, bs);
			if (pwrite(fd, log, bs, (off_t)(next_copy * bs)) != bs) {
				perror(argv[1]);
				return 1;
			}
			memset(log + BOW_HEADER_SIZE, 0, bs - BOW_HEADER_SIZE);
			h->sequence = htole32(++seq);
			put_entry(log, 0, 0, next_copy++, bs, crc);
			count = 1;
		}
		put_entry(log, count++, i, 2 * n + 1 - i, bs,
			  bow_crc32((uint32_t)i, zero, bs));
	}
	h->count = htole32(count);
	if (pwrite(fd, log, bs, 0) != bs || close(fd)) {
		perror(argv[1]);
		return 1;
	}
	printf("%" PRIu64 " entries, %" PRIu32 " log blocks, %" PRIu64
	       " bytes\n", n + seq + 1, seq + 1, (orig + 1) * bs);
	return 0;
}
