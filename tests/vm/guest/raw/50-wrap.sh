# An entry whose source is the last sector of the 64-bit range, in a log
# of 512-byte blocks: source + size wraps around to 0, which is not past
# the end.  Entry 1 of a live log with entry 0 (block 0 at sector 16);
# both one block with checksum 0, which is not checked.
truncate -s 1M /tmp/wrap.img
{
	# BOW, 0x0100, header_size 28, block_size 512, count 2, sequence 0
	printf 'BOW\000\000\001\034\000\000\002\000\000\002\000\000\000'
	printf '\000\000\000\000\010\000\000\000\000\000\000\000'
	# entry 0: source 0, dest 16, size 512, checksum 0
	printf '\000\000\000\000\000\000\000\000\020\000\000\000\000\000\000\000'
	printf '\000\002\000\000\000\000\000\000'
	# entry 1: source 2^64 - 1, dest 24, size 512, checksum 0
	printf '\377\377\377\377\377\377\377\377\030\000\000\000\000\000\000\000'
	printf '\000\002\000\000\000\000\000\000'
} | dd of=/tmp/wrap.img conv=notrunc 2>/dev/null
wrap=$(/sbin/losetup -f --show /tmp/wrap.img)
wrap_before=$(md5sum < /tmp/wrap.img)
if bow_create wrap "$wrap" 2 block_size:512 resume 2>/dev/null; then
	not_ok "resume refuses an entry whose end wraps past 2^64 sectors"
	dmsetup remove --noudevsync wrap
else
	ok "resume refuses an entry whose end wraps past 2^64 sectors"
fi
expect_eq "... and says so" \
	"cannot resume: log block sequence 0 entry 1: sectors 24 -> 18446744073709551615, 512 bytes, reach past the end of the device" \
	"$(dmesg | grep ': bow: ' | grep 'cannot resume' | tail -n 1 | sed 's/.*: bow: [^:]*: //')"
expect_eq "... and writes nothing" "$wrap_before" "$(md5sum < /tmp/wrap.img)"
/sbin/losetup -d "$wrap"
