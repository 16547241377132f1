# The lifecycle suite's in-place updates of the root file system
# (bowtab resume): the steps sc-inplace-rollback.sh and
# sc-inplace-commit.sh share.  Sourced by tests/system/run.sh.
#
# The root file system itself on dm-bow (root=/dev/mapper/root; bowtab
# and fstab: $sys_root_bowtab, $sys_root_fstab), its state on a disk of
# its own (LABEL=meta), set up by Debian's initramfs before the root is
# mounted.  Boot 1 updates in place as an update tool would: bowctl
# start root, then dpkg -i of version 2 of two packages (files under
# /usr change, go and come).  The boots after it resume the checkpoint.
# While block 0 holds the log the host cannot read the root image: the
# guest's results, actions and health check go through /meta/bowtest.

# ip_new <name>: fresh disks; the /usr of the image before the update.
ip_new()
{
	sc=$1
	sc_k=$first_kernel
	sc_result_img=
	sc_result_dir=
	sc_boots=0
	sc_root=$sys_dir/$sc.root
	sc_data=$sys_dir/$sc.data
	sc_meta=$sys_dir/$sc.meta
	cp --sparse=always "$sys_dir/root.img" "$sc_root"
	root_put "$sc_root" /etc/bowtab "$sys_root_bowtab
"
	root_put "$sc_root" /etc/fstab "$sys_root_fstab
"
	rm -f "$sc_data" "$sc_meta"
	truncate -s 16M "$sc_data"
	mke2fs -q -t ext4 -L meta "$sc_meta" 16M > /dev/null
	debugfs -w -R "mkdir /bowtest" "$sc_meta" > /dev/null 2>&1
	ip_usr "$sys_dir/$sc.usr-before"
}

# ip_usr <dir>: the root image's /usr, copied out as <dir>/usr (symbolic
# links kept).
ip_usr()
{
	rm -rf "$1"
	mkdir -p "$1"
	debugfs -R "rdump /usr $1" "$sc_root" > /dev/null 2>&1
}

# ip_put <path> <content>, ip_get <path>: a file on the meta disk.
ip_put()
{
	root_put "$sc_meta" "$1" "$2"
}

ip_get()
{
	root_get "$sc_meta" "$1"
}

# ip_disks [off]: boot (or stop booting) the root file system on dm-bow:
# Debian's initramfs made for it, root=/dev/mapper/root, the meta disk.
ip_disks()
{
	sys_initrd=
	sys_rootdev=
	sys_disk3=
	[ "${1:-}" = off ] && return
	sys_initrd=$sys_dir/initrd-debian-root-$sc_k.img
	sys_rootdev=/dev/mapper/root
	sys_disk3=$sc_meta
}

# ip_boot [<actions>]: boot once, running <actions> at its end; $st is
# the status JSON it left, $log its console.
ip_boot()
{
	sc_boots=$((sc_boots + 1))
	[ -n "${1:-}" ] && ip_put /bowtest/actions "$1
"
	log=$sys_dir/$sc.boot$sc_boots.log
	st=$sys_dir/$sc.status$sc_boots.json
	rm -f "$st"
	debugfs -w -R "rm /bowtest/status.json" "$sc_meta" > /dev/null 2>&1
	ip_disks
	sys_boot "$log" "$sc_k" "$sc_root" "$sc_data"
	ip_disks off
	ip_get /bowtest/status.json > "$st"
	sc_kernel_clean
}

# The console before the root switch said "bowctl: root: <text>".
ip_early()
{
	expect_eq "$sc: boot $sc_boots: the initramfs said '$1'" 1 \
		"$(early_console | grep -cF "bowctl: root: $1")"
}

# What boot 1 does: the update, in place, under a checkpoint taken now.
ip_update="bowctl start root --retries \$retries
bowctl status root --json > /meta/bowtest/status-start.json
dpkg -i /var/cache/bowtest/*_2_all.deb
sync
systemctl restart bow-commit@root.service
journalctl -b -u bow-commit@root.service -o cat > /meta/bowtest/commit.out"
# What the boots into the new version check: the packages' files (read
# by the guest, through dm-bow).
ip_files="cd / && md5sum usr/bin/bowtest-* usr/lib/bowtest-*/* usr/share/bowtest-*/* > /meta/bowtest/usr.md5
dpkg-query -W bowtest-app bowtest-lib > /meta/bowtest/versions"

# ip_expect_new: the guest saw version 2's files, exactly.
ip_expect_new()
{
	(cd "$sys_dir/$sc.usr-new" &&
		md5sum usr/bin/bowtest-* usr/lib/bowtest-*/* usr/share/bowtest-*/*) \
		> "$sys_dir/$sc.md5-new"
	expect_eq "$sc: boot $sc_boots: the new version's files, exactly" "" \
		"$(ip_get /bowtest/usr.md5 | diff - "$sys_dir/$sc.md5-new")"
	expect_eq "$sc: boot $sc_boots: dpkg says version 2" \
		"bowtest-app	2 bowtest-lib	2" \
		"$(ip_get /bowtest/versions | tr '\n' ' ' | sed 's/ $//')"
}

# ip_expect_usr <before|new>: the root image's /usr is exactly that one,
# its file system clean, block 0 the file system's.
ip_expect_usr()
{
	ip_usr "$sys_dir/$sc.usr-now"
	if diff -r --no-dereference "$sys_dir/$sc.usr-$1" "$sys_dir/$sc.usr-now" \
		> "$sys_dir/$sc.diff" 2>&1; then
		ok "$sc: boot $sc_boots: /usr is exactly the $1-update one"
	else
		not_ok "$sc: boot $sc_boots: /usr is exactly the $1-update one"
		head -n 10 "$sys_dir/$sc.diff" | sed 's/^/#   /'
	fi
	check "$sc: boot $sc_boots: e2fsck -fn finds the root file system clean" \
		quiet e2fsck -fn "$sc_root"
	expect_eq "$sc: boot $sc_boots: no log in block 0" "no checkpoint found" \
		"$("$top/bow-restore/bow-restore" -n "$sc_root" 2>&1 |
			grep -o 'no checkpoint found')"
}

# ip_usr_new: version 2's /usr as the host expects it: the one before,
# version 1's files out, version 2's in.
ip_usr_new()
{
	_n=$sys_dir/$sc.usr-new
	rm -rf "$_n" "$_n.root"
	cp -a "$sys_dir/$sc.usr-before" "$_n"
	rm -rf "$_n"/usr/bin/bowtest-* "$_n"/usr/lib/bowtest-* \
		"$_n"/usr/share/bowtest-*
	for _d in "$sys_dir"/debs/*_2_all.deb; do
		dpkg-deb -x "$_d" "$_n"
	done
}

# Boot 1 of both: the update, checkpointed while running.
ip_boot_update()
{
	ip_boot "retries=$1
$ip_update"
	expect_eq "$sc: boot 1: the update ran" 0 "$(ip_get /bowtest/actions.rc)"
	ip_get /bowtest/status-start.json > "$sys_dir/$sc.start.json"
	expect_eq "$sc: boot 1: bowctl start checkpointed the running root" \
		"checkpoint $1 bow 1 checkpoint" \
		"$(json_get "$sys_dir/$sc.start.json" 'd["lifecycle"], d["attempts_left"], d["mapping"], d["dm_state"], d["last_event"]["event"]')"
	expect_status "the checkpoint is live at the end of the update's boot" \
		'd["lifecycle"], d["attempts_left"], d["dm_state"]' "checkpoint $1 1"
	expect_eq "$sc: boot 1: the commit unit run again after the start does not commit" 1 \
		"$(ip_get /bowtest/commit.out | grep -c '^bowctl: root: not committing: no boot has tried the update yet$')"
	expect_eq "$sc: boot 1: the watcher runs" "active" \
		"$(ip_get /bowtest/units | grep '^bow-watch@root ' | cut -d' ' -f2)"
}

# ip_boot_new <attempt> <of>: a boot into the new version, resumed by
# the initramfs; it sees version 2's files, exactly.
ip_boot_new()
{
	ip_boot "$ip_files"
	ip_early "boot attempt $1 of $2, the checkpoint resumed: dm-bow resumed"
	ip_expect_new
}

# ip_expect_live <attempt> <of>: the checkpoint is live, resumed and
# trimmed (free space again).
ip_expect_live()
{
	expect_status "resumed, checkpoint live" \
		'd["lifecycle"], d["attempts_left"], d["mapping"], d["dm_state"], d["last_event"]["event"]' \
		"checkpoint $(($2 - $1)) bow 1 checkpoint"
	expect_eq "$sc: boot $sc_boots: free space again after the trim" True \
		"$(json_get "$st" 'd["free_bytes"] > 100 * 1024 * 1024 and d["last_event"]["reason"].startswith("boot attempt '"$1 of $2"', resumed; ")')"
}
