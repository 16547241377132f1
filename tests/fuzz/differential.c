// SPDX-License-Identifier: GPL-2.0
/*
 * The module and bow-restore walk a log with the same code
 * (dm-bow-rules.c) but through their own reads and extent maps: on every
 * input the fuzzers check that they agree.  bow-restore's exit status
 * says which rule it found broken only in kind, so the verdicts are
 * compared by kind:
 *
 *   bow-restore              the module's walk (as a rollback)
 *   0 restored          <=>  accepted, and its entries, replayed one
 *                            after the other, give the same bytes
 *   1 no log            <=>  BOW_RULE_MAGIC in block 0
 *   5 bad checksum      <=>  BOW_RULE_CHECKSUM
 *   8 commit finished   =>   BOW_RULE_COUNT_ZERO (the module leaves
 *                            commits to bow-restore)
 *   4, 6 invalid        =>   any other rule
 *
 * And what a resume accepts, a rollback accepts alike.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bow-restore/lib/restore.h"
#include "../../dm-bow-rules.h"
#include "kernel-walk.h"

#define DISAGREE(...) do {						\
		fprintf(stderr, "kernel walk and bow-restore disagree: "	\
			__VA_ARGS__);					\
		abort();						\
	} while (0)

static void same_replay(const unsigned char *img, size_t len, uint32_t bs,
			const struct kernel_walk *w,
			const unsigned char *restored)
{
	unsigned char *plain = malloc(len);

	if (!plain)
		abort();
	memcpy(plain, img, len);
	/* Newest first, as the chain is replayed; no rule lets them wrap. */
	for (uint64_t i = 0; i < w->nr_entries; i++)
		memmove(plain + w->entries[i][0] * bs,
			plain + w->entries[i][1] * bs,
			w->entries[i][2] * bs);
	if (memcmp(plain, restored, len))
		DISAGREE("restored bytes differ from the module's %llu entries "
			 "replayed\n", (unsigned long long)w->nr_entries);
	free(plain);
}

void kernel_walk_check(const unsigned char *img, size_t len, uint32_t bs,
		       int status, const unsigned char *restored)
{
	struct kernel_walk rollback, resume;

	/*
	 * The module's block size is its table's: the walk takes the one
	 * bow-restore read from block 0 (none: no valid one there).
	 */
	if (!bs || len < bs || status == BOW_IO_ERROR ||
	    status == BOW_PARTIAL)
		return;
	kernel_walk(img, len, bs, true, &rollback);
	kernel_walk(img, len, bs, false, &resume);
	switch (status) {
	case BOW_RESTORED:
		if (rollback.rule)
			DISAGREE("restored, the module breaks rule %d\n",
				 rollback.rule);
		if (restored)
			same_replay(img, len, bs, &rollback, restored);
		break;
	case BOW_NO_LOG:
		if (rollback.rule != BOW_RULE_MAGIC || !rollback.first)
			DISAGREE("no log, the module says rule %d\n",
				 rollback.rule);
		break;
	case BOW_BAD_CHECKSUM:
		if (rollback.rule != BOW_RULE_CHECKSUM)
			DISAGREE("bad checksum, the module says rule %d\n",
				 rollback.rule);
		break;
	case BOW_COMMITTED:
		if (rollback.rule != BOW_RULE_COUNT_ZERO)
			DISAGREE("commit finished, the module says rule %d\n",
				 rollback.rule);
		break;
	default:
		if (!rollback.rule || rollback.rule == BOW_RULE_CHECKSUM ||
		    (rollback.rule == BOW_RULE_MAGIC && rollback.first))
			DISAGREE("status %d, the module says rule %d\n", status,
				 rollback.rule);
	}
	if (!resume.rule &&
	    (rollback.rule || resume.nr_entries != rollback.nr_entries ||
	     (resume.nr_entries &&
	      memcmp(resume.entries, rollback.entries,
		     resume.nr_entries * sizeof(*resume.entries)))))
		DISAGREE("a resume accepts what a rollback does not\n");
	kernel_walk_free(&rollback);
	kernel_walk_free(&resume);
}
