# The A/B system of the update-client scenarios: one disk with a GPT, as
# a device ships it, booted through OVMF and systemd-boot:
#
#   esp     48 MiB  systemd-boot, the kernel, the test's initramfs, one
#                   entry a slot (rauc.slot=<a|b>, root=/dev/vda<2|3>)
#   root-a 512 MiB  the system (root.img's, shrunk), version 1
#   root-b 512 MiB  empty: its entry has no try left
#   meta   512 MiB  ext4: what both slots share (bowctl's state in /bow,
#                   RAUC's in /rauc, Mender's in /mender, the test's
#                   exchange in /bowtest, the updates: RAUC's bundle,
#                   SWUpdate's .swu, Mender's artifact)
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
	# rauc install asks rauc.service over D-Bus (root.img masks it).
	for _u in dbus.service dbus.socket; do
		debugfs -w -R "rm /etc/systemd/system/$_u" "$1" > /dev/null 2>&1
	done
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
	# SWUpdate: the board and revision sw-description must name, the
	# certificate that verifies it.
	root_put "$1" /etc/hwrevision "bowtest 1.0
"
	debugfs -w -R "mkdir /etc/swupdate" "$1" > /dev/null 2>&1
	debugfs -w -R "write $ab_keys/cert.pem /etc/swupdate/signer.pem" "$1" \
		> /dev/null 2>&1
	# Mender: the slots' partitions, its boot environment on
	# systemd-boot's entries, the key that verifies artifacts, its
	# state (what standalone mode installed) on the shared partition.
	debugfs -w -R "mkdir /etc/mender" "$1" > /dev/null 2>&1
	root_put "$1" /etc/mender/mender.conf '{
  "RootfsPartA": "/dev/vda2",
  "RootfsPartB": "/dev/vda3",
  "BootUtilitiesSetActivePart": "/usr/lib/dm-bow/mender-systemd-boot",
  "BootUtilitiesGetNextActivePart": "/usr/lib/dm-bow/mender-systemd-boot",
  "ArtifactVerifyKey": "/etc/mender/artifact-verify-key.pem"
}
'
	openssl x509 -in "$ab_keys/cert.pem" -pubkey -noout > "$sys_dir/ab-verify.pem"
	debugfs -w -R "write $sys_dir/ab-verify.pem /etc/mender/artifact-verify-key.pem" \
		"$1" > /dev/null 2>&1
	root_put "$1" /etc/mender/artifact_info "artifact_name=release-1
"
	# (Debian's package links it to /data/mender: here /data is the
	# protected partition, whose restore must not take Mender's record
	# back with it.)
	debugfs -w -R "rm /var/lib/mender" "$1" > /dev/null 2>&1
	debugfs -w -R "symlink /var/lib/mender /meta/mender" "$1" > /dev/null 2>&1
}

# ab_mender <slot image> <out>: Mender's signed artifact of the image,
# configured as a Mender image is: the data committed when Mender commits
# (bowtab commit=manual), systemd-bless-boot masked (Mender's commit marks
# the entry good), and the project's state script in the artifact.
ab_mender()
{
	_m=$sys_dir/ab-mender
	rm -rf "$_m"
	mkdir -p "$_m"
	cp --sparse=always "$1" "$_m/rootfs.ext4"
	root_put "$_m/rootfs.ext4" /etc/bowtab "data PARTLABEL=data state=/meta/bow,retries=1,min_free=1M,commit=manual
"
	debugfs -w -R "symlink /etc/systemd/system/systemd-bless-boot.service /dev/null" \
		"$_m/rootfs.ext4" > /dev/null 2>&1
	root_put "$_m/rootfs.ext4" /etc/mender/artifact_info "artifact_name=release-2
"
	for _st in ArtifactInstall_Enter ArtifactCommit_Leave ArtifactRollback_Enter; do
		cp "$top/hooks/mender-state-script" "$_m/${_st}_50_dm-bow"
	done
	# mender-artifact reads PKCS#1 keys only.
	openssl rsa -in "$ab_keys/key.pem" -traditional -out "$_m/key.pem" 2> /dev/null &&
	(cd "$_m" && mender-artifact write rootfs-image -t bowtest -n release-2 \
		-f rootfs.ext4 -o "$2" -k key.pem \
		-s ArtifactInstall_Enter_50_dm-bow -s ArtifactCommit_Leave_50_dm-bow \
		-s ArtifactRollback_Enter_50_dm-bow > "$sys_dir/ab-mender.log" 2>&1) || {
		cat "$sys_dir/ab-mender.log"; return 1; }
	rm -rf "$_m"
}

# ab_swu <slot image> <out>: SWUpdate's signed .swu of the image: a copy
# for each slot, and the device maker's script that switches the slot
# with systemd-boot-slot (2 tries).
ab_swu()
{
	_s=$sys_dir/ab-swu
	rm -rf "$_s"
	mkdir -p "$_s"
	gzip -1 -c "$1" > "$_s/rootfs.ext4.gz" || return 1
	cat > "$_s/slot.sh" <<-'EOT'
	#!/bin/sh
	# The target slot's entry: unbootable while it is written, then the
	# one systemd-boot boots next, with 2 tries.
	case $1 in
	preinst) exec /usr/lib/dm-bow/systemd-boot-slot set-state "$2" bad ;;
	postinst) BOW_BOOT_TRIES=2 exec /usr/lib/dm-bow/systemd-boot-slot set-primary "$2" ;;
	esac
	EOT
	_img=$(sha256sum "$_s/rootfs.ext4.gz" | cut -d' ' -f1)
	_sh=$(sha256sum "$_s/slot.sh" | cut -d' ' -f1)
	_copy()
	{
		printf '\t\t%s = {\n' "$1"
		printf '\t\t\timages: ( { filename = "rootfs.ext4.gz"; compressed = "zlib"; installed-directly = true; type = "raw"; device = "%s"; sha256 = "%s"; } );\n' "$2" "$_img"
		printf '\t\t\tscripts: ( { filename = "slot.sh"; type = "shellscript"; data = "%s"; sha256 = "%s"; } );\n' "$3" "$_sh"
		printf '\t\t};\n'
	}
	{
		printf 'software =\n{\n\tversion = "2";\n'
		printf '\thardware-compatibility: [ "1.0" ];\n\tstable = {\n'
		_copy copy1 /dev/vda2 a
		_copy copy2 /dev/vda3 b
		printf '\t};\n}\n'
	} > "$_s/sw-description"
	openssl cms -sign -in "$_s/sw-description" -out "$_s/sw-description.sig" \
		-signer "$ab_keys/cert.pem" -inkey "$ab_keys/key.pem" \
		-outform DER -nosmimecap -binary || return 1
	# sw-description first, its signature next, the script before the
	# image: SWUpdate reads the archive as a stream, and writes the image
	# to the slot as it comes (installed-directly: /tmp could not hold
	# it), after the script's preinst.
	(cd "$_s" && printf '%s\n' sw-description sw-description.sig \
		slot.sh rootfs.ext4.gz | cpio -o -H crc --quiet) > "$2" || return 1
	rm -rf "$_s"
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
# update, slot a's system with /etc/bowtest/slot-version 2, signed with
# the test's key: RAUC's bundle $sys_dir/ab-update.raucb, SWUpdate's
# $sys_dir/ab-update.swu, Mender's $sys_dir/ab-update.mender.
ab_make()
{
	ab_keys=${BOW_CACHE:-/var/cache/dm-bow}/update-signer
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
	ab_swu "$_b/rootfs.ext4" "$sys_dir/ab-update.swu" || return 1
	ab_mender "$_b/rootfs.ext4" "$sys_dir/ab-update.mender" || return 1
	rm -rf "$_b"
	# The disk.
	_img=$sys_dir/ab.img
	rm -f "$_img"
	truncate -s 1664M "$_img"
	printf '%s\n' "label: gpt" \
		"start=2048, size=48M, type=U, name=esp" \
		"size=512M, name=root-a" "size=512M, name=root-b" \
		"size=512M, name=meta" "size=64M, name=data" |
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
	debugfs -w -R "mkdir /mender" "$ab_meta" > /dev/null 2>&1
	root_put "$ab_meta" /mender/device_type "device_type=bowtest
"
	for _u in raucb swu mender; do
		debugfs -w -R "write $sys_dir/ab-update.$_u /update.$_u" \
			"$ab_meta" > /dev/null 2>&1
	done
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
	# ab_make runs beside the first scenarios (tests/system/run.sh).
	while [ ! -e "$sys_dir/ab.ready" ] && [ ! -e "$sys_dir/ab.failed" ]; do
		sleep 1
	done
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
	sc_result_img=$sc_meta
	sc_result_dir=$ab_meta_dir
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
	sys_boot "$log" "$sc_k" "$sc_root" "$sc_data"
	ab_get status.json > "$st"
	sc_kernel_clean
}

# ab_boot_until <console text> <what it means> [<actions>]: boot, and cut
# the power once the console shows the text.
ab_boot_until()
{
	[ -n "${3:-}" ] && ab_put actions "$3
"
	sc_boot_until "$1" "$2"
}

# ab_expect_slot <slot>: the boot ran slot <slot>'s entry.
ab_expect_slot()
{
	expect_eq "$sc: boot $sc_boots: slot $1 booted" "rauc.slot=$1" \
		"$(ab_get cmdline | grep -o 'rauc\.slot=[a-z]*')"
}

# ab_expect_rc <name> <out|err> <what>: the command an action ran exited
# 0 (/meta/bowtest/<name>.rc), else its <name>.out or .err is shown.
ab_expect_rc()
{
	if [ "$(ab_get "$1.rc")" = 0 ]; then
		ok "$sc: boot $sc_boots: $3"
	else
		not_ok "$sc: boot $sc_boots: $3"
		ab_get "$1.$2" | tail -n 15 | sed 's/^/#   /'
	fi
}

# ab_boot_install <actions> <client's output files> <what armed>: boot 1,
# on slot a, where the actions install slot b and write the client's
# output and status to /meta/bowtest/<client>.out and .rc.
ab_boot_install()
{
	ab_boot "$1"
	ab_expect_slot a
	ab_expect_rc "$2" out "$2 installed the update"
	expect_entries "slot-a.conf slot-b+2.conf"
	expect_status "$3 armed, from slot a's entry to b's" \
		'd["lifecycle"], d["entry_from"], d["entry_to"], d["last_event"]["reason"]' \
		"armed slot-a.conf slot-b.conf armed for 1 boot attempt from boot entry slot-a.conf to slot-b.conf"
}

# ab_good [<last boot's actions>]: after the install, a good update: slot
# b boots, migrates, passes its health check; the entry is marked good,
# then the data committed; the next boot is slot b again, on the
# migrated data.
ab_good()
{
	ab_boot
	ab_expect_slot b
	expect_entries "slot-a.conf slot-b.conf"
	expect_unit bowtest-migrate "active success"
	expect_marked_then_committed
	expect_data post
	ab_boot "${1:-}"
	ab_expect_slot b
	expect_status "the next boot: nothing armed, the data as committed" \
		'd["lifecycle"], d["mapping"]' "committed linear"
	expect_data post
}

# ab_bad [<last boot's actions> [<health unit on b's tries>]]: after the
# install, with slot b's health check failing: b fails on both tries
# (the second, past bowctl's retries, restored and protected again); the
# boot loader falls back to slot a, whose boot restores the data and
# says why; nothing is left armed.
ab_bad()
{
	ab_boot
	ab_expect_slot b
	expect_entries "slot-a.conf slot-b+1-1.conf"
	expect_unit bowtest-migrate "active success"
	expect_unit bowtest-health "${2:-failed exit-code}"
	expect_status "the first try: checkpoint live, not committed" \
		'd["lifecycle"], d["attempts_left"], d["dm_state"]' "checkpoint 0 1"
	ab_boot
	ab_expect_slot b
	expect_entries "slot-a.conf slot-b+0-2.conf"
	expect_status "the second try, past retries: restored and protected again" \
		'd["lifecycle"], d["attempts_left"], d["dm_state"], d["last_event"]["reason"].split(";")[0]' \
		"checkpoint 0 1 boot attempt past the 1 retries (the boot loader still counts the tries of entry slot-b.conf, not marked good)"
	ab_boot "${1:-}"
	ab_expect_slot a
	expect_status "back on slot a: restored, nothing armed, and why" \
		'd["lifecycle"], d["attempts_left"], d["mapping"], d["last_event"]["event"], d["last_event"]["reason"]' \
		"rolled-back 0 linear restored restored the checkpoint: the boot loader went back to entry slot-a.conf (slot-b.conf did not become good)"
	expect_data pre
}
