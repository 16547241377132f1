#!/bin/sh
# Install what the build and the tests need, on Debian 12, if missing.
# Run by 'make demo' and 'make check'; 'install-deps.sh bench' adds what
# 'make bench' needs.  Safe to run again.
set -eu

packages="build-essential kmod cpio qemu-system-x86 linux-image-amd64
linux-headers-amd64 busybox-static e2fsprogs dmsetup util-linux fdisk
sparse linux-source-6.1 clang python3-docutils groff-base man-db
libisal-dev libclang-rt-14-dev
flex bison bc libelf-dev libssl-dev
gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross
qemu-system-arm
libdevmapper-dev mmdebstrap xz-utils python3 dkms initramfs-tools-core
ovmf mtools dosfstools
rauc squashfs-tools openssl mender-artifact"
# make bench also draws its chart, and times bow-restore with GNU time.
if [ "${1:-}" = bench ]; then
	packages="gnuplot-nox time"
fi
# make deb: Debian's packaging tools.
if [ "${1:-}" = deb ]; then
	packages="dpkg-dev debhelper dh-dkms lintian libdevmapper-dev libisal-dev"
fi

# The cross builds (tests/cross) download Debian's kernel headers for
# arm64 and armhf: apt must know those architectures.
update=""
for a in arm64 armhf; do
	if ! dpkg --print-foreign-architectures | grep -qx "$a"; then
		[ "$(id -u)" -eq 0 ] && dpkg --add-architecture "$a" && update=1
	fi
done

missing=""
for p in $packages; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	     grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# Debian 12's newest 6.12 kernel headers (bookworm-security), for the
# build against 6.12 (tests/cross); their name carries the version.
# The lifecycle suite also boots it: its image, of the same version.
headers612=""
if ! ls -d /usr/src/linux-headers-6.12.*+deb12-amd64 >/dev/null 2>&1 ||
   ! ls /boot/vmlinuz-6.12.*+deb12-amd64 >/dev/null 2>&1; then
	headers612=1
fi
if [ -n "$missing" ] || [ -n "$update" ] || [ -n "$headers612" ]; then
	echo "install-deps: installing:$missing${headers612:+ linux-headers-6.12}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: not root: run as root or install them" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	# A mirror caught mid-sync fails one index (seen: bookworm-security
	# armhf), and apt then keeps none of that repository's new lists,
	# those of the other architectures included.  So update again one
	# architecture at a time, and go on with what that brings: a
	# package still missing makes the install below fail, naming it.
	if ! apt-get update -qq; then
		echo "install-deps: apt-get update failed for some index; again one architecture at a time" >&2
		for a in $(dpkg --print-foreign-architectures); do
			apt-get update -qq -o APT::Get::List-Cleanup=0 \
				-o APT::Architectures::="$(dpkg --print-architecture)" \
				-o APT::Architectures::="$a" ||
				echo "install-deps: apt-get update failed for $a; going on" >&2
		done
	fi
	if [ -n "$headers612" ]; then
		h=$(apt-cache search --names-only \
			'^linux-headers-6\.12\.[0-9]+\+deb12-amd64$' |
			cut -d' ' -f1 | sort -V | tail -n 1)
		v=${h#linux-headers-}
		# Signed or not, the same kernel; either is enough to boot.
		i=$(apt-cache search --names-only \
			"^linux-image-$v(-unsigned)?\$" | cut -d' ' -f1 |
			sort | head -n 1)
		missing="$missing $h $i"
	fi
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# The kernel we test in must have both an image and a build tree.
tests/vm/kernel-version >/dev/null
