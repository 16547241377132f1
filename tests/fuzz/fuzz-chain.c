// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: whole, valid log chains, so that the fuzzer reaches
 * what byte-level mutation of an image rarely does (every mutation there
 * breaks a checksum): the sorted replay, interrupted restores, long
 * chains, Android's logs.
 *
 * The first bytes of the input choose the shape: block size,
 * header_size (any from 28 on, or one that leaves room for only 2 to 8
 * entries, so that the chain runs to several log blocks), the device's
 * size, the workload (in
 * place, or with moves; as our target or Android's writes it), at most
 * one corruption (a bit of the log, or count 0 with or without the
 * commit mark), and where a restore is stopped; the rest seeds the test
 * model (tests/model.h), which writes the chain and the data as the
 * target would.  Oracles:
 *
 *   - a chain without corruption is restored: every block in use at the
 *     checkpoint is back;
 *   - whatever bow_restore() says, reading through a mapping and with
 *     pread() agree, in status and every byte;
 *   - the dry run says what the run does, and writes nothing;
 *   - a restored device equals what a plain replay of the log, entry by
 *     entry newest first, makes of it;
 *   - a restore stopped after k writes (the next torn in half, or not),
 *     then run again, ends byte-identical to one run;
 *   - the module's walk of the chain agrees with bow-restore
 *     (differential.c).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../model.h"
#include "kernel-walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

#define FAIL(...) do {						\
		fprintf(stderr, "fuzz-chain: " __VA_ARGS__);	\
		abort();					\
	} while (0)

struct outcome {
	int status;
	uint64_t writes;
	uint32_t block_size;	/* bow-restore's summary's */
	unsigned char *img;
};

/* bow_restore() on a copy of @img (@len bytes) in memory. */
static void run(const unsigned char *img, size_t len,
		struct bow_restore_opts opts, struct outcome *o)
{
	struct bow_restore_summary summary;
	int fd = memfd_create("device", 0);

	if (fd < 0 || write(fd, img, len) != (ssize_t)len)
		abort();
	o->status = bow_restore(fd, len, "device", &opts, &summary, devnull,
				devnull);
	o->writes = summary.writes;
	o->block_size = summary.block_size;
	o->img = malloc(len);
	if (!o->img || pread(fd, o->img, len, 0) != (ssize_t)len)
		abort();
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bow_restore_opts opts = { 0 };
	struct outcome mapped, pread_only, dry, stopped, rerun;
	uint32_t bs, header_size, room;
	uint64_t blocks, seed = 0;
	bool in_place, android, corrupt;
	unsigned int writes;
	struct model m;
	size_t len;

	if (size < 10)
		return 0;
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	bs = 512u << (data[0] % 4);
	room = 2 + data[1] % 7;
	if (data[1] & 0x80)
		/* Any header_size that leaves room for two entries. */
		header_size = BOW_HEADER_SIZE + (data[2] | data[7] << 8) %
			      (bs - BOW_HEADER_SIZE -
			       2 * (uint32_t)sizeof(struct bow_log_entry) + 1);
	else
		/* Room for 2 to 8 entries: chains of several blocks. */
		header_size = bs - room *
			      (uint32_t)sizeof(struct bow_log_entry) -
			      data[2] % sizeof(struct bow_log_entry);
	blocks = 48 + data[3] % 80;
	writes = data[4] % 48;
	in_place = data[5] & 1;
	android = data[5] & 2;
	for (size_t i = 10; i < size; i++)
		seed = seed * 131 + data[i];
	rng_seed(seed);
	if (build_model(&m, bs, blocks, header_size, writes, in_place,
			android)) {
		model_free(&m);
		return 0;
	}
	len = (size_t)bs * blocks;

	/* At most one corruption: data[6] says which, data[7] where. */
	corrupt = true;
	switch (data[6] % 8) {
	case 0:
		/* A bit of block 0. */
		m.img[data[7] % (header_size + get_le32(m.img + 12) * 24)] ^=
			(unsigned char)(1u << (data[8] % 8));
		break;
	case 1:
		/* count 0, as a flipped count would read. */
		memset(m.img + 12, 0, 4);
		break;
	case 2:
		/* A commit begun (the mark needs room in the first sector). */
		if (header_size + 8 <= BOW_SECTOR_SIZE)
			mark_commit(m.img);
		break;
	case 3:
		/* A bit of a backup. */
		m.img[bs + (size_t)data[7] * 977 % (len - bs)] ^= 1;
		break;
	default:
		corrupt = false;
	}

	opts.dry_run = true;
	opts.no_map = true;
	run(m.img, len, opts, &dry);
	opts.dry_run = false;
	run(m.img, len, opts, &pread_only);
	opts.no_map = false;
	run(m.img, len, opts, &mapped);

	if (memcmp(dry.img, m.img, len))
		FAIL("the dry run wrote (status %d)\n", dry.status);
	if (mapped.status != pread_only.status ||
	    memcmp(mapped.img, pread_only.img, len))
		FAIL("mapped (%d) and pread (%d) differ\n", mapped.status,
		     pread_only.status);
	if (dry.status != mapped.status)
		FAIL("dry run says %d, the run %d\n", dry.status,
		     mapped.status);
	if (!corrupt && (mapped.status != BOW_RESTORED ||
			 !restored(&m, mapped.img)))
		FAIL("a valid chain (bs %u, header %u, %" PRIu64 " entries) "
		     "not restored: %d\n", bs, header_size, m.entries,
		     mapped.status);
	if (mapped.status != BOW_RESTORED && mapped.status != BOW_COMMITTED &&
	    memcmp(mapped.img, m.img, len))
		FAIL("status %d but the device was written\n", mapped.status);
	kernel_walk_check(m.img, len, mapped.block_size, mapped.status,
			  mapped.img);

	if (mapped.status == BOW_RESTORED) {
		unsigned char *plain = malloc(len);

		if (!plain)
			abort();
		memcpy(plain, m.img, len);
		model_replay(plain, bs, UINT64_MAX, false);
		if (memcmp(plain, mapped.img, len))
			FAIL("differs from the plain replay\n");
		free(plain);
	}

	if (mapped.status == BOW_RESTORED && mapped.writes > 1) {
		unsigned long k = 1 + data[9] % (mapped.writes - 1);

		opts.stop_after_writes = k;
		opts.tear = data[9] & 0x80;
		run(m.img, len, opts, &stopped);
		opts.stop_after_writes = 0;
		opts.tear = false;
		if (stopped.status != BOW_PARTIAL)
			FAIL("stopped after %lu writes: status %d\n", k,
			     stopped.status);
		run(stopped.img, len, opts, &rerun);
		if (rerun.status != BOW_RESTORED ||
		    memcmp(rerun.img, mapped.img, len))
			FAIL("bs %u header %u: stopped after %lu writes%s, then "
			     "run again: status %d, %s\n", bs, header_size, k,
			     data[9] & 0x80 ? " (torn)" : "", rerun.status,
			     memcmp(rerun.img, mapped.img, len) ?
			     "differs" : "same");
		free(stopped.img);
		free(rerun.img);
	}
	free(dry.img);
	free(pread_only.img);
	free(mapped.img);
	model_free(&m);
	return 0;
}
