#!/bin/sh
# Prepare, once, a kernel tree to cross-build dm-bow.ko for Debian's
# kernel of another architecture, and print its path:
#
#   prepare.sh arm64|armhf
#
# The tree is Debian's linux-source-6.1 with the .config and the
# Module.symvers of Debian's own headers package for that architecture
# and ABI (the one of the amd64 kernel the VM tests boot), so that the
# module is built the way that kernel was, and modpost knows every symbol
# that kernel exports: a symbol dm-bow.ko needs and the kernel does not
# export (a 64-bit division helper on 32-bit ARM) fails the build.  It is
# cached outside the checkout, under $BOW_CROSS_CACHE (default
# /var/cache/dm-bow/cross), keyed by the source package's version, the
# architecture and this script's checksum.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
arch=$1
case $arch in
arm64)	karch=arm64 flavour=arm64 cross=aarch64-linux-gnu- ;;
armhf)	karch=arm flavour=armmp cross=arm-linux-gnueabihf- ;;
*)	echo "prepare.sh: unknown architecture $arch" >&2; exit 2 ;;
esac
cache=${BOW_CROSS_CACHE:-/var/cache/dm-bow/cross}
ver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
key=$(md5sum < "$0" | cut -c1-8)
out=$cache/$ver-$arch-$key
# One builder at a time (suites run side by side: tests/run-all.sh);
# the others wait, then find it done.
mkdir -p "$cache"
exec 9> "$cache/.lock"
flock 9
if [ -e "$out/done" ]; then
	echo "$out/linux-source-6.1"
	exit 0
fi
# The ABI of the kernel under test: 6.1.0-57 of 6.1.0-57-amd64.
abi=$("$top/tests/vm/kernel-version" | sed 's/-[a-z0-9]*$//')
rm -rf "$out"
mkdir -p "$out/deb"
# Where apt cannot have that ABI's headers for this architecture (an
# index of the mirror broken mid-sync, seen for bookworm-security armhf),
# the newest it can have: their .config and exports differ from the
# kernel's under test by the fixes between the two ABIs.
if ! (cd "$out/deb" && apt-get download -qq \
	"linux-headers-$abi-$flavour:$arch" 2>/dev/null); then
	newest=$(apt-cache search --names-only \
		"^linux-headers-6\.1\.0-[0-9]+-$flavour\$" 2>/dev/null |
		cut -d' ' -f1 | sort -V | tail -n 1)
	echo "prepare.sh: no linux-headers-$abi-$flavour:$arch to be had; using ${newest:-none}" >&2
	abi=${newest#linux-headers-}
	abi=${abi%-"$flavour"}
	(cd "$out/deb" && apt-get download -qq "$newest:$arch" 2>/dev/null)
fi
dpkg-deb -x "$out"/deb/*.deb "$out/headers"
hdr=$out/headers/usr/src/linux-headers-$abi-$flavour
tar -C "$out" -xf /usr/src/linux-source-6.1.tar.xz
src=$out/linux-source-6.1
cp "$hdr/.config" "$src/.config"
cp "$hdr/Module.symvers" "$src/Module.symvers"
make -s -C "$src" ARCH=$karch CROSS_COMPILE=$cross olddefconfig >&2
make -s -C "$src" ARCH=$karch CROSS_COMPILE=$cross -j"$(nproc)" \
	modules_prepare >&2
# The release Debian's kernel was built as (6.1.0-57-arm64, not the
# source's 6.1.192): module builds read it from here, and the module's
# vermagic must match it to load.
cp "$hdr/include/config/kernel.release" "$src/include/config/"
cp "$hdr/include/generated/utsrelease.h" "$src/include/generated/"
echo "ARCH=$karch CROSS_COMPILE=$cross" > "$out/make-args"
touch "$out/done"
echo "$src"
