#!/bin/sh
# VM test: ext4 on dm-bow (see guest/ext4.sh).  The host then restores
# the images and checks that every block in use at the checkpoint is
# back: e2image -ra of the restored image and of the checkpoint copy
# (which holds exactly the in-use blocks) must be byte-identical.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"

vm_workdir ext4 "$top/tests/vm/guest/ext4.sh"
mkdir -p "$work/tree/files"

# A few hundred files of 1 to 24 KiB.
make_files "$work/tree/files" 400 24 1024

mkfs() # <image> <size> <ext4 block size>
{
	rm -f "$1"
	truncate -s "$2" "$1"
	mkfs.ext4 -q -F -L ckpt -b "$3" -d "${tree:-$work/tree}" "$1"
}
mkfs "$work/crash.img" 64M 4096
mkfs "$work/inguest.img" 64M 4096
mkfs "$work/commit.img" 64M 4096
cp -r "$work/tree" "$work/bigtree"
head -c 16M /dev/urandom > "$work/bigtree/large"
tree=$work/bigtree mkfs "$work/big.img" 160M 4096
mkfs "$work/bs1k.img" 48M 1024
mkfs "$work/bs512.img" 48M 4096
# Half full: overwriting every file needs more backup space than is free.
mkfs "$work/full.img" 12M 4096
for n in crash inguest big bs1k bs512 full; do
	truncate -s "$(stat -c %s "$work/$n.img")" "$work/$n.ckpt"
done

vm_run "$work/console.log" "$work/guest" \
	"$work/crash.img" "$work/crash.ckpt" \
	"$work/inguest.img" "$work/inguest.ckpt" \
	"$work/commit.img" \
	"$work/big.img" "$work/big.ckpt" \
	"$work/bs1k.img" "$work/bs1k.ckpt" \
	"$work/bs512.img" "$work/bs512.ckpt" \
	"$work/full.img" "$work/full.ckpt"
vm_results "$work/console.log"


# The big workload must have made the file system write over backups:
# some entry's dest is the source of a newer entry (a move).  Entries are
# listed newest first.
"$restore" -n -v "$work/big.img" > "$work/big.entries" 2>&1
moved=$(awk '/ entry / {
	for (s = $8; s < $8 + $10; s += 8) if (s in src) moved++
	for (s = $6; s < $6 + $10; s += 8) src[s] = 1
} END { print moved + 0 }' "$work/big.entries")
check "big: the file system wrote over backups ($moved blocks moved)" \
	[ "$moved" -gt 0 ]
# The first 3000 blocks of /large, overwritten one bio each: every one
# backed up by exactly one one-block entry.
debugfs -R "blocks /large" "$work/big.ckpt" 2>/dev/null | tr ' ' '\n' |
	head -n 3000 > "$work/large.blocks"
expect_eq "big: 3000 one-block first overwrites, 3000 entries" "3000 3000" \
	"$(awk 'NR == FNR { want[$1] = 1; next }
		/ entry / && $10 == 8 && ($6 / 8) in want { n++; seen[$6] = 1 }
		END { print n + 0, length(seen) }' \
		"$work/large.blocks" "$work/big.entries")"

"$restore" -n -v "$work/crash.img" > "$work/crash.entries" 2>&1
# Corrupted copies of the crashed image are refused, untouched.
corrupt() # <what> <byte offset> <expected status> <expected words>
{
	cp "$work/crash.img" "$work/bad.img"
	printf '\377' | dd of="$work/bad.img" bs=1 seek="$2" conv=notrunc status=none
	sum=$(md5sum < "$work/bad.img")
	"$restore" "$work/bad.img" > "$work/bad.out" 2>&1
	status=$?
	if [ $status -eq "$3" ] && grep -q "$4" "$work/bad.out" &&
	   [ "$sum" = "$(md5sum < "$work/bad.img")" ]; then
		ok "crashed image, $1: exit $3, '$4', untouched"
	else
		not_ok "crashed image, $1: exit $3, '$4', untouched (got $status: $(cat "$work/bad.out"))"
	fi
}
corrupt "header version" 5 4 "header_version 0xff00"
corrupt "header count" 15 4 "count "
# Entries start at header_size: 60, the header and its extension.
corrupt "entry 1 size" $((60 + 24 + 16)) 4 "are not whole"
corrupt "entry 1 checksum" $((60 + 24 + 23)) 5 "entry 1: checksum"
# The newest entry's backup (listed first) cannot have been moved since.
line=$(grep -m1 ' entry ' "$work/crash.entries")
dest=$(echo "$line" | awk '{ print $8 * 512 }')
corrupt "backed-up data of the newest entry" $((dest + 4000)) 5 \
	"entry $(echo "$line" | awk '{ print $4 }') checksum of sectors"

for n in crash big bs1k bs512 full; do
	"$restore" "$work/$n.img" > "$work/$n.restore" 2>&1
	expect_eq "$n: bow-restore on the host" 0 $?
done
for n in crash inguest big bs1k bs512 full; do
	check "$n: checkpoint copy is a clean file system" \
		quiet e2fsck -fn "$work/$n.ckpt"
	check "$n: e2fsck -fn clean after restore" \
		quiet e2fsck -fn "$work/$n.img"
	check "$n: every block in use at the checkpoint restored" \
		same_in_use "$work/$n.img" "$work/$n.ckpt"
	expect_eq "$n: label restored" ckpt "$(e2label "$work/$n.img")"
done

