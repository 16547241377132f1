// SPDX-License-Identifier: GPL-2.0
/*
 * bow-generator: a systemd generator (systemd.generator(7)) that turns
 * each /etc/bowtab line into the dependencies of the lifecycle's template
 * units, so that a file system in /etc/fstab on /dev/mapper/<name> is
 * restored and mapped before its mount, checkpointed after it and before
 * local-fs.target, and (commit=boot-complete) committed after a healthy
 * boot: boot-complete.target, systemd-bless-boot and default.target.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bowtab.h"

#ifndef UNITDIR
#define UNITDIR "/usr/lib/systemd/system"
#endif

static const char *outdir;
static const char *fstab = "/etc/fstab";
static FILE *log_file;
static int failed;
/* Whether a unit is required by boot-complete.target (bowtab.h). */
static bool health_check;

/*
 * Generators have no terminal: say it in the kernel log, which the
 * journal keeps, at syslog @level (3 an error, 4 a warning).
 */
static void say_at(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say_at(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(log_file, "<%d>bow-generator: ", level);
	vfprintf(log_file, fmt, ap);
	fflush(log_file);
	va_end(ap);
}

#define say(...) say_at(3, __VA_ARGS__)

/* systemd's path escaping (systemd-escape --path), for unit names. */
static void escape_path(const char *path, char *out, size_t len)
{
	size_t n = 0;

	while (*path == '/')
		path++;
	if (!*path) {
		snprintf(out, len, "-");
		return;
	}
	for (const char *s = path; *s && n + 5 < len; s++) {
		if (*s == '/') {
			while (s[1] == '/')
				s++;
			if (s[1])
				out[n++] = '-';
		} else if (isalnum((unsigned char)*s) || *s == ':' ||
			   *s == '_' || (*s == '.' && s != path)) {
			out[n++] = *s;
		} else {
			n += (size_t)snprintf(out + n, len - n, "\\x%02x",
					      (unsigned char)*s);
		}
	}
	out[n] = 0;
}

static FILE *create(const char *dir, const char *file)
{
	char path[PATH_MAX * 2];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, dir);
	if (mkdir(path, 0755) && errno != EEXIST) {
		say("cannot create %s: %s\n", path, strerror(errno));
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, dir, file);
	f = fopen(path, "we");
	if (!f)
		say("cannot create %s: %s\n", path, strerror(errno));
	return f;
}

static void finish(FILE *f)
{
	if (!f || fclose(f))
		failed = 1;
}

/* <dir>/<unit>: a link to the template of the instance @unit. */
static void link_unit(const char *dir, const char *unit, const char *tmpl)
{
	char path[PATH_MAX * 2], target[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", outdir, dir);
	if (mkdir(path, 0755) && errno != EEXIST) {
		say("cannot create %s: %s\n", path, strerror(errno));
		failed = 1;
		return;
	}
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, dir, unit);
	snprintf(target, sizeof(target), "%s/%s", UNITDIR, tmpl);
	if (symlink(target, path) && errno != EEXIST) {
		say("cannot link %s: %s\n", path, strerror(errno));
		failed = 1;
	}
}

static void generate(const struct bowtab_entry *e, void *arg)
{
	char lower[PATH_MAX], esc[PATH_MAX * 4], mp[PATH_MAX];
	/* Names are short (bowtab), so are the units made of them. */
	char unit[BOWTAB_NAME_MAX * 4 + 64], dir[BOWTAB_NAME_MAX * 4 + 96];
	FILE *f;

	(void)arg;
	/* Before its device: restore, count an attempt, map. */
	snprintf(dir, sizeof(dir), "bow-setup@%s.service.d", e->name);
	f = create(dir, "50-bowtab.conf");
	if (f) {
		fprintf(f, "# From %s line %u; made by bow-generator\n[Unit]\n",
			BOWTAB_PATH, e->line);
		bowtab_lower_path(e, lower, sizeof(lower));
		if (strncmp(e->lower, "UUID=", 5)) {
			escape_path(lower, esc, sizeof(esc));
			fprintf(f, "Requires=%s.device\nAfter=%s.device\n",
				esc, esc);
		} else {
			/* A live log hides it: bowctl knows where it was. */
			fprintf(f, "Wants=systemd-udev-settle.service\n"
				"After=systemd-udev-settle.service\n");
		}
		/*
		 * Its state must be there before it is set up; unless it is
		 * on the device itself (a loop bowctl refuses to arm: say so).
		 */
		if (bowtab_state_on_device(e, fstab, mp, sizeof(mp)))
			say("%s line %u: state directory %s is on the "
			    "protected file system (%s): %s is never "
			    "checkpointed\n", BOWTAB_PATH, e->line,
			    e->state_dir, mp, e->name);
		else
			fprintf(f, "RequiresMountsFor=%s\n", e->state_dir);
	}
	finish(f);
	snprintf(esc, sizeof(esc), "/dev/mapper/%s", e->name);
	escape_path(esc, unit, sizeof(unit));
	snprintf(dir, sizeof(dir), "%s.device.requires", unit);
	snprintf(esc, sizeof(esc), "%s.device.d", unit);
	snprintf(unit, sizeof(unit), "bow-setup@%s.service", e->name);
	link_unit(dir, unit, "bow-setup@.service");
	/*
	 * /dev/mapper/<name> appears when bow-setup@ has restored the
	 * device, which takes as long as the log: systemd's job timeout on
	 * the device (DefaultTimeoutStartSec, or fstab's
	 * x-systemd.device-timeout, whose drop-in sorts before this one)
	 * would fail its mount while the restore still runs.  As
	 * systemd-cryptsetup-generator does for a passphrase.
	 */
	f = create(esc, "90-bow-setup.conf");
	if (f)
		fprintf(f, "# From %s line %u; made by bow-generator\n"
			"[Unit]\nJobTimeoutSec=infinity\n"
			"JobRunningTimeoutSec=infinity\n", BOWTAB_PATH,
			e->line);
	finish(f);

	/* After its mount, before local-fs.target: the checkpoint. */
	if (!bowtab_fstab_mount_point(fstab, e->name, mp, sizeof(mp))) {
		say("%s line %u: no /etc/fstab line mounts /dev/mapper/%s: "
		    "it is set up, but nothing checkpoints it\n", BOWTAB_PATH,
		    e->line, e->name);
	} else {
		if (!strcmp(mp, "/") && !e->initramfs)
			say("%s line %u: /dev/mapper/%s is the root file "
			    "system: without the option initramfs it is "
			    "never set up before its mount\n", BOWTAB_PATH,
			    e->line, e->name);
		escape_path(mp, esc, sizeof(esc));
		snprintf(dir, sizeof(dir), "bow-checkpoint@%s.service.d",
			 e->name);
		f = create(dir, "50-bowtab.conf");
		/*
		 * Its state too: set up in the initramfs, the device can be
		 * mounted before a state file system of its own is.
		 */
		if (f)
			fprintf(f, "# From %s line %u; made by bow-generator\n"
				"[Unit]\nRequires=%s.mount\nAfter=%s.mount\n"
				"RequiresMountsFor=%s\n",
				BOWTAB_PATH, e->line, esc, esc, e->state_dir);
		finish(f);
		snprintf(unit, sizeof(unit), "bow-checkpoint@%s.service",
			 e->name);
		link_unit("local-fs.target.wants", unit,
			  "bow-checkpoint@.service");
		/*
		 * A checkpoint that failed is a failed boot: no commit, and
		 * the bootloader does not mark the entry good.
		 */
		link_unit("boot-complete.target.requires", unit,
			  "bow-checkpoint@.service");
	}

	/* The update tool commits (bowctl commit): no unit does. */
	if (e->commit == BOWTAB_COMMIT_MANUAL)
		return;
	if (!health_check)
		say_at(4, "%s line %u: no health check guards the commit of "
		       "%s: no unit is required by boot-complete.target, so "
		       "it is committed once default.target is reached "
		       "(bowctl(8), HEALTH CHECKS)\n", BOWTAB_PATH, e->line,
		       e->name);
	/* After a healthy boot: the commit (its unit says when). */
	snprintf(unit, sizeof(unit), "bow-commit@%s.service", e->name);
	link_unit("basic.target.wants", unit, "bow-commit@.service");
}

int main(int argc, char **argv)
{
	const char *file = getenv("BOWTAB") ? getenv("BOWTAB") : BOWTAB_PATH;
	char *buf = NULL;
	size_t len = 0;
	FILE *err;
	int nbad;

	if (argc != 2 && argc != 4) {
		fprintf(stderr, "Usage: bow-generator <normal dir> "
			"[<early dir> <late dir>]\n");
		return 2;
	}
	outdir = argv[1];
	/* As systemd-fstab-generator, for tests. */
	if (getenv("SYSTEMD_FSTAB"))
		fstab = getenv("SYSTEMD_FSTAB");
	/* As systemd's own tools: SYSTEMD_LOG_TARGET=console for stderr. */
	if (!getenv("SYSTEMD_LOG_TARGET") ||
	    strcmp(getenv("SYSTEMD_LOG_TARGET"), "console"))
		log_file = fopen("/dev/kmsg", "we");
	if (!log_file)
		log_file = stderr;
	/* BOW_GENERATOR_ROOT: for tests, a system under a directory. */
	health_check = bowtab_health_check(getenv("BOW_GENERATOR_ROOT") ?
					   getenv("BOW_GENERATOR_ROOT") : "");
	/* bowtab's messages, one kernel log record a line. */
	err = open_memstream(&buf, &len);
	if (!err)
		return 1;
	nbad = bowtab_each(file, err, generate, NULL, NULL);
	fclose(err);
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		say("%s\n", line);
		if (!next)
			break;
	}
	free(buf);
	return nbad < 0 || failed;
}
