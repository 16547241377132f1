#!/bin/sh
# bowctl and bow-generator on the host: what make install puts where, the
# units the generator makes from a bowtab, and bowctl's commands that
# need no dm-bow device (arming, disarming, status, usage errors).  The
# boot steps are tested on a real system: tests/vm/t-lifecycle.sh.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bowctl=$top/bowctl/bowctl

# make install, from the top: the tools, their pages, units, generator.
make -s -C "$top" install DESTDIR="$tmp/root" PREFIX=/usr > /dev/null 2>&1
expect_eq "make install: what it installs" \
"/usr/lib/dm-bow/bow-hook
/usr/lib/dm-bow/mender-state-script
/usr/lib/dm-bow/mender-systemd-boot
/usr/lib/dm-bow/rauc-mark-good.conf
/usr/lib/dm-bow/rauc-pre-install
/usr/lib/dm-bow/swupdate-pre-install
/usr/lib/dm-bow/systemd-boot-slot
/usr/lib/systemd/system-generators/bow-generator
/usr/lib/systemd/system/bow-checkpoint@.service
/usr/lib/systemd/system/bow-commit@.service
/usr/lib/systemd/system/bow-setup@.service
/usr/lib/systemd/system/bow-watch@.service
/usr/sbin/bow-restore
/usr/sbin/bowctl
/usr/share/initramfs-tools/hooks/dm-bow
/usr/share/initramfs-tools/scripts/local-block/dm-bow
/usr/share/initramfs-tools/scripts/local-bottom/dm-bow
/usr/share/initramfs-tools/scripts/local-top/dm-bow
/usr/share/man/man5/bowtab.5
/usr/share/man/man8/bow-restore.8
/usr/share/man/man8/bowctl.8" \
	"$(cd "$tmp/root" && find . -type f | sed 's/^\.//' | sort)"
# The objects depend on every header they include, the shared format's
# too: in a copy of the built tree, a newer dm-bow-format.h leaves them
# out of date (make -q: 1).
mkdir "$tmp/src"
cp -a "$top/bowctl" "$top/bow-restore" "$top/userspace.mk" \
	"$top/dm-bow-format.h" "$tmp/src/"
touch -d "@$(($(date +%s) + 60))" "$tmp/src/dm-bow-format.h"
expect_eq "a change of dm-bow-format.h rebuilds bowctl's and bow-restore's objects" \
	"1 1 1" "$(for o in bowctl/bowctl.o bowctl/bowctl-test.o bow-restore/lib/log.o; do
		make -q -C "$tmp/src/${o%%/*}" "${o#*/}" > /dev/null 2>&1
		echo $?
	done | tr '\n' ' ' | sed 's/ $//')"
expect_eq "make install: every unit runs the installed bowctl" \
	"4 0" "$(cat "$tmp"/root/usr/lib/systemd/system/*.service |
		grep -c '^ExecStart=/usr/sbin/bowctl boot-') $(cat \
		"$tmp"/root/usr/lib/systemd/system/*.service | grep -c @SBINDIR@)"

# The initramfs hook, run as mkinitramfs runs it, for a kernel with no
# dm-bow.ko (its bowctl a stand-in naming one initramfs device): the
# build fails and says why, so that installing such a kernel fails, not
# booting it.
sed "s|^bowctl=.*|bowctl=$tmp/fake-bowctl|" \
	"$tmp/root/usr/share/initramfs-tools/hooks/dm-bow" > "$tmp/hook"
printf '#!/bin/sh\necho "data /var local-bottom"\n' > "$tmp/fake-bowctl"
chmod +x "$tmp/hook" "$tmp/fake-bowctl"
mkdir -p "$tmp/initrd"
DESTDIR=$tmp/initrd version=0.0.0-none verbose=n sh "$tmp/hook" 2> "$tmp/hook.err"
expect_eq "initramfs hook: no dm-bow.ko for the kernel fails the build" \
	"1 dm-bow: E: no dm-bow.ko for kernel 0.0.0-none, which /etc/bowtab needs in the initramfs (for: data): install dm-bow-dkms and linux-headers-0.0.0-none" \
	"$? $(grep 'dm-bow' "$tmp/hook.err")"

# The generator: a good line, a bad one, a device fstab does not mount.
cat > "$tmp/bowtab" <<'EOT'
# protected devices
data PARTLABEL=user-data state=/var/lib/bow,retries=2
bad /dev/vdc state=/var/lib/bow,min_free=lots
spare /dev/disk/by-id/virtio-spare state=/var/lib/bow
EOT
cat > "$tmp/fstab" <<'EOT'
/dev/vda / ext4 rw 0 1
/dev/mapper/data /srv/data ext4 defaults 0 2
EOT
mkdir -p "$tmp/gen" "$tmp/nosys"
# gen <system root>: run the generator into $tmp/gen, its messages in
# $tmp/gen.err; the system's units (for its health checks) under the root.
gen()
{
	mkdir -p "$tmp/gen"
	BOWTAB=$tmp/bowtab SYSTEMD_FSTAB=$tmp/fstab SYSTEMD_LOG_TARGET=console \
		BOW_GENERATOR_ROOT=$1 "$top/bowctl/bow-generator" "$tmp/gen" \
		"$tmp/gen" "$tmp/gen" 2> "$tmp/gen.err"
}
gen "$tmp/nosys"
expect_eq "generator: exits 0 past a bad line" 0 $?
expect_eq "generator: names the bad line's file, line and field, the unmounted device, and the commits no health check guards" \
"<4>bow-generator: /etc/bowtab line 2: no health check guards the commit of data: no unit is required by boot-complete.target, so it is committed once default.target is reached (bowctl(8), HEALTH CHECKS)
<3>bow-generator: /etc/bowtab line 4: no /etc/fstab line mounts /dev/mapper/spare: it is set up, but nothing checkpoints it
<4>bow-generator: /etc/bowtab line 4: no health check guards the commit of spare: no unit is required by boot-complete.target, so it is committed once default.target is reached (bowctl(8), HEALTH CHECKS)
<3>bow-generator: $tmp/bowtab:3: bad min_free 'lots': expected a size in bytes (K, M, G, T: 1024s); this device is left alone" \
	"$(cat "$tmp/gen.err")"
expect_eq "generator: the units it links (a failed checkpoint fails boot-complete.target)" \
"./basic.target.wants/bow-commit@data.service -> /usr/lib/systemd/system/bow-commit@.service
./basic.target.wants/bow-commit@spare.service -> /usr/lib/systemd/system/bow-commit@.service
./boot-complete.target.requires/bow-checkpoint@data.service -> /usr/lib/systemd/system/bow-checkpoint@.service
./dev-mapper-data.device.requires/bow-setup@data.service -> /usr/lib/systemd/system/bow-setup@.service
./dev-mapper-spare.device.requires/bow-setup@spare.service -> /usr/lib/systemd/system/bow-setup@.service
./local-fs.target.wants/bow-checkpoint@data.service -> /usr/lib/systemd/system/bow-checkpoint@.service" \
	"$(cd "$tmp/gen" && find . -type l -printf '%p -> %l\n' | sort)"
expect_eq "generator: set-up after the lower device and the state directory" \
"# From /etc/bowtab line 2; made by bow-generator
[Unit]
Requires=dev-disk-by\\x2dpartlabel-user\\x2ddata.device
After=dev-disk-by\\x2dpartlabel-user\\x2ddata.device
RequiresMountsFor=/var/lib/bow" \
	"$(cat "$tmp/gen/bow-setup@data.service.d/50-bowtab.conf")"
# /dev/mapper/data appears once its restore is done, however long that
# takes: no job timeout on it (systemd's default would fail the mount
# while the restore runs; fstab's x-systemd.device-timeout sorts before).
expect_eq "generator: no job timeout on the device a restore makes" \
"./dev-mapper-data.device.d/90-bow-setup.conf
./dev-mapper-spare.device.d/90-bow-setup.conf
# From /etc/bowtab line 2; made by bow-generator
[Unit]
JobTimeoutSec=infinity
JobRunningTimeoutSec=infinity" \
	"$(cd "$tmp/gen" && find . -path '*.device.d/*' | sort &&
	   cat dev-mapper-data.device.d/90-bow-setup.conf)"
expect_eq "generator: the checkpoint after the mount and the state directory" \
"# From /etc/bowtab line 2; made by bow-generator
[Unit]
Requires=srv-data.mount
After=srv-data.mount
RequiresMountsFor=/var/lib/bow" \
	"$(cat "$tmp/gen/bow-checkpoint@data.service.d/50-bowtab.conf")"
# A health check (an application's unit that boot-complete.target
# requires) silences the warning; commit=manual links no commit at all.
mkdir -p "$tmp/sys/etc/systemd/system/boot-complete.target.requires"
ln -s /etc/systemd/system/app-health.service \
	"$tmp/sys/etc/systemd/system/boot-complete.target.requires/app-health.service"
rm -rf "$tmp/gen"
gen "$tmp/sys"
expect_eq "generator: a health check: nothing said about it" 0 \
	"$(grep -c 'health check' "$tmp/gen.err")"
printf 'data PARTLABEL=user-data state=/var/lib/bow,commit=manual\n' > "$tmp/bowtab"
rm -rf "$tmp/gen"
gen "$tmp/nosys"
expect_eq "generator: commit=manual: no commit unit, no health warning" \
"0 
./boot-complete.target.requires/bow-checkpoint@data.service
./dev-mapper-data.device.requires/bow-setup@data.service
./local-fs.target.wants/bow-checkpoint@data.service" \
	"$? $(cat "$tmp/gen.err")
$(cd "$tmp/gen" && find . -type l | sort)"
# The root file system's device: after the mount of /, and without the
# initramfs option it could never be set up before that mount.
printf 'root /dev/vda state=/meta/bow,resume\n' > "$tmp/bowtab"
printf '/dev/mapper/root / ext4 rw 0 1\nLABEL=meta /meta ext4 rw 0 2\n' > "$tmp/fstab"
rm -rf "$tmp/gen"
mkdir -p "$tmp/gen"
gen "$tmp/sys"
expect_eq "generator: a root device without initramfs is said" \
	"0 <3>bow-generator: /etc/bowtab line 1: /dev/mapper/root is the root file system: without the option initramfs it is never set up before its mount" \
	"$? $(cat "$tmp/gen.err")"
expect_eq "generator: the root's checkpoint after -.mount" \
"# From /etc/bowtab line 1; made by bow-generator
[Unit]
Requires=-.mount
After=-.mount
RequiresMountsFor=/meta/bow" \
	"$(cat "$tmp/gen/bow-checkpoint@root.service.d/50-bowtab.conf")"
printf 'root /dev/vda state=/meta/bow,resume,initramfs\n' > "$tmp/bowtab"
gen "$tmp/sys"
expect_eq "generator: ... and with it, nothing to say" "0 " "$? $(cat "$tmp/gen.err")"

# The installed kernels bowctl start checks for dm-bow.ko: one, with it.
export BOW_MODULES_ROOT="$tmp/modroot"
mkdir -p "$BOW_MODULES_ROOT/boot" \
	"$BOW_MODULES_ROOT/lib/modules/6.1.0-test/updates/dkms"
: > "$BOW_MODULES_ROOT/boot/vmlinuz-6.1.0-test"
: > "$BOW_MODULES_ROOT/lib/modules/6.1.0-test/updates/dkms/dm-bow.ko.xz"

# bowctl: arming and disarming, with the state in a scratch directory.
echo "hostdev$$ /dev/disk/by-partlabel/none$$ state=$tmp/state,retries=3" \
	> "$tmp/bowtab"
b()
{
	"$bowctl" --bowtab "$tmp/bowtab" --fstab "$tmp/fstab" "$@"
}
b status --json > "$tmp/st" 2> "$tmp/err"
expect_eq "status of a device never armed" \
	"0 missing idle 0 none None None" \
	"$? $(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))["devices"][0]
print(d["state_file"], d["lifecycle"], d["attempts_left"], d["mapping"], d["dm_state"], d["last_event"])' "$tmp/st")"
b start "hostdev$$"
expect_eq "start: armed with bowtab's retries" "0 armed 3 start" \
	"$? $(b status --json | python3 -c 'import json, sys
d = json.load(sys.stdin)["devices"][0]
print(d["lifecycle"], d["attempts_left"], d["last_event"]["event"])')"
b start "hostdev$$" --retries 5
expect_eq "start --retries overrides it" "0 5" \
	"$? $(b status --json | python3 -c 'import json, sys
print(json.load(sys.stdin)["devices"][0]["attempts_left"])')"
b abort "hostdev$$"
expect_eq "abort before any boot disarms" "0 idle 0 bowctl abort: no checkpoint was live; disarmed" \
	"$? $(b status --json | python3 -c 'import json, sys
d = json.load(sys.stdin)["devices"][0]
print(d["lifecycle"], d["attempts_left"], d["last_event"]["reason"])')"
b start "hostdev$$" && b commit "hostdev$$"
expect_eq "commit before any boot disarms" "0 idle bowctl commit; no checkpoint was live: disarmed" \
	"$? $(b status --json | python3 -c 'import json, sys
d = json.load(sys.stdin)["devices"][0]
print(d["lifecycle"], d["last_event"]["reason"])')"
cp "$tmp/state/hostdev$$.state" "$tmp/before.state"
b rollback "hostdev$$" 2> "$tmp/err"
expect_eq "rollback with no live checkpoint: refused, the state untouched" \
	"4 bowctl: hostdev$$: no live checkpoint to roll back 0" \
	"$? $(cat "$tmp/err") $(cmp -s "$tmp/before.state" "$tmp/state/hostdev$$.state"; echo $?)"
b status "hostdev$$" > "$tmp/out"
expect_eq "status for people" "hostdev$$: idle, 0 of 3 boot attempts left" \
	"$(head -n 1 "$tmp/out")"

# A kernel installed without the module (DKMS could not build it: no
# headers): arming is refused while the update tool can still act.  One
# built into the kernel counts.
: > "$BOW_MODULES_ROOT/boot/vmlinuz-6.12.0-test"
mkdir -p "$BOW_MODULES_ROOT/lib/modules/6.12.0-test/kernel"
b start "hostdev$$" 2> "$tmp/err"
expect_eq "start: a kernel without dm-bow.ko: refused, named" \
	"4 bowctl: hostdev$$: refusing to arm: no dm-bow.ko for the installed kernel 6.12.0-test: a boot into it could not checkpoint (install dm-bow-dkms and linux-headers for it, or remove it)" \
	"$? $(cat "$tmp/err")"
echo "kernel/drivers/md/dm-bow.ko" > "$BOW_MODULES_ROOT/lib/modules/6.12.0-test/modules.builtin"
b start "hostdev$$" && b abort "hostdev$$"
expect_eq "start: ... built in, accepted" 0 $?

# state_edit <file> <python: body = ...>: rewrite a state file, CRC kept.
state_edit()
{
	python3 - "$1" "$2" <<'EOT'
import sys, zlib
p = sys.argv[1]
body = open(p, "rb").read()
body = body[:body.rindex(b"crc32 ")]
exec(sys.argv[2])
crc = zlib.crc32(body, 0xffffffff) ^ 0xffffffff
open(p, "wb").write(body + b"crc32 %08x\n" % crc)
EOT
}

# life <what>: the device's lifecycle, then the last event and reason.
life()
{
	b status --json | python3 -c 'import json, sys
d = json.load(sys.stdin)["devices"][0]
e = d["last_event"] or {}
print(d["lifecycle"], d["attempts_left"], e.get("event"), "|", e.get("reason"))'
}
# The boot's commit (bow-commit@) never touches an arming: it commits only
# a checkpoint this boot took (none here: no device-mapper).
b start "hostdev$$" --retries 2
b boot-commit "hostdev$$" > "$tmp/out" 2> "$tmp/err"
expect_eq "boot-commit of an armed device: nothing to commit, still armed" \
	"0 bowctl: hostdev$$: nothing to commit: this boot took no checkpoint (armed) armed 2 start | armed for 2 boot attempts" \
	"$? $(cat "$tmp/out" "$tmp/err") $(life)"
# After a commit, an abort or a rollback cannot give the old data back:
# an error of its own (5), the state untouched; the same after a
# checkpoint that failed.
state_edit "$tmp/state/hostdev$$.state" 'body = body.replace(b"lifecycle armed", b"lifecycle committed").replace(b"event start", b"event commit").replace(b"reason armed for 2 boot attempts", b"reason the boot completed")'
cp "$tmp/state/hostdev$$.state" "$tmp/before.state"
for verb in abort rollback "abort --reboot"; do
	# shellcheck disable=SC2086
	b $verb "hostdev$$" > "$tmp/out" 2> "$tmp/err"
	expect_eq "$verb after a commit: status 5, says the data was committed, state untouched" \
		"5 0 bowctl: hostdev$$: nothing to restore: the update's data was committed already (commit at T: the boot completed)" \
		"$? $(cmp -s "$tmp/before.state" "$tmp/state/hostdev$$.state"; echo $?) $(cat "$tmp/out" "$tmp/err" | sed 's/ at [0-9]*/ at T/')"
done
state_edit "$tmp/state/hostdev$$.state" 'body = body.replace(b"lifecycle committed", b"lifecycle failed").replace(b"event commit", b"event checkpoint-failed").replace(b"reason the boot completed", b"reason FITRIM on /x failed: boot attempt 1 of 2 runs unprotected and is not committed")'
b abort "hostdev$$" > "$tmp/out" 2> "$tmp/err"
expect_eq "abort after a failed checkpoint: status 5, says why" \
	"5 bowctl: hostdev$$: nothing to restore: FITRIM on /x failed: boot attempt 1 of 2 runs unprotected and is not committed (checkpoint-failed at T)" \
	"$? $(cat "$tmp/out" "$tmp/err" | sed 's/ at [0-9]*/ at T/')"
# A commit after a rollback is no commit.
state_edit "$tmp/state/hostdev$$.state" 'body = body.replace(b"lifecycle failed", b"lifecycle rolled-back").replace(b"event checkpoint-failed", b"event rolled-back")'
cp "$tmp/state/hostdev$$.state" "$tmp/before.state"
b commit "hostdev$$" > "$tmp/out" 2> "$tmp/err"
expect_eq "commit after a rollback: refused, the state untouched" \
	"4 0 bowctl: hostdev$$: nothing to commit: the checkpoint was rolled back" \
	"$? $(cmp -s "$tmp/before.state" "$tmp/state/hostdev$$.state"; echo $?) $(cat "$tmp/out" "$tmp/err" | cut -d' ' -f1-10)"
b abort "hostdev$$" > "$tmp/out" 2> "$tmp/err"
expect_eq "abort after a rollback: nothing to abort, the state untouched" \
	"0 0 bowctl: hostdev$$: nothing to abort: rolled-back" \
	"$? $(cmp -s "$tmp/before.state" "$tmp/state/hostdev$$.state"; echo $?) $(cat "$tmp/out" "$tmp/err")"
rm "$tmp/state/hostdev$$.state"

# status: who commits, and whether a health check guards it.
echo "hostdev$$ /dev/disk/by-partlabel/none$$ state=$tmp/state,retries=3" > "$tmp/bowtab"
echo "man$$ /dev/disk/by-partlabel/none$$ state=$tmp/state,commit=manual" >> "$tmp/bowtab"
expect_eq "status --json: commit and health_check" \
	"boot-complete False manual None" \
	"$(b --root "$tmp/nosys" --bowtab "$tmp/bowtab" --fstab "$tmp/fstab" status --json | python3 -c 'import json, sys
print(" ".join("%s %s" % (d["commit"], d["health_check"]) for d in json.load(sys.stdin)["devices"]))')"
expect_eq "status: says who commits, and warns when no health check guards it" \
	"  commit: after a healthy boot; WARNING: no health check guards it (nothing is required by boot-complete.target)
  commit: by the update tool (commit=manual)" \
	"$(b --root "$tmp/nosys" --bowtab "$tmp/bowtab" --fstab "$tmp/fstab" status | grep '^  commit: ')"
expect_eq "status: no warning with a health check" \
	"  commit: after a healthy boot" \
	"$(b --root "$tmp/sys" --bowtab "$tmp/bowtab" --fstab "$tmp/fstab" status "hostdev$$" | grep '^  commit: ')"
# A bad line, a name used twice, bytes that are no UTF-8: every line has
# its entry, and the JSON is valid UTF-8.
printf "bad$$ /dev/vdx state=/s,retries=0\nman$$ /dev/vdy state=/t\nraw$$ /dev/\377\303x state=%s\n" "$tmp/state" >> "$tmp/bowtab"
b status --json > "$tmp/st" 2> "$tmp/err"
expect_eq "status --json: an entry for each line, bad ones with their error" \
	"2 hostdev$$:idle man$$:idle bad$$:bowtab_line=3 man$$:bowtab_line=4 raw$$:idle /dev/\ufffd\ufffdx" \
	"$? $(python3 -c 'import json, sys
ds = json.load(open(sys.argv[1], encoding="utf-8"))["devices"]
print(" ".join("%s:%s" % (d["name"], d.get("lifecycle") or "bowtab_line=%d" % d["bowtab_line"]) for d in ds),
      ascii(ds[-1]["lower"]).strip("'"'"'"))' "$tmp/st")"
expect_eq "status --json: the errors, as on stderr" \
	"$tmp/bowtab:3: bad retries '0': expected a number of boot attempts, 1 to 100; this device is left alone|$tmp/bowtab:4: name 'man$$' is on line 2 already: this line is left alone" \
	"$(python3 -c 'import json, sys
print("|".join(d["error"] for d in json.load(open(sys.argv[1]))["devices"] if "error" in d))' "$tmp/st")"
expect_eq "status: the same errors on stderr" \
	"$tmp/bowtab:3: bad retries '0': expected a number of boot attempts, 1 to 100; this device is left alone
$tmp/bowtab:4: name 'man$$' is on line 2 already: this line is left alone" \
	"$(cat "$tmp/err")"
echo "hostdev$$ /dev/disk/by-partlabel/none$$ state=$tmp/state,retries=3" > "$tmp/bowtab"

# A state directory others can write to: they could forge a state (an
# abort, a lower device) or have root write through a link.
mkdir -p "$tmp/open"
chmod 0777 "$tmp/open"
echo "open$$ /dev/disk/by-partlabel/none$$ state=$tmp/open/bow" > "$tmp/obowtab"
"$bowctl" --bowtab "$tmp/obowtab" --fstab "$tmp/fstab" start "open$$" > "$tmp/out" 2> "$tmp/err"
expect_eq "start with a state directory in one all can write to: refused, nothing written" \
	"4 bowctl: open$$: unsafe state directory: $tmp/open is writable by group or others (mode 0777) 0" \
	"$? $(cat "$tmp/out" "$tmp/err") $(ls -A "$tmp/open" | wc -l)"
expect_eq "status --json: the state file is unsafe" "3 unsafe failed" \
	"$("$bowctl" --bowtab "$tmp/obowtab" --fstab "$tmp/fstab" status --json 2> /dev/null > "$tmp/st"; echo $?) $(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))["devices"][0]
print(d["state_file"], d["lifecycle"])' "$tmp/st")"
chmod 0755 "$tmp/open"
ln -s "$tmp/victim" "$tmp/open/bow"
echo keep > "$tmp/victim"
"$bowctl" --bowtab "$tmp/obowtab" --fstab "$tmp/fstab" start "open$$" > "$tmp/out" 2> "$tmp/err"
expect_eq "start through a link to a file: refused, the file kept" \
	"4 bowctl: open$$: unsafe state directory: $tmp/victim: not a directory keep" \
	"$? $(cat "$tmp/err") $(cat "$tmp/victim")"
rm -f "$tmp/open/bow"
mkdir "$tmp/open/bow"
ln -s "$tmp/victim" "$tmp/open/bow/open$$.state.tmp"
"$bowctl" --bowtab "$tmp/obowtab" --fstab "$tmp/fstab" start "open$$" > "$tmp/out" 2> "$tmp/err"
expect_eq "start with a link at the state's temporary file: armed, the link not followed" \
	"0 keep armed" "$? $(cat "$tmp/victim") $("$bowctl" --bowtab "$tmp/obowtab" --fstab "$tmp/fstab" status --json | python3 -c 'import json, sys
print(json.load(sys.stdin)["devices"][0]["lifecycle"])')"

# The state directory on the protected file system: refused.
echo "/dev/mapper/hostdev$$ $tmp/state ext4 defaults 0 2" > "$tmp/fstab"
b start "hostdev$$" 2> "$tmp/err"
expect_eq "start refuses a state directory on the device" \
	"4 bowctl: hostdev$$: refusing to arm: state directory $tmp/state is on the protected file system ($tmp/state); a rollback would undo the state that asks for it (bowtab line 1)" \
	"$? $(cat "$tmp/err")"

# The state directory on a file system of its own (fstab) that is not
# mounted: the path names a directory of the file system below, where
# state would be hidden, and stale, once the right one is mounted.
mkdir -p "$tmp/meta"
echo "/dev/disk/by-label/meta$$ $tmp/meta ext4 defaults 0 2" > "$tmp/fstab"
sed -i "s|state=[^,]*|state=$tmp/meta/bow|" "$tmp/bowtab"
for verb in start status commit; do
	b $verb "hostdev$$" > /dev/null 2> "$tmp/err"
	expect_eq "$verb: refuses while the state's file system is not mounted" \
		"3 bowctl: hostdev$$: the state directory $tmp/meta/bow is on $tmp/meta ($tmp/fstab), which is not mounted" \
		"$? $(cat "$tmp/err")"
done
expect_eq "nothing written below the mount point" "" "$(ls -A "$tmp/meta")"
expect_eq "status --json: state file unmounted, lifecycle failed" \
	"unmounted failed" \
	"$(b status --json 2> /dev/null | python3 -c 'import json, sys
d = json.load(sys.stdin)["devices"][0]
print(d["state_file"], d["lifecycle"])')"
check "mount a tmpfs as the state's file system" \
	mount -t tmpfs "meta$$" "$tmp/meta"
b start "hostdev$$"
expect_eq "start once it is mounted: armed, the state on it" "0 1" \
	"$? $(ls "$tmp/meta/bow" 2> /dev/null | grep -c "^hostdev$$.state$")"
umount "$tmp/meta" 2> /dev/null
sed -i "s|state=[^,]*|state=$tmp/state|" "$tmp/bowtab"

# Usage errors: status 2, and a word on what is wrong.
for args in "" "frobnicate x" "start" "start a b" "status --retries 2" \
	    "start x --json" "commit x --reboot" "start x --retries 0" \
	    "changed" "changed a b" "changed x --reboot"; do
	# shellcheck disable=SC2086
	b $args > /dev/null 2>&1
	expect_eq "usage error: bowctl $args" 2 $?
done
b start nosuch 2> "$tmp/err"
expect_eq "no such entry" "2 $tmp/bowtab: no entry for nosuch" \
	"$? $(cat "$tmp/err")"

# --root: the system's bowtab, fstab and state under a directory, as the
# initramfs sees them; initramfs-devices names what the initramfs sets up
# and the file system that holds each one's state.
mkdir -p "$tmp/sysroot/etc" "$tmp/sysroot/meta/bow"
cat > "$tmp/sysroot/etc/bowtab" <<'EOT'
data PARTLABEL=data state=/var/lib/bow
var PARTLABEL=var state=/meta/bow,initramfs
srv /dev/vdd initramfs,state=/bow,retries=2
root /dev/vda state=/meta/bow,initramfs,resume
EOT
cat > "$tmp/sysroot/etc/fstab" <<'EOT'
/dev/mapper/root / ext4 rw 0 1
LABEL=meta /meta ext4 rw 0 2
/dev/mapper/var /var ext4 defaults 0 2
EOT
out=$("$bowctl" --root "$tmp/sysroot/" initramfs-devices 2>&1)
expect_eq "initramfs-devices: names, the state's file system, the phase" \
	"0 var /meta local-bottom
srv / local-bottom
root /meta local-top" "$? $out"
"$bowctl" --root "$tmp/sysroot" start srv > /dev/null
expect_eq "--root: the state under the root" \
	"0 armed 2 $tmp/sysroot/bow/srv.state" \
	"$? $(grep -c . "$tmp/sysroot/bow/srv.state" > /dev/null &&
	"$bowctl" --root "$tmp/sysroot" status srv --json | python3 -c '
import json, sys
d = json.load(sys.stdin)["devices"][0]
print(d["lifecycle"], d["attempts_left"])') $(ls "$tmp"/sysroot/bow/*)"
echo "bad x" >> "$tmp/sysroot/etc/bowtab"
"$bowctl" --root "$tmp/sysroot" initramfs-devices > "$tmp/out" 2> "$tmp/err"
expect_eq "initramfs-devices: a bad line is said, the others listed" \
	"2 3 $tmp/sysroot/etc/bowtab:5: bad lower device 'x': expected PARTLABEL=, PARTUUID=, UUID= or a /dev path; this device is left alone" \
	"$? $(grep -c . "$tmp/out") $(cat "$tmp/err")"
for args in "--root rel initramfs-devices" "initramfs-devices srv"; do
	# shellcheck disable=SC2086
	"$bowctl" $args > /dev/null 2>&1
	expect_eq "usage error: bowctl $args" 2 $?
done

# Groups: the devices one update changes are decided together.  By
# default all of bowtab's are one group ("all"); group= splits them.
# Without device-mapper here only armings are seen: a commit or abort
# of one member cancels the others' too, and leaves other groups alone.
cat > "$tmp/bowtab" <<EOT
ga$$ /dev/disk/by-partlabel/none$$ state=$tmp/gs
gb$$ /dev/disk/by-partlabel/none$$ state=$tmp/gs
gc$$ /dev/disk/by-partlabel/none$$ state=$tmp/gs,group=apps
EOT
mkdir -p "$tmp/gs"
# glife: each device's lifecycle, group and last reason, a line each.
glife()
{
	b status --json | python3 -c 'import json, sys
for d in json.load(sys.stdin)["devices"]:
	print(d["name"][:2], d["group"], d["lifecycle"], "|", d["last_event"]["reason"])'
}
b start "ga$$" && b start "gb$$" && b start "gc$$" && b commit "gb$$"
expect_eq "group: a commit of one member disarms the group, not another group" \
	"0 ga all idle | bowctl commit (with its group all); no checkpoint was live: disarmed
gb all idle | bowctl commit; no checkpoint was live: disarmed
gc apps armed | armed for 1 boot attempt" "$? $(glife)"
b start "ga$$" && b start "gb$$" && b abort "ga$$"
expect_eq "group: an abort of one member disarms the group" \
	"0 ga all idle | bowctl abort: no checkpoint was live; disarmed
gb all idle | bowctl abort: no checkpoint was live; disarmed
gc apps armed | armed for 1 boot attempt" "$? $(glife)"
# A member whose state cannot be read safely stops the whole decision.
b start "ga$$" && b start "gb$$"
printf 'ga%s /dev/disk/by-partlabel/none%s state=%s/gs\ngb%s /dev/disk/by-partlabel/none%s state=%s/gu\n' \
	$$ $$ "$tmp" $$ $$ "$tmp" > "$tmp/bowtab"
mkdir -p "$tmp/gu" && chmod 777 "$tmp/gu"
b commit "ga$$" 2> "$tmp/err"
expect_eq "group: a member with an unsafe state directory: nothing decided" \
	"4 bowctl: gb$$: unsafe state directory: $tmp/gu is writable by group or others (mode 0777)
bowctl: gb$$: the group all is left as it was
armed" \
	"$? $(cat "$tmp/err")
$(b status "ga$$" --json | python3 -c 'import json, sys
print(json.load(sys.stdin)["devices"][0]["lifecycle"])')"
printf 'bad%s /dev/vdz state=/x,group=a/b\n' $$ > "$tmp/bowtab"
b status "bad$$" > /dev/null 2> "$tmp/err"
expect_eq "group: a bad group name" \
	"2 $tmp/bowtab:1: bad group 'a/b': expected letters, digits, '_', '-', '.' (under 64); this device is left alone" \
	"$? $(head -n 1 "$tmp/err")"

# A power cut after a restore's last write and before the state file
# records it (bowctl-test --test-cut-after-restore): the log is gone, as
# after a commit, and the next boot must still call it a rollback.  The
# device is a loop device over a model image with a live log; this host
# has no device-mapper, so boot-setup ends, after the state, in "cannot
# create /dev/mapper/...".
BOW_SEED_DIR=$tmp "$top/build/test-restore"
cp "$tmp/model-bs4096-h28.img" "$tmp/cut.img"
cp "$tmp/model-bs4096-h28.img" "$tmp/cut.orig"
loop=$(losetup -f --show "$tmp/cut.img")
trap 'losetup -d "$loop"; rm -rf "$tmp"' EXIT
echo "cut$$ $loop state=$tmp/cs,retries=1,initramfs" > "$tmp/bowtab"
: > "$tmp/fstab"
b start "cut$$"
# The state a boot leaves once it has checkpointed its one attempt.
state_edit "$tmp/cs/cut$$.state" 'body = body.replace(b"lifecycle armed", b"lifecycle checkpoint").replace(b"attempts 1", b"attempts 0")'
"$top/bowctl/bowctl-test" --bowtab "$tmp/bowtab" --fstab "$tmp/fstab" \
	--test-cut-after-restore boot-setup "cut$$" > /dev/null 2>&1
expect_eq "cut after the restore: the log is gone, the intent recorded" \
	"99 checkpoint restoring" \
	"$? $(b status --json | python3 -c 'import json, sys
d = json.load(sys.stdin)["devices"][0]
print(d["lifecycle"], d["last_event"]["event"])')"
check "cut after the restore: no log in block 0" sh -c \
	"! '$top/bow-restore/bow-restore' -n '$loop' > /dev/null 2>&1 ||
	 '$top/bow-restore/bow-restore' -n '$loop' | grep -q 'no checkpoint'"
b boot-setup "cut$$" > "$tmp/out" 2> "$tmp/err"
expect_eq "the next boot: rolled back, not committed" \
	"3 rolled-back restored restored the checkpoint: the boot did not commit and no attempt is left" \
	"$? $(b status --json | python3 -c 'import json, sys
d = json.load(sys.stdin)["devices"][0]
print(d["lifecycle"], d["last_event"]["event"], d["last_event"]["reason"])')"
expect_eq "the next boot: says so, then fails only at device-mapper" \
	"bowctl: cut$$: restored
bowctl: cut$$: setting up after the root switch: the initramfs did not (see its messages above; or its image is older than the bowtab line: update-initramfs -u)
bowctl: cut$$: cannot create /dev/mapper/cut$$ (linear $loop 0)" \
	"$(cat "$tmp/out" "$tmp/err" | grep '^bowctl: ')"
"$bowctl" --bowtab "$tmp/bowtab" --fstab "$tmp/fstab" --root "$tmp" boot-setup \
	"cut$$" 2>&1 | grep -c 'setting up after the root switch' > "$tmp/out"
expect_eq "... not under --root (the initramfs itself)" 0 "$(cat "$tmp/out")"

# The last attempt took no checkpoint (its bow-checkpoint@ failed before
# recording, or never ran): nothing is restored, and status must not say
# it was rolled back.
b start "cut$$"
state_edit "$tmp/cs/cut$$.state" 'body = body.replace(b"attempts 1", b"attempts 0")'
b boot-setup "cut$$" > /dev/null 2>&1
expect_eq "no attempt left and no checkpoint was taken: failed, not rolled back" \
	"3 failed 0 no-checkpoint | no boot attempt left, and the last one took no checkpoint (see its bow-checkpoint@cut$$): nothing was restored" \
	"$? $(life)"

# The boot loader's entries (its EFI variables, faked in $BOW_EFIVARS):
# start records the entry armed from; a boot of another entry is the
# update's; back on the first one after it, the boot loader fell back:
# restored and over, whatever retries are left.  On the update's entry,
# while the boot loader counts its tries, a boot past retries is still
# protected (checkpointed: here, up to device-mapper); without the count,
# retries decide.  The boot's commit waits for the boot loader's mark.
efi=$tmp/efivars
mkdir -p "$efi"
efivar()	# <name> <value>: as systemd-boot sets it (UTF-16LE)
{
	python3 -c 'import sys
open(sys.argv[1], "wb").write(b"\x06\0\0\0" + (sys.argv[2] + "\0").encode("utf-16-le"))' \
		"$efi/$1-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f" "$2"
}
entries()
{
	grep '^entry-' "$tmp/cs/cut$$.state" | tr '\n' ' '
}
export BOW_EFIVARS=$efi
efivar LoaderEntrySelected bowtest-a.conf
b start "cut$$" --entry 'x y'
expect_eq "start --entry: a name with a space is refused" 2 $?
b start "cut$$"
expect_eq "start: the entry booted is recorded, the update's not known yet" \
	"0 entry-from bowtest-a.conf  armed 1 start | armed for 1 boot attempt from boot entry bowtest-a.conf" \
	"$? $(entries) $(life)"
efivar LoaderEntrySelected bowtest-b+2-1.conf
efivar LoaderBootCountPath '\loader\entries\bowtest-b+1-1.conf'
# (No device-mapper here: each checkpoint ends in "no-dm-bow", with the
# reason of the attempt it was going to be.)
no_dm="no-dm-bow | this kernel ($(uname -r)) has no dm-bow target: dm-bow.ko is missing for it (dm-bow-dkms and linux-headers-$(uname -r) build it)"
cp "$tmp/cut.orig" "$tmp/cut.img"
b boot-setup "cut$$" > /dev/null 2>&1
expect_eq "the update's entry: its first boot counts an attempt and records the entry" \
	"3 entry-from bowtest-a.conf entry-to bowtest-b.conf  armed 0 $no_dm: boot attempt 1 of 1 runs unprotected" \
	"$? $(entries) $(life)"
# The state its checkpoint would leave, the log live again.
live()
{
	state_edit "$tmp/cs/cut$$.state" 'body = body.replace(b"lifecycle armed", b"lifecycle checkpoint")'
	cp "$tmp/cut.orig" "$tmp/cut.img"
}
live
b boot-setup "cut$$" > /dev/null 2>&1
expect_eq "the same boot again: restored, nothing more counted" \
	"3 armed 0 $no_dm: boot attempt 1 of 1 runs unprotected" "$? $(life)"
live
state_edit "$tmp/cs/cut$$.state" 'body = body.replace(b"boot ", b"boot 0")'
b boot-setup "cut$$" > /dev/null 2>&1
expect_eq "its next try, past retries, the boot loader still counting: restored and protected again" \
	"3 armed 0 $no_dm: boot attempt past the 1 retries (the boot loader still counts the tries of entry bowtest-b.conf, not marked good) runs unprotected" \
	"$? $(life)"
check "... the checkpoint restored (no log left in block 0)" \
	sh -c "'$top/bow-restore/bow-restore' -n '$loop' | grep -q 'no checkpoint'"
live
efivar LoaderEntrySelected bowtest-a.conf
rm "$efi"/LoaderBootCountPath-*
b boot-setup "cut$$" > /dev/null 2>&1
expect_eq "back on the entry armed from: restored, rolled back, nothing armed" \
	"3 rolled-back 0 restored | restored the checkpoint: the boot loader went back to entry bowtest-a.conf (bowtest-b.conf did not become good)" \
	"$? $(life)"
b start "cut$$" --entry Bowtest-B+3.conf
expect_eq "start --entry: the update's entry recorded as the boot loader names it" \
	"0 entry-from bowtest-a.conf entry-to bowtest-b.conf " "$? $(entries)"
b boot-setup "cut$$" > /dev/null 2>&1
expect_eq "a boot of the entry armed from, the update's named: the install did not switch; disarmed, nothing restored" \
	"3 idle 0 fell-back | the boot loader went back to entry bowtest-a.conf before bowtest-b.conf took a checkpoint: nothing to restore; disarmed" \
	"$? $(life)"
b start "cut$$"
efivar LoaderEntrySelected bowtest-b.conf
live
state_edit "$tmp/cs/cut$$.state" 'body = body.replace(b"attempts 1", b"attempts 0")'
b boot-setup "cut$$" > /dev/null 2>&1
expect_eq "the update's entry not counted by the boot loader: retries decide" \
	"3 rolled-back 0 restored | restored the checkpoint: the boot did not commit and no attempt is left" \
	"$? $(life)"
unset BOW_EFIVARS

# A device updated in place (bowtab resume), without device-mapper here:
# bowctl start refuses (it checkpoints under the mounted file system);
# boot-setup with a live log and an attempt left counts the attempt and
# tries to resume, and when dm-bow cannot, restores (rolled back, no
# attempt left); one whose restore began never tries to resume; armed
# without a log (start stopped before its checkpoint) is disarmed.
res_status()
{
	b status --json | python3 -c 'import json, sys
d = json.load(sys.stdin)["devices"][0]
print(d["lifecycle"], d["attempts_left"], d["last_event"]["event"] if d["last_event"] else None, "|", d["last_event"]["reason"] if d["last_event"] else "")'
}
# Without device-mapper here, no target either: what bowctl says then.
no_target="this kernel ($(uname -r)) has no dm-bow target: dm-bow.ko is missing for it (dm-bow-dkms and linux-headers-$(uname -r) build it)"
echo "res$$ $loop state=$tmp/rs,retries=2,resume" > "$tmp/bowtab"
rm -rf "$tmp/rs"
b start "res$$" > "$tmp/out" 2> "$tmp/err"
expect_eq "resume: start without the device set up is refused, nothing written" \
	"4 bowctl: res$$: /dev/mapper/res$$ is not set up by bowctl: the checkpoint of an in-place update (resume) is taken under its mounted file system 0" \
	"$? $(cat "$tmp/err") $(ls "$tmp/rs" 2>/dev/null | wc -l)"
# The state a start leaves once its checkpoint is live, made by hand.
mkdir -p "$tmp/rs"
echo "res$$ $loop state=$tmp/rs,retries=2" > "$tmp/bowtab"
b start "res$$" > /dev/null
echo "res$$ $loop state=$tmp/rs,retries=2,resume" > "$tmp/bowtab"
state_edit "$tmp/rs/res$$.state" 'body = body.replace(b"lifecycle armed", b"lifecycle checkpoint")'
b boot-commit "res$$" > "$tmp/out" 2> "$tmp/err"
expect_eq "resume: boot-commit in the boot of bowctl start (no attempt spent) does not commit" \
	"0 bowctl: res$$: not committing: no boot has tried the update yet checkpoint 2" \
	"$? $(cat "$tmp/err") $(res_status | cut -d' ' -f1,2)"
cp "$tmp/cut.orig" "$tmp/cut.img"
b boot-setup "res$$" > "$tmp/out" 2> "$tmp/err"
expect_eq "resume: dm-bow cannot resume: restored, no attempt left" \
	"3 rolled-back 0 restored | restored the checkpoint: could not resume it: $no_target" \
	"$? $(res_status)"
expect_eq "resume: what boot-setup said (its output, then its errors)" \
	"bowctl: res$$: restored
bowctl: res$$: cannot create /dev/mapper/res$$ (bow $loop 3 block_size:4096 low_water:104857600 resume)
bowctl: res$$: not resuming the checkpoint: $no_target; restoring it
bowctl: res$$: cannot create /dev/mapper/res$$ (linear $loop 0)" \
	"$(cat "$tmp/out" "$tmp/err" | grep '^bowctl: ')"
check "resume: the device is back at the checkpoint" \
	sh -c "'$top/bow-restore/bow-restore' -n '$loop' | grep -q 'no checkpoint'"
# A restore that began: the log still validates, but is never resumed.
cp "$tmp/cut.orig" "$tmp/cut.img"
state_edit "$tmp/rs/res$$.state" 'body = body.replace(b"lifecycle rolled-back", b"lifecycle checkpoint").replace(b"attempts 0", b"attempts 2").replace(b"event restored", b"event restoring")'
b boot-setup "res$$" > "$tmp/out" 2> "$tmp/err"
expect_eq "resume: a restore that began is finished, not resumed" \
	"3 rolled-back 0 restored 0" \
	"$? $(res_status | cut -d'|' -f1)$(grep -c 'resum' "$tmp/err")"
state_edit "$tmp/rs/res$$.state" 'body = body.replace(b"lifecycle rolled-back", b"lifecycle armed").replace(b"attempts 0", b"attempts 2")'
b boot-setup "res$$" > "$tmp/out" 2> "$tmp/err"
expect_eq "resume: armed without a log: disarmed" \
	"3 idle 0 disarmed | bowctl start did not finish: no checkpoint was taken" \
	"$? $(res_status)"

# An armed boot on a kernel without dm-bow (an update brought a kernel
# that DKMS did not build for): no log is live, so the device is mapped
# as a pass-through and still boots, the attempt counted; the state, the
# boot's warning and bow-checkpoint@ say that it runs unprotected.
echo "nt$$ $loop state=$tmp/nt,retries=2" > "$tmp/bowtab"
mkdir -p "$tmp/nt"
rm -f /run/bowctl/nt$$.warning
b start "nt$$"
b boot-setup "nt$$" > "$tmp/out" 2> "$tmp/err"
expect_eq "no dm-bow target: a pass-through instead (what it said)" \
	"bowctl: nt$$: cannot create /dev/mapper/nt$$ (bow $loop 2 block_size:4096 low_water:104857600)
bowctl: nt$$: not checkpointing: $no_target; this armed boot runs unprotected, on a pass-through
bowctl: nt$$: cannot create /dev/mapper/nt$$ (linear $loop 0)" \
	"$(cat "$tmp/out" "$tmp/err" | grep '^bowctl: ')"
expect_eq "no dm-bow target: recorded, the attempt counted, still armed" \
	"armed 1 no-dm-bow | $no_target: boot attempt 1 of 2 runs unprotected" \
	"$(res_status)"
b boot-checkpoint "nt$$" > /dev/null 2>&1
expect_eq "no dm-bow target: bow-checkpoint@ fails the boot's health" 3 $?
rm -f /run/bowctl/nt$$.warning

# A state file system that cannot be written (full, read-only after an
# error): a restore needs no state, so the log is restored and the device
# mapped all the same; a checkpoint needs one (its attempt must be
# counted), so none is taken, and the boot says so where bow-checkpoint@
# (which boot-complete.target requires) and status see it.  A later boot
# must not read the unrecorded restore as a commit.
mkdir -p "$tmp/ro"
mount -t tmpfs -o size=1m,mode=0755 bowtest "$tmp/ro"
trap 'umount "$tmp/ro"; losetup -d "$loop"; rm -rf "$tmp"' EXIT
warning=/run/bowctl/ro$$.warning
rm -f "$warning"
echo "ro$$ $loop state=$tmp/ro/st,retries=2" > "$tmp/bowtab"
b start "ro$$"
# A boot took attempt 1 of 2, checkpointed, and stopped.
state_edit "$tmp/ro/st/ro$$.state" 'body = body.replace(b"lifecycle armed", b"lifecycle checkpoint").replace(b"attempts 2", b"attempts 1")'
cp "$tmp/ro/st/ro$$.state" "$tmp/ro.state"
# setup_ro: boot-setup over a live log, the state's file system read-only.
setup_ro()
{
	cp "$tmp/cut.orig" "$tmp/cut.img"
	mount -o remount,ro "$tmp/ro"
	b boot-setup "ro$$" > "$tmp/out" 2> "$tmp/err"
}
setup_ro
expect_eq "state read-only: restored, no checkpoint, mapped a pass-through (what it said)" \
	"bowctl: ro$$: restored
bowctl: ro$$: $tmp/ro/st/ro$$.state.tmp: cannot create: Read-only file system
bowctl: ro$$: going on without a record of the restore
bowctl: ro$$: $tmp/ro/st/ro$$.state.tmp: cannot create: Read-only file system
bowctl: ro$$: not checkpointing: the state file cannot count this boot's attempt; this armed boot runs unprotected
bowctl: ro$$: cannot create /dev/mapper/ro$$ (linear $loop 0)" \
	"$(cat "$tmp/out" "$tmp/err" | grep '^bowctl: ')"
check "state read-only: the device is back at the checkpoint" \
	sh -c "'$top/bow-restore/bow-restore' -n '$loop' | grep -q 'no checkpoint'"
b boot-checkpoint "ro$$" 2> "$tmp/err"
expect_eq "state read-only: bow-checkpoint@ fails the boot's health, and says why" \
	"3 bowctl: ro$$: not checkpointing: the state file cannot count this boot's attempt; this armed boot runs unprotected" \
	"$? $(cat "$tmp/err")"
b status --json > "$tmp/st"
expect_eq "state read-only: status shows the boot's warning (status 3)" \
	"3 checkpoint not checkpointing: the state file cannot count this boot's attempt; this armed boot runs unprotected" \
	"$? $(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))["devices"][0]
print(d["lifecycle"], d["boot_warning"])' "$tmp/st")"
b status "ro$$" | grep '^  WARNING' > "$tmp/out"
expect_eq "state read-only: ... for people too" \
	"  WARNING (this boot): not checkpointing: the state file cannot count this boot's attempt; this armed boot runs unprotected" \
	"$(cat "$tmp/out")"
# The next boot, the state writable again: it still says "checkpoint",
# and there is no log.  No commit was recorded before one: not committed.
rm -f "$warning"
mount -o remount,rw "$tmp/ro"
b boot-setup "ro$$" > /dev/null 2> "$tmp/err"
expect_eq "the next boot: a gone log with no commit recorded is no commit" \
	"3 failed log-gone | the checkpoint's log is gone and no commit was recorded (a restore the state file could not record?): whether the data is the checkpoint's or the update's is not known" \
	"$? $(b status --json | python3 -c 'import json, sys
d = json.load(sys.stdin)["devices"][0]
print(d["lifecycle"], d["last_event"]["event"], "|", d["last_event"]["reason"])')"
b abort "ro$$" 2> "$tmp/err"
expect_eq "... and an abort says nothing can be restored" 5 $?
# A commit recorded before the device committed (bowctl commit writes
# "committing" first), then a power cut: committed.
cp "$tmp/ro.state" "$tmp/ro/st/ro$$.state"
state_edit "$tmp/ro/st/ro$$.state" 'body = body.replace(b"event start", b"event committing")'
b boot-setup "ro$$" > /dev/null 2>&1
expect_eq "a commit recorded, then no log: committed" \
	"committed commit | the checkpoint was committed (before a restart, not yet recorded)" \
	"$(b status --json | python3 -c 'import json, sys
d = json.load(sys.stdin)["devices"][0]
print(d["lifecycle"], d["last_event"]["event"], "|", d["last_event"]["reason"])')"
# A commit recorded ("committing") over a log still live: a power cut
# before dm-bow committed, or a group member whose own commit failed.
# The decision was made: the next boot finishes the commit (rolls
# forward, the new data kept), never restores.
cp "$tmp/cut.orig" "$tmp/forward.img"
"$top/bow-restore/bow-restore" --roll-forward "$tmp/forward.img" > /dev/null
cp "$tmp/cut.orig" "$tmp/cut.img"
cp "$tmp/ro.state" "$tmp/ro/st/ro$$.state"
state_edit "$tmp/ro/st/ro$$.state" 'body = body.replace(b"event start", b"event committing")'
b boot-setup "ro$$" > "$tmp/out" 2>&1
expect_eq "a commit recorded over a live log: finished, not restored" \
	"committed commit | the checkpoint was committed (finished at this boot)
bowctl: ro$$: commit-finished" \
	"$(b status --json | python3 -c 'import json, sys
d = json.load(sys.stdin)["devices"][0]
print(d["lifecycle"], d["last_event"]["event"], "|", d["last_event"]["reason"])')
$(grep '^bowctl: ro' "$tmp/out" | grep -v 'cannot create')"
check "... the device holds the new data (as bow-restore --roll-forward)" \
	cmp -s "$tmp/cut.img" "$tmp/forward.img"
# A device updated in place, its checkpoint live, the state read-only:
# an attempt that cannot be counted is not resumed; restored instead.
echo "ro$$ $loop state=$tmp/ro/st,retries=2,resume" > "$tmp/bowtab"
cp "$tmp/ro.state" "$tmp/ro/st/ro$$.state"
state_edit "$tmp/ro/st/ro$$.state" 'body = body.replace(b"attempts 1", b"attempts 2")'
setup_ro
expect_eq "resume, state read-only: not resumed, restored, a pass-through (what it said)" \
	"bowctl: ro$$: restored
bowctl: ro$$: $tmp/ro/st/ro$$.state.tmp: cannot create: Read-only file system
bowctl: ro$$: not resuming the checkpoint: the state file cannot count this boot's attempt; restoring it
bowctl: ro$$: $tmp/ro/st/ro$$.state.tmp: cannot create: Read-only file system
bowctl: ro$$: going on without a record of the restore
bowctl: ro$$: $tmp/ro/st/ro$$.state.tmp: cannot create: Read-only file system
bowctl: ro$$: the state file cannot record what this boot did (restored): it still says checkpoint
bowctl: ro$$: cannot create /dev/mapper/ro$$ (linear $loop 0)" \
	"$(cat "$tmp/out" "$tmp/err" | grep '^bowctl: ')"
check "resume, state read-only: the device is back at the checkpoint" \
	sh -c "'$top/bow-restore/bow-restore' -n '$loop' | grep -q 'no checkpoint'"
rm -f "$warning"
mount -o remount,rw "$tmp/ro"

# The update tools' hooks: every bowtab device, each tool's convention.
cat > "$tmp/bowtab" <<EOT
one /dev/disk/by-partlabel/none1$$ state=$tmp/hs,retries=2
# a comment
two /dev/disk/by-partlabel/none2$$ state=$tmp/hs
EOT
: > "$tmp/fstab"
hooks=$top/hooks
export BOW_HOOK=$hooks/bow-hook BOWTAB=$tmp/bowtab
PATH=$top/bowctl:$PATH "$hooks/rauc-pre-install"
expect_eq "RAUC pre-install arms every device" "0 armed armed" \
	"$? $(b status --json | python3 -c 'import json, sys
print(" ".join(d["lifecycle"] for d in json.load(sys.stdin)["devices"]))')"
ln -s "$hooks/mender-state-script" "$tmp/ArtifactRollback_Enter_50_dm-bow"
PATH=$top/bowctl:$PATH "$tmp/ArtifactRollback_Enter_50_dm-bow" 2> /dev/null
expect_eq "Mender ArtifactRollback_Enter aborts every device" "0 idle idle" \
	"$? $(b status --json | python3 -c 'import json, sys
print(" ".join(d["lifecycle"] for d in json.load(sys.stdin)["devices"]))')"
BOW_DEVICES=one PATH=$top/bowctl:$PATH "$hooks/swupdate-pre-install"
expect_eq "SWUpdate pre-install arms the devices named in BOW_DEVICES" \
	"0 armed idle" "$? $(b status --json | python3 -c 'import json, sys
print(" ".join(d["lifecycle"] for d in json.load(sys.stdin)["devices"]))')"
echo "one /dev/x state=$tmp/hs/sub/deeper" > "$tmp/bowtab"
ln -s "$hooks/mender-state-script" "$tmp/ArtifactInstall_Enter_50_dm-bow"
PATH=$top/bowctl:$PATH "$tmp/ArtifactInstall_Enter_50_dm-bow" 2> /dev/null
expect_eq "Mender: a failure is status 1" 1 $?
ln -s "$hooks/mender-state-script" "$tmp/Download_Enter_50_dm-bow"
"$tmp/Download_Enter_50_dm-bow" 2> /dev/null
expect_eq "Mender: an unknown state is a failure" 1 $?
