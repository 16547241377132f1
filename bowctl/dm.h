/* SPDX-License-Identifier: GPL-2.0 */
/* The device-mapper calls bowctl makes, through libdevmapper. */
#ifndef BOWCTL_DM_H
#define BOWCTL_DM_H

#include <stdbool.h>
#include <stdint.h>

enum bow_mapping {
	BOW_MAP_NONE,		/* no device of that name */
	BOW_MAP_BOW,		/* dm-bow */
	BOW_MAP_LINEAR,		/* the pass-through of an unarmed boot */
	BOW_MAP_OTHER,		/* something else: not ours to touch */
};

/* What a device's status line says (dm-bow's: Documentation/dm-bow.rst). */
struct bow_dm_info {
	enum bow_mapping mapping;
	uint32_t major, minor;
	uint32_t event_nr;
	unsigned int state;	/* dm-bow: 0 trim, 1 checkpoint, 2 committed */
	uint64_t free_bytes;
	uint64_t backup_bytes;
	bool failed;		/* dm-bow latched a log write failure */
	/*
	 * The backup check of a resumed checkpoint: "-" (none), checking,
	 * verified, corrupt, unchecked; "" from a module without it.
	 */
	char backups[12];
};

/*
 * Returns 0 (@info->mapping BOW_MAP_NONE if absent, or if device-mapper
 * is not even loaded) or -1.
 */
int bow_dm_info(const char *name, struct bow_dm_info *info);

/* Create @name of @sectors with one target; waits for udev's nodes. */
int bow_dm_create(const char *name, uint64_t sectors, const char *target,
		  const char *params);

/*
 * Replace @name's table with one target, live: device-mapper suspends the
 * device (flushing what is mounted on it), swaps the tables and resumes.
 */
int bow_dm_reload(const char *name, uint64_t sectors, const char *target,
		  const char *params);

/* Remove @name (it must not be open); waits for udev. */
int bow_dm_remove(const char *name);

/*
 * Send dm-bow a message: "checkpoint", "commit", "rollback".  Returns 0
 * or a negative errno, the target's where the ioctl reached it.
 */
int bow_dm_message(const char *name, const char *message);

/*
 * bow_dm_message() of a message with a reply ("changed"): @reply is given
 * the reply ("" if none; valid until it returns) and what it returns is
 * returned.
 */
int bow_dm_message_reply(const char *name, const char *message,
			 int (*reply)(const char *text, void *arg), void *arg);

/* Wait until the device's event counter passes @event_nr. */
int bow_dm_wait_event(const char *name, uint32_t event_nr);

/*
 * Whether the kernel has the target @type ("bow") registered: after a
 * table of it failed to load (which made the kernel try to load its
 * module), 0 means the module is missing.  0 without device-mapper too.
 */
int bow_dm_has_target(const char *type);

#endif /* BOWCTL_DM_H */
