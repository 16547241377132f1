# Scenario abort, sourced by tests/system/run.sh.
# bowctl abort from the update itself: no commit after boot-complete,
# the next boot restores.
#
# Kernels: the first kernel.
# Boots: 2.

sc_abort()
{
	k=$1
	sc_new abort "$k" "state=/var/lib/bow,min_free=1M"
	root_put "$sc_root" /etc/bowtest/migrate "$migrate
	bowctl abort data
	rc=0; bowctl commit data 2> /var/lib/bowtest/commit.err || rc=\$?
	echo \$rc > /var/lib/bowtest/commit.rc
	"
	sc_arm_host 2
	sc_boot
	expect_status "aborted: still live, no attempt left" \
		'd["lifecycle"], d["attempts_left"], d["dm_state"], d["last_event"]["event"]' \
		"checkpoint 0 1 abort"
	expect_eq "$sc: boot 1: a commit after the abort is refused, status 4" \
		"4 bowctl: data: not committing: an abort is pending (bowctl abort); the next boot restores the checkpoint" \
		"$(root_get "$sc_root" /var/lib/bowtest/commit.rc) $(root_get "$sc_root" /var/lib/bowtest/commit.err)"
	sc_boot
	expect_status "restored: rolled back" \
		'd["lifecycle"], d["attempts_left"], d["last_event"]["reason"]' \
		"rolled-back 0 restored the checkpoint: bowctl abort"
	expect_data pre
}
