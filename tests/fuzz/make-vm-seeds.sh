#!/bin/sh
# Write tests/fuzz/corpus/vm-*.img: small logs from the real target in the
# VM (see guest-seeds.sh).  Run by hand when the format or the target's
# way of writing it changes; the corpus is committed.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"
vm_workdir seeds "$top/tests/fuzz/guest-seeds.sh"
head -c 1M /dev/urandom > "$work/disk.img"
vm_run "$work/console.log" "$work/guest" "$work/disk.img"
vm_results "$work/console.log"
dd if="$work/disk.img" of="$top/tests/fuzz/corpus/vm-bs512.img" bs=512 skip=0 count=128 status=none
dd if="$work/disk.img" of="$top/tests/fuzz/corpus/vm-bs1k.img" bs=512 skip=128 count=256 status=none
dd if="$work/disk.img" of="$top/tests/fuzz/corpus/vm-bs4k.img" bs=512 skip=384 count=256 status=none
for f in "$top"/tests/fuzz/corpus/vm-*.img; do
	"$top/bow-restore/bow-restore" -n "$f" | head -n 1
done
