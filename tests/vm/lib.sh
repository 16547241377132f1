# Host-side helpers for VM tests.  Source it; needs $top (the checkout).
#
# A test writes a guest script, calls vm_run with its disks, then checks
# the console output and the disk images the guest left behind.

: "${top:?}"
. "$top/tests/lib.sh"

# The kernel to boot: Debian's, or the debug kernel of 'make check-debug'
# (BOW_VM_KERNEL: its bzImage, BOW_VM_MODROOT: where its modules are
# installed, BOW_VM_KO: dm-bow.ko built for it, BOW_VM_KVER: its release).
# The VMs load the test build of dm-bow.ko (tests/build-module.sh).
# BOW_VM_ARCH=arm64: Debian's arm64 kernel of the same ABI under
# qemu-system-aarch64, with its tools (tests/arm64/prepare.sh) and the
# test build of dm-bow.ko cross-built for it (tests/cross/prepare.sh).
# The host restores and checks the images with its own (x86) bow-restore.
if [ "${BOW_VM_ARCH:-}" = arm64 ]; then
	_arm64=$("$top/tests/arm64/prepare.sh") || exit 1
	_src=$("$top/tests/cross/prepare.sh" arm64) || exit 1
	BOW_VM_KVER=$(cat "$_arm64/kver")
	BOW_VM_KERNEL=$_arm64/root/boot/vmlinuz-$BOW_VM_KVER
	BOW_VM_MODROOT=$_arm64/root
	BOW_VM_KO=$top/build/test-module-arm64/dm-bow.ko
	export BOW_VM_SYSROOT="$_arm64/root" BOW_VM_RESTORE="$_arm64/bow-restore"
	export BOW_VM_CC=aarch64-linux-gnu-gcc BOW_VM_MODROOT
	# shellcheck disable=SC2046
	"$top/tests/build-module.sh" "$_src" "$(dirname "$BOW_VM_KO")" \
		$(cat "$_src/../make-args") BOW_TESTING=y > /dev/null || exit 1
fi
kver=${BOW_VM_KVER:-$("$top/tests/vm/kernel-version")}
vm_kernel=${BOW_VM_KERNEL:-/boot/vmlinuz-$kver}
vm_ko=${BOW_VM_KO:-$top/build/test-module/dm-bow.ko}
vm_dir=$top/build/vm${BOW_VM_KVER:+-$BOW_VM_KVER}
mkdir -p "$vm_dir"
restore=$top/bow-restore/bow-restore

# vm_ko_stale: the test build is missing, or was built from sources other
# than the checkout's (tests/build-module.sh keeps copies beside it).
vm_ko_stale()
{
	[ -e "$vm_ko" ] || return 0
	for _f in $(make -s --no-print-directory -C "$top" module-sources); do
		cmp -s "$top/$_f" "${vm_ko%/*}/$_f" || return 0
	done
	return 1
}
# A suite run on its own (tests/vm/t-*.sh, tests/run-all.sh) tests the
# checkout, not whatever was built last: the test build of dm-bow.ko,
# bow-restore and bowctl are brought up to date first, one suite at a
# time.
if [ -z "${BOW_VM_KO:-}" ]; then
	if ! flock "$top/build/.test-build.lock" sh -c '
		if [ "$1" = stale ]; then
			make -s --no-print-directory -C "$2" test-module || exit 1
		fi
		make -s --no-print-directory -C "$2/bow-restore" &&
		make -s --no-print-directory -C "$2/bowctl" bowctl' \
		sh "$(vm_ko_stale && echo stale)" "$top" \
		> "$top/build/test-build.log" 2>&1; then
		not_ok "the test build of dm-bow.ko, bow-restore and bowctl (build/test-build.log)"
		exit 1
	fi
fi

# vm_workdir <name> <guest script or directory of parts>: $work is
# $vm_dir/<name>, emptied, with the guest script (or the parts, joined)
# as $work/guest/run.sh (for vm_run).
vm_workdir()
{
	work=$vm_dir/$1
	rm -rf "$work"
	mkdir -p "$work/guest"
	if [ -d "$2" ]; then
		# A suite in parts (NN-name.sh): one script, in their order,
		# each part named where it starts.
		for _part in "$2"/[0-9][0-9]-*.sh; do
			echo "# --- ${_part##*/}"
			cat "$_part"
		done > "$work/guest/run.sh"
	else
		cp "$2" "$work/guest/run.sh"
	fi
}

# make_files <dir> <count> <max units> <unit bytes>: files f1..f<count>
# of random bytes, file i of (i * 7919 % <max> + 1) units.
make_files()
{
	mkdir -p "$1"
	_i=1
	while [ $_i -le "$2" ]; do
		head -c $(( (_i * 7919 % $3 + 1) * $4 )) /dev/urandom > "$1/f$_i"
		_i=$((_i + 1))
	done
}

# The bowctl the initramfs holds: the checkout's, but on arm64 (whose
# root has no libdevmapper to link with) none.
vm_bowctl()
{
	if [ -n "${BOW_VM_SYSROOT:-}" ]; then
		echo /dev/null
	else
		echo "$top/bowctl/bowctl"
	fi
}

# The initramfs for what goes into it: named by a hash of those inputs,
# so that a run with another module (BOW_VM_KO: an old build, to see a
# test fail) never leaves its initramfs for the next run to boot.
vm_initramfs()
{
	vm_initrd=$vm_dir/initramfs-$(cat "$vm_ko" \
		"${BOW_VM_RESTORE:-$top/bow-restore/bow-restore}" \
		"$(vm_bowctl)" \
		"$top/tests/vm/init" "$top/tests/vm/mkinitramfs.sh" \
		"$top/tests/bowio.c" | md5sum | cut -c1-12).cpio.gz
	[ -e "$vm_initrd" ] && return
	# Suites side by side may both build it: each under a name of its
	# own, then renamed over (QEMU keeps what it opened).  Those of
	# other inputs go, but for the last few hours' (a suite may still
	# be booting one).
	_tmp=$(mktemp "$vm_dir/initramfs.XXXXXX")
	if BOW_KO=$vm_ko BOW_VM_BOWCTL=$(vm_bowctl) "$top/tests/vm/mkinitramfs.sh" "$kver" "$_tmp"; then
		mv "$_tmp" "$vm_initrd"
	else
		rm -f "$_tmp"
	fi
	find "$vm_dir" -maxdepth 1 -name 'initramfs*.cpio.gz' -mmin +180 \
		-delete
}

# vm_run <console-log> <guest-dir> [disk...]
# Boots the VM with <guest-dir> (run.sh and helpers) as /dev/vda and each
# disk as the next virtio disk (/dev/vdb, /dev/vdc, ...).  A disk is an
# image file, or "logged:<image>:<log>": the image behind QEMU's
# blklogwrites driver, which records every write and flush the guest
# sends, in completion order, in <log> (dm-log-writes format).
# BOW_VM_CACHE sets the host cache mode of the images (writeback),
# BOW_VM_MEM the guest's memory in MiB (1024).
vm_run()
{
	log=$1
	guest=$2
	shift 2
	vm_initramfs
	# The control disk beside the console log: one a run, as suites
	# run side by side.
	tar cf "$log.control.tar" -C "$guest" . \
		-C "$top/tests/vm" guest-lib.sh -C "$top/tests" lib.sh
	n=0
	disks="-blockdev driver=file,filename=$log.control.tar,node-name=d0,read-only=on"
	disks="$disks -device virtio-blk-pci,drive=d0"
	for disk in "$@"; do
		n=$((n + 1))
		cache=${BOW_VM_CACHE:-writeback}
		direct=off
		[ "$cache" = none ] && direct=on
		case $disk in
		logged:*)
			img=${disk#logged:}
			img=${img%%:*}
			wlog=${disk##*:}
			: > "$wlog"
			disks="$disks -blockdev driver=file,filename=$img,node-name=f$n,discard=unmap,cache.direct=$direct"
			disks="$disks -blockdev driver=file,filename=$wlog,node-name=l$n"
			disks="$disks -blockdev driver=blklogwrites,file=f$n,log=l$n,node-name=d$n,log-sector-size=512,discard=unmap"
			;;
		*)
			disks="$disks -blockdev driver=file,filename=$disk,node-name=d$n,discard=unmap,cache.direct=$direct"
			;;
		esac
		disks="$disks -device virtio-blk-pci,drive=d$n"
	done
	# Empty the console log now, not in the background job: a caller
	# polling it must never read the previous run's lines.
	: > "$log"
	qemu=qemu-system-x86_64
	accel="-accel tcg -cpu max"
	console=ttyS0
	if [ "${BOW_VM_KVM:-0}" = 1 ]; then
		accel="-accel kvm -cpu host"
	fi
	if [ "${BOW_VM_ARCH:-}" = arm64 ]; then
		qemu=qemu-system-aarch64
		accel="-M virt -accel tcg -cpu max"
		console=ttyAMA0
	fi
	# shellcheck disable=SC2086
	timeout "${BOW_VM_TIMEOUT:-900}" $qemu $accel \
		-m "${BOW_VM_MEM:-1024}" -smp 2 -nodefaults -display none -no-reboot \
		-serial stdio -monitor none \
		-kernel "$vm_kernel" \
		-initrd "$vm_initrd" \
		-append "console=$console loglevel=5 panic=-1 oops=panic ${BOW_VM_APPEND:-}" \
		$disks < /dev/null > "$log" 2>&1 &
	vm_pid=$!
	if [ -n "${BOW_VM_BACKGROUND:-}" ]; then
		return 0
	fi
	wait $vm_pid
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "# qemu exited with status $rc" >> "$log"
	fi
	return 0
}

# vm_start: vm_run in the background; $vm_pid is timeout's process (its
# child is QEMU: kill them both with vm_power_cut).
vm_start()
{
	BOW_VM_BACKGROUND=1 vm_run "$@"
}

# vm_power_cut: kill QEMU at once, as a power cut would stop the guest.
vm_power_cut()
{
	pkill -KILL -P "$vm_pid" 2>/dev/null
	kill -KILL "$vm_pid" 2>/dev/null
	wait "$vm_pid" 2>/dev/null
}

# ext4_in_use <image>: the blocks its file system has in use (all but
# those dumpe2fs lists free), on one line.
ext4_in_use()
{
	dumpe2fs "$1" 2>/dev/null | python3 -c '
import re, sys
free, blocks = set(), 0
for line in sys.stdin:
    m = re.match(r"Block count:\s+(\d+)", line)
    if m:
        blocks = int(m.group(1))
    m = re.match(r"\s+Free blocks: (.*)", line)
    if m:
        for part in filter(None, m.group(1).split(", ")):
            a, _, b = part.partition("-")
            free.update(range(int(a), int(b or a) + 1))
print(" ".join(str(b) for b in range(blocks) if b not in free))'
}

# same_in_use <image> <checkpoint copy>: every block the file system of
# the checkpoint copy has in use is byte-identical in <image> (e2image -ra
# writes just those blocks).
same_in_use()
{
	e2image -ra "$1" "$1.e2i" 2>/dev/null &&
		e2image -ra "$2" "$2.e2i" 2>/dev/null &&
		cmp -s "$1.e2i" "$2.e2i"
	_r=$?
	rm -f "$1.e2i" "$2.e2i"
	return $_r
}

# vm_results <console-log>: report the guest's ok/not ok lines, and one
# more for the kernel log: no BUG (KASAN's too), WARNING or INFO report
# (lockdep's begin so), Oops, debug-objects report, panic or kmemleak
# finding, and the guest reached its end.  (Not the bare word lockdep:
# a lockdep kernel prints it in its boot banner.)
vm_results()
{
	log=$1
	sed -n 's/\r$//; /^=== guest start/,/^=== guest end/p' "$log" |
		grep -E '^(not )?ok - |^# '
	if ! grep -q '^=== dmesg end' "$log"; then
		not_ok "guest ran to the end ($(basename "$log"))"
		tail -n 40 "$log" | sed 's/^/#   /'
	elif grep -nE 'BUG:|WARNING:|Oops|INFO: possible|ODEBUG:|Kernel panic|general protection|Call Trace|unreferenced object' "$log" >/dev/null; then
		not_ok "guest kernel log clean ($(basename "$log"))"
		grep -nE -B2 -A12 'BUG:|WARNING:|Oops|INFO: possible|ODEBUG:|Kernel panic|general protection|Call Trace|unreferenced object' "$log" |
			head -n 60 | sed 's/^/#   /'
	else
		ok "guest kernel log clean ($(basename "$log"))"
	fi
}
