# A device locked by another program (udev's and systemd's convention):
# bow-restore waits for the lock, then gives up, unless --force.
truncate -s 8M /tmp/lk.img
lk_lo=$(/sbin/losetup -f --show /tmp/lk.img)
flock -x "$lk_lo" sleep 8 &
# locked <device>: another program holds its lock.
locked()
{
	! flock -n "$1" true
}
wait_until "the device locked by another program" locked "$lk_lo"
bow-restore -n "$lk_lo" > /tmp/out 2>&1
expect_eq "a device locked by another program is refused" "3 1" \
	"$? $(grep -c 'cannot lock the device' /tmp/out)"
bow-restore -n --force "$lk_lo" > /tmp/out 2>&1
expect_eq "... and read with --force" 0 $?
wait
bow-restore -n "$lk_lo" > /tmp/out 2>&1
expect_eq "... and once unlocked, read" 0 $?
/sbin/losetup -d "$lk_lo"
rm -f /tmp/lk.img
