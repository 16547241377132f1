// SPDX-License-Identifier: GPL-2.0
/*
 * bowctl: the boot steps: before the mount (boot-setup: restore, count an
 * attempt, map) and after it (boot-checkpoint, boot-watch, boot-commit).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bowctl.h"

/* ---- boot: before the mount */

/*
 * Before the first write to the lower device: say in the state file what
 * the writes do.  A power cut after the last of them and before the state
 * file records the outcome leaves no log; this tells the next boot that
 * the device was rolled back (or forward), not committed.  A state file
 * that cannot be written does not stop the restore: the message says so.
 */
static int record_intent(void *arg, enum bow_status what)
{
	struct dev *d = arg;
	struct bow_state keep = d->st;

	/* A damaged file stays as it is: the next boot says so again. */
	if (d->state_read == BOW_STATE_DAMAGED)
		return 0;
	if (what == BOW_RESTORED)
		bow_state_event(&d->st, "restoring", "restoring the "
				"checkpoint");
	else if (what == BOW_ROLLED_FORWARD)
		bow_state_event(&d->st, "rolling-forward", "rolling forward "
				"over the log");
	else
		return 0;	/* a commit: no log afterwards says it all */
	if (save(d))
		say(d, "going on without a record of the restore\n");
	d->st = keep;
	return 0;
}

/*
 * Restore a live log on @lower, as the bowtab line says; or, with
 * @commit (a commit was decided and recorded, and did not reach the
 * device), finish that commit: roll forward.  Sets @did.
 */
static int restore_lower(struct dev *d, const char *lower, uint64_t *size,
			 bool commit, const char **did)
{
	struct bow_restore_opts ro = {
		.prefix = d->prefix,
		/* "committing" says what a roll forward does already. */
		.before_write = commit ? NULL : record_intent,
		.before_write_arg = d,
		.roll_forward = commit,
	};
	struct bow_restore_summary sum;
	int fd, status, r = EXIT_DONE;

	*did = NULL;
	fd = bow_open_device(lower, &(struct bow_open_opts){
		.writing = true, .prefix = d->prefix, .err = stderr,
	}, size);
	if (fd < 0)
		return EXIT_SYSTEM;
	status = bow_restore(fd, *size, lower, &ro, &sum, stdout, stderr);
	switch (status) {
	case BOW_NO_LOG:
		break;
	case BOW_RESTORED:
		*did = "restored";
		break;
	case BOW_COMMITTED:
		*did = "commit-finished";
		break;
	case BOW_ROLLED_FORWARD:
		if (commit) {
			*did = "commit-finished";
			break;
		}
		r = EXIT_SYSTEM;
		break;
	case BOW_INVALID:
	case BOW_BAD_CHECKSUM:
	case BOW_TRUNCATED:
		if (d->e.on_invalid == BOWTAB_ON_INVALID_FAIL) {
			*did = "invalid-log";
			r = EXIT_REFUSED;
			break;
		}
		ro.roll_forward = true;
		status = bow_restore(fd, *size, lower, &ro, &sum, stdout,
				     stderr);
		if (status == BOW_ROLLED_FORWARD)
			*did = "rolled-forward";
		else
			r = EXIT_SYSTEM;
		break;
	default:	/* I/O error or a partial replay: the next run goes on */
		r = EXIT_SYSTEM;
		break;
	}
	if (close(fd) && r == EXIT_DONE && *did) {
		say(d, "%s: close failed: %s\n", lower, strerror(errno));
		r = EXIT_SYSTEM;
	}
	return r;
}

/*
 * The table of @d over @lower (@size bytes): its length in @sectors, its
 * target and parameters.
 */
const char *table(const struct dev *d, const char *lower,
		  uint64_t size, enum mapping_kind kind,
		  uint64_t *sectors, char *params, size_t len)
{
	/*
	 * 4 KiB by default, the block of the file systems it carries: 168
	 * log entries a block where 512 bytes hold 18.  The table ends at a
	 * whole block; a file system never uses a part.  A device updated in
	 * place has the same length under both targets, so that one can
	 * replace the other under its mounted file system.
	 */
	uint32_t bs = d->e.block_size ? d->e.block_size : 4096;

	if (kind != MAP_LINEAR || d->e.resume)
		size -= size % bs;
	*sectors = size >> 9;
	if (kind == MAP_LINEAR) {
		snprintf(params, len, "%s 0", lower);
		return "linear";
	}
	snprintf(params, len, "%s %d block_size:%" PRIu32 " low_water:%"
		 PRIu64 "%s", lower, kind == MAP_BOW_RESUME ? 3 : 2, bs,
		 d->e.low_water, kind == MAP_BOW_RESUME ? " resume" : "");
	return "bow";
}

static int create_mapping(struct dev *d, const char *lower, uint64_t size,
			  enum mapping_kind kind)
{
	char params[PATH_MAX + 100];
	const char *target;
	uint64_t sectors;

	target = table(d, lower, size, kind, &sectors, params, sizeof(params));
	if (bow_dm_create(d->e.name, sectors, target, params)) {
		say(d, "cannot create /dev/mapper/%s (%s %s)\n", d->e.name,
		    target, params);
		return EXIT_SYSTEM;
	}
	return EXIT_DONE;
}

/*
 * The lower device's path.  UUID= names the file system, which a live log
 * hides (it lies over block 0): then the path recorded at the last boot.
 */
int find_lower(struct dev *d, char lower[PATH_MAX])
{
	char path[PATH_MAX];

	bowtab_lower_path(&d->e, path, sizeof(path));
	if (realpath(path, lower))
		return EXIT_DONE;
	if (!strncmp(d->e.lower, "UUID=", 5) && d->st.lower[0] &&
	    realpath(d->st.lower, lower)) {
		say(d, "%s not found (a live log hides the file system); "
		    "using %s, where it was at the last boot\n", path,
		    d->st.lower);
		return EXIT_DONE;
	}
	say(d, "lower device %s: %s\n", path, strerror(errno));
	return EXIT_SYSTEM;
}

/*
 * A name of the device @dev that does not depend on probe order: its
 * /dev/disk/by-partuuid link if it has one, else @dev itself.
 */
static void stable_name(const char *dev, char *name, size_t len)
{
	const char *dir = "/dev/disk/by-partuuid";
	char link[PATH_MAX + 300], target[PATH_MAX];
	DIR *d = opendir(dir);
	struct dirent *de;

	snprintf(name, len, "%s", dev);
	while (d && (de = readdir(d))) {
		snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
		if (de->d_name[0] != '.' && strlen(link) < len &&
		    realpath(link, target) && !strcmp(target, dev)) {
			memcpy(name, link, strlen(link) + 1);
			break;
		}
	}
	if (d)
		closedir(d);
}

/*
 * Whether block 0 of @lower holds a dm-bow log, in @log; the device's
 * size in @size.  Read with the device's cache dropped.
 */
static int lower_has_log(struct dev *d, const char *lower, uint64_t *size,
			 bool *log)
{
	uint32_t magic;
	int fd;

	fd = bow_open_device(lower, &(struct bow_open_opts){
		.prefix = d->prefix, .err = stderr,
	}, size);
	if (fd < 0)
		return EXIT_SYSTEM;
	if (pread(fd, &magic, sizeof(magic), 0) != sizeof(magic)) {
		say(d, "%s: cannot read block 0: %s\n", lower,
		    strerror(errno));
		close(fd);
		return EXIT_SYSTEM;
	}
	close(fd);
	*log = le32toh(magic) == BOW_MAGIC;
	return EXIT_DONE;
}

/* ext2/3/4's superblock: where it is and the fields read here. */
#define EXT_SB_OFFSET		1024
#define EXT_SB_MAGIC		0x38	/* le16 0xef53 */
#define EXT_SB_STATE		0x3a	/* le16, bit 0: cleanly unmounted */
#define EXT_SB_INCOMPAT		0x60	/* le32, 0x4: the journal needs replay */

/*
 * Whether the file system on /dev/mapper/<name> was cleanly unmounted:
 * 1 yes, 0 no (@why says what it is), -1 it cannot be read.  A resumed
 * checkpoint has nowhere to put a backup until its file system is
 * mounted and trimmed; what mounting an unclean one writes first (a
 * journal replay, a check's repairs) could need one, and fail.  Only
 * ext2/3/4 are known here: of anything else bowctl cannot tell.
 */
static int fs_clean(struct dev *d, char *why, size_t len)
{
	unsigned char sb[EXT_SB_INCOMPAT + 4];
	char path[BOWTAB_NAME_MAX + 16];
	uint16_t magic, state;
	uint32_t incompat;
	int fd;

	snprintf(path, sizeof(path), "/dev/mapper/%s", d->e.name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, sb, sizeof(sb), EXT_SB_OFFSET) != sizeof(sb)) {
		say(d, "%s: cannot read the superblock: %s\n", path,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	memcpy(&magic, sb + EXT_SB_MAGIC, 2);
	memcpy(&state, sb + EXT_SB_STATE, 2);
	memcpy(&incompat, sb + EXT_SB_INCOMPAT, 4);
	if (le16toh(magic) != 0xef53)
		snprintf(why, len, "it holds no ext2/3/4 file system, the "
			 "only kind bowctl can tell was cleanly unmounted");
	else if (le32toh(incompat) & 0x4)
		snprintf(why, len, "its journal needs a replay (the boot "
			 "before did not unmount it)");
	else if (!(le16toh(state) & 1))
		snprintf(why, len, "it was not cleanly unmounted");
	else
		return 1;
	return 0;
}

/*
 * FITRIM the file system of a resumed device before anything can write
 * to it: mounted read-only (which writes nothing to a clean ext2/3/4) in
 * a directory of bowctl's own, trimmed, unmounted.  Until then nothing is
 * free, and the first write that needs a backup (the journal's, once the
 * file system is writable) would fail.  Returns 0, or -1 with @why.
 */
static int trim_unmounted(struct dev *d, char *why, size_t len)
{
	struct fstrim_range range = { .len = UINT64_MAX };
	char dev[BOWTAB_NAME_MAX + 16], dir[BOWTAB_NAME_MAX + 32];
	int fd, r = -1;

	snprintf(dev, sizeof(dev), "/dev/mapper/%s", d->e.name);
	snprintf(dir, sizeof(dir), LOCK_DIR "/%s.trim", d->e.name);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		snprintf(why, len, "cannot create %s to trim it: %s", dir,
			 strerror(errno));
		return -1;
	}
	if (mount(dev, dir, "ext4", MS_RDONLY | MS_NODEV | MS_NOEXEC |
		  MS_NOSUID, NULL)) {
		snprintf(why, len, "cannot mount it read-only to trim it: %s",
			 strerror(errno));
		rmdir(dir);
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && !ioctl(fd, FITRIM, &range))
		r = 0;
	else
		snprintf(why, len, "FITRIM failed: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
	if (umount2(dir, 0) && !r) {
		snprintf(why, len, "cannot unmount it after its trim: %s",
			 strerror(errno));
		r = -1;
	}
	rmdir(dir);
	return r;
}

/*
 * Why a dm-bow table did not load (@what: "take the table", "resume
 * it"), in @why: the kernel has no dm-bow target (its module is missing
 * for this kernel: an update brought a kernel DKMS did not build for), or
 * dm-bow refused it.  The two need different people.
 */
static void bow_table_failed(const char *what, char *why, size_t len)
{
	struct utsname u;

	if (bow_dm_has_target("bow")) {
		snprintf(why, len, "dm-bow refused to %s (the kernel log "
			 "says why)", what);
		return;
	}
	if (uname(&u))
		snprintf(u.release, sizeof(u.release), "?");
	snprintf(why, len, "this kernel (%s) has no dm-bow target: dm-bow.ko "
		 "is missing for it (dm-bow-dkms and linux-headers-%s "
		 "build it)", u.release, u.release);
}

/*
 * A device updated in place (bowtab resume), its checkpoint live and an
 * attempt left: count this boot's attempt and map dm-bow resuming the
 * log.  Returns EXIT_DONE with *@resumed set; or EXIT_DONE with
 * *@resumed clear and the lower device free, @why saying why not when
 * there was a log (the caller restores it) and empty when there was none
 * (a commit finished before a power cut); or an error status.
 */
static int resume_checkpoint(struct dev *d, const char *lower,
			     bool *resumed, char *why, size_t len)
{
	struct bow_dm_info di;
	char boot[40];
	uint64_t size;
	bool log;
	int r;

	*resumed = false;
	why[0] = 0;
	if ((r = lower_has_log(d, lower, &size, &log)) || !log)
		return r;
	/* Counted before the mapping: a boot that ends anywhere counts. */
	read_boot_id(boot, sizeof(boot));
	if (strcmp(d->st.boot_id, boot)) {
		d->st.attempts--;
		snprintf(d->st.boot_id, sizeof(d->st.boot_id), "%s", boot);
	}
	bow_state_event(&d->st, "attempt", "boot attempt %u of %u, the "
			"checkpoint resumed", d->st.retries - d->st.attempts,
			d->st.retries);
	/* An attempt that cannot be counted could be tried for ever. */
	if (save(d)) {
		snprintf(why, len, "the state file cannot count this boot's "
			 "attempt");
		return EXIT_DONE;
	}
	if (create_mapping(d, lower, size, MAP_BOW_RESUME)) {
		bow_table_failed("resume it", why, len);
		return EXIT_DONE;
	}
	if ((r = info(d, &di)))
		return r;
	if (di.mapping != BOW_MAP_BOW || di.state != 1) {
		snprintf(why, len, "dm-bow found no checkpoint to resume");
	} else {
		r = fs_clean(d, why, len);
		if (r > 0 && trim_unmounted(d, why, len))
			r = 0;
		if (r > 0) {
			*resumed = true;
			printf("%s%s: dm-bow resumed\n", d->prefix,
			       d->st.reason);
			return EXIT_DONE;
		}
		if (r < 0)
			snprintf(why, len, "its file system cannot be read");
	}
	if (bow_dm_remove(d->e.name)) {
		say(d, "cannot remove /dev/mapper/%s\n", d->e.name);
		return EXIT_SYSTEM;
	}
	return EXIT_DONE;
}

int cmd_boot_setup(struct dev *d)
{
	char lower[PATH_MAX], why[PATH_MAX * 2 + 80], boot[40];
	char not_resumed[400] = "", entry[BOW_ENTRY_MAX] = "";
	char unsafe[PATH_MAX * 2 + 80];
	enum bow_entry_verdict where = BOW_ENTRY_UNKNOWN;
	struct bow_state prev = d->st;
	struct boot_decision dec;
	struct bow_dm_info di;
	const char *did, *unprotected;
	bool checkpoint, finish_commit, counted = false;
	uint64_t size;
	int r;

	if ((r = info(d, &di)))
		return r;
	/*
	 * Another target under the name: not bowctl's to replace, and its
	 * file system would be mounted past dm-bow.  An armed boot on it
	 * runs unprotected, and must say so.
	 */
	if (di.mapping == BOW_MAP_OTHER) {
		if (bow_state_armed(&d->st))
			boot_warning(d, "/dev/mapper/%s exists and is no "
				     "mapping of bowctl's (neither dm-bow nor "
				     "a pass-through): not touching it; this "
				     "armed boot runs unprotected", d->e.name);
		else
			say(d, "/dev/mapper/%s exists and is no mapping of "
			    "bowctl's (neither dm-bow nor a pass-through): not "
			    "touching it\n", d->e.name);
		return EXIT_REFUSED;
	}
	if (di.mapping != BOW_MAP_NONE)
		return EXIT_DONE;	/* set up already, this boot */
	/* Marked for the initramfs, whose script did not set it up. */
	if (d->e.initramfs && !root_dir[0])
		say(d, "setting up after the root switch: the initramfs did "
		    "not (see its messages above; or its image is older than "
		    "the bowtab line: update-initramfs -u)\n");
	if ((r = find_lower(d, lower)))
		return r;
	/*
	 * A commit decided and recorded, which did not reach the device (a
	 * power cut, a group member whose own commit failed): finished, not
	 * restored (group_commit()).
	 */
	finish_commit = boot_commit_pending(d->state_read, &d->st);
	if (boot_resume_wanted(d->state_read, &d->st, d->e.resume)) {
		bool resumed;

		r = resume_checkpoint(d, lower, &resumed, not_resumed,
				      sizeof(not_resumed));
		if (r || resumed)
			return r;
		if (not_resumed[0])
			say(d, "not resuming the checkpoint: %s; restoring "
			    "it\n", not_resumed);
	}
	/*
	 * Past here a checkpoint of a device updated in place has no boot
	 * left: its restore's record (record_intent()) says so too.
	 */
	if (d->e.resume)
		d->st.attempts = 0;
	r = restore_lower(d, lower, &size, finish_commit, &did);
	if (r == EXIT_REFUSED) {
		d->st.lifecycle = BOW_LC_FAILED;
		d->st.attempts = 0;
		bow_state_event(&d->st, did, "the log on %s does not validate; "
				"left untouched for inspection "
				"(on_invalid=fail): bow-restore -n %s says "
				"why", lower, lower);
		say(d, "%s\n", d->st.reason);
		save(d);
		return r;
	}
	if (r)
		return r;
#ifdef BOWCTL_TESTING
	if (did && test_cut_after_restore)
		_exit(99);
#endif
	/*
	 * Where the boot loader booted: asked only where an update of its
	 * entries is armed (boot_decide() says what it means).
	 */
	if (bow_state_armed(&prev) && !d->e.resume &&
	    d->state_read == BOW_STATE_OK &&
	    bow_boot_entry(entry, sizeof(entry))) {
		where = bow_entry_verdict(d->st.entry_from, d->st.entry_to,
					  entry);
		counted = where == BOW_ENTRY_UPDATE && bow_boot_counted();
	}
	read_boot_id(boot, sizeof(boot));
	unprotected = state_dir_protected(d, unsafe, sizeof(unsafe)) ?
		      unsafe : NULL;
	boot_decide(&(struct boot_facts){
		.state_read = d->state_read, .prev = prev,
		.resume = d->e.resume, .did = did,
		.finish_commit = finish_commit, .not_resumed = not_resumed,
		.where = where, .entry = entry, .counted = counted,
		.unprotected = unprotected, .boot_id = boot, .lower = lower,
		.name = d->e.name,
	}, &d->st, &dec);
	did = dec.did;
	checkpoint = dec.checkpoint;
	if (dec.notes & BOOT_NOTE_DAMAGED)
		say(d, "not checkpointing this boot: the state file is "
		    "damaged\n");
	if (dec.notes & BOOT_NOTE_LOG_GONE)
		say(d, "%s\n", d->st.reason);
	if (dec.notes & BOOT_NOTE_UNPROTECTED)
		boot_warning(d, "not checkpointing: %s; this armed boot runs "
			     "unprotected", unprotected);
	/* Where UUID= pointed, for a boot that cannot see it (find_lower). */
	if (!strncmp(d->e.lower, "UUID=", 5))
		stable_name(lower, d->st.lower, sizeof(d->st.lower));
	if (dec.save && save(d)) {
		/*
		 * A restore needs no state file: it is done, and the device
		 * is mapped all the same.  A checkpoint does: an attempt
		 * that cannot be counted is never taken.
		 */
		if (checkpoint)
			boot_warning(d, "not checkpointing: the state file "
				     "cannot count this boot's attempt; this "
				     "armed boot runs unprotected");
		else if (did)
			boot_warning(d, "the state file cannot record what "
				     "this boot did (%s): it still says %s",
				     did, bow_lifecycle_name(prev.lifecycle));
		checkpoint = false;
	}
	if (checkpoint && create_mapping(d, lower, size, MAP_BOW)) {
		/*
		 * No log is live (restored above): a pass-through loses
		 * nothing, and the device still boots.  The attempt stays
		 * counted, the next boot tries again (DKMS may have built
		 * the module meanwhile).
		 */
		bow_table_failed("take the table", why, sizeof(why));
		bow_state_event(&d->st, "no-dm-bow", "%s: %s runs "
				"unprotected", why, dec.attempt);
		save(d);
		boot_warning(d, "not checkpointing: %s; this armed boot runs "
			     "unprotected, on a pass-through", why);
		checkpoint = false;
	} else if (checkpoint) {
		printf("%s%s: dm-bow set up\n", d->prefix, d->st.event);
		return EXIT_DONE;
	}
	if (did)
		printf("%s%s\n", d->prefix, did);
	return create_mapping(d, lower, size, MAP_LINEAR);
}

/* ---- boot: after the mount */

/* Where /dev/mapper/<name> (@major:@minor) is mounted, in @mp. */
bool mount_point(uint32_t major, uint32_t minor, char *mp, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	unsigned int ma, mi;
	char *line = NULL, dir[PATH_MAX];
	size_t cap = 0;
	bool found = false;

	while (f && !found && getline(&line, &cap, f) > 0)
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &ma, &mi,
			   dir) == 3 && ma == major && mi == minor) {
			/* mountinfo escapes spaces and the like as \ooo */
			size_t n = 0;

			for (char *s = dir; *s && n + 1 < len; n++)
				if (s[0] == '\\' && strspn(s + 1, "01234567")
				    >= 3) {
					mp[n] = (char)strtol((char[]){ s[1],
						s[2], s[3], 0 }, NULL, 8);
					s += 4;
				} else {
					mp[n] = *s++;
				}
			mp[n] = 0;
			found = true;
		}
	free(line);
	if (f)
		fclose(f);
	return found;
}

/*
 * The checkpoint of the file system mounted on /dev/mapper/<name> (dm-bow
 * in state 0): FITRIM first, which tells dm-bow where the free space is.
 * With @freeze, the file system is frozen for the checkpoint: freezing
 * writes back what is dirty and leaves it clean on the device (its
 * journal empty), so that a rollback gives a file system that needs no
 * recovery.  One that cannot be frozen is checkpointed as it is, as after
 * a power cut: its journal makes it whole at the next mount.  On failure
 * @why says what failed.
 */
int checkpoint_mounted(struct dev *d, const struct bow_dm_info *di,
		       bool freeze, char *why, size_t len)
{
	struct fstrim_range range = { .len = UINT64_MAX };
	char mp[PATH_MAX];
	bool frozen = false;
	int fd, r = EXIT_DONE;

	if (!mount_point(di->major, di->minor, mp, sizeof(mp))) {
		snprintf(why, len, "/dev/mapper/%s is not mounted: no free "
			 "space to borrow", d->e.name);
		return EXIT_SYSTEM;
	}
	fd = open(mp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, FITRIM, &range)) {
		snprintf(why, len, "FITRIM on %s failed: %s", mp,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_SYSTEM;
	}
	if (freeze && !ioctl(fd, FIFREEZE, 0))
		frozen = true;
	else if (freeze)
		say(d, "cannot freeze the file system (%s): checkpointing it "
		    "unfrozen\n", strerror(errno));
	if (bow_dm_message(d->e.name, "checkpoint")) {
		snprintf(why, len, "dm-bow refused the checkpoint (the kernel "
			 "log says why)");
		r = EXIT_SYSTEM;
	}
	/* The checkpoint is taken: a file system left frozen is no reason. */
	if (frozen && ioctl(fd, FITHAW, 0)) {
		say(d, "cannot thaw %s: %s\n", mp, strerror(errno));
		if (!r) {
			snprintf(why, len, "cannot thaw %s: %s", mp,
				 strerror(errno));
			r = EXIT_SYSTEM;
		}
	}
	close(fd);
	return r;
}

/*
 * After the mount: take the checkpoint boot-setup armed dm-bow for.  One
 * that fails is recorded as failed, and fails the unit, which
 * boot-complete.target requires (bow-generator): this boot runs
 * unprotected, and it must neither be committed nor counted as a boot
 * that a restore undoes.  So does a boot-setup that left a warning
 * (boot_warning()): an armed boot it could not checkpoint.
 */
int cmd_boot_checkpoint(struct dev *d)
{
	char why[PATH_MAX + 100], attempt[sizeof(d->st.reason)];
	struct bow_dm_info di;
	int r;

	boot_warning_read(d->e.name, why, sizeof(why));
	if (why[0]) {
		say(d, "%s\n", why);
		return EXIT_SYSTEM;
	}
	if ((r = info(d, &di)))
		return r;
	if (di.mapping != BOW_MAP_BOW || di.state == 2)
		return EXIT_DONE;	/* this boot does not checkpoint */
	/* Which attempt, as boot-setup counted it (past retries, say). */
	if (!d->e.resume && !strcmp(d->st.event, "attempt"))
		snprintf(attempt, sizeof(attempt), "%s", d->st.reason);
	else
		snprintf(attempt, sizeof(attempt), "boot attempt %u of %u",
			 d->st.retries - d->st.attempts, d->st.retries);
	if (di.state == 0 &&
	    checkpoint_mounted(d, &di, false, why, sizeof(why))) {
		bow_state_event(&d->st, "checkpoint-failed", "%s: %s runs "
				"unprotected and is not committed", why,
				attempt);
		d->st.lifecycle = BOW_LC_FAILED;
		d->st.attempts = 0;
		say(d, "no checkpoint: %s\n", d->st.reason);
		save(d);
		return EXIT_SYSTEM;
	}
	/* Taken now: read back its free space; resumed: as it is. */
	if (di.state == 0 && (r = info(d, &di)))
		return r;
	/* Resumed (bowtab resume): boot-setup trimmed it before the mount. */
	d->st.lifecycle = BOW_LC_CHECKPOINT;
	bow_state_event(&d->st, "checkpoint", "%s%s; %" PRIu64 " bytes free",
			attempt, d->e.resume ? ", resumed" : "", di.free_bytes);
	printf("%scheckpoint live%s, %" PRIu64 " bytes free\n", d->prefix,
	       d->e.resume ? " (resumed)" : "", di.free_bytes);
	return save(d);
}

/* Act on low space: commit, or disarm and reboot (on_full=). */
static int low_space(struct dev *d, uint64_t free_bytes)
{
	char why[160];
	int r;

	snprintf(why, sizeof(why), "%" PRIu64 " bytes free, under min_free "
		 "%" PRIu64, free_bytes, d->e.min_free);
	if (d->e.on_full == BOWTAB_ON_FULL_COMMIT) {
		strncat(why, ": committed (on_full=commit)",
			sizeof(why) - strlen(why) - 1);
		say(d, "%s\n", why);
		return group_commit(d, "low-space", why, false, NULL);
	}
	strncat(why, ": rebooting to restore the checkpoint (on_full=abort)",
		sizeof(why) - strlen(why) - 1);
	say(d, "%s\n", why);
	r = group_abort(d, "low-space", why);
	return r ? r : reboot_now(d);
}

int cmd_boot_watch(struct dev *d)
{
	char name[BOWTAB_NAME_MAX];
	struct bow_dm_info di;
	int r;

	/* Wait unlocked: commit and abort must not wait for the watcher. */
	snprintf(name, sizeof(name), "%s", d->e.name);
	dev_close(d);
	for (;;) {
		if ((r = info(d, &di)))
			return r;
		if (di.mapping != BOW_MAP_BOW || di.state != 1)
			return EXIT_DONE;	/* nothing (more) to watch */
		if (di.free_bytes < d->e.min_free) {
			/*
			 * Decide under the lock, on a fresh state and device:
			 * a commit or abort may have come meanwhile.
			 */
			if ((r = dev_open(d, name, false)) ||
			    (r = info(d, &di)))
				return r;
			if (di.mapping != BOW_MAP_BOW || di.state != 1 ||
			    !strcmp(d->st.event, "abort"))
				return EXIT_DONE;
			return low_space(d, di.free_bytes);
		}
		/*
		 * dm-bow raises its event once free space is under low_water
		 * (bowtab makes it at least min_free); below it, poll.
		 */
		if (di.free_bytes < d->e.low_water)
			sleep(2);
		else if (bow_dm_wait_event(d->e.name, di.event_nr))
			sleep(2);
	}
}

/*
 * Whether the boot's commit may commit @m: a checkpoint this boot took or
 * resumed, with commit=boot-complete and no abort decided.  An arming for
 * the next boot, or a checkpoint some other boot left, is not this
 * boot's to decide.  Says why not.
 */
static bool boot_commit_wanted(struct dev *m)
{
	struct bow_dm_info di;
	char boot[40];

	if (m->e.commit == BOWTAB_COMMIT_MANUAL) {
		say(m, "not committing: the update tool commits "
		    "(commit=manual)\n");
		return false;
	}
	if (abort_pending(&m->st)) {
		say(m, "not committing: %s\n", m->st.reason);
		return false;
	}
	/*
	 * An in-place update checkpointed by bowctl start in this boot,
	 * before boot-complete.target: every boot into it counts an attempt,
	 * and none has yet.
	 */
	if (m->e.resume && m->st.lifecycle == BOW_LC_CHECKPOINT &&
	    m->st.attempts == m->st.retries) {
		say(m, "not committing: no boot has tried the update yet\n");
		return false;
	}
	read_boot_id(boot, sizeof(boot));
	if (info(m, &di) || di.mapping != BOW_MAP_BOW || di.state != 1 ||
	    m->st.lifecycle != BOW_LC_CHECKPOINT ||
	    strcmp(m->st.boot_id, boot)) {
		printf("%snothing to commit: this boot took no checkpoint "
		       "(%s)\n", m->prefix,
		       bow_lifecycle_name(m->st.lifecycle));
		return false;
	}
	return true;
}

/*
 * After a healthy boot (bow-commit@, commit=boot-complete): commit the
 * checkpoints of its group that this boot took or resumed, and nothing
 * else.
 */
int cmd_boot_commit(struct dev *d)
{
	char blessed[80];

	if (!boot_commit_wanted(d))
		return EXIT_DONE;
	/*
	 * A boot the boot loader counts as a try: it may still fall back
	 * to the other entry, which must find the old data.  Its mark
	 * (systemd-bless-boot.service, ordered before) comes first, as vold
	 * sets state 2 after the boot loader's.
	 */
	if (bow_boot_counted() && !bow_boot_blessed(blessed, sizeof(blessed))) {
		say(d, "not committing: the boot loader's entry is not marked "
		    "good (systemd-bless-boot status: %s); the checkpoint "
		    "stays live\n", blessed);
		return EXIT_REFUSED;
	}
	return group_commit(d, "commit", "the boot completed", false,
			    boot_commit_wanted);
}
