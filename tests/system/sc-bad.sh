# Scenario bad, sourced by tests/system/run.sh.
# A bad update: the health check fails at both attempts; the boot
# after each restores; after the last, it stays rolled back.
#
# Kernels: the first kernel; every kernel, with a second attempt, in check-long.
# Boots: 3, or 4 with the second attempt.

sc_bad()
{
	k=$1
	kv=$2
	# Two attempts on the first kernel with check-long; one otherwise
	# (fallback restores and protects a second try in make check).
	n=1
	[ "$k" = "$first_kernel" ] && [ -n "${BOW_LONG:-}" ] && n=2
	sc_new bad-$kv "$k" "state=/var/lib/bow,min_free=1M"
	root_put "$sc_root" /etc/bowtest/health fail
	sc_boot "bowctl start data --retries $n"
	sc_boot
	expect_status "checkpoint left live by a failed health check" \
		'd["lifecycle"], d["attempts_left"], d["dm_state"]' \
		"checkpoint $((n - 1)) 1"
	expect_unit bowtest-health "failed exit-code"
	expect_unit bow-commit@data "inactive success"
	if [ $n = 2 ]; then
		sc_boot
		expect_status "restored, second attempt, live again" \
			'd["lifecycle"], d["attempts_left"], d["dm_state"]' \
			"checkpoint 0 1"
		expect_eq "$sc: boot $sc_boots: the reason counts the attempt" 1 \
			"$(json_get "$st" 'd["last_event"]["reason"]' | grep -cE '^boot attempt 2 of 2; [0-9]+ bytes free$')"
		expect_eq "$sc: boot $sc_boots: the journal says it restored first" 1 \
			"$(root_get "$sc_root" /var/lib/bowtest/journal | grep -c 'bowctl\[[0-9]*\]: /dev/vdb1: restored to the checkpoint$')"
	fi
	# On the first kernel, the last restore outlasts systemd's job
	# timeout on /dev/mapper/data: the mount must wait for it.  With
	# BOW_LONG, the default one (systemd 252 gives a device job 90 s,
	# whatever DefaultTimeoutStartSec says; the job starts about 10 s
	# before bow-setup@), bow-setup@ taking 95 s more; otherwise fstab's
	# x-systemd.device-timeout=5s, and 20 s more.
	slow=20
	[ -n "${BOW_LONG:-}" ] && slow=95
	if [ "$k" = "$first_kernel" ]; then
		debugfs -w -R "mkdir /etc/systemd/system/bow-setup@data.service.d" "$sc_root" > /dev/null 2>&1
		root_put "$sc_root" /etc/systemd/system/bow-setup@data.service.d/bowtest-slow.conf "[Service]
ExecStartPre=/bin/sh -c 'sleep $slow; echo bowtest: a restore of $slow s'
"
		[ $slow = 95 ] || root_put "$sc_root" /etc/fstab "/dev/vda / ext4 rw,errors=remount-ro 0 1
/dev/mapper/data /data ext4 defaults,x-systemd.device-timeout=5s 0 2
"
	fi
	sc_boot
	expect_status "restored, no attempt left: rolled back" \
		'd["lifecycle"], d["attempts_left"], d["mapping"], d["last_event"]["event"], d["last_event"]["reason"]' \
		"rolled-back 0 linear restored restored the checkpoint: the boot did not commit and no attempt is left"
	if [ "$k" = "$first_kernel" ]; then
		expect_eq "$sc: boot $sc_boots: the restore took $slow s, and the mount waited for it" \
			"1 1 0" \
			"$(root_get "$sc_root" /var/lib/bowtest/journal | grep -c "bowtest: a restore of $slow s\$") $(root_get "$sc_root" /var/lib/bowtest/journal | grep -c 'Mounted .*/data\.$') $(root_get "$sc_root" /var/lib/bowtest/journal | grep -ci 'timed out')"
	fi
	expect_data pre
}
