# The backup check of a resumed checkpoint (dm-bow-scrub.c), on a loop
# device of 64 MiB: 16 MiB of data, the rest discarded for backups.  A
# resume reads no backup; once the table is live, the check reads them
# all and says, in field 10 of the status, "verified" or "corrupt".
sdev=/dev/mapper/sc
P=/sys/module/dm_bow/parameters

scrub_setup()
{
	head -c $((16 << 20)) /dev/urandom > /tmp/scrub.img
	truncate -s 64M /tmp/scrub.img
	sl=$(/sbin/losetup -f --show /tmp/scrub.img)
	bow_create sc "$sl" 1 block_size:4096
	blkdiscard -o $((16 << 20)) -l $((48 << 20)) $sdev
	dmsetup message sc 0 checkpoint
	dd if=$sdev of=/tmp/scrub.ckpt bs=1M count=16 iflag=direct 2> /dev/null
	# 200 first overwrites of one block (two log blocks), 8 of 16 blocks.
	bowio -k 16384 -g 1 $sdev 0 $((200 * 16384)) > /dev/null
	bowio -b 65536 -g 1 $sdev $((8 << 20)) $((8 * 65536)) > /dev/null
}
scrub_done() { [ "$(bow_status sc 10)" != checking ]; }
scrub_line() { dmesg | grep ': bow: .*backup' | tail -n "${1:-1}" | head -n 1 | sed 's/.*: bow: [^:]*: //'; }
read_ios() { awk '{ print $1 }' "/sys/block/${sl#/dev/}/stat"; }
# flip <sector>: invert byte 100 of that sector of the loop device (a
# second flip puts it back).
flip()
{
	dd if="$sl" of=/tmp/sec bs=512 skip="$1" count=1 iflag=direct 2> /dev/null
	_b=$(od -An -tu1 -j100 -N1 /tmp/sec | tr -d ' ')
	# shellcheck disable=SC2059
	printf "\\$(printf %o $((255 - _b)))" |
		dd of=/tmp/sec bs=1 seek=100 conv=notrunc 2> /dev/null
	dd if=/tmp/sec of="$sl" bs=512 seek="$1" count=1 oflag=direct conv=notrunc 2> /dev/null
}

scrub_setup
expect_eq "scrub: a checkpoint taken this boot has nothing to check" "1 -" \
	"$(bow_status sc 1) $(bow_status sc 10)"
entries=$(bow_status sc 4)
logs=$(bow_status sc 5)
check "scrub: 209 entries or more (8 + 200 + one per log block), in 2 log blocks" \
	[ "$entries" -ge 209 ] && [ "$logs" = 2 ]
dmsetup remove --noudevsync sc

# The resume reads 6 blocks: block 0 (the constructor, then the walk),
# the backup of each entry 0 (log block 0, then the file system's block
# 0), log block 0 again for its header, and the free-space map's one
# block (its 48 MiB are one range): no other backup.  The check, once
# the table is resumed, verifies every entry.
dmsetup create --noudevsync --notable sc
r0=$(read_ios)
check "scrub: the table resumes the checkpoint" \
	dmsetup load sc --table "0 131072 bow $sl 2 block_size:4096 resume"
expect_eq "scrub: the resume read 6 blocks: the log, block 0 and the map, no other backup" \
	6 $(($(read_ios) - r0))
check "scrub: resume" dmsetup resume --noudevsync sc
dmsetup mknodes sc
wait_until "scrub: the check ends" scrub_done
expect_eq "scrub: every backup verified" "1 verified" "$(bow_status sc 1) $(bow_status sc 10)"
expect_eq "scrub: ... and said" \
	"backups verified: $entries entries, 0 checked again with I/O held" "$(scrub_line)"
dmsetup remove --noudevsync sc

# One byte of a backup changed: the resume still takes the checkpoint up;
# the check finds the entry, says so and raises an event; a rollback and
# a bow-checkpoint device refuse the log.
line=$(bow-restore -n -v "$sl" | grep -v 'sectors 8$' | head -n 1)
seq=$(echo "$line" | awk '{ print $2 }')
idx=$(echo "$line" | awk '{ print $4 }' | tr -d :)
dest=$(echo "$line" | awk '{ print $8 }')
flip $((dest + 9))
check "scrub: a corrupted backup: the resume takes the checkpoint up" \
	bow_create sc "$sl" 2 block_size:4096 resume
wait_until "scrub: the check ends" scrub_done
expect_eq "scrub: the check finds it" "1 corrupt" "$(bow_status sc 1) $(bow_status sc 10)"
expect_eq "scrub: ... and names the entry, with I/O held" 1 \
	"$(scrub_line 2 | grep -c "^backup check: log block sequence $seq entry $idx: checksum of sectors $dest+128 is 0x[0-9a-f]*, log says 0x[0-9a-f]*$")"
expect_eq "scrub: ... and that there is no rollback" \
	"a backup does not match its checksum: no rollback" "$(scrub_line)"
expect_eq "scrub: ... with a dm event" 1 "$(events sc)"
expect_eq "scrub: a rollback refuses it" "1 Invalid argument" "$(message sc rollback)"
expect_eq "scrub: ... for that entry" 1 \
	"$(last_bow_line | grep -c "^cannot roll back: log block sequence $seq entry $idx: checksum of sectors $dest+128")"
expect_eq "scrub: a bow-checkpoint device refuses it" "Log does not validate" \
	"$(table_error "0 131072 bow-checkpoint $sl" --readonly)"
expect_eq "scrub: the checkpoint is kept" "1 rw corrupt" \
	"$(bow_status sc 1) $(bow_status sc 9) $(bow_status sc 10)"
dmsetup remove --noudevsync sc
flip $((dest + 9))

# A backup written over while the check runs moves first: where the
# check reads it, it is no longer.  The oldest data entry, which the
# check reads last, is written over at once: it does not match, and with
# I/O held it is read again where the log says it is now.
line=$(bow-restore -n -v "$sl" | grep 'sequence 0 entry 1:')
dest=$(echo "$line" | awk '{ print $8 }')
echo 50 > $P/debug_scrub_delay
check "scrub: resume, the check slowed down" bow_create sc "$sl" 2 block_size:4096 resume
# A resume frees nothing until a discard (the trim of a boot).
blkdiscard -o $((16 << 20)) -l $((48 << 20)) $sdev
dd if=/dev/urandom of=$sdev bs=4096 seek=$((dest / 8)) count=1 oflag=direct conv=notrunc 2> /dev/null
expect_eq "scrub: the write over the backup moved it" "4096 checking" \
	"$(bow_status sc 8) $(bow_status sc 10)"
wait_until "scrub: the check ends" scrub_done
expect_eq "scrub: verified" verified "$(bow_status sc 10)"
expect_eq "scrub: ... the moved backup read again with I/O held" \
	"backups verified: $entries entries, 1 checked again with I/O held" "$(scrub_line)"
dmsetup remove --noudevsync sc

# A backup moved before the resume is read where the move put it (the
# runs the resume keeps): its entry matches at once.
echo 0 > $P/debug_scrub_delay
bow_create sc "$sl" 2 block_size:4096 resume
wait_until "scrub: the check ends" scrub_done
expect_eq "scrub: a backup moved before the resume: verified, none read again" \
	"backups verified: $(bow_status sc 4) entries, 0 checked again with I/O held" \
	"$(scrub_line)"
dmsetup remove --noudevsync sc

# A commit and a table's removal stop a check under way.
echo 1000 > $P/debug_scrub_delay
bow_create sc "$sl" 2 block_size:4096 resume
expect_eq "scrub: commit while checking" "0 2 -" \
	"$(dmsetup message sc 0 commit; echo $?) $(bow_status sc 1) $(bow_status sc 10)"
dmsetup remove --noudevsync sc
/sbin/losetup -d "$sl"
scrub_setup
dmsetup remove --noudevsync sc
bow_create sc "$sl" 2 block_size:4096 resume
check "scrub: remove while checking" dmsetup remove --noudevsync sc

# A suspend stops the check (a suspended device sees no I/O of the
# target's own); the resume starts it again.
echo 200 > $P/debug_scrub_delay
bow_create sc "$sl" 2 block_size:4096 resume
sleep 1
dmsetup suspend sc
r0=$(read_ios)
sleep 2
expect_eq "scrub: suspended: the check reads nothing, and is not over" "0 checking" \
	"$(($(read_ios) - r0)) $(bow_status sc 10)"
echo 0 > $P/debug_scrub_delay
dmsetup resume --noudevsync sc
wait_until "scrub: resumed: the check ends" scrub_done
expect_eq "scrub: resumed: verified, from the first entry" \
	"verified backups verified: $entries entries, 0 checked again with I/O held" \
	"$(bow_status sc 10) $(scrub_line)"
dmsetup remove --noudevsync sc

# Writers racing the check, on the data and over the backups (which
# moves them): no false verdict either way, and the rollback after it is
# exact.  4 writers, one block every 64 KiB each, in random orders.
race()
{
	for s in 1 2 3 4; do
		bowio -R -s $s -q 4 -k 65536 -g $((s + 1)) $sdev 0 $((64 << 20)) > /dev/null &
	done
	wait
}
echo 20 > $P/debug_scrub_delay
bow_create sc "$sl" 2 block_size:4096 resume
blkdiscard -o $((16 << 20)) -l $((48 << 20)) $sdev
race
wait_until "scrub: racing writers: the check ends" scrub_done
echo "# racing writers: $(scrub_line); $(dmsetup status sc)"
expect_eq "scrub: racing writers: verified, backups moved meanwhile, no write refused" \
	"verified 1 0" \
	"$(bow_status sc 10) $([ "$(bow_status sc 8)" -gt 0 ] && echo 1) $(bow_status sc 7)"
expect_eq "scrub: racing writers: the rollback" "0" "$(message sc rollback)"
expect_eq "scrub: racing writers: the data as at the checkpoint" \
	"$(md5sum < /tmp/scrub.ckpt)" \
	"$(dd if=$sdev bs=1M count=16 iflag=direct 2> /dev/null | md5sum)"
dmsetup remove --noudevsync sc
/sbin/losetup -d "$sl"

# The same with one backup corrupted: still found, by its entry.
scrub_setup
dmsetup remove --noudevsync sc
line=$(bow-restore -n -v "$sl" | grep 'sequence 1 entry 3:')
dest=$(echo "$line" | awk '{ print $8 }')
flip "$dest"
bow_create sc "$sl" 2 block_size:4096 resume
blkdiscard -o $((16 << 20)) -l $((48 << 20)) $sdev
race
wait_until "scrub: racing writers, a corrupted backup: the check ends" scrub_done
expect_eq "scrub: racing writers, a corrupted backup: found" corrupt "$(bow_status sc 10)"
expect_eq "scrub: ... by its entry" 1 \
	"$(scrub_line 2 | grep -c "^backup check: log block sequence 1 entry 3: checksum of sectors $dest+8 is")"
expect_eq "scrub: ... and a rollback refuses it" "1 Invalid argument" "$(message sc rollback)"
echo 0 > $P/debug_scrub_delay
dmsetup remove --noudevsync sc
/sbin/losetup -d "$sl"
rm -f /tmp/scrub.img /tmp/scrub.ckpt
