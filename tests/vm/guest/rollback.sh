# Rollback in the kernel (message rollback).  Disks (see t-rollback.sh):
#   vdb  4 MiB of random bytes: a small log is made on it
#   vdc  4 MiB scratch: each rollback runs on a copy of that log
#   vdd  ext4, rolled back in the kernel after a workload
#   vde  its checkpoint copy
#   vdf  vdd as it was before the rollback, for bow-restore on the host
. ./guest-lib.sh
B=4096
small=/dev/vdb
work=/dev/vdc

wblk() { dd if=/dev/urandom of=/dev/mapper/$1 bs=$B seek=$2 count=$3 conv=notrunc oflag=direct 2>/dev/null; }
sumall() { dd if="$1" bs=1M iflag=direct | md5sum | cut -d' ' -f1; }
# kept <device>: the md5 of the blocks in use at the checkpoint of the
# small log: all but 64 to 575, discarded before it.
kept() { echo "$(sum "$1" 0 512) $(sum "$1" $((576 * 8)) $((448 * 8)))"; }
param=/sys/module/dm_bow/parameters/debug_rollback_stop
# magic <device>: the first four bytes of block 0, in hex: 424f5700 a
# live log ("BOW"), 574f4200 a restore begun ("WOB", vold's mark).
magic() { dd if="$1" bs=512 count=1 iflag=direct | head -c 4 | od -An -tx1 | tr -d ' \n'; }
# refused <feature args...>: a bow table over $work with them is refused;
# the error it gives (ti->error).
refused() { table_error "0 $(blockdev --getsz $work) bow $work $*"; }

# --- A small log: a block-0 write, first overwrites, a rewrite, write
# zeroes, a write over a backup (it moves).  Blocks 64 to 575 are free.
bow_create s $small 1 block_size:$B
expect_eq "in state 0, rollback is refused" "1 Invalid argument" "$(message s rollback)"
expect_eq "... and says why" "cannot roll back in state 0: no checkpoint" "$(last_bow_line)"
blkdiscard -o $((64 * B)) -l $((512 * B)) /dev/mapper/s
ckpt=$(kept /dev/mapper/s)
check "small: checkpoint" dmsetup message s 0 checkpoint
wblk s 0 1
wblk s 10 3
wblk s 700 2
wblk s 11 1
wblk s 1000 20
/sbin/blkdiscard -z -o $((800 * B)) -l $((4 * B)) /dev/mapper/s
dest=$(newest_backup $small | cut -d' ' -f2)
wblk s $((dest / 8)) 1
# Entries: block 0, 25 one-block writes (dd writes a block at a time),
# the write zeroes, the move: more than the first sector of block 0
# holds, so that a torn block 0 would lose some.
expect_eq "small: 28 entries, one move" "28 4096" "$(bow_status s 4) $(bow_status s 8)"
dmsetup remove --noudevsync s
dd if=$small of=/tmp/base.img bs=1M iflag=direct

# What bow-restore makes of it: the reference for every rollback below.
dd if=/tmp/base.img of=$work bs=1M oflag=direct
check "bow-restore rolls the small log back" quiet bow-restore $work
ref=$(sumall $work)
expect_eq "bow-restore: the blocks in use at the checkpoint, as they were" "$ckpt" "$(kept $work)"

# rollback: the same bytes, then pass-through.
dd if=/tmp/base.img of=$work bs=1M oflag=direct
bow_create w $work 2 block_size:$B resume
expect_eq "rollback of the small log" 0 "$(message w rollback)"
line=$(dmesg | grep -o 'rolled back: .*' | tail -n 1)
writes=$(echo "$line" | sed -n 's/^rolled back: [0-9]* entries replayed, \([0-9]*\) writes$/\1/p')
check "... says what it did ($line)" [ -n "$writes" ]
expect_eq "... every byte as bow-restore leaves it" "$ref" "$(sumall $work)"
expect_eq "... state 2, nothing counted" "2 0 0 0" \
	"$(bow_status w 1) $(bow_status w 2) $(bow_status w 3) $(bow_status w 4)"
expect_eq "... and passes reads through" "$ref" "$(sumall /dev/mapper/w)"
expect_eq "in state 2, rollback is refused" "1 Invalid argument" "$(message w rollback)"
expect_eq "... and says why" "cannot roll back in state 2: no checkpoint" "$(last_bow_line)"
dmsetup remove --noudevsync w

# Stopped before write k, for every k: all I/O fails, even with writers
# at it; a second rollback finishes it, and so does bow-restore (on a
# copy of the stopped device), to the same bytes.
k=1
while [ "$k" -le "${writes:-0}" ]; do
	dd if=/tmp/base.img of=$work bs=1M oflag=direct
	bow_create w $work 2 block_size:$B resume
	echo $k > $param
	ev0=$(events w)
	expect_eq "stop $k: rollback fails" "1 Input/output error" "$(message w rollback)"
	expect_eq "stop $k: ... and says so" \
		"rollback interrupted (-5): all I/O fails; roll back again" "$(last_bow_line)"
	expect_eq "stop $k: status: state 1, fail" "1 fail" "$(bow_status w 1) $(bow_status w 9)"
	events_reach w $((ev0 + 1))
	expect_eq "stop $k: one dm event" $((ev0 + 1)) "$(events w)"
	echo 0 > $param
	before=$(sumall $work)
	for i in 1 2 3 4; do
		(wblk w $((i * 100)) 2 || echo "w$i failed" >> /tmp/fails;
		 dd if=/dev/mapper/w of=/dev/null bs=$B count=1 iflag=direct 2>/dev/null ||
		 echo "r$i failed" >> /tmp/fails) &
	done
	wait
	expect_eq "stop $k: four writers and readers all fail, nothing written" \
		"8 $before" "$(wc -l < /tmp/fails) $(sumall $work)"
	rm -f /tmp/fails
	expect_eq "stop $k: commit is refused" "1 Invalid argument" "$(message w commit)"
	dd if=$work of=/tmp/cut.img bs=1M iflag=direct
	expect_eq "stop $k: a second rollback ends it" 0 "$(message w rollback)"
	events_reach w $((ev0 + 2))
	expect_eq "stop $k: ... with one more event, status rw" "$((ev0 + 2)) rw" \
		"$(events w) $(bow_status w 9)"
	expect_eq "stop $k: ... with bow-restore's bytes" "$ref" "$(sumall $work)"
	dmsetup remove --noudevsync w
	dd if=/tmp/cut.img of=$work bs=1M oflag=direct
	# Its first write marks block 0: from then on nothing resumes it.
	if [ "$k" -eq 1 ]; then
		expect_eq "stop 1: nothing written, block 0 still the live log" \
			424f5700 "$(magic $work)"
	else
		expect_eq "stop $k: block 0 marked as a restore begun" \
			574f4200 "$(magic $work)"
		expect_eq "stop $k: resume is refused" \
			"Device holds an unfinished restore: run bow-restore" \
			"$(refused 2 block_size:$B resume)"
		expect_eq "stop $k: ... and so is a new table, the device untouched" \
			"Device holds an unfinished restore: run bow-restore $(md5sum < /tmp/cut.img | cut -d' ' -f1)" \
			"$(refused 1 block_size:$B) $(sumall $work)"
	fi
	check "stop $k: bow-restore finishes it too" quiet bow-restore $work
	expect_eq "stop $k: ... to the same bytes" "$ref" "$(sumall $work)"
	k=$((k + 1))
done

# A device Android's vold began to restore (its mark in block 0, the log
# untouched otherwise) is refused, resumed or not, and bow-restore
# finishes the restore.
dd if=/tmp/base.img of=$work bs=1M oflag=direct
dd if=$work of=/tmp/sector0 bs=512 count=1 iflag=direct
printf 'WOB\000' | dd of=/tmp/sector0 conv=notrunc
dd if=/tmp/sector0 of=$work bs=512 count=1 conv=notrunc oflag=direct
expect_eq "vold's restore begun: block 0 marked" 574f4200 "$(magic $work)"
before=$(sumall $work)
expect_eq "vold's restore begun: a table is refused" \
	"Device holds an unfinished restore: run bow-restore" "$(refused 1 block_size:$B)"
expect_eq "vold's restore begun: resume is refused" \
	"Device holds an unfinished restore: run bow-restore" \
	"$(refused 2 block_size:$B resume)"
expect_eq "vold's restore begun: the device untouched" "$before" "$(sumall $work)"
check "vold's restore begun: bow-restore finishes it" quiet bow-restore $work
expect_eq "vold's restore begun: ... to the same bytes" "$ref" "$(sumall $work)"

# --- ext4: refused while the device is open, then rolled back.
ext4_start r /dev/vdd /dev/vde
(cd /mnt/r && find . -type f | sort | xargs md5sum) > /tmp/ckpt.sums
rm /mnt/r/files/f1*
for i in $(seq 1 40); do
	dd if=/dev/urandom of=/mnt/r/new$i bs=4K count=$((i % 7 + 1)) 2>/dev/null
done
for i in $(seq 20 60); do
	dd if=/dev/urandom of=/mnt/r/files/f$i bs=4K count=1 conv=notrunc 2>/dev/null
done
sync
expect_eq "ext4: mounted, rollback is refused" "1 Device or resource busy" "$(message r rollback)"
expect_eq "... and says why" "cannot roll back: the device is open (1 openers): unmount it first" \
	"$(last_bow_line)"
umount /mnt/r
exec 3< /dev/mapper/r
expect_eq "ext4: open by a process, rollback is refused" "1 Device or resource busy" \
	"$(message r rollback)"
exec 3<&-
expect_eq "ext4: still state 1" 1 "$(bow_status r 1)"
dd if=/dev/vdd of=/dev/vdf bs=1M iflag=direct oflag=direct
expect_eq "ext4: rollback once closed" 0 "$(message r rollback)"
check "ext4: e2fsck -fn clean through the device" quiet e2fsck -fn /dev/mapper/r
# noload: the checkpoint's journal flag is set, and a plain read-only
# mount would replay the journal and write.
mount -o ro,noload /dev/mapper/r /mnt/r
expect_eq "ext4: every file as at the checkpoint ($(wc -l < /tmp/ckpt.sums) files)" \
	"$(cat /tmp/ckpt.sums)" "$(cd /mnt/r && find . -type f | sort | xargs md5sum)"
umount /mnt/r
dmsetup remove --noudevsync r
