# Shared by the parts of the raw suite, which run in this order in one
# guest boot (tests/vm/lib.sh joins them into one script).
# Disks: /dev/vdb data (32 MiB of random bytes), /dev/vdc checkpoint copy,
# /dev/vdd 8 MiB of random bytes (30-enospc), /dev/vde its copy, and on
# another architecture /dev/vdf, a log written by the x86 kernel.
. ./guest-lib.sh
B=4096
dev=/dev/vdb
bow=/dev/mapper/bow

# blocks <first> <count> [dd args]: dd through the dm device, in blocks.
wblk() { dd if=/dev/urandom of=$bow bs=$B seek=$1 count=$2 conv=notrunc oflag=direct 2>/dev/null; }
wsec() { dd if=/dev/urandom of=$bow bs=512 seek=$1 count=$2 conv=notrunc oflag=direct 2>/dev/null; }
# sumall <device>: the md5 of all of it, read direct in large reads.
sumall() { dd if="$1" bs=1M iflag=direct | md5sum | cut -d' ' -f1; }
# Sectors vdb has written: a sub-block test asserts that its bio reached
# dm-bow as the bio it claims (a buffered fallback writes whole pages).
written() { sectors_written vdb; }

# bad_table <table> <expected ti->error>: the table is refused with it.
bad_table()
{
	if dmsetup create --noudevsync bad --table "$1" 2>/dev/null; then
		not_ok "table '$1' is refused"
		dmsetup remove --noudevsync bad
		return
	fi
	expect_eq "table '$1' is refused" "$2" \
		"$(dmesg | grep ': bow: ' | tail -n 1 | sed 's/.*: bow: //; s/ (-E[A-Z]*)$//')"
}
