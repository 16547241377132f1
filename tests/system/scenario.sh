# The lifecycle suite's steps and checks, shared by its scenarios
# (tests/system/sc-*.sh): fresh disks, a boot and its checks, the state,
# the units and the data as the guest left them.  Sourced by
# tests/system/run.sh, after lib.sh.

# sc_new <name> <kernel> <bowtab options>: fresh disks for a scenario.
sc_new()
{
	sc=$1
	sc_k=$2
	sc_boots=0
	sc_result_img=
	sc_result_dir=
	sc_root=$sys_dir/$sc.root
	sc_data=$sys_dir/$sc.data
	cp --sparse=always "$sys_dir/root.img" "$sc_root"
	root_put "$sc_root" /etc/bowtab "data PARTLABEL=data $3
"
	root_put "$sc_root" /etc/bowtest/migrate "$migrate
"
	for f in table-part new blob; do
		debugfs -w -R "write $sys_dir/payload/$f /etc/bowtest/$f" \
			"$sc_root" > /dev/null 2>&1
	done
	data_make "$sc_data" 64 "$pre"
}

# sc_boot [<actions>]: boot once, running <actions> (shell) at its end.
# Sets $st, the status JSON the boot left, and $log, its console.
sc_boot()
{
	sc_boots=$((sc_boots + 1))
	[ -n "${1:-}" ] && root_put "$sc_root" /etc/bowtest/actions "$1
"
	log=$sys_dir/$sc.boot$sc_boots.log
	st=$sys_dir/$sc.status$sc_boots.json
	rm -f "$st"
	sys_boot "$log" "$sc_k" "$sc_root" "$sc_data"
	root_get "$sc_root" /var/lib/bowtest/status.json > "$st"
	debugfs -w -R "rm /var/lib/bowtest/status.json" "$sc_root" > /dev/null 2>&1
	sc_kernel_clean
}

# sc_boot_cut: boot, and cut the power once the migration has written
# its changes and holds (a checkpoint live, the state of a boot that
# never ends).
sc_boot_cut()
{
	root_put "$sc_root" /etc/bowtest/hold 1
	sc_boot_until 'bowtest: migration holding' "the migration reached its hold"
	debugfs -w -R "rm /etc/bowtest/hold" "$sc_root" > /dev/null 2>&1
}

# sc_boot_until <console text> <what it means>: boot, and cut the power
# once the console shows the text.
sc_boot_until()
{
	sc_boots=$((sc_boots + 1))
	log=$sys_dir/$sc.boot$sc_boots.log
	BOW_SYS_BACKGROUND=1 sys_boot "$log" "$sc_k" "$sc_root" "$sc_data"
	for i in $(seq 300); do
		grep -q "$1" "$log" && break
		sleep 1
	done
	check "$sc: boot $sc_boots: $2" grep -q "$1" "$log"
	sys_power_cut
}

# The boot reached its end, and the kernel said nothing bad.
sc_kernel_clean()
{
	if ! grep -q 'bowtest: finished' "$log"; then
		not_ok "$sc: boot $sc_boots ran to its end"
		tail -n 30 "$log" | sed 's/^/#   /'
	elif grep -qE 'BUG:|WARNING:|Oops|Call Trace|Kernel panic' "$log"; then
		not_ok "$sc: boot $sc_boots: kernel log clean"
		grep -E -A10 'BUG:|WARNING:|Oops|Call Trace|Kernel panic' "$log" |
			head -n 30 | sed 's/^/#   /'
	fi
}

# sc_arm_host <retries> [<image> <directory> [<name>]]: arm as "bowctl
# start data --retries <n>" would (or <name>), with the host's bowctl writing the state file
# into the root image's /var/lib/bow (or the image and directory given):
# a boot saved; the good and bad updates arm in the guest.
sc_arm_host()
{
	_sd=$sys_dir/$sc.state
	_img=${2:-$sc_root}
	_dir=${3:-/var/lib/bow}
	_name=${4:-data}
	rm -rf "$_sd"
	echo "$_name PARTLABEL=data state=$_sd" > "$sys_dir/$sc.bowtab"
	# The guest's kernels are not the host's /boot: none to check.
	BOW_MODULES_ROOT=$sys_dir/none \
	"$top/bowctl/bowctl" --bowtab "$sys_dir/$sc.bowtab" --fstab /dev/null \
		start "$_name" --retries "$1" || not_ok "$sc: the host's bowctl arms"
	debugfs -w -R "mkdir $_dir" "$_img" > /dev/null 2>&1
	debugfs -w -R "rm $_dir/$_name.state" "$_img" > /dev/null 2>&1
	debugfs -w -R "write $_sd/$_name.state $_dir/$_name.state" \
		"$_img" > /dev/null 2>&1
}

# expect_status <what> <field expression> <expected>
expect_status()
{
	expect_eq "$sc: boot $sc_boots: $1" "$3" "$(json_get "$st" "$2")"
}

# sc_result <file>: what the guest's bowtest-finish recorded, on the
# root image (or where the scenario says: the A/B disk's meta partition).
sc_result()
{
	root_get "${sc_result_img:-$sc_root}" "${sc_result_dir:-/var/lib/bowtest}/$1"
}

expect_unit()
{
	expect_eq "$sc: boot $sc_boots: $1" "$2" \
		"$(sc_result units | grep "^$1 " | cut -d' ' -f2-)"
}

# The boot loader's entry was marked good, then the data committed.
expect_marked_then_committed()
{
	expect_unit systemd-bless-boot "active success"
	expect_unit bow-commit@data "active success"
	expect_status "marked good, then committed" \
		'd["lifecycle"], d["mapping"], d["last_event"]["event"]' \
		"committed bow commit"
	expect_eq "$sc: boot $sc_boots: the entry marked good before the commit" \
		"Finished systemd-bless-boot.service
Finished bow-commit@data.service" \
		"$(sc_result journal | grep -o 'Finished \(systemd-bless-boot\|bow-commit@data\)\.service')"
}

# expect_data <pre|post>: the partition holds exactly those files, and
# its file system is clean.
expect_data()
{
	data_tree "$sc_data" "$sys_dir/$sc.tree"
	if diff -r "$sys_dir/$1" "$sys_dir/$sc.tree" > "$sys_dir/$sc.diff" 2>&1; then
		ok "$sc: boot $sc_boots: the data partition holds exactly the $1-update files"
	else
		not_ok "$sc: boot $sc_boots: the data partition holds exactly the $1-update files"
		head -n 10 "$sys_dir/$sc.diff" | sed 's/^/#   /'
	fi
	data_part "$sc_data" "$sc_data.part"
	check "$sc: boot $sc_boots: e2fsck -fn finds the file system clean" \
		quiet e2fsck -fn "$sc_data.part"
	bow_out=$("$top/bow-restore/bow-restore" -n "$sc_data.part" 2>&1)
	expect_eq "$sc: boot $sc_boots: no log in block 0" "no checkpoint found" \
		"$(echo "$bow_out" | grep -o 'no checkpoint found')"
	rm -f "$sc_data.part"
}

# early_console: what this boot's console showed before the initramfs
# ran its init-bottom scripts, that is, before the root switch.
early_console()
{
	sed -n '1,/Running \/scripts\/init-bottom/p' "$log" | tr -d '\r'
}

# expect_early <text>: the initramfs printed "bowctl: data: <text>".
expect_early()
{
	expect_eq "$sc: boot $sc_boots: the initramfs said '$1'" 1 \
		"$(early_console | grep -cF "bowctl: data: $1")"
}

# short_version <kernel release>: "6.1", "6.12": scenario names.
short_version()
{
	echo "${1%%-*}" | cut -d. -f1,2 | sed 's/+.*//'
}

# in_long_lane <scenario>: whether a repeat runs: in the long lane
# (BOW_LONG=1, make check-long), or when scenarios are asked for by name.
in_long_lane()
{
	[ -n "${BOW_LONG:-}" ] || [ -n "${BOW_SYS_ONLY:-}" ]
}

# on_every_kernel <scenario>: whether it runs on the kernels after the
# first too: the good update always, the others as repeats.
on_every_kernel()
{
	[ "$1" = good ] || in_long_lane "$1"
}

# sc_new_esp: the scenario boots through OVMF and systemd-boot (esp_make):
# entry bowtest-a.conf, the system as it is (bowtest.slot=a); the
# partition mounted on /efi, where systemd-bless-boot finds it; the
# migration is slot b's, run at each boot of it (bowtest-migrate).
sc_new_esp()
{
	sys_esp=$sys_dir/$sc.esp
	esp_make "$sys_esp" "$sc_k" "bowtest-a.conf:bowtest.slot=a" ||
		not_ok "$sc: the EFI system partition is made"
	debugfs -w -R "mkdir /efi" "$sc_root" > /dev/null 2>&1
	root_put "$sc_root" /etc/fstab "/dev/vda / ext4 rw,errors=remount-ro 0 1
/dev/mapper/data /data ext4 defaults 0 2
PARTLABEL=esp /efi vfat umask=0077 0 0
"
	root_put "$sc_root" /etc/bowtest/migrate-slot b
}

# The update's entry, as an update tool installs it for systemd-boot's
# boot counting: bowtest-b+2.conf, two tries before it falls back.
sc_install_slot_b()
{
	esp_entry "$sys_esp@@$esp_offset" bowtest-b+2.conf bowtest.slot=b
}

expect_entries()
{
	expect_eq "$sc: boot $sc_boots: the boot loader's entries: $1" "$1" \
		"$(esp_entries "$sys_esp" | tr '\n' ' ' | sed 's/ $//')"
}
