# Scenario rollback, sourced by tests/system/run.sh.
# bowctl rollback at the end of a boot whose health check failed (the
# checkpoint still live): refused while a process holds a file open, the
# checkpoint left as it was; then rolled back in the kernel, remounted,
# and the next boot passes the restored data through.
#
# Kernels: the first kernel.
# Boots: 2.

sc_rollback()
{
	k=$1
	sc_new rollback "$k" "state=/var/lib/bow,min_free=1M"
	root_put "$sc_root" /etc/bowtest/health fail
	root_put "$sc_root" /etc/bowtest/app.conf.v1 "version 1
"
	sc_arm_host 2
	sc_boot "cd /
echo \"before: \$(cat /data/conf/app.conf)\"
sleep 600 < /data/db/new &
holder=\$!
bowctl rollback data; echo \"busy: \$?\"
bowctl status --json > /var/lib/bowtest/status-busy.json
kill \$holder; wait \$holder
bowctl rollback data; echo \"free: \$?\"
cmp /data/conf/app.conf /etc/bowtest/app.conf.v1 && echo 'remounted: version 1'"
	_out=$(root_get "$sc_root" /var/lib/bowtest/actions.out)
	expect_eq "$sc: boot 1: the update's migration ran" "before: version 2" \
		"$(echo "$_out" | grep '^before: ')"
	expect_eq "$sc: boot 1: refused while a file is open, and why" \
		"bowctl: data: cannot unmount /data: Device or resource busy; stop what uses it, or restore the checkpoint at a reboot (bowctl abort --reboot)
busy: 4" \
		"$(echo "$_out" | grep -E '^busy: |^bowctl: data: cannot')"
	root_get "$sc_root" /var/lib/bowtest/status-busy.json > "$sys_dir/$sc.busy.json"
	expect_eq "$sc: boot 1: ... the checkpoint left live, mounted" \
		"checkpoint 1 1 checkpoint" \
		"$(json_get "$sys_dir/$sc.busy.json" 'd["lifecycle"], d["attempts_left"], d["dm_state"], d["last_event"]["event"]')"
	expect_eq "$sc: boot 1: rolled back once closed, mounted again" \
		"bowctl: data: rolled back
free: 0
remounted: version 1" \
		"$(echo "$_out" | grep -E '^bowctl: data: rolled|^free: |^remounted')"
	expect_status "rolled back in the kernel, dm-bow passing through" \
		'd["lifecycle"], d["attempts_left"], d["mapping"], d["dm_state"], d["last_event"]["event"], d["last_event"]["reason"]' \
		"rolled-back 0 bow 2 rolled-back bowctl rollback: rolled back in the kernel"
	expect_data pre
	sc_boot
	expect_status "the next boot: rolled back, pass-through" \
		'd["lifecycle"], d["mapping"], d["last_event"]["event"]' \
		"rolled-back linear rolled-back"
	expect_data pre
}
