# After a power cut: the log as the cut left it is resumed (vdb), as the
# next boot would; then the whole device is discarded (what was free at
# the checkpoint and is used by nothing of the log becomes free: this is
# no file system, so whatever was written there since goes too) and 64
# blocks spread over it are overwritten, most of them data of the
# checkpoint.  The host then restores and checks the checkpoint's blocks.
. ./guest-lib.sh
B=4096
check "resumed after the power cut" bow_create p /dev/vdb 2 block_size:4096 resume
echo "# resumed: $(dmsetup status p)"
blkdiscard /dev/mapper/p
i=0
while [ $i -lt 64 ]; do
	dd if=/dev/urandom of=/dev/mapper/p bs=$B seek=$((i * 127 + 1)) count=1 conv=notrunc oflag=direct
	i=$((i + 1))
done
echo "# then: $(dmsetup status p)"
expect_eq "64 overwrites after the resume, none refused" 0 "$(bow_status p 7)"
check "remove" dmsetup remove --noudevsync p
