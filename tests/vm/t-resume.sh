#!/bin/sh
# VM test: a checkpoint of ext4 that survives reboots (see
# guest/resume.sh).  The host restores the rolled-back image and checks
# every block in use at the checkpoint, and that the committed one is a
# clean file system with no log left.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"

vm_workdir resume "$top/tests/vm/guest/resume.sh"
mkdir -p "$work/tree/files"
make_files "$work/tree/files" 300 24 1024
for n in rb rc; do
	truncate -s 64M "$work/$n.img"
	mkfs.ext4 -q -F -b 4096 -d "$work/tree" "$work/$n.img"
done
truncate -s 64M "$work/rb.ckpt"

vm_run "$work/console.log" "$work/guest" \
	"$work/rb.img" "$work/rb.ckpt" "$work/rc.img"
vm_results "$work/console.log"

"$restore" "$work/rb.img" > "$work/rb.out" 2>&1
expect_eq "rolled back: bow-restore after three boots of changes" 0 $?
check "rolled back: every block in use at the checkpoint restored" \
	same_in_use "$work/rb.img" "$work/rb.ckpt"
check "rolled back: e2fsck -fn clean" quiet e2fsck -fn "$work/rb.img"
check "committed: e2fsck -fn clean" quiet e2fsck -fn "$work/rc.img"
"$restore" -n "$work/rc.img" > "$work/rc.out" 2>&1
expect_eq "committed: no log left" "0 1" \
	"$? $(grep -c 'no checkpoint found' "$work/rc.out")"
