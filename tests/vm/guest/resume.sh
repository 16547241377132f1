# A checkpoint of ext4 that survives reboots: each "reboot" unmounts,
# removes the device, takes the checkpoint up again (table option
# resume), mounts and trims, as the boot of an in-place update would.
# The workload between reboots reuses what it freed in the boot before;
# in boots 2 and 3 a block is written over a backup.  Disks (see t-resume.sh):
#   vdb/vdc  three boots of changes, then rolled back on the host /
#            checkpoint copy
#   vdd      three boots of changes, then committed
. ./guest-lib.sh

# Backups, the map and the live block 0 go to the lowest free space (the
# test build's naive policy), where ext4 allocates first: every boot
# writes over them, and they move.
echo 1 > /sys/module/dm_bow/parameters/debug_alloc_lowest

# workload <name> <boot>: remove 40 files of the checkpoint and the
# files of the boot before (space freed since the checkpoint, to be used
# again), write 120 new files, rewrite 30 in place; in boot 2 also a file
# of half the space left.
workload()
{
	_m=/mnt/$1 _b=$2
	mkdir $_m/b$_b
	for i in $(seq $((_b * 40 + 1)) $((_b * 40 + 40))); do
		rm $_m/files/f$i
	done
	rm -rf $_m/b$((_b - 1))
	for i in $(seq 1 120); do
		dd if=/dev/urandom of=$_m/b$_b/f$i bs=4K count=$((i % 5 + 1)) 2>/dev/null
	done
	for i in $(seq $((200 + _b * 30)) $((229 + _b * 30))); do
		dd if=/dev/urandom of=$_m/files/f$i bs=4K count=1 conv=notrunc 2>/dev/null
	done
	if [ $_b = 2 ]; then
		_avail=$(df -k $_m | awk 'NR == 2 { print $4 }')
		dd if=/dev/urandom of=$_m/b$_b/big bs=4K count=$((_avail / 8)) 2>/dev/null
	fi
	sync
}

# reboot <name> <dev>: unmount, remove, resume, mount, trim.
reboot()
{
	check "$1: unmount" umount /mnt/$1
	check "$1: remove" dmsetup remove --noudevsync $1
	check "$1: resume" bow_create $1 $2 2 block_size:4096 resume
	expect_eq "$1: resumed in state 1, nothing free before the trim" "1 0" \
		"$(bow_status $1 1) $(bow_status $1 2)"
	check "$1: mount" mount /dev/mapper/$1 /mnt/$1
	check "$1: fstrim" fstrim /mnt/$1
	check "$1: the trim frees space for backups" [ "$(bow_status $1 2)" -gt 0 ]
}

# write_over_backup <name> <dev> <boot>: with the file system frozen (its
# journal written home, so every block it counts free is free), write
# one block over the newest backup through dm-bow: the backup moves
# first, one entry whose source is the old place.  Where ext4 allocates
# is its own choice (small gaps, where the lowest-first test policy puts
# backups, come last), so the workload alone moves backups in most runs,
# not all: this write makes the move after a resume certain.
write_over_backup()
{
	fsfreeze -f /mnt/$1
	_dest=$(newest_backup $2 | cut -d' ' -f2)
	_entries=$(bow_status $1 4)
	_blocks=$(bow_status $1 5)
	_moved=$(bow_status $1 8)
	# A full log block (168 entries of 4 KiB blocks) rolls over first:
	# a new log block, and its entry 0 before the move's.
	_full=0
	[ "$_entries" -eq $((168 * _blocks)) ] && _full=1
	dd if=/dev/urandom of=/dev/mapper/$1 bs=4096 seek=$((_dest / 8)) count=1 \
		conv=notrunc oflag=direct
	expect_eq "$1: boot $3: a write over a backup moves it: one entry (and a roll-over's if the log block was full: $_full), 4096 bytes moved" \
		"$((_entries + 1 + _full)) $((_blocks + _full)) $((_moved + 4096))" \
		"$(bow_status $1 4) $(bow_status $1 5) $(bow_status $1 8)"
	expect_eq "$1: boot $3: ... from where it was ($_dest)" "$_dest" \
		"$(bow-restore -n -v -f $2 | awk '/entry/ { print $6; exit }')"
	fsfreeze -u /mnt/$1
}

# boots <name> <dev> <copy or "">: the checkpoint, then three boots of
# changes; none refused for want of space; in boots 2 and 3 backups are
# written over and move, and so does the free-space map.
boots()
{
	ext4_start $1 $2 "$3"
	_map=$(log_freemap $2)
	workload $1 1
	reboot $1 $2
	workload $1 2
	echo "# $1: boot 2: $(dmsetup status $1), map at $(log_freemap $2)"
	write_over_backup $1 $2 2
	_refused=$(bow_status $1 7)
	reboot $1 $2
	workload $1 3
	echo "# $1: boot 3: $(dmsetup status $1), map at $(log_freemap $2)"
	write_over_backup $1 $2 3
	expect_eq "$1: no write refused in boots 2 and 3" "0 0" "$_refused $(bow_status $1 7)"
	check "$1: the free-space map moved (from $_map)" \
		[ "$(log_freemap $2)" != "$_map" ]
}

boots rb /dev/vdb /dev/vdc
check "rb: unmount" umount /mnt/rb
check "rb: remove" dmsetup remove --noudevsync rb

# The same, committed at the end: the newest data is there, intact.
boots rc /dev/vdd ""
(cd /mnt/rc && find . -type f | sort | xargs md5sum) > /tmp/rc.sums
check "rc: commit" dmsetup message rc 0 commit
check "rc: unmount" umount /mnt/rc
check "rc: remove" dmsetup remove --noudevsync rc
check "rc: e2fsck -fn clean on the committed device" quiet e2fsck -fn /dev/vdd
mount /dev/vdd /mnt/rc
expect_eq "rc: every file as before the commit ($(wc -l < /tmp/rc.sums) files)" \
	"$(cat /tmp/rc.sums)" "$(cd /mnt/rc && find . -type f | sort | xargs md5sum)"
umount /mnt/rc
