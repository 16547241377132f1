# Out of free space: the write that cannot be backed up fails with
# ENOSPC, and the checkpoint stays restorable (the host checks vdd).
# vdd: 8 MiB; 11 free blocks, 3 taken by the checkpoint, 8 left.
# low_water is 4 blocks: the event fires once, when free space drops
# below it (at the 5th first overwrite), and never again.
check "create small" bow_create small /dev/vdd 2 block_size:4096 low_water:$((4 * B))
expect_eq "small: table line with two features" \
	"0 16384 bow $(cat /sys/block/vdd/dev) 2 block_size:4096 low_water:$((4 * B))" "$(dmsetup table small)"
blkdiscard -o $((100 * B)) -l $((11 * B)) /dev/mapper/small
ev0=$(events small)
check "small: checkpoint" dmsetup message small 0 checkpoint
dd if=/dev/mapper/small of=/dev/vde bs=1M iflag=direct oflag=direct
expect_eq "small: 8 blocks free" $((8 * B)) "$(cat "$(bow_sys small)/free")"
for i in 0 1 2 3 4 5 6 7; do
	dd if=/dev/urandom of=/dev/mapper/small bs=$B seek=$((300 + 2 * i)) count=1 conv=notrunc oflag=direct
	[ $i = 3 ] && expect_eq "small: no event at 4 blocks free" "$ev0" "$(events small)"
	[ $i = 4 ] && sleep 1 && expect_eq "small: one event below low_water" $((ev0 + 1)) "$(events small)"
done
check "small: dmsetup wait sees the event" timeout 5 dmsetup wait small "$ev0"
expect_eq "small: 8 first overwrites use the 8 free blocks" 0 "$(cat "$(bow_sys small)/free")"
err=$(dd if=/dev/urandom of=/dev/mapper/small bs=$B seek=400 count=1 conv=notrunc oflag=direct 2>&1)
expect_eq "small: the 9th fails with ENOSPC" 1 "$(echo "$err" | grep -c 'No space left on device')"
dd if=/dev/urandom of=/dev/mapper/small bs=$B seek=300 count=1 conv=notrunc oflag=direct
expect_eq "small: rewriting a changed block still works" 0 $?
expect_eq "small: status: 8 commits for 8 writes one by one, 1 refused" \
	"1 0 $((9 * B)) 9 1 9 1 0 rw -" "$(dmsetup status small | cut -d' ' -f4-)"
sleep 1
expect_eq "small: still one event" $((ev0 + 1)) "$(events small)"
check "small: remove" dmsetup remove --noudevsync small
