# One device over vdb through its life: free-space accounting, the state
# machine, sector 0 redirection, unaligned I/O, backup moves, discards in
# state 1, table reload, refusal of a device with a live log, resume and
# the logs it refuses.  The host restores vdb afterwards (t-raw.sh).
check "create bow over vdb with block_size:4096" bow_create bow $dev 1 block_size:4096
S=$(bow_sys bow)
expect_eq "table line round-trips" "0 65536 bow $(cat /sys/block/vdb/dev) 1 block_size:4096" "$(dmsetup table bow)"
expect_eq "state 0 at creation" 0 "$(cat $S/state)"
expect_eq "status at creation" "0 65536 bow 0 0 0 0 0 0 0 0 rw -" "$(dmsetup status bow)"
expect_eq "no free space before any discard" 0 "$(cat $S/free)"

blkdiscard -o $((16 * B)) -l $((16 * B)) $bow
expect_eq "discard of blocks 16-31 frees 16 blocks" $((16 * B)) "$(cat $S/free)"
blkdiscard -o $((24 * B)) -l $((16 * B)) $bow
expect_eq "overlapping discard of 24-39 frees the union" $((24 * B)) "$(cat $S/free)"
blkdiscard -o $((24 * B)) -l $((16 * B)) $bow
expect_eq "repeated discard changes nothing" $((24 * B)) "$(cat $S/free)"
blkdiscard -o $((64 * B + 512)) -l $((2 * B)) $bow
expect_eq "unaligned discard frees only the whole block inside" $((25 * B)) "$(cat $S/free)"
blkdiscard -o 0 -l $((2 * B)) $bow
expect_eq "discard of blocks 0-1 frees block 1, never block 0" $((26 * B)) "$(cat $S/free)"
blkdiscard -o $((1024 * B)) -l $((3072 * B)) $bow
expect_eq "discard of blocks 1024-4095" $((3098 * B)) "$(cat $S/free)"
wblk 20 1
expect_eq "state 0 write into free space un-frees its block" $((3097 * B)) "$(cat $S/free)"
w0=$(written)
wsec $((30 * 8 + 3)) 1
expect_eq "state 0 partial write: one sector reaches the disk" $((w0 + 1)) "$(written)"
expect_eq "state 0 partial write un-frees the whole block" $((3096 * B)) "$(cat $S/free)"
expect_eq "discards in state 0 never reach the disk" \
	"$(sum $dev $((1024 * 8)) 64)" "$(sum $bow $((1024 * 8)) 64)"
# Leave one free region, 1024-4095, so that backups below are contiguous:
# three 32 KiB bios over 16-39, and blocks 1 and 65.
dd if=/dev/urandom of=$bow bs=32K seek=2 count=3 conv=notrunc oflag=direct 2>/dev/null
wblk 1 1
wblk 65 1
expect_eq "writes over several free ranges un-free them all" $((3072 * B)) "$(cat $S/free)"

check "reload in state 0" dmsetup reload bow --table "0 65536 bow $dev 1 block_size:4096"
check "resume after reload in state 0" dmsetup resume --noudevsync bow
expect_eq "free space kept across reload" $((3072 * B)) "$(cat $S/free)"

# Invalid state changes in state 0 change nothing.
for v in 0 2 3 x -1 ""; do
	if echo "$v" > $S/state 2>/dev/null; then
		not_ok "state 0: writing '$v' is refused"
	else
		ok "state 0: writing '$v' is refused"
	fi
done
expect_eq "state still 0" 0 "$(cat $S/state)"
if dmsetup message bow 0 commit 2>/dev/null; then not_ok "commit message refused in state 0"; else ok "commit message refused in state 0"; fi
if dmsetup message bow 0 frobnicate 2>/dev/null; then not_ok "unknown message refused"; else ok "unknown message refused"; fi

# Checkpoint through the message interface.
free0=$(cat $S/free)
b0=$(sum $dev 0 8)
check "checkpoint message" dmsetup message bow 0 checkpoint
expect_eq "state 1 after checkpoint" 1 "$(cat $S/state)"
expect_eq "checkpoint takes three blocks: backup, live block 0, free-space map" $((free0 - 3 * B)) "$(cat $S/free)"
expect_eq "status after checkpoint" "1 $((free0 - 3 * B)) $B 1 1 1 0 0 rw -" "$(dmsetup status bow | cut -d' ' -f4-)"
expect_eq "block 0 on the disk holds the log magic" "424f5700" \
	"$(dd if=$dev bs=512 count=1 iflag=direct 2>/dev/null | head -c 4 | od -An -tx1 | tr -d ' \n')"
expect_eq "block 0 read through bow is the block 0 of the checkpoint" "$b0" "$(sum $bow 0 8)"
dd if=$bow of=/dev/vdc bs=1M iflag=direct oflag=direct 2>/dev/null
expect_eq "checkpoint copy taken" "$(sumall $bow)" "$(sumall /dev/vdc)"
for v in 0 1 3 x; do
	if echo "$v" > $S/state 2>/dev/null; then
		not_ok "state 1: writing '$v' is refused"
	else
		ok "state 1: writing '$v' is refused"
	fi
done

# Flushes.  flushes: the flush requests vdb has completed.
flushes() { awk '{ print $16 }' /sys/block/vdb/stat; }
f0=$(flushes)
dd if=/dev/zero of=$bow bs=$B count=0 conv=fsync
expect_eq "an empty flush (fsync) is passed down as one flush" $((f0 + 1)) "$(flushes)"
e=$(bow_status bow 4)
f0=$(flushes)
dd if=/dev/urandom of=/tmp/fua bs=$B count=1 2>/dev/null
dd if=/tmp/fua of=$bow bs=$B seek=150 count=1 conv=notrunc oflag=direct,dsync
expect_eq "a FUA first overwrite: one entry" $((e + 1)) "$(bow_status bow 4)"
# O_DSYNC direct I/O is a FUA write (emulated with a flush after it: the
# virtio disk has no FUA), then an fsync: two flushes of dd's own.
expect_eq "... four flushes: before and after the log header, dd's two" \
	$((f0 + 4)) "$(flushes)"
expect_eq "... the data is there" "$(md5sum < /tmp/fua | cut -d' ' -f1)" "$(sum $bow $((150 * 8)) 8)"
dd if=/tmp/fua of=$bow bs=$B seek=2100 count=1 conv=notrunc oflag=direct,dsync
expect_eq "a FUA write into free space: dd's two flushes, no more" $((f0 + 6)) "$(flushes)"

# Writes that need no backup: into free space, and rewrites.
e=$(bow_status bow 4)
free1=$(cat $S/free)
wblk 2000 4
expect_eq "write into free space logs nothing" "$e" "$(bow_status bow 4)"
expect_eq "write into free space takes it" $((free1 - 4 * B)) "$(cat $S/free)"

# First overwrites: one entry each, whole blocks around partial writes.
wblk 100 1
expect_eq "first overwrite of a block: one entry" $((e + 1)) "$(bow_status bow 4)"
wblk 100 1
expect_eq "second overwrite of the same block: no entry" $((e + 1)) "$(bow_status bow 4)"
# One 2560-byte bio at sector 1605 (= 321 * 2560 bytes): blocks 200-201.
w0=$(written)
dd if=/dev/urandom of=$bow bs=2560 seek=321 count=1 conv=notrunc oflag=direct 2>/dev/null
expect_eq "unaligned write across blocks 200-201: one entry" $((e + 2)) "$(bow_status bow 4)"
expect_eq "... 22 sectors written: the 16 of the backup, the log header's, its 5" \
	$((w0 + 22)) "$(written)"
dd if=/dev/urandom of=$bow bs=1M seek=$((300 * B / 1048576)) count=1 conv=notrunc oflag=direct 2>/dev/null
expect_eq "1 MiB write into blocks 256-511: 256 KiB entries" $((e + 6)) "$(bow_status bow 4)"
expect_eq "bytes backed up: block 0, 150, 100, 200-201, 256-511" $(((1 + 1 + 1 + 2 + 256) * B)) "$(bow_status bow 3)"

# Block 0: I/O of every size and offset is redirected to the live copy.
dd if=/dev/urandom of=/tmp/b0 bs=512 count=3 2>/dev/null
# One 1536-byte bio at sector 3, and one 3072-byte bio at sector 5.
w0=$(written)
dd if=/tmp/b0 of=$bow bs=1536 seek=1536 conv=notrunc oflag=direct,seek_bytes 2>/dev/null
expect_eq "partial block 0 write: its 3 sectors written" $((w0 + 3)) "$(written)"
expect_eq "partial block 0 write reads back through bow" "$(md5sum < /tmp/b0)" \
	"$(dd if=$bow bs=512 skip=3 count=3 iflag=direct 2>/dev/null | md5sum)"
expect_eq "block 0 on the disk still holds the log" "424f5700" \
	"$(dd if=$dev bs=512 count=1 iflag=direct 2>/dev/null | head -c 4 | od -An -tx1 | tr -d ' \n')"
dd if=/dev/urandom of=/tmp/b01 bs=512 count=6 2>/dev/null
dd if=/tmp/b01 of=$bow bs=3072 seek=2560 conv=notrunc oflag=direct,seek_bytes 2>/dev/null
expect_eq "write spanning blocks 0 and 1 reads back" "$(md5sum < /tmp/b01)" \
	"$(dd if=$bow bs=512 skip=5 count=6 iflag=direct 2>/dev/null | md5sum)"
expect_eq "block 0 writes log nothing; block 1 is backed up" $((e + 7)) "$(bow_status bow 4)"

# Block 0 bios of every offset and size read back through bow, and leave
# the log on the disk.
all=ok
for off in 0 1 3 7; do
	for n in 1 2 5 8; do
		[ $((off + n)) -le 8 ] || continue
		dd if=/dev/urandom of=/tmp/b0 bs=512 count=$n 2>/dev/null
		w0=$(written)
		dd if=/tmp/b0 of=$bow bs=$((n * 512)) seek=$((off * 512)) conv=notrunc oflag=direct,seek_bytes
		[ "$(written)" = $((w0 + n)) ] || all="offset $off size $n: $(($(written) - w0)) sectors written"
		[ "$(md5sum < /tmp/b0)" = "$(dd if=$bow bs=$((n * 512)) skip=$((off * 512)) count=1 iflag=direct,skip_bytes | md5sum)" ] || all="offset $off size $n differs"
	done
done
expect_eq "block 0 bios of offsets 0-7 and sizes 1-8 sectors: written exactly, read back" ok "$all"
expect_eq "block 0 on the disk still holds the log after them" "424f5700" \
	"$(dd if=$dev bs=512 count=1 iflag=direct 2>/dev/null | head -c 4 | od -An -tx1 | tr -d ' \n')"

# WRITE_ZEROES is a write: the old data is backed up first.
dmdev=$(dmsetup info -c --noheadings -o blkdevname bow)
check "bow advertises write zeroes ($(cat /sys/block/$dmdev/queue/write_zeroes_max_bytes) bytes)" \
	[ "$(cat /sys/block/$dmdev/queue/write_zeroes_max_bytes)" -gt 0 ]
e=$(bow_status bow 4)
/sbin/blkdiscard -z -o $((900 * B)) -l $((3 * B)) $bow
expect_eq "write zeroes over 3 unchanged blocks: backed up, one entry" $((e + 1)) "$(bow_status bow 4)"
expect_eq "write zeroes reads back as zeroes" \
	"$(dd if=/dev/zero bs=$B count=3 | md5sum)" "$(dd if=$bow bs=$B skip=900 count=3 iflag=direct | md5sum)"
e=$(bow_status bow 4)

# Discards in state 1 are dropped: the data stays.
before=$(sum $bow $((400 * 8)) 64)
blkdiscard -o $((400 * B)) -l $((8 * B)) $bow
expect_eq "discard in state 1 leaves the data" "$before" "$(sum $bow $((400 * 8)) 64)"
expect_eq "discard in state 1 logs nothing" "$e" "$(bow_status bow 4)"

# Writing over the block where the live block 0 is moves it first.
live=$(log_sector0 $dev)
b0now=$(sum $bow 0 8)
wblk $((live / 8)) 1
check "writing over the live block 0 moves it ($live -> $(log_sector0 $dev))" [ "$(log_sector0 $dev)" != "$live" ]
expect_eq "block 0 read through bow is unchanged by the move" "$b0now" "$(sum $bow 0 8)"

# Overwriting a block that holds a backup moves the backup first.
dd if=$dev of=/tmp/now.img bs=1M iflag=direct 2>/dev/null
dest=$(newest_backup /tmp/now.img | cut -d' ' -f2)
n=$(bow_status bow 4)
wblk $((dest / 8)) 1
expect_eq "overwrite of a backup logs a move" $((n + 1)) "$(bow_status bow 4)"
expect_eq "status counts the block moved" $B "$(bow_status bow 8)"
dd if=$dev of=/tmp/now.img bs=1M iflag=direct 2>/dev/null
expect_eq "the move's source is the old backup" "$dest" \
	"$(bow-restore -n -v /tmp/now.img | awk '/entry/ { print $6; exit }')"
rm -f /tmp/now.img

# Table reload keeps the checkpoint.
check "reload in state 1" dmsetup reload bow --table "0 65536 bow $dev 1 block_size:4096"
check "resume after reload" dmsetup resume --noudevsync bow
S=$(bow_sys bow)
expect_eq "state 1 after reload" 1 "$(cat $S/state)"
expect_eq "entries kept across reload" $((n + 1)) "$(bow_status bow 4)"
if dmsetup reload bow --table "0 65536 bow $dev 1 block_size:512" 2>/dev/null; then
	not_ok "reload with another block size is refused"
else
	ok "reload with another block size is refused"
fi
wblk 600 1
expect_eq "writes go on after reload" $((n + 2)) "$(bow_status bow 4)"

# Group commit: 32 first overwrites queued while the device is suspended
# reach the worker together and share log commits.
c0=$(bow_status bow 6)
e0=$(bow_status bow 4)
dmsetup suspend --noudevsync bow
for i in $(seq 0 31); do
	dd if=/dev/urandom of=$bow bs=$B seek=$((700 + 2 * i)) count=1 conv=notrunc oflag=direct &
done
sleep 1
dmsetup resume --noudevsync bow
wait
expect_eq "group commit: 32 first overwrites, 32 entries" $((e0 + 32)) "$(bow_status bow 4)"
commits=$(($(bow_status bow 6) - c0))
check "group commit: 32 backups share $commits log commits (at most 8)" [ "$commits" -le 8 ]

bow-restore /dev/vdb > /tmp/out 2>&1
expect_eq "bow-restore refuses the device under a live target" "3 1" \
	"$? $(grep -c 'device is in use' /tmp/out)"
if rmmod dm_bow 2>/dev/null; then not_ok "module unload refused while in use"; else ok "module unload refused while in use"; fi
# Discards in state 1 free again blocks free at the checkpoint and
# written since (1500), never blocks backed up (900) nor backups.
f=$(cat $S/free)
wblk 1500 1
expect_eq "a write into free space takes a block" $((f - B)) "$(cat $S/free)"
blkdiscard -o $((1500 * B)) -l $B $bow
expect_eq "its discard gives it back" "$f" "$(cat $S/free)"
blkdiscard -o $((900 * B)) -l $((3 * B)) $bow
expect_eq "a discard of backed-up blocks frees nothing" "$f" "$(cat $S/free)"
wblk 1500 1

# What the resume below must find again.
live_counts="$(bow_status bow 3) $(bow_status bow 4) $(bow_status bow 5)"
live_sum=$(sumall $bow)
check "remove in state 1" dmsetup remove --noudevsync bow
if bow_create bow2 $dev 2>/dev/null; then
	not_ok "create over a device with a live log is refused"
else
	ok "create over a device with a live log is refused"
fi
expect_eq "refusal names the reason" 1 \
	"$(dmesg | tail -n 5 | grep -c 'bow: Device holds a live bow log: run bow-restore')"
dmsetup remove --noudevsync bow2 2>/dev/null

# Resume: the table option takes the live log up again, as after a
# reboot.  Backed-up blocks pass, and so do blocks free at the checkpoint
# (by the free-space map written then); everything else may hold data of
# the checkpoint.  Nothing is free until a discard frees the blocks free
# at the checkpoint that nothing of the log uses: until then a write that
# needs a backup, or would overwrite a backup or the live block 0, is
# refused.

# le <offset> <bytes>: a little-endian field of block 0 of vdb.
le() { dd if=$dev bs=512 count=1 iflag=direct | od -An -tu$2 -j$1 -N$2 | tr -d ' '; }
# The free-space map's first block and length, from the header extension.
map_sector() { log_freemap $dev; }
map_blocks() { le 52 4; }
# expected_written: how many of the blocks free at the checkpoint
# (1024-4095) no entry reads or writes, nor the live block 0 nor the map
# (one block here: one free range) is on.
expected_written()
{
	dd if=$dev of=/tmp/now.img bs=1M iflag=direct 2>/dev/null
	bow-restore -n -v /tmp/now.img | awk -v live=$(($(log_sector0 $dev) / 8)) \
		-v map=$(($(map_sector) / 8)) '
		/entry/ { for (b = $6 / 8; b < ($6 + $10) / 8; b++) used[b] = 1
			  for (b = $8 / 8; b < ($8 + $10) / 8; b++) used[b] = 1 }
		END { used[live] = 1; used[map] = 1; n = 0
		      for (b = 1024; b < 4096; b++) if (!(b in used)) n++
		      print n }'
	rm -f /tmp/now.img
}
# trim_frees_exactly <label>: a discard of the whole device frees exactly
# the blocks expected_written counts ($want).
trim_frees_exactly()
{
	want=$(expected_written)
	w1=$(written)
	blkdiscard -o 0 -l $((8192 * B)) $bow
	expect_eq "$1: a discard of the whole device frees exactly the $want blocks free at the checkpoint that the log does not use" \
		$((want * B)) "$(cat $S/free)"
	# So a power cut during the trim after a resume leaves what the
	# resume left.
	expect_eq "$1: ... and writes nothing to the device" "$w1" "$(written)"
}
expect_eq "the checkpoint's free-space map is one block" 1 "$(map_blocks)"
w0=$(written)
check "create with resume over the live log" bow_create bow $dev 2 block_size:4096 resume
expect_eq "resume: writes nothing" "$w0" "$(written)"
S=$(bow_sys bow)
expect_eq "resume: table line round-trips" "0 65536 bow $(cat /sys/block/vdb/dev) 2 block_size:4096 resume" "$(dmsetup table bow)"
expect_eq "resume: state 1" 1 "$(cat $S/state)"
expect_eq "resume: bytes backed up, entries, log blocks as before" "$live_counts" \
	"$(bow_status bow 3) $(bow_status bow 4) $(bow_status bow 5)"
expect_eq "resume: the kernel log says so, with the map's one free range" 1 \
	"$(dmesg | tail -n 5 | grep -c "bow: vdb: resumed: $(bow_status bow 5) log blocks, $(bow_status bow 4) entries, 1 free ranges$")"
expect_eq "resume: every block reads as before" "$live_sum" "$(sumall $bow)"
expect_eq "resume: nothing free" 0 "$(cat $S/free)"
n=$(bow_status bow 4)
for what in "700:a backed-up block" "1500:a block free at the checkpoint, written since"; do
	blk=${what%%:*}
	if wblk $blk 1; then
		ok "resume: a write to $what passes"
	else
		not_ok "resume: a write to $what passes"
	fi
	expect_eq "resume: ... with nothing logged, nothing refused" "$n 0" "$(bow_status bow 4) $(bow_status bow 7)"
done
dd if=$dev of=/tmp/now.img bs=1M iflag=direct 2>/dev/null
dest=$(newest_backup /tmp/now.img | cut -d' ' -f2)
rm -f /tmp/now.img
live=$(log_sector0 $dev)
refused=0
for what in "701:an unchanged block" "$((dest / 8)):the newest backup" \
	    "$((live / 8)):the live block 0"; do
	blk=${what%%:*}
	before=$(sum $dev $((blk * 8)) 8)
	if wblk $blk 1; then
		not_ok "resume: before a discard, a write over $what (block $blk) is refused"
	else
		ok "resume: before a discard, a write over $what (block $blk) is refused"
	fi
	refused=$((refused + 1))
	expect_eq "resume: ... counted, nothing logged, the block unchanged" \
		"$refused $n $before" "$(bow_status bow 7) $(bow_status bow 4) $(sum $dev $((blk * 8)) 8)"
done
expect_eq "resume: the live block 0 did not move" "$live" "$(log_sector0 $dev)"
trim_frees_exactly resume
wblk 701 1
expect_eq "resume: then a write to an unchanged block is backed up" \
	"$((n + 1)) $(((want - 1) * B))" "$(bow_status bow 4) $(cat $S/free)"
wblk $((dest / 8)) 1
expect_eq "resume: a write over the newest backup moves it" "$((n + 2)) $B" \
	"$(bow_status bow 4) $(bow_status bow 8)"
wblk $((live / 8)) 1
check "resume: a write over the live block 0 moves it ($live -> $(log_sector0 $dev))" [ "$(log_sector0 $dev)" != "$live" ]
map=$(map_sector)
wblk $((map / 8)) 1
check "resume: a write over the free-space map moves it ($map -> $(map_sector))" \
	[ "$(map_sector)" != "$map" -a "$(map_blocks)" = 1 ]
expect_eq "resume: ... and logs nothing" $((n + 2)) "$(bow_status bow 4)"
live_counts="$(bow_status bow 3) $(bow_status bow 4) $(bow_status bow 5)"
live_sum=$(sumall $bow)
check "remove the resumed device" dmsetup remove --noudevsync bow

# A second reboot: the moved map is found, and the same rule holds.
# With low_water at exactly what the trim will free: the event fires at
# the resume (nothing free), the trim re-arms it, the next backup fires
# it again.
lw=$(($(expected_written) * B))
check "resume again" bow_create bow $dev 3 block_size:4096 low_water:$lw resume
S=$(bow_sys bow)
sleep 1
expect_eq "resume again: the low_water event at once (nothing free)" 1 "$(events bow)"
expect_eq "resume again: counters as before" "$live_counts" \
	"$(bow_status bow 3) $(bow_status bow 4) $(bow_status bow 5)"
expect_eq "resume again: every block reads as before" "$live_sum" "$(sumall $bow)"
trim_frees_exactly "resume again"
wblk 703 1
expect_eq "resume again: a write to an unchanged block is backed up" \
	"$(($(echo $live_counts | cut -d' ' -f2) + 1))" "$(bow_status bow 4)"
sleep 1
expect_eq "resume again: the trim re-armed low_water, the backup fired it" 2 "$(events bow)"
wblk 705 1
sleep 1
expect_eq "resume again: ... once" 2 "$(events bow)"
check "remove the device resumed twice" dmsetup remove --noudevsync bow

# A log that does not validate is refused, and nothing is written: one
# byte changed at a time, then put back.  (A backup that does not match
# its checksum is found after the resume: 95-scrub.sh.)
# patch <byte offset> <octal byte>: change one byte of vdb, direct.
patch()
{
	dd if=$dev of=/tmp/sec bs=512 skip=$(($1 / 512)) count=1 iflag=direct
	printf "\\$2" | dd of=/tmp/sec bs=1 seek=$(($1 % 512)) conv=notrunc
	dd if=/tmp/sec of=$dev bs=512 seek=$(($1 / 512)) count=1 oflag=direct conv=notrunc
}
whole=$(sumall $dev)
map=$(map_sector)
for case in "4 2:header_version 0x0102, expected 0x0100" \
	    "12 0:count 0: a commit has begun" \
	    "67 1:entry 0: block 0 is the source of entry 0" \
	    "32 2:header extension: magic 0x58574f42 version 2 reserved 0, expected 0x58574f42 1 0" \
	    "$((map * 512 + 100)) x:free-space map block 0 at sector $map: bad magic or checksum"; do
	off=${case%% *}
	rest=${case#* }
	byte=${rest%%:*}
	msg=${rest#*:}
	saved=$(dd if=$dev bs=512 skip=$((off / 512)) count=1 iflag=direct 2>/dev/null |
		od -An -to1 -j $((off % 512)) -N1 | tr -d ' ')
	# x: any other byte.
	[ "$byte" = x ] && byte=$([ "$saved" = 001 ] && echo 002 || echo 001)
	patch $off $byte
	if bow_create bad $dev 2 block_size:4096 resume 2>/dev/null; then
		not_ok "resume refuses a log with byte $off changed"
		dmsetup remove --noudevsync bad
	else
		ok "resume refuses a log with byte $off changed"
	fi
	expect_eq "resume: byte $off changed: the refusal says '$msg'" "1 1" \
		"$(dmesg | tail -n 3 | grep -cF "cannot resume: ") $(dmesg | tail -n 3 | grep -cF "$msg")"
	expect_eq "resume: byte $off changed: the table error" "Log does not validate" \
		"$(dmesg | grep ': bow: ' | tail -n 1 | sed 's/.*: bow: //; s/ (-E[A-Z]*)$//')"
	patch $off "$saved"
done
expect_eq "resume: refused tables wrote nothing" "$whole" "$(sumall $dev)"

# A valid free-space map block where nothing was free: a copy of it on
# block 5 (data of the checkpoint), and the header pointing there.
dd if=$dev of=/tmp/b5 bs=$B skip=5 count=1 iflag=direct
dd if=$dev of=$dev bs=$B skip=$((map / 8)) seek=5 count=1 iflag=direct oflag=direct conv=notrunc
dd if=$dev of=/tmp/sec bs=512 count=1 iflag=direct
printf '\050\000\000\000\000\000\000\000' | dd of=/tmp/sec bs=1 seek=44 conv=notrunc
dd if=/tmp/sec of=$dev bs=512 count=1 oflag=direct conv=notrunc
if bow_create bad $dev 2 block_size:4096 resume 2>/dev/null; then
	not_ok "resume refuses a map that lies on data of the checkpoint"
	dmsetup remove --noudevsync bad
else
	ok "resume refuses a map that lies on data of the checkpoint"
fi
expect_eq "resume: ... and says so" 1 \
	"$(dmesg | tail -n 3 | grep -c 'cannot resume: free-space map block 0 at sector 40 lies on a backup, a backed-up block, the live block 0 or the map, or was not free at the checkpoint$')"
dd if=/tmp/b5 of=$dev bs=$B seek=5 count=1 oflag=direct conv=notrunc
printf "\\$(printf %o $((map & 255)))\\$(printf %o $(((map >> 8) & 255)))" |
	dd of=/tmp/sec bs=1 seek=44 conv=notrunc
dd if=/tmp/sec of=$dev bs=512 count=1 oflag=direct conv=notrunc
expect_eq "resume: all put back" "$whole" "$(sumall $dev)"
check "module unloads when unused" rmmod dm_bow
check "module loads again" insmod /lib/modules/dm-bow.ko
