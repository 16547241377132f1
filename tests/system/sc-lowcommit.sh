# Scenario lowcommit, sourced by tests/system/run.sh.
# Low free space with on_full=commit: the watcher commits during the
# migration (which waits for it), and says why.
#
# Kernels: the first kernel.
# Boots: 2.

sc_lowcommit()
{
	k=$1
	sc_new lowcommit "$k" "state=/var/lib/bow,min_free=30M,on_full=commit"
	root_put "$sc_root" /etc/bowtest/migrate "head -c 40000000 /dev/zero > fill
	sync
	for i in \$(seq 120); do bowctl status --json | grep -q low-space && break; sleep 1; done
	"
	sc_arm_host 1
	sc_boot
	expect_status "committed by the watcher" \
		'd["lifecycle"], d["dm_state"], d["last_event"]["event"]' \
		"committed 2 low-space"
	expect_eq "$sc: boot 1: the reason names the numbers and the policy" 1 \
		"$(json_get "$st" 'd["last_event"]["reason"]' | grep -cE '^[0-9]+ bytes free, under min_free 31457280: committed \(on_full=commit\)$')"
	sc_boot
	expect_status "still committed" 'd["lifecycle"], d["mapping"]' "committed linear"
	data_tree "$sc_data" "$sys_dir/$sc.tree"
	expect_eq "$sc: boot 2: the new data is kept" 40000000 \
		"$(stat -c %s "$sys_dir/$sc.tree/fill" 2>/dev/null)"
}
