#!/bin/sh
# VM test: crash consistency (issue: a power cut at any moment never loses
# the checkpoint).  The guest runs fsync-heavy, sequential and concurrent
# writes on a checkpoint while QEMU records every write and flush; the
# host replays the record into every crash state and rolls each back.
# The ordered run takes its checkpoint up again halfway (table option
# resume, as a reboot would) and goes on: the crash states span the
# resume, the trim after it and the moves of backups and the free-space
# map.  The same workload on a target whose ordering flushes are turned
# off must give bad states: the check can catch the bug it exists for.
# BOW_CRASH_SEED and BOW_CRASH_SUBSETS vary the sampling.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"

vm_workdir crash "$top/tests/vm/guest/crash.sh"
mkdir -p "$work/tree/files"
make_files "$work/tree/files" 100 6 4096
head -c 2M /dev/urandom > "$work/tree/big"
for n in ordered broken fua; do
	truncate -s 24M "$work/$n.img"
	mkfs.ext4 -q -F -b 4096 -J size=4 -d "$work/tree" "$work/$n.img"
	cp "$work/$n.img" "$work/$n.base"
	truncate -s 24M "$work/$n.ckpt"
done

# The FUA runs: dm-log-writes in the guest writes their logs on one
# disk, 256 MiB each; their base is the zeroes null_blk starts with.
truncate -s 512M "$work/fua.logs"
truncate -s 24M "$work/fua-ordered.ckpt" "$work/fua-broken.ckpt" "$work/zero.base"
vm_run "$work/console.log" "$work/guest" \
	"logged:$work/ordered.img:$work/ordered.log" "$work/ordered.ckpt" \
	"logged:$work/broken.img:$work/broken.log" "$work/broken.ckpt" \
	"$work/fua.img" "$work/fua.logs" "$work/fua-ordered.ckpt" \
	"$work/fua-broken.ckpt"
vm_results "$work/console.log"
dd if="$work/fua.logs" of="$work/fua-ordered.log" bs=1M count=256 status=none
dd if="$work/fua.logs" of="$work/fua-broken.log" bs=1M skip=256 status=none
for n in fua-ordered fua-broken; do
	cp "$work/zero.base" "$work/$n.base"
done

cc -std=c11 -Wall -Wextra -Werror -O2 -o "$work/crashcheck" \
	"$top/tests/crash/crashcheck.c" "$top"/bow-restore/lib/*.c "$top/dm-bow-rules.c" -lisal
seed=${BOW_CRASH_SEED:-$(date +%s)}
for n in ordered broken fua-ordered fua-broken; do
	dumpe2fs "$work/$n.ckpt" 2>/dev/null |
		sed -n 's/^  Free blocks: //p' | tr ',' '\n' | tr -d ' ' \
		> "$work/$n.free"
	expect=""
	case $n in *broken) expect=--expect-bad ;; esac
	"$work/crashcheck" --name "$n" --base "$work/$n.base" \
		--log "$work/$n.log" --ckpt "$work/$n.ckpt" \
		--free "$work/$n.free" --subsets "${BOW_CRASH_SUBSETS:-3}" \
		--seed "$seed" $expect ||
		not_ok "$n: crashcheck ran (exit $?)"
done
