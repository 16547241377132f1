# Scenario powercut, sourced by tests/system/run.sh.
# A power cut in the middle of the migration: the next boot restores.
# The lower device is named by UUID=, the hardest case: that names the
# file system, which the live log hides (its superblock is in block 0),
# so the boot finds the partition where the boot before recorded it.
#
# Kernels: the first kernel.
# Boots: 2.

sc_powercut()
{
	k=$1
	sc_new powercut "$k" "state=/var/lib/bow,min_free=1M"
	data_part "$sc_data" "$sc_data.part"
	uuid=$(blkid -o value -s UUID "$sc_data.part")
	rm -f "$sc_data.part"
	root_put "$sc_root" /etc/bowtab "data UUID=$uuid state=/var/lib/bow,min_free=1M
"
	sc_arm_host 1
	sc_boot_cut
	data_part "$sc_data" "$sc_data.part"
	expect_eq "$sc: the live log hides the file system's UUID" "" \
		"$(blkid -o value -s UUID "$sc_data.part")"
	rm -f "$sc_data.part"
	sc_boot
	expect_status "found where recorded, restored: rolled back" \
		'd["lifecycle"], d["mapping"], d["last_event"]["event"]' \
		"rolled-back linear restored"
	expect_eq "$sc: boot 2: bowctl says it used the recorded PARTUUID" 1 \
		"$(root_get "$sc_root" /var/lib/bowtest/journal | grep -c "bowctl: data: /dev/disk/by-uuid/$uuid not found (a live log hides the file system); using /dev/disk/by-partuuid/[0-9a-f-]*, where it was at the last boot$")"
	expect_data pre
}
