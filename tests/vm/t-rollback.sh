#!/bin/sh
# VM test: rollback in the kernel (see guest/rollback.sh).  The host runs
# bow-restore on the ext4 image as it was before the kernel rolled it
# back: the two results must be the same bytes, and the checkpoint's.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"

vm_workdir rollback "$top/tests/vm/guest/rollback.sh"
head -c $((4 << 20)) /dev/urandom > "$work/small.img"
truncate -s 4M "$work/scratch.img"
mkdir -p "$work/tree/files"
make_files "$work/tree/files" 200 24 1024
truncate -s 32M "$work/fs.img"
mkfs.ext4 -q -F -b 4096 -d "$work/tree" "$work/fs.img"
truncate -s 32M "$work/fs.ckpt" "$work/fs.before"

vm_run "$work/console.log" "$work/guest" "$work/small.img" \
	"$work/scratch.img" "$work/fs.img" "$work/fs.ckpt" "$work/fs.before"
vm_results "$work/console.log"

"$restore" "$work/fs.before" > "$work/restore.out" 2>&1
expect_eq "ext4: bow-restore of the image before the rollback" 0 $?
check "ext4: the kernel's rollback and bow-restore's, byte-identical" \
	cmp "$work/fs.img" "$work/fs.before"
check "ext4: every block in use at the checkpoint restored" \
	same_in_use "$work/fs.img" "$work/fs.ckpt"
check "ext4: e2fsck -fn clean" quiet e2fsck -fn "$work/fs.img"
