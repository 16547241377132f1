#!/bin/sh
# VM test: raw device semantics (see guest/raw.sh), then the host restores
# the image and compares every block not free at the checkpoint.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"

vm_workdir raw "$top/tests/vm/guest/raw.sh"
head -c $((32 << 20)) /dev/urandom > "$work/data.img"
truncate -s 32M "$work/ckpt.img"
head -c $((8 << 20)) /dev/urandom > "$work/small.img"
truncate -s 8M "$work/small.ckpt"

vm_run "$work/console.log" "$work/guest" "$work/data.img" "$work/ckpt.img" \
	"$work/small.img" "$work/small.ckpt"
vm_results "$work/console.log"

"$restore" "$work/data.img" > "$work/restore.out" 2>&1
expect_eq "bow-restore restores the raw image" 0 $?

# Blocks free at the checkpoint: 1024-4095; every other block must be as
# it was.
same()	# <first block> <count>
{
	cmp -s -n $(($2 * 4096)) -i $(($1 * 4096)):$(($1 * 4096)) \
		"$work/data.img" "$work/ckpt.img"
}
for range in "0 1024" "4096 4096"; do
	# shellcheck disable=SC2086
	check "blocks $range (first, count) identical to the checkpoint" same $range
done

"$restore" "$work/data.img" > "$work/restore2.out" 2>&1
expect_eq "a second restore finds no checkpoint" 1 $?

"$restore" "$work/small.img" > "$work/small.out" 2>&1
expect_eq "small: restore after ENOSPC" 0 $?
# Free at the checkpoint: blocks 100-109.
cmp -s -n $((100 * 4096)) "$work/small.img" "$work/small.ckpt" &&
	cmp -s -i $((110 * 4096)):$((110 * 4096)) "$work/small.img" "$work/small.ckpt"
expect_eq "small: every block in use at the checkpoint restored" 0 $?
