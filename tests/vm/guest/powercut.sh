# Real power cuts: the host kills QEMU at a random moment of this
# workload, after "=== checkpointed" appears.  vdb data, vdc its
# checkpoint copy.  Both disks bypass the host's cache (cache.direct).
. ./guest-lib.sh
mkdir -p /mnt/p
bow_create p /dev/vdb 1 block_size:4096
mount /dev/mapper/p /mnt/p
fstrim /mnt/p
fsfreeze -f /mnt/p
dmsetup message p 0 checkpoint
dd if=/dev/mapper/p of=/dev/vdc bs=1M iflag=direct oflag=direct
sync
fsfreeze -u /mnt/p
echo "=== checkpointed"
for round in 1 2 3 4 5 6 7 8; do
	for w in 1 2 3; do
		(
			for f in $(ls /mnt/p/files | sed -n "$((w * 30)),$((w * 30 + 29))p"); do
				dd if=/dev/urandom of=/mnt/p/files/$f bs=4K count=2 seek=$((round % 3)) conv=notrunc,fsync
			done
		) &
	done
	dd if=/dev/urandom of=/mnt/p/big bs=256K count=4 seek=$round conv=notrunc
	mkdir -p /mnt/p/new$round
	for i in $(seq 1 20); do
		dd if=/dev/urandom of=/mnt/p/new$round/f$i bs=4K count=3
	done
	wait
done
echo "=== workload done"
