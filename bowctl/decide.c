// SPDX-License-Identifier: GPL-2.0
/*
 * bowctl: boot-setup's decision (decide.h).  No file is read or written
 * here: boot.c gathers the facts and carries the decision out.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "decide.h"

/* The reason of a restore, as the state file records it. */
static const char *restore_reason(const struct boot_facts *f, bool left,
				  bool fell_back, const char *back)
{
	if (f->not_resumed[0])
		return f->not_resumed;
	if (!strcmp(f->prev.event, "abort") ||
	    !strcmp(f->prev.event, "low-space"))
		return f->prev.reason;
	if (fell_back)
		return back;
	if (f->prev.lifecycle == BOW_LC_ARMED && f->resume)
		return "bowctl start did not finish";
	return left ? "the boot did not commit; trying again" :
		      "the boot did not commit and no attempt is left";
}

/* What the log's fate makes of the state: restored, committed, lost. */
static void decide_log(const struct boot_facts *f, struct bow_state *st,
		       struct boot_decision *out, bool trying, bool fell_back)
{
	const char *did = out->did;

	if (f->state_read == BOW_STATE_DAMAGED) {
		/* Nobody can account for a checkpoint: do not take one. */
		out->notes |= BOOT_NOTE_DAMAGED;
		if (did)
			snprintf(st->reason + strlen(st->reason),
				 sizeof(st->reason) - strlen(st->reason),
				 "; %s the checkpoint", did);
	} else if (did && !strcmp(did, "rolled-forward")) {
		st->lifecycle = BOW_LC_FAILED;
		st->attempts = 0;
		bow_state_event(st, did, "the log on %s did not validate: "
				"kept the data written since the checkpoint "
				"(on_invalid=roll-forward)", f->lower);
	} else if (did && !strcmp(did, "restored")) {
		/* Only bowctl start checkpoints a device updated in place. */
		bool left = bow_state_armed(st) && (st->attempts || trying) &&
			    !f->resume && !fell_back;
		char back[BOW_ENTRY_MAX * 2 + 80];

		snprintf(back, sizeof(back), "the boot loader went back to "
			 "entry %s (%s did not become good)", f->entry,
			 st->entry_to);
		st->lifecycle = left ? BOW_LC_ARMED : BOW_LC_ROLLED_BACK;
		st->attempts = left ? st->attempts : 0;
		bow_state_event(st, did, "restored the checkpoint: %s%s",
				f->not_resumed[0] ? "could not resume it: " : "",
				restore_reason(f, left, fell_back, back));
	} else if (did || f->finish_commit) {
		/*
		 * No log: a commit finished now, or before a power cut let
		 * the state file say so.
		 */
		st->lifecycle = BOW_LC_COMMITTED;
		st->attempts = 0;
		bow_state_event(st, "commit", "the checkpoint was committed "
				"(%s)", did ? "finished at this boot" :
				"before a restart, not yet recorded");
	} else if (f->prev.lifecycle == BOW_LC_CHECKPOINT) {
		/*
		 * No log, and no commit recorded before it (group_commit()): a
		 * restore whose records could not be written, or a log
		 * removed by hand.  Never read as a commit.
		 */
		st->lifecycle = BOW_LC_FAILED;
		st->attempts = 0;
		bow_state_event(st, "log-gone", "the checkpoint's log is gone "
				"and no commit was recorded (a restore the "
				"state file could not record?): whether the "
				"data is the checkpoint's or the update's is "
				"not known");
		out->notes |= BOOT_NOTE_LOG_GONE;
	}
}

/* Whether this boot is an attempt, once the log is dealt with. */
static void decide_attempt(const struct boot_facts *f, struct bow_state *st,
			   struct boot_decision *out, bool trying,
			   bool fell_back)
{
	bool past = false;

	if (!bow_state_armed(st))
		return;
	if (f->resume) {
		/* Armed, no log: bowctl start stopped before its checkpoint. */
		st->lifecycle = BOW_LC_IDLE;
		st->attempts = 0;
		bow_state_event(st, "disarmed", "bowctl start did not finish: "
				"no checkpoint was taken");
	} else if (fell_back) {
		/* Back before a checkpoint of the update's boots was live. */
		st->lifecycle = BOW_LC_IDLE;
		st->attempts = 0;
		bow_state_event(st, "fell-back", "the boot loader went back to "
				"entry %s before %s took a checkpoint: nothing "
				"to restore; disarmed", f->entry, st->entry_to);
	} else if (st->attempts || trying) {
		if (f->unprotected) {
			out->notes |= BOOT_NOTE_UNPROTECTED;
			return;
		}
		out->checkpoint = true;
		/* Count each boot once, however often this runs. */
		if (strcmp(st->boot_id, f->boot_id)) {
			if (st->attempts)
				st->attempts--;
			else
				past = true;
			snprintf(st->boot_id, sizeof(st->boot_id), "%s",
				 f->boot_id);
		}
		st->lifecycle = BOW_LC_ARMED;
		if (past)
			snprintf(out->attempt, sizeof(out->attempt), "boot "
				 "attempt past the %u retries (the boot loader "
				 "still counts the tries of entry %s, not "
				 "marked good)", st->retries, f->entry);
		else
			snprintf(out->attempt, sizeof(out->attempt), "boot "
				 "attempt %u of %u", st->retries - st->attempts,
				 st->retries);
		bow_state_event(st, "attempt", "%s", out->attempt);
	} else {
		/* Nothing was restored: the last attempt took no checkpoint. */
		st->lifecycle = BOW_LC_FAILED;
		bow_state_event(st, "no-checkpoint", "no boot attempt left, and "
				"the last one took no checkpoint (see its "
				"bow-checkpoint@%s): nothing was restored",
				f->name);
	}
}

bool boot_commit_pending(int state_read, const struct bow_state *st)
{
	return state_read == BOW_STATE_OK &&
	       st->lifecycle == BOW_LC_CHECKPOINT &&
	       !strcmp(st->event, "committing");
}

bool boot_resume_wanted(int state_read, const struct bow_state *st,
			bool resume)
{
	/*
	 * Never a log a restore began on: until its end the log in block 0
	 * still validates, over a device half rolled back.
	 */
	return resume && state_read == BOW_STATE_OK &&
	       st->lifecycle == BOW_LC_CHECKPOINT && st->attempts &&
	       !boot_commit_pending(state_read, st) &&
	       strcmp(st->event, "restoring") &&
	       strcmp(st->event, "rolling-forward");
}

void boot_decide(const struct boot_facts *f, struct bow_state *st,
		 struct boot_decision *out)
{
	bool trying, fell_back;

	memset(out, 0, sizeof(*out));
	out->did = f->did;
	/* A restore that ended before it was recorded (record_intent()). */
	if (!out->did && !strcmp(f->prev.event, "restoring"))
		out->did = "restored";
	else if (!out->did && !strcmp(f->prev.event, "rolling-forward"))
		out->did = "rolled-forward";
	/*
	 * Where the boot loader booted, against the update's entries: back
	 * on the entry armed from after the update's, it fell back, and the
	 * update is over; on the update's entry while the boot loader still
	 * counts its tries (not marked good), each try is protected, past
	 * retries too: the boot loader bounds them.
	 */
	if (f->where == BOW_ENTRY_UPDATE && !st->entry_to[0])
		snprintf(st->entry_to, sizeof(st->entry_to), "%s", f->entry);
	trying = f->where == BOW_ENTRY_UPDATE && f->counted;
	fell_back = f->where == BOW_ENTRY_FELL_BACK;
	decide_log(f, st, out, trying, fell_back);
	decide_attempt(f, st, out, trying, fell_back);
	out->save = f->state_read != BOW_STATE_MISSING ||
		    bow_state_armed(&f->prev) || out->did;
}
