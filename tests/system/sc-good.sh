# Scenario good, sourced by tests/system/run.sh.
# A good update: armed for two attempts, checkpointed, migrated,
# healthy, committed by itself; the next boot keeps the new data.
#
# Kernels: every kernel (Debian 12's 6.1 and 6.12) in make check.
# Boots: 3 on the first kernel, 2 on the others.

sc_good()
{
	k=$1
	kv=$2
	sc_new good-$kv "$k" "state=/var/lib/bow,min_free=1M"
	# On the other kernels, a system without a health check: nothing is
	# required by boot-complete.target, which is then reached right after
	# sysinit.target, and the migration is a plain service that
	# multi-user.target wants (not ordered before boot-complete.target):
	# the commit must still wait for default.target, after it.
	health=true
	if [ "$k" != "$first_kernel" ]; then
		health=false
		debugfs -w -R "rm /etc/systemd/system/boot-complete.target.requires/bowtest-health.service" \
			"$sc_root" > /dev/null 2>&1
		root_put "$sc_root" /etc/systemd/system/bowtest-migrate.service \
			"$(grep -v '^Before=boot-complete.target$' \
				"$top/tests/system/guest/bowtest-migrate.service")
"
	fi
	# Before the real arming, what an update tool that changes its mind
	# does: abort, or commit, before any boot.
	sc_boot "bowctl start data --retries 3 && bowctl abort data && bowctl status data
bowctl start data && bowctl commit data && bowctl status data
bowctl start data --retries 2"
	expect_eq "$sc: boot 1: abort and commit before a boot disarm" \
"data: idle, 0 of 3 boot attempts left
  last event: abort: bowctl abort: no checkpoint was live; disarmed
data: idle, 0 of 1 boot attempts left
  last event: commit: bowctl commit; no checkpoint was live: disarmed" \
		"$(root_get "$sc_root" /var/lib/bowtest/actions.out |
			grep -E '^data: |last event' | sed 's/ at [0-9]*:/:/')"
	expect_status "armed" 'd["lifecycle"], d["attempts_left"], d["mapping"]' \
		"armed 2 linear"
	expect_status "a health check guards the commit: $health" \
		'str(d["health_check"]).lower()' "$health"
	expect_eq "$sc: boot 1: the generator warns in the journal without one" \
		"$([ $health = true ] && echo 0 || echo 1)" \
		"$(root_get "$sc_root" /var/lib/bowtest/journal | grep -c 'bow-generator: /etc/bowtab line 1: no health check guards the commit of data: ')"
	# The update's boot: an update tool arming the next update while
	# this one's checkpoint is live is refused (its commit would cancel
	# the arming).  At the end, with the data committed: an abort or a
	# rollback is an error of its own.  And when the commit ran (Debian's
	# default.target is graphical.target).
	root_put "$sc_root" /etc/bowtest/migrate "$migrate
rc=0; bowctl start data 2> /var/lib/bowtest/start-live.err || rc=\$?
echo \$rc > /var/lib/bowtest/start-live.rc"
	sc_boot "bowctl abort data; echo \"abort: \$?\"
bowctl rollback data; echo \"rollback: \$?\"
default=\$(systemctl show -p ActiveEnterTimestampMonotonic --value default.target)
commit=\$(systemctl show -p ExecMainStartTimestampMonotonic --value bow-commit@data.service)
[ \"\$commit\" -gt \"\$default\" ] && echo 'order: the commit after default.target'
systemctl show -p After --value bow-commit@data.service > /tmp/after.line
xargs -n 1 < /tmp/after.line > /tmp/after
for u in boot-complete.target systemd-bless-boot.service \$(systemctl get-default); do
	grep -qx \"\$u\" /tmp/after && echo \"after: \$u\"
done"
	expect_eq "$sc: boot 2: bowctl start while the checkpoint is live: refused, status 4" \
		"4 bowctl: data: a checkpoint is live (boot attempt 1 of 2; N bytes free): bowctl commit or abort it before arming the next update" \
		"$(root_get "$sc_root" /var/lib/bowtest/start-live.rc) $(root_get "$sc_root" /var/lib/bowtest/start-live.err | sed 's/; [0-9]* bytes/; N bytes/')"
	expect_eq "$sc: boot 2: abort and rollback after the commit: status 5, saying so; the commit after default.target and the bootloader's verdict" \
		"bowctl: data: nothing to restore: the update's data was committed already (commit at T: the boot completed)
abort: 5
bowctl: data: nothing to restore: the update's data was committed already (commit at T: the boot completed)
rollback: 5
order: the commit after default.target
after: boot-complete.target
after: systemd-bless-boot.service
after: graphical.target" \
		"$(root_get "$sc_root" /var/lib/bowtest/actions.out | grep -v '^+' | sed 's/ at [0-9]*:/ at T:/')"
	st_m=$sys_dir/$sc.migrate.json
	root_get "$sc_root" /var/lib/bowtest/status-migrate.json > "$st_m"
	expect_eq "$sc: boot 2: checkpoint live during the migration" \
		"checkpoint 1 bow 1" \
		"$(json_get "$st_m" 'd["lifecycle"], d["attempts_left"], d["mapping"], d["dm_state"]')"
	expect_status "committed after boot-complete" \
		'd["lifecycle"], d["attempts_left"], d["dm_state"], d["last_event"]["event"], d["last_event"]["reason"]' \
		"committed 0 2 commit the boot completed"
	expect_unit bow-commit@data "active success"
	# The boot after it (on the first kernel; the data is the same).
	if [ "$k" = "$first_kernel" ]; then
		sc_boot
		expect_status "still committed, pass-through" \
			'd["lifecycle"], d["mapping"], d["last_event"]["event"]' \
			"committed linear commit"
	fi
	expect_data post
}
