# Races that lose acknowledged data if the target orders them wrong, each
# opened wide with dm-delay under dm-bow so that it happens every run.
# Disks: /dev/vdb (16 MiB of random bytes) and /dev/vdc, its checkpoint
# copy; /dev/vdd and /dev/vde (8 MiB of random bytes each).
. ./guest-lib.sh
B=4096
S8=$((B / 512))

# block <device> <block>: its md5.
block()
{
	sum "$1" $(($2 * S8)) $S8
}

# md5 <file> [<first block> <blocks>]: the md5 of (part of) a file.
md5()
{
	if [ $# -eq 3 ]; then
		dd if="$1" bs=$B skip="$2" count="$3" | md5sum | cut -d' ' -f1
	else
		md5sum < "$1" | cut -d' ' -f1
	fi
}

# 1. A discard of a block that a queued write still targets.  The free
# space at the checkpoint is blocks 3000-3089, 3091 and 3093-3095, and
# the checkpoint takes the top three.  X = 3091 is written after the
# checkpoint (free then: written in place, no backup).  Then one 8 KiB
# write W over X and Y = 3092, which holds checkpoint data, so that W
# waits for Y's copy (to block 3000), whose read dm-delay holds 3 s.
# Meanwhile X is discarded, and Z = 100 overwritten for the first time:
# Z's backup must not go to X, which W is about to write (were X free, it
# would be the highest free space, where backups go).
bow=/dev/mapper/bow
n=$(blockdev --getsz /dev/vdb)
lower_create lower /dev/vdb
bow_create bow /dev/mapper/lower 1 block_size:4096
blkdiscard -o $((3000 * B)) -l $((90 * B)) $bow
blkdiscard -o $((3091 * B)) -l $B $bow
blkdiscard -o $((3093 * B)) -l $((3 * B)) $bow
echo 1 > "$(bow_sys bow)/state"
dd if=$bow of=/dev/vdc bs=1M iflag=direct oflag=direct
dd if=/dev/urandom of=$bow bs=$B seek=3091 count=1 conv=notrunc oflag=direct
expect_eq "discard race: X written in place, 90 blocks free" $((90 * B)) \
	"$(bow_status bow 2)"
head -c $((2 * B)) /dev/urandom > /tmp/w
head -c $B /dev/urandom > /tmp/z
lower_load lower "0 $n delay /dev/vdb 0 3000 /dev/vdb 0 0"
dd if=/tmp/w of=$bow bs=$((2 * B)) seek=$((3091 * B)) count=1 \
	oflag=direct,seek_bytes conv=notrunc &
w_pid=$!
wait_until "discard race: Y's copy read held" reads_delayed lower
blkdiscard -o $((3091 * B)) -l $B $bow
expect_eq "discard race: the discard of X succeeds" 0 $?
dd if=/tmp/z of=$bow bs=$B seek=100 count=1 oflag=direct conv=notrunc
expect_eq "discard race: the first overwrite of Z succeeds" 0 $?
wait $w_pid
expect_eq "discard race: W succeeds" 0 $?
lower_load lower "0 $n linear /dev/vdb 0"
expect_eq "discard race: X reads what W wrote" "$(md5 /tmp/w 0 1)" \
	"$(block $bow 3091)"
expect_eq "discard race: Y reads what W wrote" "$(md5 /tmp/w 1 1)" \
	"$(block $bow 3092)"
expect_eq "discard race: Z reads what was written" "$(md5 /tmp/z)" \
	"$(block $bow 100)"
expect_eq "discard race: three backups logged (block 0, Y, Z)" 3 \
	"$(bow_status bow 4)"
# Rolled back, every block in use at the checkpoint is as it was: Y and
# Z from their backups.
check "discard race: rollback" dmsetup message bow 0 rollback
expect_eq "discard race: rolled back, blocks 0-2999 as at the checkpoint" \
	"$(sum /dev/vdc 0 $((3000 * S8)))" "$(sum /dev/vdb 0 $((3000 * S8)))"
expect_eq "discard race: rolled back, block 3090 and Y as at the checkpoint" \
	"$(block /dev/vdc 3090) $(block /dev/vdc 3092)" \
	"$(block /dev/vdb 3090) $(block /dev/vdb 3092)"
expect_eq "discard race: rolled back, blocks 3096 on as at the checkpoint" \
	"$(sum /dev/vdc $((3096 * S8)) $((n - 3096 * S8)))" \
	"$(sum /dev/vdb $((3096 * S8)) $((n - 3096 * S8)))"
dmsetup remove --noudevsync bow lower

# 2. A write to block 0 held in a log commit while the live block 0
# moves.  Block 0's writes on the lower device are held 3 s, the read of
# block U = 10 (its backup's) 2 s.  The first overwrite of U starts a
# copy; a write W0 of block 0 waits behind it, and both wait for the
# same commit C1, held.  Meanwhile a write over L, where block 0 lives,
# moves it.  When W0 is acknowledged, the header on the disk must name a
# place that holds W0: a power cut before the next commit (held too, and
# the disk taken as it is then) must not lose it.
b0=/dev/mapper/b0
n=$(blockdev --getsz /dev/vdd)
lower_create lower /dev/vdd
bow_create b0 /dev/mapper/lower 1 block_size:4096
blkdiscard -o $((1024 * B)) -l $((1024 * B)) $b0
echo 1 > "$(bow_sys b0)/state"
live=$(log_sector0 /dev/vdd)
head -c $B /dev/urandom > /tmp/w0
lower_load lower "0 $S8 delay /dev/vdd 0 0 /dev/vdd 0 3000
$S8 $((9 * S8)) linear /dev/vdd $S8
$((10 * S8)) $S8 delay /dev/vdd $((10 * S8)) 2000 /dev/vdd $((10 * S8)) 0
$((11 * S8)) $((n - 11 * S8)) linear /dev/vdd $((11 * S8))"
dd if=/dev/urandom of=$b0 bs=$B seek=10 count=1 oflag=direct conv=notrunc &
u_pid=$!
wait_until "block 0 race: U's copy read held" reads_delayed lower
dd if=/tmp/w0 of=$b0 bs=$B count=1 oflag=direct conv=notrunc &
w0_pid=$!
wait_until "block 0 race: commit C1 held" writes_delayed lower
dd if=/dev/urandom of=$b0 bs=$B seek=$((live / S8)) count=1 oflag=direct \
	conv=notrunc &
l_pid=$!
wait $w0_pid
expect_eq "block 0 race: W0 succeeds" 0 $?
wait_until "block 0 race: the next commit held" writes_delayed lower
dd if=/dev/vdd of=/tmp/cut.img bs=1M iflag=direct
cut=$(/sbin/losetup -f --show /tmp/cut.img)
check "block 0 race: the disk was taken before the next commit reached it" \
	writes_delayed lower
wait $u_pid $l_pid
lower_load lower "0 $n linear /dev/vdd 0"
cut0=$(log_sector0 "$cut")
check "block 0 race: block 0 has moved (from sector $live)" \
	[ "$(log_sector0 /dev/vdd)" != "$live" ]
expect_eq "block 0 race: block 0 reads W0 on the live device" \
	"$(md5 /tmp/w0)" "$(block $b0 0)"
expect_eq "block 0 race: after the cut, the live block 0 the log names (sector $cut0) holds W0" \
	"$(md5 /tmp/w0)" "$(block "$cut" $((cut0 / S8)))"
bow-restore --roll-forward "$cut" > /tmp/out 2>&1
expect_eq "block 0 race: after the cut, rolled forward, block 0 is W0" \
	"$(md5 /tmp/w0)" "$(block "$cut" 0)"
/sbin/losetup -d "$cut"
dmsetup remove --noudevsync b0 lower

# 3. A write over one block of a free-space map of two: the map moves,
# and once the commit that points at the new chain is durable the old
# chain's other block is free space again, and not listed as changed.
# 300 one-block free ranges (blocks 1000, 1002, ... 1598) and blocks
# 1700-2047 make a map of two blocks ((4096 - 32) / 16 = 254 ranges a
# block).
fm=/dev/mapper/fm
lower_create lower /dev/vde
bow_create fm /dev/mapper/lower 1 block_size:4096
bowio -d -k $((2 * B)) $fm $((1000 * B)) $((600 * B)) > /dev/null
blkdiscard -o $((1700 * B)) -l $((348 * B)) $fm
echo 1 > "$(bow_sys fm)/state"
map=$(log_freemap /dev/vde)
map2=$(dd if=/dev/vde bs=512 skip="$map" count=1 iflag=direct |
	od -An -tu8 -j24 -N8 | tr -d ' ')
check "map move: the free-space map is two blocks ($map, $map2)" \
	[ "$map2" -gt 0 ]
free0=$(bow_status fm 2)
dd if=/dev/urandom of=$fm bs=$B seek=$((map / S8)) count=1 oflag=direct \
	conv=notrunc
check "map move: a write over its first block moves it" \
	[ "$(log_freemap /dev/vde)" != "$map" ]
expect_eq "map move: free space: two blocks for the new map, the old one's second back" \
	$((free0 - B)) "$(bow_status fm 2)"
expect_eq "map move: changed lists the block written, not the old map's other" \
	"$map $S8 end" "$(dmsetup message fm 0 changed | tr '\n' ' ' | sed 's/ $//')"
dmsetup remove --noudevsync fm lower
