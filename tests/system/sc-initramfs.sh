# Scenario initramfs, sourced by tests/system/run.sh.
# The device set up in the initramfs (bowtab option initramfs) by
# Debian's own initramfs-tools with dm-bow's hook and boot script.  The
# state on the root file system, which the initramfs mounts read-only:
# the script remounts it read-write for bowctl and back.  Two attempts:
# the first fails its health check; the next boot's initramfs restores and
# takes the second, which is healthy and commits.
#
# Kernels: the first kernel.
# Boots: 2.

sc_initramfs()
{
	k=$1
	sc_new initramfs "$k" "state=/var/lib/bow,min_free=1M,initramfs"
	sys_initrd=$sys_dir/initrd-debian-$k.img
	root_put "$sc_root" /etc/bowtest/health fail
	sc_arm_host 2
	sc_boot
	expect_early "attempt: dm-bow set up"
	expect_status "set up before the root switch, checkpoint live" \
		'd["lifecycle"], d["attempts_left"], d["dm_state"], d["last_event"]["event"]' \
		"checkpoint 1 1 checkpoint"
	expect_unit bow-setup@data "active success"
	expect_unit bowtest-health "failed exit-code"
	# systemd checks the root only while it is read-only: as the
	# initramfs must have left it.
	expect_eq "$sc: boot 1: the root was read-only again at the switch" 1 \
		"$(root_get "$sc_root" /var/lib/bowtest/journal |
			grep -c 'systemd-fsck\[[0-9]*\]: root: clean')"
	debugfs -w -R "rm /etc/bowtest/health" "$sc_root" > /dev/null 2>&1
	sc_boot
	expect_early "attempt: dm-bow set up"
	expect_eq "$sc: boot 2: the initramfs restored first" 1 \
		"$(early_console | grep -c '/dev/vdb1: restored to the checkpoint$')"
	expect_status "the second attempt committed" \
		'd["lifecycle"], d["attempts_left"], d["dm_state"], d["last_event"]["event"]' \
		"committed 0 2 commit"
	expect_data post
	sys_initrd=
}
