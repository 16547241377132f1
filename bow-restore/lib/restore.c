// SPDX-License-Identifier: GPL-2.0
/*
 * bow-restore library, bow_restore(): validate, then replay (or finish a
 * commit, or roll forward), with SIGBUS from the mapping turned into a
 * read error.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* bow_restore() on its context: the whole restore, but for cleaning up. */
static int restore(struct ctx *c, struct bow_restore_summary *summary)
{
	int r;

	r = br_validate(c, summary);
	if (c->opts->roll_forward && r != BOW_NO_LOG && r != BOW_IO_ERROR &&
	    c->newest_sector0) {
		return br_roll_forward(c, r);
	}
	if (r)
		return r;
	if (c->vold_partial)
		fprintf(c->out, "%s: block 0 holds a restore that Android's "
			"vold began and did not finish (magic 0x%08x): %s it\n",
			c->path, BOW_VOLD_PARTIAL_MAGIC, c->opts->dry_run ?
			"would finish" : "finishing");
	if (c->committing) {
		fprintf(c->out, "%s: a commit was interrupted: the file "
			"system's block 0 is at sector %" PRIu64 "; %s the "
			"commit (the device is not rolled back)\n", c->path,
			c->newest_sector0, c->opts->dry_run ? "would finish" :
			"finishing");
		if (!c->opts->dry_run)
			r = br_before_write(c, BOW_COMMITTED);
		if (!c->opts->dry_run && !r)
			r = br_finish_commit(c);
		if (!r)
			r = BOW_COMMITTED;
		return r;
	}
	fprintf(c->out, "%s: checkpoint found: %" PRIu64 " log block%s, %"
		PRIu64 " entries, %" PRIu64 " bytes to restore, block size %"
		PRIu32 "\n", c->path, summary->log_blocks,
		summary->log_blocks == 1 ? "" : "s", summary->entries,
		summary->bytes, summary->block_size);
	if (summary->unchecked)
		fprintf(c->out, "%s: %" PRIu64 " one-block entr%s with "
			"checksum 0, replayed unchecked as Android's readers "
			"do (Android's dm-bow logs moves of the live block 0 "
			"so)\n", c->path, summary->unchecked,
			summary->unchecked == 1 ? "y" : "ies");
	if (c->opts->dry_run) {
		fprintf(c->out, "%s: dry run: nothing written\n", c->path);
		return r;
	}
	/* Progress: the entries, and block 0 (put back twice). */
	c->to_write = summary->bytes + 2ull * c->block_size;
	r = br_before_write(c, BOW_RESTORED);
	if (r)
		return r;
	r = br_replay(c);
	if (!r) {
		/* The estimate counted the copies of log blocks: done. */
		br_progress(c, 2, c->to_write, c->to_write);
		fprintf(c->out, "%s: restored to the checkpoint\n", c->path);
	}
	/*
	 * A read that failed or a backup that changed after it was checked
	 * (the media failing, or a writer despite --force) can stop the
	 * replay after it has written: then, as for a failed write, the
	 * device is partly restored and a rerun starts again from the top.
	 */
	if (r && r != BOW_PARTIAL && c->writes) {
		br_say(c, "%s: stopped after %" PRIu64 " writes: the device is "
		       "partly restored, run bow-restore again\n", c->path,
		       c->writes);
		r = BOW_PARTIAL;
	}
	return r;
}


/*
 * A page of the mapping that cannot be read back when touched (evicted,
 * then a read error; or the file truncated under it) raises SIGBUS.  While
 * bow_restore() runs, the handler turns one inside the mapping into a
 * jump back to it, which reports a read error; any other SIGBUS is
 * raised again with the handler that was there before.  One restore at a
 * time per process: the state is global.
 */
static sigjmp_buf *sigbus_jump;
static const unsigned char *sigbus_lo, *sigbus_hi;
static struct sigaction sigbus_old;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	const unsigned char *at = si->si_addr;

	(void)uc;
	if (sigbus_jump && at >= sigbus_lo && at < sigbus_hi)
		siglongjmp(*sigbus_jump, 1);
	sigaction(sig, &sigbus_old, NULL);
	raise(sig);
}

int bow_restore(int fd, uint64_t size, const char *path,
		const struct bow_restore_opts *opts,
		struct bow_restore_summary *summary, FILE *out, FILE *err)
{
	struct sigaction sa = {
		.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO,
	};
	sigjmp_buf jump;
	/* On the heap: it must keep its values across the jump. */
	struct ctx *c = calloc(1, sizeof(*c));
	int r;

	memset(summary, 0, sizeof(*summary));
	if (!c) {
		fprintf(err, "%s%s: out of memory\n",
			opts->prefix ? opts->prefix : "", path);
		return BOW_IO_ERROR;
	}
	*c = (struct ctx){
		.fd = fd, .size = size, .path = path, .opts = opts,
		.out = out, .err = err, .next_off = UINT64_MAX,
	};
	extmap_init(&c->map);
	extmap_init(&c->read);
	c->chunk = malloc(CHUNK_BYTES);
	if (!c->chunk) {
		r = br_no_memory(c);
		goto out;
	}
	br_map_device(c);
	if (c->mapping) {
		sigemptyset(&sa.sa_mask);
		sigaction(SIGBUS, &sa, &sigbus_old);
		sigbus_lo = c->mapping;
		sigbus_hi = c->mapping + c->size;
		sigbus_jump = &jump;
		if (sigsetjmp(jump, 1)) {
			br_say(c, "%s: a page of the device could not be "
			       "read back through its mapping (SIGBUS: a read "
			       "error, or the file was truncated)%s\n",
			       c->path, c->writes ? "; the device is partly "
			       "restored, run bow-restore again" : "");
			r = c->writes ? BOW_PARTIAL : BOW_IO_ERROR;
			goto out;
		}
	}
	r = restore(c, summary);
out:
	if (sigbus_jump) {
		sigbus_jump = NULL;
		sigaction(SIGBUS, &sigbus_old, NULL);
	}
	summary->writes = c->writes;
	summary->reads = c->reads;
	summary->vold_partial = c->vold_partial;
	summary->mapped = c->mapping;
	extmap_free(&c->map);
	extmap_free(&c->read);
	free(c->entries);
	free(c->logs);
	free(c->block);
	free(c->chunk);
	free(c->window_buf);
	br_unmap_device(c);
	free(c);
	return r;
}
