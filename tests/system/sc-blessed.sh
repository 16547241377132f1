# Scenario blessed, sourced by tests/system/run.sh.
# A good update through the boot loader: the update tool names its entry
# (start --entry); the commit waits for the boot loader's mark.  The
# first try cannot mark it (its partition mounted read-only): the commit
# is refused and the checkpoint stays; the second try, past retries,
# is protected again, marked good, then committed.
#
# Kernels: the first kernel, in check-long (through OVMF and systemd-boot).
# Boots: 3.

sc_blessed()
{
	sc_new blessed "$1" "state=/var/lib/bow,min_free=1M,retries=1"
	sc_new_esp
	sc_boot "bowctl start data --entry bowtest-b.conf"
	expect_status "armed from the entry it runs, to the one named" \
		'd["lifecycle"], d["last_event"]["reason"]' \
		"armed armed for 1 boot attempt from boot entry bowtest-a.conf to bowtest-b.conf"
	sc_install_slot_b
	root_put "$sc_root" /etc/fstab "$(root_get "$sc_root" /etc/fstab | sed 's/umask=0077/umask=0077,ro/')
"
	sc_boot
	expect_entries "bowtest-a.conf bowtest-b+1-1.conf"
	expect_unit systemd-bless-boot "failed exit-code"
	expect_unit bow-commit@data "failed exit-code"
	expect_status "not marked good: not committed, the checkpoint live" \
		'd["lifecycle"], d["attempts_left"], d["dm_state"]' \
		"checkpoint 0 1"
	expect_eq "$sc: boot $sc_boots: bow-commit@ says why" 1 \
		"$(root_get "$sc_root" /var/lib/bowtest/journal | grep -c "bowctl\[[0-9]*\]: bowctl: data: not committing: the boot loader's entry is not marked good (systemd-bless-boot status: indeterminate); the checkpoint stays live$")"
	root_put "$sc_root" /etc/fstab "$(root_get "$sc_root" /etc/fstab | sed 's/,ro//')
"
	sc_boot
	expect_entries "bowtest-a.conf bowtest-b.conf"
	expect_marked_then_committed
	expect_data post
	sys_esp=
}
