# Host side of the lifecycle tests: a real Debian 12 system (systemd as
# PID 1) on a root disk, the project installed into it as a user would
# (make install, the module built and installed by dkms), booted under QEMU with a
# data disk protected by dm-bow.  Source it; needs $top.
#
# Each boot runs the guest's bowtest-finish unit last: it runs the host's
# actions for that boot (/etc/bowtest/actions), records bowctl status
# --json, unit results and the journal under /var/lib/bowtest, and powers
# off.  The host reads them from the root image with debugfs.

: "${top:?}"
. "$top/tests/lib.sh"

sys_dir=$top/build/system
mkdir -p "$sys_dir"

# The kernels the suite boots: Debian 12's 6.1 and its newest 6.12.
sys_kernels()
{
	"$top/tests/vm/kernel-version"
	ls /boot/vmlinuz-6.12.*+deb12-amd64 2>/dev/null | sort -V |
		tail -n 1 | sed 's|^/boot/vmlinuz-||'
}

# Modules, in load order, with their dependencies, for kernel $1 from
# module root $2 (each path once).
sys_modules()
{
	for m in $3; do
		modprobe -d "$2" -S "$1" --show-depends "$m" |
			awk '$1 == "insmod" { print $2 }'
	done | awk '!seen[$0]++'
}

# sys_initramfs <kver>: the initramfs that mounts /dev/vda for systemd.
sys_initramfs()
{
	_iout=$sys_dir/initrd-$1.gz
	[ -s "$_iout" ] && [ "$_iout" -nt "$top/tests/system/guest/init" ] &&
		return 0
	_ir=$(mktemp -d)
	mkdir -p "$_ir/bin" "$_ir/proc" "$_ir/sys" "$_ir/dev" "$_ir/lib/modules" \
		"$_ir/etc"
	cp /bin/busybox "$_ir/bin/busybox"
	: > "$_ir/etc/modules"
	# busybox's insmod takes plain modules: 6.12's are xz-compressed.
	sys_modules "$1" / "virtio_pci virtio_blk ext4" | while read -r ko; do
		_name=$(basename "$ko" .xz)
		case $ko in
		*.xz) xz -dc "$ko" > "$_ir/lib/modules/$_name" ;;
		*) cp "$ko" "$_ir/lib/modules/" ;;
		esac
		echo "$_name" >> "$_ir/etc/modules"
	done
	cp "$top/tests/system/guest/init" "$_ir/init"
	chmod +x "$_ir/init"
	(cd "$_ir" && find . | cpio -o -H newc --quiet) | gzip -1 > "$_iout.tmp"
	mv "$_iout.tmp" "$_iout"
	rm -rf "$_ir"
}

# sys_base_image: build/system/root.img, the root disk every scenario
# starts from: the cached root file system, the kernels' modules it
# needs, dm-bow.ko built for each kernel, the project installed with
# make install, the test units, and fstab and bowtab for the data disk.
sys_base_image()
{
	_tar=$("$top/tests/system/rootfs.sh") || return 1
	_r=$sys_dir/root
	rm -rf "$_r" "$sys_dir/root.img"
	mkdir -p "$_r"
	tar -xf "$_tar" -C "$_r" --numeric-owner || return 1
	# The boot loader of the esp_make disks: the guest's own build, the
	# one its systemd-bless-boot goes with.
	cp "$_r/usr/lib/systemd/boot/efi/systemd-bootx64.efi" "$sys_dir/" ||
		return 1
	# The module as a user gets it: dkms builds it for each kernel from
	# the sources 'make dkms-source' installs, and installs it into the
	# root file system's module tree.
	_dk=$sys_dir/dkms
	rm -rf "$_dk"
	make -s -C "$top" dkms-source DESTDIR="$_dk/root" || return 1
	for k in $(sys_kernels); do
		sys_initramfs "$k"
		sys_modules "$k" / "dm-mod ext4 virtio_blk virtio_pci efivarfs vfat nls_cp437 nls_ascii loop squashfs dm-verity" |
			while read -r ko; do
				mkdir -p "$_r$(dirname "$ko")"
				cp "$ko" "$_r$ko"
			done
		cp "/lib/modules/$k/modules.order" \
			"/lib/modules/$k/modules.builtin" \
			"/lib/modules/$k/modules.builtin.modinfo" \
			"$_r/lib/modules/$k/"
		dkms install -m dm-bow -v "$(make -s --no-print-directory -C "$top" version)" -k "$k" \
			--dkmstree "$_dk/tree" --sourcetree "$_dk/root/usr/src" \
			--installtree "$_r/lib/modules" --no-depmod \
			> "$_dk/$k.log" 2>&1 || { cat "$_dk/$k.log"; return 1; }
		depmod -b "$_r" "$k"
	done
	make -s -C "$top" install DESTDIR="$_r" > "$sys_dir/install.log" 2>&1 || {
		cat "$sys_dir/install.log"; return 1; }
	_g=$top/tests/system/guest
	install -m 0755 "$_g/bowtest-finish" "$_g/bowtest-migrate" \
		"$_g/bowtest-health" "$_r/usr/local/sbin/"
	cp "$_g"/*.service "$_r/etc/systemd/system/"
	for u in bowtest-finish bowtest-migrate; do
		ln -s "/etc/systemd/system/$u.service" \
			"$_r/etc/systemd/system/multi-user.target.wants/$u.service"
	done
	mkdir -p "$_r/etc/systemd/system/boot-complete.target.requires" \
		"$_r/etc/bowtest" "$_r/data"
	ln -s /etc/systemd/system/bowtest-health.service \
		"$_r/etc/systemd/system/boot-complete.target.requires/"
	# Quick, quiet, unattended boots: no first-boot questions, no login;
	# the update clients' daemons off (the scenarios run the clients'
	# commands; Mender's would poll a server), and D-Bus, which only
	# RAUC's client needs, off but in the A/B slots (ab_slot_files): it
	# and what it lets start cost seconds a boot under emulation; logind
	# too (no one logs in; without D-Bus it fails and restarts).
	echo 0123456789abcdef0123456789abcdef > "$_r/etc/machine-id"
	echo bowtest > "$_r/etc/hostname"
	for u in systemd-firstboot.service getty@tty1.service \
		 serial-getty@ttyS0.service getty-static.service \
		 apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
		 e2scrub_reap.service fstrim.timer dpkg-db-backup.timer \
		 systemd-tmpfiles-clean.timer \
		 swupdate.service swupdate.socket swupdate-progress.service \
		 mender-client.service dbus.service dbus.socket \
		 systemd-logind.service; do
		ln -sf /dev/null "$_r/etc/systemd/system/$u"
	done
	cat > "$_r/etc/fstab" <<-EOT
	/dev/vda / ext4 rw,errors=remount-ro 0 1
	/dev/mapper/data /data ext4 defaults 0 2
	EOT
	echo "data PARTLABEL=data state=/var/lib/bow,retries=1" \
		> "$_r/etc/bowtab"
	sys_debian_initramfs "$_r" || return 1
	# The in-place update scenarios': version 1 of their packages
	# installed, version 2 waiting in /var/cache/bowtest.
	sys_update_debs "$sys_dir/debs" || return 1
	dpkg --root="$_r" -i "$sys_dir"/debs/*_1_all.deb > "$sys_dir/dpkg.log" 2>&1 || {
		cat "$sys_dir/dpkg.log"; return 1; }
	mkdir -p "$_r/var/cache/bowtest" "$_r/meta"
	cp "$sys_dir"/debs/*_2_all.deb "$_r/var/cache/bowtest/"
	sys_root_initramfs "$_r" || return 1
	mke2fs -q -t ext4 -d "$_r" -L root "$sys_dir/root.img" 1536M || return 1
	rm -rf "$_r"
}

# sys_mkinitramfs <root> <kver> <out>: Debian's mkinitramfs run in the
# root file system, as update-initramfs would, the image moved to <out>.
sys_mkinitramfs()
{
	# A mount namespace of its own: the binds go when it ends.
	unshare -m sh -ec '
		for d in proc sys dev; do
			mount --bind "/$d" "$1/$d"
		done
		chroot "$1" mkinitramfs -o /boot/initrd.img-"$2" "$2"
	' sh "$1" "$2" > "$sys_dir/mkinitramfs.log" 2>&1 || {
		cat "$sys_dir/mkinitramfs.log"; return 1; }
	mv "$1/boot/initrd.img-$2" "$3"
}

# sys_debian_initramfs <root>: Debian's own initramfs (initramfs-tools,
# with dm-bow's hook) for each kernel, in build/system, for the scenarios
# that set the data device up before the root switch.  Made in the root
# file system as update-initramfs would be, once bowtab marks the device
# "initramfs"; the root's own bowtab is left as it was.
sys_debian_initramfs()
{
	cp "$1/etc/bowtab" "$1/etc/bowtab.keep"
	echo "data PARTLABEL=data state=/var/lib/bow,initramfs" > "$1/etc/bowtab"
	# Only what these disks need: the root's module tree is partial.
	sed -i 's/^MODULES=.*/MODULES=list/' "$1/etc/initramfs-tools/initramfs.conf"
	printf 'virtio_pci\nvirtio_blk\next4\n' >> "$1/etc/initramfs-tools/modules"
	for _k in $(sys_kernels); do
		cp "/boot/config-$_k" "$1/boot/"
		sys_mkinitramfs "$1" "$_k" "$sys_dir/initrd-debian-$_k.img" ||
			return 1
	done
	mv "$1/etc/bowtab.keep" "$1/etc/bowtab"
}

# The in-place update scenarios' root file system is itself on dm-bow
# (root=/dev/mapper/root), its state on a disk of its own (LABEL=meta).
# Its lower device comes late, as a logical volume would: a local-block
# script of the test (bowtest-stack) makes /dev/mapper/stack, dm-linear
# over /dev/vda, at its second run, while the initramfs waits for root.
sys_root_bowtab="root /dev/mapper/stack state=/meta/bow,initramfs,resume,retries=2,min_free=16M"
sys_root_fstab="/dev/mapper/root / ext4 rw,errors=remount-ro 0 1
LABEL=meta /meta ext4 defaults 0 2"

# sys_root_initramfs <root>: Debian's initramfs for those scenarios, for
# the first kernel the suite boots (BOW_SYS_KERNELS, by hand): made with
# their bowtab and fstab, which the hook copies in (the root's device is
# set up before anything is mounted).
sys_root_initramfs()
{
	for _f in bowtab fstab; do
		cp "$1/etc/$_f" "$1/etc/$_f.keep"
	done
	echo "$sys_root_bowtab" > "$1/etc/bowtab"
	echo "$sys_root_fstab" > "$1/etc/fstab"
	_s=$1/etc/initramfs-tools/scripts/local-block/bowtest-stack
	mkdir -p "$(dirname "$_s")"
	cat > "$_s" <<-'EOT'
	#!/bin/sh
	# The dm-bow test's late lower device (tests/system/lib.sh).
	case ${1:-} in prereqs) exit 0 ;; esac
	[ -e /dev/mapper/stack ] && exit 0
	n=$(cat /run/bowtest-stack.runs 2>/dev/null || echo 0)
	echo $((n + 1)) > /run/bowtest-stack.runs
	[ "$n" -ge 1 ] || exit 0
	dmsetup create stack --table "0 $(cat /sys/block/vda/size) linear /dev/vda 0"
	echo "bowtest: /dev/mapper/stack made at local-block run $((n + 1))"
	EOT
	chmod 0755 "$_s"
	_k=$(echo "${BOW_SYS_KERNELS:-$(sys_kernels)}" | head -n 1)
	sys_mkinitramfs "$1" "$_k" "$sys_dir/initrd-debian-root-$_k.img" ||
		return 1
	rm -f "$_s"
	for _f in bowtab fstab; do
		mv "$1/etc/$_f.keep" "$1/etc/$_f"
	done
}

# sys_update_debs <dir>: the update of the in-place scenarios, version 1
# and 2 of two packages.  From 1 to 2, under /usr/lib/<package>, "common"
# changes, "v1-only" goes and "v2-only" comes; /usr/share/<package>/same
# stays; /usr/bin/<package> says its version.
sys_update_debs()
{
	rm -rf "$1"
	mkdir -p "$1"
	for _p in bowtest-app bowtest-lib; do
		head -c 300000 /dev/urandom > "$1/$_p.same"
		for _v in 1 2; do
			_t=$1/$_p-$_v
			mkdir -p "$_t/DEBIAN" "$_t/usr/lib/$_p" "$_t/usr/share/$_p" \
				"$_t/usr/bin"
			printf '%s\n' "Package: $_p" "Version: $_v" \
				"Architecture: all" \
				"Maintainer: dm-bow tests <root@localhost>" \
				"Description: dm-bow in-place update test, version $_v" \
				> "$_t/DEBIAN/control"
			head -c 1000000 /dev/urandom > "$_t/usr/lib/$_p/common"
			head -c $((_v * 700000)) /dev/urandom > "$_t/usr/lib/$_p/v$_v-only"
			cp "$1/$_p.same" "$_t/usr/share/$_p/same"
			printf '#!/bin/sh\necho %s %s\n' "$_p" "$_v" > "$_t/usr/bin/$_p"
			chmod 0755 "$_t/usr/bin/$_p"
			dpkg-deb --root-owner-group -Zgzip -b "$_t" \
				"$1/${_p}_${_v}_all.deb" > /dev/null || return 1
		done
	done
}

# root_put <image> <guest path> <content>: write a file on a root image.
root_put()
{
	_f=$(mktemp)
	printf '%s' "$3" > "$_f"
	# As a package would install it (mktemp's file is 0600).
	chmod 0644 "$_f"
	debugfs -w -R "rm $2" "$1" > /dev/null 2>&1
	debugfs -w -R "write $_f $2" "$1" > /dev/null 2>&1
	rm -f "$_f"
}

# root_get <image> <guest path>: print a file of a root image.
root_get()
{
	debugfs -R "cat $2" "$1" 2>/dev/null
}

# Data disk: a GPT partition labelled "data" from 1 MiB, ext4 of 4 KiB
# blocks, made from a directory.  data_* work on the partition.
data_offset=1048576
data_make()		# <image> <size in MiB> <directory>
{
	rm -f "$1"
	truncate -s "$2M" "$1"
	printf 'label: gpt\nstart=2048, name=data\n' |
		sfdisk -q "$1" > /dev/null || return 1
	mke2fs -q -t ext4 -b 4096 -E offset=$data_offset -d "$3" "$1" \
		$(( ($2 - 2) * 256 )) || return 1
}

# part_extent <image> <partition name>: its offset and size, in MiB.
part_extent()
{
	sfdisk -J "$1" | python3 -c 'import json, sys
for p in json.load(sys.stdin)["partitiontable"]["partitions"]:
    if p.get("name") == sys.argv[1]:
        print(p["start"] // 2048, p["size"] // 2048)' "$2"
}

# data_part <image> <out> [<name>]: the partition "data" (or <name>)
# alone, as a file.
data_part()
{
	set -- "$1" "$2" $(part_extent "$1" "${3:-data}")
	if [ $# -ne 4 ]; then
		echo "data_part: $1 has no partition named ${3:-data}" >&2
		return 1
	fi
	dd if="$1" of="$2" bs=1M skip="$3" count="$4" status=none
}

# data_tree <image> <dir>: the partition's files, copied out.
data_tree()
{
	data_part "$1" "$1.part"
	rm -rf "$2"
	mkdir -p "$2"
	debugfs -R "rdump / $2" "$1.part" > /dev/null 2>&1
	rm -rf "$2/lost+found"
	rm -f "$1.part"
}

# The boot loader scenarios boot through UEFI (OVMF) and systemd-boot,
# from an EFI system partition on a disk of its own (GPT, partition
# "esp" from 1 MiB), with the firmware's variables kept in <esp>.vars
# from boot to boot.  esp_* work on that disk with mtools.
esp_offset=1M

# esp_make <image> <kver> <entry>...: the disk with systemd-boot (the
# guest's own build, sys_base_image), the kernel and the test's
# initramfs, loader.conf, and one entry for each "<file>:<options>"
# (the same kernel, the options added to its command line); fresh
# firmware variables.
esp_make()
{
	_img=$1
	_k=$2
	shift 2
	rm -f "$_img" "$_img.part"
	truncate -s 48M "$_img"
	printf 'label: gpt\nstart=2048, type=U, name=esp\n' |
		sfdisk -q "$_img" > /dev/null || return 1
	esp_fs "$_img.part" "$_k" || return 1
	for _e in "$@"; do
		esp_entry "$_img.part" "${_e%%:*}" "${_e#*:}" || return 1
	done
	dd if="$_img.part" of="$_img" bs=1M seek=1 conv=notrunc status=none
	rm -f "$_img.part"
	cp /usr/share/OVMF/OVMF_VARS_4M.fd "$_img.vars"
}

# esp_fs <file> <kver>: the partition's vfat file system, 46 MiB, no entry.
esp_fs()
{
	rm -f "$1"
	mkfs.vfat -C -n ESP "$1" $(( 46 * 1024 )) > /dev/null || return 1
	for _d in EFI EFI/BOOT loader loader/entries; do
		mmd -i "$1" "::/$_d" || return 1
	done
	mcopy -i "$1" "$sys_dir/systemd-bootx64.efi" ::/EFI/BOOT/BOOTX64.EFI &&
	mcopy -i "$1" "/boot/vmlinuz-$2" ::/vmlinuz &&
	mcopy -i "$1" "$sys_dir/initrd-$2.gz" ::/initrd || return 1
	# No menu: the default entry at once (the first one in systemd-boot's
	# order, where entries with no tries left come last).
	printf 'timeout 0\n' | mcopy -i "$1" - ::/loader/loader.conf
}

# esp_entry <partition image or disk@@offset> <file> <options>: add
# loader/entries/<file>.
esp_entry()
{
	printf '%s\n' "title $2" "linux /vmlinuz" "initrd /initrd" \
		"options console=ttyS0 loglevel=4 panic=-1 systemd.show_status=0 $3" |
		mcopy -o -i "$1" - "::/loader/entries/$2"
}

# esp_entries <image>: the entry files, by name, one a line.
esp_entries()
{
	mdir -b -i "$1@@$esp_offset" ::/loader/entries 2>/dev/null |
		sed 's|.*/||' | sort
}

# sys_boot <log> <kver> <root image> <data image>: boot until the guest
# powers off (or reboots: -no-reboot makes that an exit too).  With
# BOW_SYS_BACKGROUND set, return at once ($sys_pid: timeout's process).
# With $sys_initrd set, boot that initramfs (Debian's: root= on the
# command line, $sys_rootdev or /dev/vda, mounted read-only); with
# $sys_disk3, a third disk (vdc).
sys_boot()
{
	_log=$1
	_kver=$2
	_root_img=$3
	_data_img=$4
	shift 4
	: > "$_log"
	_initrd=$sys_dir/initrd-$_kver.gz
	_cmdline=
	if [ -n "${sys_initrd:-}" ]; then
		_initrd=$sys_initrd
		_cmdline="root=${sys_rootdev:-/dev/vda} ro "
	fi
	# The disks in the guest's order: root (vda), data, the boot loader's
	# disk, a third one.  The A/B disk (ab.sh) is root, data and the boot
	# loader's disk at once: all there is.
	if [ "${sys_esp:-}" = "$_root_img" ]; then
		_root_img=
		_data_img=
	fi
	[ -z "${sys_disk3:-}" ] || set -- \
		-blockdev driver=file,filename="$sys_disk3",node-name=disk3 \
		-device virtio-blk-pci,drive=disk3
	# Through the firmware and the boot loader (esp_make), which pick
	# the kernel, its initramfs and its command line; or direct.
	if [ -n "${sys_esp:-}" ]; then
		set -- \
		-drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
		-drive if=pflash,format=raw,file="$sys_esp.vars" \
		-blockdev driver=file,filename="$sys_esp",node-name=esp,discard=unmap \
		-device virtio-blk-pci,drive=esp,bootindex=0 "$@"
	else
		set -- -kernel "/boot/vmlinuz-$_kver" -initrd "$_initrd" \
		-append "${_cmdline}console=ttyS0 loglevel=4 panic=-1 systemd.show_status=0" "$@"
	fi
	[ -z "$_data_img" ] || set -- \
		-blockdev driver=file,filename="$_data_img",node-name=data,discard=unmap \
		-device virtio-blk-pci,drive=data "$@"
	[ -z "$_root_img" ] || set -- \
		-blockdev driver=file,filename="$_root_img",node-name=root,discard=unmap \
		-device virtio-blk-pci,drive=root "$@"
	# One CPU: the suite boots two VMs at once on two cores (and 6.12's
	# boot-time code patching, int3, oopses now and then under TCG with
	# a thread for each of several CPUs).
	timeout "${BOW_SYS_TIMEOUT:-400}" qemu-system-x86_64 \
		-accel tcg -cpu max -m 1024 -smp 1 -nodefaults \
		-display none -no-reboot -serial stdio -monitor none \
		"$@" \
		< /dev/null > "$_log" 2>&1 &
	sys_pid=$!
	[ -n "${BOW_SYS_BACKGROUND:-}" ] && return 0
	wait $sys_pid
}

# sys_power_cut: kill QEMU at once.
sys_power_cut()
{
	pkill -KILL -P "$sys_pid" 2>/dev/null
	kill -KILL "$sys_pid" 2>/dev/null
	wait "$sys_pid" 2>/dev/null
}

# json_get <file> <python expression on d, the first device>: its value,
# or the values of a tuple separated by spaces.
json_get()
{
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))["devices"][0]
v = eval(sys.argv[2])
print(" ".join(map(str, v)) if isinstance(v, tuple) else v)' "$1" "$2" 2>/dev/null
}
