# Scenario ckptfail, sourced by tests/system/run.sh.
# A checkpoint that fails (FITRIM refused: the file system is mounted
# noload, where ext4 says EROFS): recorded as failed, the unit failed
# and with it boot-complete.target (nothing committed, no bootloader
# mark); an abort says nothing can be restored; the next boot does not
# claim a rollback.
#
# Kernels: the first kernel.
# Boots: 2.

sc_ckptfail()
{
	k=$1
	sc_new ckptfail "$k" "state=/var/lib/bow,min_free=1M"
	root_put "$sc_root" /etc/fstab "/dev/vda / ext4 rw,errors=remount-ro 0 1
/dev/mapper/data /data ext4 ro,noload 0 2
"
	sc_arm_host 1
	sc_boot "systemctl show -p ActiveState --value boot-complete.target
bowctl abort data; echo \"abort: \$?\""
	expect_status "the checkpoint failed, recorded" \
		'd["lifecycle"], d["attempts_left"], d["mapping"], d["dm_state"], d["last_event"]["event"], d["last_event"]["reason"]' \
		"failed 0 bow 0 checkpoint-failed FITRIM on /data failed: Read-only file system: boot attempt 1 of 1 runs unprotected and is not committed"
	expect_unit bow-checkpoint@data "failed exit-code"
	expect_unit bow-commit@data "inactive success"
	expect_eq "$sc: boot 1: boot-complete.target not reached; abort: nothing to restore, status 5" \
		"inactive
bowctl: data: nothing to restore: FITRIM on /data failed: Read-only file system: boot attempt 1 of 1 runs unprotected and is not committed (checkpoint-failed at T)
abort: 5" \
		"$(root_get "$sc_root" /var/lib/bowtest/actions.out | grep -v '^+' | sed 's/ at [0-9]*)/ at T)/')"
	sc_boot
	expect_status "the next boot: still failed, no rollback claimed, pass-through" \
		'd["lifecycle"], d["mapping"], d["last_event"]["event"]' \
		"failed linear checkpoint-failed"
	expect_data pre
}
