// SPDX-License-Identifier: GPL-2.0
/*
 * bowctl: status (text and JSON) and initramfs-devices.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <string.h>

#include "bowctl.h"

/* ---- status */

/*
 * The length of the UTF-8 sequence at @s, or 0 if it is not a valid one
 * (overlong, a surrogate, past U+10FFFF, cut short).
 */
static size_t utf8_len(const unsigned char *s)
{
	uint32_t c;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, c = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (n == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return n;
}

/* A JSON string: valid UTF-8 whatever @s holds (U+FFFD for a bad byte). */
void json_string(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	putchar('"');
	while (*p) {
		n = utf8_len(p);
		if (!n) {
			fputs("\\ufffd", stdout);
			p++;
		} else if (*p == '"' || *p == '\\') {
			printf("\\%c", *p++);
		} else if (*p < 0x20 || *p == 0x7f) {
			printf("\\u%04x", *p++);
		} else {
			fwrite(p, 1, n, stdout);
			p += n;
		}
	}
	putchar('"');
}

static const char *const mapping_names[] = {
	[BOW_MAP_NONE] = "none", [BOW_MAP_BOW] = "bow",
	[BOW_MAP_LINEAR] = "linear", [BOW_MAP_OTHER] = "other",
};

struct status_walk {
	bool json;
	bool health;	/* bowtab_health_check() of the system, read once */
	int count;
	const char *only;
	int r;
};

/* Whether the status says how the backup check of a resume went. */
static bool has_backup_check(const struct bow_dm_info *di)
{
	return di->backups[0] && strcmp(di->backups, "-");
}

static void json_string_or_null(const char *s)
{
	if (s[0])
		json_string(s);
	else
		printf("null");
}

/* A bad bowtab line: in the JSON, an entry that says so. */
static void status_bad_line(const char *name, unsigned int line,
			    const char *message, void *arg)
{
	struct status_walk *w = arg;

	if (!w->json || (w->only && strcmp(w->only, name)))
		return;
	printf("%s\n    {\"name\": ", w->count++ ? "," : "");
	json_string(name);
	printf(", \"bowtab_line\": %u, \"error\": ", line);
	json_string(message);
	putchar('}');
}

static void status_one(const struct bowtab_entry *e, void *arg)
{
	struct status_walk *w = arg;
	struct bow_dm_info di = { 0 };
	char why[PATH_MAX + 100];
	char warning[600];
	struct dev d;
	const char *state_file;

	if (w->only && strcmp(w->only, e->name))
		return;
	boot_warning_read(e->name, warning, sizeof(warning));
	if (warning[0])
		w->r = EXIT_SYSTEM;
	memset(&d, 0, sizeof(d));
	d.e = *e;
	snprintf(d.prefix, sizeof(d.prefix), "bowctl: %s: ", e->name);
	dev_state_dir(&d);
	if (state_fs_mounted(&d)) {
		/* Unknown until it is mounted: someone must look. */
		d.st.lifecycle = BOW_LC_FAILED;
		state_file = "unmounted";
		w->r = EXIT_SYSTEM;
	} else if (bow_state_dir_check(d.state_dir, why, sizeof(why))) {
		say(&d, "unsafe state directory: %s\n", why);
		d.st.lifecycle = BOW_LC_FAILED;
		state_file = "unsafe";
		w->r = EXIT_SYSTEM;
	} else {
		d.state_read = bow_state_read(d.state_dir, e->name, &d.st,
					      d.prefix, stderr);
		state_file = d.state_read == BOW_STATE_OK ? "ok" :
			     d.state_read == BOW_STATE_MISSING ? "missing" :
			     "damaged";
	}
	if (bow_dm_info(e->name, &di)) {
		say(&d, "cannot query device-mapper\n");
		w->r = EXIT_SYSTEM;
	}
	if (!w->json) {
		printf("%s%s: %s, %u of %u boot attempts left\n",
		       w->count++ ? "\n" : "", e->name,
		       bow_lifecycle_name(d.st.lifecycle), d.st.attempts,
		       d.st.retries);
		printf("  device: /dev/mapper/%s, %s", e->name,
		       mapping_names[di.mapping]);
		if (di.mapping == BOW_MAP_BOW)
			printf(", state %u, %" PRIu64 " bytes free, %" PRIu64
			       " backed up%s", di.state, di.free_bytes,
			       di.backup_bytes, di.failed ? ", FAILED" : "");
		if (di.mapping == BOW_MAP_BOW && has_backup_check(&di))
			printf(", backups %s", di.backups);
		printf("\n  lower: %s\n  group: %s\n", e->lower, e->group);
		if (e->commit == BOWTAB_COMMIT_MANUAL)
			printf("  commit: by the update tool (commit=manual)\n");
		else
			printf("  commit: after a healthy boot%s\n", w->health ?
			       "" : "; WARNING: no health check guards it "
			       "(nothing is required by boot-complete.target)");
		if (d.st.entry_from[0] || d.st.entry_to[0])
			printf("  boot loader entries: from %s to %s\n",
			       d.st.entry_from[0] ? d.st.entry_from : "(unknown)",
			       d.st.entry_to[0] ? d.st.entry_to :
			       "(the first other one booted)");
		if (d.st.event[0])
			printf("  last event: %s at %" PRId64 ": %s\n",
			       d.st.event, d.st.time, d.st.reason);
		if (warning[0])
			printf("  WARNING (this boot): %s\n", warning);
		printf("  state file: %s/%s.state (%s)\n", d.state_dir,
		       e->name, state_file);
		return;
	}
	printf("%s\n    {\"name\": ", w->count++ ? "," : "");
	json_string(e->name);
	printf(", \"lower\": ");
	json_string(e->lower);
	printf(", \"group\": ");
	json_string(e->group);
	printf(", \"lifecycle\": \"%s\", \"attempts_left\": %u, "
	       "\"retries\": %u,\n     \"commit\": \"%s\", "
	       "\"health_check\": %s, \"mapping\": \"%s\", ",
	       bow_lifecycle_name(d.st.lifecycle), d.st.attempts,
	       d.st.retries, e->commit == BOWTAB_COMMIT_MANUAL ? "manual" :
	       "boot-complete", e->commit == BOWTAB_COMMIT_MANUAL ? "null" :
	       w->health ? "true" : "false", mapping_names[di.mapping]);
	if (di.mapping == BOW_MAP_BOW) {
		printf("\"dm_state\": %u, \"free_bytes\": %" PRIu64
		       ", \"backup_bytes\": %" PRIu64 ", \"failed\": %s,\n"
		       "     \"backups\": ",
		       di.state, di.free_bytes, di.backup_bytes,
		       di.failed ? "true" : "false");
		json_string_or_null(has_backup_check(&di) ? di.backups : "");
		printf(",\n");
	} else {
		printf("\"dm_state\": null, \"free_bytes\": null, "
		       "\"backup_bytes\": null, \"failed\": false,\n"
		       "     \"backups\": null,\n");
	}
	printf("     \"entry_from\": ");
	json_string_or_null(d.st.entry_from);
	printf(", \"entry_to\": ");
	json_string_or_null(d.st.entry_to);
	printf(",\n     \"state_file\": \"%s\", \"boot_warning\": ", state_file);
	if (warning[0])
		json_string(warning);
	else
		printf("null");
	printf(", \"last_event\": ");
	if (d.st.event[0]) {
		printf("{\"event\": ");
		json_string(d.st.event);
		printf(", \"time\": %" PRId64 ", \"reason\": ", d.st.time);
		json_string(d.st.reason);
		printf("}}");
	} else {
		printf("null}");
	}
}

int cmd_status(const char *only, bool json)
{
	struct status_walk w = {
		.json = json, .only = only,
		.health = bowtab_health_check(root_dir),
	};
	int nbad;

	if (json)
		printf("{\"version\": 1, \"devices\": [");
	nbad = bowtab_each(bowtab_path, stderr, status_one, status_bad_line,
			   &w);
	if (json)
		printf("%s]}\n", w.count ? "\n  " : "");
	if (only && !w.count) {
		fprintf(stderr, "bowctl: %s: no valid entry in %s\n", only,
			bowtab_path);
		return EXIT_USAGE;
	}
	if (nbad < 0)
		return EXIT_SYSTEM;
	return nbad && !only ? EXIT_USAGE : w.r;
}

/* ---- the initramfs */

static void initramfs_one(const struct bowtab_entry *e, void *arg)
{
	char mp[PATH_MAX], at[PATH_MAX];

	(void)arg;
	if (!e->initramfs)
		return;
	bowtab_fstab_holder(fstab_path, e->state_dir, mp, sizeof(mp));
	/* The root file system's device must be there before its mount. */
	printf("%s %s %s\n", e->name, mp,
	       bowtab_fstab_mount_point(fstab_path, e->name, at, sizeof(at)) &&
	       !strcmp(at, "/") ? "local-top" : "local-bottom");
}

/*
 * The devices the initramfs sets up, a line each: the name, the fstab
 * mount point of the file system that holds its state directory (which
 * the boot scripts make writable for boot-setup), and the initramfs-tools
 * phase that sets it up: local-top for the root file system's device,
 * before the root is mounted, local-bottom for the others.
 */
int cmd_initramfs_devices(void)
{
	int nbad = bowtab_each(bowtab_path, stderr, initramfs_one, NULL,
			       NULL);

	return nbad < 0 ? EXIT_SYSTEM : nbad ? EXIT_USAGE : EXIT_DONE;
}
