#!/bin/sh
# VM test: the message "changed" (see guest/changed.sh).  The host checks
# the ext4 listing: every block in use at the checkpoint or after the
# workload whose bytes differ from the checkpoint copy is in it.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"

vm_workdir changed "$top/tests/vm/guest/changed.sh"
truncate -s 128M "$work/raw.img"
mkdir -p "$work/tree/files"
make_files "$work/tree/files" 200 24 1024
truncate -s 64M "$work/fs.img" "$work/fs.ckpt"
mkfs.ext4 -q -F -b 4096 -d "$work/tree" "$work/fs.img"
truncate -s 1M "$work/listing"

vm_run "$work/console.log" "$work/guest" "$work/raw.img" "$work/fs.img" \
	"$work/fs.ckpt" "$work/listing"
vm_results "$work/console.log"

ext4_in_use "$work/fs.ckpt" > "$work/used.ckpt"
ext4_in_use "$work/fs.img" > "$work/used.now"
out=$(python3 - "$work/fs.ckpt" "$work/fs.img" "$work/listing" \
	"$work/used.ckpt" "$work/used.now" <<'PY'
import sys
ckpt, now = open(sys.argv[1], "rb"), open(sys.argv[2], "rb")
listed = set()
for line in open(sys.argv[3], "rb").read().rstrip(b"\0").decode().split("\n"):
    if line:
        start, n = map(int, line.split())
        listed.update(range(start // 8, (start + n) // 8))
used = set(map(int, open(sys.argv[4]).read().split()))
used |= set(map(int, open(sys.argv[5]).read().split()))
differ = [b for b in sorted(used)
          if ckpt.seek(b * 4096) is not None and now.seek(b * 4096) is not None
          and ckpt.read(4096) != now.read(4096)]
missed = [b for b in differ if b not in listed]
print(len(differ), len(listed), len(missed), missed[:5])
PY
)
echo "# ext4: blocks in use that differ from the checkpoint, blocks listed, missed: $out"
expect_eq "ext4: every block in use that differs from the checkpoint is listed" \
	"0 []" "$(echo "$out" | cut -d' ' -f3-)"
check "ext4: the workload changed blocks" [ "$(echo "$out" | cut -d' ' -f1)" -gt 100 ]
