// SPDX-License-Identifier: GPL-2.0
/*
 * bowctl: arming, committing and aborting: what people and update tools run
 * (start, commit, abort), for one device or its group.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bowctl.h"

/* ---- arming, committing, aborting: what people and update tools run */

/* bowctl start of a device updated in place (bowtab resume). */

/* Whether an abort was decided (bowctl abort, on_full=abort): no commit. */
bool abort_pending(const struct bow_state *st)
{
	return !strcmp(st->event, "abort") || !strcmp(st->event, "low-space");
}

/*
 * Why nothing can be restored any more, for abort and rollback with no
 * live checkpoint: the update's data was committed (or never had a
 * checkpoint).  Returns EXIT_NOT_RESTORABLE after saying so, or EXIT_DONE
 * when that is not the case.  An update tool must hear it: its own
 * rollback would put the old system on the new data.
 */
int not_restorable(struct dev *d, const struct bow_dm_info *di)
{
	if (d->st.lifecycle == BOW_LC_COMMITTED) {
		say(d, "nothing to restore: the update's data was committed "
		    "already (%s at %" PRId64 ": %s)\n", d->st.event,
		    d->st.time, d->st.reason);
		return EXIT_NOT_RESTORABLE;
	}
	/* Committed, and the state file not yet told (a power cut). */
	if (di->mapping == BOW_MAP_BOW && di->state == 2 &&
	    d->st.lifecycle != BOW_LC_ROLLED_BACK) {
		say(d, "nothing to restore: the update's data was committed "
		    "already (dm-bow is in state 2)\n");
		return EXIT_NOT_RESTORABLE;
	}
	if (d->st.lifecycle == BOW_LC_FAILED) {
		say(d, "nothing to restore: %s (%s at %" PRId64 ")\n",
		    d->st.reason, d->st.event, d->st.time);
		return EXIT_NOT_RESTORABLE;
	}
	return EXIT_DONE;
}

/* nftw(): whether a file under it is dm-bow's module. */
static int is_bow_module(const char *path, const struct stat *sb, int type,
			 struct FTW *ftw)
{
	const char *base = path + ftw->base;

	(void)sb;
	return type == FTW_F && (!strncmp(base, "dm-bow.ko", 9) ||
				 !strncmp(base, "dm_bow.ko", 9));
}

/*
 * The installed kernels (/boot/vmlinuz-<release>) with no dm-bow module
 * in /lib/modules/<release> (a file, or built in), listed in @list; the
 * system is under $BOW_MODULES_ROOT (for tests) or --root.  A boot into
 * one of them could not checkpoint.
 */
static void kernels_without_module(char *list, size_t len)
{
	const char *sys = getenv("BOW_MODULES_ROOT") ?
			  getenv("BOW_MODULES_ROOT") : root_dir;
	char path[PATH_MAX * 2], line[PATH_MAX];
	struct dirent *de;
	bool found;
	FILE *f;
	DIR *dir;

	list[0] = 0;
	snprintf(path, sizeof(path), "%s/boot", sys);
	dir = opendir(path);
	while (dir && (de = readdir(dir))) {
		const char *rel = de->d_name + 8;

		if (strncmp(de->d_name, "vmlinuz-", 8) || !*rel)
			continue;
		snprintf(path, sizeof(path), "%s/lib/modules/%s", sys, rel);
		found = nftw(path, is_bow_module, 16, FTW_PHYS) == 1;
		snprintf(path, sizeof(path), "%s/lib/modules/%s/"
			 "modules.builtin", sys, rel);
		f = fopen(path, "re");
		while (!found && f && fgets(line, sizeof(line), f))
			found = strstr(line, "/dm-bow.ko") ||
				strstr(line, "/dm_bow.ko");
		if (f)
			fclose(f);
		if (!found && strlen(list) + strlen(rel) + 2 < len)
			snprintf(list + strlen(list), len - strlen(list),
				 "%s%s", list[0] ? " " : "", rel);
	}
	if (dir)
		closedir(dir);
}

/* bowctl start --entry: the boot loader entry the update boots. */
const char *opt_entry;

int cmd_start(struct dev *d, unsigned int retries)
{
	char why[PATH_MAX * 2 + 80];
	struct bow_dm_info di;
	int r;

	if (state_dir_protected(d, why, sizeof(why))) {
		say(d, "refusing to arm: %s; a rollback would undo the state "
		    "that asks for it (bowtab line %u)\n", why, d->e.line);
		return EXIT_REFUSED;
	}
	/*
	 * An update tool must hear it now, while it can still install the
	 * module: at the boot it would run unprotected.
	 */
	kernels_without_module(why, sizeof(why));
	if (why[0]) {
		bool many = strchr(why, ' ');

		say(d, "refusing to arm: no dm-bow.ko for the installed "
		    "kernel%s %s: a boot into %s could not checkpoint (install "
		    "dm-bow-dkms and linux-headers for %s, or remove %s)\n",
		    many ? "s" : "", why, many ? "one of them" : "it",
		    many ? "each" : "it", many ? "them" : "it");
		return EXIT_REFUSED;
	}
	if (d->e.resume)
		return start_live(d, retries ? retries : d->e.retries);
	/*
	 * This boot's checkpoint is not decided yet: its commit (or its
	 * restore) must not take the next update's arming with it.
	 */
	if ((r = info(d, &di)))
		return r;
	if (di.mapping == BOW_MAP_BOW && di.state == 1) {
		say(d, "a checkpoint is live (%s): bowctl commit or abort it "
		    "before arming the next update\n", d->st.reason);
		return EXIT_REFUSED;
	}
	d->st.lifecycle = BOW_LC_ARMED;
	d->st.retries = retries ? retries : d->e.retries;
	d->st.attempts = d->st.retries;
	d->st.boot_id[0] = 0;
	/*
	 * Where the boot loader will come back to if the update fails
	 * (cmd_boot_setup()), and the update's own entry where the tool
	 * says (otherwise the first other entry an armed boot comes from).
	 */
	if (!bow_boot_entry(d->st.entry_from, sizeof(d->st.entry_from)))
		d->st.entry_from[0] = 0;
	snprintf(d->st.entry_to, sizeof(d->st.entry_to), "%s",
		 opt_entry ? opt_entry : "");
	bow_entry_normalize(d->st.entry_to);
	bow_state_event(&d->st, "start", "armed for %u boot attempt%s%s%s%s%s",
			d->st.attempts, d->st.attempts == 1 ? "" : "s",
			d->st.entry_from[0] ? " from boot entry " : "",
			d->st.entry_from, d->st.entry_to[0] ? " to " : "",
			d->st.entry_to);
	return save(d);
}

/*
 * ---- groups: the devices one update changes (bowtab group=), committed
 * and aborted together.  A commit records "committing" on every member
 * before dm-bow commits any: a member whose own commit then fails (or a
 * power cut) keeps that record over its live log, and its next boot
 * finishes the commit (cmd_boot_setup()), so that no group ends half
 * committed and half restored.
 */

struct group {
	struct dev *dev;	/* the members, locked, in bowtab order */
	unsigned int n;
	const char *group;	/* while reading bowtab */
	const char *self;	/* the member the command named */
	bool incomplete;	/* a member could not be added */
};

static void group_add(const struct bowtab_entry *e, void *arg)
{
	struct group *g = arg;
	struct dev *more;

	if (strcmp(e->group, g->group))
		return;
	more = realloc(g->dev, (g->n + 1) * sizeof(*g->dev));
	if (!more) {
		g->incomplete = true;
		return;
	}
	g->dev = more;
	memset(&g->dev[g->n], 0, sizeof(g->dev[g->n]));
	g->dev[g->n].e = *e;
	g->dev[g->n].lock_fd = -1;
	g->n++;
}

/*
 * bowtab_each() for a device's group, after bowtab_find() found it: the
 * bad lines were said then, not again.  Returns bowtab_each()'s result.
 */
int quiet_bowtab_each(void (*fn)(const struct bowtab_entry *e,
		      void *arg), void *arg)
{
	FILE *quiet = fopen("/dev/null", "we");
	int r;

	if (!quiet)
		return -1;
	r = bowtab_each(bowtab_path, quiet, fn, NULL, arg);
	fclose(quiet);
	return r;
}

static void group_close(struct group *g)
{
	for (unsigned int i = 0; i < g->n; i++)
		dev_close(&g->dev[i]);
	free(g->dev);
	g->dev = NULL;
	g->n = 0;
}

/*
 * Lock and read every member of @d's group, in bowtab order, so that two
 * group commands never wait for each other in a circle: @d's own lock is
 * let go first, and @d is read again as a member.  A member that cannot
 * be opened (its state unsafe or unmounted) stops the command: the
 * group is decided whole or not at all.  Returns an exit status.
 */
static int group_open(struct dev *d, struct group *g)
{
	char name[BOWTAB_NAME_MAX];
	int r;

	memset(g, 0, sizeof(*g));
	g->group = d->e.group;
	g->self = d->e.name;
	r = quiet_bowtab_each(group_add, g);
	if (r < 0 || g->incomplete || !g->n) {
		say(d, "cannot read the group %s from %s\n", d->e.group,
		    bowtab_path);
		group_close(g);
		return EXIT_SYSTEM;
	}
	dev_close(d);
	for (unsigned int i = 0; i < g->n; i++) {
		snprintf(name, sizeof(name), "%s", g->dev[i].e.name);
		r = dev_open(&g->dev[i], name, false);
		if (r) {
			say(&g->dev[i], "the group %s is left as it was\n",
			    g->dev[i].e.group);
			group_close(g);
			return r;
		}
	}
	return EXIT_DONE;
}

/* What a commit does to a device. */
enum commit_step {
	COMMIT_NOTHING,
	COMMIT_LIVE,		/* a live checkpoint: dm-bow commits it */
	COMMIT_RECORD,		/* dm-bow committed, the state not told yet */
	COMMIT_DISARM,		/* an arming no boot has taken: cancelled */
};

/*
 * What committing @d (@di) means, in @step; with @disarm (bowctl commit:
 * an update tool that changed its mind before any boot) an arming is
 * cancelled.  Or a refusal, said: an abort is decided, or the checkpoint
 * was rolled back.
 */
static int commit_step(struct dev *d, const struct bow_dm_info *di,
		       bool disarm, enum commit_step *step)
{
	bool bow = di->mapping == BOW_MAP_BOW;

	*step = COMMIT_NOTHING;
	if (bow && di->state == 2 && d->st.lifecycle == BOW_LC_COMMITTED)
		return EXIT_DONE;	/* committed already: keep its reason */
	/* Decided: the next boot restores (an abort, on_full=abort). */
	if (bow && di->state == 1 && abort_pending(&d->st)) {
		say(d, "not committing: an abort is pending (%s); the next "
		    "boot restores the checkpoint\n", d->st.reason);
		return EXIT_REFUSED;
	}
	/* dm-bow's state 2 after a rollback is no commit. */
	if (d->st.lifecycle == BOW_LC_ROLLED_BACK) {
		say(d, "nothing to commit: the checkpoint was rolled back "
		    "(%s)\n", d->st.reason);
		return EXIT_REFUSED;
	}
	if (bow && di->state == 1)
		*step = COMMIT_LIVE;
	else if (bow && di->state == 2)
		*step = COMMIT_RECORD;
	else if (d->st.lifecycle == BOW_LC_ARMED && disarm)
		*step = COMMIT_DISARM;
	return EXIT_DONE;
}

/* Do @step to @d, its "committing" recorded already for a live one. */
static int commit_apply(struct dev *d, enum commit_step step,
			const char *event, const char *why)
{
	if (step == COMMIT_LIVE && bow_dm_message(d->e.name, "commit")) {
		say(d, "dm-bow refused the commit; \"committing\" stays "
		    "recorded over the live checkpoint, and its next boot "
		    "finishes the commit\n");
		return EXIT_SYSTEM;
	}
	if (step == COMMIT_LIVE || step == COMMIT_RECORD) {
		d->st.attempts = 0;
		d->st.lifecycle = BOW_LC_COMMITTED;
		bow_state_event(&d->st, event, "%s", why);
	} else if (step == COMMIT_DISARM) {
		d->st.attempts = 0;
		d->st.lifecycle = BOW_LC_IDLE;
		bow_state_event(&d->st, event, "%s; no checkpoint was live: "
				"disarmed", why);
	} else {
		return EXIT_DONE;
	}
	return save(d);
}

/*
 * Commit @d's group (for @why; @disarm as commit_step()).  With @only
 * (the boot's commit), a member is committed only if @only says so:
 * another's checkpoint, or an arming, is not this boot's to decide.
 */
int group_commit(struct dev *d, const char *event, const char *why,
		 bool disarm, bool (*only)(struct dev *m))
{
	char because[sizeof(d->st.reason)];
	enum commit_step *step;
	struct bow_state *prev;
	struct group g;
	int r, ret = EXIT_DONE;

	if ((r = group_open(d, &g)))
		return r;
	step = calloc(g.n, sizeof(*step));
	prev = calloc(g.n, sizeof(*prev));
	if (!step || !prev) {
		say(d, "out of memory\n");
		ret = EXIT_SYSTEM;
		goto out;
	}
	for (unsigned int i = 0; i < g.n && !ret; i++) {
		struct dev *m = &g.dev[i];
		struct bow_dm_info di;

		prev[i] = m->st;
		if (only && !only(m))
			continue;
		if (!(r = info(m, &di)))
			r = commit_step(m, &di, disarm, &step[i]);
		if (r && strcmp(m->e.name, g.self))
			say(m, "so the group %s is not committed\n",
			    m->e.group);
		ret = r;
	}
	/* Every member's decision on record before any device changes. */
	for (unsigned int i = 0; i < g.n && !ret; i++) {
		if (step[i] != COMMIT_LIVE)
			continue;
		bow_state_event(&g.dev[i].st, "committing", "%s", why);
		if (save(&g.dev[i])) {
			say(&g.dev[i], "not committing the group %s: the "
			    "state file cannot record the commit\n",
			    g.dev[i].e.group);
			ret = EXIT_SYSTEM;
			for (unsigned int j = 0; j <= i; j++) {
				g.dev[j].st = prev[j];
				if (step[j] == COMMIT_LIVE && j < i)
					save(&g.dev[j]);
			}
		}
	}
	if (!ret) {
		for (unsigned int i = 0; i < g.n; i++) {
			struct dev *m = &g.dev[i];

			if (strcmp(m->e.name, g.self))
				snprintf(because, sizeof(because), "%s (with "
					 "its group %s)", why, m->e.group);
			else
				snprintf(because, sizeof(because), "%s", why);
			r = commit_apply(m, step[i], event, because);
			if (r && !ret)
				ret = r;
		}
	}
out:
	free(step);
	free(prev);
	group_close(&g);
	return ret;
}

/*
 * Decide @d's group to be restored at the next boot (@event, @why: bowctl
 * abort, on_full=abort): every live checkpoint marked, every arming no
 * boot has taken cancelled.  A member that cannot be restored (committed
 * already, its checkpoint failed) is said, and makes the status 5; if
 * nothing could be, nothing is written.
 */
int group_abort(struct dev *d, const char *event, const char *why)
{
	struct group g;
	bool acted = false;
	int r, ret = EXIT_DONE;

	if ((r = group_open(d, &g)))
		return r;
	for (unsigned int i = 0; i < g.n; i++) {
		struct dev *m = &g.dev[i];
		struct bow_dm_info di;

		if ((r = info(m, &di))) {
			ret = r;
			continue;
		}
		if (di.mapping == BOW_MAP_BOW && di.state == 1) {
			m->st.attempts = 0;
			m->st.lifecycle = BOW_LC_CHECKPOINT;
			bow_state_event(&m->st, event, "%s", why);
		} else if (m->st.lifecycle == BOW_LC_ARMED) {
			/* No boot has tried the update: it never began. */
			m->st.attempts = 0;
			m->st.lifecycle = BOW_LC_IDLE;
			bow_state_event(&m->st, event, "%s: no checkpoint was "
					"live; disarmed", why);
		} else {
			if ((r = not_restorable(m, &di)) && !ret)
				ret = r;
			else if (!r && !strcmp(m->e.name, g.self))
				say(m, "nothing to abort: %s\n",
				    bow_lifecycle_name(m->st.lifecycle));
			continue;
		}
		acted = true;
		if ((r = save(m)))
			ret = r;
	}
	if (acted && ret == EXIT_NOT_RESTORABLE)
		say(d, "the group %s is partly committed: what could be is "
		    "restored at the next boot\n", d->e.group);
	group_close(&g);
	return ret;
}

int cmd_abort(struct dev *d, bool reboot)
{
	int r = group_abort(d, "abort", "bowctl abort");

	return !r && reboot ? reboot_now(d) : r;
}
