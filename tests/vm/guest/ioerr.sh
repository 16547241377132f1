# Errors from the lower device in state 1: a backup's read failing, its
# write failing, and the log's write failing.  dm-bow sits on a dm-linear
# device whose table is swapped for one with an "error" segment while a
# single write runs, then put back.
# Disks: /dev/vdb data (32 MiB of random bytes), /dev/vdc checkpoint copy,
# /dev/vdd data for a commit after a failed log write (8 MiB).
# Blocks 0-4095 of vdb are in use at the checkpoint, 4096-8191 free; the
# host restores the image and compares blocks 0-4095 with the copy.
. ./guest-lib.sh
B=4096
S8=$((B / 512))
bow=/dev/mapper/bow

# lower_create <name> <disk>: a dm-linear device over all of <disk>.
lower_create()
{
	dmsetup create --noudevsync "$1" \
		--table "0 $(blockdev --getsz "$2") linear $2 0" &&
		dmsetup mknodes "$1"
}

# lower_table <name> <disk> [<first sector> <sectors>]: the lower device
# passes all through to <disk>, or fails every I/O to that range.
lower_table()
{
	_n=$(blockdev --getsz "$2")
	_t="0 $_n linear $2 0"
	if [ $# -eq 4 ]; then
		_end=$(($3 + $4))
		_t="$3 $4 error"
		[ "$3" -gt 0 ] && _t="0 $3 linear $2 0
$_t"
		[ $_end -lt "$_n" ] && _t="$_t
$_end $((_n - _end)) linear $2 $_end"
	fi
	dmsetup suspend "$1"
	echo "$_t" | dmsetup load "$1" || not_ok "$1 table: $_t"
	dmsetup resume "$1"
}

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
# taken from the top of the free space: fail its last 16 blocks.
status1=$(dmsetup status bow)
lower_table lower /dev/vdb $((sectors - 16 * S8)) $((16 * S8))
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

# A log write that fails: the log can no longer vouch for what is
# overwritten, so that write and every later one fail, first overwrites,
# rewrites of changed blocks and writes into free space alike, even once
# the device works again; reads go on, and the log on the disk still
# restores the checkpoint (the host checks).
lower_table lower /dev/vdb 0 $S8
wblk 12
expect_eq "log write fails: the write fails with EIO" \
	"1 Input/output error" "$wrote"
expect_eq "log write fails: the error is logged" \
	"device-mapper: bow: log write failed (-5): further writes fail" \
	"$(dmesg | grep -o 'device-mapper: bow: log write failed.*' | tail -n 1)"
lower_table lower /dev/vdb
for blk in 12 13 10 5000; do
	wblk $blk
	expect_eq "after a failed log write: a write to block $blk fails with EIO" \
		"1 Input/output error" "$wrote"
done
expect_eq "after a failed log write: block 13 reads as at the checkpoint" \
	"$(block /dev/vdc 13)" "$(block $bow 13)"
expect_eq "after a failed log write: still in state 1" 1 "$(bow_status bow 1)"

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
expect_eq "commit after a failed log write: block 0 is the file system's" \
	"$block0" "$(block /dev/vdd 0)"
expect_eq "commit after a failed log write: the write made before it stays" \
	"$block10" "$(block /dev/vdd 10)"
wblk 11 /dev/mapper/commit
expect_eq "commit after a failed log write: writes pass through" "0 " "$wrote"

# Power off, vdb in state 1, the device as it is.
dmsetup remove --noudevsync bow commit
dmsetup remove --noudevsync lower lower2
