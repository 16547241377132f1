# Scenario initramfs_meta, sourced by tests/system/run.sh.
# The same with the state on a file system of its own (LABEL=meta on a
# third disk, in fstab), which the initramfs does not mount: the script
# mounts it for bowctl, and unmounts it for systemd.  One attempt, which
# fails: the next boot's initramfs restores, rolled back.
#
# Kernels: the first kernel; every kernel in check-long.
# Boots: 2.

sc_initramfs_meta()
{
	k=$1
	sc_new initramfs-meta-$2 "$k" "state=/meta/bow,min_free=1M,initramfs"
	root_put "$sc_root" /etc/fstab "/dev/vda / ext4 rw,errors=remount-ro 0 1
LABEL=meta /meta ext4 defaults 0 2
/dev/mapper/data /data ext4 defaults 0 2
"
	debugfs -w -R "mkdir /meta" "$sc_root" > /dev/null 2>&1
	sys_disk3=$sys_dir/$sc.meta
	rm -f "$sys_disk3"
	mke2fs -q -t ext4 -L meta "$sys_disk3" 16M > /dev/null
	sys_initrd=$sys_dir/initrd-debian-$k.img
	root_put "$sc_root" /etc/bowtest/health fail
	sc_arm_host 1 "$sys_disk3" /bow
	sc_boot
	expect_early "attempt: dm-bow set up"
	expect_status "the state on /meta: checkpoint live" \
		'd["lifecycle"], d["attempts_left"], d["dm_state"]' \
		"checkpoint 0 1"
	sc_boot
	expect_early "restored"
	expect_status "restored in the initramfs: rolled back" \
		'd["lifecycle"], d["attempts_left"], d["mapping"], d["last_event"]["event"]' \
		"rolled-back 0 linear restored"
	expect_eq "$sc: boot 2: the state file is on the meta disk" 1 \
		"$(debugfs -R 'cat /bow/data.state' "$sys_disk3" 2>/dev/null |
			grep -c '^lifecycle rolled-back$')"
	expect_data pre
	sys_initrd=
	sys_disk3=
}
