#!/bin/sh
# VM test: crafted logs, valid by every rule, shaped to cost the kernel
# memory (see guest/crafted.sh).  The host writes them with
# tests/craft-log.c: a free-space map of one-block ranges over every
# other block of a 64 GiB device (sparse: 130 MiB of it written), and a
# 3000-entry log over 64 MiB.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"

vm_workdir crafted "$top/tests/vm/guest/crafted.sh"
${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -o "$work/craft-log" \
	"$top/tests/craft-log.c" "$top/bow-restore/libbowrestore.a" -lisal ||
	not_ok "craft-log builds"
truncate -s 64G "$work/map.img"
expect_eq "the 64 GiB image: its free ranges, log blocks, map blocks" \
	"8388607 1 33027" "$("$work/craft-log" "$work/map.img" 2 0)"
truncate -s 64M "$work/log.img"
expect_eq "the 64 MiB image: its free ranges, log blocks, map blocks" \
	"8191 18 33" "$("$work/craft-log" "$work/log.img" 2 3000)"

vm_run "$work/console.log" "$work/guest" "$work/map.img" "$work/log.img"
vm_results "$work/console.log"
rm -f "$work/map.img"
