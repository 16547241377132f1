#!/bin/sh
# VM test: bow-checkpoint (see guest/checkpoint.sh).  The host checks each
# copy of the checkpoint device against the reference copy: every block
# in use at the checkpoint the same bytes, every block free then zeroes.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"

vm_workdir checkpoint "$top/tests/vm/guest/checkpoint.sh"
mkdir -p "$work/tree/files"
make_files "$work/tree/files" 300 24 1024
truncate -s 64M "$work/fs.img" "$work/ref.img" "$work/during.img" "$work/full.img"
head -c $((64 << 20)) /dev/urandom > "$work/raw.img"
mkfs.ext4 -q -F -b 4096 -d "$work/tree" "$work/fs.img"

vm_run "$work/console.log" "$work/guest" "$work/fs.img" "$work/ref.img" \
	"$work/during.img" "$work/full.img" "$work/raw.img"
vm_results "$work/console.log"

ext4_in_use "$work/ref.img" > "$work/used"
for copy in during full; do
	out=$(python3 - "$work/ref.img" "$work/$copy.img" "$work/used" <<'PY'
import sys
ref, got = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
used = set(map(int, open(sys.argv[3]).read().split()))
blocks = len(ref) // 4096
bad_used = [b for b in sorted(used) if ref[b * 4096:(b + 1) * 4096] != got[b * 4096:(b + 1) * 4096]]
zero = bytes(4096)
bad_free = [b for b in range(blocks) if b not in used and got[b * 4096:(b + 1) * 4096] != zero]
print(len(used), len(bad_used), len(bad_free), bad_used[:3], bad_free[:3])
PY
)
	echo "# $copy: blocks in use, differing, free not zero: $out"
	expect_eq "$copy: every block in use at the checkpoint as the reference copy, every free one zeroes" \
		"0 0 [] []" "$(echo "$out" | cut -d' ' -f2-)"
done
