# Errors and delays from the lower device in state 1: a backup's read
# failing, its write failing, both while other writes wait on the same
# blocks, the log's write failing, and a read of block 0 racing its move;
# and range nodes failing to allocate.
# dm-bow sits on a dm-linear device whose table is swapped for one with an
# "error" (or "delay") segment while the writes run, then put back.
# Disks: /dev/vdb data (32 MiB of random bytes), /dev/vdc checkpoint copy,
# /dev/vdd data for a commit after a failed log write (8 MiB), /dev/vde
# data for the races (8 MiB), /dev/vdf its checkpoint copy.
# Blocks 0-4095 of vdb are in use at the checkpoint, 4096-8191 free; the
# host restores the image and compares blocks 0-4095 with the copy.
. ./guest-lib.sh
B=4096
S8=$((B / 512))
# Sectors at the top of the highest free range taken upwards
# (BOW_ALLOC_RUN_SECTORS).
TOP_RUN=8192
bow=/dev/mapper/bow

# wblk <block> [device]: one block of random bytes through dm-bow
# (default $bow), direct; the exit status and dd's message (empty on
# success) in $wrote.
wblk()
{
	wrote=$(dd if=/dev/urandom of="${2:-$bow}" bs=$B seek="$1" count=1 \
		conv=notrunc oflag=direct 2>&1)
	wrote="$? ${wrote##*: }"
}

# block <device> <block>: its md5.
block()
{
	sum "$1" $(($2 * S8)) $S8
}

lower_create lower /dev/vdb
sectors=$(blockdev --getsz /dev/vdb)
bow_create bow /dev/mapper/lower 1 block_size:4096
blkdiscard -o $((4096 * B)) -l $((4096 * B)) $bow
echo 1 > "$(bow_sys bow)/state"
dd if=$bow of=/dev/vdc bs=1M iflag=direct oflag=direct
expect_eq "checkpoint: the copy of its view taken" \
	"$(block $bow 7)" "$(block /dev/vdc 7)"
status0=$(dmsetup status bow)

# A backup that cannot be read: the write fails, nothing is logged or
# taken, the block keeps its data, and once the read works it is backed
# up as any other.
lower_table lower /dev/vdb $((10 * S8)) $S8
wblk 10
expect_eq "copy read fails: the write fails with EIO" \
	"1 Input/output error" "$wrote"
lower_table lower /dev/vdb
expect_eq "copy read fails: status unchanged" "$status0" "$(dmsetup status bow)"
expect_eq "copy read fails: block 10 as at the checkpoint" \
	"$(block /dev/vdc 10)" "$(block $bow 10)"
wblk 10
expect_eq "copy read works again: the write succeeds" "0 " "$wrote"
expect_eq "copy read works again: one entry logged" 2 "$(bow_status bow 4)"

# A backup that cannot be written: the write fails and the free space
# the copy took is given back (the failure may be passing).  Backups are
# taken upwards within the top 4 MiB of the free space (the checkpoint's
# own blocks, then block 10's backup): fail all of it.
status1=$(dmsetup status bow)
lower_table lower /dev/vdb $((sectors - TOP_RUN)) $TOP_RUN
wblk 11
expect_eq "copy write fails: the write fails with EIO" \
	"1 Input/output error" "$wrote"
lower_table lower /dev/vdb
expect_eq "copy write fails: status unchanged" "$status1" "$(dmsetup status bow)"
expect_eq "copy write fails: block 11 as at the checkpoint" \
	"$(block /dev/vdc 11)" "$(block $bow 11)"
wblk 11
expect_eq "copy write works again: the write succeeds" "0 " "$wrote"
expect_eq "copy write works again: one entry logged" 3 "$(bow_status bow 4)"

# Two 512-byte writes into each of 40 unchanged blocks (100-139), all 80
# sent at once, while every copy's write fails (the top 4 MiB, where
# backups go, fail).  The first write into a block starts its copy and the
# second waits for it; when the copy fails, the first fails with it, and
# the second must not go down over data that has no backup: it is backed
# up again, and here fails the same way.
status2=$(dmsetup status bow)
lower_table lower /dev/vdb $((sectors - TOP_RUN)) $TOP_RUN
expect_eq "80 sub-block writes into 40 blocks while copies fail: all fail" \
	"80 80" "$(bowio -e -q 80 -b 512 -k 2048 $bow $((100 * B)) $((40 * B)) |
		cut -d' ' -f1,4)"
lower_table lower /dev/vdb
expect_eq "... status unchanged" "$status2" "$(dmsetup status bow)"
expect_eq "... blocks 100-139 as at the checkpoint" \
	"$(sum /dev/vdc $((100 * S8)) $((40 * S8)))" \
	"$(sum $bow $((100 * S8)) $((40 * S8)))"
expect_eq "the same 80 writes once copies work: none fails" "80 0" \
	"$(bowio -e -q 80 -b 512 -k 2048 $bow $((100 * B)) $((40 * B)) |
		cut -d' ' -f1,4)"
expect_eq "... one backup per block" 43 "$(bow_status bow 4)"

# A log write that fails: the log can no longer vouch for what is
# overwritten, so that write and every later one fail, first overwrites,
# rewrites of changed blocks and writes into free space alike, even once
# the device works again; reads go on, and the log on the disk still
# restores the checkpoint (the host checks).
ev0=$(events bow)
lower_table lower /dev/vdb 0 $S8
wblk 12
expect_eq "log write fails: the write fails with EIO" \
	"1 Input/output error" "$wrote"
expect_eq "log write fails: the error is logged" \
	"device-mapper: bow: log write failed (-5): further writes fail" \
	"$(dmesg | grep -o 'device-mapper: bow: log write failed.*' | tail -n 1)"
events_reach bow $((ev0 + 1))
expect_eq "log write fails: one dm event, status fail" "$((ev0 + 1)) fail" \
	"$(events bow) $(bow_status bow 9)"
lower_table lower /dev/vdb
for blk in 12 13 10 5000; do
	wblk $blk
	expect_eq "after a failed log write: a write to block $blk fails with EIO" \
		"1 Input/output error" "$wrote"
done
expect_eq "after a failed log write: block 13 reads as at the checkpoint" \
	"$(block /dev/vdc 13)" "$(block $bow 13)"
expect_eq "after a failed log write: still in state 1" 1 "$(bow_status bow 1)"
expect_eq "after a failed log write: logged once, no more events" \
	"1 $((ev0 + 1))" \
	"$(dmesg | grep -c 'device-mapper: bow: log write failed') $(events bow)"
expect_eq "after a failed log write: the status says so" fail "$(bow_status bow 9)"

# A commit after a failed log write, once the device works: the user
# keeps the update.  Block 0 is the file system's again, the writes made
# before the failure stay, and writes pass through; the host finds no
# checkpoint left.
lower_create lower2 /dev/vdd
bow_create commit /dev/mapper/lower2 1 block_size:4096
blkdiscard -o $((1024 * B)) -l $((1024 * B)) /dev/mapper/commit
echo 1 > "$(bow_sys commit)/state"
block0=$(block /dev/mapper/commit 0)
wblk 10 /dev/mapper/commit
block10=$(block /dev/mapper/commit 10)
lower_table lower2 /dev/vdd 0 $S8
wblk 11 /dev/mapper/commit
expect_eq "commit: a write whose log write fails fails with EIO" \
	"1 Input/output error" "$wrote"
lower_table lower2 /dev/vdd
echo 2 > "$(bow_sys commit)/state"
expect_eq "commit after a failed log write: succeeds" 0 $?
expect_eq "commit after a failed log write: state 2" 2 "$(bow_status commit 1)"
expect_eq "commit after a failed log write: the status says rw again" rw \
	"$(bow_status commit 9)"
expect_eq "commit after a failed log write: block 0 is the file system's" \
	"$block0" "$(block /dev/vdd 0)"
expect_eq "commit after a failed log write: the write made before it stays" \
	"$block10" "$(block /dev/vdd 10)"
wblk 11 /dev/mapper/commit
expect_eq "commit after a failed log write: writes pass through" "0 " "$wrote"

# The races, on a device of their own: blocks 1024-2047 free (4 MiB, so
# taken from its start up), then the checkpoint takes 1024 (block 0's
# backup), 1025 (the live block 0) and 1026 (the free-space map).
race=/dev/mapper/race
lower_create lower3 /dev/vde
bow_create race /dev/mapper/lower3 1 block_size:4096
blkdiscard -o $((1024 * B)) -l $((1024 * B)) $race
echo 1 > "$(bow_sys race)/state"
dd if=$race of=/dev/vdf bs=1M iflag=direct oflag=direct
n3=$(blockdev --getsz /dev/vde)

# A write into the destination of a copy in flight, when that copy fails:
# block 5's copy goes to block 1027, the next free block; its read is
# held for 2 s (dm-delay over an "error" device), then fails.  A write to
# block 1027 meanwhile waits for the copy, finds the block free again,
# and goes down as any write into free space.
dmsetup create --noudevsync err5 --table "0 $S8 error"
err5=$(dmsetup info -c --noheadings -o major,minor err5 | tr -d ' ')
dmsetup suspend lower3
printf '0 %d linear /dev/vde 0\n%d %d delay %s 0 2000\n%d %d linear /dev/vde %d\n' \
	$((5 * S8)) $((5 * S8)) $S8 "$err5" $((6 * S8)) $((n3 - 6 * S8)) \
	$((6 * S8)) | dmsetup load lower3
dmsetup resume lower3
check "block 5's reads held 2 s, then failed (dm-delay over error)" \
	[ "$(dmsetup table lower3 | grep -c ' delay ')" = 1 ]
dd if=/dev/urandom of=/tmp/w1027 bs=$B count=1
(wblk 5 $race; echo "$wrote" > /tmp/w5) &
wait_until "the copy's read held" reads_delayed lower3
dd if=/tmp/w1027 of=$race bs=$B seek=1027 count=1 conv=notrunc oflag=direct
expect_eq "a write into a failing copy's destination succeeds" 0 $?
wait
lower_table lower3 /dev/vde
dmsetup remove --noudevsync err5
expect_eq "... the copy's own write fails with EIO" \
	"1 Input/output error" "$(cat /tmp/w5)"
expect_eq "... block 1027 holds what was written" \
	"$(md5sum < /tmp/w1027 | cut -d' ' -f1)" "$(block $race 1027)"
expect_eq "... block 5 as at the checkpoint" "$(block /dev/vdf 5)" \
	"$(block $race 5)"

# A read of block 0 sent while its live copy moves must not be overtaken
# by the write that moves it: reads are held for 2 s, writes are not.  A
# write over the live block 0 starts the move; a read of block 0 half a
# second later must still return block 0.
live=$(log_sector0 /dev/vde)
# One 4 KiB read (block's 512-byte reads would each wait the 2 s).
block0()
{
	dd if=$race bs=$B count=1 iflag=direct | md5sum | cut -d' ' -f1
}
b0=$(block0)
dmsetup suspend lower3
echo "0 $n3 delay /dev/vde 0 2000 /dev/vde 0 0" | dmsetup load lower3
dmsetup resume lower3
check "reads held 2 s, writes not (dm-delay)" \
	[ "$(dmsetup table lower3 | grep -c ' delay ')" = 1 ]
(wblk $((live / S8)) $race; echo "$wrote" > /tmp/wlive) &
wait_until "the copy's read held" reads_delayed lower3
expect_eq "a read of block 0 during its move returns block 0" "$b0" "$(block0)"
wait
lower_table lower3 /dev/vde
expect_eq "... the write over the old live block 0 succeeds" "0 " \
	"$(cat /tmp/wlive)"
check "... block 0 has moved ($live -> $(log_sector0 /dev/vde))" \
	[ "$(log_sector0 /dev/vde)" != "$live" ]
expect_eq "... block 0 reads as before" "$b0" "$(block0)"

# Memory pressure: every second range node asked of the slab fails (the
# test build's debug_fail_alloc).  map() leaves such writes to the
# worker, which waits for the reserve: none of 64 first overwrites or 64
# writes into free space, 32 at a time in random order, fails.
echo 2 > /sys/module/dm_bow/parameters/debug_fail_alloc
expect_eq "short of memory: 64 first overwrites, none fails" "64 0" \
	"$(bowio -e -R -q 32 $race $((200 * B)) $((64 * B)) | cut -d' ' -f1,4)"
expect_eq "short of memory: 64 writes into free space, none fails" "64 0" \
	"$(bowio -e -R -q 32 $race $((1500 * B)) $((64 * B)) | cut -d' ' -f1,4)"
echo 0 > /sys/module/dm_bow/parameters/debug_fail_alloc

# A commit interrupted by the lower device: the header unit with count 0
# and the commit mark (at header_size, 60) is written, then the rest of
# block 0 fails.  The device keeps failing writes; bow-restore finishes
# the commit offline: block 0 is the file system's, the data written
# since the checkpoint stays, and a second run finds no checkpoint.
truncate -s 8M /tmp/ic.img
ic_lo=$(/sbin/losetup -f --show /tmp/ic.img)
lower_create iclower "$ic_lo"
bow_create ic /dev/mapper/iclower 1 block_size:4096
blkdiscard -o $((1024 * B)) -l $((1024 * B)) /dev/mapper/ic
echo 1 > "$(bow_sys ic)/state"
wblk 0 /dev/mapper/ic
wblk 10 /dev/mapper/ic
ic0=$(block /dev/mapper/ic 0)
ic10=$(block /dev/mapper/ic 10)
lower_table iclower "$ic_lo" 1 7
echo 2 > "$(bow_sys ic)/state" 2>/dev/null
expect_eq "interrupted commit: the state change fails with EIO" "1 1" \
	"$? $(dmesg | tail -n 3 | grep -c 'commit interrupted (-5): run bow-restore to finish it')"
expect_eq "interrupted commit: block 0 holds count 0 and the commit mark" \
	"0 1414090051" "$(dd if="$ic_lo" bs=512 count=1 iflag=direct |
		od -An -tu4 -j12 -N4 | tr -d ' ') $(dd if="$ic_lo" bs=512 count=1 \
		iflag=direct | od -An -tu4 -j60 -N4 | tr -d ' ')"
dmsetup remove --noudevsync ic iclower
bow-restore "$ic_lo" > /tmp/out 2>&1
expect_eq "interrupted commit: bow-restore finishes it, exit 0" "0 1" \
	"$? $(grep -c 'a commit was interrupted' /tmp/out)"
expect_eq "interrupted commit: block 0 is the file system's" "$ic0" "$(block "$ic_lo" 0)"
expect_eq "interrupted commit: the data written since the checkpoint stays" \
	"$ic10" "$(block "$ic_lo" 10)"
bow-restore "$ic_lo" > /tmp/out 2>&1
expect_eq "interrupted commit: then no checkpoint, exit 0" "0 1" \
	"$? $(grep -c 'no checkpoint found' /tmp/out)"
/sbin/losetup -d "$ic_lo"

# A constructor reading slowly holds up no other: block 0 of "slow" is
# read through dm-delay (reads held 5 s), and "quick" is created while
# that read is held.  (Constructors read block 0, and with resume the
# whole log, under the module-wide lock before: quick waited for slow.)
truncate -s 8M /tmp/slow.img /tmp/quick.img
slow_lo=$(/sbin/losetup -f --show /tmp/slow.img)
quick_lo=$(/sbin/losetup -f --show /tmp/quick.img)
dmsetup create --noudevsync slowlower --table \
	"0 $(blockdev --getsz "$slow_lo") delay $slow_lo 0 5000 $slow_lo 0 0"
dmsetup mknodes slowlower
bow_create slow /dev/mapper/slowlower 1 block_size:4096 &
slow_pid=$!
wait_until "slow: its read of block 0 held" reads_delayed slowlower
bow_create quick "$quick_lo" 1 block_size:4096
expect_eq "quick is created while slow's read of block 0 is still held" \
	"0 yes" "$? $(reads_delayed slowlower && echo yes)"
wait $slow_pid
expect_eq "... then slow is created" 0 $?
dmsetup remove --noudevsync quick slow slowlower
/sbin/losetup -d "$slow_lo" "$quick_lo"
rm -f /tmp/slow.img /tmp/quick.img

# Two constructors of one device (issue 25 item 10 says the second can
# read the first's checkpoint as a live log and fail): the create of
# "two" is held before its constructor reads block 0
# (debug_ctr_read_delay) while a second table of the same device is
# loaded.  Device-mapper runs one table load of a device at a time
# (table_load() holds the device's type lock across the constructors):
# the load waits for the held constructor, then shares its state; the
# checkpoint taken then is the device's, whichever table is live.
truncate -s 8M /tmp/two.img
two_lo=$(/sbin/losetup -f --show /tmp/two.img)
two_table="0 $(blockdev --getsz "$two_lo") bow $two_lo 1 block_size:4096"
echo 3000 > /sys/module/dm_bow/parameters/debug_ctr_read_delay
dmsetup create --noudevsync two --table "$two_table" 2>/dev/null &
two_pid=$!
wait_until "two: the create's constructor held" in_msleep $two_pid
echo 0 > /sys/module/dm_bow/parameters/debug_ctr_read_delay
check "two: a second table of the device loaded" \
	dmsetup load --noudevsync two --table "$two_table"
ctr_done() { ! in_msleep "$1"; }
check "two: ... once the held constructor was done" ctr_done $two_pid
check "two: ... and resumed" dmsetup resume --noudevsync two
dmsetup mknodes two
blkdiscard -o $((1 << 20)) -l $((1 << 20)) /dev/mapper/two
check "two: checkpoint" dmsetup message two 0 checkpoint
check "two: the held create succeeds" wait $two_pid
expect_eq "two: ... state 1 after its table replaced the other" "1 1" \
	"$(cat "$(bow_sys two)/state") $(bow_status two 5)"
dmsetup remove --noudevsync two
/sbin/losetup -d "$two_lo"
rm -f /tmp/two.img

# Power off, vdb and vde in state 1, the devices as they are.
dmsetup remove --noudevsync bow commit race
dmsetup remove --noudevsync lower lower2 lower3
