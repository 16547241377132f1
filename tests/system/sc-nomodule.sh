# Scenario nomodule, sourced by tests/system/run.sh.
# An armed boot on a kernel with no dm-bow.ko (an update brought a
# kernel DKMS did not build for): no log is live, so the device is mapped
# as a pass-through and the system boots; the attempt is counted, the
# state and status say the kernel has no dm-bow target (not that dm-bow
# refused anything), bow-checkpoint@ fails with the boot's warning, and
# nothing commits.  (The test's migration runs only under a live
# checkpoint: the data stays pre.)
#
# Kernels: the first kernel.
# Boots: 1.

sc_nomodule()
{
	k=$1
	sc_new nomodule "$k" "state=/var/lib/bow,min_free=1M"
	debugfs -w -R "rm /lib/modules/$k/updates/dkms/dm-bow.ko" "$sc_root" > /dev/null 2>&1
	sc_arm_host 2
	# And a name that another target holds (dm-error, built into
	# device-mapper): boot-setup does not touch it, and an armed boot on
	# it says it is unprotected.
	sc_boot "mkdir -p /var/lib/bowforeign
echo 'foreign /dev/vdb1 state=/var/lib/bowforeign' > /run/bt
dmsetup create foreign --table '0 8 error'
bowctl --bowtab /run/bt start foreign; echo \"start: \$?\"
bowctl --bowtab /run/bt boot-setup foreign; echo \"setup: \$?\"
cat /run/bowctl/foreign.warning
dmsetup table foreign | tr -s ' ' | sed 's/ \$//'
dmsetup remove foreign"
	expect_eq "$sc: boot 1: a foreign mapping of the name: untouched, refused (4), the armed boot told" \
		"start: 0
bowctl: foreign: /dev/mapper/foreign exists and is no mapping of bowctl's (neither dm-bow nor a pass-through): not touching it; this armed boot runs unprotected
setup: 4
/dev/mapper/foreign exists and is no mapping of bowctl's (neither dm-bow nor a pass-through): not touching it; this armed boot runs unprotected
0 8 error" \
		"$(root_get "$sc_root" /var/lib/bowtest/actions.out | grep -v '^+')"
	no_target="this kernel ($k) has no dm-bow target: dm-bow.ko is missing for it (dm-bow-dkms and linux-headers-$k build it)"
	expect_status "no target: a pass-through, the attempt counted, still armed" \
		'd["lifecycle"], d["attempts_left"], d["mapping"], d["last_event"]["event"], d["last_event"]["reason"]' \
		"armed 1 linear no-dm-bow $no_target: boot attempt 1 of 2 runs unprotected"
	expect_status "no target: status shows the boot's warning" \
		'd["boot_warning"]' \
		"not checkpointing: $no_target; this armed boot runs unprotected, on a pass-through"
	expect_unit bow-setup@data "active success"
	expect_unit bow-checkpoint@data "failed exit-code"
	expect_unit bow-commit@data "inactive success"
	expect_data pre
}
