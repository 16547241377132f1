# SWUpdate installs the update into slot b of the A/B disk (ab.sh): a
# signed .swu (CMS, the test's key) whose sw-description has a copy of
# the image for each slot (copy1 /dev/vda2, copy2 /dev/vda3) and a
# shellscript that marks the target slot unbootable before the copy and
# primary after it, with systemd-boot-slot; run as `swupdate -i`, with
# the project's pre-update command naming the target slot.  Sourced by
# tests/system/run.sh.

swupdate_install="swupdate -i /meta/update.swu -k /etc/swupdate/signer.pem \
-e stable,copy2 -P '/usr/lib/dm-bow/swupdate-pre-install b' \
> /meta/bowtest/swupdate.out 2>&1
echo \$? > /meta/bowtest/swupdate.rc"

# A good update (ab_good) through SWUpdate.
sc_swupdate_good()
{
	ab_new swupdate-good
	ab_boot_install "$swupdate_install" swupdate "SWUpdate's pre-update command"
	ab_good
	sys_esp=
}

# A bad update (ab_bad) through SWUpdate.
sc_swupdate_bad()
{
	ab_new swupdate-bad
	ab_put health fail-slot=b
	ab_boot_install "$swupdate_install" swupdate "SWUpdate's pre-update command"
	ab_bad
	sys_esp=
}
