#!/bin/sh
# VM test: races between a queued write and a discard of its blocks, and
# between a write to block 0 held in a log commit and a move of the live
# block 0; and the old chain of a moved free-space map given back (see
# guest/races.sh).  The guest checks every outcome itself.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"

vm_workdir races "$top/tests/vm/guest/races.sh"
head -c $((16 << 20)) /dev/urandom > "$work/data.img"
truncate -s 16M "$work/ckpt.img"
head -c $((8 << 20)) /dev/urandom > "$work/b0.img"
head -c $((8 << 20)) /dev/urandom > "$work/fm.img"

vm_run "$work/console.log" "$work/guest" "$work/data.img" "$work/ckpt.img" \
	"$work/b0.img" "$work/fm.img"
vm_results "$work/console.log"
