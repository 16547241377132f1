// SPDX-License-Identifier: GPL-2.0
/*
 * See kernel-walk.h.  Built against the kernel's tools/include, as
 * dm-bow-vext.c is; the reader's operations are those of
 * dm-bow-metadata.c, with the image for the device.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/rbtree.h>

#include "../../dm-bow-rules.h"
#include "../../dm-bow-vext.h"
#include "kernel-walk.h"

struct reader {
	struct bow_chain chain;
	const unsigned char *img;
	uint64_t dev_blocks;
	struct rb_root map, read;
	u64 nodes;
	struct kernel_walk *w;
	uint64_t cap;
};

static struct reader *reader(struct bow_chain *ch)
{
	return ch->priv;
}

static int read_dev(struct bow_chain *ch, u64 phys, u64 blocks, void *buf,
		    const void **data)
{
	struct reader *r = reader(ch);

	(void)data;
	/* The module would send such a read to the device: never. */
	if (phys > r->dev_blocks || blocks > r->dev_blocks - phys) {
		fprintf(stderr, "kernel walk reads blocks %llu+%llu of %llu\n",
			(unsigned long long)phys, (unsigned long long)blocks,
			(unsigned long long)r->dev_blocks);
		abort();
	}
	memcpy(buf, r->img + phys * ch->g.block_size,
	       blocks * ch->g.block_size);
	return 0;
}

static struct rb_root *root(struct bow_chain *ch, enum bow_chain_map m)
{
	return m == BOW_CHAIN_MAP ? &reader(ch)->map : &reader(ch)->read;
}

static u64 lookup(struct bow_chain *ch, enum bow_chain_map m, u64 block,
		  u64 *run)
{
	return bow_vext_lookup(root(ch, m), block, run);
}

static bool overlaps(struct bow_chain *ch, enum bow_chain_map m, u64 start,
		     u64 len)
{
	return bow_vext_overlaps(root(ch, m), start, len);
}

static int assign(struct bow_chain *ch, enum bow_chain_map m, u64 start,
		  u64 len, u64 to)
{
	return bow_vext_assign(root(ch, m), start, len, to,
			       &reader(ch)->nodes);
}

static int header(struct bow_chain *ch, const struct bow_header_facts *h,
		  bool first)
{
	(void)ch;
	(void)h;
	(void)first;
	return 0;
}

static int entry(struct bow_chain *ch, const struct bow_chain_entry *e)
{
	struct kernel_walk *w = reader(ch)->w;
	struct reader *r = reader(ch);

	if (w->nr_entries == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 64;
		w->entries = realloc(w->entries, r->cap * sizeof(*w->entries));
		if (!w->entries)
			abort();
	}
	w->entries[w->nr_entries][0] = e->source;
	w->entries[w->nr_entries][1] = e->dest;
	w->entries[w->nr_entries][2] = e->blocks;
	w->nr_entries++;
	return 0;
}

static int broken(struct bow_chain *ch, const struct bow_chain_verdict *v)
{
	reader(ch)->w->rule = v->rule;
	reader(ch)->w->first = v->first;
	return -1;
}

static const struct bow_chain_ops ops = {
	.read = read_dev,
	.lookup = lookup,
	.assign = assign,
	.overlaps = overlaps,
	.header = header,
	.entry = entry,
	.broken = broken,
};

void kernel_walk(const unsigned char *img, size_t len, uint32_t block_size,
		 bool restoring, struct kernel_walk *w)
{
	/* The module's copy buffer: BOW_COPY_UNITS of 4 KiB (dm-bow.h). */
	static unsigned char buf[512 * 4096];
	unsigned char *block = malloc(block_size);
	struct reader r = {
		.img = img,
		.dev_blocks = len / block_size,
		.map = RB_ROOT,
		.read = RB_ROOT,
		.w = w,
	};

	if (!block)
		abort();
	memset(w, 0, sizeof(*w));
	r.chain = (struct bow_chain){
		.ops = &ops,
		.priv = &r,
		.g = { .block_size = block_size, .dev_blocks = r.dev_blocks },
		.vold_partial_ok = restoring,
		.check_data = true,
		.budget = r.dev_blocks,
		.block = block,
		.buf = buf,
		.buf_blocks = sizeof(buf) / block_size,
	};
	if (bow_chain_walk(&r.chain) && !w->rule)
		abort();	/* only a broken rule ends this walk early */
	bow_vext_destroy(&r.map);
	bow_vext_destroy(&r.read);
	free(block);
}

void kernel_walk_free(struct kernel_walk *w)
{
	free(w->entries);
	w->entries = NULL;
}
