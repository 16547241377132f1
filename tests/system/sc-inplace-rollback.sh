# Scenario inplace_rollback, sourced by tests/system/run.sh.
# Rolled back: three attempts; two boots into the new version: the
# first fails its health check (the checkpoint stays live), the power
# goes in the second once it runs and writes (the root file system's
# journal then needs a replay, which a resumed checkpoint cannot take
# before its trim); the next boot restores in the initramfs, an attempt
# still left, and says why; /usr is the old one, exactly.
#
# Kernels: the first kernel.
# Boots: 4.

sc_inplace_rollback()
{
	ip_new inplace-rollback
	ip_boot_update 3
	ip_usr_new
	ip_put /bowtest/health fail
	ip_boot_new 1 3
	ip_expect_live 1 3
	ip_put /bowtest/actions "$ip_files
for i in \$(seq 600); do
	bowctl status root --json | grep -q '\"backups\": \"checking\"' || break
	sleep 0.1
done
bowctl status --json > /meta/bowtest/status.json
echo new > /var/tmp/written-after-resume
sync
echo '<2>bowtest: cut here' > /dev/kmsg
sleep 3600
"
	ip_disks
	sc_boot_until 'bowtest: cut here' "the new version ran, then the power went"
	ip_disks off
	st=$sys_dir/$sc.status$sc_boots.json
	ip_early "boot attempt 2 of 3, the checkpoint resumed: dm-bow resumed"
	# The meta disk lost its power too: its journal first, as a boot
	# would, before the host reads it or writes to it.
	quiet e2fsck -fy "$sc_meta"
	ip_get /bowtest/status.json > "$st"
	ip_expect_live 2 3
	expect_eq "$sc: boot $sc_boots: the resumed checkpoint's backups verified after the boot" \
		verified "$(json_get "$st" 'd["backups"]')"
	ip_expect_new
	debugfs -w -R "rm /bowtest/actions" "$sc_meta" > /dev/null 2>&1
	ip_boot
	ip_early "not resuming the checkpoint: its journal needs a replay (the boot before did not unmount it); restoring it"
	ip_early "restored"
	expect_status "restored in the initramfs: rolled back" \
		'd["lifecycle"], d["attempts_left"], d["mapping"], d["last_event"]["event"], d["last_event"]["reason"]' \
		"rolled-back 0 linear restored restored the checkpoint: could not resume it: its journal needs a replay (the boot before did not unmount it)"
	ip_expect_usr before
	expect_eq "$sc: boot $sc_boots: dpkg's database is version 1's" \
		"Version: 1 Version: 1" \
		"$(root_get "$sc_root" /var/lib/dpkg/status |
			grep -A4 '^Package: bowtest-' | grep '^Version:' | tr '\n' ' ' | sed 's/ $//')"
}
