# Mender installs the update into slot b of the A/B disk (ab.sh):
# `mender install` in standalone mode (no server), a signed rootfs-image
# artifact carrying the project's state script, Mender's boot
# environment on systemd-boot's entries (mender-systemd-boot, 2 tries).
# The update's image is configured as a Mender image is: the data is
# committed when Mender commits (commit=manual), and Mender's commit, not
# systemd-bless-boot, marks the entry good.  Sourced by tests/system/run.sh.

mender_install="BOW_BOOT_TRIES=2 mender install /meta/update.mender \
> /meta/bowtest/mender.out 2>&1
echo \$? > /meta/bowtest/mender.rc"

# mender_run <command> <name>: an action running "mender <command>" into
# /meta/bowtest/<name>.out (stdout), .err and .rc.
mender_run()
{
	echo "mender $1 > /meta/bowtest/$2.out 2> /meta/bowtest/$2.err
echo \$? > /meta/bowtest/$2.rc"
}

# A good update: slot b boots, migrates and passes its health check with
# the checkpoint live; `mender commit` marks the entry good and commits
# the data; the next boot is slot b, release-2, on the migrated data.
sc_mender_good()
{
	ab_new mender-good
	ab_boot_install "$mender_install" mender "Mender's ArtifactInstall_Enter script"
	ab_boot "$(mender_run commit commit)"
	ab_expect_slot b
	ab_expect_rc commit err "mender commit succeeded"
	expect_entries "slot-a.conf slot-b.conf"
	expect_unit bowtest-migrate "active success"
	expect_status "Mender's commit committed the data" \
		'd["lifecycle"], d["last_event"]["event"]' "committed commit"
	expect_data post
	ab_boot "$(mender_run show-artifact artifact)"
	ab_expect_slot b
	expect_eq "$sc: boot $sc_boots: the system is the update's" "release-2" \
		"$(ab_get artifact.out)"
	expect_status "the next boot: nothing armed" \
		'd["lifecycle"], d["mapping"]' "committed linear"
	expect_data post
	sys_esp=
}

# A bad update (ab_bad) through Mender: nobody commits; the boot loader
# falls back after its tries.
sc_mender_bad()
{
	ab_new mender-bad
	ab_put health fail-slot=b
	ab_boot_install "$mender_install" mender "Mender's ArtifactInstall_Enter script"
	# Nothing pulls boot-complete.target in (systemd-bless-boot masked,
	# commit=manual): the health check is the device's own, before its
	# mender commit, which never comes.
	ab_bad "" "inactive success"
	sys_esp=
}

# Mender's own rollback from the new slot's first boot: `mender
# rollback` aborts the data's checkpoint (ArtifactRollback_Enter) and
# takes slot b's tries away; the next boot is slot a, and restores.
sc_mender_rollback()
{
	ab_new mender-rollback
	ab_boot_install "$mender_install" mender "Mender's ArtifactInstall_Enter script"
	ab_boot "$(mender_run rollback rollback)"
	ab_expect_slot b
	ab_expect_rc rollback err "mender rollback succeeded"
	expect_entries "slot-a.conf slot-b+0-1.conf"
	expect_status "the checkpoint live, its abort recorded" \
		'd["lifecycle"], d["dm_state"], d["last_event"]["event"]' "checkpoint 1 abort"
	ab_boot
	ab_expect_slot a
	expect_status "back on slot a: restored, nothing armed" \
		'd["lifecycle"], d["attempts_left"], d["mapping"], d["last_event"]["event"]' \
		"rolled-back 0 linear restored"
	expect_data pre
	sys_esp=
}
