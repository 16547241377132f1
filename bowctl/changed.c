// SPDX-License-Identifier: GPL-2.0
/*
 * bowctl changed: the ranges written since the checkpoint.  dm-bow's
 * "changed" message answers a bounded part of the list and says where the
 * next part starts; this asks for reply after reply from one process,
 * which costs what the kernel's walk costs, not a process a reply.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bowctl.h"

struct changed {
	const char *name;
	bool json;
	uint64_t from;		/* what the message being answered asked */
	uint64_t next;		/* where its reply says to go on; 0: none */
	bool end;		/* the reply said "end" */
	/* The last range read, printed once the next one cannot join it. */
	uint64_t start, sectors;
	/* Its line in the reply, as it is to be printed, or NULL. */
	const char *line;
	size_t line_len;
	uint64_t count;		/* ranges printed */
	bool started;		/* the JSON object's head printed */
};

static void changed_json_head(struct changed *c)
{
	if (!c->json || c->started)
		return;
	printf("{\"name\": ");
	json_string(c->name);
	printf(", \"sector_size\": 512, \"ranges\": [");
	c->started = true;
}

/* The decimal digits of @n, ending at @end: where they start. */
static char *changed_digits(uint64_t n, char *end)
{
	do {
		*--end = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	return end;
}

/*
 * Print the range held back.  By hand, not with printf(): for a million
 * ranges that cost as much as the kernel's walk of them.
 */
static void changed_print(struct changed *c)
{
	char line[64], *end = line + sizeof(line), *p = end;

	if (!c->sectors)
		return;
	c->count++;
	/* Most ranges: the kernel's line, which says it the same way. */
	if (c->line) {
		fwrite_unlocked(c->line, 1, c->line_len, stdout);
		return;
	}
	changed_json_head(c);
	if (c->json) {
		*--p = ']';
		p = changed_digits(c->sectors, p);
		*--p = ' ';
		*--p = ',';
		p = changed_digits(c->start, p);
		p -= 6;
		memcpy(p, "\n    [", 6);
		if (c->count > 1)
			*--p = ',';
	} else {
		*--p = '\n';
		p = changed_digits(c->sectors, p);
		*--p = ' ';
		p = changed_digits(c->start, p);
	}
	fwrite_unlocked(p, 1, (size_t)(end - p), stdout);
}

/*
 * A decimal number, digits only, up to @eol or a space; false if none,
 * or past 2^64 - 1.  By hand, as changed_print().
 */
static bool changed_number(const char *s, const char *eol, uint64_t *n,
			   const char **end)
{
	uint64_t v = 0;
	const char *p;

	for (p = s; p < eol && *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*n = v;
	*end = p;
	return p > s && (p == eol || *p == ' ');
}

/* A reply's line that is not what the target sends. */
static int changed_bad_reply(const struct changed *c, const char *line,
			     size_t len, const char *expected)
{
	fprintf(stderr, "bowctl: %s: the reply to 'changed %" PRIu64 "' has "
		"'%.*s': expected %s\n", c->name, c->from,
		(int)(len > 64 ? 64 : len), line, expected);
	return -EPROTO;
}

/*
 * One reply: lines "<start> <sectors>", ascending and apart, then "next
 * <sector>" (past what was asked) or "end".  Ranges that touch across
 * replies (a write between two of them filled the gap) are joined.
 */
static int changed_reply(const char *text, void *arg)
{
	struct changed *c = arg;
	const char *line = text, *eol, *end, *space;
	uint64_t start, sectors;

	c->next = 0;
	for (; *line; line = eol + 1) {
		eol = strchrnul(line, '\n');
		if (c->next || c->end)
			return changed_bad_reply(c, line, eol - line,
						 "nothing after its last line");
		if (!strncmp(line, "end", 3) && line + 3 == eol) {
			c->end = true;
		} else if (!strncmp(line, "next ", 5)) {
			if (!changed_number(line + 5, eol, &c->next, &end) ||
			    end != eol || c->next <= c->from)
				return changed_bad_reply(c, line, eol - line,
					"'next <sector>' past the sector asked");
		} else {
			if (!changed_number(line, eol, &start, &space) ||
			    space == eol ||
			    !changed_number(space + 1, eol, &sectors, &end) ||
			    end != eol || !sectors ||
			    start > UINT64_MAX - sectors ||
			    start < c->start + c->sectors)
				return changed_bad_reply(c, line, eol - line,
					"'<start> <sectors>' after the range before");
			if (c->sectors && start == c->start + c->sectors) {
				c->sectors += sectors;
				c->line = NULL;
			} else {
				changed_print(c);
				c->start = start;
				c->sectors = sectors;
				/* No leading zero: as changed_print() says it. */
				c->line = !c->json && *eol == '\n' &&
					  (*line != '0' || space == line + 1) &&
					  space[1] != '0' ? line : NULL;
				c->line_len = (size_t)(eol + 1 - line);
			}
		}
		if (!*eol)
			break;
	}
	/* The reply's text goes when this returns. */
	c->line = NULL;
	if (!c->next && !c->end)
		return changed_bad_reply(c, "", 0, "'next <sector>' or 'end' last");
	return 0;
}

/* Output in large writes: 10^6 ranges are 10 MB, 2,500 writes of 4 KiB. */
static char changed_out[1 << 20];

int cmd_changed(const char *name, bool json)
{
	struct changed c = { .name = name, .json = json };
	struct bow_dm_info di;
	char message[32];
	int r;

	if (!isatty(STDOUT_FILENO))
		setvbuf(stdout, changed_out, _IOFBF, sizeof(changed_out));

	if (bow_dm_info(name, &di)) {
		fprintf(stderr, "bowctl: %s: cannot read the device's status\n",
			name);
		return EXIT_SYSTEM;
	}
	if (di.mapping == BOW_MAP_NONE) {
		fprintf(stderr, "bowctl: %s: no such device-mapper device\n",
			name);
		return EXIT_USAGE;
	}
	if (di.mapping != BOW_MAP_BOW) {
		fprintf(stderr, "bowctl: %s: not a dm-bow device\n", name);
		return EXIT_REFUSED;
	}
	do {
		c.from = c.next;
		snprintf(message, sizeof(message), "changed %" PRIu64, c.from);
		r = bow_dm_message_reply(name, message, changed_reply, &c);
	} while (!r && !c.end);
	if (r == -EINVAL) {
		fprintf(stderr, "bowctl: %s: no checkpoint: the changed ranges "
			"are kept in state 1 only\n", name);
		return EXIT_REFUSED;
	}
	if (r) {
		if (r != -EPROTO)
			fprintf(stderr, "bowctl: %s: changed %" PRIu64 ": %s\n",
				name, c.from, strerror(-r));
		return EXIT_SYSTEM;
	}
	changed_print(&c);
	if (json) {
		changed_json_head(&c);
		printf("%s]}\n", c.count ? "\n  " : "");
	}
	return EXIT_DONE;
}
