// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for bow-restore's parser, validation and replay.
 *
 * The input is a whole device.  bow_restore() runs on it (not a dry run:
 * the replay is fuzzed too) and must neither crash nor trip a sanitizer,
 * and must keep its promise: unless it restored (0), stopped part-way
 * (7) or finished a commit (8), the device is untouched.  The module's
 * walk of the same bytes must agree with it (differential.c).
 *
 *   make fuzz FUZZ_SECONDS=3600     a longer run (tests/fuzz/run.sh)
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../bow-restore/lib/restore.h"
#include "kernel-walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct bow_restore_opts opts = { 0 };
	struct bow_restore_summary summary;
	unsigned char *after = NULL;
	int fd, r;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	fd = memfd_create("device", 0);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	/* Both ways of reading the device: through a mapping, and pread(). */
	opts.no_map = size & 1;
	r = bow_restore(fd, size, "device", &opts, &summary, devnull, devnull);
	if (size) {
		after = malloc(size);
		if (!after || pread(fd, after, size, 0) != (ssize_t)size)
			abort();
	}
	if (r != BOW_RESTORED && r != BOW_PARTIAL &&
	    r != BOW_COMMITTED && size && memcmp(after, data, size)) {
		fprintf(stderr, "exit %d but the device was written\n", r);
		abort();
	}
	kernel_walk_check(data, size, summary.block_size, r, after);
	free(after);
	close(fd);
	return 0;
}
