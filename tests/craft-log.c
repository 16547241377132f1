// SPDX-License-Identifier: GPL-2.0
/*
 * craft-log: write a live dm-bow log, valid by every rule of Replay, into
 * an image, shaped to cost memory: the hostile disks of the crafted
 * suite (tests/vm/t-crafted.sh).
 *
 *   craft-log <image> <stride> <entries>
 *
 * Block size 4096.  The free-space map says blocks 2, 2 + stride,
 * 2 + 2 * stride, ... were free at the checkpoint, one block each (a
 * stride of 2 on a large device is the longest map there is).  Besides
 * entry 0 of each log block (the block 0 before it), the log holds
 * <entries> one-block backups: of the block after a free one, into that
 * free one.  Every checksum is 0 (a one-block entry with checksum 0 is
 * accepted whatever the data: Android writes them), so nothing but the
 * log blocks and the map is written, and the image may stay sparse.
 * The log's backups, its older blocks, the live block 0 and the map's
 * own chain take free blocks in that order.  Prints the number of free
 * ranges, log blocks and map blocks.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../dm-bow-format.h"
#include "../bow-restore/lib/restore.h"

#define BS		4096u
#define SECTORS		(BS / BOW_SECTOR_SIZE)
#define CHECKPOINT_ID	0x6372616674656421ull	/* "crafted!" */

static const char *image;
static int fd;

static void put_block(uint64_t block, const void *buf)
{
	if (pwrite(fd, buf, BS, (off_t)(block * BS)) != BS) {
		fprintf(stderr, "craft-log: %s: write of block %" PRIu64 ": %s\n",
			image, block, strerror(errno));
		exit(1);
	}
}

int main(int argc, char **argv)
{
	uint32_t per_log = bow_log_capacity(BS, BOW_HEADER_SIZE_EXT) - 1;
	uint32_t per_map = bow_freemap_capacity(BS);
	uint64_t blocks, stride, entries, ranges, logs, maps, next = 0, e, s;
	uint64_t *log_at, *chain, live;
	unsigned char buf[BS];
	struct stat st;

	if (argc != 4) {
		fprintf(stderr, "usage: craft-log <image> <stride> <entries>\n");
		return 2;
	}
	image = argv[1];
	stride = strtoull(argv[2], NULL, 0);
	entries = strtoull(argv[3], NULL, 0);
	fd = open(image, O_WRONLY);
	if (fd < 0 || fstat(fd, &st)) {
		fprintf(stderr, "craft-log: %s: %s\n", image, strerror(errno));
		return 1;
	}
	blocks = (uint64_t)st.st_size / BS;
	if (stride < 2 || blocks < 3) {
		fprintf(stderr, "craft-log: %s: a stride of 2 or more and 3 blocks or more expected\n",
			image);
		return 2;
	}
	ranges = (blocks - 2 + stride - 1) / stride;
	logs = entries ? (entries + per_log - 1) / per_log : 1;
	maps = (ranges + per_map - 1) / per_map;
	if (1 + (logs - 1) + entries + 1 + maps > ranges) {
		fprintf(stderr, "craft-log: %s: %" PRIu64 " free blocks are too few\n",
			image, ranges);
		return 2;
	}
#define FREE(k) (2 + (k) * stride)
	log_at = calloc(logs, sizeof(*log_at));
	chain = calloc(maps, sizeof(*chain));
	if (!log_at || !chain)
		return 1;
	/*
	 * log_at[s]: where log block s is; block 0 for the newest.  Free
	 * blocks in order: the file system's block 0 (FREE(0)), the older
	 * log blocks, the backups, the live block 0, the map's chain.
	 */
	log_at[logs - 1] = 0;
	next = 1;
	for (s = 0; s + 1 < logs; s++)
		log_at[s] = FREE(next++);
	live = FREE(next + entries);
	for (s = 0; s < maps; s++)
		chain[s] = FREE(next + entries + 1 + s);
	e = 0;
	for (s = 0; s < logs; s++) {
		struct bow_log_header *h = (void *)buf;
		struct bow_log_ext *x = (void *)(buf + BOW_HEADER_SIZE);
		struct bow_log_entry *en = (void *)(buf + BOW_HEADER_SIZE_EXT);
		uint32_t n = 0;

		memset(buf, 0, sizeof(buf));
		/* Entry 0: the block 0 before this log block. */
		en[n].source = 0;
		en[n].dest = htole64((s ? log_at[s - 1] : FREE(0)) * SECTORS);
		en[n++].size = htole32(BS);
		for (; n <= per_log && e < entries; n++, e++) {
			uint64_t dest = FREE(next++);

			en[n].source = htole64((dest + 1) * SECTORS);
			en[n].dest = htole64(dest * SECTORS);
			en[n].size = htole32(BS);
		}
		h->magic = htole32(BOW_MAGIC);
		h->header_version = htole16(BOW_HEADER_VERSION);
		h->header_size = htole16(BOW_HEADER_SIZE_EXT);
		h->block_size = htole32(BS);
		h->count = htole32(n);
		h->sequence = htole32((uint32_t)s);
		h->sector0 = htole64(live * SECTORS);
		x->magic = htole32(BOW_EXT_MAGIC);
		x->version = htole32(BOW_EXT_VERSION);
		x->checkpoint_id = htole64(CHECKPOINT_ID);
		x->freemap = htole64(chain[0] * SECTORS);
		x->freemap_blocks = htole32((uint32_t)maps);
		put_block(log_at[s], buf);
	}
	for (s = 0; s < maps; s++) {
		struct bow_freemap_header *h = (void *)buf;
		struct bow_freemap_range *r = (void *)(h + 1);
		uint64_t k, first = s * per_map;
		uint32_t n = 0;

		memset(buf, 0, sizeof(buf));
		for (k = first; k < ranges && n < per_map; k++, n++) {
			r[n].sector = htole64(FREE(k) * SECTORS);
			r[n].sectors = htole64(SECTORS);
		}
		h->magic = htole32(BOW_FREEMAP_MAGIC);
		h->checkpoint_id = htole64(CHECKPOINT_ID);
		h->index = htole32((uint32_t)s);
		h->count = htole32(n);
		h->next = htole64(s + 1 < maps ? chain[s + 1] * SECTORS : 0);
		h->checksum = htole32(bow_crc32(BOW_FREEMAP_MAGIC, buf, BS));
		put_block(chain[s], buf);
	}
	if (fsync(fd) || close(fd))
		return 1;
	printf("%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", ranges, logs, maps);
	free(log_at);
	free(chain);
	return 0;
}
