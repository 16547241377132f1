#!/bin/sh
# The update lifecycle on a real Debian 12 system (systemd as PID 1): the
# project installed with make install, dm-bow.ko where dkms puts it, the
# generator's units, and an ext4 data partition (GPT label "data") listed
# in /etc/bowtab and /etc/fstab.  Each scenario boots it several times
# under QEMU and checks, after each boot, bowctl status --json, the units'
# results, the exact files on the data partition and a clean e2fsck.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/system/lib.sh"

fail_boot=0
sys_base_image > "$sys_dir/base.log" 2>&1 || {
	not_ok "the test system's root disk is built"
	tail -n 30 "$sys_dir/base.log" | sed 's/^/#   /'
	exit 1
}
kernels=${BOW_SYS_KERNELS:-$(sys_kernels)}
# The first kernel takes the scenarios that are not run on every kernel.
first_kernel=$(echo "$kernels" | head -n 1)

# want <scenario>: BOW_SYS_ONLY="good torn" runs just those (by hand).
want()
{
	[ -z "${BOW_SYS_ONLY:-}" ] || echo " $BOW_SYS_ONLY " | grep -q " $1 "
}

# The data before the update, and after its migration (the same script
# run here on a copy: the exact files the guest must end with).
pre=$sys_dir/pre
post=$sys_dir/post
rm -rf "$pre" "$post"
mkdir -p "$pre/conf" "$pre/db"
head -c 3000000 /dev/urandom > "$pre/db/table"
head -c 200000 /dev/urandom > "$pre/db/index"
echo "version 1" > "$pre/conf/app.conf"
for i in 1 2 3 4 5 6 7 8; do head -c $((i * 5000)) /dev/urandom > "$pre/conf/f$i"; done
# The migration copies bytes made here (payload/), which the guest gets
# under /etc/bowtest, so that the host knows what it writes.
mkdir -p "$sys_dir/payload"
head -c $((300 * 4096)) /dev/urandom > "$sys_dir/payload/table-part"
head -c 2000000 /dev/urandom > "$sys_dir/payload/new"
head -c 100000 /dev/urandom > "$sys_dir/payload/blob"
migrate='dd if=/etc/bowtest/table-part of=db/table bs=4096 seek=100 conv=notrunc status=none
rm db/index
echo "version 2" > conf/app.conf
cp /etc/bowtest/new db/new
mkdir -p cache
cp /etc/bowtest/blob cache/blob'
cp -a "$pre" "$post"
(cd "$post" && echo "$migrate" | sed "s|/etc/bowtest/|$sys_dir/payload/|g" | sh -e) ||
	not_ok "the migration runs on the host's copy"

# sc_new <name> <kernel> <bowtab options>: fresh disks for a scenario.
sc_new()
{
	sc=$1
	sc_k=$2
	sc_boots=0
	sc_result_img=
	sc_result_dir=
	sc_root=$sys_dir/$sc.root
	sc_data=$sys_dir/$sc.data
	cp --sparse=always "$sys_dir/root.img" "$sc_root"
	root_put "$sc_root" /etc/bowtab "data PARTLABEL=data $3
"
	root_put "$sc_root" /etc/bowtest/migrate "$migrate
"
	for f in table-part new blob; do
		debugfs -w -R "write $sys_dir/payload/$f /etc/bowtest/$f" \
			"$sc_root" > /dev/null 2>&1
	done
	data_make "$sc_data" 64 "$pre"
}

# sc_boot [<actions>]: boot once, running <actions> (shell) at its end.
# Sets $st, the status JSON the boot left, and $log, its console.
sc_boot()
{
	sc_boots=$((sc_boots + 1))
	[ -n "${1:-}" ] && root_put "$sc_root" /etc/bowtest/actions "$1
"
	log=$sys_dir/$sc.boot$sc_boots.log
	st=$sys_dir/$sc.status$sc_boots.json
	rm -f "$st"
	sys_boot "$log" "$sc_k" "$sc_root" "$sc_data"
	root_get "$sc_root" /var/lib/bowtest/status.json > "$st"
	debugfs -w -R "rm /var/lib/bowtest/status.json" "$sc_root" > /dev/null 2>&1
	sc_kernel_clean
}

# sc_boot_cut: boot, and cut the power once the migration has written
# its changes and holds (a checkpoint live, the state of a boot that
# never ends).
sc_boot_cut()
{
	root_put "$sc_root" /etc/bowtest/hold 1
	sc_boot_until 'bowtest: migration holding' "the migration reached its hold"
	debugfs -w -R "rm /etc/bowtest/hold" "$sc_root" > /dev/null 2>&1
}

# sc_boot_until <console text> <what it means>: boot, and cut the power
# once the console shows the text.
sc_boot_until()
{
	sc_boots=$((sc_boots + 1))
	log=$sys_dir/$sc.boot$sc_boots.log
	BOW_SYS_BACKGROUND=1 sys_boot "$log" "$sc_k" "$sc_root" "$sc_data"
	for i in $(seq 300); do
		grep -q "$1" "$log" && break
		sleep 1
	done
	check "$sc: boot $sc_boots: $2" grep -q "$1" "$log"
	sys_power_cut
}

# The boot reached its end, and the kernel said nothing bad.
sc_kernel_clean()
{
	if ! grep -q 'bowtest: finished' "$log"; then
		not_ok "$sc: boot $sc_boots ran to its end"
		tail -n 30 "$log" | sed 's/^/#   /'
	elif grep -qE 'BUG:|WARNING:|Oops|Call Trace|Kernel panic' "$log"; then
		not_ok "$sc: boot $sc_boots: kernel log clean"
		grep -E -A10 'BUG:|WARNING:|Oops|Call Trace|Kernel panic' "$log" |
			head -n 30 | sed 's/^/#   /'
	fi
}

# sc_arm_host <retries> [<image> <directory> [<name>]]: arm as "bowctl
# start data --retries <n>" would (or <name>), with the host's bowctl writing the state file
# into the root image's /var/lib/bow (or the image and directory given):
# a boot saved; the good and bad updates arm in the guest.
sc_arm_host()
{
	_sd=$sys_dir/$sc.state
	_img=${2:-$sc_root}
	_dir=${3:-/var/lib/bow}
	_name=${4:-data}
	rm -rf "$_sd"
	echo "$_name PARTLABEL=data state=$_sd" > "$sys_dir/$sc.bowtab"
	# The guest's kernels are not the host's /boot: none to check.
	BOW_MODULES_ROOT=$sys_dir/none \
	"$top/bowctl/bowctl" --bowtab "$sys_dir/$sc.bowtab" --fstab /dev/null \
		start "$_name" --retries "$1" || not_ok "$sc: the host's bowctl arms"
	debugfs -w -R "mkdir $_dir" "$_img" > /dev/null 2>&1
	debugfs -w -R "rm $_dir/$_name.state" "$_img" > /dev/null 2>&1
	debugfs -w -R "write $_sd/$_name.state $_dir/$_name.state" \
		"$_img" > /dev/null 2>&1
}

# expect_status <what> <field expression> <expected>
expect_status()
{
	expect_eq "$sc: boot $sc_boots: $1" "$3" "$(json_get "$st" "$2")"
}

# sc_result <file>: what the guest's bowtest-finish recorded, on the
# root image (or where the scenario says: the A/B disk's meta partition).
sc_result()
{
	root_get "${sc_result_img:-$sc_root}" "${sc_result_dir:-/var/lib/bowtest}/$1"
}

expect_unit()
{
	expect_eq "$sc: boot $sc_boots: $1" "$2" \
		"$(sc_result units | grep "^$1 " | cut -d' ' -f2-)"
}

# The boot loader's entry was marked good, then the data committed.
expect_marked_then_committed()
{
	expect_unit systemd-bless-boot "active success"
	expect_unit bow-commit@data "active success"
	expect_status "marked good, then committed" \
		'd["lifecycle"], d["mapping"], d["last_event"]["event"]' \
		"committed bow commit"
	expect_eq "$sc: boot $sc_boots: the entry marked good before the commit" \
		"Finished systemd-bless-boot.service
Finished bow-commit@data.service" \
		"$(sc_result journal | grep -o 'Finished \(systemd-bless-boot\|bow-commit@data\)\.service')"
}

# expect_data <pre|post>: the partition holds exactly those files, and
# its file system is clean.
expect_data()
{
	data_tree "$sc_data" "$sys_dir/$sc.tree"
	if diff -r "$sys_dir/$1" "$sys_dir/$sc.tree" > "$sys_dir/$sc.diff" 2>&1; then
		ok "$sc: boot $sc_boots: the data partition holds exactly the $1-update files"
	else
		not_ok "$sc: boot $sc_boots: the data partition holds exactly the $1-update files"
		head -n 10 "$sys_dir/$sc.diff" | sed 's/^/#   /'
	fi
	data_part "$sc_data" "$sc_data.part"
	check "$sc: boot $sc_boots: e2fsck -fn finds the file system clean" \
		quiet e2fsck -fn "$sc_data.part"
	bow_out=$("$top/bow-restore/bow-restore" -n "$sc_data.part" 2>&1)
	expect_eq "$sc: boot $sc_boots: no log in block 0" "no checkpoint found" \
		"$(echo "$bow_out" | grep -o 'no checkpoint found')"
	rm -f "$sc_data.part"
}

# A good update: armed for two attempts, checkpointed, migrated,
# healthy, committed by itself; the next boot keeps the new data.
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

# A bad update: the health check fails at both attempts; the boot
# after each restores; after the last, it stays rolled back.
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

# Low free space with on_full=commit: the watcher commits during the
# migration (which waits for it), and says why.
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

# Low free space with on_full=abort: the watcher disarms and reboots;
# that next boot restores.
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

# bowctl abort from the update itself: no commit after boot-complete,
# the next boot restores.
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

# commit=manual, for an update tool that commits with its own verdict
# (Mender after its server answers, RAUC's mark-good): a healthy boot
# commits nothing; the tool's abort at its end restores the data at the
# next boot, where a commit is refused and an abort has nothing to do.
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

# A checkpoint that fails (FITRIM refused: the file system is mounted
# noload, where ext4 says EROFS): recorded as failed, the unit failed
# and with it boot-complete.target (nothing committed, no bootloader
# mark); an abort says nothing can be restored; the next boot does not
# claim a rollback.
sc_ckptfail()
{
	k=$1
	sc_new ckptfail "$k" "state=/var/lib/bow,min_free=1M"
	root_put "$sc_root" /etc/fstab "/dev/vda / ext4 rw,errors=remount-ro 0 1
/dev/mapper/data /data ext4 ro,noload 0 2
"
	sc_arm_host 1
	sc_boot "systemctl show -p ActiveState --value boot-complete.target
bowctl abort data; echo \"abort: \$?\""
	expect_status "the checkpoint failed, recorded" \
		'd["lifecycle"], d["attempts_left"], d["mapping"], d["dm_state"], d["last_event"]["event"], d["last_event"]["reason"]' \
		"failed 0 bow 0 checkpoint-failed FITRIM on /data failed: Read-only file system: boot attempt 1 of 1 runs unprotected and is not committed"
	expect_unit bow-checkpoint@data "failed exit-code"
	expect_unit bow-commit@data "inactive success"
	expect_eq "$sc: boot 1: boot-complete.target not reached; abort: nothing to restore, status 5" \
		"inactive
bowctl: data: nothing to restore: FITRIM on /data failed: Read-only file system: boot attempt 1 of 1 runs unprotected and is not committed (checkpoint-failed at T)
abort: 5" \
		"$(root_get "$sc_root" /var/lib/bowtest/actions.out | grep -v '^+' | sed 's/ at [0-9]*)/ at T)/')"
	sc_boot
	expect_status "the next boot: still failed, no rollback claimed, pass-through" \
		'd["lifecycle"], d["mapping"], d["last_event"]["event"]' \
		"failed linear checkpoint-failed"
	expect_data pre
}

# bowctl rollback at the end of a boot whose health check failed (the
# checkpoint still live): refused while a process holds a file open, the
# checkpoint left as it was; then rolled back in the kernel, remounted,
# and the next boot passes the restored data through.
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

# A torn state file while a checkpoint is live: the log is restored, no
# checkpoint is taken, and the status says why.
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

# Configuration errors: a bowtab line with a bad option is left alone
# (the generator and bowctl name the file, line and field); a state
# directory on the protected file system is refused when arming.
sc_config()
{
	k=$1
	sc_new config "$k" "state=/data/bow"
	root_put "$sc_root" /etc/bowtab "data PARTLABEL=data state=/data/bow
	spare /dev/vdc state=/var/lib/bow,retries=x
	"
	sc_boot "bowctl start data"
	expect_eq "$sc: boot 1: bowctl start refuses, status 4" 4 \
		"$(root_get "$sc_root" /var/lib/bowtest/actions.rc)"
	expect_eq "$sc: boot 1: ... and says why" 1 \
		"$(root_get "$sc_root" /var/lib/bowtest/actions.out | grep -c '^bowctl: data: refusing to arm: state directory /data/bow is on the protected file system (/data); a rollback would undo the state that asks for it (bowtab line 1)$')"
	expect_eq "$sc: boot 1: bowctl status exits 2 for the bad line" 2 \
		"$(root_get "$sc_root" /var/lib/bowtest/status.rc)"
	msg="/etc/bowtab:2: bad retries 'x': expected a number of boot attempts, 1 to 100; this device is left alone"
	expect_eq "$sc: boot 1: ... naming file, line and field" "$msg" \
		"$(root_get "$sc_root" /var/lib/bowtest/status.err)"
	expect_eq "$sc: boot 1: the generator says the same in the journal" 1 \
		"$(root_get "$sc_root" /var/lib/bowtest/journal | grep -c "bow-generator: $msg")"
	expect_eq "$sc: boot 1: the generator says the state directory is on the device" 1 \
		"$(root_get "$sc_root" /var/lib/bowtest/journal | grep -c 'bow-generator: /etc/bowtab line 1: state directory /data/bow is on the protected file system (/data): data is never checkpointed$')"
	expect_status "the good line is still served, unarmed" \
		'd["name"], d["lifecycle"], d["mapping"]' "data idle linear"
	expect_data pre
}

# corrupt_log: flip a bit of the checksum of entry 0 in the newest log
# block (block 0 of the partition), so that the log fails validation.
corrupt_log()
{
	python3 - "$sc_data" $data_offset <<-'EOT'
	import struct, sys
	f = open(sys.argv[1], "r+b")
	base = int(sys.argv[2])
	f.seek(base)
	magic, ver, hsize = struct.unpack("<IHH", f.read(8))
	assert magic == 0x00574f42, hex(magic)
	f.seek(base + hsize + 20)
	c = f.read(1)[0]
	f.seek(base + hsize + 20)
	f.write(bytes([c ^ 1]))
	EOT
}

# A live log that does not validate, under either on_invalid policy:
# roll forward (the default, as vold: the new data is kept, and the
# status says failed), or fail (the device left as it is, its mount
# failed: fstab says nofail here, so that the boot goes on to report).
sc_invalid()
{
	k=$1
	sc_new invalid-$2 "$k" "state=/var/lib/bow,min_free=1M,on_invalid=$2"
	root_put "$sc_root" /etc/bowtest/health fail
	root_put "$sc_root" /etc/fstab "/dev/vda / ext4 rw,errors=remount-ro 0 1
/dev/mapper/data /data ext4 defaults,nofail 0 2
"
	sc_arm_host 2
	sc_boot
	expect_status "checkpoint live" 'd["lifecycle"], d["dm_state"]' "checkpoint 1"
	corrupt_log
	data_part "$sc_data" "$sc_data.part"
	"$top/bow-restore/bow-restore" -n "$sc_data.part" > /dev/null 2>&1
	expect_eq "$sc: the log now fails its checksum (bow-restore status 5)" 5 $?
	rm -f "$sc_data.part"
	sc_boot
	if [ "$2" = roll-forward ]; then
		expect_status "rolled forward: failed, pass-through, disarmed" \
			'd["lifecycle"], d["attempts_left"], d["mapping"], d["last_event"]["event"]' \
			"failed 0 linear rolled-forward"
		expect_data post
	else
		expect_status "left for inspection: failed, no mapping" \
			'd["lifecycle"], d["attempts_left"], d["mapping"], d["last_event"]["event"]' \
			"failed 0 none invalid-log"
		expect_unit bow-setup@data "failed exit-code"
		data_part "$sc_data" "$sc_data.part"
		"$top/bow-restore/bow-restore" -n "$sc_data.part" > /dev/null 2>&1
		expect_eq "$sc: boot $sc_boots: the log is left as it was" 5 $?
		rm -f "$sc_data.part"
	fi
}

# A power cut in the middle of the migration: the next boot restores.
# The lower device is named by UUID=, the hardest case: that names the
# file system, which the live log hides (its superblock is in block 0),
# so the boot finds the partition where the boot before recorded it.
sc_powercut()
{
	k=$1
	sc_new powercut "$k" "state=/var/lib/bow,min_free=1M"
	data_part "$sc_data" "$sc_data.part"
	uuid=$(blkid -o value -s UUID "$sc_data.part")
	rm -f "$sc_data.part"
	root_put "$sc_root" /etc/bowtab "data UUID=$uuid state=/var/lib/bow,min_free=1M
"
	sc_arm_host 1
	sc_boot_cut
	data_part "$sc_data" "$sc_data.part"
	expect_eq "$sc: the live log hides the file system's UUID" "" \
		"$(blkid -o value -s UUID "$sc_data.part")"
	rm -f "$sc_data.part"
	sc_boot
	expect_status "found where recorded, restored: rolled back" \
		'd["lifecycle"], d["mapping"], d["last_event"]["event"]' \
		"rolled-back linear restored"
	expect_eq "$sc: boot 2: bowctl says it used the recorded PARTUUID" 1 \
		"$(root_get "$sc_root" /var/lib/bowtest/journal | grep -c "bowctl: data: /dev/disk/by-uuid/$uuid not found (a live log hides the file system); using /dev/disk/by-partuuid/[0-9a-f-]*, where it was at the last boot$")"
	expect_data pre
}

# early_console: what this boot's console showed before the initramfs
# ran its init-bottom scripts, that is, before the root switch.
early_console()
{
	sed -n '1,/Running \/scripts\/init-bottom/p' "$log" | tr -d '\r'
}

# expect_early <text>: the initramfs printed "bowctl: data: <text>".
expect_early()
{
	expect_eq "$sc: boot $sc_boots: the initramfs said '$1'" 1 \
		"$(early_console | grep -cF "bowctl: data: $1")"
}

# The device set up in the initramfs (bowtab option initramfs) by
# Debian's own initramfs-tools with dm-bow's hook and boot script.  The
# state on the root file system, which the initramfs mounts read-only:
# the script remounts it read-write for bowctl and back.  Two attempts:
# the first fails its health check; the next boot's initramfs restores and
# takes the second, which is healthy and commits.
sc_initramfs()
{
	k=$1
	sc_new initramfs "$k" "state=/var/lib/bow,min_free=1M,initramfs"
	sys_initrd=$sys_dir/initrd-debian-$k.img
	root_put "$sc_root" /etc/bowtest/health fail
	sc_arm_host 2
	sc_boot
	expect_early "attempt: dm-bow set up"
	expect_status "set up before the root switch, checkpoint live" \
		'd["lifecycle"], d["attempts_left"], d["dm_state"], d["last_event"]["event"]' \
		"checkpoint 1 1 checkpoint"
	expect_unit bow-setup@data "active success"
	expect_unit bowtest-health "failed exit-code"
	# systemd checks the root only while it is read-only: as the
	# initramfs must have left it.
	expect_eq "$sc: boot 1: the root was read-only again at the switch" 1 \
		"$(root_get "$sc_root" /var/lib/bowtest/journal |
			grep -c 'systemd-fsck\[[0-9]*\]: root: clean')"
	debugfs -w -R "rm /etc/bowtest/health" "$sc_root" > /dev/null 2>&1
	sc_boot
	expect_early "attempt: dm-bow set up"
	expect_eq "$sc: boot 2: the initramfs restored first" 1 \
		"$(early_console | grep -c '/dev/vdb1: restored to the checkpoint$')"
	expect_status "the second attempt committed" \
		'd["lifecycle"], d["attempts_left"], d["dm_state"], d["last_event"]["event"]' \
		"committed 0 2 commit"
	expect_data post
	sys_initrd=
}

# The same with the state on a file system of its own (LABEL=meta on a
# third disk, in fstab), which the initramfs does not mount: the script
# mounts it for bowctl, and unmounts it for systemd.  One attempt, which
# fails: the next boot's initramfs restores, rolled back.
sc_initramfs_meta()
{
	k=$1
	sc_new initramfs-meta-$2 "$k" "state=/meta/bow,min_free=1M,initramfs"
	root_put "$sc_root" /etc/fstab "/dev/vda / ext4 rw,errors=remount-ro 0 1
LABEL=meta /meta ext4 defaults 0 2
/dev/mapper/data /data ext4 defaults 0 2
"
	debugfs -w -R "mkdir /meta" "$sc_root" > /dev/null 2>&1
	sys_disk3=$sys_dir/$sc.meta
	rm -f "$sys_disk3"
	mke2fs -q -t ext4 -L meta "$sys_disk3" 16M > /dev/null
	sys_initrd=$sys_dir/initrd-debian-$k.img
	root_put "$sc_root" /etc/bowtest/health fail
	sc_arm_host 1 "$sys_disk3" /bow
	sc_boot
	expect_early "attempt: dm-bow set up"
	expect_status "the state on /meta: checkpoint live" \
		'd["lifecycle"], d["attempts_left"], d["dm_state"]' \
		"checkpoint 0 1"
	sc_boot
	expect_early "restored"
	expect_status "restored in the initramfs: rolled back" \
		'd["lifecycle"], d["attempts_left"], d["mapping"], d["last_event"]["event"]' \
		"rolled-back 0 linear restored"
	expect_eq "$sc: boot 2: the state file is on the meta disk" 1 \
		"$(debugfs -R 'cat /bow/data.state' "$sys_disk3" 2>/dev/null |
			grep -c '^lifecycle rolled-back$')"
	expect_data pre
	sys_initrd=
	sys_disk3=
}

# ---- In-place updates of the root file system (bowtab resume) ----
# The root file system itself on dm-bow (root=/dev/mapper/root; bowtab
# and fstab: $sys_root_bowtab, $sys_root_fstab), its state on a disk of
# its own (LABEL=meta), set up by Debian's initramfs before the root is
# mounted.  Boot 1 updates in place as an update tool would: bowctl
# start root, then dpkg -i of version 2 of two packages (files under
# /usr change, go and come).  The boots after it resume the checkpoint.
# While block 0 holds the log the host cannot read the root image: the
# guest's results, actions and health check go through /meta/bowtest.

# ip_new <name>: fresh disks; the /usr of the image before the update.
ip_new()
{
	sc=$1
	sc_k=$first_kernel
	sc_result_img=
	sc_result_dir=
	sc_boots=0
	sc_root=$sys_dir/$sc.root
	sc_data=$sys_dir/$sc.data
	sc_meta=$sys_dir/$sc.meta
	cp --sparse=always "$sys_dir/root.img" "$sc_root"
	root_put "$sc_root" /etc/bowtab "$sys_root_bowtab
"
	root_put "$sc_root" /etc/fstab "$sys_root_fstab
"
	rm -f "$sc_data" "$sc_meta"
	truncate -s 16M "$sc_data"
	mke2fs -q -t ext4 -L meta "$sc_meta" 16M > /dev/null
	debugfs -w -R "mkdir /bowtest" "$sc_meta" > /dev/null 2>&1
	ip_usr "$sys_dir/$sc.usr-before"
}

# ip_usr <dir>: the root image's /usr, copied out as <dir>/usr (symbolic
# links kept).
ip_usr()
{
	rm -rf "$1"
	mkdir -p "$1"
	debugfs -R "rdump /usr $1" "$sc_root" > /dev/null 2>&1
}

# ip_put <path> <content>, ip_get <path>: a file on the meta disk.
ip_put()
{
	root_put "$sc_meta" "$1" "$2"
}

ip_get()
{
	root_get "$sc_meta" "$1"
}

# ip_disks [off]: boot (or stop booting) the root file system on dm-bow:
# Debian's initramfs made for it, root=/dev/mapper/root, the meta disk.
ip_disks()
{
	sys_initrd=
	sys_rootdev=
	sys_disk3=
	[ "${1:-}" = off ] && return
	sys_initrd=$sys_dir/initrd-debian-root-$sc_k.img
	sys_rootdev=/dev/mapper/root
	sys_disk3=$sc_meta
}

# ip_boot [<actions>]: boot once, running <actions> at its end; $st is
# the status JSON it left, $log its console.
ip_boot()
{
	sc_boots=$((sc_boots + 1))
	[ -n "${1:-}" ] && ip_put /bowtest/actions "$1
"
	log=$sys_dir/$sc.boot$sc_boots.log
	st=$sys_dir/$sc.status$sc_boots.json
	rm -f "$st"
	debugfs -w -R "rm /bowtest/status.json" "$sc_meta" > /dev/null 2>&1
	ip_disks
	sys_boot "$log" "$sc_k" "$sc_root" "$sc_data"
	ip_disks off
	ip_get /bowtest/status.json > "$st"
	sc_kernel_clean
}

# The console before the root switch said "bowctl: root: <text>".
ip_early()
{
	expect_eq "$sc: boot $sc_boots: the initramfs said '$1'" 1 \
		"$(early_console | grep -cF "bowctl: root: $1")"
}

# What boot 1 does: the update, in place, under a checkpoint taken now.
ip_update="bowctl start root --retries \$retries
bowctl status root --json > /meta/bowtest/status-start.json
dpkg -i /var/cache/bowtest/*_2_all.deb
sync
systemctl restart bow-commit@root.service
journalctl -b -u bow-commit@root.service -o cat > /meta/bowtest/commit.out"
# What the boots into the new version check: the packages' files (read
# by the guest, through dm-bow).
ip_files="cd / && md5sum usr/bin/bowtest-* usr/lib/bowtest-*/* usr/share/bowtest-*/* > /meta/bowtest/usr.md5
dpkg-query -W bowtest-app bowtest-lib > /meta/bowtest/versions"

# ip_expect_new: the guest saw version 2's files, exactly.
ip_expect_new()
{
	(cd "$sys_dir/$sc.usr-new" &&
		md5sum usr/bin/bowtest-* usr/lib/bowtest-*/* usr/share/bowtest-*/*) \
		> "$sys_dir/$sc.md5-new"
	expect_eq "$sc: boot $sc_boots: the new version's files, exactly" "" \
		"$(ip_get /bowtest/usr.md5 | diff - "$sys_dir/$sc.md5-new")"
	expect_eq "$sc: boot $sc_boots: dpkg says version 2" \
		"bowtest-app	2 bowtest-lib	2" \
		"$(ip_get /bowtest/versions | tr '\n' ' ' | sed 's/ $//')"
}

# ip_expect_usr <before|new>: the root image's /usr is exactly that one,
# its file system clean, block 0 the file system's.
ip_expect_usr()
{
	ip_usr "$sys_dir/$sc.usr-now"
	if diff -r --no-dereference "$sys_dir/$sc.usr-$1" "$sys_dir/$sc.usr-now" \
		> "$sys_dir/$sc.diff" 2>&1; then
		ok "$sc: boot $sc_boots: /usr is exactly the $1-update one"
	else
		not_ok "$sc: boot $sc_boots: /usr is exactly the $1-update one"
		head -n 10 "$sys_dir/$sc.diff" | sed 's/^/#   /'
	fi
	check "$sc: boot $sc_boots: e2fsck -fn finds the root file system clean" \
		quiet e2fsck -fn "$sc_root"
	expect_eq "$sc: boot $sc_boots: no log in block 0" "no checkpoint found" \
		"$("$top/bow-restore/bow-restore" -n "$sc_root" 2>&1 |
			grep -o 'no checkpoint found')"
}

# ip_usr_new: version 2's /usr as the host expects it: the one before,
# version 1's files out, version 2's in.
ip_usr_new()
{
	_n=$sys_dir/$sc.usr-new
	rm -rf "$_n" "$_n.root"
	cp -a "$sys_dir/$sc.usr-before" "$_n"
	rm -rf "$_n"/usr/bin/bowtest-* "$_n"/usr/lib/bowtest-* \
		"$_n"/usr/share/bowtest-*
	for _d in "$sys_dir"/debs/*_2_all.deb; do
		dpkg-deb -x "$_d" "$_n"
	done
}

# Boot 1 of both: the update, checkpointed while running.
ip_boot_update()
{
	ip_boot "retries=$1
$ip_update"
	expect_eq "$sc: boot 1: the update ran" 0 "$(ip_get /bowtest/actions.rc)"
	ip_get /bowtest/status-start.json > "$sys_dir/$sc.start.json"
	expect_eq "$sc: boot 1: bowctl start checkpointed the running root" \
		"checkpoint $1 bow 1 checkpoint" \
		"$(json_get "$sys_dir/$sc.start.json" 'd["lifecycle"], d["attempts_left"], d["mapping"], d["dm_state"], d["last_event"]["event"]')"
	expect_status "the checkpoint is live at the end of the update's boot" \
		'd["lifecycle"], d["attempts_left"], d["dm_state"]' "checkpoint $1 1"
	expect_eq "$sc: boot 1: the commit unit run again after the start does not commit" 1 \
		"$(ip_get /bowtest/commit.out | grep -c '^bowctl: root: not committing: no boot has tried the update yet$')"
	expect_eq "$sc: boot 1: the watcher runs" "active" \
		"$(ip_get /bowtest/units | grep '^bow-watch@root ' | cut -d' ' -f2)"
}

# ip_boot_new <attempt> <of>: a boot into the new version, resumed by
# the initramfs; it sees version 2's files, exactly.
ip_boot_new()
{
	ip_boot "$ip_files"
	ip_early "boot attempt $1 of $2, the checkpoint resumed: dm-bow resumed"
	ip_expect_new
}

# ip_expect_live <attempt> <of>: the checkpoint is live, resumed and
# trimmed (free space again).
ip_expect_live()
{
	expect_status "resumed, checkpoint live" \
		'd["lifecycle"], d["attempts_left"], d["mapping"], d["dm_state"], d["last_event"]["event"]' \
		"checkpoint $(($2 - $1)) bow 1 checkpoint"
	expect_eq "$sc: boot $sc_boots: free space again after the trim" True \
		"$(json_get "$st" 'd["free_bytes"] > 100 * 1024 * 1024 and d["last_event"]["reason"].startswith("boot attempt '"$1 of $2"', resumed; ")')"
}

# Rolled back: three attempts; two boots into the new version: the
# first fails its health check (the checkpoint stays live), the power
# goes in the second once it runs and writes (the root file system's
# journal then needs a replay, which a resumed checkpoint cannot take
# before its trim); the next boot restores in the initramfs, an attempt
# still left, and says why; /usr is the old one, exactly.
sc_inplace_rollback()
{
	ip_new inplace-rollback
	ip_boot_update 3
	ip_usr_new
	ip_put /bowtest/health fail
	ip_boot_new 1 3
	ip_expect_live 1 3
	ip_put /bowtest/actions "$ip_files
bowctl status --json > /meta/bowtest/status.json
echo new > /var/tmp/written-after-resume
sync
echo '<2>bowtest: cut here' > /dev/kmsg
sleep 3600
"
	ip_disks
	sc_boot_until 'bowtest: cut here' "the new version ran, then the power went"
	ip_disks off
	st=$sys_dir/$sc.status$sc_boots.json
	ip_early "boot attempt 2 of 3, the checkpoint resumed: dm-bow resumed"
	# The meta disk lost its power too: its journal first, as a boot
	# would, before the host reads it or writes to it.
	quiet e2fsck -fy "$sc_meta"
	ip_get /bowtest/status.json > "$st"
	ip_expect_live 2 3
	ip_expect_new
	debugfs -w -R "rm /bowtest/actions" "$sc_meta" > /dev/null 2>&1
	ip_boot
	ip_early "not resuming the checkpoint: its journal needs a replay (the boot before did not unmount it); restoring it"
	ip_early "restored"
	expect_status "restored in the initramfs: rolled back" \
		'd["lifecycle"], d["attempts_left"], d["mapping"], d["last_event"]["event"], d["last_event"]["reason"]' \
		"rolled-back 0 linear restored restored the checkpoint: could not resume it: its journal needs a replay (the boot before did not unmount it)"
	ip_expect_usr before
	expect_eq "$sc: boot $sc_boots: dpkg's database is version 1's" \
		"Version: 1 Version: 1" \
		"$(root_get "$sc_root" /var/lib/dpkg/status |
			grep -A4 '^Package: bowtest-' | grep '^Version:' | tr '\n' ' ' | sed 's/ $//')"
}

# Committed: two attempts; the first boot into the new version fails its
# health check (the checkpoint stays live, resumed again by the next
# boot), the second is healthy and commits; /usr is the new one.
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

# short_version <kernel release>: "6.1", "6.12": scenario names.
short_version()
{
	echo "${1%%-*}" | cut -d. -f1,2 | sed 's/+.*//'
}

# other_kernels <scenario>: whether it runs on the kernels after the
# first: the good update always; the failed update and the initramfs
# with its state on a disk of its own in the long lane (BOW_LONG=1, make
# check-long) or when asked for by name.
other_kernels()
{
	[ "$1" = good ] || [ -n "${BOW_LONG:-}" ] || [ -n "${BOW_SYS_ONLY:-}" ]
}

# An armed boot on a kernel with no dm-bow.ko (an update brought a
# kernel DKMS did not build for): no log is live, so the device is mapped
# as a pass-through and the system boots; the attempt is counted, the
# state and status say the kernel has no dm-bow target (not that dm-bow
# refused anything), bow-checkpoint@ fails with the boot's warning, and
# nothing commits.  (The test's migration runs only under a live
# checkpoint: the data stays pre.)
sc_nomodule()
{
	k=$1
	sc_new nomodule "$k" "state=/var/lib/bow,min_free=1M"
	debugfs -w -R "rm /lib/modules/$k/updates/dkms/dm-bow.ko" "$sc_root" > /dev/null 2>&1
	sc_arm_host 2
	# And a name that another target holds (dm-error, built into
	# device-mapper): boot-setup does not touch it, and an armed boot on
	# it says it is unprotected.
	sc_boot "mkdir -p /var/lib/bowforeign
echo 'foreign /dev/vdb1 state=/var/lib/bowforeign' > /run/bt
dmsetup create foreign --table '0 8 error'
bowctl --bowtab /run/bt start foreign; echo \"start: \$?\"
bowctl --bowtab /run/bt boot-setup foreign; echo \"setup: \$?\"
cat /run/bowctl/foreign.warning
dmsetup table foreign | tr -s ' ' | sed 's/ \$//'
dmsetup remove foreign"
	expect_eq "$sc: boot 1: a foreign mapping of the name: untouched, refused (4), the armed boot told" \
		"start: 0
bowctl: foreign: /dev/mapper/foreign exists and is no mapping of bowctl's (neither dm-bow nor a pass-through): not touching it; this armed boot runs unprotected
setup: 4
/dev/mapper/foreign exists and is no mapping of bowctl's (neither dm-bow nor a pass-through): not touching it; this armed boot runs unprotected
0 8 error" \
		"$(root_get "$sc_root" /var/lib/bowtest/actions.out | grep -v '^+')"
	no_target="this kernel ($k) has no dm-bow target: dm-bow.ko is missing for it (dm-bow-dkms and linux-headers-$k build it)"
	expect_status "no target: a pass-through, the attempt counted, still armed" \
		'd["lifecycle"], d["attempts_left"], d["mapping"], d["last_event"]["event"], d["last_event"]["reason"]' \
		"armed 1 linear no-dm-bow $no_target: boot attempt 1 of 2 runs unprotected"
	expect_status "no target: status shows the boot's warning" \
		'd["boot_warning"]' \
		"not checkpointing: $no_target; this armed boot runs unprotected, on a pass-through"
	expect_unit bow-setup@data "active success"
	expect_unit bow-checkpoint@data "failed exit-code"
	expect_unit bow-commit@data "inactive success"
	expect_data pre
}

# Two devices one update changes (one group: bowtab's default), data and
# data2 (a third disk), both armed; the boot's health check fails, so
# only the update tool commits: "bowctl commit data" commits both.  The
# next boot restores nothing: data2 keeps what was written to it.  (A
# commit of data alone left data2 live, and that boot restored it.)
sc_group()
{
	k=$1
	sc_new group "$k" "state=/var/lib/bow,min_free=1M"
	root_put "$sc_root" /etc/bowtab "data PARTLABEL=data state=/var/lib/bow,min_free=1M
data2 /dev/vdc1 state=/var/lib/bow,min_free=1M
"
	root_put "$sc_root" /etc/fstab "/dev/vda / ext4 rw,errors=remount-ro 0 1
/dev/mapper/data /data ext4 defaults 0 2
/dev/mapper/data2 /data2 ext4 defaults 0 2
"
	debugfs -w -R "mkdir /data2" "$sc_root" > /dev/null 2>&1
	sys_disk3=$sys_dir/$sc.data2
	rm -rf "$sys_disk3" "$sys_dir/$sc.data2.d"
	mkdir -p "$sys_dir/$sc.data2.d"
	head -c 200000 /dev/urandom > "$sys_dir/$sc.data2.d/old"
	truncate -s 32M "$sys_disk3"
	printf 'label: gpt\nstart=2048, name=data2\n' | sfdisk -q "$sys_disk3" > /dev/null
	mke2fs -q -t ext4 -b 4096 -E offset=$data_offset -d "$sys_dir/$sc.data2.d" \
		"$sys_disk3" $((30 * 256))
	root_put "$sc_root" /etc/bowtest/health fail
	sc_arm_host 1
	sc_arm_host 1 "$sc_root" /var/lib/bow data2
	sc_boot "echo written > /data2/new; sync
bowctl commit data; echo \"commit: \$?\""
	expect_eq "$sc: boot 1: one commit, both devices committed (the other with its group)" \
		"commit: 0
data committed 2 bowctl commit
data2 committed 2 bowctl commit (with its group all)" \
		"$(root_get "$sc_root" /var/lib/bowtest/actions.out | grep -v '^+')
$(python3 -c 'import json, sys
for d in json.load(open(sys.argv[1]))["devices"]:
	print(d["name"], d["lifecycle"], d["dm_state"], d["last_event"]["reason"])' "$st")"
	sc_boot
	data_part "$sys_disk3" "$sys_disk3.part" data2
	expect_eq "$sc: boot 2: nothing restored: data2 keeps what the update wrote" \
		"written
data committed linear
data2 committed linear" \
		"$(debugfs -R 'cat /new' "$sys_disk3.part" 2>/dev/null)
$(python3 -c 'import json, sys
for d in json.load(open(sys.argv[1]))["devices"]:
	print(d["name"], d["lifecycle"], d["mapping"])' "$st")"
	rm -f "$sys_disk3.part"
	expect_data post
	sys_disk3=
}

# sc_new_esp: the scenario boots through OVMF and systemd-boot (esp_make):
# entry bowtest-a.conf, the system as it is (bowtest.slot=a); the
# partition mounted on /efi, where systemd-bless-boot finds it; the
# migration is slot b's, run at each boot of it (bowtest-migrate).
sc_new_esp()
{
	sys_esp=$sys_dir/$sc.esp
	esp_make "$sys_esp" "$sc_k" "bowtest-a.conf:bowtest.slot=a" ||
		not_ok "$sc: the EFI system partition is made"
	debugfs -w -R "mkdir /efi" "$sc_root" > /dev/null 2>&1
	root_put "$sc_root" /etc/fstab "/dev/vda / ext4 rw,errors=remount-ro 0 1
/dev/mapper/data /data ext4 defaults 0 2
PARTLABEL=esp /efi vfat umask=0077 0 0
"
	root_put "$sc_root" /etc/bowtest/migrate-slot b
}

# The update's entry, as an update tool installs it for systemd-boot's
# boot counting: bowtest-b+2.conf, two tries before it falls back.
sc_install_slot_b()
{
	esp_entry "$sys_esp@@$esp_offset" bowtest-b+2.conf bowtest.slot=b
}

expect_entries()
{
	expect_eq "$sc: boot $sc_boots: the boot loader's entries: $1" "$1" \
		"$(esp_entries "$sys_esp" | tr '\n' ' ' | sed 's/ $//')"
}

# A bad update that the boot loader falls back from, with retries (1)
# under its tries (2): both tries of the new entry are protected, and
# the boot back on the old entry restores the data and ends the update.
sc_fallback()
{
	sc_new fallback "$1" "state=/var/lib/bow,min_free=1M,retries=1"
	sc_new_esp
	root_put "$sc_root" /etc/bowtest/health fail-slot=b
	sc_boot "bowctl start data"
	expect_status "armed from the entry it runs" \
		'd["lifecycle"], d["last_event"]["reason"]' \
		"armed armed for 1 boot attempt from boot entry bowtest-a.conf"
	sc_install_slot_b
	sc_boot
	expect_entries "bowtest-a.conf bowtest-b+1-1.conf"
	expect_status "the new entry's first try: checkpoint live" \
		'd["lifecycle"], d["attempts_left"], d["dm_state"]' \
		"checkpoint 0 1"
	expect_unit bowtest-migrate "active success"
	expect_unit bowtest-health "failed exit-code"
	expect_unit bow-commit@data "inactive success"
	sc_boot
	expect_entries "bowtest-a.conf bowtest-b+0-2.conf"
	expect_eq "$sc: boot $sc_boots: past retries, the boot loader still counting: restored and protected again" \
		"checkpoint 0 1 True 1" \
		"$(json_get "$st" 'd["lifecycle"], d["attempts_left"], d["dm_state"], d["last_event"]["reason"].startswith("boot attempt past the 1 retries (the boot loader still counts the tries of entry bowtest-b.conf, not marked good); ")') $(root_get "$sc_root" /var/lib/bowtest/journal | grep -c 'bowctl\[[0-9]*\]: /dev/vdb1: restored to the checkpoint$')"
	expect_unit bowtest-migrate "active success"
	sc_boot
	expect_entries "bowtest-a.conf bowtest-b+0-2.conf"
	expect_status "back on the old entry: restored, nothing armed" \
		'd["lifecycle"], d["attempts_left"], d["mapping"], d["last_event"]["event"], d["last_event"]["reason"]' \
		"rolled-back 0 linear restored restored the checkpoint: the boot loader went back to entry bowtest-a.conf (bowtest-b.conf did not become good)"
	expect_unit bowtest-migrate "active success"
	expect_data pre
	sys_esp=
}

# A good update through the boot loader: the update tool names its entry
# (start --entry); the commit waits for the boot loader's mark.  The
# first try cannot mark it (its partition mounted read-only): the commit
# is refused and the checkpoint stays; the second try, past retries,
# is protected again, marked good, then committed.
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

. "$top/tests/system/ab.sh"
. "$top/tests/system/sc-rauc.sh"
. "$top/tests/system/sc-swupdate.sh"
. "$top/tests/system/sc-mender.sh"

# The update clients' A/B disk, for the scenarios that want it.
ab_wanted=
for s in rauc_good rauc_bad rauc_markbad rauc_cut_install \
	 rauc_cut_firstboot swupdate_good swupdate_bad mender_good \
	 mender_bad mender_rollback; do
	want $s && ab_wanted=1
done
# Made while the lanes begin with the other scenarios (ab_new waits).
rm -f "$sys_dir/ab.ready" "$sys_dir/ab.failed"
if [ -n "$ab_wanted" ]; then
	(
		if ab_make "$first_kernel" > "$sys_dir/ab.log" 2>&1; then
			touch "$sys_dir/ab.ready"
		else
			touch "$sys_dir/ab.failed"
		fi
	) &
	ab_pid=$!
fi

# Two lanes of scenarios at once, one a core, each VM with one CPU:
# the updates on every kernel in one, the rest (on the first kernel)
# mostly in the other.  Each lane writes its verdicts to a file, printed in order.
lane_updates()
{
	for k in $kernels; do
		for s in good bad; do
			[ "$k" = "$first_kernel" ] || other_kernels $s || continue
			want $s && sc_$s "$k" "$(short_version "$k")"
		done
	done
	# The initramfs on the other kernels too (the first's is in lane 2).
	for k in $kernels; do
		[ "$k" = "$first_kernel" ] || ! other_kernels initramfs_meta ||
			! want initramfs_meta ||
			sc_initramfs_meta "$k" "$(short_version "$k")"
	done
	# Balance: the lanes take about as long each.
	want invalid && sc_invalid "$first_kernel" fail
	# The other policy, on the same path: a repeat, for check-long.
	want invalid && other_kernels invalid &&
		sc_invalid "$first_kernel" roll-forward
	want torn && sc_torn "$first_kernel"
	want config && sc_config "$first_kernel"
	want nomodule && sc_nomodule "$first_kernel"
	want inplace_rollback && sc_inplace_rollback
	# RAUC's bad update falls back through systemd-boot's tries as
	# this one does, with an update client: this one is a repeat.
	want fallback && other_kernels fallback && sc_fallback "$first_kernel"
	want rauc_bad && sc_rauc_bad
	# The update clients' other scenarios: check-long.
	for s in rauc_markbad rauc_cut_install swupdate_bad mender_good; do
		want $s && other_kernels $s && sc_$s
	done
}

lane_others()
{
	k=$first_kernel
	for s in powercut lowcommit lowabort abort manual rollback initramfs group; do
		want $s && sc_$s "$k"
	done
	want initramfs_meta && sc_initramfs_meta "$k" "$(short_version "$k")"
	want ckptfail && sc_ckptfail "$k"
	# The committed in-place update: check-long (the rolled-back one
	# takes the same resumed boots in make check).
	want inplace_commit && other_kernels inplace_commit && sc_inplace_commit
	# RAUC's good update shows the mark before the commit too: the
	# refused commit of an entry not marked good is check-long's.
	want blessed && other_kernels blessed && sc_blessed "$k"
	want rauc_good && sc_rauc_good
	for s in rauc_cut_firstboot swupdate_good mender_bad mender_rollback; do
		want $s && other_kernels $s && sc_$s
	done
}

lane_updates > "$sys_dir/lane1.out" 2>&1 &
lane1=$!
lane_others > "$sys_dir/lane2.out" 2>&1 &
lane2=$!
wait $lane1
wait $lane2
if [ -n "$ab_wanted" ]; then
	wait $ab_pid
	if [ -e "$sys_dir/ab.failed" ]; then
		not_ok "the A/B disk and the update clients' updates are built"
		tail -n 30 "$sys_dir/ab.log" | sed 's/^/#   /'
	fi
fi
cat "$sys_dir/lane1.out" "$sys_dir/lane2.out"
