# Crash consistency: a recorded workload on a checkpoint, for the host to
# replay into every crash state (see tests/crash/crashcheck.c).
#   vdb/vdc  the target as it is / checkpoint copy
#   vdd/vde  the target with debug_skip_flush=1 / checkpoint copy
#   vdf/vdg  the file system for the FUA runs / the FUA runs' logs
#   vdh/vdi  the checkpoint copies of the FUA runs
# vdb and vdd are behind QEMU's blklogwrites: every write and flush the
# guest sends them is recorded on the host.  virtio-blk has no FUA, so
# dm-bow flushes there; the FUA runs put dm-bow on a device with a cache
# and FUA (null_blk), behind the kernel's dm-log-writes, which records
# FUA too (QEMU 7.2 turns a guest's FUA into a flush).
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

# fua_logged <name> <log offset MiB> <null_blk>: /dev/mapper/<name>, 24
# MiB of /dev/nullb<n> (a cache, FUA) behind dm-log-writes logging to vdg
# at that offset, holding the file system of vdf: the image goes in
# through it, made durable by a flush, so that the log holds the whole
# history.
sectors=$((24 << 11))
fua_logged()
{
	_start=$(($2 << 11))
	dmsetup create --noudevsync $1-log --table \
		"0 $((256 << 11)) linear /dev/vdg $_start"
	dmsetup mknodes $1-log
	dmsetup create --noudevsync $1 --table \
		"0 $sectors log-writes /dev/nullb$3 /dev/mapper/$1-log"
	dmsetup mknodes
	dd if=/dev/vdf of=/dev/mapper/$1 bs=1M oflag=direct conv=fsync 2> /dev/null
}
check "fua: null_blk, two devices with a cache and FUA" load_extra null_blk \
	gb=1 memory_backed=1 cache_size=64 nr_devices=2
fua_logged lw-ordered 0 0
fua_logged lw-broken 256 1
expect_eq "fua: dm-log-writes over null_blk has FUA" "1 1" \
	"$(for n in lw-ordered lw-broken; do
		cat "/sys/block/$(dmsetup info -c --noheadings -o blkdevname $n)/queue/fua"
	done | tr '\n' ' ' | sed 's/ $//')"
run fua-ordered /dev/mapper/lw-ordered /dev/vdh resume
echo 1 > /sys/module/dm_bow/parameters/debug_skip_flush
run fua-broken /dev/mapper/lw-broken /dev/vdi
echo 0 > /sys/module/dm_bow/parameters/debug_skip_flush
for n in lw-ordered lw-broken; do
	check "$n: the log complete" dmsetup remove --noudevsync $n
	dmsetup remove --noudevsync $n-log
done
