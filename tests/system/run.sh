#!/bin/sh
# The update lifecycle on a real Debian 12 system (systemd as PID 1): the
# project installed with make install, dm-bow.ko where dkms puts it, the
# generator's units, and an ext4 data partition (GPT label "data") listed
# in /etc/bowtab and /etc/fstab.  Each scenario boots it several times
# under QEMU and checks, after each boot, bowctl status --json, the units'
# results, the exact files on the data partition and a clean e2fsck.
#
# This is the driver: the shared steps are in scenario.sh (and
# inplace.sh for updates of the root in place), each scenario in a file
# of its own, sc-<name>.sh, which says what it shows, on which kernels
# and in how many boots.  tests/vm/t-lifecycle.sh runs it in make check.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/system/lib.sh"
. "$top/tests/system/scenario.sh"
. "$top/tests/system/inplace.sh"
. "$top/tests/system/ab.sh"
for f in "$top"/tests/system/sc-*.sh; do
	. "$f"
done

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
			[ "$k" = "$first_kernel" ] || on_every_kernel $s || continue
			want $s && sc_$s "$k" "$(short_version "$k")"
		done
	done
	# The initramfs on the other kernels too (the first's is in lane 2).
	for k in $kernels; do
		[ "$k" = "$first_kernel" ] || ! on_every_kernel initramfs_meta ||
			! want initramfs_meta ||
			sc_initramfs_meta "$k" "$(short_version "$k")"
	done
	# Balance: the lanes take about as long each.
	want invalid && sc_invalid "$first_kernel" fail
	# The other policy, on the same path: a repeat, for check-long.
	want invalid && in_long_lane invalid &&
		sc_invalid "$first_kernel" roll-forward
	want torn && sc_torn "$first_kernel"
	want config && sc_config "$first_kernel"
	want nomodule && sc_nomodule "$first_kernel"
	want inplace_rollback && sc_inplace_rollback
	# RAUC's bad update falls back through systemd-boot's tries as
	# this one does, with an update client: this one is a repeat.
	want fallback && in_long_lane fallback && sc_fallback "$first_kernel"
	want rauc_bad && sc_rauc_bad
	# The update clients' other scenarios: check-long.
	for s in rauc_markbad rauc_cut_install swupdate_bad mender_good; do
		want $s && in_long_lane $s && sc_$s
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
	want inplace_commit && in_long_lane inplace_commit && sc_inplace_commit
	# RAUC's good update shows the mark before the commit too: the
	# refused commit of an entry not marked good is check-long's.
	want blessed && in_long_lane blessed && sc_blessed "$k"
	want rauc_good && sc_rauc_good
	for s in rauc_cut_firstboot swupdate_good mender_bad mender_rollback; do
		want $s && in_long_lane $s && sc_$s
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
