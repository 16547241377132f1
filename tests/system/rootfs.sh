#!/bin/sh
# Print the path of a Debian 12 root file system tarball with systemd as
# PID 1, built once with mmdebstrap and kept under /var/cache/dm-bow
# (outside the checkout: a clean clone reuses it).  The file name carries
# a hash of what it is built from, so a change of packages builds anew.
set -eu

packages="systemd,systemd-sysv,systemd-boot,udev,e2fsprogs,dmsetup,kmod,util-linux,libisal2,initramfs-tools,rauc,rauc-service,dbus,swupdate,mender-client"
args="--variant=minbase --include=$packages bookworm"
cache=${BOW_CACHE:-/var/cache/dm-bow}/rootfs
key=$(printf '%s\n' "mmdebstrap $args" | sha256sum | cut -c1-16)
tar=$cache/bookworm-$key.tar
# One builder at a time (suites run side by side: tests/run-all.sh);
# the others wait, then find it done.
mkdir -p "$cache"
exec 9> "$cache/.lock"
flock 9

if [ ! -s "$tar" ]; then
	echo "rootfs: building $tar (mmdebstrap, several minutes)" >&2
	# mmdebstrap picks the format by the name: it must end in .tar.
	part=$cache/partial-$key.tar
	rm -rf "$part"
	# shellcheck disable=SC2086
	mmdebstrap --quiet $args "$part" >&2
	mv "$part" "$tar"
fi
echo "$tar"
