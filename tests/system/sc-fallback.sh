# Scenario fallback, sourced by tests/system/run.sh.
# A bad update that the boot loader falls back from, with retries (1)
# under its tries (2): both tries of the new entry are protected, and
# the boot back on the old entry restores the data and ends the update.
#
# Kernels: the first kernel, in check-long (through OVMF and systemd-boot).
# Boots: 4.

sc_fallback()
{
	sc_new fallback "$1" "state=/var/lib/bow,min_free=1M,retries=1"
	sc_new_esp
	root_put "$sc_root" /etc/bowtest/health fail-slot=b
	sc_boot "bowctl start data"
	expect_status "armed from the entry it runs" \
		'd["lifecycle"], d["last_event"]["reason"]' \
		"armed armed for 1 boot attempt from boot entry bowtest-a.conf"
	sc_install_slot_b
	sc_boot
	expect_entries "bowtest-a.conf bowtest-b+1-1.conf"
	expect_status "the new entry's first try: checkpoint live" \
		'd["lifecycle"], d["attempts_left"], d["dm_state"]' \
		"checkpoint 0 1"
	expect_unit bowtest-migrate "active success"
	expect_unit bowtest-health "failed exit-code"
	expect_unit bow-commit@data "inactive success"
	sc_boot
	expect_entries "bowtest-a.conf bowtest-b+0-2.conf"
	expect_eq "$sc: boot $sc_boots: past retries, the boot loader still counting: restored and protected again" \
		"checkpoint 0 1 True 1" \
		"$(json_get "$st" 'd["lifecycle"], d["attempts_left"], d["dm_state"], d["last_event"]["reason"].startswith("boot attempt past the 1 retries (the boot loader still counts the tries of entry bowtest-b.conf, not marked good); ")') $(root_get "$sc_root" /var/lib/bowtest/journal | grep -c 'bowctl\[[0-9]*\]: /dev/vdb1: restored to the checkpoint$')"
	expect_unit bowtest-migrate "active success"
	sc_boot
	expect_entries "bowtest-a.conf bowtest-b+0-2.conf"
	expect_status "back on the old entry: restored, nothing armed" \
		'd["lifecycle"], d["attempts_left"], d["mapping"], d["last_event"]["event"], d["last_event"]["reason"]' \
		"rolled-back 0 linear restored restored the checkpoint: the boot loader went back to entry bowtest-a.conf (bowtest-b.conf did not become good)"
	expect_unit bowtest-migrate "active success"
	expect_data pre
	sys_esp=
}
