#!/bin/sh
# make check-debug: the VM suites on a debug kernel (see build.sh), which
# fail on any KASAN, lockdep, atomic-sleep or debug-objects report and on
# a kmemleak finding after the tests removed their devices.  The first
# run builds the kernel (cached outside the repository); later runs
# reuse it.  BOW_TESTS picks suites as for make check.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
start=$(date +%s)
out=$("$top/tests/debug-kernel/build.sh") || {
	not_ok "debug kernel builds"
	exit 1
}
src=$out/linux-source-6.1
echo "# debug kernel: $out (built in $(cat "$out/build-seconds") s; this run waited $(( $(date +%s) - start )) s for it)"
kver=$(make -s --no-print-directory -C "$src" kernelrelease)
mod=$top/build/debug-module
rm -rf "$mod"
warn=$("$top/tests/build-module.sh" "$src" "$mod" BOW_TESTING=y | grep -E 'warning|error')
expect_eq "dm-bow.ko builds for the debug kernel with no warning" "" "$warn"
# no5lvl: -cpu max offers 5-level paging, and this KASAN kernel booted
# with it under TCG reported wild accesses in early interrupt handling
# and hung in timer calibration, before any module loads (2026-12-05).
BOW_VM_KERNEL=$src/arch/x86/boot/bzImage BOW_VM_MODROOT=$out/root \
	BOW_VM_KO=$mod/dm-bow.ko BOW_VM_KVER=$kver BOW_VM_TIMEOUT=3600 \
	BOW_VM_APPEND="kmemleak=on no5lvl" \
	BOW_TESTS=${BOW_TESTS:-"raw ioerr ext4 rollback changed checkpoint stress crash powercut"} \
	"$top/tests/run-all.sh"
