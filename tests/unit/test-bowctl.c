// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of bowctl's parts that need no kernel: /etc/bowtab parsing
 * (every field, every message) and the lifecycle state files (round trip,
 * every torn length, every flipped byte, a hand edit).  Prints one
 * "ok - " or "not ok - " line a check.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../bow-restore/lib/restore.h"
#include "../../bowctl/bootloader.h"
#include "../../bowctl/bowtab.h"
#include "../../bowctl/decide.h"
#include "../../bowctl/state.h"
#include "tap.h"

/* Parse @text as line 7 of "bowtab"; the messages land in @msg. */
static int parse(const char *text, struct bowtab_entry *e, char *msg,
		 size_t len)
{
	char line[512];
	FILE *err = fmemopen(msg, len, "w");
	int r;

	snprintf(line, sizeof(line), "%s", text);
	memset(msg, 0, len);
	r = bowtab_parse_line("bowtab", 7, line, e, err);
	fclose(err);
	return r;
}

static void expect_bad(const char *text, const char *message)
{
	struct bowtab_entry e;
	char msg[512];
	int r = parse(text, &e, msg, sizeof(msg));

	bool good = r == -1 && !strcmp(msg, message);

	/* The messages end in a newline; the verdict line must not. */
	verdict(good, "bowtab: '%s' is refused: %.*s%s%.*s", text,
		(int)strlen(message) - 1, message, good ? "" : " -- got: ",
		good ? 0 : (int)strcspn(msg, "\n"), msg);
}

static void test_bowtab(void)
{
	struct bowtab_entry e;
	char msg[512], path[PATH_MAX];
	int r;

	r = parse("  data PARTLABEL=userdata state=/metadata/bow,retries=3,"
		  "block_size=1024,low_water=64M,min_free=32M,on_full=abort,"
		  "on_invalid=fail  # a comment is a field", &e, msg,
		  sizeof(msg));
	verdict(r == -1, "bowtab: a fourth field is refused");
	r = parse("  data PARTLABEL=userdata state=/metadata/bow,retries=3,"
		  "block_size=1024,low_water=64M,min_free=32M,on_full=abort,"
		  "on_invalid=fail\n", &e, msg, sizeof(msg));
	verdict(r == 1 && !strcmp(e.name, "data") &&
		!strcmp(e.lower, "PARTLABEL=userdata") &&
		!strcmp(e.state_dir, "/metadata/bow") && e.retries == 3 &&
		e.block_size == 1024 && e.low_water == 64ULL << 20 &&
		e.min_free == 32ULL << 20 &&
		e.on_full == BOWTAB_ON_FULL_ABORT &&
		e.on_invalid == BOWTAB_ON_INVALID_FAIL &&
		e.commit == BOWTAB_COMMIT_BOOT_COMPLETE &&
		!e.initramfs && e.line == 7 && !msg[0],
		"bowtab: every option is read");
	r = parse("data /dev/vdb state=/s,commit=manual", &e, msg,
		  sizeof(msg));
	verdict(r == 1 && e.commit == BOWTAB_COMMIT_MANUAL && !msg[0],
		"bowtab: commit=manual");
	r = parse("data /dev/vdb state=/s,commit=boot-complete", &e, msg,
		  sizeof(msg));
	verdict(r == 1 && e.commit == BOWTAB_COMMIT_BOOT_COMPLETE && !msg[0],
		"bowtab: commit=boot-complete");
	r = parse("var /dev/vdc initramfs,state=/bow", &e, msg, sizeof(msg));
	verdict(r == 1 && e.initramfs && !strcmp(e.state_dir, "/bow") &&
		!e.resume && !msg[0],
		"bowtab: initramfs, an option without a value");
	r = parse("root /dev/vda state=/meta/bow,resume,initramfs", &e, msg,
		  sizeof(msg));
	verdict(r == 1 && e.initramfs && e.resume && !msg[0],
		"bowtab: resume, an option without a value");
	r = parse("d.1_x-y /dev/vdb state=/var/lib/bow", &e, msg,
		  sizeof(msg));
	verdict(r == 1 && e.retries == 1 && e.min_free == 100ULL << 20 &&
		e.low_water == e.min_free && !e.block_size &&
		e.on_full == BOWTAB_ON_FULL_COMMIT &&
		e.on_invalid == BOWTAB_ON_INVALID_ROLL_FORWARD, "bowtab: defaults: retries 1, min_free 100 MiB "
		"(Android's), low_water = min_free, commit, roll forward");
	verdict(!strcmp(e.group, "all"), "bowtab: the default group is all");
	r = parse("d /dev/vdb state=/s,group=apps.1", &e, msg, sizeof(msg));
	verdict(r == 1 && !strcmp(e.group, "apps.1") && !msg[0],
		"bowtab: group=");
	verdict(parse("# comment", &e, msg, sizeof(msg)) == 0 &&
		parse(" \t\n", &e, msg, sizeof(msg)) == 0 && !msg[0],
		"bowtab: comments and blank lines are no entries");

	expect_bad("da/ta /dev/vdb state=/s", "bowtab:7: bad name 'da/ta': "
		   "expected letters, digits, '_', '-', '.' (under 64); this "
		   "device is left alone\n");
	expect_bad("data", "bowtab:7: bad line 'data': expected <name> "
		   "<lower device> [<options>]; this device is left alone\n");
	expect_bad("data LABEL=x state=/s", "bowtab:7: bad lower device "
		   "'LABEL=x': expected PARTLABEL=, PARTUUID=, UUID= or a /dev "
		   "path; this device is left alone\n");
	expect_bad("data PARTLABEL= state=/s", "bowtab:7: bad lower device "
		   "'PARTLABEL=': expected PARTLABEL=, PARTUUID=, UUID= or a "
		   "/dev path; this device is left alone\n");
	expect_bad("data /dev/vdb", "bowtab:7: bad options '': expected "
		   "state=<directory> (required); this device is left "
		   "alone\n");
	expect_bad("data /dev/vdb state=var/lib", "bowtab:7: bad state "
		   "'var/lib': expected an absolute directory path, without "
		   "%, \\, \" or '; this device is left alone\n");
	/* A systemd specifier in a unit the generator writes. */
	expect_bad("data /dev/vdb state=/meta/x%n", "bowtab:7: bad state "
		   "'/meta/x%n': expected an absolute directory path, without "
		   "%, \\, \" or '; this device is left alone\n");
	expect_bad("data /dev/vdb state=/s,commit=later", "bowtab:7: bad "
		   "commit 'later': expected boot-complete or manual; this "
		   "device is left alone\n");
	expect_bad("data /dev/vdb state=/s,retries=0", "bowtab:7: bad "
		   "retries '0': expected a number of boot attempts, 1 to 100; "
		   "this device is left alone\n");
	expect_bad("data /dev/vdb state=/s,retries=101", "bowtab:7: bad "
		   "retries '101': expected a number of boot attempts, 1 to "
		   "100; this device is left alone\n");
	expect_bad("data /dev/vdb state=/s,retries=1K", "bowtab:7: bad "
		   "retries '1K': expected a number of boot attempts, 1 to 100; "
		   "this device is left alone\n");
	expect_bad("data /dev/vdb state=/s,block_size=3072", "bowtab:7: bad "
		   "block_size '3072': expected 512, 1024, 2048 or 4096; this "
		   "device is left alone\n");
	expect_bad("data /dev/vdb state=/s,min_free=1X", "bowtab:7: bad "
		   "min_free '1X': expected a size in bytes (K, M, G, T: "
		   "1024s); this device is left alone\n");
	expect_bad("data /dev/vdb state=/s,min_free=99999999999T", "bowtab:7: "
		   "bad min_free '99999999999T': expected a size in bytes (K, M, "
		   "G, T: 1024s); this device is left alone\n");
	expect_bad("data /dev/vdb state=/s,low_water=1M", "bowtab:7: bad "
		   "low_water '1048576': expected at least min_free, so that "
		   "the event comes before free space is below it; this "
		   "device is left alone\n");
	expect_bad("data /dev/vdb state=/s,on_full=panic", "bowtab:7: bad "
		   "on_full 'panic': expected commit or abort; this device is "
		   "left alone\n");
	expect_bad("data /dev/vdb state=/s,on_invalid=x", "bowtab:7: bad "
		   "on_invalid 'x': expected roll-forward or fail; this device "
		   "is left alone\n");
	expect_bad("data /dev/vdb state=/s,retry=2", "bowtab:7: bad option "
		   "'retry': expected state, retries, block_size, low_water, "
		   "min_free, on_full, on_invalid, commit, group, initramfs or "
		   "resume; this device is left alone\n");
	expect_bad("data /dev/vdb state=/s,nofail", "bowtab:7: bad option "
		   "'nofail': expected <key>=<value>; this device is left "
		   "alone\n");
	expect_bad("data /dev/vdb state=/s,initramfs=1", "bowtab:7: bad "
		   "option 'initramfs': expected state, retries, block_size, "
		   "low_water, min_free, on_full, on_invalid, commit, group, "
		   "initramfs or resume; this device is left alone\n");
	expect_bad("data /dev/vdb state=/s,resume=yes", "bowtab:7: bad "
		   "option 'resume': expected state, retries, block_size, "
		   "low_water, min_free, on_full, on_invalid, commit, group, "
		   "initramfs or resume; this device is left alone\n");
	expect_bad("data /dev/vdb state=/s, retries=2", "bowtab:7: bad field "
		   "'retries=2': expected nothing after the options (they are "
		   "separated by commas, without spaces); this device is left "
		   "alone\n");

	strcpy(e.lower, "PARTLABEL=my data/1");
	bowtab_lower_path(&e, path, sizeof(path));
	verdict(!strcmp(path, "/dev/disk/by-partlabel/my\\x20data\\x2f1"),
		"bowtab: PARTLABEL= is udev's escaped link: %s", path);
	strcpy(e.lower, "UUID=0b1c-22");
	bowtab_lower_path(&e, path, sizeof(path));
	verdict(!strcmp(path, "/dev/disk/by-uuid/0b1c-22"),
		"bowtab: UUID= is the by-uuid link");
	strcpy(e.lower, "/dev/vdb");
	bowtab_lower_path(&e, path, sizeof(path));
	verdict(!strcmp(path, "/dev/vdb"), "bowtab: a path stays a path");
}

/* @root@dir/@name, a symbolic link to the unit @name, directories made. */
static void make_link(const char *root, const char *dir, const char *name)
{
	char path[PATH_MAX];
	size_t n = strlen(root);

	snprintf(path, sizeof(path), "%s%s", root, dir);
	for (char *p = path + n; p; p = strchr(p + 1, '/')) {
		*p = 0;
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s%s/%s", root, dir, name);
	if (symlink(name, path))
		abort();
}

/* bowtab_each()'s callbacks: what they were given, a line each. */
static void each_good(const struct bowtab_entry *e, void *arg)
{
	fprintf(arg, "good %s %u\n", e->name, e->line);
}

static void each_bad(const char *name, unsigned int line,
		     const char *message, void *arg)
{
	fprintf(arg, "bad '%s' %u: %s\n", name, line, message);
}

static void test_bowtab_file(const char *dir)
{
	char file[PATH_MAX], fstab[PATH_MAX], mp[PATH_MAX], *msg = NULL;
	char path[PATH_MAX + 64];
	struct bowtab_entry e;
	size_t len = 0;
	FILE *f, *err;
	int r;

	snprintf(file, sizeof(file), "%s/bowtab", dir);
	f = fopen(file, "w");
	fputs("# protected devices\ndatax /dev/vdc state=/s\n"
	      "data /dev/vdb state=/s,retries=2\n"
	      "bad /dev/vdd state=/s,retries=-1\n", f);
	fclose(f);
	err = open_memstream(&msg, &len);
	r = bowtab_find(file, "data", &e, err);
	fflush(err);
	verdict(!r && e.retries == 2 && e.line == 3 && !len,
		"bowtab: find picks the named line, not a longer name");
	r = bowtab_find(file, "bad", &e, err);
	fflush(err);
	verdict(r == -1 && strstr(msg, "bowtab:4: bad retries '-1'"),
		"bowtab: find says why the named line is bad");
	r = bowtab_find(file, "none", &e, err);
	fclose(err);
	verdict(r == -1 && strstr(msg, "/bowtab: no entry for none\n"),
		"bowtab: find says there is no such entry");
	free(msg);

	/*
	 * A name on two lines: the first counts, for every reader, and the
	 * second is a bad line; so is one after a bad line of that name.
	 */
	f = fopen(file, "w");
	fputs("data /dev/vdb state=/s,retries=2\nother /dev/vdc state=/s\n"
	      "data /dev/vdd state=/t\nbad /dev/vde state=/s,retries=-1\n"
	      "bad /dev/vde state=/s\n", f);
	fclose(f);
	{
		char *out = NULL, *errs = NULL, want[PATH_MAX * 3 + 400];
		size_t out_len = 0, errs_len = 0;
		FILE *o = open_memstream(&out, &out_len);
		FILE *er = open_memstream(&errs, &errs_len);

		r = bowtab_each(file, er, each_good, each_bad, o);
		fclose(o);
		fclose(er);
		snprintf(want, sizeof(want), "good data 1\ngood other 2\n"
			 "bad 'data' 3: %s:3: name 'data' is on line 1 "
			 "already: this line is left alone\n"
			 "bad 'bad' 4: %s:4: bad retries '-1': expected a "
			 "number of boot attempts, 1 to 100; this device is "
			 "left alone\nbad 'bad' 5: %s:5: name 'bad' is on "
			 "line 4 already: this line is left alone\n", file,
			 file, file);
		verdict(r == 3 && !strcmp(out, want),
			"bowtab: a name on a second line: the first counts, "
			"the second is bad%s%s", r == 3 && !strcmp(out, want) ?
			"" : " -- got: ", r == 3 && !strcmp(out, want) ? "" :
			out);
		verdict(errs && strstr(errs, "bowtab:3: name 'data' is on line "
			"1 already") && strstr(errs, "bowtab:4: bad retries"),
			"bowtab: ... and each says why on the error stream");
		free(out);
		free(errs);
		errs = NULL;
		er = open_memstream(&errs, &errs_len);
		r = bowtab_find(file, "data", &e, er);
		fclose(er);
		verdict(!r && e.line == 1 && !strcmp(e.lower, "/dev/vdb") &&
			errs && !strcmp(strrchr(errs, '/') + 1, "bowtab:3: "
			"name 'data' is on line 1 already: this line is left "
			"alone\n"),
			"bowtab: find takes the first line of a name and says "
			"the second is left alone");
		free(errs);
	}
	/* Health checks: units boot-complete.target requires, not ours. */
	snprintf(path, sizeof(path), "%s/sys", dir);
	verdict(!bowtab_health_check(path),
		"health check: none on a system without units");
	make_link(path, "/etc/systemd/system/boot-complete.target.requires",
		  "bow-checkpoint@data.service");
	verdict(!bowtab_health_check(path),
		"health check: dm-bow's own checkpoint is none");
	make_link(path, "/usr/lib/systemd/system/boot-complete.target.requires",
		  "app-health.service");
	verdict(bowtab_health_check(path),
		"health check: a unit with RequiredBy=boot-complete.target");

	snprintf(fstab, sizeof(fstab), "%s/fstab", dir);
	f = fopen(fstab, "w");
	fputs("/dev/vda / ext4 rw 0 1\n/dev/mapper/data /srv\\040data ext4 "
	      "defaults 0 2\n", f);
	fclose(f);
	verdict(bowtab_fstab_mount_point(fstab, "data", mp, sizeof(mp)) &&
		!strcmp(mp, "/srv data") &&
		!bowtab_fstab_mount_point(fstab, "dat", mp, sizeof(mp)),
		"fstab: the mount point of /dev/mapper/<name>, unescaped");

	/* Which file system holds a path; is the state on the device? */
	f = fopen(fstab, "w");
	fputs("/dev/vda / ext4 rw 0 1\n/dev/vdc /meta/ ext4 rw 0 2\n"
	      "/dev/mapper/data /data ext4 defaults 0 2\n"
	      "/dev/vdd /data/own ext4 defaults 0 2\nnone swap swap sw 0 0\n",
	      f);
	fclose(f);
	static const char *const holders[][2] = {
		{ "/meta/bow", "/meta" }, { "/meta", "/meta" },
		{ "/metadata/bow", "/" }, { "/data/own/bow", "/data/own" },
		{ "/data/owner", "/data" }, { "/var/lib/bow", "/" },
	};
	for (size_t i = 0; i < sizeof(holders) / sizeof(holders[0]); i++) {
		bowtab_fstab_holder(fstab, holders[i][0], mp, sizeof(mp));
		verdict(!strcmp(mp, holders[i][1]), "fstab: %s is on %s (%s)",
			holders[i][0], holders[i][1], mp);
	}
	snprintf(e.name, sizeof(e.name), "data");
	snprintf(e.state_dir, sizeof(e.state_dir), "/data/bow");
	r = bowtab_state_on_device(&e, fstab, mp, sizeof(mp));
	verdict(r && !strcmp(mp, "/data"),
		"bowtab: a state directory under the mount point is on it");
	snprintf(e.state_dir, sizeof(e.state_dir), "/data/own/bow");
	verdict(!bowtab_state_on_device(&e, fstab, mp, sizeof(mp)),
		"bowtab: a file system mounted inside it is not on it");
	snprintf(e.state_dir, sizeof(e.state_dir), "/database");
	verdict(!bowtab_state_on_device(&e, fstab, mp, sizeof(mp)),
		"bowtab: /database is not under /data");
}

static void write_file(const char *path, const char *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		abort();
	close(fd);
}

static int read_state(const char *dir, struct bow_state *s, char *msg,
		      size_t len)
{
	FILE *err = fmemopen(msg, len, "w");
	int r;

	memset(msg, 0, len);
	r = bow_state_read(dir, "data", s, "t: ", err);
	fclose(err);
	return r;
}

static void test_state(const char *dir)
{
	struct bow_state s = { 0 }, t;
	char path[PATH_MAX], good[8192], buf[8192], msg[1024];
	size_t len, torn_ok = 0, flip_ok = 0;
	int r, fd;

	verdict(read_state(dir, &t, msg, sizeof(msg)) == BOW_STATE_MISSING &&
		t.lifecycle == BOW_LC_IDLE && !msg[0],
		"state: a missing file reads as idle, silently");
	s.lifecycle = BOW_LC_CHECKPOINT;
	s.attempts = 2;
	s.retries = 3;
	strcpy(s.boot_id, "6c1e0b1e-6b0e-4b0e-9e0e-0e0e0e0e0e0e");
	strcpy(s.lower, "/dev/vdb1");
	strcpy(s.entry_from, "os-a.conf");
	strcpy(s.entry_to, "os-b.conf");
	bow_state_event(&s, "checkpoint", "boot attempt %d of %d;\nfree", 1,
			3);
	verdict(!strcmp(s.reason, "boot attempt 1 of 3; free"),
		"state: a reason stays one line");
	r = bow_state_write(dir, "data", &s, "t: ", stderr);
	r |= read_state(dir, &t, msg, sizeof(msg));
	verdict(!r && t.lifecycle == s.lifecycle && t.attempts == 2 &&
		t.retries == 3 && t.time == s.time &&
		!strcmp(t.event, s.event) && !strcmp(t.reason, s.reason) &&
		!strcmp(t.boot_id, s.boot_id) && !strcmp(t.lower, s.lower) &&
		!strcmp(t.entry_from, s.entry_from) &&
		!strcmp(t.entry_to, s.entry_to),
		"state: what is written is read back");
	snprintf(path, sizeof(path), "%s/data.state.tmp", dir);
	verdict(access(path, F_OK), "state: no temporary file is left");

	snprintf(path, sizeof(path), "%s/data.state", dir);
	fd = open(path, O_RDONLY);
	len = (size_t)read(fd, good, sizeof(good));
	close(fd);
	for (size_t n = 0; n < len; n++) {
		write_file(path, good, n);
		if (read_state(dir, &t, msg, sizeof(msg)) ==
		    BOW_STATE_DAMAGED && t.lifecycle == BOW_LC_FAILED &&
		    !strcmp(t.event, "damaged") && strstr(msg, "t: ") == msg)
			torn_ok++;
	}
	verdict(torn_ok == len, "state: each of %zu torn lengths is damaged "
		"(%zu were)", len, torn_ok);
	for (size_t n = 0; n < len; n++) {
		memcpy(buf, good, len);
		buf[n] ^= 0x20;
		write_file(path, buf, len);
		if (read_state(dir, &t, msg, sizeof(msg)) ==
		    BOW_STATE_DAMAGED)
			flip_ok++;
	}
	verdict(flip_ok == len, "state: each of %zu flipped bytes is seen "
		"(%zu were)", len, flip_ok);

	/* A hand edit with its CRC put right is still checked field by field. */
	len = (size_t)snprintf(buf, sizeof(buf), "version 1\nlifecycle "
			       "armed\nattempts 1000\n");
	len += (size_t)snprintf(buf + len, sizeof(buf) - len,
				"crc32 %08x\n", bow_crc32(0, buf, len));
	write_file(path, buf, len);
	r = read_state(dir, &t, msg, sizeof(msg));
	verdict(r == BOW_STATE_DAMAGED && strstr(msg, "t: ") == msg &&
		strstr(msg, "data.state: damaged state file: line 3: bad field "
		       "'attempts'\n"), "state: a value out of range is "
		"damaged, naming the line");
	len = (size_t)snprintf(buf, sizeof(buf), "lifecycle armed\n");
	len += (size_t)snprintf(buf + len, sizeof(buf) - len,
				"crc32 %08x\n", bow_crc32(0, buf, len));
	write_file(path, buf, len);
	r = read_state(dir, &t, msg, sizeof(msg));
	verdict(r == BOW_STATE_DAMAGED && strstr(msg, "no version line"),
		"state: a file without its version is damaged");
	unlink(path);

	/*
	 * A link where the temporary file goes (left there by anyone): the
	 * state replaces it, root never writes through it.
	 */
	char victim[PATH_MAX], tmp[PATH_MAX + 16], sub[PATH_MAX + 16];
	struct stat st;

	snprintf(victim, sizeof(victim), "%s/victim", dir);
	write_file(victim, "keep\n", 5);
	snprintf(tmp, sizeof(tmp), "%s/data.state.tmp", dir);
	if (symlink(victim, tmp))
		abort();
	r = bow_state_write(dir, "data", &s, "t: ", stderr);
	fd = open(victim, O_RDONLY);
	len = (size_t)read(fd, buf, sizeof(buf));
	close(fd);
	verdict(!r && len == 5 && !memcmp(buf, "keep\n", 5) &&
		!lstat(path, &st) && S_ISREG(st.st_mode) &&
		read_state(dir, &t, msg, sizeof(msg)) == BOW_STATE_OK &&
		access(tmp, F_OK),
		"state: a link left at the temporary file is not followed");
	unlink(path);
	if (symlink(victim, path))
		abort();
	verdict(read_state(dir, &t, msg, sizeof(msg)) == BOW_STATE_DAMAGED &&
		strstr(msg, "cannot open"),
		"state: a link as the state file is not read");
	unlink(path);

	/* Directories others can write to (or could rename) are refused. */
	snprintf(sub, sizeof(sub), "%s/open", dir);
	mkdir(sub, 0755);
	chmod(sub, 0777);
	verdict(bow_state_dir_check(sub, msg, sizeof(msg)) == -1 &&
		strstr(msg, "/open is writable by group or others (mode "
		       "0777)"),
		"state: a directory all can write to is refused: %s", msg);
	verdict(bow_state_write(sub, "data", &s, "t: ", stderr) == -1,
		"state: ... and never written in");
	snprintf(sub, sizeof(sub), "%s/open/bow", dir);
	verdict(bow_state_dir_check(sub, msg, sizeof(msg)) == -1,
		"state: so is one to be made in it");
	snprintf(sub, sizeof(sub), "%s/open", dir);
	chmod(sub, 01777);
	snprintf(sub, sizeof(sub), "%s/open/bow", dir);
	verdict(!bow_state_dir_check(sub, msg, sizeof(msg)),
		"state: one to be made in a sticky directory (as /tmp) is not");
	mkdir(sub, 0755);
	verdict(!bow_state_dir_check(sub, msg, sizeof(msg)),
		"state: ... nor, made, one of root's own in it");
	chmod(sub, 01777);
	verdict(bow_state_dir_check(sub, msg, sizeof(msg)) == -1,
		"state: but a sticky state directory itself is");
	chmod(sub, 0755);
	if (getuid() == 0) {
		chown(sub, 1, 1);
		verdict(bow_state_dir_check(sub, msg, sizeof(msg)) == -1 &&
			strstr(msg, "/open/bow is owned by uid 1"),
			"state: one owned by another user is refused: %s", msg);
	}
}

/* Write the Boot Loader Interface variable @name as the firmware does. */
static void put_loader_var(const char *dir, const char *name, const char *v)
{
	char path[PATH_MAX], buf[1024] = { 7, 0, 0, 0 };
	size_t n = 4;

	for (const char *p = v; *p && n + 2 < sizeof(buf); p++) {
		buf[n++] = *p;
		buf[n++] = 0;
	}
	buf[n++] = 0;
	buf[n++] = 0;
	snprintf(path, sizeof(path), "%s/%s-4a67b082-0a4c-41cf-b6c7-"
		 "440b29bb8c4f", dir, name);
	write_file(path, buf, n);
}

static void put_script(const char *path, const char *cmd)
{
	char text[256];

	snprintf(text, sizeof(text), "#!/bin/sh\n%s\n", cmd);
	write_file(path, text, strlen(text));
	chmod(path, 0755);
}

static void test_bootloader(const char *dir)
{
	static const struct {
		const char *in, *out;
	} ids[] = {
		{ "debian-b+3.conf", "debian-b.conf" },
		{ "Debian-B+2-1.conf", "debian-b.conf" },
		{ "debian-b+0-3.conf", "debian-b.conf" },
		{ "debian-b.conf", "debian-b.conf" },
		{ "os+10-12.efi", "os.efi" },
		{ "os+3", "os" },
		{ "v+1.2.conf", "v+1.2.conf" },	/* not a counter */
		{ "x+-1.conf", "x+-1.conf" },
		{ "x+1-.conf", "x+1-.conf" },
		{ "x+.conf", "x+.conf" },
		{ "+1.conf", ".conf" },
	};
	static const struct {
		const char *from, *to, *now;
		enum bow_entry_verdict v;
	} verdicts[] = {
		{ "", "", "a.conf", BOW_ENTRY_UNKNOWN },
		{ "a.conf", "", "", BOW_ENTRY_UNKNOWN },
		{ "a.conf", "", "a.conf", BOW_ENTRY_SAME },
		{ "a.conf", "a.conf", "a.conf", BOW_ENTRY_SAME },
		{ "a.conf", "", "b.conf", BOW_ENTRY_UPDATE },
		{ "a.conf", "b.conf", "b.conf", BOW_ENTRY_UPDATE },
		{ "a.conf", "b.conf", "a.conf", BOW_ENTRY_FELL_BACK },
		{ "a.conf", "b.conf", "c.conf", BOW_ENTRY_OTHER },
	};
	char id[BOW_ENTRY_MAX], why[64], path[PATH_MAX];
	unsigned int good = 0;
	size_t i;

	for (i = 0; i < sizeof(ids) / sizeof(*ids); i++) {
		snprintf(id, sizeof(id), "%s", ids[i].in);
		bow_entry_normalize(id);
		good += !strcmp(id, ids[i].out);
		if (strcmp(id, ids[i].out))
			printf("# %s: %s, expected %s\n", ids[i].in, id,
			       ids[i].out);
	}
	verdict(good == i, "boot loader: %u of %zu entry ids normalized",
		good, i);
	good = 0;
	for (i = 0; i < sizeof(verdicts) / sizeof(*verdicts); i++)
		good += bow_entry_verdict(verdicts[i].from, verdicts[i].to,
					  verdicts[i].now) == verdicts[i].v;
	verdict(good == i, "boot loader: %u of %zu verdicts", good, i);

	snprintf(path, sizeof(path), "%s/efivars", dir);
	mkdir(path, 0755);
	setenv("BOW_EFIVARS", path, 1);
	verdict(!bow_boot_entry(id, sizeof(id)) && !bow_boot_counted(),
		"boot loader: no variables, no entry, not counted");
	put_loader_var(path, "LoaderEntrySelected", "Bowtest-B+1-1.conf");
	put_loader_var(path, "LoaderBootCountPath",
		       "\\loader\\entries\\bowtest-b+1-1.conf");
	verdict(bow_boot_entry(id, sizeof(id)) &&
		!strcmp(id, "bowtest-b.conf") && bow_boot_counted(),
		"boot loader: the entry read, normalized, counted: %s", id);
	put_loader_var(path, "LoaderEntrySelected", "caf\xc3\xa9.conf");
	verdict(!bow_boot_entry(id, sizeof(id)),
		"boot loader: a name not in printable ASCII is not known");
	memset(why, 'x', sizeof(why) - 1);
	why[sizeof(why) - 1] = 0;
	put_loader_var(path, "LoaderEntrySelected", why);
	verdict(bow_boot_entry(id, sizeof(id)) && strlen(id) == 63,
		"boot loader: a 63-character name is read");
	{
		char big[BOW_ENTRY_MAX + 2];

		memset(big, 'y', sizeof(big) - 1);
		big[sizeof(big) - 1] = 0;
		put_loader_var(path, "LoaderEntrySelected", big);
		verdict(!bow_boot_entry(id, sizeof(id)),
			"boot loader: a name over %d characters is not known",
			BOW_ENTRY_MAX - 1);
	}
	setenv("BOW_BLESS_BOOT", "/bin/false", 1);
	verdict(!bow_boot_blessed(why, sizeof(why)) &&
		!strcmp(why, "no answer from /bin/false (exit status 1)"),
		"boot loader: no answer from bless-boot is not good: %s", why);
	snprintf(path, sizeof(path), "%s/bless", dir);
	put_script(path, "echo good");
	setenv("BOW_BLESS_BOOT", path, 1);
	verdict(bow_boot_blessed(why, sizeof(why)) && !strcmp(why, "good"),
		"boot loader: bless-boot's good is good");
	put_script(path, "echo indeterminate");
	verdict(!bow_boot_blessed(why, sizeof(why)) &&
		!strcmp(why, "indeterminate"),
		"boot loader: indeterminate is not good");
	unsetenv("BOW_EFIVARS");
	unsetenv("BOW_BLESS_BOOT");
}

/*
 * boot-setup's decision (bowctl/decide.c), row by row of the table in
 * Documentation/dm-bow-lifecycle.rst, "How it decides", and the boot
 * loader's cases: the facts a boot found, the state file it writes, and
 * whether it checkpoints.  What the steps around it do (the restore, an
 * invalid log with on_invalid=fail, a state file that cannot be written,
 * a table dm-bow refuses) is shown on a real system by the lifecycle
 * suite.
 */
struct decide_row {
	const char *row;		/* the table's row, or the case */
	/* The facts: the state as read, then the rest. */
	int state_read;
	enum bow_lifecycle lc;
	unsigned int attempts, retries;
	const char *event, *reason, *boot_id, *entry_to;
	bool resume;
	const char *did;
	bool finish_commit;
	const char *not_resumed;
	enum bow_entry_verdict where;
	bool counted;
	const char *unprotected;
	/* The decision. */
	enum bow_lifecycle want_lc;
	unsigned int want_attempts;
	const char *want_event, *want_reason;
	bool want_checkpoint, want_save;
	unsigned int want_notes;
	const char *want_did;
};

#define B_THIS	"11111111-2222-3333-4444-555555555555"
#define B_OTHER	"99999999-2222-3333-4444-555555555555"

static const struct decide_row decide_rows[] = {
	{ "no log, not armed (no state file): pass-through",
	  BOW_STATE_MISSING, BOW_LC_IDLE, 0, 0, "", "", "", "",
	  .want_lc = BOW_LC_IDLE, .want_event = "", .want_reason = "" },
	{ "no log, not armed (committed before): pass-through",
	  BOW_STATE_OK, BOW_LC_COMMITTED, 0, 2, "commit", "bowctl commit",
	  B_OTHER, "",
	  .want_lc = BOW_LC_COMMITTED, .want_event = "commit",
	  .want_reason = "bowctl commit", .want_save = true },
	{ "no log, armed, attempts left: count one, dm-bow, checkpoint",
	  BOW_STATE_OK, BOW_LC_ARMED, 2, 2, "armed", "bowctl start", "", "",
	  .want_lc = BOW_LC_ARMED, .want_attempts = 1,
	  .want_event = "attempt", .want_reason = "boot attempt 1 of 2",
	  .want_checkpoint = true, .want_save = true },
	{ "... the same boot again: counted once",
	  BOW_STATE_OK, BOW_LC_ARMED, 1, 2, "attempt", "boot attempt 1 of 2",
	  B_THIS, "",
	  .want_lc = BOW_LC_ARMED, .want_attempts = 1,
	  .want_event = "attempt", .want_reason = "boot attempt 1 of 2",
	  .want_checkpoint = true, .want_save = true },
	{ "log, armed, attempts left: restore, count one, checkpoint",
	  BOW_STATE_OK, BOW_LC_CHECKPOINT, 1, 2, "checkpoint", "taken",
	  B_OTHER, "", .did = "restored",
	  .want_lc = BOW_LC_ARMED, .want_attempts = 0,
	  .want_event = "attempt", .want_reason = "boot attempt 2 of 2",
	  .want_checkpoint = true, .want_save = true,
	  .want_did = "restored" },
	{ "log, no attempt left: restore, pass-through; rolled-back",
	  BOW_STATE_OK, BOW_LC_CHECKPOINT, 0, 2, "checkpoint", "taken",
	  B_OTHER, "", .did = "restored",
	  .want_lc = BOW_LC_ROLLED_BACK, .want_event = "restored",
	  .want_reason = "restored the checkpoint: the boot did not commit "
			 "and no attempt is left",
	  .want_save = true, .want_did = "restored" },
	{ "log, aborted: restore, pass-through; rolled-back, the abort's reason",
	  BOW_STATE_OK, BOW_LC_CHECKPOINT, 0, 2, "abort", "bowctl abort",
	  B_OTHER, "", .did = "restored",
	  .want_lc = BOW_LC_ROLLED_BACK, .want_event = "restored",
	  .want_reason = "restored the checkpoint: bowctl abort",
	  .want_save = true, .want_did = "restored" },
	{ "log that does not validate, on_invalid=roll-forward: failed",
	  BOW_STATE_OK, BOW_LC_CHECKPOINT, 1, 2, "checkpoint", "taken",
	  B_OTHER, "", .did = "rolled-forward",
	  .want_lc = BOW_LC_FAILED, .want_event = "rolled-forward",
	  .want_reason = "the log on /dev/vdb did not validate: kept the "
			 "data written since the checkpoint "
			 "(on_invalid=roll-forward)",
	  .want_save = true, .want_did = "rolled-forward" },
	{ "no log, armed, no attempt left: failed (no-checkpoint)",
	  BOW_STATE_OK, BOW_LC_ARMED, 0, 2, "attempt", "boot attempt 2 of 2",
	  B_OTHER, "",
	  .want_lc = BOW_LC_FAILED, .want_event = "no-checkpoint",
	  .want_reason = "no boot attempt left, and the last one took no "
			 "checkpoint (see its bow-checkpoint@data): nothing "
			 "was restored", .want_save = true },
	{ "no log, the last checkpoint failed: failed stays",
	  BOW_STATE_OK, BOW_LC_FAILED, 0, 2, "checkpoint-failed", "ENOSPC",
	  B_OTHER, "",
	  .want_lc = BOW_LC_FAILED, .want_event = "checkpoint-failed",
	  .want_reason = "ENOSPC", .want_save = true },
	{ "log, the state says committing: finished, committed",
	  BOW_STATE_OK, BOW_LC_CHECKPOINT, 1, 2, "committing", "bowctl commit",
	  B_OTHER, "", .did = "commit-finished", .finish_commit = true,
	  .want_lc = BOW_LC_COMMITTED, .want_event = "commit",
	  .want_reason = "the checkpoint was committed (finished at this "
			 "boot)", .want_save = true,
	  .want_did = "commit-finished" },
	{ "no log, the state says committing: committed",
	  BOW_STATE_OK, BOW_LC_CHECKPOINT, 1, 2, "committing", "bowctl commit",
	  B_OTHER, "", .finish_commit = true,
	  .want_lc = BOW_LC_COMMITTED, .want_event = "commit",
	  .want_reason = "the checkpoint was committed (before a restart, "
			 "not yet recorded)", .want_save = true },
	{ "no log, a checkpoint was live, no committing: failed (log-gone)",
	  BOW_STATE_OK, BOW_LC_CHECKPOINT, 1, 2, "checkpoint", "taken",
	  B_OTHER, "",
	  .want_lc = BOW_LC_FAILED, .want_event = "log-gone",
	  .want_reason = "the checkpoint's log is gone and no commit was "
			 "recorded (a restore the state file could not "
			 "record?): whether the data is the checkpoint's or "
			 "the update's is not known",
	  .want_save = true, .want_notes = BOOT_NOTE_LOG_GONE },
	{ "no log, the state says restoring: restored",
	  BOW_STATE_OK, BOW_LC_CHECKPOINT, 0, 2, "restoring",
	  "restoring the checkpoint", B_OTHER, "",
	  .want_lc = BOW_LC_ROLLED_BACK, .want_event = "restored",
	  .want_reason = "restored the checkpoint: the boot did not commit "
			 "and no attempt is left",
	  .want_save = true, .want_did = "restored" },
	{ "no log, the state says rolling-forward: rolled forward, failed",
	  BOW_STATE_OK, BOW_LC_CHECKPOINT, 0, 2, "rolling-forward",
	  "rolling forward over the log", B_OTHER, "",
	  .want_lc = BOW_LC_FAILED, .want_event = "rolled-forward",
	  .want_reason = "the log on /dev/vdb did not validate: kept the "
			 "data written since the checkpoint "
			 "(on_invalid=roll-forward)",
	  .want_save = true, .want_did = "rolled-forward" },
	{ "state file torn or edited: a live log restored, no checkpoint",
	  BOW_STATE_DAMAGED, BOW_LC_FAILED, 0, 0, "damaged",
	  "line 3: expected attempts", "", "", .did = "restored",
	  .want_lc = BOW_LC_FAILED, .want_event = "damaged",
	  .want_reason = "line 3: expected attempts; restored the checkpoint",
	  .want_save = true, .want_notes = BOOT_NOTE_DAMAGED,
	  .want_did = "restored" },
	{ "state directory on the device: never checkpointed",
	  BOW_STATE_OK, BOW_LC_ARMED, 2, 2, "armed", "bowctl start", "", "",
	  .unprotected = "state directory /var/lib/bow is on the lower device",
	  .want_lc = BOW_LC_ARMED, .want_attempts = 2, .want_event = "armed",
	  .want_reason = "bowctl start", .want_save = true,
	  .want_notes = BOOT_NOTE_UNPROTECTED },
	{ "resume: log, unclean file system: restore; rolled-back, the reason",
	  BOW_STATE_OK, BOW_LC_CHECKPOINT, 0, 2, "checkpoint", "taken",
	  B_OTHER, "", .resume = true, .did = "restored",
	  .not_resumed = "the file system was not cleanly unmounted",
	  .want_lc = BOW_LC_ROLLED_BACK, .want_event = "restored",
	  .want_reason = "restored the checkpoint: could not resume it: the "
			 "file system was not cleanly unmounted",
	  .want_save = true, .want_did = "restored" },
	{ "resume: log, no attempt: restore; rolled-back",
	  BOW_STATE_OK, BOW_LC_CHECKPOINT, 0, 2, "attempt",
	  "boot attempt 2 of 2", B_OTHER, "", .resume = true,
	  .did = "restored",
	  .want_lc = BOW_LC_ROLLED_BACK, .want_event = "restored",
	  .want_reason = "restored the checkpoint: the boot did not commit "
			 "and no attempt is left",
	  .want_save = true, .want_did = "restored" },
	{ "resume: armed, log (start cut short after its checkpoint): restored",
	  BOW_STATE_OK, BOW_LC_ARMED, 0, 2, "armed", "bowctl start", "", "",
	  .resume = true, .did = "restored",
	  .want_lc = BOW_LC_ROLLED_BACK, .want_event = "restored",
	  .want_reason = "restored the checkpoint: bowctl start did not "
			 "finish", .want_save = true, .want_did = "restored" },
	{ "resume: armed, no log: bowctl start stopped; idle",
	  BOW_STATE_OK, BOW_LC_ARMED, 0, 2, "armed", "bowctl start", "", "",
	  .resume = true,
	  .want_lc = BOW_LC_IDLE, .want_event = "disarmed",
	  .want_reason = "bowctl start did not finish: no checkpoint was "
			 "taken", .want_save = true },
	{ "boot loader: back on the entry armed from, no log: fell back, idle",
	  BOW_STATE_OK, BOW_LC_ARMED, 1, 2, "attempt", "boot attempt 1 of 2",
	  B_OTHER, "b.conf", .where = BOW_ENTRY_FELL_BACK,
	  .want_lc = BOW_LC_IDLE, .want_event = "fell-back",
	  .want_reason = "the boot loader went back to entry a.conf before "
			 "b.conf took a checkpoint: nothing to restore; "
			 "disarmed", .want_save = true },
	{ "boot loader: back on the entry armed from, a log: restored",
	  BOW_STATE_OK, BOW_LC_CHECKPOINT, 1, 2, "attempt",
	  "boot attempt 1 of 2", B_OTHER, "b.conf", .did = "restored",
	  .where = BOW_ENTRY_FELL_BACK,
	  .want_lc = BOW_LC_ROLLED_BACK, .want_event = "restored",
	  .want_reason = "restored the checkpoint: the boot loader went back "
			 "to entry a.conf (b.conf did not become good)",
	  .want_save = true, .want_did = "restored" },
	{ "boot loader: the update's entry, still counted, past retries",
	  BOW_STATE_OK, BOW_LC_CHECKPOINT, 0, 2, "attempt",
	  "boot attempt 2 of 2", B_OTHER, "", .did = "restored",
	  .where = BOW_ENTRY_UPDATE, .counted = true,
	  .want_lc = BOW_LC_ARMED, .want_attempts = 0,
	  .want_event = "attempt",
	  .want_reason = "boot attempt past the 2 retries (the boot loader "
			 "still counts the tries of entry a.conf, not marked "
			 "good)", .want_checkpoint = true, .want_save = true,
	  .want_did = "restored" },
	{ "boot loader: the update's entry, marked good, past retries",
	  BOW_STATE_OK, BOW_LC_CHECKPOINT, 0, 2, "attempt",
	  "boot attempt 2 of 2", B_OTHER, "a.conf", .did = "restored",
	  .where = BOW_ENTRY_UPDATE,
	  .want_lc = BOW_LC_ROLLED_BACK, .want_event = "restored",
	  .want_reason = "restored the checkpoint: the boot did not commit "
			 "and no attempt is left",
	  .want_save = true, .want_did = "restored" },
};

static void test_decide(void)
{
	for (size_t i = 0; i < sizeof(decide_rows) / sizeof(*decide_rows);
	     i++) {
		const struct decide_row *t = &decide_rows[i];
		struct bow_state st = { .lifecycle = t->lc,
					.attempts = t->attempts,
					.retries = t->retries };
		struct boot_decision dec;
		struct boot_facts f;

		snprintf(st.event, sizeof(st.event), "%s", t->event);
		snprintf(st.reason, sizeof(st.reason), "%s", t->reason);
		snprintf(st.boot_id, sizeof(st.boot_id), "%s", t->boot_id);
		snprintf(st.entry_to, sizeof(st.entry_to), "%s", t->entry_to);
		f = (struct boot_facts){
			.state_read = t->state_read, .prev = st,
			.resume = t->resume, .did = t->did,
			.finish_commit = t->finish_commit,
			.not_resumed = t->not_resumed ? t->not_resumed : "",
			.where = t->where, .entry = "a.conf",
			.counted = t->counted, .unprotected = t->unprotected,
			.boot_id = B_THIS, .lower = "/dev/vdb", .name = "data",
		};
		if (t->where == BOW_ENTRY_UNKNOWN)
			f.entry = "";
		if (t->resume)
			st.attempts = 0;	/* as boot-setup sets it */
		boot_decide(&f, &st, &dec);
		verdict(st.lifecycle == t->want_lc &&
			st.attempts == t->want_attempts &&
			!strcmp(st.event, t->want_event) &&
			!strcmp(st.reason, t->want_reason) &&
			dec.checkpoint == t->want_checkpoint &&
			dec.save == t->want_save &&
			dec.notes == t->want_notes &&
			!strcmp(dec.did ? dec.did : "",
				t->want_did ? t->want_did : ""),
			"boot decision: %s (got %s, %u left, %s: %s; "
			"checkpoint %d, save %d, notes %u, did %s)", t->row,
			bow_lifecycle_name(st.lifecycle), st.attempts,
			st.event, st.reason, dec.checkpoint, dec.save,
			dec.notes, dec.did ? dec.did : "-");
	}
}

/* Before the log is touched: a commit to finish, a checkpoint to resume. */
static void test_decide_before(void)
{
	struct bow_state st = { .lifecycle = BOW_LC_CHECKPOINT, .attempts = 1 };

	snprintf(st.event, sizeof(st.event), "committing");
	verdict(boot_commit_pending(BOW_STATE_OK, &st) &&
		!boot_commit_pending(BOW_STATE_DAMAGED, &st) &&
		!boot_resume_wanted(BOW_STATE_OK, &st, true),
		"boot decision: committing is finished, never resumed");
	snprintf(st.event, sizeof(st.event), "attempt");
	verdict(!boot_commit_pending(BOW_STATE_OK, &st) &&
		boot_resume_wanted(BOW_STATE_OK, &st, true) &&
		!boot_resume_wanted(BOW_STATE_OK, &st, false) &&
		!boot_resume_wanted(BOW_STATE_DAMAGED, &st, true),
		"boot decision: resume: log, checkpoint live, attempts left");
	st.attempts = 0;
	verdict(!boot_resume_wanted(BOW_STATE_OK, &st, true),
		"boot decision: resume: no attempt left: restored instead");
	st.attempts = 1;
	snprintf(st.event, sizeof(st.event), "restoring");
	verdict(!boot_resume_wanted(BOW_STATE_OK, &st, true),
		"boot decision: a log a restore began on is never resumed");
	snprintf(st.event, sizeof(st.event), "rolling-forward");
	verdict(!boot_resume_wanted(BOW_STATE_OK, &st, true),
		"boot decision: nor one a roll forward began on");
	st.lifecycle = BOW_LC_ARMED;
	snprintf(st.event, sizeof(st.event), "armed");
	verdict(!boot_resume_wanted(BOW_STATE_OK, &st, true),
		"boot decision: armed, no checkpoint taken: nothing to resume");
}

int main(void)
{
	char dir[] = "/tmp/test-bowctl.XXXXXX";
	char cmd[64];

	if (!mkdtemp(dir))
		return 1;
	test_bowtab();
	test_bowtab_file(dir);
	test_state(dir);
	test_bootloader(dir);
	test_decide();
	test_decide_before();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		return 1;
	return failures ? 1 : 0;
}
