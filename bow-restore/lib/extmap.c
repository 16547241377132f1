// SPDX-License-Identifier: GPL-2.0
/*
 * The extent map of extmap.h: a treap (a binary search tree on start,
 * and a heap on random priorities), so that its depth stays logarithmic
 * on average whatever order a log, crafted or not, assigns ranges in.
 * The priorities come from a generator seeded from the kernel's random
 * bytes for this process (AT_RANDOM), which a log cannot predict.
 *
 * Nodes live in one array and link by index (0 is the empty tree): 40
 * bytes a node, and no allocation per node.
 */
#define _GNU_SOURCE
#include "extmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

struct extmap_node {
	uint64_t start, end, to;
	uint32_t left, right;
	uint32_t prio;
};

void extmap_init(struct extmap *m)
{
	const void *random_bytes = (const void *)getauxval(AT_RANDOM);

	memset(m, 0, sizeof(*m));
	if (random_bytes)
		memcpy(&m->rng, random_bytes, sizeof(m->rng));
	m->rng |= 1;	/* xorshift never leaves 0 */
}

void extmap_free(struct extmap *m)
{
	free(m->node);
	memset(m, 0, sizeof(*m));
}

size_t extmap_bytes(const struct extmap *m)
{
	return (size_t)m->cap * sizeof(*m->node);
}

static uint32_t next_prio(struct extmap *m)
{
	m->rng ^= m->rng << 13;
	m->rng ^= m->rng >> 7;
	m->rng ^= m->rng << 17;
	return (uint32_t)(m->rng >> 32);
}

/* A new node, or 0 if there is no memory. */
static uint32_t node_new(struct extmap *m, uint64_t start, uint64_t end,
			 uint64_t to)
{
	struct extmap_node *n;
	uint32_t i;

	if (m->free_list) {
		i = m->free_list;
		m->free_list = m->node[i].right;
	} else {
		if (!m->cap || m->nr == m->cap) {
			uint32_t cap = m->cap ? m->cap * 2 : 64;

			/* 2^32 nodes: more than a device's blocks. */
			if (cap <= m->cap)
				return 0;
			/* reallocarray(): checks cap * size for overflow. */
			n = reallocarray(m->node, cap, sizeof(*n));
			if (!n)
				return 0;
			m->node = n;
			m->cap = cap;
			if (!m->nr)
				m->nr = 1;	/* node 0: the empty tree */
		}
		i = m->nr++;
	}
	m->node[i] = (struct extmap_node){
		.start = start, .end = end, .to = to, .prio = next_prio(m),
	};
	m->extents++;
	return i;
}

static void node_release(struct extmap *m, uint32_t i)
{
	m->node[i].right = m->free_list;
	m->free_list = i;
	m->extents--;
}

static void release_tree(struct extmap *m, uint32_t t)
{
	while (t) {
		uint32_t right = m->node[t].right;

		release_tree(m, m->node[t].left);
		node_release(m, t);
		t = right;
	}
}

/* Split @t into the extents that start before @key and the rest. */
static void split(struct extmap *m, uint32_t t, uint64_t key, uint32_t *l,
		  uint32_t *r)
{
	if (!t) {
		*l = *r = 0;
	} else if (m->node[t].start < key) {
		split(m, m->node[t].right, key, &m->node[t].right, r);
		*l = t;
	} else {
		split(m, m->node[t].left, key, l, &m->node[t].left);
		*r = t;
	}
}

/* Join @l and @r, every extent of @l before every extent of @r. */
static uint32_t merge(struct extmap *m, uint32_t l, uint32_t r)
{
	if (!l || !r)
		return l ? l : r;
	if (m->node[l].prio > m->node[r].prio) {
		m->node[l].right = merge(m, m->node[l].right, r);
		return l;
	}
	m->node[r].left = merge(m, l, m->node[r].left);
	return r;
}

static uint32_t rightmost(const struct extmap *m, uint32_t t)
{
	while (t && m->node[t].right)
		t = m->node[t].right;
	return t;
}

static uint32_t leftmost(const struct extmap *m, uint32_t t)
{
	while (t && m->node[t].left)
		t = m->node[t].left;
	return t;
}

int extmap_assign(struct extmap *m, uint64_t start, uint64_t len,
		  uint64_t to)
{
	uint64_t end = start + len;
	uint32_t l, mid, r, last, tail = 0, add = 0, first;
	struct extmap_node *n;

	/* Allocate first: nothing below may fail. */
	add = node_new(m, start, end, to);
	if (add)
		tail = node_new(m, 0, 0, 0);
	if (!add || !tail) {
		if (add)
			node_release(m, add);
		return -ENOMEM;
	}

	split(m, m->root, start, &l, &r);
	split(m, r, end, &mid, &r);

	/* What an extent running on past @end keeps beyond it. */
	last = rightmost(m, mid);
	if (!last) {
		last = rightmost(m, l);
		if (last && m->node[last].end <= end)
			last = 0;
	}
	if (last && m->node[last].end > end) {
		n = &m->node[last];
		m->node[tail].start = end;
		m->node[tail].end = n->end;
		m->node[tail].to = n->to + (end - n->start);
	} else {
		node_release(m, tail);
		tail = 0;
	}
	release_tree(m, mid);

	/* The extent before @start ends there now. */
	last = rightmost(m, l);
	if (last && m->node[last].end > start)
		m->node[last].end = start;

	/* Join the new extent to neighbours that it continues. */
	if (last && m->node[last].end == start &&
	    m->node[last].to + (start - m->node[last].start) == to) {
		m->node[last].end = end;
		node_release(m, add);
		add = last;
	} else {
		l = merge(m, l, add);
	}
	first = tail ? 0 : leftmost(m, r);
	if (first && m->node[first].start == end &&
	    m->node[first].to == to + len) {
		uint32_t rest;

		m->node[add].end = m->node[first].end;
		split(m, r, end + 1, &first, &rest);
		node_release(m, first);
		r = rest;
	}
	m->root = merge(m, merge(m, l, tail), r);
	return 0;
}

/* The extent with the greatest start at or before @block, or 0. */
static uint32_t floor_node(const struct extmap *m, uint64_t block,
			   uint64_t *next_start)
{
	uint32_t t = m->root, best = 0;

	*next_start = UINT64_MAX;
	while (t) {
		if (m->node[t].start <= block) {
			best = t;
			t = m->node[t].right;
		} else {
			*next_start = m->node[t].start;
			t = m->node[t].left;
		}
	}
	return best;
}

uint64_t extmap_lookup(const struct extmap *m, uint64_t block,
		       uint64_t *run)
{
	uint64_t next;
	uint32_t t = floor_node(m, block, &next);

	if (t && block < m->node[t].end) {
		*run = m->node[t].end - block;
		return m->node[t].to + (block - m->node[t].start);
	}
	*run = next - block;
	return block;
}

bool extmap_overlaps(const struct extmap *m, uint64_t start, uint64_t len)
{
	uint64_t next;
	uint32_t t = floor_node(m, start + len - 1, &next);

	return t && m->node[t].end > start;
}
