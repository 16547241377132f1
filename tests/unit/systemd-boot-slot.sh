#!/bin/sh
# hooks/systemd-boot-slot, the slot selection through systemd-boot (RAUC's
# custom boot loader backend), on an ESP directory of the host: the entry
# names and versions each command leaves, what it prints, its refusals.  That
# systemd-boot boots what get-primary says, and falls back as get-state
# says, is shown with the real boot loader in the lifecycle suite.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
backend=$top/hooks/systemd-boot-slot
export BOW_ESP="$tmp/esp"
e=$BOW_ESP/loader/entries
mkdir -p "$e"

# entry <file> <slot> <version>
entry()
{
	printf '%s\n' "title slot $2" "sort-key bowtest" "version $3" \
		"linux /vmlinuz" "options root=/dev/vda rauc.slot=$2 quiet" > "$e/$1"
}

# What the directory holds: "<file>:<version>", by name.
listing()
{
	for f in "$e"/*.conf; do
		echo "${f##*/}:$(awk '$1 == "version" { print $2 }' "$f")"
	done | tr '\n' ' ' | sed 's/ $//'
}

b() { "$backend" "$@" 2> "$tmp/err"; }

entry slot-a.conf a 1
entry slot-b+0.conf b 0
entry other.conf "" 9
expect_eq "a factory image: a boots, b has no try left" "a good bad" \
	"$(b get-primary) $(b get-state a) $(b get-state b)"
expect_eq "the entry of a slot, without its counter" "slot-b.conf" \
	"$(b entry b)"
b set-primary b
expect_eq "set-primary b: the newest version, with 3 tries" \
	"0 other.conf:9 slot-a.conf:1 slot-b+3.conf:2" "$? $(listing)"
expect_eq "... systemd-boot boots it next" "b good" \
	"$(b get-primary) $(b get-state b)"
grep -v '^version' "$e/slot-b+3.conf" > "$tmp/b.after"
printf '%s\n' "title slot b" "sort-key bowtest" "linux /vmlinuz" \
	"options root=/dev/vda rauc.slot=b quiet" > "$tmp/b.body"
check "set-primary keeps every line but the version" cmp -s "$tmp/b.body" "$tmp/b.after"
# systemd-boot counts two tries down (its own renames).
mv "$e/slot-b+3.conf" "$e/slot-b+1-2.conf"
expect_eq "a try left: b still boots next" "b good" \
	"$(b get-primary) $(b get-state b)"
mv "$e/slot-b+1-2.conf" "$e/slot-b+0-3.conf"
expect_eq "no try left: a boots, b is bad" "a bad" \
	"$(b get-primary) $(b get-state b)"
BOW_BOOT_TRIES=2 b set-primary b
expect_eq "set-primary again: a new version, BOW_BOOT_TRIES tries" \
	"other.conf:9 slot-a.conf:1 slot-b+2.conf:3" "$(listing)"
b set-state b good
expect_eq "set-state good: no counter" \
	"other.conf:9 slot-a.conf:1 slot-b.conf:3" "$(listing)"
b set-primary b
expect_eq "set-primary of the slot that boots next, marked good: nothing to do" \
	"0 other.conf:9 slot-a.conf:1 slot-b.conf:3" "$? $(listing)"
b set-primary a
expect_eq "set-primary a: above b's version" \
	"other.conf:9 slot-a+3.conf:4 slot-b.conf:3" "$(listing)"
b set-state a bad
expect_eq "set-state bad: no try left" \
	"a:b other.conf:9 slot-a+0.conf:4 slot-b.conf:3" \
	"$(b get-state a | sed 's/bad/a/'):$(b get-primary) $(listing)"
mv "$e/slot-b.conf" "$e/slot-b+1-2.conf"
b set-state b bad
expect_eq "set-state bad keeps the tries done" \
	"other.conf:9 slot-a+0.conf:4 slot-b+0-2.conf:3" "$(listing)"
b get-primary > /dev/null
expect_eq "no slot with a try left: refused" \
	"1 systemd-boot-slot: no slot's entry in $e has a try left" \
	"$? $(cat "$tmp/err")"

# Refusals, each with its message and status 1.
b get-state c > "$tmp/out"
expect_eq "get-state of a slot with no entry: bad" "0 bad" "$? $(cat "$tmp/out")"
b set-state c good
expect_eq "set-state of a slot with no entry" \
	"1 systemd-boot-slot: no entry in $e names rauc.slot=c" "$? $(cat "$tmp/err")"
b set-state a fine
expect_eq "set-state: good or bad only" \
	"1 systemd-boot-slot: set-state a fine: expected good or bad" "$? $(cat "$tmp/err")"
entry slot-b2.conf b 1
b entry b
expect_eq "two entries for one slot" \
	"1 systemd-boot-slot: 2 entries in $e name rauc.slot=b: expected one" \
	"$? $(cat "$tmp/err")"
rm "$e/slot-b2.conf"
sed -i '/^sort-key/d' "$e/slot-a+0.conf"
b set-primary a
expect_eq "set-primary of an entry without sort-key" \
	"1 systemd-boot-slot: $e/slot-a+0.conf has no sort-key line: systemd-boot would not order it by version" \
	"$? $(cat "$tmp/err")"
BOW_BOOT_TRIES=0 b get-primary
expect_eq "BOW_BOOT_TRIES=0" \
	"1 systemd-boot-slot: BOW_BOOT_TRIES=0: expected a count of tries, 1 or more" \
	"$? $(cat "$tmp/err")"
BOW_ESP=$tmp/none b get-primary
expect_eq "no entries directory" \
	"1 systemd-boot-slot: $tmp/none/loader/entries: no such directory" \
	"$? $(cat "$tmp/err")"
b frobnicate
expect_eq "an unknown command: usage" 1 $?

# The pre-install handler names the target slot's entry to bowctl
# start --entry (RAUC's environment for a handler), through bow-hook.
entry slot-a.conf a 1
rm -f "$e"/slot-a+*.conf
printf '%s\n' "[system]" "bootloader=custom" "[handlers]" \
	"bootloader-custom-backend=$backend" > "$tmp/system.conf"
cat > "$tmp/bowctl" <<EOT
#!/bin/sh
echo "\$*" >> "$tmp/calls"
EOT
chmod +x "$tmp/bowctl"
echo "data /dev/x state=$tmp/st" > "$tmp/bowtab"
RAUC_SYSTEM_CONFIG=$tmp/system.conf RAUC_TARGET_SLOTS="2" \
RAUC_SLOT_BOOTNAME_2=b BOW_BOOT_SLOT=$backend \
BOW_HOOK=$top/hooks/bow-hook BOWTAB=$tmp/bowtab PATH=$tmp:$PATH \
	"$top/hooks/rauc-pre-install"
expect_eq "RAUC pre-install with the systemd-boot backend: start --entry" \
	"0 --bowtab $tmp/bowtab start data --entry slot-b.conf" \
	"$? $(cat "$tmp/calls")"
rm -f "$tmp/calls"
printf '%s\n' "[system]" "bootloader=grub" > "$tmp/system.conf"
RAUC_SYSTEM_CONFIG=$tmp/system.conf RAUC_TARGET_SLOTS="2" \
RAUC_SLOT_BOOTNAME_2=b BOW_BOOT_SLOT=$backend \
BOW_HOOK=$top/hooks/bow-hook BOWTAB=$tmp/bowtab PATH=$tmp:$PATH \
	"$top/hooks/rauc-pre-install"
expect_eq "RAUC pre-install with another boot loader: start alone" \
	"0 --bowtab $tmp/bowtab start data" "$? $(cat "$tmp/calls")"
"$top/hooks/bow-hook" arm --entry 2> "$tmp/err"
expect_eq "bow-hook arm --entry without an entry: usage" \
	"2 usage: bow-hook arm [--entry <entry>]|commit|abort" "$? $(cat "$tmp/err")"
"$top/hooks/bow-hook" commit --entry x 2> /dev/null
expect_eq "bow-hook commit takes no entry" 2 $?
# SWUpdate's pre-update command, given the target slot's bootname.
rm -f "$tmp/calls"
BOW_BOOT_SLOT=$backend BOW_HOOK=$top/hooks/bow-hook BOWTAB=$tmp/bowtab \
PATH=$tmp:$PATH "$top/hooks/swupdate-pre-install" b
expect_eq "SWUpdate pre-update with the target's bootname: start --entry" \
	"0 --bowtab $tmp/bowtab start data --entry slot-b.conf" \
	"$? $(cat "$tmp/calls")"
rm -f "$tmp/calls"
BOW_BOOT_SLOT=$backend BOW_HOOK=$top/hooks/bow-hook BOWTAB=$tmp/bowtab \
PATH=$tmp:$PATH "$top/hooks/swupdate-pre-install" c 2> "$tmp/err"
expect_eq "SWUpdate pre-update, a slot with no entry: refused, nothing armed" \
	"1 systemd-boot-slot: no entry in $e names rauc.slot=c " \
	"$? $(cat "$tmp/err") $(cat "$tmp/calls" 2>/dev/null)"

# Mender's boot environment (mender-systemd-boot) over the same entries.
menv=$top/hooks/mender-systemd-boot
rm -f "$e"/*.conf
entry slot-a.conf a 1
entry slot-b+0.conf b 0
sed -i 's|root=/dev/vda|root=/dev/vda2|' "$e/slot-a.conf"
sed -i 's|root=/dev/vda|root=/dev/vda3|' "$e/slot-b+0.conf"
m() { BOW_BOOT_SLOT=$backend "$menv" "$@" 2> "$tmp/err" | tr '\n' ' ' | sed 's/ $//'; }
expect_eq "mender: the variables of slot a, marked good" \
	"mender_boot_part=2 mender_boot_part_hex=2 upgrade_available=0 bootcount=0" "$(m)"
printf 'mender_uboot_separator 1\n' | m -s -
expect_eq "mender: its separator probe is ignored, and reads empty" \
	"slot-a.conf:1 slot-b+0.conf:0|" "$(listing)|$(m mender_uboot_separator)"
printf 'upgrade_available=1\nmender_boot_part=3\nmender_boot_part_hex=3\nbootcount=0\n' |
	BOW_BOOT_TRIES=2 m -s -
expect_eq "mender: its install makes partition 3's slot primary, with tries" \
	"slot-a.conf:1 slot-b+2.conf:2|mender_boot_part=3 upgrade_available=1 bootcount=0" \
	"$(listing)|$(m mender_boot_part upgrade_available bootcount)"
mv "$e/slot-b+2.conf" "$e/slot-b+1-1.conf"
expect_eq "mender: a try used" "upgrade_available=1 bootcount=1" \
	"$(m upgrade_available bootcount)"
expect_eq "the tries and root= of each slot's entry" \
	"1 1|none|/dev/vda3|/dev/vda2" \
	"$(b tries b)|$(b tries a)|$(b root b)|$(b root a)"
printf 'upgrade_available=0\n' | m -s -
expect_eq "mender: its commit marks the slot good" \
	"slot-a.conf:1 slot-b.conf:2|mender_boot_part=3 upgrade_available=0" \
	"$(listing)|$(m mender_boot_part upgrade_available)"
printf 'upgrade_available=1\nmender_boot_part=2\n' | m -s -
printf 'mender_boot_part=3\nupgrade_available=0\n' | m -s -
expect_eq "mender: its rollback marks the new slot bad, the old one good" \
	"slot-a+0.conf:3 slot-b.conf:2|mender_boot_part=3 upgrade_available=0" \
	"$(listing)|$(m mender_boot_part upgrade_available)"
printf 'upgrade_available=2\n' | m -s -
expect_eq "mender: upgrade_available other than 0 or 1: refused" \
	"mender-systemd-boot: upgrade_available=2: expected 0 or 1" "$(cat "$tmp/err")"
printf 'upgrade_available=1\nmender_boot_part=7\n' | m -s -
expect_eq "mender: a partition no entry boots: refused" \
	"mender-systemd-boot: no slot's entry in $e boots partition 7" "$(cat "$tmp/err")"

# Mender's state script arms with the other slot's entry.
rm -f "$tmp/calls"
echo "initrd=x root=/dev/vda3 rw rauc.slot=b quiet" > "$tmp/cmdline"
ln -s "$top/hooks/mender-state-script" "$tmp/ArtifactInstall_Enter_50_dm-bow"
BOW_CMDLINE=$tmp/cmdline BOW_BOOT_SLOT=$backend BOW_HOOK=$top/hooks/bow-hook \
BOWTAB=$tmp/bowtab PATH=$tmp:$PATH "$tmp/ArtifactInstall_Enter_50_dm-bow"
expect_eq "mender: ArtifactInstall_Enter arms with the other slot's entry" \
	"0 --bowtab $tmp/bowtab start data --entry slot-a.conf" \
	"$? $(cat "$tmp/calls")"
