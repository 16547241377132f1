# RAUC installs the update into the other slot of the A/B disk (ab.sh):
# a signed verity bundle, `rauc install` through rauc.service, the
# project's pre-install handler arming the data, the project's
# systemd-boot backend switching slots with 2 tries.  bowctl's retries
# (1) are under the boot loader's tries (2).  Sourced by tests/system/run.sh.

rauc_install="rauc install /meta/update.raucb > /meta/bowtest/rauc.out 2>&1
echo \$? > /meta/bowtest/rauc.rc"
rauc_status="rauc status --output-format=shell > /meta/bowtest/rauc.status 2>&1"

# rauc_boot_install: boot 1, on slot a: RAUC installs slot b.
rauc_boot_install()
{
	ab_boot_install "$rauc_install" rauc "RAUC's pre-install handler"
}

# rauc_expect <what> <expected>: rauc status (its shell output, whose
# slot numbers vary) as "booted=<bootname> primary=<slot>
# a=<boot status> b=<boot status>".
rauc_expect()
{
	expect_eq "$sc: boot $sc_boots: rauc status: $1" "$2" \
		"$(ab_get rauc.status | python3 -c 'import shlex, sys
v = dict(l.split("=", 1) for l in sys.stdin.read().splitlines() if "=" in l)
v = {k: shlex.split(x)[0] if shlex.split(x) else "" for k, x in v.items()}
st = {v["RAUC_SLOT_BOOTNAME_" + n]: v["RAUC_SLOT_BOOT_STATUS_" + n]
      for n in v["RAUC_SLOTS"].split()}
print("booted=%s primary=%s a=%s b=%s" % (v["RAUC_SYSTEM_BOOTED_BOOTNAME"],
      v["RAUC_BOOT_PRIMARY"], st["a"], st["b"]))' 2>&1)"
}

# A good update (ab_good), and RAUC's view of it.
sc_rauc_good()
{
	ab_new rauc-good
	rauc_boot_install
	ab_good "$rauc_status"
	rauc_expect "slot b booted and primary, both good" \
		"booted=b primary=rootfs.1 a=good b=good"
	sys_esp=
}

# A bad update (ab_bad), and RAUC's view of it.
sc_rauc_bad()
{
	ab_new rauc-bad
	ab_put health fail-slot=b
	rauc_boot_install
	ab_bad "$rauc_status"
	rauc_expect "slot a booted and primary, b bad" \
		"booted=a primary=rootfs.0 a=good b=bad"
	sys_esp=
}

# RAUC's own rollback: the first try of slot b fails its health check,
# and the device's own logic marks the slot bad (rauc status mark-bad),
# without waiting for the boot loader's second try: the next boot is on
# slot a, and restores the data.
sc_rauc_markbad()
{
	ab_new rauc-markbad
	ab_put health fail-slot=b
	rauc_boot_install
	ab_boot "rauc status mark-bad booted > /meta/bowtest/mark.out 2>&1"
	ab_expect_slot b
	expect_entries "slot-a.conf slot-b+0-1.conf"
	expect_status "marked bad on its first try: the checkpoint still live" \
		'd["lifecycle"], d["attempts_left"], d["dm_state"]' "checkpoint 0 1"
	ab_boot "$rauc_status"
	ab_expect_slot a
	expect_status "back on slot a after RAUC's mark: restored, nothing armed" \
		'd["lifecycle"], d["attempts_left"], d["mapping"], d["last_event"]["reason"]' \
		"rolled-back 0 linear restored the checkpoint: the boot loader went back to entry slot-a.conf (slot-b.conf did not become good)"
	rauc_expect "slot a booted and primary, b bad" \
		"booted=a primary=rootfs.0 a=good b=bad"
	expect_data pre
	sys_esp=
}

# A power cut while RAUC copies the image into slot b (marked unbootable
# first, by RAUC): slot a boots again, on its untouched data; the arming
# for slot b's entry is dropped, not left for a later boot.
sc_rauc_cut_install()
{
	ab_new rauc-cut-install
	ab_boot_until 'bowtest: rauc copying' "the power went while RAUC copied the image" \
		"rauc install /meta/update.raucb > /meta/bowtest/rauc.out 2>&1 &
while ! grep -q 'Copying image to rootfs.1' /meta/bowtest/rauc.out; do sleep 0.2; done
echo '<2>bowtest: rauc copying' > /dev/kmsg
sleep 3600"
	expect_entries "slot-a.conf slot-b+0.conf"
	ab_boot "$rauc_status"
	ab_expect_slot a
	expect_status "slot a again: disarmed, nothing taken" \
		'd["lifecycle"], d["attempts_left"], d["mapping"], d["last_event"]["event"], d["last_event"]["reason"]' \
		"idle 0 linear fell-back the boot loader went back to entry slot-a.conf before slot-b.conf took a checkpoint: nothing to restore; disarmed"
	rauc_expect "slot a booted and primary, b bad" \
		"booted=a primary=rootfs.0 a=good b=bad"
	expect_data pre
	sys_esp=
}

# A power cut in slot b's first boot, once its migration has written
# (before any verdict): that try counts; the second try restores it,
# takes a checkpoint again, migrates, passes, is marked good and
# commits.
sc_rauc_cut_firstboot()
{
	ab_new rauc-cut-firstboot
	rauc_boot_install
	ab_put hold 1
	ab_boot_until 'bowtest: migration holding' "the migration reached its hold"
	debugfs -w -R "rm $ab_meta_dir/hold" "$sc_meta" > /dev/null 2>&1
	expect_entries "slot-a.conf slot-b+1-1.conf"
	ab_boot
	ab_expect_slot b
	expect_entries "slot-a.conf slot-b.conf"
	expect_eq "$sc: boot $sc_boots: the cut try's writes restored first" 1 \
		"$(ab_get journal | grep -c 'bowctl\[[0-9]*\]: /dev/vda5: restored to the checkpoint$')"
	expect_unit bow-commit@data "active success"
	expect_status "the second try: marked good, committed" \
		'd["lifecycle"], d["mapping"], d["last_event"]["event"]' \
		"committed bow commit"
	expect_data post
	sys_esp=
}
