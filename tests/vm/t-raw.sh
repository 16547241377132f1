#!/bin/sh
# VM test: raw device semantics (see guest/raw/, its parts run in the
# order of their numbers in one boot), then the host restores the image
# and compares every block not free at the checkpoint.
#
# On x86 it keeps the image as the guest left it, log and all, in
# build/raw-log-x86.img (and its checkpoint copy); on arm64
# (BOW_VM_ARCH=arm64) it gives that image to the guest as /dev/vdf, whose
# bow-restore restores it: logs cross architectures both ways.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"

vm_workdir raw "$top/tests/vm/guest/raw"
head -c $((32 << 20)) /dev/urandom > "$work/data.img"
truncate -s 32M "$work/ckpt.img"
head -c $((8 << 20)) /dev/urandom > "$work/small.img"
truncate -s 8M "$work/small.ckpt"

x86log=$top/build/raw-log-x86
foreign=
if [ -n "${BOW_VM_ARCH:-}" ]; then
	if [ -e "$x86log.img" ]; then
		cp "$x86log.img" "$work/x86.img"
		foreign=$work/x86.img
	else
		not_ok "the x86 raw suite ran first: its log is what $BOW_VM_ARCH restores"
	fi
fi

vm_run "$work/console.log" "$work/guest" "$work/data.img" "$work/ckpt.img" \
	"$work/small.img" "$work/small.ckpt" $foreign
vm_results "$work/console.log"

if [ -z "${BOW_VM_ARCH:-}" ]; then
	# Whole or not at all: raw-arm64 may copy it next.
	cp "$work/data.img" "$x86log.img.tmp" && mv "$x86log.img.tmp" "$x86log.img"
	cp "$work/ckpt.img" "$x86log.ckpt"
fi

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
expect_eq "a second restore finds no checkpoint (exit 0)" "0 1" \
	"$? $(grep -c 'no checkpoint found' "$work/restore2.out")"

"$restore" "$work/small.img" > "$work/small.out" 2>&1
expect_eq "small: restore after ENOSPC" 0 $?
# Free at the checkpoint: blocks 100-110.
cmp -s -n $((100 * 4096)) "$work/small.img" "$work/small.ckpt" &&
	cmp -s -i $((111 * 4096)):$((111 * 4096)) "$work/small.img" "$work/small.ckpt"
expect_eq "small: every block in use at the checkpoint restored" 0 $?

if [ -n "$foreign" ]; then
	check "the x86 kernel's log, restored on $BOW_VM_ARCH: blocks 0-1023 and 4096-8191 as at its checkpoint" \
		sh -c "cmp -s -n $((1024 * 4096)) '$foreign' '$x86log.ckpt' &&
			cmp -s -i $((4096 * 4096)):$((4096 * 4096)) '$foreign' '$x86log.ckpt'"
fi
