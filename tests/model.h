/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A model of the dm-bow target for the host tests: it writes dm-bow logs
 * into an image in memory, as the target would, for a checkpoint and a
 * workload of writes: first overwrites backed up into free blocks,
 * backups and the live block 0 moved when "the file system" writes over
 * them, log blocks rolling over.  Random choices come from rng.h.
 *
 * Shared by the unit tests (tests/unit) and the chain fuzzer
 * (tests/fuzz/fuzz-chain.c).
 */
#ifndef BOW_TEST_MODEL_H
#define BOW_TEST_MODEL_H

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bow-restore/lib/restore.h"
#include "../dm-bow-format.h"
#include "rng.h"

static inline uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

/* ------------------------------------------------------------------
 * The model of the target.
 */

enum { UNCHANGED, FREE, CHANGED, BACKUP, LOG, LIVE };

struct model {
	unsigned char *img;	/* the device */
	unsigned char *ckpt;	/* the device at the checkpoint */
	unsigned char *was_free;	/* per block, at the checkpoint */
	unsigned char *type;	/* per block, now */
	uint32_t bs;
	uint64_t blocks;
	uint32_t header_size;
	uint32_t cap;
	uint64_t live;		/* block holding the live block 0 */
	unsigned char log[BOW_MAX_BLOCK_SIZE];
	uint64_t entries, moves, rollovers;
	/*
	 * Write what Android's dm-bow writes: each move of the live block 0
	 * is logged, as a one-block entry with checksum 0.
	 */
	bool android;
	uint64_t unchecked;	/* entries with checksum 0 it logged so */
};

static inline unsigned char *blk(struct model *m, uint64_t b)
{
	return m->img + b * m->bs;
}

static inline uint64_t sectors(struct model *m, uint64_t b)
{
	return b * (m->bs / BOW_SECTOR_SIZE);
}

static inline struct bow_log_header *hdr(struct model *m)
{
	return (struct bow_log_header *)m->log;
}

static inline void put_le16(unsigned char *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static inline void put_le32(unsigned char *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static inline void put_le64(unsigned char *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static inline uint32_t get_le32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static inline uint64_t get_le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

/* Make the log in block 0 of @img a commit begun, as the target does. */
static inline void mark_commit(unsigned char *img)
{
	uint16_t header_size;

	memcpy(&header_size, img + 6, 2);
	header_size = le16toh(header_size);

	put_le32(img + 12, 0);
	put_le32(img + header_size, BOW_COMMIT_MAGIC);
	put_le32(img + header_size + 4,
		 bow_crc32(BOW_COMMIT_MAGIC, img, header_size + 4));
}

/* First run of up to @max free blocks, lowest address first; 0 if none. */
static inline uint64_t alloc_run(struct model *m, uint64_t max, uint64_t *len)
{
	for (uint64_t b = 1; b < m->blocks; b++) {
		if (m->type[b] != FREE)
			continue;
		for (*len = 0; *len < max && b + *len < m->blocks &&
		     m->type[b + *len] == FREE; (*len)++)
			m->type[b + *len] = BACKUP;
		return b;
	}
	return 0;
}

static inline void log_write(struct model *m)
{
	memcpy(blk(m, 0), m->log, m->bs);
}

static inline void log_entry(struct model *m, uint32_t i, uint64_t src,
		      uint64_t dst, uint64_t n, uint32_t crc)
{
	struct bow_log_entry e = {
		.source = htole64(sectors(m, src)),
		.dest = htole64(sectors(m, dst)),
		.size = htole32((uint32_t)(n * m->bs)),
		.checksum = htole32(crc),
	};

	memcpy(m->log + m->header_size + i * sizeof(e), &e, sizeof(e));
}

static inline void log_start(struct model *m, uint32_t seq, uint64_t dst, uint32_t crc)
{
	memset(m->log, 0, m->bs);
	hdr(m)->magic = htole32(BOW_MAGIC);
	hdr(m)->header_version = htole16(BOW_HEADER_VERSION);
	hdr(m)->header_size = htole16((uint16_t)m->header_size);
	hdr(m)->block_size = htole32(m->bs);
	hdr(m)->count = htole32(1);
	hdr(m)->sequence = htole32(seq);
	hdr(m)->sector0 = htole64(sectors(m, m->live));
	log_entry(m, 0, 0, dst, 1, crc);
	m->entries++;
}

static inline int log_append(struct model *m, uint64_t src, uint64_t dst, uint64_t n,
		      uint32_t crc)
{
	uint32_t count = le32toh(hdr(m)->count);

	if (count == m->cap) {
		uint64_t copy, len;

		copy = alloc_run(m, 1, &len);
		if (!copy)
			return -1;
		memcpy(blk(m, copy), m->log, m->bs);
		log_start(m, le32toh(hdr(m)->sequence) + 1, copy,
			  bow_crc32(0, m->log, m->bs));
		m->rollovers++;
		count = 1;
	}
	log_entry(m, count, src, dst, n, crc);
	hdr(m)->count = htole32(count + 1);
	m->entries++;
	log_write(m);
	return 0;
}

static inline void model_init(struct model *m, uint32_t bs, uint64_t blocks,
		       uint32_t header_size)
{
	memset(m, 0, sizeof(*m));
	m->bs = bs;
	m->blocks = blocks;
	m->header_size = header_size;
	m->cap = bow_log_capacity(bs, header_size);
	m->img = malloc(bs * blocks);
	m->ckpt = malloc(bs * blocks);
	m->type = calloc(blocks, 1);
	m->was_free = calloc(blocks, 1);
	for (uint64_t i = 0; i < bs * blocks; i++)
		m->img[i] = (unsigned char)rnd();
}

static inline void model_free(struct model *m)
{
	free(m->img);
	free(m->ckpt);
	free(m->type);
	free(m->was_free);
}

/* Trim @n blocks at @b (state 0), never block 0. */
static inline void model_trim(struct model *m, uint64_t b, uint64_t n)
{
	for (uint64_t i = b; i < b + n && i < m->blocks; i++)
		if (i)
			m->type[i] = FREE;
}

static inline int model_checkpoint(struct model *m)
{
	uint64_t backup, len;

	memcpy(m->ckpt, m->img, m->bs * m->blocks);
	for (uint64_t b = 0; b < m->blocks; b++)
		m->was_free[b] = m->type[b] == FREE;
	backup = alloc_run(m, 1, &len);
	m->live = alloc_run(m, 1, &len);
	if (!backup || !m->live)
		return -1;
	memcpy(blk(m, backup), blk(m, 0), m->bs);
	memcpy(blk(m, m->live), blk(m, 0), m->bs);
	m->type[m->live] = LIVE;
	m->type[0] = LOG;
	log_start(m, 0, backup, bow_crc32(0, blk(m, 0), m->bs));
	log_write(m);
	return 0;
}

/* Back up the run of blocks at @b, @n long, all needing a backup. */
static inline int model_backup(struct model *m, uint64_t b, uint64_t n)
{
	while (n) {
		uint64_t len, dst = alloc_run(m, n, &len);
		uint32_t crc;

		if (!dst)
			return -1;
		for (uint64_t i = 0; i < len; i++)
			if (m->type[b + i] == BACKUP)
				m->moves++;
		memcpy(blk(m, dst), blk(m, b), len * m->bs);
		crc = bow_crc32((uint32_t)b, blk(m, b), len * m->bs);
		if (log_append(m, b, dst, len, crc))
			return -1;
		for (uint64_t i = 0; i < len; i++)
			m->type[b + i] = CHANGED;
		b += len;
		n -= len;
	}
	return 0;
}

/* The file system writes @n blocks at @b (state 1). */
static inline int model_write(struct model *m, uint64_t b, uint64_t n)
{
	for (uint64_t i = b; i < b + n; i++)
		if (m->type[i] == FREE)
			m->type[i] = CHANGED;
	for (uint64_t i = b; i < b + n;) {
		uint64_t run = 0;

		if (m->type[i] == LIVE) {
			uint64_t len, to = alloc_run(m, 1, &len);
			struct bow_log_header *h = hdr(m);

			if (!to)
				return -1;
			memcpy(blk(m, to), blk(m, m->live), m->bs);
			m->type[to] = LIVE;
			m->type[m->live] = CHANGED;
			if (m->android) {
				if (log_append(m, m->live, to, 1, 0))
					return -1;
				m->unchecked++;
			}
			m->live = to;
			h->sector0 = htole64(sectors(m, to));
			log_write(m);
			continue;
		}
		while (i + run < b + n && (m->type[i + run] == UNCHANGED ||
					   m->type[i + run] == BACKUP))
			run++;
		if (run && model_backup(m, i, run))
			return -1;
		i += run ? run : 1;
	}
	for (uint64_t i = b; i < b + n; i++)
		for (uint32_t k = 0; k < m->bs; k++)
			blk(m, i)[k] = (unsigned char)rnd();
	return 0;
}

/* The file system writes its block 0: it goes to the live copy. */
static inline void model_write_block0(struct model *m)
{
	for (uint32_t k = 0; k < m->bs; k++)
		blk(m, m->live)[k] = (unsigned char)rnd();
}

/* Every block that was not free at the checkpoint is as it was then. */
static inline bool restored(struct model *m, const unsigned char *img)
{
	for (uint64_t b = 0; b < m->blocks; b++)
		if (!m->was_free[b] &&
		    memcmp(img + b * m->bs, m->ckpt + b * m->bs, m->bs))
			return false;
	return true;
}

/*
 * Build a checkpointed image with a random workload: with @in_place, the
 * upper half of the device is free and the file system writes over
 * single blocks of the lower half only (as an update rewriting files in
 * place does), so no backup is ever moved.
 */
static inline int build_model(struct model *m, uint32_t bs, uint64_t blocks,
			      uint32_t header_size, unsigned int writes,
			      bool in_place, bool android)
{
	model_init(m, bs, blocks, header_size);
	m->android = android;
	if (in_place) {
		model_trim(m, blocks / 2, blocks - blocks / 2);
		if (model_checkpoint(m))
			return -1;
		for (unsigned int i = 0; i < writes; i++)
			if (model_write(m, 1 + rnd_below(blocks / 2 - 1), 1))
				break;
		return 0;
	}
	for (int i = 0; i < 12; i++)
		model_trim(m, rnd_below(blocks), 1 + rnd_below(blocks / 8));
	if (model_checkpoint(m))
		return -1;	/* no free space to checkpoint */
	for (unsigned int i = 0; i < writes; i++) {
		uint64_t b = 1 + rnd_below(blocks - 1);
		uint64_t n = 1 + rnd_below(rnd_below(4) ? 2 : 16);

		if (rnd_below(10) == 0)
			model_write_block0(m);
		if (b + n > blocks)
			n = blocks - b;
		if (model_write(m, b, n))
			break;	/* out of free space, as the target would */
	}
	return 0;
}

/*
 * Replay the log in @img the plain way: from block 0, each log block's
 * entries last to first, dest copied to source, trusting the log (only
 * for logs known to be valid).  Stop after @stop entries.  With @as_vold,
 * as Android's vold does: each log block it goes on to is put into block
 * 0 with vold's partial-restore magic.
 */
static inline void model_replay(unsigned char *img, uint32_t bs,
				uint64_t stop, bool as_vold)
{
	unsigned char log[BOW_MAX_BLOCK_SIZE];
	uint64_t done = 0;

	for (;;) {
		struct bow_log_header h;

		memcpy(log, img, bs);
		memcpy(&h, log, sizeof(h));
		for (uint32_t i = le32toh(h.count); i-- > 0;) {
			struct bow_log_entry e;
			unsigned char *dest;
			bool mark;

			if (done++ == stop)
				return;
			memcpy(&e, log + le16toh(h.header_size) + i * sizeof(e),
			       sizeof(e));
			dest = img + le64toh(e.dest) * BOW_SECTOR_SIZE;
			mark = as_vold && i == 0 && h.sequence &&
			       get_le32(dest) == BOW_MAGIC;
			if (mark)
				put_le32(dest, BOW_VOLD_PARTIAL_MAGIC);
			memmove(img + le64toh(e.source) * BOW_SECTOR_SIZE, dest,
				le32toh(e.size));
			if (mark)
				put_le32(dest, BOW_MAGIC);
		}
		if (!h.sequence)
			return;
	}
}

#endif /* BOW_TEST_MODEL_H */
