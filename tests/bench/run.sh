#!/bin/sh
# make bench: dm-linear, dm-bow in states 0, 1 and 2, and dm-snapshot on
# the same disks and workloads in one VM run (tests/bench/guest.sh), then
# bow-restore against a plain copy on the host.  Writes, under
# build/bench/: results.tsv (one line per measurement), results.json,
# table.txt (also printed) and ratios.png.
#
# The disk images live in BOW_BENCH_DIR (default /dev/shm/dm-bow-bench):
# in host memory, so that the host's own disk adds no noise; the guest
# still sends every flush, and the I/O counts are exact either way.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"
out=$top/build/bench
img=${BOW_BENCH_DIR:-/dev/shm/dm-bow-bench}
guest=$out/guest
systems=${BOW_BENCH_SYSTEMS:-"linear bow0 bow1 bow2 snap"}
M=1048576

rm -rf "$img" "$guest"
mkdir -p "$img" "$guest" "$out"

cp "$top/tests/bench/guest.sh" "$guest/run.sh"

# A source tree for the file-system workload: part of Debian's kernel
# source, unpacked once.
tree=$out/tree.tar
if [ ! -e "$tree" ]; then
	rm -rf "$out/tree"
	mkdir -p "$out/tree"
	tar -C "$out/tree" -xf /usr/src/linux-source-6.1.tar.xz \
		linux-source-6.1/fs/ext4 linux-source-6.1/drivers/md \
		linux-source-6.1/block linux-source-6.1/mm \
		linux-source-6.1/kernel linux-source-6.1/lib || exit 1
	tar -C "$out/tree" -cf "$tree.tmp" linux-source-6.1 &&
		mv "$tree.tmp" "$tree"
	rm -rf "$out/tree"
fi
cp "$tree" "$guest/tree.tar"
tree_bytes=$(tar -tvf "$tree" | awk '{ s += $3 } END { print s }')

# The guest's disks, in order: vda is the control archive (vm_run), then
# those added here.  disk <var> <image>: the next one, named in params.sh.
disks=""
letter=1
disk()
{
	letter=$((letter + 1))
	disks="$disks $2"
	echo "$1=/dev/vd$(printf "\\$(printf %o $((96 + letter)))")" >> "$guest/params.sh"
}

# Raw disks, 2 GiB, one per system: random data from RAW_DATA_MIB for
# 11 regions of L per run plus 5 L of reads (see guest.sh), then free space.
raw_reps=${BOW_BENCH_REPS:-6}
raw_len_mib=8
raw_data_mib=4
raw_free_mib=$((raw_data_mib + (11 * raw_reps + 5) * raw_len_mib))
truncate -s 2G "$img/raw.img"
head -c $(((raw_free_mib - raw_data_mib) * M)) /dev/urandom |
	dd of="$img/raw.img" bs=$M seek=$raw_data_mib conv=notrunc status=none
for s in $systems; do
	cp --sparse=always "$img/raw.img" "$img/raw-$s.img"
	disk "RAW_DISK_$s" "$img/raw-$s.img"
done
rm "$img/raw.img"
truncate -s 512M "$img/raw-cow.img" "$img/fs-cow.img"
disk RAW_COW "$img/raw-cow.img"
disk FS_COW "$img/fs-cow.img"

# ext4, 384 MiB, 48 MiB of files, every metadata block written now (no
# lazy init in the guest); one copy per system.
make_files "$img/files" 96 256 4096
truncate -s 384M "$img/fs.img"
mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 \
	-d "$img/files" "$img/fs.img" || exit 1
rm -rf "$img/files"
for s in $systems bow1-lowest; do
	cp --sparse=always "$img/fs.img" "$img/fs-$s.img"
	disk "FS_DISK_$(echo "$s" | tr - _)" "$img/fs-$s.img"
done
rm "$img/fs.img"

# The pass-through disk: a partition for each of dm-linear, the second
# dm-linear and dm-bow in states 0, 1 and 2 (guest.sh's order), 1 GiB
# each.
truncate -s $((5 * 1024 + 2))M "$img/pass.img"
{
	echo "label: gpt"
	for _p in 1 2 3 4 5; do
		echo "size=1GiB, type=linux"
	done
} | sfdisk -q "$img/pass.img" || exit 1
disk PASS_DISK "$img/pass.img"

# Room for 10^6 free ranges of one block with a block between them.
truncate -s 8G "$img/scale.img"
disk SCALE_DISK "$img/scale.img"

# Logs to resume, written as the target lays them out (big-log.c): n
# one-block backups of zeroes (sparse images), in blocks of 4 KiB, and
# 10^6 of 512 bytes, so that time can be told apart by entries and by
# bytes backed up.  The guest resumes each and times the constructor.
cc -std=c11 -O2 -Wall -Wextra -Werror -o "$out/big-log" \
	"$top/tests/bench/big-log.c" "$top"/bow-restore/lib/*.c "$top/dm-bow-rules.c" -lisal
resume_logs=""
for spec in ${BOW_BENCH_RESUME:-1000:4096 10000:4096 100000:4096 1000000:4096 1000000:512}; do
	n=${spec%:*} bs=${spec#*:}
	"$out/big-log" "$img/resume-$n-$bs.img" "$n" "$bs" > /dev/null || exit 1
	disk "RESUME_DISK_${n}_$bs" "$img/resume-$n-$bs.img"
	resume_logs="$resume_logs $spec"
done

cat >> "$guest/params.sh" <<EOF
SYSTEMS="$systems"
RAW_REPS=$raw_reps
RAW_DATA_MIB=$raw_data_mib
RAW_LEN_MIB=$raw_len_mib
RAW_FREE_MIB=$raw_free_mib
TREE_BYTES=$tree_bytes
SCALE_RANGES="${BOW_BENCH_SCALE:-1000 10000 100000 1000000}"
PASS_ROUNDS=${BOW_BENCH_PASS_ROUNDS:-300}
PASS_RANGES=${BOW_BENCH_PASS_RANGES:-100000}
RESUME_LOGS="$resume_logs"
EOF

start=$(date +%s)
# 2 GiB: a resume may take an eighth of memory, and 10^6 entries need
# more than the 128 MiB of the suites' 1 GiB guest.
# shellcheck disable=SC2086
BOW_VM_MEM=${BOW_VM_MEM:-2048} BOW_VM_TIMEOUT=${BOW_VM_TIMEOUT:-3600} vm_run "$out/console.log" "$guest" $disks
vm_results "$out/console.log"
echo "# VM run: $(( $(date +%s) - start )) s"
sed -n 's/\r$//; s/^result //p; s/^scale /scale /p; s/^changed-scale /changed-scale /p; s/^pass /pass /p; s/^view-read /view-read /p; s/^latency /latency /p; s/^fua-qd1 /fua-qd1 /p; s/^stall /stall /p; s/^resume /resume /p' \
	"$out/console.log" > "$out/results.tsv"

# bow-restore against a plain copy of as many bytes, block by block: dd
# from one part of the image's data to another (both allocated, as the
# blocks bow-restore writes are), five times each, alternating; in host
# memory, then on the host's disk with the page cache dropped before each
# run (a restore after a reboot reads a cold device).
log=$(sed -n 's/\r$//; s/^restore-log //p' "$out/console.log")
bytes=$(echo "$log" | cut -d, -f3)
blocks=$((bytes / 4096))
restore_vs_dd()
{
	_where=$1 _dir=$2
	for _i in 1 2 3 4 5; do
		cp --sparse=always "$img/raw-bow1.img" "$_dir/restore.img"
		[ "$_where" = disk ] && sync && echo 3 > /proc/sys/vm/drop_caches
		_t0=$(date +%s%N)
		"$restore" "$_dir/restore.img" > "$out/restore.out" 2>&1
		_rc=$?
		_t1=$(date +%s%N)
		expect_eq "bow-restore of the benchmark's log ($_where, run $_i)" 0 $_rc
		[ "$_where" = disk ] && sync && echo 3 > /proc/sys/vm/drop_caches
		_t2=$(date +%s%N)
		dd if="$_dir/restore.img" of="$_dir/restore.img" bs=4096 \
			skip=$((raw_data_mib * 256)) \
			seek=$((raw_data_mib * 256 + blocks)) count=$blocks \
			conv=notrunc,fsync status=none
		_t3=$(date +%s%N)
		echo "restore $_where $bytes $((_t1 - _t0)) $((_t3 - _t2))" >> "$out/results.tsv"
		rm "$_dir/restore.img"
	done
}
restore_vs_dd memory "$img"
if [ -w /proc/sys/vm/drop_caches ]; then
	restore_vs_dd disk "$out"
fi

# bow-restore at scale, on the host: a log of 10^6 one-block backups
# (512-byte blocks, so 52,632 log blocks in the chain), checked with
# --dry-run and restored; and one backup of 4 GiB, checked.  Time and the
# peak resident set (which counts the device's pages mapped in: page
# cache, not the tool's own memory).
restore_scale()
{
	_what=$1 _img=$2
	shift 2
	/usr/bin/time -o "$out/time.out" -f "%e %M" "$restore" "$@" "$_img" \
		> "$out/restore.out" 2>&1
	expect_eq "bow-restore${*:+ $*} at scale: $_what" 0 $?
	echo "restore-scale $_what $(cat "$out/time.out") $(sed -n \
		's/.*found: \([0-9]*\) log blocks*, \([0-9]*\) entries.*/\1 \2/p' \
		"$out/restore.out")" >> "$out/results.tsv"
}
"$out/big-log" "$out/scale.img" 1000000 512 > /dev/null
restore_scale check-1M-entries "$out/scale.img" --dry-run
restore_scale restore-1M-entries "$out/scale.img"
rm -f "$out/scale.img"
"$out/big-log" "$out/scale.img" 1 4096 > /dev/null
truncate -s 16G "$out/scale.img"
python3 - "$out/scale.img" <<'PY'
import struct, sys, zlib
# Entry 1 of the one-entry log: 4 GiB - 4 KiB from block 2^21 to block 1
# (all zeros: the checksum needs only the seed 1; crc32_le without
# inversion is zlib's crc32 with both inversions undone).
size = 0xFFFFF000
crc = 1 ^ 0xFFFFFFFF
zero = bytes(1 << 20)
left = size
while left:
    n = min(left, len(zero))
    crc = zlib.crc32(zero[:n], crc)
    left -= n
with open(sys.argv[1], "r+b") as f:
    f.seek(28 + 24)
    f.write(struct.pack("<QQII", 8, (1 << 21) * 8, size, crc ^ 0xFFFFFFFF))
PY
restore_scale check-one-4GiB-entry "$out/scale.img" --dry-run
rm -f "$out/scale.img"

python3 "$top/tests/bench/report.py" "$out" | tee "$out/table.txt"
rm -rf "$img"
