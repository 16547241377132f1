#!/bin/sh
# VM test: raw device semantics (see guest/raw.sh), then the host restores
# the image and compares every block not free at the checkpoint.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"

work=$vm_dir/raw
rm -rf "$work"
mkdir -p "$work/guest"
cp "$top/tests/vm/guest/raw.sh" "$work/guest/run.sh"
head -c $((32 << 20)) /dev/urandom > "$work/data.img"
truncate -s 32M "$work/ckpt.img"

vm_run "$work/console.log" "$work/guest" "$work/data.img" "$work/ckpt.img"
vm_results "$work/console.log"

restore="$top/bow-restore/bow-restore"
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
