#!/bin/sh
# Build the test VM's initramfs: busybox, the kernel modules the tests
# need (with their dependencies, from Debian's kernel), dm-bow.ko, the
# dynamically linked tools with their libraries, and bowio.
#
#   mkinitramfs.sh <kernel version> <output.cpio.gz>
# BOW_KO: the dm-bow.ko to put in (default: the test build, see
# tests/build-module.sh); BOW_VM_BOWCTL: the bowctl to put in, if any;
# BOW_VM_MODROOT: the root the kernel's modules are installed under.
# For another architecture (tests/arm64/prepare.sh): BOW_VM_SYSROOT, the
# root its tools, libraries and busybox are unpacked under (all of its
# libraries go in: ldd cannot run its binaries); BOW_VM_RESTORE, its
# bow-restore; BOW_VM_CC, its C compiler.
set -eu

kver=$1
out=$2
top=$(cd "$(dirname "$0")/../.." && pwd)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root/bin" "$root/sbin" "$root/proc" "$root/sys" "$root/dev" \
	"$root/tmp" "$root/mnt" "$root/run" "$root/lib/modules" "$root/etc"
sys=${BOW_VM_SYSROOT:-}
cp "$sys/bin/busybox" "$root/bin/busybox"

# Modules, in load order, each once.
mods="virtio_pci virtio_blk dm-mod ext4 loop dm-snapshot dm-log-writes dm-crypt xts
dm-delay"
: > "$root/etc/modules"
for m in $mods; do
	modprobe -d "${BOW_VM_MODROOT:-/}" -S "$kver" --show-depends "$m" |
		awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r ko; do
	name=$(basename "$ko")
	cp "$ko" "$root/lib/modules/$name"
	echo "$name" >> "$root/etc/modules"
done
# Modules a test loads itself, with parameters of its own: in
# /lib/modules/extra, in load order in /etc/modules.extra.
mkdir -p "$root/lib/modules/extra"
: > "$root/etc/modules.extra"
for m in null_blk; do
	modprobe -d "${BOW_VM_MODROOT:-/}" -S "$kver" --show-depends "$m" |
		awk '$1 == "insmod" { print $2 }'
done | while read -r ko; do
	name=$(basename "$ko")
	grep -qx "$name" "$root/etc/modules" && continue
	cp "$ko" "$root/lib/modules/extra/$name"
	echo "$name" >> "$root/etc/modules.extra"
done
cp "${BOW_KO:-$top/build/test-module/dm-bow.ko}" "$root/lib/modules/dm-bow.ko"
echo dm-bow.ko >> "$root/etc/modules"

# Tools and their libraries.  GNU dd, unlike busybox dd, uses aligned
# buffers, so oflag=direct really sends one bio of exactly bs bytes.
tools="/usr/sbin/dmsetup /usr/sbin/mke2fs /usr/sbin/e2fsck /usr/sbin/tune2fs
/usr/sbin/dumpe2fs /usr/sbin/e2image /usr/sbin/debugfs /usr/sbin/fstrim
/usr/sbin/fsfreeze /usr/sbin/losetup /usr/sbin/blkdiscard /usr/bin/dd
/usr/sbin/blkid /usr/bin/flock"
for t in $tools; do
	# Unpacked packages keep their own /sbin, /bin (no merged /usr).
	for d in /usr/sbin /sbin /usr/bin /bin; do
		if [ -e "$sys$d/$(basename "$t")" ]; then
			cp "$sys$d/$(basename "$t")" "$root/sbin/"
			break
		fi
	done
	[ -e "$root/sbin/$(basename "$t")" ] || { echo "no $t" >&2; exit 1; }
done
cp "${BOW_VM_RESTORE:-$top/bow-restore/bow-restore}" "$root/sbin/"
# bowctl, for its changed command (none on arm64: BOW_VM_BOWCTL=/dev/null).
if [ "${BOW_VM_BOWCTL:-/dev/null}" != /dev/null ]; then
	cp "$BOW_VM_BOWCTL" "$root/sbin/"
fi
if [ -n "$sys" ]; then
	for d in lib usr/lib; do
		find "$sys/$d" -maxdepth 2 -name '*.so*' | while read -r lib; do
			dest=$root/${lib#"$sys"/}
			mkdir -p "$(dirname "$dest")"
			cp -P "$lib" "$dest"
		done
	done
else
	for t in "$root"/sbin/*; do
		ldd "$t" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }'
	done | sort -u | while read -r lib; do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
fi
ln -s mke2fs "$root/sbin/mkfs.ext4"
# Our block workload tool (tests/bowio.c), static: exact requests, raced
# in one io_submit().
${BOW_VM_CC:-gcc} -std=c11 -O2 -Wall -Wextra -Werror -static -o "$root/sbin/bowio" \
	"$top/tests/bowio.c"

cp "$top/tests/vm/init" "$root/init"
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 > "$out"
