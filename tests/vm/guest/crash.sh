# Crash consistency: a recorded workload on a checkpoint, for the host to
# replay into every crash state (see tests/crash/crashcheck.c).
#   vdb/vdc  the target as it is / checkpoint copy
#   vdd/vde  the target with debug_skip_flush=1 / checkpoint copy
# vdb and vdd are behind QEMU's blklogwrites: every write and flush the
# guest sends them is recorded on the host.
. ./guest-lib.sh

workload()
{
	m=$1
	# fsync-heavy small files
	for i in $(seq 1 40); do
		dd if=/dev/urandom of=$m/s$i bs=4K count=$((1 + i % 4)) conv=fsync
	done
	# overwrites of existing files, each made durable
	for f in $(ls $m/files | head -n 40); do
		dd if=/dev/urandom of=$m/files/$f bs=4K count=1 conv=notrunc,fsync
	done
	# a large sequential overwrite
	dd if=/dev/urandom of=$m/big bs=256K count=8 conv=notrunc,fsync
	# concurrent writers
	for w in 1 2 3 4; do
		(
			for f in $(ls $m/files | sed -n "$((40 + w * 10)),$((49 + w * 10))p"); do
				dd if=/dev/urandom of=$m/files/$f bs=4K count=2 conv=notrunc,fsync
			done
		) &
	done
	wait
	sync
}

# run <name> <dev> <checkpoint copy> [resume]: with "resume", the
# checkpoint is taken up again after the workload, as by a reboot
# (unmount, remove, resume, mount, trim), and the workload runs once
# more; backups, the free-space map and the live block 0 go lowest first,
# where ext4 writes, so that they move, in both halves.
run()
{
	n=$1 dev=$2 ckpt=$3
	[ -n "${4:-}" ] && echo 1 > /sys/module/dm_bow/parameters/debug_alloc_lowest
	mkdir -p /mnt/$n
	check "$n: create" bow_create $n $dev 1 block_size:4096
	check "$n: mount" mount /dev/mapper/$n /mnt/$n
	check "$n: fstrim" fstrim /mnt/$n
	fsfreeze -f /mnt/$n
	check "$n: checkpoint" dmsetup message $n 0 checkpoint
	dd if=/dev/mapper/$n of=$ckpt bs=1M iflag=direct oflag=direct
	fsfreeze -u /mnt/$n
	workload /mnt/$n
	if [ -n "${4:-}" ]; then
		check "$n: unmount" umount /mnt/$n
		check "$n: remove" dmsetup remove --noudevsync $n
		check "$n: resume" bow_create $n $dev 2 block_size:4096 resume
		check "$n: mount the resumed device" mount /dev/mapper/$n /mnt/$n
		check "$n: fstrim the resumed device" fstrim /mnt/$n
		workload /mnt/$n
	fi
	echo "# $n: $(bow_status $n 4) log entries, $(bow_status $n 5) log blocks, $(bow_status $n 8) bytes moved"
	check "$n: unmount" umount /mnt/$n
	check "$n: remove" dmsetup remove --noudevsync $n
	echo 0 > /sys/module/dm_bow/parameters/debug_alloc_lowest
}

run ordered /dev/vdb /dev/vdc resume
echo 1 > /sys/module/dm_bow/parameters/debug_skip_flush
run broken /dev/vdd /dev/vde
echo 0 > /sys/module/dm_bow/parameters/debug_skip_flush
