// SPDX-License-Identifier: GPL-2.0
/*
 * bowctl: the update lifecycle around dm-bow (bowctl(8)).  Arms a
 * checkpoint for the next boot, and at boot restores a checkpoint that
 * was not committed, sets dm-bow up, checkpoints after the mount, watches
 * free space and commits after a healthy boot.  A device updated in place
 * (bowtab resume) is checkpointed at once by start, and its checkpoint
 * resumed by the boots that try the update.  Every step reads and writes
 * the device's state file (state.c) and is safe to run again after a
 * power cut at any point.
 *
 * This file: the command line.  bowctl.h says where the rest is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "bowctl.h"

#ifndef BOW_VERSION
#define BOW_VERSION "unknown"
#endif

/* ---- command line */

static void usage(FILE *f)
{
	fputs("Usage: bowctl [--root DIR] [--bowtab FILE] <command> [<name>] "
	      "[options]\n"
	      "The dm-bow update lifecycle, for the devices in /etc/bowtab.\n"
	      "\n"
	      "  start <name> [--retries N] [--entry ID]\n"
	      "                              checkpoint the next N boots "
	      "until one commits\n"
	      "                              (those of boot loader entry ID)\n"
	      "  commit <name>               keep the update; disarm\n"
	      "  abort <name> [--reboot]     restore the checkpoint at the "
	      "next boot; disarm\n"
	      "  rollback <name>             restore the checkpoint now "
	      "(unmounts it)\n"
	      "  status [<name>] [--json]    lifecycle, device and last "
	      "event\n"
	      "  changed <name> [--json]     the ranges written since the "
	      "checkpoint\n"
	      "\n"
	      "Run by the boot units (bowctl(8)), each safe to run again:\n"
	      "  boot-setup <name>       before the mount: restore, count "
	      "an attempt, map\n"
	      "  boot-checkpoint <name>  after the mount: FITRIM, "
	      "checkpoint\n"
	      "  boot-watch <name>       commit or abort on low free "
	      "space\n"
	      "  boot-commit <name>      after a healthy boot: commit\n"
	      "  initramfs-devices       the devices the initramfs sets "
	      "up\n"
	      "\n"
	      "Exit status: 0 done or nothing to do, 2 usage or bowtab "
	      "error,\n"
	      "3 system error (I/O, device-mapper, state file), 4 "
	      "refused,\n"
	      "5 nothing to restore (abort, rollback: the data was "
	      "committed).\n", f);
}

static unsigned int opt_retries;
static bool opt_reboot;

static int cmd_user_commit(struct dev *d)
{
	return group_commit(d, "commit", "bowctl commit", true, NULL);
}

static int cmd_user_start(struct dev *d)
{
	return cmd_start(d, opt_retries);
}

static int cmd_user_abort(struct dev *d)
{
	return cmd_abort(d, opt_reboot);
}

static bool opt_json;

static int cmd_user_status(const char *name)
{
	return cmd_status(name, opt_json);
}

static int cmd_user_changed(const char *name)
{
	return cmd_changed(name, opt_json);
}

static int cmd_user_initramfs_devices(const char *name)
{
	(void)name;
	return cmd_initramfs_devices();
}

/*
 * Every command: whether it takes a device's name, which options
 * (--retries and --entry, --reboot, --json), and what runs it.  A command
 * on one device runs under its lock (dev_open()); one on the name alone
 * (the bowtab's entries, or a device-mapper device's) without.
 */
enum name_arg { NAME_NONE, NAME_OPTIONAL, NAME_REQUIRED };

static const struct command {
	const char *name;
	enum name_arg name_arg;
	bool retries, reboot, json;
	bool untrusted_ok;		/* dev_open(): see there */
	int (*on_device)(struct dev *d);
	int (*on_name)(const char *name);
} commands[] = {
	{ "start", NAME_REQUIRED, .retries = true, .on_device = cmd_user_start },
	{ "commit", NAME_REQUIRED, .on_device = cmd_user_commit },
	{ "abort", NAME_REQUIRED, .reboot = true, .on_device = cmd_user_abort },
	{ "rollback", NAME_REQUIRED, .on_device = cmd_rollback },
	{ "status", NAME_OPTIONAL, .json = true, .on_name = cmd_user_status },
	{ "changed", NAME_REQUIRED, .json = true, .on_name = cmd_user_changed },
	{ "boot-setup", NAME_REQUIRED, .untrusted_ok = true,
	  .on_device = cmd_boot_setup },
	{ "boot-checkpoint", NAME_REQUIRED, .on_device = cmd_boot_checkpoint },
	{ "boot-watch", NAME_REQUIRED, .on_device = cmd_boot_watch },
	{ "boot-commit", NAME_REQUIRED, .on_device = cmd_boot_commit },
	{ "initramfs-devices", NAME_NONE,
	  .on_name = cmd_user_initramfs_devices },
};

static int run(const struct command *cmd, const char *name)
{
	struct dev d;
	int r;

	if (cmd->on_name)
		return cmd->on_name(name);
	r = dev_open(&d, name, cmd->untrusted_ok);
	if (!r)
		r = cmd->on_device(&d);
	dev_close(&d);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "bowtab", required_argument, NULL, 't' },
		{ "fstab", required_argument, NULL, 'F' },
		{ "root", required_argument, NULL, 'o' },
		{ "retries", required_argument, NULL, 'r' },
		{ "entry", required_argument, NULL, 'e' },
		{ "reboot", no_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
#ifdef BOWCTL_TESTING
		{ "test-cut-after-restore", no_argument, NULL, 'C' },
#endif
		{ NULL, 0, NULL, 0 },
	};
	static char root_bowtab[PATH_MAX + 16], root_fstab[PATH_MAX + 16];
	bool bad, bowtab_set = false, fstab_set = false;
	const struct command *cmd;
	unsigned long retries = 0;
	const char *name;
	unsigned int i;
	char *end;
	int c, r;

	while ((c = getopt_long(argc, argv, "Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			bowtab_path = optarg;
			bowtab_set = true;
			break;
		case 'F':
			fstab_path = optarg;
			fstab_set = true;
			break;
		case 'o':
			if (optarg[0] != '/' ||
			    strlen(optarg) >= sizeof(root_dir)) {
				fprintf(stderr, "bowctl: bad --root '%s': "
					"expected an absolute directory path\n",
					optarg);
				return EXIT_USAGE;
			}
			strcpy(root_dir, optarg);
			/* "/" and "/root/" name the same roots as "" and "/root" */
			for (size_t n = strlen(root_dir);
			     n && root_dir[n - 1] == '/'; n--)
				root_dir[n - 1] = 0;
			break;
		case 'r':
			errno = 0;
			retries = strtoul(optarg, &end, 10);
			if (errno || *end || !retries || retries > 100) {
				fprintf(stderr, "bowctl: bad --retries '%s': "
					"expected 1 to 100\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'e':
			if (!optarg[0] || strlen(optarg) >= BOW_ENTRY_MAX ||
			    strspn(optarg, "abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				   "-_.+@:") != strlen(optarg)) {
				fprintf(stderr, "bowctl: bad --entry '%s': "
					"expected a boot loader entry id (a "
					"file name such as debian-b.conf, "
					"under %d characters)\n", optarg,
					BOW_ENTRY_MAX);
				return EXIT_USAGE;
			}
			opt_entry = optarg;
			break;
		case 'R':
			opt_reboot = true;
			break;
		case 'j':
			opt_json = true;
			break;
#ifdef BOWCTL_TESTING
		case 'C':
			test_cut_after_restore = true;
			break;
#endif
		case 'V':
			printf("bowctl " BOW_VERSION "\n");
			return EXIT_DONE;
		case 'h':
			usage(stdout);
			return EXIT_DONE;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!bowtab_set) {
		snprintf(root_bowtab, sizeof(root_bowtab), "%s%s", root_dir,
			 BOWTAB_PATH);
		bowtab_path = root_bowtab;
	}
	if (!fstab_set) {
		snprintf(root_fstab, sizeof(root_fstab), "%s/etc/fstab",
			 root_dir);
		fstab_path = root_fstab;
	}
	for (i = 0; optind < argc && i < sizeof(commands) / sizeof(*commands);
	     i++)
		if (!strcmp(argv[optind], commands[i].name))
			break;
	if (optind >= argc || i == sizeof(commands) / sizeof(*commands)) {
		if (optind < argc)
			fprintf(stderr, "bowctl: unknown command '%s'\n",
				argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = &commands[i];
	opt_retries = (unsigned int)retries;
	name = optind + 1 < argc ? argv[optind + 1] : NULL;
	bad = argc - optind > 2 ||
	      (cmd->name_arg == NAME_REQUIRED && !name) ||
	      (cmd->name_arg == NAME_NONE && name) ||
	      ((retries || opt_entry) && !cmd->retries) ||
	      (opt_reboot && !cmd->reboot) || (opt_json && !cmd->json);
	if (bad) {
		fprintf(stderr, "bowctl: %s: wrong arguments or options\n",
			cmd->name);
		usage(stderr);
		return EXIT_USAGE;
	}
	r = run(cmd, name);
	if (fflush(stdout) && !r) {
		fprintf(stderr, "bowctl: cannot write to standard output: "
			"%s\n", strerror(errno));
		r = EXIT_SYSTEM;
	}
	return r;
}
