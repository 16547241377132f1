# Ioctls the dm device does not handle itself (here the loop driver's
# LOOP_GET_STATUS, which busybox losetup sends) reach the lower device in
# state 2 only.  And a table of another type cannot replace dm-bow: with
# a live log, the file system would read it as its block 0.
truncate -s 8M /tmp/lo.img
/sbin/losetup -f /tmp/lo.img
lo=$(/sbin/losetup -j /tmp/lo.img | cut -d: -f1)
check "loop: create" bow_create lo $lo 1 block_size:4096
blkdiscard -o $((1024 * 1024)) -l $((1024 * 1024)) /dev/mapper/lo
for s in 0 1 2; do
	[ $s = 0 ] || echo $s > "$(bow_sys lo)/state"
	got=$(busybox losetup /dev/mapper/lo 2>&1)
	want="losetup: /dev/mapper/lo: Inappropriate ioctl for device"
	[ $s = 2 ] && want="/dev/mapper/lo: 0 /tmp/lo.img"
	expect_eq "loop: state $s: LOOP_GET_STATUS through dm-bow" "$want" "$got"
	if dmsetup reload lo --table "0 16384 linear $lo 0" 2>/dev/null; then
		not_ok "loop: state $s: a linear table cannot replace dm-bow"
		dmsetup clear lo
	else
		ok "loop: state $s: a linear table cannot replace dm-bow"
	fi
done
expect_eq "loop: the reload was refused as dm refuses it" \
	"device-mapper: ioctl: can't replace immutable target type bow" \
	"$(dmesg | grep -o 'device-mapper: ioctl: can.t replace.*' | tail -n 1)"
check "loop: remove" dmsetup remove --noudevsync lo
/sbin/losetup -d $lo
