# A program that holds the device open keeps its page cache, and with it
# blocks read before dm-bow, whose writes bypass that cache, wrote them.
# bow-restore must read the log on the device, not an older one cached:
# a reader caches the log after 3 backups, then 51 more are made.
dd if=/dev/urandom of=/tmp/sc.img bs=1M count=8
sc_lo=$(/sbin/losetup -f --show /tmp/sc.img)
sc_before=$(sum "$sc_lo" 0 $((1024 * 8)))
check "stale cache: create" bow_create sc "$sc_lo" 1 block_size:4096
blkdiscard -o $((1024 * B)) -l $((1024 * B)) /dev/mapper/sc
echo 1 > "$(bow_sys sc)/state"
for b in 10 11 12; do
	dd if=/dev/urandom of=/dev/mapper/sc bs=$B seek=$b count=1 conv=notrunc oflag=direct
done
exec 5< "$sc_lo"
cat <&5 > /dev/null
for b in $(seq 100 4 300); do
	dd if=/dev/urandom of=/dev/mapper/sc bs=$B seek=$b count=1 conv=notrunc oflag=direct
done
sc_entries=$(bow_status sc 4)
dmsetup remove --noudevsync sc
expect_eq "stale cache: the reader's cache holds the older log" 4 \
	"$(dd if="$sc_lo" bs=4 skip=3 count=1 | od -An -tu4 | tr -d ' ')"
bow-restore "$sc_lo" > /tmp/out 2>&1
expect_eq "stale cache: bow-restore replays the log on the device ($sc_entries entries)" \
	"0 1" "$? $(grep -c " $sc_entries entries" /tmp/out)"
expect_eq "stale cache: blocks 0-1023 as at the checkpoint" "$sc_before" \
	"$(sum "$sc_lo" 0 $((1024 * 8)))"
exec 5<&-
/sbin/losetup -d "$sc_lo"

# The same held reader, and the file behind the loop device mounted:
# bow-restore refuses the file, unless --force.
mkfs.ext4 -q -F /tmp/sc.img
sc_lo=$(/sbin/losetup -f --show /tmp/sc.img)
mkdir -p /mnt/sc && mount "$sc_lo" /mnt/sc
bow-restore -n /tmp/sc.img > /tmp/out 2>&1
expect_eq "a file backing a mounted loop device is refused" "3 1" \
	"$? $(grep -c "bow-restore: /tmp/sc.img: the file backs $sc_lo, which is in use" /tmp/out)"
bow-restore -n --force /tmp/sc.img > /tmp/out 2>&1
expect_eq "... and read with --force" "0 1" "$? $(grep -c 'no checkpoint found' /tmp/out)"
umount /mnt/sc
bow-restore -n /tmp/sc.img > /tmp/out 2>&1
expect_eq "... and once unmounted, read" "0 1" "$? $(grep -c 'no checkpoint found' /tmp/out)"
/sbin/losetup -d "$sc_lo"
rm -f /tmp/sc.img
