# Errors from the lower device in state 1: a backup's read failing, its
# write failing, and the log's write failing.  dm-bow sits on a dm-linear
# device whose table is swapped for one with an "error" segment while a
# single write runs, then put back.
# Disks: /dev/vdb data (32 MiB of random bytes), /dev/vdc checkpoint copy.
# Blocks 0-4095 are in use at the checkpoint, 4096-8191 free; the host
# restores the image and compares blocks 0-4095 with the copy.
. ./guest-lib.sh
B=4096
S8=$((B / 512))
sectors=$(blockdev --getsz /dev/vdb)
bow=/dev/mapper/bow

dmsetup create --noudevsync lower --table "0 $sectors linear /dev/vdb 0"
dmsetup mknodes lower

# lower_table [<first sector> <sectors>]: the lower device passes all
# through, or fails every I/O to that range.
lower_table()
{
	_t="0 $sectors linear /dev/vdb 0"
	if [ $# -eq 2 ]; then
		_end=$(($1 + $2))
		_t="$1 $2 error"
		[ "$1" -gt 0 ] && _t="0 $1 linear /dev/vdb 0
$_t"
		[ $_end -lt "$sectors" ] && _t="$_t
$_end $((sectors - _end)) linear /dev/vdb $_end"
	fi
	dmsetup suspend lower
	echo "$_t" | dmsetup load lower || not_ok "lower table: $_t"
	dmsetup resume lower
}

# wblk <block>: one block of random bytes through dm-bow, direct; the
# exit status and dd's message (empty on success) in $wrote.
wblk()
{
	wrote=$(dd if=/dev/urandom of=$bow bs=$B seek="$1" count=1 \
		conv=notrunc oflag=direct 2>&1)
	wrote="$? ${wrote##*: }"
}

# block <device> <block>: its checksum.
block()
{
	dd if="$1" bs=$B skip="$2" count=1 iflag=direct | md5sum | cut -d' ' -f1
}

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
lower_table $((10 * S8)) $S8
wblk 10
expect_eq "copy read fails: the write fails with EIO" \
	"1 Input/output error" "$wrote"
lower_table
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
lower_table $((sectors - 16 * S8)) $((16 * S8))
wblk 11
expect_eq "copy write fails: the write fails with EIO" \
	"1 Input/output error" "$wrote"
lower_table
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
lower_table 0 $S8
wblk 12
expect_eq "log write fails: the write fails with EIO" \
	"1 Input/output error" "$wrote"
expect_eq "log write fails: the error is logged" \
	"device-mapper: bow: log write failed (-5): further writes fail" \
	"$(dmesg | grep -o 'device-mapper: bow: log write failed.*' | tail -n 1)"
lower_table
for blk in 12 13 10 5000; do
	wblk $blk
	expect_eq "after a failed log write: a write to block $blk fails with EIO" \
		"1 Input/output error" "$wrote"
done
expect_eq "after a failed log write: block 13 reads as at the checkpoint" \
	"$(block /dev/vdc 13)" "$(block $bow 13)"
expect_eq "after a failed log write: still in state 1" 1 "$(bow_status bow 1)"

# Power off in state 1, the device as it is.
dmsetup remove --noudevsync bow
dmsetup remove --noudevsync lower
