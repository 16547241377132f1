// SPDX-License-Identifier: GPL-2.0
/*
 * bowctl: in-place updates, checkpointed while the system runs (start on a
 * resume device), and rolling back now without a reboot (rollback).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "bowctl.h"

/* ---- in-place updates: the checkpoint taken while running */

/* Run a command (@argv, by PATH); true if it exited 0. */
static bool run_command(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (!pid) {
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid > 0 && waitpid(pid, &status, 0) == pid &&
	       WIFEXITED(status) && !WEXITSTATUS(status);
}

/* Start the low-space watcher of a checkpoint taken while running. */
static void start_watcher(struct dev *d)
{
	char unit[BOWTAB_NAME_MAX + 32];

	snprintf(unit, sizeof(unit), "bow-watch@%s.service", d->e.name);
	if (!run_command((char *[]){ "systemctl", "start", "--no-block",
				     unit, NULL }))
		say(d, "cannot start %s: nothing watches free space (start "
		    "it by hand)\n", unit);
}

/*
 * A device updated in place (bowtab resume): the checkpoint is taken now,
 * under its mounted file system, before the update writes, and the boots
 * that follow resume it.  The pass-through it runs on is replaced with
 * dm-bow, trimmed and checkpointed; the state says so first, so that a
 * power cut on the way leaves a state the next boot reads right
 * (cmd_boot_setup(): armed without a log, or with one).
 */
int start_live(struct dev *d, unsigned int retries)
{
	char lower[PATH_MAX], params[PATH_MAX + 100], boot[40];
	char why[PATH_MAX + 100];
	struct bow_dm_info di;
	const char *target;
	uint64_t size, sectors;
	int fd, r;

	if ((r = info(d, &di)))
		return r;
	if (di.mapping == BOW_MAP_BOW && di.state == 1) {
		say(d, "a checkpoint is live already: bowctl commit or abort "
		    "it first\n");
		return EXIT_REFUSED;
	}
	if (di.mapping == BOW_MAP_NONE || di.mapping == BOW_MAP_OTHER) {
		say(d, "/dev/mapper/%s is not set up by bowctl: the "
		    "checkpoint of an in-place update (resume) is taken "
		    "under its mounted file system\n", d->e.name);
		return EXIT_REFUSED;
	}
	if ((r = find_lower(d, lower)))
		return r;
	/* Held by the mapping: not exclusively, just for its size. */
	fd = open(lower, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size)) {
		say(d, "%s: cannot get the size: %s\n", lower,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_SYSTEM;
	}
	close(fd);
	d->st.lifecycle = BOW_LC_ARMED;
	d->st.retries = retries;
	d->st.attempts = retries;
	/* This boot writes the update: it is not an attempt of it. */
	read_boot_id(boot, sizeof(boot));
	snprintf(d->st.boot_id, sizeof(d->st.boot_id), "%s", boot);
	bow_state_event(&d->st, "start", "checkpointing now, for %u boot "
			"attempt%s", retries, retries == 1 ? "" : "s");
	if ((r = save(d)))
		return r;
	if (di.mapping != BOW_MAP_BOW || di.state != 0) {
		target = table(d, lower, size, MAP_BOW, &sectors, params,
			       sizeof(params));
		if (bow_dm_reload(d->e.name, sectors, target, params)) {
			say(d, "cannot replace the table of /dev/mapper/%s "
			    "with %s %s\n", d->e.name, target, params);
			return EXIT_SYSTEM;
		}
		if ((r = info(d, &di)))
			return r;
	}
	if ((r = checkpoint_mounted(d, &di, true, why, sizeof(why)))) {
		say(d, "no checkpoint: %s\n", why);
		return r;
	}
	if ((r = info(d, &di)))
		return r;
	d->st.lifecycle = BOW_LC_CHECKPOINT;
	bow_state_event(&d->st, "checkpoint", "taken while running, for %u "
			"boot attempt%s; %" PRIu64 " bytes free", retries,
			retries == 1 ? "" : "s", di.free_bytes);
	printf("%scheckpoint live, %" PRIu64 " bytes free\n", d->prefix,
	       di.free_bytes);
	if ((r = save(d)))
		return r;
	start_watcher(d);
	return EXIT_DONE;
}

/* ---- rolling back now, without a reboot */

/* The other members of a group with a live checkpoint, for rollback. */
struct live_others {
	const struct bowtab_entry *self;
	char names[200];
};

static void live_other(const struct bowtab_entry *e, void *arg)
{
	struct live_others *lo = arg;
	struct bow_dm_info di;
	size_t n = strlen(lo->names);

	if (!strcmp(e->group, lo->self->group) &&
	    strcmp(e->name, lo->self->name) && !bow_dm_info(e->name, &di) &&
	    di.mapping == BOW_MAP_BOW && di.state == 1)
		snprintf(lo->names + n, sizeof(lo->names) - n, "%s%s",
			 n ? ", " : "", e->name);
}

/*
 * bowctl rollback: roll a live checkpoint back at once, in the kernel
 * (dm-bow's message rollback), unmounting its file system for it and
 * mounting it again (by fstab) after.  The state says "restoring" before
 * the device changes: a power cut in the rollback leaves a log that the
 * next boot restores and never resumes (cmd_boot_setup()).
 */
int cmd_rollback(struct dev *d)
{
	struct live_others others = { .self = &d->e };
	struct bow_state prev = d->st;
	struct bow_dm_info di;
	char mp[PATH_MAX];
	bool mounted;
	int r, err;

	if ((r = info(d, &di)))
		return r;
	if (di.mapping != BOW_MAP_BOW || di.state != 1) {
		if ((r = not_restorable(d, &di)))
			return r;
		say(d, "no live checkpoint to roll back\n");
		return EXIT_REFUSED;
	}
	/* One device of an update rolled back alone would split it. */
	if (quiet_bowtab_each(live_other, &others) < 0 || others.names[0]) {
		say(d, "the group %s has other live checkpoints (%s): they "
		    "are restored together at a reboot (bowctl abort "
		    "--reboot)\n", d->e.group, others.names[0] ?
		    others.names : "bowtab cannot be read");
		return EXIT_REFUSED;
	}
	mounted = mount_point(di.major, di.minor, mp, sizeof(mp));
	if (mounted && umount2(mp, 0)) {
		say(d, "cannot unmount %s: %s; stop what uses it, or restore "
		    "the checkpoint at a reboot (bowctl abort --reboot)\n",
		    mp, strerror(errno));
		return EXIT_REFUSED;
	}
	d->st.attempts = 0;
	bow_state_event(&d->st, "restoring", "rolling back in the kernel "
			"(bowctl rollback)");
	r = save(d);
	err = r ? 0 : bow_dm_message(d->e.name, "rollback");
	if (!r && !err) {
		d->st.lifecycle = BOW_LC_ROLLED_BACK;
		bow_state_event(&d->st, "rolled-back", "bowctl rollback: "
				"rolled back in the kernel");
		r = save(d);
		printf("%srolled back\n", d->prefix);
	} else if (err && (info(d, &di) || di.state != 1 || di.failed)) {
		/* Begun: the device fails all I/O, nothing to mount. */
		say(d, "the rollback stopped half way (%s): /dev/mapper/%s "
		    "fails all I/O until bowctl rollback runs again, or a "
		    "reboot restores it\n", strerror(-err), d->e.name);
		return EXIT_SYSTEM;
	} else if (err) {
		/* Nothing written: the checkpoint goes on as it was. */
		say(d, "dm-bow refused the rollback: %s (the kernel log says "
		    "why)\n", strerror(-err));
		d->st = prev;
		r = save(d);
		if (!r)
			r = err == -EBUSY ? EXIT_REFUSED : EXIT_SYSTEM;
	}
	if (mounted && !run_command((char *[]){ "mount", mp, NULL })) {
		say(d, "cannot mount %s again (mount %s): mount it by hand\n",
		    mp, mp);
		if (!r)
			r = EXIT_SYSTEM;
	}
	return r;
}
