# bow-checkpoint: the checkpoint as a read-only device.  Disks (see
# t-checkpoint.sh):
#   vdb  ext4 under dm-bow, written to while the checkpoint is read
#   vdc  the reference copy, taken through dm-bow at the checkpoint
#   vdd  the checkpoint device, copied while the workload runs and moves
#        backups
#   vde  the checkpoint device, copied after dm-bow ran out of space
#   vdf  64 MiB of random bytes, overwritten while the checkpoint is read
. ./guest-lib.sh
B=4096
sz=$(blockdev --getsz /dev/vdb)

# table_refused <table> <expected ti->error> [--readonly]
table_refused()
{
	# shellcheck disable=SC2086
	expect_eq "table '$1' is refused" "$2" "$(table_error "$1" $3)"
}
ckpt_table="0 $sz bow-checkpoint /dev/vdb"

table_refused "$ckpt_table" "No bow device on it" --readonly
bow_create b /dev/vdb 1 block_size:$B
table_refused "$ckpt_table" "No checkpoint: the bow device is not in state 1" --readonly
dmsetup remove --noudevsync b
ext4_start b /dev/vdb /dev/vdc
table_refused "$ckpt_table" "Read-only table expected (dmsetup --readonly)"
table_refused "0 $((sz - 8)) bow-checkpoint /dev/vdb" "Length is not the bow device's" --readonly
check "bow-checkpoint created, read-only" \
	dmsetup create --noudevsync --readonly ck --table "$ckpt_table"
dmsetup mknodes ck
ck=/dev/mapper/ck
expect_eq "its status" "ok" "$(dmsetup status ck | cut -d' ' -f4-)"
expect_eq "a write to it fails" 1 \
	"$(dd if=/dev/zero of=$ck bs=$B count=1 oflag=direct 2>/dev/null; echo $?)"

# Backups to the lowest free space, where ext4 allocates: the workload
# writes over them, and they move while the checkpoint is read.
echo 1 > /sys/module/dm_bow/parameters/debug_alloc_lowest
workload()
{
	_g=0
	while [ ! -e /tmp/stop ]; do
		_g=$((_g + 1))
		mkdir -p /mnt/b/w$_g
		for i in 1 2 3 4 5 6 7 8; do
			dd if=/dev/urandom of=/mnt/b/w$_g/f$i bs=4K count=$((i * 3)) 2>/dev/null
		done
		for i in $(seq $((_g * 5)) $((_g * 5 + 4))); do
			[ -e /mnt/b/files/f$i ] &&
				dd if=/dev/urandom of=/mnt/b/files/f$i bs=1K count=3 conv=notrunc 2>/dev/null
			rm -f /mnt/b/files/f$((i + 100))
		done
		rm -rf /mnt/b/w$((_g - 2))
		sync
	done
}
rm -f /tmp/stop
workload &
wl=$!
sleep 2
check "while written to: e2fsck -fn of the checkpoint device is clean" quiet e2fsck -fn $ck
check "while written to: copied" dd if=$ck of=/dev/vdd bs=1M iflag=direct oflag=direct
check "while written to: e2fsck -fn again" quiet e2fsck -fn $ck
touch /tmp/stop
wait $wl
echo 0 > /sys/module/dm_bow/parameters/debug_alloc_lowest
echo "# after the workload: $(dmsetup status b)"
check "the workload moved backups" [ "$(bow_status b 8)" -gt 0 ]

# A write over the newest backup (frozen: the file system's free blocks
# are free): the checkpoint device reads the moved copy.
fsfreeze -f /mnt/b
line=$(newest_backup /dev/vdb)
src=${line% *} dest=${line#* }
before=$(sum $ck "$src" 8)
moved=$(bow_status b 8)
dd if=/dev/urandom of=/dev/mapper/b bs=$B seek=$((dest / 8)) count=1 conv=notrunc oflag=direct
fsfreeze -u /mnt/b
expect_eq "a write over the backup of sector $src moves it" $((moved + B)) "$(bow_status b 8)"
expect_eq "... and the checkpoint device reads the same bytes there" "$before" "$(sum $ck "$src" 8)"
expect_eq "... the reference copy's" "$(sum /dev/vdc "$src" 8)" "$before"

# Out of space: a file as large as the file system's free space, then
# every file of the checkpoint rewritten in place, which needs backups
# dm-bow has no room for; writes are refused, the checkpoint reads on.
dd if=/dev/urandom of=/mnt/b/fill bs=1M 2>/dev/null
for f in /mnt/b/files/*; do
	dd if=/dev/urandom of="$f" bs=4K count=8 conv=notrunc 2>/dev/null
done
sync 2>/dev/null
echo "# out of space: $(dmsetup status b)"
check "dm-bow refused writes for want of space" [ "$(bow_status b 7)" -gt 0 ]
check "out of space: copied" dd if=$ck of=/dev/vde bs=1M iflag=direct oflag=direct
check "out of space: e2fsck -fn of the checkpoint device is clean" quiet e2fsck -fn $ck

# The dm-bow device is held: not removed, not rolled back.
umount /mnt/b
expect_eq "the dm-bow device is not removed under it" 1 \
	"$(dmsetup remove --noudevsync b > /dev/null 2>&1; echo $?)"
expect_eq "nor rolled back" 1 "$(dmsetup message b 0 rollback > /dev/null 2>&1; echo $?)"
expect_eq "... the kernel says why" "cannot roll back: the device is open (1 openers): unmount it first" \
	"$(dmesg | grep ': bow: ' | tail -n 1 | sed 's/.*: bow: [^:]*: //')"

# A commit: the checkpoint is gone, and its device says so.
check "commit" dmsetup message b 0 commit
expect_eq "after the commit, reads fail" 1 \
	"$(dd if=$ck of=/dev/null bs=$B count=1 iflag=direct 2>/dev/null; echo $?)"
expect_eq "... and its status says gone" "gone" "$(dmsetup status ck | cut -d' ' -f4-)"
check "remove the checkpoint device" dmsetup remove --noudevsync ck
check "then the dm-bow device" dmsetup remove --noudevsync b

# Raw, racing: the first 24 MiB written with generation 1 (the rest free),
# then, under
# a checkpoint, overwritten with generation 2 at queue depth 32, in a
# random order (each write waits for its backup, then is sent), while
# the checkpoint device reads the same blocks at queue depth 32 over and
# over, checking each block it reads: generation 1, every one.
bowio -q 32 -g 1 /dev/vdf 0 $((24 << 20)) > /dev/null
bow_create r /dev/vdf 1 block_size:$B
blkdiscard -o $((24 << 20)) /dev/mapper/r
check "raw: checkpoint" dmsetup message r 0 checkpoint
dmsetup create --noudevsync --readonly rck --table "0 $(blockdev --getsz /dev/vdf) bow-checkpoint /dev/vdf"
dmsetup mknodes rck
bowio -q 32 -R -s 7 -g 2 /dev/mapper/r 0 $((16 << 20)) > /dev/null &
w=$!
passes=0 wrong=0
while kill -0 $w 2> /dev/null; do
	out=$(bowio -r -v -q 32 -R -s $passes -g 1 /dev/mapper/rck 0 $((16 << 20)))
	wrong=$((wrong + ${out##* }))
	passes=$((passes + 1))
done
wait $w
echo "# raw: $passes passes over the 16 MiB during the writes; $(dmsetup status r)"
check "raw: reads raced the writes" [ "$passes" -gt 1 ]
expect_eq "raw: every block the checkpoint device read while overwritten: generation 1" \
	0 "$wrong"
expect_eq "raw: the device itself: all generation 2" "0" \
	"$(bowio -r -v -q 32 -g 2 /dev/mapper/r 0 $((16 << 20)) | cut -d' ' -f4)"
expect_eq "raw: the checkpoint device after: all generation 1" "0" \
	"$(bowio -r -v -q 32 -g 1 /dev/mapper/rck 0 $((16 << 20)) | cut -d' ' -f4)"

# Reads of many blocks: one request to the lower device for each run of
# blocks that resolve to one place.  16 to 24 MiB are in use and were
# never written (read in place), 24 MiB on was free (zeroes, no I/O).
lower_reads() { awk '{ print $1 }' /sys/block/vdf/stat; }
echo "# raw: vdf max_sectors_kb $(cat /sys/block/vdf/queue/max_sectors_kb)"
r0=$(lower_reads)
dd if=/dev/mapper/rck of=/dev/null bs=256K count=1 skip=64 iflag=direct 2> /dev/null
r1=$(lower_reads)
dd if=/dev/mapper/rck of=/tmp/span bs=256K count=1 skip=$(((24 << 20) - (128 << 10))) \
	iflag=direct,skip_bytes 2> /dev/null
r2=$(lower_reads)
dd if=/dev/mapper/rck of=/dev/null bs=256K count=1 skip=96 iflag=direct 2> /dev/null
r3=$(lower_reads)
expect_eq "raw: a 256 KiB read in place, one across the end of the data, one of free space: 1, 1 and 0 lower reads" \
	"1 1 0" "$((r1 - r0)) $((r2 - r1)) $((r3 - r2))"
expect_eq "raw: ... the one across the end reads the data, then zeroes" \
	"$(dd if=/dev/vdf bs=128K count=1 skip=191 iflag=direct 2> /dev/null | md5sum) $(head -c $((128 << 10)) /dev/zero | md5sum)" \
	"$(head -c $((128 << 10)) /tmp/span | md5sum) $(tail -c $((128 << 10)) /tmp/span | md5sum)"

# Racing again, with reads of 64 KiB that span blocks read in place and
# blocks backed up meanwhile, against 4 KiB first overwrites of 16 to 24
# MiB: every block the view reads, generation 1.
bowio -q 32 -R -s 9 -g 2 /dev/mapper/r $((16 << 20)) $((8 << 20)) > /dev/null &
w=$!
passes=0 wrong=0
while kill -0 $w 2> /dev/null; do
	out=$(bowio -r -v -b 65536 -u 4096 -q 8 -R -s $passes -g 1 /dev/mapper/rck $((16 << 20)) $((8 << 20)))
	wrong=$((wrong + ${out##* }))
	passes=$((passes + 1))
done
wait $w
check "raw: 64 KiB reads raced the writes ($passes passes)" [ "$passes" -gt 1 ]
expect_eq "raw: every block a 64 KiB read of the checkpoint device saw while overwritten: generation 1" \
	0 "$wrong"
r0=$(lower_reads)
expect_eq "raw: after, all generation 1 through 1 MiB reads" "0" \
	"$(bowio -r -v -b $((1 << 20)) -u 4096 -g 1 /dev/mapper/rck 0 $((24 << 20)) | cut -d' ' -f4)"
echo "# raw: 24 MiB of the view, backed up block by block in a random order, in $(($(lower_reads) - r0)) lower reads"

# The window itself, held open: a read of the checkpoint device looks at
# the index, then waits a second before it is sent (debug_ckpt_read_delay);
# meanwhile the block is overwritten for the first time (block 5000, in
# use at the checkpoint), then its backup is written over (it moves).
# Each write must wait for that read.
echo 1000 > /sys/module/dm_bow/parameters/debug_ckpt_read_delay
bowio -r -v -g 1 /dev/mapper/rck $((5000 * B)) $B > /tmp/read1 &
rd=$!
wait_until "window: the read held" in_msleep $rd
bowio -g 3 /dev/mapper/r $((5000 * B)) $B > /dev/null
wait $rd
expect_eq "window: a first overwrite waits for the read that looked before it" \
	"1 0" "$(cut -d' ' -f1,4 /tmp/read1)"
line=$(bow-restore -n -v -f /dev/vdf | awk '/entry/ && $6 == 5000 * 8 { print $8; exit }')
bowio -r -v -g 1 /dev/mapper/rck $((5000 * B)) $B > /tmp/read2 &
rd=$!
wait_until "window: the read held" in_msleep $rd
moved=$(bow_status r 8)
dd if=/dev/urandom of=/dev/mapper/r bs=$B seek=$((line / 8)) count=1 conv=notrunc oflag=direct
wait $rd
echo 0 > /sys/module/dm_bow/parameters/debug_ckpt_read_delay
expect_eq "window: a write over the backup it reads (at sector $line) moves it, and waits for the read" \
	"$((moved + B)) 1 0" "$(bow_status r 8) $(cut -d' ' -f1,4 /tmp/read2)"
expect_eq "window: after, the checkpoint device reads generation 1 there" "0" \
	"$(bowio -r -v -g 1 /dev/mapper/rck $((5000 * B)) $B | cut -d' ' -f4)"
dmsetup remove --noudevsync rck
dmsetup remove --noudevsync r

# A backup moved again and again: a read through the view follows the
# whole chain of moves (letting the lock go every 64 hops).  Backups go
# to the lowest free block (debug_alloc_lowest), so the checkpoint's own
# blocks and block 100's backup take 1024 and up, and 600 writes one at a
# time over 1024 to 1623 move whatever is under them to the next free
# block up, block 100's backup every few writes.
truncate -s 8M /tmp/h.img
h_lo=$(/sbin/losetup -f --show /tmp/h.img)
dd if=/dev/urandom of="$h_lo" bs=1M count=8 oflag=direct
in_use=$(sum "$h_lo" 0 8192)
echo 1 > /sys/module/dm_bow/parameters/debug_alloc_lowest
bow_create h "$h_lo" 1 block_size:$B
blkdiscard -o $((1024 * B)) -l $((1024 * B)) /dev/mapper/h
dmsetup message h 0 checkpoint
ref=$(sum "$h_lo" 800 8)
bowio -b $B -q 1 /dev/mapper/h $((100 * B)) $B > /dev/null
bowio -b $B -q 1 /dev/mapper/h $((1024 * B)) $((600 * B)) > /dev/null
echo 0 > /sys/module/dm_bow/parameters/debug_alloc_lowest
# The chain: block 100's entry, then the move of its dest, and so on.
hops=$(bow-restore -n -v -f "$h_lo" | awk '/ entry / { to[$6] = $8 }
	END { s = 800; n = 0; while (s in to) { s = to[s]; n++ } print n }')
check "moves: block 100's backup moved more than 64 times ($((hops - 1)))" [ "$hops" -gt 65 ]
check "moves: a view over it" dmsetup create --noudevsync --readonly hck \
	--table "0 $(blockdev --getsz "$h_lo") bow-checkpoint $h_lo"
dmsetup mknodes hck
expect_eq "moves: the view reads block 100 as at the checkpoint" "$ref" \
	"$(sum /dev/mapper/hck 800 8)"
expect_eq "moves: ... and blocks 0 to 1023, in use at the checkpoint, all as then" \
	"$in_use" "$(sum /dev/mapper/hck 0 8192)"
dmsetup remove --noudevsync hck h
/sbin/losetup -d "$h_lo"
rm -f /tmp/h.img

# A sequential writer: blocks 1 to 256 first overwritten 4 KiB at a time,
# one after the other.  Their backups lie side by side in the order of
# their blocks, above the checkpoint's own blocks, but for the log's copy
# of its first block, taken when entry 169 filled it (169 entries a 4 KiB
# block; entry 0 is block 0's): blocks 1-169 back up to one extent, 170
# on to another.  A view made before the writes (its index kept up entry
# by entry) and one made after (built from the log, which it walks newest
# first) read 64 blocks from 64, 128 and 192 in 1, 2 and 1 lower requests.
truncate -s 16M /tmp/s.img
s_lo=$(/sbin/losetup -f --show /tmp/s.img)
bowio -q 32 -g 1 "$s_lo" 0 $((8 << 20)) > /dev/null
bow_create s "$s_lo" 1 block_size:$B
blkdiscard -o $((8 << 20)) /dev/mapper/s
check "sequential: checkpoint" dmsetup message s 0 checkpoint
table="0 $(blockdev --getsz "$s_lo") bow-checkpoint $s_lo"
dmsetup create --noudevsync --readonly sck1 --table "$table"
bowio -b $B -q 1 -g 2 /dev/mapper/s $B $((256 * B)) > /dev/null
s_reads() { awk '{ print $1 }' "/sys/block/${s_lo#/dev/}/stat"; }
# view_reads <view>: lower requests and blocks not as at the checkpoint,
# for each of the three reads.
view_reads()
{
	got=
	for b in 64 128 192; do
		r0=$(s_reads)
		out=$(bowio -r -v -b $((64 * B)) -u $B -g 1 /dev/mapper/$1 $((b * B)) $((64 * B)))
		got="$got $(($(s_reads) - r0)):${out##* }"
	done
	echo "$got"
}
dmsetup mknodes sck1
expect_eq "sequential: a view made before the writes reads the backups of blocks 64-255 as at the checkpoint in 1, 2 and 1 lower requests" \
	" 1:0 2:0 1:0" "$(view_reads sck1)"
dmsetup remove --noudevsync sck1
dmsetup create --noudevsync --readonly sck2 --table "$table"
dmsetup mknodes sck2
expect_eq "sequential: ... and one made after them, from the log" \
	" 1:0 2:0 1:0" "$(view_reads sck2)"
dmsetup remove --noudevsync sck2 s
/sbin/losetup -d "$s_lo"
rm -f /tmp/s.img

# A view does not pin the mapped device, only the bow device's state:
# a view's constructor held between its look-up of the dm-bow device and
# its open of it (debug_ckpt_ctr_delay, 10 s: the removal is slow under
# KASAN) while the last other view goes,
# and with it the dm-bow device, whose removal was deferred while that
# view held it open.  The held constructor must find it gone (with
# KASAN: no use of the freed mapped device).  Then the same without the
# delay, 20 times, one view removed while the next is created.
truncate -s 8M /tmp/v.img
v_lo=$(/sbin/losetup -f --show /tmp/v.img)
v_table="0 $(blockdev --getsz "$v_lo") bow-checkpoint $v_lo"
# v_start: dm-bow device v on the loop device, in state 1, and view v1.
# Block 0 cleared first: the round before left a live log.
v_start()
{
	dd if=/dev/zero of="$v_lo" bs=$B count=1 oflag=direct conv=notrunc &&
		bow_create v "$v_lo" 1 block_size:$B &&
		blkdiscard -o $((1024 * B)) -l $((512 * B)) /dev/mapper/v &&
		dmsetup message v 0 checkpoint &&
		dmsetup create --noudevsync --readonly v1 --table "$v_table"
}
check "gone: dm-bow device and a view" v_start
check "gone: the dm-bow device's removal deferred (a view holds it open)" \
	dmsetup remove --noudevsync --deferred v
echo 10000 > /sys/module/dm_bow/parameters/debug_ckpt_ctr_delay
dmsetup create --noudevsync --readonly v2 --table "$v_table" 2>/dev/null &
ctr=$!
wait_until "gone: the second view's constructor held" in_msleep $ctr
check "gone: the first view removed, and with it the dm-bow device" \
	dmsetup remove --noudevsync v1
# The deferred removal runs from a workqueue: wait until the mapped
# device is gone, while the constructor still sleeps.
wait_until "gone: the dm-bow device went" sh -c '! dmsetup info v >/dev/null 2>&1'
check "gone: ... while the second view's constructor is still held" \
	in_msleep $ctr
wait $ctr
expect_eq "gone: the held constructor fails" 1 $?
echo 0 > /sys/module/dm_bow/parameters/debug_ckpt_ctr_delay
expect_eq "gone: ... as it cannot open the device that went" "Cannot hold the bow device" \
	"$(dmesg | grep ': bow-checkpoint: ' | tail -n 1 | sed 's/.*: bow-checkpoint: //; s/ (-E[A-Z0-9]*)$//')"
expect_eq "gone: no device left" "" "$(dmsetup ls | grep -v '^No devices')"
fails=0
for i in $(seq 20); do
	v_start || fails=$((fails + 1))
	dmsetup remove --noudevsync --deferred v
	dmsetup create --noudevsync --readonly v2 --table "$v_table" 2>/dev/null &
	ctr=$!
	dmsetup remove --noudevsync v1
	wait $ctr && dmsetup remove --noudevsync v2
	# The dm-bow device goes with the last view.
	wait_until "gone $i: nothing left" [ -z "$(dmsetup ls | grep -v '^No devices')" ]
done
expect_eq "gone: 20 rounds of a view created while the other goes" 0 $fails
/sbin/losetup -d "$v_lo"
