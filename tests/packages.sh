#!/bin/sh
# make deb: both packages build with Debian's tools, lintian reports no
# error, each holds exactly its files, and dm-bow-tools installs with dpkg
# into the lifecycle suite's Debian 12 root file system and runs there.
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/lib.sh"
deb=$top/build/deb
v=$(make -s --no-print-directory -C "$top" version)

make -s -C "$top" deb > "$top/build/deb.log" 2>&1
rc=$?
expect_eq "make deb succeeds, lintian finds no error" 0 $rc
[ $rc -eq 0 ] || tail -n 30 "$top/build/deb.log" | sed 's/^/#   /'
lintian "$deb"/*.changes > "$top/build/lintian.log" 2>&1
expect_eq "lintian: no error and no warning" "" \
	"$(grep -E '^[EW]: ' "$top/build/lintian.log")"

contents()
{
	dpkg -c "$1" | awk '{ print $6 }' | grep -v '/$' | sort | tr '\n' ' '
}
expect_eq "dm-bow-dkms holds the module's sources and dkms.conf" \
	"./usr/share/doc/dm-bow-dkms/changelog.gz ./usr/share/doc/dm-bow-dkms/copyright ./usr/src/dm-bow-$v/Kbuild ./usr/src/dm-bow-$v/dkms.conf ./usr/src/dm-bow-$v/dm-bow-checkpoint.c ./usr/src/dm-bow-$v/dm-bow-copy.c ./usr/src/dm-bow-$v/dm-bow-format.h ./usr/src/dm-bow-$v/dm-bow-io.c ./usr/src/dm-bow-$v/dm-bow-log.c ./usr/src/dm-bow-$v/dm-bow-metadata.c ./usr/src/dm-bow-$v/dm-bow-ranges.c ./usr/src/dm-bow-$v/dm-bow-ranges.h ./usr/src/dm-bow-$v/dm-bow-rules.c ./usr/src/dm-bow-$v/dm-bow-rules.h ./usr/src/dm-bow-$v/dm-bow-scrub.c ./usr/src/dm-bow-$v/dm-bow-state.c ./usr/src/dm-bow-$v/dm-bow-target.c ./usr/src/dm-bow-$v/dm-bow-vext.c ./usr/src/dm-bow-$v/dm-bow-vext.h ./usr/src/dm-bow-$v/dm-bow.h " \
	"$(contents "$deb/dm-bow-dkms_${v}_all.deb")"
expect_eq "dm-bow-dkms's dkms.conf carries the version" \
	"PACKAGE_VERSION=\"$v\"" \
	"$(dpkg-deb --fsys-tarfile "$deb/dm-bow-dkms_${v}_all.deb" |
		tar -xO "./usr/src/dm-bow-$v/dkms.conf" | grep ^PACKAGE_VERSION)"
expect_eq "dm-bow-dkms depends on dkms" "dkms (>= 2.1.0.0)" \
	"$(dpkg-deb -f "$deb/dm-bow-dkms_${v}_all.deb" Depends)"
arch=$(dpkg --print-architecture)
tools=$deb/dm-bow-tools_${v}_$arch.deb
expect_eq "dm-bow-tools holds the tools, units, generator and pages" \
	"./usr/lib/dm-bow/bow-hook ./usr/lib/dm-bow/mender-state-script ./usr/lib/dm-bow/mender-systemd-boot ./usr/lib/dm-bow/rauc-mark-good.conf ./usr/lib/dm-bow/rauc-pre-install ./usr/lib/dm-bow/swupdate-pre-install ./usr/lib/dm-bow/systemd-boot-slot ./usr/lib/systemd/system-generators/bow-generator ./usr/lib/systemd/system/bow-checkpoint@.service ./usr/lib/systemd/system/bow-commit@.service ./usr/lib/systemd/system/bow-setup@.service ./usr/lib/systemd/system/bow-watch@.service ./usr/sbin/bow-restore ./usr/sbin/bowctl ./usr/share/doc/dm-bow-tools/changelog.gz ./usr/share/doc/dm-bow-tools/copyright ./usr/share/initramfs-tools/hooks/dm-bow ./usr/share/initramfs-tools/scripts/local-block/dm-bow ./usr/share/initramfs-tools/scripts/local-bottom/dm-bow ./usr/share/initramfs-tools/scripts/local-top/dm-bow ./usr/share/man/man5/bowtab.5.gz ./usr/share/man/man8/bow-restore.8.gz ./usr/share/man/man8/bowctl.8.gz " \
	"$(contents "$tools")"
expect_eq "dm-bow-tools depends on the libraries it links, not dkms" 0 \
	"$(dpkg-deb -f "$tools" Depends | grep -c dkms)"

# Installed as a user would, with dpkg, on the Debian 12 system.
tar=$("$top/tests/system/rootfs.sh") || exit 1
root=$top/build/deb-root
rm -rf "$root"
mkdir -p "$root"
tar -xf "$tar" -C "$root"
cp "$tools" "$root/tmp/"
chroot "$root" dpkg -i "/tmp/$(basename "$tools")" > "$top/build/dpkg.log" 2>&1
expect_eq "dpkg -i dm-bow-tools on Debian 12" 0 $?
expect_eq "... which rebuilds initramfs images (the hook came)" 1 \
	"$(grep -c '^Processing triggers for initramfs-tools' "$top/build/dpkg.log")"
expect_eq "... and bowctl runs there" "bowctl $v" \
	"$(chroot "$root" bowctl --version 2>&1)"
expect_eq "... and bow-restore" "bow-restore $v" \
	"$(chroot "$root" bow-restore --version 2>&1)"
chroot "$root" dpkg -r dm-bow-tools > /dev/null 2>&1
expect_eq "dpkg -r removes it all" "0 0" \
	"$? $(find "$root/usr" -name '*bow*' | wc -l)"
rm -rf "$root"
