# The benchmark, in the VM (see tests/bench/run.sh for the disks).
# Prints one line per measurement:
#   result <system> <workload> <user bytes> <ns> <lower: reads read-sectors
#          writes write-sectors flushes> <bow status or ->
# The lower counts are the deltas of /sys/block/<dev>/stat of every disk
# under the system (for dm-snapshot, the origin's and the COW disk's).
. ./guest-lib.sh
. ./params.sh
export PATH=/t:$PATH
M=1048576

# stat_sum <disk...>: reads, sectors read, writes, sectors written, flushes.
stat_sum()
{
	for _d in "$@"; do
		cat "/sys/block/${_d#/dev/}/stat"
	done | awk '{ r += $1; rs += $3; w += $5; ws += $7; f += $16 }
		END { print r, rs, w, ws, f }'
}

# delta <before> <after>: field by field.
delta()
{
	echo "$1 $2" | awk '{ print $6-$1, $7-$2, $8-$3, $9-$4, $10-$5 }'
}

# sys_create <system> <lower disk> <cow disk> <free offset|fs>: the
# system as /dev/mapper/<system>.  dm-bow gets [free offset, end)
# discarded in state 0 (a file system's free space); the file-system runs
# pass "fs" and fstrim instead.
sys_create()
{
	_size=$(blockdev --getsz "$2")
	case $1 in
	linear)
		dmsetup create --noudevsync $1 --table "0 $_size linear $2 0" ;;
	bow*)
		bow_create $1 "$2" 1 block_size:4096
		if [ "$4" != fs ]; then
			blkdiscard -o "$4" /dev/mapper/$1
		fi ;;
	snap)
		# As lvm does: the origin's real device, a persistent snapshot
		# with 4 KiB chunks on the COW disk, the origin suspended and
		# resumed around the snapshot's creation.
		dmsetup create --noudevsync $1-real --table "0 $_size linear $2 0"
		dmsetup mknodes $1-real
		dmsetup create --noudevsync $1 --table "0 $_size snapshot-origin /dev/mapper/$1-real"
		dmsetup suspend $1
		dmsetup create --noudevsync $1-cow --table "0 $_size snapshot /dev/mapper/$1-real $3 P 8"
		dmsetup resume $1 ;;
	esac
	dmsetup mknodes
}

# sys_state <system>: take a dm-bow system to its state.
sys_state()
{
	case $1 in
	bow1|bow1-lowest)
		echo 1 > "$(bow_sys $1)/state" ;;
	bow2)
		echo 1 > "$(bow_sys $1)/state"
		echo 2 > "$(bow_sys $1)/state" ;;
	esac
}

sys_status()
{
	case $1 in
	bow*) dmsetup status $1 | cut -d' ' -f4- | tr ' ' ',' ;;
	*) echo - ;;
	esac
}

sys_remove()
{
	case $1 in
	bow1|bow1-lowest) echo 2 > "$(bow_sys $1)/state" ;;
	esac
	dmsetup remove --noudevsync $1
	if [ "$1" = snap ]; then
		dmsetup remove --noudevsync $1-cow
		dmsetup remove --noudevsync $1-real
	fi
}

# run <system> <workload> <disks> <bowio args...>
run()
{
	_sys=$1 _wl=$2 _disks=$3
	shift 3
	_before=$(stat_sum $_disks)
	_out=$(bowio "$@") || { not_ok "$_sys $_wl: bowio $*"; return; }
	_after=$(stat_sum $_disks)
	set -- $_out
	echo "result $_sys $_wl $2 $3 $(delta "$_before" "$_after") $(sys_status "$_sys")"
	# bowio -l: the requests' median and 99th percentile latency.
	[ $# -eq 6 ] && echo "latency $_sys $_wl $4 $5"
}

# The raw workloads.  Every system has its own copy of the raw disk, and
# each workload runs on all systems in turn, RAW_REPS times, so that they
# share whatever the host was doing.  A first overwrite (w-*) or a write
# into free space (free-*) touches blocks no other run touched: run i of
# a workload has a region of its own; the second overwrites (rw-*) write
# the blocks of the same run of the first.  Offsets in units of L.
D=$((RAW_DATA_MIB * M)) F=$((RAW_FREE_MIB * M)) L=$((RAW_LEN_MIB * M))
R=$RAW_REPS
WORKLOADS="w-seq-qd1 w-rand-qd1 w-seq-qd32 w-rand-qd32 w-rand-qd16 w-1m-seq
w-rand-qd32-16k w-rand-qd32-64k rw-rand-qd1 rw-rand-qd32 free-seq-qd1
free-rand-qd32 r-seq-qd1 r-rand-qd1 r-rand-qd32"

# workload <name> <run>: sets opts, off (bytes) and len (bytes) for bowio.
workload()
{
	_i=$2
	_reads=$((D + 11 * R * L))
	len=$L
	case $1 in
	w-seq-qd1)	opts="-q 1 -l"; off=$((D + (0 * R + _i) * L)) ;;
	w-rand-qd1)	opts="-q 1 -R -l"; off=$((D + (1 * R + _i) * L)) ;;
	w-seq-qd32)	opts="-q 32";	off=$((D + (2 * R + _i) * L)) ;;
	w-rand-qd32)	opts="-q 32 -R"; off=$((D + (3 * R + _i) * L)) ;;
	w-rand-qd16)	opts="-q 16 -R"; off=$((D + (4 * R + _i) * L)) ;;
	w-1m-seq)	opts="-q 1 -b $M"; off=$((D + (5 * R + 4 * _i) * L))
			len=$((4 * L)) ;;
	w-rand-qd32-16k) opts="-q 32 -R -b 16384"; off=$((D + (9 * R + _i) * L)) ;;
	w-rand-qd32-64k) opts="-q 32 -R -b 65536"; off=$((D + (10 * R + _i) * L)) ;;
	rw-rand-qd1)	opts="-q 1 -R -g 2 -l"; off=$((D + (1 * R + _i) * L)) ;;
	rw-rand-qd32)	opts="-q 32 -R -g 2"; off=$((D + (3 * R + _i) * L)) ;;
	free-seq-qd1)	opts="-q 1";	off=$((F + _i * L)) ;;
	free-rand-qd32)	opts="-q 32 -R"; off=$((F + (R + _i) * L)) ;;
	r-seq-qd1)	opts="-r -q 1";	off=$_reads; len=$((2 * L)) ;;
	r-rand-qd1)	opts="-r -q 1 -R"; off=$((_reads + 2 * L)) ;;
	r-rand-qd32)	opts="-r -q 32 -R"; off=$((_reads + 3 * L))
			len=$((2 * L)) ;;
	esac
}

for s in $SYSTEMS; do
	eval "disk=\$RAW_DISK_$s"
	sys_create $s $disk $RAW_COW $F
	sys_state $s
done
for wl in $WORKLOADS; do
	i=0
	while [ $i -lt $R ]; do
		workload $wl $i
		for s in $SYSTEMS; do
			eval "disks=\$RAW_DISK_$s"
			[ $s = snap ] && disks="$disks $RAW_COW"
			# shellcheck disable=SC2086
			run $s $wl "$disks" $opts /dev/mapper/$s $off $len
		done
		i=$((i + 1))
	done
done

# The checkpoint view (bow-checkpoint over bow1's disk) read as a copy of
# the old state would be: 1 MiB at a time, in order, against dm-linear
# reading the same region of its own disk, three times each, alternating.
# Regions: never written (read in place), and those of three first
# overwrite workloads (their blocks read from backups, which a sequential
# writer leaves contiguous and a random one scattered).
#   view-read <region> <linear|view> <run> <bytes> <ns> <lower counts>
# (Both systems must run; " linear bow1 " shares the space between them.)
case " $SYSTEMS " in *" linear "*) case " $SYSTEMS " in *" bow1 "*)
	dmsetup create --noudevsync --readonly view --table \
		"0 $(blockdev --getsz $RAW_DISK_bow1) bow-checkpoint $RAW_DISK_bow1"
	dmsetup mknodes view
	for region in in-place w-seq-qd32 w-1m-seq w-rand-qd32; do
		case $region in
		in-place)	off=$((D + 11 * R * L)); len=$((5 * L)) ;;
		w-seq-qd32)	off=$((D + 2 * R * L)); len=$((R * L)) ;;
		w-1m-seq)	off=$((D + 5 * R * L)); len=$((4 * R * L)) ;;
		w-rand-qd32)	off=$((D + 3 * R * L)); len=$((R * L)) ;;
		esac
		for i in 1 2 3; do
			for s in linear view; do
				disk=$RAW_DISK_linear
				[ $s = view ] && disk=$RAW_DISK_bow1
				before=$(stat_sum $disk)
				set -- $(bowio -r -b $M /dev/mapper/$s $off $len)
				after=$(stat_sum $disk)
				echo "view-read $region $s $i $2 $3 $(delta "$before" "$after")"
			done
		done
	done
	dmsetup remove --noudevsync view ;;
esac ;;
esac
for s in $SYSTEMS; do
	sys_remove $s
done

# Queue depth 1 on a device with a cache and FUA (null_blk, in the
# guest's memory: the virtio disks above have no FUA): 4 KiB first
# overwrites in a random order, one at a time, on dm-linear, dm-bow in
# state 1 and dm-snapshot, each on a null_blk device of its own (and one
# more for dm-snapshot's COW), RAW_REPS runs of 4 MiB each, alternating.
#   fua-qd1 <system> <run> <bytes> <ns> <p50 ns> <p99 ns> <lower counts>
FUA_SYSTEMS=""
for s in linear bow1 snap; do
	case " $SYSTEMS " in *" $s "*) FUA_SYSTEMS="$FUA_SYSTEMS $s" ;; esac
done
if [ -n "$FUA_SYSTEMS" ] &&
   load_extra null_blk gb=1 memory_backed=1 cache_size=256 nr_devices=4; then
	n=0
	for s in $FUA_SYSTEMS; do
		bowio -q 32 -g 1 /dev/nullb$n 0 $((RAW_REPS * 4 * M)) > /dev/null
		sys_create $s /dev/nullb$n /dev/nullb3 $((RAW_REPS * 4 * M))
		sys_state $s
		n=$((n + 1))
	done
	i=0
	while [ $i -lt $RAW_REPS ]; do
		n=0
		for s in $FUA_SYSTEMS; do
			disks=/dev/nullb$n
			[ $s = snap ] && disks="$disks /dev/nullb3"
			before=$(stat_sum $disks)
			set -- $(bowio -q 1 -R -s $i -l /dev/mapper/$s \
				$((i * 4 * M)) $((4 * M)))
			after=$(stat_sum $disks)
			echo "fua-qd1 $s $i $2 $3 $4 $5 $(delta "$before" "$after")"
			n=$((n + 1))
		done
		i=$((i + 1))
	done
	echo "# fua-qd1: null_blk fua $(cat /sys/block/nullb0/queue/fua); $(sys_status bow1)"
	for s in $FUA_SYSTEMS; do
		sys_remove $s
	done
	rmmod null_blk
fi

# The paths that must cost nothing, resolved finely: writes to blocks
# free at the checkpoint (first into free space, then rewrites of the
# same blocks) and random reads, 4 MiB at queue depth 32, PASS_ROUNDS
# rounds, each system's run paired with dm-linear's in the same round.
# Every system has a partition of the same disk (one virtqueue, one host
# file: separate disks differ by a few per cent on their own), the order
# turns by one each round, and linear2, a second dm-linear, measures how
# finely this test bed resolves a ratio at all.  The dm-bow partitions
# hold PASS_RANGES free ranges besides, so that the range map is large.
PASS_SYSTEMS=""
for s in linear bow0 bow1 bow2; do
	case " $SYSTEMS " in *" $s "*) PASS_SYSTEMS="$PASS_SYSTEMS $s" ;; esac
done
case " $SYSTEMS " in *" linear "*) PASS_SYSTEMS="$PASS_SYSTEMS linear2" ;; esac
# pass_part <system>: its partition (run.sh makes them in this order).
pass_part()
{
	_n=1
	for _s in linear linear2 bow0 bow1 bow2; do
		[ "$_s" = "$1" ] && echo "${PASS_DISK}$_n"
		_n=$((_n + 1))
	done
}
for s in $PASS_SYSTEMS; do
	_part=$(pass_part $s)
	dd if=/dev/urandom of="$_part" bs=$M count=8 status=none
	case $s in
	linear*)
		dmsetup create --noudevsync $s --table \
			"0 $(blockdev --getsz "$_part") linear $_part 0" ;;
	bow*)
		bow_create $s "$_part" 1 block_size:4096
		blkdiscard -o $((8 * M)) -l $((8 * M)) /dev/mapper/$s
		bowio -d -k 8192 /dev/mapper/$s $((16 * M)) \
			$((PASS_RANGES * 8192)) > /dev/null ||
			not_ok "pass $s: discards"
		sys_state $s ;;
	esac
done
dmsetup mknodes
i=0
while [ $i -lt $PASS_ROUNDS ]; do
	# This round's order: PASS_SYSTEMS turned by i.
	set -- $PASS_SYSTEMS
	_k=$((i % $#))
	while [ $_k -gt 0 ]; do
		_s=$1
		shift
		set -- "$@" $_s
		_k=$((_k - 1))
	done
	order="$*"
	for s in $order; do
		set -- $(bowio -q 32 -R -s $i -g $((i + 1)) /dev/mapper/$s \
			$((8 * M)) $((4 * M)))
		echo "pass w-free-rand-qd32 $s $i $2 $3"
	done
	for s in $order; do
		set -- $(bowio -r -q 32 -R -s $i /dev/mapper/$s $((4 * M)) \
			$((4 * M)))
		echo "pass r-rand-qd32 $s $i $2 $3"
	done
	i=$((i + 1))
done
for s in $PASS_SYSTEMS; do
	case $s in
	bow*) echo "pass-status $s $(sys_status $s)" ;;
	esac
	sys_remove $s
done

# The file-system workload: untar a source tree, sync, rm -rf it, sync.
# Each system has its own copy of the same ext4 image.
for s in $SYSTEMS bow1-lowest; do
	eval "img=\$FS_DISK_$(echo $s | tr - _)"
	disks=$img
	[ $s = snap ] && disks="$img $FS_COW"
	if [ $s = bow1-lowest ]; then
		echo 1 > /sys/module/dm_bow/parameters/debug_alloc_lowest
	fi
	sys_create $s $img $FS_COW fs
	mount -o noatime /dev/mapper/$s /mnt
	case $s in bow*) fstrim /mnt ;; esac
	sys_state $s
	sync
	before=$(stat_sum $disks)
	t0=$(bowio -t)
	mkdir /mnt/src && tar xf /t/tree.tar -C /mnt/src && sync &&
		rm -rf /mnt/src && sync
	t1=$(bowio -t)
	after=$(stat_sum $disks)
	echo "result $s fs-untar-rm $TREE_BYTES $((t1 - t0)) $(delta "$before" "$after") $(sys_status $s)"
	umount /mnt
	sys_remove $s
	echo 0 > /sys/module/dm_bow/parameters/debug_alloc_lowest
done

# Scale: n free ranges (every other block discarded, from block 1), then
# the time to enter the checkpoint and that of 250 first overwrites of
# the unchanged blocks between them (every other block from block 2).
# The slab memory the discards took is per range-map node (two a range).
# The stall a transition puts on I/O: a reader at queue depth 1, 4 KiB
# at random in the last 64 MiB of the disk (data, never discarded), and
# a writer the same over and over in its last 64 KiB (small: a first
# overwrite needs free space, and with 10^3 free ranges there are 4 MB),
# started a second before the transition and going on for a few seconds
# after; the reader's median and longest request, and the writer's
# (median of its runs' medians, longest of all).  The writer's blocks end
# up written after the checkpoint, all of them: one changed range.
#   stall <ranges> <transition> <ns> <reader p50 max> <writer p50 max>
stall_start()
{
	_end=$(blockdev --getsize64 $SCALE_DISK)
	bowio -r -q 1 -R -s 1 -l /dev/mapper/scale $((_end - 64 * M)) \
		$((64 * M)) > /tmp/stall.r &
	_rd=$!
	for _i in $(seq 1 300); do
		bowio -q 1 -R -s $_i -l -g 3 /dev/mapper/scale \
			$((_end - 64 * 1024)) $((64 * 1024))
	done > /tmp/stall.w &
	_wr=$!
	sleep 1
}
stall_end()
{
	wait $_rd $_wr
	echo "stall $1 $2 $3 $(cut -d' ' -f4,6 /tmp/stall.r) $(cut -d' ' -f4 /tmp/stall.w |
		sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }') $(cut -d' ' -f6 /tmp/stall.w | sort -n | tail -n 1)"
}
for n in $SCALE_RANGES; do
	bow_create scale $SCALE_DISK 1 block_size:4096
	slab0=$(awk '/^Slab:/ { print $2 }' /proc/meminfo)
	bowio -d -k 8192 /dev/mapper/scale 4096 $((n * 8192)) > /dev/null ||
		not_ok "scale $n: discards"
	slab1=$(awk '/^Slab:/ { print $2 }' /proc/meminfo)
	stall_start
	t0=$(bowio -t)
	echo 1 > "$(bow_sys scale)/state"
	t1=$(bowio -t)
	stall_end $n checkpoint $((t1 - t0))
	out=$(bowio -q 1 -R -k 8192 /dev/mapper/scale 8192 $((250 * 8192))) ||
		not_ok "scale $n: first overwrites"
	echo "scale $n $(((slab1 - slab0) * 1024)) $((t1 - t0)) $out $(dmsetup status scale | cut -d' ' -f4- | tr ' ' ',')"
	# The changed query over about n written ranges: the free ranges
	# written but the top ones, where the backups (the stall writer's 16
	# among them), the log and the free-space map went (16 bytes a
	# range); the first 251 run into one
	# with the 250 blocks between them.  Listed reply after reply by
	# dmsetup, as a script would: its time, replies, and the slab memory
	# it took (none: it reads the map); then by bowctl changed, one
	# process asking reply after reply, into a file of the guest's
	# memory.
	written=$((n - 316 - n / 128))
	bowio -q 32 -k 8192 /dev/mapper/scale 4096 $((written * 8192)) > /dev/null ||
		not_ok "scale $n: writes into the free ranges"
	slab2=$(awk '/^Slab:/ { print $2 }' /proc/meminfo)
	t2=$(bowio -t)
	from=0 replies=0
	: > /tmp/changed
	while dmsetup message scale 0 changed $from > /tmp/reply; do
		replies=$((replies + 1))
		last=$(tail -n 1 /tmp/reply)
		sed '$d' /tmp/reply >> /tmp/changed
		[ "${last%% *}" = next ] || break
		from=${last#next }
	done
	t3=$(bowio -t)
	slab3=$(awk '/^Slab:/ { print $2 }' /proc/meminfo)
	expect_eq "scale $n: changed lists every range written, merged" \
		"end $((written - 250 + 1)) $(((written + 250) * 8 + 128))" \
		"$last $(wc -l < /tmp/changed) $(awk '{ s += $2 } END { print s }' /tmp/changed)"
	# The same list from one process: bowctl changed, plain (its user
	# and system time too, in 10 ms ticks), then plain again with
	# replies of at most 16,000 bytes (debug_changed_room), as
	# libdevmapper's first buffer held before 1.3.0; twice, alternating,
	# the second round kept, so that the order does not decide which is
	# faster; then JSON.
	for round in 1 2; do
		t4=$(bowio -t)
		busybox time -p bowctl changed scale > /tmp/changed.bowctl 2> /tmp/times
		t5=$(bowio -t)
		echo 16000 > /sys/module/dm_bow/parameters/debug_changed_room
		bowctl changed scale > /tmp/changed.16k
		t6=$(bowio -t)
		echo 0 > /sys/module/dm_bow/parameters/debug_changed_room
	done
	bowctl changed scale --json > /tmp/changed.json
	t7=$(bowio -t)
	expect_eq "scale $n: bowctl changed lists what dmsetup's replies list" \
		"$(md5sum < /tmp/changed) $(md5sum < /tmp/changed)" \
		"$(md5sum < /tmp/changed.bowctl) $(md5sum < /tmp/changed.16k)"
	cpu=$(awk '$1 == "user" || $1 == "sys" { printf " %d", $2 * 1000 }' /tmp/times)
	echo "changed-scale $written $(wc -l < /tmp/changed) $replies $((t3 - t2)) $(((slab3 - slab2) * 1024)) $((t5 - t4)) $((t7 - t6)) $((t6 - t5))$cpu"
	rm -f /tmp/changed /tmp/reply /tmp/changed.bowctl /tmp/changed.json /tmp/changed.16k /tmp/times
	stall_start
	t0=$(bowio -t)
	echo 2 > "$(bow_sys scale)/state"
	t1=$(bowio -t)
	stall_end $n commit $((t1 - t0))
	dmsetup remove --noudevsync scale
done

# Resuming a checkpoint: the constructor of a table with "resume" on the
# logs run.sh wrote (n one-block backups), timed, with the bytes it read;
# then the backup check after it, until status field 10 leaves checking.
#   resume <entries> <block size> <ns> <sectors read> <status|refused>
#          <check ns> <check sectors read>
for spec in $RESUME_LOGS; do
	n=${spec%:*} bs=${spec#*:}
	eval "disk=\$RESUME_DISK_${n}_$bs"
	# The constructor runs at the load; the check starts at the resume.
	dmsetup create --noudevsync --notable bowrs
	before=$(stat_sum $disk)
	t0=$(bowio -t)
	if dmsetup load bowrs --table "0 $(blockdev --getsz $disk) bow $disk 2 block_size:$bs resume" 2> /tmp/rs.err; then
		t1=$(bowio -t)
		ctr_ns=$((t1 - t0))
		after=$(stat_sum $disk)
		dmsetup resume --noudevsync bowrs
		t1=$(bowio -t)
		while [ "$(dmsetup status bowrs | cut -d' ' -f13)" = checking ]; do
			sleep 0.1
		done
		t2=$(bowio -t)
		checked=$(stat_sum $disk)
		echo "resume $n $bs $ctr_ns $(delta "$before" "$after" | cut -d' ' -f2) $(sys_status bowrs) $((t2 - t1)) $(delta "$after" "$checked" | cut -d' ' -f2)"
		dmsetup remove --noudevsync bowrs
	else
		t1=$(bowio -t)
		echo "resume $n $bs $((t1 - t0)) 0 refused 0 0"
		sed 's/^/# /' /tmp/rs.err
		dmsetup remove --noudevsync bowrs
	fi
done

# Leave a live log for the host's bow-restore measurement: 64 MiB of
# random first overwrites on the raw disk of bow1, and no commit.
bow_create restore $RAW_DISK_bow1 1 block_size:4096
blkdiscard -o $F /dev/mapper/restore
echo 1 > "$(bow_sys restore)/state"
bowio -q 32 -R -g 3 /dev/mapper/restore $D $((64 * M)) > /dev/null ||
	not_ok "restore log: bowio"
echo "restore-log $(dmsetup status restore | cut -d' ' -f4- | tr ' ' ',')"
dmsetup remove --noudevsync restore
