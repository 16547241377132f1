// SPDX-License-Identifier: GPL-2.0
/*
 * The replay rules that dm-bow.ko and bow-restore share (dm-bow-rules.c),
 * on the host: one valid log block, then one field at a time changed to
 * break each rule, with the verdict expected.  The messages each reader
 * gives are tested where they are said (tests/unit/test-restore.c, the
 * raw VM suite).
 */
#define _DEFAULT_SOURCE
#include <endian.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../dm-bow-rules.h"

static int failures;

static void expect(enum bow_rule got, enum bow_rule want, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void expect(enum bow_rule got, enum bow_rule want, const char *fmt, ...)
{
	va_list ap;

	printf("%sok - rules: ", got == want ? "" : "not ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(got == want ? "\n" : " (rule %d, expected %d)\n", got, want);
	failures += got != want;
}

static void check(bool good, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void check(bool good, const char *fmt, ...)
{
	va_list ap;

	printf("%sok - rules: ", good ? "" : "not ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	failures += !good;
}

/* A log block of @bs bytes: @count entries after a 28-byte header. */
static void block(unsigned char *b, __u32 bs, __u32 count)
{
	struct bow_log_header h = {
		.magic = htole32(BOW_MAGIC),
		.header_version = htole16(BOW_HEADER_VERSION),
		.header_size = htole16(BOW_HEADER_SIZE),
		.block_size = htole32(bs),
		.count = htole32(count),
		.sequence = htole32(3),
		.sector0 = htole64(8 * (bs / 512)),
	};

	memset(b, 0, bs);
	memcpy(b, &h, sizeof(h));
}

/* Entry @i: blocks @source -> @dest, @blocks long, in sectors and bytes. */
static void entry(unsigned char *b, __u32 bs, __u32 i, __u64 source,
		  __u64 dest, __u64 blocks)
{
	struct bow_log_entry e = {
		.source = htole64(source * (bs / 512)),
		.dest = htole64(dest * (bs / 512)),
		.size = htole32((__u32)(blocks * bs)),
	};

	memcpy(b + BOW_HEADER_SIZE + i * sizeof(e), &e, sizeof(e));
}

static void put32(unsigned char *b, size_t off, __u32 v)
{
	v = htole32(v);
	memcpy(b + off, &v, sizeof(v));
}

static void put64(unsigned char *b, size_t off, __u64 v)
{
	v = htole64(v);
	memcpy(b + off, &v, sizeof(v));
}

static void test_header(void)
{
	const struct bow_geometry g = { .block_size = 4096, .dev_blocks = 100 };
	static const struct {
		const char *what;
		size_t off;
		unsigned int bytes;
		__u64 value;
		bool first;
		enum bow_rule want;
	} rows[] = {
		{ "a valid newest block", 0, 0, 0, true, BOW_RULE_OK },
		{ "a valid older block, sequence as expected", 0, 0, 0, false,
		  BOW_RULE_OK },
		{ "magic", 0, 4, 0x12345678, true, BOW_RULE_MAGIC },
		{ "vold's mark where it is not allowed", 0, 4,
		  BOW_VOLD_PARTIAL_MAGIC, true, BOW_RULE_MAGIC },
		{ "header_version", 4, 2, 0x0102, true, BOW_RULE_VERSION },
		{ "block_size", 8, 4, 512, true, BOW_RULE_BLOCK_SIZE },
		{ "header_size under 28", 6, 2, 27, true, BOW_RULE_HEADER_SIZE },
		{ "header_size over the block", 6, 2, 4097, true,
		  BOW_RULE_HEADER_SIZE },
		{ "sector0 inside a block", 20, 8, 65, true,
		  BOW_RULE_SECTOR0_ALIGN },
		{ "sector0 0", 20, 8, 0, true, BOW_RULE_SECTOR0_ZERO },
		{ "sector0 at the end", 20, 8, 800, true, BOW_RULE_SECTOR0_END },
		{ "count 0 in the newest block", 12, 4, 0, true,
		  BOW_RULE_COUNT_ZERO },
		{ "count 0 in an older block", 12, 4, 0, false, BOW_RULE_COUNT },
		{ "count over a block's room", 12, 4, 170, true,
		  BOW_RULE_COUNT },
		{ "count a block's room", 12, 4, 169, true, BOW_RULE_OK },
		{ "sequence, older block", 16, 4, 2, false, BOW_RULE_SEQUENCE },
	};
	unsigned char b[4096];

	for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
		struct bow_header_facts h;

		block(b, 4096, 2);
		if (rows[i].bytes == 2) {
			__u16 v = htole16((__u16)rows[i].value);

			memcpy(b + rows[i].off, &v, 2);
		} else if (rows[i].bytes == 4) {
			put32(b, rows[i].off, (__u32)rows[i].value);
		} else if (rows[i].bytes == 8) {
			put64(b, rows[i].off, rows[i].value);
		}
		expect(bow_check_header(b, &g, rows[i].first, false, 3, &h),
		       rows[i].want, "header: %s", rows[i].what);
	}
	block(b, 4096, 2);
	put32(b, 0, BOW_VOLD_PARTIAL_MAGIC);
	{
		struct bow_header_facts h;
		enum bow_rule r = bow_check_header(b, &g, true, true, 0, &h);

		expect(r, BOW_RULE_OK, "header: vold's mark on the newest "
		       "block, where allowed");
		check(h.vold_partial, "header: ... and said so");
		expect(bow_check_header(b, &g, false, true, 3, &h),
		       BOW_RULE_MAGIC, "header: vold's mark on an older block");
	}
}

static void test_entries(void)
{
	const struct bow_geometry g = { .block_size = 4096, .dev_blocks = 100 };
	const struct bow_geometry g512 = { .block_size = 512,
					   .dev_blocks = 2048 };
	unsigned char b[4096];
	struct bow_entry_facts e;
	uint64_t budget;

	block(b, 4096, 3);
	entry(b, 4096, 0, 0, 90, 1);
	entry(b, 4096, 1, 10, 80, 4);
	budget = 100;
	expect(bow_check_entry(b, &g, BOW_HEADER_SIZE, 0, &budget, &e),
	       BOW_RULE_OK, "entry 0: block 0, one block");
	expect(bow_check_entry(b, &g, BOW_HEADER_SIZE, 1, &budget, &e),
	       BOW_RULE_OK, "entry 1: four blocks");
	check(budget == 95 && e.source == 10 && e.dest == 80 &&
	      e.blocks == 4 && e.source_sector == 80,
	      "entry 1: its blocks, sectors and budget (95 left)");
	put32(b, BOW_HEADER_SIZE + 24 + 16, 4096 + 512);
	expect(bow_check_entry(b, &g, BOW_HEADER_SIZE, 1, NULL, &e),
	       BOW_RULE_ENTRY_BLOCKS, "entry: size not whole blocks");
	entry(b, 4096, 1, 10, 80, 4);
	put64(b, BOW_HEADER_SIZE + 24, 81);
	expect(bow_check_entry(b, &g, BOW_HEADER_SIZE, 1, NULL, &e),
	       BOW_RULE_ENTRY_BLOCKS, "entry: source inside a block");
	entry(b, 4096, 1, 0, 80, 1);
	expect(bow_check_entry(b, &g, BOW_HEADER_SIZE, 1, NULL, &e),
	       BOW_RULE_ENTRY_BLOCK0, "entry 1: block 0 as its source");
	entry(b, 4096, 0, 0, 90, 2);
	expect(bow_check_entry(b, &g, BOW_HEADER_SIZE, 0, NULL, &e),
	       BOW_RULE_ENTRY_BLOCK0, "entry 0: two blocks");
	entry(b, 4096, 0, 5, 90, 1);
	expect(bow_check_entry(b, &g, BOW_HEADER_SIZE, 0, NULL, &e),
	       BOW_RULE_ENTRY_BLOCK0, "entry 0: not block 0");
	entry(b, 4096, 1, 10, 0, 1);
	expect(bow_check_entry(b, &g, BOW_HEADER_SIZE, 1, NULL, &e),
	       BOW_RULE_ENTRY_BLOCK0, "entry 1: block 0 as its dest");
	entry(b, 4096, 1, 10, 97, 4);
	expect(bow_check_entry(b, &g, BOW_HEADER_SIZE, 1, NULL, &e),
	       BOW_RULE_ENTRY_END, "entry: dest past the end");
	entry(b, 4096, 1, 10, 96, 4);
	expect(bow_check_entry(b, &g, BOW_HEADER_SIZE, 1, NULL, &e),
	       BOW_RULE_OK, "entry: dest up to the end");
	entry(b, 4096, 1, 10, 12, 4);
	expect(bow_check_entry(b, &g, BOW_HEADER_SIZE, 1, NULL, &e),
	       BOW_RULE_ENTRY_OVERLAP, "entry: source and dest overlap");
	entry(b, 4096, 1, 10, 80, 4);
	budget = 3;
	expect(bow_check_entry(b, &g, BOW_HEADER_SIZE, 1, &budget, &e),
	       BOW_RULE_BUDGET, "entry: more blocks than the budget");
	/*
	 * 512-byte blocks: a source of 2^64 - 1 sectors is block 2^64 - 1,
	 * and source + blocks wraps to 0, under the device's end.  The
	 * kernel's own check let it through before the rules were shared.
	 */
	block(b, 512, 2);
	entry(b, 512, 0, 0, 16, 1);
	put64(b, BOW_HEADER_SIZE + 24, ~0ULL);
	put64(b, BOW_HEADER_SIZE + 24 + 8, 24);
	put32(b, BOW_HEADER_SIZE + 24 + 16, 512);
	expect(bow_check_entry(b, &g512, BOW_HEADER_SIZE, 1, NULL, &e),
	       BOW_RULE_ENTRY_END, "entry: source + size wraps past 2^64 "
	       "sectors");
}

static void test_checksum(void)
{
	check(bow_checksum_matches(7, 7, 1), "checksum: the one the entry says");
	check(!bow_checksum_matches(8, 7, 1), "checksum: another one");
	check(bow_checksum_matches(8, 0, 1),
	      "checksum: 0 on one block is not checked");
	check(!bow_checksum_matches(8, 0, 2), "checksum: 0 on two blocks is");
}

int main(void)
{
	test_header();
	test_entries();
	test_checksum();
	return failures ? 1 : 0;
}
