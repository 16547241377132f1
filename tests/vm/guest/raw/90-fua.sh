# One first overwrite at a time (queue depth 1): the requests it costs.
# On a device with a volatile cache and FUA (null_blk, memory-backed,
# with a cache) the copy, the entries' unit and the header are written
# with FUA, and no flush is sent; on one with a cache and no FUA (a loop
# device) the header carries a PREFLUSH, and the block layer follows
# it with a flush for its FUA: two.  Either way the user's write is the
# fourth write.  25 first overwrites fill the log's header unit first,
# so that each measured entry is in a unit of its own.
fua_stat() { awk '{ print $5, $16 }' "/sys/block/${1#/dev/}/stat"; }
fua_run()
{
	_n=$1 _dev=$2
	bowio -g 1 "$_dev" 0 $((8 << 20)) > /dev/null
	bow_create "$_n" "$_dev" 1 block_size:4096
	blkdiscard -o $((8 << 20)) -l $((56 << 20)) "/dev/mapper/$_n"
	echo 1 > "$(bow_sys "$_n")/state"
	bowio -q 1 -k 8192 -g 2 "/dev/mapper/$_n" 0 $((25 * 8192)) > /dev/null
	_before=$(fua_stat "$_dev")
	bowio -q 1 -k 8192 -g 2 "/dev/mapper/$_n" $((25 * 8192)) $((20 * 8192)) > /dev/null
	_after=$(fua_stat "$_dev")
	echo "$_before $_after" | awk '{ print $3 - $1, $4 - $2 }'
	# 200 more: past the log block's end (168 entries of 4 KiB blocks),
	# its backup, and the new block's first header.
	bowio -q 1 -k 8192 -g 2 "/dev/mapper/$_n" $((45 * 8192)) $((200 * 8192)) > /dev/null
	fua_stat "$_dev" | awk -v w="${_after% *}" -v f="${_after#* }" \
		'{ print "#", $1 - w, "writes, then", $2 - f, "flushes" }' >&2
	echo "${_after#* } $(fua_stat "$_dev" | cut -d' ' -f2) $(bow_status "$_n" 5)" > /tmp/fua.roll
	echo "# $_n: $(dmsetup status "$_n")" >&2
	echo 2 > "$(bow_sys "$_n")/state"
	dmsetup remove --noudevsync "$_n"
}
check "fua: null_blk with a cache and FUA" load_extra null_blk gb=1 \
	memory_backed=1 cache_size=64 nr_devices=1
expect_eq "fua: null_blk says it has a write-back cache and FUA" \
	"write back 1" \
	"$(cat /sys/block/nullb0/queue/write_cache) $(cat /sys/block/nullb0/queue/fua)"
expect_eq "fua: 20 first overwrites, one at a time, with FUA: 80 writes, no flush" \
	"80 0" "$(fua_run fua /dev/nullb0)"
read -r f0 f1 blocks < /tmp/fua.roll
expect_eq "fua: 200 more, past the end of a log block: 2 log blocks, still no flush" \
	"2 0" "$blocks $((f1 - f0))"
dd if=/dev/zero of=/tmp/nofua.img bs=1M count=64 2> /dev/null
nofua=$(/sbin/losetup -f --show /tmp/nofua.img)
expect_eq "fua: a loop device has a write-back cache and no FUA" \
	"write back 0" \
	"$(cat /sys/block/${nofua#/dev/}/queue/write_cache) $(cat /sys/block/${nofua#/dev/}/queue/fua)"
expect_eq "fua: 20 first overwrites, one at a time, without FUA: 80 writes, 40 flushes" \
	"80 40" "$(fua_run nofua "$nofua")"
/sbin/losetup -d "$nofua"
rm -f /tmp/nofua.img
rmmod null_blk
