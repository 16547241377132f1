# Guest-side helpers for VM tests, sourced by each run.sh (busybox sh).
. ./lib.sh

# busybox sh runs its own applets before PATH; its dd falls back to
# buffered I/O on unaligned buffers.  GNU dd sends the bios we ask for.
dd()
{
	/sbin/dd status=none "$@"
}

# sum <device> <first sector> <sectors>: the md5 of that range, read
# direct (past any cache).
sum()
{
	dd if="$1" bs=512 skip="$2" count="$3" iflag=direct | md5sum |
		cut -d' ' -f1
}

# bow_create <name> <device> [feature args...]: a bow target over all of
# <device>, with /dev/mapper/<name>.
bow_create()
{
	_name=$1
	_dev=$2
	shift 2
	_sectors=$(blockdev --getsz "$_dev")
	dmsetup create --noudevsync "$_name" \
		--table "0 $_sectors bow $_dev $*" && dmsetup mknodes "$_name"
}

# table_error <table> [dmsetup options...]: create a device named bad
# with that table; if it is refused, print the error the target gave
# (ti->error), else remove it and print "accepted".
table_error()
{
	_table=$1
	shift
	if dmsetup create --noudevsync "$@" bad --table "$_table" 2>/dev/null; then
		dmsetup remove --noudevsync bad
		echo accepted
		return
	fi
	dmesg | grep ': bow-checkpoint: \|: bow: ' | tail -n 1 |
		sed 's/.*: bow[a-z-]*: //; s/ (-E[A-Z0-9]*)$//'
}

# last_bow_line: the newest dm-bow line of the kernel log, without its
# prefix and device name.
last_bow_line() { dmesg | grep ': bow: ' | tail -n 1 | sed 's/.*: bow: [^:]*: //'; }

# message <name> <message>: dmsetup message; its exit status and, on
# failure, its error.
message()
{
	_err=$(dmsetup message "$1" 0 "$2" 2>&1)
	_rc=$?
	_err=$(echo "$_err" | head -n 1)
	echo "$_rc${_err:+ ${_err##*: }}"
}

# sectors_written <disk>: sectors written to it (vdb, not /dev/vdb), from
# its stat: the exact I/O count a test compares before and after.
# events <name>: the dm device's event counter (dmsetup wait's).
events() { dmsetup info -c --noheadings -o events "$1"; }

# events_reach <name> <count>: wait (a minute at most) until the event
# counter is <count>: events are raised from a work item.
events_reach() { wait_until "$1: event $2" test "$(events "$1")" -ge "$2"; }

sectors_written() { awk '{ print $7 }' /sys/block/$1/stat; }

# in_msleep <pid>: a thread of <pid> sleeps in msleep() (a debug delay).
in_msleep() { grep -q '^msleep$' /proc/$1/task/*/wchan 2>/dev/null; }

# wait_until <what> <command...>: poll the command until it succeeds, up
# to a minute.  A test that must send something while another bio is
# held (dm-delay, a debug delay) waits for the hold to be seen, not for a
# fixed time that a loaded host may overrun.
wait_until()
{
	_what=$1
	shift
	_i=0
	until "$@"; do
		_i=$((_i + 1))
		if [ $_i -gt 600 ]; then
			not_ok "$_what within a minute"
			return 1
		fi
		sleep 0.1
	done
}

# reads_delayed <name>: dm-delay holds a read now in the dm device <name>
# (its status: reads and writes held, on the delay target's line).
reads_delayed()
{
	[ "$(dmsetup status "$1" | awk '$3 == "delay" { n += $4 } END { print n + 0 }')" -gt 0 ]
}

# writes_delayed <name>: dm-delay holds a write now in <name>.
writes_delayed()
{
	[ "$(dmsetup status "$1" | awk '$3 == "delay" { n += $5 } END { print n + 0 }')" -gt 0 ]
}

# lower_create <name> <disk>: a dm-linear device over all of <disk>.
lower_create()
{
	dmsetup create --noudevsync "$1" \
		--table "0 $(blockdev --getsz "$2") linear $2 0" &&
		dmsetup mknodes "$1"
}

# lower_table <name> <disk> [<first sector> <sectors>]: the lower device
# passes all through to <disk>, or fails every I/O to that range.
lower_table()
{
	_n=$(blockdev --getsz "$2")
	_t="0 $_n linear $2 0"
	if [ $# -eq 4 ]; then
		_end=$(($3 + $4))
		_t="$3 $4 error"
		[ "$3" -gt 0 ] && _t="0 $3 linear $2 0
$_t"
		[ $_end -lt "$_n" ] && _t="$_t
$_end $((_n - _end)) linear $2 $_end"
	fi
	lower_load "$1" "$_t"
}

# lower_load <name> <table>: swap the table of <name> for <table>.
lower_load()
{
	dmsetup suspend "$1"
	echo "$2" | dmsetup load "$1" || not_ok "$1 table: $2"
	dmsetup resume "$1"
}

# bow_sys <name>: the bow sysfs directory of a dm device.
bow_sys()
{
	echo "/sys/block/$(dmsetup info -c --noheadings -o blkdevname "$1")/bow"
}

# bow_status <name> <field>: one field of the INFO status line (1 = state,
# 2 = free bytes, 3 = bytes backed up, 4 = log entries, 5 = log blocks,
# 6 = log commits, 7 = writes refused, 8 = bytes of backups moved, 9 = rw,
# or fail after a log write failed, 10 = the backup check of a resume).
bow_status()
{
	dmsetup status "$1" | awk -v f="$2" '{ print $(3 + f) }'
}

# ext4_start <name> <device> <copy or "">: dm-bow over the ext4 on
# <device> as /dev/mapper/<name>, mounted at /mnt/<name>, trimmed and
# checkpointed with the file system frozen; the checkpoint copied through
# dm-bow to <copy> (the reference the host compares with).
ext4_start()
{
	mkdir -p /mnt/$1
	check "$1: create" bow_create $1 $2 1 block_size:4096
	check "$1: mount" mount /dev/mapper/$1 /mnt/$1
	check "$1: fstrim" fstrim /mnt/$1
	fsfreeze -f /mnt/$1
	check "$1: checkpoint" dmsetup message $1 0 checkpoint
	[ -n "$3" ] && dd if=/dev/mapper/$1 of=$3 bs=1M iflag=direct oflag=direct
	fsfreeze -u /mnt/$1
}

# newest_backup <device or image>: "<source> <dest>", in sectors, of the
# newest log entry that backs up data (an entry 0 backs up block 0 or a
# log block).  -f: dm-bow may hold the device; bow-restore only reads.
newest_backup()
{
	bow-restore -n -v -f "$1" | awk '/entry/ && $6 != 0 { print $6, $8; exit }'
}

# log_sector0 <device>: the sector0 field of the log header in block 0 of
# <device> (the raw device under dm-bow): where the live block 0 is.
log_sector0()
{
	dd if="$1" bs=512 count=1 iflag=direct | od -An -tu8 -j20 -N8 | tr -d ' '
}

# log_freemap <device>: the freemap field of the header extension in
# block 0 of <device>: where the free-space map's first block is.
log_freemap()
{
	dd if="$1" bs=512 count=1 iflag=direct | od -An -tu8 -j44 -N8 | tr -d ' '
}

# load_extra <module> [params...]: load <module> from /lib/modules/extra
# (mkinitramfs.sh), the modules before it in /etc/modules.extra first.
load_extra()
{
	_m=$1
	shift
	while read -r _ko; do
		if [ "$_ko" = "$_m.ko" ] || [ "$_ko" = "$_m.ko.xz" ]; then
			insmod "/lib/modules/extra/$_ko" "$@"
			return
		fi
		insmod "/lib/modules/extra/$_ko" 2> /dev/null
	done < /etc/modules.extra
	return 1
}
