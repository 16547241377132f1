#!/bin/sh
# VM test: errors from the lower device in state 1 (see guest/ioerr.sh),
# then the host restores the image: the log left on the disk after a
# failed log write holds the two backups that were committed, and every
# block in use at the checkpoint comes back.  A device committed after a
# failed log write holds no checkpoint.  The device of the races restores
# to its checkpoint too.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"

vm_workdir ioerr "$top/tests/vm/guest/ioerr.sh"
head -c $((32 << 20)) /dev/urandom > "$work/data.img"
truncate -s 32M "$work/ckpt.img"
head -c $((8 << 20)) /dev/urandom > "$work/commit.img"
head -c $((8 << 20)) /dev/urandom > "$work/race.img"
truncate -s 8M "$work/race.ckpt"

vm_run "$work/console.log" "$work/guest" "$work/data.img" "$work/ckpt.img" \
	"$work/commit.img" "$work/race.img" "$work/race.ckpt"
vm_results "$work/console.log"

"$restore" -n -v "$work/data.img" > "$work/entries.out" 2>&1
expect_eq "the log holds the backups of blocks 0, 10, 11 and 100-139" \
	"0 80 88 $(seq -s ' ' 800 8 1112)" \
	"$(awk '/ entry / { print $6 }' "$work/entries.out" | sort -n | tr '\n' ' ' |
		sed 's/ $//')"
"$restore" "$work/data.img" > "$work/restore.out" 2>&1
expect_eq "bow-restore restores the image" 0 $?
check "blocks 0-4095 identical to the checkpoint" \
	cmp -s -n $((4096 * 4096)) "$work/data.img" "$work/ckpt.img"
"$restore" "$work/race.img" > "$work/race.out" 2>&1
expect_eq "bow-restore restores the image of the races" 0 $?
check "races: blocks 0-1023 identical to the checkpoint" \
	cmp -s -n $((1024 * 4096)) "$work/race.img" "$work/race.ckpt"
"$restore" "$work/commit.img" > "$work/commit.out" 2>&1
expect_eq "commit after a failed log write: no checkpoint left (exit 0)" \
	"0 1" "$? $(grep -c 'no checkpoint found' "$work/commit.out")"
