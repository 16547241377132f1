# Scenario lowabort, sourced by tests/system/run.sh.
# Low free space with on_full=abort: the watcher disarms and reboots;
# that next boot restores.
#
# Kernels: the first kernel.
# Boots: 1.

sc_lowabort()
{
	k=$1
	sc_new lowabort "$k" "state=/var/lib/bow,min_free=30M,on_full=abort"
	root_put "$sc_root" /etc/bowtest/migrate "head -c 40000000 /dev/zero > fill
	sync
	sleep 600
	"
	sc_arm_host 1
	sc_boots=1
	log=$sys_dir/$sc.boot1.log
	sys_boot "$log" "$k" "$sc_root" "$sc_data"
	check "$sc: boot 1: the watcher rebooted" grep -q 'reboot: Restarting system' "$log"
	sc_boot
	expect_status "restored: rolled back, the reason kept" \
		'd["lifecycle"], d["mapping"], d["last_event"]["event"]' \
		"rolled-back linear restored"
	expect_eq "$sc: boot 2: the reason says low space and abort" 1 \
		"$(json_get "$st" 'd["last_event"]["reason"]' | grep -cE '^restored the checkpoint: [0-9]+ bytes free, under min_free 31457280: rebooting to restore the checkpoint \(on_full=abort\)$')"
	expect_data pre
}
