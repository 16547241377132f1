#!/bin/sh
# Build, once, a small kernel from Debian's linux-source-6.1 with the
# debugging Debian's kernel lacks: KASAN, lockdep (PROVE_LOCKING),
# DEBUG_ATOMIC_SLEEP, kmemleak and DEBUG_OBJECTS, plus what the VM tests
# need.  It is cached outside the repository, in $BOW_DEBUG_CACHE
# (default /var/cache/dm-bow-debug-kernel), keyed by the source package's
# version and this script's checksum, so repeat runs skip the build.
# Prints the directory holding bzImage, the build tree and the modules.
set -e
top=$(cd "$(dirname "$0")/../.." && pwd)
cache=${BOW_DEBUG_CACHE:-/var/cache/dm-bow-debug-kernel}
ver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
key=$(cat "$0" | md5sum | cut -c1-8)
out=$cache/$ver-$key
if [ -e "$out/done" ]; then
	echo "$out"
	exit 0
fi
rm -rf "$out"
mkdir -p "$out"
tar -C "$out" -xf /usr/src/linux-source-6.1.tar.xz
src=$out/linux-source-6.1
cd "$src"
make -s x86_64_defconfig >&2
# shellcheck disable=SC2046
scripts/config \
	-e KASAN -e KASAN_GENERIC -e KASAN_INLINE \
	-e PROVE_LOCKING -e DEBUG_ATOMIC_SLEEP -e DEBUG_LOCKDEP \
	-e DEBUG_KMEMLEAK -d DEBUG_KMEMLEAK_DEFAULT_OFF \
	--set-val DEBUG_KMEMLEAK_MEM_POOL_SIZE 40000 \
	-e DEBUG_OBJECTS -e DEBUG_OBJECTS_FREE -e DEBUG_OBJECTS_TIMERS \
	-e DEBUG_OBJECTS_WORK -e DEBUG_OBJECTS_RCU_HEAD \
	-e DEBUG_OBJECTS_PERCPU_COUNTER -e DEBUG_LIST -e DEBUG_SG \
	-e PANIC_ON_OOPS -d DEBUG_INFO -d DEBUG_INFO_BTF \
	-e MODULES -e MODULE_UNLOAD -d MODULE_SIG \
	-e VIRTIO -e VIRTIO_PCI -e VIRTIO_BLK -e BLK_DEV_LOOP \
	-e MD -e BLK_DEV_DM -e DM_CRYPT -e DM_SNAPSHOT -e DM_LOG_WRITES -e DM_DELAY \
	-e CRYPTO_XTS -e CRYPTO_AES -e EXT4_FS -e DEVTMPFS \
	-e BLK_DEV_INITRD -e SERIAL_8250 -e SERIAL_8250_CONSOLE \
	-d DRM -d SOUND -d USB_SUPPORT -d WLAN -d WIRELESS -d NETDEVICES \
	-d HID -d INPUT_JOYSTICK -d INPUT_TABLET -d INPUT_TOUCHSCREEN
make -s olddefconfig >&2
start=$(date +%s)
make -s -j"$(nproc)" bzImage modules >&2
make -s modules_install INSTALL_MOD_PATH="$out/root" >&2
echo "$(( $(date +%s) - start ))" > "$out/build-seconds"
touch "$out/done"
echo "$out"
