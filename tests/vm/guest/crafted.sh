# Crafted logs: what a disk can make the kernel allocate.  Disks (see
# t-crafted.sh), both valid live logs with every checksum 0:
#   vdb  64 GiB: a free-space map of 8388607 one-block ranges (every
#        other block), 33027 map blocks; as resumed, about 1 GiB of
#        range-map nodes and 128 MiB of map, more than this guest has
#   vdc  64 MiB: 18 log blocks, 3018 entries, 8191 free ranges
. ./guest-lib.sh
B=4096
param=/sys/module/dm_bow/parameters/debug_resume_mem_kb
# limit: what the kernel allows a walk of the log, in KiB: an eighth of
# RAM (MemTotal is totalram_pages, in KiB).
limit=$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) / 8))
# said <what>: the newest line of dm-bow's kernel log that begins, after
# the device's name, with <what>; from there on.
said() { dmesg | grep ": bow: [^:]*: $1: " | tail -n 1 | sed "s/.*: bow: [^:]*: //"; }

# 1. The map that asks for more than the machine has: refused by the
# limit before it takes the memory, with nothing written.
w=$(sectors_written vdb)
expect_eq "vdb: resume of the 64 GiB map is refused" \
	"Log too large to resume in memory" \
	"$(table_error "0 $(blockdev --getsz /dev/vdb) bow /dev/vdb 2 block_size:$B resume")"
line=$(said "cannot resume")
expect_eq "vdb: the kernel log gives the limit, an eighth of RAM" \
	"cannot resume: 1 entries and N free ranges read so far need more than $limit KiB, the limit (an eighth of RAM): restore the device offline" \
	"$(echo "$line" | sed 's/and [0-9]* free/and N free/')"
ranges=$(echo "$line" | sed -n 's/.*and \([0-9]*\) free.*/\1/p')
check "vdb: ... refused part way through the map ($ranges of 8388607 ranges read)" \
	[ "$ranges" -gt 0 -a "$ranges" -lt 8388607 ]
expect_eq "vdb: nothing written" "$w" "$(sectors_written vdb)"
expect_eq "vdb: nothing of it held after the refusal" "" "$(dmsetup ls | grep -v '^No devices')"

# 2. A log whose entries pass a smaller limit (the test parameter): the
# walk stops before the entries' array passes it.  Each limit is
# refused at the resume, at a rollback and at a bow-checkpoint index.
tbl="0 $(blockdev --getsz /dev/vdc) bow /dev/vdc 2 block_size:$B resume"
w=$(sectors_written vdc)
echo 256 > $param
expect_eq "vdc: with a 256 KiB limit, resume is refused" \
	"Log too large to resume in memory" "$(table_error "$tbl")"
expect_eq "vdc: ... part way through the entries" \
	"cannot resume: N entries and 0 free ranges read so far need more than 256 KiB, the limit (an eighth of RAM): restore the device offline" \
	"$(said "cannot resume" | sed 's/: [0-9]* entries/: N entries/')"
echo 0 > $param
check "vdc: with the limit of RAM, the same log resumes" \
	dmsetup create --noudevsync vdc --table "$tbl"
expect_eq "vdc: ... all of it" "resumed: 18 log blocks, 3018 entries, 8191 free ranges" \
	"$(last_bow_line)"
expect_eq "vdc: ... and wrote nothing" "$w" "$(sectors_written vdc)"
echo 256 > $param
expect_eq "vdc: a bow-checkpoint index over the limit is refused" \
	"Log too large to index in memory" \
	"$(table_error "0 $(blockdev --getsz /dev/vdc) bow-checkpoint /dev/vdc" --readonly)"
expect_eq "vdc: a rollback over the limit fails with ENOMEM" "1 Cannot allocate memory" \
	"$(message vdc rollback)"
expect_eq "vdc: ... says why" \
	"cannot roll back: N entries and 0 free ranges read so far need more than 256 KiB, the limit (an eighth of RAM): restore the device offline" \
	"$(said "cannot roll back" | sed 's/: [0-9]* entries/: N entries/')"
expect_eq "vdc: ... and leaves the checkpoint: state 1, nothing written" "1 $w" \
	"$(cat "$(bow_sys vdc)/state") $(sectors_written vdc)"
echo 0 > $param
check "vdc: under the limit of RAM, bow-checkpoint indexes it" \
	dmsetup create --noudevsync --readonly ck \
	--table "0 $(blockdev --getsz /dev/vdc) bow-checkpoint /dev/vdc"
check "vdc: remove the view" dmsetup remove --noudevsync ck
check "vdc: remove" dmsetup remove --noudevsync vdc
check "module unloads: nothing leaked in use" rmmod dm_bow
