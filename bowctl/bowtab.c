// SPDX-License-Identifier: GPL-2.0
/*
 * /etc/bowtab parsing (bowtab(5)).  Every field is checked; a bad line is
 * named by file, line and field, and nothing is done for its device.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <dirent.h>
#include <inttypes.h>
#include <mntent.h>
#include <stdlib.h>
#include <string.h>

#include "bowtab.h"

#define WS " \t\r\n"

/* A name is also a device-mapper name and part of unit names: keep it plain. */
static bool valid_name(const char *s)
{
	if (!*s || strlen(s) >= BOWTAB_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' &&
		    *s != '.')
			return false;
	return true;
}

/* <digits>[K|M|G|T] (powers of 1024) into @v; false if not exactly that. */
static bool parse_size(const char *s, uint64_t *v)
{
	unsigned int shift = 0;
	char *end;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno)
		return false;
	switch (*end) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	}
	if (*end || (shift && *v > (UINT64_MAX >> shift)))
		return false;
	*v <<= shift;
	return true;
}

static int bad(FILE *err, const char *file, unsigned int lineno,
	       const char *what, const char *value, const char *expected)
{
	fprintf(err, "%s:%u: bad %s '%s': expected %s; this device is left "
		"alone\n", file, lineno, what, value, expected);
	return -1;
}

static int parse_option(const char *file, unsigned int lineno, char *opt,
			struct bowtab_entry *e, FILE *err)
{
	char *val = strchr(opt, '=');
	uint64_t v;

	if (val)
		*val++ = 0;
	/* Set up in the initramfs, before the root switch. */
	if (!strcmp(opt, "initramfs") && !val) {
		e->initramfs = true;
		return 0;
	}
	/* Checkpointed while it runs, resumed by the boots that follow. */
	if (!strcmp(opt, "resume") && !val) {
		e->resume = true;
		return 0;
	}
	if (!val)
		return bad(err, file, lineno, "option", opt,
			   "<key>=<value>");
	if (!strcmp(opt, "state")) {
		/* It goes into unit files, where these are syntax. */
		if (val[0] != '/' || strlen(val) >= sizeof(e->state_dir) ||
		    strpbrk(val, "%\\\"'"))
			return bad(err, file, lineno, "state", val,
				   "an absolute directory path, without %, "
				   "\\, \" or '");
		strcpy(e->state_dir, val);
	} else if (!strcmp(opt, "retries")) {
		if (!parse_size(val, &v) || strpbrk(val, "KMGT") || !v ||
		    v > 100)
			return bad(err, file, lineno, "retries", val,
				   "a number of boot attempts, 1 to 100");
		e->retries = (unsigned int)v;
	} else if (!strcmp(opt, "block_size")) {
		if (!parse_size(val, &v) || v < 512 || v > 4096 ||
		    (v & (v - 1)))
			return bad(err, file, lineno, "block_size", val,
				   "512, 1024, 2048 or 4096");
		e->block_size = (uint32_t)v;
	} else if (!strcmp(opt, "low_water")) {
		if (!parse_size(val, &v) || !v)
			return bad(err, file, lineno, "low_water", val,
				   "a size in bytes (K, M, G, T: 1024s)");
		e->low_water = v;
	} else if (!strcmp(opt, "min_free")) {
		if (!parse_size(val, &v))
			return bad(err, file, lineno, "min_free", val,
				   "a size in bytes (K, M, G, T: 1024s)");
		e->min_free = v;
	} else if (!strcmp(opt, "on_full")) {
		if (!strcmp(val, "commit"))
			e->on_full = BOWTAB_ON_FULL_COMMIT;
		else if (!strcmp(val, "abort"))
			e->on_full = BOWTAB_ON_FULL_ABORT;
		else
			return bad(err, file, lineno, "on_full", val,
				   "commit or abort");
	} else if (!strcmp(opt, "on_invalid")) {
		if (!strcmp(val, "roll-forward"))
			e->on_invalid = BOWTAB_ON_INVALID_ROLL_FORWARD;
		else if (!strcmp(val, "fail"))
			e->on_invalid = BOWTAB_ON_INVALID_FAIL;
		else
			return bad(err, file, lineno, "on_invalid", val,
				   "roll-forward or fail");
	} else if (!strcmp(opt, "group")) {
		if (!valid_name(val))
			return bad(err, file, lineno, "group", val,
				   "letters, digits, '_', '-', '.' (under 64)");
		strcpy(e->group, val);
	} else if (!strcmp(opt, "commit")) {
		if (!strcmp(val, "boot-complete"))
			e->commit = BOWTAB_COMMIT_BOOT_COMPLETE;
		else if (!strcmp(val, "manual"))
			e->commit = BOWTAB_COMMIT_MANUAL;
		else
			return bad(err, file, lineno, "commit", val,
				   "boot-complete or manual");
	} else {
		return bad(err, file, lineno, "option", opt,
			   "state, retries, block_size, low_water, min_free, "
			   "on_full, on_invalid, commit, group, initramfs or "
			   "resume");
	}
	return 0;
}

int bowtab_parse_line(const char *file, unsigned int lineno, char *line,
		      struct bowtab_entry *e, FILE *err)
{
	char *save, *name, *lower, *opts, *opt, *more;
	bool low_water_set;

	line += strspn(line, WS);
	if (!*line || *line == '#')
		return 0;
	memset(e, 0, sizeof(*e));
	e->line = lineno;
	e->retries = 1;
	e->min_free = 100ULL << 20;	/* Android's default */
	name = strtok_r(line, WS, &save);
	lower = strtok_r(NULL, WS, &save);
	opts = strtok_r(NULL, WS, &save);
	more = strtok_r(NULL, WS, &save);
	if (!valid_name(name))
		return bad(err, file, lineno, "name", name,
			   "letters, digits, '_', '-', '.' (under 64)");
	strcpy(e->name, name);
	if (!lower)
		return bad(err, file, lineno, "line", name,
			   "<name> <lower device> [<options>]");
	if (strlen(lower) >= sizeof(e->lower) || (lower[0] == '/' ?
	    !lower[1] : (strncmp(lower, "PARTLABEL=", 10) &&
			 strncmp(lower, "PARTUUID=", 9) &&
			 strncmp(lower, "UUID=", 5)) ||
			!strchr(lower, '=')[1]))
		return bad(err, file, lineno, "lower device", lower,
			   "PARTLABEL=, PARTUUID=, UUID= or a /dev path");
	strcpy(e->lower, lower);
	if (more)
		return bad(err, file, lineno, "field", more,
			   "nothing after the options (they are separated "
			   "by commas, without spaces)");
	for (opt = opts ? strtok_r(opts, ",", &save) : NULL; opt;
	     opt = strtok_r(NULL, ",", &save))
		if (parse_option(file, lineno, opt, e, err))
			return -1;
	if (!e->state_dir[0])
		return bad(err, file, lineno, "options", opts ? opts : "",
			   "state=<directory> (required)");
	if (!e->group[0])
		strcpy(e->group, BOWTAB_DEFAULT_GROUP);
	/* The watcher waits for the table's event: it must come in time. */
	low_water_set = e->low_water;
	if (!low_water_set)
		e->low_water = e->min_free;
	if (low_water_set && e->low_water < e->min_free) {
		char v[32];

		snprintf(v, sizeof(v), "%" PRIu64, e->low_water);
		return bad(err, file, lineno, "low_water", v,
			   "at least min_free, so that the event comes "
			   "before free space is below it");
	}
	return 1;
}

/* Line @lineno of @file names @name again, first named on line @first. */
static void say_duplicate(FILE *err, const char *file, unsigned int lineno,
			  const char *name, unsigned int first)
{
	fprintf(err, "%s:%u: name '%s' is on line %u already: this line is "
		"left alone\n", file, lineno, name, first);
}

/* The names of the lines read so far, for bowtab_each(). */
struct seen_names {
	char (*names)[BOWTAB_NAME_MAX];
	unsigned int *lines;
	size_t nr, cap;
};

/*
 * The line @name was first seen on, or 0 (and it is noted now as seen on
 * @line).  Names too long to be valid are never noted: their lines are bad.
 */
static unsigned int seen_before(struct seen_names *s, const char *name,
				unsigned int line)
{
	for (size_t i = 0; i < s->nr; i++)
		if (!strcmp(s->names[i], name))
			return s->lines[i];
	if (strlen(name) >= BOWTAB_NAME_MAX)
		return 0;
	if (s->nr == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		void *n = realloc(s->names, cap * sizeof(*s->names));

		if (!n)
			return 0;	/* unchecked, not refused */
		s->names = n;
		n = realloc(s->lines, cap * sizeof(*s->lines));
		if (!n)
			return 0;
		s->lines = n;
		s->cap = cap;
	}
	strcpy(s->names[s->nr], name);
	s->lines[s->nr++] = line;
	return 0;
}

int bowtab_each(const char *file, FILE *err,
		void (*fn)(const struct bowtab_entry *e, void *arg),
		void (*bad_line)(const char *name, unsigned int line,
				 const char *message, void *arg),
		void *arg)
{
	FILE *f = fopen(file, "re");
	struct seen_names seen = { 0 };
	struct bowtab_entry e;
	unsigned int lineno = 0, first;
	char *line = NULL, *msg = NULL, name[BOWTAB_NAME_MAX + 1];
	size_t cap = 0, msg_len = 0;
	FILE *m;
	int nbad = 0, r;

	if (!f && errno == ENOENT)
		return 0;
	if (!f) {
		fprintf(err, "%s: cannot read: %s\n", file, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		/* Its first field, for @bad_line: parsing cuts the line. */
		snprintf(name, sizeof(name), "%.*s",
			 (int)strcspn(line + strspn(line, WS), WS),
			 line + strspn(line, WS));
		m = open_memstream(&msg, &msg_len);
		lineno++;
		/* The first line of a name counts, even a bad one. */
		first = name[0] && name[0] != '#' ?
			seen_before(&seen, name, lineno) : 0;
		if (first) {
			say_duplicate(m ? m : err, file, lineno, name, first);
			r = -1;
		} else {
			r = bowtab_parse_line(file, lineno, line, &e,
					      m ? m : err);
		}
		if (m)
			fclose(m);
		if (r < 0) {
			nbad++;
			if (msg) {
				fputs(msg, err);
				msg[strcspn(msg, "\n")] = 0;
			}
			if (bad_line)
				bad_line(name, lineno, msg ? msg : "", arg);
		} else if (r > 0) {
			fn(&e, arg);
		}
		free(msg);
		msg = NULL;
	}
	free(seen.names);
	free(seen.lines);
	free(line);
	fclose(f);
	return nbad;
}

int bowtab_find(const char *file, const char *name, struct bowtab_entry *e,
		FILE *err)
{
	FILE *f = fopen(file, "re");
	unsigned int lineno = 0, first = 0;
	size_t cap = 0, len = strlen(name);
	char *line = NULL, *start;
	int found = 0;

	if (!f) {
		fprintf(err, "%s: cannot read: %s\n", file, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		/* Only the named device's lines are judged here. */
		start = line + strspn(line, WS);
		if (strncmp(start, name, len) || !start[len] ||
		    !strchr(WS, start[len]))
			continue;
		if (found) {
			say_duplicate(err, file, lineno, name, first);
			continue;
		}
		first = lineno;
		found = bowtab_parse_line(file, lineno, line, e, err) > 0 ?
			1 : -1;
	}
	if (!found)
		fprintf(err, "%s: no entry for %s\n", file, name);
	free(line);
	fclose(f);
	return found > 0 ? 0 : -1;
}

void bowtab_lower_path(const struct bowtab_entry *e, char *path, size_t len)
{
	static const struct {
		const char *key, *dir;
	} kinds[] = {
		{ "PARTLABEL=", "/dev/disk/by-partlabel/" },
		{ "PARTUUID=", "/dev/disk/by-partuuid/" },
		{ "UUID=", "/dev/disk/by-uuid/" },
	};
	size_t n;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t k = strlen(kinds[i].key);

		if (strncmp(e->lower, kinds[i].key, k))
			continue;
		n = (size_t)snprintf(path, len, "%s", kinds[i].dir);
		/* udev's escaping of link names: \xNN for the rest. */
		for (const char *s = e->lower + k; *s && n + 5 < len; s++) {
			if (isalnum((unsigned char)*s) || strchr("#+-.:=@_", *s))
				path[n++] = *s;
			else
				n += (size_t)snprintf(path + n, len - n,
						      "\\x%02x",
						      (unsigned char)*s);
		}
		path[n] = 0;
		return;
	}
	snprintf(path, len, "%s", e->lower);
}

bool bowtab_fstab_mount_point(const char *fstab, const char *name, char *mp,
			      size_t len)
{
	FILE *f = setmntent(fstab, "re");
	char dev[BOWTAB_NAME_MAX + 16];
	struct mntent *m;
	bool found = false;

	snprintf(dev, sizeof(dev), "/dev/mapper/%s", name);
	while (f && !found && (m = getmntent(f)))
		if (!strcmp(m->mnt_fsname, dev)) {
			snprintf(mp, len, "%s", m->mnt_dir);
			found = true;
		}
	if (f)
		endmntent(f);
	return found;
}

void bowtab_fstab_holder(const char *fstab, const char *path, char *mp,
			 size_t len)
{
	FILE *f = setmntent(fstab, "re");
	struct mntent *m;
	size_t best = 0, n;

	snprintf(mp, len, "/");
	while (f && (m = getmntent(f))) {
		n = strlen(m->mnt_dir);
		while (n > 1 && m->mnt_dir[n - 1] == '/')
			n--;
		/* Whole components only: /data holds /data/x, not /database. */
		if (m->mnt_dir[0] != '/' || n <= best || n == 1 ||
		    strncmp(path, m->mnt_dir, n) ||
		    (path[n] != '/' && path[n]))
			continue;
		best = n;
		snprintf(mp, len, "%.*s", (int)n, m->mnt_dir);
	}
	if (f)
		endmntent(f);
}

bool bowtab_state_on_device(const struct bowtab_entry *e, const char *fstab,
			    char *mp, size_t len)
{
	char holder[PATH_MAX];
	size_t n;

	if (!bowtab_fstab_mount_point(fstab, e->name, mp, len))
		return false;
	n = strlen(mp);
	while (n > 1 && mp[n - 1] == '/')
		mp[--n] = 0;
	bowtab_fstab_holder(fstab, e->state_dir, holder, sizeof(holder));
	return !strcmp(mp, holder);
}

bool bowtab_health_check(const char *root)
{
	/* systemd's unit directories, as systemd-analyze unit-paths. */
	static const char *const dirs[] = {
		"/etc/systemd/system", "/run/systemd/system",
		"/usr/local/lib/systemd/system", "/usr/lib/systemd/system",
		"/lib/systemd/system",
	};
	char path[PATH_MAX];
	struct dirent *de;
	bool found = false;
	DIR *d;

	for (size_t i = 0; !found && i < sizeof(dirs) / sizeof(*dirs); i++) {
		snprintf(path, sizeof(path), "%s%s/boot-complete.target.requires",
			 root, dirs[i]);
		d = opendir(path);
		while (d && !found && (de = readdir(d)))
			found = de->d_name[0] != '.' &&
				strncmp(de->d_name, "bow-", 4);
		if (d)
			closedir(d);
	}
	return found;
}
