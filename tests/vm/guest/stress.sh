# Concurrency, lifecycle and stacking.  Disks (see t-stress.sh):
#   vdb/vdc  ext4: 8 concurrent writers and fsync storms / checkpoint copy
#   vdd      ext4: checkpoint and commit while writers run, suspend/resume
#            and reload under load
#   vde/vdf  dm-crypt over dm-bow (the Android stack) / checkpoint copy
#   vdg/vdh  dm-bow over dm-crypt / checkpoint copy
. ./guest-lib.sh
key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f

# writers <dir> <seconds>: 4 direct-I/O overwriters of existing files,
# 2 creators of small files with fsync, 4 racers on one block, 1 syncer,
# 1 trimmer (in state 1, space written since the checkpoint and freed
# again becomes free for backups while they are made).
writers()
{
	_d=$1 _t=$(( $(date +%s) + $2 ))
	for w in 1 2 3 4; do
		(
			n=0
			while [ "$(date +%s)" -lt $_t ]; do
				f=$_d/files/f$(( (n * 7 + w * 13) % 100 + 1 ))
				dd if=/dev/urandom of=$f bs=4K count=1 seek=$((n % 3)) conv=notrunc oflag=direct 2>/dev/null
				n=$((n + 1))
			done
		) &
	done
	for w in 1 2; do
		(
			n=0
			mkdir -p $_d/new$w
			while [ "$(date +%s)" -lt $_t ]; do
				dd if=/dev/urandom of=$_d/new$w/f$((n % 40)) bs=4K count=2 conv=fsync 2>/dev/null
				n=$((n + 1))
			done
		) &
	done
	for w in 1 2 3 4; do
		(
			while [ "$(date +%s)" -lt $_t ]; do
				dd if=/dev/urandom of=$_d/race bs=4K count=1 conv=notrunc oflag=direct 2>/dev/null
			done
		) &
	done
	(
		while [ "$(date +%s)" -lt $_t ]; do sync; done
	) &
	(
		while [ "$(date +%s)" -lt $_t ]; do
			fstrim $_d
			sleep 0.5
		done
	) &
}

# start <name> <dev> <copy>: mount, trim, checkpoint frozen, copy.
start()
{
	mkdir -p /mnt/$1
	check "$1: create" bow_create $1 $2 1 block_size:4096
	check "$1: mount" mount /dev/mapper/$1 /mnt/$1
	fstrim /mnt/$1
	fsfreeze -f /mnt/$1
	check "$1: checkpoint" dmsetup message $1 0 checkpoint
	[ -n "$3" ] && dd if=/dev/mapper/$1 of=$3 bs=1M iflag=direct oflag=direct
	fsfreeze -u /mnt/$1
}

# Two devices at once: writers on "conc" (restored on the host) while
# "life" goes through its states under load.
start conc /dev/vdb /dev/vdc
writers /mnt/conc 20
mkdir -p /mnt/life
check "life: create" bow_create life /dev/vdd 1 block_size:4096
check "life: mount" mount /dev/mapper/life /mnt/life
fstrim /mnt/life
writers /mnt/life 20
sleep 3
check "life: checkpoint under load" dmsetup message life 0 checkpoint
for i in 1 2 3; do
	dmsetup suspend --noudevsync life
	sleep 0.5
	dmsetup resume --noudevsync life
done
check "life: reload under load" dmsetup reload life --table "$(dmsetup table life)"
check "life: resume after reload" dmsetup resume --noudevsync life
if dmsetup remove --noudevsync life 2>/dev/null; then
	not_ok "life: remove refused while mounted"
else
	ok "life: remove refused while mounted"
fi
sleep 4
check "life: commit under load" dmsetup message life 0 commit
wait
expect_eq "life: state 2" 2 "$(cat "$(bow_sys life)/state")"
check "life: unmount" umount /mnt/life
check "life: remove" dmsetup remove --noudevsync life
check "life: e2fsck -fn clean after commit under load" quiet e2fsck -fn /dev/vdd
echo "# conc: $(dmsetup status conc)"
# Files written since the checkpoint, in space free then: removed and
# trimmed, that space is free for backups again.
free1=$(cat "$(bow_sys conc)/free")
rm -rf /mnt/conc/new1
sync
fstrim /mnt/conc
free2=$(cat "$(bow_sys conc)/free")
check "conc: files written since the checkpoint, removed and trimmed, free their space ($free1 -> $free2)" \
	[ "$free2" -gt "$free1" ]
check "conc: unmount" umount /mnt/conc
check "conc: remove" dmsetup remove --noudevsync conc

# dm-crypt over dm-bow: discards pass through crypt to bow; restore the
# ciphertext, then compare the decrypted file systems.
check "crypt-over: bow" bow_create cob /dev/vde 1 block_size:4096
sz=$(blockdev --getsz /dev/mapper/cob)
check "crypt-over: crypt" dmsetup create --noudevsync coc --table "0 $sz crypt aes-xts-plain64 $key 0 /dev/mapper/cob 0 1 allow_discards"
dmsetup mknodes coc
mkfs.ext4 -q -F -b 4096 /dev/mapper/coc
mkdir -p /mnt/coc
mount /dev/mapper/coc /mnt/coc
mkdir /mnt/coc/files
for i in $(seq 1 100); do dd if=/dev/urandom of=/mnt/coc/files/f$i bs=4K count=$((i % 4 + 1)) 2>/dev/null; done
sync
fstrim /mnt/coc
check "crypt-over: trims reached bow" [ "$(cat "$(bow_sys cob)/free")" -gt 0 ]
fsfreeze -f /mnt/coc
check "crypt-over: checkpoint" dmsetup message cob 0 checkpoint
dd if=/dev/mapper/cob of=/dev/vdf bs=1M iflag=direct oflag=direct
fsfreeze -u /mnt/coc
writers /mnt/coc 10
wait
umount /mnt/coc
dmsetup remove --noudevsync coc
dmsetup remove --noudevsync cob
bow-restore /dev/vde > /tmp/out 2>&1
expect_eq "crypt-over: bow-restore" 0 $?
dmsetup create --noudevsync cr1 --table "0 $sz crypt aes-xts-plain64 $key 0 /dev/vde 0"
dmsetup create --noudevsync cr2 --table "0 $sz crypt aes-xts-plain64 $key 0 /dev/vdf 0"
dmsetup mknodes
e2image -ra /dev/mapper/cr1 /tmp/a.e2i 2>/dev/null
e2image -ra /dev/mapper/cr2 /tmp/b.e2i 2>/dev/null
check "crypt-over: every block in use at the checkpoint restored" cmp -s /tmp/a.e2i /tmp/b.e2i
check "crypt-over: e2fsck -fn clean" quiet e2fsck -fn /dev/mapper/cr1
rm -f /tmp/a.e2i /tmp/b.e2i
dmsetup remove --noudevsync cr1
dmsetup remove --noudevsync cr2

# dm-bow over dm-crypt.
sz=$(blockdev --getsz /dev/vdg)
check "bow-over: crypt" dmsetup create --noudevsync boc --table "0 $sz crypt aes-xts-plain64 $key 0 /dev/vdg 0"
dmsetup create --noudevsync bcopy --table "0 $sz crypt aes-xts-plain64 $key 0 /dev/vdh 0"
dmsetup mknodes
mkfs.ext4 -q -F -b 4096 /dev/mapper/boc
mkdir -p /mnt/tmp
mount /dev/mapper/boc /mnt/tmp
mkdir /mnt/tmp/files
for i in $(seq 1 100); do dd if=/dev/urandom of=/mnt/tmp/files/f$i bs=4K count=$((i % 4 + 1)) 2>/dev/null; done
umount /mnt/tmp
expect_eq "bow-over: dm-crypt without allow_discards takes no discard" 0 \
	"$(cat /sys/block/$(dmsetup info -c --noheadings -o blkdevname boc)/queue/discard_max_bytes)"
start bob /dev/mapper/boc /dev/mapper/bcopy
check "bow-over: fstrim frees space in bow all the same" [ "$(cat "$(bow_sys bob)/free")" -gt 0 ]
writers /mnt/bob 10
wait
umount /mnt/bob
dmsetup remove --noudevsync bob
bow-restore /dev/mapper/boc > /tmp/out 2>&1
expect_eq "bow-over: bow-restore on the decrypted device" 0 $?
e2image -ra /dev/mapper/boc /tmp/a.e2i 2>/dev/null
e2image -ra /dev/mapper/bcopy /tmp/b.e2i 2>/dev/null
check "bow-over: every block in use at the checkpoint restored" cmp -s /tmp/a.e2i /tmp/b.e2i
check "bow-over: e2fsck -fn clean" quiet e2fsck -fn /dev/mapper/boc
dmsetup remove --noudevsync boc
dmsetup remove --noudevsync bcopy

# A checkpoint through sysfs that races the removal of the device: the
# low-water event it raises (low_water above all the free space) must not
# outlive the device.  A kernel with KASAN (make check-debug) reports a
# use after free if it does; here every round must end with the device
# gone and, if the checkpoint won, a log that restores.
truncate -s 8M /tmp/race.img
/sbin/losetup -f /tmp/race.img
lo=$(/sbin/losetup -j /tmp/race.img | cut -d: -f1)
rounds=0
for i in $(seq 1 10); do
	bow_create lr $lo 2 block_size:4096 low_water:1099511627776 || break
	blkdiscard -o $((1024 * 1024)) -l $((1024 * 1024)) /dev/mapper/lr
	echo 1 > "$(bow_sys lr)/state" 2>/dev/null &
	dmsetup remove --noudevsync lr 2>/dev/null ||
		{ wait; dmsetup remove --noudevsync lr; }
	wait
	bow-restore $lo > /dev/null 2>&1
	case $? in 0|1) rounds=$((rounds + 1)) ;; esac
done
expect_eq "lifetime: 10 checkpoints raced with removal, device gone each time" \
	"10 " "$rounds $(dmsetup ls | grep -v 'No devices found' | grep lr)"
/sbin/losetup -d $lo
