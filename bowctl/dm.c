// SPDX-License-Identifier: GPL-2.0
/*
 * Device-mapper through libdevmapper: the library that dmsetup and LVM
 * use, which also waits for udev to make /dev/mapper/<name>.
 */
#include <errno.h>
#include <inttypes.h>
#include <libdevmapper.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dm.h"

static struct dm_task *task(int type, const char *name)
{
	struct dm_task *dmt = dm_task_create(type);

	if (dmt && !dm_task_set_name(dmt, name)) {
		dm_task_destroy(dmt);
		dmt = NULL;
	}
	return dmt;
}

/* Without the device-mapper driver loaded there is no device at all. */
static bool dm_loaded(void)
{
	return !access("/sys/class/misc/device-mapper", F_OK);
}

int bow_dm_info(const char *name, struct bow_dm_info *info)
{
	struct dm_task *dmt;
	char *type = NULL, *params = NULL, rw[8];
	uint64_t start, length;
	struct dm_info di;
	int r = -1;

	memset(info, 0, sizeof(*info));
	if (!dm_loaded())
		return 0;
	dmt = task(DM_DEVICE_STATUS, name);
	if (!dmt)
		return -1;
	if (!dm_task_run(dmt) || !dm_task_get_info(dmt, &di))
		goto out;
	r = 0;
	if (!di.exists)
		goto out;
	info->major = (uint32_t)di.major;
	info->minor = (uint32_t)di.minor;
	info->event_nr = di.event_nr;
	info->mapping = BOW_MAP_OTHER;
	if (dm_get_next_target(dmt, NULL, &start, &length, &type, &params) ||
	    !type)
		goto out;
	if (!strcmp(type, "linear")) {
		info->mapping = BOW_MAP_LINEAR;
	} else if (!strcmp(type, "bow") && params &&
		   sscanf(params, "%u %" SCNu64 " %" SCNu64
			  " %*u %*u %*u %*u %*u %7s %11s", &info->state,
			  &info->free_bytes, &info->backup_bytes, rw,
			  info->backups) >= 4) {
		info->mapping = BOW_MAP_BOW;
		info->failed = !strcmp(rw, "fail");
	}
out:
	dm_task_destroy(dmt);
	return r;
}

int bow_dm_create(const char *name, uint64_t sectors, const char *target,
		  const char *params)
{
	struct dm_task *dmt = task(DM_DEVICE_CREATE, name);
	uint32_t cookie = 0;
	int r = -1;

	if (!dmt)
		return -1;
	if (dm_task_add_target(dmt, 0, sectors, target, params) &&
	    dm_task_set_cookie(dmt, &cookie, 0) && dm_task_run(dmt))
		r = 0;
	if (cookie)
		dm_udev_wait(cookie);
	dm_task_destroy(dmt);
	return r;
}

/*
 * A task with nothing but a name: DM_DEVICE_RESUME (which swaps in a
 * loaded table), _CLEAR (drops it), _REMOVE.  Those that change the
 * nodes in /dev wait for udev.
 */
static int run_simple(int type, const char *name)
{
	struct dm_task *dmt = task(type, name);
	uint32_t cookie = 0;
	int r = -1;

	if (!dmt)
		return -1;
	if ((type == DM_DEVICE_CLEAR ||
	     dm_task_set_cookie(dmt, &cookie, 0)) && dm_task_run(dmt))
		r = 0;
	if (cookie)
		dm_udev_wait(cookie);
	dm_task_destroy(dmt);
	return r;
}

int bow_dm_reload(const char *name, uint64_t sectors, const char *target,
		  const char *params)
{
	struct dm_task *dmt = task(DM_DEVICE_RELOAD, name);
	int r = -1;

	if (!dmt)
		return -1;
	/* The load constructs the target: its refusals come here. */
	if (dm_task_add_target(dmt, 0, sectors, target, params) &&
	    dm_task_run(dmt))
		r = 0;
	dm_task_destroy(dmt);
	if (r)
		return r;
	/* The resume suspends (flushing the file system) and swaps. */
	if (!run_simple(DM_DEVICE_RESUME, name))
		return 0;
	/*
	 * A failed swap leaves the device suspended: drop the new table and
	 * resume the old one, so that what is mounted there goes on.
	 */
	run_simple(DM_DEVICE_CLEAR, name);
	run_simple(DM_DEVICE_RESUME, name);
	return -1;
}

int bow_dm_remove(const char *name)
{
	return run_simple(DM_DEVICE_REMOVE, name);
}

int bow_dm_message_reply(const char *name, const char *message,
			 int (*reply)(const char *text, void *arg), void *arg)
{
	struct dm_task *dmt = task(DM_DEVICE_TARGET_MSG, name);
	const char *text;
	int r = -EIO;

	if (!dmt)
		return r;
	errno = 0;
	if (dm_task_set_sector(dmt, 0) && dm_task_set_message(dmt, message) &&
	    dm_task_run(dmt)) {
		r = 0;
		if (reply) {
			text = dm_task_get_message_response(dmt);
			r = reply(text ? text : "", arg);
		}
	} else if (errno) {
		r = -errno;	/* the ioctl's: what the target returned */
	}
	dm_task_destroy(dmt);
	return r;
}

int bow_dm_message(const char *name, const char *message)
{
	return bow_dm_message_reply(name, message, NULL, NULL);
}

int bow_dm_wait_event(const char *name, uint32_t event_nr)
{
	struct dm_task *dmt = task(DM_DEVICE_WAITEVENT, name);
	int r = -1;

	if (!dmt)
		return -1;
	if (dm_task_set_event_nr(dmt, event_nr) && dm_task_run(dmt))
		r = 0;
	dm_task_destroy(dmt);
	return r;
}

int bow_dm_has_target(const char *type)
{
	struct dm_versions *t, *last;
	struct dm_task *dmt;
	int found = 0;

	if (!dm_loaded())
		return 0;
	dmt = dm_task_create(DM_DEVICE_LIST_VERSIONS);
	if (!dmt)
		return 0;
	if (dm_task_run(dmt) && (t = dm_task_get_versions(dmt))) {
		/* A list linked by offsets; the last entry's is 0. */
		do {
			last = t;
			if (!strcmp(t->name, type))
				found = 1;
			t = (struct dm_versions *)((char *)t + t->next);
		} while (last != t);
	}
	dm_task_destroy(dmt);
	return found;
}
