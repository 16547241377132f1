# ext4 on dm-bow: rollback (restored on the host and in the guest),
# commit, a workload filling many log blocks with backup moves, and ext4
# block sizes other than dm-bow's.  Disks (see t-ext4.sh):
#   vdb/vdc  rollback, host restore after a power cut / checkpoint copy
#   vdd/vde  rollback, restored here / checkpoint copy
#   vdf      commit
#   vdg/vdh  many log blocks and backup moves / checkpoint copy
#   vdi/vdj  ext4 1 KiB blocks on block_size:4096 / checkpoint copy
#   vdk/vdl  ext4 4 KiB blocks on block_size:512 / checkpoint copy
#   vdm/vdn  filled until backups run out / checkpoint copy
. ./guest-lib.sh

# start <name> <dev> <ckpt-copy-or-""> <features...>: create, mount, trim,
# checkpoint with the file system frozen, copy the checkpoint.
start()
{
	_n=$1 _d=$2 _c=$3
	shift 3
	mkdir -p /mnt/$_n
	check "$_n: create" bow_create $_n $_d "$@"
	check "$_n: mount" mount /dev/mapper/$_n /mnt/$_n
	check "$_n: fstrim" fstrim /mnt/$_n
	fsfreeze -f /mnt/$_n
	echo 1 > "$(bow_sys $_n)/state"
	expect_eq "$_n: checkpoint" 1 "$(cat "$(bow_sys $_n)/state")"
	if [ -n "$_c" ]; then
		dd if=/dev/mapper/$_n of=$_c bs=1M iflag=direct oflag=direct
	fi
	fsfreeze -u /mnt/$_n
}

# changes <name>: create, delete, overwrite, truncate, rename, relabel.
changes()
{
	_m=/mnt/$1
	mkdir $_m/new
	for i in $(seq 1 100); do
		dd if=/dev/urandom of=$_m/new/f$i bs=8K count=1
	done
	for i in $(seq 1 50); do rm $_m/files/f$i; done
	for i in $(seq 51 100); do
		dd if=/dev/urandom of=$_m/files/f$i bs=4K count=2 conv=notrunc
	done
	for i in $(seq 101 120); do truncate -s 100 $_m/files/f$i; done
	for i in $(seq 121 140); do mv $_m/files/f$i $_m/files/r$i; done
	tune2fs -L changed /dev/mapper/$1 > /dev/null
	sync
	_e=$(bow_status $1 4)
	check "$1: changes were logged ($_e entries)" [ "$_e" -gt 100 ]
}

stop()
{
	check "$1: unmount" umount /mnt/$1
	check "$1: remove" dmsetup remove --noudevsync $1
}

# Commit: the new content stays, block 0 is the file system's again.
start commit /dev/vdf "" 1 block_size:4096
changes commit
md5=$(md5sum < /mnt/commit/new/f7)
echo 2 > "$(bow_sys commit)/state"
expect_eq "commit: state 2" 2 "$(cat "$(bow_sys commit)/state")"
expect_eq "commit: status" "2 0 0 0 0 0 0 0 rw -" "$(dmsetup status commit | cut -d' ' -f4-)"
dd if=/dev/urandom of=/mnt/commit/after bs=64K count=4
sync
check "commit: reload in state 2" dmsetup reload commit --table "$(dmsetup table commit)"
check "commit: resume" dmsetup resume --noudevsync commit
expect_eq "commit: state 2 after reload" 2 "$(cat "$(bow_sys commit)/state")"
stop commit
expect_eq "commit: block 0 holds the ext4 superblock again" "53ef" \
	"$(dd if=/dev/vdf bs=1024 skip=1 count=1 iflag=direct | od -An -tx1 -j56 -N2 | tr -d ' \n')"
check "commit: e2fsck -fn clean" e2fsck -fn /dev/vdf
mount /dev/vdf /mnt/commit
expect_eq "commit: new file content kept" "$md5" "$(md5sum < /mnt/commit/new/f7)"
expect_eq "commit: label kept" "changed" "$(tune2fs -l /dev/vdf | awk -F': *' '/volume name/ { print $2 }')"
bow-restore /dev/vdf > /tmp/out 2>&1
expect_eq "bow-restore refuses a mounted device" "3 1" "$? $(grep -c 'in use' /tmp/out)"
bow-restore --force --dry-run /dev/vdf > /tmp/out 2>&1
expect_eq "bow-restore --force reads a mounted device" "0 1" \
	"$? $(grep -c 'no checkpoint found' /tmp/out)"
umount /mnt/commit
before=$(md5sum < /dev/vdf)
bow-restore /dev/vdf > /tmp/out 2>&1
expect_eq "commit: bow-restore finds no checkpoint, exit 0" "0 1" \
	"$? $(grep -c 'no checkpoint found' /tmp/out)"
expect_eq "commit: bow-restore changed nothing" "$before" "$(md5sum < /dev/vdf)"

# Rollback restored in the guest, on the block device.
start inguest /dev/vdd /dev/vde 1 block_size:4096
# While the checkpoint is live, block 0 of the raw device is the log and
# nothing else: ext4 keeps its superblock there (until about 40 entries
# fill it), and a file system found there would be the checkpoint's
# superblock over today's blocks.  The same once dm-bow is gone, as a
# boot without it would find the disk; then a restore, and again.
noprobe()
{
	expect_eq "inguest: $1: blkid -p finds no file system" "2 " \
		"$(/sbin/blkid -p /dev/vdd; echo "$? $(/sbin/blkid -p -o value -s TYPE /dev/vdd)")"
}
noprobe "checkpoint live"
stop inguest
noprobe "dm-bow removed"
mkdir -p /mnt/raw
if mount -o ro /dev/vdd /mnt/raw 2>/dev/null; then
	not_ok "inguest: dm-bow removed: the raw device does not mount"
	umount /mnt/raw
else
	ok "inguest: dm-bow removed: the raw device does not mount"
fi
check "inguest: restored before any change" quiet bow-restore /dev/vdd
start inguest /dev/vdd /dev/vde 1 block_size:4096
# Memory pressure: every second range node asked of the slab fails (the
# test build's debug_fail_alloc).  map() leaves such writes to the
# worker, which waits for the reserve: no write fails.
errors() { dmesg | grep -cE 'I/O error|EXT4-fs (error|warning)'; }
errors0=$(errors)
echo 2 > /sys/module/dm_bow/parameters/debug_fail_alloc
changes inguest
echo 0 > /sys/module/dm_bow/parameters/debug_fail_alloc
expect_eq "inguest: no I/O error under memory pressure" "$errors0" "$(errors)"
stop inguest
bow-restore /dev/vdd > /tmp/out 2>&1
expect_eq "inguest: bow-restore exit status" 0 $?
check "inguest: e2fsck -fn clean" e2fsck -fn /dev/vdd

# Other block sizes.
start bs1k /dev/vdi /dev/vdj 1 block_size:4096
changes bs1k
stop bs1k
start bs512 /dev/vdk /dev/vdl 1 block_size:512
changes bs512
expect_eq "bs512: log blocks of 512 bytes roll over" 1 \
	"$([ "$(bow_status bs512 5)" -gt 5 ] && echo 1)"
stop bs512

# Many log blocks, and the file system allocating over backups.
start big /dev/vdg /dev/vdh 1 block_size:4096
# 3000 separate 4 KiB bios over existing data (the host checks that each
# block was backed up exactly once).
dd if=/dev/urandom of=/mnt/big/large bs=4K count=3000 conv=notrunc oflag=direct
e1=$(bow_status big 4)
l1=$(bow_status big 5)
expect_eq "big: $e1 entries fill 168 to a log block: $l1 log blocks" \
	$(((e1 - 1) / 168 + 1)) "$l1"
for f in $(ls /mnt/big/files | head -n 100); do
	dd if=/dev/urandom of=/mnt/big/files/$f bs=4K count=1 conv=notrunc
done
sync
# Fill most of the free space: ext4 allocates blocks holding backups.
free=$(cat "$(bow_sys big)/free")
dd if=/dev/urandom of=/mnt/big/fill bs=1M count=$((free / 1048576 * 3 / 4))
sync
stop big

# Out of space for backups: overwrite every file until the writes fail.
# The writes that cannot be backed up fail with ENOSPC; the checkpoint
# stays restorable (the host restores vdm and compares).
start full /dev/vdm /dev/vdn 1 block_size:4096
refused=0
for f in $(ls /mnt/full/files); do
	if ! dd if=/dev/urandom of=/mnt/full/files/$f bs=16K count=1 conv=notrunc oflag=direct 2>/tmp/err; then
		grep -q "No space left on device" /tmp/err && refused=$((refused + 1))
	fi
done
check "full: writes were refused for want of space ($refused)" [ "$refused" -gt 0 ]
check "full: the status counts them" [ "$(bow_status full 7)" -ge "$refused" ]
expect_eq "full: no free space left" 0 "$(cat "$(bow_sys full)/free")"
umount /mnt/full 2>/dev/null
dmsetup remove --noudevsync full

# Power cut with the file system mounted and dirty: no unmount, no sync.
start crash /dev/vdb /dev/vdc 1 block_size:4096
changes crash
dd if=/dev/urandom of=/mnt/crash/unsynced bs=64K count=8
