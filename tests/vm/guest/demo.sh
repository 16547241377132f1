. ./guest-lib.sh
say() { echo; echo ">>> $*"; }
show() { echo "    \$ $*"; "$@" 2>&1 | sed 's/^/      /'; }

sectors=$(blockdev --getsz /dev/vdb)
say "Put dm-bow over /dev/vdb, which holds an ext4 file system"
show dmsetup create --noudevsync bow --table "0 $sectors bow /dev/vdb 1 block_size:4096"
dmsetup mknodes bow
S=$(bow_sys bow)
show mount /dev/mapper/bow /mnt
show cat /mnt/hello.txt
say "State 0 (trim): fstrim tells dm-bow which blocks are free"
show fstrim -v /mnt
show cat $S/free
say "State 1: checkpoint (dmsetup status: state, free, backed up, entries, log blocks, log commits, refused, moved, rw or fail)"
show sh -c "echo 1 > $S/state"
show dmsetup status bow
say "The update runs: it rewrites a file, deletes others, relabels the file system"
echo "version 2: the update that will fail" > /mnt/hello.txt
rm /mnt/photos/*
tune2fs -L updated /dev/mapper/bow > /dev/null
sync
show cat /mnt/hello.txt
show ls /mnt/photos
show dmsetup status bow
say "Power cut: no unmount, no commit"
