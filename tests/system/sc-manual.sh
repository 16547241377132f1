# Scenario manual, sourced by tests/system/run.sh.
# commit=manual, for an update tool that commits with its own verdict
# (Mender after its server answers, RAUC's mark-good): a healthy boot
# commits nothing; the tool's abort at its end restores the data at the
# next boot, where a commit is refused and an abort has nothing to do.
#
# Kernels: the first kernel.
# Boots: 2.

sc_manual()
{
	k=$1
	sc_new manual "$k" "state=/var/lib/bow,min_free=1M,commit=manual"
	sc_arm_host 1
	sc_boot "bowctl status --json > /var/lib/bowtest/status-before.json
bowctl abort data; echo \"abort: \$?\""
	root_get "$sc_root" /var/lib/bowtest/status-before.json > "$sys_dir/$sc.before.json"
	expect_eq "$sc: boot 1: at its end, nothing committed: the checkpoint still live" \
		"checkpoint 1 manual checkpoint" \
		"$(json_get "$sys_dir/$sc.before.json" 'd["lifecycle"], d["dm_state"], d["commit"], d["last_event"]["event"]')"
	expect_unit bow-commit@data "inactive success"
	expect_eq "$sc: boot 1: the update tool's abort" "abort: 0" \
		"$(root_get "$sc_root" /var/lib/bowtest/actions.out | grep '^abort: ')"
	sc_boot "bowctl abort data; echo \"abort: \$?\"
bowctl commit data; echo \"commit: \$?\""
	expect_status "restored: rolled back" \
		'd["lifecycle"], d["mapping"], d["last_event"]["event"], d["last_event"]["reason"]' \
		"rolled-back linear restored restored the checkpoint: bowctl abort"
	expect_eq "$sc: boot 2: then abort has nothing to do, and commit is refused" \
		"bowctl: data: nothing to abort: rolled-back
abort: 0
bowctl: data: nothing to commit: the checkpoint was rolled back (restored the checkpoint: bowctl abort)
commit: 4" \
		"$(root_get "$sc_root" /var/lib/bowtest/actions.out | grep -v '^+')"
	expect_data pre
}
