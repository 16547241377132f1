# The message "changed": the ranges written since the checkpoint.
# Disks (see t-changed.sh):
#   vdb  128 MiB raw: a seeded random workload, compared with a per-block
#        model of what dm-bow makes of each request
#   vdc  ext4, a file workload: the host checks the listing against the
#        blocks that differ from the checkpoint copy
#   vdd  its checkpoint copy
#   vde  the ext4 listing, for the host
. ./guest-lib.sh
B=4096
seed=4242

# changed_all <name> <file>: every range, reply after reply, into <file>;
# $replies counts the replies, $longest is the longest in bytes.
changed_all()
{
	_from=0
	replies=0
	longest=0
	: > "$2"
	while :; do
		dmsetup message "$1" 0 changed $_from > /tmp/reply || return 1
		replies=$((replies + 1))
		_bytes=$(wc -c < /tmp/reply)
		[ "$_bytes" -gt "$longest" ] && longest=$_bytes
		_last=$(tail -n 1 /tmp/reply)
		sed '$d' /tmp/reply >> "$2"
		case $_last in
		end) return 0 ;;
		"next "*) _from=${_last#next } ;;
		*) return 1 ;;
		esac
	done
}

# --- Raw: blocks 4096 to 28671 discarded before the checkpoint (free);
# the random requests go to blocks 0 to 8191 and 28672 to 32767, so that
# backups, placed at the top of the free space, are never written over
# (the model does not know where they are: no move is asserted below).
c=/dev/mapper/c
bow_create c /dev/vdb 1 block_size:$B
expect_eq "in state 0, changed is refused" 1 "$(dmsetup message c 0 changed > /dev/null 2>&1; echo $?)"
bowctl changed c > /tmp/out 2> /tmp/err
rc=$?
expect_eq "in state 0, bowctl changed is refused: exit 4, nothing listed" \
	"4 0 bowctl: c: no checkpoint: the changed ranges are kept in state 1 only" \
	"$rc $(wc -c < /tmp/out) $(grep '^bowctl' /tmp/err)"
dmsetup create --noudevsync lin --table "0 8 linear /dev/vdb 0"
bowctl changed lin > /tmp/out 2> /tmp/err
rc=$?
expect_eq "bowctl changed on a dm-linear device: exit 4" \
	"4 bowctl: lin: not a dm-bow device" "$rc $(cat /tmp/err)"
dmsetup remove --noudevsync lin
bowctl changed nosuch > /tmp/out 2> /tmp/err
rc=$?
expect_eq "bowctl changed on no device: exit 2" \
	"2 bowctl: nosuch: no such device-mapper device" "$rc $(cat /tmp/err)"
blkdiscard -o $((4096 * B)) -l $(((28672 - 4096) * B)) $c
check "raw: checkpoint" dmsetup message c 0 checkpoint
changed_all c /tmp/got
expect_eq "raw: right after the checkpoint, nothing" "0 1" "$(wc -l < /tmp/got) $replies"

# Requests: w(rite), z(eroes), d(iscard) <first sector> <sectors>.
awk -v seed="$seed" 'BEGIN {
	srand(seed)
	for (i = 0; i < 400; i++) {
		k = rand(); n = 1 + int(rand() * 32)
		if (i % 50 == 0)
			s = int(rand() * 8)			# block 0
		else if (rand() < 0.5)
			s = int(rand() * (4096 * 8 - n))	# in use
		else if (rand() < 0.6)
			s = 4096 * 8 + int(rand() * (4096 * 8 - n))	# free
		else
			s = 28672 * 8 + int(rand() * (4096 * 8 - n))	# in use
		if (k < 0.6)
			print "w", s, n
		else if (k < 0.8)
			print "z", s, n
		else if (s >= 28672 * 8)
			print "w", s, n
		else
			print "d", s, n * 8
	}
}' > /tmp/ops
while read -r op s n; do
	case $op in
	w) dd if=/dev/urandom of=$c bs=$((n * 512)) count=1 seek=$((s * 512)) \
		iflag=fullblock oflag=seek_bytes,direct conv=notrunc ;;
	z) /sbin/blkdiscard -z -o $((s * 512)) -l $((n * 512)) $c ;;
	d) blkdiscard -o $((s * 512)) -l $((n * 512)) $c ;;
	esac
done < /tmp/ops
echo "# raw: $(grep -c '^w' /tmp/ops) writes, $(grep -c '^z' /tmp/ops) write zeroes, $(grep -c '^d' /tmp/ops) discards; $(dmsetup status c)"
expect_eq "raw: no backup moved, no write refused (the model's premise)" "0 0" \
	"$(bow_status c 8) $(bow_status c 7)"

# Then every other block of 8192 to 16383: 4096 ranges, with 4096 free
# ones between them, more than one reply holds.
bowio -b $B -k $((2 * B)) -q 32 $c $((8192 * B)) $((8192 * B)) > /dev/null
echo "p $((8192 * 8)) $((8192 * 8))" >> /tmp/ops

# The model: a type per block (U in use at the checkpoint, F free, W
# written where it was free, C changed), as dm-bow's range map has it,
# and block 0 apart: a request is split where block 0 ends.
awk '
function piece(a, e,    b, lo, hi, cw, cwf) {
	lo = int(a / 8); hi = int((e + 7) / 8)
	cw = 1; cwf = 1
	for (b = lo; b < hi; b++) {
		if (t[b] != "C" && t[b] != "W") cw = 0
		if (t[b] == "U") cwf = 0
	}
	if (cw) return
	for (b = lo; b < hi; b++)
		if (cwf) { if (t[b] == "F") t[b] = "W" }
		else if (t[b] == "F" || t[b] == "U") t[b] = "C"
}
function write(s, n) {
	if (s < 8) { zero = 1; if (s + n <= 8) return; n -= 8 - s; s = 8 }
	piece(s, s + n)
}
BEGIN { for (b = 1; b < 32768; b++) t[b] = (b >= 4096 && b < 28672) ? "F" : "U" }
$1 == "w" || $1 == "z" { write($2, $3) }
$1 == "d" {
	lo = int(($2 + 7) / 8); if (lo < 1) lo = 1
	for (b = lo; b < int(($2 + $3) / 8); b++) if (t[b] == "W") t[b] = "F"
}
$1 == "p" { for (b = $2 / 8; b < ($2 + $3) / 8; b += 2) write(b * 8, 8) }
END {
	start = -1
	for (b = 0; b <= 32768; b++) {
		on = b < 32768 && ((b == 0 && zero) || t[b] == "C" || t[b] == "W")
		if (on && start < 0) start = b
		if (!on && start >= 0) { print start * 8, (b - start) * 8; start = -1 }
	}
}' /tmp/ops > /tmp/want
changed_all c /tmp/got
expect_eq "raw: the listing is the model's, exactly ($(wc -l < /tmp/want) ranges)" \
	"$(md5sum < /tmp/want)" "$(md5sum < /tmp/got)"
if ! cmp -s /tmp/want /tmp/got; then
	diff /tmp/want /tmp/got | head -n 10 | sed 's/^/#   /'
fi
# Past libdevmapper's first 16 KiB buffer: the target fills it, dm says
# it is full, libdevmapper asks again with more room.
check "raw: the list is longer than 16 KiB ($(wc -c < /tmp/got) bytes)" \
	[ "$(wc -c < /tmp/got)" -gt 16384 ]
expect_eq "raw: one reply holds it (dmsetup's buffer grew)" 1 "$replies"
bowctl changed c > /tmp/bowctl
rc=$?
expect_eq "raw: bowctl changed lists the model's ranges, byte for byte (exit 0)" \
	"0 $(md5sum < /tmp/want)" "$rc $(md5sum < /tmp/bowctl)"
# Replies of at most 4 KiB (a test build's debug_changed_room): the same
# list, cut into replies at whole ranges.
echo 4096 > /sys/module/dm_bow/parameters/debug_changed_room
changed_all c /tmp/got
expect_eq "raw: replies of at most 4096 bytes give the same list" \
	"$(md5sum < /tmp/want)" "$(md5sum < /tmp/got)"
check "raw: ... in $replies replies, the longest $longest bytes" \
	[ "$replies" -ge $(($(wc -c < /tmp/got) / 4096 + 1)) -a "$longest" -le 4096 ]
bowctl changed c > /tmp/bowctl
rc=$?
expect_eq "raw: ... and so does bowctl changed (exit 0)" \
	"0 $(md5sum < /tmp/want)" "$rc $(md5sum < /tmp/bowctl)"
echo 0 > /sys/module/dm_bow/parameters/debug_changed_room
bowctl changed c --json > /tmp/json
expect_eq "raw: bowctl changed --json: its head, then the same ranges" \
	"{\"name\": \"c\", \"sector_size\": 512, \"ranges\": [ $(md5sum < /tmp/want)" \
	"$(head -n 1 /tmp/json) $(sed -n 's/^    \[\([0-9]*\), \([0-9]*\)\],*$/\1 \2/p' /tmp/json | md5sum)"
expect_eq "raw: bowctl changed --json ends the list and the object" "  ]}" \
	"$(tail -n 1 /tmp/json)"
check "raw: block 0 is listed" grep -q '^0 ' /tmp/got
last=$(tail -n 1 /tmp/got)
dmsetup message c 0 changed $((${last% *} + 3)) > /tmp/reply
expect_eq "raw: from a sector inside the last range: that range, then end" \
	"$last end" "$(tr '\n' ' ' < /tmp/reply | sed 's/ $//')"
expect_eq "raw: from past the device's end: end" "end" \
	"$(dmsetup message c 0 changed 99999999999)"
expect_eq "raw: a bad sector number is refused" 1 \
	"$(dmsetup message c 0 changed 12x > /dev/null 2>&1; echo $?)"
check "raw: commit" dmsetup message c 0 commit
expect_eq "raw: in state 2, changed is refused" 1 "$(dmsetup message c 0 changed > /dev/null 2>&1; echo $?)"
bowctl changed c > /tmp/out 2> /dev/null
rc=$?
expect_eq "raw: in state 2, bowctl changed is refused: exit 4" 4 $rc
dmsetup remove --noudevsync c

# --- One run of 10240 written ranges of two types, alternating: blocks
# 1 to 10240 written after a checkpoint at which every even one was free
# (WRITTEN) and every odd one in use (CHANGED, backed up to 20480 and
# up).  The run is never cut: one line, in one reply, while the reply
# lets writers in every 4096 ranges; with four writers rewriting the
# run meanwhile (rewrites change no type), every listing is that line.
bow_create c /dev/vdb 1 block_size:$B
bowio -d -b $B -k $((2 * B)) -q 32 $c $((2 * B)) $((10240 * B)) > /dev/null
blkdiscard -o $((20480 * B)) -l $((12288 * B)) $c
check "run: checkpoint" dmsetup message c 0 checkpoint
bowio -b $B -q 32 $c $B $((10240 * B)) > /dev/null
expect_eq "run: 5120 backups (and entry 0 of each log block), none moved" "$((5120 + $(bow_status c 5))) 0" "$(bow_status c 4) $(bow_status c 8)"
expect_eq "run: one line, one reply" "8 81920 end" \
	"$(dmsetup message c 0 changed | tr '\n' ' ' | sed 's/ $//')"
pids=
for g in 2 3 4 5; do
	(for i in 1 2 3; do bowio -R -s $g$i -g $g -b $B -q 8 $c $B $((10240 * B)) > /dev/null; done) &
	pids="$pids $!"
done
bad=0
n=0
while kill -0 $pids 2>/dev/null; do
	[ "$(dmsetup message c 0 changed | tr '\n' ' ')" = "8 81920 end " ] || bad=$((bad + 1))
	[ "$(bowctl changed c)" = "8 81920" ] || bad=$((bad + 1))
	n=$((n + 1))
done
wait
expect_eq "run: $n listings (dmsetup and bowctl) while four writers rewrote the run, each the one line" 0 $bad
check "run: more than one listing raced the writers" [ $n -gt 1 ]
dmsetup remove --noudevsync c

# --- ext4: the listing while files are written, removed and rewritten.
ext4_start e /dev/vdc /dev/vdd
rm /mnt/e/files/f1*
for i in $(seq 1 60); do
	dd if=/dev/urandom of=/mnt/e/new$i bs=4K count=$((i % 9 + 1)) 2>/dev/null
done
for i in $(seq 30 80); do
	dd if=/dev/urandom of=/mnt/e/files/f$i bs=1K count=2 seek=1 conv=notrunc 2>/dev/null
done
mkdir /mnt/e/dir
cp /mnt/e/files/f2* /mnt/e/dir/
sync
fsfreeze -f /mnt/e
changed_all e /tmp/ext4
bowctl changed e > /tmp/ext4.bowctl
fsfreeze -u /mnt/e
echo "# ext4: $(wc -l < /tmp/ext4) ranges in $replies replies; $(dmsetup status e)"
expect_eq "ext4: bowctl changed lists what the replies list" \
	"$(md5sum < /tmp/ext4)" "$(md5sum < /tmp/ext4.bowctl)"
dd if=/tmp/ext4 of=/dev/vde bs=1M conv=sync 2>/dev/null
umount /mnt/e
check "ext4: commit" dmsetup message e 0 commit
dmsetup remove --noudevsync e
