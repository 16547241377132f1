#!/bin/sh
# Prepare, once, what the VM tests need to run on arm64 (BOW_VM_ARCH=arm64
# in tests/vm/lib.sh), and print the directory that holds it:
#
#   root/            Debian's arm64 packages, unpacked: the kernel of the
#                    ABI the amd64 tests boot (6.1.0-57-arm64), its
#                    modules (depmod run), busybox, dmsetup, GNU dd,
#                    util-linux, e2fsprogs and their libraries
#   bow-restore      bow-restore built for arm64 (with ISA-L from root/)
#   kver             the kernel release
#
# It is cached outside the checkout, under $BOW_ARM64_CACHE (default
# /var/cache/dm-bow/arm64), keyed by the kernel ABI, the checksums of
# this script, of bow-restore's sources and of the flags they share.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cache=${BOW_ARM64_CACHE:-/var/cache/dm-bow/arm64}
abi=$("$top/tests/vm/kernel-version" | sed 's/-[a-z0-9]*$//')
kver=$abi-arm64
key=$(cat "$0" "$top"/bow-restore/Makefile "$top"/bow-restore/*.[ch] \
	"$top"/bow-restore/lib/*.[ch] "$top"/dm-bow-format.h "$top"/dm-bow-rules.[ch] \
	"$top/userspace.mk" |
	md5sum | cut -c1-8)
out=$cache/$kver-$key
# One builder at a time (suites run side by side: tests/run-all.sh);
# the others wait, then find it done.
mkdir -p "$cache"
exec 9> "$cache/.lock"
flock 9
if [ -e "$out/done" ]; then
	echo "$out"
	exit 0
fi
rm -rf "$out"
mkdir -p "$out/deb" "$out/root"
packages="linux-image-$kver-unsigned busybox-static dmsetup
libdevmapper1.02.1 libselinux1 libpcre2-8-0 libudev1 libc6 coreutils
libacl1 libattr1 libgmp10 libssl3 util-linux libblkid1 libmount1
libsmartcols1 libuuid1 libcap-ng0 libaudit1 libtinfo6 libcrypt1 mount
e2fsprogs libext2fs2 libcom-err2 libss2 libisal2 libisal-dev"
# shellcheck disable=SC2046
(cd "$out/deb" && apt-get download -qq $(for p in $packages; do
	echo "$p:arm64"; done) 2>&1 | grep -v unsandboxed >&2 || true)
for d in "$out"/deb/*.deb; do
	dpkg-deb -x "$d" "$out/root"
done
depmod -b "$out/root" "$kver"
# A copy of the sources, so that the checkout's own build is untouched.
mkdir -p "$out/src/bow-restore/lib"
cp "$top"/bow-restore/Makefile "$top"/bow-restore/*.[ch] "$out/src/bow-restore/"
cp "$top"/bow-restore/lib/*.[ch] "$out/src/bow-restore/lib/"
cp "$top/dm-bow-format.h" "$top"/dm-bow-rules.[ch] "$top/userspace.mk" "$out/src/"
# The project's flags (userspace.mk), ISA-L's arm64 headers and library.
make -s -C "$out/src/bow-restore" CC=aarch64-linux-gnu-gcc \
	CPPFLAGS="-I$out/root/usr/include" \
	LDFLAGS="-L$out/root/usr/lib/aarch64-linux-gnu" bow-restore >&2
cp "$out/src/bow-restore/bow-restore" "$out/bow-restore"
echo "$kver" > "$out/kver"
touch "$out/done"
echo "$out"
