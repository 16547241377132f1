# A suspended dm-bow device sees no I/O of its own: a state change (the
# checkpoint, the commit, a rollback, a bow-checkpoint index whose build
# commits the log) is refused with EBUSY while it is suspended, from a
# message or from sysfs, and nothing is written; after the resume the
# same requests pass.  Disk: /dev/vdb, 8 MiB of random bytes.
. ./guest-lib.sh
B=4096

bow_create bow /dev/vdb 1 block_size:$B
S=$(bow_sys bow)
blkdiscard -o $((1024 * B)) -l $((512 * B)) /dev/mapper/bow
ckpt_table="0 $(blockdev --getsz /dev/vdb) bow-checkpoint /dev/vdb"

# refused_while_suspended <label> <expected state> <kernel log> <request...>
refused_while_suspended()
{
	_label=$1 _state=$2 _said=$3
	shift 3
	_w=$(sectors_written vdb)
	check "$_label: suspend" dmsetup suspend bow
	expect_eq "$_label: refused with EBUSY" "1 Device or resource busy" "$("$@")"
	expect_eq "$_label: ... says why" "$_said" "$(last_bow_line)"
	expect_eq "$_label: ... state $_state, nothing written" "$_state $_w" \
		"$(cat "$S/state") $(sectors_written vdb)"
	check "$_label: resume" dmsetup resume bow
}
# sysfs <state>: write it to the state file; the exit status and error.
sysfs()
{
	_err=$( (echo "$1" > "$S/state") 2>&1)
	_rc=$?
	echo "$_rc${_err:+ ${_err##*: }}"
}

refused_while_suspended "checkpoint message" 0 \
	"cannot go to state 1: the device is suspended" message bow checkpoint
refused_while_suspended "sysfs 1" 0 \
	"cannot go to state 1: the device is suspended" sysfs 1
expect_eq "resumed: the checkpoint passes" 0 "$(message bow checkpoint)"
dd if=/dev/urandom of=/dev/mapper/bow bs=$B seek=10 count=4 oflag=direct conv=notrunc
refused_while_suspended "rollback message" 1 \
	"cannot roll back: the device is suspended" message bow rollback
refused_while_suspended "commit message" 1 \
	"cannot go to state 2: the device is suspended" message bow commit
refused_while_suspended "sysfs 2" 1 \
	"cannot go to state 2: the device is suspended" sysfs 2
check "suspend for a bow-checkpoint table" dmsetup suspend bow
w=$(sectors_written vdb)
expect_eq "a bow-checkpoint table is refused while it is suspended" \
	"The bow device is suspended" "$(table_error "$ckpt_table" --readonly)"
expect_eq "... nothing written" "$w" "$(sectors_written vdb)"
check "resume" dmsetup resume bow
expect_eq "resumed: a bow-checkpoint table is accepted" accepted \
	"$(table_error "$ckpt_table" --readonly)"
expect_eq "resumed: the rollback passes" 0 "$(message bow rollback)"
expect_eq "... to state 2" 2 "$(cat "$S/state")"
check "remove" dmsetup remove --noudevsync bow
