# The free-space map goes to free space in as few extents as it has, and
# each extent in one write: entering the checkpoint holds all I/O while
# it is written.  A device with 1,001 free ranges (1,000 one-block ones,
# and 32 MiB at the top, where the map goes) needs a map of several
# blocks, and its checkpoint costs as many lower-device writes as one of
# a single free range and a map of one block.  Without the 32 MiB, the
# map's blocks lie in one-block ranges, a write each, sent together.
mapdev=/dev/mapper/mp
# map_ckpt <all|ranges|scattered>: a checkpoint of mp on a new loop
# device ($ml) with one free range, the 1,001, or the 1,000 alone;
# $writes: the lower-device writes it sent.
map_ckpt()
{
	rm -f /tmp/map.img
	truncate -s 64M /tmp/map.img
	ml=$(/sbin/losetup -f --show /tmp/map.img)
	bow_create mp "$ml" 1 block_size:4096
	if [ "$1" = all ]; then
		blkdiscard -o 4096 -l $(((64 << 20) - 4096)) $mapdev
	else
		bowio -d -k 8192 $mapdev 4096 $((1000 * 8192)) > /dev/null
	fi
	[ "$1" = ranges ] && blkdiscard -o $((32 << 20)) -l $((32 << 20)) $mapdev
	_w=$(awk '{ print $5 }' "/sys/block/${ml#/dev/}/stat")
	dmsetup message mp 0 checkpoint
	writes=$(($(awk '{ print $5 }' "/sys/block/${ml#/dev/}/stat") - _w))
}
map_ckpt all
one=$writes
dmsetup remove --noudevsync mp
/sbin/losetup -d "$ml"
map_ckpt ranges
expect_eq "map: the checkpoint of 1,001 free ranges sends as many writes as that of one" \
	"$one" "$writes"
dmsetup remove --noudevsync mp
check "map: the checkpoint resumes" bow_create mp "$ml" 2 block_size:4096 resume
expect_eq "map: ... with its map of several blocks read back whole" \
	"resumed: 1 log blocks, 1 entries, 1001 free ranges" \
	"$(dmesg | grep ': bow: .*resumed: ' | tail -n 1 | sed 's/.*: bow: [^:]*: //')"
check "map: commit" dmsetup message mp 0 commit
dmsetup remove --noudevsync mp
/sbin/losetup -d "$ml"
map_ckpt scattered
blocks=$((writes - one + 1))
check "map: 1,000 one-block free ranges: a map of several blocks, a write each ($blocks)" \
	[ "$blocks" -gt 1 ]
dmsetup remove --noudevsync mp
check "map: ... it resumes" bow_create mp "$ml" 2 block_size:4096 resume
expect_eq "map: ... with its map read back whole" \
	"resumed: 1 log blocks, 1 entries, 1000 free ranges" \
	"$(dmesg | grep ': bow: .*resumed: ' | tail -n 1 | sed 's/.*: bow: [^:]*: //')"
dmsetup remove --noudevsync mp
/sbin/losetup -d "$ml"
rm -f /tmp/map.img
