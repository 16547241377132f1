/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the boot loader says about this boot, through the EFI variables
 * of systemd's Boot Loader Interface (systemd-boot sets them): the entry
 * it booted, whether it counts this boot as a try, and whether that
 * entry has been marked good since.
 */
#ifndef BOW_BOOTLOADER_H
#define BOW_BOOTLOADER_H

#include <stdbool.h>
#include <stddef.h>

#define BOW_ENTRY_MAX 128	/* an entry id and its NUL */

/*
 * The entry this boot was booted from (LoaderEntrySelected), as
 * bow_entry_normalize() leaves it, in @id; false if the boot loader did
 * not say (no UEFI, another boot loader, no efivarfs, a name that is not
 * printable ASCII or over BOW_ENTRY_MAX).  The variables are read from
 * $BOW_EFIVARS (for tests) or /sys/firmware/efi/efivars.
 */
bool bow_boot_entry(char *id, size_t len);

/*
 * Whether the boot loader counted this boot as a try of an entry that was
 * not marked good when it booted (LoaderBootCountPath is set).
 */
bool bow_boot_counted(void);

/*
 * Whether this boot's counted entry is marked good now: what
 * "systemd-bless-boot status" says ($BOW_BLESS_BOOT, for tests, or
 * /lib/systemd/systemd-bless-boot), in @status ("good", "indeterminate",
 * "bad", or why it could not be asked).
 */
bool bow_boot_blessed(char *status, size_t len);

/*
 * An entry id as systemd-boot compares them across boots: lower case,
 * without the boot-counting suffix "+LEFT[-DONE]" before ".conf" or
 * ".efi" (systemd 252 keeps it in LoaderEntrySelected, so the same entry
 * reads "b+2-1.conf" on one try and "b+1-2.conf" on the next).
 */
void bow_entry_normalize(char *id);

/* Where this boot is, against the entries an update recorded. */
enum bow_entry_verdict {
	BOW_ENTRY_UNKNOWN,	/* an entry not known: retries alone decide */
	BOW_ENTRY_SAME,		/* the one armed from, no other seen yet */
	BOW_ENTRY_UPDATE,	/* the update's (or a first other one) */
	BOW_ENTRY_FELL_BACK,	/* the one armed from, after the update's */
	BOW_ENTRY_OTHER,	/* neither */
};

/*
 * The verdict for a boot from entry @now of an update armed from entry
 * @from, whose own entry is @to (given to bowctl start, or the first
 * other entry a boot of it came from; "" while not known).
 */
enum bow_entry_verdict bow_entry_verdict(const char *from, const char *to,
					 const char *now);

#endif /* BOW_BOOTLOADER_H */
