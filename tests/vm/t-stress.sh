#!/bin/sh
# VM test: concurrency, lifecycle and stacking (see guest/stress.sh).
# The host restores the concurrently written image, compares every block
# in use at the checkpoint, and checks from the log that the block four
# writers raced on was backed up exactly once.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"

vm_workdir stress "$top/tests/vm/guest/stress.sh"
mkdir -p "$work/tree/files"
make_files "$work/tree/files" 100 4 4096
head -c 4096 /dev/urandom > "$work/tree/race"
for n in conc life; do
	truncate -s 48M "$work/$n.img"
	mkfs.ext4 -q -F -b 4096 -d "$work/tree" "$work/$n.img"
done
for n in conc.ckpt cob.img cob.ckpt boc.img boc.ckpt; do
	truncate -s 48M "$work/$n"
done

vm_run "$work/console.log" "$work/guest" \
	"$work/conc.img" "$work/conc.ckpt" "$work/life.img" \
	"$work/cob.img" "$work/cob.ckpt" "$work/boc.img" "$work/boc.ckpt"
vm_results "$work/console.log"

"$restore" -n -v "$work/conc.img" > "$work/conc.entries" 2>&1
race=$(debugfs -R "blocks /race" "$work/conc.ckpt" 2>/dev/null | tr -d ' ')
expect_eq "conc: the block 4 writers raced on was backed up exactly once" 1 \
	"$(awk -v s=$((race * 8)) '/ entry / && $6 == s { n++ } END { print n + 0 }' "$work/conc.entries")"
"$restore" "$work/conc.img" > "$work/conc.out" 2>&1
expect_eq "conc: bow-restore after 8 concurrent writers" 0 $?
check "conc: every block in use at the checkpoint restored" \
	same_in_use "$work/conc.img" "$work/conc.ckpt"
check "conc: e2fsck -fn clean" quiet e2fsck -fn "$work/conc.img"
