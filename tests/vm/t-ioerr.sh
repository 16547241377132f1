#!/bin/sh
# VM test: errors from the lower device in state 1 (see guest/ioerr.sh),
# then the host restores the image: the log left on the disk after a
# failed log write holds the two backups that were committed, and every
# block in use at the checkpoint comes back.  A device committed after a
# failed log write holds no checkpoint.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"

vm_workdir ioerr "$top/tests/vm/guest/ioerr.sh"
head -c $((32 << 20)) /dev/urandom > "$work/data.img"
truncate -s 32M "$work/ckpt.img"
head -c $((8 << 20)) /dev/urandom > "$work/commit.img"

vm_run "$work/console.log" "$work/guest" "$work/data.img" "$work/ckpt.img" \
	"$work/commit.img"
vm_results "$work/console.log"

"$restore" -n -v "$work/data.img" > "$work/entries.out" 2>&1
expect_eq "the log holds block 0's backup and those of blocks 10 and 11" \
	"0 80 88" \
	"$(awk '/ entry / { print $6 }' "$work/entries.out" | sort -n | tr '\n' ' ' |
		sed 's/ $//')"
"$restore" "$work/data.img" > "$work/restore.out" 2>&1
expect_eq "bow-restore restores the image" 0 $?
check "blocks 0-4095 identical to the checkpoint" \
	cmp -s -n $((4096 * 4096)) "$work/data.img" "$work/ckpt.img"
"$restore" "$work/commit.img" > "$work/commit.out" 2>&1
expect_eq "commit after a failed log write: no checkpoint left" 1 $?
