// SPDX-License-Identifier: GPL-2.0
/*
 * Host test of dm-bow's range map, the very code the module runs
 * (dm-bow-ranges.c, linked in as it is), built against the kernel's tools/include and
 * tools/lib/rbtree.c, and checked against a trivially correct model:
 * one type per block.  Millions of random conversions (discards, writes,
 * backups, moves), allocations of free space and queries; after each one
 * the tree must describe exactly the model, merged, with the free list
 * and the free count right and no node leaked.
 *
 * Then a scale check: the cost of taking free space and of converting a
 * range, with 10^3 to 10^6 free ranges in the map, and the memory a range
 * takes.  Reported, not asserted: timing belongs to benchmarks.
 *
 *   test-ranges [seed]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/rbtree.h>
#include <linux/list.h>
#include <asm/bug.h>

#include "../../dm-bow-ranges.h"
#include "../rng.h"

#define BS 8	/* sectors a block */

static long nodes_live;
static int failures;

void bow_range_node_free(struct bow_range *r)
{
	free(r);
	nodes_live--;
}

static struct bow_range *node_alloc(void)
{
	struct bow_range *r = malloc(sizeof(*r));

	if (!r)
		abort();
	nodes_live++;
	return r;
}

static void fill(struct bow_prealloc *pa)
{
	for (int i = 0; i < 2; i++)
		if (!pa->node[i])
			pa->node[i] = node_alloc();
}

static void drain(struct bow_prealloc *pa)
{
	for (int i = 0; i < 2; i++)
		if (pa->node[i])
			bow_range_node_free(pa->node[i]);
	pa->node[0] = pa->node[1] = NULL;
}

static uint64_t below(uint64_t n)
{
	return rnd() % n;
}

/* The map as dm-bow starts it: block 0, then unchanged data, then top. */
static void map_init(struct bow_map *map, uint64_t blocks)
{
	static const enum bow_range_type layout[] = {
		BOW_BLOCK0, BOW_UNCHANGED, BOW_TOP,
	};

	map->ranges = RB_ROOT;
	map->free = RB_ROOT;
	map->free_sectors = 0;
	map->free_ranges = 0;
	for (int i = 0; i < 3; i++) {
		struct bow_range *r = node_alloc();

		r->type = layout[i];
		r->sector = i == 2 ? blocks * BS : (sector_t)i * BS;
		bow_range_insert(map, r);
	}
}

/* Does the tree describe exactly @model?  Returns a reason or NULL. */
static const char *check(struct bow_map *map, const unsigned char *model,
			 uint64_t blocks)
{
	struct rb_node *n = rb_first(&map->ranges);
	long nodes = 0, free_nodes = 0, listed = 0;
	sector_t free_sectors = 0;
	struct bow_range *r;

	if (!n)
		return "empty tree";
	r = rb_entry(n, struct bow_range, node);
	if (r->sector != 0 || r->type != BOW_BLOCK0)
		return "the first range is not block 0";
	for (; r; r = bow_range_next(r)) {
		struct bow_range *next = bow_range_next(r);

		nodes++;
		if (r->sector % BS)
			return "unaligned boundary";
		if (r->type == BOW_TOP) {
			if (next || r->sector != blocks * BS)
				return "top is not last, at the end";
			break;
		}
		if (!next || next->sector <= r->sector)
			return "ranges out of order";
		if (next->type == r->type)
			return "equal neighbours not merged";
		for (sector_t s = r->sector; s < next->sector; s += BS)
			if (model[s / BS] != r->type)
				return "type differs from the model";
		if (r->type == BOW_FREE) {
			free_nodes++;
			free_sectors += next->sector - r->sector;
		}
	}
	for (n = rb_first(&map->free), r = NULL; n; n = rb_next(n)) {
		struct bow_range *f = rb_entry(n, struct bow_range, free_node);

		if (f->type != BOW_FREE)
			return "a range in the free tree is not free";
		if (r && f->sector <= r->sector)
			return "free tree out of order";
		r = f;
		listed++;
	}
	if (listed != free_nodes)
		return "free tree and range tree disagree";
	if (free_sectors != map->free_sectors)
		return "free_sectors is wrong";
	if ((uint64_t)free_nodes != map->free_ranges)
		return "free_ranges is wrong";
	if (nodes != nodes_live)
		return "nodes leaked or lost";
	return NULL;
}

/* Conversions dm-bow makes, and random ones. */
static void random_convert(struct bow_map *map, unsigned char *model,
			   uint64_t blocks, uint64_t span)
{
	static const struct {
		unsigned int from;
		enum bow_range_type to;
	} ops[] = {
		{ BOW_TYPE(BOW_UNCHANGED), BOW_FREE },		/* discard */
		{ BOW_TYPE(BOW_FREE), BOW_UNCHANGED },		/* state 0 write */
		{ BOW_TYPE(BOW_FREE), BOW_WRITTEN },		/* state 1 write */
		{ BOW_TYPE(BOW_FREE), BOW_CHANGED },		/* ... with backup */
		{ BOW_TYPE(BOW_WRITTEN), BOW_FREE },		/* state 1 discard */
		{ BOW_TYPE(BOW_UNCHANGED) | BOW_TYPE(BOW_BACKUP),
		  BOW_BACKING },				/* backed up */
		{ BOW_TYPE(BOW_BACKING), BOW_CHANGED },		/* committed */
		{ BOW_TYPE(BOW_BACKUP), BOW_FREE },		/* given back */
		{ BOW_TYPE(BOW_BLOCK0_LIVE), BOW_BACKING },	/* block 0 moved */
	};
	struct bow_prealloc pa = { 0 };
	uint64_t a = below(blocks), z = a + 1 + below(span);
	unsigned int from;
	enum bow_range_type to;

	if (z > blocks)
		z = blocks;
	if (below(4)) {
		int i = (int)below(sizeof(ops) / sizeof(ops[0]));

		from = ops[i].from;
		to = ops[i].to;
	} else {
		/* anything but block 0 and top, into anything but them */
		from = (unsigned int)below(1u << BOW_TOP) &
		       ~BOW_TYPE(BOW_BLOCK0);
		to = BOW_BLOCK0_LIVE + (int)below(BOW_TOP - BOW_BLOCK0_LIVE);
	}
	fill(&pa);
	if (bow_convert(map, a * BS, z * BS, from, to, &pa))
		abort();
	drain(&pa);
	for (uint64_t b = a; b < z; b++)
		if (from & BOW_TYPE(model[b]))
			model[b] = to;
}

/*
 * Take free space as dm-bow does for a backup, by either policy; check
 * that it took as much as it could of the lowest free range from its
 * start, or of the highest free range from where bow_alloc_free() says:
 * its start within the top run, the top run's start above it, the very
 * top for a run or more.
 */
static const char *random_alloc(struct bow_map *map, unsigned char *model,
				uint64_t blocks)
{
	const uint64_t run = BOW_ALLOC_RUN_SECTORS / BS;
	struct bow_prealloc pa = { 0 };
	uint64_t max = 1 + below(below(4) ? 64 : 2 * run);
	uint64_t first = blocks, end = 0, size, want, expect;
	bool lowest = below(2);
	sector_t dest = 0, len;

	/* The free range bow_alloc_free() must take from: [first, end). */
	for (uint64_t b = 0; b < blocks; b++) {
		uint64_t i = lowest ? b : blocks - 1 - b;

		if (model[i] == BOW_FREE) {
			first = end = i;
			while (first && model[first - 1] == BOW_FREE)
				first--;
			while (end < blocks && model[end] == BOW_FREE)
				end++;
			break;
		}
	}
	fill(&pa);
	len = bow_alloc_free(map, max * BS, BOW_BACKUP, &dest, &pa, lowest);
	drain(&pa);
	if (first == blocks)
		return len ? "took space when none was free" : NULL;
	size = end - first;
	want = size < max ? size : max;
	if (lowest || size <= run)
		expect = first;
	else if (want >= run)
		expect = end - want;
	else
		expect = end - run;
	if (len != want * BS || dest % BS)
		return "took less than it could from the free range, or more";
	if (dest != expect * BS)
		return "did not take the free range where the policy says";
	for (uint64_t b = expect; b < expect + want; b++)
		model[b] = BOW_BACKUP;
	return NULL;
}

static const char *random_query(struct bow_map *map,
				const unsigned char *model, uint64_t blocks)
{
	uint64_t a = below(blocks), z = a + 1 + below(16);
	unsigned int types = (unsigned int)below(1u << BOW_TOP);
	struct bow_range *r;
	bool all = true;

	if (z > blocks)
		z = blocks;
	for (uint64_t b = a; b < z; b++)
		all &= !!(types & BOW_TYPE(model[b]));
	if (bow_range_all(map, a * BS, z * BS, types) != all)
		return "bow_range_all disagrees";
	r = bow_range_find(map, a * BS + below(BS));
	if (r->sector > a * BS || bow_range_end(r) <= a * BS ||
	    r->type != model[a])
		return "bow_range_find disagrees";
	return NULL;
}

static void run(uint64_t blocks, uint64_t span, uint64_t ops,
		uint64_t check_every, uint64_t seed)
{
	unsigned char *model = malloc(blocks);
	const char *why = NULL;
	struct bow_map map;
	uint64_t i;

	rng_seed(seed);
	map_init(&map, blocks);
	model[0] = BOW_BLOCK0;
	memset(model + 1, BOW_UNCHANGED, blocks - 1);
	for (i = 0; i < ops && !why; i++) {
		switch (below(8)) {
		case 0:
			why = random_alloc(&map, model, blocks);
			break;
		case 1:
			why = random_query(&map, model, blocks);
			break;
		default:
			random_convert(&map, model, blocks, span);
		}
		if (!why && (i % check_every == 0 || i == ops - 1))
			why = check(&map, model, blocks);
	}
	printf("%s - range map of %" PRIu64 " blocks matches the model over "
	       "%" PRIu64 " random operations (seed %" PRIu64 ")%s%s\n",
	       why ? "not ok" : "ok", blocks, i, seed, why ? ": " : "",
	       why ? why : "");
	if (why)
		failures++;
	bow_map_destroy(&map.ranges);
	if (!why && nodes_live)
		printf("not ok - %ld nodes not freed\n", nodes_live), failures++;
	nodes_live = 0;
	free(model);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Free ranges of one block with one unchanged block between them. */
static void scale(uint64_t ranges)
{
	uint64_t blocks = 2 * ranges + 2, rounds = 100000;
	struct bow_prealloc pa = { 0 };
	struct bow_map map;
	double t0, t_alloc, t_conv;
	sector_t dest;

	map_init(&map, blocks);
	for (uint64_t b = 1; b + 1 < blocks; b += 2) {
		fill(&pa);
		bow_convert(&map, b * BS, (b + 1) * BS,
			    BOW_TYPE(BOW_UNCHANGED), BOW_FREE, &pa);
	}
	drain(&pa);
	t0 = now();
	for (uint64_t i = 0; i < rounds; i++) {
		fill(&pa);
		bow_alloc_free(&map, BS, BOW_BACKUP, &dest, &pa, false);
		/* give it back so that the map keeps its size */
		bow_convert(&map, dest, dest + BS, BOW_TYPE(BOW_BACKUP),
			    BOW_FREE, &pa);
	}
	t_alloc = (now() - t0) / rounds * 1e9;
	t0 = now();
	for (uint64_t i = 0; i < rounds; i++) {
		uint64_t b = 2 + 2 * below(ranges - 1);

		fill(&pa);
		bow_convert(&map, b * BS, (b + 1) * BS,
			    BOW_TYPE(BOW_UNCHANGED), BOW_BACKING, &pa);
		bow_convert(&map, b * BS, (b + 1) * BS,
			    BOW_TYPE(BOW_BACKING), BOW_UNCHANGED, &pa);
	}
	t_conv = (now() - t0) / rounds / 2 * 1e9;
	drain(&pa);
	printf("# scale: %8" PRIu64 " free ranges (%" PRIu64 " nodes): "
	       "take+give back free space %.0f ns, convert a block %.0f ns\n",
	       ranges, (uint64_t)nodes_live, t_alloc, t_conv);
	bow_map_destroy(&map.ranges);
	nodes_live = 0;
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) :
				   (uint64_t)time(NULL);

	run(64, 64, 1000000, 1, seed);
	run(1024, 64, 1000000, 1, seed + 1);
	run(1 << 20, 64, 1000000, 100000, seed + 2);
	/* free ranges longer than BOW_ALLOC_RUN_SECTORS */
	run(1 << 16, 4096, 200000, 1000, seed + 3);
	printf("%s - a range takes %zu bytes (at most 64)\n",
	       sizeof(struct bow_range) <= 64 ? "ok" : "not ok",
	       sizeof(struct bow_range));
	for (uint64_t n = 1000; n <= 1000000; n *= 10)
		scale(n);
	return failures ? 1 : 0;
}
