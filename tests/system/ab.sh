# The A/B system of the update-client scenarios: one disk with a GPT, as
# a device ships it, booted through OVMF and systemd-boot:
#
#   esp     48 MiB  systemd-boot, the kernel, the test's initramfs, one
#                   entry a slot (rauc.slot=<a|b>, root=/dev/vda<2|3>)
#   root-a 512 MiB  the system (root.img's, shrunk), version 1
#   root-b 512 MiB  empty: its entry has no try left
#   meta   256 MiB  ext4: what both slots share (bowctl's state in /bow,
#                   RAUC's in /rauc, the test's exchange in /bowtest,
#                   the update bundle)
#   data    64 MiB  ext4, the protected partition (bowtab: PARTLABEL=data)
#
# The slots' bowtest-finish and bowtest-health go through /meta/bowtest.
# Source it after lib.sh, with $pre, $migrate and $sys_dir/payload set.

ab_meta_dir=/bowtest

# ab_slot_files <slot image>: what an A/B slot has beyond root.img: its
# mounts, bowtab, RAUC's configuration and keyring, the modules a
# bundle's mount needs, the boot loader backend's tries, the migration.
ab_slot_files()
{
	root_put "$1" /etc/fstab "PARTLABEL=meta /meta ext4 defaults 0 2
PARTLABEL=esp /efi vfat umask=0077 0 0
/dev/mapper/data /data ext4 defaults 0 2
"
	root_put "$1" /etc/bowtab "data PARTLABEL=data state=/meta/bow,retries=1,min_free=1M
"
	debugfs -w -R "mkdir /efi" "$1" > /dev/null 2>&1
	debugfs -w -R "mkdir /etc/rauc" "$1" > /dev/null 2>&1
	root_put "$1" /etc/rauc/system.conf "[system]
compatible=dm-bow-test
bootloader=custom
data-directory=/meta/rauc
bundle-formats=-plain

[handlers]
bootloader-custom-backend=/usr/lib/dm-bow/systemd-boot-slot
pre-install=/usr/lib/dm-bow/rauc-pre-install

[keyring]
path=/etc/rauc/keyring.pem

[slot.rootfs.0]
device=/dev/vda2
type=ext4
bootname=a
resize=true

[slot.rootfs.1]
device=/dev/vda3
type=ext4
bootname=b
resize=true
"
	debugfs -w -R "write $ab_keys/cert.pem /etc/rauc/keyring.pem" "$1" \
		> /dev/null 2>&1
	root_put "$1" /etc/modules-load.d/rauc.conf "loop
squashfs
dm-verity
"
	debugfs -w -R "mkdir /etc/systemd/system/rauc.service.d" "$1" \
		> /dev/null 2>&1
	root_put "$1" /etc/systemd/system/rauc.service.d/tries.conf "[Service]
Environment=BOW_BOOT_TRIES=2
"
	root_put "$1" /etc/bowtest/migrate "$migrate
"
	for _f in table-part new blob; do
		debugfs -w -R "write $sys_dir/payload/$_f /etc/bowtest/$_f" \
			"$1" > /dev/null 2>&1
	done
	root_put "$1" /etc/bowtest/migrate-slot b
}

# ab_entry <esp file system> <file> <slot> <version>: its boot entry.
ab_entry()
{
	_dev=2
	[ "$3" = b ] && _dev=3
	printf '%s\n' "title slot $3" "sort-key bowtest" "version $4" \
		"linux /vmlinuz" "initrd /initrd" \
		"options console=ttyS0 loglevel=4 panic=-1 systemd.show_status=0 root=/dev/vda$_dev rw rauc.slot=$3 bowtest.slot=$3" |
		mcopy -o -i "$1" - "::/loader/entries/$2"
}

# ab_make <kver>: $sys_dir/ab.img (and its firmware variables) and the
# update's bundle, $sys_dir/ab-update.raucb: slot a's system with
# /etc/bowtest/slot-version 2, signed with the test's key.
ab_make()
{
	ab_keys=${BOW_CACHE:-/var/cache/dm-bow}/rauc-keys
	if [ ! -s "$ab_keys/cert.pem" ]; then
		mkdir -p "$ab_keys"
		openssl req -x509 -newkey rsa:2048 -nodes -days 36500 \
			-subj "/O=dm-bow tests/CN=dm-bow test signer" \
			-keyout "$ab_keys/key.pem.tmp" -out "$ab_keys/cert.pem.tmp" \
			> /dev/null 2>&1 || return 1
		mv "$ab_keys/key.pem.tmp" "$ab_keys/key.pem"
		mv "$ab_keys/cert.pem.tmp" "$ab_keys/cert.pem"
	fi
	_slot=$sys_dir/ab-slot.img
	cp --sparse=always "$sys_dir/root.img" "$_slot"
	e2fsck -fy "$_slot" > /dev/null 2>&1
	resize2fs "$_slot" 448M > /dev/null 2>&1 || return 1
	ab_slot_files "$_slot"
	root_put "$_slot" /etc/bowtest/slot-version 1
	# The update: the same system, version 2.
	_b=$sys_dir/ab-bundle
	rm -rf "$_b" "$sys_dir/ab-update.raucb"
	mkdir -p "$_b"
	cp --sparse=always "$_slot" "$_b/rootfs.ext4"
	root_put "$_b/rootfs.ext4" /etc/bowtest/slot-version 2
	printf '%s\n' "[update]" "compatible=dm-bow-test" "version=2" "" \
		"[bundle]" "format=verity" "" \
		"[image.rootfs]" "filename=rootfs.ext4" > "$_b/manifest.raucm"
	rauc bundle --cert "$ab_keys/cert.pem" --key "$ab_keys/key.pem" \
		"$_b" "$sys_dir/ab-update.raucb" > "$sys_dir/ab-bundle.log" 2>&1 || {
		cat "$sys_dir/ab-bundle.log"; return 1; }
	rm -rf "$_b"
	# The disk.
	_img=$sys_dir/ab.img
	rm -f "$_img"
	truncate -s 1400M "$_img"
	printf '%s\n' "label: gpt" \
		"start=2048, size=48M, type=U, name=esp" \
		"size=512M, name=root-a" "size=512M, name=root-b" \
		"size=256M, name=meta" "size=64M, name=data" |
		sfdisk -q "$_img" > /dev/null || return 1
	esp_fs "$sys_dir/ab-esp.part" "$1" &&
	ab_entry "$sys_dir/ab-esp.part" slot-a.conf a 1 &&
	ab_entry "$sys_dir/ab-esp.part" slot-b+0.conf b 0 || return 1
	set -- $(part_extent "$_img" esp)
	dd if="$sys_dir/ab-esp.part" of="$_img" bs=1M seek="$1" conv=notrunc \
		status=none
	set -- $(part_extent "$_img" root-a)
	dd if="$_slot" of="$_img" bs=1M seek="$1" conv=notrunc,sparse status=none
	set -- $(part_extent "$_img" meta)
	mke2fs -q -t ext4 -L meta -E offset=$(($1 * 1048576)) "$_img" "$2M" ||
		return 1
	ab_meta="$_img?offset=$(($1 * 1048576))"
	debugfs -w -R "mkdir $ab_meta_dir" "$ab_meta" > /dev/null 2>&1
	debugfs -w -R "write $sys_dir/ab-update.raucb /update.raucb" "$ab_meta" \
		> /dev/null 2>&1
	set -- $(part_extent "$_img" data)
	mke2fs -q -t ext4 -b 4096 -E offset=$(($1 * 1048576)) -d "$pre" "$_img" \
		$(($2 * 256)) || return 1
	rm -f "$sys_dir/ab-esp.part" "$_slot"
	cp /usr/share/OVMF/OVMF_VARS_4M.fd "$_img.vars"
}

# ab_new <name>: a scenario's copy of the A/B disk.  sc_root and
# sc_data are the disk, sys_esp too (the boot loader's disk: the
# scenario sets it empty at its end); sc_meta the meta partition, for
# debugfs.
ab_new()
{
	sc=$1
	sc_k=$first_kernel
	sc_boots=0
	sc_root=$sys_dir/$sc.ab
	sc_data=$sc_root
	cp --sparse=always "$sys_dir/ab.img" "$sc_root"
	cp "$sys_dir/ab.img.vars" "$sc_root.vars"
	sys_esp=$sc_root
	set -- $(part_extent "$sc_root" meta)
	sc_meta="$sc_root?offset=$(($1 * 1048576))"
}

ab_put()
{
	root_put "$sc_meta" "$ab_meta_dir/$1" "$2"
}

ab_get()
{
	root_get "$sc_meta" "$ab_meta_dir/$1"
}

# ab_boot [<actions>]: boot once through the firmware, running <actions>
# at its end; $st is the status JSON it left, $log its console.
ab_boot()
{
	sc_boots=$((sc_boots + 1))
	[ -n "${1:-}" ] && ab_put actions "$1
"
	log=$sys_dir/$sc.boot$sc_boots.log
	st=$sys_dir/$sc.status$sc_boots.json
	rm -f "$st"
	debugfs -w -R "rm $ab_meta_dir/status.json" "$sc_meta" > /dev/null 2>&1
	sys_boot "$log" "$sc_k" "" ""
	ab_get status.json > "$st"
	sc_kernel_clean
}

# ab_boot_until <console text> <what it means> [<actions>]: boot, and cut
# the power once the console shows the text.
ab_boot_until()
{
	sc_boots=$((sc_boots + 1))
	[ -n "${3:-}" ] && ab_put actions "$3
"
	log=$sys_dir/$sc.boot$sc_boots.log
	BOW_SYS_BACKGROUND=1 sys_boot "$log" "$sc_k" "" ""
	for _i in $(seq 300); do
		grep -q "$1" "$log" && break
		sleep 1
	done
	check "$sc: boot $sc_boots: $2" grep -q "$1" "$log"
	sys_power_cut
}

# ab_expect_slot <slot>: the boot ran slot <slot>'s entry.
ab_expect_slot()
{
	expect_eq "$sc: boot $sc_boots: slot $1 booted" "rauc.slot=$1" \
		"$(ab_get cmdline | grep -o 'rauc\.slot=[a-z]*')"
}

ab_expect_unit()
{
	expect_eq "$sc: boot $sc_boots: $1" "$2" \
		"$(ab_get units | grep "^$1 " | cut -d' ' -f2-)"
}
