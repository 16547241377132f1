#!/bin/sh
# make demo: the whole story once, narrated.  A checkpoint, a change, a
# power cut, bow-restore on the host image, and the check that it worked.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"

vm_workdir demo "$top/tests/vm/guest/demo.sh"
mkdir -p "$work/tree/photos"
echo "version 1: the system that works" > "$work/tree/hello.txt"
for i in 1 2 3 4 5; do
	head -c 200000 /dev/urandom > "$work/tree/photos/img$i.jpg"
done
truncate -s 64M "$work/disk.img"
mkfs.ext4 -q -F -b 4096 -L factory -d "$work/tree" "$work/disk.img"
cp "$work/disk.img" "$work/before.img"

echo ">>> Host: made $work/disk.img, ext4 labelled 'factory'; booting the VM"
vm_run "$work/console.log" "$work/guest" "$work/disk.img"
sed -n 's/\r$//; /^=== guest start/,/^=== guest end/p' "$work/console.log" |
	grep -v '^=== '
echo
echo ">>> Host: the VM is off.  The image holds the update and the log:"
echo "    \$ bow-restore --dry-run disk.img"
"$restore" --dry-run "$work/disk.img" | sed 's/^/      /'
echo ">>> Roll back"
echo "    \$ bow-restore disk.img"
"$restore" "$work/disk.img" | sed 's/^/      /'
echo ">>> Check"
echo "    hello.txt: $(debugfs -R 'cat /hello.txt' "$work/disk.img" 2>/dev/null)"
echo "    photos:    $(debugfs -R 'ls -p /photos' "$work/disk.img" 2>/dev/null |
	awk -F/ '$6 ~ /jpg/ { printf "%s ", $6 }')"
echo "    label:     $(e2label "$work/disk.img")"
if e2fsck -fn "$work/disk.img" > /dev/null 2>&1; then
	echo "    e2fsck -fn: clean"
else
	echo "    e2fsck -fn: ERRORS"
	exit 1
fi
