// SPDX-License-Identifier: GPL-2.0
/*
 * The extent map of bow-restore against a per-block model: random
 * assignments, each followed by lookups and overlap queries of every
 * block, and a bound on the extents it keeps.  Prints "ok"/"not ok".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../bow-restore/lib/extmap.h"
#include "../rng.h"

#define BLOCKS 600

static int check(uint64_t seed, unsigned int ops, uint64_t max_len)
{
	static uint64_t model[BLOCKS];
	static unsigned char mapped[BLOCKS];
	unsigned long bad = 0;
	size_t most = 0;
	struct extmap m;

	rng_seed(seed);
	extmap_init(&m);
	for (uint64_t b = 0; b < BLOCKS; b++) {
		model[b] = b;
		mapped[b] = 0;
	}
	for (unsigned int op = 0; op < ops; op++) {
		uint64_t len = 1 + rnd() % max_len;
		uint64_t start = rnd() % (BLOCKS - len);
		/* Now and then a range continuing what is there. */
		uint64_t to = rnd() % 4 == 0 && start ?
			      model[start - 1] + 1 : rnd() % 100000;

		if (extmap_assign(&m, start, len, to)) {
			printf("not ok - seed %" PRIu64 ": out of memory\n",
			       seed);
			return 1;
		}
		for (uint64_t i = 0; i < len; i++) {
			model[start + i] = to + i;
			mapped[start + i] = 1;
		}
		if (m.extents > most)
			most = m.extents;
		for (uint64_t b = 0; b < BLOCKS; b++) {
			uint64_t run, want_run = 1;

			while (b + want_run < BLOCKS &&
			       mapped[b + want_run] == mapped[b] &&
			       model[b + want_run] == model[b] + want_run)
				want_run++;
			if (extmap_lookup(&m, b, &run) != model[b] ||
			    run < 1 || (b + run < BLOCKS && run > want_run))
				bad++;
		}
		for (int q = 0; q < 20; q++) {
			uint64_t qlen = 1 + rnd() % 40;
			uint64_t qs = rnd() % (BLOCKS - qlen);
			bool want = false;

			for (uint64_t i = 0; i < qlen; i++)
				want |= mapped[qs + i];
			if (extmap_overlaps(&m, qs, qlen) != want)
				bad++;
		}
		if (m.extents > 2 * (op + 1) + 1)
			bad++;
	}
	printf("%s - extent map, seed %" PRIu64 ": %u assignments of up to "
	       "%" PRIu64 " blocks agree with a per-block model (%lu wrong, "
	       "at most %zu extents)\n", bad ? "not ok" : "ok", seed, ops,
	       max_len, bad, most);
	extmap_free(&m);
	return bad != 0;
}

int main(void)
{
	int r = 0;

	r |= check(1, 3000, 8);
	r |= check(2, 3000, 80);
	r |= check(3, 300, 500);
	return r;
}
