// SPDX-License-Identifier: GPL-2.0
/*
 * The boot loader's word on this boot (bootloader.h).  The variables are
 * systemd's Boot Loader Interface: a 4-byte attribute word, then a
 * NUL-terminated UTF-16LE string.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bootloader.h"

#define LOADER_GUID "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"

/*
 * Read the Boot Loader Interface variable @name as ASCII into @out;
 * false if it is missing, or holds anything but printable ASCII, or is
 * longer than @len - 1 characters.
 */
static bool loader_var(const char *name, char *out, size_t len)
{
	const char *dir = getenv("BOW_EFIVARS") ? getenv("BOW_EFIVARS") :
			  "/sys/firmware/efi/efivars";
	unsigned char buf[4 + 2 * BOW_ENTRY_MAX * 2];
	char path[4096];
	size_t n = 0, i;
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "%s/%s-" LOADER_GUID, dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	while (n < sizeof(buf) &&
	       (r = read(fd, buf + n, sizeof(buf) - n)) > 0)
		n += (size_t)r;
	close(fd);
	for (i = 0; 4 + 2 * i + 1 < n; i++) {
		unsigned int c = buf[4 + 2 * i] | buf[4 + 2 * i + 1] << 8;

		if (!c)
			break;
		if (c < 0x20 || c > 0x7e || i + 1 >= len)
			return false;
		out[i] = (char)c;
	}
	out[i] = 0;
	return i > 0;
}

void bow_entry_normalize(char *id)
{
	size_t end = strlen(id), i;
	char *plus;

	for (i = 0; i < end; i++)
		id[i] = (char)tolower((unsigned char)id[i]);
	if (end > 5 && (!strcmp(id + end - 5, ".conf") ||
			!strcmp(id + end - 4, ".efi")))
		end -= id[end - 4] == '.' ? 4 : 5;
	/* "+LEFT" or "+LEFT-DONE", digits only, right before the suffix. */
	plus = memrchr(id, '+', end);
	if (!plus || plus + 1 == id + end || !isdigit((unsigned char)plus[1]))
		return;
	i = strspn(plus + 1, "0123456789");
	if (plus[1 + i] == '-') {
		size_t done = strspn(plus + 2 + i, "0123456789");

		if (!done)
			return;
		i += 1 + done;
	}
	if (plus + 1 + i != id + end)
		return;
	memmove(plus, id + end, strlen(id + end) + 1);
}

bool bow_boot_entry(char *id, size_t len)
{
	if (!loader_var("LoaderEntrySelected", id, len))
		return false;
	bow_entry_normalize(id);
	return true;
}

bool bow_boot_counted(void)
{
	char path[BOW_ENTRY_MAX * 2];

	return loader_var("LoaderBootCountPath", path, sizeof(path));
}

bool bow_boot_blessed(char *status, size_t len)
{
	const char *prog = getenv("BOW_BLESS_BOOT") ? getenv("BOW_BLESS_BOOT") :
			   "/lib/systemd/systemd-bless-boot";
	int fds[2], st;
	ssize_t n = 0, r;
	pid_t pid;

	snprintf(status, len, "cannot run %s", prog);
	if (pipe2(fds, O_CLOEXEC))
		return false;
	pid = fork();
	if (!pid) {
		dup2(fds[1], STDOUT_FILENO);
		execl(prog, prog, "status", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	if (pid > 0) {
		char out[64];
		bool ran;

		while ((size_t)n < sizeof(out) - 1 &&
		       (r = read(fds[0], out + n, sizeof(out) - 1 - (size_t)n)) > 0)
			n += r;
		out[n] = 0;
		out[strcspn(out, "\n")] = 0;
		ran = waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
		      WEXITSTATUS(st) != 127;
		if (ran && out[0])
			snprintf(status, len, "%s", out);
		else if (ran)
			snprintf(status, len, "no answer from %s (exit "
				 "status %d)", prog, WEXITSTATUS(st));
	}
	close(fds[0]);
	return !strcmp(status, "good");
}

enum bow_entry_verdict bow_entry_verdict(const char *from, const char *to,
					 const char *now)
{
	if (!from[0] || !now[0])
		return BOW_ENTRY_UNKNOWN;
	if (!strcmp(now, from))
		return to[0] && strcmp(to, from) ? BOW_ENTRY_FELL_BACK :
						   BOW_ENTRY_SAME;
	return !to[0] || !strcmp(to, now) ? BOW_ENTRY_UPDATE :
					    BOW_ENTRY_OTHER;
}
