// SPDX-License-Identifier: GPL-2.0
/*
 * Lifecycle state files.  Text, one "<key> <value>" a line, so that
 * people can read them; the last line is a CRC of everything before it,
 * so that a torn write or a hand edit is seen instead of obeyed.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../bow-restore/lib/restore.h"
#include "state.h"

#define STATE_VERSION 1
#define STATE_MAX 8192		/* a valid file is far smaller */
#define CRC_LINE 15		/* "crc32 %08x\n" */

static const char *const lifecycle_names[] = {
	[BOW_LC_IDLE] = "idle",
	[BOW_LC_ARMED] = "armed",
	[BOW_LC_CHECKPOINT] = "checkpoint",
	[BOW_LC_COMMITTED] = "committed",
	[BOW_LC_ROLLED_BACK] = "rolled-back",
	[BOW_LC_FAILED] = "failed",
};

const char *bow_lifecycle_name(enum bow_lifecycle lc)
{
	return lc <= BOW_LC_FAILED ? lifecycle_names[lc] : "unknown";
}

void bow_state_event(struct bow_state *s, const char *event,
		     const char *fmt, ...)
{
	va_list ap;

	snprintf(s->event, sizeof(s->event), "%s", event);
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
	va_end(ap);
	/* One line each, whatever a message held. */
	for (char *p = s->reason; *p; p++)
		if (iscntrl((unsigned char)*p))
			*p = ' ';
	s->time = (int64_t)time(NULL);
}

static void state_path(char *path, size_t len, const char *dir,
		       const char *name, const char *suffix)
{
	snprintf(path, len, "%s/%s.state%s", dir, name, suffix);
}

/* Copy @val (no control characters, shorter than @len) into @dst. */
static bool take_text(char *dst, size_t len, const char *val)
{
	if (strlen(val) >= len)
		return false;
	for (const char *p = val; *p; p++)
		if (iscntrl((unsigned char)*p))
			return false;
	strcpy(dst, val);
	return true;
}

static bool take_uint(const char *val, uint64_t max, uint64_t *v)
{
	char *end;

	if (!isdigit((unsigned char)*val))
		return false;
	errno = 0;
	*v = strtoull(val, &end, 10);
	return !errno && !*end && *v <= max;
}

/* One "<key> <value>" line; false if it is not one this version writes. */
static bool parse_field(char *key, char *val, struct bow_state *s,
			unsigned int *seen)
{
	uint64_t v;

	if (!strcmp(key, "version")) {
		*seen |= 1;
		return take_uint(val, STATE_VERSION, &v) && v == STATE_VERSION;
	}
	if (!strcmp(key, "lifecycle")) {
		for (unsigned int i = 0; i <= BOW_LC_FAILED; i++)
			if (!strcmp(val, lifecycle_names[i])) {
				s->lifecycle = i;
				*seen |= 2;
				return true;
			}
		return false;
	}
	if (!strcmp(key, "attempts") || !strcmp(key, "retries")) {
		if (!take_uint(val, 100, &v))
			return false;
		*(key[0] == 'a' ? &s->attempts : &s->retries) = (unsigned int)v;
		return true;
	}
	if (!strcmp(key, "time")) {
		if (!take_uint(val, INT64_MAX, &v))
			return false;
		s->time = (int64_t)v;
		return true;
	}
	if (!strcmp(key, "event"))
		return take_text(s->event, sizeof(s->event), val);
	if (!strcmp(key, "reason"))
		return take_text(s->reason, sizeof(s->reason), val);
	if (!strcmp(key, "boot"))
		return take_text(s->boot_id, sizeof(s->boot_id), val);
	if (!strcmp(key, "entry-from"))
		return take_text(s->entry_from, sizeof(s->entry_from), val);
	if (!strcmp(key, "entry-to"))
		return take_text(s->entry_to, sizeof(s->entry_to), val);
	if (!strcmp(key, "lower"))
		return take_text(s->lower, sizeof(s->lower), val) &&
		       val[0] == '/';
	return false;
}

static int damaged(struct bow_state *s, const char *prefix, FILE *err,
		   const char *path, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int damaged(struct bow_state *s, const char *prefix, FILE *err,
		   const char *path, const char *fmt, ...)
{
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	fprintf(err, "%s%s: damaged state file: %s\n", prefix, path, why);
	memset(s, 0, sizeof(*s));
	s->lifecycle = BOW_LC_FAILED;
	bow_state_event(s, "damaged", "state file %s: %s", path, why);
	return BOW_STATE_DAMAGED;
}

int bow_state_read(const char *dir, const char *name, struct bow_state *s,
		   const char *prefix, FILE *err)
{
	char path[PATH_MAX + 80], buf[STATE_MAX + 1], *line, *next, *val;
	unsigned int lineno = 0, seen = 0;
	size_t len = 0, body;
	uint32_t crc, want;
	ssize_t n;
	int fd;

	memset(s, 0, sizeof(*s));
	state_path(path, sizeof(path), dir, name, "");
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return BOW_STATE_MISSING;
	if (fd < 0)
		return damaged(s, prefix, err, path, "cannot open: %s",
			       strerror(errno));
	while (len < sizeof(buf) &&
	       (n = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (len > STATE_MAX)
		return damaged(s, prefix, err, path, "over %d bytes",
			       STATE_MAX);
	buf[len] = 0;
	if (memchr(buf, 0, len))
		return damaged(s, prefix, err, path, "holds a zero byte");
	/* The CRC line ends the file and covers everything before it. */
	line = len >= CRC_LINE ? buf + len - CRC_LINE : NULL;
	if (!line || (line > buf && line[-1] != '\n') ||
	    strncmp(line, "crc32 ", 6) || strspn(line + 6, "0123456789abcdef")
	    != 8 || line[14] != '\n')
		return damaged(s, prefix, err, path,
			       "no 'crc32 <8 hex digits>' line at its end "
			       "(torn write?)");
	want = (uint32_t)strtoul(line + 6, NULL, 16);
	body = (size_t)(line - buf);
	crc = bow_crc32(0, buf, body);
	if (crc != want)
		return damaged(s, prefix, err, path, "CRC %08" PRIx32
			       " of its text, expected %08" PRIx32
			       " (edited, or torn?)", crc, want);
	*line = 0;
	for (line = buf; *line; line = next) {
		lineno++;
		next = strchr(line, '\n');
		*next++ = 0;
		if (line[0] == '#')
			continue;
		val = strchr(line, ' ');
		if (val)
			*val++ = 0;
		if (!val || !parse_field(line, val, s, &seen))
			return damaged(s, prefix, err, path,
				       "line %u: bad field '%s'", lineno,
				       line);
	}
	if (seen != 3)
		return damaged(s, prefix, err, path,
			       "no %s line", seen & 1 ? "lifecycle" :
			       "version");
	return BOW_STATE_OK;
}

/*
 * Whether the directory @st (@path) may not be trusted with state: not
 * owned by root (or by who runs bowctl), or writable by others, unless
 * @sticky_ok and sticky (as /tmp, where others cannot rename what is not
 * theirs).  Says why in @why.
 */
static bool dir_unsafe(const struct stat *st, const char *path,
		       bool sticky_ok, char *why, size_t len)
{
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(why, len, "%s is owned by uid %u, not root", path,
			 (unsigned int)st->st_uid);
		return true;
	}
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) &&
	    !(sticky_ok && (st->st_mode & S_ISVTX))) {
		snprintf(why, len, "%s is writable by group or others (mode "
			 "%04o)", path, (unsigned int)(st->st_mode & 07777));
		return true;
	}
	return false;
}

int bow_state_write(const char *dir, const char *name,
		    const struct bow_state *s, const char *prefix, FILE *err)
{
	char path[PATH_MAX + 80], tmp[PATH_MAX + 80], buf[STATE_MAX];
	char why[PATH_MAX + 100];
	const char *base;
	struct stat st;
	int fd, dfd, len;

	len = snprintf(buf, sizeof(buf),
		       "# dm-bow lifecycle state of %s: written by bowctl(8), "
		       "do not edit\n"
		       "version %d\nlifecycle %s\nattempts %u\nretries %u\n"
		       "event %s\ntime %" PRId64 "\nreason %s\n",
		       name, STATE_VERSION, bow_lifecycle_name(s->lifecycle),
		       s->attempts, s->retries, s->event[0] ? s->event : "-",
		       s->time, s->reason[0] ? s->reason : "-");
	if (s->boot_id[0])
		len += snprintf(buf + len, sizeof(buf) - (size_t)len,
				"boot %s\n", s->boot_id);
	if (s->lower[0])
		len += snprintf(buf + len, sizeof(buf) - (size_t)len,
				"lower %s\n", s->lower);
	if (s->entry_from[0])
		len += snprintf(buf + len, sizeof(buf) - (size_t)len,
				"entry-from %s\n", s->entry_from);
	if (s->entry_to[0])
		len += snprintf(buf + len, sizeof(buf) - (size_t)len,
				"entry-to %s\n", s->entry_to);
	len += snprintf(buf + len, sizeof(buf) - (size_t)len,
			"crc32 %08" PRIx32 "\n",
			bow_crc32(0, buf, (size_t)len));

	state_path(path, sizeof(path), dir, name, "");
	state_path(tmp, sizeof(tmp), dir, name, ".tmp");
	/*
	 * Through the directory, checked as opened: no name in it is
	 * followed, and a file left by an earlier run is replaced, never
	 * written through.
	 */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		fprintf(err, "%s%s: cannot open: %s\n", prefix, dir,
			strerror(errno));
		return -1;
	}
	if (fstat(dfd, &st)) {
		fprintf(err, "%s%s: cannot stat: %s\n", prefix, dir,
			strerror(errno));
		close(dfd);
		return -1;
	}
	if (dir_unsafe(&st, dir, false, why, sizeof(why))) {
		fprintf(err, "%s%s: refusing to keep state there\n", prefix,
			why);
		close(dfd);
		return -1;
	}
	base = strrchr(tmp, '/') + 1;
	fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0644);
	if (fd < 0 && errno == EEXIST && !unlinkat(dfd, base, 0))
		fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL |
			    O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(err, "%s%s: cannot create: %s\n", prefix, tmp,
			strerror(errno));
		close(dfd);
		return -1;
	}
	errno = 0;
	if (write(fd, buf, (size_t)len) != len || fsync(fd)) {
		fprintf(err, "%s%s: cannot write: %s\n", prefix, tmp,
			errno ? strerror(errno) : "short write");
		close(fd);
		unlinkat(dfd, base, 0);
		close(dfd);
		return -1;
	}
	close(fd);
	if (renameat(dfd, base, dfd, strrchr(path, '/') + 1)) {
		fprintf(err, "%s%s: cannot rename to %s: %s\n", prefix, tmp,
			path, strerror(errno));
		unlinkat(dfd, base, 0);
		close(dfd);
		return -1;
	}
	/* The rename itself must reach the disk before we act on it. */
	if (fsync(dfd)) {
		fprintf(err, "%s%s: cannot sync the directory: %s\n", prefix,
			dir, strerror(errno));
		close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

int bow_state_dir_check(const char *dir, char *why, size_t len)
{
	char path[PATH_MAX], real[PATH_MAX], *slash;
	bool self = true;
	struct stat st;

	snprintf(path, sizeof(path), "%s", dir);
	/* The deepest directory that exists: where it is, or will be made. */
	while (stat(path, &st)) {
		if (errno != ENOENT) {
			snprintf(why, len, "%s: cannot stat: %s", path,
				 strerror(errno));
			return -1;
		}
		slash = strrchr(path, '/');
		if (!slash || slash == path)
			snprintf(path, sizeof(path), "/");
		else
			*slash = 0;
		self = false;
	}
	if (!realpath(path, real)) {
		snprintf(why, len, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* It and every directory above; those above may be sticky. */
	for (;;) {
		if (stat(real, &st) || !S_ISDIR(st.st_mode)) {
			snprintf(why, len, "%s: not a directory", real);
			return -1;
		}
		if (dir_unsafe(&st, real, !self, why, len))
			return -1;
		self = false;
		if (!strcmp(real, "/"))
			return 0;
		slash = strrchr(real, '/');
		if (slash == real)
			slash[1] = 0;
		else
			*slash = 0;
	}
}
