# A power cut while an entries write of the log is held back.  Under
# dm-bow, block 0's sectors 1-7 (the log's entry units) go through
# dm-delay, which holds writes for 20 s; sector 0 (the header unit) and
# flushes go straight to the disk.  40 first overwrites need entries past
# the header unit, so their commit must wait for the held write: the
# header on disk must never count entries whose units are not there.
# The VM powers off (init: no sync) with the write still held, and the
# host restores the image.  Disk: /dev/vdb, 64 MiB of random bytes.
. ./guest-lib.sh
n=$(blockdev --getsz /dev/vdb)
printf '%s\n' "0 1 linear /dev/vdb 0" \
	"1 7 delay /dev/vdb 1 0 /dev/vdb 1 20000 /dev/vdb 1 0" \
	"8 $((n - 8)) linear /dev/vdb 8" |
	dmsetup create --noudevsync slow && dmsetup mknodes slow
check "slow: create the dm-delay stack" bow_create s /dev/mapper/slow 1 block_size:4096
# The upper half becomes free space for the backups.
blkdiscard -o $((32 * 1048576)) /dev/mapper/s
echo 1 > "$(bow_sys s)/state"
for i in $(seq 1 40); do
	dd if=/dev/zero of=/dev/mapper/s bs=4096 count=1 seek=$((i * 16)) \
		conv=notrunc oflag=direct &
done
sleep 3
# dm-delay's status: reads, writes and flushes it holds now.
held=$(dmsetup status slow | awk '$3 == "delay" { print $5 }')
expect_eq "slow: an entries write is held when the power goes" 1 "$held"
echo "# slow: status $(dmsetup status s | cut -d' ' -f4-)"
