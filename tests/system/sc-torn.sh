# Scenario torn, sourced by tests/system/run.sh.
# A torn state file while a checkpoint is live: the log is restored, no
# checkpoint is taken, and the status says why.
#
# Kernels: the first kernel.
# Boots: 2.

sc_torn()
{
	k=$1
	sc_new torn "$k" "state=/var/lib/bow,min_free=1M"
	root_put "$sc_root" /etc/bowtest/health fail
	sc_arm_host 2
	sc_boot
	expect_status "checkpoint live" 'd["lifecycle"], d["dm_state"]' "checkpoint 1"
	root_get "$sc_root" /var/lib/bow/data.state | head -c 100 > "$sys_dir/$sc.torn"
	debugfs -w -R "rm /var/lib/bow/data.state" "$sc_root" > /dev/null 2>&1
	debugfs -w -R "write $sys_dir/$sc.torn /var/lib/bow/data.state" "$sc_root" > /dev/null 2>&1
	sc_boot
	expect_status "damaged state: restored, not checkpointed, failed" \
		'd["lifecycle"], d["attempts_left"], d["mapping"], d["last_event"]["event"], d["last_event"]["reason"]' \
		"failed 0 linear damaged state file /var/lib/bow/data.state: no 'crc32 <8 hex digits>' line at its end (torn write?); restored the checkpoint"
	expect_data pre
}
