# Scenario inplace_commit, sourced by tests/system/run.sh.
# Committed: two attempts; the first boot into the new version fails its
# health check (the checkpoint stays live, resumed again by the next
# boot), the second is healthy and commits; /usr is the new one.
#
# Kernels: the first kernel, in check-long.
# Boots: 3.

sc_inplace_commit()
{
	ip_new inplace-commit
	ip_boot_update 2
	ip_usr_new
	ip_put /bowtest/health fail
	ip_boot_new 1 2
	ip_expect_live 1 2
	expect_eq "$sc: boot $sc_boots: the failed health check kept it live" \
		"bow-commit@root inactive success
bowtest-health failed exit-code" \
		"$(ip_get /bowtest/units | grep -E '^(bowtest-health|bow-commit@root) ')"
	ip_put /bowtest/health ok
	ip_boot_new 2 2
	expect_status "committed after the healthy boot" \
		'd["lifecycle"], d["attempts_left"], d["dm_state"], d["last_event"]["event"]' \
		"committed 0 2 commit"
	ip_expect_usr new
}
