/* SPDX-License-Identifier: GPL-2.0 */
/*
 * An extent map: which block each block of a range stands for, kept as
 * disjoint extents [start, end) -> [to, to + end - start) in a treap
 * ordered by start.  A block no extent covers stands for itself.
 *
 * bow-restore's replay simulation uses one to know where, on the device
 * as it is, the bytes a block would hold after part of the replay are;
 * and one (mapping each extent to itself) as a set of ranges, the
 * backups already read.  Memory follows the number of extents: assigning
 * a range adds at most three and removes those it covers; neighbours that
 * continue each other are joined.
 */
#ifndef BOW_EXTMAP_H
#define BOW_EXTMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct extmap_node;

struct extmap {
	struct extmap_node *node;	/* node[0] is the empty tree */
	uint32_t root;
	uint32_t nr;		/* nodes in use, the empty one included */
	uint32_t cap;
	uint32_t free_list;	/* chained through ->right */
	uint64_t rng;		/* priorities: see extmap_init() */
	size_t extents;
};

void extmap_init(struct extmap *m);
void extmap_free(struct extmap *m);

/*
 * Make [start, start + len) stand for [to, to + len).  -ENOMEM if a node
 * cannot be allocated (the map is unchanged then).  @len > 0, and the
 * ranges do not wrap: callers check both.
 */
int extmap_assign(struct extmap *m, uint64_t start, uint64_t len,
		  uint64_t to);

/*
 * What @block stands for; *run says for how many blocks from @block on
 * the mapping goes on contiguously (at least 1).
 */
uint64_t extmap_lookup(const struct extmap *m, uint64_t block,
		       uint64_t *run);

/* Whether any extent overlaps [start, start + len). */
bool extmap_overlaps(const struct extmap *m, uint64_t start, uint64_t len);

/* Bytes the map holds in memory now. */
size_t extmap_bytes(const struct extmap *m);

#endif /* BOW_EXTMAP_H */
